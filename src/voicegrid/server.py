"""Composition root: settings in, a running platform out (database, migrations, keys, HTTP API)."""

import asyncio
import functools
import importlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from voicegrid.analytics import Journal, Recorder
from voicegrid.analytics.metrics import CallMetrics
from voicegrid.analytics.rollup import record_deltas
from voicegrid.analytics.shared_outbox import SharedDeliveries
from voicegrid.analytics.webhooks import WebhookSender
from voicegrid.bootstrap import ensure_admin_key, secret_box
from voicegrid.capacity.backend import Backend
from voicegrid.capacity.memory import MemoryBackend
from voicegrid.capacity.metrics import CapacityMetrics
from voicegrid.capacity.resilient import ResilientBackend
from voicegrid.catalog import load_catalog
from voicegrid.config import Settings
from voicegrid.core.clock import utcnow
from voicegrid.core.tls import tls_context
from voicegrid.demo import demo_file, seed_demo
from voicegrid.http_front import Asgi, HttpFront, ProtocolFactory
from voicegrid.media.ports import PortAllocator
from voicegrid.pipeline.gating import ProviderSlots
from voicegrid.pipeline.provider_limits import load_provider_limits
from voicegrid.process import HttpServer, raise_file_limit, run_until_signalled, tune_gc
from voicegrid.services import AppServices, unready_reason
from voicegrid.sip.limits import RequestLimits
from voicegrid.sip.useragent import UserAgent
from voicegrid.store import check_database, make_engine, make_sessionmaker, upgrade
from voicegrid.store.billing import full_catalog
from voicegrid.store.call_records import record_refused, write_call_records
from voicegrid.telephony.admission import Admission
from voicegrid.telephony.analyses import Analyses
from voicegrid.telephony.book import CallState
from voicegrid.telephony.calls import CallControl
from voicegrid.telephony.campaign_runner import CampaignRunner
from voicegrid.telephony.edge import EdgeTrust
from voicegrid.telephony.ratelimit import SourceRateLimiter
from voicegrid.telephony.recording_store import Bucket, ObjectStoreError, RecordingStore
from voicegrid.telephony.records import CallRecords, Retention
from voicegrid.telephony.registrations import TrunkRegistrations
from voicegrid.telephony.routing import InboundRouter
from voicegrid.telephony.service import CallService
from voicegrid.telephony.sip_metrics import watch_sip
from voicegrid.telephony.sip_transport import TcpLimits
from voicegrid.telephony.trials import TrialBook
from voicegrid.transports.streams import StreamCalls
from voicegrid.voice_agents import VoiceAgentFactory, warm_providers

if TYPE_CHECKING:
    from fastapi import FastAPI

    from voicegrid.telephony.fleet import Fleet

log = logging.getLogger("voicegrid")


@dataclass(slots=True)
class Core:
    """The node's database and services, before any of its listeners."""

    settings: Settings
    engine: AsyncEngine
    services: AppServices


@dataclass(slots=True)
class Platform:
    settings: Settings
    engine: AsyncEngine
    app: "FastAPI"
    services: AppServices


def prepare_data_dir(data_dir: Path) -> None:
    """The data dir holds the database, the secrets key and demo credentials: owner-only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)


async def build_platform(settings: Settings) -> Platform:
    """The node's core and its REST API, built at once (for tests that drive the API in process)."""
    from voicegrid.api.app import create_app

    core = await build_core(settings)
    return Platform(core.settings, core.engine, create_app(core.engine, core.services), core.services)


