"""Running VideoScore2: load once, prepare model inputs (cached per clip), stream generation.

Nothing here imports gradio. The public surface is ``Evaluator`` and the event types it yields:
the CLI and the UI both consume the same stream.
"""

from __future__ import annotations

import bisect
import hashlib
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import rope
from .digits import DigitRecorder, record_after_all_processors
from .dimensions import SCORE_VALUES
from .errors import GenerationError, InputError, ModelLoadError, VS2Error
from .options import (
    OFFICIAL_DECODE,
    SMOKE_MODEL,
    GenerationOptions,
    Limits,
    cache_mb_from_env,
    dtype_from_env,
    model_from_env,
)
from .parse import official_score_positions, parse_scores
from .prompt import messages, validate_prompt
from .result import ModelInfo, Result, Timings, dimension_scores, think_text
from .video import FramePlan, Frames, plan_frames, probe, read_frames

# ---- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """Progress before tokens flow: loading, reading frames, preparing, thinking."""

    message: str
    clip: int | None = None


@dataclass(frozen=True)
class Planned:
    """The frames a clip will contribute, known before any decoding or GPU time."""

    clip: int
    plan: FramePlan


@dataclass(frozen=True)
class FramesReady:
    clip: int
    frames: Frames


@dataclass(frozen=True)
class Piece:
    """A piece of generated text for one clip, as soon as it decodes to whole characters."""

    clip: int
    text: str


@dataclass(frozen=True)
class Finished:
    results: tuple[Result, ...]


Event = Status | Planned | FramesReady | Piece | Finished


@dataclass(frozen=True)
class Job:
    video: str
    prompt: str


# ---- helpers used on the generation thread ------------------------------------------------------


class _RowDecoder:
    """Decodes one row's tokens incrementally, recording where each token ends in the text.

    Pieces are decoded as soon as they form whole UTF-8 characters; byte-level BPE decodes by
    concatenation, so the pieces join to exactly ``tokenizer.decode(all_tokens)``.
    """

    def __init__(self, tokenizer: Any, stop_ids: set[int], decode: dict[str, bool] = OFFICIAL_DECODE) -> None:
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self.decode = decode
        self.ids: list[int] = []
        self.char_end: list[int] = []
        self.text = ""
        self._pending: list[int] = []
        self.finished = False

    def push(self, token: int) -> str:
        if self.finished:
            return ""
        self.ids.append(token)
        if token in self.stop_ids:
            self.finished = True
            self.char_end.append(len(self.text))
            return ""
        self._pending.append(token)
        piece = self.tokenizer.decode(self._pending, **self.decode)
        if piece.endswith("\ufffd"):  # an incomplete multi-byte character: wait for its other bytes
            self.char_end.append(len(self.text) + len(piece))
            return ""
        self._pending = []
        self.text += piece
        self.char_end.append(len(self.text))
        return piece

    def token_at(self, char_pos: int) -> int | None:
        """Index of the generated token that produced the character at ``char_pos``."""
        i = bisect.bisect_right(self.char_end, char_pos)
        return i if i < len(self.ids) else None

    def token_ending_at(self, end: int) -> int | None:
        """The first token after which the text is exactly ``end`` characters long, if there is one."""
        i = bisect.bisect_left(self.char_end, end)
        return i if i < len(self.ids) and self.char_end[i] == end else None


# How the official script decodes when it looks for the score digits' steps: special tokens kept.
SOFT_SEARCH_DECODE = {"skip_special_tokens": False, "clean_up_tokenization_spaces": False}


def official_digit_steps(tokenizer: Any, ids: Sequence[int]) -> tuple[int | None, ...]:
    """Per dimension, the generation step the official soft score reads (None where it finds none).

    The official script decodes growing prefixes until one equals the text up to the score digit; byte-level
    BPE decodes by concatenation, so that step is the token whose decoded end falls exactly on the digit.
    """
    full = _RowDecoder(tokenizer, set(), SOFT_SEARCH_DECODE)
    for token in ids:
        full.push(token)
    return tuple(None if pos is None else full.token_ending_at(pos + 1)
                 for pos in official_score_positions(full.text))


class _Streamer:
    """transformers streamer protocol (put/end), feeding a queue the consumer reads from.

    Tokens are decoded as they come, but pieces reach the queue at most every FLUSH_S: waking the
    consumer thread for every token costs more than the decoding itself on fast models.
    """

    FLUSH_S = 0.02

    def __init__(self, tokenizer: Any, rows: int, stop_ids: set[int], out: queue.Queue) -> None:
        self.rows = [_RowDecoder(tokenizer, stop_ids) for _ in range(rows)]
        self.out = out
        self._prompt_seen = False
        self._pending = [""] * rows
        self._last_flush = 0.0
        self.first_token_at: float | None = None

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() first pushes the prompt
            self._prompt_seen = True
            return
        now = time.perf_counter()
        if self.first_token_at is None:
            self.first_token_at = now
        for clip, token in enumerate(value.reshape(-1).tolist()):
            self._pending[clip] += self.rows[clip].push(int(token))
        if now - self._last_flush >= self.FLUSH_S:
            self._flush(now)

    def _flush(self, now: float) -> None:
        self._last_flush = now
        for clip, text in enumerate(self._pending):
            if text:
                self.out.put(Piece(clip, text))
        self._pending = [""] * len(self._pending)

    def end(self) -> None:
        self._flush(time.perf_counter())


