"""The one GPU-bound call, wrapped for ZeroGPU (``spaces.GPU`` is a no-op anywhere else), behind a small runner.

ZeroGPU runs the wrapped function in a worker forked from this process and pickles its arguments and every
event it yields, so the wrapped function takes plain values (a runner key, a run id, jobs, options) and finds
the runner it belongs to in ``_RUNNERS``; the events it yields carry thumbnails, never full frames.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator, Sequence

import spaces

from .events import Event, Job
from .model import Evaluator
from .options import GenerationOptions

ON_ZERO_GPU = bool(os.environ.get("SPACES_ZERO_GPU"))
_RUNNERS: dict[int, Runner] = {}
_keys = itertools.count()


class Runner:
    """Owns the shared evaluator and the stop flag of every run in flight, keyed per run."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.key = next(_keys)
        self._stops: dict[int, tuple[str, threading.Event]] = {}  # run id -> (who started it, its flag)
        self._lock = threading.Lock()
        self._runs = itertools.count()
        _RUNNERS[self.key] = self

    def stream(self, jobs: Sequence[Job], options: GenerationOptions, owner: str) -> Iterator[Event]:
        """Evaluate ``jobs`` for ``owner`` (a session); ``stop(owner)`` ends the run early."""
        yield from _gpu_stream(self.key, next(self._runs), owner, jobs, options)

    def stop(self, owner: str) -> bool:
        """Ask every run of ``owner`` to end; True if one was running."""
        with self._lock:
            flags = [flag for who, flag in self._stops.values() if who == owner]
        for flag in flags:
            flag.set()
        return bool(flags)

    def running(self, owner: str) -> bool:
        with self._lock:
            return any(who == owner for who, _ in self._stops.values())

    def _run(self, run: int, owner: str, jobs: Sequence[Job], options: GenerationOptions) -> Iterator[Event]:
        flag = threading.Event()
        with self._lock:
            self._stops[run] = (owner, flag)
        try:
            yield from self.evaluator.stream(jobs, options, flag)
        finally:
            with self._lock:
                del self._stops[run]


def estimate_seconds(key: int, run: int, owner: str, jobs: Sequence[Job], options: GenerationOptions) -> int:
    """ZeroGPU duration: loading margin plus the token budget at a conservative ~15 tokens/s per batch."""
    return int(30 + options.max_new_tokens / 15 + 10 * len(jobs))


@spaces.GPU(duration=estimate_seconds)
def _gpu_stream(key: int, run: int, owner: str, jobs: Sequence[Job], options: GenerationOptions) -> Iterator[Event]:
    yield from _RUNNERS[key]._run(run, owner, jobs, options)
