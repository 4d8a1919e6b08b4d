"""Do-not-call lists: a business's own and its reseller's, filled from JSON or a CSV file with a
report of every row refused, and checked as each outbound call is dialled."""

import httpx

from tests.api.conftest import World
from tests.support.platform import Running

TRUNK = {"name": "out", "outbound_host": "127.0.0.1", "outbound_port": 5099, "caller_ids": ["+15550000"]}
CSV = {"Content-Type": "text/csv"}


async def _import(run: Running, business: str, body: str | bytes) -> httpx.Response:
    return await run.admin("POST", f"/v1/businesses/{business}/do-not-call/import", content=body, headers=CSV)


async def _dial(run: Running, business: str, agent: str, to: str) -> int:
    placed = await run.admin("POST", f"/v1/businesses/{business}/calls", json={"agent_id": agent, "to": to})
    return placed.status_code


async def test_a_csv_import_reports_every_refused_row_and_keeps_the_rest_once(
    run: Running, world: World
) -> None:
    csv = (
        "Number,reason,colour\n"
        "+1 (555) 777-0001,asked on the phone,blue\n"
        "not a number,,\n"
        "+15557770001,twice,\n"
        "\n"
        "0044 20 7946 0000,,\n"
        "+15557770002," + "x" * 201 + ",\n"
    )
    report = (await _import(run, world.business_a1, csv)).json()
    assert (report["added"], report["already_listed"], report["ignored_columns"]) == (2, 0, ["colour"])
    assert [(r["row"], r["value"]) for r in report["refused"]] == [
        (3, "not a number"), (4, "+15557770001"), (7, "+15557770002"),
    ]  # fmt: skip
    assert "the same number as row 2" in report["refused"][1]["reason"]
    again = (await _import(run, world.business_a1, csv)).json()
    assert (again["added"], again["already_listed"]) == (0, 2)
    listed = await run.ok("GET", f"/v1/businesses/{world.business_a1}/do-not-call")
    assert sorted(e["number"] for e in listed["items"]) == ["+15557770001", "+442079460000"]
    assert listed["next_cursor"] is None


async def test_a_file_that_is_not_a_number_list_is_refused_whole_and_stores_nothing(
    run: Running, world: World
) -> None:
    rows = "".join(f"+1555{n:07d}\n" for n in range(100_001))
    for body, why in (
        (b"phone\n+15557770001\n", "no `number` column"),
        (b"number\n\xff\xfe+1555\n", "not UTF-8"),
        ("number\n" + rows, "over 100000 rows"),
    ):
        refused = await _import(run, world.business_a1, body)
        assert refused.status_code == 422, why
        assert why in refused.text
    assert (await run.ok("GET", f"/v1/businesses/{world.business_a1}/do-not-call"))["items"] == []


async def test_a_hundred_thousand_rows_are_taken_in_one_go(run: Running, world: World) -> None:
    rows = "".join(f"+1555{n:07d}\n" for n in range(100_000))
    report = (await _import(run, world.business_a1, "number\n" + rows)).json()
    assert (report["added"], report["refused"]) == (100_000, [])
    page = await run.ok("GET", f"/v1/businesses/{world.business_a1}/do-not-call", params={"limit": 200})
    assert len(page["items"]) == 200
    assert page["next_cursor"]


async def test_a_listed_number_is_never_dialled_whether_listed_by_the_business_or_its_reseller(
    run: Running, world: World
) -> None:
    business = world.business_a1
    base = f"/v1/businesses/{business}"
    await run.ok("POST", f"{base}/trunks", json=TRUNK)
    agent = (await run.ok("POST", f"{base}/agents", json={"name": "dialer"}))["id"]
    await run.ok("POST", f"{base}/do-not-call", json={"numbers": ["+15557770001"], "reason": "asked"})
    refused = await run.admin("POST", f"{base}/calls", json={"agent_id": agent, "to": "+1 555 777 0001"})
    assert refused.status_code == 403
    assert "do-not-call" in refused.text
    await run.ok("POST", f"/v1/resellers/{world.reseller_a}/do-not-call", json={"numbers": ["+15557770002"]})
    assert await _dial(run, business, agent, "+15557770002") == 403  # the reseller's list holds too
    assert await _dial(run, business, agent, "+15557770003") == 201
    await run.ok("DELETE", f"{base}/do-not-call/%2B15557770001")  # taken off the list: dialled again
    assert await _dial(run, business, agent, "+15557770001") == 201


async def test_each_business_sees_and_writes_only_its_own_list(run: Running, world: World) -> None:
    mine = f"/v1/businesses/{world.business_a1}/do-not-call"
    theirs = f"/v1/businesses/{world.business_b1}/do-not-call"
    await run.ok("POST", theirs, json={"numbers": ["+15557779999"]})
    member, viewer = world.key("business", "member"), world.key("business", "viewer")
    entry = {"numbers": ["+15557770001"]}
    assert (await run.as_key(member, "GET", theirs)).status_code in (403, 404)
    assert (await run.as_key(member, "POST", theirs, json=entry)).status_code in (403, 404)
    assert (await run.as_key(viewer, "POST", mine, json=entry)).status_code == 403
    assert (await run.as_key(member, "POST", mine, json=entry)).status_code == 201
    assert [e["number"] for e in (await run.ok("GET", mine, key=viewer))["items"]] == ["+15557770001"]
