"""Each finished call becomes a call record: its facts, its conversation and its cost, journaled and
stored by the analytics recorder. Calls that never reached a business (unknown numbers, refused
sources) leave no record: they belong to nobody.
"""

import asyncio
import contextlib
import logging

from voicegrid.analytics import CallFacts, JournalError, Recorder, build_record
from voicegrid.catalog import Catalog, rate
from voicegrid.telephony.calls import Call

log = logging.getLogger(__name__)


def facts_of(call: Call, node: str | None) -> CallFacts:
    return CallFacts(
        id=call.id,
        sip_call_id=call.call_id,
        direction=call.direction,
        business_id=call.business_id,
        agent_id=call.agent_id,
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
    )


class CallRecords:
    def __init__(self, recorder: Recorder, catalog: Catalog, node: str | None = None) -> None:
        self.recorder, self.catalog, self.node = recorder, catalog, node
        self._tasks: set[asyncio.Task[None]] = set()

    def ended(self, call: Call) -> None:
        """A `CallControl.ended_listeners` entry."""
        if call.business_id is None:
            return
        task = asyncio.get_running_loop().create_task(self._record(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, call: Call) -> None:
        wait_closed = getattr(call.agent, "wait_closed", None)
        if wait_closed is not None:  # the pipeline's last turn and usage land as it closes
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await wait_closed()
        if call.record:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await call.recorded.wait()
        facts = facts_of(call, self.node)
        conversation = call.details() if call.details is not None else None
        usage = list((conversation or {}).get("usage", []))
        cost = rate(self.catalog, usage, direction=call.direction, answered_seconds=facts.answered_s)
        record = build_record(facts, conversation, cost)
        call.call_record = record
        try:
            await self.recorder.record(record)
        except JournalError:
            log.exception("call %s: journal not written; storing directly", call.id)
            await self.recorder.write([record])

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
