"""One call's RTP: a UDP socket on its allocated port, paced by the process's one media clock.

Receive: packets from the negotiated remote address only (the port may be latched once, for NAT,
when the first packet comes from the right host but another port; nothing else can hijack the
stream), parsed, counted, telephone events to the agent, audio through the jitter buffer to the
agent as 20 ms PCM frames. Send: each clock tick sends the next queued frame, or comfort silence
so carriers see media, or DTMF events when asked. No packet for `no_rtp_timeout_s` hangs up.

With `suppress_silence` (RFC 3551 section 4.1), a tick with nothing queued sends nothing but one
frame of silence every `KEEPALIVE_S`, for NATs and media timers on the way. A reply after such a gap
is a new talkspurt: it is hurried to the clock's next sub-slot, and its first packet carries the
marker bit and a timestamp that counts the quiet time, so the far end plays it at once instead of
at the stream's next 20 ms turn, and the silence costs no packets.
"""

import asyncio
import logging
import secrets
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from voicegrid.media import rtcp
from voicegrid.media.codecs import Codec
from voicegrid.media.dtmf import DtmfReceiver, event_packets
from voicegrid.media.errors import RtpError
from voicegrid.media.jitter import JitterBuffer
from voicegrid.media.recording import CallMix
from voicegrid.media.rtp import ReceiverStats, RtpPacket
from voicegrid.media.rtp import header as rtp_header
from voicegrid.media.session import AudioFrame, OutboundAudio, Pcm, Talker
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.telephony.rtp_reports import RtcpView, sender_report

log = logging.getLogger(__name__)


RTCP_INTERVAL_S = 5.0
# A tick this late means the loop stood still (a stall, a pause of the process): what arrived
# meanwhile waits in the socket, and the clock's catch-up runs tick after tick without the loop
# reading it. Read it first, or the stall plays as silence mid-word and the words come after it.
LATE_DRAIN_S = 0.06
DRAIN_MAX = 64  # datagrams read in one late tick: the jitter buffer's own capacity
DATAGRAM_MAX = 8192
KEEPALIVE_S = 1.0  # with silence suppressed: one frame of silence this often, so the path stays open


class Sender(Protocol):
    """Where a session's packets go: a datagram transport (or, in a test, a list of what was sent)."""

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None: ...
    def close(self) -> None: ...


