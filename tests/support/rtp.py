"""An RTP session on virtual time, for tests: a wire that keeps what is sent (and when), and a
session on a running media clock of the test's loop."""

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

from voicegrid.media.codecs import make_codec
from voicegrid.media.session import Talker
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.telephony.rtp_session import RtpSession

PEER = ("192.0.2.10", 40000)
TONE = (8000 * np.sin(2 * np.pi * 440 * np.arange(16000) / 8000)).astype(np.int16)  # 2 s


class Wire:
    """What the session sends, kept instead of sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))

    def close(self) -> None:
        pass


class TimedWire(Wire):
    """What the session sends, with the (virtual) time it went."""

    def __init__(self, time: Callable[[], float]) -> None:
        super().__init__()
        self.time = time
        self.at: list[float] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        super().sendto(data, addr)
        self.at.append(self.time())


async def running(agent: Talker, **kwargs: Any) -> tuple[RtpSession, TimedWire, MediaClock]:
    """A PCMU session to PEER on a started clock of this loop; `kwargs` go to the session."""
    loop = asyncio.get_running_loop()
    clock = MediaClock(clock=loop.time)
    clock.start()
    wire = TimedWire(loop.time)
    session = RtpSession(codec=make_codec("PCMU"), remote=PEER, agent=agent, clock=clock, **kwargs)
    session.attach(wire)
    return session, wire, clock
