"""Evidence on the smoke model: teacher-forced re-scoring (processed and raw), the fills, the noise floor on a
constant clip, the weight-randomisation sanity check, the pure segment/sentence maths, the CLI and the API."""

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
from vs2demo.evidence.explain import explain, hide, without_sentence
from vs2demo.evidence.model_scorer import ModelScorer
from vs2demo.evidence.options import ExplainOptions
from vs2demo.evidence.record import (
    Explanation,
    ProbeKind,
    Sentence,
    expected_and_p,
    shift,
    span_drop,
    split_segments,
    split_sentences,
    token_span,
)
from vs2demo.evidence.scorer import Fill, Visual
from vs2demo.input.framing import plan_frames
from vs2demo.input.video import probe
from vs2demo.present.evidence_html import evidence_html, subtitles_vtt
from vs2demo.present.evidence_prose import all_lines, check_line, likelihood, probe_lines

PROMPT = "a red ball bouncing on a wooden floor"


FAST = ExplainOptions(resamples=0, random_orders=0)  # teacher-forced only: what most tests here look at


@pytest.fixture(scope="module")
def scored(evaluator, make_clip):
    """A 6 s clip (6 temporal groups) scored with a seed, and its explanation (4 segments; 2 paired re-samples)."""
    clip = make_clip(6.0)
    result = evaluator.score(clip, PROMPT, GenerationOptions(seed=3))
    return result, explain(evaluator, result, ExplainOptions(max_segments=4, resamples=2))


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
    assert expl.consistent and check_line(expl).startswith("Check passed")


def test_raw_and_processed_are_both_recorded_and_sensitivities_use_raw(evaluator, scored) -> None:
    result, expl = scored
    u = expl.unaltered
    for processed, raw, score in zip(u.digits_processed, u.digits_raw, result.scores):
        assert [math.exp(x) for x in processed] == pytest.approx(score.probs, abs=1e-5)  # the official ones
        assert raw != pytest.approx(processed, abs=1e-3)  # temperature 1 and nothing warped: not the same numbers
    # the expected scores every sensitivity starts from are the raw ones, not the official soft scores
    assert list(expl.base_expected) == pytest.approx([expected_and_p(r, None)[0] for r in u.digits_raw], abs=1e-4)
    clip, _ = evaluator.prepare(result.video, result.plan.fps)
    steps = official_digit_steps(evaluator.processor.tokenizer, result.token_ids)
    (base,) = rescore(evaluator.model, evaluator.processor, clip,
                      [Variant(clip.video_inputs["pixel_values_videos"], result.prompt, result.token_ids, steps)],
                      sampling_of(result), evaluator.digit_ids())
    assert len(base.token_raw) == len(base.token_logprobs) and all(x <= 0 for x in base.token_raw)
    a, b = expl.sentences[0].tokens[0], expl.sentences[-1].tokens[1]
    assert sum(base.token_raw[a:b]) == pytest.approx(u.reasoning_raw, abs=1e-3)
    assert sum(base.token_logprobs[a:b]) == pytest.approx(u.reasoning_processed, abs=1e-3)
    data = json.loads(json.dumps(expl.to_dict()))
    assert {"digits_processed", "digits_raw", "reasoning_processed", "reasoning_raw"} <= set(data["unaltered"])
    assert "raw log-probabilities" in data["measure"]


def test_hiding_a_segment_changes_only_its_rows_and_no_position(evaluator, scored) -> None:
    result, expl = scored
    session = ModelScorer(evaluator).open(result)
    clip = session.clip
    pixels = clip.video_inputs["pixel_values_videos"]
    grid = clip.video_inputs["video_grid_thw"]
    per_group = pixels.shape[0] // int(grid[0, 0])
    seg = expl.segments[2]
    lo, hi = seg.groups[0] * per_group, seg.groups[1] * per_group
    for fill in Fill:
        hidden = session.pixels(hide(expl.segments, [seg.index], fill=fill))
        assert hidden.shape == pixels.shape
        assert not hidden[lo:hi].equal(pixels[lo:hi]) and hidden[:lo].equal(pixels[:lo])
        assert hidden[hi:].equal(pixels[hi:])
    frozen = session.frames(hide(expl.segments, [seg.index], fill=Fill.FROZEN))
    a, b = seg.frames
    assert all((frozen[f] == clip.frames.array[a - 1]).all() for f in range(a, b))  # the frame before, held
    from vs2demo.engine.inputs import model_inputs

    inputs = model_inputs(evaluator.processor, [clip], [result.prompt])
    ids = inputs["input_ids"]
    positions = [official_rope_index(evaluator.model.model, ids, inputs["mm_token_type_ids"], None, grid,
                                     clip.video_inputs["second_per_grid_ts"])[0] for _ in (pixels, hidden)]
    assert positions[0].equal(positions[1])  # same ids, same grid: every position as it was


