"""The report's words: plain sentences around the figures, the security page, the rollout plan, the
questions to settle, the glossary and the page's style."""

import re
from importlib import resources

from voicegrid.report.facts import ASSUMED, LATENCY_MS
from voicegrid.report.figures import CANDIDATES, Figures, MinuteCost
from voicegrid.report.svg import esc


def _money(value: object, digits: int = 2) -> str:
    return f"${float(str(value)):,.{digits}f}"


def _of(f: Figures, index: int) -> MinuteCost:
    """The cost of the candidate stack `index` (on today's carrier)."""
    return next(c for c in f.costs if c.stack.name == CANDIDATES[index].name)


def decisions(f: Figures) -> list[str]:
    growth = f.deepgram_plan
    return [
        f"<b>The voice.</b> Aura-2 costs {_money(f.recommended.by_component.get('tts', 0), 4)} a minute "
        "against "
        f"{_money(_of(f, 1).by_component.get('tts', 0), 4)} "
        "for ElevenLabs Flash: "
        "choose ElevenLabs only where a brand voice or a language needs it (section 4).",
        f"<b>The provider plan.</b> Your busiest hour fits Deepgram's <b>{esc(growth)}</b> plan "
        f"({f.plan.concurrent_calls} speech-to-text streams, {f.plan.tts_slots} voice slots; section 3).",
        f"<b>The machines.</b> {f.growth[1].servers} server(s) carry 100 calls at once; "
        f"self-hosting speech-to-text pays off only above {f.self_hosting.break_even_minutes:,} minutes a "
        "month (section 4, 5).",
    ]


def latency_budget(f: Figures) -> list[tuple[str, int, int, str]]:
    tts = "deepgram aura-2" if f.recommended.stack.tts[0] == "deepgram" else "elevenlabs flash"
    return [
        ("Waiting to be sure the caller finished (endpointing)", 200, 200, "voicegrid's default pause"),
        (
            "Speech-to-text: the last words",
            *LATENCY_MS["deepgram nova-3"][:2],
            LATENCY_MS["deepgram nova-3"][2],
        ),
        (
            "Language model: the first words of the reply",
            *LATENCY_MS["openai gpt-4o-mini"][:2],
            LATENCY_MS["openai gpt-4o-mini"][2],
        ),
        ("Text-to-speech: the first sound", *LATENCY_MS[tts][:2], LATENCY_MS[tts][2]),
        ("voicegrid itself", 10, 20, "bench/load.py: platform share p50-p95 under load"),
    ]


def concurrency_words(f: Figures) -> str:
    return (
        "<p>A provider's limit of <i>N concurrent requests</i> means that at most N of your calls can be "
        "served by it at the same moment; the next one waits or is refused. A call holds a speech-to-text "
        "stream for its whole length, but the voice and the language model only while a reply is being made, "
        "a fraction of a second per turn. That is why you need fewer voice slots than calls, and why the "
        "number depends on your busiest hour, not on your monthly total.</p>"
        f"<p>Busiest hour = {f.inputs.calls_per_month:,.0f} calls a month &divide; "
        f"{ASSUMED['days_per_month'][0]} days &times; "
        f"{f.inputs.peak_hour_share:.0%} in the busiest hour. The sizes below are the planner's (Erlang "
        "formulas, "
        "the same as <code>voicegrid plan</code>).</p>"
    )


def rule_of_thumb_words() -> str:
    return (
        "<p>Vendors say one voice slot serves 40-80 conversations, because each conversation asks for "
        "a short reply every 10-20 seconds. That is only true if the slot is busy 100% of the time, and "
        "a slot that is always busy makes every request queue: at busy hours replies start late. The table "
        "shows how many conversations a pool really serves if at most 1% of requests may wait more than "
        "100 ms; the chart shows how waiting grows as conversations are added (the dashed line is your "
        "busiest hour).</p>"
    )


def elevenlabs_words(f: Figures) -> str:
    aura, eleven = _of(f, 0), _of(f, 1)
    extra = eleven.monthly - aura.monthly
    return (
        f"<p><b>Usually not.</b> At your volume ElevenLabs Flash adds {_money(extra)} a month over Aura-2 "
        f"({_money(eleven.by_component.get('tts', 0), 4)} against "
        f"{_money(aura.by_component.get('tts', 0), 4)} a minute). "
        "Aura-2's first sound comes in about "
        f"{LATENCY_MS['deepgram aura-2'][0]}-{LATENCY_MS['deepgram aura-2'][1]} ms, "
        f"ElevenLabs Flash's in {LATENCY_MS['elevenlabs flash'][0]}-{LATENCY_MS['elevenlabs flash'][1]} "
        "ms. ElevenLabs "
        "is worth its price where the voice is part of the brand (a cloned or very expressive voice), or for "
        "languages Aura-2 does not speak well. voicegrid switches per agent, so a business can try both on "
        "real calls and compare success and cost in the dashboard.</p>"
    )


SECURITY_ANSWER = (
    "Every business sees only its own calls and settings; provider keys and passwords are encrypted, "
    "and recordings and transcripts are kept only as long as the business decides."
)


