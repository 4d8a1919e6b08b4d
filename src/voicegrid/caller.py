"""`voicegrid call`: a scripted caller over real SIP and RTP, to hear an agent end to end.

It dials (offering G.722 first, then G.711), waits for the agent to finish speaking, says each line
(espeak-ng, sent as RTP), records what the agent says back, transcribes it with pocketsphinx, and
hangs up. Each agent turn is measured from the end of our line to the agent's first audio. The
platform's own record of the call (what the agent meant to say) is read from the API.
"""

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voicegrid.media.ports import PortAllocator
from voicegrid.media.session import AudioFrame, CallSession, Pcm, rms
from voicegrid.providers.base import Meter, ProviderConfig
from voicegrid.providers.local import run_local
from voicegrid.providers.stt.pocketsphinx import agent_phrases, build_domain_model
from voicegrid.providers.tts.espeak import EspeakTts
from voicegrid.sip.useragent import UserAgent
from voicegrid.store.models import Agent
from voicegrid.telephony.book import Call, CallBook, CallState
from voicegrid.telephony.calls import CallControl, Decision
from voicegrid.telephony.trials import PREFIX as TRIAL
from voicegrid.telephony.trials import TrialBook, TrialResult, TrialTurn

if TYPE_CHECKING:  # the test caller's API client: the node, which imports this module, never runs it
    import httpx

TALKING_RMS = 250.0
AGENT_DONE_S = 1.0  # quiet after agent speech that ends its turn
# No packets at all (concealed frames) is a stall of the far end or the network, not quiet: a far
# end that sends comfort noise or silence frames would resume mid-word. Its turn ends on this much
# of it (a far end that suppresses silence, and sends nothing when quiet, is slower, never stuck).
AGENT_GONE_S = 3.0
TARGET = re.compile(r"^sip:(?P<user>[^@]+)@(?P<host>[^:;]+)(?::(?P<port>\d+))?$")


@dataclass
class Turn:
    speaker: str
    text: str = ""
    heard: str = ""
    audio_ms: float = 0.0
    voice_to_voice_ms: float | None = None
    audio: list[Pcm] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "speaker": self.speaker,
            "text": self.text,
            "heard": self.heard,
            "audio_ms": round(self.audio_ms),
            "voice_to_voice_ms": None if self.voice_to_voice_ms is None else round(self.voice_to_voice_ms),
        }


class ScriptedCaller:
    """The `Agent` on our side of the call: listens for the agent's turn to end, then says a line."""

    def __init__(self, lines: list[str], answer_timeout_s: float = 20.0) -> None:
        self.lines = list(lines)
        self.turns: list[Turn] = []
        self.done = asyncio.Event()
        self.answer_timeout_s = answer_timeout_s
        self.session: CallSession | None = None
        self.rate = 8000
        self._speech: dict[int, Pcm] = {}
        self._agent_turn: Turn | None = None
        self._agent_quiet_s = 0.0
        self._agent_gone_s = 0.0  # of it, concealed frames: no packet came
        self._we_speak = False
        self._our_line_end: float | None = None
        self._waiting_since = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def on_start(self, session: CallSession) -> None:
        self.session = session
        self.rate = session.sample_rate
        self._task = asyncio.get_running_loop().create_task(self._synthesize())

    async def _synthesize(self) -> None:
        tts = EspeakTts(ProviderConfig("espeak-ng", options={"rate": 150}))
        for i, line in enumerate(self.lines):
            chunks = [pcm async for pcm in tts.synthesize(line, self.rate, Meter())]
            speech = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
            loud = np.flatnonzero(np.abs(speech) > TALKING_RMS)
            # our line "ends" at its last voiced sample: trailing quiet would hide the agent's latency
            self._speech[i] = speech[loud[0] : loud[-1] + 1] if len(loud) else speech

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        now = time.monotonic()
        level = rms(frame.pcm)
        talking = level > TALKING_RMS and not frame.concealed
        if self._we_speak:
            return
        turn = self._agent_turn
        if talking and turn is None:
            turn = self._agent_turn = Turn("agent")
            if self._our_line_end is not None:
                turn.voice_to_voice_ms = (now - self._our_line_end) * 1000
            self.turns.append(turn)
        if turn is not None:
            turn.audio.append(frame.pcm.copy())
            if talking:
                self._agent_quiet_s = self._agent_gone_s = 0.0
                turn.audio_ms += frame.duration_s * 1000
            elif frame.concealed:
                self._agent_gone_s += frame.duration_s
            else:
                self._agent_quiet_s += frame.duration_s
            if (
                self._agent_quiet_s >= AGENT_DONE_S
                or self._agent_quiet_s + self._agent_gone_s >= AGENT_GONE_S
            ):
                self._agent_turn = None
                self._next_line(session)
        elif now - self._waiting_since > self.answer_timeout_s:
            self.done.set()  # the agent said nothing: give up

    def _next_line(self, session: CallSession) -> None:
        index = sum(1 for t in self.turns if t.speaker == "caller")
        if index >= len(self.lines) or index not in self._speech:
            self.done.set()
            return
        self.turns.append(
            Turn("caller", self.lines[index], audio_ms=len(self._speech[index]) * 1000 / self.rate)
        )
        self._we_speak = True
        session.queue(self._speech[index])
        session.mark_played(self._line_sent)

    def _line_sent(self) -> None:
        self._we_speak = False
        self._our_line_end = self._waiting_since = time.monotonic()

    def on_dtmf(self, session: CallSession, digit: str) -> None:
        pass

    def on_end(self, session: CallSession) -> None:
        self.done.set()


