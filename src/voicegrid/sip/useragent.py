"""The user agent core, sans-I/O: bytes and `now` in; bytes to send, timer deadlines and events out.

It does what RFC 3261 asks of every UA so the application does not have to: matches messages to
transactions, answers invalid requests statelessly, answers OPTIONS, CANCEL (200, then 487 to the
INVITE) and BYE, retransmits a 2xx to INVITE until its ACK (§13.3.1.4), keeps dialogs, answers
requests in unknown dialogs with 481, and retries an outbound request once per digest challenge.

What a stranger can make it hold is bounded: out-of-dialog OPTIONS, and REFER, NOTIFY, INFO and BYE
outside a dialog, are answered statelessly (no transaction kept); out-of-dialog requests pass a
`RequestGate` (per source and overall; over it they are dropped unanswered); server transactions
are capped (503 past it). Every lookup and removal of a transaction or a pending ACK is O(1).
"""

import heapq

from voicegrid.sip.build import response_to
from voicegrid.sip.dialog import Dialog, DialogState
from voicegrid.sip.errors import DialogError, ParseError
from voicegrid.sip.message import Message, Request, Response, parse_message
from voicegrid.sip.transaction import ClientTransaction, ServerTransaction, State
from voicegrid.sip.ua_events import Addr, Event, Incoming, Outcome
from voicegrid.sip.ua_state import Counters, _PendingAck
from voicegrid.sip.uac import ClientSide
from voicegrid.sip.validate import validate

__all__ = ["Addr", "Counters", "Event", "Incoming", "Outcome", "UserAgent"]

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY"
KNOWN_METHODS = frozenset(ALLOW.replace(" ", "").split(","))
OUT_OF_DIALOG_481 = frozenset({"BYE", "REFER", "NOTIFY", "INFO"})  # meaningless outside a dialog


