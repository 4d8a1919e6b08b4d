"""Campaigns through the API: made from JSON or a CSV file with a report of every row refused and
nothing half-imported, moved through their states, exported; each business sees only its own."""

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.conftest import World
from tests.support.platform import Running

CSV = {"Content-Type": "text/csv"}
TRUNK = {"name": "out", "outbound_host": "127.0.0.1", "outbound_port": 5099, "caller_ids": ["+12125550100"]}
AGENT = {"name": "reminders", "greeting": "Hi {name}, about your {item}."}


async def _ready(run: Running, business: str) -> str:
    base = f"/v1/businesses/{business}"
    await run.ok("POST", f"{base}/trunks", json=TRUNK)
    return str((await run.ok("POST", f"{base}/agents", json=AGENT))["id"])


async def _import(run: Running, business: str, campaign: str, body: str | bytes) -> httpx.Response:
    path = f"/v1/businesses/{business}/campaigns/{campaign}/contacts/import"
    return await run.admin("POST", path, content=body, headers=CSV)


async def _each_refused(
    run: Running, method: str, path: str, body: dict[str, Any], cases: list[tuple[dict[str, Any], str]]
) -> None:
    """Each case (what is added to `body`, and the field the answer must name) is refused with 422."""
    for extra, field in cases:
        refused = await run.admin(method, path, json={**body, **extra})
        assert refused.status_code == 422, (extra, refused.text)
        assert field in refused.text, (extra, refused.text)


async def test_contacts_in_json_are_taken_or_refused_row_by_row(run: Running, world: World) -> None:
    agent = await _ready(run, world.business_a1)
    contacts = [
        {"number": "+1 212 555 0199", "name": "Ann", "variables": {"item": "pizza", "size": "L"}},
        {"number": "+15550100"},
        {"number": "(212) 555-0199"},
        {"number": "+12125550123", "timezone": "Mars/Olympus"},
    ]
    body = {"name": "reminders", "agent_id": agent, "contacts": contacts, "default_region": "US"}
    made = await run.ok("POST", f"/v1/businesses/{world.business_a1}/campaigns", json=body)
    report = made["import_report"]
    assert report["added"] == 1
    assert [(r["row"], r["reason"]) for r in report["refused"]] == [
        (3, "not a valid number in its country's numbering plan"),
        (4, "the same number as row 2"),
        (5, "'Mars/Olympus' is not an IANA time zone"),
    ]
    assert report["ignored_columns"] == ["size"]  # the agent names no {size}
    assert made["state"] == "draft"
    assert made["progress"] == {"waiting": 1, "calling": 0, "done": 0}
    listed = await run.ok("GET", f"/v1/businesses/{world.business_a1}/campaigns/{made['id']}/contacts")
    (ann,) = listed["items"]
    assert (ann["number"], ann["timezone"], ann["variables"]) == (
        "+12125550199",
        "America/New_York",
        {"item": "pizza"},
    )


async def test_a_campaign_is_checked_against_the_business_before_it_is_made(
    run: Running, world: World
) -> None:
    agent = await _ready(run, world.business_a1)
    other_agent = await _ready(run, world.business_a2)
    base = f"/v1/businesses/{world.business_a1}/campaigns"
    cases = [
        ({"agent_id": other_agent}, "agent_id"),
        ({"agent_id": agent, "caller_ids": ["+12125550999"]}, "caller_ids"),
        ({"agent_id": agent, "trunk_id": "trk_not_ours"}, "trunk_id"),
        ({"agent_id": agent, "window": {"start": "20:00", "end": "09:00"}}, "window"),
        ({"agent_id": agent, "window": {"days": [7]}}, "days"),
        ({"agent_id": agent, "amd": "message"}, "voicemail_message"),
        ({"agent_id": agent, "retries": {"answered": {"attempts": 2, "delay_s": 1}}}, "retries"),
        ({"agent_id": agent, "max_concurrent": 0}, "max_concurrent"),
    ]
    await _each_refused(run, "POST", base, {"name": "c"}, cases)
    assert (await run.ok("GET", base))["items"] == []


