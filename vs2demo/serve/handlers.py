"""The page's handlers: a UI adapter over the evaluator. It never decodes video or touches the model itself; one
driver turns the evaluator's events into page updates for any view (one clip, two clips, …) by slot name. The
slots live in views.py, request checks in requests.py, a finished run's page values in outcomes.py."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from vs2demo.analysis.rank import RANK_BY
from vs2demo.analysis.result import Result
from vs2demo.analysis.stability import samples_dict
from vs2demo.core.dimensions import OVERALL
from vs2demo.core.errors import VS2Error
from vs2demo.core.options import OFFICIAL_FPS, OFFICIAL_MAX_NEW_TOKENS, OFFICIAL_TEMPERATURE, GenerationOptions
from vs2demo.engine.evaluator import Evaluator
from vs2demo.engine.events import Finished, FramesReady, Job, Piece, Planned, Progress, Status
from vs2demo.evidence.options import ExplainOptions, ExplainProgress, Stopped
from vs2demo.evidence.record import DEFAULT_COUNTERFACTUAL, Explanation
from vs2demo.present import figures, panels_html, result_html
from vs2demo.present.evidence_html import cost_line, evidence_html, reading_html
from vs2demo.present.report_html import report_html
from vs2demo.serve import checks, files
from vs2demo.serve.examples import EXAMPLE_OPTIONS, ExampleRuns, load_examples
from vs2demo.serve.guard import watch_listener
from vs2demo.serve.library import Library, RunRecord, page_url
from vs2demo.serve.outcomes import (
    final_compare,
    final_rank,
    final_score,
)
from vs2demo.serve.requests import (
    ASSETS,
    fault_logged,
    owner_of,
    page_options,
    page_result,
    parse_seconds,
    public,
    uploaded,
    user_error,
)
from vs2demo.serve.runs import STOPPED_BEFORE_MODEL, Runner
from vs2demo.serve.views import (
    COMPARE_VIEW,
    MAX_RANK_CLIPS,
    RANK_VIEW,
    SCORE_VIEW,
    Throttle,
    View,
)

log = logging.getLogger(__name__)


class DemoApp:
    def __init__(self, evaluator: Evaluator, library: Library | None = None) -> None:
        self.evaluator = evaluator
        self.runner = Runner(evaluator)
        self.library = library  # the results library: every finished result is stored there (None: not stored)
        self.examples = ExampleRuns(load_examples(ASSETS))  # the examples' runs, computed once, then replayed

    # -- handlers -------------------------------------------------------------------------------

    def plan(self, video: str | None, fps: float) -> str:
        """Shown as soon as a clip is uploaded: what will be evaluated, before any GPU time; a clip that cannot be
        read is told here, beside it, and nowhere else (no toast)."""
        if not video:
            return ""
        try:
            return result_html.plan_html(checks.clip_plan(self.evaluator.plan, video, fps))
        except checks.Refused as exc:
            return result_html.error_html(exc.message)

    def check(self, video: str | None, prompt: str, fps: float = OFFICIAL_FPS) -> Iterator[tuple]:
        """Before a run (page only): the clip and the prompt, checked in a moment. Outputs: status, plan."""
        yield from checks.told(checks.score_check(self.evaluator.plan, video, prompt, fps), 1, "Checking the clip…")

    def check_compare(self, video_a: str | None, video_b: str | None, prompt_a: str, separate: bool = False,
                      prompt_b: str | None = None, fps: float = OFFICIAL_FPS) -> Iterator[tuple]:
        """Before a comparison (page only). Outputs: status, plan A, plan B."""
        check = checks.compare_check(self.evaluator.plan, (video_a, video_b), prompt_a,
                                     prompt_b if separate else None, fps)
        yield from checks.told(check, 2, "Checking the clips…")

    def check_rank(self, videos: list[str] | None, prompt: str, by: str = OVERALL, fps: float = OFFICIAL_FPS
                   ) -> Iterator[tuple]:
        """Before a ranking (page only): at least two readable clips and a prompt. Outputs: status."""
        def check() -> None:
            try:
                self.readable(self.rank_jobs(videos, prompt, by), float(fps))
            except gr.Error as exc:  # told to the log by user_error already
                raise checks.Refused(exc.message, logged=True) from exc
            checks.prompt_problem(prompt)
        yield from checks.told(check, 0, "Checking the clips…")

    def stop(self, request: gr.Request) -> Any:
        if self.runner.stop(owner_of(request)):
            return result_html.status_html("Stopping…")  # the run's own last update follows
        gr.Info("Nothing was running.")
        return gr.skip()  # the last result and its status stay as they were

    def score(self, video: str | None, prompt: str, seed: str | float | None = None, greedy: bool = False,
              temperature: float = OFFICIAL_TEMPERATURE, max_new_tokens: float = OFFICIAL_MAX_NEW_TOKENS,
              fps: float = OFFICIAL_FPS, samples: float = 1, request: gr.Request = None
              ) -> Iterator[tuple]:
        """Outputs: status, plan, reasoning, radar, cards, gallery, raw output, result JSON, download.
        Every setting after the prompt has the official default, so API callers may leave them out; samples > 1
        (an extra) adds how stable each dimension is, and every sample, to the cards and the JSON. (Agents: the
        JSON tools in tools.py describe each argument.)"""
        jobs = self.score_jobs(video, prompt)
        options = page_options(seed, greedy, temperature, max_new_tokens, fps, samples)
        reset = {"status": result_html.status_html("Checking the clip…"), "text": "", "radar": None, "cards": "",
                 "gallery": None, "raw": "", "json": None, "file": None, "result": None, "stored": None}
        yield from self._drive(SCORE_VIEW, jobs, options, request, reset,
                               lambda done, _: final_score(done, replay=False))

    def compare(self, video_a: str | None, video_b: str | None, prompt_a: str, separate: bool = False,
                prompt_b: str | None = None, seed: str | float | None = None, greedy: bool = False,
                temperature: float = OFFICIAL_TEMPERATURE, max_new_tokens: float = OFFICIAL_MAX_NEW_TOKENS,
                fps: float = OFFICIAL_FPS, samples: float = 1, request: gr.Request = None) -> Iterator[tuple]:
        """Outputs: status, plan A, plan B, reasoning A, reasoning B, radar, verdict, table, gallery A,
        gallery B, result JSON, download. With samples > 1 the verdict counts wins over paired samples."""
        jobs = self.compare_jobs(video_a, video_b, prompt_a, prompt_b if separate else None)
        options = page_options(seed, greedy, temperature, max_new_tokens, fps, samples)
        reset = {"status": result_html.status_html("Checking the clips…"), "text_a": "", "text_b": "", "radar": None,
                 "verdict": "", "table": "", "gallery_a": None, "gallery_b": None, "json": None, "file": None,
                 "stored": None}
        yield from self._drive(COMPARE_VIEW, jobs, options, request, reset, lambda done, _: final_compare(done))

    def rank(self, videos: list[str] | None, prompt: str, by: str = OVERALL, seed: str | float | None = None,
             greedy: bool = False, temperature: float = OFFICIAL_TEMPERATURE,
             max_new_tokens: float = OFFICIAL_MAX_NEW_TOKENS, fps: float = OFFICIAL_FPS, samples: float = 1,
             request: gr.Request = None) -> Iterator[tuple]:
        """Best-of-N: 2 to 8 clips for one prompt, ranked by the sum of the official soft scores (or one
        dimension's). Outputs: status, leaderboard, clips by rank (click one for its full result), JSON, download."""
        jobs = self.rank_jobs(videos, prompt, by)
        options = page_options(seed, greedy, temperature, max_new_tokens, fps, samples)
        jobs, skipped = self.readable(jobs, options.fps)  # one bad file is left out, not the whole ranking
        reset = {"status": result_html.status_html(f"Checking {len(jobs)} clips…"), "board": "", "gallery": None,
                 "json": None, "file": None, "ranked": [], "stored": None}
        yield from self._drive(RANK_VIEW, jobs, options, request, reset,
                               lambda done, frames: final_rank(done, frames, prompt, by, skipped))

    def readable(self, jobs: list[Job], fps: float) -> tuple[list[Job], list[str]]:
        """The clips that can be read (their headers checked, as cheap as the plan shown on upload), and one line
        per clip left out; fewer than two readable clips is the visitor's one message."""
        good, skipped = [], []
        for job in jobs:
            try:
                checks.clip_plan(self.evaluator.plan, job.video, fps)
                good.append(job)
            except checks.Refused as exc:
                skipped.append(exc.message)
        if len(good) < 2:
            raise user_error("Ranking needs at least 2 readable clips. " + " ".join(skipped))
        return good, skipped

    # -- the core the page and the JSON tools (tools.py) share: typed inputs, one run, plain data -------------

    @staticmethod
    def score_jobs(video: str | None, prompt: str) -> list[Job]:
        return [Job(uploaded(video), prompt)]  # the evaluator checks prompts first, before any work

    @staticmethod
    def compare_jobs(video_a: str | None, video_b: str | None, prompt_a: str, prompt_b: str | None = None
                     ) -> list[Job]:
        """Two clips, for one prompt or (``prompt_b``) one each."""
        if not video_a or not video_b:
            raise user_error(checks.TWO_CLIPS)
        return [Job(uploaded(video_a), prompt_a), Job(uploaded(video_b), prompt_a if prompt_b is None else prompt_b)]

    @staticmethod
    def rank_jobs(videos: list[str | None] | None, prompt: str, by: str) -> list[Job]:
        videos = [v for v in (videos or []) if v]
        if not 2 <= len(videos) <= MAX_RANK_CLIPS:
            raise user_error(f"Upload 2 to {MAX_RANK_CLIPS} clips generated for the same prompt (got {len(videos)}).")
        if by not in RANK_BY:
            raise user_error(f"Rank by one of {', '.join(RANK_BY)}.")
        return [Job(uploaded(v), prompt) for v in videos]

    def finished(self, jobs: list[Job], options: GenerationOptions, request: gr.Request | None) -> Finished:
        """Run ``jobs`` to their end (with the page's bounds, stop button and abandoned-run watch) and return the
        final event; a run stopped before the model ran is an error, as there is nothing to return."""
        done = None
        for event in self._events(jobs, options, request):
            if isinstance(event, Finished):
                done = event
        if done is None:
            raise user_error(STOPPED_BEFORE_MODEL)
        return done

    def show_ranked(self, ranked: list[Result], evt: gr.SelectData) -> tuple:
        """A leaderboard entry's full result: cards (with stability), reasoning, radar."""
        if not isinstance(evt.index, int) or not 0 <= evt.index < len(ranked):
            return gr.skip(), gr.skip(), gr.skip()
        samples = ranked[evt.index]
        first = samples[0]
        cards = panels_html.result_panels_html(samples)
        return cards, first.raw_output, figures.radar([(Path(first.video).name, first)])

    def explain(self, samples: tuple[Result, ...] | None, counterfactual: str = DEFAULT_COUNTERFACTUAL,
                stored: str | None = None, seconds: str | None = "", request: gr.Request = None) -> Iterator[tuple]:
        """An extra after a result on this page (same session): which seconds and sentences each score rests on, by
        re-scoring the same output with evidence hidden (the scores never change). ``counterfactual``: the other
        prompt the alignment probe tries; ``stored``: the stored result explained (its frames are reused);
        ``seconds`` ("1.5, 3"): seconds whose total effect is measured too (re-generated without the segment
        holding each), beside the top seconds by grounding. Outputs: status, evidence panel, result JSON with the
        explanation, download (and, as state, the explanation itself for the page's report and the stored
        explanation's id)."""
        result = page_result(samples, "the explanation re-scores")
        try:
            picked = parse_seconds(seconds)
        except VS2Error as exc:
            raise user_error(f"Seconds to re-generate without: {exc}") from exc
        if any(t > result.plan.info.duration_s for t in picked):
            raise user_error(f"Seconds to re-generate without: the clip lasts {result.plan.info.duration_s:.2f} s "
                             f"(got {', '.join(f'{t:g}' for t in picked)}).")
        try:
            options = ExplainOptions(counterfactual=(counterfactual or "").strip() or DEFAULT_COUNTERFACTUAL,
                                     picked=picked)
        except (ValueError, VS2Error) as exc:
            raise user_error(f"Other prompt: {exc}") from exc
        cost = cost_line(result, options, len(samples))  # every sample is explained: all of them counted
        yield (result_html.status_html(f"Explaining: preparing the clip… {cost} Stop ends it."),
               "", gr.skip(), gr.skip(), None, gr.skip())
        explanation: Explanation | None = None
        owner = owner_of(request)
        # an explanation nobody listens to any more ends as Stop ends it (between chunks), freeing the model; its
        # stream is closed at the next progress too, whatever explains it
        abandoned = threading.Event()

        def on_abandoned(reason: str) -> None:
            abandoned.set()
            self.runner.stop(owner)

        done = watch_listener(request, on_abandoned)
        steps = self.runner.explain(samples, options, owner)
        try:
            for item in steps:
                if abandoned.is_set():
                    log.info("explanation stopped: nobody listens any more")
                    return
                if isinstance(item, ExplainProgress):
                    yield (result_html.status_html(item.message), gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                           gr.skip())
                else:
                    explanation = item
        except Stopped as exc:
            yield result_html.status_html(str(exc)), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        except VS2Error as exc:
            fault_logged(exc)
            raise user_error(public(str(exc), [result.video]), logged=True) from exc
        finally:
            done()
            steps.close()
        if explanation is None:
            raise user_error("The explanation ended without a result.")
        self.examples.remember_explanation(result, explanation)
        record = {**samples_dict(samples, paths=False), "explanation": explanation.to_dict()}
        status = (f"Explained in {explanation.seconds:.1f} s ({explanation.passes} re-scoring passes, "
                  f"{explanation.generations} re-generated samples) · an extra, not the official scores: the scores "
                  "above are unchanged")
        saved = None
        if self.library is not None:
            saved = self.library.store(RunRecord("explanation", (samples,), record, {}, (result.video,),
                                                 revision=self.evaluator.revision,
                                                 frames=self.library.frames_of(stored)), request)
        yield (result_html.status_html(status), evidence_html(result, explanation), record,
               files.write_json("result-explained", record), explanation, saved)

    def reading(self, samples: tuple[Result, ...] | None) -> str:
        """After a run: its reasoning as readable sentences with the scores set apart (where the evidence goes)."""
        return reading_html(samples[0]) if samples and isinstance(samples[0], Result) else ""

    def report(self, samples: tuple[Result, ...] | None, explanation: Explanation | None = None,
               stored: str | None = None, request: gr.Request = None) -> str:
        """The page's result as one self-contained HTML file (frames embedded, opens offline); with the evidence
        when the result was explained, and the link that reopens the stored result."""
        result = page_result(samples, "the report is of")
        try:
            thumbs = self.evaluator.thumbnails(result.video, result.plan.fps)
        except VS2Error as exc:  # the upload was removed from the server's cache meanwhile: the report goes on
            log.warning("no frames for the report: %s", exc)
            thumbs = None
        link = f"{page_url(request)}?r={stored}" if isinstance(stored, str) and stored else None
        html = report_html(samples, thumbs, explanation if isinstance(explanation, Explanation) else None, link)
        return files.write_report(html)

    # -- examples: full results, computed once per process, then replayed -----------------------------------

    def example(self, video: str | None, prompt: str, request: gr.Request = None) -> Iterator[tuple]:
        """An example clicked: its run (seed 0, the official settings) the first time, then a replay of that very
        run's events, labelled as one. Either way it is a full result: Explain, Report and seeking work on it."""
        jobs = self.score_jobs(video, prompt)
        recorded = self.examples.get(jobs[0])
        reset = {"status": result_html.status_html("Replaying the example's run…" if recorded else
                                                   "Checking the clip…"), "text": "", "radar": None, "cards": "",
                 "gallery": None, "raw": "", "json": None, "file": None, "result": None, "stored": None}
        events = (self.examples.replay(jobs[0], recorded) if recorded else
                  self.examples.record(jobs[0], self._events(jobs, EXAMPLE_OPTIONS, request)))
        yield from self._drive(SCORE_VIEW, jobs, EXAMPLE_OPTIONS, request, reset,
                               lambda done, _: final_score(done, replay=recorded is not None), events,
                               store=recorded is None)

    def first_screen(self, request: gr.Request = None) -> Iterator[tuple]:
        """On opening the page: the first example's result replayed, when it was computed in this process (the app
        computes it at start where a GPU is held, or a visitor's click did); otherwise the page stays as it is."""
        first = self.examples.first()
        if first is None or self.examples.get(first) is None:
            yield SCORE_VIEW.update()  # nothing to show yet: every output left as it is
            return
        yield from self.example(first.video, first.prompt, request)

    def first_inputs(self) -> tuple[Any, Any]:
        """On opening the page, with the first example's result: its clip in the player and its prompt."""
        first = self.examples.first()
        if first is None or self.examples.get(first) is None:
            return gr.skip(), gr.skip()
        return first.video, first.prompt

    def example_evidence(self, samples: tuple[Result, ...] | None) -> tuple[str, Explanation | None]:
        """After an example's result: its explanation when one was computed before (the evidence panel and the
        report use it), else the readable reasoning."""
        explanation = self.examples.explanation_for(samples[0]) if samples else None
        if explanation is not None and samples:
            return evidence_html(samples[0], explanation), explanation
        return self.reading(samples), None

    # -- the driver -----------------------------------------------------------------------------

    def _drive(self, view: View, jobs: list[Job], options: GenerationOptions, request: gr.Request | None,
               reset: dict[str, Any], final: Callable[[Finished, dict[int, FramesReady]], dict[str, Any]],
               events: Iterator[Any] | None = None, store: bool = True) -> Iterator[tuple]:
        texts = [""] * len(jobs)
        shown: dict[str, Any] = {}  # plans and frames, repeated in the final update for API callers
        frames: dict[int, FramesReady] = {}
        throttle = Throttle()
        streaming = view.streaming_status(options.samples)
        yield view.update(**reset)
        for event in self._events(jobs, options, request) if events is None else events:
            slots = view.clips[event.index] if getattr(event, "index", None) in range(len(view.clips)) else None
            if isinstance(event, Planned) and slots:
                shown[slots.plan] = result_html.plan_html(event.plan)
                yield view.update(**shown)
            elif isinstance(event, Status):
                yield view.update(status=result_html.status_html(event.message))
            elif isinstance(event, FramesReady):
                frames[event.index] = event
                if slots:
                    shown[slots.gallery] = files.thumbnail_files(event.plan, event.thumbnails)
                    shown[slots.times] = list(event.plan.timestamps)
                    yield view.update(**{slots.gallery: shown[slots.gallery], slots.times: shown[slots.times]})
            elif isinstance(event, Progress):
                streaming = view.streaming_status(options.samples, event)
                yield view.update(status=result_html.status_html(streaming))
            elif isinstance(event, Piece):
                if event.sample == 0:
                    texts[event.index] += event.text
                if throttle.ready():
                    yield view.update(status=result_html.status_html(streaming),
                                      **{c.text: t for c, t in zip(view.clips, texts)})
            elif isinstance(event, Finished):
                done = final(event, frames)
                # a replay is no new result: storing it would add a row per visit (the page opens on one)
                done["stored"] = self._store(view, event, done["json"], frames, shown, request) if store else None
                yield view.update(**shown, **done)

    def _store(self, view: View, done: Finished, data: dict, frames: dict[int, FramesReady], shown: dict[str, Any],
               request: gr.Request | None) -> str | None:
        """The one place a finished run is stored (with the frames already written for the page)."""
        if self.library is None:
            return None
        kind = {COMPARE_VIEW: "compare", RANK_VIEW: "rank"}.get(view) or (
            "samples" if len(done.samples[0]) > 1 else "single")
        shots = {}
        for i, shot in frames.items():
            gallery = shown.get(view.clips[i].gallery) if i < len(view.clips) else None
            shots[i] = (gallery or files.thumbnail_files(shot.plan, shot.thumbnails), shot.plan.timestamps)
        by = data.get("leaderboard", {}).get("by") if kind == "rank" else None
        return self.library.store(RunRecord(kind, done.samples, data, shots, tuple(r.video for r in done.results),
                                            by, self.evaluator.revision), request)

    def _events(self, jobs: list[Job], options: GenerationOptions, request: gr.Request | None) -> Iterator[Any]:
        owner = owner_of(request)
        # a run nobody listens to (tab closed, results never read) must not hold the model slot to its end
        done = watch_listener(request, lambda reason: self.runner.stop(owner))
        try:
            yield from self.runner.stream(jobs, options, owner)
        except VS2Error as exc:  # bad input, a model that cannot load, a failed generation: this visitor only
            fault_logged(exc)
            raise user_error(public(str(exc), [j.video for j in jobs]), logged=True) from exc
        finally:
            done()
