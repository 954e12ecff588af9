"""Prove that vs2demo's model inputs (transformers 5) equal those of the official procedure (transformers 4.53.2).

The official VideoScore2 script pins transformers 4.53.2; the demo runs on transformers 5. This script builds
the model inputs for a few synthetic clips both ways and compares them tensor by tensor with ``torch.equal``:

* OURS, in this process (transformers 5): ``Evaluator.prepare`` + ``Evaluator.model_inputs``, and the 3D mrope
  position ids from the loaded model's ``get_rope_index`` (what ``generate`` computes from those inputs).
* OFFICIAL, in a child process run with another interpreter (transformers 4.53.2, qwen-vl-utils 0.0.14):
  ``process_vision_info`` + ``processor(..., fps=2.0)`` exactly as ``vs2_inference.py`` calls them, and the
  position ids from 4.53.2's ``get_rope_index``. The child never imports vs2demo: the user text comes from
  the parent as data.

Both sides use the smoke model (tiny Qwen2.5-VL weights and the same processor settings as the real one), so
this runs on a CPU in about a minute. Usage, from the repository root::

    .venv/bin/python scripts/check_fidelity.py [--official-python /work/venv-official/bin/python] [--out DIR]

Prints a table and ``ALL EQUAL`` (exit 0) or ``MISMATCH`` (exit 1); exit 2 when a side cannot run at all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OFFICIAL_PYTHON = "/work/venv-official/bin/python"
FPS = 2.0  # the official frame rate, in the video item and in the processor call
COMPARED = ("input_ids", "attention_mask", "pixel_values_videos", "video_grid_thw", "second_per_grid_ts",
            "rope_position_ids", "rope_deltas")


@dataclass(frozen=True)
class ClipSpec:
    name: str
    seconds: float
    fps: float
    size: tuple[int, int]  # (width, height)
    prompt: str
    why: str


CLIPS: tuple[ClipSpec, ...] = (
    ClipSpec("5s_1280x720_24", 5.0, 24.0, (1280, 720), "a red ball bouncing on a wooden floor",
             "the spec's worked example: 10 frames at 1008x560"),
    ClipSpec("2s_320x240_30", 2.0, 30.0, (320, 240), "a cat jumping onto a sofa", "small frames, scaled up"),
    ClipSpec("7.3s_640x360_25", 7.3, 25.0, (640, 360), "一只熊猫在吃竹子", "fractional length, non-ASCII prompt"),
    ClipSpec("0.5s_176x144_30", 0.5, 30.0, (176, 144), 'a glass of water tipping over, $5 {price} "quoted"',
             "few frames (min 4), odd size, $ and braces in the prompt"),
    ClipSpec("3s_360x640_12", 3.0, 12.0, (360, 640), "a dog running in the snow", "portrait, low native fps"),
    # Long enough that the last temporal position, (T-1) * tokens_per_second * second_per_grid_t = 19 * 2 * 1.0
    # = 38, passes the larger spatial grid side (23 merged patches): this probes where the text after the
    # video starts, which transformers 4.53.2 and 5.x compute differently (max of all vision positions + 1
    # in 4.53.2; start + max(grid_h, grid_w) in 5.x).
    ClipSpec("20s_640x360_10", 20.0, 10.0, (640, 360), "timelapse of clouds over mountains",
             "long clip: temporal positions pass the spatial ones"),
)

# ---- the official side: a child process under transformers 4.53.2 ---------------------------------------------

# Run as `<official python> child.py job.json`. Kept free of vs2demo imports: it must be what a user of the
# official script gets, built from the official packages alone.
CHILD_CODE = r'''
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path

import torch
import transformers
from qwen_vl_utils import process_vision_info
from qwen_vl_utils.vision_process import get_video_reader_backend
from transformers import (Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, Qwen2TokenizerFast,
                          Qwen2VLImageProcessor)
from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

job = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
src, work = Path(job["smoke_dir"]), Path(job["work_dir"])
fps = job["fps"]
workarounds = []

# Processor. The smoke folder was saved by transformers 5: processor_config.json with nested image/video
# processor settings, tokenizer_class "TokenizersBackend", extra_special_tokens as a list. 4.53.2's
# AutoProcessor wants preprocessor_config.json and a tokenizer class it knows, so the processor is built
# from its pieces: the tokenizer from tokenizer.json, the 4.53.2 image and video processors with their
# defaults (checked below against the saved settings), the chat template from chat_template.jinja.
try:
    processor = transformers.AutoProcessor.from_pretrained(src)
except Exception as exc:
    tok_cfg = json.loads((src / "tokenizer_config.json").read_text())
    specials = tok_cfg.get("extra_special_tokens") or tok_cfg.get("additional_special_tokens") or []
    tokenizer = Qwen2TokenizerFast(
        vocab_file=None, merges_file=None, tokenizer_file=str(src / "tokenizer.json"), unk_token=None,
        eos_token=tok_cfg["eos_token"], pad_token=tok_cfg["pad_token"], additional_special_tokens=list(specials),
        model_max_length=tok_cfg["model_max_length"],
    )
    video_processor = Qwen2VLVideoProcessor()
    saved = json.loads((src / "processor_config.json").read_text())["video_processor"]
    for key in ("image_mean", "image_std", "rescale_factor", "patch_size", "temporal_patch_size", "merge_size",
                "resample", "size"):
        ours = getattr(video_processor, key)
        if json.loads(json.dumps(ours)) != saved[key]:
            raise SystemExit(f"4.53.2 video processor default {key}={ours!r} differs from the saved {saved[key]!r}")
    processor = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer,
                                    video_processor=video_processor,
                                    chat_template=(src / "chat_template.jinja").read_text())
    workarounds.append(
        f"processor: AutoProcessor (4.53.2) cannot read the transformers-5 files ({type(exc).__name__}: "
        f"{str(exc).split('. ')[0]}); built from pieces: Qwen2TokenizerFast(tokenizer.json), "
        "Qwen2VLImageProcessor() and Qwen2VLVideoProcessor() defaults (equal to the saved video settings), "
        "chat_template.jinja")

# Model (only its config matters for get_rope_index, but load it as the official script would). transformers 5
# writes text_config.rope_parameters; 4.53.2 reads rope_theta and rope_scaling {"type": "mrope", ...}, and reads
# tie_word_embeddings from the text config. A patched copy of config.json sits next to links to the weights.
config = json.loads((src / "config.json").read_text())
text_cfg = config["text_config"]
if "rope_parameters" in text_cfg and "rope_scaling" not in text_cfg:
    rope = text_cfg.pop("rope_parameters")
    text_cfg["rope_theta"] = rope["rope_theta"]
    text_cfg["rope_scaling"] = {"type": "mrope", "mrope_section": rope["mrope_section"]}
    text_cfg.setdefault("tie_word_embeddings", config.get("tie_word_embeddings", False))
    config.get("vision_config", {}).pop("rope_parameters", None)
    workarounds.append("model: config.json patched in a temporary copy (text_config.rope_parameters -> rope_theta "
                       "+ rope_scaling {type: mrope, mrope_section}; tie_word_embeddings copied into text_config)")
model_dir = work / "official-model"
model_dir.mkdir(exist_ok=True)
(model_dir / "config.json").write_text(json.dumps(config, indent=2))
for name in os.listdir(src):
    if name != "config.json" and not (model_dir / name).exists():
        os.symlink(src / name, model_dir / name)
model, info = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, output_loading_info=True)
model.eval()
if any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")):
    raise SystemExit(f"4.53.2 did not load the smoke weights cleanly: {info}")
# 4.53.2 keeps get_rope_index on the inner Qwen2_5_VLModel (model.model); older releases had it on the top level.
rope_owner = model.model if hasattr(model.model, "get_rope_index") else model

results = {}
for clip in job["clips"]:
    # vs2_inference.py, step by step
    messages = [{"role": "user", "content": [
        {"type": "video", "video": clip["path"], "fps": fps},
        {"type": "text", "text": clip["user_text"]},
    ]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image_inputs, video_inputs = process_vision_info(messages)
    inputs = processor(text=[text], images=image_inputs, videos=video_inputs, fps=fps, padding=True,
                       return_tensors="pt")
    with torch.no_grad():
        position_ids, deltas = rope_owner.get_rope_index(
            inputs["input_ids"], None, inputs["video_grid_thw"], inputs["second_per_grid_ts"],
            inputs["attention_mask"])
    tensors = {k: inputs[k] for k in ("input_ids", "attention_mask", "pixel_values_videos", "video_grid_thw",
                                      "second_per_grid_ts")}
    tensors["rope_position_ids"], tensors["rope_deltas"] = position_ids, deltas
    results[clip["name"]] = tensors
    print(f"official: {clip['name']} done", file=sys.stderr, flush=True)

torch.save({
    "versions": {"python": sys.version.split()[0], "torch": str(torch.__version__),
                 "transformers": transformers.__version__,
                 "qwen_vl_utils": version("qwen-vl-utils")},
    "video_reader": get_video_reader_backend(),
    "workarounds": workarounds,
    "clips": results,
}, job["out"])
'''


def run_official(python: str, smoke_dir: Path, work: Path, jobs: list[dict[str, str]],
                 log: IO[str]) -> subprocess.Popen:
    """Start the 4.53.2 child; it writes its tensors to work/official.pt and its output to ``log``."""
    (work / "child.py").write_text(CHILD_CODE, encoding="utf-8")
    job = {"smoke_dir": str(smoke_dir), "work_dir": str(work), "fps": FPS, "clips": jobs,
           "out": str(work / "official.pt")}
    (work / "job.json").write_text(json.dumps(job, ensure_ascii=False, indent=2), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)  # nothing of this environment may leak into the official one
    return subprocess.Popen([python, str(work / "child.py"), str(work / "job.json")], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


# ---- our side: vs2demo under transformers 5, in this process ----------------------------------------------------


def rope_ids(model: Any, inputs: dict[str, Any]) -> tuple[Any, Any]:
    """The 3D position ids and deltas generate() computes (transformers 5 needs mm_token_type_ids)."""
    import torch

    with torch.no_grad():
        return model.model.get_rope_index(
            inputs["input_ids"], mm_token_type_ids=inputs["mm_token_type_ids"], image_grid_thw=None,
            video_grid_thw=inputs["video_grid_thw"], second_per_grid_ts=inputs["second_per_grid_ts"],
            attention_mask=inputs["attention_mask"])


def our_tensors(ev: Any, path: str, prompt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(our tensors, facts about the clip) from the engine exactly as the app uses it."""
    clip, _ = ev.prepare(path)
    inputs = ev.model_inputs([clip], [prompt])
    tensors = {k: inputs[k] for k in COMPARED[:5]}
    tensors["rope_position_ids"], tensors["rope_deltas"] = rope_ids(ev.model, inputs)
    plan = clip.frames.plan
    facts = {"frames": len(plan.indices), "resized": [plan.resized_width, plan.resized_height],
             "native": [plan.info.width, plan.info.height, round(plan.info.native_fps, 3), plan.info.total_frames],
             "visual_tokens": plan.visual_tokens}
    return tensors, facts


