"""An agent's analysis plan: what to learn from each of its calls once it ends, and which engine does it.

The business's extraction schema is the one tenant-written document analysis runs on, so it passes
one check, `check_schema`, before it is saved: valid JSON Schema (Draft 2020-12), at most
`MAX_SCHEMA_BYTES` of JSON and `MAX_SCHEMA_NODES` subschemas, `MAX_SCHEMA_DEPTH` deep, references only
inside itself (no fetching), and no regular expressions (`pattern`, `patternProperties`,
`format: regex`): a tenant's pattern run on a model's output, which callers steer, is a way to burn
our CPU (catastrophic backtracking).
"""

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from voicegrid.analysis.errors import SchemaRefused

MAX_SCHEMA_BYTES = 16_384
MAX_SCHEMA_NODES = 400
MAX_SCHEMA_DEPTH = 8
REGEX_KEYWORDS = ("pattern", "patternProperties")


def _walk(node: Any, depth: int, seen: list[int]) -> None:
    if depth > MAX_SCHEMA_DEPTH:
        raise SchemaRefused(f"nested deeper than {MAX_SCHEMA_DEPTH} levels")
    if isinstance(node, list):
        for item in node:
            _walk(item, depth + 1, seen)
        return
    if not isinstance(node, dict):
        return
    seen[0] += 1
    if seen[0] > MAX_SCHEMA_NODES:
        raise SchemaRefused(f"more than {MAX_SCHEMA_NODES} subschemas")
    for keyword in REGEX_KEYWORDS:
        if keyword in node:
            raise SchemaRefused(f"`{keyword}`: regular expressions are not accepted")
    if node.get("format") == "regex":
        raise SchemaRefused("`format: regex`: regular expressions are not accepted")
    ref = node.get("$ref")
    if ref is not None and (not isinstance(ref, str) or not ref.startswith("#")):
        raise SchemaRefused("`$ref` may point only inside the schema (#...)")
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            for sub in value.values():
                _walk(sub, depth + 1, seen)
        elif key not in ("enum", "const", "examples", "default"):
            _walk(value, depth + 1, seen)


MAX_JSON_DEPTH = 32  # of any value in the schema (enum, const, default, examples too)


def _too_deep(value: Any) -> bool:
    """Whether JSON nests beyond MAX_JSON_DEPTH (walked without recursion: the input is a tenant's)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def check_schema(schema: Any) -> dict[str, Any]:
    """The schema, if it is one we run; else SchemaRefused with the reason."""
    if not isinstance(schema, dict):
        raise SchemaRefused("a schema is a JSON object")
    if _too_deep(schema):
        raise SchemaRefused(f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        size = len(json.dumps(schema, separators=(",", ":")))
    except (TypeError, ValueError) as exc:
        raise SchemaRefused(f"not JSON: {exc}") from None
    if size > MAX_SCHEMA_BYTES:
        raise SchemaRefused(f"{size} bytes of JSON; at most {MAX_SCHEMA_BYTES}")
    _walk(schema, 0, [0])
    # jsonschema is a fifth of a second of imports: loaded when first needed (a node loads it with
    # its REST API, after it serves), not before a node can take calls
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise SchemaRefused(f"not valid JSON Schema at {where}: {exc.message[:300]}") from None
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise SchemaRefused('the root is an object with `properties` ({"type": "object", "properties": ...})')
    if not schema["properties"]:
        raise SchemaRefused("no properties to extract")
    return schema


def strict_compatible(schema: dict[str, Any]) -> bool:
    """Whether OpenAI's strict structured outputs take the schema as it is: every object closed
    (`additionalProperties: false`) with every property required."""

    def closed(node: Any) -> bool:
        if isinstance(node, list):
            return all(closed(n) for n in node)
        if not isinstance(node, dict):
            return True
        props = node.get("properties")
        if isinstance(props, dict) and (
            node.get("additionalProperties") is not False or set(node.get("required", [])) != set(props)
        ):
            return False
        return all(closed(v) for k, v in node.items() if k not in ("enum", "const", "default", "examples"))

    return closed(schema)


class Check(BaseModel):
    """One thing the embedded engine holds a call to, for its success."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["tool_called", "intent_answered", "outcome_in", "field_extracted", "not_transferred"]
    value: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="tool_called: tool names (any); intent_answered: FAQ questions (any); outcome_in: "
        "outcomes; field_extracted: fields of the schema (all)",
    )

    @field_validator("value")
    @classmethod
    def _short(cls, value: list[str]) -> list[str]:
        if any(len(v) > 500 for v in value):
            raise ValueError("a value is at most 500 characters")
        return value


class Success(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rubric: str = Field(
        default="", max_length=4000, description="what success means for this agent (the LLM engine)"
    )
    scale: Literal["pass_fail", "score_0_10"] = "pass_fail"
    pass_mark: int = Field(default=7, ge=0, le=10, description="score_0_10: the lowest passing score")
    checks: list[Check] = Field(
        default_factory=list,
        max_length=20,
        description="the embedded engine's rubric: every check must hold (none: the caller's questions "
        "were answered and the agent did not fail)",
    )


class LlmEngine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: Literal["openai", "llama-cpp"] = "openai"
    model: str | None = Field(default=None, max_length=200)
    credential_id: str = Field(
        max_length=40, description="the business's credential: its key, and base_url for other servers"
    )


class AnalysisPlan(BaseModel):
    """What to learn from each call of an agent, after it ends."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    enabled: bool = True
    engine: Literal["embedded", "llm"] = Field(
        default="embedded",
        description="embedded: offline, free, from the call's own facts; llm: an OpenAI-compatible model",
    )
    llm: LlmEngine | None = None
    summary: bool = True
    sentiment: bool = True
    success: Success = Field(default_factory=Success)
    schema_: dict[str, Any] | None = Field(
        default=None, alias="schema", description="JSON Schema of the fields to extract from the call"
    )
    timeout_s: float = Field(default=60.0, ge=5.0, le=600.0)

    @field_validator("schema_")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            return check_schema(value)
        except SchemaRefused as exc:
            raise ValueError(exc.reason) from None

    @model_validator(mode="after")
    def _engine(self) -> "AnalysisPlan":
        if self.engine == "llm" and self.llm is None:
            raise ValueError("engine `llm` needs `llm` (its provider, model and credential)")
        return self

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def plan_of(stored: dict[str, Any] | None) -> AnalysisPlan:
    """An agent's stored plan (an empty one: the defaults, embedded)."""
    return AnalysisPlan.model_validate(stored or {})
