"""The evaluator: one evaluation's orchestration over an engine loaded lazily and once, shared by every caller.

Nothing here imports gradio or touches transformers: the model is behind ``engine.interface.Engine`` (loaded by
``engine.loader``; tests may hand in a fake). Frames come from ``input.video``, result assembly from
``analysis.result``; ``Evaluator.stream`` ties them together and yields the events of ``engine.events``, which the
CLI, the page and the benchmark all consume.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from vs2demo.analysis.result import ModelInfo, Result, Timings, build_result
from vs2demo.core.errors import GenerationError, VS2Error
from vs2demo.core.options import (
    OFFICIAL_FPS,
    GenerationOptions,
    Limits,
    cache_mb_from_env,
    compiled_decode_from_env,
    dtype_from_env,
    model_from_env,
    sample_seed,
)
from vs2demo.engine.batching import chunks
from vs2demo.engine.budget import RequestCost, rows_at_once
from vs2demo.engine.events import Event, Finished, FramesReady, Job, Planned, Status
from vs2demo.engine.generation import (
    GenerationSummary,
    RowDecoder,
    RowKey,
    Sampling,
    row_digit_logprobs,
)
from vs2demo.engine.hf_internals import checkpoint_revision
from vs2demo.engine.inputs import ClipCache, ClipKey, PreparedClip, ReadyClip, file_digest
from vs2demo.engine.interface import Engine
from vs2demo.engine.loader import first_line, load_engine
from vs2demo.engine.static_cache import DecodeSettings
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


class Evaluator:
    """VideoScore2 behind an engine: loaded lazily and once, shared by every caller."""

    CACHE_CLIPS = 4  # prepared clips kept, at most; their total size is bounded by cache_mb too
    PLANS_KEPT = 64  # frame plans remembered by file identity, so one Evaluate probes its clip once

    def __init__(self, model: str | None = None, device: str | None = None, dtype: str | None = None,
                 limits: Limits | None = None, cache_mb: float | None = None, engine: Engine | None = None,
                 compiled: bool | None = None, decode: DecodeSettings | None = None) -> None:
        self.model_id = model_from_env(model)
        self._device, self._dtype = device, dtype_from_env(dtype)  # None: bf16 on GPUs, float32 on CPU
        self._compiled = compiled_decode_from_env(compiled)  # None: static cache + compiled decode on GPUs only
        self._decode = decode  # exact decode settings (tests, benchmarks); None: from the switch and the device
        self.limits = limits or Limits()
        self._load_lock = threading.Lock()
        self.cache = ClipCache(self.CACHE_CLIPS, int(cache_mb_from_env(cache_mb) * 1e6))
        self._plans: OrderedDict[tuple, FramePlan] = OrderedDict()
        self._plans_lock = threading.Lock()
        self.engine: Engine | None = engine
        self.info: ModelInfo | None = engine.info if engine is not None else None
        self._warmed = False

    # -- loading --

    @property
    def loaded(self) -> bool:
        return self.engine is not None

    def load(self) -> ModelInfo:
        with self._load_lock:
            if self.engine is None:
                self.engine = load_engine(self.model_id, self._device, self._dtype, self._decode, self._compiled)
                self.info = self.engine.info
            return self.info

    def use(self, model: Any, processor: Any, description: str) -> ModelInfo:
        """Serve a model built elsewhere (the GPU benchmark builds the full architecture with random weights),
        prepared exactly as ``load`` prepares a checkpoint. Its results are labelled like the smoke model's."""
        from vs2demo.engine.hf_engine import HFEngine

        with self._load_lock:
            dtype = str(model.dtype).removeprefix("torch.")
            device = str(model.device)
            info = ModelInfo(description, device, dtype, True, 0.0)
            self.engine = HFEngine(model, processor, info,
                                   self._decode or DecodeSettings.default_for(device, self._compiled))
            self.info = self.engine.info
            self._warmed = False
            return self.info

    @property
    def revision(self) -> str | None:
        """The checkpoint's commit on the Hub when transformers recorded it (which weights ran), else None."""
        return checkpoint_revision(self.model)

    # The loaded transformers model and processor, for the parity tests and benchmarks that run the official
    # procedure next to ours (an HFEngine's; nothing in the package reads them).
    @property
    def model(self) -> Any:
        return getattr(self.engine, "model", None)

    @property
    def processor(self) -> Any:
        return getattr(self.engine, "processor", None)

    @property
    def decode_thread(self) -> Any:
        return getattr(self.engine, "decode_thread", None)

    @property
    def generation_lock(self) -> Any:
        return getattr(self.engine, "lock", None)

    def digit_ids(self) -> list[int]:
        return self._engine().digit_ids

    def stop_ids(self) -> set[int]:
        return self._engine().stop_ids

    def model_inputs(self, prepared: Sequence[PreparedClip], prompts: Sequence[str]) -> dict[str, Any]:
        """The tensors generate() receives for one or more clips (left-padded into one batch)."""
        return self._engine().model_inputs(prepared, prompts)

    def _engine(self) -> Any:
        self.load()
        return self.engine

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
        self.load()
        tensors = self.engine.video_tensors(frames)
        prepared = PreparedClip(frames, tensors, time.perf_counter() - start)
        self.cache.put(key, prepared)
        return prepared, False

    def thumbnails(self, video: str, fps: float = OFFICIAL_FPS) -> Any:
        """Small copies of the frames the model sees (from the clip cache when the clip was prepared; no model)."""
        hit = self.cache.get((file_digest(video), fps))
        return thumbnail_array(hit.frames if hit is not None else read_frames(self.plan(video, fps)))

    def wait_idle(self, timeout: float) -> bool:
        """True once no generation holds the model (within ``timeout`` seconds)."""
        return self.engine is None or self.engine.wait_idle(timeout)

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
        # the request's peak, from the plans alone: refused here, before any frame is decoded, if it cannot fit
        rows_at_once(self.request_cost(plans, options), self.engine.memory_budget())
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
        # as many rows as free memory holds for their caches, and as the request's budget holds beside its clips
        size = min(self.engine.rows_per_pass(len(keys), visual, options.max_new_tokens),
                   rows_at_once(self.request_cost([c.frames.plan for c in prepared], options),
                                self.engine.memory_budget(), refuse=False))
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
                summary = yield from self.engine.generate([prepared[j] for j, _ in part],
                                                          [jobs[j].prompt for j, _ in part], sampling, part, stop)
            except VS2Error:
                raise
            except Exception as exc:  # out of memory, a CUDA error, a bug: this request fails, the model stays
                raise _generation_error(exc) from exc
            outputs.update({key: (summary, row) for row, key in enumerate(part)})
        if len(outputs) < len(keys):  # stopped before some chunks ran: those rows stay empty
            empty = GenerationSummary.empty()
            outputs.update({key: (empty, 0) for key in keys if key not in outputs})
        return outputs

    def request_cost(self, plans: Sequence[FramePlan], options: GenerationOptions) -> RequestCost:
        """What a request of these clips (one plan per job) and settings holds at its peak (budget.py)."""
        return self.engine.request_cost(plans, len(plans) * options.samples, options.max_new_tokens)

    def _load_with_status(self) -> Iterator[Status]:
        if not self.loaded:
            yield Status(f"Loading model {self.model_id} (first use only)…")
            info = self.load()
            yield Status(f"Loaded {info.model_id} on {info.device} ({info.dtype}) in {info.load_s:.1f} s")
        if not self._warmed:  # compiling the decode step, where the engine compiles: told while it runs
            yield from self.engine.warm_up()
            self._warmed = True

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
        decoded: RowDecoder = summary.rows[row] if summary.rows else self.engine.decode(())
        timings = Timings(decode_s=0.0 if cached else clip.frames.decode_s,
                          preprocess_s=0.0 if cached else clip.preprocess_s, ttft_s=summary.ttft_s,
                          generate_s=summary.seconds, new_tokens=len(decoded.ids), frames_cached=cached)
        official, logprobs_at = row_digit_logprobs(decoded, summary.recorder, row)
        return build_result(job.video, job.prompt, decoded.text, clip.frames.plan, self.info, options, timings,
                            summary.stopped, official, logprobs_at, tuple(decoded.ids))


def _generation_error(exc: BaseException) -> VS2Error:
    import torch

    log.error("generation failed", exc_info=exc)
    if isinstance(exc, torch.OutOfMemoryError):
        return GenerationError("Out of memory during generation: try fewer frames (lower fps), a shorter clip, "
                               "or fewer max new tokens.")
    return GenerationError(f"Generation failed: {type(exc).__name__}: {first_line(exc)}")

