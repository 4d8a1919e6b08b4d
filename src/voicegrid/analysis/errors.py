"""What post-call analysis raises."""


class AnalysisError(Exception):
    """Base of the analysis errors."""


class SchemaRefused(AnalysisError):
    """A business's extraction schema is not valid JSON Schema, or is beyond the bounds we accept."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidOutput(AnalysisError):
    """A model's answer is not JSON, refuses, or does not match the analysis schema."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:500]
