"""Calls we make to tenants' URLs (tool webhooks, call events): a signature they can check. Where such
a call may go is `core.egress`'s one policy.

Signature: `X-Voicegrid-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`, keyed by the
business's signing key; `verify` accepts it within a tolerance, in constant time.
"""

import hashlib
import hmac


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
