"""Entities in what a caller said: phone numbers, emails, dates and times, amounts, counts.

Telephone speech recognition writes numbers as words ("five five five", "twenty five dollars")
and emails as speech ("sam at example dot com"), so the text is first put in written form:
spoken numbers become digits (`number_parser`), runs of single spoken digits are joined, and a
spoken email gets its `@` and dots. Then libphonenumber finds phone numbers, `email_validator`
checks emails, and `dateparser` resolves each date or time phrase (found by a small grammar of
day, month and clock words) against the call's own time. Bounded: at most `MAX_TEXT` characters
and `MAX_ENTITIES` entities per call.
"""

import re
from datetime import datetime

import dateparser
import number_parser
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from voicegrid.analysis.result import Entity

MAX_TEXT = 20_000
MAX_ENTITIES = 50

_DIGIT_RUN = re.compile(r"\b\d(?:[\s-]+\d\b){6,14}")
_SPOKEN_EMAIL = re.compile(
    r"\b([a-z0-9][a-z0-9._%+-]{0,63})\s+at\s+([a-z0-9-]{1,63}(?:\s+dot\s+[a-z0-9-]{1,63}){1,4})\b", re.I
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}\b")
_CURRENCY = {"$": "USD", "€": "EUR", "£": "GBP"}
_CURRENCY_WORDS = {
    "dollar": "USD", "dollars": "USD", "bucks": "USD", "usd": "USD",
    "euro": "EUR", "euros": "EUR", "eur": "EUR",
    "pound": "GBP", "pounds": "GBP", "quid": "GBP", "gbp": "GBP",
}  # fmt: skip
_AMOUNT_SIGN = re.compile(r"([$€£])\s?(\d{1,9}(?:[.,]\d{1,2})?)")
_AMOUNT_WORD = re.compile(
    r"\b(\d{1,9}(?:\.\d{1,2})?)\s+("
    + "|".join(_CURRENCY_WORDS)
    + r")\b(?:\s+(?:and\s+)?(\d{1,2})\s+cents?)?",
    re.I,
)
_COUNT = re.compile(
    r"\b(\d{1,4})\s+(people|persons|guests|adults|children|kids|pizzas|tickets|rooms|nights|seats|items)\b",
    re.I,
)
_DAYS = "today|tonight|tomorrow|yesterday|monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend"
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_CLOCK = r"\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|o'clock)|\d{1,2}:\d{2}|noon|midnight"
_ORDINAL = r"\d{1,2}(?:st|nd|rd|th)"
_DATE_WORD = (
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+of\s+(?:{_MONTHS})|(?:{_DAYS})"
    rf"|(?:{_MONTHS})(?:\s+\d{{1,2}}(?:st|nd|rd|th)?\b)?|{_ORDINAL}|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?"
)
_PART = r"morning|afternoon|evening|night"
_TOKEN = (
    rf"(?:next\s+|this\s+)?(?:{_DATE_WORD})|(?:at\s+)?(?:{_CLOCK})|(?:in\s+the\s+)?(?:{_PART})|at\s+\d{{1,2}}"
)
_TEMPORAL = re.compile(
    rf"\b(?:{_TOKEN})\b(?:(?:\s*,?\s*|\s+(?:at|on|the|of|in)\s+)(?:the\s+)?\b(?:{_TOKEN})\b)*", re.I
)
_HAS_DATE = re.compile(rf"\b(?:{_DATE_WORD})\b", re.I)
_HAS_TIME = re.compile(rf"(?:{_CLOCK}|\b(?:{_PART})\b|\bat\s+\d{{1,2}}\b)", re.I)


def written(text: str) -> str:
    """Spoken numbers as digits ("twenty five" -> "25"); text beyond MAX_TEXT is not read."""
    text = text[:MAX_TEXT]
    try:
        return str(number_parser.parse(text))
    except Exception:  # a library's bug on a strange input costs the conversion, not the analysis
        return text


Found = list[tuple[int, Entity]]  # where in the text, and what


