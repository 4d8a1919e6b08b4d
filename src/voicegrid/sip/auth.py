"""Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616 and RFC 8760 for SHA-256).

Client: answer a 401/407 challenge. Server: issue challenges whose nonces carry their own issue
time and an HMAC, so that no nonce table is kept and an expired nonce is answered `stale=true`.
"""

import base64
import hashlib
import hmac
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass

from voicegrid.sip.errors import AuthError, ParseError
from voicegrid.sip.grammar import quote, quoted_end, unquote
from voicegrid.sip.uri import SipUri, parse_uri

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda b: hashlib.md5(b, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda b: hashlib.sha256(b).hexdigest(),
}


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """`Digest realm="x", nonce="y", qop="auth"` -> ("Digest", {"realm": "x", ...}), quotes removed."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    i = 0
    n = len(rest)
    while i < n:
        while i < n and rest[i] in " \t,":
            i += 1
        if i >= n:
            break
        eq = rest.find("=", i)
        if eq < 0:
            raise ParseError("authentication parameter without '='")
        name = rest[i:eq].strip().lower()
        j = eq + 1
        while j < n and rest[j] in " \t":
            j += 1
        if j < n and rest[j] == '"':
            end = quoted_end(rest, j)
            params[name] = unquote(rest[j:end])
            i = end
        else:
            end = rest.find(",", j)
            end = n if end < 0 else end
            params[name] = rest[j:end].strip()
            i = end
    return scheme, params


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> "Challenge":
        scheme, p = parse_auth_params(value)
        if scheme.lower() != "digest":
            raise AuthError(f"unsupported authentication scheme {scheme[:20]!r}")
        if "realm" not in p or "nonce" not in p:
            raise AuthError("challenge without realm or nonce")
        algorithm = p.get("algorithm", "MD5").upper()
        if algorithm not in _HASHES:
            raise AuthError(f"unsupported digest algorithm {algorithm[:20]!r}")
        qop = tuple(q.strip() for q in p.get("qop", "").split(",") if q.strip())
        return cls(
            p["realm"], p["nonce"], algorithm, qop, p.get("opaque"), p.get("stale", "").lower() == "true"
        )

    def __str__(self) -> str:
        parts = [f"realm={quote(self.realm)}", f"nonce={quote(self.nonce)}", f"algorithm={self.algorithm}"]
        if self.qop:
            parts.append(f'qop="{",".join(self.qop)}"')
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    h = _HASHES[algorithm]
    ha1 = h(f"{username}:{realm}:{password}".encode())
    ha2 = h(f"{method}:{uri}".encode())
    if qop:
        return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())
    return h(f"{ha1}:{nonce}:{ha2}".encode())


def authorization(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The Authorization / Proxy-Authorization value answering `challenge` (qop=auth when offered)."""
    qop = "auth" if "auth" in challenge.qop else None
    cnonce = cnonce or secrets.token_hex(8)
    nc_text = f"{nc:08x}"
    response = digest_response(
        algorithm=challenge.algorithm,
        username=username,
        realm=challenge.realm,
        password=password,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        qop=qop,
        nc=nc_text if qop else None,
        cnonce=cnonce if qop else None,
    )
    parts = [
        f"username={quote(username)}",
        f"realm={quote(challenge.realm)}",
        f"nonce={quote(challenge.nonce)}",
        f"uri={quote(uri)}",
        f"response={quote(response)}",
        f"algorithm={challenge.algorithm}",
    ]
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}", f"cnonce={quote(cnonce)}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    stale: bool = False
    username: str | None = None
    reason: str = ""


def uri_matches(credential_uri: str, request_uri: str) -> bool:
    """A credential's `uri` is for this request when it is the Request-URI itself, or (as SIPp and
    some phones send) the same host and port with no user part; another user or host is not."""
    if credential_uri == request_uri:
        return True
    try:
        cred, req = parse_uri(credential_uri), parse_uri(request_uri)
    except ParseError:
        return False
    if not isinstance(cred, SipUri) or not isinstance(req, SipUri) or cred.scheme != req.scheme:
        return False
    same_place = cred.host.lower() == req.host.lower() and cred.host_port[1] == req.host_port[1]
    return same_place and (cred.user is None or cred.user == req.user)


