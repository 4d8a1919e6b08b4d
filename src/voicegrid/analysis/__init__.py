"""Post-call analysis: what each call achieved (summary, success against the agent's rubric, the
caller's sentiment, the fields of the business's schema), from the embedded engine or a model.

Pure: fed a stored record and the agent's plan, it returns an `Analysis`. The runner that queues,
bounds and stores analyses is `telephony/analyses`.
"""

from voicegrid.analysis.errors import AnalysisError, InvalidOutput, SchemaRefused
from voicegrid.analysis.plan import AnalysisPlan, check_schema, plan_of
from voicegrid.analysis.result import Analysis

__all__ = [
    "Analysis",
    "AnalysisError",
    "AnalysisPlan",
    "InvalidOutput",
    "SchemaRefused",
    "check_schema",
    "plan_of",
]
