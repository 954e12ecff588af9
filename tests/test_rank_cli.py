"""`python -m vs2demo rank`: Best-of-N from the shell, per prompt, with resume, and the same order as ranking
each prompt alone."""

from __future__ import annotations

import csv
import json

import pytest

from tests.helpers import ASSETS, cli

CLIPS = [str(ASSETS / n) for n in ("ball_bounces.mp4", "ball_sinks.mp4", "ball_blurred.mp4")]
ARGS = ["--model", "smoke", "--samples", "2", "--seed", "4", "--max-new-tokens", "80"]


def table_rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_rank_per_prompt_matches_ranking_each_prompt_alone_and_resumes(smoke_dir, tmp_path) -> None:
    listing = tmp_path / "candidates.csv"
    with listing.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "video"])
        w.writerows([["a red ball", CLIPS[0]], ["a red ball", CLIPS[1]], ["a blue car", CLIPS[2]],
                     ["a blue car", CLIPS[0]], ["a blue car", str(tmp_path / "missing.mp4")]])
    out, table = tmp_path / "all.jsonl", tmp_path / "rank.csv"
    run = cli("rank", "--csv", str(listing), "--out", str(out), "--table", str(table), *ARGS)
    assert run.returncode == 1 and "Traceback" not in run.stderr  # one clip is missing: an error line, the rest go on
    rows = table_rows(table)
    assert {r["prompt"] for r in rows} == {"a red ball", "a blue car"}
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 5 and sum("error" in r for r in records) == 1
    assert all(len(r["samples"]) == 2 for r in records if "error" not in r)

    alone = tmp_path / "red.csv"
    solo = cli("rank", CLIPS[0], CLIPS[1], "--prompt", "a red ball", "--table", str(alone), *ARGS)
    assert solo.returncode == 0, solo.stderr
    assert [r["video"] for r in table_rows(alone)] == [r["video"] for r in rows if r["prompt"] == "a red ball"]

    again = cli("rank", "--csv", str(listing), "--out", str(out), *ARGS)  # everything is there: nothing redone
    assert out.read_text(encoding="utf-8").count("\n") == 5 and "Best of 2 for 'a red ball'" in again.stdout


def test_rank_a_folder(smoke_dir, tmp_path) -> None:
    run = cli("rank", "--folder", str(ASSETS), "--prompt", "a red ball", "--table", str(tmp_path / "t.json"),
              *ARGS)
    assert run.returncode == 0, run.stderr
    ranked = json.loads((tmp_path / "t.json").read_text())
    assert sorted(r["video"] for r in ranked) == sorted(str(p) for p in ASSETS.glob("*.mp4"))
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))


@pytest.mark.parametrize("args,message", [(["--prompt", "x"], "give the clips"),
                                          ([CLIPS[0]], "--prompt is required")])
def test_rank_needs_clips_and_a_prompt(smoke_dir, args, message) -> None:
    run = cli("rank", *args, "--model", "smoke")
    assert run.returncode == 2 and run.stderr.strip().splitlines()[-1].startswith("error: ")
    assert message in run.stderr


def test_score_with_samples_prints_stability(smoke_dir) -> None:
    run = cli("score", CLIPS[0], "--prompt", "a red ball", "--json", *ARGS)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert [s["options"]["seed"] for s in data["samples"]] == [4, 5] and data["stability"]["samples"] == 2
    assert "how stable each score is" in run.stderr and "--seed N, N = 4…5" in run.stderr


def test_rank_reads_any_jsonl_without_a_traceback(smoke_dir, tmp_path) -> None:
    out = tmp_path / "out.jsonl"
    foreign = [{"video": [CLIPS[0]], "prompt": "a red ball"}, {"video": CLIPS[0], "prompt": {"a": 1}},
               # ours by its keys, but its scores are not shaped as ours: counted as unscored, not a crash
               {"video": CLIPS[1], "prompt": "a red ball", "samples": [{"scores": ["x"]}, 7]}]
    out.write_text("".join(json.dumps(r) + "\n" for r in foreign), encoding="utf-8")
    run = cli("rank", CLIPS[0], CLIPS[1], "--prompt", "a red ball", "--out", str(out), *ARGS)
    assert "Traceback" not in run.stderr and run.returncode == 0, run.stderr
    assert "Best of 2 for 'a red ball'" in run.stdout and "no score" in run.stdout  # CLIPS[1]: the unscored record