def bind_udp(host: str, port: int) -> socket.socket | None:
    """A non-blocking UDP socket bound to `port` of `host`; None when the port is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


class _Rtcp(asyncio.DatagramProtocol):
    def __init__(self, session: "RtpSession") -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.session.rtcp_received(data, addr)


@dataclass
class RtpCounters:
    received: int = 0
    malformed: int = 0
    wrong_source: int = 0
    unknown_payload: int = 0
    sent: int = 0
    send_failed: int = 0  # not taken by the kernel (buffer full, no route): dropped, never queued
    silence_sent: int = 0
    silence_suppressed: int = 0  # ticks that sent nothing (suppress_silence)
    dtmf_received: int = 0
    latched: bool = False


class RtpSession(asyncio.DatagramProtocol):
    def __init__(
        self,
        *,
        codec: Codec,
        remote: tuple[str, int],
        agent: Talker,
        clock: MediaClock,
        telephone_event: int | None = 101,
        on_hangup: Callable[[str], None] = lambda reason: None,
        on_transfer: Callable[[str], None] = lambda to: None,
        no_rtp_timeout_s: float = 30.0,
        mix: CallMix | None = None,
        on_recorded: Callable[[bytes], None] = lambda chunk: None,
        suppress_silence: bool = False,
    ) -> None:
        self.codec = codec
        self.suppress_silence = suppress_silence
        self._period = clock.schedule.period_s
        self._half_slot = clock.schedule.slot_s / 2  # the tolerance of a tick's time against a due time
        self._sent_at: float | None = None  # the tick the last packet went on
        self._gap = False  # silence suppressed since then: the next packet starts a talkspurt
        self._play_due = -1.0  # when the caller's next frame is due to play (see on_tick)
        self._ticking = False
        self._unmixed: deque[Pcm] = deque(maxlen=4)  # frames sent, for the recording's next played tick
        self.mix = mix  # both directions, mixed, for the recording
        self._on_recorded = on_recorded  # each chunk of the mix, to be written as the call goes
        self._played: Pcm | None = None
        self.sample_rate = codec.sample_rate
        self.remote = remote
        self.agent = agent
        self.clock = clock
        self.telephone_event = telephone_event
        self._on_hangup = on_hangup
        self._on_transfer = on_transfer
        self.no_rtp_timeout_s = no_rtp_timeout_s
        self.counters = RtpCounters()
        self.rtcp = RtcpView()
        self._rtcp_transport: Sender | None = None
        self._next_rtcp = clock.now() + RTCP_INTERVAL_S
        self._octets_sent = 0
        self.stats = ReceiverStats(codec.rtp_clock_rate)
        self.jitter = JitterBuffer(clock_rate=codec.rtp_clock_rate)
        self.dtmf = DtmfReceiver(codec.rtp_clock_rate)
        # G.711 is stateless: what is queued is encoded as it comes, a chunk at a time, not per tick
        stateless = codec.silence_byte is not None
        self.outbound = OutboundAudio(codec.sample_rate, encode=codec.encode if stateless else None)
        self._dtmf_out: deque[tuple[bytes, bool]] = deque()  # event payloads, True: an event's first
        self._event_ts = 0  # the timestamp of the event being sent: the tick it began on
        self._transport: Sender | None = None
        self._sendto: Callable[[bytes, tuple[str, int]], object] = lambda data, addr: None
        self._sock: socket.socket | None = None
        self._ssrc = secrets.randbits(32)
        self._seq = secrets.randbits(16)
        self._ts = secrets.randbits(32)
        self._media_time = 0.0
        self._last_rx = clock.now()
        self._last_pcm: Pcm | None = None
        self._closed = False
        self.ended_reason: str | None = None
        self.remote_ssrc: int | None = None
        self._silence = (
            bytes([codec.silence_byte]) * codec.samples_per_frame if codec.silence_byte is not None else None
        )

    # ---- lifecycle -----------------------------------------------------------------------------
    async def open(
        self, host: str, port: int, held: "tuple[socket.socket, socket.socket] | None" = None
    ) -> None:
        """Start on `port` (RTCP on the next): on the sockets bound for it when it was offered, or
        bound now."""
        loop = asyncio.get_running_loop()
        rtp_sock, rtcp_sock = held if held is not None else (bind_udp(host, port), bind_udp(host, port + 1))
        if rtp_sock is None:
            if rtcp_sock is not None:
                rtcp_sock.close()
            raise OSError(f"RTP port {port} is taken")
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=rtp_sock)
        except BaseException:
            for sock in (rtp_sock, rtcp_sock):
                if sock is not None:
                    sock.close()
            raise
        rtcp_transport = None
        if rtcp_sock is None:  # RTCP is optional: the call goes on without reports
            log.info("no RTCP socket on %s: the port is taken", port + 1)
        else:
            try:
                rtcp_transport, _ = await loop.create_datagram_endpoint(lambda: _Rtcp(self), sock=rtcp_sock)
            except OSError as exc:
                log.info("no RTCP socket on %s: %s", port + 1, exc)
                rtcp_sock.close()
        self.attach(transport, rtcp_transport, rtp_sock)

    def attach(
        self, transport: Sender, rtcp_transport: Sender | None = None, sock: socket.socket | None = None
    ) -> None:
        """Start on these transports (sockets; a test's recorder of what is sent): the clock ticks
        the session from now on and the agent is told the call started. Given the RTP transport's
        own socket, packets go out on it directly."""
        self._transport, self._rtcp_transport = transport, rtcp_transport
        # The socket's own sendto, not the loop transport's: a packet the kernel cannot take now is
        # dropped (late media is worthless), where the transport would queue it in memory, unbounded.
        self._sendto = sock.sendto if sock is not None else transport.sendto
        self._sock = sock
        self._last_rx = self.clock.now()
        self.clock.register(self)
        self.agent.on_start(self)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.clock.unregister(self)
        if self._transport is not None:
            self._send_rtcp(goodbye=True)
            self._transport.close()
        if self._rtcp_transport is not None:
            self._rtcp_transport.close()
        self.agent.on_end(self)

    # ---- CallSession ---------------------------------------------------------------------------
    def queue(self, pcm: Pcm) -> None:
        # Hurried to an earlier sub-slot (`MediaClock.hurry`) only after suppressed silence: comfort
        # silence fills the stream's timeline up to its next turn, and the far end plays by
        # timestamp, so an earlier packet would only wait in its jitter buffer. Not from within its
        # own tick (an echo), whose send comes next anyway.
        self.outbound.push(pcm)
        last = self._sent_at  # the talkspurt's first packet must not overlap it: a period after it
        gap = self._gap and not self._ticking and len(self.outbound) > 0
        if gap and last is not None and self.clock.now() >= last + self._period:  # clock read in a gap only
            self.clock.hurry(self)

    def mark_played(self, callback: Callable[[], None]) -> None:
        self.outbound.mark(callback)

    def queued_frames(self) -> int:
        return len(self.outbound)

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
            self._dtmf_out.extend((payload, i == 0) for i, payload in enumerate(event_packets(digit)))

    # ---- receive -------------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.receive(data, addr, self.clock.now())

    def receive(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        """One RTP datagram from `addr`, arrived at `now` (sans-I/O: the socket's adapter is above)."""
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
        self.remote_ssrc = packet.ssrc
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

    def _drain(self, sock: socket.socket, now: float) -> None:
        """What waits in the socket, read now, in the order it came (see LATE_DRAIN_S)."""
        for _ in range(DRAIN_MAX):
            try:
                data, addr = sock.recvfrom(DATAGRAM_MAX)
            except OSError:  # nothing more (or the socket's own error, which its transport reports)
                return
            self.receive(data, (addr[0], addr[1]), now)

    # ---- RTCP ----------------------------------------------------------------------------------
    @property
    def ssrc(self) -> int:
        return self._ssrc

    @property
    def rtp_timestamp(self) -> int:
        """Our stream's RTP time now (for a sender report), counting suppressed silence."""
        return self._ts_at(self.clock.now()) if self._gap else self._ts

    def _ts_at(self, at: float) -> int:
        """The timestamp of a packet sent at `at` after a gap: the last one's, plus the time since."""
        quiet = at - (at if self._sent_at is None else self._sent_at) - self._period
        return (self._ts + max(0, round(quiet * self.codec.rtp_clock_rate))) & 0xFFFFFFFF

    @property
    def octets_sent(self) -> int:
        return self._octets_sent

    def _send_rtcp(self, goodbye: bool = False) -> None:
        if self._rtcp_transport is None:
            return
        self._rtcp_transport.sendto(sender_report(self, goodbye), (self.remote[0], self.remote[1] + 1))
        self.rtcp.reports_sent += 1

    def rtcp_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr[0] != self.remote[0]:
            return
        try:
            packets = rtcp.parse_compound(data)
        except RtpError:
            self.rtcp.malformed += 1
            return
        for packet in packets:
            if isinstance(packet, rtcp.SenderReport | rtcp.ReceiverReport):
                self.rtcp.reports_received += 1
                for block in packet.reports:
                    if block.ssrc == self._ssrc:
                        self.rtcp.blocks_about_us += 1
                        self.rtcp.remote_fraction_lost = block.fraction_lost / 256
                        self.rtcp.remote_cumulative_lost = block.cumulative_lost
                        self.rtcp.remote_jitter_ms = block.jitter * 1000 / self.codec.rtp_clock_rate

    # ---- the clock's tick ----------------------------------------------------------------------
    def on_tick(self, scheduled: float, now: float) -> None:
        if self._closed:
            return
        if now - scheduled > LATE_DRAIN_S and self._sock is not None:
            self._drain(self._sock, now)
            if self._closed:  # what it read ended the call (a transfer's DTMF, a hangup)
                return
        # A tick a reply was hurried to may come before the caller's next frame is due: it sends, but
        # the caller's audio keeps its own cadence, a frame a period after the last one was due (not
        # after this tick, which would drift: an underrun or a skipped frame per reply).
        due = self._play_due
        played = scheduled >= due - self._half_slot
        self._ticking = True  # what the agent queues as it hears this frame is sent by this tick
        if played:
            self._play_due = (due if scheduled - due < self._period else scheduled) + self._period
            self._play(now)
        self._send(scheduled)
        self._ticking = False
        if played and self.mix is not None:
            self._mix(self.mix)
        if now >= self._next_rtcp:
            self._next_rtcp = now + RTCP_INTERVAL_S
            self._send_rtcp()
        if now - self._last_rx > self.no_rtp_timeout_s:
            self.hangup("no-rtp")

    def _play(self, now: float) -> None:
        frame = self.jitter.pop(now)
        if frame is None:  # no audio yet, or the far end paused (silence suppression): the line is
            quiet = np.zeros(self.codec.samples_per_frame, np.int16)  # quiet, and the talker hears so
            self._played = quiet  # on time (an answering-machine check must not wait for a packet)
            self.agent.on_audio(self, AudioFrame(quiet, self.sample_rate, self._media_time, True))
            self._media_time += len(quiet) / self.sample_rate
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
        self._played = pcm
        self.agent.on_audio(self, AudioFrame(pcm, self.sample_rate, self._media_time, concealed))
        self._media_time += len(pcm) / self.sample_rate

    def _mix(self, mix: CallMix) -> None:
        mix.tick(self._played, self._unmixed.popleft() if self._unmixed else None)
        self._played = None
        if mix.ready:
            self._on_recorded(mix.take())

    def _send(self, scheduled: float) -> None:
        if self._transport is None:
            return
        event = event_start = False
        if self._dtmf_out and self.telephone_event is not None:
            (payload, event_start), pt, event = self._dtmf_out.popleft(), self.telephone_event, True
        else:
            frame = self.outbound.pop_frame()
            pt = self.codec.payload_type
            if frame is None:
                last = self._sent_at
                if self.suppress_silence and last is not None and scheduled - last < KEEPALIVE_S:
                    self._gap = True
                    self.counters.silence_suppressed += 1
                    return
                self.counters.silence_sent += 1
                payload = self._silence or self.codec.encode(np.zeros(self.codec.samples_per_frame, np.int16))
            else:
                if self.mix is not None:
                    self._unmixed.append(frame[0])
                payload = frame[1] or self.codec.encode(frame[0])
        # the marker: a talkspurt's first packet (RFC 3551 section 4.1), an event's (RFC 4733 2.5.1.3)
        marker = self._gap or event_start
        if self._gap:
            self._ts, self._gap = self._ts_at(scheduled), False
        if event_start:
            self._event_ts = self._ts
        ts = self._event_ts if event else self._ts  # an event's packets carry its start (RFC 4733 2.5.1.2)
        self._sent_at = scheduled
        try:
            self._sendto(rtp_header(pt, self._seq, ts, self._ssrc, marker) + payload, self.remote)
        except OSError:  # a full socket buffer or no route: late media is worthless, the packet is lost
            self.counters.send_failed += 1
        else:
            self.counters.sent += 1
            self._octets_sent += len(payload)
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + self.codec.timestamp_step) & 0xFFFFFFFF
