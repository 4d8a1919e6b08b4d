"""Inbound SIP calls: a new INVITE is refused early (draining, a source over its rate, a Call-ID in
use), else decided by the application's hook and answered: 180 while ringing, 200 with our SDP,
media once the ACK comes; every failure on the way gets its final response (400, 488, 500, 503)."""

import asyncio
import logging

from voicegrid.core.ids import new_id
from voicegrid.media.ports import PortsExhausted
from voicegrid.sip.build import new_tag, response_to
from voicegrid.sip.errors import ParseError, SdpError
from voicegrid.sip.message import Response
from voicegrid.sip.uri import SipUri
from voicegrid.sip.useragent import Addr, Incoming
from voicegrid.telephony.book import Call, CallState
from voicegrid.telephony.errors import EdgeHeaderError
from voicegrid.telephony.sip_core import CallCore, Decision

log = logging.getLogger(__name__)


class InboundCalls(CallCore):
    def _invited(self, incoming: Incoming) -> None:
        request = incoming.request
        live = self.calls.get(request.call_id)
        if live is not None and live.state is not CallState.ENDED:
            # a new INVITE with a live call's Call-ID (merged, looped, or someone else's): answered
            # on its own, never touching the call that owns the Call-ID (RFC 3261 §8.2.2.2)
            self.ua.respond(incoming, response_to(request, 482, "Call-ID in use"), self._now())
            return
        try:
            caller = self.edge.caller(request, incoming.source)
        except EdgeHeaderError as exc:
            log.warning("INVITE from the edge %s refused: %s", incoming.source[1], exc)
            self.ua.respond(incoming, response_to(request, 400, "Bad X-Voicegrid-Source"), self._now())
            return
        refusal = self._refusal(incoming, caller)
        if refusal is not None:
            self.ua.respond(incoming, refusal, self._now())
            return
        call = Call(new_id("call"), "inbound", request.call_id, incoming=incoming, caller=caller)
        self._keep(call)
        self.spawn(self._inbound(call))

    def _refusal(self, event: Incoming, caller: Addr) -> Response | None:
        """503 with Retry-After while draining, or for a caller over its INVITE rate."""
        if self.draining:
            response = response_to(event.request, 503, "Shutting down")
            response.headers.add("Retry-After", "30")
            return response
        if not self.limiter.allow(caller[1], self._now()):
            response = response_to(event.request, 503, "Too many calls from this source")
            response.headers.add("Retry-After", "1")
            # the caller's own limit, not this node's state: the SIP edge must not try another node
            # (nor mark this one down) for it, or one fast caller could take nodes out for everyone
            response.headers.add("X-Voicegrid-Limit", "caller invite_rate_per_source")
            return response
        return None

    async def _inbound(self, call: Call) -> None:
        """Decide, then answer. Whatever fails on the way, the INVITE gets a final response (400, 488,
        500 or 503 as fits; a BYE if it was already answered) and the call ends, which gives back its
        lease, its RTP port and its state."""
        incoming = call.incoming
        if incoming is None:
            return
        try:
            decision = await self.decide(incoming.request, call.caller or incoming.source, call.id)
        except Exception:
            log.exception("call decision failed")
            decision = Decision(500)
        call.on_end = decision.plan.release
        if call.state is CallState.ENDED:
            release, call.on_end = call.on_end, None
            if release is not None:
                release()
            return  # cancelled while deciding
        try:
            await self._answer(call, incoming, decision)
        except Exception as exc:
            self._fail_inbound(call, incoming, exc)

    def _fail_inbound(self, call: Call, incoming: Incoming, exc: Exception) -> None:
        if isinstance(exc, SdpError):
            status, reason = exc.status, exc.reason[:100]
        elif isinstance(exc, ParseError):
            status, reason = 400, exc.reason[:100]
        elif isinstance(exc, PortsExhausted):
            status, reason = 503, "No media ports free"
        elif isinstance(exc, OSError):  # no descriptor left, most often
            status, reason = 503, "No media resources"
        else:
            log.error("inbound call %s failed", call.call_id, exc_info=exc)
            status, reason = 500, "Server Internal Error"
        if call.state is CallState.ENDED:
            return
        tx = incoming.transaction
        if call.dialog is not None and call.dest is not None:  # answered already: hang up
            call.outcome = call.outcome or "failed"
            self.hangup(call)
            return
        if (
            tx is not None
            and not tx.terminated
            and (tx.last_response is None or tx.last_response.status < 200)
        ):
            response = response_to(incoming.request, status, reason)
            if status == 503:
                response.headers.add("Retry-After", "5")
            try:
                self.ua.respond(incoming, response, self._now())
            except Exception:  # the response itself could not be made: nothing more to say
                log.exception("no final response for %s", call.call_id)
        self._end(call, "local", "rejected" if status in (503, 488) else "failed")
        self._flush()

    async def _answer(self, call: Call, incoming: Incoming, decision: Decision) -> None:
        request = incoming.request
        if decision.status >= 300:
            response = response_to(request, decision.status, decision.reason)
            for name, value in decision.headers:
                response.headers.add(name, value)
            self.ua.respond(incoming, response, self._now())
            self._end(call, "local", "rejected")
            self._flush()
            return
        call.rtp_port = self.media.free_port(self.ua.local[1])
        body, call.media = self._negotiate(request.body, call.rtp_port, 1)
        call.apply(decision.plan)
        call.to = request.uri
        call.from_number = request.from_.uri.user if isinstance(request.from_.uri, SipUri) else None
        tag = new_tag()
        if decision.ring_ms:
            self.ua.respond(
                incoming, response_to(request, 180, to_tag=tag), self._now(), contact=self.contact
            )
            self._flush()
            await asyncio.sleep(decision.ring_ms / 1000)
            if call.ended.is_set():
                return
        ok = response_to(request, 200, to_tag=tag)
        ok.headers.add("Content-Type", "application/sdp")
        ok.body = bytes(body)
        self.ua.respond(incoming, ok, self._now(), contact=self.contact)
        call.dialog = self.ua.dialogs.get((request.call_id, tag, request.from_.tag or ""))
        call.dest = incoming.source
        self._flush()
        await self._start_media(call)

    def _reinvite(self, event: Incoming) -> None:
        call = self.calls.get(event.request.call_id)
        ok = response_to(event.request, 200)
        if call is not None and event.request.body:
            try:
                body, call.media = self._negotiate(event.request.body, call.rtp_port or 0, 2)
            except SdpError as exc:
                self.ua.respond(event, response_to(event.request, exc.status), self._now())
                return
            ok.headers.add("Content-Type", "application/sdp")
            ok.body = bytes(body)
        self.ua.respond(event, ok, self._now(), contact=self.contact)
