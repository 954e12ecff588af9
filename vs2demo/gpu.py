"""The one GPU-bound call, wrapped for ZeroGPU (``spaces.GPU`` is a no-op anywhere else).

ZeroGPU runs the wrapped function in a worker and pickles its arguments and yields, so it takes plain
values (an evaluator key, jobs, options, a session id) and finds the shared evaluator and the
session's stop flag in this module's registries.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import spaces

from .model import Evaluator, Event, Job
from .options import GenerationOptions

_EVALUATORS: dict[str, Evaluator] = {}
_STOPS: dict[str, threading.Event] = {}
_STOPS_LOCK = threading.Lock()


def register(evaluator: Evaluator) -> str:
    key = f"{evaluator.model_id}#{id(evaluator)}"  # two apps in one process never share a key
    _EVALUATORS[key] = evaluator
    return key


def estimate_seconds(key: str, jobs: Sequence[Job], options: GenerationOptions, session: str) -> int:
    """ZeroGPU duration: loading margin plus the token budget at a conservative ~15 tokens/s per batch."""
    return int(30 + options.max_new_tokens / 15 + 10 * len(jobs))


@spaces.GPU(duration=estimate_seconds)
def stream(key: str, jobs: Sequence[Job], options: GenerationOptions, session: str) -> Iterator[Event]:
    stop = threading.Event()
    with _STOPS_LOCK:
        _STOPS[session] = stop
    try:
        yield from _EVALUATORS[key].stream(jobs, options, stop)
    finally:
        with _STOPS_LOCK:
            if _STOPS.get(session) is stop:
                del _STOPS[session]


def request_stop(session: str) -> bool:
    """Ask the session's running generation to end; True if one was running."""
    with _STOPS_LOCK:
        stop = _STOPS.get(session)
    if stop is None:
        return False
    stop.set()
    return True