def naive_tensors(ev: Any, path: str, prompt: str) -> dict[str, Any]:
    """The official call as written (no video metadata), run under transformers 5: the spec's trap."""
    import torch

    from tests.official import official_inputs

    inputs = dict(official_inputs(ev.processor, path, prompt, FPS))
    if "mm_token_type_ids" not in inputs:
        ids = inputs["input_ids"].tolist()
        inputs["mm_token_type_ids"] = torch.tensor(ev.processor.create_mm_token_type_ids(ids))
    tensors = {k: inputs[k] for k in COMPARED[:5]}
    tensors["rope_position_ids"], tensors["rope_deltas"] = rope_ids(ev.model, inputs)
    return tensors


# ---- comparison --------------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    clip: str
    tensor: str
    equal: bool
    shape_ours: list[int]
    shape_official: list[int]
    dtype_ours: str
    dtype_official: str
    max_abs_diff: float | None  # None when the shapes differ
    detail: str = ""


def compare(clip: str, name: str, ours: Any, ref: Any) -> Comparison:
    """Strict equality: same shape, same dtype, same values (torch.equal)."""
    import torch

    same_shape = tuple(ours.shape) == tuple(ref.shape)
    equal = same_shape and ours.dtype == ref.dtype and torch.equal(ours, ref)
    diff: float | None = None
    detail = ""
    if same_shape:
        delta = (ours.double() - ref.double()).abs()
        diff = float(delta.max()) if delta.numel() else 0.0
        if not equal and diff > 0:
            bad = (delta > 0).nonzero()
            first = tuple(int(i) for i in bad[0])
            detail = (f"{len(bad)} of {delta.numel()} elements differ; first at index {first}: "
                      f"ours {ours[first].item():g}, official {ref[first].item():g}")
        elif not equal:
            detail = f"dtype ours {ours.dtype} vs official {ref.dtype}"
    else:
        detail = "shapes differ"
    return Comparison(clip, name, equal, list(ours.shape), list(ref.shape), str(ours.dtype).removeprefix("torch."),
                      str(ref.dtype).removeprefix("torch."), diff, detail)


