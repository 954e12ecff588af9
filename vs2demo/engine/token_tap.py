"""Handing each step's new tokens to the consumer without making the decode loop wait for them.

transformers' streamer protocol copies every step's tokens to the host with a blocking ``.cpu()`` on the
generating thread. ``TokenTap`` is a stopping criterion instead (generate() calls those right after appending the
step's tokens): it starts an asynchronous copy of the last column into pinned host memory, records an event
behind it, and queues both. The consumer waits on that event alone, on its own thread, and decodes the text
there; the decode loop goes on queueing work. It also answers the caller's stop flag (a Python event, read
without touching the device).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, eq=False)
class StepTokens:
    """One step's new token per row, on the host once ``ready()`` returns."""

    host: Any  # (rows,) int64, pinned on CUDA
    event: Any  # a CUDA event recorded after the copy; None on CPU (the copy was done when queued)

    def ready(self) -> list[int]:
        if self.event is not None:
            self.event.synchronize()  # the consumer waits for this copy only, never the decode loop
        return self.host.tolist()


class TokenTap:
    """A stopping criterion that queues each step's tokens (asynchronously copied) and ends every row when the
    caller sets ``stop``."""

    def __init__(self, out: queue.Queue, stop: threading.Event, device: Any, padding: list[bool] | None = None
                 ) -> None:
        self.out = out
        self.stop = stop
        self.cuda = getattr(device, "type", str(device)).startswith("cuda")
        self.padding = padding  # rows that only fill a bucketed batch: done from their first step
        self._answers: dict[bool, Any] = {}  # one tensor per answer, made once: this runs every step

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        last = input_ids[:, -1]
        host = torch.empty(last.shape, dtype=last.dtype, pin_memory=self.cuda)
        host.copy_(last, non_blocking=self.cuda)
        event = None
        if self.cuda:
            event = torch.cuda.Event()
            event.record()
        self.out.put(StepTokens(host, event))
        stop = self.stop.is_set()
        if stop not in self._answers:
            rows = [stop or pad for pad in (self.padding or [False] * input_ids.shape[0])]
            self._answers[stop] = torch.tensor(rows, dtype=torch.bool, device=input_ids.device)  # once per answer
        return self._answers[stop]
