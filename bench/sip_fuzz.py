"""A long fuzz run of the SIP parser: a million inputs or more, mutated from the RFC 4475 vectors.

Run: .venv/bin/python bench/sip_fuzz.py [--inputs N] [--seed S]
Every input goes through parse_message, validate, the header accessors, serialization and the
stream framer; anything that escapes other than ParseError is a bug: it is printed, saved under
bench/results/sip_fuzz-crashes/, and the exit status is 1. The summary is saved as JSON.
"""

import argparse
import contextlib
import json
import random
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from voicegrid.sip import ParseError, parse_message, validate
from voicegrid.sip.framing import StreamFramer

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO.parent / "shared" / "conformance" / "rfc4475"
INTERESTING = [
    b"\r\n",
    b"\r\n\r\n",
    b":",
    b";",
    b",",
    b'"',
    b"\\",
    b"<",
    b">",
    b"%",
    b"@",
    b" ",
    b"\t",
    b"\x00",
    b"\xff",
    b"Content-Length: 99999999999\r\n",
    b"l: -1\r\n",
    b"Via: SIP/2.0/UDP [::1]:99999\r\n",
    b";branch=z9hG4bK",
    b"sip:",
    b"SIP/2.0 ",
    b"=" * 50,
    b'"' * 7,
]


def mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 8)):
        if not data:
            data += rng.choice(INTERESTING)
            continue
        i = rng.randrange(len(data))
        op = rng.randrange(6)
        if op == 0:
            data[i] = rng.randrange(256)
        elif op == 1:
            data[i:i] = rng.choice(INTERESTING)
        elif op == 2:
            del data[i : i + rng.randint(1, 16)]
        elif op == 3:
            j = rng.randrange(len(data))
            data[i:i] = data[j : j + rng.randint(1, 64)]
        elif op == 4:
            del data[i:]
        else:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(data)


def exercise(data: bytes) -> None:
    try:
        message = parse_message(data)
        validate(message)
        _ = (message.vias, message.from_, message.to, message.cseq, bytes(message))
    except ParseError:
        pass
    with contextlib.suppress(ParseError):
        StreamFramer().feed(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=4475)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seeds = [p.read_bytes() for p in sorted(VECTORS.glob("*.dat"))]
    crash_dir = REPO / "bench" / "results" / "sip_fuzz-crashes"
    crashes = 0
    start = time.monotonic()
    for n in range(1, args.inputs + 1):
        data = (
            mutate(rng, rng.choice(seeds))
            if n % 10
            else bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
        )
        try:
            exercise(data)
        except Exception:  # finding these is the point of the run
            crashes += 1
            crash_dir.mkdir(parents=True, exist_ok=True)
            (crash_dir / f"crash-{args.seed}-{n}.bin").write_bytes(data)
            print(f"input {n}: {traceback.format_exc()}", file=sys.stderr)
        if n % 100_000 == 0:
            print(
                f"{n:>9} inputs, {crashes} crashes, {n / (time.monotonic() - start):,.0f} inputs/s",
                flush=True,
            )
    elapsed = time.monotonic() - start
    result = {
        "benchmark": "sip_fuzz",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": args.inputs,
        "seed": args.seed,
        "crashes": crashes,
        "seconds": round(elapsed, 1),
        "inputs_per_second": round(args.inputs / elapsed),
    }
    print(json.dumps(result, indent=2))
    out = REPO / "bench" / "results" / f"sip_fuzz-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
