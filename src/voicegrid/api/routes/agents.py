"""Agents: who answers a call, what it knows, and which STT, LLM and TTS it speaks through."""

import re
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import select

from voicegrid.analysis.plan import AnalysisPlan
from voicegrid.api.context import Ctx
from voicegrid.api.owners import Owner
from voicegrid.api.resources import ResourceSpec
from voicegrid.api.schemas import In, LongText, Name, ShortText, Stamped
from voicegrid.providers.options import check_options
from voicegrid.providers.stt.base import is_flux
from voicegrid.store import agent_versions as versions
from voicegrid.store.models import Agent, ApiKey, Credential, PhoneNumber, User
from voicegrid.telephony.targets import sip_target
from voicegrid.tenancy import Conflict, InvalidInput
from voicegrid.tenancy.phone import normalize_e164

# Provider names per stage; the provider registry (pipeline issue) resolves them to clients.
STT_PROVIDERS = ("pocketsphinx", "deepgram", "simulated")
LLM_PROVIDERS = ("knowledge-base", "openai", "llama-cpp", "simulated")
TTS_PROVIDERS = ("espeak-ng", "deepgram", "elevenlabs", "simulated")
_BY_STAGE = {"stt": STT_PROVIDERS, "llm": LLM_PROVIDERS, "tts": TTS_PROVIDERS}
DEFAULT_STAGES = {
    "stt": {"provider": "pocketsphinx"},
    "llm": {"provider": "knowledge-base"},
    "tts": {"provider": "espeak-ng"},
}


# What a caller asks, or the agent answers: never empty.
Said = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class ProviderChoice(In):
    provider: str = Field(min_length=1, max_length=40)
    model: str | None = Field(default=None, max_length=200)
    credential_id: str | None = Field(default=None, max_length=40, description="None: the platform's account")
    options: dict[str, Any] = Field(default_factory=dict)


class Stage(ProviderChoice):
    fallbacks: list[ProviderChoice] = Field(default_factory=list, max_length=5)


class FaqEntry(In):
    question: Said
    answer: Said
    keywords: list[Name] = Field(default_factory=list, max_length=50)
    tool: str | None = Field(
        default=None, max_length=64, description="knowledge-base agent: a tool to call after answering"
    )


class TurnSettings(In):
    """How the voice pipeline takes turns; every field has a telephone-grade default."""

    min_silence_ms: int = Field(default=200, ge=100, le=3000, description="quiet that may end the turn")
    max_wait_ms: int = Field(default=1200, ge=100, le=10_000, description="then wait this long for STT")
    barge_in_ms: int = Field(default=200, ge=60, le=3000, description="voiced audio that interrupts")
    early_llm: bool = Field(default=False, description="start the LLM on a stable interim transcript")
    reprompt_after_s: float = Field(default=8.0, ge=2, le=120)
    max_reprompts: int = Field(default=2, ge=0, le=10)
    vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    stt_chunk_ms: int = Field(
        default=100,
        ge=20,
        le=500,
        description="caller audio per STT message: smaller lets the STT's own endpointing end turns sooner",
    )
    stt_speech_only: bool = Field(
        default=False,
        description=(
            "the STT hears only the caller's speech, from 0.5 s before the local VAD hears it to 1 s after "
            "it ends, and keepalives between: Deepgram bills the audio sent; speech the VAD misses is lost"
        ),
    )
    slot_wait_ms: int = Field(
        default=300, ge=0, le=5000, description="wait for a TTS/LLM slot, then use the next provider"
    )


class KnowledgeBase(In):
    text: LongText = ""
    faq: list[FaqEntry] = Field(default_factory=list, max_length=500)
    phrases: list[ShortText] = Field(
        default_factory=list,
        max_length=500,
        description="what callers may say, beyond the FAQ: trains the embedded STT's language model",
    )


