"""Messages parsed per second per core: a typical carrier INVITE with SDP, parsed and validated.

Run: .venv/bin/python bench/sip_parse.py [--seconds N] [--rounds R]   (the median round is the figure)
Prints the figure and saves it to bench/results/sip_parse-<date>.json.
"""

import argparse
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from voicegrid.sip import parse_message, validate

SDP = (
    b"v=0\r\no=- 3812638232 3812638232 IN IP4 198.51.100.7\r\ns=Carrier\r\nc=IN IP4 198.51.100.7\r\n"
    b"t=0 0\r\nm=audio 31000 RTP/AVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
    b"a=sendrecv\r\n"
)
INVITE = (
    b"INVITE sip:+15550100@203.0.113.10:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---a3f2c1d0e9b8a7f6;rport\r\n"
    b"Max-Forwards: 69\r\n"
    b"Record-Route: <sip:198.51.100.7;lr;ftag=as5f3c2a1b>\r\n"
    b'From: "+15551234567" <sip:+15551234567@198.51.100.7>;tag=as5f3c2a1b\r\n'
    b"To: <sip:+15550100@203.0.113.10>\r\n"
    b"Call-ID: 3c2a1b5f-4d3e-4f2a-9b8c-7d6e5f4a3b2c\r\n"
    b"CSeq: 102 INVITE\r\n"
    b"Contact: <sip:+15551234567@198.51.100.7:5060;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO\r\n"
    b"Supported: replaces, timer\r\n"
    b"User-Agent: CarrierSBC 4.2\r\n"
    b"P-Asserted-Identity: <sip:+15551234567@198.51.100.7>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)


def one() -> None:
    message = parse_message(INVITE)
    validate(message)
    _ = message.top_via.branch, message.cseq, message.call_id, message.from_.tag, message.to.tag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for _ in range(2000):
        one()  # warm up
    rates = []
    count = 0
    cpu = 0.0
    for _ in range(args.rounds):
        n = 0
        start = time.process_time()
        while time.process_time() < start + args.seconds:
            for _ in range(1000):
                one()
            n += 1000
        spent = time.process_time() - start
        rates.append(n / spent)
        count += n
        cpu += spent
    rate = statistics.median(rates)
    result = {
        "benchmark": "sip_parse",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "message_bytes": len(INVITE),
        "messages": count,
        "cpu_seconds": round(cpu, 3),
        "messages_per_cpu_second": round(rate),
        "rounds_messages_per_cpu_second": [round(r) for r in rates],
        "microseconds_per_message": round(1e6 / rate, 2),
        "python": platform.python_version(),
        "goal_messages_per_second": 20_000,
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / f"sip_parse-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