def security_list() -> str:
    items = [
        (
            "Tenants",
            "each business's calls, agents, numbers and records are reachable only with its own keys; "
            "resellers see their businesses, nobody else's.",
        ),
        (
            "Keys and passwords",
            "API keys are stored as hashes; provider credentials and trunk passwords are encrypted at "
            "rest with the platform's secret key and never written to logs.",
        ),
        (
            "Phone lines",
            "calls are taken only from the business's known trunks or allowed networks; outbound calls "
            "use only its own trunks and caller IDs.",
        ),
        (
            "Recordings",
            "off unless an agent turns them on; kept on the node or in your object storage, served only "
            "to the business.",
        ),
        (
            "Retention",
            "a business sets how many days transcripts and recordings live; then they are erased, the "
            "figures stay.",
        ),
        ("Personal data", "card and phone numbers in transcripts can be masked before anything is stored."),
        (
            "Internet-facing",
            "flood limits on SIP and HTTP, bounded requests, and tenants' URLs cannot reach the "
            "platform's own network.",
        ),
    ]
    return "<ul>" + "".join(f"<li><b>{esc(a)}</b>: {esc(b)}</li>" for a, b in items) + "</ul>"


ROLLOUT_ANSWER = (
    "Start with one number and the embedded engines, measure, then add providers and volume step by step."
)


def rollout_table(f: Figures) -> str:
    steps = [
        (
            "1. Try",
            "make run; call the demo number",
            "the call works; voice-to-voice under 1.5 s (dashboard: Call page)",
        ),
        (
            "2. Pilot",
            "one agent on the recommended stack, one real number",
            f"cost per minute near {_money(f.recommended.per_minute, 4)}; success rate; voice-to-voice p95",
        ),
        (
            "3. A tenth of traffic",
            "route 10% of calls to voicegrid",
            "failed calls 0; the busiest hour's calls at once against the plan's limit",
        ),
        (
            "4. All traffic",
            "all numbers; provider plan sized (section 3)",
            f"calls at once under {f.plan.concurrent_calls}; provider waits p95 (Providers page)",
        ),
        (
            "5. Grow",
            "more nodes behind the edge (section 5)",
            "cores busy under 70%; RTP lateness; cost per successful call",
        ),
    ]
    head = "".join(f"<th>{h}</th>" for h in ("step", "do", "measure"))
    rows = "".join(f"<tr><td>{esc(a)}</td><td>{esc(b)}</td><td>{esc(c)}</td></tr>" for a, b, c in steps)
    return f'<table id="table-rollout"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


QUESTIONS_ANSWER = "The plan rests on these figures; confirm each before you buy."


def questions_list(f: Figures) -> str:
    items = [
        f"{name.replace('_', ' ')}: <b>{esc(value)}</b> ({esc(why)})"
        for name, (value, why) in ASSUMED.items()
    ]
    given = {"calls_per_month", "mean_call_minutes", "peak_hour_share"} - set(f.inputs.assumed)
    items = [i for i, name in zip(items, ASSUMED, strict=True) if name not in given]
    languages = ", ".join(f.inputs.languages) or "en"
    items.append(
        f"Languages: <b>{esc(languages)}</b>. Check that each provider of the stack speaks them well: "
        "ElevenLabs Multilingual covers the most; Aura-2 and Nova-3 fewer (see the vendors' language lists)."
    )
    items.append("Prices are the catalog's, read from the vendors' pages; promotional prices end.")
    items.append("Provider limits are the published ones for each plan; yours may have been raised.")
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


GLOSSARY = {
    "Busiest hour": "the hour of the day with the most calls; capacity is sized for it.",
    "Container image": "a packaged program with everything it needs, run the same way on any server.",
    "Enterprise agreement": "a contract negotiated with a vendor, with prices and limits of its own.",
    "Object storage": "a service that keeps files (here: recordings) apart from the servers (Amazon S3).",
    "Platform share": "the part of a reply's wait spent inside voicegrid itself, not at a provider.",
    "RTP": "the stream of small audio packets a call's sound travels in; 'lateness' is how late they leave.",
    "Carrier": "the phone company that brings calls from the phone network to the internet (Twilio, Telnyx).",
    "Concurrent": "at the same moment.",
    "Edge": "the server in front of several voicegrid machines that shares calls between them (Kamailio).",
    "Endpointing": "deciding that the caller has finished speaking.",
    "Erlang": "a unit of traffic: one line busy all the time. 10 Erlangs = on average 10 calls at once.",
    "GPU": "a graphics processor, the hardware speech models run on.",
    "Language model (LLM)": "the program that writes the agent's replies (GPT-4o mini).",
    "Latency": "waiting time, in milliseconds (ms; 1,000 ms = 1 second).",
    "p50, p95": "the time half, or 95 in 100, of the replies are faster than.",
    "Pay as you go (PAYG)": "a plan billed by use, with no commitment.",
    "Self-hosted": "run on your own servers instead of the vendor's.",
    "SIP": "the standard way phone systems set up calls over the internet.",
    "Slot": "one request a provider serves at a time; a plan has a fixed number.",
    "Speech-to-text (STT)": "turns the caller's voice into words.",
    "Stack": "the set of providers one call uses: speech-to-text, language model, text-to-speech, carrier.",
    "Text-to-speech (TTS)": "turns the agent's words into a voice.",
    "Trunk": "a connection to a carrier that carries many calls.",
    "Voice-to-voice": "the time from the caller's last word to the first sound of the reply.",
}


def glossary() -> str:
    return (
        '<dl id="glossary-list">'
        + "".join(f"<dt>{esc(t)}</dt><dd>{esc(d)}</dd>" for t, d in sorted(GLOSSARY.items()))
        + "</dl>"
    )


def css(primary: str, accent: str) -> str:
    """The page's style (`report.css`), in the reseller's colours (checked as colours: `#rgb[a]` hex)."""
    sheet = resources.files("voicegrid.report").joinpath("report.css").read_text(encoding="utf-8")
    return f":root{{--primary:{_colour(primary, '#2563eb')};--accent:{_colour(accent, '#1f2937')}}}" + sheet


def _colour(value: str, default: str) -> str:
    return value if re.fullmatch(r"#[0-9a-fA-F]{3,8}", value or "") else default
