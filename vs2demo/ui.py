"""The page's handlers: a UI adapter over the evaluator. It never decodes video or touches the model itself; one
driver turns the evaluator's events into page updates for any view (one clip, two clips, …) by slot name."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from . import charts, files, render
from .errors import VS2Error
from .events import Finished, FramesReady, Job, Piece, Planned, Status
from .gpu import Runner
from .model import Evaluator
from .options import OFFICIAL_FPS, OFFICIAL_MAX_NEW_TOKENS, OFFICIAL_TEMPERATURE, GenerationOptions
from .parse import NONE
from .result import Result
from .serving import watch_listener
from .verdict import compare as compare_results

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parent.parent / "assets"
UPDATE_EVERY_S = 0.05  # at most ~20 page updates a second while text streams


@dataclass(frozen=True)
class ClipSlots:
    """The outputs one clip of a view fills while it streams."""

    plan: str
    text: str
    gallery: str
    times: str  # the gallery's frame timestamps, kept as data for click-to-seek


@dataclass(frozen=True)
class View:
    outputs: tuple[str, ...]  # the handler's outputs, in order
    clips: tuple[ClipSlots, ...]
    streaming: str  # the status while text streams

    def update(self, **values: Any) -> tuple:
        """One streamed update: the named outputs change, every other output is left as it is."""
        unknown = set(values) - set(self.outputs)
        if unknown:  # a misspelt output would otherwise be dropped without a word
            raise ValueError(f"no such outputs: {sorted(unknown)}")
        return tuple(values.get(s, gr.skip()) for s in self.outputs)


SCORE_VIEW = View(("status", "plan", "text", "radar", "cards", "gallery", "raw", "json", "file", "times"),
                  (ClipSlots("plan", "text", "gallery", "times"),), "Thinking… (streaming)")
COMPARE_VIEW = View(("status", "plan_a", "plan_b", "text_a", "text_b", "radar", "verdict", "table", "gallery_a",
                     "gallery_b", "json", "file", "times_a", "times_b"),
                    tuple(ClipSlots(f"plan_{c}", f"text_{c}", f"gallery_{c}", f"times_{c}") for c in "ab"),
                    "Both clips are thinking… (streaming)")


class _Throttle:
    """Lets a streaming update through at most every UPDATE_EVERY_S (the last one always passes)."""

    def __init__(self) -> None:
        self.last = 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self.last >= UPDATE_EVERY_S:
            self.last = now
            return True
        return False


def uploaded(video: str | None) -> str:
    """The path of an upload, refusing anything else an API caller might send.

    Gradio hands a handler whatever path a client names; only files inside Gradio's upload folder or
    our own examples are served, so '/etc/passwd' or '../..' is refused before a byte is read.
    """
    if not video:
        raise gr.Error("Upload a video (or pick an example) first.")
    real = Path(os.path.realpath(video))
    roots = [Path(os.path.realpath(get_upload_folder())), Path(os.path.realpath(ASSETS))]
    if not any(real.is_relative_to(root) for root in roots):
        raise gr.Error("Only uploaded videos can be evaluated: file paths on the server are not accepted.")
    return str(real)


def public(message: str, paths: list[str | None]) -> str:
    """A message as a visitor sees it: every server path of this request replaced by the file's own name."""
    for path in paths:
        if path:
            for form in {path, os.path.realpath(path)}:
                message = message.replace(form, Path(form).name)
    return message


def _options(seed: float | None, greedy: bool, temperature: float, max_new_tokens: float, fps: float
             ) -> GenerationOptions:
    try:
        return GenerationOptions(seed=None if seed in (None, "") else int(seed), greedy=bool(greedy),
                                 temperature=float(temperature), max_new_tokens=int(max_new_tokens), fps=float(fps))
    except ValueError as exc:
        raise gr.Error(str(exc)) from exc


