"""A draft tried over a real call, then published: `voicegrid serve --demo`, a new FAQ entry in the
demo agent's draft, a scripted trial call answered by the draft (real SIP and RTP on loopback, the
caller's lines spoken by espeak-ng), then a real call after publishing, answered by version 2."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_voice_call import recorded
from tests.support.serve import demo_call, serving
from voicegrid.demo import KNOWLEDGE
from voicegrid.testing.ports import free_udp_and_tcp_port

# A server and real calls (and Chromium): one such test at a time with the other heavy ones,
# so that none starves the campaign test's carrier of CPU (its RTP stalls, and answers go unjudged).
pytestmark = pytest.mark.xdist_group("campaigns")

PIZZA = {
    "question": "Do you have gluten free pizza?",
    "answer": "Yes, every pizza comes on a gluten free base too.",
    "keywords": ["gluten", "free", "allergy"],
}


def test_a_draft_answers_its_trial_call_and_once_published_answers_real_calls_as_version_2(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    sip = free_udp_and_tcp_port()
    with serving(data, "--demo", sip_port=sip) as (url, _log):
        demo = json.loads((data / "demo.json").read_text())
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {demo['api_key']}"}, timeout=120)
        agent = f"/v1/agents/{demo['agent_id']}"
        kb: dict[str, Any] = json.loads(json.dumps(KNOWLEDGE))
        kb["faq"].append(PIZZA)
        kb["phrases"].append("do you have gluten free pizza")
        # the embedded STT's final may come late on a busy machine: the turn waits for it (the trial and
        # versions are under test here, not how long a turn waits for its transcript)
        turn = {"max_wait_ms": 4000}
        assert api.patch(f"{agent}/draft", json={"knowledge_base": kb, "turn": turn}).status_code == 200

        tried = api.post(
            f"{agent}/draft/try", json={"lines": ["do you have gluten free pizza", "thank you bye"]}
        )
        assert tried.status_code == 200, tried.text
        trial = tried.json()
        assert trial["answered"] is True
        assert trial["completed"] is True, trial
        said = [t["text"] for t in trial["turns"] if t["speaker"] == "agent"]
        assert said[0].startswith("Hello, thank you for calling Bella Pizza")
        assert said[1] == PIZZA["answer"]
        assert all(t["voice_to_voice_ms"] for t in trial["turns"][2:] if t["speaker"] == "agent")
        assert trial["cost"]["total"] is not None
        assert len(trial["latency"]["turns"]) >= 1
        record = recorded(url, demo["api_key"], trial["call_id"])
        assert record["metadata"]["trial"] == "draft"
        assert record["agent_version"] is None  # a draft, not a published version
        assert api.get(agent).json()["version"] == 1  # nothing published yet

        before = demo_call(data, sip, "do you have gluten free pizza", "thank you bye")
        assert PIZZA["answer"] not in [t["text"] for t in before["turns"]]  # real calls: version 1

        published = api.post(f"{agent}/publish").json()
        assert published["version"] == 2
        after = demo_call(data, sip, "do you have gluten free pizza", "thank you bye")
        assert PIZZA["answer"] in [t["text"] for t in after["turns"]]
        assert recorded(url, demo["api_key"], after["call_id"])["agent_version"] == 2
        assert recorded(url, demo["api_key"], before["call_id"])["agent_version"] == 1
