"""The self-contained HTML report (pure, CLI, API) and Stop before the model runs (the runner)."""

from __future__ import annotations

import re
import shlex
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import ASSETS, SETTINGS, ScriptedEvaluator, cli
from vs2demo.core.options import GenerationOptions
from vs2demo.engine.events import Finished, Job, Status
from vs2demo.present.panels_html import reproduce_command
from vs2demo.present.report_html import report_html
from vs2demo.serve.runs import STOPPED_BEFORE_MODEL, Runner

PROMPT = "a red ball <b>bouncing</b> on a wooden floor"
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def samples(evaluator, clip):
    return evaluator.evaluate(clip, PROMPT, GenerationOptions(seed=5, samples=2))


def test_report_is_self_contained_and_complete(evaluator, samples) -> None:
    result = samples[0]
    html = report_html(samples, evaluator.thumbnails(result.video, result.plan.fps))
    assert not REMOTE.search(html) and "<script" not in html  # nothing to fetch: it opens offline
    assert html.count('src="data:image/jpeg;base64,') == len(result.plan.indices)  # every frame, embedded
    assert "&lt;b&gt;bouncing&lt;/b&gt;" in html and "<b>bouncing</b>" not in html  # the prompt is text
    assert "<svg" in html and "How stable (2 samples)" in html
    assert "seeds 5–6" in html and result.model.banner in html  # deviations, and the smoke model's warning
    for s in result.scores:
        assert s.title in html and (s.soft is None or f"{s.soft:.3f}" in html)
    assert "Evidence" not in html


def test_report_command_reproduces_the_settings(samples) -> None:
    line = shlex.split(reproduce_command(samples[0], len(samples)))
    assert line[:4] == ["python", "-m", "vs2demo", "score"] and line[line.index("--prompt") + 1] == PROMPT
    assert line[line.index("--seed") + 1] == "5" and line[line.index("--samples") + 1] == "2"
    assert line[line.index("--model") + 1] == "smoke" and "--fps" not in line  # official fps: not spelled out


def test_report_carries_the_evidence(evaluator, samples) -> None:
    from vs2demo.evidence.explain import explain

    explanation = explain(evaluator, samples[0], samples=samples)
    html = report_html(samples, None, explanation)
    assert "Evidence (an extra)" in html and html.count('class="vs2-strip"') == 3 + 1  # three dimensions, grounding
    assert "not the official scores" in html and "Total effect (re-generated, paired seeds)" in html
    assert f"all {len(samples)} samples explained" in html
    assert "(frames not available)" in html


def test_cli_report(tmp_path, clip, smoke_dir) -> None:
    out = tmp_path / "report.html"
    done = cli("explain", clip, "--prompt", "a ball", "--model", "smoke", "--seed", "2", "--report", str(out))
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "Evidence (an extra)" in html and not REMOTE.search(html)
    bad = cli("score", clip, "--prompt", "a ball", "--model", "smoke", "--report", str(tmp_path / "no" / "r.html"))
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        f"error: cannot write the report to {tmp_path / 'no' / 'r.html'}: no such folder"]  # before any model work


def test_api_report_after_a_result(smoke_app) -> None:
    from gradio_client import Client, handle_file

    client = Client(smoke_app.src, verbose=False)  # a session of its own: no result yet
    with pytest.raises(Exception, match="Evaluate a clip first"):
        client.predict(api_name="/report")
    client.predict(handle_file(str(ASSETS / "ball_bounces.mp4")), "a ball", *SETTINGS, api_name="/score")
    path = client.predict(api_name="/report")
    assert Path(path).read_text(encoding="utf-8").count("data:image/jpeg;base64,") == 6


class SlowReading(ScriptedEvaluator):
    """Reading the clip takes a while (a long 1080p clip would): time to press Stop."""

    def __init__(self) -> None:
        super().__init__("<think>ok</think>")
        self.reading = threading.Event()

    def prepare_stream(self, jobs, options):
        steps = super().prepare_stream(jobs, options)
        while True:
            try:
                event = next(steps)
            except StopIteration as done:
                return done.value
            self.reading.set()
            time.sleep(0.3)
            yield event