async def test_a_csv_import_reports_what_it_took_and_a_bad_file_stores_nothing(
    run: Running, world: World
) -> None:
    agent = await _ready(run, world.business_a1)
    base = f"/v1/businesses/{world.business_a1}/campaigns"
    campaign = (await run.ok("POST", base, json={"name": "c", "agent_id": agent}))["id"]
    good = "number,name,item,colour\n+12125550199,Ann,pizza,blue\nnonsense,Bob,,\n+12125550199,Ann again,,\n"
    report = (await _import(run, world.business_a1, campaign, good)).json()
    assert (report["added"], report["ignored_columns"]) == (1, ["colour"])
    assert [r["row"] for r in report["refused"]] == [3, 4]
    again = (await _import(run, world.business_a1, campaign, good)).json()
    assert again["added"] == 0
    assert next((r["row"], r["reason"]) for r in again["refused"]) == (2, "already in the campaign")
    too_many = "number\n" + "".join(f"+1212{5550000 + i:07d}\n" for i in range(100_001))
    for body, why in (
        (b"phone\n+12125550123\n", "no `number` column"),
        (b"number\n\xff\xfe\n", "not UTF-8"),
        (too_many.encode(), "over 100000 rows"),
    ):
        refused = await _import(run, world.business_a1, campaign, body)
        assert refused.status_code == 422, why
        assert why in refused.text
    progress = (await run.ok("GET", f"{base}/{campaign}"))["progress"]
    assert progress["waiting"] == 1  # only Ann, from the first import


async def test_a_file_of_100000_contacts_is_imported_whole_with_its_report(
    run: Running, world: World
) -> None:
    agent = await _ready(run, world.business_a1)
    base = f"/v1/businesses/{world.business_a1}/campaigns"
    campaign = (await run.ok("POST", base, json={"name": "big", "agent_id": agent}))["id"]
    rows = "".join(f"+1212{5550000 + i:07d},guest {i},pizza\n" for i in range(99_998))
    body = "number,name,item\n" + rows + "+15550100,bad,\n+12125550000,duplicate,\n"
    report = (await _import(run, world.business_a1, campaign, body)).json()
    assert report["added"] == 99_998
    assert [r["row"] for r in report["refused"]] == [100_000, 100_001]
    assert (await run.ok("GET", f"{base}/{campaign}"))["progress"]["waiting"] == 99_998


async def test_a_campaign_moves_through_its_states_and_cancelling_ends_the_waiting(
    run: Running, world: World
) -> None:
    agent = await _ready(run, world.business_a1)
    base = f"/v1/businesses/{world.business_a1}/campaigns"
    contacts = [{"number": f"+1212555{n:04d}"} for n in range(100, 103)]
    campaign = (await run.ok("POST", base, json={"name": "c", "agent_id": agent, "contacts": contacts}))["id"]
    one = f"{base}/{campaign}"
    assert (await run.admin("POST", f"{one}/pause")).status_code == 409  # a draft is not running
    assert (await run.ok("POST", f"{one}/start"))["state"] == "running"
    assert (await run.admin("POST", f"{one}/start")).status_code == 409
    assert (await run.ok("POST", f"{one}/pause"))["state"] == "paused"
    assert (await run.ok("POST", f"{one}/resume"))["state"] == "running"
    cancelled = await run.ok("POST", f"{one}/cancel")
    assert cancelled["state"] == "cancelled"
    assert cancelled["progress"]["done:cancelled"] == 3
    late = await run.admin("POST", f"{one}/contacts", json={"contacts": [{"number": "+12125550150"}]})
    assert late.status_code == 409
    assert (await run.admin("POST", f"{one}/resume")).status_code == 409


async def test_a_draft_campaign_changes_what_is_given_checked_as_a_new_one_but_never_its_agent(
    run: Running, world: World
) -> None:
    agent = await _ready(run, world.business_a1)
    other_agent = await _ready(run, world.business_a2)
    base = f"/v1/businesses/{world.business_a1}/campaigns"
    made = await run.ok("POST", base, json={"name": "c", "agent_id": agent, "max_attempts": 3})
    one = f"{base}/{made['id']}"
    cases = [
        ({"agent_id": other_agent}, "agent_id"),
        ({"name": None}, "name"),
        ({"caller_ids": ["+12125550999"]}, "caller_ids"),
        ({"trunk_id": "trk_not_ours"}, "trunk_id"),
        ({"window": {"start": "20:00", "end": "09:00"}}, "window"),
        ({"amd": "message"}, "voicemail_message"),
        ({"voicemail_message": "Hi {nickname}"}, "nickname"),  # no contact column was taken for it
        ({"max_concurrent": 0}, "max_concurrent"),
    ]
    await _each_refused(run, "PATCH", one, {}, cases)
    shown = await run.ok("GET", one)
    assert shown | {"results": None} == made  # nothing of a refused change was kept
    changed = await run.ok(
        "PATCH", one, json={"max_concurrent": 9, "voicemail_message": "Hi {name}, call us", "amd": "message"}
    )
    assert (changed["max_concurrent"], changed["amd"], changed["voicemail_message"]) == (
        9, "message", "Hi {name}, call us",
    )  # fmt: skip
    assert {k: v for k, v in changed.items() if k not in ("max_concurrent", "amd", "voicemail_message",
            "updated_at")} == {k: v for k, v in made.items() if k not in ("max_concurrent", "amd",
            "voicemail_message", "updated_at")}  # fmt: skip
    assert (await run.ok("POST", f"{one}/cancel"))["state"] == "cancelled"
    late = await run.admin("PATCH", one, json={"max_concurrent": 2})
    assert late.status_code == 409, late.text


