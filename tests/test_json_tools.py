"""The JSON tools (/score_json, /compare_json, /rank_json; MCP score, compare, rank) and the page share one core:
the same typed settings, checked against the page's limits by one parser, and the same run and JSON."""

from __future__ import annotations

import json

import gradio as gr
import pytest
from gradio_client import handle_file

from tests.helpers import ASSETS, ScriptedEvaluator, launch
from vs2demo.core.errors import InputError
from vs2demo.serve import run_settings
from vs2demo.serve.handlers import DemoApp
from vs2demo.serve.requests import page_options
from vs2demo.serve.tools import AgentTools

CLIP = str(ASSETS / "ball_bounces.mp4")
SCORED = "<think>fine</think>\n(1) visual quality: 4\n(2) text-to-video alignment: 3\n" \
         "(3) physical/common-sense consistency: 2"
BIG_SEED = 2**62 + 1  # not a float: a text → float → int round-trip turns it into 2**62


@pytest.fixture(scope="module")
def served():
    demo, client = launch(ScriptedEvaluator(SCORED, delay_s=0.0))
    yield client
    demo.close()


@pytest.mark.parametrize("setting,value,says", [("fps", 30, r"Frames per second must be between 0\.5 and 8"),
                                                ("max_new_tokens", 8192, "Max new tokens must be between 16 and 2048"),
                                                ("temperature", 4.0, r"Temperature must be between 0\.05 and 2"),
                                                ("samples", 3, "Samples must be one of 1, 4, 8, 16")])
def test_score_json_enforces_the_pages_limits(served, setting, value, says) -> None:
    with pytest.raises(Exception, match=says):
        served.predict(handle_file(CLIP), "a red ball", **{setting: value}, api_name="/score_json")


@pytest.mark.parametrize("setting,value", [("fps", 30), ("max_new_tokens", 8192)])
def test_the_pages_own_endpoint_enforces_the_same_limits(served, setting, value) -> None:
    with pytest.raises(Exception, match=r"between|greater than maximum"):  # the slider may refuse it first
        served.predict(handle_file(CLIP), "a red ball", **{setting: value}, api_name="/score")


def test_score_json_keeps_a_typed_seed_exactly_and_answers_json(served) -> None:
    result = json.loads(served.predict(handle_file(CLIP), "a red ball", seed=BIG_SEED, api_name="/score_json"))
    assert result["options"]["seed"] == BIG_SEED
    assert result["scores"]["visual_quality"]["hard"] == 4


def test_tools_call_the_shared_core_not_the_pages_html_handlers(monkeypatch) -> None:
    """The tool never drives the page's streaming handler (no HTML, radar or file is made for an agent)."""
    app = DemoApp(ScriptedEvaluator(SCORED, delay_s=0.0))
    for handler in ("score", "compare", "rank"):
        monkeypatch.setattr(app, handler, lambda *a, **k: pytest.fail("a page handler was driven"))
    tools = AgentTools(app)
    monkeypatch.setattr("vs2demo.serve.handlers.uploaded", lambda video: video)  # the clip is one of the assets
    scored = json.loads(tools.score({"path": CLIP}, "a red ball", seed=BIG_SEED))
    assert scored["options"]["seed"] == BIG_SEED
    ranked = json.loads(tools.rank([{"path": CLIP}, {"path": str(ASSETS / "ball_sinks.mp4")}], "a red ball", seed=3))
    assert len(ranked["leaderboard"]["clips"]) == 2
    with pytest.raises(gr.Error, match="Max new tokens must be between 16 and 2048"):
        tools.score({"path": CLIP}, "a red ball", max_new_tokens=8192)


def test_one_parser_for_the_page_and_the_tools() -> None:
    assert page_options("7", False, 0.7, 1024, 2.0, 4) == run_settings.run_options(seed=7, samples=4)
    assert run_settings.run_options(seed=BIG_SEED).seed == BIG_SEED
    assert run_settings.seed_from_text(str(BIG_SEED)) == BIG_SEED
    for bad in (dict(fps=30.0), dict(max_new_tokens=8192), dict(max_new_tokens=100.5), dict(seed=1.5),
                dict(seed="7"), dict(samples=16, greedy=True), dict(fps=float("nan")), dict(greedy="yes")):
        with pytest.raises(InputError):
            run_settings.run_options(**bad)
    with pytest.raises(gr.Error, match=r"between 0\.5 and 8"):
        page_options("", False, 0.7, 1024, 30.0)