async def _agent_knowledge(api: "httpx.AsyncClient", number: str) -> list[str]:
    """The called agent's phrases (greeting, FAQ), for a language model that knows its words."""
    import httpx

    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError, StopIteration):
        numbers = (await api.get("/v1/numbers", params={"limit": 200})).json()["items"]
        agent_id = next(n["agent_id"] for n in numbers if n["number"] == number)
        agent = (await api.get(f"/v1/agents/{agent_id}")).json()
        kb = agent.get("knowledge_base") or {}
        answers = [str(e.get("answer", "")) for e in kb.get("faq", [])]
        extra = [agent.get("greeting", ""), "Thank you for calling. Goodbye!", "Are you still there?"]
        return [*answers, *extra, *agent_phrases(kb)]
    return []


async def _transcribe(turns: list[Turn], rate: int, phrases: list[str], model_dir: Path) -> None:
    from pocketsphinx import Config, Decoder

    def work() -> None:
        if phrases:
            lm, dic = build_domain_model(phrases, model_dir)
            decoder = Decoder(Config(lm=str(lm), dict=str(dic), loglevel="ERROR"))
        else:
            decoder = Decoder(Config(loglevel="ERROR"))
        import soxr

        for turn in turns:
            if turn.speaker != "agent" or not turn.audio:
                continue
            pcm = np.concatenate(turn.audio)
            if rate != 16000:
                pcm = np.asarray(soxr.resample(pcm, rate, 16000, quality="HQ")).astype(np.int16)
            decoder.start_utt()
            decoder.process_raw(pcm.tobytes(), False, True)
            decoder.end_utt()
            hyp = decoder.hyp()
            turn.heard = str(hyp.hypstr) if hyp is not None else ""

    await run_local(work)


@dataclass
class Dialled:
    call: Call  # our side of it
    caller: ScriptedCaller
    answered: bool
    rate: int
    codec: str | None


async def dial(target: str, host: str, port: int, lines: list[str], timeout_s: float) -> Dialled:
    """Call `target` at `host`:`port` from loopback, say `lines` in turn, hang up (bounded by `timeout_s`)."""
    sip = CallControl(
        UserAgent(("udp", "127.0.0.1", 0)),
        _refuse,
        ports=PortAllocator(46000, 46999),
    )
    await sip.start("127.0.0.1", 0)  # any port free for both UDP and TCP
    local = sip.ua.local[2]
    caller = ScriptedCaller(lines)
    try:
        call = sip.dial(target, ("udp", host, port), from_uri=f"sip:caller@127.0.0.1:{local}", agent=caller)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await call.answered.wait()
                await caller.done.wait()
        answered = call.state is not CallState.RINGING or call.answered.is_set()
        if call.state is CallState.UP:
            sip.hangup(call)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await call.ended.wait()
        rate = call.media.codec.sample_rate if call.media is not None else 8000
        codec = call.media.codec.name if call.media is not None else None
    finally:
        await sip.stop()
    return Dialled(call, caller, answered, rate, codec)


