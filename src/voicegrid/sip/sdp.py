"""SDP (RFC 4566) parse and serialize, and the answerer's side of offer/answer (RFC 3264).

The answer picks one audio codec from the agent's preference list that the offer also has (G.722,
PCMU, PCMA), adds telephone-event (RFC 4733) when offered, mirrors the direction (hold), and
rejects other streams with port 0. No codec in common is SdpError with status 488.
"""

import ipaddress
from dataclasses import dataclass, field

from voicegrid.sip.errors import SdpError

MAX_SDP_BYTES = 16_384
MAX_LINES = 512


@dataclass(slots=True)
class Media:
    kind: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)

    def attribute(self, name: str) -> str | None:
        for k, v in self.attributes:
            if k == name:
                return v
        return None

    @property
    def rtpmap(self) -> dict[str, tuple[str, int, int]]:
        """payload type -> (encoding name upper-cased, clock rate, channels)."""
        out: dict[str, tuple[str, int, int]] = {}
        for k, v in self.attributes:
            if k == "rtpmap" and v:
                pt, _, enc = v.partition(" ")
                parts = enc.strip().split("/")
                try:
                    clock = int(parts[1]) if len(parts) > 1 else 8000
                    channels = int(parts[2]) if len(parts) > 2 else 1
                except ValueError:
                    continue
                out[pt] = (parts[0].upper(), clock, channels)
        return out

    @property
    def direction(self) -> str:
        for k, _ in self.attributes:
            if k in ("sendrecv", "sendonly", "recvonly", "inactive"):
                return k
        return "sendrecv"


@dataclass(slots=True)
class SessionDescription:
    origin: str
    session_name: str = "-"
    connection: str | None = None
    timing: str = "0 0"
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)

    def __bytes__(self) -> bytes:
        lines = ["v=0", f"o={self.origin}", f"s={self.session_name}"]
        if self.connection:
            lines.append(f"c={self.connection}")
        lines.append(f"t={self.timing}")
        lines += [f"a={k}" if v is None else f"a={k}:{v}" for k, v in self.attributes]
        for m in self.media:
            lines.append(f"m={m.kind} {m.port} {m.proto} {' '.join(m.formats)}")
            if m.connection:
                lines.append(f"c={m.connection}")
            lines += [f"a={k}" if v is None else f"a={k}:{v}" for k, v in m.attributes]
        return ("\r\n".join(lines) + "\r\n").encode()


def parse_sdp(data: bytes) -> SessionDescription:
    if len(data) > MAX_SDP_BYTES:
        raise SdpError(f"SDP over {MAX_SDP_BYTES} bytes", status=400)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SdpError("SDP is not UTF-8", status=400) from None
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
    if len(lines) > MAX_LINES:
        raise SdpError("SDP has too many lines", status=400)
    if not lines or lines[0] != "v=0":
        raise SdpError("SDP must start with v=0", status=400)
    session = SessionDescription(origin="")
    current: Media | None = None
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"malformed SDP line {line[:40]!r}", status=400)
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            if len(parts) < 4:
                raise SdpError(f"malformed m= line {value[:40]!r}", status=400)
            port_text = parts[1].split("/")[0]
            if not port_text.isdigit() or int(port_text) > 65535:
                raise SdpError("bad port in m= line", status=400)
            if "RTP/" in parts[2]:
                for fmt in parts[3:]:
                    _payload_type(fmt, "m= line")
            current = Media(parts[0], int(port_text), parts[2], parts[3:])
            session.media.append(current)
        elif kind == "c":
            if current is None:
                session.connection = value
            else:
                current.connection = value
        elif kind == "a":
            name, colon, rest = value.partition(":")
            if name in ("rtpmap", "fmtp") and current is not None and "RTP/" in current.proto:
                _payload_type(rest.partition(" ")[0], f"a={name}")
            attr = (name, rest if colon else None)
            (current.attributes if current is not None else session.attributes).append(attr)
        elif kind == "o" and current is None:
            session.origin = value
        elif kind == "s" and current is None:
            session.session_name = value
        elif kind == "t" and current is None:
            session.timing = value
    if not session.origin:
        raise SdpError("SDP has no o= line", status=400)
    return session


def _payload_type(text: str, where: str) -> int:
    """An RTP payload type: a decimal number from 0 to 127 (RFC 3551), or SdpError 400 saying so."""
    if not text.isdigit() or len(text) > 3 or int(text) > 127:
        raise SdpError(f"payload type {text[:10]!r} in {where} is not a number from 0 to 127", status=400)
    return int(text)


def connection_address(session: SessionDescription, media: Media) -> str | None:
    """The stream's address as an IP literal; None when there is no c= line; SdpError when the line
    is not `IN IP4|IP6 <address>` with an address (a name would need a lookup we do not make)."""
    conn = media.connection or session.connection
    if not conn:
        return None
    parts = conn.split()
    if len(parts) < 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"unusable c= line {conn[:60]!r}", status=488)
    address = parts[2].split("/")[0]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise SdpError(f"c= address {address[:60]!r} is not an IP address", status=488) from None
    return address


