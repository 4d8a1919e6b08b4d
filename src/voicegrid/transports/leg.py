"""What every WebSocket media stream shares as a call leg: the agent it talks to, its outbound audio
paced by the media clock, and a hang-up that runs once and says why."""

from collections.abc import Callable

from voicegrid.media.session import OutboundAudio, Pcm, Talker
from voicegrid.telephony.media_clock import MediaClock


class StreamLegBase:
    sample_rate = 8000

    def __init__(self, on_close: Callable[[str], None]) -> None:
        self.on_close = on_close
        self.agent: Talker | None = None  # set once the call is admitted
        self.clock: MediaClock | None = None  # the one that paces it, once the call is up
        self.outbound = OutboundAudio(self.sample_rate)
        self.closed = False
        self.close_reason: str | None = None  # remote, agent, local

    @property
    def rtp_timestamp(self) -> int | None:
        return None  # the carrier or the browser sends the RTP, not us

    def queued_frames(self) -> int:
        return len(self.outbound)

    def queue(self, pcm: Pcm) -> None:
        if self.clock is not None and not self.outbound:  # a reply's first audio: at the next sub-slot
            self.clock.hurry(self)
        self.outbound.push(pcm)

    def mark_played(self, callback: Callable[[], None]) -> None:
        self.outbound.mark(callback)

    def hangup(self, reason: str = "agent") -> None:
        if not self.closed:
            self.closed, self.close_reason = True, reason
            if self.agent is not None:
                self.agent.on_end(self)  # type: ignore[arg-type]  # every subclass is a CallSession
            self.on_close(reason)
