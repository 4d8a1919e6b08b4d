"""Trunks that register with their carrier: kept in step with the database by one periodic task,
and kept registered by their timers.

Every `interval_s`, the trunks with `register_with_carrier` are read; a registration starts for each
new one (AOR sip:<username>@<proxy>) and stops for each one that was removed, disabled or changed.
`RegistrationTimers` sends each REGISTER and sends it again when the registration's own (sans-I/O)
timer says: before expiry, or after a failure with back-off.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.sip.message import Request
from voicegrid.sip.registration import Registration
from voicegrid.sip.useragent import Addr, Outcome
from voicegrid.store.models import Trunk
from voicegrid.tenancy import SecretBox, SecretError

log = logging.getLogger(__name__)


Send = Callable[[Request, Addr, tuple[str, str] | None], None]


class RegistrationTimers:
    def __init__(self, send: Send, now: Callable[[], float]) -> None:
        self.send, self.now = send, now
        self._registrations: dict[str, tuple[Registration, Addr, tuple[str, str] | None]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def register(self, registration: Registration, dest: Addr, credentials: tuple[str, str] | None) -> None:
        """Keep `registration` registered at `dest`: sent now, refreshed and retried on its own timer."""
        self._registrations[registration.call_id] = (registration, dest, credentials)
        self._send(registration.call_id)

    def _send(self, call_id: str) -> None:
        found = self._registrations.get(call_id)
        if found is not None:
            registration, dest, credentials = found
            self.send(registration.request(self.now()), dest, credentials)

    def answered(self, event: Outcome) -> bool:
        """A REGISTER's outcome, if it is one of ours: the registration learns it and sets its timer."""
        if event.transaction is None or event.transaction.request.method != "REGISTER":
            return False
        found = self._registrations.get(event.transaction.request.call_id)
        if found is None or event.kind == "retried":
            return True
        registration = found[0]
        if event.kind == "timeout":
            registration.on_timeout(self.now())
        elif event.response is not None and event.response.status >= 200:
            registration.on_response(event.response, self.now())
        else:
            return True
        when = registration.get_timer()
        if when is not None:
            handle = asyncio.get_running_loop().call_at(when, self._send, registration.call_id)
            self._timers[registration.call_id] = handle
        return True

    def unregister(self, registration: Registration) -> None:
        """Stop refreshing `registration` (the carrier lets it lapse at its expiry)."""
        self._registrations.pop(registration.call_id, None)
        handle = self._timers.pop(registration.call_id, None)
        if handle is not None:
            handle.cancel()

    def unregister_all(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._registrations.clear()


class Registrar(Protocol):
    """Where trunk registrations run: the SIP stack's timers, and the Contact it registers."""

    registrations: RegistrationTimers

    @property
    def contact(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _Wanted:
    registrar_uri: str
    aor: str
    dest: tuple[str, str, int]
    username: str
    password: str


class TrunkRegistrations:
    def __init__(
        self,
        control: Registrar,
        sessions: async_sessionmaker[AsyncSession],
        secrets: SecretBox,
        interval_s: float = 30.0,
    ) -> None:
        self.control = control
        self.sessions = sessions
        self.secrets = secrets
        self.interval_s = interval_s
        self.active: dict[str, tuple[_Wanted, Registration]] = {}  # trunk id -> what runs for it
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.sync()
            except Exception:  # a bad row or a database hiccup must not end registrations for good
                log.exception("trunk registrations: sync failed; trying again next round")
            await asyncio.sleep(self.interval_s)

    async def _wanted(self) -> dict[str, _Wanted]:
        async with self.sessions() as session:
            trunks = await session.scalars(
                select(Trunk).where(Trunk.register_with_carrier.is_(True), Trunk.enabled.is_(True))
            )
            wanted: dict[str, _Wanted] = {}
            for trunk in trunks:
                if not (trunk.outbound_host and trunk.outbound_username and trunk.outbound_password_enc):
                    continue
                if trunk.transport not in ("udp", "tcp"):
                    continue
                try:
                    password = self.secrets.decrypt(trunk.outbound_password_enc, f"trunk:{trunk.id}:outbound")
                except SecretError:
                    log.warning("trunk %s: its password cannot be decrypted; not registering", trunk.id)
                    continue
                host, port = trunk.outbound_host, trunk.outbound_port
                wanted[trunk.id] = _Wanted(
                    f"sip:{host}:{port}",
                    f"sip:{trunk.outbound_username}@{host}",
                    (trunk.transport, host.strip("[]"), port),
                    trunk.outbound_username,
                    password,
                )
            return wanted

    async def sync(self) -> None:
        wanted = await self._wanted()
        for trunk_id, (was, registration) in list(self.active.items()):
            if wanted.get(trunk_id) != was:
                self.control.registrations.unregister(registration)
                del self.active[trunk_id]
        for trunk_id, want in wanted.items():
            if trunk_id not in self.active:
                registration = Registration(want.registrar_uri, want.aor, self.control.contact)
                self.control.registrations.register(registration, want.dest, (want.username, want.password))
                self.active[trunk_id] = (want, registration)