def test_spliced_group_features_equal_a_full_encode(evaluator, scored) -> None:
    """The tower attends within a temporal group, so each group is encoded once and spliced per variant."""
    import torch

    from vs2demo.evidence.scorer import Base

    result, expl = scored
    session = ModelScorer(evaluator).open(result)
    grid = session.clip.video_inputs["video_grid_thw"]
    seen = []
    for visual in (Visual(), hide(expl.segments, [1]), hide(expl.segments, [1], fill=Fill.FROZEN),
                   Visual(Base.SHUFFLED), Visual(Base.REVERSED)):
        from vs2demo.engine.inputs import video_inputs
        from vs2demo.input.video import Frames

        # only the changed groups go through the processor: the rows equal a whole clip's processing
        rows = video_inputs(evaluator.processor, Frames(session.clip.frames.plan, session.frames(visual), 0.0))
        assert session.pixels(visual).equal(rows["pixel_values_videos"])
        with torch.inference_mode():
            full = evaluator.model.model.get_video_features(rows["pixel_values_videos"], grid).pooler_output[0]
        assert session.features(visual).equal(full)
        seen.append(len(session.groups))
    groups = int(grid[0, 0])
    assert seen[0] == groups and seen[1] == groups + 1  # one new group encoded: the fill's
    before = len(session.groups)
    session.features(hide(expl.segments, [3]))  # the same fill elsewhere: nothing new to encode
    assert len(session.groups) == before


def test_a_per_frame_variant_changes_half_a_group_and_keeps_the_token_count(evaluator, scored) -> None:
    from vs2demo.evidence.record import split_frames

    result, _ = scored
    session = ModelScorer(evaluator).open(result)
    frames = split_frames(result.plan)
    pixels = session.pixels(Visual())
    hidden = session.pixels(hide(frames, [5]))  # frame 5: the second frame of temporal group 2
    rows = pixels.shape[0] // session.subject.groups
    assert hidden.shape == pixels.shape
    changed = [g for g in range(session.subject.groups) if not hidden[g * rows:(g + 1) * rows].equal(
        pixels[g * rows:(g + 1) * rows])]
    assert changed == [2]
    assert session.features(hide(frames, [5])).shape == session.features(Visual()).shape


def test_the_mean_colour_fill_is_what_the_processor_normalises_to_zero(evaluator, scored) -> None:
    result, expl = scored
    session = ModelScorer(evaluator).open(result)
    fill = session.pixels(hide(expl.segments, range(len(expl.segments))))
    std = min(evaluator.processor.video_processor.image_std)
    assert float(fill.abs().max()) <= 0.5 / 255 / std + 1e-6  # the mean colour, up to uint8 rounding
    assert session.pixels(Visual()) is session.clip.video_inputs["pixel_values_videos"]


def test_every_segment_and_sentence_is_measured_and_survives_json(scored) -> None:
    _, expl = scored
    n = len(expl.segments)
    assert n == 4 and len(expl.sentences) >= 2
    for rows in (expl.direct, expl.direct_frozen):
        assert len(rows) == len(DIMENSIONS) and all(len(row) == n for row in rows)
    assert all(s.expected is not None and s.log_odds is not None for row in expl.direct for s in row)
    assert len(expl.reasoning_grounding) == n and len(expl.direct_floor) == len(DIMENSIONS)
    assert len(expl.grounding) == len(expl.sentences) == len(expl.grounding_floor)
    assert all(len(row) == n for row in expl.grounding)
    assert len(expl.removals) == len(expl.sentences) and all(len(r) == len(DIMENSIONS) for r in expl.removals)
    assert [p.key for p in expl.probes] == list(ProbeKind)
    # unaltered, 3 probes, 2 fills and the constant clip per segment, the constant clip, each sentence, and the
    # curves' cumulative sets not already measured (2^4 sets, less the empty one, the singles and the whole)
    assert expl.passes == 1 + 3 + 3 * n + 1 + len(expl.sentences) + (2 ** n - 2 - n)
    assert expl.faithfulness is not None and len(expl.faithfulness.deletion) == n + 1
    # total effects: the whole clip, two top seconds, three sanity probes, each against the unaltered with 2 seeds
    assert [t.condition.value for t in expl.total] == ["clip_hidden", "segments_hidden", "segments_hidden",
                                                       "frames_reversed", "frames_shuffled", "other_prompt"]
    assert expl.generations == 2 * 7 and all(t.seeds == (3, 4) for t in expl.total)
    assert all(c.pairs <= 2 for t in expl.total for c in t.dimensions)
    back = Explanation.from_dict(json.loads(json.dumps(expl.to_dict())))
    assert back == expl


