import os

import pytest

from voicegrid.tenancy import SecretBox, SecretError
from voicegrid.tenancy.secrets import decode_key, load_or_create_key_file, mask


def test_a_secret_round_trips_and_its_ciphertext_does_not_contain_it() -> None:
    box = SecretBox(os.urandom(32))
    stored = box.encrypt("dg-secret-token-123", "credential:cred_1")
    assert "dg-secret-token-123" not in stored
    assert box.decrypt(stored, "credential:cred_1") == "dg-secret-token-123"


def test_a_ciphertext_moved_to_another_row_does_not_decrypt() -> None:
    box = SecretBox(os.urandom(32))
    stored = box.encrypt("s3cret", "credential:cred_1")
    with pytest.raises(SecretError):
        box.decrypt(stored, "credential:cred_2")


def test_a_tampered_ciphertext_is_rejected() -> None:
    box = SecretBox(os.urandom(32))
    stored = box.encrypt("s3cret", "ctx")
    flipped = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    with pytest.raises(SecretError):
        box.decrypt(flipped, "ctx")


def test_an_old_key_still_decrypts_after_rotation_and_new_secrets_use_the_new_key() -> None:
    old, new = os.urandom(32), os.urandom(32)
    stored_old = SecretBox(old).encrypt("before", "ctx")
    rotated = SecretBox(new, old)
    assert rotated.decrypt(stored_old, "ctx") == "before"
    with pytest.raises(SecretError):
        SecretBox(old).decrypt(rotated.encrypt("after", "ctx"), "ctx")


@pytest.mark.parametrize("stored", ["", "v1:", "v2:abcd:AAAA", "v1:zzzz:not base64!"])
def test_malformed_stored_secrets_raise_secret_error(stored: str) -> None:
    with pytest.raises(SecretError):
        SecretBox(os.urandom(32)).decrypt(stored, "ctx")


def test_the_key_file_is_created_owner_only_and_read_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "keys" / "secret.key"
    key = load_or_create_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key_file(path) == key


def test_a_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(SecretError, match="32 bytes"):
        decode_key("c2hvcnQ=")


def test_masking_shows_at_most_the_last_four_characters() -> None:
    assert mask("sk-abcdefghijklmnop") == "****mnop"
    assert mask("short") == "****"
