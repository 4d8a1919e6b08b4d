"""Inbound routing: which business and agent an INVITE is for, and whether its source may call.

Number: the Request-URI's user part, else the To header's, normalised to E.164. Source: a trunk of
that business whose inbound CIDRs hold the sender's address, or, failing that, a trunk whose digest
credentials the caller proves (401 challenge, `stale=true` for an expired nonce, 403 for wrong
credentials). Unknown number 404; no trunk matched 403; disabled business 403; no agent 480.
"""

import ipaddress
import logging
import os
import time
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.capacity.memory import MemoryBackend
from voicegrid.sip.auth import DigestServer
from voicegrid.sip.message import Request
from voicegrid.sip.uri import SipUri, parse_uri
from voicegrid.sip.useragent import Addr
from voicegrid.store.models import Agent, Business, PhoneNumber, Reseller, Trunk
from voicegrid.telephony.admission import Admission
from voicegrid.telephony.calls import Decision
from voicegrid.telephony.plan import CallPlanner, Refuse, VoiceAgentBuilder
from voicegrid.telephony.trials import PREFIX as TRIAL
from voicegrid.telephony.trials import TrialBook
from voicegrid.tenancy import InvalidInput, SecretBox, SecretError, normalize_e164
from voicegrid.tenancy.network import source_allowed

log = logging.getLogger(__name__)
# What a call is answered while the database is away: the edge does not try another node for it (they
# share the database), and the carrier may try again in a few seconds.
OUTAGE = (("Retry-After", "5"), ("X-Voicegrid-Outage", "database"))


def dialled_number(request: Request) -> str | None:
    for candidate in (parse_uri(request.uri), request.to.uri):
        if isinstance(candidate, SipUri) and candidate.user:
            try:
                return normalize_e164(candidate.user.split(";", 1)[0])
            except InvalidInput:
                continue
    return None


def _this_host(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class InboundRouter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        secrets: SecretBox,
        realm: str = "voicegrid",
        voice_agent: VoiceAgentBuilder | None = None,
        admission: Admission | None = None,
        trials: TrialBook | None = None,
    ) -> None:
        self.planner = CallPlanner(admission or Admission(MemoryBackend()), voice_agent)
        self.trials = trials  # drafts answering the trial calls this node places to itself
        self.sessions = sessions
        self.secrets = secrets
        self.digest = DigestServer(realm, os.urandom(32))

    def _challenges(self, now: float, trunks: list[Trunk], *, stale: bool) -> list[tuple[str, str]]:
        # RFC 8760: one challenge per algorithm, preferred first. Some devices (SIPp among them) read
        # only the first and know only MD5, so each trunk says which algorithms to offer, in order.
        algorithms = dict.fromkeys(
            a for t in trunks for a in (t.inbound_digest_algorithms or ["SHA-256", "MD5"])
        )
        return [
            ("WWW-Authenticate", self.digest.challenge(now, stale=stale, algorithm=algorithm))
            for algorithm in algorithms
        ]

    def _check_digest(self, request: Request, trunks: list[Trunk]) -> Decision | Trunk:
        """The trunk whose credentials are proven; else the challenge or refusal to send."""
        passwords: dict[str, str] = {}
        owners: dict[str, Trunk] = {}
        algorithms: dict[str, list[str]] = {}
        credentialed = [t for t in trunks if t.inbound_username and t.inbound_password_enc]
        for trunk in credentialed:
            if trunk.inbound_username and trunk.inbound_password_enc:
                algorithms[trunk.inbound_username] = list(
                    trunk.inbound_digest_algorithms or ["SHA-256", "MD5"]
                )
                try:
                    passwords[trunk.inbound_username] = self.secrets.decrypt(
                        trunk.inbound_password_enc, f"trunk:{trunk.id}:inbound"
                    )
                    owners[trunk.inbound_username] = trunk
                except SecretError:
                    log.warning(
                        "trunk %s: inbound password cannot be decrypted with the configured key", trunk.id
                    )
        if not passwords:
            return Decision(403, "Source not allowed")
        now = time.time()
        header = request.headers.get("Authorization")
        if header is None:
            return Decision(401, headers=self._challenges(now, credentialed, stale=False))
        verdict = self.digest.verify(
            header,
            method=request.method,
            password_for=passwords.get,
            now=now,
            request_uri=request.uri,
            algorithms_for=lambda user: algorithms.get(user, ()),
        )
        if verdict.ok and verdict.username in owners:
            return owners[verdict.username]
        if verdict.stale:
            return Decision(401, headers=self._challenges(now, credentialed, stale=True))
        log.info("INVITE refused: %s", verdict.reason)
        return Decision(403, "Wrong credentials")

    async def decide(self, request: Request, source: Addr, call_id: str) -> Decision:
        try:
            return await self._decide(request, source, call_id)
        except (DBAPIError, OSError, TimeoutError) as exc:  # the database is away: no caller is told more
            log.warning("INVITE refused: the database did not answer: %s", type(exc).__name__)
            return Decision(503, "Database unavailable", headers=list(OUTAGE))

    async def _trial(self, user: str, source: Addr) -> Agent | None:
        """The draft a trial call is for: only from this host, with a token issued and not yet taken."""
        if self.trials is None or not _this_host(source[1]):
            return None
        return self.trials.take(user)

    async def _decide(self, request: Request, source: Addr, call_id: str) -> Decision:
        uri = parse_uri(request.uri)
        if isinstance(uri, SipUri) and uri.user and uri.user.startswith(TRIAL):
            draft = await self._trial(uri.user, source)
            if draft is None:
                return Decision(404, "No such number")
            async with self.sessions() as session:
                business = await session.get(Business, draft.business_id)
                reseller = await session.get(Reseller, business.reseller_id) if business else None
            plan = await self.planner.plan(business, reseller, draft, "inbound", call_id)
            return Decision.refuse(plan) if isinstance(plan, Refuse) else Decision(200, plan=plan)
        number = dialled_number(request)
        if number is None:
            return Decision(404, "No such number")
        async with self.sessions() as session:
            row = await session.scalar(select(PhoneNumber).where(PhoneNumber.e164 == number))
            if row is None:
                return Decision(404, "No such number")
            business = await session.get(Business, row.business_id)
            trunks = (
                await session.scalars(
                    select(Trunk)
                    .where(Trunk.business_id == row.business_id, Trunk.enabled)
                    .order_by(Trunk.id)  # which trunk a call comes through: the first that holds it
                )
            ).all()
        # The call comes through the first trunk (by id) whose networks hold its source, else the one
        # whose credentials it proves: the trunk's RTP settings are the call's, and its record names it.
        trunk = next((t for t in trunks if source_allowed(source[1], list(t.inbound_cidrs))), None)
        if trunk is None:
            proven = self._check_digest(request, list(trunks))
            if isinstance(proven, Decision):
                log.info("INVITE to %s from %s refused: %s", number, source[1], proven.status)
                return proven
            trunk = proven
        if business is None or not business.enabled:
            return Decision(403, "Business disabled")
        if row.agent_id is None:
            return Decision(480, "No agent on this number")
        async with self.sessions() as session:
            agent = await session.get(Agent, row.agent_id)
            reseller = await session.get(Reseller, business.reseller_id)
        plan = await self.planner.plan(business, reseller, agent, "inbound", call_id)
        if isinstance(plan, Refuse):
            log.info("INVITE to %s refused: %s", number, plan.limit or f"{plan.status} {plan.reason}")
            return Decision.refuse(plan)
        return Decision(
            200, plan=replace(plan, trunk_id=trunk.id, suppress_silence=trunk.rtp_suppress_silence)
        )
