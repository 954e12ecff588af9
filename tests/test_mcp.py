"""`python app.py --mcp`: Gradio's MCP server lists the score, compare and rank tools (described for an agent) and
runs one on the smoke model."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from tests.helpers import ASSETS, free_port

mcp = pytest.importorskip("mcp", reason="the mcp package (requirements.txt) is not installed")


def test_mcp_lists_the_tools_and_scores_a_clip(evaluator) -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    from vs2demo.serve.page import build_demo, launch_kwargs

    demo = build_demo(evaluator)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs(demo, evaluator, mcp=True))
    base = f"http://127.0.0.1:{port}"
    try:
        # an agent sends a file as a public URL or inline as base64 (Gradio refuses URLs to this very host)
        clip_url = "data:video/mp4;base64," + base64.b64encode((ASSETS / "ball_bounces.mp4").read_bytes()).decode()

        async def session_calls() -> tuple[dict, str]:
            async with streamablehttp_client(f"{base}/gradio_api/mcp/") as (read, write, _), \
                    ClientSession(read, write) as session:
                await session.initialize()
                tools = {t.name: t for t in (await session.list_tools()).tools}
                called = await session.call_tool("score", {"video": clip_url, "prompt": "a red ball bouncing",
                                                           "seed": 1})
                return tools, "\n".join(getattr(c, "text", "") for c in called.content)

        tools, text = asyncio.run(session_calls())
        assert set(tools) == {"score", "compare", "rank"}  # the JSON tools; the page's streaming endpoints are not
        import httpx

        schema = httpx.get(f"{base}/gradio_api/mcp/schema", timeout=30).json()
        assert {s["name"] for s in schema} == set(tools)  # the schema lists what the server serves, no more
        score = tools["score"]
        assert "visual quality" in score.description and "prompt" in score.inputSchema["properties"]
        assert "generated from" in json.dumps(score.inputSchema["properties"]["prompt"])
        result = json.loads(text)
        assert set(result["scores"]) == {"visual_quality", "text_to_video_alignment", "physical_consistency"}
        assert result["options"]["seed"] == 1 and result["raw_output"]
    finally:
        demo.close()
