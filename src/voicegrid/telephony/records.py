"""Each finished call becomes a call record: its facts, its conversation and its cost, journaled and
stored by the analytics recorder. Calls that never reached a business (unknown numbers, refused
sources) leave no record: they belong to nobody.
"""

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.analytics import CallFacts, JournalError, Recorder, build_record
from voicegrid.analytics.metrics import CallMetrics
from voicegrid.analytics.privacy import masked
from voicegrid.analytics.webhooks import WebhookSender
from voicegrid.catalog import Catalog, rate
from voicegrid.core.clock import utcnow
from voicegrid.store.billing import Billing, billing_of
from voicegrid.store.call_records import erase_content, expired_content
from voicegrid.telephony.book import Call
from voicegrid.telephony.recording_file import recording_path
from voicegrid.telephony.recording_store import ObjectStoreError, RecordingStore

if TYPE_CHECKING:  # OpenTelemetry loads only when traces are exported
    from voicegrid.analytics.tracing import CallTracer

log = logging.getLogger(__name__)
MAX_KNOWN_BUSINESSES = 100_000


def facts_of(call: Call, node: str | None) -> CallFacts:
    return CallFacts(
        id=call.id,
        sip_call_id=call.call_id,
        direction=call.direction,
        transport=call.transport,
        business_id=call.business_id,
        agent_id=call.agent_id,
        agent_version=call.agent_version,
        from_number=call.from_number,
        to=call.to,
        trunk_id=call.trunk_id,
        node=node,
        created_at=call.created_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        outcome=call.outcome,
        ended_by=call.ended_by,
        transfer_to=call.transfer_to,
        recording=call.record,
        media=dict(call.media_summary),
        metadata=dict(call.metadata),
        amd=call.amd,
    )


