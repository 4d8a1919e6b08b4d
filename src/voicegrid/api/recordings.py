"""A stored call's recording from the object store, when the platform keeps recordings there."""

import logging

from fastapi.responses import StreamingResponse

from voicegrid.api.context import Ctx
from voicegrid.telephony.recording_store import ObjectStoreError, RecordingStore
from voicegrid.telephony.service import TelephonyUnavailable

log = logging.getLogger(__name__)


def objects_of(ctx: Ctx) -> RecordingStore | None:
    records = ctx.services.records
    return records.objects if records is not None else None


async def from_objects(ctx: Ctx, business_id: str, call_id: str) -> StreamingResponse | None:
    """The WAV from the object store; None when it has none, or does not answer (the node that
    took the call is asked then)."""
    objects = objects_of(ctx)
    if objects is None:
        return None
    try:
        chunks = await objects.open(business_id, call_id)
    except ObjectStoreError as exc:
        log.warning("recording of %s: %s; asking the node that took the call", call_id, exc)
        return None
    if chunks is None:
        return None
    disposition = f'attachment; filename="{call_id}.wav"'
    return StreamingResponse(chunks, media_type="audio/wav", headers={"Content-Disposition": disposition})


async def erase_from_objects(ctx: Ctx, business_id: str, call_id: str | None = None) -> None:
    """Erase a call's recording (or all the business's) from the object store before anything else:
    503 if it does not answer, so that nothing is half erased."""
    objects = objects_of(ctx)
    if objects is None:
        return
    try:
        if call_id is None:
            await objects.delete_business(business_id)
        else:
            await objects.delete(business_id, call_id)
    except ObjectStoreError as exc:
        raise TelephonyUnavailable(f"recordings could not be erased from object storage: {exc}") from None
