"""`VoiceSession`: one call's conversation loop, plugged into a call through the `Agent` interface.

Audio frames arrive from the media clock (`on_audio`, synchronous). Each is judged by the VAD at once,
so barge-in costs no scheduling delay, and queued for the STT stream. The rest runs in the session's
own tasks, which live and die with the call:

  listen   STT stream: send audio, read transcripts (failover inside `FallbackStt`)
  turns    end of turn = VAD quiet for `min_silence_ms`, then the STT's final (or `max_wait_ms`);
           or the STT's own end of speech (a final with `speech_final`), when it comes first (before
           half that quiet: then the turn ends at the quiet, with no wait, if nothing was said since);
           a turn answered on what came by `max_wait_ms` is not said again when its late final
           comes (told by where a transcript's audio ends on the stream, `audio_end_s`)
  reply    LLM stream -> sentences -> TTS -> the call's outbound queue; tools between rounds
  idle     re-prompt after silence, then goodbye and hang up (in `Replies`)

A reply the caller has not heard yet is dropped if the caller goes on talking; its words join the
next turn. A reply being heard is cut by barge-in: outbound audio is flushed in the same frame the
decision is made, and only the words actually played enter the history.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from voicegrid.core.clock import loop_clock
from voicegrid.core.tasks import TaskGroup
from voicegrid.media.session import AudioFrame, CallSession
from voicegrid.media.vad import VoiceDetector
from voicegrid.pipeline.caller_audio import CallerAudio
from voicegrid.pipeline.config import VoiceConfig
from voicegrid.pipeline.events import (
    BargeIn,
    Event,
    ProviderFailed,
    Said,
    SessionEnded,
    ToolInvoked,
    TurnMetrics,
    as_dict,
)
from voicegrid.pipeline.replies import EarlyLine, Replies
from voicegrid.pipeline.sentences import same_words
from voicegrid.pipeline.tools import ToolRunner
from voicegrid.providers.base import Meter
from voicegrid.providers.errors import ProviderError
from voicegrid.providers.llm.base import LlmStage, Message
from voicegrid.providers.stt.base import SttStage, Transcript, TranscriptStream
from voicegrid.providers.tts.base import TtsStage

log = logging.getLogger(__name__)
# A turn's words, at most (its newest kept): an STT endpoint is a tenant's to name and a caller may talk
# without end, so what a turn holds, and the prompt it makes, stays bounded (about nine minutes of talk).
MAX_TURN_CHARS = 8 * 1024


class VoiceSession(Replies):
    def __init__(
        self,
        config: VoiceConfig,
        *,
        stt: SttStage,
        llm: LlmStage,
        tts: TtsStage,
        tools: ToolRunner | None = None,
        meter: Meter | None = None,
        observers: list[Callable[[Event], None]] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.stt, self.llm, self.tts = stt, llm, tts
        self.tools = tools or ToolRunner([])
        self.meter = meter or Meter()
        self.observers = list(observers or [])
        self.clock = clock or loop_clock()  # the event loop's (monotonic) clock: a test's may be virtual
        self.events: list[Event] = []
        self.turns: list[TurnMetrics] = []
        self.history: list[Message] = [{"role": "system", "content": config.system_message()}]
        self.session: CallSession | None = None
        self._message: str | None = None  # a voicemail drop's message, said instead of the greeting
        self._early: EarlyLine | None = None  # the greeting, synthesised while the answer is screened
        self.sample_rate = 8000
        self.vad: VoiceDetector | None = None
        self.ended_reason: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._reply: asyncio.Task[None] | None = None
        # The greeting's reply: the call's first line is never dropped for the caller's first words (a
        # person answering "hello?" as it starts); a turn that ends before it is said is answered after.
        self._opening: asyncio.Task[None] | None = None
        self._deferred: asyncio.Task[None] | None = None
        self._caller = CallerAudio(config.stt_speech_only)
        # Where the last turn's audio ended on the STT stream; and up to where a turn was answered
        # without its final (a final for that audio, when it comes, is not said again).
        self._finalized_s = self._answered_s = 0.0
        self._stt_alive = True
        self._speech_ended = asyncio.Event()
        self._final = asyncio.Event()
        self._finals: deque[str] = deque()
        self._finals_chars = 0
        self._final_at: float | None = None
        self._end_heard_at: int | None = None  # voiced frames when the STT heard the end before the VAD
        self._interim = ""
        self._carry = ""  # words of a turn whose reply was dropped because the caller went on
        self._user_speaking = False
        self._speech_end_at = 0.0
        self._finalize_at = 0.0
        self._last_activity = self.clock()
        self._reprompts = 0
        self._turn_index = 0
        # the reply in progress
        self._reply_turn: TurnMetrics | None = None
        self._reply_heard = False
        self._line_said = False
        self._spoken: list[list[Any]] = []  # [sentence, samples queued]
        self._assistant: Message | None = None
        self._history_mark = 0
        self._audible = False
        self._audio_gen = 0
        self._silent = asyncio.Event()
        self._silent.set()
        self.barge_ins = 0

    # ---- admission --------------------------------------------------------------------------------
    async def reserve_stt(self) -> ProviderError | None:
        """Take the STT slot the call holds for its length, before answering: None, or why not (refused)."""
        try:
            await self.stt.reserve()
        except ProviderError as exc:
            return exc
        return None

    async def unreserve_stt(self) -> None:
        await self.stt.unreserve()

    def leave_message(self, session: CallSession, text: str) -> None:
        """Start on a voicemail: say `text` whole (nothing the machine plays cuts it), then hang up."""
        self._message = text
        self._drop_early()
        self.on_start(session)

    # ---- the Agent interface (called by the call, synchronously) ---------------------------------
    def on_start(self, session: CallSession) -> None:
        self.session = session
        self.sample_rate = session.sample_rate
        self._caller.start(self.sample_rate, self.config.stt_chunk_ms)
        self.vad = VoiceDetector(
            self.sample_rate,
            aggressiveness=self.config.vad_aggressiveness,
            start_ms=60.0,
            stop_ms=self.config.min_silence_ms,
        )
        self._last_activity = self.clock()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="voice-session")

    def on_audio(self, session: CallSession, frame: AudioFrame) -> None:
        if self.ended_reason is not None or self.vad is None or self._message is not None:
            return
        if self._stt_alive:  # in chunks; the turn's end flushes what is held, so its final waits for nothing
            self._caller.add(frame.pcm.tobytes())
        self._vad_step(frame)
        if self._caller.speech_only and not self._user_speaking:  # no call a frame when it is off
            self._caller.quiet_for(self.vad.state.silence_ms)

    def on_dtmf(self, session: CallSession, digit: str) -> None:
        self._emit(Said(self.clock(), "caller", f"[pressed {digit}]"))

    def on_end(self, session: CallSession) -> None:
        if self.ended_reason is not None:
            return
        self.ended_reason = "call ended"
        self._drop_early()
        if self._reply is not None and not self._reply.done() and self._reply_heard and not self._line_said:
            self._cut_off(session)
        if self._reply is not None:
            self._reply.cancel()
        if self._deferred is not None:
            self._deferred.cancel()
        if self._task is not None:
            self._task.cancel()
        self._emit(SessionEnded(self.clock(), self.ended_reason, [u.as_dict() for u in self.meter.lines()]))

    async def wait_closed(self) -> None:
        """For tests and shutdown: until the session's tasks have finished."""
        for task in filter(None, (self._task, self._reply)):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def release(self) -> None:
        """Once the call is over and its summary taken, let go of all it holds: all of it refers back
        to the session, so it would wait for the cycle collector, which runs rarely."""
        if all(t is None or t.done() for t in (self._task, self._reply, self._opening, self._deferred)):
            vars(self).clear()

    # ---- what the API shows of the call --------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        return {
            "transcript": [as_dict(e) for e in self.events if isinstance(e, Said)],
            "turns": [t.as_dict() for t in self.turns],
            "usage": [u.as_dict() for u in self.meter.lines()],
            "failovers": [as_dict(e) for e in self.events if isinstance(e, ProviderFailed)],
            "tools": [as_dict(e) for e in self.events if isinstance(e, ToolInvoked)],
            "barge_ins": [as_dict(e) for e in self.events if isinstance(e, BargeIn)],
        }

    def provider_failed(self, stage: str, error: ProviderError) -> None:
        """The failover lists report each failure here (wired by whoever builds the session)."""
        log.info("%s provider failed: %s", stage, error)
        self._emit(ProviderFailed(self.clock(), stage, error.describe()))

    # ---- turn-taking on each frame ---------------------------------------------------------------
    def _vad_step(self, frame: AudioFrame) -> None:
        assert self.vad is not None
        now = self.clock()
        was = self._user_speaking
        speaking = self.vad.feed(frame.pcm)
        state = self.vad.state
        if self._audible and self._reply_heard and state.voiced_ms >= self.config.barge_in_ms:
            self._barge_in(now)
        if speaking and not was:
            self._user_speaking = True
            self._caller.speech_started()
            self._last_activity = now
            self._reprompts = 0
            self._speech_ended.clear()
            self._final.clear()
            self._end_heard_at = None
            if (
                self._reply is not None
                and not self._reply.done()
                and not self._reply_heard
                and self._reply is not self._opening
            ):
                self._drop_unheard_reply()
        elif was and not speaking:
            if self._stt_alive:
                self._finalized_s = self._caller.finalize()  # transcribe what is buffered now
            self._speech_over(now, state.silence_ms)
            if self._end_heard_at is not None and state.voiced_frames - self._end_heard_at <= 2:
                self._final_at = now  # the STT's end of speech came first and nothing was said since
                self._final.set()

    def _speech_over(self, now: float, quiet_ms: float) -> None:
        self._user_speaking = False
        self._speech_end_at = now - quiet_ms / 1000
        self._finalize_at = now
        self._last_activity = now
        self._speech_ended.set()

    def _stt_heard_the_end(self) -> bool:
        """The STT's own endpointing says the caller stopped, before our VAD's quiet did: the turn
        ends now if the VAD has heard at least half its own quiet too (a cloud STT may endpoint on
        a 10 ms pause; said of speech that more speech followed, it is stale). The VAD ends its run
        too, so the caller going on is heard as new speech."""
        assert self.vad is not None
        quiet_ms = self.vad.state.silence_ms
        if quiet_ms < self.config.min_silence_ms / 2:
            return False
        self.vad.end_speech()
        self._speech_over(self.clock(), quiet_ms)
        return True

    def _drop_unheard_reply(self) -> None:
        assert self._reply is not None
        self._reply.cancel()
        self.tts.cancel()
        turn = self._reply_turn
        if turn is not None and turn.user_text:
            self._carry = (self._carry + " " + turn.user_text).strip()
            del self.history[self._history_mark :]
            if turn in self.turns:
                self.turns.remove(turn)
        self._reply_turn = None

    def _barge_in(self, now: float) -> None:
        assert self.session is not None
        dropped = self.session.flush()
        self.tts.cancel()
        self.barge_ins += 1
        heard = self._heard_text(dropped)
        turn = self._reply_turn
        self._emit(BargeIn(now, turn.index if turn else -1, dropped, self.session.rtp_timestamp))
        if self._assistant is not None:
            self._assistant["content"] = heard
            if "tool_calls" in self._assistant and self.history[-1] is self._assistant:
                del self._assistant["tool_calls"]  # never answered: the model must not see them
        elif heard:
            self.history.append({"role": "assistant", "content": heard})
        if turn is not None:
            turn.interrupted = True
            turn.agent_text = heard
            self._finish_turn(turn)
        self._emit(Said(now, "agent", heard, interrupted=True, turn=turn.index if turn else None))
        self._reply_turn = None
        self._reply_heard = False
        if self._reply is not None:
            self._reply.cancel()

    def _cut_off(self, session: CallSession) -> None:
        """The call ended while the agent spoke: the transcript keeps what was played of the line."""
        heard = self._heard_text(session.flush())
        turn = self._reply_turn
        if turn is not None:
            turn.interrupted = True
            turn.agent_text = heard
            self._finish_turn(turn)
        if heard:
            self._emit(
                Said(self.clock(), "agent", heard, interrupted=True, turn=turn.index if turn else None)
            )
        self._reply_turn = None

    # ---- the session's tasks ---------------------------------------------------------------------
    async def _run(self) -> None:
        stream: TranscriptStream | None = None
        try:
            if self._message is not None:  # a voicemail drop: said whole, no turns, no STT (on_audio)
                return await self._start_reply(self._say(self._message, end="voicemail"))
            async with TaskGroup() as tg:
                if self.config.greeting:
                    self._opening = self._start_reply(self._say(self.config.greeting))
                stream = await self._open_stt()
                if stream is not None:
                    tg.create_task(self._pump(stream))
                    tg.create_task(self._read(stream))
                tg.create_task(self._turns())
                tg.create_task(self._idle())
        except Exception:  # a bug in one task must end the conversation, not the process
            log.exception("voice session failed")
            if self.session is not None:
                self.session.hangup("error")
        finally:
            if self._reply is not None:
                self._reply.cancel()
            if stream is not None:
                with contextlib.suppress(ProviderError, OSError, TimeoutError):
                    async with asyncio.timeout(2):
                        await stream.aclose()
            with contextlib.suppress(ProviderError, OSError, TimeoutError):
                async with asyncio.timeout(2):
                    await self.tts.aclose()
            await self.tools.aclose()

    async def _open_stt(self) -> TranscriptStream | None:
        try:
            return await self.stt.open(self.sample_rate, self.config.language, self.meter)
        except ProviderError:
            self._stt_alive = False  # turns still end on VAD quiet, with a re-prompt
            return None

    async def _pump(self, stream: TranscriptStream) -> None:
        try:
            while True:
                item = await self._caller.queue.get()
                if item is None:
                    await stream.finalize()
                else:
                    await stream.send(item)
        except ProviderError:
            self._stt_alive = False

    async def _read(self, stream: TranscriptStream) -> None:
        try:
            while (item := await stream.recv()) is not None:
                self._on_transcript(item)
        except ProviderError:
            self._stt_alive = False
        self._stt_alive = False

    def _on_transcript(self, transcript: Transcript) -> None:
        if transcript.audio_end_s is not None and transcript.audio_end_s <= self._answered_s + 0.01:
            return  # of words a turn was answered on already, without waiting for it: late
        if not transcript.is_final:
            self._interim = transcript.text[-MAX_TURN_CHARS:]
            return
        if transcript.text.strip():
            self._finals.append(transcript.text.strip()[-MAX_TURN_CHARS:])
            self._finals_chars += len(self._finals[-1])
            while self._finals_chars > MAX_TURN_CHARS:  # the turn's oldest words go first
                self._finals_chars -= len(self._finals.popleft())
        self._interim = ""
        self._final_at = self.clock()
        if not self._user_speaking or (transcript.speech_final and self._stt_heard_the_end()):
            self._final.set()
        elif transcript.speech_final and self.vad is not None:  # ends the turn at the VAD's quiet
            self._end_heard_at = self.vad.state.voiced_frames  # unless the caller says more

    def _forget_heard(self) -> None:
        """The STT's words so far belong to a turn taken (or already answered)."""
        self._finals.clear()
        self._finals_chars = 0
        self._interim = ""

    async def _turns(self) -> None:
        while True:
            await self._speech_ended.wait()
            self._speech_ended.clear()
            speech_end, finalize_at, finalized_s = self._speech_end_at, self._finalize_at, self._finalized_s
            early: asyncio.Task[None] | None = None
            if self.config.early_llm and self._interim and not self._final.is_set():
                early = self._take_turn(speech_end, finalize_at, self._interim, final=False)
            remaining = self.config.max_wait_ms / 1000 - (self.clock() - speech_end)
            got_final = False
            if self._stt_alive and remaining > 0:
                try:
                    async with asyncio.timeout(remaining):
                        await self._final.wait()
                    got_final = True
                except TimeoutError:
                    pass
            if self._user_speaking:
                continue  # the caller went on: this turn is not over
            if not got_final:  # answered on what has come: what comes later of it is not said again
                self._answered_s = max(self._answered_s, finalized_s)
            text = " ".join(self._finals) if got_final else " ".join([*self._finals, self._interim]).strip()
            if early is not None and self._reply_turn is not None:
                if same_words(self._reply_turn.user_text, (self._carry + " " + text).strip()):
                    self._forget_heard()
                    self._reply_turn.stt_final_at = self._final_at if got_final else None
                    continue
                self._drop_unheard_reply()
                self._carry = ""
            self._take_turn(speech_end, finalize_at, text, final=got_final)

    def _take_turn(
        self, speech_end: float, finalize_at: float, text: str, *, final: bool
    ) -> asyncio.Task[None]:
        said = (self._carry + " " + text).strip()[-MAX_TURN_CHARS:]
        self._carry = ""
        self._forget_heard()
        self._turn_index += 1
        turn = TurnMetrics(
            self._turn_index,
            user_text=said,
            speech_end_at=speech_end,
            stt_finalize_at=finalize_at,
            stt_final_at=self._final_at if final else None,
            turn_end_at=self.clock(),
        )
        reply = self._respond(said, turn) if said else self._say(self.config.not_heard_text, turn)
        opening = self._opening
        if opening is not None and not opening.done() and self._reply is opening:
            return self._after_opening(opening, reply)
        return self._start_reply(reply)
