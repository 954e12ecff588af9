"""`--ray`: batch scoring and Best-of-N ranking spread over model replicas on Ray Data.

One local Ray (two CPUs) serves the whole module. Checked: the same rows and seeds give the sequential CLI's results;
a row that kills its worker becomes an error line after a bounded number of tries while the others finish; a killed
driver leaves no Ray process behind and a re-run completes every row exactly once; ranking many prompts gives each
prompt's order alone; without Ray, --ray is one error line. Ray is optional locally (these tests skip without it),
but CI installs it and sets VS2_REQUIRE_RAY=1, so there a missing Ray fails.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ASSETS, ROOT, cli
from vs2demo.batch.distributed import CRASH_HOOK, job_runtime_env
from vs2demo.cli.main import main as cli_main

pytestmark = pytest.mark.ray

ARGS = ["--model", "smoke", "--seed", "3", "--max-new-tokens", "24"]
CLIPS = [str(ASSETS / n) for n in ("ball_bounces.mp4", "ball_sinks.mp4", "ball_blurred.mp4")]
TOLERANCE = 1e-5  # probabilities: float sums split over other thread counts differ in the last digits


def need_ray():
    try:
        import ray
    except ImportError:
        if os.environ.get("VS2_REQUIRE_RAY"):
            raise RuntimeError("VS2_REQUIRE_RAY is set but Ray is not installed (pip install -r "
                               "requirements-ray.txt)") from None
        pytest.skip("Ray is not installed (pip install -r requirements-ray.txt)")
    return ray


@pytest.fixture(scope="module")
def ray_session(smoke_dir):
    """One local Ray for the module (starting one takes about 15 s on two cores); the CLI uses it when called in
    this process, and a subprocess joins it by its address."""
    ray = need_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=job_runtime_env())
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def write_csv(path: Path, rows: list[list[str]], header=("video", "prompt")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([list(header), *rows])
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run(capsys, *args: str) -> tuple[int, str]:
    code = cli_main(list(args))
    return code, capsys.readouterr().err


def assert_same_result(ours: dict, theirs: dict) -> None:
    assert ours["raw_output"] == theirs["raw_output"] and ours["options"] == theirs["options"]
    for key, score in theirs["scores"].items():
        mine = ours["scores"][key]
        assert mine["hard"] == score["hard"]
        assert (mine["probs"] is None) == (score["probs"] is None)
        assert mine["probs"] is None or max(abs(a - b) for a, b in zip(mine["probs"], score["probs"])) <= TOLERANCE
        assert (mine["soft"] is None) == (score["soft"] is None)
        assert mine["soft"] is None or abs(mine["soft"] - score["soft"]) <= 1e-4 + TOLERANCE * 5


def test_ray_batch_equals_the_sequential_cli(ray_session, capsys, tmp_path) -> None:
    # "42" and "NA" stay text: Ray's CSV reader would make them a number and a null
    table = write_csv(tmp_path / "jobs.csv", [[CLIPS[0], "42"], [CLIPS[1], "NA"], [str(tmp_path / "gone.mp4"), "x"],
                                              [CLIPS[2], "a red ball"]])
    plain, spread = tmp_path / "plain.jsonl", tmp_path / "ray.jsonl"
    assert run(capsys, "score", "--batch", str(table), "--out", str(plain), *ARGS)[0] == 1  # one missing clip
    code, err = run(capsys, "score", "--batch", str(table), "--out", str(spread), "--ray", "--replicas", "2", *ARGS)
    assert code == 1 and "gone.mp4" in err and "3 of 4 clips scored" in err, err
    theirs = {(r["video"], r["prompt"]): r for r in read_jsonl(plain)}
    ours = {(r["video"], r["prompt"]): r for r in read_jsonl(spread)}
    assert ours.keys() == theirs.keys() and len(ours) == 4  # every row once, in whatever order they finished
    assert {"42", "NA"} <= {prompt for _, prompt in ours}
    for key, record in theirs.items():
        if "error" in record:
            assert ours[key]["error"] == record["error"] and ours[key]["line"] == record["line"]
            continue
        assert_same_result(ours[key], record)
        # each replica holds one of the two cores and runs one torch thread; the sequential run used both
        assert ours[key]["runtime"] == {"device": "cpu", "dtype": "float32", "torch_threads": 1}
        assert record["runtime"]["torch_threads"] >= 1 and ours[key]["options"]["seed"] == 3


def test_a_row_that_kills_its_worker_becomes_an_error_line(ray_session, capsys, tmp_path, monkeypatch) -> None:
    doomed = tmp_path / "kills_the_worker.mp4"
    shutil.copy(CLIPS[0], doomed)
    monkeypatch.setenv(CRASH_HOOK, doomed.name)  # test-only: the replica exits mid-row (os._exit), like a segfault
    table = write_csv(tmp_path / "jobs.csv", [[CLIPS[0], "a"], [str(doomed), "b"], [CLIPS[1], "c"]])
    out = tmp_path / "out.jsonl"
    code, err = run(capsys, "score", "--batch", str(table), "--out", str(out), "--ray", "--replicas", "2",
                    "--attempts", "2", *ARGS)
    records = {r["prompt"]: r for r in read_jsonl(out)}
    assert code == 1 and sorted(records) == ["a", "b", "c"] and len(read_jsonl(out)) == 3, err
    assert "raw_output" in records["a"] and "raw_output" in records["c"]
    assert "died on each of 2 tries" in records["b"]["error"] and records["b"]["line"] == 3
    # the hook notes each try before the process dies: bounded, not Ray Data's endless restarts
    assert len(Path(str(doomed) + ".crashes").read_text().split()) == 2


def test_ranking_many_prompts_on_ray_matches_ranking_each_alone(ray_session, capsys, tmp_path) -> None:
    listing = write_csv(tmp_path / "candidates.csv", [["a red ball", CLIPS[0]], ["a red ball", CLIPS[1]],
                                                      ["a red ball", CLIPS[2]], ["a blue car", CLIPS[2]],
                                                      ["a blue car", CLIPS[0]]], header=("prompt", "video"))
    out, table = tmp_path / "all.jsonl", tmp_path / "rank.json"
    rank_args = ["--samples", "2", *ARGS]
    code, err = run(capsys, "rank", "--csv", str(listing), "--out", str(out), "--table", str(table), "--ray",
                    "--replicas", "2", *rank_args)
    assert code == 0, err
    ranked = json.loads(table.read_text())
    records = read_jsonl(out)  # the per-clip results beside the table
    assert len(records) == 5 and all(len(r["samples"]) == 2 for r in records)
    for prompt, clips in (("a red ball", CLIPS), ("a blue car", [CLIPS[2], CLIPS[0]])):
        alone = tmp_path / f"{prompt}.json"
        assert run(capsys, "rank", *clips, "--prompt", prompt, "--table", str(alone), *rank_args)[0] == 0
        assert [r["video"] for r in json.loads(alone.read_text())] == [r["video"] for r in ranked
                                                                       if r["prompt"] == prompt]


def descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid`` and its command line (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) if entry.name.isdigit() else None
        except (OSError, IndexError, ValueError):
            continue
        if ppid is not None:
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those still running (a zombie has finished)."""
    left = set()
    for pid in pids:
        try:
            if (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z":
                left.add(pid)
        except OSError:
            pass
    return left


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)  # polling a condition, not sleeping in place of one
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def test_a_killed_driver_leaves_nothing_running_and_a_rerun_completes_every_row_once(ray_session, tmp_path) -> None:
    rows = [[CLIPS[i % 3], f"prompt {i}"] for i in range(8)]
    table, out = write_csv(tmp_path / "jobs.csv", rows), tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    # its own local Ray, as a user's first run would start, with one replica so rows finish one by one
    driver = subprocess.Popen([sys.executable, "-m", "vs2demo", "score", "--batch", str(table), "--out", str(out),
                               "--ray", "--replicas", "1", "--model", "smoke", "--seed", "3", "--max-new-tokens",
                               "96"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lines = lambda: out.read_text(encoding="utf-8").count("\n") if out.exists() else 0  # noqa: E731
        family: dict[int, str] = {}

        def two_rows_written() -> bool:
            family.update(descendants(driver.pid))  # Ray's processes, seen while they run
            return lines() >= 2

        wait_for(two_rows_written, 180, "two rows written")
        family.update(descendants(driver.pid))
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    written = lines()
    assert written < len(rows), "the run finished before it was killed: nothing was resumed"
    assert any("raylet" in cmd for cmd in family.values()), f"no Ray processes seen under the driver: {family}"
    # the local Ray dies with its driver (Ray ties its head's life to the driver's): the workers holding models
    # are gone within seconds. (Ray's dashboard and runtime-env agents exit on their own about a minute later, once
    # they give up reporting to the dead head: too long to wait for here.)
    workers = {pid for pid, cmd in family.items() if cmd.startswith("ray::") and "Agent" not in cmd}
    assert workers, f"no Ray workers seen under the driver: {family}"
    wait_for(lambda: not alive(workers), 30, "Ray's workers to end after the driver died")

    again = cli("score", "--batch", str(table), "--out", str(out), "--ray", ray_session, *ARGS)
    assert again.returncode == 0, again.stderr
    records = read_jsonl(out)
    assert sorted(r["prompt"] for r in records) == sorted(p for _, p in rows)  # every row exactly once
    assert all("raw_output" in r for r in records)


def test_ray_missing_is_one_error_line(smoke_dir, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as it does where Ray is not installed
    table = write_csv(tmp_path / "jobs.csv", [[CLIPS[0], "a"]])
    code, err = run(capsys, "score", "--batch", str(table), "--out", str(tmp_path / "o.jsonl"), "--ray", *ARGS)
    assert code == 2 and err.strip().splitlines() == [
        "error: --ray needs Ray, which is not installed: pip install -r requirements-ray.txt"]