@dataclass(frozen=True, slots=True)
class Codec:
    name: str
    payload_type: int
    clock_rate: int  # RTP clock rate as signalled (G.722 says 8000 though it samples at 16 kHz, RFC 3551)
    sample_rate: int


CODECS = {
    "G722": Codec("G722", 9, 8000, 16000),
    "PCMU": Codec("PCMU", 0, 8000, 8000),
    "PCMA": Codec("PCMA", 8, 8000, 8000),
}
DEFAULT_PREFERENCE = ("G722", "PCMU", "PCMA")
_STATIC = {"0": "PCMU", "8": "PCMA", "9": "G722"}
_MIRROR = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


@dataclass(frozen=True, slots=True)
class Negotiated:
    codec: Codec
    payload_type: int  # as the offer numbered it
    remote_address: str | None
    remote_port: int
    telephone_event: int | None  # payload type, when both sides do RFC 4733
    direction: str  # ours: sendrecv, or recvonly/sendonly/inactive when the peer holds
    ptime: int = 20

    @property
    def on_hold(self) -> bool:
        # c=0.0.0.0 is RFC 2543 hold, still sent by older PBXs; it is a comparison, not a bind.
        return self.direction != "sendrecv" or self.remote_address in ("0.0.0.0", None)  # noqa: S104


def answer(
    offer: SessionDescription,
    *,
    local_address: str,
    local_port: int,
    session_id: int,
    version: int,
    preferences: tuple[str, ...] = DEFAULT_PREFERENCE,
) -> tuple[SessionDescription, Negotiated]:
    chosen: Negotiated | None = None
    answered: list[Media] = []
    for media in offer.media:
        if chosen is not None or media.kind != "audio" or media.port == 0 or "RTP/AVP" not in media.proto:
            answered.append(Media(media.kind, 0, media.proto, media.formats[:1]))
            continue
        names = {pt: enc for pt, (enc, _, _) in media.rtpmap.items()}
        offered = {pt: names.get(pt, _STATIC.get(pt)) for pt in media.formats}
        pick = next(
            (
                (pt, name)
                for name in preferences
                for pt, got in offered.items()
                if got == name and name in CODECS
            ),
            None,
        )
        if pick is None:
            answered.append(Media(media.kind, 0, media.proto, media.formats[:1]))
            continue
        pt, name = pick
        event = next((p for p, enc in names.items() if enc == "TELEPHONE-EVENT" and p in media.formats), None)
        direction = _MIRROR[media.direction]
        address = connection_address(offer, media)
        if address is None:
            raise SdpError("the audio stream has no c= line", status=488)
        chosen = Negotiated(
            CODECS[name],
            int(pt),
            address,
            media.port,
            int(event) if event is not None else None,
            direction,
        )
        attributes: list[tuple[str, str | None]] = [("rtpmap", f"{pt} {name}/{CODECS[name].clock_rate}")]
        formats = [pt]
        if event is not None:
            formats.append(event)
            attributes += [("rtpmap", f"{event} telephone-event/8000"), ("fmtp", f"{event} 0-16")]
        attributes += [("ptime", "20"), (direction, None)]
        answered.append(Media("audio", local_port, media.proto, formats, None, attributes))
    if chosen is None:
        raise SdpError("no audio codec in common (we offer " + ", ".join(preferences) + ")", status=488)
    body = SessionDescription(
        origin=f"voicegrid {session_id} {version} IN IP4 {local_address}",
        session_name="voicegrid",
        connection=f"IN IP4 {local_address}",
        media=answered,
    )
    return body, chosen


def offer(
    *,
    local_address: str,
    local_port: int,
    session_id: int,
    version: int,
    preferences: tuple[str, ...] = DEFAULT_PREFERENCE,
) -> SessionDescription:
    """Our own offer (outbound calls): every preferred codec in order, then telephone-event as 101."""
    formats = [str(CODECS[name].payload_type) for name in preferences] + ["101"]
    attributes: list[tuple[str, str | None]] = [
        ("rtpmap", f"{CODECS[n].payload_type} {n}/{CODECS[n].clock_rate}") for n in preferences
    ]
    attributes += [
        ("rtpmap", "101 telephone-event/8000"),
        ("fmtp", "101 0-16"),
        ("ptime", "20"),
        ("sendrecv", None),
    ]
    return SessionDescription(
        origin=f"voicegrid {session_id} {version} IN IP4 {local_address}",
        session_name="voicegrid",
        connection=f"IN IP4 {local_address}",
        media=[Media("audio", local_port, "RTP/AVP", formats, None, attributes)],
    )
