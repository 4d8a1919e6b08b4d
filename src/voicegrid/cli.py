"""The `voicegrid` command: serve the platform, and manage its database.

This module imports only typer at its top: each command imports what it runs, so a command holds
only what it needs (`bench/idle.py` measures the node's). The entry, `voicegrid.__main__`, imports
this module only when run: the analysis worker, a spawned process that imports its parent's main
module, holds neither this nor typer.
"""

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from voicegrid import __version__
from voicegrid.cluster.cli import cluster_app
from voicegrid.report_cli import report as report_command

if TYPE_CHECKING:
    from voicegrid.config import Settings

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="voicegrid: AI phone agents, multi-tenant."
)
db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")
app.add_typer(db_app, name="db")
sip_app = typer.Typer(no_args_is_help=True, help="SIP tools.")
app.add_typer(sip_app, name="sip")
app.add_typer(cluster_app, name="cluster")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML settings file", envvar="VOICEGRID_CONFIG")
]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="where the database and keys live")]
DbUrlOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy async URL")]

EXIT_CONFIG = 2


T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T | None:
    """Run on uvloop when present; turn the expected start-up failures into one line and exit code 2."""
    from voicegrid.store.errors import DatabaseUnavailable
    from voicegrid.telephony.errors import TransportError
    from voicegrid.tenancy import SecretError

    try:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
            return asyncio.run(coro)
        else:
            return uvloop.run(coro)
    except DatabaseUnavailable as exc:
        typer.echo(f"voicegrid: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except TransportError as exc:
        typer.echo(f"voicegrid: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except SecretError as exc:
        typer.echo(f"voicegrid: secrets key: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except KeyboardInterrupt:
        return None


def _settings(config: Path | None, **overrides: Any) -> "Settings":
    from voicegrid.config import load_settings

    try:
        return load_settings(config, **overrides)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"voicegrid: configuration: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None


@app.command()
def serve(
    demo: Annotated[bool, typer.Option("--demo", help="seed the demo business once")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
    http_host: Annotated[str | None, typer.Option("--http-host")] = None,
    http_port: Annotated[int | None, typer.Option("--http-port")] = None,
    sip_port: Annotated[int | None, typer.Option("--sip-port")] = None,
) -> None:
    """Start the platform in the foreground."""
    from voicegrid.server import serve as run_server

    settings = _settings(
        config,
        data_dir=data_dir,
        database_url=database_url,
        http_host=http_host,
        http_port=http_port,
        sip_port=sip_port,
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _run(run_server(settings, demo=demo))


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbUrlOpt = None) -> None:
    """Migrate the database to the newest schema."""
    from voicegrid.store import check_database, make_engine, upgrade

    settings = _settings(config, data_dir=data_dir, database_url=database_url)

    async def go() -> None:
        engine = make_engine(settings.effective_database_url)
        try:
            await check_database(engine)
            await upgrade(engine)
        finally:
            await engine.dispose()

    _run(go())
    typer.echo("database at the newest schema")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision; 'base' empties the schema")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Migrate the database back to an older schema."""
    from voicegrid.store import check_database, downgrade, make_engine

    settings = _settings(config, data_dir=data_dir, database_url=database_url)

    async def go() -> None:
        engine = make_engine(settings.effective_database_url)
        try:
            await check_database(engine)
            await downgrade(engine, revision)
        finally:
            await engine.dispose()

    _run(go())
    typer.echo(f"database at revision {revision}")


@sip_app.command("check")
def sip_check(
    files: Annotated[list[Path], typer.Argument(help="files, each holding one SIP message", exists=False)],
) -> None:
    """Parse each file as one SIP message, as a UAS's parser layer would: syntax, framing, mandatory headers.

    Prints `FILE: ok <method or status>` or `FILE: invalid: <reason>`; exits 0 if all are valid,
    1 if any is invalid, 2 on a usage error (such as a file that cannot be read).
    """
    from voicegrid.sip import ParseError, Request, parse_message, validate

    contents: list[tuple[Path, bytes]] = []
    for path in files:
        try:
            contents.append((path, path.read_bytes()))
        except OSError as exc:
            typer.echo(f"voicegrid sip check: cannot read {path}: {exc.strerror}", err=True)
            raise typer.Exit(EXIT_CONFIG) from None
    all_valid = True
    for path, data in contents:
        try:
            message = parse_message(data)
            validate(message)
        except ParseError as exc:
            all_valid = False
            typer.echo(f"{path}: invalid: {exc.reason} (answer {exc.status})")
            continue
        what = message.method if isinstance(message, Request) else str(message.status)
        typer.echo(f"{path}: ok {what}")
    if not all_valid:
        raise typer.Exit(1)


@app.command()
def call(
    target: Annotated[str, typer.Argument(help="e.g. sip:+15550100@127.0.0.1:5060")],
    say: Annotated[
        list[str] | None, typer.Option("--say", help="a line to say; repeat for each turn")
    ] = None,
    api_url: Annotated[str | None, typer.Option("--api-url", help="default: the local demo's")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="default: the local demo's key")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the conversation as JSON")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds for the whole call")] = 120.0,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Call an agent over SIP, say each line after it stops talking, and print the conversation."""
    import json

    from voicegrid.caller import place_call
    from voicegrid.demo import demo_file

    settings = _settings(config, data_dir=data_dir)
    demo = demo_file(settings)
    if (api_url is None or api_key is None) and demo.exists():
        known = json.loads(demo.read_text())
        api_url = api_url or known.get("http_url")
        api_key = api_key or known.get("api_key")
    try:
        result = _run(
            place_call(
                target,
                list(say or []),
                api_url=api_url,
                api_key=api_key,
                timeout_s=timeout,
                model_dir=Path(settings.data_dir) / "models",
            )
        )
    except (ValueError, OSError) as exc:
        typer.echo(f"call failed: {exc}", err=True)
        raise typer.Exit(2) from exc
    if result is None:
        raise typer.Exit(1)
    if as_json:
        keys = ("call_id", "turns")
        typer.echo(json.dumps({k: result[k] for k in keys} | {"completed": result["completed"]}, indent=2))
    else:
        typer.echo(f"call {result['call_id']} ({result['codec']}, {result['seconds']} s)")
        for turn in result["turns"]:
            if turn["speaker"] == "caller":
                typer.echo(f"  caller: {turn['text']}")
                continue
            latency = "" if turn["voice_to_voice_ms"] is None else f"  [{turn['voice_to_voice_ms']} ms]"
            typer.echo(f"  agent:  {turn['text'] or '?'}{latency}")
            typer.echo(f"          (heard: {turn['heard']!r}, {turn['audio_ms']} ms of audio)")
    if not result["completed"]:
        raise typer.Exit(1)


@app.command()
def emulate(
    provider: Annotated[str, typer.Argument(help="deepgram, elevenlabs or openai")],
    port: Annotated[int, typer.Option("--port")] = 0,
    api_key: Annotated[str, typer.Option("--api-key")] = "test-key",
    first_byte_ms: Annotated[float, typer.Option("--first-byte-ms")] = 0.0,
    jitter_ms: Annotated[float, typer.Option("--jitter-ms")] = 0.0,
    fault: Annotated[str, typer.Option("--fault", help="none, 401, 429, 500, disconnect, slow")] = "none",
    fault_count: Annotated[int | None, typer.Option("--fault-count", help="fail only the first N")] = None,
    script: Annotated[
        list[str] | None, typer.Option("--script", help="a transcript or reply, in order")
    ] = None,
    loop_script: Annotated[
        bool, typer.Option("--loop-script", help="start the script over when done")
    ] = False,
    token_ms: Annotated[float, typer.Option("--token-ms", help="openai: time between tokens")] = 10.0,
) -> None:
    """Run a provider's protocol emulator on 127.0.0.1 until interrupted."""
    from voicegrid.testing.emulators import EMULATORS, Faults
    from voicegrid.testing.emulators.base import FAULTS

    if provider not in EMULATORS or fault not in FAULTS:
        typer.echo(f"provider: one of {', '.join(EMULATORS)}; fault: one of {', '.join(FAULTS)}", err=True)
        raise typer.Exit(2)
    emulator = EMULATORS[provider](
        api_key=api_key,
        faults=Faults(fault, fault_count),
        first_byte_ms=first_byte_ms,
        jitter_ms=jitter_ms,
        script=list(script or []),
        loop_script=loop_script,
        **({"token_ms": token_ms} if provider == "openai" else {}),
    )

    async def run() -> None:
        bound = await emulator.start(port)
        typer.echo(f"{provider} emulator on http://127.0.0.1:{bound} (ws://127.0.0.1:{bound})", err=True)
        try:
            await asyncio.Event().wait()
        finally:
            await emulator.stop()

    _run(run())


@app.command()
def plan(
    calls_per_hour: Annotated[float, typer.Option("--calls-per-hour", help="at the busy hour")] = 600.0,
    mean_call_s: Annotated[float, typer.Option("--mean-call-s")] = 180.0,
    talk_share: Annotated[float, typer.Option("--talk-share", help="of a call the agent speaks")] = 0.5,
    turns_per_minute: Annotated[float, typer.Option("--turns-per-minute")] = 4.0,
    tts_request_ms: Annotated[float, typer.Option("--tts-request-ms")] = 250.0,
    llm_request_ms: Annotated[float, typer.Option("--llm-request-ms")] = 800.0,
    blocking: Annotated[float, typer.Option("--blocking", help="target share of calls refused")] = 0.01,
    wait_ms: Annotated[float, typer.Option("--wait-ms", help="per-turn wait bound")] = 100.0,
    wait_target: Annotated[float, typer.Option("--wait-target", help="share that may wait longer")] = 0.01,
    tts_slots: Annotated[str, typer.Option("--tts-slots", help="slot counts to advise on")] = "1,3,10,45",
    call_limit: Annotated[int | None, typer.Option("--call-limit", help="max_concurrent_calls set")] = None,
    stt_limit: Annotated[int, typer.Option("--stt-limit", help="STT streams of the account")] = 150,
    tts_limit: Annotated[int, typer.Option("--tts-limit", help="TTS slots of the account")] = 45,
    llm_limit: Annotated[int | None, typer.Option("--llm-limit", help="LLM slots, if limited")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Size concurrent calls and provider slots (Erlang B and C), and check the TTS rule of thumb."""
    import dataclasses
    import json

    from rich.console import Console
    from rich.table import Table

    from voicegrid.capacity import planning

    result = planning.plan(
        calls_per_hour=calls_per_hour,
        mean_call_s=mean_call_s,
        agent_talk_share=talk_share,
        turns_per_minute=turns_per_minute,
        tts_request_s=tts_request_ms / 1000,
        llm_request_s=llm_request_ms / 1000,
        blocking_target=blocking,
        wait_bound_s=wait_ms / 1000,
        wait_target=wait_target,
    )
    try:
        slot_counts = [int(x) for x in tts_slots.split(",") if x.strip()]
    except ValueError:
        typer.echo("--tts-slots: comma-separated whole numbers", err=True)
        raise typer.Exit(2) from None
    advice = [
        planning.tts_advice(n, tts_request_ms / 1000, wait_s=wait_ms / 1000, target=wait_target)
        for n in slot_counts
    ]
    buy = planning.deepgram_plan_for(result.concurrent_calls, result.tts_slots)
    checks = planning.check_limits(
        result,
        calls=call_limit,
        stt=stt_limit,
        tts=tts_limit,
        llm=llm_limit,
        tts_request_s=tts_request_ms / 1000,
        llm_request_s=llm_request_ms / 1000,
        wait_bound_s=wait_ms / 1000,
    )
    if as_json:
        out = {
            "plan": dataclasses.asdict(result),
            "deepgram_plan": buy,
            "tts_advice": [dataclasses.asdict(a) for a in advice],
            "under_limits": [dataclasses.asdict(c) for c in checks],
        }
        typer.echo(json.dumps(out, indent=2))
        return
    console = Console()
    table = Table(
        title=f"{calls_per_hour:g} calls/h of {mean_call_s:g} s = {result.offered_erlangs:.1f} Erlangs"
    )
    for column in ("need", "how many", "at"):
        table.add_column(column)
    table.add_row(
        "concurrent calls = STT streams", str(result.concurrent_calls), f"{result.blocking:.2%} refused"
    )
    table.add_row(
        "TTS slots", str(result.tts_slots), f"{result.tts_wait_probability:.2%} wait > {wait_ms:g} ms"
    )
    table.add_row(
        "LLM slots", str(result.llm_slots), f"{result.llm_wait_probability:.2%} wait > {wait_ms:g} ms"
    )
    table.add_row("Deepgram plan", buy, "")
    console.print(table)
    rule = Table(title=f"TTS slots: one {tts_request_ms:g} ms request every 10-20 s per conversation")
    for column in (
        "slots",
        "rule of thumb (100% busy)",
        f"with P(wait > {wait_ms:g} ms) <= {wait_target:.0%}",
    ):
        rule.add_column(column)
    for a in advice:
        rule.add_row(str(a.slots), f"{a.naive_low}-{a.naive_high}", f"{a.served}-{a.served_at_long_interval}")
    console.print(rule)
    limits = Table(title="Under the limits set")
    for column in ("limit", "set", "offered / limit", "share of requests"):
        limits.add_column(column)
    for c in checks:
        limits.add_row(c.limit, str(c.value), f"{c.utilisation:.0%}", f"{c.probability:.2%} {c.meaning}")
    console.print(limits)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


app.command("report")(report_command)


def main() -> None:
    app(prog_name="voicegrid")


if __name__ == "__main__":  # pragma: no cover
    main()