class _StopFlag:
    """A stopping criterion that ends every row when the caller sets the event."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self._answers: dict[bool, Any] = {}  # one tensor per answer, made once: this runs every step

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        stop = self.event.is_set()
        if stop not in self._answers:
            self._answers[stop] = torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)
        return self._answers[stop]


# ---- prepared clips -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PreparedClip:
    """Decoded frames and the processor's video tensors for one clip at one fps: reusable across prompts."""

    frames: Frames
    video_inputs: dict[str, Any]  # pixel_values_videos, video_grid_thw, second_per_grid_ts
    preprocess_s: float

    @property
    def nbytes(self) -> int:
        """Memory this entry holds: the decoded frames plus the processor's tensors."""
        return self.frames.array.nbytes + sum(t.nbytes for t in self.video_inputs.values() if hasattr(t, "nbytes"))


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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

    def __init__(self, model: str | None = None, device: str | None = None, dtype: str | None = None,
                 limits: Limits | None = None, cache_mb: float | None = None) -> None:
        self.model_id = model_from_env(model)
        self._device, self._dtype = device, dtype_from_env(dtype)  # None: bf16 on GPUs, float32 on CPU
        self.limits = limits or Limits()
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()  # one generation at a time on the shared model
        self._cache: OrderedDict[tuple[str, float], PreparedClip] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_bytes = int(cache_mb_from_env(cache_mb) * 1e6)
        self.model: Any = None
        self.processor: Any = None
        self.info: ModelInfo | None = None

    # -- loading --

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def _resolve_path(self) -> str:
        if self.model_id == SMOKE_MODEL:
            from .smoke import ensure_smoke_model

            return str(ensure_smoke_model())
        return self.model_id

    def load(self) -> ModelInfo:
        with self._load_lock:
            if self.info is not None:
                return self.info
            import torch
            from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

            start = time.perf_counter()
            device, dtype = pick_device_dtype(self._device, self._dtype)
            path = self._resolve_path()
            try:
                processor = AutoProcessor.from_pretrained(path)
                model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=getattr(torch, dtype))
                model.to(device).eval()
                rope.install(model)  # transformers 4.53.2's positions for long clips (see rope.py)
                record_after_all_processors(model)  # p(1..5) from the scores generate() samples (digits.py)
            except torch.OutOfMemoryError:
                raise ModelLoadError(
                    f"Out of memory loading {self.model_id} on {device} in {dtype}: free memory, use a larger "
                    "GPU, or try --model smoke for a tiny offline test model."
                ) from None
            except Exception as exc:  # hub errors, missing files, bad configs: one actionable line
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise ModelLoadError(
                    f"Cannot load model {self.model_id!r}: {first}. Check the hub id or local folder and your "
                    "network (offline, set HF_HUB_OFFLINE=1 with a cached copy), or use --model smoke."
                ) from None
            processor.tokenizer.padding_side = "left"  # generation continues on the right
            self.model, self.processor = model, processor
            self.info = ModelInfo(self.model_id, device, dtype, self.model_id == SMOKE_MODEL or _is_smoke(path),
                                  time.perf_counter() - start)
            return self.info

    # -- inputs --

    def plan(self, video: str, fps: float = 2.0) -> FramePlan:
        """The frame plan for a clip: cheap, no model needed, refuses bad files with InputError."""
        return plan_frames(probe(video, self.limits), fps)

    def prepare(self, video: str, fps: float = 2.0, plan: FramePlan | None = None) -> tuple[PreparedClip, bool]:
        """Frames and video tensors for a clip, reused when the same bytes come again at the same fps."""
        key = (file_digest(video), fps)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit, True
        frames = read_frames(plan or self.plan(video, fps))
        start = time.perf_counter()
        video_inputs = self._video_inputs(frames)
        prepared = PreparedClip(frames, video_inputs, time.perf_counter() - start)
        self._remember(key, prepared)
        return prepared, False

    def _remember(self, key: tuple[str, float], prepared: PreparedClip) -> None:
        """Keep a prepared clip, dropping the least recently used ones past the entry or byte budget."""
        if prepared.nbytes > self.cache_bytes:
            return  # alone over the budget: used for this run only
        with self._cache_lock:
            self._cache[key] = prepared
            while (len(self._cache) > self.CACHE_CLIPS
                   or sum(c.nbytes for c in self._cache.values()) > self.cache_bytes):
                self._cache.popitem(last=False)

    @property
    def cached_bytes(self) -> int:
        with self._cache_lock:
            return sum(c.nbytes for c in self._cache.values())

    def _video_inputs(self, frames: Frames) -> dict[str, Any]:
        import torch
        from transformers.video_utils import VideoMetadata

        n = len(frames.plan.indices)
        # qwen-vl-utils already resized the frames: do_resize=False keeps them as they are.
        # The official call (transformers 4.53.2, fps=2.0, no metadata) spaces temporal patches by
        # temporal_patch_size / fps seconds; transformers 5 derives that from metadata.sampled_fps,
        # so the metadata says exactly the requested fps (sampled_fps = n / n * fps).
        meta = VideoMetadata(total_num_frames=n, fps=frames.plan.fps, frames_indices=list(range(n)))
        tensor = torch.from_numpy(frames.array).permute(0, 3, 1, 2)
        out = self.processor.video_processor(
            videos=[tensor], video_metadata=[meta], do_resize=False, do_sample_frames=False, cap_pixels_per_frame=False,
            return_tensors="pt",
        )
        patch = self.processor.video_processor.temporal_patch_size
        return {
            "pixel_values_videos": out["pixel_values_videos"],
            "video_grid_thw": out["video_grid_thw"],
            "second_per_grid_ts": torch.tensor([patch / frames.plan.fps]),
        }

    def model_inputs(self, prepared: Sequence[PreparedClip], prompts: Sequence[str]) -> dict[str, Any]:
        """The tensors generate() receives for one or more clips (left-padded into one batch)."""
        import torch

        proc = self.processor
        merge = proc.video_processor.merge_size ** 2
        texts = []
        for clip, prompt in zip(prepared, prompts):
            chat = proc.apply_chat_template(messages(prompt, clip.frames.plan.info.path, clip.frames.plan.fps),
                                            tokenize=False, add_generation_prompt=True)
            n_tokens = int(clip.video_inputs["video_grid_thw"].prod()) // merge
            texts.append(chat.replace(proc.video_token, proc.video_token * n_tokens, 1))
        enc = proc.tokenizer(texts, return_tensors="pt", padding=True)
        enc["mm_token_type_ids"] = torch.tensor(proc.create_mm_token_type_ids(enc["input_ids"].tolist()))
        for key in ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts"):
            parts = [c.video_inputs[key] for c in prepared]
            enc[key] = torch.cat(parts) if len(parts) > 1 else parts[0]  # one clip: no copy of the pixels
        return dict(enc)

    # -- generation --

    def stream(self, jobs: Sequence[Job], options: GenerationOptions | None = None,
               stop: threading.Event | None = None) -> Iterator[Event]:
        """Evaluate one or more clips as one batch, yielding progress, frames, text pieces, then results.

        Raises InputError for bad clips or prompts, ModelLoadError, GenerationError. Closing the
        iterator (or setting ``stop``) ends generation early; the model stays loaded.
        """
        options = options or GenerationOptions()
        stop = stop or threading.Event()
        for job in jobs:
            validate_prompt(job.prompt)
        plans = []
        for i, job in enumerate(jobs):
            plans.append(self.plan(job.video, options.fps))
            yield Planned(i, plans[-1])
        first_use = not self.loaded
        if first_use:
            yield Status(f"Loading model {self.model_id} (first use only)…")
        info = self.load()
        if first_use:
            yield Status(f"Loaded {info.model_id} on {info.device} ({info.dtype}) in {info.load_s:.1f} s")
        prepared, cached = [], []
        for i, (job, plan) in enumerate(zip(jobs, plans)):
            yield Status(f"Reading {len(plan.indices)} frames at {plan.resized_width}×{plan.resized_height}…", i)
            clip, hit = self.prepare(job.video, options.fps, plan)
            prepared.append(clip)
            cached.append(hit)
            yield FramesReady(i, clip.frames)
        yield Status("Thinking…")
        inputs = self.model_inputs(prepared, [j.prompt for j in jobs])
        pieces: queue.Queue = queue.Queue()
        done = object()
        tokenizer = self.processor.tokenizer
        streamer = _Streamer(tokenizer, len(jobs), self._stop_ids(), pieces)
        recorder = DigitRecorder(self._digit_ids())
        failure: list[BaseException] = []

        def work() -> None:
            try:
                self._generate(inputs, options, streamer, recorder, stop)
            except BaseException as exc:  # reported to the consumer, never lost on the thread
                failure.append(exc)
            finally:
                pieces.put(done)

        gen_start = time.perf_counter()
        worker = threading.Thread(target=work, name="vs2-generate", daemon=True)
        worker.start()
        try:
            while (item := pieces.get()) is not done:
                yield item
        finally:
            # The consumer may go away early (Gradio closes a generator on its event-loop thread when a
            # visitor leaves): ask the worker to stop and return at once; it frees the model itself.
            if worker.is_alive():
                stop.set()
        worker.join()  # reached only after "done": the worker is ending
        if failure:
            raise _generation_error(failure[0])
        gen_s = time.perf_counter() - gen_start
        ttft = streamer.first_token_at - gen_start if streamer.first_token_at else None
        results = []
        for i, (job, clip) in enumerate(zip(jobs, prepared)):
            row = streamer.rows[i]
            timings = Timings(
                decode_s=0.0 if cached[i] else clip.frames.decode_s,
                preprocess_s=0.0 if cached[i] else clip.preprocess_s,
                ttft_s=ttft, generate_s=gen_s, new_tokens=len(row.ids), frames_cached=cached[i],
            )
            results.append(self._result(job, clip, row, recorder, i, info, options, timings, stop.is_set()))
        yield Finished(tuple(results))

    def score(self, video: str, prompt: str, options: GenerationOptions | None = None) -> Result:
        """Evaluate one clip and return its result (no streaming)."""
        for event in self.stream([Job(video, prompt)], options):
            if isinstance(event, Finished):
                return event.results[0]
        raise GenerationError("generation ended without a result")

    def _generate(self, inputs: dict[str, Any], options: GenerationOptions, streamer: _Streamer,
                  recorder: DigitRecorder, stop: threading.Event) -> None:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        with self._gen_lock, torch.inference_mode():
            if options.seed is not None:
                torch.manual_seed(options.seed)
            device_inputs = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in inputs.items()}
            if "pixel_values_videos" in device_inputs:
                device_inputs["pixel_values_videos"] = device_inputs["pixel_values_videos"].to(self.model.dtype)
            # As the official call: do_sample and temperature; everything else as generate() resolves it
            sampling = {"do_sample": False} if options.greedy else {"do_sample": True,
                                                                     "temperature": options.temperature}
            self.model.generate(
                **device_inputs,
                **sampling,
                max_new_tokens=options.max_new_tokens,
                min_new_tokens=options.min_new_tokens or None,
                use_cache=True,  # the checkpoint may say False; the cache changes speed, never output
                logits_processor=LogitsProcessorList([recorder]),  # moved last (digits.py)
                stopping_criteria=StoppingCriteriaList([_StopFlag(stop)]),
                streamer=streamer,
            )

    def _digit_ids(self) -> list[int]:
        tok = self.processor.tokenizer
        ids = [tok.convert_tokens_to_ids(str(s)) for s in SCORE_VALUES]
        if any(i is None or i == tok.unk_token_id for i in ids):
            raise ModelLoadError("The tokenizer has no single tokens for the digits 1-5; is this VideoScore2?")
        return ids

    def _stop_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.processor.tokenizer.pad_token_id is not None:
            ids.add(self.processor.tokenizer.pad_token_id)
        return ids

    def _result(self, job: Job, clip: PreparedClip, row: _RowDecoder, recorder: DigitRecorder, i: int,
                info: ModelInfo, options: GenerationOptions, timings: Timings, stopped: bool) -> Result:
        raw = row.text
        parsed = parse_scores(raw)
        official = tuple(recorder.logprobs(i, step) for step in official_digit_steps(self.processor.tokenizer, row.ids))
        from_parse = tuple(recorder.logprobs(i, row.token_at(p)) if p is not None else None
                           for p in parsed.digit_pos)
        return Result(
            video=job.video, prompt=job.prompt, raw_output=raw, think=think_text(raw),
            parse_method=parsed.method, parse_notes=parsed.notes,
            scores=dimension_scores(parsed, official, from_parse),
            frames=clip.frames.plan.to_dict(), model=info, options=options, timings=timings, stopped=stopped,
        )


def _is_smoke(path: str) -> bool:
    return (Path(path) / "SMOKE_MODEL").exists()


def _generation_error(exc: BaseException) -> VS2Error:
    import torch

    if isinstance(exc, VS2Error):
        return exc
    if isinstance(exc, torch.OutOfMemoryError):
        return GenerationError("Out of memory during generation: try fewer frames (lower fps), a shorter clip, "
                               "or fewer max new tokens.")
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return GenerationError(f"Generation failed: {type(exc).__name__}: {first}")


__all__ = [
    "Evaluator",
    "Event",
    "Finished",
    "FramesReady",
    "GenerationError",
    "InputError",
    "Job",
    "ModelLoadError",
    "Piece",
    "Planned",
    "PreparedClip",
    "Status",
    "pick_device_dtype",
]
