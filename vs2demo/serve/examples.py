"""The page's examples as full results: each one's run (seed 0, the official settings) is computed once per process,
kept as the events it streamed, and replayed from them for every later visitor, labelled as a replay. A replay goes
through the same driver as a live run, so Explain, Report, seeking and the library work on it; an example's
explanation, once a visitor asked for it, is kept beside its run.

The first example, and its explanation, can be computed when the app starts (where a GPU is held for the process;
never inside a ZeroGPU lease), so the page opens on a finished, explained result.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vs2demo.analysis.result import Result
from vs2demo.core.options import GenerationOptions
from vs2demo.engine.events import Finished, Job, Piece
from vs2demo.engine.inputs import file_digest
from vs2demo.evidence.options import ExplainOptions
from vs2demo.evidence.record import Explanation

log = logging.getLogger(__name__)

EXAMPLE_OPTIONS = GenerationOptions(seed=0)  # official settings, one seed: the same run every time
REPLAY_SECONDS = 1.5  # a replayed reasoning streams over about this long, as a reminder it was written token by token


@dataclass(frozen=True)
class Example:
    job: Job
    teaches: str  # what the example shows a student (the button's label)


def load_examples(assets: Path) -> tuple[Example, ...]:
    """assets/examples.json (made by scripts/make_examples.py): clip, prompt and what each teaches."""
    index = assets / "examples.json"
    if not index.exists():
        return ()
    entries = json.loads(index.read_text(encoding="utf-8"))
    return tuple(Example(Job(os.path.realpath(assets / e["video"]), e["prompt"]), e["teaches"]) for e in entries)


Key = tuple[str, str]  # (the clip's content digest, the prompt): Gradio hands a clicked example over as a copy


class ExampleRuns:
    """Recorded runs of the examples, by clip content and prompt, shared by every visitor of this process."""

    def __init__(self, examples: tuple[Example, ...]) -> None:
        self.examples = examples
        self._runs: dict[Key, tuple[Any, ...]] = {}
        self._explanations: dict[Key, Explanation] = {}
        self._digests: dict[str, str | None] = {}  # each example's own path -> its content digest, read once
        self._lock = threading.Lock()

    def first(self) -> Job | None:
        return self.examples[0].job if self.examples else None

    def _key(self, job: Job) -> Key | None:
        """The job's key when it is one of the examples (the same bytes and prompt), else None. Only a job whose
        prompt is an example's is hashed; the examples' own digests are read once (a visitor's copy is not kept)."""
        candidates = [e for e in self.examples if e.job.prompt == job.prompt]
        if not candidates:
            return None
        for e in candidates:
            if e.job.video not in self._digests:
                self._digests[e.job.video] = _digest(e.job.video)
        path = os.path.realpath(job.video)
        digest = self._digests[path] if path in self._digests else _digest(path)  # an asset itself: read once
        known = {self._digests[e.job.video] for e in candidates}
        return (digest, job.prompt) if digest is not None and digest in known else None

    def get(self, job: Job) -> tuple[Any, ...] | None:
        key = self._key(job)
        with self._lock:
            return None if key is None else self._runs.get(key)

    def record(self, job: Job, events: Iterator[Any]) -> Iterator[Any]:
        """Pass a live run's events through, keeping them when the run finished (a stopped run is not kept)."""
        key = self._key(job)
        kept = []
        for event in events:
            kept.append(event)
            # kept before the final update reaches the page: a visitor who reloads at once finds it recorded
            if key is not None and isinstance(event, Finished) and not any(r.stopped for r in event.results):
                with self._lock:
                    self._runs.setdefault(key, tuple(kept))
            yield event

    def replay(self, job: Job, events: tuple[Any, ...]) -> Iterator[Any]:
        """``events`` (what ``get`` returned for ``job``) again, the reasoning paced to stream over about
        REPLAY_SECONDS. The results name this visitor's copy of the clip (the one recorded may have left Gradio's
        cache since), so Explain can read it."""
        pieces = sum(isinstance(e, Piece) for e in events)
        pause = REPLAY_SECONDS / pieces if pieces else 0.0
        for event in events:
            if isinstance(event, Piece):
                time.sleep(pause)
            elif isinstance(event, Finished):
                event = Finished(tuple(_at(r, job.video) for r in event.results),
                                 tuple(tuple(_at(r, job.video) for r in rs) for rs in event.samples))
            yield event

    def remember_explanation(self, result: Result, explanation: Explanation) -> None:
        """An example's explanation, kept for later visitors when it explains the recorded run itself."""
        key = self._key(Job(result.video, result.prompt))
        with self._lock:
            recorded = None if key is None else self._runs.get(key)
        if recorded and recorded[-1].results[0].raw_output == result.raw_output:  # kept runs end with Finished
            with self._lock:
                self._explanations.setdefault(key, explanation)

    def explanation_for(self, result: Result) -> Explanation | None:
        key = self._key(Job(result.video, result.prompt))
        with self._lock:
            return None if key is None else self._explanations.get(key)

    def warm(self, run: Any, explain: Any = None) -> threading.Thread | None:
        """Compute the first example in the background (``run(jobs, options, owner)`` streams a run's events), so
        the page can open on it; with ``explain(samples, options, owner)`` (its progress, then the Explanation),
        its explanation too, kept for the first screen. Returns the thread, or None when there is no example."""
        first = self.first()
        if first is None:
            return None

        def work() -> None:
            try:
                for _ in self.record(first, run([first], EXAMPLE_OPTIONS, "warm-up")):
                    pass
                log.info("the first example is ready: the page opens on its result")
                recorded = self.get(first)
                if explain is None or recorded is None:
                    return
                *_, explanation = explain(recorded[-1].samples[0], ExplainOptions(), "warm-up")
                if isinstance(explanation, Explanation):
                    self.remember_explanation(recorded[-1].results[0], explanation)
                    log.info("the first example's explanation is ready: the page opens on it too")
            except Exception:  # the page still works: the first visitor's click computes it
                log.exception("computing the first example at start failed")

        thread = threading.Thread(target=work, name="vs2-first-example", daemon=True)
        thread.start()
        return thread


def _at(result: Result, path: str) -> Result:
    """The same result, read from the clip at ``path`` (the same bytes: the key is their digest)."""
    return replace(result, video=path, plan=replace(result.plan, info=replace(result.plan.info, path=path)))


def _digest(path: str) -> str | None:
    try:
        return file_digest(path)
    except OSError:
        return None
