"""The page's layout: components, their events, and how the page is launched. Handlers live in handlers.py."""

from __future__ import annotations

import functools
import inspect
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from vs2demo.core.dimensions import DIMENSION_COUNT_WORD, DIMENSIONS, OVERALL
from vs2demo.core.options import (
    OFFICIAL_FPS,
    OFFICIAL_MAX_NEW_TOKENS,
    OFFICIAL_TEMPERATURE,
    SAMPLE_CHOICES,
    SMOKE_MODEL,
)
from vs2demo.engine.evaluator import Evaluator
from vs2demo.evidence.record import DEFAULT_COUNTERFACTUAL
from vs2demo.present import evidence_html, library_html, page_prose, panels_html, result_html, tables
from vs2demo.serve import gradio_internals, guard, library_page, page_scripts
from vs2demo.serve.handlers import DemoApp
from vs2demo.serve.library import Library
from vs2demo.serve.run_settings import FPS, MAX_NEW_TOKENS, TEMPERATURE
from vs2demo.serve.runs import ON_ZERO_GPU
from vs2demo.serve.tools import AgentTools
from vs2demo.serve.views import COMPARE_VIEW, MAX_RANK_CLIPS, RANK_VIEW, SCORE_VIEW, View

# Probing reads a file's headers and one frame: quick, but a handful at once must not exhaust memory.
PLAN_QUEUE = {"concurrency_id": guard.PLAN_SLOT, "concurrency_limit": 2, "show_progress": "hidden"}
# The frame strip: one small scrolling row, or every frame large for a class
SMALL_COLUMNS, SMALL_HEIGHT_PX, LARGE_COLUMNS = 6, 220, 3
MODEL_RUN = {"concurrency_id": guard.MODEL_SLOT, "concurrency_limit": 1}


