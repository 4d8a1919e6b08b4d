"""Call records, latency and money: what every call leaves behind.

Public surface: `CallFacts`, `CallRecord` and `build_record` (the record, typed), `call_latency` (per-turn
components and p50/p95), `Journal` (append-only, before the store) and `Recorder` (journal, then the
store, retried while it is down).
"""

from voicegrid.analytics.errors import AnalyticsError, JournalError
from voicegrid.analytics.journal import Journal
from voicegrid.analytics.latency import call_latency
from voicegrid.analytics.record import CallFacts, CallRecord, build_record
from voicegrid.analytics.recorder import Recorder

__all__ = [
    "AnalyticsError",
    "CallFacts",
    "CallRecord",
    "Journal",
    "JournalError",
    "Recorder",
    "build_record",
    "call_latency",
]