async def test_a_campaign_started_for_a_later_time_waits_scheduled_and_may_change_meanwhile(
    run: Running, world: World
) -> None:
    agent = await _ready(run, world.business_a1)
    base = f"/v1/businesses/{world.business_a1}/campaigns"
    one = f"{base}/" + (await run.ok("POST", base, json={"name": "c", "agent_id": agent}))["id"]
    naive = await run.admin("POST", f"{one}/start", json={"at": "2030-01-01T09:00:00"})
    assert naive.status_code == 422, naive.text
    assert "time zone" in naive.text
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    scheduled = await run.ok("POST", f"{one}/start", json={"at": later.isoformat()})
    assert (scheduled["state"], scheduled["starts_at"], scheduled["started_at"]) == (
        "scheduled", later.isoformat().replace("+00:00", "Z"), None,
    )  # fmt: skip
    assert (await run.ok("PATCH", one, json={"max_concurrent": 3}))["max_concurrent"] == 3
    assert (await run.admin("POST", f"{one}/pause")).status_code == 409  # not running yet
    sooner = later - timedelta(minutes=30)
    moved = await run.ok("POST", f"{one}/start", json={"at": sooner.isoformat()})
    assert (moved["state"], moved["starts_at"]) == ("scheduled", sooner.isoformat().replace("+00:00", "Z"))
    now = await run.ok("POST", f"{one}/start", json={"at": "2026-01-01T00:00:00Z"})  # past: now
    assert (now["state"], now["starts_at"]) == ("running", None)
    assert now["started_at"] is not None
    assert (await run.admin("POST", f"{one}/start")).status_code == 409


async def test_the_export_has_every_contact_and_keeps_formulas_as_text(run: Running, world: World) -> None:
    agent = await _ready(run, world.business_a1)
    base = f"/v1/businesses/{world.business_a1}/campaigns"
    contacts = [{"number": "+12125550199", "name": '=HYPERLINK("http://x")'}, {"number": "+12125550198"}]
    campaign = (await run.ok("POST", base, json={"name": "c", "agent_id": agent, "contacts": contacts}))["id"]
    exported = await run.admin("GET", f"{base}/{campaign}/export")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    shown = ("number", "name", "state", "attempts", "talk_s", "next_try")
    assert [tuple(r[k] for k in shown) for r in rows] == [
        ("+12125550199", '\'=HYPERLINK("http://x")', "waiting", "0", "0.0", ""),
        ("+12125550198", "", "waiting", "0", "0.0", ""),
    ]


async def test_a_business_never_sees_another_businesss_campaign(run: Running, world: World) -> None:
    agent = await _ready(run, world.business_a2)
    theirs = f"/v1/businesses/{world.business_a2}/campaigns"
    campaign = (await run.ok("POST", theirs, json={"name": "theirs", "agent_id": agent}))["id"]
    key = world.key("business", "owner")  # business A1's
    for method, path, body in (
        ("GET", f"/v1/campaigns/{campaign}", None),
        ("GET", f"/v1/campaigns/{campaign}/export", None),
        ("POST", f"/v1/campaigns/{campaign}/start", None),
        ("POST", f"/v1/campaigns/{campaign}/start", {"at": "2030-01-01T09:00:00Z"}),
        ("PATCH", f"/v1/campaigns/{campaign}", {"name": "mine"}),
        ("GET", f"/v1/businesses/{world.business_a1}/campaigns/{campaign}", None),
    ):
        assert (await run.as_key(key, method, path, json=body)).status_code == 404, path
    assert (await run.as_key(key, "GET", "/v1/campaigns")).json()["items"] == []


async def test_an_agent_may_default_its_outbound_calls_to_leave_a_message(run: Running, world: World) -> None:
    base = f"/v1/businesses/{world.business_a1}/agents"
    refused = await run.admin("POST", base, json={"name": "a", "amd": "message"})
    assert refused.status_code == 422
    made = await run.ok("POST", base, json={"name": "a", "amd": "message", "voicemail_message": "Call back."})
    assert (made["amd"], made["voicemail_message"]) == ("message", "Call back.")
    cleared = await run.admin("PATCH", f"{base}/{made['id']}", json={"voicemail_message": ""})
    assert cleared.status_code == 422