def page_only(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A page endpoint that stays in the API (named, keyword arguments) but is not offered as an MCP tool: its
    outputs are HTML, charts and per-visitor state, and Gradio 6.31's MCP server cannot return from an endpoint
    with state outputs. Agents get the JSON tools of tools.py instead. Generators stay generators: they stream."""
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def endpoint(*args: Any, **kwargs: Any) -> Iterator[Any]:
            yield from handler(*args, **kwargs)
    else:
        @functools.wraps(handler)
        def endpoint(*args: Any, **kwargs: Any) -> Any:
            return handler(*args, **kwargs)

    return gradio_internals.page_only(endpoint)


# Stop never waits for the model: its own group without a limit (queued, so that its "nothing was running" note can
# reach the visitor).
STOP = {"concurrency_id": "stop", "concurrency_limit": None, "show_progress": "hidden"}


def build(app: DemoApp) -> gr.Blocks:
    smoke = app.evaluator.model_id == SMOKE_MODEL
    # delete_cache: uploads and outputs older than an hour are removed from Gradio's cache, hourly
    with gr.Blocks(title="VideoScore2 explorer", delete_cache=(3600, 3600)) as demo:
        _agent_tools(app)  # first: MCP names tools in order, so these get the plain names
        review = library_page.shared(app.library)  # the browser's token and the results library
        gr.Markdown(page_prose.INTRO)
        gr.HTML(result_html.banner_html(smoke, app.evaluator.model_id))
        with gr.Accordion("Settings (official defaults marked)", open=False):
            with gr.Row():
                # a text box: Gradio's number box turns "empty" into 0 once shown, which would seed every run
                seed = gr.Textbox(label="Seed (empty = random, as official)", value="", placeholder="random",
                                  max_lines=1, elem_id="vs2-seed")
                greedy = gr.Checkbox(label="Greedy decoding (official: sampling)", value=False)
                temperature = gr.Slider(TEMPERATURE.lo, TEMPERATURE.hi, value=OFFICIAL_TEMPERATURE,
                                        step=TEMPERATURE.step, label=f"Temperature (official {OFFICIAL_TEMPERATURE})")
                max_new = gr.Slider(MAX_NEW_TOKENS.lo, MAX_NEW_TOKENS.hi, value=OFFICIAL_MAX_NEW_TOKENS,
                                    step=MAX_NEW_TOKENS.step,
                                    label=f"Max new tokens (official {OFFICIAL_MAX_NEW_TOKENS})")
                fps = gr.Slider(FPS.lo, FPS.hi, value=OFFICIAL_FPS, step=FPS.step,
                                label=f"Frames per second (official {OFFICIAL_FPS:g})")
                samples = gr.Dropdown(list(SAMPLE_CHOICES), value=1, label="Samples per clip (official: 1)",
                                      info="More than 1 (an extra) shows how stable each score is; seeds s, s+1, …",
                                      elem_id="vs2-samples")
            gr.Markdown(f"Limits: {app.evaluator.limits.describe()}.")
        settings = [seed, greedy, temperature, max_new, fps, samples]
        with gr.Tabs(overflow_behavior="wrap") as tabs:  # on a phone every tab stays in sight, none behind "…"
            with gr.Tab("Score a clip", id="score"):
                opened = _score_tab(app, settings, fps, review)
            with gr.Tab("Compare two clips", id="compare"):
                _compare_tab(app, settings, fps, review)
            with gr.Tab("Rank clips (best of N)", id="rank"):
                _rank_tab(app, settings, fps, review)
            with gr.Tab("Stored results", id="library"):
                stored = library_page.library_tab(review)
            with gr.Tab("Reviews", id="reviews"):
                library_page.reviews_tab(review)
            with gr.Tab("How it works", id="about"):
                gr.Markdown(page_prose.ABOUT)
        library_page.on_load(demo, tabs, review, stored)  # ?r=ID opens a stored result
        opened(demo.load)  # the first example's result, replayed, when this process has computed it
    return demo


def _agent_tools(app: DemoApp) -> None:
    """score, compare and rank as JSON tools for programs and agents (/score_json, …; MCP tools score, compare,
    rank). The page's own endpoints stay in the API but are not MCP tools (page_only), so an agent sees these."""
    tools = AgentTools(app)
    for fn in (tools.score, tools.compare, tools.rank):
        gr.api(fn, api_name=f"{fn.__name__}_json", **MODEL_RUN)


def _outputs(view: View, components: dict[str, Any]) -> list[Any]:
    return [components[name] for name in view.outputs]


def _seekable_gallery(label: str, video: gr.Video, elem_id: str) -> tuple[gr.Gallery, gr.State]:
    """A strip of frames; clicking one seeks ``video`` to that frame's time, kept as data beside the strip."""
    gallery = gr.Gallery(label=label, columns=SMALL_COLUMNS, height=SMALL_HEIGHT_PX, object_fit="contain",
                         allow_preview=False, elem_id=elem_id)
    times = gr.State([])
    seek_to = gr.Textbox(visible=False)  # "seconds|nonce": the same frame clicked again still changes it

    def timestamp(times: list[float], evt: gr.SelectData) -> tuple[str, Any]:
        ok = isinstance(evt.index, int) and 0 <= evt.index < len(times)
        # the selection is echoed back so that the server knows it: a later reset to "none" is then a change
        # the browser applies (an unchanged value would be skipped and the highlight carried into the next run)
        return f"{times[evt.index] if ok else 0.0}|{time.monotonic_ns()}", gr.Gallery(
            selected_index=evt.index if ok else None)

    gallery.select(timestamp, times, [seek_to, gallery], queue=False, api_visibility="private")
    # seeking happens in the browser: the player is the visitor's own <video> element, brought into view
    seek_to.change(None, seek_to, None, api_visibility="private",
                   js=f"(s) => {{ const v = document.querySelector('#{video.elem_id} video'); "
                      "if (v && s) { v.currentTime = parseFloat(String(s).split('|')[0]); v.pause(); "
                      "v.scrollIntoView({block: 'nearest'}); } return []; }")
    return gallery, times


def _frames_size(large: bool) -> gr.Gallery:
    """The frame strip small (one scrolling row), or every frame large, as tall as its rows (no inner scroll, no
    row cut: the page scrolls, as a class would look at it; one frame a row on a phone)."""
    if not large:
        return gr.Gallery(columns=SMALL_COLUMNS, height=SMALL_HEIGHT_PX, elem_classes=[])
    return gr.Gallery(columns=LARGE_COLUMNS, height="auto", elem_classes=[page_scripts.LARGE_FRAMES])


def _plan_on_change(app: DemoApp, video: gr.Video, fps: gr.Slider, plan: gr.HTML, status: gr.HTML) -> None:
    """A clip's plan, shown as soon as it (or the frame rate) changes; a problem the tab's status told about the
    clip before is gone with it (the status is cleared then, never a result's)."""
    def planned(path: str | None, rate: float, told: str | None) -> tuple[str, Any]:
        return app.plan(path, rate), "" if told and result_html.ERROR_CLASS in told else gr.skip()

    for trigger in (video.change, fps.change):
        trigger(planned, [video, fps, status], [plan, status], api_visibility="private", **PLAN_QUEUE)


def _score_tab(app: DemoApp, settings: list, fps: gr.Slider, review: library_page.Shared
               ) -> Callable[[Any], None]:
    """The Score tab; returns how to fill it when the page opens (given the page's load trigger)."""
    c: dict[str, Any] = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300) as left:
            video = gr.Video(label="Clip", sources=["upload"], elem_id="vs2-video", height=240)
            # the player takes video files only; a GIF or animated WebP goes through this button into the same
            # slot (read by ffmpeg, not the official decord: the plan and the result say so)
            animation = gr.UploadButton("…or an animated GIF / WebP", file_types=[".gif", ".webp"], size="sm",
                                        variant="secondary", elem_id="vs2-animation")
            prompt = gr.Textbox(label="Text-to-video prompt", lines=2, max_lines=6,
                                placeholder="The prompt the clip was generated from")
            c["plan"] = gr.HTML(elem_classes=["vs2-plan", page_scripts.TOLD])
            with gr.Row():
                run = gr.Button("Evaluate", variant="primary", elem_id="vs2-evaluate")
                stop = gr.Button("Stop", variant="stop", elem_id="vs2-stop")
        with gr.Column(scale=3, min_width=320):
            c["status"] = gr.HTML(elem_id="vs2-status", elem_classes=page_scripts.TOLD)
            link = gr.HTML(elem_id="vs2-link", elem_classes=page_scripts.FOLDS)
            c["text"] = gr.Textbox(label="Reasoning (streamed as the model writes it)", lines=10, max_lines=18,
                                   autoscroll=True, interactive=False, elem_id="vs2-reasoning")
            with gr.Row(equal_height=False, elem_classes="vs2-stack-narrow"):
                c["radar"] = gr.Plot(label="Scores", elem_id="vs2-radar", min_width=280)
                c["cards"] = gr.HTML(elem_id="vs2-cards", min_width=280)
    c["gallery"], c["times"] = _seekable_gallery("Frames the model saw (click one to seek the player; the strip "
                                                 "scrolls when there are more)", video,
                                                 "vs2-frames")
    large = gr.Checkbox(label="Show every frame large (to show a class what the model saw)", value=False,
                        elem_id="vs2-large-frames", container=False)
    large.change(_frames_size, large, c["gallery"], queue=False, api_visibility="private")
    c["result"], c["stored"] = gr.State(None), gr.State(None)
    with gr.Row(equal_height=True):
        explain = gr.Button("Explain this result: which seconds and sentences each score rests on (an extra)",
                            elem_id="vs2-explain", scale=2, interactive=False)
        counterfactual = gr.Textbox(label="Other prompt for the \"is it reading the prompt?\" probe",
                                    value=DEFAULT_COUNTERFACTUAL, max_lines=1, elem_id="vs2-counterfactual", scale=2)
        seconds = gr.Textbox(label="Also re-generate without these seconds (total effect; e.g. 1.5, 3)",
                             value="", placeholder="none: only the top seconds by grounding", max_lines=1,
                             elem_id="vs2-total-for", scale=1)
    evidence = gr.HTML(elem_id="vs2-evidence")
    explanation = gr.State(None)
    report = gr.Button("Download a report (one HTML file that opens offline)", elem_id="vs2-report-button",
                       interactive=False)
    report_file = gr.File(label="Report", elem_id="vs2-report", visible=False)  # shown once there is one
    with gr.Accordion("Words used here: a glossary", open=False, elem_id="vs2-glossary"):
        gr.Markdown(page_prose.GLOSSARY)
    with gr.Accordion("Raw output, settings and download", open=False):
        c["raw"] = gr.Textbox(label="Raw model output", lines=8, interactive=False, elem_id="vs2-raw")
        c["json"] = gr.JSON(label="Result (model, settings, frames, timings)")
        c["file"] = gr.File(label="Result as JSON")
    outputs = _outputs(SCORE_VIEW, c)
    animation.upload(lambda path: path, animation, video, queue=False, api_visibility="private")
    _plan_on_change(app, video, fps, c["plan"], c["status"])
    # check first (one clear message, in the status), then a run with Evaluate disabled until it ends
    check = _checked_first(run, app.check, [video, prompt, fps], [c["status"], c["plan"]], "vs2-status")
    busy = [run, explain, report, evidence, explanation, report_file, c["gallery"], link]

    def starting() -> tuple:  # a new run: Evaluate, Explain and Report wait; the old evidence, report and link go
        off = gr.Button(interactive=False)
        return off, off, off, "", None, gr.File(value=None, visible=False), gr.Gallery(selected_index=None), ""

    def ended(samples: Any) -> tuple:  # Explain and Report only once there is a result to explain or report
        has = bool(samples)
        return gr.Button(interactive=True), gr.Button(interactive=has), gr.Button(interactive=has)

    start = check.success(starting, None, busy, queue=False, api_visibility="private")
    event = start.then(page_only(app.score), [video, prompt, *settings], outputs, api_name="score", **MODEL_RUN)
    event.then(ended, c["result"], [run, explain, report], queue=False, api_visibility="private")
    event.then(app.reading, c["result"], evidence, queue=False, api_visibility="private")
    explained = explain.click(page_only(app.explain), [c["result"], counterfactual, c["stored"], seconds],
                              [c["status"], evidence, c["json"], c["file"], explanation, c["stored"]],
                              api_name="explain", concurrency_id=guard.EXPLAIN_SLOT, concurrency_limit=1)
    explained.then(None, None, None, js=evidence_html.ATTACH_SUBTITLES, api_visibility="private")
    library_page.link_after(explained, c["stored"], link, review)
    # reports in a group of their own: a flood of them never delays another visitor's clip check
    reported = report.click(page_only(app.report), [c["result"], explanation, c["stored"]], report_file,
                            api_name="report", concurrency_id=guard.REPORT_SLOT, concurrency_limit=1)
    reported.success(lambda: gr.File(visible=True), None, report_file, queue=False, api_visibility="private")
    stop.click(app.stop, None, c["status"], cancels=_cancels(event), api_visibility="private", **STOP)
    if app.examples.examples:
        with left:  # beside the upload, on the first screen: each labelled with what it teaches
            shown = gr.Examples([[e.job.video, e.job.prompt] for e in app.examples.examples], [video, prompt],
                                example_labels=[e.teaches for e in app.examples.examples], elem_id="vs2-examples",
                                label="Examples: what each teaches (computed once, then replayed)")
        # a click fills the clip and the prompt, then runs (or replays) the example as a full result
        chosen = shown.load_input_event.then(starting, None, busy, queue=False, api_visibility="private",
                                            js=page_scripts.show("vs2-status"))
        example_run = chosen.then(page_only(app.example), [video, prompt], outputs, api_name="example", **MODEL_RUN)
        _after_example(app, example_run, c, ended, [run, explain, report], evidence, explanation)
        library_page.link_after(example_run, c["stored"], link, review)
    with left:
        keep = library_page.keep_clip_box()
    library_page.link_after(event, c["stored"], link, review, keep)

    def opened(load: Callable[..., Any]) -> None:
        # a replay only (nothing computed on opening): its own group, so an opening page never waits for the model
        load(app.first_inputs, None, [video, prompt], queue=False, api_visibility="private")
        first = load(page_only(app.first_screen), None, outputs, api_visibility="private",
                     concurrency_id="first-screen", concurrency_limit=4, show_progress="hidden")
        _after_example(app, first, c, ended, [run, explain, report], evidence, explanation)

    return opened


