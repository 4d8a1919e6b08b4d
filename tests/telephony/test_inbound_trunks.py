"""Which of a business's trunks an inbound call comes through: the first (by id) whose networks hold
its source, else the one whose digest credentials it proves. The call takes that trunk's RTP setting."""

import os
from pathlib import Path

from tests.sip.test_useragent import _request
from tests.support.store import store_with
from voicegrid.sip.auth import Challenge, authorization
from voicegrid.store.models import Agent, PhoneNumber, Trunk
from voicegrid.telephony.calls import Decision
from voicegrid.telephony.routing import InboundRouter
from voicegrid.tenancy.secrets import SecretBox

URI = "sip:+15550100@127.0.0.1:5060"


async def test_an_inbound_call_names_the_trunk_it_came_through_and_takes_its_rtp_setting(
    tmp_path: Path,
) -> None:
    engine, sessions = await store_with(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", "biz_1")
    secrets = SecretBox(os.urandom(32))
    try:
        async with sessions() as session:
            echo = {"provider": "simulated"}
            session.add(
                Agent(id="agt_1", business_id="biz_1", name="Echo", kind="echo", stt=echo, llm=echo, tts=echo)
            )
            await session.flush()
            session.add(PhoneNumber(id="num_1", business_id="biz_1", e164="+15550100", agent_id="agt_1"))
            session.add_all(
                [
                    Trunk(id="trk_b", business_id="biz_1", name="wide", inbound_cidrs=["10.0.0.0/8"],
                          rtp_suppress_silence=True),
                    Trunk(id="trk_a", business_id="biz_1", name="narrow", inbound_cidrs=["10.1.0.0/16"],
                          rtp_suppress_silence=False),
                    Trunk(id="trk_c", business_id="biz_1", name="the node's", inbound_cidrs=["192.0.2.0/24"]),
                    Trunk(id="trk_d", business_id="biz_1", name="roaming", inbound_username="pbx",
                          inbound_password_enc=secrets.encrypt("s3cret", "trunk:trk_d:inbound"),
                          rtp_suppress_silence=True),
                ]
            )  # fmt: skip
            await session.commit()
        router = InboundRouter(sessions, secrets)

        async def decide(source: str, invite_uri: str = URI, auth: str | None = None) -> Decision:
            invite = _request("INVITE", invite_uri)
            if auth is not None:
                invite.headers.add("Authorization", auth)
            decision = await router.decide(invite, ("udp", source, 5060), "c1")
            if decision.plan.release is not None:
                decision.plan.release()
            return decision

        routed = {source: await decide(source) for source in ("10.1.2.3", "10.9.9.9", "192.0.2.7")}
        assert {s: (d.status, d.plan.trunk_id, d.plan.suppress_silence) for s, d in routed.items()} == {
            "10.1.2.3": (200, "trk_a", False),  # held by both trk_a and trk_b: the first by id
            "10.9.9.9": (200, "trk_b", True),
            "192.0.2.7": (200, "trk_c", None),  # None: the node's setting
        }
        challenged = await decide("198.51.100.7")
        assert challenged.status == 401
        challenge = Challenge.parse(dict(challenged.headers)["WWW-Authenticate"])
        proof = authorization(challenge, method="INVITE", uri=URI, username="pbx", password="s3cret")
        proven = await decide("198.51.100.7", auth=proof)
        assert (proven.status, proven.plan.trunk_id, proven.plan.suppress_silence) == (200, "trk_d", True)
    finally:
        await engine.dispose()
