"""The report as one self-contained HTML document: sections in the issue's order, each opening with its
answer; tables carry `data-figure` names so a test can hold each number to the planner and catalog."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from voicegrid.report import texts
from voicegrid.report.facts import ASSUMED, PLANS, SELF_HOSTING
from voicegrid.report.figures import Figures, MinuteCost
from voicegrid.report.svg import esc, flow, line, stacked_bars

COMPONENTS = ("stt", "llm", "tts", "telephony")
COMPONENT_NAMES = {
    "stt": "speech-to-text",
    "llm": "language model",
    "tts": "text-to-speech",
    "telephony": "carrier",
}


@dataclass(frozen=True, slots=True)
class Branding:
    product: str = "voicegrid"
    primary: str = "#2563eb"
    accent: str = "#1f2937"
    support_email: str | None = None


def money(value: Decimal | float, digits: int = 2) -> str:
    return f"${float(value):,.{digits}f}"


def pct(value: float, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f}%"


def fig(name: str, text: str, value: Any) -> str:
    """A number the test can find: shown as `text`, its exact value in `data-value`."""
    return f'<span class="figure" data-figure="{esc(name)}" data-value="{esc(value)}">{esc(text)}</span>'


def table(head: list[str], rows: list[list[str]], table_id: str) -> str:
    """Cells are HTML already (escaped where they hold text)."""
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{esc(table_id)}"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'


def section(section_id: str, title: str, answer: str, *body: str) -> str:
    return (
        f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2>'
        f'<p class="answer">{answer}</p>{"".join(body)}</section>'
    )


def _cost_cells(c: MinuteCost) -> list[str]:
    return (
        [esc(c.stack.name)]
        + [money(c.by_component.get(k, Decimal(0)), 4) for k in COMPONENTS]
        + [
            fig(f"per_minute:{c.stack.name}", money(c.per_minute, 4), c.per_minute),
            fig(f"monthly:{c.stack.name}", money(c.monthly), c.monthly),
        ]
    )


def answer(f: Figures) -> str:
    saving = f.today.monthly - f.recommended.monthly
    same = f.today.stack == f.recommended.stack
    verdict = (
        "You already run the recommended stack."
        if same
        else f"Moving to it {'saves' if saving > 0 else 'costs'} "
        f"{fig('monthly_saving', money(abs(saving)), saving)} a month at your volume."
    )
    rows = [
        [
            "Recommended",
            esc(f.recommended.stack.label()),
            fig("recommended_per_minute", money(f.recommended.per_minute, 4), f.recommended.per_minute),
            money(f.recommended.monthly),
        ],
        [
            "Today",
            esc(f.today.stack.label()),
            fig("today_per_minute", money(f.today.per_minute, 4), f.today.per_minute),
            money(f.today.monthly),
        ],
    ]
    decisions = texts.decisions(f)
    return section(
        "answer",
        "1. The answer on one page",
        f"Run <b>{esc(f.recommended.stack.name)}</b>: {money(f.recommended.per_minute, 4)} a minute, "
        f"{money(f.recommended.monthly)} a month for {f.minutes_per_month:,.0f} minutes. {verdict}",
        table(["", "stack", "per minute", "per month"], rows, "table-answer"),
        "<h3>Three decisions to take</h3><ol>" + "".join(f"<li>{d}</li>" for d in decisions) + "</ol>",
        f'<p class="source">Volume: {esc(f.inputs.source)}. '
        f"Prices: the catalog in effect on {f.on.isoformat()}.</p>",
    )


def how(f: Figures) -> str:
    steps = [
        ("Caller", "speaks on a phone"),
        ("Carrier", "phone network to internet"),
        ("voicegrid", "listens, decides turns"),
        ("Speech-to-text", "words as they are said"),
        ("Language model", "writes the reply"),
        ("Text-to-speech", "a voice for the reply"),
        ("voicegrid", "plays it, paced"),
        ("Caller", "hears the answer"),
    ]
    budget = texts.latency_budget(f)
    rows = [
        [esc(name), f"{low}-{high} ms" if low != high else f"{low} ms", esc(source)]
        for name, low, high, source in budget
    ]
    return section(
        "how",
        "2. How a call works",
        "A reply travels through six steps. Most of the wait is the language model thinking and the pause "
        "we leave to be sure the caller has finished.",
        flow(steps, "diagram-call", "The path of one reply"),
        table(["step", "time", "source"], rows, "table-latency"),
    )


def concurrency(f: Figures) -> str:
    p = f.plan
    rows = [
        [
            "calls at the same time (= speech-to-text streams)",
            fig("concurrent_calls", str(p.concurrent_calls), p.concurrent_calls),
            f"{pct(p.blocking, 2)} of calls find every line busy",
        ],
        [
            "text-to-speech slots",
            fig("tts_slots", str(p.tts_slots), p.tts_slots),
            f"{pct(p.tts_wait_probability, 2)} of requests wait over 100 ms",
        ],
        [
            "language-model slots",
            fig("llm_slots", str(p.llm_slots), p.llm_slots),
            f"{pct(p.llm_wait_probability, 2)} of requests wait over 100 ms",
        ],
        [
            "Deepgram plan",
            fig("deepgram_plan", f.deepgram_plan, f.deepgram_plan),
            "published limits per plan",
        ],
    ]
    advice = [
        [
            str(a.slots),
            f"{a.naive_low}-{a.naive_high}",
            fig(f"served:{a.slots}", f"{a.served}-{a.served_at_long_interval}", a.served),
        ]
        for a in f.advice
    ]
    return section(
        "concurrency",
        "3. Concurrency in plain words",
        "At your busiest hour "
        f"({fig('busy_hour_calls', f'{f.busy_hour_calls:,.0f} calls', round(f.busy_hour_calls, 3))}, "
        f"{fig('offered_erlangs', f'{p.offered_erlangs:.1f}', round(p.offered_erlangs, 4))} calls on "
        "average at once) "
        f"you need room for {p.concurrent_calls} calls at once and {p.tts_slots} text-to-speech slots.",
        texts.concurrency_words(f),
        table(["you need", "how many", "so that"], rows, "table-needs"),
        "<h3>The vendors' rule of thumb, checked</h3>",
        texts.rule_of_thumb_words(),
        table(
            ["slots", "rule of thumb: conversations", "conversations with under 1% waiting over 100 ms"],
            advice,
            "table-rule",
        ),
        line(
            f"Chance a text-to-speech request waits over 100 ms on {p.tts_slots} slots",
            [(x, y) for x, y in f.wait_curve],
            "conversations at once",
            "requests waiting over 100 ms",
            "chart-wait",
            mark=p.offered_erlangs,
        ),
    )


def cost(f: Figures) -> str:
    rows = [_cost_cells(c) for c in f.costs]
    chart = stacked_bars(
        "Cost of one call-minute by component",
        [(c.stack.name, [float(c.by_component.get(k, 0)) for k in COMPONENTS]) for c in f.costs],
        [COMPONENT_NAMES[k] for k in COMPONENTS],
        "USD",
        "chart-cost",
    )
    sh = f.self_hosting
    self_rows = [
        [
            "speech-to-text from the API, per month",
            fig("api_stt_monthly", money(sh.api_monthly), sh.api_monthly),
        ],
        ["GPUs for your peak", fig("selfhost_gpus", str(sh.gpus), sh.gpus)],
        [
            "self-hosted, per month (GPUs + licence, assumed)",
            fig("selfhost_monthly", money(sh.monthly_cost), sh.monthly_cost),
        ],
        [
            "self-hosting pays off above",
            fig("break_even_minutes", f"{sh.break_even_minutes:,} minutes a month", sh.break_even_minutes),
        ],
    ]
    return section(
        "cost",
        "4. Cost",
        f"A minute costs from {money(min(c.per_minute for c in f.costs), 4)} to "
        f"{money(max(c.per_minute for c in f.costs), 4)} "
        "depending on the stack; the voice (text-to-speech) is the biggest part.",
        table(
            [
                "stack",
                "speech-to-text",
                "language model",
                "text-to-speech",
                "carrier",
                "per minute",
                "per month",
            ],
            rows,
            "table-cost",
        ),
        chart,
        "<h3>Do we need ElevenLabs?</h3>",
        texts.elevenlabs_words(f),
        "<h3>Can we host Deepgram ourselves?</h3>",
        "<ul>"
        + "".join(
            f"<li>{esc(x.text)} <span class='source'>({esc(x.source)})</span></li>" for x in SELF_HOSTING
        )
        + "</ul>",
        table(["", ""], self_rows, "table-selfhost"),
        '<p class="source">Assumed: '
        + esc(
            f"one GPU server ${ASSUMED['gpu_server_usd_month'][0]}/month "
            f"({ASSUMED['gpu_server_usd_month'][1]}); licence "
            f"${ASSUMED['selfhost_licence_usd_month'][0]}/month "
            f"({ASSUMED['selfhost_licence_usd_month'][1]}); {ASSUMED['selfhost_streams_per_gpu'][0]} "
            f"streams per GPU ({ASSUMED['selfhost_streams_per_gpu'][1]})."
        )
        + "</p>",
    )


def growing(f: Figures) -> str:
    rows = [
        [
            fig(f"growth_calls:{g.concurrent_calls}", str(g.concurrent_calls), g.concurrent_calls),
            fig(f"growth_cores:{g.concurrent_calls}", str(g.cores), g.cores),
            fig(f"growth_servers:{g.concurrent_calls}", str(g.servers), g.servers),
            esc(g.nodes_layout),
            esc(g.deepgram_plan),
            f"{g.tts_slots} slots: {esc(g.elevenlabs_plan)}",
        ]
        for g in f.growth
    ]
    return section(
        "growing",
        "5. Growing",
        f"One core holds about {fig('calls_per_core', f'{f.calls_per_core:.0f} calls', f.calls_per_core)} "
        "(measured): one machine carries the first hundreds of calls; past that, add machines behind the "
        "edge.",
        table(
            [
                "calls at once",
                "cores",
                f"servers ({ASSUMED['cores_per_server'][0]} cores, 70% busy)",
                "layout",
                "Deepgram plan",
                "ElevenLabs (if used)",
            ],
            rows,
            "table-growth",
        ),
        f'<p class="source">Measured: {esc(f.density_source)}.</p>',
        table(
            ["provider", "plan", "speech-to-text streams", "text-to-speech slots", "source"],
            [
                [
                    esc(p.provider),
                    esc(p.plan),
                    str(p.stt_streams or "-"),
                    str(p.tts_slots or "-"),
                    esc(p.source),
                ]
                for p in PLANS
            ],
            "table-plans",
        ),
    )


def document(f: Figures, brand: Branding) -> str:
    parts = [
        answer(f),
        how(f),
        concurrency(f),
        cost(f),
        growing(f),
        section("security", "6. Security and privacy", texts.SECURITY_ANSWER, texts.security_list()),
        section("rollout", "7. A step-by-step rollout plan", texts.ROLLOUT_ANSWER, texts.rollout_table(f)),
        section("questions", "8. Questions to settle", texts.QUESTIONS_ANSWER, texts.questions_list(f)),
        section(
            "glossary",
            "9. Glossary",
            "Every technical word of this document, in plain words.",
            texts.glossary(),
        ),
    ]
    title = f"{brand.product}: the plan{' for ' + f.inputs.business if f.inputs.business else ''}"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{texts.css(brand.primary, brand.accent)}</style></head><body>"
        f'<header><div class="product">{esc(brand.product)}</div><h1>{esc(title)}</h1>'
        f'<p class="source">Made on {f.on.isoformat()} from {esc(f.inputs.source)}.'
        + (f" Questions: {esc(brand.support_email)}." if brand.support_email else "")
        + "</p></header>"
        + "".join(parts)
        + "</body></html>"
    )
