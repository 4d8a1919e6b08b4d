"""An emulator of OpenAI's streaming Chat Completions (`POST /v1/chat/completions`, server-sent events).

It follows the OpenAI API reference ("Create chat completion", "The chat completion chunk object"):
`Authorization: Bearer <key>`; with `stream: true` the answer is `data: <chunk JSON>` lines ending
in `data: [DONE]`; text in `choices[0].delta.content`, tool calls as `delta.tool_calls` fragments
(`index`, `id`, `function.name`, then `function.arguments` in pieces); with
`stream_options.include_usage` a last chunk with empty `choices` and `usage`. Errors are
`{"error": {"message", "type", "code"}}` with the HTTP status.

A `response_format` is checked as OpenAI documents it (Structured Outputs) and refused with 400
when malformed; the answer is still the script's, so a test can script invalid output.

Script entries: a string, or {"text": ..., "tools": [[name, arguments JSON]]}. Without a script it
echoes the last user message.
"""

import asyncio
import json
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from voicegrid.testing.emulators.base import Emulator

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def response_format_problem(value: Any) -> str | None:
    """What OpenAI would refuse in a `response_format` (Structured Outputs): `{"type": "text"}`,
    `{"type": "json_object"}`, or `{"type": "json_schema", "json_schema": {"name", "description"?,
    "schema", "strict"?}}` with a name of a-z, A-Z, 0-9, _ and - up to 64, an object schema, and in
    strict mode every object closed with every property required."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("text", "json_object", "json_schema"):
        return "response_format.type must be text, json_object or json_schema"
    if value["type"] != "json_schema":
        return None
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or not NAME.match(str(spec.get("name", ""))):
        return "response_format.json_schema.name must match ^[a-zA-Z0-9_-]{1,64}$"
    unknown = set(spec) - {"name", "description", "schema", "strict"}
    if unknown:
        return f"response_format.json_schema: unknown parameters {sorted(unknown)}"
    schema = spec.get("schema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return "response_format.json_schema.schema must be a JSON Schema object of type object"
    if spec.get("strict") is True and not _closed(schema):
        return "strict mode: every object needs additionalProperties false and all properties required"
    return None


def _closed(node: Any) -> bool:
    # Written apart from the platform's own check (analysis.plan.strict_compatible) on purpose: the
    # emulator stands for the vendor, and a shared function would pass its own mistakes.
    if isinstance(node, list):
        return all(_closed(n) for n in node)
    if not isinstance(node, dict):
        return True
    props = node.get("properties")
    if isinstance(props, dict) and (
        node.get("additionalProperties") is not False or set(node.get("required", [])) != set(props)
    ):
        return False
    return all(_closed(v) for k, v in node.items() if k not in ("enum", "const", "default"))


class OpenAiEmulator(Emulator):
    def __init__(self, *, token_ms: float = 5.0, endless_tail: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token_ms = token_ms
        self.endless_tail = endless_tail  # a broken server: SSE comments after [DONE], never an end
        self.app.router.routes.append(Route("/v1/chat/completions", self.completions, methods=["POST"]))
        self.bodies: list[dict[str, Any]] = []
        self.connections: set[tuple[str, int]] = set()  # the clients' (address, port): one a TCP connection

    async def completions(self, request: Request) -> Response:
        self.requests += 1
        if request.client is not None:
            self.connections.add((request.client.host, request.client.port))
        fault = self.faults.next()
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status_code=401,
            )
        refused = self.http_fault(fault)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse(
                {"error": {"message": "bad JSON", "type": "invalid_request_error"}}, status_code=400
            )
        self.bodies.append(body)
        problem = response_format_problem(body.get("response_format"))
        if problem is not None:
            return JSONResponse(
                {"error": {"message": problem, "type": "invalid_request_error", "param": "response_format"}},
                status_code=400,
            )
        messages = body.get("messages", [])
        last_user = next((str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        if messages and messages[-1].get("role") == "tool":
            entry: Any = "Done."
        else:
            entry = self.next_line(f"You said: {last_user}")
        text = entry if isinstance(entry, str) else str(entry.get("text", ""))
        tools = [] if isinstance(entry, str) else list(entry.get("tools", []))
        model = str(body.get("model", "gpt-4o-mini"))
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            data = {
                "id": "chatcmpl-emulated",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n"

        async def events() -> Any:
            await self.first_byte(fault)
            yield chunk({"role": "assistant", "content": ""})
            words = text.split(" ") if text else []
            for i, word in enumerate(words):
                if fault == "disconnect" and i >= 1:
                    raise ConnectionResetError("emulated failure")
                yield chunk({"content": word if i == 0 else " " + word})
                await asyncio.sleep(self.token_ms / 1000)
            for n, (name, arguments) in enumerate(tools):
                args = arguments if isinstance(arguments, str) else json.dumps(arguments)
                yield chunk(
                    {
                        "tool_calls": [
                            {
                                "index": n,
                                "id": f"call_{n}",
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    }
                )
                half = len(args) // 2
                for piece in (args[:half], args[half:]):
                    yield chunk({"tool_calls": [{"index": n, "function": {"arguments": piece}}]})
            yield chunk({}, "tool_calls" if tools else "stop")
            if (body.get("stream_options") or {}).get("include_usage"):
                prompt = sum(len(str(m.get("content") or "")) for m in messages) // 4
                usage = {
                    "prompt_tokens": prompt,
                    "completion_tokens": max(1, len(text) // 4),
                    "total_tokens": prompt + max(1, len(text) // 4),
                    "prompt_tokens_details": {"cached_tokens": 0},
                }
                data = {
                    "id": "chatcmpl-emulated",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(data)}\n\n"
            yield "data: [DONE]\n\n"
            while self.endless_tail:
                yield ": still here\n\n"
                await asyncio.sleep(0.01)

        return StreamingResponse(events(), media_type="text/event-stream")
