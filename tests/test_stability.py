"""Pure tables: stability labels and summaries over K samples, the sampled pairwise verdict, the Best-of-N rank."""

from __future__ import annotations

import math

import pytest

from tests.helpers import INFO
from vs2demo.analysis import rank, stability, verdict
from vs2demo.analysis.result import Result, Timings, build_result
from vs2demo.analysis.verdict import Winner
from vs2demo.core.options import GenerationOptions
from vs2demo.input.framing import VideoInfo, plan_frames

PLAN = plan_frames(VideoInfo("clip.mp4", 72, 24.0, 320, 240, 1000))


def result(v: int | None, t: int | None, p: int | None, probs: float = 0.9, seed: int = 0) -> Result:
    """A result whose text carries these hard scores, with the digit written at probability ``probs``."""
    lines = [f"({i}) {label}: {s}" for i, (label, s) in enumerate(
        (("visual quality", v), ("text-to-video alignment", t), ("physical/common-sense consistency", p)), 1)
        if s is not None]
    text = "<think>x</think>\n" + "\n".join(lines)

    def logprobs_for(pos: int) -> tuple[float, ...]:
        digit = int(text[pos])
        rest = (1 - probs) / 4
        return tuple(math.log(probs if s == digit else rest) for s in range(1, 6))

    from vs2demo.analysis.parse import official_score_positions

    official = tuple(None if pos is None else logprobs_for(pos) for pos in official_score_positions(text))
    return build_result("clip.mp4", "p", text, PLAN, INFO, GenerationOptions(seed=seed), Timings(0, 0, None, 1, 1),
                        official_logprobs=official)


@pytest.mark.parametrize("hard,label", [
    ((4,), stability.ONE_SAMPLE),
    ((4, 4, 4, 4), stability.STABLE),
    ((4, 4, 4, 4, 3), stability.STABLE),  # 80% agree
    ((4, 4, 4, 3), stability.WITHIN_ONE),  # 75%: not stable, all within one
    ((3, 4, 5, 4), stability.WITHIN_ONE),
    ((4, 4, 4, 1), stability.UNSTABLE),  # the 4/4/4 then 3/4/1 case
    ((4, 4, 4, None), stability.UNSTABLE),  # a sample without a score is a disagreement
    ((None, None), stability.NO_SCORES),
    ((2, 2, 2, 2, 2, 2, 2, 2), stability.STABLE),
])
def test_stability_labels(hard, label) -> None:
    assert stability.label(hard) == label


def test_summary_counts_agreement_and_soft_spread() -> None:
    samples = [result(4, 3, 2, seed=10), result(4, 3, 1, seed=11), result(4, 5, 2, seed=12), result(3, 3, 2, seed=13)]
    summary = stability.summarize(samples)
    vq, align, phys = summary.dimensions
    assert summary.seeds == (10, 11, 12, 13) and summary.samples == 4
    assert vq.counts == (0, 0, 1, 3, 0) and vq.mode == 4 and vq.agreement == 0.75 and vq.label == stability.WITHIN_ONE
    assert align.counts == (0, 0, 3, 0, 1) and align.label == stability.UNSTABLE
    assert phys.mode == 2 and phys.missing == 0
    softs = [s.scores[0].soft for s in samples]
    assert vq.soft_mean == pytest.approx(sum(softs) / 4, abs=1e-4) and vq.soft_std > 0
    assert set(summary.to_dict()["dimensions"]) == {"visual_quality", "text_to_video_alignment",
                                                    "physical_consistency"}


def test_stopped_samples_are_left_out_not_counted_as_missing_scores() -> None:
    """Stopping a 16-sample run after 4 must not label the judge unstable for the 12 unfinished samples."""
    from dataclasses import replace

    from vs2demo.present.panels_html import stability_html

    done = [result(4, 3, 2, seed=s) for s in range(4)]
    cut = [replace(result(None, None, None, seed=s), stopped=True) for s in range(4, 16)]
    summary = stability.summarize(done + cut)
    assert summary.samples == 4 and summary.unfinished == 12 and summary.seeds == (0, 1, 2, 3)
    assert all(d.label == stability.STABLE and d.missing == 0 for d in summary.dimensions)
    assert summary.to_dict()["unfinished"] == 12
    assert "12 samples stopped before finishing, not counted" in stability.stability_lines(summary)[0]
    assert "12 samples stopped before finishing" in stability_html(summary)
    everything_stopped = stability.summarize(cut)
    assert everything_stopped.samples == 0 and {d.label for d in everything_stopped.dimensions} == {
        stability.NO_SCORES}


@pytest.mark.parametrize("wins_a,wins_b,ties,winner", [
    (7, 1, 0, Winner.A), (6, 2, 0, Winner.A), (5, 3, 0, Winner.CLOSE), (2, 6, 0, Winner.B), (4, 0, 4, Winner.CLOSE),
    (3, 1, 0, Winner.A), (2, 2, 0, Winner.CLOSE), (1, 0, 0, Winner.A), (0, 0, 1, Winner.TIE), (0, 1, 0, Winner.B),
])
def test_sampled_verdict_needs_a_clear_majority(wins_a, wins_b, ties, winner) -> None:
    assert verdict.sampled_winner(wins_a, wins_b, ties) == winner


