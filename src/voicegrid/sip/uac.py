"""The client side of the user agent (sans-I/O): requests we send in client transactions, CANCEL,
the ACK of a 2xx, responses matched to our transactions, and one retry per digest challenge, over
the state and plumbing of `UaState` (ua_state.py). `UserAgent` (useragent.py) adds the server side.
"""

from voicegrid.sip import auth
from voicegrid.sip.build import ack_for, cancel_for
from voicegrid.sip.dialog import Dialog
from voicegrid.sip.errors import AuthError, ParseError
from voicegrid.sip.message import Request, Response
from voicegrid.sip.transaction import ClientTransaction, State
from voicegrid.sip.ua_events import Addr, Outcome
from voicegrid.sip.ua_state import UaState, _Client


class ClientSide(UaState):
    def send(
        self, request: Request, dest: Addr, now: float, *, credentials: tuple[str, str] | None = None
    ) -> ClientTransaction:
        """Send a request in a new client transaction; a digest challenge is answered once per try."""
        request.headers.remove("Via")
        request.headers.prepend("Via", self.via(dest[0]))
        if "User-Agent" not in request.headers:
            request.headers.add("User-Agent", self.user_agent)
        invite = request if request.method == "INVITE" else None
        tx = ClientTransaction.start(
            request,
            now,
            reliable=dest[0] != "udp",
            timers=self.timers,
            on_ack=(lambda r: ack_for(invite, r)) if invite is not None else None,
        )
        key = (request.top_via.branch or "", request.method)
        self._clients[key] = _Client(tx, dest, credentials)
        self._client_keys[tx] = key
        self._drain(tx, now, dest)
        return tx

    def cancel(self, invite_tx: ClientTransaction, now: float) -> bool:
        """CANCEL a pending INVITE (§9.1): at once if it rang, else as soon as a provisional response comes.

        Returns False when there is nothing left to cancel (a final response already came).
        """
        client = self._clients.get((invite_tx.request.top_via.branch or "", "INVITE"))
        if client is None or invite_tx.state not in (State.CALLING, State.PROCEEDING):
            return False
        if invite_tx.state is State.CALLING:
            client.cancel_pending = True
            return True
        self._send_cancel(client, now)
        return True

    def _send_cancel(self, client: _Client, now: float) -> None:
        client.cancel_pending = False
        cancel = cancel_for(client.tx.request)
        tx = ClientTransaction.start(cancel, now, reliable=client.dest[0] != "udp", timers=self.timers)
        key = (cancel.top_via.branch or "", "CANCEL")
        self._clients[key] = _Client(tx, client.dest, None)
        self._client_keys[tx] = key
        self._drain(tx, now, client.dest)

    def ack_2xx(self, dialog: Dialog, response: Response, dest: Addr, contact: str) -> None:
        """The UAC's ACK for a 2xx (its own transaction, §13.2.2.4); call again for each retransmitted 2xx."""
        ack = dialog.new_request("ACK", contact)
        ack.headers.set("CSeq", f"{response.cseq[0]} ACK")
        ack.headers.prepend("Via", self.via(dest[0]))
        self._out.append((bytes(ack), dest))

    def _on_response(self, response: Response, now: float) -> None:
        branch = response.top_via.branch or ""
        client = self._clients.get((branch, response.cseq[1]))
        if client is None:
            self.counters.stray_responses += 1
            if 200 <= response.status < 300 and response.cseq[1] == "INVITE":
                self._events.append(Outcome("response", None, response))  # 2xx after the tx ended: re-ACK
            return
        if response.status in (401, 407) and client.credentials is not None and client.auth_tries < 2:
            header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
            challenge = response.headers.get(header)
            if challenge is not None and self._retry_with_auth(client, response, challenge, now):
                return
        client.tx.receive(response, now)
        self._drain(client.tx, now, client.dest)
        if client.cancel_pending and response.status < 200:
            self._send_cancel(client, now)

    def _retry_with_auth(self, client: _Client, response: Response, challenge: str, now: float) -> bool:
        try:
            parsed = auth.Challenge.parse(challenge)
        except (AuthError, ParseError):
            return False
        client.tx.receive(response, now)  # completes the first transaction (and ACKs an INVITE's 401)
        self._drain(client.tx, now, client.dest, quiet=True)
        old = client.tx.request
        retry = Request(headers=old.headers.copy(), body=old.body, method=old.method, uri=old.uri)
        number, method = old.cseq
        retry.headers.set("CSeq", f"{number + 1} {method}")
        username, password = client.credentials or ("", "")
        name = "Authorization" if response.status == 401 else "Proxy-Authorization"
        retry.headers.set(
            name, auth.authorization(parsed, method=method, uri=old.uri, username=username, password=password)
        )
        new = self.send(retry, client.dest, now, credentials=client.credentials)
        self._clients[(new.request.top_via.branch or "", method)].auth_tries = client.auth_tries + 1
        self._events.append(Outcome("retried", new, response))
        return True
