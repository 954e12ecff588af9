"""The examples as full results: computed once per process, replayed (and labelled) after, the page opening on the
first one once it is computed, and a kept explanation shown with later replays. Driven through the page's handlers
on the smoke model."""

from __future__ import annotations

import shutil

import gradio as gr
import pytest

from tests.helpers import ASSETS
from vs2demo.analysis.result import Result
from vs2demo.serve.handlers import DemoApp
from vs2demo.serve.page import build_demo, compute_first_example
from vs2demo.serve.views import SCORE_VIEW

STATUS, RESULT = SCORE_VIEW.outputs.index("status"), SCORE_VIEW.outputs.index("result")


def last(updates) -> tuple:
    *_, final = updates
    return final


@pytest.fixture
def app(evaluator) -> DemoApp:
    return DemoApp(evaluator)


def counting(monkeypatch, evaluator) -> list[int]:
    calls: list[int] = []
    real = evaluator.generate_stream

    def counted(*args, **kwargs):
        calls.append(1)
        yield from real(*args, **kwargs)

    monkeypatch.setattr(evaluator, "generate_stream", counted)
    return calls


def test_an_example_runs_once_then_replays_as_a_labelled_full_result(app, evaluator, monkeypatch, tmp_path) -> None:
    calls = counting(monkeypatch, evaluator)
    first = app.examples.examples[0].job
    live = last(app.example(first.video, first.prompt))
    copy = tmp_path / "ball_bounces.mp4"  # Gradio hands the visitor a copy of the example: the same bytes
    shutil.copy(first.video, copy)
    monkeypatch.setattr("vs2demo.serve.handlers.uploaded", lambda video: str(video))
    again = last(app.example(str(copy), first.prompt))
    assert calls == [1]  # the second visitor's example came from the recorded run
    assert "Replay of an example run" not in live[STATUS] and "Replay of an example run" in again[STATUS]
    (replayed,) = again[RESULT]
    assert isinstance(replayed, Result) and replayed.raw_output == live[RESULT][0].raw_output
    assert replayed.video == str(copy)  # the replay reads this visitor's copy: Explain and Report can open it
    assert app.report(again[RESULT]).endswith(".html")  # a full result: the report works on it


def test_a_clip_that_is_not_an_example_is_never_replayed(app, evaluator, monkeypatch, make_clip) -> None:
    calls = counting(monkeypatch, evaluator)
    monkeypatch.setattr("vs2demo.serve.handlers.uploaded", lambda video: str(video))
    other = make_clip(3.0, fps=12.0)
    prompt = app.examples.examples[0].job.prompt  # the example's prompt, another clip
    for _ in range(2):
        assert "Replay" not in last(app.example(other, prompt))[STATUS]
    assert calls == [1, 1]


def test_the_page_opens_on_the_first_example_once_it_is_computed(evaluator) -> None:
    demo = build_demo(evaluator)
    from vs2demo.serve.page import page_app

    app = page_app(demo)
    before = last(app.first_screen())
    # nothing computed yet: the page stays as it is
    assert len(before) == len(SCORE_VIEW.outputs) and all(isinstance(v, type(gr.skip())) for v in before)
    assert all(isinstance(v, type(gr.skip())) for v in app.first_inputs())
    compute_first_example(demo).join(300)
    opened = last(app.first_screen())
    assert "Replay of an example run" in opened[STATUS] and opened[RESULT]
    video, prompt = app.first_inputs()
    assert (video, prompt) == (app.examples.first().video, app.examples.first().prompt)
    # its explanation was computed at start too: the first screen shows the evidence, and the report has it
    html, explanation = app.example_evidence(opened[RESULT])
    assert explanation is not None and explanation.passes > 0 and 'class="vs2-legend"' in html


def test_the_first_example_can_open_unexplained(evaluator) -> None:
    demo = build_demo(evaluator)
    from vs2demo.serve.page import page_app

    app = page_app(demo)
    compute_first_example(demo, explained=False).join(300)
    opened = last(app.first_screen())
    assert opened[RESULT] and app.example_evidence(opened[RESULT])[1] is None


def test_a_kept_explanation_comes_back_with_the_replay(app, monkeypatch) -> None:
    from vs2demo.evidence.explain import explain
    from vs2demo.evidence.options import ExplainOptions

    first = app.examples.examples[0].job
    samples = last(app.example(first.video, first.prompt))[RESULT]
    assert app.example_evidence(samples)[1] is None  # none kept yet: the readable reasoning
    cheap = ExplainOptions(max_segments=2, max_sentences=2, resamples=0, sanity=False, random_orders=0)
    explanation = explain(app.evaluator, samples[0], cheap)
    app.examples.remember_explanation(samples[0], explanation)
    html, kept = app.example_evidence(last(app.example(first.video, first.prompt))[RESULT])
    assert kept is explanation and 'class="vs2-legend"' in html


def test_examples_are_the_assets_listed(app) -> None:
    import json

    listed = json.loads((ASSETS / "examples.json").read_text(encoding="utf-8"))
    assert [(e.job.prompt, e.teaches) for e in app.examples.examples] == [(e["prompt"], e["teaches"]) for e in listed]
    assert all(e.job.video.startswith(str(ASSETS.resolve())) for e in app.examples.examples)


def test_a_replay_is_not_stored_again(app, monkeypatch) -> None:
    """Each replay (a page opening on the first example, say) is no new result: only the live run is stored."""
    stored: list[int] = []
    real = app._store
    monkeypatch.setattr(app, "_store", lambda *a, **k: (stored.append(1), real(*a, **k))[1])
    first = app.examples.examples[0].job
    for _ in range(3):
        last(app.example(first.video, first.prompt))
    assert stored == [1]


def test_nothing_is_computed_at_start_on_zero_gpu(evaluator, monkeypatch) -> None:
    """On ZeroGPU the GPU is held only inside a visitor's lease: the start-up run is refused where it is made."""
    monkeypatch.setattr("vs2demo.serve.page.ON_ZERO_GPU", True)
    demo = build_demo(evaluator)
    assert compute_first_example(demo) is None
    from vs2demo.serve.page import page_app

    assert page_app(demo).examples.get(page_app(demo).examples.first()) is None
