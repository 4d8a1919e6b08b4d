"""Class 1: no tenant string is ever an option, a path, a header or a URL of ours."""

import asyncio
import json
import time

import pytest

from tests.support.receiver import Receiver
from voicegrid.core.egress import PERMISSIVE, STRICT, Destinations
from voicegrid.core.http_client import HttpClient
from voicegrid.pipeline.speech import for_speech
from voicegrid.pipeline.tools import ToolRunner
from voicegrid.providers.base import Meter, ProviderConfig, Usage
from voicegrid.providers.errors import ProviderConnectError
from voicegrid.providers.llm.base import ToolCall
from voicegrid.providers.llm.openai import OpenAiLlm
from voicegrid.providers.options import check_options
from voicegrid.providers.stt.deepgram import DeepgramStt
from voicegrid.providers.tts.espeak import EspeakTts
from voicegrid.sip.build import response_to
from voicegrid.sip.errors import UnsafeValue
from voicegrid.sip.headers import Headers
from voicegrid.sip.message import Request, parse_message


async def _spoken_seconds(text: str) -> float:
    tts = EspeakTts(ProviderConfig("espeak-ng"))
    chunks = [pcm async for pcm in tts._synthesize(text, 8000, Usage("tts", "espeak-ng", None))]
    return sum(len(c) for c in chunks) / 8000


@pytest.mark.parametrize("text", ["--version", "-f/etc/passwd", "--stdout", "-w /tmp/x.wav hello"])
async def test_tts_text_starting_with_a_dash_is_spoken_not_run(text: str) -> None:
    seconds = await _spoken_seconds(text)
    # spoken as words: a second or a few; /etc/passwd read aloud would take minutes, and --version
    # would print text instead of a WAV
    assert 0.3 < seconds < 8.0


def test_a_markdown_reply_is_spoken_as_its_words() -> None:
    assert for_speech("**We are open** from 11 to 10 🍕!") == "We are open from 11 to 10!"
    assert (
        for_speech("# Menu\n- Margherita\n- Pepperoni 🌶️\n1. Call us")
        == "Menu. Margherita. Pepperoni. Call us"
    )
    assert for_speech("See [our site](https://bella.example/menu) or https://www.bella.example/x?y=1") == (
        "See our site or bella.example"
    )
    assert (
        for_speech("`code` and snake_case stay words; ~~gone~~ marks")
        == "code and snake_case stay words; gone marks"
    )
    assert for_speech("👍🏽 🇩🇪 ***") == ""


@pytest.mark.parametrize(
    ("stage", "provider", "options"),
    [
        ("stt", "pocketsphinx", {"model_dir": "/etc"}),
        ("stt", "deepgram", {"base_url": "http://169.254.169.254"}),
        ("llm", "knowledge-base", {"knowledge_base": {"faq": []}}),
        ("tts", "espeak-ng", {"voice": "-f/etc/passwd"}),
        ("tts", "espeak-ng", {"rate": "--stdout"}),
        ("tts", "elevenlabs", {"voice_id": "../../v1/user"}),
    ],
)
def test_an_agent_option_outside_its_providers_list_is_refused(
    stage: str, provider: str, options: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="option"):
        check_options(stage, provider, options)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:a9fe:a9fe",  # IPv4-mapped metadata address
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "::127.0.0.1",  # IPv4-compatible
        "fd00::1",
        "fe80::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "0.0.0.0",  # noqa: S104 - an address a tenant's URL may name, not one we bind
    ],
)
async def test_a_tenant_url_into_our_network_is_refused_in_every_address_form(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(Exception, match="not a public address"):
        await STRICT.resolve(f"http://{host}:8080/hook")


async def test_public_addresses_and_the_networks_an_operator_opens_are_allowed() -> None:
    assert (await STRICT.resolve("https://93.184.215.14/x")).address == "93.184.215.14"
    assert (await STRICT.resolve("https://[64:ff9b::5db8:d70e]/x")).port == 443  # NAT64 of a public one
    opened = Destinations(allowed_networks=("10.20.0.0/16",))
    assert (await opened.resolve("http://10.20.3.4:9000/")).address == "10.20.3.4"
    with pytest.raises(Exception, match="not a public address"):
        await opened.resolve("http://10.21.3.4:9000/")


async def test_a_name_is_looked_up_once_and_the_connection_goes_to_the_address_checked() -> None:
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]  # what an attacker's DNS might answer the second time is never asked

    policy = Destinations(allowed_networks=("127.0.0.0/8",), resolver=resolver)
    receiver = Receiver()
    await receiver.start()
    try:
        client = HttpClient(policy, connect_timeout_s=5.0, read_timeout_s=5.0)
        url = f"http://hooks.tenant.example:{receiver.port}/h"
        try:
            reply = await client.request("POST", url, {}, b"{}", max_body=1024)
        finally:
            await client.aclose()
    finally:
        await receiver.stop()
    assert reply.status == 200
    assert lookups == ["hooks.tenant.example"]
    assert receiver.received[0].headers["host"] == f"hooks.tenant.example:{receiver.port}"
    refusing = Destinations(resolver=resolver)  # the same answer under the default policy
    client = HttpClient(refusing, connect_timeout_s=5.0, read_timeout_s=5.0)
    with pytest.raises(Exception, match="not a public address"):
        await client.request("GET", "http://hooks.tenant.example/", {}, max_body=1024)
    await client.aclose()


