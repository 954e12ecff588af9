"""Samples, the sampled verdict and Best-of-N through the launched app's API (smoke model)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from gradio_client import handle_file

from tests.helpers import ASSETS

CLIPS = ["ball_bounces.mp4", "ball_sinks.mp4", "ball_blurred.mp4"]
PROMPT = "a red ball bouncing on a wooden floor"


def clip(name: str):
    return handle_file(str(ASSETS / name))


def test_score_with_samples_reports_stability_and_every_sample(smoke_app) -> None:
    final = smoke_app.predict(clip(CLIPS[0]), PROMPT, samples=4, seed=7, max_new_tokens=120, api_name="/score")
    status, cards, result = final[0], final[4], final[7]
    assert [s["options"]["seed"] for s in result["samples"]] == [7, 8, 9, 10]
    assert result["samples"][0]["raw_output"] == result["raw_output"]
    stability = result["stability"]
    assert stability["samples"] == 4 and set(stability["dimensions"]) == set(result["scores"])
    for d in stability["dimensions"].values():
        assert sum(d["counts"]) + d["missing"] == 4
        assert d["label"] in {"stable", "±1", "unstable", "no scores"}
    assert "How stable is it? 4 finished samples" in cards and "--seed 10" in cards  # each sample reproducible alone
    assert "4 samples" in status


def test_one_sample_is_the_official_run(smoke_app) -> None:
    result = smoke_app.predict(clip(CLIPS[0]), PROMPT, api_name="/score")[7]
    assert "samples" not in result and "stability" not in result and result["options"]["samples"] == 1


def test_compare_with_samples_counts_paired_wins(smoke_app) -> None:
    final = smoke_app.predict(clip(CLIPS[0]), clip(CLIPS[1]), PROMPT, samples=4, seed=3, max_new_tokens=120,
                        api_name="/compare")
    verdict, table, both = final[6], final[7], final[10]
    says = both["verdict"]["overall"]["says"]
    assert says.startswith(("A better in", "B better in", "too close to call"))
    assert says in verdict and "sum of the three scores" in verdict
    better = re.findall(r'<span class="vs2-fit-label">Better</span><span>([^<]*)</span>', table)
    assert better == [html.escape(v["says"]) for v in both["verdict"].values()]
    assert len(both["clip_a"]["samples"]) == len(both["clip_b"]["samples"]) == 4


def test_rank_three_clips(smoke_app) -> None:
    final = smoke_app.predict([clip(n) for n in CLIPS], PROMPT, samples=4, seed=1, max_new_tokens=120, api_name="/rank")
    status, board, gallery, data, download = final
    ranked = data["leaderboard"]["clips"]
    assert sorted(c["name"] for c in ranked) == sorted(CLIPS)
    assert [c["rank"] for c in ranked] == [1, 2, 3]
    means = [c["value"] for c in ranked if c["value"] is not None]
    assert means == sorted(means, reverse=True)
    assert sum(c["firsts"] for c in ranked) == 4  # one clip ranks first in each sample
    assert [g["caption"].split(" ")[1] for g in gallery] == [c["name"] for c in ranked]
    assert ranked[0]["name"] in status and "Best of 3" in board
    assert set(json.loads(Path(download).read_text())["clips"]) == set(CLIPS)


@pytest.mark.parametrize("names,message", [(CLIPS[:1], "Upload 2 to 8"), ([], "Upload 2 to 8")])
def test_rank_needs_two_to_eight_clips(smoke_app, names, message) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        smoke_app.predict([clip(n) for n in names], PROMPT, api_name="/rank")


def test_one_bad_file_among_three_is_left_out_of_the_ranking(smoke_app, tmp_path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)  # a header and nothing playable
    status, board = smoke_app.predict([clip(CLIPS[0]), handle_file(str(broken)), clip(CLIPS[1])], PROMPT,
                                      max_new_tokens=40, api_name="/rank")[:2]
    assert "Best of 2" in board and "broken.mp4" in status and "left out" in status
    assert "Checking" not in status  # the run ended: the status is its result, not stuck
