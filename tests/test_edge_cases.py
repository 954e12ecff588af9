"""Every edge case of vs2demo/corpus.py through the engine, the CLI (batch) and the app API."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from tests.corpus import CASES, make
from vs2demo.core.errors import InputError
from vs2demo.core.options import GenerationOptions, Limits

OPTIONS = GenerationOptions(seed=0, max_new_tokens=8)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make(tmp_path_factory.mktemp("edge"))


READ_BY_FFMPEG = "read by ffmpeg, not the official decord"


def check(case, scored: bool, message: str | None, record: dict | None = None) -> None:
    """``record``: a scored result's JSON, whose frames name their reader and whose deviations label any but
    the official one."""
    if case.expect == "score":
        assert scored, (case.name, message)
        if record is not None:
            assert record["frames"]["reader"] == case.reader, case.name
            assert (READ_BY_FFMPEG in record["settings_deviations"]) == (case.reader == "ffmpeg"), case.name
    else:
        assert not scored and message, case.name
        assert case.message.lower() in message.lower(), (case.name, message)
        assert "Traceback" not in message and "/tmp/" not in message, message  # no internals, no server paths


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_engine(evaluator, corpus, case) -> None:
    try:
        result = evaluator.score(str(corpus[case.name]), "a test pattern", OPTIONS)
        check(case, True, None, result.to_dict())
        assert len(result.plan.indices) >= 4
    except InputError as exc:
        check(case, False, str(exc))


def test_file_over_the_size_limit_is_refused(evaluator, corpus) -> None:
    from vs2demo.engine.evaluator import Evaluator

    small = Evaluator("smoke", limits=Limits(max_file_mb=0.1))
    with pytest.raises(InputError, match=r"limit is 0.1 MB"):
        small.plan(str(corpus["mp4_h264"]))


def test_cli_batch(smoke_dir, corpus, tmp_path) -> None:
    table = tmp_path / "corpus.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", "prompt"])
        w.writerows([str(corpus[c.name]), "a test pattern"] for c in CASES)
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "vs2demo", "score", "--batch", str(table), "--out", str(out),
                           "--model", "smoke", "--seed", "0", "--max-new-tokens", "8"], capture_output=True,
                          text=True, timeout=900)
    assert "Traceback" not in proc.stderr
    rows = {json.loads(line)["video"]: json.loads(line) for line in out.read_text().splitlines()}
    for case in CASES:
        row = rows[str(corpus[case.name])]
        check(case, "error" not in row, row.get("error"), row if "error" not in row else None)


def test_cli_one_line_error_even_when_the_decoder_complains(corpus) -> None:
    proc = subprocess.run([sys.executable, "-m", "vs2demo", "frames", str(corpus["truncated_mp4"])],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # decord's own log lines are muted
    assert proc.stderr.startswith("error: ")


def test_app_api(smoke_app, corpus) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    for case in CASES:
        try:
            final = smoke_app.predict(handle_file(str(corpus[case.name])), "a test pattern", 0, False, 0.7, 16, 2.0,
                                      api_name="/score")
            check(case, True, None, final[7])
            assert final[7]["frames"]["frame_count"] >= 4
        except AppError as exc:
            check(case, False, str(exc))
