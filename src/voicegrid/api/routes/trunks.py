"""SIP trunks: who may send us calls (source networks, digest credentials) and how we reach out."""

from typing import Any, Literal

from pydantic import Field, model_validator

from voicegrid.api.context import Ctx
from voicegrid.api.owners import Owner
from voicegrid.api.resources import ResourceSpec
from voicegrid.api.schemas import In, Name, Stamped
from voicegrid.store.models import Trunk
from voicegrid.tenancy import InvalidInput, normalize_e164
from voicegrid.tenancy.network import normalize_cidrs

Transport = Literal["udp", "tcp", "tls"]
DigestAlgorithm = Literal["SHA-256", "MD5"]


def _both_digests() -> list[DigestAlgorithm]:
    return ["SHA-256", "MD5"]


_SECRET = Field(default=None, min_length=1, max_length=200)
# A digest username goes into a quoted header parameter: no quote, backslash, space or control character.
_USERNAME = r'^[^\x00-\x20"\\\x7f]+$'


class TrunkFields(In):
    enabled: bool = True
    inbound_cidrs: list[str] = Field(default_factory=list, max_length=100)
    inbound_username: str | None = Field(default=None, min_length=1, max_length=200, pattern=_USERNAME)
    inbound_digest_algorithms: list[DigestAlgorithm] = Field(
        default_factory=_both_digests, min_length=1, max_length=2, description="preferred first"
    )
    outbound_host: str | None = Field(default=None, max_length=253, pattern=r"^[A-Za-z0-9.:\-\[\]]+$")
    outbound_port: int = Field(default=5060, ge=1, le=65535)
    transport: Transport = "udp"
    outbound_username: str | None = Field(default=None, min_length=1, max_length=200, pattern=_USERNAME)
    caller_ids: list[str] = Field(default_factory=list, max_length=1000)
    register_with_carrier: bool = False
    rtp_suppress_silence: bool | None = Field(
        default=None,
        description="no RTP while the agent is quiet on this trunk's calls (a keepalive a second); "
        "null: the node's VOICEGRID_RTP_SUPPRESS_SILENCE",
    )


class TrunkCreate(TrunkFields):
    name: Name
    inbound_password: str | None = _SECRET
    outbound_password: str | None = _SECRET

    @model_validator(mode="after")
    def _pairs(self) -> "TrunkCreate":
        if (self.inbound_username is None) != (self.inbound_password is None):
            raise ValueError("inbound_username and inbound_password go together")
        if self.register_with_carrier and not (self.outbound_host and self.outbound_username):
            raise ValueError("register_with_carrier needs outbound_host and outbound credentials")
        return self


class TrunkUpdate(In):
    name: Name | None = None
    enabled: bool | None = None
    inbound_cidrs: list[str] | None = Field(default=None, max_length=100)
    inbound_username: str | None = Field(default=None, min_length=1, max_length=200, pattern=_USERNAME)
    inbound_password: str | None = _SECRET
    inbound_digest_algorithms: list[DigestAlgorithm] | None = Field(default=None, min_length=1, max_length=2)
    outbound_host: str | None = Field(default=None, max_length=253, pattern=r"^[A-Za-z0-9.:\-\[\]]+$")
    outbound_port: int | None = Field(default=None, ge=1, le=65535)
    transport: Transport | None = None
    outbound_username: str | None = Field(default=None, min_length=1, max_length=200, pattern=_USERNAME)
    outbound_password: str | None = _SECRET
    caller_ids: list[str] | None = Field(default=None, max_length=1000)
    register_with_carrier: bool | None = None
    rtp_suppress_silence: bool | None = None


class TrunkOut(Stamped, TrunkFields):
    business_id: str
    name: str
    inbound_password_set: bool
    outbound_password_set: bool


_NOT_NULL = (
    "name",
    "enabled",
    "inbound_cidrs",
    "inbound_digest_algorithms",
    "outbound_port",
    "transport",
    "caller_ids",
    "register_with_carrier",
)


async def build(
    ctx: Ctx, owner: Owner, row_id: str, given: dict[str, Any], existing: Trunk | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    values = dict(given)
    for name in _NOT_NULL:
        if name in values and values[name] is None:
            raise InvalidInput(name, "may not be null")
    if values.get("inbound_digest_algorithms") is not None:
        values["inbound_digest_algorithms"] = list(dict.fromkeys(values["inbound_digest_algorithms"]))
    if values.get("inbound_cidrs") is not None:
        values["inbound_cidrs"] = normalize_cidrs(values["inbound_cidrs"])
    if values.get("caller_ids") is not None:
        values["caller_ids"] = sorted({normalize_e164(c, "caller_ids") for c in values["caller_ids"]})
    for side in ("inbound", "outbound"):
        field = f"{side}_password"
        if field in values:
            plain = values.pop(field)
            values[f"{field}_enc"] = (
                None if plain is None else ctx.services.secrets.encrypt(plain, f"trunk:{row_id}:{side}")
            )
    if existing is None:
        values["business_id"] = owner.business_id
    elif (
        values.get("inbound_username", existing.inbound_username) is None
        and values.get("inbound_password_enc", existing.inbound_password_enc) is not None
    ):
        raise InvalidInput("inbound_username", "a trunk with an inbound password needs a username")
    return values, {}


def render(_ctx: Ctx, row: Trunk) -> TrunkOut:
    return TrunkOut(
        **{name: getattr(row, name) for name in TrunkFields.model_fields},
        id=row.id,
        business_id=row.business_id,
        name=row.name,
        inbound_password_set=row.inbound_password_enc is not None,
        outbound_password_set=row.outbound_password_enc is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


SPEC = ResourceSpec(
    kind="trunks",
    model=Trunk,
    id_prefix="trk",
    create=TrunkCreate,
    update=TrunkUpdate,
    out=TrunkOut,
    build=build,
    render=render,
)
