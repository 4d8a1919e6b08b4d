"""Masking of personal data in transcripts: runs of digits (with the usual separators) of 7 to 12
digits become `[phone]`; longer runs become `[card]` when a 13-19 digit stretch of them passes the
Luhn check, else `[number]`.

Bounded: the text is cut at `MAX_TEXT` characters before matching, and the patterns have no nested
repetition, so matching is linear in the text.
"""

import re

from voicegrid.analytics.record import CallRecord

MAX_TEXT = 20_000
_DIGITS = re.compile(r"(?<![\w+(])\+?\(?\d(?:[ .\-()]{0,2}\d){6,22}(?!\w)")


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _holds_card(digits: str) -> bool:
    """A card number anywhere in the run (a card read out, then another number straight after)."""
    return any(
        luhn(digits[start : start + size])
        for size in range(13, 20)
        for start in range(0, len(digits) - size + 1)
    )


def _replace(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if len(digits) >= 13:
        return "[card]" if _holds_card(digits) else "[number]"  # long runs are account numbers at best
    return "[phone]"  # 7 to 12 digits


def mask(text: str) -> str:
    return _DIGITS.sub(_replace, text[:MAX_TEXT])


def masked(record: CallRecord) -> CallRecord:
    """The record with its transcript's personal numbers masked (the parties' numbers stay: they are
    the call's routing and billing facts, not what was said)."""
    transcript = [{**line, "text": mask(str(line.get("text", "")))} for line in record.transcript]
    return record.model_copy(update={"transcript": transcript, "pii_masked": True})
