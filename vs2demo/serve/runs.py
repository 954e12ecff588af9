"""The one GPU-bound call, wrapped for ZeroGPU (``spaces.GPU`` is a no-op anywhere else), behind a small runner.

Only GPU work runs inside the lease: the runner plans, decodes and preprocesses every clip first (into the
evaluator's clip cache), then calls the wrapped function. ZeroGPU runs that function in a worker forked from this
process and pickles its arguments and every event it yields, so it takes plain values (a runner key, a run id,
jobs, options, and each clip's cache key, never its frames) and finds its runner in ``_RUNNERS``; the events
it yields carry thumbnails, never full frames. The lease's length comes from the decoding speed measured on
earlier runs and the request's settings.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Generator, Iterator, Sequence
from typing import Any

import spaces

from vs2demo.analysis.result import Result
from vs2demo.core.options import GenerationOptions
from vs2demo.engine.evaluator import Evaluator
from vs2demo.engine.events import Event, Finished, Job, Status
from vs2demo.engine.inputs import ReadyClip
from vs2demo.evidence.explain import explain_stream
from vs2demo.evidence.options import ExplainOptions, ExplainProgress, cost, planned_segments

ON_ZERO_GPU = bool(os.environ.get("SPACES_ZERO_GPU"))
DEFAULT_STEPS_PER_S = 15.0  # decoding steps per second assumed before any run was measured (conservative)
LEASE_MARGIN_S = 20  # loading the batch onto the GPU, the prefill and the results
PREFILL_S_PER_ROW = 2
EXPLAIN_LEASE_S = 120  # re-scoring passes of one clip (forward passes only); re-generations come on top
STOPPED_BEFORE_MODEL = "Stopped before the model ran: nothing was scored."
_RUNNERS: dict[int, Runner] = {}
_keys = itertools.count()


def lease_seconds(max_new_tokens: int, rows: int, steps_per_s: float) -> int:
    """How long a GPU lease to ask for: every decoding step at the measured speed, plus a margin per row."""
    return int(LEASE_MARGIN_S + PREFILL_S_PER_ROW * rows + max_new_tokens / max(steps_per_s, 1e-3))


class Runner:
    """Owns the shared evaluator, the stop flag of every run in flight (keyed per run) and the measured speed."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.key = next(_keys)
        self._stops: dict[int, tuple[str, threading.Event]] = {}  # run id -> (who started it, its flag)
        self._lock = threading.Lock()
        self._runs = itertools.count()
        self.steps_per_s = DEFAULT_STEPS_PER_S
        _RUNNERS[self.key] = self

    def stream(self, jobs: Sequence[Job], options: GenerationOptions, owner: str) -> Iterator[Event]:
        """Evaluate ``jobs`` for ``owner`` (a session); ``stop(owner)`` ends the run at the next step, whatever the
        stage: while clips are read the run ends before the model is called, with a status that says so."""
        run = next(self._runs)
        flag = self._register(run, owner)
        try:
            ready = yield from self._prepare(jobs, options, flag)  # CPU work, before any GPU lease
            if ready is None:
                yield Status(STOPPED_BEFORE_MODEL)
                return
            handles = [r.by_key() for r in ready] if ON_ZERO_GPU else ready
            events = gpu_stream(self.key, run, owner, jobs, options, handles)
            try:
                for event in events:
                    if isinstance(event, Finished):
                        self._measured(event)
                    yield event
            finally:
                events.close()  # a visitor who left ends the generation now, not when this generator is collected
        finally:
            with self._lock:
                self._stops.pop(run, None)

    def _prepare(self, jobs: Sequence[Job], options: GenerationOptions, flag: threading.Event
                 ) -> Generator[Event, None, list[ReadyClip] | None]:
        """The evaluator's CPU half, checking the stop flag after each step (None: stopped before the model)."""
        steps = self.evaluator.prepare_stream(jobs, options)
        while True:
            if flag.is_set():
                steps.close()
                return None
            try:
                event = next(steps)
            except StopIteration as done:
                return None if flag.is_set() else done.value
            yield event

    def _register(self, run: int, owner: str) -> threading.Event:
        with self._lock:
            if run not in self._stops:
                self._stops[run] = (owner, threading.Event())
            return self._stops[run][1]

    def explain(self, samples: Sequence[Result], options: ExplainOptions, owner: str = ""
                ) -> Iterator[ExplainProgress | Any]:
        """Explain the first of ``samples`` (every sample's cells when there are several): its progress, then the
        Explanation. ``stop(owner)`` ends it between chunks. The clip is decoded before any GPU lease."""
        result = samples[0]
        if ON_ZERO_GPU:  # decoding is CPU work: into the cache before the lease (elsewhere it happens inside)
            self.evaluator.prepare(result.video, result.plan.fps)
        run = next(self._runs)
        self._register(run, owner)
        try:
            yield from _gpu_explain(self.key, run, owner, tuple(samples), options)
        finally:
            with self._lock:
                self._stops.pop(run, None)

    def _measured(self, done: Finished) -> None:
        """Remember the slowest decoding speed seen (steps per second of a whole batch), for the next lease."""
        t = done.results[0].timings
        if t.new_tokens >= 16 and t.generate_s > 0:
            rate = t.new_tokens / t.generate_s
            self.steps_per_s = rate if self.steps_per_s == DEFAULT_STEPS_PER_S else min(self.steps_per_s, rate)

    def stop(self, owner: str) -> bool:
        """Ask every run of ``owner`` to end; True if one was running."""
        with self._lock:
            flags = [flag for who, flag in self._stops.values() if who == owner]
        for flag in flags:
            flag.set()
        return bool(flags)

    def _run(self, run: int, owner: str, jobs: Sequence[Job], options: GenerationOptions,
             ready: Sequence[ReadyClip]) -> Iterator[Event]:
        # the flag registered when the run began (in a ZeroGPU worker: that process's own copy of it)
        flag = self._register(run, owner)
        yield from self.evaluator.generate_stream(jobs, options, ready, flag)


