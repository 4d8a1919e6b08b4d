"""Inbound routing: which business and agent an INVITE is for, and whether its source may call.

Number: the Request-URI's user part, else the To header's, normalised to E.164. Source: a trunk of
that business whose inbound CIDRs hold the sender's address. Unknown number 404; no trunk
matched 403; disabled business 403; a number routed to no agent 480.
"""

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.sip.message import Request
from voicegrid.sip.uri import SipUri, parse_uri
from voicegrid.sip.useragent import Addr
from voicegrid.store.models import Business, PhoneNumber, Trunk
from voicegrid.telephony.calls import Decision
from voicegrid.tenancy import InvalidInput, normalize_e164
from voicegrid.tenancy.network import source_allowed

log = logging.getLogger(__name__)


def dialled_number(request: Request) -> str | None:
    for candidate in (parse_uri(request.uri), request.to.uri):
        if isinstance(candidate, SipUri) and candidate.user:
            try:
                return normalize_e164(candidate.user.split(";", 1)[0])
            except InvalidInput:
                continue
    return None


class InboundRouter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def decide(self, request: Request, source: Addr) -> Decision:
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
                    select(Trunk).where(Trunk.business_id == row.business_id, Trunk.enabled)
                )
            ).all()
        if not any(source_allowed(source[1], list(t.inbound_cidrs)) for t in trunks):
            log.info(
                "INVITE to %s from %s refused: no trunk of the business accepts that source",
                number,
                source[1],
            )
            return Decision(403, "Source not allowed")
        if business is None or not business.enabled:
            return Decision(403, "Business disabled")
        if row.agent_id is None:
            return Decision(480, "No agent on this number")
        return Decision(200)