class CallRecords:
    def __init__(
        self,
        recorder: Recorder,
        catalog: Catalog,
        sessions: async_sessionmaker[AsyncSession],
        node: str | None = None,
        metrics: CallMetrics | None = None,
        webhooks: WebhookSender | None = None,
        tracer: "CallTracer | None" = None,
        objects: RecordingStore | None = None,
    ) -> None:
        self.recorder, self.catalog, self.sessions, self.node = recorder, catalog, sessions, node
        self.metrics = metrics
        self.webhooks, self.tracer = webhooks, tracer
        self.objects = objects  # recordings in object storage, for every node (None: this node's disk)
        self._tasks: set[asyncio.Task[None]] = set()
        # The last settings read of each business (rates, markup, masking, webhook URL): what a call
        # ending while the database is away is recorded, masked and announced with.
        self._known: OrderedDict[str, Billing] = OrderedDict()
        self.stale: set[str] = set()  # businesses whose last read failed: their settings are as known

    async def billing(self, business_id: str) -> Billing | None:
        """The business's rates and markup, read now or, if the database cannot say within 2 s, as last
        read (then in `stale`); None when it was never read (the record is then masked: when unsure,
        mask)."""
        try:
            async with asyncio.timeout(2.0), self.sessions() as session:
                found = await billing_of(session, business_id)
        except Exception as exc:  # the record is made all the same, with what was last known
            log.warning("call records: billing of %s unavailable (%s)", business_id, exc)
            known = self._known.get(business_id)
            if known is not None:
                self.stale.add(business_id)
            return known
        self.stale.discard(business_id)
        if found is not None:
            self._known[business_id] = found
            self._known.move_to_end(business_id)
            while len(self._known) > MAX_KNOWN_BUSINESSES:
                self._known.popitem(last=False)
        return found

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def ended(self, call: Call) -> None:
        """A `CallBook.ended_listeners` entry."""
        if call.business_id is not None:
            self._spawn(self._record(call))
        else:  # nothing to record: let go of its pipeline once the other listeners have seen it
            asyncio.get_running_loop().call_soon(call.settle)

    def answered(self, call: Call) -> None:
        """A `CallBook.answered_listeners` entry: the business's `call.started` event."""
        if call.business_id is not None and self.webhooks is not None:
            self._spawn(self._started(call))

    async def _notify(
        self, billing: Billing | None, business_id: str, event: str, data: dict[str, Any]
    ) -> None:
        if self.webhooks is not None and billing and billing.webhook_url:
            await self.webhooks.send(billing.webhook_url, business_id, event, data)

    async def event(
        self, business_id: str, event: str, data: dict[str, Any], billing: Billing | None = None
    ) -> None:
        """Another event of the business's (a campaign's, an analysis's), to its webhook URL like the
        call events; `billing`: the business's settings when the caller has just read them."""
        await self._notify(billing or await self.billing(business_id), business_id, event, data)

    async def _started(self, call: Call) -> None:
        facts = facts_of(call, self.node)
        data = {
            "id": facts.id, "business_id": facts.business_id, "agent_id": facts.agent_id,
            "direction": facts.direction, "from": facts.from_number, "to": facts.to,
            "created_at": facts.created_at.isoformat(),
            "answered_at": facts.answered_at.isoformat() if facts.answered_at else None,
        }  # fmt: skip
        billing = await self.billing(call.business_id or "")
        await self._notify(billing, call.business_id or "", "call.started", data)

    async def _record(self, call: Call) -> None:
        try:
            await self._make_record(call)
        finally:
            call.settle()  # made or not, the call's pipeline is let go

    async def _make_record(self, call: Call) -> None:
        if call.conversation is not None:  # the pipeline's last turn and usage land as it closes
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await call.conversation.wait_closed()
        if call.record:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await call.recorded.wait()
            if self.objects is not None and call.recording_path is not None and call.business_id:
                self._spawn(self._upload(self.objects, call.business_id, call.id, call.recording_path))
        facts = facts_of(call, self.node)
        conversation = call.summary()
        usage = list((conversation or {}).get("usage", []))
        billing = await self.billing(call.business_id or "")
        cost = rate(
            self.catalog,
            usage,
            direction=call.direction,
            answered_seconds=facts.answered_s,
            carrier=call.transport,
            on=facts.created_at.date(),
            negotiated=billing.negotiated if billing else (),
            markup=billing.markup if billing else None,
        )
        built = build_record(facts, conversation, cost)
        if billing is None or billing.mask_pii:  # settings unknown: masked, to be safe
            built = masked(built)
        if billing is None:
            built.cost["note"] = "rated at catalog prices: the business's rates were unavailable"
        elif call.business_id in self.stale:
            built.cost["note"] = "rated at the business's rates as last read: the database was unavailable"
        call.call_record = built  # as stored and sent: masked, noted
        record = built.document()
        if self.metrics is not None:
            self.metrics.observe(record)
        if self.tracer is not None:
            try:  # the pipeline stamps turns on the monotonic clock; the trace wants Unix time
                turns = list((conversation or {}).get("turns", []))
                self.tracer.call_ended(record, turns, time.time() - time.monotonic())
            except Exception:  # a trace is worth a log line, never the record
                log.exception("call %s: no trace", call.id)
        try:
            await self.recorder.record(record)
        except JournalError:
            log.exception("call %s: journal not written; storing directly", call.id)
            try:
                await self.recorder.write([record])
            except Exception as exc:  # neither journal nor store: set aside with its reason
                await self.recorder.set_aside(record, exc)
        await self._notify(billing, call.business_id or "", "call.ended", record)

    async def _upload(self, objects: RecordingStore, business_id: str, call_id: str, path: Path) -> None:
        try:
            await objects.put(business_id, call_id, path)
        except (ObjectStoreError, OSError) as exc:  # the node's own copy stays, served from it
            log.warning("call %s: recording not uploaded: %s", call_id, exc)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class Retention:
    """Erases the content of records past their business's `retention_days` (transcripts, tool
    arguments, this node's recordings and the object store's), every `every_s`; figures stay. Each
    node sweeps its own WAVs."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        recordings_dir: Path | None,
        every_s: float = 3600.0,
        objects: RecordingStore | None = None,
    ) -> None:
        self.sessions, self.recordings_dir, self.every_s = sessions, recordings_dir, every_s
        self.objects = objects
        self.erased = 0

    async def sweep(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        async with self.sessions() as session:
            due = await expired_content(session, now)
        erased = 0
        for business_id, call_id in due:
            if self.objects is not None:
                try:  # first: a record whose recording is still stored stays due, for the next sweep
                    await self.objects.delete(business_id, call_id)
                except ObjectStoreError as exc:
                    log.warning(
                        "retention: %s kept until its recording leaves object storage: %s", call_id, exc
                    )
                    continue
            async with self.sessions() as session:
                await erase_content(session, business_id, call_id, now)
            if self.recordings_dir is not None:
                wav = recording_path(self.recordings_dir, business_id, call_id)
                await asyncio.to_thread(wav.unlink, missing_ok=True)
            erased += 1
        self.erased += erased
        return erased

    async def run(self) -> None:
        while True:
            try:
                while await self.sweep() > 0:  # a backlog goes in batches, one after another
                    pass
            except Exception:  # the database may be down: try again next time
                log.exception("retention sweep failed")
            await asyncio.sleep(self.every_s)