async def place_call(
    target: str,
    lines: list[str],
    *,
    api_url: str | None,
    api_key: str | None,
    timeout_s: float = 120.0,
    model_dir: Path = Path("var/models"),
) -> dict[str, Any]:
    match = TARGET.match(target)
    if match is None:
        raise ValueError("target must look like sip:+15550100@127.0.0.1:5060")
    started = time.monotonic()
    dialled = await dial(target, match["host"], int(match["port"] or 5060), lines, timeout_s)
    call, caller, answered, rate, codec = (
        dialled.call,
        dialled.caller,
        dialled.answered,
        dialled.rate,
        dialled.codec,
    )
    record: dict[str, Any] = {}
    phrases: list[str] = []
    if api_url and api_key:
        import httpx

        async with httpx.AsyncClient(
            base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10
        ) as api:
            phrases = await _agent_knowledge(api, match["user"])
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                for _ in range(20):
                    found = await api.get("/v1/calls", params={"sip_call_id": call.call_id})
                    record = next(iter(found.json()["data"]), {})
                    if record.get("state") == "ended":
                        break
                    await asyncio.sleep(0.1)
    await _transcribe(caller.turns, rate, phrases, model_dir)
    said = [
        e for e in ((record.get("conversation") or {}).get("transcript") or []) if e["speaker"] == "agent"
    ]
    agent_turns = [t for t in caller.turns if t.speaker == "agent"]
    for turn, line in zip(agent_turns, said, strict=False):
        turn.text = str(line["text"])
    caller_lines = sum(1 for t in caller.turns if t.speaker == "caller")
    return {
        "call_id": record.get("id") or call.call_id,
        "answered": answered,
        "codec": codec,
        "completed": answered and caller_lines == len(lines) and len(agent_turns) > caller_lines - 1,
        "seconds": round(time.monotonic() - started, 2),
        "turns": [t.as_dict() for t in caller.turns],
        "platform_turns": (record.get("conversation") or {}).get("turns", []),
    }


async def _refuse(*_: object) -> Decision:
    return Decision(403, "This caller takes no calls")


class Trials:
    """Trial calls of drafts, placed by this node to its own SIP listener (a `TrialRunner`)."""

    def __init__(
        self, book: CallBook, trials: TrialBook, sip: tuple[str, int], timeout_s: float = 90.0
    ) -> None:
        self.book, self.trials, self.timeout_s = book, trials, timeout_s
        host, self.sip_port = sip
        self.sip_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104

    async def __call__(self, draft: Agent, lines: list[str]) -> TrialResult:
        self.trials.begin(draft.business_id)
        token = ""
        try:
            token = self.trials.issue(draft)
            target = f"sip:{TRIAL}{token}@{self.sip_host}:{self.sip_port}"
            dialled = await dial(target, self.sip_host, self.sip_port, lines, self.timeout_s)
            ours = next((c for c in self.book.by_id.values() if c.call_id == dialled.call.call_id), None)
            for _ in range(100):  # the record is built just after the call ends
                if ours is None or ours.call_record is not None:
                    break
                await asyncio.sleep(0.05)
        finally:
            self.trials.withdraw(token)
            self.trials.end(draft.business_id)
        record = ours.call_record.document() if ours is not None and ours.call_record else None
        said: list[str] = [
            str(t.get("text", ""))
            for t in (record or {}).get("transcript", [])
            if t.get("speaker") == "agent"
        ]
        turns, heard = [], iter(said)
        for turn in dialled.caller.turns:
            text = turn.text if turn.speaker == "caller" else next(heard, "")
            turns.append(TrialTurn(turn.speaker, text, turn.voice_to_voice_ms))
        caller_lines = sum(1 for t in turns if t.speaker == "caller")
        agent_turns = len(turns) - caller_lines
        return TrialResult(
            call_id=ours.id if ours is not None else None,
            answered=dialled.answered,
            completed=dialled.answered and caller_lines == len(lines) and agent_turns > caller_lines,
            turns=turns,
            record=record,
        )