class Tool(In):
    name: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
    kind: Literal["transfer_call", "end_call", "send_dtmf", "webhook"]
    description: ShortText = ""
    parameters: dict[str, Any] = Field(default_factory=dict, description="JSON schema of the arguments")
    url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://[^\s]+$")
    timeout_ms: int = Field(default=5000, ge=100, le=30_000)
    target: str | None = Field(default=None, max_length=200, description="transfer_call: number or SIP URI")
    targets: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="transfer_call: where the agent may choose to transfer: numbers, SIP URIs, or a "
        "number prefix ending in * (+4930*)",
    )

    @model_validator(mode="after")
    def _webhook_has_url(self) -> "Tool":
        if self.kind == "webhook" and not self.url:
            raise ValueError("a webhook tool needs a url")
        if self.kind == "transfer_call":
            if not self.target and not self.targets:
                raise ValueError("a transfer_call tool needs a target, or targets the agent may choose from")
            self.target = _transfer_destination(self.target) if self.target else None
            self.targets = [_transfer_destination(t, pattern=True) for t in self.targets]
        return self


_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}\*")


def _transfer_destination(value: str, *, pattern: bool = False) -> str:
    """A number (normalised to E.164), a SIP URI without headers, or (in `targets`) a number prefix."""
    if pattern and _PREFIX.fullmatch(value):
        return value
    try:
        if value.startswith(("sip:", "sips:")):
            return sip_target(value, "target")
        return normalize_e164(value, "target")
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


