"""The webhook outbox in the database, shared by every node (`webhook_deliveries`).

Each node still writes its events to its own outbox files first (they survive the database being
away); this table is where the other nodes see them. A node owns the events it queued, and renews
their lease every few seconds while it lives; an event whose lease lapsed (its node died, or lost
the database for longer than a lease) is taken over by the next node that sweeps, in one statement
per batch (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two nodes never take the same one), and sent
from there with its attempt count carried on. A node that comes back drops the events of its
outbox that another node took over meanwhile.

Delivered events stay a day (`keep_delivered_s`: a node that comes back must learn they were
sent); given-up ones stay for the delivery log of every node, for `keep_given_up_s`.
"""

import logging
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.analytics.outbox import Delivery
from voicegrid.store.models import WebhookDelivery

log = logging.getLogger(__name__)
WAITING, GIVEN_UP, DELIVERED = "waiting", "given_up", "delivered"


def _delivery(row: WebhookDelivery) -> Delivery:
    return Delivery(
        id=row.id, url=row.url, business_id=row.business_id, event=row.event, body=row.body,
        attempt=row.attempt, next_at=row.next_at, created_at=row.created_at, call_id=row.call_id,
        last_status=row.last_status, last_error=row.last_error,
    )  # fmt: skip


def _fields(delivery: Delivery) -> dict[str, object]:
    return {
        "business_id": delivery.business_id, "url": delivery.url, "event": delivery.event,
        "call_id": delivery.call_id, "body": delivery.body, "attempt": delivery.attempt,
        "next_at": delivery.next_at, "created_at": delivery.created_at,
        "last_status": delivery.last_status, "last_error": delivery.last_error[:500],
    }  # fmt: skip


class SharedDeliveries:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        node: str,
        *,
        lease_s: float = 15.0,
        batch: int = 200,
        keep_given_up_s: float = 7 * 86400,
        keep_delivered_s: float = 86400,
    ) -> None:
        self.sessions, self.node, self.lease_s = sessions, node, lease_s
        self.batch, self.keep_given_up_s, self.keep_delivered_s = batch, keep_given_up_s, keep_delivered_s

    async def keep(self, delivery: Delivery, now: float) -> None:
        """Write (or update) a waiting event, owned by this node."""
        async with self.sessions() as session:
            row = await session.get(WebhookDelivery, delivery.id)
            fields = {**_fields(delivery), "state": WAITING, "owner": self.node}
            if row is None:
                session.add(WebhookDelivery(id=delivery.id, lease_until=now + self.lease_s, **fields))
            else:
                for name, value in fields.items():
                    setattr(row, name, value)
                row.lease_until = now + self.lease_s
            await session.commit()

    async def finish(self, delivery: Delivery, *, delivered: bool, now: float) -> None:
        async with self.sessions() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id)
                .values(**_fields(delivery), state=DELIVERED if delivered else GIVEN_UP, finished_at=now)
            )
            await session.commit()

    async def renew(self, now: float) -> None:
        """Renew the lease of every event this node owns; forget given-up ones past their keep."""
        async with self.sessions() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.owner == self.node, WebhookDelivery.state == WAITING)
                .values(lease_until=now + self.lease_s)
            )
            for state, keep_s in ((GIVEN_UP, self.keep_given_up_s), (DELIVERED, self.keep_delivered_s)):
                await session.execute(
                    delete(WebhookDelivery).where(
                        WebhookDelivery.state == state, WebhookDelivery.finished_at < now - keep_s
                    )
                )
            await session.commit()

    async def take_over(self, now: float) -> list[Delivery]:
        """Events whose owner's lease lapsed, now this node's (at most `batch` per call)."""
        async with self.sessions() as session:
            query = (
                select(WebhookDelivery)
                .where(WebhookDelivery.state == WAITING, WebhookDelivery.lease_until < now)
                .order_by(WebhookDelivery.next_at)
                .limit(self.batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.scalars(query)).all())
            taken = []
            for row in rows:
                if row.owner != self.node:
                    log.info("webhooks: event %s of node %s taken over", row.id, row.owner)
                row.owner, row.lease_until = self.node, now + self.lease_s
                taken.append(_delivery(row))
            await session.commit()
        return taken

    async def taken_by_others(self, ids: Iterable[str], now: float) -> set[str]:
        """Of this node's outbox files, the events another node owns now or that ended meanwhile
        (an event the database never heard of is this node's to send)."""
        wanted = list(ids)
        if not wanted:
            return set()
        found: set[str] = set()
        async with self.sessions() as session:
            for start in range(0, len(wanted), 500):
                rows = await session.execute(
                    select(WebhookDelivery.id, WebhookDelivery.owner, WebhookDelivery.state).where(
                        WebhookDelivery.id.in_(wanted[start : start + 500])
                    )
                )
                found.update(i for i, owner, state in rows if owner != self.node or state != WAITING)
        return found

    async def log_of(self, business_id: str, limit: int = 500) -> tuple[list[Delivery], list[Delivery]]:
        """The business's waiting events (on every node) and those given up, newest first."""
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.business_id == business_id, WebhookDelivery.state != DELIVERED)
                    .order_by(WebhookDelivery.created_at.desc())
                    .limit(limit)
                )
            ).all()
        waiting = [_delivery(r) for r in rows if r.state == WAITING]
        return waiting, [_delivery(r) for r in rows if r.state == GIVEN_UP]

    async def revive(self, business_id: str, now: float) -> list[Delivery]:
        """The business's given-up events, waiting again on this node with a fresh count."""
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.business_id == business_id, WebhookDelivery.state == GIVEN_UP)
                    .limit(self.batch)
                )
            ).all()
            revived = []
            for row in rows:
                row.state, row.owner, row.lease_until = WAITING, self.node, now + self.lease_s
                row.attempt, row.next_at, row.finished_at = 0, now, None
                revived.append(replace(_delivery(row), attempt=0, next_at=now))
            await session.commit()
        return revived