def test_stop_while_reading_frames_ends_before_the_model() -> None:
    slow = SlowReading()
    runner = Runner(slow)
    events = []

    def run() -> None:
        events.extend(runner.stream([Job(str(ASSETS / "ball_bounces.mp4"), "a ball")], GenerationOptions(), "me"))

    worker = threading.Thread(target=run)
    worker.start()
    assert slow.reading.wait(10)
    assert runner.stop("me")
    worker.join(10)
    assert not worker.is_alive() and slow.started == 0  # the model was never asked to write
    assert isinstance(events[-1], Status) and events[-1].message == STOPPED_BEFORE_MODEL
    assert not any(isinstance(e, Finished) for e in events)
    assert not runner.stop("me")  # nothing left running for that visitor



@pytest.mark.parametrize("seconds,size,fps", [(5.0, (1280, 720), 24.0), (30.0, (1920, 1080), 30.0),
                                              (3.0, (320, 240), 24.0)])
def test_how_it_works_numbers_are_the_official_frames(seconds, size, fps) -> None:
    """The worked example's numbers against qwen-vl-utils itself (not our own frame maths on both sides)."""
    from tests.official import official_frame_geometry
    from vs2demo.present.page_prose import worked_example

    n, h, w = official_frame_geometry(round(seconds * fps), fps, size[1], size[0])
    tokens = (n // 2) * (h // 28) * (w // 28)  # one token per 28×28 px per pair of frames
    text = worked_example(seconds, size[0], size[1], fps)
    assert f"**{n} frames**" in text and f"**{tokens:,} visual tokens**" in text
    assert f"**{w}×{h}**" in text


def test_every_word_a_student_meets_is_in_the_glossary() -> None:
    """The terms the page and How it works use are each defined in a sentence, on the page and in How it works."""
    from vs2demo.present.page_prose import ABOUT, GLOSSARY, GLOSSARY_TERMS

    terms = " ".join(term for term, _ in GLOSSARY_TERMS).lower()
    for word in ("<think>", "visual tokens", "temperature", "seed", "greedy", "soft score", "expected score",
                 "extras", "sd", "nats", "temporal patch", "fill", "replay", "direct effect", "total effect"):
        assert word in terms, word  # a term of its own, defined in a sentence
    direct = dict(GLOSSARY_TERMS)["direct effect"]
    assert "teacher-forced" in direct  # the jargon is named where the idea it stands for is explained
    assert all(len(meaning.split()) >= 6 for _, meaning in GLOSSARY_TERMS)  # a sentence, not a synonym
    assert GLOSSARY in ABOUT



def test_the_report_fits_a_phone_and_has_no_dead_controls(evaluator, samples) -> None:
    """The report runs no script: no button, no "click" instruction; its score view is the page's wrapping cards and
    its radar scales with labels inside the picture, so nothing is wider than a phone."""
    from vs2demo.evidence.explain import explain
    from vs2demo.evidence.options import ExplainOptions
    from vs2demo.present.report_html import radar_svg, report_html

    cheap = ExplainOptions(max_segments=2, max_sentences=2, resamples=0, sanity=False, random_orders=0)
    html = report_html(samples, None, explain(evaluator, samples[0], cheap))
    assert "<button" not in html and "Click a segment" not in html and "Tint sentences" not in html
    assert 'class="vs2-cards"' in html and "<table class=\"vs2-scores\"" not in html
    svg = radar_svg(samples[0])
    assert "max-width:100%" in svg and 'viewBox="-80 0' in svg
    for label in ("Physical/", "common-sense"):  # the long axis label on two lines, not cut at the edge
        assert f">{label}</tspan>" in svg


def test_the_report_and_the_page_name_the_radar_lines_alike() -> None:
    from tests.reviews import fake_result
    from vs2demo.present import figures
    from vs2demo.present.page_prose import SOFT_NAME, WRITTEN_NAME
    from vs2demo.present.report_html import radar_svg

    result = fake_result()
    names = [trace.name for trace in figures.radar([("clip", result)]).data]
    assert names[0] == WRITTEN_NAME and names[1].startswith(SOFT_NAME)
    picture = radar_svg(result)
    assert WRITTEN_NAME in picture and SOFT_NAME in picture and "hard score" not in picture
    # the soft line is dotted in both, as its name says
    assert figures.radar([("clip", result)]).data[1].line.dash == "dot"
    assert re.search(r'<polygon [^>]*stroke-dasharray="1 4"', picture)