def _after_example(app: DemoApp, event: Any, c: dict[str, Any], ended: Callable[..., tuple], buttons: list,
                   evidence: gr.HTML, explanation: gr.State) -> None:
    """After an example's result (clicked or opened): the buttons back, and its explanation when one was kept."""
    event.then(ended, c["result"], buttons, queue=False, api_visibility="private")
    event.then(app.example_evidence, c["result"], [evidence, explanation], queue=False, api_visibility="private")


def _compare_tab(app: DemoApp, settings: list, fps: gr.Slider, review: library_page.Shared) -> None:
    c: dict[str, Any] = {}
    videos = {}
    with gr.Row(equal_height=False):
        for clip in "ab":
            with gr.Column(min_width=300):
                videos[clip] = gr.Video(label=f"Clip {clip.upper()}", sources=["upload"], elem_id=f"vs2-video-{clip}",
                                        height=260)
                c[f"plan_{clip}"] = gr.HTML(elem_id=f"vs2-plan-{clip}", elem_classes=page_scripts.TOLD)
    # interactive: no event reads it (the page's script does), and Gradio freezes such a box as display-only
    gr.Checkbox(label="Play, pause and seek both clips together", value=True, elem_id="vs2-sync",
                container=False, interactive=True)
    prompt_a = gr.Textbox(label="Text-to-video prompt (shared)", lines=2, elem_id="vs2-prompt-a")
    separate = gr.Checkbox(label="Use a different prompt for clip B", value=False)
    prompt_b = gr.Textbox(label="Prompt for clip B", lines=2, visible=False)
    separate.change(lambda s: gr.update(visible=s), separate, prompt_b, queue=False, api_visibility="private")
    with gr.Row():
        run = gr.Button("Compare", variant="primary", elem_id="vs2-compare")
        stop = gr.Button("Stop", variant="stop")
    c["status"] = gr.HTML(elem_id="vs2-compare-status", elem_classes=page_scripts.TOLD)
    link, c["stored"] = gr.HTML(elem_id="vs2-link-compare", elem_classes=page_scripts.FOLDS), gr.State(None)
    with gr.Row(equal_height=False):
        for clip in "ab":
            c[f"text_{clip}"] = gr.Textbox(label=f"Clip {clip.upper()} reasoning", lines=8, max_lines=14,
                                           autoscroll=True, interactive=False, elem_id=f"vs2-reasoning-{clip}",
                                           min_width=300)
    with gr.Row(equal_height=False, elem_classes="vs2-stack-narrow"):  # one above the other on a phone
        c["radar"] = gr.Plot(label="Both clips", elem_id="vs2-radar-compare", min_width=300)
        with gr.Column(min_width=300):  # a bare HTML beside a plot in a row collapses to nothing
            c["verdict"] = gr.HTML(elem_id="vs2-verdict")
    # the whole width: seven columns never fit beside the radar (a narrow page stacks its rows into cards)
    c["table"] = gr.HTML(elem_id="vs2-compare-table")
    for clip in "ab":
        c[f"gallery_{clip}"], c[f"times_{clip}"] = _seekable_gallery(
            f"Frames clip {clip.upper()}'s evaluation saw", videos[clip], f"vs2-frames-{clip}")
    with gr.Accordion("Results and download", open=False):
        c["json"] = gr.JSON(label="Both results")
        c["file"] = gr.File(label="Comparison as JSON")
    for clip in "ab":
        _plan_on_change(app, videos[clip], fps, c[f"plan_{clip}"], c["status"])
    inputs = [videos["a"], videos["b"], prompt_a, separate, prompt_b]
    start = _checked_first(run, app.check_compare, [*inputs, fps], [c["status"], c["plan_a"], c["plan_b"]],
                           "vs2-compare-status")
    event = start.then(page_only(app.compare), [*inputs, *settings],
                       _outputs(COMPARE_VIEW, c), api_name="compare", **MODEL_RUN)
    event.then(_ready, None, run, queue=False, api_visibility="private")  # after an error too
    library_page.link_after(event, c["stored"], link, review)
    stop.click(app.stop, None, c["status"], cancels=_cancels(event), api_visibility="private", **STOP)


