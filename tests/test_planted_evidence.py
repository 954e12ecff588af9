"""The explanation's logic against a scorer whose evidence is planted in one known second (tests/planted.py): the
ranking, the total effect and the deletion curve must point at it, every other cell must stay within the floor;
with nothing planted (a constant clip), nothing clears the floor and nothing "rests most on" anything."""

from __future__ import annotations

import json

import pytest

from tests.planted import PlantedScorer
from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.core.options import GenerationOptions
from vs2demo.evidence.explain import explain
from vs2demo.evidence.options import ExplainOptions, Stopped
from vs2demo.evidence.record import Explanation
from vs2demo.evidence.total_effect import Condition
from vs2demo.input.framing import plan_frames
from vs2demo.input.video import probe
from vs2demo.present.evidence_html import NOT_DISTINGUISHABLE, evidence_html, subtitles_vtt
from vs2demo.present.evidence_prose import all_lines, moment_lines, reading_line, seconds, watching_line

PLANTED = 3  # the temporal group (one second at 2 fps) that carries the evidence
K = 4


@pytest.fixture(scope="module")
def plan(make_clip):
    return plan_frames(probe(make_clip(6.0, size=(64, 48))), 2.0)  # 12 frames, 6 temporal groups


@pytest.fixture(scope="module")
def planted(plan):
    scorer = PlantedScorer(PLANTED)
    result = scorer.result(plan)
    return result, explain(scorer, result, ExplainOptions(resamples=K))


def test_the_direct_effect_points_at_the_planted_second_and_nothing_else_clears_the_floor(planted) -> None:
    _, e = planted
    assert len(e.segments) == 6
    assert e.strongest_direct(0) == PLANTED
    assert e.direct_clears(0, PLANTED) and e.direct[0][PLANTED].expected_delta < -1.0
    assert e.direct[0][PLANTED].log_odds_delta < -2.0  # the log-odds move too, beside the expected score
    others = [(d, i) for d in range(len(DIMENSIONS)) for i in range(6) if (d, i) != (0, PLANTED)]
    assert all(not e.direct_clears(d, i) for d, i in others)
    assert any(abs(e.direct[d][i].expected_delta) > 0 for d, i in others)  # the drift is there, and within the floor
    assert [e.strongest_direct(d) for d in (1, 2)] == [None, None]
    assert not any(e.fills_disagree(0, i) for i in range(6))  # both fills agree on every cell here


def test_grounding_points_at_the_planted_second(planted) -> None:
    _, e = planted
    assert [i for i in range(6) if e.reasoning_clears(i)] == [PLANTED]
    assert e.grounded_segments(0) == (PLANTED,)  # the sentence about the planted second
    assert e.grounded_segments(1) == ()  # the other sentence rests on nothing beyond its floor
    assert e.top_grounding(1) == (PLANTED,)
    cues = [line for line in subtitles_vtt(e).splitlines() if " --> " in line]
    assert len(cues) == 1 and cues[0].startswith("00:00:03")


def test_the_total_effect_points_at_the_planted_second(planted) -> None:
    _, e = planted
    by_grounding = [t for t in e.total if t.why.startswith("top by grounding")]
    assert len(by_grounding) == 2 and by_grounding[0].segments == (PLANTED,)
    hit, miss = by_grounding[0].dimensions[0], by_grounding[1].dimensions[0]
    assert hit.changed == K and hit.with_counts[3] == K and hit.without_counts[1] == K
    assert hit.soft_delta.excludes_zero and hit.soft_delta.mean == pytest.approx(-1.8)
    assert miss.changed == 0 and not miss.soft_delta.excludes_zero
    assert all(t.seeds == (7, 8, 9, 10) for t in e.total)  # the result's own seeds s…s+K−1
    clip = next(t for t in e.total if t.condition is Condition.CLIP_HIDDEN)
    assert clip.dimensions[0].soft_delta.excludes_zero
    assert watching_line(e).startswith("Is the judge watching? Yes")
    assert "beats random order" in "\n".join(all_lines(e))
    assert reading_line(e).startswith("Is the judge reading the prompt? Yes")


def test_the_deletion_curve_points_at_the_planted_second(planted) -> None:
    _, e = planted
    f = e.faithfulness
    assert f is not None and f.order[0] == PLANTED and f.random_orders == 20
    whole = f.deletion[-1]
    assert f.deletion[1] >= 0.8 * whole  # hiding the first claimed second already costs most of it
    assert f.insertion[1] <= 0.2 * f.insertion[0]  # showing it first brings most of it back
    assert f.deletion_percentile == 100.0 and f.insertion_percentile == 100.0 and f.beats_random


def test_the_prose_claims_only_what_clears_the_floor(planted) -> None:
    result, e = planted
    lines = moment_lines(e)
    assert lines[0].startswith(f"{DIMENSIONS[0].title} rests most on {seconds(e.segments[PLANTED])}")
    assert all("rests most on" not in line for line in lines[1:])
    html = evidence_html(result, e)
    assert html.count(NOT_DISTINGUISHABLE) >= 3 * 6 - 1  # every other direct cell, and grounding cells
    back = Explanation.from_dict(json.loads(json.dumps(e.to_dict())))
    assert back == e


