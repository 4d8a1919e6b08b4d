"""Outbound SIP calls: the INVITE with our SDP offer, early media on 183, the ACK of the 2xx that
puts the call up, the failures a far end answers with, and a ring timeout that cancels."""

import asyncio
import logging

from voicegrid.core.ids import new_id
from voicegrid.media.session import Talker
from voicegrid.sip.build import new_call_id, new_tag
from voicegrid.sip.dialog import Dialog
from voicegrid.sip.errors import ParseError, SdpError
from voicegrid.sip.headers import Headers
from voicegrid.sip.message import Request, Response
from voicegrid.sip.sdp import offer
from voicegrid.sip.useragent import Addr
from voicegrid.telephony.book import Call, CallState
from voicegrid.telephony.sip_core import CallCore

log = logging.getLogger(__name__)
OUTBOUND_FAILURES = {
    486: "busy",
    600: "busy",
    480: "no-answer",
    408: "no-answer",
    487: "cancelled",
    603: "declined",
}


class OutboundCalls(CallCore):
    def dial(
        self,
        to_uri: str,
        dest: Addr,
        *,
        from_uri: str,
        credentials: tuple[str, str] | None = None,
        agent: Talker | None = None,
        ring_timeout_s: float = 45.0,
        id: str | None = None,
    ) -> Call:
        """Place an outbound call; raises PortsExhausted when no media port is free.

        `id` keeps the id a queued call was given when it was accepted.

        Unanswered after `ring_timeout_s`, it is cancelled with outcome `no-answer`.
        """
        rtp_port = self.media.free_port(self.ua.local[1])
        headers = Headers()
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<{from_uri}>;tag={new_tag()}")
        headers.add("To", f"<{to_uri}>")
        call_id = new_call_id(self.ua.local[1])
        headers.add("Call-ID", call_id)
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", self.contact)
        headers.add("Content-Type", "application/sdp")
        body = offer(local_address=self.ua.local[1], local_port=rtp_port, session_id=self._session, version=1)
        call = Call(id or new_id("call"), "outbound", call_id, dest=dest, rtp_port=rtp_port, agent=agent)
        call.to, call.from_number = to_uri, from_uri.split(":", 1)[-1].split("@", 1)[0]
        self._keep(call)
        invite = Request(headers=headers, body=bytes(body), method="INVITE", uri=to_uri)
        call.invite_tx = self.ua.send(invite, dest, self._now(), credentials=credentials)
        self._flush()
        self.spawn(self._ring_timeout(call, ring_timeout_s))
        return call

    async def _ring_timeout(self, call: Call, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await call.answered.wait()
        except TimeoutError:
            if call.state is CallState.RINGING:
                call.outcome = "no-answer"
                self.hangup(call)

    def _outbound_response(self, call: Call, response: Response, dialog: Dialog | None) -> None:
        if response.status < 200:
            if response.status == 183 and response.body and call.media_session is None:
                self._early_media(call, response)
            return
        if response.status < 300 and dialog is not None and call.dest is not None:
            call.dialog = dialog
            self.ua.ack_2xx(dialog, response, call.dest, self.contact)
            try:
                if response.body:
                    _, call.media = self._negotiate(response.body, call.rtp_port or 0, 1)
            except (SdpError, ParseError):
                log.info("answer SDP unusable on %s", call.call_id)
            if call.state is CallState.RINGING:
                call.outcome = "answered"
                self.book.answered(call)
                if call.media_session is not None and call.max_duration_s is not None:
                    self.spawn(self._limit_duration(call, call.max_duration_s))  # media came early
                self.spawn(self._start_media(call))
            self._flush()
            return
        self._end(call, "remote", OUTBOUND_FAILURES.get(response.status, "failed"))

    def _early_media(self, call: Call, response: Response) -> None:
        """183 with SDP: the far end plays ringback or an announcement before it answers; hear it."""
        try:
            _, call.media = self._negotiate(response.body, call.rtp_port or 0, 1)
        except (SdpError, ParseError):
            log.info("early media SDP unusable on %s", call.call_id)
            return
        self.spawn(self._start_media(call))
