"""Call control over SIP: inbound INVITEs to a decision hook, answers with SDP, outbound dialling, BYE.

The decision hook (routing, trunk checks, admission) is the application's; this layer does the SIP
choreography around it: 100 (by the user agent), 180, 200 with an SDP answer, 488 when no codec is
shared, the ACK that puts a call up, BYE from either side, and CANCEL while ringing. The user
agent's reports come in as typed call events (`sip_events`) and are dispatched here; inbound and
outbound calls (`inbound`, `outbound`) share one core (`sip_core`); the media (`call_media`),
transfers (`transfer`) and trunk registrations (`registrations`) are objects of their own.
"""

from voicegrid.sip.build import response_to
from voicegrid.sip.useragent import Event, Outcome
from voicegrid.telephony import sip_events as ev
from voicegrid.telephony.book import Call, CallState
from voicegrid.telephony.inbound import InboundCalls
from voicegrid.telephony.outbound import OutboundCalls
from voicegrid.telephony.sip_core import Decide, Decision
from voicegrid.telephony.sip_transport import SipEndpoint
from voicegrid.telephony.transfer import DialPlan, TransferRoute

__all__ = ["CallControl", "Decide", "Decision", "DialPlan", "TransferRoute"]


class CallControl(InboundCalls, OutboundCalls):
    async def start(self, host: str, port: int) -> None:
        self.clock.start()
        self.endpoint = SipEndpoint(self.ua, self.on_event, self.tcp)
        await self.endpoint.start(host, port)
        self.ua.local = (self.ua.local[0], host, self.endpoint.port)

    def on_event(self, event: Event) -> None:
        match ev.classify(event):
            case ev.Invited(incoming):
                self._invited(incoming)
            case ev.Acked(incoming):
                acked = self.calls.get(incoming.request.call_id)
                if acked is not None and acked.dialog is incoming.dialog and acked.state is CallState.RINGING:
                    self.book.answered(acked)
            case ev.InDialog(incoming):
                method = incoming.request.method
                status = 202 if method == "REFER" else 200  # REFER is accepted, then reported (RFC 3515)
                self.ua.respond(incoming, response_to(incoming.request, status), self._now())
                notified = self.calls.get(incoming.request.call_id)
                if method == "NOTIFY" and notified is not None:
                    self.transfers.notified(self, notified, incoming.request)
            case ev.Reinvited(incoming):
                self._reinvite(incoming)
            case ev.Ended(call_id, outcome, by, result, bye):
                call = self.calls.get(call_id)
                if call is not None and self._owns(call, outcome):
                    if bye and call.dialog is not None:
                        self._send_bye(call)
                    self._end(call, by, result)
            case ev.RegisterOutcome(outcome):
                self.registrations.answered(outcome)
            case ev.ReferAnswered(call_id, status):
                referred = self.calls.get(call_id)
                if referred is not None:
                    self.transfers.refer_answered(self, referred, status)
            case ev.Retransmitted2xx(response):
                call = self.calls.get(response.call_id)  # our ACK was lost: ACK it again
                if call is not None and call.dialog is not None and call.dest is not None:
                    self.ua.ack_2xx(call.dialog, response, call.dest, self.contact)
            case ev.InviteRetried(call_id, transaction):
                if (call := self._outbound(call_id)) is not None:
                    call.invite_tx = transaction  # the INVITE again, with credentials
            case ev.InviteTimedOut(call_id):
                if (call := self._outbound(call_id)) is not None:
                    self._end(call, "network", "no-answer")
            case ev.InviteAnswered(call_id, response, dialog):
                if (call := self._outbound(call_id)) is not None:
                    self._outbound_response(call, response, dialog)

    def _outbound(self, call_id: str) -> Call | None:
        call = self.calls.get(call_id)
        return call if call is not None and call.direction == "outbound" else None

    @staticmethod
    def _owns(call: Call, outcome: Outcome) -> bool:
        """Whether an end event is of this call's own dialog or INVITE, not merely of its Call-ID."""
        if call.dialog is not None:
            return outcome.dialog is call.dialog
        if outcome.kind == "cancelled" and call.incoming is not None:
            return outcome.transaction is call.incoming.transaction
        return call.direction == "outbound"  # no dialog yet: its own INVITE is the only one it sent

    def transfer(self, call: Call, to_uri: str) -> bool:
        """Blind transfer (RFC 3515): ask the peer to call `to_uri`; we leave once it reports success."""
        return self.transfers.refer(self, call, to_uri)