class DemoApp:
    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.runner = Runner(evaluator)

    # -- handlers -------------------------------------------------------------------------------

    def plan(self, video: str | None, fps: float) -> str:
        """Shown as soon as a clip is uploaded: what will be evaluated, before any GPU time."""
        if not video:
            return ""
        try:
            return render.plan_html(self.evaluator.plan(uploaded(video), float(fps)))
        except (VS2Error, gr.Error) as exc:
            message = public(exc.message if isinstance(exc, gr.Error) else str(exc), [video])
            gr.Warning(message)
            return render.error_html(message)

    def stop(self, request: gr.Request) -> Any:
        if self.runner.stop(_owner(request)):
            return render.status_html("Stopping…")  # the run's own last update follows
        return render.status_html("Nothing was running.")

    def score(self, video: str | None, prompt: str, seed: float | None = None, greedy: bool = False,
              temperature: float = OFFICIAL_TEMPERATURE, max_new_tokens: float = OFFICIAL_MAX_NEW_TOKENS,
              fps: float = OFFICIAL_FPS, request: gr.Request = None, replay: bool = False) -> Iterator[tuple]:
        """Outputs: status, plan, reasoning, radar, cards, gallery, raw output, result JSON, download.
        Every setting after the prompt has the official default, so API callers may leave them out."""
        jobs = [Job(uploaded(video), prompt)]  # the evaluator checks prompts first, before any work
        options = _options(seed, greedy, temperature, max_new_tokens, fps)
        reset = {"status": render.status_html("Checking the clip…"), "text": "", "radar": None, "cards": "",
                 "gallery": None, "raw": "", "json": None, "file": None}
        yield from self._drive(SCORE_VIEW, jobs, options, request, reset, lambda results: _final(results[0], replay))

    def compare(self, video_a: str | None, video_b: str | None, prompt_a: str, separate: bool = False,
                prompt_b: str | None = None, seed: float | None = None, greedy: bool = False,
                temperature: float = OFFICIAL_TEMPERATURE, max_new_tokens: float = OFFICIAL_MAX_NEW_TOKENS,
                fps: float = OFFICIAL_FPS, request: gr.Request = None) -> Iterator[tuple]:
        """Outputs: status, plan A, plan B, reasoning A, reasoning B, radar, verdict, table, gallery A,
        gallery B, result JSON, download."""
        if not video_a or not video_b:
            raise gr.Error("Upload two clips to compare.")
        jobs = [Job(uploaded(video_a), prompt_a), Job(uploaded(video_b), prompt_b if separate else prompt_a)]
        options = _options(seed, greedy, temperature, max_new_tokens, fps)
        reset = {"status": render.status_html("Checking the clips…"), "text_a": "", "text_b": "", "radar": None,
                 "verdict": "", "table": None, "gallery_a": None, "gallery_b": None, "json": None, "file": None}
        yield from self._drive(COMPARE_VIEW, jobs, options, request, reset, _final_compare)

    def replay(self, video: str, prompt: str) -> Iterator[tuple]:
        """What example caching records: a fixed-seed official-settings run, labelled as a replay."""
        yield from self.score(video, prompt, seed=0, replay=True)

    # -- the driver -----------------------------------------------------------------------------

    def _drive(self, view: View, jobs: list[Job], options: GenerationOptions, request: gr.Request | None,
               reset: dict[str, Any], final: Callable[[tuple[Result, ...]], dict[str, Any]]) -> Iterator[tuple]:
        texts = [""] * len(jobs)
        shown: dict[str, Any] = {}  # plans and frames, repeated in the final update for API callers
        throttle = _Throttle()
        yield view.update(**reset)
        for event in self._events(jobs, options, request):
            if isinstance(event, Planned):
                shown[view.clips[event.index].plan] = render.plan_html(event.plan)
                yield view.update(**shown)
            elif isinstance(event, Status):
                yield view.update(status=render.status_html(event.message))
            elif isinstance(event, FramesReady):
                slots = view.clips[event.index]
                shown[slots.gallery] = files.thumbnail_files(event.plan, event.thumbnails)
                shown[slots.times] = list(event.plan.timestamps)
                yield view.update(**{slots.gallery: shown[slots.gallery], slots.times: shown[slots.times]})
            elif isinstance(event, Piece):
                texts[event.index] += event.text
                if throttle.ready():
                    yield view.update(status=render.status_html(view.streaming),
                                      **{c.text: t for c, t in zip(view.clips, texts)})
            elif isinstance(event, Finished):
                yield view.update(**shown, **final(event.results))

    def _events(self, jobs: list[Job], options: GenerationOptions, request: gr.Request | None) -> Iterator[Any]:
        owner = _owner(request)
        # a run nobody listens to (tab closed, results never read) must not hold the model slot to its end
        done = watch_listener(request, lambda reason: self.runner.stop(owner))
        try:
            yield from self.runner.stream(jobs, options, owner)
        except VS2Error as exc:  # bad input, a model that cannot load, a failed generation: this visitor only
            log.warning("refused or failed for a visitor: %s", exc, exc_info=exc.__cause__ is not None)
            raise gr.Error(public(str(exc), [j.video for j in jobs])) from exc
        finally:
            done()


def _owner(request: gr.Request | None) -> str:
    return request.session_hash if request is not None and request.session_hash else "anonymous"


def _took(result: Result) -> str:
    took = f"Done in {result.timings.generate_s:.1f} s on {result.model.device} ({result.model.dtype})"
    return ("Stopped early: " if result.stopped else "") + took


def _final(result: Result, replay: bool) -> dict[str, Any]:
    t = result.timings
    status = _took(result) + f" · {t.new_tokens} tokens · {t.tokens_per_s:.1f} tokens/s"
    if not result.official_settings:
        status += " · not the official settings: " + ", ".join(result.deviations())
    if result.parse_method == NONE:
        status += " · no score could be parsed: the raw output is below"
    return {"status": render.status_html(status), "text": result.raw_output,
            "radar": charts.radar([("clip", result)]), "cards": render.cards_html(result, replay),
            "raw": result.raw_output, "json": result.to_dict(paths=False), "file": files.result_json([result])}


def _final_compare(results: tuple[Result, ...]) -> dict[str, Any]:
    a, b = results
    rows = compare_results(a, b)
    return {"status": render.status_html(_took(a)), "text_a": a.raw_output, "text_b": b.raw_output,
            "radar": charts.radar([("A", a), ("B", b)]), "verdict": render.verdict_html(rows),
            "table": render.comparison_rows(rows),
            "json": {"clip_a": a.to_dict(paths=False), "clip_b": b.to_dict(paths=False)},
            "file": files.result_json([a, b])}