def _rank_tab(app: DemoApp, settings: list, fps: gr.Slider, review: library_page.Shared) -> None:
    c: dict[str, Any] = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            clips = gr.File(label=f"Clips generated for one prompt (2 to {MAX_RANK_CLIPS})", file_count="multiple",
                            file_types=["video"], elem_id="vs2-rank-clips")
            prompt = gr.Textbox(label="Text-to-video prompt (the same for every clip)", lines=2,
                                elem_id="vs2-rank-prompt")
            by = gr.Dropdown([(f"Overall: sum of the {DIMENSION_COUNT_WORD} soft scores", OVERALL)]
                             + [(d.title, d.key) for d in DIMENSIONS], value=OVERALL, label="Rank by",
                             elem_id="vs2-rank-by")
            with gr.Row():
                run = gr.Button("Rank", variant="primary", elem_id="vs2-rank")
                stop = gr.Button("Stop", variant="stop")
        with gr.Column(scale=3, min_width=320):
            c["status"] = gr.HTML(elem_id="vs2-rank-status", elem_classes=page_scripts.TOLD)
            link, c["stored"] = gr.HTML(elem_id="vs2-link-rank", elem_classes=page_scripts.FOLDS), gr.State(None)
            c["board"] = gr.HTML(elem_id="vs2-leaderboard")
    # four a row, two rows' height: at most eight clips, each whole with its caption (a phone shows three a row)
    c["gallery"] = gr.Gallery(label="Clips by rank (click one for its full result)", columns=4, height=460,
                              object_fit="contain", allow_preview=False, elem_id="vs2-rank-gallery")
    c["ranked"] = gr.State([])
    with gr.Row(equal_height=False):
        detail_text = gr.Textbox(label="The chosen clip's reasoning", lines=8, interactive=False,
                                 elem_id="vs2-rank-reasoning", min_width=300)
        detail_radar = gr.Plot(label="Its scores", elem_id="vs2-rank-radar", min_width=280)
    detail_cards = gr.HTML(elem_id="vs2-rank-cards")
    with gr.Accordion("Ranking as JSON", open=False):
        c["json"] = gr.JSON(label="Leaderboard and every clip's results")
        c["file"] = gr.File(label="Ranking as JSON")
    start = _checked_first(run, app.check_rank, [clips, prompt, by, fps], c["status"], "vs2-rank-status")
    event = start.then(page_only(app.rank), [clips, prompt, by, *settings], _outputs(RANK_VIEW, c),
                       api_name="rank", **MODEL_RUN)
    event.then(_ready, None, run, queue=False, api_visibility="private")
    library_page.link_after(event, c["stored"], link, review)
    stop.click(app.stop, None, c["status"], cancels=_cancels(event), api_visibility="private", **STOP)
    c["gallery"].select(app.show_ranked, c["ranked"], [detail_cards, detail_text, detail_radar], queue=False,
                        api_visibility="private")


