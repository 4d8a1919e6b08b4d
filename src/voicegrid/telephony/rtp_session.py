"""One call's RTP: a UDP socket on its allocated port, paced by the process's one media clock.

Receive: packets from the negotiated remote address only (the port may be latched once, for NAT,
when the first packet comes from the right host but another port; nothing else can hijack the
stream), parsed, counted, telephone events to the agent, audio through the jitter buffer to the
agent as 20 ms PCM frames. Send: each clock tick sends the next queued frame, or comfort silence
so carriers see media, or DTMF events when asked. No packet for `no_rtp_timeout_s` hangs up.
"""

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voicegrid.media.codecs import Codec
from voicegrid.media.dtmf import DtmfReceiver, event_packets
from voicegrid.media.errors import RtpError
from voicegrid.media.jitter import JitterBuffer
from voicegrid.media.rtp import ReceiverStats, RtpPacket
from voicegrid.media.session import Agent, AudioFrame, CallSession, OutboundAudio, Pcm
from voicegrid.telephony.media_clock import MediaClock

log = logging.getLogger(__name__)


@dataclass
class RtpCounters:
    received: int = 0
    malformed: int = 0
    wrong_source: int = 0
    unknown_payload: int = 0
    sent: int = 0
    silence_sent: int = 0
    dtmf_received: int = 0
    latched: bool = False


class RtpSession(asyncio.DatagramProtocol):
    def __init__(
        self,
        *,
        codec: Codec,
        remote: tuple[str, int],
        agent: Agent,
        clock: MediaClock,
        telephone_event: int | None = 101,
        on_hangup: Callable[[str], None] = lambda reason: None,
        on_transfer: Callable[[str], None] = lambda to: None,
        no_rtp_timeout_s: float = 30.0,
    ) -> None:
        self.codec = codec
        self.sample_rate = codec.sample_rate
        self.remote = remote
        self.agent = agent
        self.clock = clock
        self.telephone_event = telephone_event
        self._on_hangup = on_hangup
        self._on_transfer = on_transfer
        self.no_rtp_timeout_s = no_rtp_timeout_s
        self.counters = RtpCounters()
        self.stats = ReceiverStats(codec.rtp_clock_rate)
        self.jitter = JitterBuffer(clock_rate=codec.rtp_clock_rate)
        self.dtmf = DtmfReceiver(codec.rtp_clock_rate)
        self.outbound = OutboundAudio(codec.sample_rate)
        self._dtmf_out: deque[bytes] = deque()
        self._transport: asyncio.DatagramTransport | None = None
        self._ssrc = secrets.randbits(32)
        self._seq = secrets.randbits(16)
        self._ts = secrets.randbits(32)
        self._media_time = 0.0
        self._last_rx = time.monotonic()
        self._last_pcm: Pcm | None = None
        self._closed = False
        self.ended_reason: str | None = None
        self._silence = (
            bytes([codec.silence_byte]) * codec.samples_per_frame if codec.silence_byte is not None else None
        )

    # ---- lifecycle -----------------------------------------------------------------------------
    async def open(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._last_rx = time.monotonic()
        self.clock.register(self)
        self.agent.on_start(self)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.clock.unregister(self)
        if self._transport is not None:
            self._transport.close()
        self.agent.on_end(self)

    # ---- CallSession ---------------------------------------------------------------------------
    def queue(self, pcm: Pcm) -> None:
        self.outbound.push(pcm)

    def flush(self) -> int:
        return self.outbound.flush()

    def hangup(self, reason: str = "agent") -> None:
        if self.ended_reason is None:
            self.ended_reason = reason
            self._on_hangup(reason)

    def transfer(self, to: str) -> None:
        self._on_transfer(to)

    def send_dtmf(self, digits: str) -> None:
        for digit in digits:
            self._dtmf_out.extend(event_packets(digit))

    # ---- receive -------------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr != self.remote:
            if addr[0] == self.remote[0] and not self.counters.latched and self.counters.received == 0:
                log.info("RTP latched from port %s to %s (NAT)", self.remote[1], addr[1])
                self.remote = (addr[0], addr[1])
                self.counters.latched = True
            else:
                self.counters.wrong_source += 1
                return
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            self.counters.malformed += 1
            return
        self.counters.received += 1
        now = time.monotonic()
        self._last_rx = now
        if packet.payload_type == self.telephone_event and self.telephone_event is not None:
            try:
                digit = self.dtmf.receive(packet.timestamp, packet.payload)
            except RtpError:
                self.counters.malformed += 1
                return
            if digit is not None:
                self.counters.dtmf_received += 1
                self.agent.on_dtmf(self, digit.digit)
            return
        if packet.payload_type != self.codec.payload_type:
            self.counters.unknown_payload += 1
            return
        self.stats.update(packet.sequence, packet.timestamp, now)
        self.jitter.push(packet, now)

    # ---- the clock's tick ----------------------------------------------------------------------
    def on_tick(self, scheduled: float, now: float) -> None:
        if self._closed:
            return
        self._play(now)
        self._send()
        if now - self._last_rx > self.no_rtp_timeout_s:
            self.hangup("no-rtp")

    def _play(self, now: float) -> None:
        frame = self.jitter.pop(now)
        if frame is None:
            return
        if frame.payload is not None:
            try:
                pcm = self.codec.decode(frame.payload)
            except Exception:  # a payload the codec rejects is concealed like a lost one
                pcm = None
            concealed = pcm is None
        else:
            pcm, concealed = None, True
        if pcm is None:  # conceal: the last frame, fading, or silence
            last = self._last_pcm
            pcm = (
                (last // 2).astype(np.int16)
                if last is not None
                else np.zeros(self.codec.samples_per_frame, np.int16)
            )
        self._last_pcm = pcm
        self.agent.on_audio(self, AudioFrame(pcm, self.sample_rate, self._media_time, concealed))
        self._media_time += len(pcm) / self.sample_rate

    def _send(self) -> None:
        if self._transport is None:
            return
        marker = False
        if self._dtmf_out and self.telephone_event is not None:
            payload, pt = self._dtmf_out.popleft(), self.telephone_event
        else:
            pcm = self.outbound.pop()
            pt = self.codec.payload_type
            if pcm is None:
                self.counters.silence_sent += 1
                payload = self._silence or self.codec.encode(np.zeros(self.codec.samples_per_frame, np.int16))
            else:
                payload = self.codec.encode(pcm)
        packet = RtpPacket(pt, self._seq, self._ts, self._ssrc, payload, marker)
        self._transport.sendto(bytes(packet), self.remote)
        self.counters.sent += 1
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + self.codec.timestamp_step) & 0xFFFFFFFF


class EchoAgent:
    """Sends back what it hears (the `echo` agent kind): the media path, tested end to end."""

    def on_start(self, session: CallSession) -> None:
        pass

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        if not frame.concealed:
            session.queue(frame.pcm)

    def on_dtmf(self, session: CallSession, digit: str) -> None:
        session.send_dtmf(digit)

    def on_end(self, session: CallSession) -> None:
        pass


class SilentAgent(EchoAgent):
    """Listens and says nothing: the session sends comfort silence (voice agents until the pipeline)."""

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        pass

    def on_dtmf(self, session: CallSession, digit: str) -> None:
        pass
