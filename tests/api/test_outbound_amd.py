"""An outbound call asks for answering-machine detection: detect (hang up on machines) or leave a
message after the beep; the verdict shows on the call once it is answered."""

from tests.api.conftest import World
from tests.api.test_do_not_call import TRUNK
from tests.support.platform import Running


async def test_an_outbound_call_may_ask_for_answering_machine_detection_and_a_message_to_leave(
    run: Running, world: World
) -> None:
    base = f"/v1/businesses/{world.business_a1}"
    await run.ok("POST", f"{base}/trunks", json=TRUNK)
    agent = (await run.ok("POST", f"{base}/agents", json={"name": "dialer"}))["id"]
    call = {"agent_id": agent, "to": "+15557770009"}
    no_message = await run.admin("POST", f"{base}/calls", json={**call, "amd": "message"})
    assert no_message.status_code == 422
    assert "voicemail_message" in no_message.text
    assert (await run.admin("POST", f"{base}/calls", json={**call, "amd": "guess"})).status_code == 422
    placed = await run.ok(
        "POST", f"{base}/calls", json={**call, "amd": "message", "voicemail_message": "Call us back."}
    )
    assert placed["amd"] is None  # not answered yet: no verdict
