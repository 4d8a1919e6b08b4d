"""Trunks that register with their carrier: kept in step with the database by one periodic task.

Every `interval_s`, the trunks with `register_with_carrier` are read; a registration starts for each
new one (AOR sip:<username>@<proxy>, refreshed before expiry by the SIP stack) and stops for each
one that was removed, disabled or changed.
"""

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voicegrid.sip.registration import Registration
from voicegrid.store.models import Trunk
from voicegrid.telephony.calls import CallControl
from voicegrid.tenancy import SecretBox, SecretError

log = logging.getLogger(__name__)


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
        control: CallControl,
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
                self.control.unregister(registration)
                del self.active[trunk_id]
        for trunk_id, want in wanted.items():
            if trunk_id not in self.active:
                registration = Registration(want.registrar_uri, want.aor, self.control.contact)
                self.control.register(registration, want.dest, (want.username, want.password))
                self.active[trunk_id] = (want, registration)
