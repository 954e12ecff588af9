"""Agreement with humans: the figures against scipy and hand-counted cases, the labels reader's one line per
problem, and the `agreement` command over a results JSONL and over stored reviews."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.helpers import cli
from tests.reviews import fake_result
from vs2demo.analysis.agreement import (
    TIE_THRESHOLD,
    Judged,
    JudgedPair,
    agreement,
    average_ranks,
    pairs_from_items,
    pairwise,
)
from vs2demo.analysis.stability import samples_dict
from vs2demo.batch.jobs import BatchError
from vs2demo.batch.labels import BOM, DUPLICATE, OUT_OF_RANGE, UNKNOWN, UNSCORED, Problems, join, read_labels
from vs2demo.core.dimensions import DIMENSIONS, OVERALL

KEYS = [d.key for d in DIMENSIONS]


def judged(human, hard, soft, prompt="p", key="c") -> Judged:
    return Judged(key, prompt, tuple(human), tuple(hard), tuple(soft))


def test_cli_default_resamples_is_the_analysis_default() -> None:
    from vs2demo.analysis.agreement import RESAMPLES
    from vs2demo.cli.agreement_cmd import DEFAULT_RESAMPLES

    assert DEFAULT_RESAMPLES == RESAMPLES


def test_average_ranks_match_scipy() -> None:
    rng = np.random.default_rng(3)
    data = rng.integers(0, 7, size=(20, 50))  # many ties
    assert np.allclose(average_ranks(data), stats.rankdata(data, axis=-1))
    floats = np.round(rng.normal(size=200), 1)
    codes = stats.rankdata(floats, method="dense") - 1
    assert np.allclose(average_ranks(codes), stats.rankdata(floats))


def test_pointwise_figures() -> None:
    # visual quality: exact 2 of 4, within one 3 of 4
    humans = [(1, 3, 3), (2, 3, 3), (4, 3, 3), (5, 3, 3)]
    hards = [(1, 3, 3), (3, 3, 3), (4, 3, 2), (2, 3, 3)]
    softs = [(1.2, 3.0, 3.1), (2.9, 3.1, 2.8), (3.8, 2.9, 2.2), (2.2, 3.2, 3.0)]
    items = [judged(h, m, s, prompt=f"p{i}", key=f"c{i}") for i, (h, m, s) in enumerate(zip(humans, hards, softs))]
    report = agreement(items, resamples=200, seed=1)
    vq = report.dimensions[0]
    assert (vq.exact.value, vq.exact.n) == (0.5, 4) and vq.relaxed.value == 0.75
    soft_vq, human_vq = [s[0] for s in softs], [h[0] for h in humans]
    assert vq.srcc.value == pytest.approx(stats.spearmanr(soft_vq, human_vq).statistic)
    assert vq.plcc.value == pytest.approx(stats.pearsonr(soft_vq, human_vq).statistic)
    assert vq.exact.low <= vq.exact.value <= vq.exact.high
    assert report.dimensions[1].srcc.value is None  # every human score 3: no correlation, said as n/a
    assert report.all_three.value == 0.25 and report.all_three.n == 4  # only the first item is exact everywhere
    assert vq.confusion[0][0] == 1 and vq.confusion[4][1] == 1 and sum(map(sum, vq.confusion)) == 4
    assert agreement(items, resamples=200, seed=1) == report  # seeded: the same intervals again


def test_missing_scores_are_left_out_and_counted() -> None:
    items = [judged((3, None, 2), (3, 4, None), (3.1, 3.9, None)), judged((4, 4, 4), (None, 4, 4), (None, 4, 4.1))]
    report = agreement(items, resamples=0)
    assert [d.exact.n for d in report.dimensions] == [1, 1, 1]
    assert report.all_three.n == 0 and report.all_three.value is None


def test_pairwise_with_and_without_ties() -> None:
    pairs = [JudgedPair("1", "visual_quality", "A", 3.5, 2.0),  # right
             JudgedPair("2", "visual_quality", "B", 3.5, 2.0),  # wrong
             JudgedPair("3", "visual_quality", "tie", 3.0, 3.0 + TIE_THRESHOLD / 2),  # a model tie too: right
             JudgedPair("4", "visual_quality", "A", 3.0, 3.0 + TIE_THRESHOLD / 2),  # model tie: wrong with ties;
             JudgedPair("5", "visual_quality", "A", None, 2.0)]  # without ties the sign says B: wrong; no score
    with_ties, without = pairwise(pairs, TIE_THRESHOLD, resamples=100, seed=0)
    assert (with_ties.value, with_ties.n) == (0.5, 4)
    assert (without.value, without.n) == (pytest.approx(1 / 3), 3)


def test_pairs_from_clips_sharing_a_prompt() -> None:
    a = judged((4, 4, 4), (4, 4, 4), (4.0, 4.0, 4.0), key="a")
    b = judged((2, 4, 5), (2, 4, 5), (2.0, 4.05, 5.0), key="b")
    c = judged((3, 3, 3), (3, 3, 3), (3.0, 3.0, 3.0), prompt="other", key="c")
    pairs = pairs_from_items([a, b, c])
    assert {(p.dimension, p.human) for p in pairs} == {("visual_quality", "A"), ("text_to_video_alignment", "tie"),
                                                       ("physical_consistency", "B"), (OVERALL, "A")}
    report = agreement([a, b, c], resamples=0)
    assert report.pairs_from == "clips sharing a prompt" and report.pairs == 4
    assert [d.pairwise_ties.value for d in report.dimensions] == [1.0, 1.0, 1.0]


def write(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


@pytest.fixture
def results_jsonl(tmp_path) -> Path:
    lines = [samples_dict((fake_result(f"clip{i}.mp4", "a red ball", scores=(i, 3, 4)),)) for i in range(1, 6)]
    lines.append({"video": "/uploads/broken.mp4", "prompt": "a red ball", "line": 7, "error": "not a video"})
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


LABELS = """video,prompt,visual_quality,text_to_video_alignment,physical_consistency
clip1.mp4,a red ball,1,3,4
/elsewhere/clip2.mp4,a red ball,3,3,5
clip3.mp4,a red ball,9,3,4
clip2.mp4,a red ball,2,2,2
ghost.mp4,a red ball,3,3,3
broken.mp4,a red ball,3,3,3
clip4.mp4,a red ball,4,,4
clip5.mp4,a red ball,three,3,3
"""


def test_labels_problems_are_one_line_each(tmp_path, results_jsonl) -> None:
    from vs2demo.batch.jobs import records

    problems = Problems()
    labels = read_labels(write(tmp_path / "labels.csv", LABELS, bom=True), problems)
    assert labels.rows == 8 and [p.line for p in labels.points] == [2, 3, 6, 7, 8]
    items, _ = join(labels, records(results_jsonl), problems)
    assert [i.key for i in items] == ["clip1.mp4", "/elsewhere/clip2.mp4", "clip4.mp4"]
    assert items[2].human == (4, None, 4)
    assert dict(problems.counts) == {BOM: 1, OUT_OF_RANGE: 2, DUPLICATE: 1, UNKNOWN: 1, UNSCORED: 1}
    assert len(problems.lines) == 6 and any("line 5 repeats line 3" in x for x in problems.lines)
    assert any("line 4: visual_quality is '9'" in x for x in problems.lines)


def test_labels_missing_columns_is_one_message(tmp_path) -> None:
    with pytest.raises(BatchError, match=r"lacks the column.*physical_consistency"):
        read_labels(write(tmp_path / "l.csv", "video,prompt,visual_quality,text_to_video_alignment\n"), Problems())
    with pytest.raises(BatchError, match=r"lacks the column.*video_b"):
        read_labels(write(tmp_path / "p.csv", "video_a,prompt,preference\n"), Problems())


def test_cli_agreement_over_jsonl(tmp_path, results_jsonl) -> None:
    labels = write(tmp_path / "labels.csv", LABELS, bom=True)
    done = cli("agreement", str(results_jsonl), "--labels", str(labels), "--json", "--resamples", "50")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    vq = out["dimensions"]["visual_quality"]
    assert vq["exact_accuracy"]["n"] == 3 and vq["exact_accuracy"]["value"] == pytest.approx(2 / 3)
    low, high = vq["exact_accuracy"]["ci95"]
    assert low <= vq["exact_accuracy"]["value"] <= high and set(vq) >= {"relaxed_accuracy", "plcc", "confusion",
                                                              "pairwise_accuracy_with_ties",
                                                              "pairwise_accuracy_without_ties"}
    assert out["overall"]["all_three_exact_accuracy"]["n"] == 2  # clip4 lacks one label
    assert out["problems"]["counts"]["score outside 1-5"] == 2
    assert "Traceback" not in done.stderr and done.stderr.count("warning: ") == 6
    text = cli("agreement", str(results_jsonl), "--labels", str(labels), "--resamples", "50")
    assert text.returncode == 0 and "exact accuracy" in text.stdout and "SRCC" in text.stdout


def test_cli_agreement_over_pairs(tmp_path, results_jsonl) -> None:
    labels = write(tmp_path / "pairs.csv", "video_a,video_b,prompt,preference,dimension\n"
                   "clip5.mp4,clip1.mp4,a red ball,A,visual_quality\nclip1.mp4,clip5.mp4,a red ball,a,\n"
                   "clip1.mp4,clip2.mp4,a red ball,maybe,\n")
    done = cli("agreement", str(results_jsonl), "--labels", str(labels), "--json", "--resamples", "0")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    vq = out["dimensions"]["visual_quality"]["pairwise_accuracy_with_ties"]
    assert out["pairs_from"] == "labels" and vq["value"] == 1.0
    overall = out["overall"]["pairwise_accuracy_with_ties"]
    assert overall["n"] == 1 and overall["value"] == 0.0  # clip1's sum is lower than clip5's: wrong
    assert "not A, B or tie" in done.stderr


@pytest.mark.parametrize("args, message", [
    (["--labels", "x.csv"], "give both"), (["nope.jsonl", "--labels", "x.csv"], "no such results file"),
    (["--db", "/nonexistent/lib.db"], "no results library")])
def test_cli_agreement_bad_input_is_one_line(args, message) -> None:
    done = cli("agreement", *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_agreement_missing_columns(tmp_path, results_jsonl) -> None:
    labels = write(tmp_path / "l.csv", "video,prompt,visual_quality\nclip1.mp4,a red ball,3\n")
    done = cli("agreement", str(results_jsonl), "--labels", str(labels))
    assert done.returncode == 2 and "lacks the column(s) text_to_video_alignment, physical_consistency" in done.stderr
    assert "Traceback" not in done.stderr
