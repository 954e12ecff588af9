"""Peak memory of one request, by kind, each in a fresh process, side by side in one run.

    python bench/memory.py [--model smoke] [--seconds 60] [--tokens 64] [--out bench/results-memory.json]

Cases on one clip (default 60 s, 320×180, 24 fps; 120 frames at the official 2 fps):
``score_k1`` (the official run), ``score_k16`` (16 samples), ``explain`` (the official run, then explaining it:
every re-scoring variant). Each case runs in its own subprocess, so each peak is that request's alone; the peak is
the process's maximum resident set size (``ru_maxrss``), and ``above_loaded`` is the peak less the resident size
once the model was loaded (what the request itself added). The targets of issue #22: K = 16 at most 1.3× K = 1,
explain at most 1.5× its score run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = "a red ball bouncing on a wooden floor"
CASES = ("score_k1", "score_k16", "explain")


def _resident_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def child(case: str, model: str, clip: str, tokens: int) -> dict:
    """One case in this process: its peak resident size and what it added once the model was loaded."""
    from vs2demo.core.options import GenerationOptions
    from vs2demo.engine.evaluator import Evaluator
    from vs2demo.evidence.explain import explain

    ev = Evaluator(model)
    ev.load()
    loaded = _resident_kb()
    start = time.perf_counter()
    samples = 16 if case == "score_k16" else 1
    results = ev.evaluate(clip, PROMPT, GenerationOptions(seed=1, samples=samples, max_new_tokens=tokens))
    if case == "explain":
        explain(ev, results[0])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"case": case, "peak_mb": round(peak / 1024, 1), "loaded_mb": round(loaded / 1024, 1),
            "above_loaded_mb": round((peak - loaded) / 1024, 1), "seconds": round(time.perf_counter() - start, 1),
            "visual_tokens": results[0].plan.visual_tokens, "frames": len(results[0].plan.indices)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smoke")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--tokens", type=int, default=64, help="max new tokens per sample")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results-memory.json"))
    ap.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    ap.add_argument("--clip", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.clip, args.tokens)))
        return
    from tests.synth import ensure_clip

    clip = ensure_clip(ROOT / "bench" / "clips" / f"{args.seconds:g}s_320x180.mp4", args.seconds, 24.0, (320, 180))
    rows = {}
    for case in CASES:
        run = subprocess.run([sys.executable, __file__, "--child", case, "--model", args.model, "--clip", str(clip),
                              "--tokens", str(args.tokens)], capture_output=True, text=True, check=True)
        rows[case] = json.loads(run.stdout.strip().splitlines()[-1])
        print(json.dumps(rows[case]))
    k1, k16, ex = (rows[c] for c in CASES)
    figures = {"model": args.model, "clip": f"{args.seconds:g} s 320x180 24 fps", "tokens": args.tokens,
               "cases": rows,
               "k16_over_k1_peak": round(k16["peak_mb"] / k1["peak_mb"], 3),
               "explain_over_score_peak": round(ex["peak_mb"] / k1["peak_mb"], 3),
               "k16_over_k1_above_loaded": round(k16["above_loaded_mb"] / max(k1["above_loaded_mb"], 1e-9), 3),
               "explain_over_score_above_loaded": round(ex["above_loaded_mb"] / max(k1["above_loaded_mb"], 1e-9), 3)}
    for key, value in figures.items():
        if key != "cases":
            print(f"{key:<34} {value}")
    Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
