"""WebSocket connect for provider clients: one place maps handshake failures to provider errors."""

import asyncio

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from voicegrid.core.egress import DestinationError, Destinations
from voicegrid.core.pinned import ws_connect_args
from voicegrid.providers.errors import ProviderConnectError, ProviderError, for_status

MAX_MESSAGE = 4 * 1024 * 1024


async def open_ws(
    provider: str, url: str, headers: dict[str, str], timeout_s: float, destinations: Destinations
) -> ClientConnection:
    """The handshake, to the address the destination policy checked for the URL's host."""
    try:
        async with asyncio.timeout(timeout_s):
            target = await destinations.resolve(url)
    except DestinationError as exc:
        raise ProviderConnectError(provider, f"endpoint not allowed: {exc.reason}") from exc
    except TimeoutError as exc:
        raise ProviderConnectError(provider, "endpoint did not resolve in time") from exc
    try:
        return await connect(
            url,
            **ws_connect_args(target),
            additional_headers=headers,
            open_timeout=timeout_s,
            max_size=MAX_MESSAGE,
            ping_interval=None,  # the vendors keep their own keepalive messages
            compression=None,
        )
    except InvalidStatus as exc:
        raise for_status(
            provider, exc.response.status_code, f"handshake refused: HTTP {exc.response.status_code}"
        ) from exc
    except TimeoutError as exc:
        raise ProviderConnectError(provider, "handshake timed out") from exc
    except (OSError, WebSocketException) as exc:
        raise ProviderConnectError(provider, f"cannot connect: {exc}") from exc


def closed_error(provider: str, exc: Exception) -> ProviderError:
    from voicegrid.providers.errors import ProviderClosed

    close = exc.rcvd if isinstance(exc, ConnectionClosed) else None
    code = close.code if close is not None else None
    if code == 1008:
        return for_status(provider, 401, "closed by the server: policy violation (credentials?)")
    if code == 1013:
        return for_status(provider, 429, "closed by the server: try again later")
    return ProviderClosed(provider, f"connection closed: {exc}")


__all__ = ["ClientConnection", "closed_error", "open_ws", "websockets"]
