"""Call events to a business's URL: signed, kept in the node's outbox until taken, retried with backoff
on failures worth retrying (across restarts), never sent into the platform's own network unless allowed."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.cycles import cyclic_garbage
from tests.support.endless_http import Endless
from tests.support.receiver import Receiver
from voicegrid.analytics.errors import OutboxError
from voicegrid.analytics.outbox import Delivery, parse_delivery
from voicegrid.analytics.webhooks import WebhookSender
from voicegrid.core.egress import (
    PERMISSIVE,
    STRICT,
    DestinationRefused,
    Destinations,
    DestinationUnresolved,
)
from voicegrid.core.webhooks import verify

KEY = b"k" * 32


async def _settle(receiver: Receiver, count: int, *senders: WebhookSender, linger_s: float = 0.05) -> None:
    """Once the receiver has `count` requests and `linger_s` more has passed, the senders stop."""
    await receiver.wait_for(count)
    await asyncio.sleep(linger_s)
    for sender in senders:
        await sender.aclose()


def _sender(outbox: Path, **options: Any) -> WebhookSender:
    return WebhookSender(outbox, lambda business_id: KEY if business_id == "biz_1" else b"", **options)


async def test_an_event_is_retried_with_backoff_until_the_endpoint_takes_it_and_is_signed_each_time(
    tmp_path: Path,
) -> None:
    receiver = Receiver(statuses=[503, 429])
    await receiver.start()
    sender = _sender(tmp_path, destinations=PERMISSIVE, backoff_s=0.05)
    await sender.start()
    try:
        started = time.monotonic()
        await sender.send(receiver.url, "biz_1", "call.ended", {"id": "call_1", "cost": {"total": 0.01}})
        assert _count(tmp_path, "whd_*.json") == 1  # on disk before the first try
        await receiver.wait_for(3)
        assert time.monotonic() - started >= 0.05 + 0.1  # waited 50 ms, then 100 ms
        await asyncio.sleep(0.05)
        await sender.aclose()
    finally:
        await receiver.stop()
    assert [r.headers["x-voicegrid-attempt"] for r in receiver.received] == ["1", "2", "3"]
    assert len({r.headers["x-voicegrid-delivery"] for r in receiver.received}) == 1  # one delivery, 3 tries
    for r in receiver.received:
        assert verify(KEY, r.body, r.headers["x-voicegrid-signature"], time.time())
        assert r.headers["x-voicegrid-event"] == "call.ended"
    assert json.loads(receiver.received[-1].body) == {
        "event": "call.ended",
        "data": {"id": "call_1", "cost": {"total": 0.01}},
    }
    assert (sender.delivered, sender.failed, sender.pending) == (1, 0, 0)
    assert _names(tmp_path) == []  # taken: gone from the outbox


async def test_deliveries_leave_no_reference_cycle_for_the_collector(tmp_path: Path) -> None:
    receiver = Receiver(statuses=[])
    await receiver.start()
    sender = _sender(tmp_path, destinations=PERMISSIVE, backoff_s=0.05)
    await sender.start()
    try:
        await sender.send(receiver.url, "biz_1", "call.started", {"id": "call_0"})
        await receiver.wait_for(1)  # the sender's client and its pool, made once
        with cyclic_garbage("voicegrid.core", "asyncio") as left:
            for n in range(1, 4):
                await sender.send(receiver.url, "biz_1", "call.started", {"id": f"call_{n}"})
            await receiver.wait_for(4)
            await asyncio.sleep(0.05)
        assert left == []
        await sender.aclose()
    finally:
        await receiver.stop()


async def test_a_refusal_is_not_retried_and_a_private_address_is_not_called_on_a_shared_platform(
    tmp_path: Path,
) -> None:
    receiver = Receiver(statuses=[400])
    await receiver.start()
    strict = _sender(tmp_path / "strict", destinations=STRICT, backoff_s=0.01)
    lenient = _sender(tmp_path / "lenient", destinations=PERMISSIVE, backoff_s=0.01)
    await strict.start()
    await lenient.start()
    try:
        await strict.send(receiver.url, "biz_1", "call.started", {"id": "call_2"})
        await lenient.send(receiver.url, "biz_1", "call.started", {"id": "call_2"})
        await _settle(receiver, 1, strict, lenient, linger_s=0.2)  # time for a retry, had there been one
    finally:
        await receiver.stop()
    assert len(receiver.received) == 1  # the lenient sender's one try; the strict one never called
    assert (strict.failed, lenient.failed, lenient.delivered) == (1, 1, 0)
    assert _names(tmp_path / "strict") == _names(tmp_path / "lenient") == []


async def test_an_event_waiting_for_its_retry_survives_a_restart_and_goes_with_the_same_delivery_id(
    tmp_path: Path,
) -> None:
    receiver = Receiver(statuses=[503])
    await receiver.start()
    try:
        before = _sender(tmp_path, destinations=PERMISSIVE, backoff_s=30.0)  # the retry is far off
        await before.start()
        await before.send(receiver.url, "biz_1", "call.ended", {"id": "call_3"})
        await receiver.wait_for(1)
        await asyncio.sleep(0.1)  # the failed try is written back with its next time
        await before.aclose()  # the node stops with the event still waiting
        [waiting] = _waiting(tmp_path)
        assert (waiting.attempt, waiting.event) == (1, "call.ended")
        assert waiting.next_at > time.time() + 20
        after = _sender(tmp_path, destinations=PERMISSIVE, backoff_s=30.0, max_backoff_s=0.0)
        after.clock = lambda: time.time() + 60  # the next run starts after the retry was due
        await after.start()
        await _settle(receiver, 2, after)
    finally:
        await receiver.stop()
    first, second = receiver.received
    assert first.headers["x-voicegrid-delivery"] == second.headers["x-voicegrid-delivery"] == waiting.id
    assert [first.headers["x-voicegrid-attempt"], second.headers["x-voicegrid-attempt"]] == ["1", "2"]
    assert first.body == second.body
    assert (after.delivered, after.pending) == (1, 0)
    assert _count(tmp_path, "whd_*.json") == 0


async def test_after_its_last_attempt_an_event_is_given_up_and_the_backoff_doubles_up_to_its_cap(
    tmp_path: Path,
) -> None:
    receiver = Receiver(statuses=[503, 500, 502, 503])
    await receiver.start()
    results: list[str] = []
    sender = WebhookSender(
        tmp_path, lambda _: KEY, destinations=PERMISSIVE, attempts=3, backoff_s=0.01, on_result=results.append
    )
    await sender.start()
    try:
        await sender.send(receiver.url, "biz_1", "call.started", {"id": "call_4"})
        await _settle(receiver, 3, sender, linger_s=0.2)  # time for a fourth try, had there been one
    finally:
        await receiver.stop()
    assert len(receiver.received) == 3
    assert (sender.delivered, sender.failed, sender.pending, results) == (0, 1, 0, ["failed"])
    assert _names(tmp_path) == []
    default = WebhookSender(tmp_path, lambda _: KEY)
    assert [default.delay_s(n) for n in (1, 2, 3, 12, 13, 14)] == [1, 2, 4, 2048, 3600, 3600]
    assert sum(default.delay_s(n) for n in range(1, default.attempts)) / 3600 > 4  # retried for hours
    await default.aclose()


async def test_beyond_its_bound_the_outbox_drops_an_event_and_counts_it(tmp_path: Path) -> None:
    results: list[str] = []
    sender = WebhookSender(tmp_path, lambda _: KEY, max_pending=2, on_result=results.append)  # not started
    for n in range(3):
        await sender.send("https://hooks.example/", "biz_1", "call.started", {"id": f"call_{n}"})
    assert (sender.pending, sender.dropped, results) == (2, 1, ["dropped"])
    assert _count(tmp_path, "whd_*.json") == 2
    await sender.aclose()


async def test_a_damaged_outbox_file_is_set_aside_and_the_good_ones_are_sent(tmp_path: Path) -> None:
    receiver = Receiver()
    await receiver.start()
    body = '{"event":"call.ended"}'
    good = Delivery("whd_01JD3Q000000000000000000AB", receiver.url, "biz_1", "call.ended", body, 2, 0.0, 0.0)
    _write(tmp_path / f"{good.id}.json", json.dumps(_fields(good)).encode())
    _write(tmp_path / "whd_01JD3Q000000000000000000AC.json", b'{"id": "whd_01JD3Q0000')  # torn by a crash
    sender = _sender(tmp_path, destinations=PERMISSIVE)
    await sender.start()
    try:
        await _settle(receiver, 1, sender)
    finally:
        await receiver.stop()
    assert receiver.received[0].headers["x-voicegrid-attempt"] == "3"
    assert _names(tmp_path) == ["whd_01JD3Q000000000000000000AC.bad"]


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _count(folder: Path, pattern: str) -> int:
    return len(list(folder.glob(pattern)))


def _waiting(folder: Path) -> list[Delivery]:
    return [parse_delivery(p.read_bytes()) for p in folder.glob("whd_*.json")]


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _fields(delivery: Delivery) -> dict[str, object]:
    return {name: getattr(delivery, name) for name in Delivery.__slots__}


FIELDS = st.dictionaries(
    st.sampled_from(list(Delivery.__slots__)), st.integers() | st.floats() | st.text(max_size=30) | st.none()
)


@given(st.binary(max_size=400) | FIELDS.map(lambda d: json.dumps(d).encode()))
def test_any_bytes_in_an_outbox_file_give_a_delivery_or_an_outbox_error(raw: bytes) -> None:
    try:
        delivery = parse_delivery(raw)
    except OutboxError:
        return
    assert delivery.id.startswith("whd_")
    assert delivery.url.startswith(("http://", "https://"))


def test_an_outbox_file_may_not_name_a_path_outside_the_outbox() -> None:
    fields = {
        "id": "../../etc/passwd", "url": "https://x.example/", "business_id": "biz_1", "event": "call.ended",
        "body": "{}", "attempt": 0, "next_at": 0.0, "created_at": 0.0,
    }  # fmt: skip
    with pytest.raises(OutboxError, match="id"):
        parse_delivery(json.dumps(fields).encode())


async def test_a_name_that_does_not_resolve_is_tried_again_later_and_a_private_address_never() -> None:
    policy = Destinations(resolve_timeout_s=2)
    with pytest.raises(DestinationUnresolved):
        await policy.resolve("http://name-that-does-not-exist.invalid/hooks")
    for refused in ("http://127.0.0.1:9/hooks", "http://10.1.2.3/hooks", "not a url"):
        with pytest.raises(DestinationRefused):
            await policy.resolve(refused)


async def test_an_event_whose_endpoint_name_does_not_resolve_waits_for_its_retry(tmp_path: Path) -> None:
    sender = _sender(tmp_path, backoff_s=30.0)
    await sender.start()
    await sender.send("http://name-that-does-not-exist.invalid/hooks", "biz_1", "call.ended", {"id": "c"})
    for _ in range(100):
        if [d.attempt for d in _waiting(tmp_path)] == [1]:
            break
        await asyncio.sleep(0.05)
    await sender.aclose()
    assert [d.attempt for d in _waiting(tmp_path)] == [1]  # kept, with its next try in 30 s
    assert (sender.pending, sender.failed) == (1, 0)


async def test_an_attempt_that_fails_inside_the_sender_is_retried_not_stranded(tmp_path: Path) -> None:
    receiver = Receiver()
    await receiver.start()
    keys = iter([RuntimeError("the key store hiccuped"), KEY])

    def signing_key(_business_id: str) -> bytes:
        key = next(keys)
        if isinstance(key, Exception):
            raise key
        return key

    sender = WebhookSender(tmp_path, signing_key, destinations=PERMISSIVE, backoff_s=0.01)
    await sender.start()
    try:
        await sender.send(receiver.url, "biz_1", "call.ended", {"id": "call_5"})
        await _settle(receiver, 1, sender)
    finally:
        await receiver.stop()
    assert receiver.received[0].headers["x-voicegrid-attempt"] == "2"
    assert (sender.delivered, sender.pending) == (1, 0)


async def test_an_endpoint_that_answers_without_end_is_delivered_and_we_read_no_more_than_the_cap(
    tmp_path: Path,
) -> None:
    """Only the status is used: a hostile endpoint's endless body holds MAX_ANSWER_BYTES of ours at most."""
    endless = Endless(lambda _n: b"x" * 65536, most=1024)  # 64 MiB at most
    server = await endless.start()
    sender = _sender(tmp_path, destinations=PERMISSIVE, backoff_s=0.01)
    await sender.start()
    try:
        await sender.send(endless.url + "/hook", "biz_1", "call.ended", {})
        async with asyncio.timeout(10):
            await endless.done.wait()
        await sender.aclose()
    finally:
        server.close()
    assert (sender.delivered, sender.failed) == (1, 0)
    assert endless.sent < 1024  # we closed the connection once past the cap


async def test_a_url_no_request_line_may_carry_is_given_up_at_once_not_retried(tmp_path: Path) -> None:
    receiver = Receiver()
    await receiver.start()
    sender = _sender(tmp_path, destinations=PERMISSIVE, backoff_s=0.01)
    await sender.start()
    try:
        await sender.send(receiver.url + "/a b\r\nX-Injected: 1", "biz_1", "call.ended", {"id": "c"})
        for _ in range(100):
            if sender.failed:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # time for a retry, had there been one
        await sender.aclose()
    finally:
        await receiver.stop()
    assert receiver.received == []
    assert (sender.failed, sender.pending) == (1, 0)
    assert _names(tmp_path) == []
