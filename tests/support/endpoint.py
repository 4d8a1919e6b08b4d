"""A business's webhook URL on loopback, in a thread of its own (for tests that run real nodes)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Endpoint(ThreadingHTTPServer):
    """The business's webhook URL on loopback: answers `status`, keeps (status, headers, body)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.status = 503
        self.seen: list[tuple[int, dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def taken(self) -> list[tuple[int, dict[str, str], bytes]]:
        with self.lock:
            return [s for s in self.seen if s[0] == 200]


class Handler(BaseHTTPRequestHandler):
    server: Endpoint

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            status = self.server.status
            self.server.seen.append((status, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass
