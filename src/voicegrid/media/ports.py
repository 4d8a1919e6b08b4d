"""RTP ports from a configured range: even ports for RTP (RTCP on the next), given back at hangup."""

from voicegrid.media.errors import MediaError


class PortsExhausted(MediaError):
    """Every RTP port of the range is in use: a new call must be refused (503)."""


class PortAllocator:
    def __init__(self, low: int = 40000, high: int = 49999) -> None:
        if low % 2:
            low += 1
        if high <= low or not 1024 <= low <= 65534:
            raise MediaError(f"bad RTP port range {low}-{high}")
        self._free = list(range(low, high, 2))
        self._free.reverse()  # pop() hands out the lowest first
        self._used: set[int] = set()
        self.capacity = len(self._free)

    def allocate(self) -> int:
        if not self._free:
            raise PortsExhausted(f"all {self.capacity} RTP ports are in use")
        port = self._free.pop()
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        if port in self._used:
            self._used.remove(port)
            self._free.insert(0, port)  # reused last, so late packets of the old call find no one

    @property
    def in_use(self) -> int:
        return len(self._used)