class DigestServer:
    """Challenges and checks credentials; nonces are `base64(issued_at | hmac)`, valid for `nonce_ttl`.

    A captured Authorization cannot be replayed: each nonce's nonce-count must go up with every use
    (a credential without qop, and so without nc, uses its nonce once), the credential's `uri` must be
    for the request's own Request-URI (`uri_matches`), and the algorithm must be one the user's trunk
    allows. Counts are kept for at most `max_tracked` nonces; past that the oldest are forgotten, and
    every nonce issued no later than a forgotten one is refused as stale (the client takes a fresh one).
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        *,
        nonce_ttl: float = 300.0,
        algorithm: str = "SHA-256",
        max_tracked: int = 100_000,
    ) -> None:
        if algorithm not in _HASHES:
            raise AuthError(f"unsupported digest algorithm {algorithm}")
        self.realm = realm
        self.nonce_ttl = nonce_ttl
        self.algorithm = algorithm
        self.max_tracked = max_tracked
        self._secret = secret
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()  # nonce -> (highest nc, issued)
        self._forgotten_until = float("-inf")  # nonces issued until then have no count any more

    def _mac(self, issued: bytes) -> bytes:
        return hmac.new(self._secret, issued + self.realm.encode(), hashlib.sha256).digest()[:16]

    def nonce(self, now: float) -> str:
        issued = struct.pack(">d", now)
        return base64.urlsafe_b64encode(issued + self._mac(issued)).decode().rstrip("=")

    def challenge(self, now: float, *, stale: bool = False, algorithm: str | None = None) -> str:
        return str(
            Challenge(self.realm, self.nonce(now), algorithm or self.algorithm, ("auth",), None, stale)
        )

    def _nonce_age(self, nonce: str, now: float) -> float | None:
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except ValueError:
            return None
        if len(raw) != 24 or not hmac.compare_digest(raw[8:], self._mac(raw[:8])):
            return None
        issued: float = struct.unpack(">d", raw[:8])[0]
        return now - issued

    def _count_use(self, nonce: str, nc_text: str | None, issued: float) -> bool:
        """Record a use of `nonce` with nonce-count `nc_text`; False when that count was seen already."""
        try:
            nc = int(nc_text, 16) if nc_text is not None else 0
        except ValueError:
            return False
        last = self._counts.get(nonce)
        if last is None and issued <= self._forgotten_until:
            return False
        if last is not None and (nc <= last[0] or nc_text is None):
            return False
        self._counts[nonce] = (nc, issued)
        self._counts.move_to_end(nonce)
        while len(self._counts) > self.max_tracked:
            _, (_, forgotten) = self._counts.popitem(last=False)
            self._forgotten_until = max(self._forgotten_until, forgotten)
        return True

    def verify(
        self,
        value: str,
        *,
        method: str,
        password_for: Callable[[str], str | None],
        now: float,
        request_uri: str | None = None,
        algorithms_for: Callable[[str], Collection[str]] | None = None,
    ) -> Verdict:
        """Check an Authorization header; `password_for(username)` gives the expected password or None,
        `algorithms_for(username)` the algorithms that user may answer with (any, when None)."""
        try:
            scheme, p = parse_auth_params(value)
        except ParseError as exc:
            return Verdict(False, reason=exc.reason)
        if scheme.lower() != "digest":
            return Verdict(False, reason="not a Digest credential")
        needed = ("username", "realm", "nonce", "uri", "response")
        if any(k not in p for k in needed):
            return Verdict(False, reason="credential lacks a required parameter")
        if p["realm"] != self.realm:
            return Verdict(False, reason="wrong realm")
        if request_uri is not None and not uri_matches(p["uri"], request_uri):
            return Verdict(False, reason=f"credential is for {p['uri'][:80]!r}, not the Request-URI")
        algorithm = p.get("algorithm", "MD5").upper()
        if algorithm not in _HASHES:
            return Verdict(False, reason="unsupported algorithm")
        if algorithms_for is not None and algorithm not in {a.upper() for a in algorithms_for(p["username"])}:
            return Verdict(False, reason=f"{algorithm} is not an algorithm this user may use")
        age = self._nonce_age(p["nonce"], now)
        if age is None or age < -5:
            return Verdict(False, reason="nonce not issued here")
        password = password_for(p["username"])
        if password is None:
            return Verdict(False, reason="unknown user")
        qop = p.get("qop")
        if qop not in (None, "auth"):
            return Verdict(False, reason="unsupported qop")
        expected = digest_response(
            algorithm=algorithm,
            username=p["username"],
            realm=self.realm,
            password=password,
            method=method,
            uri=p["uri"],
            nonce=p["nonce"],
            qop=qop,
            nc=p.get("nc"),
            cnonce=p.get("cnonce"),
        )
        if not hmac.compare_digest(expected, p["response"].lower()):
            return Verdict(False, reason="wrong credentials")
        if age > self.nonce_ttl:
            # Right password, old nonce: the client retries with a fresh one, without asking its user.
            return Verdict(False, stale=True, username=p["username"], reason="nonce expired")
        if not self._count_use(p["nonce"], p.get("nc") if qop else None, now - age):
            return Verdict(False, stale=True, username=p["username"], reason="nonce-count replayed")
        return Verdict(True, username=p["username"])