def _checked_first(run: gr.Button, check: Callable[..., Any], inputs: list, outputs: Any, status: str) -> Any:
    """A run's button: disabled at once (a second click cannot queue a second run unseen), its status brought into
    view (on a phone the results sit below the inputs), then the inputs checked; the returned event succeeds only
    when they pass (a problem is told in the status and the button comes back)."""
    click = run.click(_busy, None, run, queue=False, api_visibility="private", js=page_scripts.show(status))
    checked = click.then(check, inputs, outputs, api_visibility="private", **PLAN_QUEUE)
    # a problem: the button back, and the status into view again (a plan cleared above it, on a phone, moved it)
    checked.failure(_ready, None, run, queue=False, api_visibility="private",
                    js=page_scripts.show(status, after_ms=250))
    return checked


def _busy() -> gr.Button:
    """A run's button while it runs: a second click cannot queue a second run unseen."""
    return gr.Button(interactive=False)


def _ready() -> gr.Button:
    return gr.Button(interactive=True)


def _cancels(event: Any) -> list:
    """Stop sets the session's stop flag: generation ends at the next token and the final update says so,
    keeping the partial reasoning. On ZeroGPU the generation runs in another process the flag cannot
    reach, so there Stop cancels the event instead."""
    return [event] if ON_ZERO_GPU else []