def test_nothing_planted_means_nothing_over_the_floor(plan) -> None:
    scorer = PlantedScorer(None)
    result = scorer.result(plan)
    e = explain(scorer, result, ExplainOptions(resamples=2))
    assert not any(e.direct_clears(d, i) for d in range(len(DIMENSIONS)) for i in range(len(e.segments)))
    assert not any(e.reasoning_clears(i) for i in range(len(e.segments)))
    assert all(e.grounded_segments(s.index) == () for s in e.sentences)
    text = "\n".join(all_lines(e))
    assert "rests most on" not in text and "Is the judge watching? Not shown" in text
    assert "Faithfulness: not assessed" in text  # no ranking over the floor: nothing to test against random orders
    assert subtitles_vtt(e) == "WEBVTT\n\n"


def test_several_samples_are_each_explained_with_median_and_spread(plan) -> None:
    scorer = PlantedScorer(PLANTED)
    samples = [scorer.result(plan, GenerationOptions(seed=s)) for s in (7, 8, 9)]
    e = explain(scorer, samples[0], ExplainOptions(resamples=0, random_orders=0), samples=samples)
    assert e.spread is not None and e.spread.samples == 3
    cell = e.spread.direct[0][PLANTED]
    assert cell.low <= cell.median <= cell.high < 0 and e.direct_clears(0, PLANTED)
    assert e.total == () and e.generations == 0


def test_stop_ends_the_explanation_between_chunks(plan) -> None:
    import threading

    scorer = PlantedScorer(PLANTED)
    flag = threading.Event()
    flag.set()
    with pytest.raises(Stopped, match="stopped"):
        explain(scorer, scorer.result(plan), ExplainOptions(resamples=2), stop=flag)


def test_picked_seconds_get_a_total_effect_and_bad_ones_a_clear_message(plan) -> None:
    scorer = PlantedScorer(PLANTED)
    result = scorer.result(plan)
    e = explain(scorer, result, ExplainOptions(resamples=2, top_seconds=0, sanity=False, random_orders=0,
                                               picked=(0.5,)))
    assert [(t.why, t.segments) for t in e.total] == [("whole clip", ()), ("picked", (0,))]
    from vs2demo.core.errors import InputError

    with pytest.raises(InputError, match="past the clip's end"):
        explain(scorer, result, ExplainOptions(resamples=2, random_orders=0, picked=(60.0,)))
    from vs2demo.evidence.explain import explain_stream

    steps = explain_stream(scorer, result, ExplainOptions(resamples=2, random_orders=0, picked=(60.0,)))
    with pytest.raises(InputError, match="past the clip's end"):
        next(steps)  # refused before the first pass, not after every re-scoring


def test_per_frame_resolution_finds_the_planted_frames(plan) -> None:
    scorer = PlantedScorer(PLANTED)
    result = scorer.result(plan)
    e = explain(scorer, result, ExplainOptions(per_frame=True, resamples=0, random_orders=0))
    assert len(e.segments) == len(plan.indices) == 12
    assert [s.frames for s in e.segments[:2]] == [(0, 1), (1, 2)]
    cleared = [i for i in range(12) if e.direct_clears(0, i)]
    assert cleared == [2 * PLANTED, 2 * PLANTED + 1]  # the two frames of the planted pair, and nothing else
    assert Explanation.from_dict(json.loads(json.dumps(e.to_dict()))) == e
    from vs2demo.core.errors import InputError

    with pytest.raises(InputError, match="Per-frame resolution"):
        explain(scorer, result, ExplainOptions(per_frame=True, max_segments=8, resamples=0))


def test_a_sentence_removal_is_told_only_beyond_the_floor(planted) -> None:
    from vs2demo.evidence import floor as floors
    from vs2demo.present.evidence_prose import REMOVAL_FLOOR, REMOVED, sentence_lines

    _, e = planted
    lines = sentence_lines(e)
    assert len(lines) == len(e.sentences) >= 1  # a line per sentence: zip below hides none
    for s, line in zip(e.sentences, lines):
        beyond = any(floors.clears(r.expected_delta, f) for r, f in zip(e.removals[s.index], e.direct_floor))
        assert (f"{REMOVED} moves no score" not in line and REMOVED in line) == beyond
        assert beyond or "moves no score beyond the noise floor" in line
        assert not e.removals[s.index] or REMOVAL_FLOOR in line  # either way, the floor judged against is named


def test_a_faithfulness_stored_before_the_floor_test_reads_as_not_tested(planted) -> None:
    """Its line says the floor test was not made: no "beats", no "not distinguishable" it never measured."""
    from dataclasses import asdict, replace

    from vs2demo.evidence.faithfulness import from_dict
    from vs2demo.present.evidence_prose import faithfulness_line

    _, e = planted
    assert e.faithfulness is not None and any(e.reasoning_established(i) for i in range(len(e.segments)))
    stored = {k: v for k, v in asdict(e.faithfulness).items() if k != "deletion_beaten"}
    line = faithfulness_line(replace(e, faithfulness=from_dict(stored)))
    assert "was not tested beyond the noise floor" in line
    assert "not distinguishable" not in line and " beats " not in line