async def build_core(settings: Settings) -> Core:
    """Open and migrate the database, load the secrets key, build the services. Raises DatabaseUnavailable."""
    await asyncio.to_thread(prepare_data_dir, Path(settings.data_dir))
    engine = make_engine(settings.effective_database_url)
    admission: Admission | None = None
    try:
        await check_database(engine)
        await upgrade(engine)
        # the clients the stored agents use, before the node serves: loading one later holds the GIL
        # and stalls every call's media (and the SIP answers an edge's health checks wait for)
        sessions = make_sessionmaker(engine)
        await warm_providers(sessions)
        services = AppServices(
            sessions=sessions,
            secrets=await asyncio.to_thread(secret_box, settings),
            public_url=settings.effective_public_url,
        )
        backend = capacity_backend(settings)
        metrics = CapacityMetrics()
        if isinstance(backend, ResilientBackend):
            metrics.watch_degraded(lambda: backend.degraded)
        await backend.start()
        services.admission = admission = Admission(backend, metrics)
        recorder = Recorder(
            Journal(Path(settings.data_dir) / "journal"),
            functools.partial(write_call_records, sessions, deltas=record_deltas),
            refused=record_refused,
            gather_s=settings.record_batch_s,
        )
        async with sessions() as session:
            catalog = await full_catalog(session, load_catalog())
        secrets = services.secrets
        call_metrics = CallMetrics(metrics.registry)
        webhooks = WebhookSender(
            Path(settings.data_dir) / "webhooks",
            secrets.webhook_key,
            destinations=settings.destinations,
            on_result=call_metrics.webhook_ended,
            max_backoff_s=settings.webhook_max_backoff_s,
            shared=SharedDeliveries(sessions, settings.node_name, lease_s=settings.capacity_ttl_s),
        )
        call_metrics.watch_webhooks(lambda: webhooks.pending)
        objects = recording_store(settings)
        tracer = None
        if settings.otlp_endpoint:  # OpenTelemetry is imported only by a node that exports traces
            from voicegrid.analytics.tracing import CallTracer

            tracer = CallTracer(settings.otlp_endpoint, settings.node_name)
        services.records = CallRecords(
            recorder,
            catalog,
            sessions,
            node=settings.node_name,
            metrics=call_metrics,
            webhooks=webhooks,
            tracer=tracer,
            objects=objects,
        )
        services.provider_slots = ProviderSlots(
            await load_provider_limits(services.sessions), backend, metrics
        )
        factory = VoiceAgentFactory(
            services.sessions,
            services.secrets,
            Path(settings.data_dir),
            destinations=settings.destinations,
            slots=services.provider_slots,
        )
        services.voice_agent, services.analysis_model = factory.build, factory.analysis_llm
        services.tool_tests = factory.tool_tests
    except BaseException:
        if admission is not None:
            await admission.backend.aclose()
        await engine.dispose()
        raise
    return Core(settings=settings, engine=engine, services=services)


def recording_store(settings: Settings) -> RecordingStore | None:
    """Recordings in S3-compatible object storage when a bucket is set; else each node's disk."""
    if not settings.recordings_s3_bucket:
        return None
    access, secret = settings.recordings_s3_access_key, settings.recordings_s3_secret_key
    return RecordingStore(
        Bucket(
            endpoint=settings.recordings_s3_endpoint,
            name=settings.recordings_s3_bucket,
            region=settings.recordings_s3_region,
            access_key=access.get_secret_value() if access else None,
            secret_key=secret.get_secret_value() if secret else None,
        )
    )


def capacity_backend(settings: Settings) -> Backend:
    """In-process by default; with `capacity_url`, Redis shared by every node, with a local fallback."""
    if not settings.capacity_url:
        return MemoryBackend()
    from voicegrid.capacity.shared import RedisBackend  # Redis's client, only on a node given a Redis

    shared = RedisBackend(settings.capacity_url, node_id=settings.node_name, ttl_s=settings.capacity_ttl_s)
    return ResilientBackend(shared, settings.capacity_fallback_fraction)


def start_fleet(
    settings: Settings, services: AppServices, calls: CallService, sip: CallControl
) -> "Fleet | None":
    """With Redis (`capacity_url`): this node's calls in the fleet's registry, and its answers to
    the other nodes' requests about them. None on a node of its own."""
    if not settings.capacity_url:
        return None
    from voicegrid.api.fleet_calls import answer  # the API's answers to the other nodes
    from voicegrid.telephony.fleet import Fleet

    book = sip.book
    fleet = Fleet(settings.capacity_url, settings.node_name, settings.effective_public_url)

    def live_calls() -> Iterator[tuple[str, str]]:
        """Calls live here, and those ended within a minute (until their record is surely stored,
        the other nodes find them here)."""
        recent = utcnow() - timedelta(seconds=60)
        for call in [*book.by_id.values(), *calls.queued.values()]:
            gone = call.state is CallState.ENDED and (call.ended_at is None or call.ended_at < recent)
            if not gone and call.business_id is not None:
                yield call.id, call.business_id

    fleet.start(live_calls, functools.partial(answer, services))
    book.answered_listeners.append(lambda _call: fleet.kick())
    book.ended_listeners.append(lambda _call: fleet.kick())
    services.fleet = fleet
    return fleet


