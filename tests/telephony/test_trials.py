"""Trial calls' tokens: one use, short-lived, bounded in number, one trial per business at a time,
and honoured only from this host: a stranger dialling `trial-...` finds no such number."""

import os
from pathlib import Path

import pytest

from tests.sip.test_useragent import _request
from voicegrid.store import make_engine, upgrade
from voicegrid.store.engine import make_sessionmaker
from voicegrid.store.models import Agent
from voicegrid.telephony.routing import InboundRouter
from voicegrid.telephony.trials import TrialBook, TrialsBusy
from voicegrid.tenancy.secrets import SecretBox


def _draft(business: str = "biz_1") -> Agent:
    return Agent(id="agt_1", business_id=business, name="draft", version=0)


def test_a_token_is_taken_once_and_only_before_it_lapses() -> None:
    book = TrialBook(ttl_s=30)
    draft = _draft()
    token = book.issue(draft, now=100.0)
    assert book.take(f"trial-{token}", now=110.0) is draft
    assert book.take(f"trial-{token}", now=110.0) is None  # taken already
    late = book.issue(draft, now=100.0)
    assert book.take(f"trial-{late}", now=130.5) is None
    assert len(book) == 0  # lapsed tokens are dropped, not kept


@pytest.mark.parametrize("user", ["trial-", "trial-short", "+15550100", "trial-" + "A" * 200])
def test_a_user_part_that_is_no_issued_token_finds_nothing(user: str) -> None:
    book = TrialBook()
    book.issue(_draft(), now=0.0)
    assert book.take(user, now=1.0) is None
    assert len(book) == 1


def test_the_book_holds_a_bounded_number_of_tokens_and_one_trial_per_business() -> None:
    book = TrialBook(max_waiting=2)
    book.issue(_draft(), now=0.0)
    book.issue(_draft(), now=0.0)
    with pytest.raises(TrialsBusy):
        book.issue(_draft(), now=1.0)
    book.begin("biz_1")
    with pytest.raises(TrialsBusy):
        book.begin("biz_1")
    book.begin("biz_2")
    book.end("biz_1")
    book.begin("biz_1")


async def test_a_trial_token_is_honoured_only_from_this_host(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await upgrade(engine)
    try:
        book = TrialBook()
        router = InboundRouter(make_sessionmaker(engine), SecretBox(os.urandom(32)), trials=book)
        token = book.issue(_draft("biz_missing"))
        invite = _request("INVITE", f"sip:trial-{token}@127.0.0.1:5060")
        stranger = await router.decide(invite, ("udp", "203.0.113.9", 5060), "c1")
        assert stranger.status == 404
        assert len(book) == 1  # the stranger did not use it up
        here = await router.decide(invite, ("udp", "127.0.0.1", 5070), "c2")
        assert here.status == 403  # taken (its business is gone: refused as a disabled one)
        assert len(book) == 0
    finally:
        await engine.dispose()
