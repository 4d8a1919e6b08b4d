"""A voice session's replies: the LLM streamed into sentences, each spoken by the TTS into the call's
outbound queue as soon as it is whole; tool calls between rounds; the turn's stamps as it goes.

`Replies` is the reply half of `VoiceSession` (session.py holds the listening half, the call
interface and the session's state), and where the session's events are emitted; the state it reads
is declared here.
"""

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from voicegrid.core.tasks import TaskGroup
from voicegrid.media.session import CallSession, Pcm
from voicegrid.pipeline.config import VoiceConfig
from voicegrid.pipeline.events import Event, Said, ToolInvoked, TurnMetrics
from voicegrid.pipeline.sentences import SentenceSplitter
from voicegrid.pipeline.speech import for_speech
from voicegrid.pipeline.tools import ToolOutcome, ToolRunner
from voicegrid.providers.base import Meter
from voicegrid.providers.errors import ProviderError
from voicegrid.providers.llm.base import LlmStage, Message, TextDelta, ToolCall
from voicegrid.providers.tts.base import TtsStage

log = logging.getLogger(__name__)
MAX_EVENTS = 5000  # events a session keeps for its summary; observers still hear every one


class EarlyLine:
    """A line synthesised before it is needed (the greeting of an outbound call while its answer is
    screened; a reply's next piece while the one before it is said): its audio waits, bounded by the
    line's own length, until it is spoken."""

    def __init__(self, text: str, audio: AsyncIterator[Pcm]) -> None:
        self.text = text
        self.chunks: asyncio.Queue[Pcm | None] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._fill(audio), name="early-line")

    async def _fill(self, audio: AsyncIterator[Pcm]) -> None:
        try:
            async for pcm in audio:
                self.chunks.put_nowait(pcm)
        except ProviderError:
            log.info("the line said early could not be synthesised: %r", self.text[:60])
        finally:
            self.chunks.put_nowait(None)

    async def audio(self) -> AsyncIterator[Pcm]:
        while (pcm := await self.chunks.get()) is not None:
            yield pcm


