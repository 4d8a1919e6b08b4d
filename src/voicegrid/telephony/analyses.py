"""The post-call analysis runner: one per node, off the media path.

Every tick (or at once, when this node stores a record) it claims due analyses from the store
(`store/analyses`: compare-and-set, a lease per claim, so nodes share the queue and a dead node's
claims lapse to the others) as far as its bounds allow: `concurrency` on the node, `per_business`
for any one business, `timeout_s` of the agent's plan for each. The embedded engine's work runs in
one worker process at a lower CPU priority (never on the event loop, which paces live audio); the
model engine's request goes through the business's provider account as background work (live turns
first, `pipeline.gating`). The record is stored before any of this: a slow or failing analysis never
delays it. A provider's or the store's failure puts the analysis back with a backoff, up to
`MAX_ATTEMPTS`; then it is recorded as failed, with its reason. A finished analysis goes into the
record (`analysis`, its cost an item of the record's cost), the extracted fields, the day's rollup,
and the business's `call.analyzed` webhook.
"""

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.analysis import llm, worker
from voicegrid.analysis.findings import CallInput
from voicegrid.analysis.plan import AnalysisPlan, LlmEngine, plan_of
from voicegrid.analysis.result import Analysis, CallFindings
from voicegrid.analytics.rollup import analysis_delta
from voicegrid.catalog import Catalog
from voicegrid.catalog.rating import Rater
from voicegrid.core.clock import utcnow
from voicegrid.providers.base import Meter
from voicegrid.providers.llm.base import LlmStage
from voicegrid.store.analyses import Due, claim_due, postpone, store_analysis
from voicegrid.store.models import Agent
from voicegrid.telephony.records import CallRecords

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
WORKER_NICE = 10
AGENT_TTL_S = 10.0  # a changed plan applies to the calls analysed from then on
MAX_AGENTS_KEPT = 1000
LEASE_S = 700.0  # a claim outlives the longest plan's timeout (600 s): a live runner is never overtaken
BACKOFF_S = (15.0, 60.0, 300.0, 900.0, 3600.0)
ModelFor = Callable[[Agent, LlmEngine, dict[str, Any]], Awaitable[LlmStage]]


def _lower_priority() -> None:
    """The worker processes below the node, from their first instruction: a spawned worker imports
    (the node's main module, then the engine's libraries) before its initializer runs, and at the
    node's own priority that took a core from the first calls' greetings."""
    for child in multiprocessing.active_children():
        with contextlib.suppress(OSError):
            if os.getpriority(os.PRIO_PROCESS, child.pid or 0) < WORKER_NICE:
                os.setpriority(os.PRIO_PROCESS, child.pid or 0, WORKER_NICE)


