"""A campaign's contacts, from a CSV file or a JSON body, through one bounded reader
(`tenancy.number_list`): each number validated and normalised by libphonenumber (`phonenumbers`),
its time zone given (an IANA name) or derived from the number, its variables the columns the
agent's `{placeholders}` name. Every row is taken or refused with its reason; other columns are
named and ignored."""

import functools
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import timezone as number_zones

from voicegrid.tenancy.errors import InvalidInput
from voicegrid.tenancy.number_list import MAX_ROWS, Refused, Row, parse_numbers, parse_table

FIXED = ("name", "timezone")


@dataclass(frozen=True, slots=True)
class Contact:
    row: int
    number: str  # E.164
    name: str
    timezone: str  # an IANA zone name
    variables: dict[str, str]


@dataclass(slots=True)
class ContactList:
    taken: list[Contact] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def known_zone(name: str) -> bool:
    """Whether `name` is an IANA zone of the bundled database: the one check a zone name passes
    before it names a file to read."""
    return name in _zones()


def phone_number(raw: str, region: str | None = None) -> str:
    """`raw` in E.164 if libphonenumber holds it valid (`region`, an ISO country code, for numbers
    written without +); InvalidInput with the reason otherwise."""
    if len(raw) > 40:
        raise InvalidInput("number", "too long for a phone number")
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("number", f"not a phone number: {str(exc).split(') ', 1)[-1]}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput("number", "not a valid number in its country's numbering plan")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def zone_of(number: str) -> str | None:
    """The time zone of an E.164 number, when its numbering plan places it in exactly one."""
    zones = [z for z in number_zones.time_zones_for_number(phonenumbers.parse(number)) if known_zone(z)]
    return zones[0] if len(zones) == 1 else None


def parse_contacts(data: bytes, variables: Iterable[str], region: str | None = None) -> ContactList:
    """Contacts from a CSV file (columns: number, name, timezone and the variables)."""
    names = _columns(variables)
    listed = parse_numbers(data, names, normalise=functools.partial(phone_number, region=region))
    return _contacts(listed.taken, listed.refused, listed.ignored_columns)


def contacts_from(
    items: Iterable[Mapping[str, str]], variables: Iterable[str], region: str | None = None
) -> ContactList:
    """Contacts from a JSON body: objects with `number`, `name`, `timezone` and the variables."""
    names = _columns(variables)
    rows = list(items)
    columns = ["number", *names, *sorted({k for r in rows for k in r} - {"number", *names})]
    table = [columns, *([str(r.get(c, "")) for c in columns] for r in rows)]
    listed = parse_table(table, names, MAX_ROWS, functools.partial(phone_number, region=region))
    return _contacts(listed.taken, listed.refused, listed.ignored_columns)


def _columns(variables: Iterable[str]) -> tuple[str, ...]:
    return (*FIXED, *sorted({v.lower() for v in variables} - {"number", *FIXED}))


def _contacts(rows: Iterable[Row], refused: list[Refused], ignored: list[str]) -> ContactList:
    out = ContactList(refused=list(refused), ignored_columns=ignored)
    for row in rows:
        index, number, values = row.row, row.number, dict(row.fields)
        zone = values.pop("timezone", "") or zone_of(number)
        if zone is None:
            out.refused.append(Refused(index, number, "no time zone: name one in the `timezone` column"))
        elif not known_zone(zone):
            out.refused.append(Refused(index, number, f"{zone[:60]!r} is not an IANA time zone"))
        else:
            out.taken.append(Contact(index, number, values.pop("name", ""), zone, values))
    out.refused.sort(key=lambda r: r.row)
    return out
