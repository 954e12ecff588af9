"""The decode loop's ablation ladder: what each piece of the pipeline costs per step, measured side by side.

Rungs, each adding one thing to the one before (every rung generates the same fixed number of tokens from the
same inputs and the same seed, so like is compared with like):

  bare            model.generate() on the calling thread
  thread          … on a long-lived worker thread (the engine's DecodeThread)
  streaming       … with transformers' streamer protocol (a blocking .cpu() per step), text decoded on that thread
  recorder        … with the previous digit recorder (log_softmax indexed by a Python list: a blocking copy)
  sampler         … with the previous per-row sampler (a 0-dim device tensor as an index: an .item())
  new_loop        the engine's loop today (device-buffer recorder, sampler without .item(), asynchronous token
                  copies decoded by the consumer), dynamic cache
  static          … with a static cache (length bucketed), eager
  compiled        … with the decode step compiled (inductor; CUDA graphs on a GPU)

Per rung: the median step time over every decode step of ``repeats`` interleaved runs (CUDA events on a GPU,
perf_counter on CPU: a step clock in every rung alike), host waits per step (engine/sync_count.py), kernel
launches per step (GPU only, from the profiler), and whether its tokens equal the bare rung's.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vs2demo.engine.decode_thread import DecodeThread
from vs2demo.engine.generation import RowDecoder, Sampling, stream_generate
from vs2demo.engine.static_cache import DecodeSettings
from vs2demo.engine.sync_count import SyncCounter

RUNGS = ("bare", "thread", "streaming", "recorder", "sampler", "new_loop", "static", "compiled")


class StepClock:
    """A logits processor that marks the start of every step's sampling (an event on CUDA: no wait)."""

    def __init__(self, cuda: bool) -> None:
        import torch

        self.torch, self.cuda = torch, cuda
        self.marks: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.cuda:
            event = self.torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            import time

            self.marks.append(time.perf_counter())
        return scores

    def step_seconds(self) -> list[float]:
        """Seconds between consecutive steps (the first mark follows the prefill: not a decode step)."""
        if self.cuda:
            self.torch.cuda.synchronize()
            return [a.elapsed_time(b) / 1000 for a, b in zip(self.marks, self.marks[1:])]
        return [b - a for a, b in zip(self.marks, self.marks[1:])]


class LegacyStreamer:
    """The previous streamer: transformers' put/end protocol (generate() copies tokens with .cpu() for it), the
    text decoded on the generating thread."""

    def __init__(self, tokenizer: Any) -> None:
        self.row = RowDecoder(tokenizer, set())
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.row.push(int(token))

    def end(self) -> None:
        pass


class LegacyRecorder:
    """The previous digit recorder: the digits picked with a Python list (a blocking host-to-device copy)."""

    runs_last = True

    def __init__(self, digit_ids: list[int]) -> None:
        self.digit_ids, self.steps = digit_ids, []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        self.steps.append(torch.log_softmax(scores, dim=-1)[:, self.digit_ids])
        return scores


class LegacyRowSampler:
    """The previous per-row sampler: each row's draw written with a 0-dim device tensor as the index (.item())."""

    runs_last = True

    def __init__(self, seeds: list[int], device: Any) -> None:
        import torch

        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        forced = torch.full_like(scores, float("-inf"))
        for row, generator in enumerate(self.generators):
            token = torch.multinomial(torch.softmax(scores[row:row + 1], dim=-1), 1, generator=generator)
            forced[row, token[0, 0]] = 0.0
        return forced


@dataclass
class Context:
    engine: Any  # an HFEngine
    inputs: dict[str, Any]  # one clip's batch-1 inputs, on the device
    tokens: int
    cuda: bool
    thread: DecodeThread


def _generate(ctx: Context, clock: StepClock, processors: list[Any], streamer: Any = None) -> list[int]:
    import torch

    model = ctx.engine.model
    with torch.inference_mode():
        torch.manual_seed(0)
        out = model.generate(**ctx.inputs, do_sample=True, temperature=0.7, max_new_tokens=ctx.tokens,
                             min_new_tokens=ctx.tokens, use_cache=True, logits_processor=[clock, *processors],
                             streamer=streamer)
    return out[0, ctx.inputs["input_ids"].shape[1]:].tolist()


def _legacy(ctx: Context, clock: StepClock, recorder: bool, sampler: bool) -> list[int]:
    streamer = LegacyStreamer(ctx.engine.tokenizer)
    processors: list[Any] = []
    if recorder:
        processors.append(LegacyRecorder(ctx.engine.digit_ids))
    if sampler:
        processors.append(LegacyRowSampler([0], ctx.engine.model.device))
    return ctx.thread.submit(_generate, ctx, clock, processors, streamer).result()


