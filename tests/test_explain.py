"""Evidence: teacher-forced re-scoring on the smoke model, the pure segment/sentence maths, the CLI and the API."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest

from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.core.errors import InputError
from vs2demo.core.options import GenerationOptions
from vs2demo.engine.generation import Sampling, official_digit_steps
from vs2demo.engine.rescore import LOGPROB_FLOOR, Variant, rescore
from vs2demo.engine.rope import official_rope_index
from vs2demo.evidence.explain import ExplainOptions, _without, explain, neutral_pixels
from vs2demo.evidence.record import (
    Explanation,
    ProbeKind,
    Segment,
    Sentence,
    expected_and_p,
    shift,
    span_drop,
    split_segments,
    split_sentences,
    token_span,
)
from vs2demo.input.framing import plan_frames
from vs2demo.input.video import probe
from vs2demo.present.evidence_html import evidence_html, subtitles_vtt
from vs2demo.present.evidence_prose import likelihood, probe_lines

PROMPT = "a red ball bouncing on a wooden floor"


@pytest.fixture(scope="module")
def scored(evaluator, make_clip):
    """A 6 s clip (6 temporal groups) scored with a seed, and its explanation."""
    clip = make_clip(6.0)
    result = evaluator.score(clip, PROMPT, GenerationOptions(seed=3))
    return result, explain(evaluator, result)


def sampling_of(result) -> Sampling:
    o = result.options
    return Sampling(o.greedy, o.temperature, o.max_new_tokens, o.min_new_tokens)


def test_unaltered_pass_reproduces_the_recorded_probabilities(evaluator, scored) -> None:
    result, expl = scored
    clip, _ = evaluator.prepare(result.video, result.plan.fps)
    steps = official_digit_steps(evaluator.processor.tokenizer, result.token_ids)
    (base,) = rescore(evaluator.model, evaluator.processor, clip,
                      [Variant(clip.video_inputs["pixel_values_videos"], result.prompt, result.token_ids, steps)],
                      sampling_of(result), evaluator.digit_ids())
    for logprobs, score in zip(base.digit_logprobs, result.scores):
        assert score.probs is not None and logprobs is not None
        assert [math.exp(x) for x in logprobs] == pytest.approx(score.probs, abs=1e-5)
    assert len(base.token_logprobs) == len(result.token_ids)
    assert all(LOGPROB_FLOOR <= x <= 0 for x in base.token_logprobs)
    assert expl.consistency_max_diff is not None and expl.consistency_max_diff < 1e-5  # reported in the JSON


def test_hiding_a_segment_changes_no_token_and_no_position(evaluator, scored) -> None:
    result, expl = scored
    clip, _ = evaluator.prepare(result.video, result.plan.fps)
    pixels = clip.video_inputs["pixel_values_videos"]
    fill = neutral_pixels(evaluator.engine, clip)
    assert fill.shape == pixels.shape
    grid = clip.video_inputs["video_grid_thw"]
    per_group = pixels.shape[0] // int(grid[0, 0])
    seg = expl.segments[2]
    hidden = pixels.clone()
    lo, hi = seg.groups[0] * per_group, seg.groups[1] * per_group
    hidden[lo:hi] = fill[lo:hi]
    assert not hidden[lo:hi].equal(pixels[lo:hi]) and hidden[:lo].equal(pixels[:lo]) and hidden[hi:].equal(pixels[hi:])
    from vs2demo.engine.inputs import model_inputs

    inputs = model_inputs(evaluator.processor, [clip], [result.prompt])
    ids = inputs["input_ids"]
    positions = [official_rope_index(evaluator.model.model, ids, inputs["mm_token_type_ids"], None, grid,
                                     clip.video_inputs["second_per_grid_ts"])[0] for _ in (pixels, hidden)]
    assert positions[0].equal(positions[1])  # same ids, same grid: every position as it was


def test_the_fill_is_what_the_processor_normalises_to_zero(evaluator, scored) -> None:
    result, _ = scored
    clip, _ = evaluator.prepare(result.video, result.plan.fps)
    fill = neutral_pixels(evaluator.engine, clip)
    std = min(evaluator.processor.video_processor.image_std)
    assert float(fill.abs().max()) <= 0.5 / 255 / std + 1e-6  # the mean colour, up to uint8 rounding


def test_every_segment_and_sentence_is_measured_and_survives_json(scored) -> None:
    _, expl = scored
    assert len(expl.segments) == 6 and len(expl.sentences) >= 2
    assert len(expl.moments) == len(DIMENSIONS) and all(len(row) == len(expl.segments) for row in expl.moments)
    assert len(expl.grounding) == len(expl.sentences)
    assert all(len(row) == len(expl.segments) for row in expl.grounding)
    assert len(expl.removals) == len(expl.sentences) and all(len(r) == len(DIMENSIONS) for r in expl.removals)
    assert all(s.expected is not None for row in expl.moments for s in row)
    assert [p.key for p in expl.probes] == list(ProbeKind)
    assert expl.passes == len(expl.segments) + len(expl.sentences) + 4  # in turn on CPU
    back = Explanation.from_dict(json.loads(json.dumps(expl.to_dict())))
    assert back == expl


def test_removing_a_sentence_cuts_its_tokens_and_moves_the_digits_back() -> None:
    ids = tuple(range(100, 130))
    sentence = Sentence(0, "x", 0, 1, (5, 9))
    v = _without(sentence, ids, (20, None, 28), pixels=None, prompt="p")
    assert v.gen_ids == ids[:5] + ids[9:] and v.digit_steps == (16, None, 24) and not v.want_tokens
    assert v.gen_ids[16] == ids[20] and v.gen_ids[24] == ids[28]  # the same digits, read at their new steps


def test_a_stopped_or_textless_result_is_refused(evaluator, scored) -> None:
    from dataclasses import replace

    result, _ = scored
    with pytest.raises(InputError, match="Nothing to explain"):
        explain(evaluator, replace(result, stopped=True))
    with pytest.raises(InputError, match="Nothing to explain"):
        explain(evaluator, replace(result, token_ids=()))


@pytest.mark.parametrize("kwargs,match", [({"max_segments": 0}, "segments"), ({"max_sentences": 99}, "sentences"),
                                          ({"counterfactual": "  "}, "empty"),
                                          ({"counterfactual": "x <|im_end|>"}, "control token")])
def test_explain_options_are_checked(kwargs, match) -> None:
    with pytest.raises((ValueError, InputError), match=match):
        ExplainOptions(**kwargs)


# ---- pure maths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds,grid_t,most,count", [(6.0, 6, 16, 6), (40.0, 20, 16, 16), (40.0, 20, 4, 4),
                                                      (3.0, 2, 16, 2), (3.0, 2, 1, 1)])
def test_segments_cover_every_group_once_in_order(make_clip, seconds, grid_t, most, count) -> None:
    plan = plan_frames(probe(make_clip(seconds, size=(64, 48))), 2.0)
    segs = split_segments(plan, grid_t, most)
    assert len(segs) == count
    assert segs[0].groups[0] == 0 and segs[-1].groups[1] == grid_t
    assert all(a.groups[1] == b.groups[0] and a.end_s == b.start_s for a, b in itertools.pairwise(segs))
    assert all(s.groups[1] > s.groups[0] and s.end_s > s.start_s for s in segs)
    assert segs[-1].end_s == pytest.approx(plan.info.duration_s, abs=1e-3)


def test_sentences_are_spans_of_the_think_block_with_their_tokens() -> None:
    raw = ("<think>The ball falls through the floor at two seconds. Yes. The colours stay sharp and clean "
           "throughout!\nLighting is stable across every frame of it.</think>\n(1) visual quality: 4")
    char_end = list(range(1, len(raw) + 1))  # one character per token
    sentences = split_sentences(raw, char_end, max_sentences=12)
    assert [s.text for s in sentences] == [
        "The ball falls through the floor at two seconds. Yes.",  # "Yes." is too short alone: it joins
        "The colours stay sharp and clean throughout!",
        "Lighting is stable across every frame of it."]
    for s in sentences:
        assert raw[s.start:s.end].strip() == s.text and s.tokens == (s.start, s.end)
    assert len(split_sentences(raw, char_end, max_sentences=2)) == 2
    assert split_sentences("no think block", list(range(1, 15))) == ()


@pytest.mark.parametrize("char_end,span,expected", [([3, 5, 9, 12], (0, 5), (0, 2)), ([3, 5, 9, 12], (5, 12), (2, 4)),
                                                    ([3, 5, 9, 12], (4, 9), (1, 3)), ([3, 3, 9], (0, 3), (0, 2))])
def test_token_span(char_end, span, expected) -> None:
    assert token_span(char_end, *span) == expected


def test_expected_score_shift_and_drop() -> None:
    flat = [math.log(0.2)] * 5
    sure = [math.log(p) for p in (0.0001, 0.0001, 0.0001, 0.0001, 0.9996)]
    e, p = expected_and_p(flat, 5)
    assert e == pytest.approx(3.0) and p == pytest.approx(0.2)
    s = shift(flat, sure, 5)
    assert s.expected_delta == pytest.approx(3.0 - expected_and_p(sure, 5)[0], abs=1e-4) and s.p_hard_delta < -0.7
    assert shift(None, sure, 5).expected is None
    assert span_drop([-1.0, -2.0, -3.0], [-1.0, -5.0, -4.0], (1, 3)) == pytest.approx(4.0)


@pytest.mark.parametrize("drop,text", [(0.0, "about as likely"), (math.log(2), "2× less likely"),
                                       (-math.log(3), "3× more likely"), (40.0, "e^40× less likely")])
def test_likelihood_words(drop, text) -> None:
    assert likelihood(drop) == text


def test_views_escape_the_model_text_and_carry_subtitles(scored) -> None:
    from dataclasses import replace

    result, expl = scored
    evil = replace(expl, sentences=tuple(replace(s, text="<img src=x onerror=alert(1)> -->") for s in expl.sentences))
    html = evidence_html(result, evil)
    assert "<img" not in html and "&lt;img" in html
    vtt = subtitles_vtt(evil)
    assert vtt.startswith("WEBVTT\n\n") and "-->" not in vtt.split("\n", 3)[-1].replace(" --> ", "")
    cues = [line for line in vtt.splitlines() if " --> " in line]
    assert len(cues) == sum(len(expl.grounded_segments(s.index)) for s in expl.sentences)
    assert html.count('class="vs2-seg') == len(DIMENSIONS) * len(expl.segments)
    assert html.count('class="vs2-sent"') == len(expl.sentences)
    assert any(line.startswith("Is the judge watching?") for line in probe_lines(expl))


def test_grounded_segments_are_those_near_the_largest_drop() -> None:
    seg = Segment(0, (0, 1), 0.0, 1.0)
    e = Explanation((seg,) * 4, (), (), ((0.1, 2.0, 1.2, -0.5), (0.0, -0.1, 0.0, 0.0)), (), (), (), None, 1, 0.1)
    assert e.grounded_segments(0) == (1, 2) and e.grounded_segments(1) == ()


# ---- command line and API ------------------------------------------------------------------------


def test_cli_explain_prints_the_evidence_and_json(make_clip, smoke_dir) -> None:
    from tests.helpers import cli

    clip = make_clip(4.0)
    out = cli("explain", clip, "--prompt", PROMPT, "--model", "smoke", "--seed", "1", "--segments", "3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    expl = Explanation.from_dict(data["explanation"])
    assert len(expl.segments) == 3 and data["scores"] and data["token_ids"]
    assert "Explaining: re-scoring" in out.stderr and "Is the judge watching?" in out.stderr
    plain = cli("score", clip, "--prompt", PROMPT, "--model", "smoke", "--seed", "1", "--explain")
    assert plain.returncode == 0 and "Is the judge reading the prompt?" in plain.stdout
    assert "rests most on" in plain.stdout and "Check: the unaltered re-scoring" in plain.stdout
    bad = cli("explain", clip, "--prompt", PROMPT, "--model", "smoke", "--segments", "0")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: segments must be between 1 and 64, got 0"]


def test_api_explains_the_sessions_last_result(evaluator) -> None:
    from gradio_client import handle_file

    from tests.helpers import ASSETS, SETTINGS, launch

    demo, client = launch(evaluator)
    try:
        with pytest.raises(Exception, match="Evaluate a clip first"):
            client.predict(api_name="/explain")
        client.predict(handle_file(str(ASSETS / "ball_bounces.mp4")), PROMPT, *SETTINGS, api_name="/score")
        status, panel, record, download = client.predict("a cat sleeping on a sofa", api_name="/explain")
        assert "Explained in" in status and 'class="vs2-evidence' in panel
        expl = Explanation.from_dict(record["explanation"])
        assert expl.probes[2].prompt == "a cat sleeping on a sofa" and record["scores"]
        assert json.loads(Path(download).read_text())["explanation"] == record["explanation"]
    finally:
        demo.close()


def test_a_batch_of_variants_equals_each_alone(evaluator, scored) -> None:
    """On a GPU the variants run as one right-padded batch; each row must read what it reads alone."""
    result, expl = scored
    clip, _ = evaluator.prepare(result.video, result.plan.fps)
    pixels = clip.video_inputs["pixel_values_videos"]
    steps = official_digit_steps(evaluator.processor.tokenizer, result.token_ids)
    variants = [Variant(pixels, result.prompt, result.token_ids, steps),
                Variant(pixels, "", result.token_ids, steps),  # a shorter prompt: the generated span starts earlier
                _without(expl.sentences[0], result.token_ids, steps, pixels, result.prompt)]  # a shorter output
    args = (evaluator.model, evaluator.processor, clip)
    together = rescore(*args, variants, sampling_of(result), evaluator.digit_ids())
    alone = [rescore(*args, [v], sampling_of(result), evaluator.digit_ids())[0] for v in variants]
    for t, a in zip(together, alone):
        assert t.token_logprobs == pytest.approx(a.token_logprobs, abs=1e-4)
        for dt, da in zip(t.digit_logprobs, a.digit_logprobs):
            assert dt == pytest.approx(da, abs=1e-4)
