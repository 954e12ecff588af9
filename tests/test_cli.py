"""The CLI as a reviewer uses it: exit status 2 and one `error:` line for bad input; JSON; resumable batch."""

import csv
import json
from pathlib import Path

import pytest

from tests.helpers import cli


@pytest.fixture(scope="module")
def not_video(tmp_path_factory):
    p = tmp_path_factory.mktemp("bad") / "notes.mp4"
    p.write_text("this is text, not a video")
    return str(p)


@pytest.fixture(scope="module")
def empty(tmp_path_factory):
    p = tmp_path_factory.mktemp("bad") / "empty.mp4"
    p.write_bytes(b"")
    return str(p)


@pytest.fixture(scope="module")
def truncated(tmp_path_factory, clip):
    data = Path(clip).read_bytes()
    p = tmp_path_factory.mktemp("bad") / "cut.mp4"
    p.write_bytes(data[: len(data) // 4])
    return str(p)


ERROR_CASES = {
    "missing file": lambda f: ["score", str(f["tmp"] / "nope.mp4"), "--prompt", "x", "--model", "smoke"],
    "not a video": lambda f: ["score", f["not_video"], "--prompt", "x", "--model", "smoke"],
    "empty file": lambda f: ["score", f["empty"], "--prompt", "x", "--model", "smoke"],
    "truncated": lambda f: ["score", f["truncated"], "--prompt", "x", "--model", "smoke"],
    "empty prompt": lambda f: ["score", f["clip"], "--prompt", "   ", "--model", "smoke"],
    "no prompt": lambda f: ["score", f["clip"], "--model", "smoke"],
    "unknown model": lambda f: ["score", f["clip"], "--prompt", "x", "--model", str(f["tmp"] / "no-model")],
    "frames of non-video": lambda f: ["frames", f["not_video"], "--json"],
    "bad fps": lambda f: ["score", f["clip"], "--prompt", "x", "--fps", "0", "--model", "smoke"],
    "bad dtype": lambda f: ["score", f["clip"], "--prompt", "x", "--model", "smoke", "--dtype", "int8"],
}


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_error_paths_exit_2_with_one_line(smoke_dir, clip, not_video, empty, truncated, tmp_path, name) -> None:
    files = {"clip": clip, "not_video": not_video, "empty": empty, "truncated": truncated, "tmp": tmp_path}
    out = cli(*ERROR_CASES[name](files))
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert lines[-1].startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr
    assert [line for line in lines if line.startswith("error: ")] == [lines[-1]]


@pytest.mark.slow  # a fresh interpreter importing torch
def test_frames_json_plan(make_clip) -> None:
    path = make_clip(5.0, 24, (1280, 720))
    out = cli("frames", path, "--json")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["frame_count"] == 10 and plan["resized_size"] == [1008, 560] and plan["native_fps"] == 24
    assert plan["indices"][0] == 0 and plan["indices"][-1] == 119 and len(plan["timestamps_s"]) == 10


def test_score_json_streams_to_stderr_and_prints_one_object(smoke_dir, clip) -> None:
    out = cli("score", clip, "--prompt", "a ball", "--model", "smoke", "--seed", "4", "--max-new-tokens", "120",
              "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["raw_output"] and data["raw_output"][:20] in out.stderr  # the stream went to stderr
    assert data["model"]["smoke"] and "SMOKE MODEL" in out.stderr
    assert set(data["scores"]) == {"visual_quality", "text_to_video_alignment", "physical_consistency"}


def test_batch_writes_as_it_goes_and_resumes(smoke_dir, clip, make_clip, not_video, tmp_path) -> None:
    second = make_clip(2.0, 24, (320, 240))
    rows = [(clip, "a ball"), (second, "a square"), (not_video, "broken")]
    table = tmp_path / "batch.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", "prompt"])
        w.writerows(rows)
    out_file = tmp_path / "out.jsonl"
    first = cli("score", "--batch", str(table), "--out", str(out_file), "--model", "smoke", "--seed", "1",
                "--max-new-tokens", "16")
    assert first.returncode == 1  # one clip failed; the others are scored
    lines = [json.loads(x) for x in out_file.read_text().splitlines()]
    assert [x["video"] for x in lines] == [r[0] for r in rows]
    assert "error" in lines[2] and "raw_output" in lines[0]
    # drop the last good row as if the run had been cut short, then run again: only it is redone
    out_file.write_text("\n".join(json.dumps(x) for x in lines[:1] + lines[2:]) + "\n")
    again = cli("score", "--batch", str(table), "--out", str(out_file), "--model", "smoke", "--seed", "1",
                "--max-new-tokens", "16")
    redone = [json.loads(x) for x in out_file.read_text().splitlines()]
    assert again.returncode == 0
    assert len(redone) == 3 and redone[-1]["video"] == second  # failed rows are final, not retried


@pytest.mark.slow  # trains the smoke model from scratch in a subprocess
def test_make_smoke_model(tmp_path) -> None:
    out = cli("make-smoke-model", str(tmp_path / "m"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "m" / "SMOKE_MODEL").exists() and (tmp_path / "m" / "model.safetensors").exists()
