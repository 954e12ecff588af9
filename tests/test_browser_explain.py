"""The evidence views in a real browser, driven by a scripted evaluator whose explanation is known: the strips, the
tints, click-to-seek both ways, the subtitles and the probes, at desktop and phone width, light and dark."""

from __future__ import annotations

import math

import pytest

from tests.helpers import CHROMIUM, ScriptedEvaluator, ready_to_score
from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.evidence.options import ExplainProgress
from vs2demo.evidence.record import (
    Explanation,
    Probe,
    ProbeKind,
    Shift,
    Unaltered,
    split_segments,
    split_sentences,
)
from vs2demo.evidence.total_effect import Condition, DimensionChange, Interval, TotalEffect
from vs2demo.input.framing import FRAME_FACTOR

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (apt-get install chromium)")]

TEXT = ("<think>The ball sinks into the wooden floor near the middle of the clip. The colours stay sharp and clean "
        "throughout the whole clip.</think>\n(1) visual quality: 4\n(2) text-to-video alignment: 3\n"
        "(3) physical/common-sense consistency: 2")
SEG = 1  # the segment the first sentence is about, and the one that moves visual quality


def flat(delta: float) -> Shift:
    return Shift(3.0 + delta, delta, 0.3, delta / 10, -0.8, delta * 2)


def change(delta: float, changed: int) -> DimensionChange:
    return DimensionChange((0, 0, 2, 2, 0), (0, changed, 2, 2 - changed, 0), changed, 4,
                           Interval(delta, delta - 0.1, delta + 0.1, 4))


class ExplainingEvaluator(ScriptedEvaluator):
    """Scripted text, and a scripted explanation of it: sentence 0 rests on segment SEG, sentence 1 on the last."""

    def explain_stream(self, result, options=None):
        yield ExplainProgress(0, 2)
        yield ExplainProgress(2, 2)
        segments = split_segments(result.plan, math.ceil(len(result.plan.indices) / FRAME_FACTOR))
        sentences = split_sentences(result.raw_output, list(range(1, len(result.raw_output) + 1)))
        n = len(segments)
        direct = tuple(tuple(flat(-0.8 if (d == 0 and i == SEG) else -0.02) for i in range(n))
                       for d in range(len(DIMENSIONS)))
        grounding = (tuple(2.0 if i == SEG else 0.1 for i in range(n)),
                     tuple(1.5 if i == n - 1 else 0.0 for i in range(n)))
        removals = ((flat(0.0), flat(-0.1), flat(-1.2)), (flat(-0.5), flat(0.0), flat(0.0)))
        probes = (Probe(ProbeKind.CLIP_HIDDEN, "Whole clip hidden", result.prompt, (flat(-1.4),) * 3, 30.0, 0.9),
                  Probe(ProbeKind.EMPTY_PROMPT, "Empty prompt", "", (flat(0.0), flat(-0.02), flat(0.0)), 0.2, 0.01),
                  Probe(ProbeKind.OTHER_PROMPT, "Another prompt", "x", (flat(0.0), flat(-0.6), flat(0.0)), 3.0, 0.1))
        seeds = (0, 1, 2, 3)
        total = (TotalEffect(Condition.CLIP_HIDDEN, (), "whole clip", result.prompt, seeds,
                             (change(-1.2, 2), change(-0.5, 1), change(-0.3, 1))),
                 TotalEffect(Condition.SEGMENTS_HIDDEN, (SEG,), "top by grounding", result.prompt, seeds,
                             (change(-0.6, 1), change(0.0, 0), change(0.0, 0))),
                 TotalEffect(Condition.OTHER_PROMPT, (), "sanity probe", "x", seeds,
                             (change(0.0, 0), change(0.05, 0), change(0.0, 0))))
        digits = ((-1.6,) * 5,) * 3
        return Explanation(segments, sentences, direct, direct, (0.05,) * 3,
                           tuple(1.0 if i == SEG else 0.01 for i in range(n)), (0.9,) * n, 0.05, grounding, (0.2, 0.2),
                           removals, probes, total, (3.0, 3.0, 3.0), (-0.8, -0.8, -0.8),
                           Unaltered(digits, digits, -20.0, -25.0), 1e-7, 2, 16, 0.1)


@pytest.fixture(scope="module")
def scripted(served):
    """The page on a scripted explanation for the module (conftest's served closes it): its url."""
    _, client, _ = served(ExplainingEvaluator(TEXT, delay_s=0.0))
    return client.src


def current_time(page) -> float:
    return page.evaluate("document.querySelector('#vs2-video video').currentTime")