def launch_kwargs(demo: gr.Blocks, evaluator: Evaluator, mcp: bool = False) -> dict[str, Any]:
    """What every launch of the page passes: its stylesheet, the exact upload limit and the request guard; with
    ``mcp``, Gradio's MCP server too (else Gradio's own $GRADIO_MCP_SERVER decides, as on a Space)."""
    # the tables' CSS goes in <head> as it is: Gradio rewrites the page's css, dropping @container rules
    return {"css": result_html.CSS + panels_html.CSS + evidence_html.CSS + library_html.CSS + page_scripts.CSS,
            "head": (evidence_html.SCRIPT + page_scripts.SCRIPT + library_html.SCRIPT
                     + f"<style>{tables.CSS}</style>"),
            **({"mcp_server": True} if mcp else {}), **guard.launch_settings(demo, evaluator.limits.max_file_bytes)}


_APPS: weakref.WeakKeyDictionary[gr.Blocks, DemoApp] = weakref.WeakKeyDictionary()  # each page's handlers


def build_demo(evaluator: Evaluator | None = None, library: Library | None = None) -> gr.Blocks:
    """The page; with ``library``, every finished result is stored there and links reopen it."""
    app = DemoApp(evaluator or Evaluator(), library)
    demo = build(app)
    _APPS[demo] = app
    # api_open=False: the REST routes that would skip the queue (and the one model slot) stay closed
    demo.queue(max_size=guard.QUEUE_SIZE, default_concurrency_limit=1, api_open=False)
    return demo


def compute_first_example(demo: gr.Blocks, explained: bool = True) -> threading.Thread | None:
    """At launch (never at import, never on ZeroGPU, where GPU work happens only inside a visitor's lease): the
    first example's run and (``explained``) its explanation, in the background, so that the page opens on a
    finished, explained result."""
    app = page_app(demo)
    if app is None or ON_ZERO_GPU:
        return None
    return app.examples.warm(app.runner.stream, app.runner.explain if explained else None)


def page_app(demo: gr.Blocks) -> DemoApp | None:
    """The handlers behind a page build_demo made (None for any other Blocks)."""
    return _APPS.get(demo)
