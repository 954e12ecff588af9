"""ZeroGPU: how much of the time inside the GPU lease is spent in the model, before and after moving the CPU work
(probing, decoding, preprocessing) out of the leased function. CPU and the smoke model by default.

    python bench/zerogpu.py [--model smoke] [--tokens 256] [--out bench/results-zerogpu.json]

"Before" runs the whole evaluation inside the lease, as the app did; "after" runs what the lease now holds
(generation from a prepared clip). Each starts from an empty clip cache, so the decoding is really done.
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
from vs2demo.engine.events import Job  # noqa: E402

PROMPT = "a red ball bouncing on a wooden floor"


class GenerateClock:
    """Adds up the time spent inside model.generate."""

    def __init__(self, ev: Evaluator) -> None:
        self.seconds = 0.0
        real = ev.model.generate

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        ev.model.generate = timed


def share(ev: Evaluator, clock: GenerateClock, clip: Path, options: GenerationOptions, before: bool) -> dict:
    ev.cache.clear()
    jobs = [Job(str(clip), PROMPT)]
    clock.seconds = 0.0
    if before:  # everything inside the lease
        start = time.perf_counter()
        for _event in ev.stream(jobs, options):
            pass
        inside = time.perf_counter() - start
    else:  # the CPU half outside, then the lease
        prepare = ev.prepare_stream(jobs, options)
        try:
            while True:
                next(prepare)
        except StopIteration as done:
            ready = done.value
        start = time.perf_counter()
        for _event in ev.generate_stream(jobs, options, [r.by_key() for r in ready]):
            pass
        inside = time.perf_counter() - start
    return {"inside_s": round(inside, 3), "model_s": round(clock.seconds, 3),
            "model_share": round(clock.seconds / inside, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smoke")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results-zerogpu.json"))
    args = ap.parse_args()
    clip = ensure_clip(ROOT / "bench" / "clips" / "5s_720p.mp4", 5.0, 24.0, (1280, 720))
    ev = Evaluator(args.model)
    ev.load()
    clock = GenerateClock(ev)
    options = GenerationOptions(seed=0, max_new_tokens=args.tokens, min_new_tokens=args.tokens)
    share(ev, clock, clip, options, before=False)  # warm-up
    runs = {"before": [], "after": []}
    for _ in range(3):
        for name in runs:
            runs[name].append(share(ev, clock, clip, options, before=name == "before"))
    best = {name: min(r, key=lambda x: x["inside_s"]) for name, r in runs.items()}
    result = {"clip": "5 s 720p", "tokens": args.tokens, "device": ev.info.device, "model": ev.info.model_id, **best}
    print(json.dumps(result, indent=2))
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