class UserAgent(ClientSide):
    def handle_timer(self, now: float) -> None:
        due = []
        while self._heap and self._heap[0][0] <= now:
            _, _, owner = heapq.heappop(self._heap)
            if self._live(owner) and owner not in due:
                due.append(owner)
        for owner in due:
            if isinstance(owner, _PendingAck):
                self._ack_timer(owner, now)
            elif isinstance(owner, ClientTransaction | ServerTransaction):
                owner.handle_timer(now)
                self.counters.retransmitted += len(owner.outbox)
                self._drain(owner, now)

    # ---- input ---------------------------------------------------------------------------------
    def receive(self, data: bytes, source: Addr, now: float) -> None:
        """One datagram, or one framed message from a stream."""
        self.counters.received += 1
        try:
            message = parse_message(data, self.limits, datagram=source[0] == "udp")
        except ParseError:
            self.counters.unparseable += 1
            return
        self.receive_message(message, source, now)

    def receive_message(self, message: Message, source: Addr, now: float) -> None:
        try:
            validate(message)
        except ParseError as exc:
            if isinstance(message, Request) and message.method != "ACK":
                self.counters.invalid_requests += 1
                self._stateless(message, exc.status, exc.reason[:120], source)
            else:
                self.counters.stray_responses += 1
            return
        if isinstance(message, Response):
            self._on_response(message, now)
        else:
            self._on_request(message, source, now)

    # ---- requests in ---------------------------------------------------------------------------
    def _key(self, request: Request, method: str) -> tuple[str, str, str]:
        via = request.top_via
        branch = (
            via.branch if via.rfc3261_branch and via.branch else f"2543:{request.call_id}:{request.cseq[0]}"
        )
        return (branch, f"{via.host}:{via.port or 5060}", method)

    def _on_request(self, request: Request, source: Addr, now: float) -> None:
        method = request.method
        if method == "ACK":
            self._on_ack(request, source, now)
            return
        key = self._key(request, "INVITE" if method == "ACK" else method)
        existing = self._servers.get(key)
        if existing is not None:
            self.counters.duplicates += 1
            tx, _ = existing
            tx.receive(request, now)
            self._drain(tx, now)
            return
        if method == "CANCEL":
            self._on_cancel(request, source, now)
            return
        to_tag = request.to.tag
        if to_tag is None:
            if not self.gate.allow(source[1], now, method):
                self.counters.rate_limited += 1
                return
            if method == "OPTIONS":  # a probe: answered at once, nothing kept
                response = response_to(request, self.options_status, to_tag=self.new_tag())
                self._stateless_response(
                    self._with(response, Allow=ALLOW, Accept="application/sdp"), request, source
                )
                return
            if method in OUT_OF_DIALOG_481:
                self._stateless_response(response_to(request, 481), request, source)
                return
        if len(self._servers) >= self.gate.limits.max_server_transactions:
            busy = self._with(response_to(request, 503, "Overloaded", to_tag=self.new_tag()), Retry_After="5")
            self._stateless_response(busy, request, source)
            return
        tx = ServerTransaction.start(request, now, reliable=source[0] != "udp", timers=self.timers)
        self._servers[key] = (tx, self._reply_address(request, source))
        self._server_keys[tx] = key
        dialog: Dialog | None = None
        if to_tag is not None:
            dialog = self.dialogs.get((request.call_id, to_tag, request.from_.tag or ""))
            if dialog is None or dialog.state is DialogState.TERMINATED:
                self._respond_tx(tx, response_to(request, 481), now)
                return
            try:
                dialog.check_remote_cseq(request)
            except DialogError:
                self._respond_tx(tx, response_to(request, 500, "CSeq out of order"), now)
                return
            if method == "BYE":
                dialog.step("bye")
                self._respond_tx(tx, response_to(request, 200), now)
                self._events.append(Outcome("bye", tx, None, dialog))
                return
        elif method not in KNOWN_METHODS:
            self._respond_tx(
                tx, self._with(response_to(request, 501, to_tag=self.new_tag()), Allow=ALLOW), now
            )
            return
        if method == "INVITE":
            self._respond_tx(tx, response_to(request, 100), now)
        self._events.append(Incoming(request, source, tx, dialog))

    def _on_cancel(self, cancel: Request, source: Addr, now: float) -> None:
        reply_to = self._reply_address(cancel, source)
        found = self._servers.get(self._key(cancel, "INVITE"))
        if found is None:  # nothing to cancel: answered, nothing kept
            self._stateless_response(response_to(cancel, 481), cancel, source)
            return
        key = self._key(cancel, "CANCEL")
        tx = ServerTransaction.start(cancel, now, reliable=source[0] != "udp", timers=self.timers)
        self._servers[key] = (tx, reply_to)
        self._server_keys[tx] = key
        invite_tx, _ = found
        # The CANCEL's 200 carries the To tag the INVITE's responses already carry, if any.
        last = invite_tx.last_response
        tag = (last.to.tag if last is not None else None) or self.new_tag()
        self._respond_tx(tx, response_to(cancel, 200, to_tag=tag), now)
        if invite_tx.state is State.PROCEEDING:  # not answered yet: the INVITE ends with 487
            self._respond_tx(invite_tx, response_to(invite_tx.request, 487, to_tag=tag), now)
            self._events.append(Outcome("cancelled", invite_tx))

    def _on_ack(self, ack: Request, source: Addr, now: float) -> None:
        pending = self._acks.pop((ack.call_id, ack.cseq[0]), None)
        if pending is not None:  # the ACK of our 2xx: the call is up
            self._events.append(Incoming(ack, source, None, pending.dialog))
            return
        found = self._servers.get(self._key(ack, "INVITE"))
        if found is not None:  # the ACK of a failure: the transaction absorbs it
            found[0].receive(ack, now)
            self._drain(found[0], now)

    def _reply_address(self, request: Request, source: Addr) -> Addr:
        """Where responses go (§18.2.2, RFC 3581): back over the connection, or to the source when rport."""
        if source[0] != "udp":
            return source
        via = request.top_via
        if "rport" in via.params:
            return source
        return ("udp", source[1], via.port or 5060)

    def _stateless(self, request: Request, status: int, reason: str, source: Addr) -> None:
        try:
            response = response_to(request, status, reason, to_tag=self.new_tag())
            self._out.append((bytes(response), self._reply_address(request, source)))
        except ParseError:
            pass  # not even a usable Via: nothing can be answered

    def _stateless_response(self, response: Response, request: Request, source: Addr) -> None:
        """Answer without a transaction: a retransmitted request is simply answered again."""
        self.counters.stateless += 1
        response.headers.set("User-Agent", self.user_agent)
        self._out.append((bytes(response), self._reply_address(request, source)))

    # ---- answering -----------------------------------------------------------------------------
    @staticmethod
    def _with(response: Response, **headers: str) -> Response:
        for name, value in headers.items():
            response.headers.add(name.replace("_", "-"), value)
        return response

    def respond(
        self, incoming: Incoming, response: Response, now: float, *, contact: str | None = None
    ) -> None:
        """Answer a request from the application. A 2xx to INVITE makes (or confirms) the dialog."""
        tx = incoming.transaction
        if tx is None:
            raise DialogError("an ACK takes no response")
        request = incoming.request
        if request.method == "INVITE" and response.status > 100:
            tag = response.to.tag
            if tag is None:
                tag = incoming.dialog.local_tag if incoming.dialog else self.new_tag()
                response.headers.set("To", f"{response.headers.get('To')};tag={tag}")
            if contact is not None and "Contact" not in response.headers:
                response.headers.add("Contact", contact)
            key = (request.call_id, tag, request.from_.tag or "")
            if response.status < 200:  # an early dialog (§12.1.1)
                if key not in self.dialogs and incoming.dialog is None:
                    self.dialogs[key] = Dialog.as_uas(request, tag)
            elif response.status >= 300:
                early = self.dialogs.get(key)
                if early is not None and early.state is DialogState.EARLY:
                    self.end_dialog(early)
            if 200 <= response.status < 300:
                dialog = incoming.dialog or self.dialogs.get(key) or Dialog.as_uas(request, tag)
                if dialog.state is DialogState.EARLY:
                    dialog.step("2xx")
                self.dialogs[dialog.id] = dialog
                dest = self._servers[self._key(request, "INVITE")][1]
                pending = _PendingAck(
                    (request.call_id, request.cseq[0]),
                    response,
                    dest,
                    now + self.timers.t1,
                    self.timers.t1,
                    now + 64 * self.timers.t1,
                    dialog,
                )
                self._acks[pending.key] = pending
                if dest[0] == "udp":
                    self._arm(pending.deadline, pending)
                else:
                    self._arm(pending.give_up, pending)
        response.headers.set("User-Agent", self.user_agent)
        self._respond_tx(tx, response, now)

    def _ack_timer(self, pending: _PendingAck, now: float) -> None:
        if self._acks.get(pending.key) is not pending:
            return
        if now >= pending.give_up:
            del self._acks[pending.key]
            self._events.append(Outcome("ack-timeout", None, pending.response, pending.dialog))
            return
        self._out.append((bytes(pending.response), pending.dest))
        self.counters.retransmitted += 1
        pending.interval = min(pending.interval * 2, self.timers.t2)
        pending.deadline = min(now + pending.interval, pending.give_up)
        self._arm(pending.deadline, pending)

    def _respond_tx(self, tx: ServerTransaction, response: Response, now: float) -> None:
        tx.respond(response, now)
        self._drain(tx, now)

    # ---- requests out --------------------------------------------------------------------------
