"""The order of the pieces on one Aura socket (sans-I/O apart from the turn's wait).

The pipeline asks for a reply's next piece while the one before is still arriving. Each piece's text
goes out at once (Speak, then Flush), so the server starts on it early; its audio comes back after the
audio of the pieces sent before it, each answer ended by its own `Flushed`, so the pieces read the
socket in turn, by ticket. A piece given up with its audio still to come (a barge-in, an error) leaves
audio on the socket that no later piece can tell from its own: every piece sent after it is void (it
is said another way), and the next piece clears the socket (Clear, then wait for Cleared) before it
sends. Deepgram takes at most 20 Flush messages a minute on a connection (docs: tts-ws-flush): a
piece past that budget is not sent on the socket.
"""

import asyncio
from collections import deque

FLUSHES_PER_WINDOW = 20
FLUSH_WINDOW_S = 60.0


class SpeakLine:
    def __init__(self) -> None:
        self._next = 0  # the next piece's ticket
        self._turn = 0  # the ticket whose audio is read now
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._gone: set[int] = set()  # tickets given up before their turn came
        self._held: set[int] = set()  # tickets whose text waits for their turn
        self._void_from: int | None = None  # the first ticket whose audio cannot be told apart
        self._flushes: deque[float] = deque()

    def take(self, now: float) -> int | None:
        """A ticket for a piece, with one Flush of the budget; None when the minute's Flushes are spent."""
        while self._flushes and now - self._flushes[0] >= FLUSH_WINDOW_S:
            self._flushes.popleft()
        if len(self._flushes) >= FLUSHES_PER_WINDOW:
            return None
        self._flushes.append(now)
        ticket, self._next = self._next, self._next + 1
        return ticket

    def may_send_early(self, ticket: int) -> bool:
        """Whether a piece just ticketed may send its text now: not while the socket waits to be
        cleared, nor before a piece ahead of it that is held for its turn (the texts go in order)."""
        if self._void_from is None and not self._held:
            return True
        self._held.add(ticket)
        return False

    def sent(self, ticket: int) -> None:
        """A held piece sent its text at its turn (after the clear, if one was due)."""
        self._held.discard(ticket)
        self._void_from = None

    def valid(self, ticket: int) -> bool:
        """Whether the audio read at this ticket's turn is its own (no piece before it was given up)."""
        return self._void_from is None or ticket < self._void_from

    def must_clear(self) -> bool:
        return self._void_from is not None

    def void_outstanding(self) -> None:
        """A barge-in: nothing sent or to be sent on the socket is wanted any more."""
        self._void(self._turn)

    async def turn(self, ticket: int) -> None:
        if ticket != self._turn:
            future = asyncio.get_running_loop().create_future()
            self._waiting[ticket] = future
            try:
                await future
            finally:
                self._waiting.pop(ticket, None)

    def finish(self, ticket: int, *, leftover: bool) -> None:
        """The piece is done with the socket; `leftover` when its audio may still come."""
        self._held.discard(ticket)
        if leftover:
            self._void(ticket)
        if ticket != self._turn:
            self._gone.add(ticket)
            return
        self._turn += 1
        while self._turn in self._gone:
            self._gone.discard(self._turn)
            self._turn += 1
        future = self._waiting.get(self._turn)
        if future is not None and not future.done():
            future.set_result(None)

    def _void(self, ticket: int) -> None:
        self._void_from = ticket if self._void_from is None else min(self._void_from, ticket)