def test_compare_samples_counts_paired_wins() -> None:
    a = [result(4, 4, 4, seed=s) for s in range(8)]
    b = [result(3, 4, 4, seed=s) for s in range(7)] + [result(5, 4, 4, seed=7)]
    rows = {r.key: r for r in verdict.compare_samples(a, b)}
    assert (rows["visual_quality"].wins_a, rows["visual_quality"].wins_b) == (7, 1)
    assert rows["visual_quality"].describe() == "A better in 7 of 8 samples"
    assert rows["overall"].winner == Winner.A
    assert rows["text_to_video_alignment"].winner == Winner.CLOSE  # identical scores every time
    assert rows["text_to_video_alignment"].describe().startswith("too close to call")


def test_one_sample_says_so_and_a_soft_hair_is_a_tie() -> None:
    a, b = result(4, 4, 4, probs=0.90), result(4, 4, 4, probs=0.89)  # soft scores a hundredth apart
    rows = {r.key: r for r in verdict.compare_samples([a], [b])}
    assert rows["visual_quality"].winner == Winner.TIE
    assert rows["overall"].describe() == "tie"
    clear = {r.key: r for r in verdict.compare_samples([result(4, 4, 4, probs=0.9)], [result(4, 4, 4, probs=0.4)])}
    assert clear["visual_quality"].winner == Winner.A  # a real soft difference still decides


def test_rank_orders_by_soft_sum_counts_firsts_and_flags_overlaps() -> None:
    values = [[12.0, 12.5, 11.0, 12.1], [13.0, 13.2, 12.9, 13.1], [11.5, 12.8, 11.9, 11.0], [None, None, None, None]]
    board = rank.rank_values(["a", "b", "c", "d"], values)
    assert [c.name for c in board.clips] == ["b", "a", "c", "d"]
    assert [c.rank for c in board.clips] == [1, 2, 3, 4]
    assert board.best.firsts == 4 and not board.best.overlaps
    a, c = board.clips[1], board.clips[2]
    assert a.ranks == (2, 3, 3, 2) and c.ranks == (3, 2, 2, 3)
    assert a.overlaps and c.overlaps  # samples disagree on a against c
    assert board.clips[3].value is None and board.clips[3].rank == 4


def test_rank_with_results_and_per_dimension() -> None:
    clips = [[result(3, 3, 3)], [result(5, 3, 2)], [result(4, 4, 4)]]
    assert [c.name for c in rank.rank(["x", "y", "z"], clips).clips] == ["z", "y", "x"]
    assert [c.name for c in rank.rank(["x", "y", "z"], clips, by="visual_quality").clips] == ["y", "z", "x"]
    with pytest.raises(ValueError, match="rank by one of"):
        rank.rank(["x"], [[result(3, 3, 3)]], by="beauty")


@pytest.mark.parametrize("k", [1, 4])
def test_the_leaderboard_claims_certainty_only_when_samples_measured_it(k) -> None:
    from vs2demo.present.panels_html import leaderboard_html, sampled_verdict_html

    clips = [[result(4, 4, 4, seed=s) for s in range(k)], [result(2, 2, 2, seed=s) for s in range(k)]]
    html = leaderboard_html(rank.rank(["a.mp4", "b.mp4"], clips), "p")
    assert ("Rank certainty" in html) == (k > 1) and ("Ranked first" in html) == (k > 1)
    assert ("not measured" in html) == (k == 1) and ">yes<" not in html and ">clear<" not in html
    rows = verdict.compare_samples(clips[0], clips[1])
    panel = sampled_verdict_html(rows)
    assert panel.count("one sample") == (1 if k == 1 else 0)  # said once for the panel, not on every line


def test_card_bars_print_their_probabilities_and_say_when_a_soft_score_is_not_official() -> None:
    from vs2demo.present.result_html import cards_html

    official = result(4, 3, 2, probs=0.7)
    html = cards_html(official)
    for score in official.scores:
        total = sum(score.probs)
        assert all(f"<span>{100 * p / total:.0f}%</span>" in html for p in score.probs)  # printed, not hover-only
    assert html.count("(official)<br>") == 3  # each soft score labelled official: it came with the official parse


def test_a_result_read_back_from_its_json_keeps_its_deviations() -> None:
    """A stored result reopened says what it said when it ran: the fallback reader and the engine's notes."""
    import json
    from dataclasses import replace

    from vs2demo.input.framing import VideoInfo

    ran = result(4, 3, 2)
    info = VideoInfo("clip.gif", 72, 24.0, 320, 240, 1000, reader="ffmpeg")
    ran = replace(ran, plan=replace(ran.plan, info=info),
                  model=replace(ran.model, decode_notes=("compiled decode: digit probabilities may differ by ~1e-5",)))
    back = Result.from_dict(json.loads(json.dumps(ran.to_dict())))
    assert back.deviations() == ran.deviations() and len(ran.deviations()) >= 2
