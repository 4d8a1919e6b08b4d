"""Calls we make to tenants' URLs (tool webhooks, call events): a signature they can check, and the
rule that a tenant's URL may not point into the platform's own network.

Signature: `X-Voicegrid-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`, keyed by the
business's signing key; `verify` accepts it within a tolerance, in constant time.
"""

import asyncio
import hashlib
import hmac
import ipaddress
import socket
from urllib.parse import urlsplit


def sign(key: bytes, body: bytes, now: float) -> str:
    stamp = str(int(now))
    mac = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def verify(key: bytes, body: bytes, header: str, now: float, tolerance_s: float = 300) -> bool:
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - stamp) > tolerance_s:
        return False
    expected = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


async def destination_is_public(url: str, timeout_s: float = 5.0) -> bool | None:
    """True when every address the URL's host resolves to is a global one (no loopback, private or
    link-local address: a tenant's URL must not reach into our network); False when one is not; None
    when the name does not resolve within `timeout_s` (worth another try later)."""
    host = urlsplit(url).hostname or ""
    if not host:
        return False
    try:
        async with asyncio.timeout(timeout_s):
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return None
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    return bool(addresses) and all(a.is_global for a in addresses)


async def public_destination(url: str, timeout_s: float = 5.0) -> bool:
    """`destination_is_public`, with a name that does not resolve counted as not public."""
    return await destination_is_public(url, timeout_s) is True
