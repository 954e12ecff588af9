"""Batch files: reading the CSV (byte-order marks, long fields, short rows), resuming the JSONL after an
interrupted run, and what the CLI prints for each problem."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.helpers import cli
from vs2demo.batch import jobs


def write_csv(path: Path, rows: list[list[str]], bom: bool = False) -> Path:
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        csv.writer(f).writerows([["video", "prompt"], *rows])
    return path


@pytest.mark.parametrize("bom", [False, True])
def test_rows_are_read_with_or_without_a_byte_order_mark(tmp_path, bom) -> None:
    rows = jobs.read_rows(write_csv(tmp_path / "a.csv", [["a.mp4", "x"], ["b.mp4", "y, with a comma"]], bom))
    assert [(r.line, r.video, r.prompt) for r in rows] == [(2, "a.mp4", "x"), (3, "b.mp4", "y, with a comma")]


def test_long_fields_and_short_rows_become_row_problems_not_crashes(tmp_path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"video,prompt\na.mp4,{'p' * 200_000}\nb.mp4\n\"multi\nline.mp4\",z\n", encoding="utf-8")
    rows = jobs.read_rows(path)
    assert len(rows[0].prompt) == 200_000 and rows[0].problem() is None
    assert rows[1].problem() == "line 3 has no prompt value"
    assert (rows[2].line, rows[2].video) == (4, "multi\nline.mp4")


@pytest.mark.parametrize("content,message", [
    ("name,text\na,b\n", "needs the columns video,prompt"),
    ("", "needs the columns"),
    (b"video,prompt\n\xff\xfe,x\n", "not UTF-8"),
])
def test_unusable_csv_files_get_one_message(tmp_path, content, message) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(jobs.BatchError, match=message):
        jobs.read_rows(path)


def test_an_unclosed_quote_is_one_odd_row_not_a_crash(tmp_path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('video,prompt\n"a.mp4,x\nb.mp4,y\n', encoding="utf-8")
    (row,) = jobs.read_rows(path)  # the csv module reads the quoted field to the end of the file
    assert row.video.startswith("a.mp4,x") and row.problem() == "line 2 has no prompt value"


@pytest.mark.parametrize("existing,kept,done", [
    # a fragment after the last finished row is dropped; finished rows stay
    ('{"video": "a", "prompt": "x"}\n{"video": "b", "pro', '{"video": "a", "prompt": "x"}\n', {("a", "x")}),
    # a whole object missing only its newline is a finished row: kept
    ('{"video": "a", "prompt": "x"}', '{"video": "a", "prompt": "x"}\n', {("a", "x")}),
    # lines that are not objects are left alone and ignored
    ('[1, 2]\n"text"\n{"video": "c", "prompt": "z", "error": "bad"}\n',
     '[1, 2]\n"text"\n{"video": "c", "prompt": "z", "error": "bad"}\n', {("c", "z")}),
    ("", "", set()),
])
def test_resume_repairs_only_a_cut_off_last_line(tmp_path, existing, kept, done) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(existing, encoding="utf-8")
    assert jobs.finished_rows(out) == done
    assert out.read_text(encoding="utf-8") == kept


@pytest.mark.parametrize("text,shown", [
    ("\x1b[31mred.mp4", "\\x1b[31mred.mp4"),
    ("bell\x07", "bell\\x07"),
    ("csi\x9b2J", "csi\\x9b2J"),
    ("tab\tand\nnewline, ünïcode", "tab\tand\nnewline, ünïcode"),
])
def test_printable_escapes_control_characters(text, shown) -> None:
    assert jobs.printable(text) == shown


def test_output_that_is_a_folder_or_in_a_missing_folder(tmp_path) -> None:
    table = write_csv(tmp_path / "a.csv", [["a.mp4", "x"]])
    for out, message in ((tmp_path, "is a folder"), (tmp_path / "nope" / "out.jsonl", "does not exist")):
        run = cli("score", "--batch", str(table), "--out", str(out), "--model", "smoke")
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and lines == [lines[-1]] and message in lines[-1], run.stderr


def test_batch_cli_survives_every_bad_row_and_resumes_cleanly(smoke_dir, clip, tmp_path) -> None:
    escaped = str(tmp_path / "\x1b[2Jevil.mp4")
    table = write_csv(tmp_path / "excel.csv", [[clip, "a ball"], [escaped, "x"], [clip, "p" * 150_000]], bom=True)
    with table.open("a", encoding="utf-8") as f:
        f.write(f"{clip}\n")  # a short row: no prompt
    out = tmp_path / "out.jsonl"
    out.write_text('[1, 2]\n{"video": "' + clip + '", "prompt": "a b', encoding="utf-8")  # a killed run's tail
    run = cli("score", "--batch", str(table), "--out", str(out), "--model", "smoke", "--seed", "1",
              "--max-new-tokens", "8")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "\x1b[2J" not in run.stderr and "\\x1b[2Jevil.mp4" in run.stderr  # (tqdm draws its own bars)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records[0] == [1, 2]  # not ours, kept
    rows = records[1:]
    assert [(r["video"], r["prompt"] is None or len(r["prompt"])) for r in rows] == [
        (clip, 6), (escaped, 1), (clip, 150_000), (clip, True)]
    assert "raw_output" in rows[0] and all("error" in r for r in rows[1:])
    assert "no prompt value" in rows[3]["error"] and "limit" in rows[2]["error"]
    again = cli("score", "--batch", str(table), "--out", str(out), "--model", "smoke")
    assert again.returncode == 0 and out.read_text(encoding="utf-8").count("\n") == 5  # nothing redone


FOREIGN_LINES = ['{"video": ["a.mp4"], "prompt": "x"}', '{"video": "a.mp4", "prompt": {"text": "x"}}',
                 '{"video": {"p": 1}, "prompt": [1]}', '{"video": 3, "prompt": null}']


def test_lines_with_lists_or_objects_as_video_or_prompt_are_not_ours(tmp_path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("\n".join([*FOREIGN_LINES, '{"video": "b.mp4", "prompt": "y", "error": "e"}']) + "\n",
                   encoding="utf-8")
    assert jobs.records(out) == {("b.mp4", "y"): {"video": "b.mp4", "prompt": "y", "error": "e"}}


def test_batch_cli_reads_any_jsonl_without_a_traceback(smoke_dir, clip, tmp_path) -> None:
    table = write_csv(tmp_path / "jobs.csv", [[clip, "a ball"]])
    out = tmp_path / "out.jsonl"
    out.write_text("\n".join(FOREIGN_LINES) + "\n", encoding="utf-8")
    run = cli("score", "--batch", str(table), "--out", str(out), "--model", "smoke", "--seed", "1",
              "--max-new-tokens", "8")
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[:len(FOREIGN_LINES)] == FOREIGN_LINES  # kept as they were
    assert json.loads(lines[-1])["video"] == clip and "raw_output" in json.loads(lines[-1])