def _shape(shape: list[int]) -> str:
    return "x".join(map(str, shape)) or "scalar"


def format_table(rows: list[Comparison]) -> str:
    head = ("clip", "tensor", "equal", "shape ours", "shape official", "max |diff|")
    body = [(r.clip, r.tensor, "yes" if r.equal else "NO", _shape(r.shape_ours), _shape(r.shape_official),
             "n/a" if r.max_abs_diff is None else f"{r.max_abs_diff:g}") for r in rows]
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(head), line(tuple("-" * w for w in widths)), *(line(row) for row in body)])


@dataclass
class Summary:
    all_equal: bool
    versions: dict[str, Any]
    video_reader_official: str
    workarounds: list[str]
    clips: list[dict[str, Any]]
    comparisons: list[dict[str, Any]]
    naive_transformers5: list[dict[str, Any]]
    timings_s: dict[str, float] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official-python", default=DEFAULT_OFFICIAL_PYTHON,
                        help="interpreter of the environment with transformers 4.53.2 and qwen-vl-utils")
    parser.add_argument("--out", type=Path, help="folder for summary.json (created if missing)")
    parser.add_argument("--clip", action="append", choices=[c.name for c in CLIPS],
                        help="check only this clip (repeatable; default: all)")
    args = parser.parse_args(argv)
    clips = [c for c in CLIPS if not args.clip or c.name in args.clip]

    start = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(ROOT))  # run as scripts/check_fidelity.py: make vs2demo importable
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()  # the weight-loading bar; warnings stay on
    from tests.synth import write_clip
    from vs2demo.engine.evaluator import Evaluator
    from vs2demo.engine.smoke import ensure_smoke_model
    from vs2demo.input.prompt import user_text

    if not Path(args.official_python).exists():
        print(f"error: no official interpreter at {args.official_python}", file=sys.stderr)
        return 2
    smoke = ensure_smoke_model()
    timings: dict[str, float] = {"smoke_model": time.perf_counter() - start}

    with tempfile.TemporaryDirectory(prefix="vs2-fidelity-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        paths = {c.name: str(write_clip(work / f"{c.name}.mp4", c.seconds, c.fps, c.size)) for c in clips}
        timings["write_clips"] = time.perf_counter() - t0

        # The child runs while this process prepares its own side (two interpreters, two cores).
        t0 = time.perf_counter()
        jobs = [{"name": c.name, "path": paths[c.name], "user_text": user_text(c.prompt)} for c in clips]
        log = (work / "official.log").open("w", encoding="utf-8")
        child = run_official(args.official_python, smoke, work, jobs, log)

        ev = Evaluator(model=str(smoke), device="cpu", dtype="float32")
        ev.load()
        ours: dict[str, dict[str, Any]] = {}
        facts: dict[str, dict[str, Any]] = {}
        naive: dict[str, dict[str, Any]] = {}
        for c in clips:
            ours[c.name], facts[c.name] = our_tensors(ev, paths[c.name], c.prompt)
            naive[c.name] = naive_tensors(ev, paths[c.name], c.prompt)
        timings["ours_transformers5"] = time.perf_counter() - t0

        rc = child.wait()
        log.close()
        timings["official_transformers4_wall"] = time.perf_counter() - t0
        if rc != 0 or not (work / "official.pt").exists():
            output = (work / "official.log").read_text(encoding="utf-8", errors="replace")
            print(f"error: the official child failed (exit {rc}); its output:\n{output[-4000:]}", file=sys.stderr)
            return 2
        official = torch.load(work / "official.pt", weights_only=True)

    rows: list[Comparison] = []
    for c in clips:
        rows += [compare(c.name, k, ours[c.name][k], official["clips"][c.name][k]) for k in COMPARED]
    naive_rows = [compare(c.name, k, naive[c.name][k], official["clips"][c.name][k]) for c in clips for k in COMPARED]
    all_equal = all(r.equal for r in rows)

    versions = {"ours": {"python": sys.version.split()[0], "torch": str(torch.__version__),
                         "transformers": transformers.__version__},
                "official": official["versions"]}
    print(f"ours:     transformers {transformers.__version__}, torch {torch.__version__} (vs2demo Evaluator)")
    ov = official["versions"]
    print(f"official: transformers {ov['transformers']}, torch {ov['torch']}, qwen-vl-utils {ov['qwen_vl_utils']} "
          f"(video reader: {official['video_reader']})")
    print(f"model:    smoke model at {smoke}")
    for w in official["workarounds"]:
        print(f"workaround (official side): {w}")
    print()
    for c in clips:
        f = facts[c.name]
        print(f"clip {c.name}: {c.seconds:g} s {c.size[0]}x{c.size[1]} @{c.fps:g} -> {f['frames']} frames at "
              f"{f['resized'][0]}x{f['resized'][1]}, {f['visual_tokens']} visual tokens ({c.why})")
    print()
    print(format_table(rows))
    mismatches = [r for r in rows if not r.equal]
    for r in mismatches:
        print(f"mismatch: {r.clip} {r.tensor}: {r.detail}")

    print()
    print("note (information, not a failure): the official call as written, run under transformers "
          f"{transformers.__version__} (tests.official.official_inputs, no video metadata):")
    for c in clips:
        differ = [r.tensor for r in naive_rows if r.clip == c.name and not r.equal]
        spg = naive[c.name]["second_per_grid_ts"].tolist()
        ref = official["clips"][c.name]["second_per_grid_ts"].tolist()
        print(f"  {c.name}: second_per_grid_ts {[round(x, 4) for x in spg]} (official {ref}); differs from "
              f"official in: {', '.join(differ) or 'nothing'}")

    timings["total"] = time.perf_counter() - start
    print()
    print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        summary = Summary(
            all_equal=all_equal, versions=versions, video_reader_official=official["video_reader"],
            workarounds=official["workarounds"],
            clips=[{**asdict(c), **facts[c.name]} for c in clips],
            comparisons=[asdict(r) for r in rows], naive_transformers5=[asdict(r) for r in naive_rows],
            timings_s={k: round(v, 2) for k, v in timings.items()},
        )
        (args.out / "summary.json").write_text(json.dumps(asdict(summary), ensure_ascii=False, indent=2) + "\n")
        print(f"summary: {args.out / 'summary.json'}")
    print("ALL EQUAL" if all_equal else "MISMATCH")
    return 0 if all_equal else 1


if __name__ == "__main__":
    sys.exit(main())
