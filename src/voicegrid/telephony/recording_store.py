"""Recordings in S3-compatible object storage (AWS S3, MinIO, Ceph, ...), when the operator gives a
bucket: every node uploads the WAVs of its calls, and any node serves any recording from there,
even when the node that took the call is gone.

Keys are `<prefix>/<business id>/<call id>.wav`; both ids are ours, and `key` refuses anything
else, so nothing a caller or tenant sends ever names an object. boto3 is synchronous: every call
runs in a thread, with connect and read timeouts and two attempts at most. A failed upload leaves
the node's own copy, which the API then fetches from the node (`api/fleet_calls`).
"""

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicegrid.telephony.errors import TelephonyError

log = logging.getLogger(__name__)
OUR_ID = re.compile(r"[a-z]{3,4}_[0-9A-Z]{26}")
CHUNK = 256 * 1024
MISSING = ("NoSuchKey", "404", "NotFound")


class ObjectStoreError(TelephonyError):
    """The object store did not answer, or refused."""


@dataclass(frozen=True, slots=True)
class Bucket:
    endpoint: str | None  # None: AWS's own for the region
    name: str
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None
    prefix: str = "recordings"


class RecordingStore:
    def __init__(self, bucket: Bucket, *, timeout_s: float = 10.0) -> None:
        self.bucket = bucket
        import boto3  # 26 MB: only on a node that keeps recordings in a bucket
        from botocore.config import Config

        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=bucket.endpoint,
            region_name=bucket.region,
            aws_access_key_id=bucket.access_key,
            aws_secret_access_key=bucket.secret_key,
            config=Config(
                connect_timeout=timeout_s,
                read_timeout=timeout_s,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )

    def key(self, business_id: str, call_id: str) -> str:
        if not (OUR_ID.fullmatch(business_id) and OUR_ID.fullmatch(call_id)):
            raise ObjectStoreError("a recording's key is made of our own ids only")
        return f"{self.bucket.prefix}/{business_id}/{call_id}.wav"

    async def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError  # loaded with boto3 in __init__

        try:
            return await asyncio.to_thread(getattr(self._client, method), Bucket=self.bucket.name, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING:
                return None
            raise ObjectStoreError(f"object store: {method}: {exc}") from None
        except BotoCoreError as exc:
            raise ObjectStoreError(f"object store: {method}: {exc}") from None

    async def ensure_bucket(self) -> None:
        """Create the bucket if it is not there (a fresh MinIO); an existing one is left as it is."""
        if await self._call("head_bucket") is None:
            await self._call("create_bucket")

    async def put(self, business_id: str, call_id: str, path: Path) -> None:
        key = self.key(business_id, call_id)
        data = await asyncio.to_thread(path.read_bytes)
        await self._call("put_object", Key=key, Body=data, ContentType="audio/wav")

    async def open(self, business_id: str, call_id: str) -> AsyncIterator[bytes] | None:
        """The recording's bytes, a chunk at a time; None when the store has none."""
        found = await self._call("get_object", Key=self.key(business_id, call_id))
        if found is None:
            return None
        body = found["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := await asyncio.to_thread(body.read, CHUNK):
                    yield chunk
            finally:
                await asyncio.to_thread(body.close)

        return chunks()

    async def delete(self, business_id: str, call_id: str) -> None:
        await self._call("delete_object", Key=self.key(business_id, call_id))

    async def delete_business(self, business_id: str) -> int:
        """Every recording of the business (it was deleted); how many went."""
        if not OUR_ID.fullmatch(business_id):
            raise ObjectStoreError("a recording's key is made of our own ids only")
        prefix, gone = f"{self.bucket.prefix}/{business_id}/", 0
        while True:
            page = await self._call("list_objects_v2", Prefix=prefix, MaxKeys=1000)
            keys = [{"Key": item["Key"]} for item in (page or {}).get("Contents", [])]
            if not keys:
                return gone
            await self._call("delete_objects", Delete={"Objects": keys, "Quiet": True})
            gone += len(keys)
