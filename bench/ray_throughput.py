"""Batch throughput, side by side in one run: the sequential CLI against ``--ray`` with 1 and 2 replicas, and the
fixed cost of starting Ray. CPU and the smoke model by default (``--model`` for a real checkpoint on GPUs).

    python bench/ray_throughput.py [--jobs 12] [--tokens 128] [--model smoke] [--out bench/results-ray.json]

Each mode runs ``python -m vs2demo score --batch`` as a user would, in a fresh process on the same CSV (the
example clips, one prompt per row, seed 0, so every mode generates the same texts), while this script watches the
JSONL grow. Per mode: wall time (process start to exit: imports, Ray's start, model loads), the time to the first
row, jobs per minute over the whole run, and the steady rate between the first and the last row. Modes run in turn,
repeated ``--repeats`` times (interleaved, best kept), since these shared machines vary by ±20% run to run.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIPS = sorted(str(p) for p in (ROOT / "assets").glob("*.mp4"))
MODES = {"sequential CLI": [], "Ray, 1 replica": ["--ray", "--replicas", "1"],
         "Ray, 2 replicas": ["--ray", "--replicas", "2"]}

START_RAY = """
import time
start = time.perf_counter()
import ray
imported = time.perf_counter()
ray.init(include_dashboard=False, log_to_driver=False)
ready = time.perf_counter()
ray.shutdown()
print(imported - start, ready - imported, time.perf_counter() - ready)
"""


def run_mode(args: argparse.Namespace, table: Path, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jsonl"
        cmd = [sys.executable, "-m", "vs2demo", "score", "--batch", str(table), "--out", str(out), "--model",
               args.model, "--seed", "0", "--max-new-tokens", str(args.tokens), *extra]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times: list[float] = []  # when each row's line appeared
        while proc.poll() is None:
            n = out.read_text(encoding="utf-8").count("\n") if out.exists() else 0
            times += [time.perf_counter() - start] * (n - len(times))
            time.sleep(0.05)  # sampling the file's growth; 50 ms is noise against seconds per row
        wall = time.perf_counter() - start
        n = out.read_text(encoding="utf-8").count("\n") if out.exists() else 0
        times += [wall] * (n - len(times))
        if proc.returncode != 0 or n != args.jobs:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}, {n} rows): {proc.stderr.read()[-2000:]}")
        records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    steady = (n - 1) / (times[-1] - times[0]) * 60 if n > 1 and times[-1] > times[0] else None
    return {"wall_s": round(wall, 2), "first_row_s": round(times[0], 2), "jobs_per_min": round(n / wall * 60, 2),
            "steady_jobs_per_min": None if steady is None else round(steady, 2),
            "texts": sorted((r["prompt"], r["raw_output"]) for r in records),
            "torch_threads": sorted({r["runtime"]["torch_threads"] for r in records})}


def ray_start_cost() -> dict:
    out = subprocess.run([sys.executable, "-c", START_RAY], capture_output=True, text=True, check=True, cwd=ROOT)
    imported, ready, stopped = (float(x) for x in out.stdout.split())
    return {"import_s": round(imported, 2), "init_s": round(ready, 2), "shutdown_s": round(stopped, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=12)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--model", default="smoke")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results-ray.json"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "jobs.csv"
        with table.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["video", "prompt"], *([CLIPS[i % len(CLIPS)], f"a red ball, take {i}"]
                                                            for i in range(args.jobs))])
        starts = [ray_start_cost() for _ in range(args.repeats)]
        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for _ in range(args.repeats):
            for mode, extra in MODES.items():
                runs[mode].append(run_mode(args, table, extra))
                print(mode, {k: v for k, v in runs[mode][-1].items() if k != "texts"}, flush=True)
    best = {mode: max(r, key=lambda x: x["jobs_per_min"]) for mode, r in runs.items()}
    same = len({json.dumps(b["texts"]) for b in best.values()}) == 1
    import torch

    results = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, "
                   f"{'GPU: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}",
        "model": args.model, "jobs": args.jobs, "max_new_tokens": args.tokens, "repeats": args.repeats,
        "ray_start": min(starts, key=lambda s: s["init_s"]),
        "modes": {mode: {k: v for k, v in b.items() if k != "texts"} for mode, b in best.items()},
        "same_texts_in_every_mode": same,
    }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
