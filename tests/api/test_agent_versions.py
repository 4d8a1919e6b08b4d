"""An agent's draft and versions: a draft changes nothing calls use until it is published; each
published version is kept with who published it and when, and can be restored."""

from typing import Any

import pytest

from tests.api.world import World
from tests.support.platform import Running
from voicegrid.store import agent_versions

FAQ = [
    {"question": "When are you open?", "answer": "Every day from noon to ten."},
    {"question": "Do you deliver?", "answer": "Yes, within three miles."},
]


async def _agent(run: Running, world: World, key: str | None = None) -> tuple[str, dict[str, Any]]:
    base = f"/v1/businesses/{world.business_a1}/agents"
    created = await run.ok("POST", base, key, json={"name": "Bella", "greeting": "Hello, Bella Pizza."})
    return f"{base}/{created['id']}", created


async def test_a_new_agent_is_its_version_1_published_by_the_key_that_created_it(
    run: Running, world: World
) -> None:
    path, created = await _agent(run, world, world.key("business", "admin"))
    assert created["version"] == 1
    assert created["has_draft"] is False
    listed = await run.ok("GET", f"{path}/versions")
    assert [v["number"] for v in listed["items"]] == [1]
    first = listed["items"][0]
    assert first["current"] is True
    assert first["published_by"] == "API key business-admin"
    whole = await run.ok("GET", f"{path}/versions/1")
    assert whole["config"]["greeting"] == "Hello, Bella Pizza."


async def test_a_draft_changes_nothing_calls_use_until_it_is_published_as_the_next_version(
    run: Running, world: World
) -> None:
    path, _ = await _agent(run, world)
    draft = await run.ok("PATCH", f"{path}/draft", json={"knowledge_base": {"faq": FAQ}})
    assert draft["changed"] is True
    assert draft["based_on"] == 1
    assert [e["question"] for e in draft["config"]["knowledge_base"]["faq"]] == [e["question"] for e in FAQ]
    draft = await run.ok("PATCH", f"{path}/draft", json={"greeting": "Hi, this is Bella."})
    assert draft["config"]["knowledge_base"]["faq"][1]["answer"] == FAQ[1]["answer"]  # kept
    live = await run.ok("GET", path)
    assert live["version"] == 1
    assert live["has_draft"] is True
    assert live["greeting"] == "Hello, Bella Pizza."
    assert live["knowledge_base"]["faq"] == []

    published = await run.ok("POST", f"{path}/publish")
    assert published["version"] == 2
    assert published["has_draft"] is False
    assert published["greeting"] == "Hi, this is Bella."
    assert len(published["knowledge_base"]["faq"]) == 2
    assert (await run.ok("GET", f"{path}/draft"))["changed"] is False
    listed = (await run.ok("GET", f"{path}/versions"))["items"]
    assert [(v["number"], v["current"]) for v in listed] == [(2, True), (1, False)]
    nothing = await run.admin("POST", f"{path}/publish")
    assert nothing.status_code == 409


async def test_a_field_error_in_the_draft_is_refused_beside_its_field_and_the_draft_is_unchanged(
    run: Running, world: World
) -> None:
    path, _ = await _agent(run, world)
    await run.ok("PATCH", f"{path}/draft", json={"greeting": "A kept change."})
    refused = await run.admin(
        "PATCH", f"{path}/draft", json={"knowledge_base": {"faq": [{"question": "Open?", "answer": ""}]}}
    )
    assert refused.status_code == 422
    assert ["body", "knowledge_base", "faq", 0, "answer"] in [e["loc"] for e in refused.json()["detail"]]
    refused = await run.admin("PATCH", f"{path}/draft", json={"amd": "message"})  # with no message to leave
    assert refused.status_code == 422
    refused = await run.admin(
        "PATCH", f"{path}/draft", json={"llm": {"provider": "openai", "credential_id": "crd_not_ours"}}
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][-1] == "llm.credential_id"
    draft = await run.ok("GET", f"{path}/draft")
    assert draft["config"]["greeting"] == "A kept change."
    assert draft["config"]["knowledge_base"]["faq"] == []
    assert draft["config"]["amd"] == "off"