def estimate_seconds(key: int, run: int, owner: str, jobs: Sequence[Job], options: GenerationOptions,
                     ready: Sequence[ReadyClip]) -> int:
    """ZeroGPU's duration for this call, from the runner's measured speed and the request's settings."""
    return lease_seconds(options.max_new_tokens, len(jobs) * options.samples, _RUNNERS[key].steps_per_s)


@spaces.GPU(duration=estimate_seconds)
def gpu_stream(key: int, run: int, owner: str, jobs: Sequence[Job], options: GenerationOptions,
                ready: Sequence[ReadyClip]) -> Iterator[Event]:
    yield from _RUNNERS[key]._run(run, owner, jobs, options, ready)


def estimate_explain_seconds(key: int, run: int, owner: str, samples: Sequence[Result],
                             options: ExplainOptions) -> int:
    """ZeroGPU's duration for an explanation: its re-scoring passes, plus its re-generations at the measured speed."""
    result = samples[0]
    planned = cost(planned_segments(result.plan, options), options.max_sentences, options, len(samples))
    generating = lease_seconds(result.options.max_new_tokens, planned.generations, _RUNNERS[key].steps_per_s)
    return EXPLAIN_LEASE_S + (generating if planned.generations else 0)


@spaces.GPU(duration=estimate_explain_seconds)
def _gpu_explain(key: int, run: int, owner: str, samples: Sequence[Result], options: ExplainOptions
                 ) -> Iterator[ExplainProgress | Any]:
    """Progress, then the explanation itself as the last item (a generator's return value does not cross
    ZeroGPU's process boundary; yielded items do)."""
    runner = _RUNNERS[key]
    evaluator = runner.evaluator
    flag = runner._register(run, owner)
    # A test double may script its own explanation; the real evaluator is explained by evidence.explain.
    own = getattr(evaluator, "explain_stream", None)
    explanation = yield from (own(samples[0], options) if own else
                              explain_stream(evaluator, samples[0], options, flag, samples))
    yield explanation
