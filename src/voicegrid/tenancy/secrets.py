"""Secrets at rest: AES-256-GCM with a key id, bound by associated data to the row that holds them.

Stored form: `v1:<key id>:<base64 nonce + ciphertext>`. The associated data (e.g. `credential:<id>`)
means a ciphertext copied into another row does not decrypt. Older keys may be listed for
decryption only, so the platform key can be rotated.
"""

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voicegrid.tenancy.errors import SecretError

_VERSION = "v1"


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise SecretError("secret key is not valid base64") from exc
    if len(key) != 32:
        raise SecretError(f"secret key must be 32 bytes, got {len(key)}")
    return key


def load_or_create_key_file(path: Path) -> bytes:
    """The key in `path`; a new random one written there with mode 0600 when the file is missing."""
    if path.exists():
        return decode_key(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(key).decode() + "\n")
    return key


class SecretBox:
    """Encrypts with the first key; decrypts with whichever configured key made the ciphertext."""

    def __init__(self, key: bytes, *old_keys: bytes) -> None:
        self._derive_root = hashlib.sha256(b"voicegrid-derive:" + key).digest()
        self._primary = (_key_id(key), AESGCM(key))
        self._by_id = {_key_id(k): AESGCM(k) for k in (key, *old_keys)}

    def encrypt(self, plaintext: str, context: str) -> str:
        kid, aead = self._primary
        nonce = os.urandom(12)
        sealed = aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}:{kid}:{base64.b64encode(nonce + sealed).decode()}"

    def derive(self, label: str) -> bytes:
        """A stable 32-byte key for `label` (e.g. a business's webhook signing key), never stored."""
        return hmac.new(self._derive_root, label.encode(), hashlib.sha256).digest()

    def webhook_key(self, business_id: str) -> bytes:
        """The business's key for signing what the platform sends it (call webhooks, tool requests)."""
        return self.derive(f"webhook:{business_id}")

    def decrypt(self, stored: str, context: str) -> str:
        try:
            version, kid, payload = stored.split(":", 2)
            blob = base64.b64decode(payload, validate=True)
        except ValueError as exc:
            raise SecretError("stored secret is malformed") from exc
        aead = self._by_id.get(kid)
        if version != _VERSION or aead is None or len(blob) < 28:
            raise SecretError(f"no configured key decrypts this secret (key id {kid!r})")
        try:
            return aead.decrypt(blob[:12], blob[12:], context.encode()).decode()
        except InvalidTag as exc:
            raise SecretError("secret failed authentication (wrong key or tampered)") from exc


def mask(secret: str) -> str:
    """What the API shows of a secret: its length class and last four characters at most."""
    if len(secret) <= 8:
        return "****"
    return "****" + secret[-4:]
