"""The tables: tenants (resellers, businesses), their users, keys and resources, and the audit log."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from voicegrid.core.clock import utcnow
from voicegrid.store.base import ID, LimitColumns, Timestamps
from voicegrid.store.base import Base as Base  # the migrations' env and tests read it here


class PlatformSetting(Base):
    """Small facts about the installation itself (demo seeded, admin key origin)."""

    __tablename__ = "platform_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Reseller(Timestamps, LimitColumns, Base):
    __tablename__ = "resellers"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    product_name: Mapped[str | None] = mapped_column(String(200))
    logo_url: Mapped[str | None] = mapped_column(String(2000))
    primary_color: Mapped[str | None] = mapped_column(String(9))
    accent_color: Mapped[str | None] = mapped_column(String(9))
    support_email: Mapped[str | None] = mapped_column(String(320))
    dashboard_domain: Mapped[str | None] = mapped_column(String(253), unique=True)
    markup: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"percent": "20", "per_minute": "0.01"}


class Business(Timestamps, LimitColumns, Base):
    __tablename__ = "businesses"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    reseller_id: Mapped[str] = mapped_column(ForeignKey("resellers.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    negotiated_rates: Mapped[list[Any] | None] = mapped_column(JSON)  # prices in the catalog's form
    retention_days: Mapped[int | None] = mapped_column(Integer)  # transcripts and recordings; None: kept
    mask_pii: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    webhook_url: Mapped[str | None] = mapped_column(String(2000))  # call.started, call.ended


class ScopedOwner:
    """Rows owned at one of three levels: the platform, a reseller, or a business."""

    scope: Mapped[str] = mapped_column(String(16))
    reseller_id: Mapped[str | None] = mapped_column(
        ForeignKey("resellers.id", ondelete="CASCADE"), index=True
    )
    business_id: Mapped[str | None] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), index=True
    )


class User(Timestamps, ScopedOwner, Base):
    """An email is unique within its tenant only (migration 0013), so creating a user never reveals
    whether another tenant uses the email; `owner` is the business, else the reseller, else "platform"."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email", "owner", name="uq_users_email_owner"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    owner: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    last_login_at: Mapped[datetime | None] = mapped_column()


class ApiKey(ScopedOwner, Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    # A dashboard sign-in is a key of the user's scope and role that expires (migration 0011).
    expires_at: Mapped[datetime | None] = mapped_column()
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class BusinessOwned(Timestamps):
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), index=True)


class Agent(BusinessOwned, Base):
    __tablename__ = "agents"
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="voice")  # voice, echo, play
    language: Mapped[str] = mapped_column(String(35), default="en-US")
    greeting: Mapped[str] = mapped_column(Text, default="")
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    knowledge_base: Mapped[dict[str, Any]] = mapped_column(default=dict)
    voice: Mapped[str | None] = mapped_column(String(200))
    stt: Mapped[dict[str, Any]] = mapped_column()
    llm: Mapped[dict[str, Any]] = mapped_column()
    tts: Mapped[dict[str, Any]] = mapped_column()
    tools: Mapped[list[Any]] = mapped_column(default=list)
    turn: Mapped[dict[str, Any]] = mapped_column(default=dict)  # turn-taking settings (pipeline)
    max_call_seconds: Mapped[int] = mapped_column(Integer, default=1800)
    recording: Mapped[bool] = mapped_column(Boolean, default=False)
    amd: Mapped[str] = mapped_column(String(16), default="off")  # outbound calls' default: detect, message
    voicemail_message: Mapped[str] = mapped_column(Text, default="")
    analysis: Mapped[dict[str, Any]] = mapped_column(default=dict)  # analysis.AnalysisPlan ({}: defaults)
    # The columns above are the published version `version`, which calls use; `draft` is the whole
    # configuration as edited since (None: no changes), published as the next version (migration 0018).
    version: Mapped[int] = mapped_column(Integer, default=1)
    draft: Mapped[dict[str, Any] | None] = mapped_column()
    draft_updated_at: Mapped[datetime | None] = mapped_column()


class AgentVersion(Base):
    """A published configuration of an agent, kept so that it can be read and restored."""

    __tablename__ = "agent_versions"
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[str] = mapped_column(ID, index=True)
    config: Mapped[dict[str, Any]] = mapped_column()
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str] = mapped_column(String(320))  # the user's email, or the API key's name
    user_id: Mapped[str | None] = mapped_column(ID)
    key_id: Mapped[str | None] = mapped_column(ID)
    restored_from: Mapped[int | None] = mapped_column(Integer)


