"""E.164 phone numbers: one normal form, so that a number routes to one business only."""

import re

from voicegrid.tenancy.errors import InvalidInput

_SEPARATORS = re.compile(r"[\s().\-/]")
_E164 = re.compile(r"\+[1-9][0-9]{2,14}")


def normalize_e164(raw: str, field: str = "number") -> str:
    """`+1 (555) 010-0` -> `+15550100`; `0044...` -> `+44...`; anything else is InvalidInput."""
    if len(raw) > 40:
        raise InvalidInput(field, "too long for a phone number")
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not _E164.fullmatch(text):
        raise InvalidInput(field, f"{raw!r} is not an E.164 number (+ and 3 to 15 digits, no leading 0)")
    return text