def _announce(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def serve(settings: Settings, *, demo: bool) -> None:
    platform = await build_core(settings)
    try:
        async with platform.services.sessions() as session:
            admin_key = await ensure_admin_key(session, settings)
        if admin_key is not None:
            _announce(
                "\n  Platform admin key (shown this once; it is stored only as a hash):\n"
                f"    {admin_key}\n  Set VOICEGRID_ADMIN_KEY to choose your own.\n"
            )
        if demo:
            async with platform.services.sessions() as session:
                info: dict[str, Any] = await seed_demo(session, settings)
            _announce(
                f"\n  Demo business ready: Bella Pizza (credentials in {demo_file(settings)})\n"
                f"    curl -H 'Authorization: Bearer <api_key>' {info['http_url']}/v1/agents\n"
            )
        # /healthz and /readyz at once; the REST API once loaded, after the node takes calls
        front = HttpFront(
            functools.partial(unready_reason, platform.engine, platform.services),
            cast(ProtocolFactory, WebSocketsSansIOProtocol),
        )
        config = uvicorn.Config(
            front,
            host=settings.http_host,
            port=settings.http_port,
            log_level=settings.log_level,
            lifespan="on",
            server_header=False,
            # X-Forwarded-For is read only from the proxies the operator names (uvicorn would trust
            # loopback by default, and every caller on this host could then claim any address)
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=list(settings.trusted_proxies) or None,
            # carrier media sockets leave the ASGI stack at the upgrade; the rest keep uvicorn's own
            ws=cast(Any, front.ws_protocol),
        )
        admission = platform.services.admission
        assert admission is not None
        files = raise_file_limit()
        trial_book = TrialBook()
        sip = CallControl(
            UserAgent(
                ("udp", settings.sip_host, settings.sip_port),
                request_limits=RequestLimits(
                    settings.sip_requests_per_source,
                    settings.sip_requests_total,
                    settings.sip_max_transactions,
                    edges=frozenset(settings.sip_edge_addresses),
                ),
            ),
            InboundRouter(
                platform.services.sessions,
                platform.services.secrets,
                voice_agent=platform.services.voice_agent,
                admission=admission,
                trials=trial_book,
            ).decide,
            ports=PortAllocator(settings.rtp_port_min, settings.rtp_port_max),
            no_rtp_timeout_s=settings.no_rtp_timeout_s,
            suppress_silence=settings.rtp_suppress_silence,
            limiter=SourceRateLimiter(settings.invite_rate_per_source, 2 * settings.invite_rate_per_source),
            recordings_dir=Path(settings.data_dir) / "recordings",
            tcp=TcpLimits(
                max_connections=max(1, min(settings.sip_tcp_max_connections, files // 2)),
                max_per_source=settings.sip_tcp_max_per_source,
                message_s=settings.sip_tcp_message_s,
                idle_s=settings.sip_tcp_idle_s,
            ),
            edge=EdgeTrust.of(settings.sip_edge_addresses),
        )
        tune_gc()
        await sip.start(settings.sip_host, settings.sip_port)
        assert sip.endpoint is not None
        watch_sip(admission.metrics.registry, sip.ua, sip.endpoint)
        records = platform.services.records
        assert records is not None
        records.recorder.start()
        if records.webhooks is not None:
            await records.webhooks.start()  # with what an earlier run left waiting
        sip.book.ended_listeners.append(records.ended)
        sip.book.answered_listeners.append(records.answered)
        if records.objects is not None:
            try:
                await records.objects.ensure_bucket()
            except ObjectStoreError as exc:  # uploads fail and each node serves its own until it answers
                log.warning("recordings: %s", exc)
        retention = asyncio.create_task(
            Retention(platform.services.sessions, sip.recordings_dir, objects=records.objects).run(),
            name="retention",
        )
        if records.metrics is not None:
            records.metrics.watch(
                lambda: sum(c.state is not CallState.ENDED for c in sip.book.by_id.values()),
                records.recorder,
            )
        platform.services.calls = calls = CallService(
            sip,
            platform.services.sessions,
            platform.services.secrets,
            admission=admission,
            voice_agent=platform.services.voice_agent,
        )

        platform.services.streams = StreamCalls(
            sip.book, calls.planner, platform.services.sessions, sip.clock
        )
        fleet = start_fleet(settings, platform.services, calls, sip)
        campaigns = CampaignRunner(
            calls,
            platform.services.sessions,
            node=settings.node_name,
            notify=records.event,
            tick_s=settings.campaign_tick_s,
            lease_s=settings.campaign_lease_s,
        )
        sip.book.ended_listeners.append(campaigns.ended)
        if records.metrics is not None:
            records.metrics.watch_campaigns(
                lambda: len(campaigns.flights), lambda: len(campaigns.ends), lambda: campaigns.store_failures
            )
        campaigns.start()
        assert platform.services.analysis_model is not None
        analyses = Analyses(
            platform.services.sessions,
            records,
            records.catalog,
            platform.services.analysis_model,
            concurrency=settings.analysis_concurrency,
            per_business=settings.analysis_per_business,
            tick_s=settings.analysis_tick_s,
            per_second=settings.analysis_per_second,
        )
        records.recorder.stored_listeners.append(analyses.kick)
        if records.metrics is not None:
            records.metrics.watch_analyses(analyses.counts)
        analyses.start()  # its worker loads the embedded engine now, at a low priority: not at the first call

        async def drain() -> None:
            campaigns.stop_dialling()  # calls under way end, and their outcomes are stored
            queued = await calls.drain_queue()  # no queued call is dialled while the node stops
            if queued:
                log.info("drain: %d queued outbound calls ended undialled", queued)
            await sip.drain(settings.drain_seconds)

        registrations = TrunkRegistrations(
            sip, platform.services.sessions, platform.services.secrets, settings.registration_sync_s
        )
        registrations.start()
        log.info("SIP on %s:%s (UDP and TCP)", settings.sip_host, sip.ua.local[2])

        def build_api() -> tuple[Asgi, ProtocolFactory]:
            from voicegrid.api.app import create_app
            from voicegrid.api.media_socket import MediaSockets, upgrade_protocol
            from voicegrid.caller import Trials  # drafts' trial calls, which only the API places

            importlib.import_module("jsonschema")  # the analyses' schema checks: here, not on the loop
            tls_context()  # the CA bundle, read here for the first webhook and cloud provider

            assert sip.endpoint is not None
            platform.services.trials = Trials(sip.book, trial_book, (settings.sip_host, sip.endpoint.port))
            sockets = MediaSockets(platform.services, settings.media_streams_waiting)
            admission.metrics.registry.register(sockets)
            return create_app(platform.engine, platform.services), upgrade_protocol(
                sockets, WebSocketsSansIOProtocol
            )

        loading = asyncio.create_task(front.load(build_api), name="rest-api")
        try:
            await run_until_signalled(HttpServer(config), before_exit=drain)
        finally:
            loading.cancel()
            await calls.drain_queue()  # when the drain did not run (the HTTP server failed)
            await campaigns.aclose()  # what ended is stored; the campaigns are given back
            await analyses.aclose()  # what is under way lapses, and is taken up again
            await registrations.stop()
            if fleet is not None:
                await fleet.aclose()
            await sip.stop()
            await admission.aclose()
            retention.cancel()
            await records.aclose()
            await records.recorder.aclose()
            if records.webhooks is not None:
                await records.webhooks.aclose()
            if records.tracer is not None:
                await asyncio.to_thread(records.tracer.shutdown)
    finally:
        if platform.services.admission is not None:
            await platform.services.admission.backend.aclose()
        await platform.engine.dispose()
