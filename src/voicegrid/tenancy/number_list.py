"""Lists of phone numbers from a CSV file (do-not-call lists, campaign contacts), sans-I/O and
bounded: at most `max_bytes` and `max_rows`, a `number` column (E.164 after `normalise`), and
optional columns the caller names. Every row is taken or refused with its reason; unknown columns
are named and ignored. The caller stores what was taken in one transaction, or nothing.
"""

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from voicegrid.tenancy.errors import InvalidInput
from voicegrid.tenancy.phone import normalize_e164

MAX_BYTES = 4 << 20  # the API's cap on any request body: 100,000 rows of numbers fit in it
MAX_ROWS = 100_000
MAX_CELL = 200


@dataclass(frozen=True, slots=True)
class Row:
    row: int  # 1 is the header; data from 2, as a spreadsheet numbers them
    number: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Refused:
    row: int
    value: str
    reason: str


@dataclass(slots=True)
class NumberList:
    taken: list[Row] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


Normalise = Callable[[str], str]  # a raw cell to E.164, or InvalidInput with the reason


def parse_numbers(
    data: bytes,
    optional: tuple[str, ...] = (),
    *,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
    normalise: Normalise = normalize_e164,
) -> NumberList:
    """Rows of a CSV with a `number` column; InvalidInput for a file that is not one at all (too
    big, not UTF-8, no `number` column, too many rows): then nothing is taken."""
    if len(data) > max_bytes:
        raise InvalidInput("file", f"{len(data)} bytes, over the {max_bytes} a list may have")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("file", "not UTF-8 text") from None
    try:
        return parse_table(csv.reader(io.StringIO(text, newline="")), optional, max_rows, normalise)
    except csv.Error as exc:  # a stray carriage return, an endless field: not a CSV we read
        raise InvalidInput("file", f"not CSV: {exc}") from None


def parse_table(
    table: Iterable[list[str]],
    optional: tuple[str, ...],
    max_rows: int = MAX_ROWS,
    normalise: Normalise = normalize_e164,
) -> NumberList:
    """The rows of a table whose first row names its columns (a CSV file's, or a JSON body's)."""
    reader = iter(table)
    header = [h.strip().lower() for h in next(reader, [])]
    if "number" not in header:
        raise InvalidInput("file", "no `number` column in the first row")
    out = NumberList(ignored_columns=[h for h in header if h != "number" and h not in optional])
    seen: dict[str, int] = {}
    for index, cells in enumerate(reader, start=2):
        if index - 1 > max_rows:
            raise InvalidInput("file", f"over {max_rows} rows: split it")
        if not any(c.strip() for c in cells):
            continue  # a blank line
        values = dict(zip(header, (c.strip() for c in cells), strict=False))
        raw = values.get("number", "")
        try:
            number = normalise(raw)
        except InvalidInput as exc:
            out.refused.append(Refused(index, raw[:40], exc.reason))
            continue
        if number in seen:
            out.refused.append(Refused(index, raw[:40], f"the same number as row {seen[number]}"))
            continue
        long = next((k for k in optional if len(values.get(k, "")) > MAX_CELL), None)
        if long is not None:
            out.refused.append(Refused(index, raw[:40], f"`{long}` is over {MAX_CELL} characters"))
            continue
        seen[number] = index
        out.taken.append(Row(index, number, {k: values.get(k, "") for k in optional}))
    return out