class AgentFields(In):
    kind: Literal["voice", "echo", "play"] = Field(
        default="voice",
        description="voice: the STT-LLM-TTS agent; echo: sends back what it hears; play: a test prompt",
    )
    language: str = Field(default="en-US", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    greeting: ShortText = ""
    system_prompt: LongText = ""
    knowledge_base: KnowledgeBase = Field(default_factory=KnowledgeBase)
    voice: str | None = Field(default=None, max_length=200)
    stt: Stage = Field(default_factory=lambda: Stage(**DEFAULT_STAGES["stt"]))
    llm: Stage = Field(default_factory=lambda: Stage(**DEFAULT_STAGES["llm"]))
    tts: Stage = Field(default_factory=lambda: Stage(**DEFAULT_STAGES["tts"]))
    tools: list[Tool] = Field(default_factory=list, max_length=50)
    turn: TurnSettings = Field(default_factory=TurnSettings)
    max_call_seconds: int = Field(default=1800, ge=10, le=4 * 3600)
    recording: bool = False
    amd: Literal["off", "detect", "message"] = Field(
        default="off",
        description="answering-machine detection on this agent's outbound calls, unless a call or "
        "campaign says otherwise: `detect` hangs up on machines, `message` leaves `voicemail_message`",
    )
    voicemail_message: str = Field(default="", max_length=500)
    analysis: AnalysisPlan = Field(
        default_factory=AnalysisPlan,
        description="what to learn from each call once it ends (embedded, offline, by default): summary, "
        "success on the agent's rubric, sentiment, and the fields of `schema` (JSON Schema)",
    )

    @model_validator(mode="after")
    def _message_to_leave(self) -> "AgentFields":
        if self.amd == "message" and not self.voicemail_message:
            raise ValueError("amd `message` needs the `voicemail_message` to leave")
        return self


class AgentCreate(AgentFields):
    name: Name


class AgentUpdate(In):
    name: Name | None = None
    kind: Literal["voice", "echo", "play"] | None = None
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    greeting: ShortText | None = None
    system_prompt: LongText | None = None
    knowledge_base: KnowledgeBase | None = None
    voice: str | None = Field(default=None, max_length=200)
    stt: Stage | None = None
    llm: Stage | None = None
    tts: Stage | None = None
    tools: list[Tool] | None = Field(default=None, max_length=50)
    turn: TurnSettings | None = None
    max_call_seconds: int | None = Field(default=None, ge=10, le=4 * 3600)
    recording: bool | None = None
    amd: Literal["off", "detect", "message"] | None = None
    voicemail_message: str | None = Field(default=None, max_length=500)
    analysis: AnalysisPlan | None = None


class AgentOut(Stamped, AgentFields):
    business_id: str
    name: str
    version: int = Field(description="the published version, which calls use")
    has_draft: bool = Field(default=False, description="whether changes wait in the draft, unpublished")


def render(_ctx: Ctx, row: Agent) -> AgentOut:
    return AgentOut.model_validate(row).model_copy(update={"has_draft": row.draft is not None})


_NOT_NULL = (
    "name",
    "kind",
    "language",
    "greeting",
    "system_prompt",
    "knowledge_base",
    "stt",
    "llm",
    "tts",
    "tools",
    "turn",
    "amd",
    "voicemail_message",
    "analysis",
)


async def _check_stage(ctx: Ctx, owner: Owner, stage: str, value: dict[str, Any]) -> None:
    for i, choice in enumerate([value, *value.get("fallbacks", [])]):
        where = stage if i == 0 else f"{stage}.fallbacks[{i - 1}]"
        if choice["provider"] not in _BY_STAGE[stage]:
            known = ", ".join(_BY_STAGE[stage])
            raise InvalidInput(
                f"{where}.provider", f"unknown provider {choice['provider']!r}; known: {known}"
            )
        try:
            choice["options"] = check_options(stage, choice["provider"], choice.get("options") or {})
        except ValueError as exc:
            raise InvalidInput(f"{where}.options", str(exc)) from None
        cred_id = choice.get("credential_id")
        if cred_id is not None:
            await _check_credential(ctx, owner, where, cred_id)


async def _check_credential(ctx: Ctx, owner: Owner, where: str, cred_id: str) -> None:
    cred = await ctx.session.scalar(
        select(Credential).where(Credential.id == cred_id, Credential.business_id == owner.business_id)
    )
    if cred is None:
        raise InvalidInput(f"{where}.credential_id", "no such credential in this business")


async def build(
    ctx: Ctx, owner: Owner, row_id: str, given: dict[str, Any], existing: Agent | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    for name in _NOT_NULL:
        if name in given and given[name] is None:
            raise InvalidInput(name, "may not be null")
    for stage in ("stt", "llm", "tts"):
        if given.get(stage) is not None:
            await _check_stage(ctx, owner, stage, given[stage])
    if given.get("analysis") is not None:
        plan = AnalysisPlan.model_validate(given["analysis"])
        if plan.llm is not None:
            await _check_credential(ctx, owner, "analysis.llm", plan.llm.credential_id)
        given["analysis"] = plan.stored()  # the schema under its own name
    amd = given.get("amd") or (existing.amd if existing is not None else "off")
    message = given.get("voicemail_message", existing.voicemail_message if existing is not None else "")
    if amd == "message" and not message:
        raise InvalidInput("voicemail_message", "amd `message` needs the `voicemail_message` to leave")
    turn = given.get("turn") or (existing.turn if existing is not None else None) or {}
    stt = given.get("stt") or (existing.stt if existing is not None else None) or {}
    if turn.get("stt_speech_only") and any(
        is_flux(str(c.get("provider")), c.get("model")) for c in [stt, *(stt.get("fallbacks") or [])]
    ):
        raise InvalidInput(
            "turn.stt_speech_only",
            "Flux ends a turn on the quiet it hears and is not finalized on request: send it all the audio",
        )
    values = dict(given)
    if existing is None:
        values["business_id"] = owner.business_id
    elif any(name in given for name in versions.CONFIG_FIELDS):  # an edit through the API is published
        values["version"] = await versions.next_number(ctx.session, existing)
    return values, {}


async def keep_version(ctx: Ctx, agent: Agent, given: dict[str, Any]) -> None:
    """Every configuration calls have used is kept: version 1 when created, the next on each change."""
    if await versions.version_of(ctx.session, agent.id, agent.version) is None:
        versions.keep(ctx.session, agent, await publisher(ctx))
        await versions.prune(ctx.session, agent)


async def publisher(ctx: Ctx) -> versions.Publisher:
    p = ctx.principal
    label = "system"
    if p.user_id is not None:
        label = await ctx.session.scalar(select(User.email).where(User.id == p.user_id)) or p.user_id
    elif p.key_id is not None:
        name = await ctx.session.scalar(select(ApiKey.name).where(ApiKey.id == p.key_id))
        label = f"API key {name or p.key_id}"
    return versions.Publisher(label, user_id=p.user_id, key_id=p.key_id)


async def before_delete(ctx: Ctx, agent: Agent) -> bool:
    routed = await ctx.session.scalar(
        select(PhoneNumber.e164).where(PhoneNumber.agent_id == agent.id).limit(1)
    )
    if routed is not None:
        raise Conflict(f"number {routed} routes to this agent; route it elsewhere first")
    return False


SPEC = ResourceSpec(
    kind="agents",
    model=Agent,
    id_prefix="agt",
    create=AgentCreate,
    update=AgentUpdate,
    out=AgentOut,
    build=build,
    render=render,
    on_delete=before_delete,
    after_write=keep_version,
)
