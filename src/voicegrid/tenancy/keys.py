"""API keys and user passwords: made, shown once, stored only as hashes.

API keys carry 256 random bits, so one SHA-256 of the key is a safe stored form and a fast lookup;
a slow hash would only slow every request. Passwords are low-entropy, so they get scrypt.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "vg_"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True, slots=True)
class NewKey:
    plaintext: str  # returned to the caller once, never stored
    hash: str
    hint: str  # enough to recognise the key in a list: its first characters


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_api_key() -> NewKey:
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(plaintext=plaintext, hash=hash_api_key(plaintext), hint=plaintext[:10])


def key_from_plaintext(plaintext: str) -> NewKey:
    """The stored form of a key chosen outside (VOICEGRID_ADMIN_KEY)."""
    return NewKey(plaintext=plaintext, hash=hash_api_key(plaintext), hint=plaintext[:6])


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt_hex, digest_hex = stored.split("$")
        if algo != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(digest, bytes.fromhex(digest_hex))
