"""The agent's tools: transfer_call, end_call, send_dtmf, and HTTP webhooks signed for the business.

The LLM sees each tool as a JSON-schema function. `ToolRunner.run()` never raises for what the model
did wrong: arguments that are not JSON, an unknown tool, a webhook that fails or hangs past its
timeout all come back as an error text, which the model reads and can recover from.

A webhook's address passes the platform's one destination policy (`core.egress`: public addresses
only unless the operator allows private ones) and is connected to as checked; its answer is read
streamed, at most MAX_RESULT_BYTES of it. A transfer goes only where the tool allows: its `target`,
or one of its `targets` (a number, a SIP URI, or a number prefix ending in `*`); what the model, and
so the caller, asks for beyond that is refused. Webhooks are POSTed as JSON
`{"tool", "arguments", "call_id", "agent_id"}` with the header
`X-Voicegrid-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the business's
webhook key, so the receiver can check origin and freshness. A call's webhooks share one client,
closed when the call ends: the second one to a service reuses the connection of the first.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voicegrid.core.egress import STRICT, DestinationError, Destinations
from voicegrid.core.errors import HttpError, HttpTimeout
from voicegrid.core.http_client import HttpClient
from voicegrid.core.webhooks import sign
from voicegrid.pipeline.errors import ToolTestsBusy
from voicegrid.providers.llm.base import ToolCall, ToolSpec
from voicegrid.tenancy.errors import InvalidInput
from voicegrid.tenancy.phone import normalize_e164

MAX_RESULT_BYTES = 16 * 1024
# A call's webhooks share a client: at most 4 connections, one kept idle, for a quarter of a minute.
CALL_MAX_CONNECTIONS, CALL_MAX_IDLE, CALL_KEEPALIVE_S = 4, 1, 15.0
MAX_TIMEOUT_S = 30.0  # a tool's own timeout_ms is at most this (the whole request's deadline)
DIGITS = set("0123456789*#ABCDabcd")


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    result: str  # what the LLM reads as the tool's answer
    action: str | None = None  # "end", "transfer" or "dtmf": what the session does after speaking
    argument: str = ""
    ok: bool = True


class ToolRunner:
    def __init__(
        self,
        tools: list[dict[str, Any]],
        *,
        signing_key: bytes = b"",
        call_id: str = "",
        agent_id: str = "",
        http: HttpClient | None = None,
        destinations: Destinations = STRICT,
    ) -> None:
        self.destinations = destinations
        self.tools = {str(t["name"]): t for t in tools}
        self.signing_key = signing_key
        self.call_id = call_id
        self.agent_id = agent_id
        self._http = http  # shared, and closed by whoever gave it
        self._own: HttpClient | None = None  # the call's own, from its first webhook to its end

    def _client(self) -> HttpClient:
        if self._http is not None:
            return self._http
        if self._own is None:  # kept for the call: its next webhook skips the TCP and TLS handshakes
            self._own = call_client(self.destinations)
        return self._own

    async def aclose(self) -> None:
        """The call is over: its own connections go (bounded; never raises)."""
        own, self._own = self._own, None
        if own is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await own.aclose()

    def specs(self) -> list[ToolSpec]:
        specs = []
        for name, tool in self.tools.items():
            kind = tool.get("kind")
            description = str(tool.get("description") or "")
            if kind == "transfer_call":
                allowed = ", ".join(str(t) for t in tool.get("targets") or [])
                hint = f"one of: {allowed}" if allowed else "number or SIP URI"
                to = {"to": {"type": "string", "description": hint}}
                required = [] if tool.get("target") else ["to"]
                params = {"type": "object", "properties": to, "required": required}
                description = description or "Transfer the caller to a person or another number."
            elif kind == "end_call":
                params = {"type": "object", "properties": {"reason": {"type": "string"}}}
                description = description or "Hang up once the conversation is over."
            elif kind == "send_dtmf":
                params = {
                    "type": "object",
                    "properties": {"digits": {"type": "string"}},
                    "required": ["digits"],
                }
                description = description or "Press keys on the phone keypad (an IVR menu)."
            else:
                params = tool.get("parameters") or {"type": "object", "properties": {}}
            specs.append(ToolSpec(name, description, params))
        return specs

    async def run(self, call: ToolCall) -> ToolOutcome:
        tool = self.tools.get(call.name)
        if tool is None:
            return ToolOutcome(json.dumps({"error": f"no tool named {call.name!r}"}), ok=False)
        try:
            args = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            return ToolOutcome(json.dumps({"error": f"arguments are not valid JSON: {exc.msg}"}), ok=False)
        if not isinstance(args, dict):
            return ToolOutcome(json.dumps({"error": "arguments must be a JSON object"}), ok=False)
        kind = tool.get("kind")
        if kind == "end_call":
            return ToolOutcome(json.dumps({"ok": True}), "end", str(args.get("reason", ""))[:200])
        if kind == "transfer_call":
            target = allowed_transfer(tool, str(args.get("to") or ""))
            if target is None:
                error = {"error": "that is not a transfer target this agent may use"}
                return ToolOutcome(json.dumps(error), ok=False)
            return ToolOutcome(json.dumps({"ok": True, "to": target}), "transfer", target)
        if kind == "send_dtmf":
            digits = str(args.get("digits", ""))
            if not digits or len(digits) > 32 or not set(digits) <= DIGITS:
                return ToolOutcome(json.dumps({"error": "digits must be 1-32 of 0-9 * # A-D"}), ok=False)
            return ToolOutcome(json.dumps({"ok": True}), "dtmf", digits)
        return await self._webhook(tool, call.name, args)

    async def _webhook(self, tool: dict[str, Any], name: str, args: dict[str, Any]) -> ToolOutcome:
        body = json.dumps(
            {"tool": name, "arguments": args, "call_id": self.call_id, "agent_id": self.agent_id}
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Voicegrid-Signature": sign(self.signing_key, body, time.time()),
            "Accept-Encoding": "identity",  # what is read is capped as it comes: nothing to inflate
        }
        timeout = float(tool.get("timeout_ms", 5000)) / 1000
        client = self._client()
        try:
            async with asyncio.timeout(timeout):  # a whole-request deadline; the client times each read
                reply = await client.request(
                    "POST", str(tool["url"]), headers, body, max_body=MAX_RESULT_BYTES
                )
        except DestinationError as exc:
            return ToolOutcome(
                json.dumps({"error": f"the {name} service's address is not allowed: {exc.reason}"}), ok=False
            )
        except (HttpTimeout, TimeoutError):
            return ToolOutcome(
                json.dumps({"error": f"the {name} service did not answer in {timeout:g} s"}), ok=False
            )
        except HttpError as exc:
            return ToolOutcome(
                json.dumps({"error": f"the {name} service is unreachable: {type(exc).__name__}"}), ok=False
            )
        status, text = reply.status, reply.body.decode("utf-8", errors="replace")
        if status >= 400:
            return ToolOutcome(
                json.dumps({"error": f"the {name} service answered {status}", "body": text}), ok=False
            )
        return ToolOutcome(text or json.dumps({"ok": True}))


def call_client(destinations: Destinations) -> HttpClient:
    """A call's webhooks' client: every request to the address its policy checked, no redirect followed."""
    return HttpClient(
        destinations,
        connect_timeout_s=MAX_TIMEOUT_S,
        read_timeout_s=MAX_TIMEOUT_S,
        max_connections=CALL_MAX_CONNECTIONS,
        max_idle=CALL_MAX_IDLE,
        keepalive_s=CALL_KEEPALIVE_S,
    )


class ToolTests:
    """A tool tried from the dashboard before a call uses it, as a call would run it: the same
    destination policy, signature, timeout and capped answer. A test holds an outbound connection for
    up to the tool's timeout (at most 30 s), so at most `per_business` run at once for a business and
    `per_node` on this node; the rest are refused (`ToolTestsBusy`), not queued."""

    def __init__(
        self,
        signing_key: Callable[[str], bytes],
        destinations: Destinations = STRICT,
        *,
        per_business: int = 2,
        per_node: int = 16,
        http: HttpClient | None = None,
    ) -> None:
        self.signing_key, self.destinations, self.http = signing_key, destinations, http
        self.per_business, self.per_node = per_business, per_node
        self._running: dict[str, int] = {}

    async def __call__(
        self, business_id: str, agent_id: str, tool: dict[str, Any], arguments: dict[str, Any]
    ) -> ToolOutcome:
        if sum(self._running.values()) >= self.per_node:
            raise ToolTestsBusy("too many tool tests under way on this node; try again in a moment")
        if self._running.get(business_id, 0) >= self.per_business:
            raise ToolTestsBusy(f"{self.per_business} tool tests of this business are under way already")
        self._running[business_id] = self._running.get(business_id, 0) + 1
        runner: ToolRunner | None = None
        try:
            runner = ToolRunner(
                [tool],
                signing_key=self.signing_key(business_id),
                call_id="test",
                agent_id=agent_id,
                http=self.http,
                destinations=self.destinations,
            )
            return await runner.run(ToolCall("test", str(tool["name"]), json.dumps(arguments)))
        finally:
            if runner is not None:
                await runner.aclose()
            self._running[business_id] -= 1
            if not self._running[business_id]:
                del self._running[business_id]


def target_matches(allowed: str, target: str) -> bool:
    """`+4930*` allows every number that starts +4930; anything else must be the very same target."""
    if allowed.endswith("*"):
        return target.startswith("+") and target.startswith(allowed[:-1]) and target[1:].isdigit()
    return target == allowed


def allowed_transfer(tool: dict[str, Any], asked: str) -> str | None:
    """Where a transfer_call tool sends the caller: its fixed `target`, or what the model asked for if
    the tool's `targets` allow it (numbers compared in E.164, separators ignored); else None."""
    fixed = str(tool.get("target") or "")
    if fixed:
        return fixed
    if not asked:
        return None
    wanted = asked.strip()
    if not wanted.startswith(("sip:", "sips:")):
        try:
            wanted = normalize_e164(wanted, "to")
        except InvalidInput:
            return None
    for allowed in tool.get("targets") or []:
        if target_matches(str(allowed), wanted):
            return wanted
    return None