def test_the_first_paired_draw_regenerates_the_result_itself(evaluator, scored) -> None:
    """Seed s with nothing hidden writes the result again: the pairs are paired with the result's own draw."""
    result, _ = scored
    session = ModelScorer(evaluator).open(result)
    import threading

    (draws,) = session.regenerate([(Visual(), result.prompt)], (3,), threading.Event())
    assert draws[0].hard == tuple(s.hard for s in result.scores)


def test_a_constant_clip_gives_no_cell_over_the_floor_and_no_claim(evaluator, make_clip) -> None:
    import numpy as np

    black = make_clip(4.0, size=(64, 48), painter=lambda i, h, w, t: np.zeros((h, w, 3), np.uint8))
    result = evaluator.score(black, PROMPT, GenerationOptions(seed=1))
    expl = explain(evaluator, result, FAST)
    n = len(expl.segments)
    assert not any(expl.direct_clears(d, i) for d in range(len(DIMENSIONS)) for i in range(n))
    assert not any(expl.reasoning_clears(i) for i in range(n))
    assert all(expl.grounded_segments(s.index) == () for s in expl.sentences)
    assert "rests most on" not in "\n".join(all_lines(expl))


def test_randomised_weights_change_the_map_and_fail_the_check(smoke_dir, make_clip) -> None:
    """Adebayo et al.'s sanity check: an explanation that survives randomised weights explains nothing."""
    import torch

    from vs2demo.engine.evaluator import Evaluator

    ev = Evaluator("smoke")  # its own model: the shared one stays intact
    result = ev.score(make_clip(3.0, size=(64, 48)), PROMPT, GenerationOptions(seed=2))
    before = explain(ev, result, FAST)
    torch.manual_seed(0)
    with torch.no_grad():
        for param in ev.model.model.language_model.parameters():
            param.add_(torch.randn_like(param) * param.std().clamp(min=1e-3))
    after = explain(ev, result, FAST)
    assert before.consistent and after.consistent is False
    assert check_line(after).startswith("Check FAILED")
    assert after.direct != before.direct and after.reasoning_grounding != before.reasoning_grounding
    assert after.unaltered.digits_raw != before.unaltered.digits_raw


def test_removing_a_sentence_cuts_its_tokens_and_moves_the_digits_back() -> None:
    ids = tuple(range(100, 130))
    sentence = Sentence(0, "x", 0, 1, (5, 9))
    v = without_sentence(sentence, ids, (20, None, 28), prompt="p")
    assert v.ids == ids[:5] + ids[9:] and v.digit_steps == (16, None, 24) and not v.want_tokens
    assert v.ids[16] == ids[20] and v.ids[24] == ids[28]  # the same digits, read at their new steps


def test_a_stopped_or_textless_result_is_refused(evaluator, scored) -> None:
    from dataclasses import replace

    result, _ = scored
    with pytest.raises(InputError, match="Nothing to explain"):
        explain(evaluator, replace(result, stopped=True), FAST)
    with pytest.raises(InputError, match="Nothing to explain"):
        explain(evaluator, replace(result, token_ids=()), FAST)


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
    assert html.count('class="vs2-seg') == (len(DIMENSIONS) + 1) * len(expl.segments)  # + the grounding strip
    assert html.count('class="vs2-sent"') == len(expl.sentences)
    assert html.count("<tr>") == len(expl.sentences) + 1 + len(expl.total) + 1  # grounding table, totals table
    assert "not the official scores" in html and 'class="vs2-legend"' in html
    assert any(line.startswith("Is the judge watching?") for line in probe_lines(expl))


