"""The results library's costs, side by side in one run: what storing adds to a request, opening a link, and
`agreement` over 10,000 labelled items.

    python bench/store.py [--model smoke] [--repeats 5] [--items 10000] [--out bench/results-store.json]

- request: the page's score handler run to its end (the smoke model, official settings, a 5 s clip), without a
  library and with one (SQLite in a temporary folder), alternated, best of --repeats; the difference is the store.
- open: a stored result with 16 frames (an 8 s clip at 2 fps) opened as ``?r=ID`` does on the server (read it,
  rebuild its cards, radar, frames and summary, write the frames for Gradio), best of --repeats.
- agreement: ``python -m vs2demo agreement RESULTS.jsonl --labels LABELS.csv --json`` on --items synthetic clips
  (a fresh process: start-up and imports included), and the statistics alone in-process.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gradio.utils import get_upload_folder  # noqa: E402

from tests.synth import ensure_clip  # noqa: E402
from vs2demo.analysis.agreement import Judged, agreement  # noqa: E402
from vs2demo.analysis.stability import samples_dict  # noqa: E402
from vs2demo.core.dimensions import DIMENSIONS  # noqa: E402
from vs2demo.engine.evaluator import Evaluator  # noqa: E402
from vs2demo.serve.handlers import DemoApp  # noqa: E402
from vs2demo.serve.library import Library  # noqa: E402

PROMPT = "a red ball bouncing on a wooden floor"


def uploaded(clip: Path) -> str:
    """The clip where the page reads uploads from."""
    target = Path(get_upload_folder()) / "bench-store" / clip.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(clip, target)
    return str(target)


def request_s(app: DemoApp, video: str) -> tuple[float, str | None]:
    start = time.perf_counter()
    *_, last = app.score(video, PROMPT, seed=0)
    return time.perf_counter() - start, last[-1]


def bench_request(ev: Evaluator, folder: Path, repeats: int) -> dict:
    video = uploaded(ensure_clip(ROOT / "bench" / "clips" / "5s_720p.mp4", 5.0, 24.0, (1280, 720)))
    library = Library(str(folder / "request.db"))
    bare, stored = DemoApp(ev), DemoApp(ev, library)
    storing: list[float] = []
    store = library.store

    def timed(*args, **kwargs):  # the store's own share of the request, measured inside it
        start = time.perf_counter()
        try:
            return store(*args, **kwargs)
        finally:
            storing.append(time.perf_counter() - start)

    library.store = timed
    request_s(bare, video), request_s(stored, video)  # warm: the clip's frames cached, the database created
    without, with_store = [], []
    for _ in range(repeats):  # alternated: drift in the machine's speed hits both alike
        without.append(request_s(bare, video)[0])
        seconds, rid = request_s(stored, video)
        assert rid is not None
        with_store.append(seconds)
    store_s = sorted(storing[1:])[len(storing[1:]) // 2]  # the median store, warm
    return {"clip": "5 s 720p", "without_library_s": min(without), "with_library_s": min(with_store),
            "store_s_median": store_s, "store_share_of_request": store_s / min(min(without), min(with_store))}


def bench_open(ev: Evaluator, folder: Path, repeats: int) -> dict:
    video = uploaded(ensure_clip(ROOT / "bench" / "clips" / "8s_320.mp4", 8.0, 24.0, (320, 240)))
    library = Library(str(folder / "open.db"))
    _, rid = request_s(DemoApp(ev, library), video)
    frames = len(library.results.get(rid).frames)
    start = time.perf_counter()
    library.open(rid, "a-browser-token-0123456789")  # the first open also writes the frames for Gradio
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        library.open(rid, "a-browser-token-0123456789")
        times.append(time.perf_counter() - start)
    return {"frames": frames, "first_open_s": first, "open_s": min(times)}


def synthetic(n: int, folder: Path) -> tuple[Path, Path, list[Judged]]:
    """n clips (four per prompt) with model scores near human ones, as a results JSONL and a labels CSV."""
    from tests.reviews import fake_result

    rng = np.random.default_rng(0)
    results, labels = folder / "results.jsonl", folder / "labels.csv"
    items = []
    with results.open("w", encoding="utf-8") as out, labels.open("w", newline="", encoding="utf-8") as lab:
        writer = csv.writer(lab)
        writer.writerow(["video", "prompt", *(d.key for d in DIMENSIONS)])
        template = samples_dict((fake_result(),))
        for i in range(n):
            human = [int(x) for x in rng.integers(1, 6, 3)]
            hard = [min(5, max(1, h + int(rng.integers(-1, 2)))) for h in human]
            peak = float(rng.uniform(0.4, 0.95))
            record = json.loads(json.dumps(template))
            record["video"], record["prompt"] = f"/clips/clip{i}.mp4", f"prompt {i // 4}"
            for d, score in zip(DIMENSIONS, hard):
                record["scores"][d.key].update(hard=score, soft=round(score * peak, 4))
            out.write(json.dumps(record) + "\n")
            writer.writerow([f"clip{i}.mp4", f"prompt {i // 4}", *human])
            items.append(Judged(f"clip{i}", f"prompt {i // 4}", tuple(human), tuple(hard),
                                tuple(round(s * peak, 4) for s in hard)))
    return results, labels, items


def bench_agreement(n: int, folder: Path, repeats: int) -> dict:
    results, labels, items = synthetic(n, folder)
    cli, inproc = [], []
    for _ in range(repeats):  # alternated, so that both meet the same moments of the shared machine's load
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "vs2demo", "agreement", str(results), "--labels", str(labels),
                               "--json"], capture_output=True, text=True, cwd=ROOT, check=True)
        cli.append(time.perf_counter() - start)
        start = time.perf_counter()
        agreement(items)
        inproc.append(time.perf_counter() - start)
    report = json.loads(done.stdout)
    assert report["items"] == n, report["items"]
    return {"items": n, "pairs": report["pairs"], "resamples": report["resamples"], "cli_s": min(cli),
            "statistics_s": min(inproc)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smoke")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results-store.json"))
    args = ap.parse_args()
    ev = Evaluator(args.model)
    info = ev.load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        figures = {"model": info.model_id, "device": info.device, "dtype": info.dtype, "cpus": os.cpu_count(),
                   "load_average_at_start": os.getloadavg()[0],  # other processes' load: the machine is shared
                   "request": bench_request(ev, folder, args.repeats),
                   "open": bench_open(ev, folder, args.repeats),
                   "agreement": bench_agreement(args.items, folder, args.repeats)}
    figures["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(figures, indent=2))
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