class Replies:
    observers: list[Callable[[Event], None]]
    config: VoiceConfig
    llm: LlmStage
    tts: TtsStage
    tools: ToolRunner
    meter: Meter
    clock: Callable[[], float]
    session: CallSession | None
    sample_rate: int
    history: list[Message]
    turns: list[TurnMetrics]
    events: list[Event]
    _reply: asyncio.Task[None] | None
    _reply_turn: TurnMetrics | None
    _reply_heard: bool
    _line_said: bool  # the reply's line is in the transcript
    _spoken: list[list[Any]]
    _assistant: Message | None
    _history_mark: int
    _audible: bool
    _audio_gen: int
    _silent: asyncio.Event
    _last_activity: float
    _reprompts: int
    _user_speaking: bool
    _early: "EarlyLine | None"
    _opening: asyncio.Task[None] | None
    _deferred: asyncio.Task[None] | None
    ended_reason: str | None

    def prepare(self, session: CallSession) -> None:
        """Synthesise the greeting now, before the call is passed to this session (an outbound
        call screened for answering machines): a person hears it the moment they are told apart."""
        text = for_speech(self.config.greeting)
        if text and self._early is None:
            self._early = EarlyLine(text, self.tts.synthesize(text, session.sample_rate, self.meter))

    def _drop_early(self) -> None:
        if self._early is not None:
            self._early.task.cancel()
            self._early = None

    def _synthesize(self, text: str) -> AsyncIterator[Pcm]:
        """The line's audio: synthesised early (`prepare`), else now."""
        early, self._early = self._early, None
        if early is not None and early.text == text:
            return early.audio()
        if early is not None:
            early.task.cancel()
        return self.tts.synthesize(text, self.sample_rate, self.meter)

    def _emit(self, event: Event) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append(event)
        if self.observers:  # never on the media clock's time: observers run in a later loop turn
            asyncio.get_running_loop().call_soon(self._notify, event)

    def _notify(self, event: Event) -> None:
        for observer in self.observers:
            try:
                observer(event)
            except Exception:  # an observer's bug must not break the call
                log.exception("voice session observer failed")

    def _after_opening(
        self, opening: asyncio.Task[None], reply: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """The caller finished a turn before the greeting was said: answer it once the greeting is
        (a later turn replaces this one, as it would replace its reply)."""
        if self._deferred is not None and not self._deferred.done():
            self._deferred.cancel()

        async def then() -> None:
            try:
                await asyncio.wait([opening])  # said, cut or cancelled: never raises
            except asyncio.CancelledError:
                reply.close()
                raise
            if self.ended_reason is None and self._reply is opening:
                self._start_reply(reply)
            else:
                reply.close()

        self._deferred = asyncio.get_running_loop().create_task(then(), name="voice-reply-after-greeting")
        return self._deferred

    def _start_reply(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        if self._reply is not None and not self._reply.done():
            self._reply.cancel()
        self._reply_heard = self._line_said = False
        self._spoken = []
        self._assistant = None
        self._history_mark = len(self.history)
        self._reply = asyncio.get_running_loop().create_task(coro, name="voice-reply")
        return self._reply

    async def _say(self, text: str, turn: TurnMetrics | None = None, *, end: str | None = None) -> None:
        """Speak a fixed line (greeting, re-prompt, goodbye) without asking the LLM."""
        self._reply_turn = turn
        if turn is not None:
            self.turns.append(turn)
            if turn.user_text:
                self._emit(Said(self.clock(), "caller", turn.user_text, turn=turn.index))
        self._assistant = {"role": "assistant", "content": text}
        self.history.append(self._assistant)
        await self._speak(text, turn)
        await self._wait_played()
        self._emit(Said(self.clock(), "agent", text, turn=turn.index if turn else None))
        self._line_said = True  # all of it: nothing is cut off if the call ends now
        if turn is not None:
            turn.agent_text = text
            self._finish_turn(turn)
        self._reply_turn = None
        if end is not None and self.session is not None:
            self.session.hangup(end)

    async def _respond(self, text: str, turn: TurnMetrics) -> None:
        self._reply_turn = turn
        self.turns.append(turn)
        self.history.append({"role": "user", "content": text})
        actions: list[ToolOutcome] = []
        for _ in range(self.config.max_tool_rounds):
            reply_text, calls = await self._round(turn)
            self._assistant = {"role": "assistant", "content": reply_text or None}
            if calls:
                self._assistant["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in calls
                ]
            self.history.append(self._assistant)
            outcomes = []
            for call in calls:
                outcome = await self.tools.run(call)
                outcomes.append(outcome)
                self._emit(ToolInvoked(self.clock(), call.name, call.arguments, outcome.result, outcome.ok))
                self.history.append({"role": "tool", "tool_call_id": call.id, "content": outcome.result})
                if outcome.action == "dtmf" and self.session is not None:
                    self.session.send_dtmf(outcome.argument)
            actions.extend(o for o in outcomes if o.action in ("end", "transfer"))
            if not calls or actions:
                break
        await self._wait_played()
        turn.agent_text = " ".join(str(s[0]) for s in self._spoken)
        self._emit(Said(self.clock(), "agent", turn.agent_text, turn=turn.index))
        self._line_said = True
        self._finish_turn(turn)
        self._reply_turn = None
        self._trim_history()
        for action in actions:
            if self.session is None:
                break
            if action.action == "end":
                self.session.hangup("agent")
            elif action.action == "transfer":
                self.session.transfer(action.argument)

    async def _round(self, turn: TurnMetrics) -> tuple[str, list[ToolCall]]:
        """One LLM request: its text is spoken sentence by sentence as it streams."""
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        splitter = SentenceSplitter()
        text: list[str] = []
        calls: list[ToolCall] = []
        async with TaskGroup() as tg:
            tg.create_task(self._speak_queue(sentences, turn))
            try:
                async for chunk in self.llm.stream(list(self.history), self.tools.specs(), self.meter):
                    if isinstance(chunk, TextDelta):
                        if turn.llm_first_token_at is None:
                            turn.llm_first_token_at = self.clock()
                            turn.llm_provider = self.llm.served_by
                        text.append(chunk.text)
                        for sentence in splitter.push(chunk.text):
                            sentences.put_nowait(sentence)
                    elif isinstance(chunk, ToolCall):
                        calls.append(chunk)
            except ProviderError:
                if not text:
                    text.append(self.config.trouble_text)
                    sentences.put_nowait(self.config.trouble_text)
            finally:
                for sentence in splitter.flush():
                    sentences.put_nowait(sentence)
                sentences.put_nowait(None)
        return "".join(text).strip(), calls

    async def _speak_queue(self, sentences: "asyncio.Queue[str | None]", turn: TurnMetrics) -> None:
        """The pieces are said in order, and each one's synthesis starts as soon as its text is
        complete, one piece ahead of the one being said: a short first clause ("Yes,") is not
        followed by a gap while the next piece waits for the TTS's first byte."""
        lines: asyncio.Queue[EarlyLine | None] = asyncio.Queue()
        room = asyncio.Semaphore(2)  # the piece being said and the one after it
        made: list[EarlyLine] = []

        async def make() -> None:
            while (sentence := await sentences.get()) is not None:
                text = for_speech(sentence)  # markdown and emoji are for screens: the words are spoken
                if text:
                    await room.acquire()
                    if turn.tts_request_at is None:
                        turn.tts_request_at = self.clock()
                    made.append(EarlyLine(text, self.tts.synthesize(text, self.sample_rate, self.meter)))
                    lines.put_nowait(made[-1])
            lines.put_nowait(None)

        try:
            async with TaskGroup() as tg:
                tg.create_task(make())
                while (line := await lines.get()) is not None:
                    await self._speak(line.text, turn, line.audio())
                    room.release()
        finally:
            for line in made:  # cut off (barge-in, the call's end): what is still being made stops
                line.task.cancel()

    async def _speak(
        self, text: str, turn: TurnMetrics | None, audio: AsyncIterator[Pcm] | None = None
    ) -> None:
        assert self.session is not None
        text = text if audio is not None else for_speech(text)  # screens' markdown and emoji: words
        if not text:
            return
        entry: list[Any] = [text, 0]
        self._spoken.append(entry)
        if turn is not None and turn.tts_request_at is None:
            turn.tts_request_at = self.clock()
        try:
            async for pcm in audio if audio is not None else self._synthesize(text):
                if turn is not None and turn.tts_first_audio_at is None:
                    turn.tts_first_audio_at = self.clock()
                    turn.tts_provider = self.tts.served_by
                    self.session.mark_played(functools.partial(self._first_packet, turn))
                if turn is not None and self._reply_heard is False and turn.user_text:
                    self._emit(Said(self.clock(), "caller", turn.user_text, turn=turn.index))
                self._reply_heard = True
                self.session.queue(pcm)
                entry[1] += len(pcm)
                self._audio_gen += 1
                self._audible = True
                self._silent.clear()
                self.session.mark_played(functools.partial(self._quiet, self._audio_gen))
        except ProviderError:
            log.info("no TTS could speak %r", text[:60])

    def _first_packet(self, turn: TurnMetrics) -> None:
        if turn.first_packet_at is None and not turn.interrupted:
            turn.first_packet_at = self.clock()

    def _quiet(self, generation: int) -> None:
        if generation == self._audio_gen:
            self._audible = False
            self._last_activity = self.clock()
            self._silent.set()

    async def _wait_played(self) -> None:
        await self._silent.wait()

    def _finish_turn(self, turn: TurnMetrics) -> None:
        if turn not in self.turns:
            self.turns.append(turn)
        self._emit(turn)

    def _trim_history(self) -> None:
        keep = self.config.history_messages
        if len(self.history) > keep + 1:
            tail = self.history[-keep:]
            while tail and tail[0].get("role") == "tool":  # never start with an orphan tool answer
                tail.pop(0)
            self.history = [self.history[0], *tail]

    def _heard_text(self, dropped_frames: int) -> str:
        frame = self.sample_rate // 50
        queued = sum(int(s[1]) for s in self._spoken)
        played = max(0, queued - dropped_frames * frame)
        words: list[str] = []
        for sentence, samples in self._spoken:
            if played >= samples:
                words.append(sentence)
                played -= samples
                continue
            parts = str(sentence).split()
            keep = int(len(parts) * played / samples) if samples else 0
            if keep:
                words.append(" ".join(parts[:keep]))
            break
        return " ".join(words)

    async def _idle(self) -> None:
        """Silence on the line: a re-prompt after `reprompt_after_s`, then a goodbye and hang-up."""
        while True:
            await asyncio.sleep(0.25)
            now = self.clock()
            busy = (
                self._user_speaking or self._audible or (self._reply is not None and not self._reply.done())
            )
            if busy:
                self._last_activity = now
                continue
            if now - self._last_activity < self.config.reprompt_after_s:
                continue
            self._last_activity = now
            if self._reprompts >= self.config.max_reprompts:
                self._start_reply(self._say(self.config.goodbye_text, end="no answer"))
                return
            self._reprompts += 1
            self._start_reply(self._say(self.config.reprompt_text))