def phones(text: str, region: str) -> Found:
    joined = _DIGIT_RUN.sub(lambda m: re.sub(r"[\s-]+", "", m.group(0)), text)
    found: Found = []
    for match in phonenumbers.PhoneNumberMatcher(joined, region, leniency=phonenumbers.Leniency.POSSIBLE):
        number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        found.append((match.start, Entity(kind="phone", text=match.raw_string, value=number)))
    return found


def emails(text: str) -> Found:
    candidates = [(m.start(), m.group(0), m.group(0)) for m in _EMAIL.finditer(text)]
    for m in _SPOKEN_EMAIL.finditer(text):
        domain = re.sub(r"\s+dot\s+", ".", m.group(2), flags=re.I)
        candidates.append((m.start(), m.group(0), f"{m.group(1)}@{domain}"))
    found: Found = []
    for at, heard, address in candidates:
        try:
            checked = validate_email(address, check_deliverability=False)
        except EmailNotValidError:
            continue
        found.append((at, Entity(kind="email", text=heard, value=checked.normalized)))
    return found


def amounts(text: str) -> Found:
    found: Found = []
    for m in _AMOUNT_SIGN.finditer(text):
        value = m.group(2).replace(",", ".")
        amount = f"{float(value):.2f} {_CURRENCY[m.group(1)]}"
        found.append((m.start(), Entity(kind="amount", text=m.group(0), value=amount)))
    for m in _AMOUNT_WORD.finditer(text):
        value = float(m.group(1)) + (int(m.group(3)) / 100 if m.group(3) else 0.0)
        currency = _CURRENCY_WORDS[m.group(2).lower()]
        found.append((m.start(), Entity(kind="amount", text=m.group(0), value=f"{value:.2f} {currency}")))
    return found


def counts(text: str) -> Found:
    return [
        (m.start(), Entity(kind="count", text=m.group(0), value=f"{int(m.group(1))} {m.group(2).lower()}"))
        for m in _COUNT.finditer(text)
    ]


def moments(text: str, now: datetime, language: str) -> Found:
    """Date and time phrases, resolved against `now` (the call's time), the future preferred."""
    settings = {"PREFER_DATES_FROM": "future", "RELATIVE_BASE": now, "RETURN_AS_TIMEZONE_AWARE": False}
    found: Found = []
    for m in _TEMPORAL.finditer(text):
        phrase = m.group(0).strip(" ,")
        has_date, has_time = bool(_HAS_DATE.search(phrase)), bool(_HAS_TIME.search(phrase))
        if not has_date and re.fullmatch(r"at\s+\d{1,2}", phrase, re.I):
            continue  # "at 7" alone may be anything
        try:
            when = dateparser.parse(phrase, languages=[language], settings=settings)
        except Exception:
            when = None
        if when is None:
            continue
        if has_date and has_time:
            stamp = when.isoformat(timespec="minutes")
            found.append((m.start(), Entity(kind="datetime", text=phrase, value=stamp)))
        elif has_date:
            found.append((m.start(), Entity(kind="date", text=phrase, value=when.date().isoformat())))
        else:
            clock = when.time().isoformat(timespec="minutes")
            found.append((m.start(), Entity(kind="time", text=phrase, value=clock)))
    return found


def entities(lines: list[str], now: datetime, language: str = "en-US") -> list[Entity]:
    """Every entity in the caller's lines, in the order said, each once."""
    region = (language.split("-")[1] if "-" in language else "US").upper()
    base = language.split("-")[0].lower()
    out: list[Entity] = []
    seen: set[tuple[str, str]] = set()
    budget = MAX_TEXT
    for line in lines:
        if budget <= 0:
            break
        text = written(line[:budget])
        budget -= len(line)
        said = [
            *phones(text, region),
            *emails(text),
            *moments(text, now, base),
            *amounts(text),
            *counts(text),
        ]
        for _, entity in sorted(said, key=lambda found: found[0]):
            if (entity.kind, entity.value) not in seen and len(out) < MAX_ENTITIES:
                seen.add((entity.kind, entity.value))
                out.append(entity)
    return out