async def test_a_provider_endpoint_into_our_network_is_refused_before_connecting() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        stt = DeepgramStt(ProviderConfig("deepgram", api_key="k", base_url=f"ws://127.0.0.1:{port}"))
        with pytest.raises(ProviderConnectError, match="not allowed"):
            await stt._open(8000, "en", Usage("stt", "deepgram", None))
        llm = OpenAiLlm(ProviderConfig("openai", api_key="k", base_url=f"http://[64:ff9b::7f00:1]:{port}/v1"))
        with pytest.raises(ProviderConnectError, match="not allowed"):
            async for _ in llm.stream([{"role": "user", "content": "hi"}], [], Meter()):
                pass
    finally:
        server.close()
        await server.wait_closed()


def test_a_header_value_or_start_line_with_cr_lf_or_nul_is_never_written() -> None:
    headers = Headers()
    for bad in ("Bob\r\nX-Injected: 1", "Bob\nX: 1", "Bob\x00"):
        with pytest.raises(UnsafeValue):
            headers.add("From", f'"{bad}" <sip:bob@example.com>')
        with pytest.raises(UnsafeValue):
            headers.set("Refer-To", f"<sip:{bad}@example.com>")
    request = Request(headers=Headers(), body=b"", method="INVITE", uri="sip:a@b SIP/2.0\r\nX: y")
    with pytest.raises(UnsafeValue):
        bytes(request)
    # a peer's own header may carry NUL in a quoted string (RFC 4475 intmeth); our answer echoes it
    raw = (
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n"
        b'To: "N\x00L" <sip:a@b>\r\nCall-ID: ab\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n'
    )
    request = parse_message(raw)
    assert isinstance(request, Request)
    answer = response_to(request, 200, to_tag="abc")
    assert b'To: "N\x00L" <sip:a@b>;tag=abc\r\n' in bytes(answer)


async def test_transfer_goes_only_to_the_targets_its_tool_names() -> None:
    runner = ToolRunner(
        [
            {"name": "to_sales", "kind": "transfer_call", "targets": ["+1555*", "sip:desk@pbx.example"]},
            {"name": "to_staff", "kind": "transfer_call", "target": "+15550199"},
            {"name": "anywhere", "kind": "transfer_call"},  # stored before targets were required
        ]
    )
    ok = await runner.run(ToolCall("1", "to_sales", json.dumps({"to": "+1 555 123 4567"})))
    assert (ok.action, ok.argument) == ("transfer", "+15551234567")
    desk = await runner.run(ToolCall("2", "to_sales", json.dumps({"to": "sip:desk@pbx.example"})))
    assert desk.argument == "sip:desk@pbx.example"
    for to in ("+19005550000", "sip:premium@attacker.example", "sip:desk@pbx.example?X=1", "+1555*"):
        refused = await runner.run(ToolCall("3", "to_sales", json.dumps({"to": to})))
        assert refused.action is None, to
        assert not refused.ok, to
    fixed = await runner.run(ToolCall("4", "to_staff", json.dumps({"to": "+19005550000"})))
    assert fixed.argument == "+15550199"  # the model's choice does not override the tool's target
    nowhere = await runner.run(ToolCall("5", "anywhere", json.dumps({"to": "+15550100"})))
    assert nowhere.action is None


async def test_a_webhook_tools_answer_is_read_streamed_up_to_its_cap() -> None:
    sent = 0

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 65536
        try:
            for _ in range(4096):  # 256 MiB if anyone read it all
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(endless, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    runner = ToolRunner(
        [{"name": "big", "kind": "webhook", "url": f"http://127.0.0.1:{port}/", "timeout_ms": 10_000}],
        destinations=PERMISSIVE,
    )
    started = time.monotonic()
    try:
        outcome = await runner.run(ToolCall("1", "big", "{}"))
    finally:
        server.close()
    assert outcome.ok
    assert len(outcome.result) == 16 * 1024
    assert time.monotonic() - started < 5
    assert sent < 64 * 1024 * 1024  # we stopped reading; the server was never drained
