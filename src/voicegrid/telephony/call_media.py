"""The media of SIP calls: an RTP port pair each, the RTP session that carries the agent's audio, the
call's recording, and what the session counted once it closes."""

import logging
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from voicegrid.media.codecs import make_codec
from voicegrid.media.ports import PortAllocator, PortsExhausted
from voicegrid.media.recording import CallMix
from voicegrid.telephony.agents import SilentAgent
from voicegrid.telephony.book import Call
from voicegrid.telephony.media_clock import MediaClock
from voicegrid.telephony.recording_file import RecordingFile, recording_path
from voicegrid.telephony.rtp_session import RtpSession, bind_udp

log = logging.getLogger(__name__)
MAX_RECORDING_S = 4 * 3600


class CallMedia:
    def __init__(
        self,
        ports: PortAllocator,
        clock: MediaClock,
        *,
        no_rtp_timeout_s: float = 30.0,
        suppress_silence: bool = False,
        recordings_dir: Path | None = None,
    ) -> None:
        self.ports, self.clock = ports, clock
        self.no_rtp_timeout_s = no_rtp_timeout_s
        self.suppress_silence = suppress_silence
        self.recordings_dir = recordings_dir
        # RTP and RTCP sockets bound when a port goes into an SDP, until the session opens on them
        # (or the call ends first): another process cannot take a port we have offered
        self._held: dict[int, tuple[socket.socket, socket.socket]] = {}

    def free_port(self, host: str) -> int:
        """A port pair of the range, bound now and held for the call: the range is ours to hand out,
        but another process may hold a port of it, and a port in our SDP must be one we can use."""
        busy: list[int] = []
        try:
            for _ in range(self.ports.capacity):  # other processes' ports are skipped, however many
                port = self.ports.allocate()
                busy.append(port)  # given back unless it is the one returned, whatever is raised
                rtp = bind_udp(host, port)
                rtcp = bind_udp(host, port + 1) if rtp is not None else None
                if rtp is not None and rtcp is not None:
                    self._held[port] = (rtp, rtcp)
                    busy.pop()
                    return port
                if rtp is not None:
                    rtp.close()
            raise PortsExhausted("no RTP port pair of the range can be bound")
        finally:
            for port in busy:
                self.ports.release(port)

    def _unhold(self, port: int) -> None:
        for sock in self._held.pop(port, ()):
            sock.close()

    async def open(
        self,
        call: Call,
        host: str,
        on_hangup: Callable[[str], None],
        on_transfer: Callable[[str], None],
    ) -> bool:
        """Start the call's RTP session (and its recording) on its negotiated media; False when the
        port cannot be bound (the call is then hung up by the caller of this)."""
        media = call.media
        if media is None or media.remote_address is None or call.rtp_port is None:
            return True
        recording = None
        if call.record and self.recordings_dir is not None:
            path = recording_path(self.recordings_dir, call.business_id or "unknown", call.id)
            recording = call.recording = RecordingFile(path, media.codec.sample_rate)
        session = RtpSession(
            codec=make_codec(media.codec.name),
            remote=(media.remote_address, media.remote_port),
            agent=call.agent or SilentAgent(),
            clock=self.clock,
            telephone_event=media.telephone_event,
            on_hangup=on_hangup,
            on_transfer=on_transfer,
            no_rtp_timeout_s=self.no_rtp_timeout_s,
            suppress_silence=self.suppress_silence
            if call.suppress_silence is None
            else call.suppress_silence,
            mix=CallMix(media.codec.sample_rate, call.max_duration_s or MAX_RECORDING_S)
            if recording is not None
            else None,
            on_recorded=recording.write if recording is not None else lambda chunk: None,
        )
        try:
            held = self._held.pop(call.rtp_port, None)
            await session.open(host, call.rtp_port, held)
        except OSError as exc:
            log.warning("RTP port %s unusable for %s: %s", call.rtp_port, call.call_id, exc)
            return False
        call.media_session = session
        return True

    def close(self, call: Call) -> Coroutine[Any, Any, None] | None:
        """Stop the call's session, keep its counters, give back its port; returns the work that
        finishes its recording, if it has one (to be run in a task)."""
        session, finish = call.media_session, None
        if session is not None:
            session.close()
            if session.mix is not None and call.recording is not None:
                finish = self._save_recording(call, session.mix, call.recording)
            c = session.counters
            call.media_summary = {
                "packets_received": c.received,
                "packets_sent": c.sent,
                "packets_send_failed": c.send_failed,
                "silence_sent": c.silence_sent,
                "silence_suppressed": c.silence_suppressed,
                "packets_lost": session.stats.lost,
                "jitter_ms": round(session.stats.jitter_ms, 2),
                "malformed": c.malformed,
                "wrong_source": c.wrong_source,
                "dtmf_received": c.dtmf_received,
                "concealed": session.jitter.counters.concealed,
                "rtcp_reports_received": session.rtcp.reports_received,
                "remote_fraction_lost": session.rtcp.remote_fraction_lost,
                "remote_jitter_ms": round(session.rtcp.remote_jitter_ms, 2),
            }
            call.media_session = None
        if call.rtp_port is not None:
            self._unhold(call.rtp_port)  # a call that ended before its media started
            self.ports.release(call.rtp_port)
            call.rtp_port = None
        return finish

    @staticmethod
    async def _save_recording(call: Call, mix: CallMix, recording: RecordingFile) -> None:
        """The last of the mix, then the WAV's header and name."""
        try:
            recording.write(mix.take())
            call.recording_path = await recording.close()
        finally:
            call.recorded.set()
