"""Admission of a call against its business's and reseller's limits, on both backends."""

import asyncio

from voicegrid.capacity.backend import Backend
from voicegrid.capacity.leases import Lease, Refusal
from voicegrid.store.models import Business, Reseller
from voicegrid.telephony.admission import Admission


def business(**limits: object) -> Business:
    return Business(id="biz_1", reseller_id="res_1", name="Bella", **limits)


async def test_the_months_minutes_once_spent_refuse_every_call_without_queueing(backend: Backend) -> None:
    admission = Admission(backend)
    biz = business(monthly_minutes=1)
    lease = await admission.admit(biz, None, "inbound")
    assert isinstance(lease, Lease)
    admission._started[lease.id] = (admission._started[lease.id][0] - 61, biz.id)  # a 61-second call
    await admission.release(lease)
    refused = await admission.admit(biz, None, "outbound")
    assert isinstance(refused, Refusal)
    assert (refused.limit, refused.reason, refused.queueable) == (
        "business monthly_minutes=1",
        "monthly_minutes",
        False,
    )
    text = admission.metrics.render().decode()
    assert 'voicegrid_admission_rejections_total{direction="outbound",reason="monthly_minutes"} 1.0' in text


async def test_outbound_calls_per_second_are_capped_and_inbound_calls_are_not(backend: Backend) -> None:
    admission = Admission(backend)
    biz = business(max_outbound_cps=2)
    answers = [await admission.admit(biz, None, "outbound") for _ in range(3)]
    assert [isinstance(a, Lease) for a in answers] == [True, True, False]
    refused = answers[2]
    assert isinstance(refused, Refusal)
    assert (refused.limit, refused.reason, refused.queueable) == (
        "business max_outbound_cps=2",
        "outbound_cps",
        True,
    )
    assert isinstance(await admission.admit(biz, None, "inbound"), Lease)
    await asyncio.sleep(1.05)
    assert isinstance(await admission.admit(biz, None, "outbound"), Lease)


async def test_reserved_inbound_headroom_of_the_reseller_holds_back_all_its_businesses_outbound_calls(
    backend: Backend,
) -> None:
    admission = Admission(backend)
    reseller = Reseller(id="res_1", name="Acme", max_concurrent_calls=3, reserved_inbound_calls=1)
    biz = business(max_concurrent_calls=10)
    assert isinstance(await admission.admit(biz, reseller, "outbound"), Lease)
    assert isinstance(await admission.admit(biz, reseller, "outbound"), Lease)
    refused = await admission.admit(biz, reseller, "outbound")
    assert isinstance(refused, Refusal)
    assert refused.limit == "reseller max_concurrent_calls=3"
    assert isinstance(await admission.admit(biz, reseller, "inbound"), Lease)
    text = admission.metrics.render().decode()
    assert 'voicegrid_calls_in_use{business="biz_1",direction="outbound"} 2.0' in text
    assert 'voicegrid_calls_in_use{business="biz_1",direction="inbound"} 1.0' in text
    assert 'voicegrid_calls_limit{business="biz_1"} 10.0' in text


async def test_a_queued_outbound_call_is_admitted_when_a_call_of_its_business_hangs_up(
    backend: Backend,
) -> None:
    admission = Admission(backend)
    biz = business(max_concurrent_calls=1)
    first = await admission.admit(biz, None, "outbound")
    assert isinstance(first, Lease)
    refused = await admission.admit(biz, None, "outbound")
    assert isinstance(refused, Refusal)
    waiting = asyncio.create_task(admission.wait_in_queue(biz, None, refused, 5))
    await asyncio.sleep(0.05)
    assert 'voicegrid_outbound_queue_length{business="biz_1"} 1.0' in admission.metrics.render().decode()
    admission.release_soon(first)
    assert isinstance(await asyncio.wait_for(waiting, 2), Lease)
    assert await backend.count("business:biz_1") == 1
    await admission.aclose()
