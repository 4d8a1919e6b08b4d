"""Settings: defaults for the embedded set-up, then a YAML file, then VOICEGRID_* variables, then flags."""

import ipaddress
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from voicegrid.core.egress import Destinations

_RUN = secrets.token_hex(3)


class Settings(BaseSettings):
    """Everything the composition root needs; one object, read once at start."""

    model_config = SettingsConfigDict(env_prefix="VOICEGRID_", extra="forbid")

    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default SQLite at <data_dir>/voicegrid.db"
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    sip_host: str = "127.0.0.1"
    sip_port: int = Field(default=5060, ge=0, le=65535)
    rtp_port_min: int = Field(default=40000, ge=1024, le=65534)
    rtp_port_max: int = Field(default=49999, ge=1025, le=65535)
    no_rtp_timeout_s: float = Field(default=30.0, gt=0)
    rtp_suppress_silence: bool = Field(
        default=False, description="send no RTP while the agent is quiet, but a keepalive each second"
    )
    drain_seconds: float = Field(default=30.0, ge=0, description="on SIGTERM, how long calls may go on")
    analysis_concurrency: int = Field(
        default=4, ge=1, le=64, description="post-call analyses under way on a node at once"
    )
    analysis_per_business: int = Field(
        default=2, ge=1, le=64, description="... of which, for any one business"
    )
    analysis_per_second: float = Field(
        default=2.0, gt=0, le=1000, description="post-call analyses a node starts per second, at most"
    )
    analysis_tick_s: float = Field(
        default=2.0, gt=0, le=60, description="how often due analyses are looked for"
    )
    campaign_tick_s: float = Field(
        default=1.0, gt=0, le=60, description="how often campaigns dial their due contacts"
    )
    campaign_lease_s: float = Field(
        default=30.0,
        ge=2,
        le=3600,
        description="a node that stops renewing its campaigns loses them after this long",
    )
    invite_rate_per_source: float = Field(default=20.0, gt=0, description="new calls per second per source")
    allow_private_destinations: bool = Field(
        default=False,
        description="let tenants' URLs (provider base URLs, webhooks, webhook tools) reach loopback, "
        "private and link-local addresses",
    )
    destination_networks: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="private networks tenants' URLs may reach all the same (a self-hosted Deepgram)",
    )
    sip_requests_per_source: float = Field(
        default=200.0, gt=0, description="out-of-dialog SIP requests per second per source (then dropped)"
    )
    sip_requests_total: float = Field(
        default=2000.0, gt=0, description="out-of-dialog SIP requests per second in all (then dropped)"
    )
    sip_edge_addresses: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="IP addresses of the SIP edge (Kamailio) in front of this node: their "
        "X-Voicegrid-Source names the caller, and only the node's total request rate holds them",
    )
    sip_max_transactions: int = Field(default=20_000, ge=10, description="open SIP server transactions")
    media_streams_waiting: int = Field(
        default=1024, ge=1, le=100_000, description="carrier media sockets not yet started and admitted"
    )
    sip_tcp_max_connections: int = Field(
        default=1000, ge=1, description="inbound SIP/TCP connections in all (at most half the file limit)"
    )
    sip_tcp_max_per_source: int = Field(
        default=32, ge=1, description="inbound SIP/TCP connections per source"
    )
    sip_tcp_message_s: float = Field(default=10.0, gt=0, description="a SIP/TCP message must arrive whole in")
    sip_tcp_idle_s: float = Field(
        default=300.0, gt=0, description="a silent SIP/TCP connection is closed after"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="addresses or networks of HTTP proxies whose X-Forwarded-For names the caller",
    )
    webhook_allow_private: bool = Field(
        default=False, description="deprecated name of allow_private_destinations, still honoured"
    )
    webhook_max_backoff_s: float = Field(
        default=3600.0, ge=1, le=86400, description="longest wait between two tries of a call event"
    )
    record_batch_s: float = Field(
        default=0.0,
        ge=0,
        le=60,
        description="a call record waits, journaled, this long to be stored with the records ending near "
        "it (one transaction for them all; the API lists it that much later); 0: each at once",
    )
    registration_sync_s: float = Field(
        default=30.0, gt=0, description="how often trunk registrations follow the database"
    )
    public_url: str | None = Field(default=None, description="URL the API is reached at, for links")
    otlp_endpoint: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://",
        description="OTLP/HTTP traces URL (e.g. http://collector:4318/v1/traces): a trace per call; "
        "absent: no traces",
    )
    admin_key: SecretStr | None = Field(default=None, description="platform owner key; else generated")
    secret_key: SecretStr | None = Field(
        default=None, description="base64 of 32 bytes encrypting secrets at rest; else <data_dir>/secret.key"
    )
    log_level: str = "info"
    capacity_url: str | None = Field(
        default=None,
        description="redis://host:port/db: call limits and provider slots shared by nodes; else in-process",
    )
    capacity_ttl_s: float = Field(
        default=15.0, ge=1, le=600, description="a dead node's calls and slots are freed within this"
    )
    capacity_fallback_fraction: float = Field(
        default=0.5, ge=0, le=1, description="share of each limit a node may use alone while Redis is away"
    )
    recordings_s3_bucket: str | None = Field(
        default=None,
        max_length=63,
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="S3-compatible bucket for recordings, read by every node; else each node's disk",
    )
    recordings_s3_endpoint: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://",
        description="the object store's URL (MinIO, Ceph, ...); absent: AWS S3 for the region",
    )
    recordings_s3_region: str = Field(default="us-east-1", max_length=40, pattern=r"^[a-z0-9-]+$")
    recordings_s3_access_key: SecretStr | None = None
    recordings_s3_secret_key: SecretStr | None = None
    node_id: str | None = Field(
        default=None, max_length=100, description="this node's name; else host-pid-random"
    )

    @field_validator("database_url")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("sip_edge_addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return [str(ipaddress.ip_address(address)) for address in value]  # ValueError: the setting's

    @field_validator("destination_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)  # a ValueError is the setting's error
        return value

    @property
    def destinations(self) -> Destinations:
        """The one policy for every address a tenant can name."""
        return Destinations(
            allow_private=self.allow_private_destinations or self.webhook_allow_private,
            allowed_networks=tuple(self.destination_networks),
        )

    @property
    def node_name(self) -> str:
        """`node_id`, else this host's name and SIP port: the same across restarts (call records
        name the node that kept a call's recording), and apart for nodes sharing a host."""
        if self.node_id:
            return self.node_id
        if self.sip_port:
            return f"{socket.gethostname()}-{self.sip_port}"
        return f"{socket.gethostname()}-{os.getpid()}-{_RUN}"  # an ephemeral port: this run only

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'voicegrid.db'}"

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the optional YAML file, the environment and explicit overrides (None = not given)."""
    cls: type[Settings] = Settings
    if config_file is not None:
        if not config_file.is_file():
            raise FileNotFoundError(f"config file not found: {config_file}")

        class _FromFile(Settings):
            model_config = SettingsConfigDict(**{**Settings.model_config, "yaml_file": config_file})

        cls = _FromFile
    return cls(**{k: v for k, v in overrides.items() if v is not None})
