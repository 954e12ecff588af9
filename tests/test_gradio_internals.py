"""Every private Gradio name the app reads lives in serve/gradio_internals.py, and a missing one fails loudly: here,
when the app starts, and in this test after a Gradio upgrade."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from vs2demo.serve import gradio_internals
from vs2demo.serve.gradio_internals import GradioInternalsChanged

ROOT = Path(__file__).resolve().parent.parent
PRIVATE = re.compile(r"\b(_queue|event_ids_to_events|pending_messages_per_session|LocalContext|_mcp_type)\b")


def test_the_installed_gradio_has_every_private_name_used(evaluator) -> None:
    from vs2demo.serve.page import build_demo

    gradio_internals.require(build_demo(evaluator))  # raises GradioInternalsChanged, naming what is missing


def test_no_other_module_reads_gradio_privates() -> None:
    readers = [p.relative_to(ROOT).as_posix() for p in (ROOT / "vs2demo").rglob("*.py")
               if PRIVATE.search(p.read_text(encoding="utf-8")) and p.name != "gradio_internals.py"]
    assert readers == []


def test_a_renamed_queue_attribute_is_named_loudly() -> None:
    demo = SimpleNamespace(_queue=SimpleNamespace(event_ids_to_events={}))  # pending_messages_per_session is gone
    with pytest.raises(GradioInternalsChanged, match=r"Queue\.pending_messages_per_session"):
        gradio_internals.require(demo)
    with pytest.raises(GradioInternalsChanged, match=r"Blocks\._queue"):
        gradio_internals.require(SimpleNamespace())


def test_a_changed_event_is_named_loudly(monkeypatch) -> None:
    import gradio.queueing

    class Renamed:
        def __init__(self, session_hash, fn, request, username) -> None:
            self.session_hash, self.concurrency_id, self.request = session_hash, fn.concurrency_id, request

    monkeypatch.setattr(gradio.queueing, "Event", Renamed)
    demo = SimpleNamespace(_queue=SimpleNamespace(event_ids_to_events={}, pending_messages_per_session={}))
    with pytest.raises(GradioInternalsChanged, match=r"Event\.alive"):
        gradio_internals.require(demo)


def test_the_app_refuses_to_start_without_them(evaluator) -> None:
    """The request guard checks at construction: a launch fails instead of serving without its bounds."""
    from vs2demo.serve.guard import RequestGuard

    with pytest.raises(GradioInternalsChanged):
        RequestGuard(None, demo=SimpleNamespace(), max_upload_bytes=1000)


def test_page_only_endpoints_are_not_mcp_tools(evaluator) -> None:
    from vs2demo.serve.page import build_demo

    demo = build_demo(evaluator)
    marked = {fn.api_name for fn in demo.fns.values() if getattr(fn.fn, gradio_internals.MCP_TYPE, "tool") != "tool"}
    assert {"score", "compare", "rank", "explain", "report"} <= marked
    assert not marked & {"score_json", "compare_json", "rank_json"}


def test_the_launch_fails_without_them() -> None:
    from vs2demo.serve.guard import launch_settings

    with pytest.raises(GradioInternalsChanged, match="Blocks"):
        launch_settings(SimpleNamespace(), 1000)