async def test_restoring_a_version_publishes_it_again_as_the_next_and_keeps_the_draft(
    run: Running, world: World
) -> None:
    path, _ = await _agent(run, world)
    await run.ok("PATCH", f"{path}/draft", json={"greeting": "Version two."})
    await run.ok("POST", f"{path}/publish")
    await run.ok("PATCH", f"{path}/draft", json={"greeting": "Not yet published."})
    restored = await run.ok("POST", f"{path}/versions/1/restore")
    assert restored["version"] == 3
    assert restored["greeting"] == "Hello, Bella Pizza."
    assert restored["has_draft"] is True
    third = await run.ok("GET", f"{path}/versions/3")
    assert third["restored_from"] == 1
    assert third["config"] == (await run.ok("GET", f"{path}/versions/1"))["config"]
    assert (await run.ok("GET", f"{path}/draft"))["config"]["greeting"] == "Not yet published."
    missing = await run.admin("POST", f"{path}/versions/9/restore")
    assert missing.status_code == 404


async def test_a_change_through_the_agent_itself_is_published_at_once_as_the_next_version(
    run: Running, world: World
) -> None:
    path, _ = await _agent(run, world)
    changed = await run.ok("PATCH", path, json={"greeting": "Changed by the API."})
    assert changed["version"] == 2
    second = await run.ok("GET", f"{path}/versions/2")
    assert second["config"]["greeting"] == "Changed by the API."
    assert second["published_by"] == "API key admin (VOICEGRID_ADMIN_KEY)"  # the bootstrap key


async def test_versions_page_newest_first_with_a_cursor(run: Running, world: World) -> None:
    path, _ = await _agent(run, world)
    for n in range(4):
        await run.ok("PATCH", path, json={"greeting": f"Greeting {n}."})
    first = await run.ok("GET", f"{path}/versions", params={"limit": 3})
    assert [v["number"] for v in first["items"]] == [5, 4, 3]
    rest = await run.ok("GET", f"{path}/versions", params={"limit": 3, "cursor": first["next_cursor"]})
    assert [v["number"] for v in rest["items"]] == [2, 1]
    assert rest["next_cursor"] is None


async def test_a_viewer_reads_versions_and_the_draft_but_changes_none_and_another_business_sees_none(
    run: Running, world: World
) -> None:
    path, _ = await _agent(run, world)
    viewer = world.key("business", "viewer")
    assert (await run.as_key(viewer, "GET", f"{path}/draft")).status_code == 200
    assert (await run.as_key(viewer, "GET", f"{path}/versions")).status_code == 200
    for method, sub in (("PATCH", "/draft"), ("POST", "/publish"), ("POST", "/versions/1/restore")):
        answer = await run.as_key(viewer, method, f"{path}{sub}", json={"greeting": "x"})
        assert answer.status_code == 403, (method, sub)
    other = path.replace(world.business_a1, world.business_b1)
    assert (await run.admin("GET", f"{other}/versions")).status_code == 404
    audit = await run.ok("GET", "/v1/audit-log", params={"resource": "agents"})
    assert any(e["action"] == "update_draft" for e in audit["items"]) is False  # the viewer wrote nothing


async def test_an_agent_keeps_its_newest_versions_only_up_to_a_bound(
    run: Running, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_versions, "MAX_KEPT", 3)
    path, _ = await _agent(run, world)
    for n in range(5):
        await run.ok("PATCH", path, json={"greeting": f"Greeting {n}."})
    await run.ok("PATCH", f"{path}/draft", json={"greeting": "Through the draft."})
    await run.ok("POST", f"{path}/publish")
    listed = await run.ok("GET", f"{path}/versions")
    assert [v["number"] for v in listed["items"]] == [7, 6, 5]
    assert (await run.admin("GET", f"{path}/versions/4")).status_code == 404
