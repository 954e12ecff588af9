"""One visitor cannot take the app down: every queued endpoint is bounded per session and per address, each kind
of event has its share of the queue, forwarding headers count only from configured proxies, MCP agents are
bounded per agent (not as Gradio's one internal client), and explanations nobody listens to are stopped."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import gradio as gr
import httpx
import pytest
from gradio_client import handle_file

from tests.helpers import ASSETS, ScriptedEvaluator, free_port, launch, upload
from vs2demo.serve import guard
from vs2demo.serve.addresses import TrustedProxies
from vs2demo.serve.handlers import DemoApp

CLIP = str(ASSETS / "ball_bounces.mp4")
SCORED = "<think>" + "fine " * 30 + "</think>\n(1) visual quality: 4\n(2) text-to-video alignment: 3\n" \
         "(3) physical/common-sense consistency: 2"


@pytest.fixture
def blocked(monkeypatch):
    """The app with explain, report and clip-check handlers that wait on a gate: every accepted event stays queued or
    running, so what the guard lets in is exactly what is counted. Visitors are told apart by X-Forwarded-For
    from a trusted proxy (this host)."""
    monkeypatch.setenv("VS2_TRUSTED_PROXIES", "127.0.0.1,::1")
    gate = threading.Event()

    def explain(self, samples, counterfactual: str = "", stored: str | None = None, seconds: str = "",
                request: gr.Request = None):
        gate.wait(60)
        return "", "", None, None, None, None

    def report(self, samples, explanation=None, stored: str | None = None, request: gr.Request = None):
        gate.wait(60)

    def plan(self, video, fps):
        gate.wait(60)
        return ""

    monkeypatch.setattr(DemoApp, "explain", explain)
    monkeypatch.setattr(DemoApp, "report", report)
    monkeypatch.setattr(DemoApp, "plan", plan)
    demo, client = launch(ScriptedEvaluator(SCORED, delay_s=0.0))
    yield demo, client.src.rstrip("/") + "/gradio_api"
    gate.set()
    demo.close()


def _index(demo, api_name: str) -> int:
    return next(i for i, fn in demo.fns.items() if fn.api_name == api_name)


def _join(base: str, fn_index: int, data: list, session: str, visitor: str) -> int:
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    return httpx.post(f"{base}/queue/join", json=body, headers={"X-Forwarded-For": visitor}, timeout=30).status_code


def test_a_flood_of_explain_and_report_calls_is_bounded_and_others_still_get_in(blocked) -> None:
    demo, base = blocked
    explain, report = _index(demo, "explain"), _index(demo, "report")
    flood = [_join(base, explain, [None, "x", None, ""], "tab-a", "203.0.113.1") for _ in range(65)]
    assert flood.count(200) == guard.bounds()[guard.EXPLAIN_SLOT].per_session and flood.count(429) == 64
    reports = [_join(base, report, [None, None, None], "tab-a", "203.0.113.1") for _ in range(40)]
    assert reports.count(200) == guard.bounds()[guard.REPORT_SLOT].per_session
    many_tabs = [_join(base, explain, [None, "x", None, ""], f"tab-a{i}", "203.0.113.1") for i in range(20)]
    bound = guard.bounds()[guard.EXPLAIN_SLOT]
    assert many_tabs.count(200) == bound.per_address - bound.per_session  # new tabs do not escape it
    # another visitor is neither refused nor queued behind the flood
    assert _join(base, explain, [None, "x", None, ""], "tab-b", "198.51.100.7") == 200
    assert _join(base, report, [None, None, None], "tab-b", "198.51.100.7") == 200


def test_every_endpoint_counts_toward_one_bound_per_address(blocked) -> None:
    """Within each endpoint's own bound (2 explanations, 4 reports, 8 clip checks: 14), the address's bound over
    all endpoints together (12) still holds; a new session each time, so only the address ties them."""
    demo, base = blocked
    explain, report = _index(demo, "explain"), _index(demo, "report")
    plan = next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == "planned")
    calls = [(explain, [None, "x", None, ""])] * 2 + [(report, [None, None, None])] * 4 + [(plan, [None, 2.0, ""])] * 8
    codes = [_join(base, index, data, f"tab-{i}", "203.0.113.9") for i, (index, data) in enumerate(calls)]
    assert codes == [200] * guard.MAX_EVENTS_PER_ADDRESS + [429] * (len(calls) - guard.MAX_EVENTS_PER_ADDRESS)


def test_forwarded_addresses_from_an_untrusted_peer_are_ignored(monkeypatch) -> None:
    """From loopback, without VS2_TRUSTED_PROXIES, 20 spoofed addresses are one address: its bound holds."""
    monkeypatch.delenv("VS2_TRUSTED_PROXIES", raising=False)
    monkeypatch.setenv("VS2_MAX_RUNS_PER_ADDRESS", "3")
    evaluator = ScriptedEvaluator("<think>" + "slow " * 2000 + "</think>", delay_s=0.02)
    demo, client = launch(evaluator)
    base = client.src.rstrip("/") + "/gradio_api"
    try:
        clip = upload(base, CLIP)
        codes = [httpx.post(f"{base}/call/score", json={"data": [clip, "a ball"]}, timeout=30,
                            headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(20)]
        assert codes.count(200) == 3 and codes.count(429) == 17
    finally:
        demo.close()


def test_trusted_proxies_take_the_address_the_proxy_appended() -> None:
    proxies = TrustedProxies.parse("10.0.0.0/8, 127.0.0.1")
    assert proxies.client("10.1.2.3", ["1.2.3.4, 203.0.113.5"]) == "203.0.113.5"  # the visitor's own claim ignored
    assert proxies.client("10.1.2.3", ["203.0.113.5, 10.9.9.9"]) == "203.0.113.5"  # a chain of trusted proxies
    assert proxies.client("192.0.2.8", ["203.0.113.5"]) == "192.0.2.8"  # not a proxy: its own address
    assert proxies.client("10.1.2.3", []) == "10.1.2.3"
    assert TrustedProxies.parse("").client("127.0.0.1", ["203.0.113.5"]) == "127.0.0.1"
    with pytest.raises(ValueError, match="VS2_TRUSTED_PROXIES"):
        TrustedProxies.parse("proxy.example")


# ---- MCP agents -----------------------------------------------------------------------------------


def _mcp_app(monkeypatch, per_address: int):
    from vs2demo.serve.page import build_demo, launch_kwargs

    monkeypatch.setenv("VS2_MAX_RUNS_PER_ADDRESS", str(per_address))
    evaluator = ScriptedEvaluator(SCORED, delay_s=0.08)  # ~4 s a run: the agents' calls overlap
    demo = build_demo(evaluator)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs(demo, evaluator, mcp=True))
    return demo, f"http://127.0.0.1:{port}"


async def _agents(base: str, n: int) -> list[str]:
    """``n`` independent MCP clients, each scoring one clip at the same time; the text each gets back."""
    import base64

    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    clip = "data:video/mp4;base64," + base64.b64encode(Path(CLIP).read_bytes()).decode()

    async def agent(k: int) -> str:
        async with streamablehttp_client(f"{base}/gradio_api/mcp/") as (read, write, _), \
                ClientSession(read, write) as session:
            await session.initialize()
            called = await session.call_tool("score", {"video": clip, "prompt": "a red ball", "seed": k})
            return "\n".join(getattr(c, "text", "") for c in called.content)

    return await asyncio.gather(*(agent(k) for k in range(n)))


def test_three_mcp_agents_at_once_all_get_their_result(monkeypatch) -> None:
    pytest.importorskip("mcp")
    demo, base = _mcp_app(monkeypatch, per_address=8)
    try:
        texts = asyncio.run(_agents(base, 3))
        assert all('"visual_quality"' in t for t in texts), texts
    finally:
        demo.close()


def test_an_agent_past_its_bound_gets_a_plain_message_without_internal_urls(monkeypatch) -> None:
    pytest.importorskip("mcp")
    demo, base = _mcp_app(monkeypatch, per_address=2)
    try:
        texts = asyncio.run(_agents(base, 4))
        refused = [t for t in texts if '"visual_quality"' not in t]
        assert refused and all("Too many tool calls" in t for t in refused), texts
        assert not any("127.0.0.1" in t or "http" in t or "gradio_api" in t for t in refused)
        assert sum('"visual_quality"' in t for t in texts) >= 2
    finally:
        demo.close()


# ---- explanations nobody listens to ------------------------------------------------------------------


class SlowExplainer(ScriptedEvaluator):
    """Scripted explanations: 100 slow passes, each reported; records how many ran."""

    passes = 0

    def explain_stream(self, result, options):
        from vs2demo.evidence.options import ExplainProgress

        for k in range(100):
            time.sleep(0.1)
            SlowExplainer.passes = k + 1
            yield ExplainProgress(k + 1, 100)
        return None


def test_an_explanation_nobody_reads_is_stopped(monkeypatch) -> None:
    monkeypatch.setattr(guard, "UNREAD_GRACE_S", 1.0)
    demo, client = launch(SlowExplainer(SCORED, delay_s=0.0))
    base = client.src.rstrip("/") + "/gradio_api"
    try:
        client.predict(handle_file(CLIP), "a red ball", api_name="/score")  # this session now has a result
        body = {"data": [None, "a blue car", None], "fn_index": _index(demo, "explain"),
                "session_hash": client.session_hash, "event_data": None, "trigger_id": None}
        assert httpx.post(f"{base}/queue/join", json=body, timeout=30).status_code == 200  # posted, never read
        time.sleep(6)
        stopped_at = SlowExplainer.passes
        time.sleep(1.5)
        assert 0 < stopped_at < 60 and SlowExplainer.passes == stopped_at  # stopped, well before its 100 passes
    finally:
        demo.close()
