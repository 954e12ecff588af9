"""The evaluator: VideoScore2 loaded lazily and once, shared by every caller, and one evaluation's orchestration.

Nothing here imports gradio. Inputs live in ``engine.inputs``, generation on its worker thread in
``engine.generation``, the digit recorder in ``engine.digits``, result assembly in ``analysis.result``;
``Evaluator.stream`` ties them together and yields the events of ``engine.events``, which the CLI, the page and
the benchmark all consume.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

from vs2demo.analysis.result import ModelInfo, Result, Timings, build_result
from vs2demo.core.dimensions import SCORE_VALUES
from vs2demo.core.errors import GenerationError, ModelLoadError, VS2Error
from vs2demo.core.options import (
    OFFICIAL_FPS,
    SMOKE_MODEL,
    GenerationOptions,
    Limits,
    cache_mb_from_env,
    dtype_from_env,
    model_from_env,
    sample_seed,
)
from vs2demo.engine import rope
from vs2demo.engine.batching import chunks, free_bytes, model_row_bytes, rows_per_chunk
from vs2demo.engine.decode_thread import DecodeThread
from vs2demo.engine.digits import DigitRecorder
from vs2demo.engine.events import Event, Finished, FramesReady, Job, Planned, Status
from vs2demo.engine.generation import (
    GenerationSummary,
    RowDecoder,
    RowKey,
    Sampling,
    row_digit_logprobs,
    stream_generate,
)
from vs2demo.engine.hf_internals import run_marked_processors_last
from vs2demo.engine.inputs import ClipCache, ClipKey, PreparedClip, ReadyClip, file_digest, model_inputs, video_inputs
from vs2demo.input.framing import FramePlan, plan_frames
from vs2demo.input.prompt import validate_prompt
from vs2demo.input.video import probe, read_frames, thumbnail_array

log = logging.getLogger(__name__)


def _file_identity(path: str, fps: float) -> tuple | None:
    """What makes a plan reusable: the same file, unchanged, at the same fps (None: let probe explain)."""
    try:
        st = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, fps


def pick_device_dtype(device: str | None = None, dtype: str | None = None) -> tuple[str, str]:
    """bf16 on a GPU (the training dtype; fp16 where bf16 is missing), fp32 on CPU."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        if device.startswith("cuda"):
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "float32"
    return device, dtype


