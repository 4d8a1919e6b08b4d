"""The demo business `voicegrid serve --demo` seeds once: Acme Voice resells to Bella Pizza."""

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voicegrid.config import Settings
from voicegrid.core.files import write_private_json
from voicegrid.core.ids import new_id
from voicegrid.store import agent_versions as versions
from voicegrid.store.models import Agent, ApiKey, Business, PhoneNumber, PlatformSetting, Reseller, Trunk
from voicegrid.tenancy import Role, Scope
from voicegrid.tenancy.keys import generate_api_key

DEMO_NUMBER = "+15550100"
ECHO_NUMBER = "+15550101"  # an echo agent: hear yourself, to check the media path
HUMAN_NUMBER = "+15550199"
SEEDED_MARK = "demo_business_id"

KNOWLEDGE = {
    "text": (
        "Bella Pizza is a family pizzeria at 12 Harbour Street, Springfield. "
        "We are open every day from 11:00 to 22:00 (11 am to 10 pm). "
        "We deliver within 5 km of the shop: the Old Town, Riverside and Harbour districts. "
        "Callers who want a person are transferred to the shop floor."
    ),
    "faq": [
        {
            "question": "When are you open?",
            "answer": "We are open every day from 11 am to 10 pm.",
            "keywords": ["open", "hours", "close", "closing", "time", "nine", "ten", "tonight"],
        },
        {
            "question": "Where are you?",
            "answer": "We are at 12 Harbour Street, Springfield.",
            "keywords": ["where", "address", "located", "street", "find"],
        },
        {
            "question": "Do you deliver to me?",
            "answer": "We deliver within 5 kilometres: the Old Town, Riverside and Harbour districts.",
            "keywords": ["deliver", "delivery", "area", "bring"],
        },
        {
            "question": "Can I talk to a person?",
            "answer": "Of course, I am transferring you to a colleague now.",
            "keywords": ["person", "human", "someone", "staff", "colleague", "transfer"],
            "tool": "transfer_call",
        },
    ],
    "phrases": [
        "are you open at nine pm",
        "are you open tonight",
        "what time do you close",
        "what are your opening hours",
        "do you deliver to my street",
        "what is your address",
        "can i talk to a person",
        "thank you bye",
        "thanks goodbye",
    ],
}


def demo_file(settings: Settings) -> Path:
    return Path(settings.data_dir) / "demo.json"


async def _new_business_key(session: AsyncSession, business: Business) -> str:
    new = generate_api_key()
    session.add(
        ApiKey(
            id=new_id("key"),
            scope=Scope.BUSINESS.value,
            reseller_id=business.reseller_id,
            business_id=business.id,
            role=Role.OWNER.value,
            name="demo",
            key_hash=new.hash,
            hint=new.hint,
            created_by="demo",
        )
    )
    return new.plaintext


async def seed_demo(session: AsyncSession, settings: Settings) -> dict[str, Any]:
    """Seed once; later starts keep the data and only rewrite demo.json when it is missing."""
    path = demo_file(settings)
    mark = await session.get(PlatformSetting, SEEDED_MARK)
    if mark is not None:
        business = await session.get(Business, mark.value)
        if business is not None:
            if path.exists():
                existing: dict[str, Any] = json.loads(path.read_text())
                return existing
            key = await _new_business_key(session, business)
            agent_id = await session.scalar(
                select(PhoneNumber.agent_id).where(PhoneNumber.e164 == DEMO_NUMBER)
            )
            await session.commit()
            return _describe(settings, business, agent_id or "", key, path)
        await session.delete(mark)  # the demo business was deleted: seed it again

    reseller = Reseller(
        id=new_id("rsl"),
        name="Acme Voice",
        product_name="Acme Voice",
        primary_color="#e11d48",
        accent_color="#1f2937",
        support_email="support@acme-voice.example",
    )
    business = Business(id=new_id("biz"), reseller_id=reseller.id, name="Bella Pizza")
    agent = Agent(
        id=new_id("agt"),
        business_id=business.id,
        name="Bella receptionist",
        language="en-US",
        greeting="Hello, thank you for calling Bella Pizza. How can I help you?",
        system_prompt=(
            "You are the friendly receptionist of Bella Pizza. Answer briefly from the knowledge base. "
            "If the caller asks for a person, transfer the call."
        ),
        knowledge_base=KNOWLEDGE,
        stt={"provider": "pocketsphinx", "fallbacks": []},
        llm={"provider": "knowledge-base", "fallbacks": []},
        tts={"provider": "espeak-ng", "fallbacks": []},
        tools=[
            {
                "name": "transfer_call",
                "kind": "transfer_call",
                "target": HUMAN_NUMBER,
                "description": "to staff",
            },
            {"name": "end_call", "kind": "end_call", "description": "when the caller is done"},
        ],
        # espeak-ng, like many callers, pauses ~200 ms at a comma: 400 ms of quiet ends a turn here.
        # The embedded STT decodes on this machine's CPU: on a busy one its final can take longer than
        # a cloud STT's 1.2 s, and it always comes, so the turn waits up to 4 s for it.
        turn={"min_silence_ms": 400, "max_wait_ms": 4000},
        max_call_seconds=600,
    )
    number = PhoneNumber(id=new_id("num"), business_id=business.id, e164=DEMO_NUMBER, agent_id=agent.id)
    echo = Agent(
        id=new_id("agt"),
        business_id=business.id,
        name="Echo test",
        kind="echo",
        stt={"provider": "pocketsphinx", "fallbacks": []},
        llm={"provider": "knowledge-base", "fallbacks": []},
        tts={"provider": "espeak-ng", "fallbacks": []},
    )
    echo_number = PhoneNumber(id=new_id("num"), business_id=business.id, e164=ECHO_NUMBER, agent_id=echo.id)
    trunk = Trunk(
        id=new_id("trk"),
        business_id=business.id,
        name="Loopback softphones",
        inbound_cidrs=["127.0.0.0/8", "::1/128"],
        caller_ids=[DEMO_NUMBER],
    )
    session.add(reseller)
    await session.flush()
    session.add(business)
    await session.flush()
    session.add_all([agent, echo, trunk])
    await session.flush()
    for made in (agent, echo):
        versions.keep(session, made, versions.Publisher("the demo"))
    session.add_all([number, echo_number])
    key = await _new_business_key(session, business)
    session.add(PlatformSetting(key=SEEDED_MARK, value=business.id))
    await session.commit()
    return _describe(settings, business, agent.id, key, path)


def _describe(settings: Settings, business: Business, agent_id: str, key: str, path: Path) -> dict[str, Any]:
    data = {
        "reseller_id": business.reseller_id,
        "business_id": business.id,
        "agent_id": agent_id,
        "api_key": key,
        "number": DEMO_NUMBER,
        "echo_number": ECHO_NUMBER,
        "sip_uri": f"sip:{DEMO_NUMBER}@{settings.sip_host}:{settings.sip_port}",
        "http_url": settings.effective_public_url,
    }
    write_private_json(path, data)
    return data