@pytest.mark.parametrize("viewport,scheme", [({"width": 1280, "height": 900}, "light"),
                                             ({"width": 1280, "height": 900}, "dark"),
                                             ({"width": 390, "height": 844}, "light"),
                                             ({"width": 390, "height": 844}, "dark")])
def test_evidence_strips_tints_seek_and_subtitles(browser, scripted, shots, viewport, scheme) -> None:
    tag = f"{viewport['width']}-{scheme}"
    page = ready_to_score(browser, scripted + f"?__theme={scheme}", "ball_sinks.mp4", "a red ball bouncing",
                          viewport=viewport, color_scheme=scheme)
    try:
        page.click("#vs2-evaluate")
        page.wait_for_selector("#vs2-status >> text=Done in", timeout=60_000)
        page.click("#vs2-explain")
        page.wait_for_selector("#vs2-evidence .vs2-ev", timeout=60_000)
        assert "Explained in" in page.locator("#vs2-status").inner_text()
        ev = page.locator("#vs2-evidence")
        strips = ev.locator(".vs2-strip")
        assert strips.count() == len(DIMENSIONS) + 1  # + the grounding strip
        segs = strips.first.locator(".vs2-seg")
        n = segs.count()
        assert n >= 3 and segs.nth(SEG).inner_text() == "-0.80"  # the number is written, not only coloured
        assert segs.nth(0).inner_text() == "≈0"  # within the floor: not distinguishable from 0, uncoloured
        probes = ev.locator(".vs2-probes li").all_inner_texts()
        assert any(p.startswith("Is the judge watching? Yes") for p in probes)
        assert any(p.startswith("Is the judge reading the prompt? Not shown") for p in probes)
        legend = ev.locator(".vs2-legend")
        assert legend.is_visible() and "not measurable here" in legend.inner_text()
        assert ev.locator(".vs2-total tr").count() == 1 + 3
        page.screenshot(path=str(shots / f"explain-{tag}.png"), full_page=True)

        # a segment seeks the player and marks the sentence grounded in it
        start = float(segs.nth(SEG).get_attribute("data-t"))
        segs.nth(SEG).click()
        page.wait_for_function(f"Math.abs(document.querySelector('#vs2-video video').currentTime - {start}) < 0.05",
                               timeout=10_000)
        sentences = ev.locator(".vs2-sent")
        assert "vs2-hl" in sentences.nth(0).get_attribute("class")
        assert "vs2-hl" not in sentences.nth(1).get_attribute("class")

        # a sentence marks its seconds in every strip and seeks to its strongest one
        sentences.nth(1).click()
        last = float(segs.nth(n - 1).get_attribute("data-t"))
        page.wait_for_function(f"Math.abs(document.querySelector('#vs2-video video').currentTime - {last}) < 0.05",
                               timeout=10_000)
        assert ev.locator(".vs2-seg.vs2-hl").count() == len(DIMENSIONS) + 1  # the last segment, in each strip
        assert "vs2-hl" in segs.nth(n - 1).get_attribute("class")

        # choosing a dimension tints the sentences by their effect on it, and writes the effect beside them
        ev.get_by_role("button", name=DIMENSIONS[2].title, exact=True).click()
        assert ev.locator(".vs2-ev").get_attribute("data-dim") == "2"
        weight = sentences.nth(0).evaluate("el => getComputedStyle(el).getPropertyValue('--w')")
        assert float(weight) == pytest.approx(1.0)  # the sentence whose removal moves physics most
        assert sentences.nth(0).locator('.vs2-eff[data-d="2"]').inner_text() == "[-1.20]"
        assert not sentences.nth(0).locator('.vs2-eff[data-d="0"]').is_visible()
        page.screenshot(path=str(shots / f"explain-tinted-{tag}.png"), full_page=True)

        # the player carries the reasoning as subtitles during the grounded seconds
        page.wait_for_function("(() => { const v = document.querySelector('#vs2-video video');"
                               " const t = v && v.textTracks[v.textTracks.length - 1];"
                               " return t && t.cues && t.cues.length >= 2; })()", timeout=10_000)
        cue = page.evaluate("(() => { const v = document.querySelector('#vs2-video video');"
                            " const c = v.textTracks[v.textTracks.length - 1].cues[0];"
                            " return [c.startTime, c.text]; })()")
        assert cue[0] == pytest.approx(start, abs=0.01) and cue[1].startswith("The ball sinks")
        assert "[grounding 2.00 nats/token]" in cue[1]  # the drop is shown with the subtitle
        assert current_time(page) == pytest.approx(last, abs=0.05)
    finally:
        page.close()
