"""Recordings in S3-compatible object storage (moto_server, started for real): uploaded, served a
chunk at a time, erased one by one or a business at once; keys are our ids only; a store that does
not answer is an ObjectStoreError, never a hang."""

import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from voicegrid.core.ids import new_id
from voicegrid.telephony.recording_store import Bucket, ObjectStoreError, RecordingStore
from voicegrid.testing.ports import free_port
from voicegrid.testing.s3_server import ACCESS_KEY, SECRET_KEY, S3Server, start_s3


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = start_s3()
    try:
        yield server
    finally:
        server.stop()


def _store(url: str, bucket: str = "recordings-test", timeout_s: float = 10.0) -> RecordingStore:
    return RecordingStore(
        Bucket(endpoint=url, name=bucket, access_key=ACCESS_KEY, secret_key=SECRET_KEY), timeout_s=timeout_s
    )


def _wav(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(range(256)) * int(seconds * 8000 * 2 / 256))
    return path


async def _read(chunks: AsyncIterator[bytes] | None) -> bytes:
    assert chunks is not None
    return b"".join([chunk async for chunk in chunks])


async def test_a_recording_goes_up_comes_back_whole_and_is_erased(s3: S3Server, tmp_path: Path) -> None:
    store = _store(s3.url)
    await store.ensure_bucket()
    await store.ensure_bucket()  # twice is harmless
    business, call = new_id("biz"), new_id("call")
    wav = _wav(tmp_path / "a.wav", 40.0)  # 640 kB: more than one chunk
    await store.put(business, call, wav)
    assert await _read(await store.open(business, call)) == wav.read_bytes()
    assert await store.open(business, new_id("call")) is None
    await store.delete(business, call)
    assert await store.open(business, call) is None
    await store.delete(business, call)  # gone already: nothing to say


async def test_deleting_a_business_erases_all_its_recordings_and_no_one_elses(
    s3: S3Server, tmp_path: Path
) -> None:
    store = _store(s3.url)
    await store.ensure_bucket()
    wav = _wav(tmp_path / "b.wav", 0.5)
    mine, theirs = new_id("biz"), new_id("biz")
    calls = [new_id("call") for _ in range(3)]
    for call in calls:
        await store.put(mine, call, wav)
    other = new_id("call")
    await store.put(theirs, other, wav)
    assert await store.delete_business(mine) == 3
    assert all([await store.open(mine, call) is None for call in calls])
    assert await _read(await store.open(theirs, other)) == wav.read_bytes()


@pytest.mark.parametrize(
    ("business", "call"),
    [("../etc", "call_01ARZ3NDEKTSV4RRFFQ69G5FAV"), ("biz_01ARZ3NDEKTSV4RRFFQ69G5FAV", "x/../../y"),
     ("biz_01ARZ3NDEKTSV4RRFFQ69G5FAV", "call_01ARZ3NDEKTSV4RRFFQ69G5FAV.wav"), ("", "")],
)  # fmt: skip
async def test_only_our_own_ids_name_an_object(s3: S3Server, business: str, call: str) -> None:
    store = _store(s3.url)
    with pytest.raises(ObjectStoreError, match="our own ids"):
        await store.open(business, call)
    with pytest.raises(ObjectStoreError, match="our own ids"):
        await store.delete(business, call)


async def test_a_store_that_does_not_answer_is_an_error_within_the_timeout(tmp_path: Path) -> None:
    store = _store(f"http://127.0.0.1:{free_port()}", timeout_s=1.0)  # nothing listens there
    with pytest.raises(ObjectStoreError):
        await store.put(new_id("biz"), new_id("call"), _wav(tmp_path / "c.wav", 0.1))
    with pytest.raises(ObjectStoreError):
        await store.open(new_id("biz"), new_id("call"))
