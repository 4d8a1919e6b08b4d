"""`voicegrid report`: the plan as one HTML file (and a PDF), for people who do not read code."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # the report's modules load when it is written, not with the command line
    from voicegrid.config import Settings
    from voicegrid.report import Branding, Inputs
    from voicegrid.report.figures import Stack

STACKS = ("aura", "elevenlabs", "elevenlabs-multilingual", "embedded")  # report.figures.CANDIDATES


def _today(spec: str, carrier: str) -> "Stack":
    from voicegrid.report.figures import CANDIDATES, Stack

    if spec not in STACKS:
        raise typer.BadParameter(f"one of {', '.join(STACKS)}", param_hint="--today")
    stack = CANDIDATES[STACKS.index(spec)]
    return Stack(stack.name, stack.stt, stack.llm, stack.tts, carrier)


async def _from_records(
    settings: "Settings", business_id: str | None, first: date, last: date
) -> "tuple[Inputs, Branding]":
    from voicegrid.demo import demo_file
    from voicegrid.report.stored import branding_of, business_inputs
    from voicegrid.store import check_database, make_engine, make_sessionmaker
    from voicegrid.store.models import Business

    if business_id is None:
        demo = demo_file(settings)
        if not demo.exists():
            raise typer.BadParameter("no --business, and no demo business here", param_hint="--business")
        business_id = str(json.loads(demo.read_text())["business_id"])
    engine = make_engine(settings.effective_database_url)
    try:
        await check_database(engine)
        async with make_sessionmaker(engine)() as session:
            business = await session.get(Business, business_id)
            if business is None:
                raise typer.BadParameter(f"no business {business_id}", param_hint="--business")
            return await business_inputs(session, business, first, last), await branding_of(session, business)
    finally:
        await engine.dispose()


async def _reseller_brand(settings: "Settings", reseller_id: str) -> "Branding":
    from voicegrid.report.stored import reseller_branding
    from voicegrid.store import check_database, make_engine, make_sessionmaker
    from voicegrid.store.models import Reseller

    engine = make_engine(settings.effective_database_url)
    try:
        await check_database(engine)
        async with make_sessionmaker(engine)() as session:
            if await session.get(Reseller, reseller_id) is None:
                raise typer.BadParameter(f"no reseller {reseller_id}", param_hint="--reseller")
            return await reseller_branding(session, reseller_id)
    finally:
        await engine.dispose()


def report(
    out: Annotated[Path, typer.Option("--out", help="the HTML file to write")] = Path(
        "voicegrid-report.html"
    ),
    pdf: Annotated[
        bool, typer.Option("--pdf", help="also the same as a PDF, beside the HTML (needs Chromium)")
    ] = False,
    calls_per_month: Annotated[float | None, typer.Option("--calls-per-month", min=1)] = None,
    mean_call_minutes: Annotated[float | None, typer.Option("--mean-call-minutes", min=0.05)] = None,
    peak_hour_share: Annotated[
        float | None,
        typer.Option(
            "--peak-hour-share", min=0.01, max=1.0, help="share of a day's calls in its busiest hour"
        ),
    ] = None,
    languages: Annotated[str, typer.Option("--languages", help="comma-separated, e.g. en,es")] = "en",
    today: Annotated[
        str, typer.Option("--today", help=f"the stack you run today: {', '.join(STACKS)}")
    ] = "elevenlabs",
    carrier: Annotated[str, typer.Option("--carrier", help="sip, twilio or telnyx")] = "sip",
    from_records: Annotated[
        bool, typer.Option("--from-records", help="the figures of a business's call records")
    ] = False,
    business: Annotated[
        str | None, typer.Option("--business", help="with --from-records (default: the demo's)")
    ] = None,
    first: Annotated[datetime | None, typer.Option("--from", formats=["%Y-%m-%d"])] = None,
    last: Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d"])] = None,
    reseller: Annotated[
        str | None, typer.Option("--reseller", help="in its branding (with --from-records: the business's)")
    ] = None,
    bench_results: Annotated[
        Path | None, typer.Option("--bench-results", help="bench/load.py summaries (default ./bench/results)")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", envvar="VOICEGRID_CONFIG")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
) -> None:
    """Write the plan: the answer, how a call works, concurrency, cost, growing, security, rollout,
    questions to settle and a glossary, from your figures (or your call records) and the catalog."""
    from voicegrid.catalog import load_catalog
    from voicegrid.cli import _run, _settings
    from voicegrid.report import Branding, Inputs, build
    from voicegrid.report.facts import ASSUMED
    from voicegrid.report.pdf import PdfError, print_pdf

    if carrier not in ("sip", "twilio", "telnyx"):
        raise typer.BadParameter("sip, twilio or telnyx", param_hint="--carrier")
    stamp = datetime.now(UTC).date()
    brand = Branding()
    if from_records:
        settings = _settings(config, data_dir=data_dir, database_url=database_url)
        end = last.date() if last else stamp
        start = first.date() if first else end - timedelta(days=29)
        try:
            found = _run(_from_records(settings, business, start, end))
        except ValueError as exc:  # no records in the range
            typer.echo(f"voicegrid report: {exc}", err=True)
            raise typer.Exit(2) from None
        if found is None:
            raise typer.Exit(1)
        inputs, brand = found
    else:
        given = {
            "calls_per_month": calls_per_month,
            "mean_call_minutes": mean_call_minutes,
            "peak_hour_share": peak_hour_share,
        }
        values: dict[str, Any] = {k: v if v is not None else ASSUMED[k][0] for k, v in given.items()}
        assumed = frozenset(k for k, v in given.items() if v is None)
        inputs = Inputs(
            **values,
            languages=tuple(x.strip() for x in languages.split(",") if x.strip()),
            today=_today(today, carrier),
            source="your figures"
            if not assumed
            else f"assumptions ({', '.join(sorted(assumed))}: see section 8)",
            assumed=assumed,
        )
    if reseller is not None and not from_records:
        settings = _settings(config, data_dir=data_dir, database_url=database_url)
        brand = _run(_reseller_brand(settings, reseller)) or brand
    results = bench_results if bench_results is not None else Path("bench/results")
    _, html = build(inputs, load_catalog(), stamp, results=results, brand=brand)
    out.write_text(html, encoding="utf-8")
    typer.echo(f"wrote {out}")
    if pdf:
        target = out.with_suffix(".pdf")
        try:
            print_pdf(html, target)
        except PdfError as exc:
            typer.echo(f"voicegrid report: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"wrote {target}")