def _engine_loop(ctx: Context, clock: StepClock, settings: DecodeSettings) -> list[int]:
    """The engine's own loop (stream_generate), with the step clock slipped into generate()'s processors."""
    import torch

    model = ctx.engine.model
    real = model.generate

    def clocked(*args: Any, **kwargs: Any) -> Any:
        kwargs["logits_processor"] = [clock, *kwargs.get("logits_processor", [])]
        return real(*args, **kwargs)

    own = vars(model).get("generate")  # a counter's wrapper, when one is open
    model.generate = clocked
    try:
        torch.manual_seed(0)
        stream = stream_generate(model, ctx.inputs, Sampling(False, 0.7, ctx.tokens, ctx.tokens, (0,)),
                                 tokenizer=ctx.engine.tokenizer, digit_ids=ctx.engine.digit_ids,
                                 stop_ids=set(), stop=threading.Event(), lock=ctx.engine.lock,
                                 thread=ctx.thread, decode=settings)
        while True:
            try:
                next(stream)
            except StopIteration as done:
                return list(done.value.rows[0].ids)
    finally:
        if own is not None:
            model.generate = own
        else:
            del model.generate


def rung_runner(name: str, ctx: Context) -> Callable[[StepClock], list[int]]:
    compiled = DecodeSettings(static=True, compiled=True, compile_on_cpu=not ctx.cuda)
    return {
        "bare": lambda clock: _generate(ctx, clock, []),
        "thread": lambda clock: ctx.thread.submit(_generate, ctx, clock, []).result(),
        "streaming": lambda clock: _legacy(ctx, clock, recorder=False, sampler=False),
        "recorder": lambda clock: _legacy(ctx, clock, recorder=True, sampler=False),
        "sampler": lambda clock: _legacy(ctx, clock, recorder=True, sampler=True),
        "new_loop": lambda clock: _engine_loop(ctx, clock, DecodeSettings()),
        "static": lambda clock: _engine_loop(ctx, clock, DecodeSettings(static=True, compiled=False)),
        "compiled": lambda clock: _engine_loop(ctx, clock, compiled),
    }[name]


def _waits_per_step(ctx: Context, run: Callable[[StepClock], list[int]]) -> float:
    with SyncCounter(ctx.engine.model) as log:
        run(StepClock(ctx.cuda))
    steps = log.decode_steps
    return sum(sum(c.values()) for c in steps) / max(1, len(steps))


def _launches_per_step(ctx: Context, run: Callable[[StepClock], list[int]]) -> float | None:
    """Kernels launched per generated token (CUDA only: the profiler's device events)."""
    if not ctx.cuda:
        return None
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run(StepClock(ctx.cuda))
    launches = sum(1 for e in prof.events() if e.name in ("cudaLaunchKernel", "cuLaunchKernel",
                                                          "cudaLaunchKernelExC", "cudaGraphLaunch"))
    return launches / ctx.tokens


def measure(ctx: Context, rungs: tuple[str, ...], repeats: int, ceiling: float | None,
            report: Callable[[str, Any], None]) -> dict[str, Any]:
    """The ladder, interleaved ``repeats`` times after one warm-up run per rung (compiling the last rung)."""
    runners = {name: rung_runner(name, ctx) for name in rungs}
    tokens: dict[str, list[int]] = {}
    for name, run in runners.items():  # warm-up: kernels, allocator, the compiled graph
        tokens[name] = run(StepClock(ctx.cuda))
        report(f"warm {name}", len(tokens[name]))
    steps: dict[str, list[float]] = {name: [] for name in rungs}
    for _ in range(repeats):
        for name, run in runners.items():
            clock = StepClock(ctx.cuda)
            ids = run(clock)
            if ids != tokens[name]:
                tokens[name] = []  # not even reproducible run to run: not identical to anything
            steps[name] += clock.step_seconds()
    out: dict[str, Any] = {}
    for name, run in runners.items():
        median = statistics.median(steps[name]) if steps[name] else None
        row = {"median_step_ms": None if median is None else median * 1000,
               "tokens_per_s": None if not median else 1 / median,
               "share_of_ceiling": None if not (median and ceiling) else (1 / median) / ceiling,
               "syncs_per_step": _waits_per_step(ctx, run),
               "launches_per_step": _launches_per_step(ctx, run),
               "tokens_identical_to_bare": tokens[name] == tokens[rungs[0]] and bool(tokens[name]),
               "steps_timed": len(steps[name])}
        out[name] = row
        report(name, row)
    eager, compiled = tokens.get("new_loop"), tokens.get("compiled")
    out["tokens_identical"] = None if eager is None or compiled is None else (bool(eager) and eager == compiled)
    return out
