"""Batch files: the CSV of jobs in, the JSONL of results out, resumable after any interruption.

Every input row ends as exactly one JSONL line: a result, or an error record naming the row. An interrupted run
can leave its last line cut short; resuming drops that fragment (the row is redone) and never a finished row.
"""

from __future__ import annotations

import csv
import json
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vs2demo.core.errors import GenerationError, InputError, ModelLoadError, VS2Error

COLUMNS = ("video", "prompt")
FIELD_LIMIT = 1 << 26  # csv's default (131072 characters) makes a long field an exception; prompts are checked later


class BatchError(InputError):
    """The batch files themselves are unusable: the whole run stops with one message."""


@dataclass(frozen=True)
class JobRow:
    line: int  # the CSV line the row starts on, for messages
    video: str | None
    prompt: str | None

    @property
    def key(self) -> tuple[str | None, str | None]:
        return self.video, self.prompt

    def problem(self) -> str | None:
        """Why this row cannot be scored at all (a short row), or None."""
        missing = [c for c, v in zip(COLUMNS, self.key) if v is None]
        return f"line {self.line} has no {' or '.join(missing)} value" if missing else None


def read_rows(path: Path, required: tuple[str, ...] = COLUMNS) -> list[JobRow]:
    """The CSV's rows (columns video,prompt; a UTF-8 byte-order mark, as Excel writes, is fine). Columns not in
    ``required`` may be missing: their values are None."""
    if not path.is_file():
        raise BatchError(f"no such CSV file: {printable(str(path))}")
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    rows: list[JobRow] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not set(required) <= {c.strip() for c in reader.fieldnames if c}:
                raise BatchError(f"{printable(path.name)} needs the columns {','.join(required)} in its first line")
            names = {c.strip(): c for c in reader.fieldnames if c}
            line = reader.line_num + 1
            for record in reader:
                rows.append(JobRow(line, *(record.get(names[c]) if c in names else None for c in COLUMNS)))
                line = reader.line_num + 1
    except csv.Error as exc:
        raise BatchError(f"{printable(path.name)}, line {reader.line_num}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise BatchError(f"{printable(path.name)} is not UTF-8 text (save it as 'CSV UTF-8')") from exc
    return rows


def check_output(path: Path) -> None:
    if path.is_dir():
        raise BatchError(f"--out {printable(str(path))} is a folder; give a file such as results.jsonl")
    if not path.parent.is_dir():
        raise BatchError(f"the folder of --out does not exist: {printable(str(path.parent))}")


def finished_rows(path: Path) -> set[tuple[str | None, str | None]]:
    """Rows already in the JSONL (results and error records alike), after repairing a cut-off last line."""
    return set(records(path))


def records(path: Path) -> dict[tuple[str | None, str | None], dict]:
    """The JSONL's records by (video, prompt), after repairing a cut-off last line; lines that are not records
    of ours are kept in the file as they are and left out here."""
    if not path.exists():
        return {}
    _repair_tail(path)
    found: dict[tuple[str | None, str | None], dict] = {}
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if _is_record(record):
                found[(record["video"], record["prompt"])] = record
    return found


def _is_record(record: object) -> bool:
    """A line of ours: an object whose video and prompt are text (or null, for a short CSV row). A line with a
    list or an object there (written by hand or by another tool) is not a row this run could have made."""
    return (isinstance(record, dict) and "video" in record and "prompt" in record
            and all(record[c] is None or isinstance(record[c], str) for c in COLUMNS))


def _repair_tail(path: Path) -> None:
    """A run killed mid-write leaves a last line without its newline. A complete JSON object there is kept (its
    newline added); anything else is a fragment and is removed, so the next line starts cleanly."""
    with path.open("rb+") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        try:
            whole = isinstance(json.loads(data[cut:]), dict)
        except ValueError:
            whole = False
        if whole:
            f.write(b"\n")
        else:
            f.truncate(cut)


def score_row(evaluator, row: JobRow, options, attempts: int = 1) -> tuple[dict, str | None]:
    """One row's JSONL record (a result, or an error record) and the problem when it is an error. A generation
    failure (out of memory, a CUDA error) may pass on another try and is tried up to ``attempts`` times; a bad clip
    or prompt fails the same way every time and is not retried. ModelLoadError propagates: nothing can be scored."""
    from vs2demo.analysis.stability import samples_dict

    problem = row.problem()
    for attempt in range(1, attempts + 1 if problem is None else 0):
        try:
            samples = evaluator.evaluate(row.video, row.prompt, options)
        except ModelLoadError:
            raise
        except GenerationError as exc:
            problem = str(exc) if attempts == 1 else f"{exc} (failed {attempt} of {attempts} tries)"
            continue
        except VS2Error as exc:
            problem = str(exc)
            break
        return {**samples_dict(samples), "runtime": runtime(evaluator)}, None
    return error_record(row, problem or "not scored"), problem or "not scored"


def runtime(evaluator) -> dict:
    """Where a result was computed: the device, the weights' dtype and torch's thread count (the same seed gives
    the same text everywhere, but the thread count changes how float sums are split, so the last digits of
    probabilities can differ between machines)."""
    import torch

    info = evaluator.info
    return {"device": info.device if info else None, "dtype": info.dtype if info else None,
            "torch_threads": torch.get_num_threads()}


def write_outcomes(outcomes: Iterable[tuple[JobRow, dict, str | None]], out: Path, total: int, initial: int,
                   desc: str = "scoring") -> int:
    """Append each (row, record, problem) to the JSONL as it arrives, flushed at once (an interrupted run loses no
    finished row), under one progress bar with throughput and ETA; returns how many rows failed."""
    from tqdm import tqdm

    failed = 0
    with out.open("a", encoding="utf-8") as sink, tqdm(total=total, initial=initial, desc=desc, unit="clip") as bar:
        for row, record, problem in outcomes:
            if problem:
                failed += 1
                tqdm.write(f"error: {printable(str(row.video))}: {printable(problem)}", file=sys.stderr)
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            sink.flush()
            bar.update()
    return failed


def check_complete(out: Path, rows: Sequence[JobRow]) -> None:
    """Every input row must have a line (a result or an error record) once a run ends: none silently dropped."""
    done = finished_rows(out)
    missing = [r for r in rows if r.key not in done]
    if missing:
        raise BatchError(f"{len(missing)} row(s) have no line in {printable(out.name)} (first: CSV line "
                         f"{missing[0].line}); re-run to score them")


def error_record(row: JobRow, message: str) -> dict:
    """The JSONL record of a row that could not be scored."""
    return {"video": row.video, "prompt": row.prompt, "line": row.line, "error": message}


def printable(text: str) -> str:
    """Text safe to print on a terminal: control characters (escape sequences included) shown as escapes,
    line breaks and tabs kept."""
    return "".join(c if c in "\n\t" or unicodedata.category(c) != "Cc" else c.encode("unicode_escape").decode()
                   for c in text)

