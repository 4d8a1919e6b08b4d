"""The one destination policy for every address a tenant can name: provider base URLs, webhooks and
webhook tools.

A tenant's URL may reach public addresses only, unless the operator allows private ones (all of them,
or some networks). The check and the connection use the same address: `Destinations.resolve` looks
the name up once, classifies every address it got, and returns the one to connect to; the HTTP
transport and the WebSocket helper then connect to that address, never to the name again (no second
lookup, so no DNS rebinding between check and use). An IPv6 address that carries an IPv4 address
(IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is
judged by the IPv4 address inside; Teredo and local-use NAT64 (`64:ff9b:1::/48`) are never public.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from voicegrid.core.errors import VoicegridError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_COMPAT = ipaddress.IPv6Network("::/96")


class DestinationError(VoicegridError):
    """A tenant's URL that must not or cannot be called. `retryable`: the name did not resolve."""

    retryable = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DestinationRefused(DestinationError):
    pass


class DestinationUnresolved(DestinationError):
    retryable = True


def embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it stands for one."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_public(ip: Address) -> bool:
    """A global unicast address, judged by the IPv4 address inside an IPv6 one that carries one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None or ip in _NAT64_LOCAL:
            return False
        inner = embedded_ipv4(ip)
        if inner is not None:
            return is_public(inner)
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class Target:
    """A checked destination: connect to `address`:`port`, speak to `host` (Host header, TLS name)."""

    scheme: str
    host: str
    port: int
    address: str

    @property
    def authority(self) -> str:
        """What a Host header carries: the name (an IPv6 literal in brackets), and the port unless it
        is the scheme's own."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True)
class Destinations:
    """The policy. `allow_private`: any address (a trusted single-tenant set-up, or tests on
    loopback); `allowed_networks`: private networks the operator opens (a self-hosted Deepgram)."""

    allow_private: bool = False
    allowed_networks: Sequence[str] = ()
    resolve_timeout_s: float = 5.0
    resolver: Resolver = system_resolver
    _networks: tuple[Network, ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_networks", tuple(self.allowed_networks))  # hashable
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in self.allowed_networks)
        object.__setattr__(self, "_networks", nets)

    def allows(self, ip: Address) -> bool:
        if self.allow_private or is_public(ip):
            return True
        inner = embedded_ipv4(ip)
        return any(ip in net or (inner is not None and inner in net) for net in self._networks)

    async def resolve(self, url: str) -> Target:
        """The address to connect to for `url`, checked; DestinationRefused or DestinationUnresolved."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise DestinationRefused(f"not a URL: {exc}") from None
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        if scheme not in DEFAULT_PORTS or not host:
            raise DestinationRefused("only http, https, ws and wss URLs with a host are called")
        port = port or DEFAULT_PORTS[scheme]
        try:
            literal: Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                async with asyncio.timeout(self.resolve_timeout_s):
                    found = await self.resolver(host, port)
            except (OSError, TimeoutError, UnicodeError):
                raise DestinationUnresolved(f"{host} did not resolve") from None
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in found]
            if not addresses:
                raise DestinationUnresolved(f"{host} did not resolve")
        refused = [a for a in addresses if not self.allows(a)]
        if refused:
            raise DestinationRefused(f"{host} is not a public address ({refused[0]})")
        return Target(scheme, host, port, str(addresses[0]))


PERMISSIVE = Destinations(allow_private=True)
STRICT = Destinations()