class PhoneNumber(BusinessOwned, Base):
    __tablename__ = "phone_numbers"
    e164: Mapped[str] = mapped_column(String(16), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    agent_id: Mapped[str | None] = mapped_column(
        ForeignKey("agents.id"),
        index=True,  # NO ACTION: checked at statement end, so cascades pass
    )


class Trunk(BusinessOwned, Base):
    __tablename__ = "trunks"
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    inbound_cidrs: Mapped[list[Any]] = mapped_column(default=list)
    inbound_username: Mapped[str | None] = mapped_column(String(200))
    inbound_password_enc: Mapped[str | None] = mapped_column(Text)
    # Digest algorithms offered to callers, preferred first (RFC 8760); one challenge header each.
    inbound_digest_algorithms: Mapped[list[Any]] = mapped_column(default=lambda: ["SHA-256", "MD5"])
    outbound_host: Mapped[str | None] = mapped_column(String(253))
    outbound_port: Mapped[int] = mapped_column(Integer, default=5060)
    transport: Mapped[str] = mapped_column(String(8), default="udp")
    outbound_username: Mapped[str | None] = mapped_column(String(200))
    outbound_password_enc: Mapped[str | None] = mapped_column(Text)
    caller_ids: Mapped[list[Any]] = mapped_column(default=list)
    register_with_carrier: Mapped[bool] = mapped_column(Boolean, default=False)
    rtp_suppress_silence: Mapped[bool | None] = mapped_column(Boolean)  # None: the node's setting


class Credential(BusinessOwned, Base):
    __tablename__ = "credentials"
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(40))
    base_url: Mapped[str | None] = mapped_column(String(2000))
    secret_enc: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(16))


