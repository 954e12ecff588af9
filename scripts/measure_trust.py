"""Figures for the README's reliability section, measured on this machine.

1. Resolution bomb: peak memory of refusing a real 16000×16000 H.264 file (0.75 MB), against what the old probe
   did before the headers were read first (open the file with the decoder, decode frame 0). Each in a fresh process.
2. stderr storm: 16 threads × 25 probes of good and broken files; is fd 2 still the terminal/log afterwards?
3. Abandoned runs: an app whose run streams for ~50 s; one client posts /call/score and never reads it; how long
   until the next visitor's run starts?

Usage: python scripts/measure_trust.py [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEAK = """
import resource, sys
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
{body}
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""
REFUSE = """
from vs2demo.core.errors import InputError
from vs2demo.input.video import probe
try:
    probe(sys.argv[1])
except InputError as exc:
    print(exc, file=sys.stderr)
"""
OLD_PROBE = """
import decord
decord.VideoReader(sys.argv[1], ctx=decord.cpu(0), num_threads=1)[0]
"""


def peak_mb(body: str, path: Path) -> float:
    # the modules are imported before the baseline is read, so only the work itself counts
    imports = "import decord, torch\nfrom vs2demo import video\n"
    out = subprocess.run([sys.executable, "-c", imports + PEAK.format(body=body), str(path)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def bomb(folder: Path) -> dict:
    from tests.corpus import _ffmpeg

    path = folder / "bomb.mp4"
    subprocess.run([_ffmpeg(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=black:s=16000x16000:d=0.08:r=25",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return {"bomb_file_mb": round(path.stat().st_size / 1e6, 2), "refusal_peak_mb": round(peak_mb(REFUSE, path), 1),
            "old_probe_peak_mb": round(peak_mb(OLD_PROBE, path), 1)}


def storm(folder: Path) -> dict:
    from tests.corpus import make
    from tests.helpers import STORM

    files = make(folder, ["mp4_h264", "mkv", "truncated_mp4"])
    out = subprocess.run([sys.executable, "-c", STORM, *map(str, files.values())], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    return {"storm_probes": 16 * 25, "storm_fd2_intact": out.returncode == 0 and "STDERR-ALIVE" in out.stderr}


def abandoned() -> dict:
    import httpx
    from gradio_client import handle_file

    from tests.helpers import ASSETS, RAW_SETTINGS, SLOW, ScriptedEvaluator, launch, upload
    from vs2demo.serve import guard

    evaluator = ScriptedEvaluator(SLOW, delay_s=0.02)
    demo, client = launch(evaluator)
    base = client.src.rstrip("/") + "/gradio_api"
    try:
        clip = str(ASSETS / "ball_bounces.mp4")
        httpx.post(f"{base}/call/score", json={"data": [upload(base, clip), "a ball", *RAW_SETTINGS]}, timeout=30)
        while evaluator.started < 1:
            time.sleep(0.05)
        start = time.monotonic()
        job = client.submit(handle_file(clip), "a ball", api_name="/score")
        while evaluator.started < 2:
            time.sleep(0.05)
        waited = time.monotonic() - start
        job.cancel()
        return {"abandoned_run_length_s": round(len(SLOW) / 4 * 0.02, 1), "unread_grace_s": guard.UNREAD_GRACE_S,
                "next_visitor_waited_s": round(waited, 1)}
    finally:
        demo.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = {**bomb(Path(tmp)), **storm(Path(tmp)), **abandoned()}
    print(json.dumps(figures) if args.json else "\n".join(f"{k}: {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
