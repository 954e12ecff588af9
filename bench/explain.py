"""Explaining a result against generating it: one 5 s 720p clip, side by side in one run (best of --repeats).

    python bench/explain.py [--model smoke] [--tokens 1024] [--repeats 3] [--out bench/results-explain.json]

"generate" is the official run's generation of the result (the clip already prepared); "explain" is every
re-scoring variant of that result (the unaltered pass, the whole clip hidden, two prompts, each segment and each
sentence), in turn on CPU, in memory-sized batches on a GPU. The first seed whose output has a reasoning block is
used, so that sentences are measured too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.synth import ensure_clip  # noqa: E402
from vs2demo.core.options import GenerationOptions  # noqa: E402
from vs2demo.engine.evaluator import Evaluator  # noqa: E402
from vs2demo.evidence.explain import explain  # noqa: E402

PROMPT = "a red ball bouncing on a wooden floor"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smoke")
    ap.add_argument("--tokens", type=int, default=1024, help="max new tokens (official 1024)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results-explain.json"))
    args = ap.parse_args()
    clip = ensure_clip(ROOT / "bench" / "clips" / "5s_720p.mp4", 5.0, 24.0, (1280, 720))
    ev = Evaluator(args.model)
    info = ev.load()
    # the first seed whose output has a reasoning block (the smoke model's often has none), so sentences count too
    seed = next(s for s in range(100) if ev.score(str(clip), PROMPT, GenerationOptions(
        seed=s, max_new_tokens=args.tokens)).think)
    options = GenerationOptions(seed=seed, max_new_tokens=args.tokens)
    generate, explain_s, last = [], [], None
    for _ in range(args.repeats):  # interleaved: drift in the machine's speed hits both alike
        result = ev.score(str(clip), PROMPT, options)
        generate.append(result.timings.generate_s)
        start = time.perf_counter()
        last = explain(ev, result)
        explain_s.append(time.perf_counter() - start)
    figures = {"model": info.model_id, "device": info.device, "dtype": info.dtype, "seed": seed,
               "tokens": len(result.token_ids),
               "clip": "5 s 720p (10 frames at 2 fps)", "segments": len(last.segments),
               "sentences": len(last.sentences), "variants": 4 + len(last.segments) + len(last.sentences),
               "passes": last.passes, "generate_s": min(generate), "explain_s": min(explain_s),
               "explain_over_generate": min(explain_s) / min(generate),
               "consistency_max_diff": last.consistency_max_diff}
    for key, value in figures.items():
        print(f"{key:<24} {value:.4g}" if isinstance(value, float) else f"{key:<24} {value}")
    Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
