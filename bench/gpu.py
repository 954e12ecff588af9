"""GPU benchmark: the full-size VideoScore2 architecture with random bf16 weights, official procedure against ours.

    python bench/gpu.py                          # on one GPU: the public Qwen2.5-VL-7B shapes, bf16, no network
    python bench/gpu.py --scale tiny --device cpu --tokens 24 --out /tmp/gpu-proof.json   # the same path on CPU

Random weights never stop by themselves, so every generation is fixed-length (min = max new tokens). The
tokenizer and processor are the smoke model's: the real Qwen2.5-VL video-processor settings (14 px patches
merged 2×2, 2 frames per temporal patch) with a small vocabulary, whose ids fit the big one. Rows, measured
side by side in one run: the official procedure (generate(output_scores=True, return_dict_in_generate=True),
soft scores by re-decoding growing prefixes; also without the KV cache, as a checkpoint saved with
use_cache: false runs) against ours; time to first streamed token for a 5 s 720p and a 30 s 1080p clip; streamed
tokens/s at batch 1 against the weight-bytes / memory-bandwidth ceiling; peak memory; two clips and K=8 samples
against one; our overhead over a bare generate() on the same inputs; and the decode loop's ablation ladder
(bench/ladder.py: bare generate, + worker thread, + streaming, + digit recorder, + row sampler, the new loop,
+ static cache, + compiled), per-step medians over interleaved repeats, host waits and kernel launches per step,
and token identity. Explaining a result against generating it is measured by bench/explain.py.

    python bench/gpu.py --scale tiny --device cpu --ladder-only --tokens 24   # the ladder's CPU rows

The JSON always carries ``syncs_per_step`` (per rung) and ``tokens_identical`` (the compiled rung's tokens
against the eager new loop's).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import ladder  # noqa: E402
from tests.official import official_generate  # noqa: E402
from tests.synth import write_clip  # noqa: E402
from vs2demo.core.options import GenerationOptions  # noqa: E402
from vs2demo.engine.evaluator import Evaluator  # noqa: E402
from vs2demo.engine.events import Finished, Job, Status  # noqa: E402

PROMPT = "a red ball bouncing on a wooden floor"
# The public Qwen2.5-VL-7B-Instruct shapes (VideoScore2 is a fine-tune of it); "tiny" keeps the same structure.
SCALES = {
    "full": {"text": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                      "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
                      "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                          "mrope_section": [16, 24, 24]}},
             "vision": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                        "out_hidden_size": 3584, "fullatt_block_indexes": [7, 15, 23, 31]}},
    "tiny": {"text": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
                      "num_key_value_heads": 2, "vocab_size": 152064,
                      "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                          "mrope_section": [4, 6, 6]}},
             "vision": {"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "out_hidden_size": 128,
                        "fullatt_block_indexes": [1]}},
}
VISION_COMMON = {"patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
                 "tokens_per_second": 2, "in_chans": 3, "hidden_act": "silu"}
# Peak memory bandwidth by card (bytes/s), for the batch-1 decoding ceiling (weights read once per token).
BANDWIDTH = {"H200": 4.8e12, "H100": 3.35e12, "A100": 2.0e12, "L40S": 0.864e12, "A10G": 0.6e12, "L4": 0.3e12}


def build(scale: str, device: str, dtype_name: str):
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from vs2demo.engine.smoke import ensure_smoke_model

    processor = AutoProcessor.from_pretrained(ensure_smoke_model())
    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>",
                                                    "<|vision_end|>", "<|endoftext|>", "<|im_end|>")}
    shapes = SCALES[scale]
    config = Qwen2_5_VLConfig(
        text_config={**shapes["text"], "max_position_embeddings": 128000, "rms_norm_eps": 1e-6,
                     "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
                     "pad_token_id": ids["<|endoftext|>"]},
        vision_config={**shapes["vision"], **VISION_COMMON}, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)
    dtype = getattr(torch, dtype_name)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # weights are made in bf16, directly on the device: no fp32 copy, no disk
    try:
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.7
    return model.eval(), processor


def clips(folder: Path, scale: str) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    specs = {"5s_720p": (5.0, 24.0, (1280, 720)), "5s_720p_b": (5.0, 25.0, (1280, 720)),
             "30s_1080p": (30.0, 30.0, (1920, 1080))}
    if scale == "tiny":  # the CPU proof: same path, small clips
        specs = {"5s_720p": (2.0, 24.0, (320, 240)), "5s_720p_b": (2.0, 25.0, (320, 240)),
                 "30s_1080p": (3.0, 24.0, (352, 288))}
    out = {}
    for name, (seconds, fps, size) in specs.items():
        path = folder / f"{scale}_{name}.mp4"
        if not path.exists():
            write_clip(path, seconds, fps, size)
        out[name] = path
    return out


class Clock:
    def __init__(self, device: str) -> None:
        import torch

        self.torch, self.cuda = torch, device.startswith("cuda")

    def __call__(self) -> float:
        if self.cuda:
            self.torch.cuda.synchronize()
        return time.perf_counter()


def run_stream(ev: Evaluator, jobs: list[Job], options: GenerationOptions, clock: Clock) -> dict:
    """One evaluation through the public stream. Time to first token counts from the request: probing, decoding,
    preprocessing, then generate()'s own first token (the random model's ids mostly lie outside the small
    tokenizer and decode to no text, so the first *token*, not the first piece of text, is timed)."""
    start = clock()
    thinking = done = None
    for event in ev.stream(jobs, options):
        if isinstance(event, Status) and event.message.startswith("Thinking") and thinking is None:
            thinking = clock() - start
        elif isinstance(event, Finished):
            done = event
    wall = clock() - start
    t = done.results[0].timings
    return {"wall_s": wall, "ttft_s": None if t.ttft_s is None else thinking + t.ttft_s, "generate_s": t.generate_s,
            "tokens": t.new_tokens, "tokens_per_s": t.new_tokens / t.generate_s}


class Figures(dict):
    """The figures so far, rewritten to ``path`` after each one: a run cut short still leaves what it measured."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def __setitem__(self, key: str, value: object) -> None:
        super().__setitem__(key, value)
        print(f"{key:<32} {value:.4g}" if isinstance(value, float) else f"{key:<32} {value}", flush=True)
        self.path.write_text(json.dumps(self, indent=2))

    def best(self, key: str, value: float) -> None:
        """Keep the smallest of repeated timings: on a launch-bound GPU the noise only ever adds time."""
        self[key] = min(value, self.get(key, value))


