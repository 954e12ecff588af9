"""Explaining a result against generating it: one 5 s 720p clip, side by side in one run (best of --repeats).

    python bench/explain.py [--model smoke] [--tokens 1024] [--repeats 1] [--k 2 4] [--out bench/results-explain.json]

"generate" is the official run's generation of the result (the clip already prepared). "teacher_forced" is every
re-scoring pass of the direct effects and grounding (the unaltered pass, the probes, each segment by two fills, the
constant clip's floor, each sentence removed), with each temporal group's vision features encoded once and spliced.
"curves" is the faithfulness curves' extra passes (20 random orders). "total_per_k" is the re-generation cost of
the total effects per paired seed: (explanation with K re-samples − without) / K, for each K asked. The first seed
whose output has a reasoning block is used, so that sentences are measured too.
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
from vs2demo.evidence.options import ExplainOptions  # noqa: E402

PROMPT = "a red ball bouncing on a wooden floor"


def timed(ev: Evaluator, result, options: ExplainOptions) -> tuple[float, object]:
    start = time.perf_counter()
    done = explain(ev, result, options)
    return time.perf_counter() - start, done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smoke")
    ap.add_argument("--tokens", type=int, default=1024, help="max new tokens (official 1024)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--k", type=int, nargs="+", default=[2, 4], help="re-samples to time the total effects with")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results-explain.json"))
    args = ap.parse_args()
    clip = ensure_clip(ROOT / "bench" / "clips" / "5s_720p.mp4", 5.0, 24.0, (1280, 720))
    ev = Evaluator(args.model)
    info = ev.load()
    # the first seed whose output has a reasoning block (the smoke model's often has none), so sentences count too
    seed = next(s for s in range(100) if ev.score(str(clip), PROMPT, GenerationOptions(
        seed=s, max_new_tokens=args.tokens)).think)
    options = GenerationOptions(seed=seed, max_new_tokens=args.tokens)
    generate, forced, curves, per_k, last = [], [], [], {k: [] for k in args.k}, None
    for _ in range(args.repeats):  # interleaved: drift in the machine's speed hits all alike
        result = ev.score(str(clip), PROMPT, options)
        generate.append(result.timings.generate_s)
        t_forced, last = timed(ev, result, ExplainOptions(resamples=0, random_orders=0))
        forced.append(t_forced)
        curves.append(timed(ev, result, ExplainOptions(resamples=0))[0] - t_forced)
        for k in args.k:
            per_k[k].append((timed(ev, result, ExplainOptions(resamples=k, random_orders=0))[0] - t_forced) / k)
    conditions = 1 + 1 + 2 + 3  # unaltered, whole clip, two top seconds, three sanity probes
    figures = {"model": info.model_id, "device": info.device, "dtype": info.dtype, "seed": seed,
               "tokens": len(result.token_ids), "clip": "5 s 720p (10 frames at 2 fps)",
               "segments": len(last.segments), "sentences": len(last.sentences),
               "teacher_forced_passes": last.passes, "generate_s": min(generate), "teacher_forced_s": min(forced),
               "teacher_forced_over_generate": min(forced) / min(generate), "curves_extra_s": min(curves),
               "total_effect_conditions": conditions,
               **{f"total_effect_s_per_k_at_k{k}": min(v) for k, v in per_k.items()},
               **{f"total_effect_per_k_over_generate_at_k{k}": min(v) / min(generate) for k, v in per_k.items()},
               "consistency_max_diff": last.consistency_max_diff}
    for key, value in figures.items():
        print(f"{key:<40} {value:.4g}" if isinstance(value, float) else f"{key:<40} {value}")
    Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
