"""What an RTP session reports over RTCP (RFC 3550 section 6): its sender report with a block about the
stream it receives, its CNAME, and a goodbye at the end; and what the peer's reports told it."""

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicegrid.media import rtcp

if TYPE_CHECKING:
    from voicegrid.telephony.rtp_session import RtpSession

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 to 1970


def ntp_timestamp(unix_s: float) -> int:
    seconds = int(unix_s) + NTP_EPOCH_OFFSET
    return (seconds << 32) | int((unix_s % 1) * (1 << 32))


@dataclass
class RtcpView:
    """What RTCP told us: the peer's own view of our stream (loss and jitter at their end)."""

    reports_received: int = 0
    reports_sent: int = 0
    blocks_about_us: int = 0  # report blocks whose SSRC is our stream's
    malformed: int = 0
    remote_fraction_lost: float = 0.0
    remote_cumulative_lost: int = 0
    remote_jitter_ms: float = 0.0


def sender_report(session: "RtpSession", goodbye: bool) -> bytes:
    blocks = []
    if session.stats.started and session.stats.received:
        blocks.append(
            rtcp.ReportBlock(
                ssrc=session.remote_ssrc or 0,
                fraction_lost=session.stats.fraction_lost_since_last(),
                cumulative_lost=session.stats.lost,
                highest_seq=(session.stats.cycles + session.stats.max_seq) & 0xFFFFFFFF,
                jitter=int(session.stats.jitter),
            )
        )
    report = rtcp.SenderReport(
        session.ssrc,
        ntp_timestamp(time.time()),
        session.rtp_timestamp,
        session.counters.sent,
        session.octets_sent,
        blocks,
    )
    data = bytes(report) + bytes(rtcp.SourceDescription(session.ssrc, f"voicegrid@{session.remote[0]}"))
    if goodbye:
        data += bytes(rtcp.Goodbye([session.ssrc]))
    return data