def measure(ev: Evaluator, paths: dict[str, Path], tokens: int, nocache_tokens: int, device: str, out: Figures,
            repeats: int) -> None:
    import torch

    clock = Clock(device)
    fixed = GenerationOptions(seed=0, max_new_tokens=tokens, min_new_tokens=tokens)
    one = [Job(str(paths["5s_720p"]), PROMPT)]
    prepared, _ = ev.prepare(str(paths["5s_720p"]))
    inputs = {k: v.to(ev.model.device) if hasattr(v, "to") else v
              for k, v in ev.model_inputs([prepared], [PROMPT]).items()}
    inputs["pixel_values_videos"] = inputs["pixel_values_videos"].to(ev.model.dtype)

    def bare(n: int) -> float:
        with torch.inference_mode():
            torch.manual_seed(0)
            start = clock()
            ev.model.generate(**inputs, do_sample=True, temperature=0.7, max_new_tokens=n, min_new_tokens=n,
                              use_cache=True)
            return clock() - start

    short = replace(fixed, max_new_tokens=8, min_new_tokens=8)
    two = [*one, Job(str(paths["5s_720p_b"]), PROMPT)]
    # warm-up (kernels, cache; with compiled decode, every batch size timed below is compiled here, not timed)
    for jobs, options in ((one, short), (two, short), (one, replace(short, samples=8))):
        run_stream(ev, jobs, options, clock)
    bare(8)
    ev.cache.clear()
    out["ttft_5s_720p_s"] = run_stream(ev, one, replace(fixed, max_new_tokens=4, min_new_tokens=4), clock)["ttft_s"]
    out["ttft_30s_1080p_s"] = run_stream(ev, [Job(str(paths["30s_1080p"]), PROMPT)],
                                         replace(fixed, max_new_tokens=4, min_new_tokens=4), clock)["ttft_s"]
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeats):  # interleaved, so that drift in the machine's speed hits every row alike
        ours = run_stream(ev, one, fixed, clock)
        for key in ("wall_s", "generate_s"):
            out.best(f"ours_{key}", ours[key])
        out["ours_tokens"] = ours["tokens"]
        out["ours_tokens_per_s"] = out["ours_tokens"] / out["ours_generate_s"]
        out.best("bare_generate_s", bare(tokens))
        start = clock()
        official_generate(ev.model, ev.processor, inputs, seed=0, max_new_tokens=tokens, min_new_tokens=tokens)
        out.best("official_s", clock() - start)
    if device.startswith("cuda"):
        out["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 1e9
    start = clock()
    official_generate(ev.model, ev.processor, inputs, seed=0, max_new_tokens=nocache_tokens,
                      min_new_tokens=nocache_tokens, use_cache=False)
    out["official_nocache_s_per_token"] = (clock() - start) / nocache_tokens
    out["two_clips_wall_s"] = run_stream(ev, two, fixed, clock)["wall_s"]
    out["k8_samples_wall_s"] = run_stream(ev, one, replace(fixed, samples=8), clock)["wall_s"]


def measure_ladder(ev: Evaluator, paths: dict[str, Path], tokens: int, device: str, out: Figures, repeats: int,
                   steps_ceiling: float | None) -> None:
    """The ablation ladder on the 5 s 720p clip at batch 1 (bench/ladder.py)."""
    prepared, _ = ev.prepare(str(paths["5s_720p"]))
    inputs = {k: v.to(ev.model.device) if hasattr(v, "to") else v
              for k, v in ev.model_inputs([prepared], [PROMPT]).items()}
    inputs["pixel_values_videos"] = inputs["pixel_values_videos"].to(ev.model.dtype)
    ctx = ladder.Context(ev.engine, inputs, tokens, device.startswith("cuda"), ev.engine.decode_thread)
    rows = ladder.measure(ctx, ladder.RUNGS, repeats, steps_ceiling, lambda key, value: print(key, value, flush=True))
    out["tokens_identical"] = rows.pop("tokens_identical")
    out["syncs_per_step"] = {name: row["syncs_per_step"] for name, row in rows.items()}
    out["ladder"] = rows
    out["ladder_repeats"] = repeats


def ceiling(model, device: str) -> tuple[str, float | None]:
    import torch

    if not device.startswith("cuda"):
        return "cpu", None
    name = torch.cuda.get_device_name()
    bandwidth = next((bw for card, bw in BANDWIDTH.items() if card in name), None)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return name, None if bandwidth is None else bandwidth / weight_bytes


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="full")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats of ours, bare and official (best kept)")
    ap.add_argument("--nocache-tokens", type=int, default=32, help="tokens for the no-KV-cache official run")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results-gpu.json"))
    ap.add_argument("--clips", default=str(ROOT / "bench" / "clips"), help="synthetic clips' folder (made if absent)")
    ap.add_argument("--ladder-repeats", type=int, default=5, help="interleaved repeats of the ablation ladder")
    ap.add_argument("--ladder-only", action="store_true", help="measure the ablation ladder only")
    args = ap.parse_args()
    start = time.perf_counter()
    model, processor = build(args.scale, args.device, args.dtype)
    ev = Evaluator("smoke")
    info = ev.use(model, processor, f"random Qwen2.5-VL-7B architecture ({args.scale})")
    card, steps_ceiling = ceiling(model, args.device)
    figures = Figures(Path(args.out))
    figures.update({"card": card, "scale": args.scale, "dtype": info.dtype, "tokens": args.tokens,
                    "repeats": args.repeats, "torch_threads": torch.get_num_threads(),
                    "parameters_b": sum(p.numel() for p in model.parameters()) / 1e9,
                    "ceiling_tokens_per_s": steps_ceiling, "explain_vs_generate": "see bench/explain.py"})
    paths = clips(Path(args.clips), args.scale)
    measure_ladder(ev, paths, args.tokens, args.device, figures, args.ladder_repeats, steps_ceiling)
    if not args.ladder_only:
        measure(ev, paths, args.tokens, args.nocache_tokens, args.device, figures, args.repeats)
        if steps_ceiling:
            figures["share_of_ceiling"] = figures["ours_tokens_per_s"] / steps_ceiling
        figures["ours_over_bare"] = figures["ours_generate_s"] / figures["bare_generate_s"]
        figures["ours_over_official"] = figures["ours_wall_s"] / figures["official_s"]
        figures["two_clips_over_one"] = figures["two_clips_wall_s"] / figures["ours_wall_s"]
        figures["k8_over_one"] = figures["k8_samples_wall_s"] / figures["ours_wall_s"]
    figures["seconds_total"] = time.perf_counter() - start

if __name__ == "__main__":
    main()