class AuditEntry(Base):
    """One write through the API: who, with which key, did what to which object, when and from where."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_business_at", "business_id", "at"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    reseller_id: Mapped[str | None] = mapped_column(String(40), index=True)
    business_id: Mapped[str | None] = mapped_column(String(40))
    actor_scope: Mapped[str] = mapped_column(String(16))
    actor_role: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str | None] = mapped_column(String(40))
    user_id: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[str | None] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class IdempotencyRecord(Base):
    """The first response to a creating POST, replayed when the same Idempotency-Key comes again."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("actor", "idem_key", name="uq_idempotency_actor_key"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    actor: Mapped[str] = mapped_column(String(40))
    idem_key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CallRecord(Base):
    """A finished call's record (the JSON document), with the columns the lists and rollups filter on.

    No foreign keys: a record outlives the agent, trunk or number it names, and is written from the
    journal, possibly after those were deleted.
    """

    __tablename__ = "call_records"
    __table_args__ = (
        Index("ix_call_records_business_created", "business_id", "created_at"),
        Index("ix_call_records_business_agent_created", "business_id", "agent_id", "created_at"),
        Index("ix_call_records_analysis_due", "analysis_state", "analysis_due_at"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    business_id: Mapped[str | None] = mapped_column(ID)
    agent_id: Mapped[str | None] = mapped_column(ID)
    sip_call_id: Mapped[str] = mapped_column(String(300), default="")
    direction: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    cost_total: Mapped[float] = mapped_column(Float, default=0.0)
    billable_total: Mapped[float] = mapped_column(Float, default=0.0)
    record: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_erased_at: Mapped[datetime | None] = mapped_column()
    # Post-call analysis: None (no plan), pending, done or failed; when it is next due (epoch s: a
    # runner's claim pushes it a lease ahead), how often it was tried, and its verdict (the list filter).
    analysis_state: Mapped[str | None] = mapped_column(String(16))
    analysis_due_at: Mapped[float] = mapped_column(Float, default=0.0)
    analysis_attempts: Mapped[int] = mapped_column(Integer, default=0)
    analysis_success: Mapped[bool | None] = mapped_column(Boolean)


class CallField(Base):
    """One field an analysis extracted from a call, as text: what `GET /v1/calls?field=name:value`
    filters on (the record holds the typed value)."""

    __tablename__ = "call_fields"
    __table_args__ = (Index("ix_call_fields_business_name_value", "business_id", "name", "value"),)
    call_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_id: Mapped[str] = mapped_column(ID)
    value: Mapped[str] = mapped_column(String(200))


class CallRollup(Base):
    """One business's calls on one day (UTC) through one agent in one direction, summed as calls end."""

    __tablename__ = "call_rollups"
    business_id: Mapped[str] = mapped_column(ID, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    agent_id: Mapped[str] = mapped_column(ID, primary_key=True)  # "" for none
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)  # "" before revision 0012
    calls: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    minutes: Mapped[float] = mapped_column(Float, default=0.0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    billable: Mapped[float] = mapped_column(Float, default=0.0)
    turns: Mapped[int] = mapped_column(Integer, default=0)
    failovers: Mapped[int] = mapped_column(Integer, default=0)
    interruptions: Mapped[int] = mapped_column(Integer, default=0)
    outcomes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    latency: Mapped[dict[str, Any]] = mapped_column(default=dict)  # component -> histogram
    analyzed: Mapped[int] = mapped_column(Integer, default=0)  # calls whose analysis is done
    succeeded: Mapped[int] = mapped_column(Integer, default=0)  # ... and passed the agent's rubric
    analyzed_cost: Mapped[float] = mapped_column(Float, default=0.0)  # what the analysed calls cost in all
    analysis_cost: Mapped[float] = mapped_column(Float, default=0.0)  # of which, the analyses
    intents: Mapped[dict[str, Any]] = mapped_column(default=dict)  # question -> times asked
    intents_answered: Mapped[dict[str, Any]] = mapped_column(default=dict)  # question -> times answered


class ProviderRollup(Base):
    """One business's use of one provider on one day (UTC), summed as calls end."""

    __tablename__ = "provider_rollups"
    business_id: Mapped[str] = mapped_column(ID, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    quantity: Mapped[float] = mapped_column(Float, default=0.0)
    unit: Mapped[str] = mapped_column(String(32), default="")
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    failovers: Mapped[int] = mapped_column(Integer, default=0)
    latency: Mapped[dict[str, Any]] = mapped_column(default=dict)  # histogram of the stage's wait


class WebhookDelivery(Base):
    """A call event on its way to a business's URL, shared by the nodes: the node that owns it
    renews `lease_until`; once the lease lapses (the node died) another node takes it over.
    Finished ones (delivered, given up) stay a while: the delivery log, and a node coming back."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_state_lease", "state", "lease_until"),
        Index("ix_webhook_deliveries_business_created", "business_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    business_id: Mapped[str] = mapped_column(ID)
    url: Mapped[str] = mapped_column(String(2000))
    event: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str] = mapped_column(String(40), default="")
    body: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[float] = mapped_column(Float)  # unix time
    created_at: Mapped[float] = mapped_column(Float)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting, delivered, given_up
    owner: Mapped[str] = mapped_column(String(100))  # the node sending it
    lease_until: Mapped[float] = mapped_column(Float)  # unix time
    finished_at: Mapped[float | None] = mapped_column(Float)


class DoNotCall(Base):
    """A number a business (or every business of a reseller) must never call: checked as each
    outbound call is dialled."""

    __tablename__ = "do_not_call"
    __table_args__ = (UniqueConstraint("owner", "number", name="uq_do_not_call_owner_number"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner: Mapped[str] = mapped_column(ID)  # the business's id, or the reseller's
    number: Mapped[str] = mapped_column(String(16), index=True)  # E.164
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(BusinessOwned, Base):
    """An outbound campaign: whom to call (its contacts), with which agent and trunk, when (each
    contact's local window), how fast, and how often to try again. One node runs it at a time: the
    one holding `runner` until `runner_until` (unix time); another takes over once that lapses."""

    __tablename__ = "campaigns"
    name: Mapped[str] = mapped_column(String(200))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    trunk_id: Mapped[str | None] = mapped_column(ID)
    caller_ids: Mapped[list[Any]] = mapped_column(default=list)  # a pool, used in turn; empty: the trunk's
    window: Mapped[dict[str, Any]] = mapped_column(default=dict)  # start, end (HH:MM), days (0=Monday)
    max_concurrent: Mapped[int] = mapped_column(Integer, default=5)
    calls_per_second: Mapped[float] = mapped_column(Float, default=1.0)
    retries: Mapped[dict[str, Any]] = mapped_column(default=dict)  # outcome -> {attempts, delay_s}
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    ring_timeout_s: Mapped[float] = mapped_column(Float, default=30.0)
    amd: Mapped[str | None] = mapped_column(String(16))  # off, detect, message; None: the agent's
    voicemail_message: Mapped[str | None] = mapped_column(Text)
    # draft, scheduled (until starts_at), running, paused, cancelled, finished
    state: Mapped[str] = mapped_column(String(16), default="draft")
    state_reason: Mapped[str] = mapped_column(String(300), default="")  # why the platform paused it
    runner: Mapped[str | None] = mapped_column(String(120))
    runner_until: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    starts_at: Mapped[datetime | None] = mapped_column()  # a scheduled campaign starts by itself then


class CampaignContact(Base):
    """One contact of a campaign: `waiting` (due from `next_at`, unix time; `window_at` equal to it
    when it was moved there because the contact's calling window was shut when it was due, so a
    window changed later can make it due again), `calling`, or `done` with its final outcome."""

    __tablename__ = "campaign_contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number", name="uq_campaign_contacts_campaign_id"),
        Index("ix_campaign_contacts_due", "campaign_id", "state", "next_at"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64))
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    next_at: Mapped[float] = mapped_column(Float, default=0.0)
    window_at: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(32))  # the last attempt's, final once done


class CampaignAttempt(Base):
    """One dial of a contact, written before it is dialled: its id is the call's id. The unique
    (contact, attempt) pair is what keeps any attempt from being dialled twice, by any node."""

    __tablename__ = "campaign_attempts"
    __table_args__ = (
        UniqueConstraint("contact_id", "attempt", name="uq_campaign_attempts_contact_id"),
        Index("ix_campaign_attempts_campaign_state", "campaign_id", "state"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the call's id
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("campaign_contacts.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    runner: Mapped[str] = mapped_column(String(120))  # the node (and its run) that dials it
    state: Mapped[str] = mapped_column(String(16), default="dialling")  # dialling, ended
    outcome: Mapped[str | None] = mapped_column(String(32))
    call_outcome: Mapped[str | None] = mapped_column(String(32))  # the call's own, before the campaign's
    talk_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # answer to hang-up
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
