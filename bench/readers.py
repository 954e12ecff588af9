"""Benchmark: reading the planned frames through decord (official) and through the ffmpeg fallback.

    python bench/readers.py [--seconds 60] [--out bench/results-readers.json]

Makes a 640×360 10 fps clip of ``--seconds`` as H.264 MP4 (decord), GIF and animated WebP (ffmpeg), then, for
each, probes and reads the planned frames in a fresh process and records the wall time, how far that process's
peak resident memory grew past its imports, and the ffmpeg process's peak (sampled every 5 ms), beside what
the file's frames would take decoded whole at full size. Targets are reported here,
never in tests.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.corpus import X264, _run, _testsrc  # noqa: E402

SIZE = (640, 360)
FPS = 10

CHILD = """
import json, resource, sys, threading, time
import psutil
sys.path.insert(0, {root!r})
import torch, torchvision.transforms.functional  # the imports a reader needs anyway, before the baseline
from vs2demo.input.video import load_frames

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

ffmpeg_mb, done = [0.0], threading.Event()

def watch():  # ffmpeg's own resident memory, sampled (rusage of children inherits the parent's at fork)
    me = psutil.Process()
    while not done.is_set():
        for kid in me.children():
            try:
                ffmpeg_mb[0] = max(ffmpeg_mb[0], kid.memory_info().rss / 2**20)
            except psutil.Error:
                pass
        time.sleep(0.005)

threading.Thread(target=watch, daemon=True).start()
before = peak_mb()
start = time.perf_counter()
frames = load_frames({path!r})
took = time.perf_counter() - start
done.set()
print(json.dumps({{"reader": frames.plan.info.reader, "frames": frames.plan.info.total_frames,
                  "planned": len(frames.plan.indices), "seconds": round(took, 2),
                  "python_peak_growth_mb": round(peak_mb() - before), "ffmpeg_peak_mb": round(ffmpeg_mb[0])}}))
"""


def make(folder: Path, seconds: float) -> dict[str, Path]:
    src = _testsrc(f"{SIZE[0]}x{SIZE[1]}", FPS, seconds)
    clips = {"mp4": (folder / "clip.mp4", [*X264]), "gif": (folder / "clip.gif", []),
             "webp": (folder / "clip.webp", ["-c:v", "libwebp_anim", "-lossless", "0", "-quality", "50"])}
    for path, args in clips.values():
        if not path.exists():
            _run(*src, *args, str(path))
    return {name: path for name, (path, _) in clips.items()}


def measure(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), path=str(path))], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results-readers.json"))
    ap.add_argument("--folder", default="/tmp/vs2-bench-readers")
    args = ap.parse_args()
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    whole_mb = round(args.seconds * FPS * SIZE[0] * SIZE[1] * 3 / 2**20)
    rows = {}
    for name, path in make(folder, args.seconds).items():
        rows[name] = {**measure(path), "file_mb": round(path.stat().st_size / 2**20, 1), "whole_at_full_size_mb":
                      whole_mb}
        print(name, rows[name], flush=True)
    Path(args.out).write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                          "seconds": args.seconds, "size": SIZE, "fps": FPS, "rows": rows},
                                         indent=2) + "\n")


if __name__ == "__main__":
    main()
