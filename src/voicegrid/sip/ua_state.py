"""The user agent's state and plumbing, shared by its server side (useragent.py) and its client side
(uac.py): transactions by key, pending ACKs, dialogs, what is to send, the events for the
application, and one heap of timer deadlines."""

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from voicegrid.sip.build import new_branch, new_tag
from voicegrid.sip.dialog import Dialog, DialogId, DialogState
from voicegrid.sip.limits import DEFAULT_REQUEST_LIMITS, RequestGate, RequestLimits
from voicegrid.sip.message import DEFAULT_LIMITS, Limits, Request, Response
from voicegrid.sip.transaction import DEFAULT_TIMERS, ClientTransaction, ServerTransaction, Timers
from voicegrid.sip.ua_events import Addr, Event, Outcome


@dataclass(eq=False)
class _PendingAck:
    key: tuple[str, int]
    response: Response
    dest: Addr
    deadline: float
    interval: float
    give_up: float
    dialog: Dialog


@dataclass(eq=False)
class _Client:
    tx: ClientTransaction
    dest: Addr
    credentials: tuple[str, str] | None
    auth_tries: int = 0
    cancel_pending: bool = False


@dataclass
class Counters:
    received: int = 0
    unparseable: int = 0
    invalid_requests: int = 0
    stray_responses: int = 0
    retransmitted: int = 0  # messages we sent again on a timer (requests, failures, 2xx awaiting ACK)
    duplicates: int = 0  # retransmitted requests matched to a transaction we already have
    rate_limited: int = 0  # out-of-dialog requests dropped by the gate
    stateless: int = 0  # requests answered without keeping a transaction (OPTIONS, 481s, over the cap)


class UaState:
    def __init__(
        self,
        local: Addr,
        *,
        timers: Timers = DEFAULT_TIMERS,
        limits: Limits = DEFAULT_LIMITS,
        user_agent: str = "voicegrid",
        tag_factory: Callable[[], str] = new_tag,
        request_limits: RequestLimits = DEFAULT_REQUEST_LIMITS,
    ) -> None:
        self.local = local
        self.timers = timers
        self.limits = limits
        self.user_agent = user_agent
        self.new_tag = tag_factory
        self.options_status = 200  # 503 while draining
        self.counters = Counters()
        self.gate = RequestGate(request_limits)
        self.dialogs: dict[DialogId, Dialog] = {}
        self._servers: dict[tuple[str, str, str], tuple[ServerTransaction, Addr]] = {}
        self._server_keys: dict[ServerTransaction, tuple[str, str, str]] = {}
        self._clients: dict[tuple[str, str], _Client] = {}
        self._client_keys: dict[ClientTransaction, tuple[str, str]] = {}
        self._acks: dict[tuple[str, int], _PendingAck] = {}
        self._out: list[tuple[bytes, Addr]] = []
        self._events: deque[Event] = deque()
        self._heap: list[tuple[float, int, object]] = []
        self._seq = itertools.count()

    # ---- outputs -------------------------------------------------------------------------------
    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        while self._heap:
            when, _, owner = self._heap[0]
            if self._live(owner) and self._deadline_of(owner) == when:
                return when
            heapq.heappop(self._heap)
        return None

    def via(self, transport: str) -> str:
        _, host, port = self.local
        return f"SIP/2.0/{transport.upper()} {host}:{port};branch={new_branch()};rport"

    def _arm(self, when: float, owner: object) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), owner))

    def _deadline_of(self, owner: object) -> float | None:
        if isinstance(owner, _PendingAck):
            return owner.deadline if owner.deadline < owner.give_up else owner.give_up
        if isinstance(owner, ClientTransaction | ServerTransaction):
            return owner.get_timer()
        return None

    def _live(self, owner: object) -> bool:
        if isinstance(owner, _PendingAck):
            return self._acks.get(owner.key) is owner
        return isinstance(owner, ClientTransaction | ServerTransaction) and not owner.terminated

    def _drain(
        self,
        tx: ClientTransaction | ServerTransaction,
        now: float,
        dest: Addr | None = None,
        *,
        quiet: bool = False,
    ) -> None:
        if dest is None:
            if isinstance(tx, ServerTransaction):
                dest = self._servers[self._server_keys[tx]][1]
            else:
                dest = self._clients[self._client_keys[tx]].dest
        self._out += [(data, dest) for data in tx.outbox]
        tx.outbox.clear()
        for event in tx.events:
            if quiet or event.kind == "terminated":
                continue
            if isinstance(tx, ClientTransaction):
                dialog = None
                response = event.response
                if (
                    event.kind == "response"
                    and response is not None
                    and tx.request.method == "INVITE"
                    and response.status > 100
                ):
                    dialog = self._uac_dialog(tx.request, response)
                self._events.append(Outcome(event.kind, tx, response, dialog))
            elif event.kind == "timeout":
                self._events.append(Outcome("timeout", tx))
        tx.events.clear()
        if tx.terminated:
            self._forget(tx)
        else:
            deadline = tx.get_timer()
            if deadline is not None:
                self._arm(deadline, tx)

    def _forget(self, tx: ClientTransaction | ServerTransaction) -> None:
        if isinstance(tx, ServerTransaction):
            server_key = self._server_keys.pop(tx, None)
            if server_key is not None and self._servers.get(server_key, (None,))[0] is tx:
                del self._servers[server_key]
        else:
            client_key = self._client_keys.pop(tx, None)
            if client_key is not None:
                client = self._clients.get(client_key)
                if client is not None and client.tx is tx:
                    del self._clients[client_key]

    def end_dialog(self, dialog: Dialog) -> None:
        if dialog.state is not DialogState.TERMINATED:
            dialog.state = DialogState.TERMINATED
        self.dialogs.pop(dialog.id, None)

    def _uac_dialog(self, invite: Request, response: Response) -> Dialog | None:
        """The dialog a response to our INVITE makes: early on a 1xx with a to-tag, confirmed on 2xx."""
        if response.to.tag is None:
            return None
        key = (invite.call_id, invite.from_.tag or "", response.to.tag)
        dialog = self.dialogs.get(key)
        if dialog is None:
            dialog = Dialog.as_uac(invite, response)
            self.dialogs[key] = dialog
        if 200 <= response.status < 300 and dialog.state is DialogState.EARLY:
            dialog.step("2xx")
        elif response.status >= 300:
            self.end_dialog(dialog)
        return dialog
