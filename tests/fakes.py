"""A scripted evaluator for UI tests: real frames and real result assembly, but text chosen by the test."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from vs2demo.model import Evaluator, Finished, FramesReady, Job, Piece, Planned, Status
from vs2demo.options import GenerationOptions
from vs2demo.parse import parse_scores
from vs2demo.result import ModelInfo, Result, Timings, dimension_scores, think_text
from vs2demo.video import load_frames

INFO = ModelInfo("fake", "cpu", "float32", smoke=True, load_s=0.0)


class ScriptedEvaluator(Evaluator):
    """Streams ``text`` in small pieces for every clip, then results parsed from it (no model)."""

    def __init__(self, text: str, delay_s: float = 0.02) -> None:
        super().__init__("smoke")
        self.text, self.delay_s = text, delay_s
        self.ended: list[str] = []  # how each stream ended: "done", "stopped" or "closed"
        self.started = 0  # streams that began writing text

    def stream(self, jobs: Sequence[Job], options: GenerationOptions | None = None, stop=None) -> Iterator:
        options = options or GenerationOptions()
        frames = []
        for i, job in enumerate(jobs):
            yield Planned(i, self.plan(job.video, options.fps))
        yield Status("Thinking…")
        for i, job in enumerate(jobs):
            frames.append(load_frames(job.video, options.fps, self.limits))
            yield FramesReady(i, frames[-1])
        emitted = ""
        self.started += 1
        try:
            for k in range(0, len(self.text), 4):
                if stop is not None and stop.is_set():
                    break
                for i in range(len(jobs)):
                    yield Piece(i, self.text[k:k + 4])
                emitted += self.text[k:k + 4]
                time.sleep(self.delay_s)
        except GeneratorExit:
            self.ended.append("closed")
            raise
        stopped = emitted != self.text
        self.ended.append("stopped" if stopped else "done")
        parsed = parse_scores(emitted)
        none = (None,) * 3
        results = tuple(
            Result(video=job.video, prompt=job.prompt, raw_output=emitted, think=think_text(emitted),
                   parse_method=parsed.method, parse_notes=parsed.notes,
                   scores=dimension_scores(parsed, none, none), frames=f.plan.to_dict(), model=INFO,
                   options=options, timings=Timings(0.0, 0.0, 0.01, 0.1, len(emitted) // 4), stopped=stopped)
            for job, f in zip(jobs, frames))
        yield Finished(results)


def fail_first_generate(monkeypatch, evaluator) -> None:
    """Make the evaluator's next generate() raise out-of-memory, as a GPU would, then behave again."""
    import torch

    real = evaluator.model.generate
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluator.model, "generate", flaky)