# ---- command line and API ------------------------------------------------------------------------


def test_cli_explain_prints_the_evidence_and_json(make_clip, smoke_dir) -> None:
    from tests.helpers import cli

    clip = make_clip(4.0)
    out = cli("explain", clip, "--prompt", PROMPT, "--model", "smoke", "--seed", "1", "--segments", "3", "--json",
              "--resamples", "2", "--total-for", "0.5")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    expl = Explanation.from_dict(data["explanation"])
    assert len(expl.segments) == 3 and data["scores"] and data["token_ids"]
    assert expl.generations == 2 * len(expl.total) + 2 and expl.total[0].seeds == (1, 2)
    assert "Explaining costs about" in out.stderr and "Explaining: re-generating" in out.stderr
    assert "Is the judge watching?" in out.stderr and "Total effect, Whole clip hidden" in out.stderr
    plain = cli("score", clip, "--prompt", PROMPT, "--model", "smoke", "--seed", "1", "--explain", "--resamples",
                "0", "--random-orders", "0")
    assert plain.returncode == 0 and "Is the judge reading the prompt? Not measured" in plain.stdout
    assert "direct effect (same reasoning)" in plain.stdout and "Check passed: the unaltered re-scoring" in plain.stdout
    bad = cli("explain", clip, "--prompt", PROMPT, "--model", "smoke", "--segments", "0")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: segments must be between 1 and 64, got 0"]
    one = cli("explain", clip, "--prompt", PROMPT, "--model", "smoke", "--resamples", "1")
    assert one.returncode == 2 and "at least 2" in one.stderr and "Traceback" not in one.stderr


def test_api_explains_the_sessions_last_result(evaluator) -> None:
    from gradio_client import handle_file

    from tests.helpers import ASSETS, SETTINGS, launch

    demo, client = launch(evaluator)
    try:
        with pytest.raises(Exception, match="Evaluate a clip first"):
            client.predict(api_name="/explain")
        client.predict(handle_file(str(ASSETS / "ball_bounces.mp4")), PROMPT, *SETTINGS, api_name="/score")
        status, panel, record, download = client.predict("a cat sleeping on a sofa", seconds="1.5 s",
                                                         api_name="/explain")
        assert "Explained in" in status and 'class="vs2-evidence' in panel
        expl = Explanation.from_dict(record["explanation"])
        # the second named got its total effect, shown in the panel under the reason it was measured
        holding = next(i for i, s in enumerate(expl.segments) if s.start_s <= 1.5 <= s.end_s)
        (asked,) = [t for t in expl.total if t.segments == (holding,)]
        assert asked.why in ("picked", "top by grounding; asked for") and f"hidden ({asked.why})" in panel
        assert expl.probes[2].prompt == "a cat sleeping on a sofa" and record["scores"]
        assert json.loads(Path(download).read_text())["explanation"] == record["explanation"]
    finally:
        demo.close()


def test_a_batch_of_variants_equals_each_alone(evaluator, scored) -> None:
    """On a GPU the variants run as one right-padded batch; each row must read what it reads alone."""
    result, _ = scored
    clip, _ = evaluator.prepare(result.video, result.plan.fps)
    pixels = clip.video_inputs["pixel_values_videos"]
    steps = official_digit_steps(evaluator.processor.tokenizer, result.token_ids)
    variants = [Variant(pixels, result.prompt, result.token_ids, steps),
                Variant(pixels, "", result.token_ids, steps),  # a shorter prompt: the generated span starts earlier
                Variant(pixels, result.prompt, result.token_ids[:3] + result.token_ids[9:],  # a shorter output
                        tuple(None if s is None else s - 6 for s in steps), want_tokens=False)]
    args = (evaluator.model, evaluator.processor, clip)
    together = rescore(*args, variants, sampling_of(result), evaluator.digit_ids())
    alone = [rescore(*args, [v], sampling_of(result), evaluator.digit_ids())[0] for v in variants]
    for t, a in zip(together, alone):
        assert t.token_logprobs == pytest.approx(a.token_logprobs, abs=1e-4)
        assert t.token_raw == pytest.approx(a.token_raw, abs=1e-4)
        for dt, da in zip(t.digit_logprobs + t.digit_raw, a.digit_logprobs + a.digit_raw):
            assert dt == pytest.approx(da, abs=1e-4)
