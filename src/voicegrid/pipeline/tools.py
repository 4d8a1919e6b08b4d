"""The agent's tools: transfer_call, end_call, send_dtmf, and HTTP webhooks signed for the business.

The LLM sees each tool as a JSON-schema function. `ToolRunner.run()` never raises for what the model
did wrong: arguments that are not JSON, an unknown tool, a webhook that fails or hangs past its
timeout all come back as an error text, which the model reads and can recover from.

Webhooks to loopback, private or link-local addresses are refused unless the platform allows them
(`webhook_allow_private`), so a tenant cannot reach the platform's own network through a tool.
Webhooks are POSTed as JSON `{"tool", "arguments", "call_id", "agent_id"}` with the header
`X-Voicegrid-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the business's
webhook key, so the receiver can check origin and freshness.
"""

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from voicegrid.core.webhooks import public_destination, sign
from voicegrid.providers.llm.base import ToolCall, ToolSpec

MAX_RESULT_BYTES = 16 * 1024
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
        http: httpx.AsyncClient | None = None,
        allow_private: bool = True,
    ) -> None:
        self.allow_private = allow_private  # False on a shared platform: no webhook into our network
        self.tools = {str(t["name"]): t for t in tools}
        self.signing_key = signing_key
        self.call_id = call_id
        self.agent_id = agent_id
        self._http = http

    def specs(self) -> list[ToolSpec]:
        specs = []
        for name, tool in self.tools.items():
            kind = tool.get("kind")
            description = str(tool.get("description") or "")
            if kind == "transfer_call":
                to = {"to": {"type": "string", "description": "number or SIP URI"}}
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
            target = str(tool.get("target") or args.get("to") or "")
            if not target:
                return ToolOutcome(json.dumps({"error": "say where to transfer: 'to'"}), ok=False)
            return ToolOutcome(json.dumps({"ok": True, "to": target}), "transfer", target)
        if kind == "send_dtmf":
            digits = str(args.get("digits", ""))
            if not digits or len(digits) > 32 or not set(digits) <= DIGITS:
                return ToolOutcome(json.dumps({"error": "digits must be 1-32 of 0-9 * # A-D"}), ok=False)
            return ToolOutcome(json.dumps({"ok": True}), "dtmf", digits)
        return await self._webhook(tool, call.name, args)

    async def _destination_allowed(self, url: str) -> bool:
        """Tenants' webhooks may not reach loopback, private or link-local addresses (SSRF)."""
        return self.allow_private or await public_destination(url)

    async def _webhook(self, tool: dict[str, Any], name: str, args: dict[str, Any]) -> ToolOutcome:
        body = json.dumps(
            {"tool": name, "arguments": args, "call_id": self.call_id, "agent_id": self.agent_id}
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Voicegrid-Signature": sign(self.signing_key, body, time.time()),
        }
        timeout = float(tool.get("timeout_ms", 5000)) / 1000
        if not await self._destination_allowed(str(tool["url"])):
            return ToolOutcome(
                json.dumps({"error": f"the {name} service's address is not allowed"}), ok=False
            )
        client = self._http or httpx.AsyncClient()
        try:
            async with asyncio.timeout(timeout):  # a whole-request deadline; httpx times each read
                response = await client.post(str(tool["url"]), content=body, headers=headers, timeout=timeout)
        except (httpx.TimeoutException, TimeoutError):
            return ToolOutcome(
                json.dumps({"error": f"the {name} service did not answer in {timeout:g} s"}), ok=False
            )
        except httpx.HTTPError as exc:
            return ToolOutcome(
                json.dumps({"error": f"the {name} service is unreachable: {type(exc).__name__}"}), ok=False
            )
        finally:
            if self._http is None:
                await client.aclose()
        text = response.content[:MAX_RESULT_BYTES].decode("utf-8", errors="replace")
        if response.status_code >= 400:
            return ToolOutcome(
                json.dumps({"error": f"the {name} service answered {response.status_code}", "body": text}),
                ok=False,
            )
        return ToolOutcome(text or json.dumps({"ok": True}))
