"""One long-lived thread per loaded model that runs every generate() call on it.

Inductor's CUDA-graph trees are kept per thread (torch/_inductor/cudagraph_trees.py): graphs recorded on one
thread are not replayed on another. A thread per request would re-record them every time; this one thread
keeps them for the model's lifetime, and the warm-up at load runs on it too. Jobs run one after another in the
order they were submitted; their outcome (or exception) comes back through a Future.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_CLOSE = object()


class DecodeThread:
    """A daemon thread serving jobs in order (a stuck generate() never blocks the interpreter's exit)."""

    def __init__(self, name: str = "vs2-decode") -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    @property
    def ident(self) -> int | None:
        return self._thread.ident

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        self._jobs.put((fn, args, kwargs, future))
        return future

    def close(self) -> None:
        """Let the thread end once the jobs already submitted have run."""
        self._jobs.put(_CLOSE)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not _CLOSE:
            fn, args, kwargs, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the caller through the future, never lost on the thread
                future.set_exception(exc)