class Evaluator:
    """VideoScore2 behind a lock: loaded lazily and once, shared by every caller."""

    CACHE_CLIPS = 4  # prepared clips kept, at most; their total size is bounded by cache_mb too
    PLANS_KEPT = 64  # frame plans remembered by file identity, so one Evaluate probes its clip once

    def __init__(self, model: str | None = None, device: str | None = None, dtype: str | None = None,
                 limits: Limits | None = None, cache_mb: float | None = None) -> None:
        self.model_id = model_from_env(model)
        self._device, self._dtype = device, dtype_from_env(dtype)  # None: bf16 on GPUs, float32 on CPU
        self.limits = limits or Limits()
        self._load_lock = threading.Lock()
        self.generation_lock = threading.Lock()  # one generation at a time on the shared model
        self.cache = ClipCache(self.CACHE_CLIPS, int(cache_mb_from_env(cache_mb) * 1e6))
        self._plans: OrderedDict[tuple, FramePlan] = OrderedDict()
        self._plans_lock = threading.Lock()
        self.model: Any = None
        self.processor: Any = None
        self.info: ModelInfo | None = None
        self.decode_thread: DecodeThread | None = None  # one per loaded model, for its lifetime (decode_thread.py)

    # -- loading --

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def load(self) -> ModelInfo:
        with self._load_lock:
            if self.info is None:
                self.info = self._load()
            return self.info

    def _load(self) -> ModelInfo:
        import torch
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        start = time.perf_counter()
        device, dtype = pick_device_dtype(self._device, self._dtype)
        path = self._resolve_path()
        try:
            processor = AutoProcessor.from_pretrained(path)
            model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=getattr(torch, dtype))
            model.to(device).eval()
        except torch.OutOfMemoryError as exc:
            raise ModelLoadError(f"Out of memory loading {self.model_id} on {device} in {dtype}: free memory, use a "
                                 "larger GPU, or try --model smoke for a tiny offline test model.") from exc
        except Exception as exc:  # hub errors, missing files, bad configs: one actionable line, the cause chained
            raise ModelLoadError(
                f"Cannot load model {self.model_id!r}: {_first_line(exc)}. Check the hub id or local folder and "
                "your network (offline, set HF_HUB_OFFLINE=1 with a cached copy), or use --model smoke.") from exc
        self._install(model, processor)
        smoke = self.model_id == SMOKE_MODEL or (Path(path) / "SMOKE_MODEL").exists()
        return ModelInfo(self.model_id, device, dtype, smoke, time.perf_counter() - start)

    def _install(self, model: Any, processor: Any) -> None:
        rope.install(model)  # transformers 4.53.2's positions for long clips (see rope.py)
        run_marked_processors_last(model)  # p(1..5) from the scores generate() samples (digits.py)
        processor.tokenizer.padding_side = "left"  # generation continues on the right
        self.model, self.processor = model, processor
        if self.decode_thread is None:
            self.decode_thread = DecodeThread()

    def use(self, model: Any, processor: Any, description: str) -> ModelInfo:
        """Serve a model built elsewhere (the GPU benchmark builds the full architecture with random weights),
        prepared exactly as ``load`` prepares a checkpoint. Its results are labelled like the smoke model's."""
        with self._load_lock:
            self._install(model, processor)
            dtype = str(model.dtype).removeprefix("torch.")
            self.info = ModelInfo(description, str(model.device), dtype, True, 0.0)
            return self.info

    def _resolve_path(self) -> str:
        if self.model_id == SMOKE_MODEL:
            from vs2demo.engine.smoke import ensure_smoke_model

            return str(ensure_smoke_model())
        return self.model_id

    # -- inputs --

    def plan(self, video: str, fps: float = OFFICIAL_FPS) -> FramePlan:
        """The frame plan for a clip: cheap, no model needed, refuses bad files with InputError.

        Remembered by the file's identity (path, inode, size, modification time), so the page's check before a
        run, the run itself and its thumbnails probe the clip once; a rewritten file is probed again."""
        key = _file_identity(video, fps)
        if key is not None:
            with self._plans_lock:
                if key in self._plans:
                    self._plans.move_to_end(key)
                    return self._plans[key]
        plan = plan_frames(probe(video, self.limits), fps)
        if key is not None:
            with self._plans_lock:
                self._plans[key] = plan
                while len(self._plans) > self.PLANS_KEPT:
                    self._plans.popitem(last=False)
        return plan

    def prepare(self, video: str, fps: float = OFFICIAL_FPS, plan: FramePlan | None = None,
                key: ClipKey | None = None) -> tuple[PreparedClip, bool]:
        """Frames and video tensors for a clip, reused when the same bytes come again at the same fps."""
        key = key or (file_digest(video), fps)
        hit = self.cache.get(key)
        if hit is not None:
            return hit, True
        frames = read_frames(plan or self.plan(video, fps))
        start = time.perf_counter()
        tensors = video_inputs(self.processor, frames)
        prepared = PreparedClip(frames, tensors, time.perf_counter() - start)
        self.cache.put(key, prepared)
        return prepared, False

    def thumbnails(self, video: str, fps: float = OFFICIAL_FPS) -> Any:
        """Small copies of the frames the model sees (from the clip cache when the clip was prepared; no model)."""
        hit = self.cache.get((file_digest(video), fps))
        return thumbnail_array(hit.frames if hit is not None else read_frames(self.plan(video, fps)))

    def model_inputs(self, prepared: Sequence[PreparedClip], prompts: Sequence[str]) -> dict[str, Any]:
        """The tensors generate() receives for one or more clips (left-padded into one batch)."""
        return model_inputs(self.processor, prepared, prompts)

    def digit_ids(self) -> list[int]:
        tok = self.processor.tokenizer
        ids = [tok.convert_tokens_to_ids(str(s)) for s in SCORE_VALUES]
        if any(i is None or i == tok.unk_token_id for i in ids):
            raise ModelLoadError("The tokenizer has no single tokens for the digits 1-5; is this VideoScore2?")
        return ids

    def stop_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.processor.tokenizer.pad_token_id is not None:
            ids.add(self.processor.tokenizer.pad_token_id)
        return ids

    def wait_idle(self, timeout: float) -> bool:
        """True once no generation holds the model (within ``timeout`` seconds)."""
        if self.generation_lock.acquire(timeout=timeout):
            self.generation_lock.release()
            return True
        return False

    # -- evaluation --

    def stream(self, jobs: Sequence[Job], options: GenerationOptions | None = None,
               stop: threading.Event | None = None) -> Iterator[Event]:
        """Evaluate one or more clips as one batch, yielding progress, frames, text pieces, then results.

        Raises InputError for bad clips or prompts, ModelLoadError, GenerationError. Closing the
        iterator (or setting ``stop``) ends generation early; the model stays loaded.
        """
        options = options or GenerationOptions()
        ready = yield from self.prepare_stream(jobs, options)
        yield from self.generate_stream(jobs, options, ready, stop)

    def prepare_stream(self, jobs: Sequence[Job], options: GenerationOptions
                       ) -> Generator[Event, None, list[ReadyClip]]:
        """The CPU half: check prompts, plan, load, decode and preprocess every clip (into the cache)."""
        for job in jobs:
            validate_prompt(job.prompt)
        plans = []
        for i, job in enumerate(jobs):
            plans.append(self.plan(job.video, options.fps))
            yield Planned(i, plans[-1])
        yield from self._load_with_status()
        ready = []
        for i, (job, plan) in enumerate(zip(jobs, plans)):
            yield Status(f"Reading {len(plan.indices)} frames at {plan.resized_width}×{plan.resized_height}…", i)
            key = (file_digest(job.video), options.fps)
            clip, hit = self.prepare(job.video, options.fps, plan, key)
            ready.append(ReadyClip(key, hit, clip))
            yield FramesReady(i, clip.frames.plan, thumbnail_array(clip.frames))
        return ready

    def generate_stream(self, jobs: Sequence[Job], options: GenerationOptions, ready: Sequence[ReadyClip],
                        stop: threading.Event | None = None) -> Iterator[Event]:
        """The GPU half: generate every (job, sample) row from prepared clips, then the results. A ``ReadyClip``
        without its clip is found in the cache by key (what a ZeroGPU worker, a fork of this process, receives)."""
        stop = stop or threading.Event()
        prepared = [r.clip or self._cached(job, r, options.fps) for job, r in zip(jobs, ready)]
        yield Status("Thinking…")
        options = options.seeded_for_samples()
        outputs = yield from self._generate_rows(jobs, prepared, options, stop)
        samples = tuple(tuple(self._result(job, prepared[j], ready[j].cached, *outputs[(j, k)], options.for_sample(k))
                              for k in range(options.samples)) for j, job in enumerate(jobs))
        yield Finished(tuple(s[0] for s in samples), samples)

    def _cached(self, job: Job, ready: ReadyClip, fps: float) -> PreparedClip:
        hit = self.cache.get(ready.key)
        if hit is not None:
            return hit
        log.info("%s was not kept in the clip cache (over its byte budget): preparing it again", job.video)
        return self.prepare(job.video, fps)[0]

    def _generate_rows(self, jobs: Sequence[Job], prepared: Sequence[PreparedClip], options: GenerationOptions,
                       stop: threading.Event) -> Generator[Event, None, dict[RowKey, tuple[GenerationSummary, int]]]:
        """Every (job, sample) row, batched: sample-major, so every clip's first sample streams first, in chunks
        of as many rows as free memory holds. Returns where each row's outcome is."""
        keys = [(j, k) for k in range(options.samples) for j in range(len(jobs))]
        visual = max(c.frames.plan.visual_tokens for c in prepared)
        per_row = model_row_bytes(self.model, visual, options.max_new_tokens)
        size = rows_per_chunk(len(keys), free_bytes(self.info.device), per_row)
        outputs: dict[RowKey, tuple[GenerationSummary, int]] = {}
        for part in chunks(keys, size):
            if stop.is_set():
                break
            if len(part) < len(keys):
                yield Status(f"Sampling rows {len(outputs) + 1}–{len(outputs) + len(part)} of {len(keys)}…")
            seeds = None if options.seed is None else tuple(sample_seed(options.seed, k) for _, k in part)
            sampling = Sampling(options.greedy, options.temperature, options.max_new_tokens, options.min_new_tokens,
                                seeds)
            try:
                summary = yield from stream_generate(
                    self.model, self.model_inputs([prepared[j] for j, _ in part], [jobs[j].prompt for j, _ in part]),
                    sampling, tokenizer=self.processor.tokenizer, digit_ids=self.digit_ids(),
                    stop_ids=self.stop_ids(), stop=stop, lock=self.generation_lock, keys=part,
                    thread=self.decode_thread)
            except VS2Error:
                raise
            except Exception as exc:  # out of memory, a CUDA error, a bug: this request fails, the model stays
                raise _generation_error(exc) from exc
            outputs.update({key: (summary, row) for row, key in enumerate(part)})
        if len(outputs) < len(keys):  # stopped before some chunks ran: those rows stay empty
            empty = GenerationSummary.empty(self.digit_ids())
            outputs.update({key: (empty, 0) for key in keys if key not in outputs})
        return outputs

    def _load_with_status(self) -> Iterator[Status]:
        if self.loaded:
            return
        yield Status(f"Loading model {self.model_id} (first use only)…")
        info = self.load()
        yield Status(f"Loaded {info.model_id} on {info.device} ({info.dtype}) in {info.load_s:.1f} s")

    def score(self, video: str, prompt: str, options: GenerationOptions | None = None) -> Result:
        """Evaluate one clip and return its result (its first sample; no streaming)."""
        return self.evaluate(video, prompt, options)[0]

    def evaluate(self, video: str, prompt: str, options: GenerationOptions | None = None) -> tuple[Result, ...]:
        """Evaluate one clip and return every sample's result (one unless options.samples > 1)."""
        return self.evaluate_many([Job(video, prompt)], options)[0]

    def evaluate_many(self, jobs: Sequence[Job], options: GenerationOptions | None = None
                      ) -> tuple[tuple[Result, ...], ...]:
        """Evaluate several clips as one batch (no streaming); per job, every sample's result."""
        for event in self.stream(jobs, options):
            if isinstance(event, Finished):
                return event.samples
        raise GenerationError("generation ended without a result")

    def _result(self, job: Job, clip: PreparedClip, cached: bool, summary: GenerationSummary, row: int,
                options: GenerationOptions) -> Result:
        decoded: RowDecoder = summary.rows[row] if summary.rows else RowDecoder(self.processor.tokenizer, set())
        recorder: DigitRecorder = summary.recorder
        timings = Timings(decode_s=0.0 if cached else clip.frames.decode_s,
                          preprocess_s=0.0 if cached else clip.preprocess_s, ttft_s=summary.ttft_s,
                          generate_s=summary.seconds, new_tokens=len(decoded.ids), frames_cached=cached)
        official, logprobs_at = row_digit_logprobs(self.processor.tokenizer, decoded, recorder, row)
        return build_result(job.video, job.prompt, decoded.text, clip.frames.plan, self.info, options, timings,
                            summary.stopped, official, logprobs_at, tuple(decoded.ids))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _generation_error(exc: BaseException) -> VS2Error:
    import torch

    log.error("generation failed", exc_info=exc)
    if isinstance(exc, torch.OutOfMemoryError):
        return GenerationError("Out of memory during generation: try fewer frames (lower fps), a shorter clip, "
                               "or fewer max new tokens.")
    return GenerationError(f"Generation failed: {type(exc).__name__}: {_first_line(exc)}")

