"""Load test: many concurrent gradio_client sessions against the launched app (smoke model by default).

    python scripts/load_test.py [--sessions 20] [--requests 100] [--model smoke] [--json]

Starts `python app.py` on a free port, then runs REQUESTS requests from SESSIONS concurrent clients,
mixing score, compare and cancellations. Every request must end with a result, a clear refusal or a
cancellation it asked for: none lost, none hung. Reports queue positions seen, latency, and the app
process's memory after the first few requests and at the end (a leak shows as growth).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
SETTINGS = (None, False, 0.7, 64, 2.0)  # seed, greedy, temperature, max new tokens, fps


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(model: str, port: int) -> subprocess.Popen:
    # every simulated visitor comes from 127.0.0.1: the per-address bound would refuse the 9th session
    env = {**os.environ, "VS2_MODEL": model, "VS2_MAX_RUNS_PER_ADDRESS": "1000",
           "VS2_MAX_EVENTS_PER_ADDRESS": "1000"}
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not start")


def one_request(url: str, i: int) -> dict:
    """Request i: mostly scores, every 4th a comparison, every 5th cancelled after its first update,
    every 7th a bad upload that must be refused."""
    client = Client(url, verbose=False)
    clip = handle_file(str(ASSETS / ("ball_bounces.mp4" if i % 2 else "ball_sinks.mp4")))
    start = time.perf_counter()
    ranks: list[int] = []
    kind = "bad" if i % 7 == 6 else "compare" if i % 4 == 3 else "score"
    if kind == "bad":
        bad = Path(f"/tmp/vs2-load-bad-{i}.mp4")
        bad.write_bytes(b"not a video at all")
        args, api = (handle_file(str(bad)), "a ball", *SETTINGS), "/score"
    elif kind == "compare":
        args = (clip, handle_file(str(ASSETS / "ball_blurred.mp4")), "a red ball", False, "", *SETTINGS)
        api = "/compare"
    else:
        args, api = (clip, "a red ball bouncing", *SETTINGS), "/score"
    job = client.submit(*args, api_name=api)
    cancel = kind != "bad" and i % 5 == 4
    outcome = "hung"
    deadline = time.time() + 600
    while time.time() < deadline:
        status = job.status()
        if status.rank is not None:
            ranks.append(status.rank)
        if cancel and job.outputs():
            job.cancel()
            outcome = "cancelled"
            break
        if job.done():
            try:
                final = job.result()
                outcome = "result" if final and final[-1] else "empty"
            except Exception as exc:
                refused = kind == "bad" and "not a video" in str(exc)
                outcome = "refused" if refused else f"error: {type(exc).__name__}: {exc}"
            break
        time.sleep(0.05)
    client.close()
    return {"i": i, "kind": kind, "outcome": outcome, "seconds": time.perf_counter() - start,
            "max_queue_rank": max(ranks) if ranks else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--model", default="smoke")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args()
    port = free_port()
    app = start_app(args.model, port)
    url = f"http://127.0.0.1:{port}/"
    try:
        proc = psutil.Process(app.pid)
        # warm-up: one of each kind (score, compare, cancel, bad upload) loads the model and fills caches
        runs = [one_request(url, i) for i in range(8)]
        rss = {"after_warmup": proc.memory_info().rss}
        half = (args.requests - 8) // 2
        with ThreadPoolExecutor(args.sessions) as pool:
            runs += list(pool.map(lambda i: one_request(url, i), range(8, 8 + half)))
            time.sleep(1)
            rss["after_half"] = proc.memory_info().rss
            runs += list(pool.map(lambda i: one_request(url, i), range(8 + half, args.requests)))
        time.sleep(1)
        rss["after_all"] = proc.memory_info().rss
    finally:
        app.terminate()
        app.wait(timeout=30)
    counts: dict[str, int] = {}
    for r in runs:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    ok = {"result", "cancelled", "refused"}
    summary = {
        "sessions": args.sessions, "requests": len(runs), "outcomes": counts,
        "lost_or_hung": sum(1 for r in runs if r["outcome"] not in ok),
        "max_queue_rank_seen": max((r["max_queue_rank"] or 0) for r in runs),
        "latency_s": {"median": round(statistics.median(r["seconds"] for r in runs), 2),
                      "max": round(max(r["seconds"] for r in runs), 2)},
        "app_rss_mb": {k: round(v / 1e6) for k, v in rss.items()},
        "failures": [r for r in runs if r["outcome"] not in ok][:5],
    }
    print(json.dumps(summary, indent=None if args.json else 2))
    sys.exit(0 if summary["lost_or_hung"] == 0 else 1)


if __name__ == "__main__":
    main()