def _stop_pool(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Stop the worker now, even mid-analysis (its claim lapses and is taken up again): Python's
    exit joins a pool's processes, and a worker still busy (below the node's priority, on a loaded
    machine: still importing) held a stopped node for as long as it took."""
    workers = list((pool._processes or {}).values())  # private: 3.14 adds terminate_workers()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        with contextlib.suppress(OSError, ValueError):
            process.kill()


def _warmed(done: "asyncio.Future[dict[str, Any]]") -> None:
    if not done.cancelled() and done.exception() is not None:  # the worker is replaced at its next use
        log.warning("call analyses: the worker did not warm up: %s", done.exception())


@dataclass
class AnalysisCounts:
    done: int = 0
    failed: int = 0
    retried: int = 0  # put back for later (a provider or the store failed)
    store_failures: int = 0


class Analyses:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        records: CallRecords,
        catalog: Catalog,
        model_for: ModelFor,
        *,
        concurrency: int = 4,
        per_business: int = 2,
        tick_s: float = 2.0,
        per_second: float = 2.0,
        processes: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions, self.records, self.catalog, self.model_for = sessions, records, catalog, model_for
        self.concurrency, self.per_business, self.tick_s = concurrency, per_business, tick_s
        self.processes = processes
        # Started analyses per second on this node: each costs the node's own loop its database work
        # (~25 ms of CPU on SQLite), so a backlog drains at this pace and never crowds the live calls.
        self.per_second = per_second
        self.clock = clock  # what the rate is measured on (a test's own)
        self._tokens, self._filled = max(1.0, per_second), clock()
        self.counts = AnalysisCounts()
        self.running: Counter[str] = Counter()  # business -> analyses under way on this node
        self._tasks: set[asyncio.Task[None]] = set()
        self._kick = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._agents: dict[str, tuple[float, Agent | None]] = {}  # id -> (read at, row)
        self._warm: asyncio.Future[dict[str, Any]] | None = None

    def kick(self) -> None:
        """A record was stored: look for due analyses now rather than at the next tick."""
        self._kick.set()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        """The embedded engine's worker (started at its first analysis, not before)."""
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=worker.start,
            initargs=(os.getpid(),),  # the worker leaves when this process is gone
        )

    def start(self) -> None:
        """Start the worker process and load the embedded engine in it (before the node takes calls),
        and run the loop: ticks, and at once when kicked (`tick` alone works without it)."""
        self._pool = self._new_pool()
        self._warm = asyncio.get_running_loop().run_in_executor(self._pool, worker.warm_up)
        _lower_priority()
        self._warm.add_done_callback(_warmed)
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="call-analyses")

    async def aclose(self) -> None:
        if self._warm is not None and not self._warm.done():
            self._warm.cancel()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._tasks):  # unfinished claims lapse and are taken up again
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pool is not None:
            _stop_pool(self._pool)

    async def wait_idle(self) -> None:
        """Until no analysis is under way on this node."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # the store may be away: the queue waits in it
                log.exception("call analyses: tick failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._wait_s()):
                    await self._kick.wait()
            self._kick.clear()

    def _take_tokens(self, wanted: int) -> int:
        clock = self.clock()
        self._tokens = min(max(1.0, self.per_second), self._tokens + (clock - self._filled) * self.per_second)
        self._filled = clock
        granted = min(wanted, int(self._tokens))
        self._tokens -= granted
        return granted

    def _wait_s(self) -> float:
        """Until the next tick: the tick period, or sooner when only the rate held analyses back."""
        if self._tokens < 1.0 and len(self._tasks) < self.concurrency:
            return min(self.tick_s, (1.0 - self._tokens) / self.per_second)
        return self.tick_s

    async def tick(self, now: float | None = None) -> int:
        room = self.concurrency - len(self._tasks)
        if room <= 0:
            return 0
        room = self._take_tokens(room)
        if room <= 0:
            return 0
        full = frozenset(b for b, n in self.running.items() if n >= self.per_business)
        async with self.sessions() as session:
            due = await claim_due(session, now or time.time(), room, LEASE_S, skip=full)
        self._tokens += room - len(due)  # what was not claimed is not spent
        started = 0
        for item in due:
            if self.running[item.business_id] >= self.per_business:
                await self._later(item, 1.0)  # its business reached its bound in this batch: soon
                continue
            started += 1
            self.running[item.business_id] += 1
            task = asyncio.get_running_loop().create_task(self._analyse(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return started

    async def _later(self, item: Due, delay_s: float) -> None:
        async with self.sessions() as session:
            await postpone(session, item.call_id, time.time() + delay_s)

    async def _analyse(self, item: Due) -> None:
        try:
            await self._one(item)
        except Exception as exc:
            self.counts.retried += 1
            log.warning("call %s: analysis put back (%s: %s)", item.call_id, type(exc).__name__, exc)
            with contextlib.suppress(Exception):
                if item.attempts >= MAX_ATTEMPTS:
                    await self._finish(item, self._failed(f"{MAX_ATTEMPTS} attempts; last: {exc}"[:500]), [])
                else:
                    await self._later(item, BACKOFF_S[min(item.attempts, len(BACKOFF_S)) - 1])
        finally:
            self.running[item.business_id] -= 1
            if self.running[item.business_id] <= 0:
                del self.running[item.business_id]
            self._kick.set()  # room again: the next due analysis now, not at the next tick

    @staticmethod
    def _failed(reason: str) -> Analysis:
        return Analysis(status="failed", engine="embedded", reason=reason)

    async def _agent(self, item: Due) -> Agent | None:
        """The call's agent as read in the last AGENT_TTL_S (a backlog of one agent's calls reads it
        once, not once a call); None when it is gone."""
        if item.agent_id is None:
            return None
        kept = self._agents.get(item.agent_id)
        if kept is None or time.monotonic() - kept[0] > AGENT_TTL_S:
            async with self.sessions() as session:
                agent = await session.get(Agent, item.agent_id)
            kept = self._agents[item.agent_id] = (time.monotonic(), agent)
            while len(self._agents) > MAX_AGENTS_KEPT:
                self._agents.pop(next(iter(self._agents)))
        agent = kept[1]
        return agent if agent is not None and agent.business_id == item.business_id else None

    async def _one(self, item: Due) -> None:
        agent = await self._agent(item)
        if agent is None:
            await self._finish(item, self._failed("the agent was deleted"), [])
            return
        plan = plan_of(agent.analysis)
        started = time.monotonic()
        meter = Meter()
        async with asyncio.timeout(plan.timeout_s):
            analysis = await self._run_engine(item, agent, plan, meter)
        analysis.ms = round((time.monotonic() - started) * 1000, 1)
        await self._finish(item, analysis, [u.as_dict() for u in meter.lines()])

    async def _run_engine(self, item: Due, agent: Agent, plan: AnalysisPlan, meter: Meter) -> Analysis:
        kb, language = dict(agent.knowledge_base or {}), agent.language
        if plan.engine == "embedded" or plan.llm is None:
            found = await self._in_worker(worker.embedded_analysis, item.record, kb, language, plan.stored())
            return Analysis.model_validate(found)
        facts = CallFindings.model_validate(
            await self._in_worker(worker.call_findings, item.record, kb, language)
        )
        model = await self.model_for(agent, plan.llm, {"response_format": llm.response_format(plan)})
        analysis = await llm.analyse(CallInput(item.record, kb, language), plan, facts, model, meter)
        analysis.provider, analysis.model = plan.llm.provider, plan.llm.model or model.config.model
        return analysis

    async def _in_worker(self, work: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        """`work` in the worker process; a worker that died (killed, out of memory) is replaced for the
        next analysis, and this one is put back."""
        if self._pool is None:
            self._pool = self._new_pool()
        pool = self._pool
        try:
            running = asyncio.get_running_loop().run_in_executor(pool, work, *args)
            _lower_priority()  # a worker started by this submission
            return await running
        except concurrent.futures.BrokenExecutor:
            if pool is self._pool:
                log.warning("call analyses: the worker process died; starting another")
                self._pool = self._new_pool()
                pool.shutdown(wait=False, cancel_futures=True)
            raise

    async def _finish(self, item: Due, analysis: Analysis, usage: list[dict[str, Any]]) -> None:
        analysis.at = utcnow().isoformat()
        analysis.attempts = item.attempts
        billing = await self.records.billing(item.business_id)
        rater = Rater(self.catalog, self.catalog.at(utcnow().date()), billing.negotiated if billing else ())
        items = [cost for line in usage for cost in rater.usage(line)]
        cost = sum((i.amount for i in items), Decimal(0))
        percent = billing.markup.percent if billing and billing.markup else Decimal(0)
        billable = float(cost * (1 + percent / 100))
        analysis.cost = float(cost)
        cost_items = [{**i.as_dict(), "component": "analysis"} for i in items]
        document = analysis.document()
        fields = {
            k: str(v)
            for k, v in (analysis.extracted or {}).items()
            if isinstance(v, str | int | float | bool)
        }
        after = {**item.record, "analysis": document}
        cost_doc = dict(after.get("cost") or {})
        cost_doc["total"] = float(cost_doc.get("total") or 0.0) + float(cost)
        after["cost"] = cost_doc
        rollup = analysis_delta(after, float(cost), billable)
        try:
            async with self.sessions() as session:
                stored = await store_analysis(
                    session, item.call_id, document, cost_items, billable, fields, rollup
                )
        except Exception:
            self.counts.store_failures += 1
            raise
        if stored is None:
            return  # another runner finished it first
        if analysis.status == "done":
            self.counts.done += 1
        else:
            self.counts.failed += 1
        data = {
            "id": item.call_id,
            "business_id": item.business_id,
            "agent_id": item.agent_id,
            "analysis": document,
            "cost": stored.get("cost"),
        }
        try:
            await self.records.event(item.business_id, "call.analyzed", data, billing)
        except Exception:  # the webhook's own outbox retries; a failure here is only logged
            log.exception("call %s: call.analyzed not queued", item.call_id)
