"""Capacity errors.

CapacityError           a misconfigured pool or a release without a slot (a bug, not load)
  SlotUnavailable       no slot within the wait the caller allowed (per-turn gating moves on)
  OverLimit             a call would exceed a business's or reseller's limit (API 429, SIP 503)
"""

from voicegrid.core.errors import VoicegridError


class CapacityError(VoicegridError):
    pass


class SlotUnavailable(CapacityError):
    def __init__(self, pool: str, tenant: str, waited_s: float) -> None:
        super().__init__(f"no {pool} slot for {tenant} within {waited_s * 1000:.0f} ms")
        self.pool = pool
        self.tenant = tenant
        self.waited_s = waited_s


class OverLimit(CapacityError):
    def __init__(self, limit: str, retry_after_s: int) -> None:
        super().__init__(f"over the limit: {limit}")
        self.limit = limit
        self.retry_after_s = retry_after_s
