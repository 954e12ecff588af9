"""The Gradio app: a UI adapter over the evaluator. It never decodes video or touches the model itself;
it turns the evaluator's events into page updates."""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from . import charts, gpu, render, serving
from .errors import VS2Error
from .model import Evaluator, Finished, FramesReady, Job, Piece, Planned, Status
from .options import OFFICIAL_FPS, OFFICIAL_MAX_NEW_TOKENS, OFFICIAL_TEMPERATURE, GenerationOptions
from .result import Result
from .verdict import compare as compare_results
from .video import Frames

ASSETS = Path(__file__).resolve().parent.parent / "assets"
UPDATE_EVERY_S = 0.05  # at most ~20 page updates a second while text streams
INTRO = """# VideoScore2 explorer
[VideoScore2](https://arxiv.org/abs/2509.22799) watches an AI-generated clip, reasons in a `<think>` block, then
scores **visual quality**, **text-to-video alignment** and **physical / common-sense consistency** from 1 to 5.
Upload a clip with the prompt it was generated from, and watch it think. Published results: 44.35% accuracy on
VideoScore-Bench-v2 (+5.94 over the best baseline), 50.37 average on four out-of-domain benchmarks."""


def _uploaded(video: str | None) -> str:
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


def _public(message: str, paths: list[str | None]) -> str:
    """A message as a visitor sees it: every server path of this request replaced by the file's own name."""
    for path in paths:
        if path:
            for form in {path, os.path.realpath(path)}:
                message = message.replace(form, Path(form).name)
    return message


# Probing reads a file's headers and one frame: quick, but a handful at once must not exhaust memory.
PLAN_QUEUE = {"concurrency_id": "plan", "concurrency_limit": 2, "show_progress": "hidden"}


def _options(seed: float | None, greedy: bool, temperature: float, max_new_tokens: float, fps: float
             ) -> GenerationOptions:
    try:
        return GenerationOptions(seed=None if seed in (None, "") else int(seed), greedy=bool(greedy),
                                 temperature=float(temperature), max_new_tokens=int(max_new_tokens), fps=float(fps))
    except ValueError as exc:
        raise gr.Error(str(exc)) from None


FILES_DIR = Path(tempfile.gettempdir()) / "vs2demo-files"
KEEP_FILES = 2000  # files we hand to Gradio; the oldest are removed as new ones are written
PRUNE_EVERY = 50  # writes between prunings: listing the folder is not free on every thumbnail
_writes = itertools.count(1)


def _write_file(name: str, data: bytes) -> str:
    """Write ``data`` once under ``name`` (atomically, never rewritten) and return its path.

    Gradio copies returned files into its own cache (cleaned by delete_cache). We give it files, not
    PIL images: Gradio rewrites an image's cached file in place on every update that carries it, and
    a client fetching that file meanwhile reads it half-written.
    """
    FILES_DIR.mkdir(parents=True, exist_ok=True)
    path = FILES_DIR / name
    if not path.exists():
        fd, staging = tempfile.mkstemp(dir=FILES_DIR, prefix=".staging-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(staging, path)
        if next(_writes) % PRUNE_EVERY == 0:
            _prune()
    return str(path)


def _prune() -> None:
    aged = []
    for path in FILES_DIR.glob("*.*"):
        with contextlib.suppress(FileNotFoundError):  # another request may prune at the same time
            aged.append((path.stat().st_mtime, path))
    for _, stale in sorted(aged)[:-KEEP_FILES]:
        stale.unlink(missing_ok=True)


def _save_json(results: list[Result]) -> str:
    data = results[0].to_dict(paths=False) if len(results) == 1 else {"clip_a": results[0].to_dict(paths=False),
                                                                      "clip_b": results[1].to_dict(paths=False)}
    raw = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    kind = "result" if len(results) == 1 else "comparison"
    return _write_file(f"videoscore2_{kind}_{hashlib.sha256(raw).hexdigest()[:16]}.json", raw)


def _thumbnail_files(frames: Frames) -> list[tuple[str, str]]:
    out = []
    for image, caption in render.thumbnails(frames):
        buffer = io.BytesIO()
        image.save(buffer, format="WEBP", quality=85)
        data = buffer.getvalue()
        out.append((_write_file(f"frame_{hashlib.sha256(data).hexdigest()[:20]}.webp", data), caption))
    return out


SCORE_SLOTS = ("status", "plan", "text", "radar", "cards", "gallery", "raw", "json", "file")
COMPARE_SLOTS = ("status", "plan_a", "plan_b", "text_a", "text_b", "radar", "verdict", "table", "gallery_a",
                 "gallery_b", "json", "file")


def _update(slots: tuple[str, ...], **values: Any) -> tuple:
    """One streamed update: the named outputs change, every other output is left as it is."""
    unknown = set(values) - set(slots)
    if unknown:  # a misspelt output would otherwise be dropped without a word
        raise ValueError(f"no such outputs: {sorted(unknown)}")
    return tuple(values.get(s, gr.skip()) for s in slots)


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


class DemoApp:
    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.key = gpu.register(evaluator)

    # -- handlers -------------------------------------------------------------------------------

    def plan(self, video: str | None, fps: float) -> str:
        """Shown as soon as a clip is uploaded: what will be evaluated, before any GPU time."""
        if not video:
            return ""
        try:
            video = _uploaded(video)
            return render.plan_html(self.evaluator.plan(video, float(fps)))
        except (VS2Error, gr.Error) as exc:
            message = _public(exc.message if isinstance(exc, gr.Error) else str(exc), [video])
            gr.Warning(message)
            return render.error_html(message)

    def _events(self, jobs: list[Job], options: GenerationOptions, request: gr.Request | None) -> Iterator[Any]:
        session = request.session_hash if request is not None and request.session_hash else "anonymous"
        # a run nobody listens to (tab closed, results never read) must not hold the model slot to its end
        done = serving.watch_listener(request, lambda reason: gpu.request_stop(session))
        try:
            yield from gpu.stream(self.key, jobs, options, session)
        except VS2Error as exc:  # bad input, a model that cannot load, a failed generation: this visitor only
            raise gr.Error(_public(str(exc), [j.video for j in jobs])) from exc
        finally:
            done()

    def stop(self, request: gr.Request) -> Any:
        if gpu.request_stop(request.session_hash or "anonymous"):
            return render.status_html("Stopping…")  # the run's own last update follows
        return render.status_html("Nothing was running.")

    def score(self, video: str | None, prompt: str, seed: float | None = None, greedy: bool = False,
              temperature: float = OFFICIAL_TEMPERATURE, max_new_tokens: float = OFFICIAL_MAX_NEW_TOKENS,
              fps: float = OFFICIAL_FPS, request: gr.Request = None, replay: bool = False) -> Iterator[tuple]:
        """Outputs: status, plan, reasoning, radar, cards, gallery, raw output, result JSON, download.
        Every setting after the prompt has the official default, so API callers may leave them out."""
        video = _uploaded(video)
        if not prompt or not prompt.strip():
            raise gr.Error("Type the text-to-video prompt the clip was generated from.")
        options = _options(seed, greedy, temperature, max_new_tokens, fps)
        text = ""
        shown: dict[str, Any] = {}  # plan and frames, repeated in the final update for API callers
        throttle = _Throttle()
        yield _update(SCORE_SLOTS, status=render.status_html("Checking the clip…"), text="", radar=None, cards="",
                      gallery=None, raw="", json=None, file=None)
        for event in self._events([Job(video, prompt)], options, request):
            if isinstance(event, Planned):
                shown["plan"] = render.plan_html(event.plan)
                yield _update(SCORE_SLOTS, plan=shown["plan"])
            elif isinstance(event, Status):
                yield _update(SCORE_SLOTS, status=render.status_html(event.message))
            elif isinstance(event, FramesReady):
                shown["gallery"] = _thumbnail_files(event.frames)
                yield _update(SCORE_SLOTS, gallery=shown["gallery"])
            elif isinstance(event, Piece):
                text += event.text
                if throttle.ready():
                    yield _update(SCORE_SLOTS, status=render.status_html("Thinking… (streaming)"), text=text)
            elif isinstance(event, Finished):
                (result,) = event.results
                yield _update(SCORE_SLOTS, **shown, **self._final(result, replay))

    def _final(self, result: Result, replay: bool) -> dict[str, Any]:
        took = (f"Done in {result.timings.generate_s:.1f} s · {result.timings.new_tokens} tokens · "
                f"{result.timings.tokens_per_s:.1f} tokens/s on {result.model.device} ({result.model.dtype})")
        if result.stopped:
            took = "Stopped early: " + took
        if not result.official_settings:
            took += " · not the official settings: " + ", ".join(result.deviations())
        if result.parse_method == "none":
            took += " · no score could be parsed: the raw output is below"
        return {"status": render.status_html(took), "text": result.raw_output,
                "radar": charts.radar([("clip", result)]), "cards": render.cards_html(result, replay),
                "raw": result.raw_output, "json": result.to_dict(paths=False), "file": _save_json([result])}

    def compare(self, video_a: str | None, video_b: str | None, prompt_a: str, separate: bool = False,
                prompt_b: str | None = None, seed: float | None = None, greedy: bool = False,
                temperature: float = OFFICIAL_TEMPERATURE, max_new_tokens: float = OFFICIAL_MAX_NEW_TOKENS,
                fps: float = OFFICIAL_FPS, request: gr.Request = None) -> Iterator[tuple]:
        """Outputs: status, plan A, plan B, reasoning A, reasoning B, radar, verdict, table, gallery A,
        gallery B, result JSON, download."""
        if not video_a or not video_b:
            raise gr.Error("Upload two clips to compare.")
        video_a, video_b = _uploaded(video_a), _uploaded(video_b)
        prompt_b = prompt_b if separate else prompt_a
        if not prompt_a or not prompt_a.strip() or not prompt_b or not prompt_b.strip():
            raise gr.Error("Type the text-to-video prompt (one for each clip if they differ).")
        options = _options(seed, greedy, temperature, max_new_tokens, fps)
        texts = ["", ""]
        shown: dict[str, Any] = {}  # plans and galleries, repeated in the final update for API callers
        throttle = _Throttle()

        def only(**values: Any) -> tuple:
            return _update(COMPARE_SLOTS, **values)

        yield only(status=render.status_html("Checking the clips…"), text_a="", text_b="", radar=None, verdict="",
                   table=None, gallery_a=None, gallery_b=None, json=None, file=None)
        for event in self._events([Job(video_a, prompt_a), Job(video_b, prompt_b)], options, request):
            if isinstance(event, Planned):
                shown[f"plan_{'ab'[event.clip]}"] = render.plan_html(event.plan)
                yield only(**shown)
            elif isinstance(event, Status):
                yield only(status=render.status_html(event.message))
            elif isinstance(event, FramesReady):
                shown[f"gallery_{'ab'[event.clip]}"] = _thumbnail_files(event.frames)
                yield only(**{f"gallery_{'ab'[event.clip]}": shown[f"gallery_{'ab'[event.clip]}"]})
            elif isinstance(event, Piece):
                texts[event.clip] += event.text
                if throttle.ready():
                    yield only(status=render.status_html("Both clips are thinking… (streaming)"), text_a=texts[0],
                               text_b=texts[1])
            elif isinstance(event, Finished):
                a, b = event.results
                rows = compare_results(a, b)
                status = f"Done in {a.timings.generate_s:.1f} s on {a.model.device} ({a.model.dtype})"
                if a.stopped:
                    status = "Stopped early: " + status
                yield only(**shown, status=render.status_html(status), text_a=a.raw_output, text_b=b.raw_output,
                           radar=charts.radar([("A", a), ("B", b)]), verdict=render.verdict_html(rows),
                           table=render.comparison_rows(rows),
                           json={"clip_a": a.to_dict(paths=False), "clip_b": b.to_dict(paths=False)},
                           file=_save_json([a, b]))

    # -- layout ---------------------------------------------------------------------------------

    def build(self) -> gr.Blocks:
        smoke = self.evaluator.model_id == "smoke"
        # delete_cache: uploads and outputs older than an hour are removed from Gradio's cache, hourly
        with gr.Blocks(title="VideoScore2 explorer", delete_cache=(3600, 3600)) as demo:
            gr.Markdown(INTRO)
            gr.HTML(render.banner_html(smoke, self.evaluator.model_id))
            with gr.Accordion("Settings (official defaults marked)", open=False):
                with gr.Row():
                    seed = gr.Number(label="Seed (empty = random, as official)", value=None, precision=0)
                    greedy = gr.Checkbox(label="Greedy decoding (official: sampling)", value=False)
                    temperature = gr.Slider(0.05, 2.0, value=OFFICIAL_TEMPERATURE, step=0.05,
                                            label=f"Temperature (official {OFFICIAL_TEMPERATURE})")
                    max_new = gr.Slider(16, 2048, value=OFFICIAL_MAX_NEW_TOKENS, step=16,
                                        label=f"Max new tokens (official {OFFICIAL_MAX_NEW_TOKENS})")
                    fps = gr.Slider(0.5, 8.0, value=OFFICIAL_FPS, step=0.5, label=f"Frames per second (official "
                                                                                 f"{OFFICIAL_FPS:g})")
                gr.Markdown(f"Limits: {self.evaluator.limits.describe()}.")
            settings = [seed, greedy, temperature, max_new, fps]
            with gr.Tabs():
                with gr.Tab("Score a clip", id="score"):
                    self._score_tab(settings)
                with gr.Tab("Compare two clips", id="compare"):
                    self._compare_tab(settings)
                with gr.Tab("How it works", id="about"):
                    gr.Markdown(ABOUT)
        return demo

    def _seekable_gallery(self, label: str, video: gr.Video, elem_id: str) -> gr.Gallery:
        gallery = gr.Gallery(label=label, columns=6, height=220, object_fit="contain", allow_preview=False,
                             elem_id=elem_id)
        seek_to = gr.Number(visible=False)

        def timestamp(evt: gr.SelectData) -> float:
            caption = evt.value.get("caption", "") if isinstance(evt.value, dict) else ""
            return float(caption.split(" s")[0]) if caption else 0.0

        gallery.select(timestamp, None, seek_to, queue=False, api_visibility="private")
        # seeking happens in the browser: the player is the visitor's own <video> element
        seek_to.change(None, seek_to, None, api_visibility="private",
                       js=f"(t) => {{ const v = document.querySelector('#{video.elem_id} video'); "
                          "if (v) { v.currentTime = t; v.pause(); } return []; }")
        return gallery

    def _score_tab(self, settings: list) -> None:
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                video = gr.Video(label="Clip", sources=["upload"], elem_id="vs2-video", height=300)
                prompt = gr.Textbox(label="Text-to-video prompt", lines=2, max_lines=6,
                                    placeholder="The prompt the clip was generated from")
                plan = gr.HTML(elem_classes="vs2-plan")
                with gr.Row():
                    run = gr.Button("Evaluate", variant="primary", elem_id="vs2-evaluate")
                    stop = gr.Button("Stop", variant="stop", elem_id="vs2-stop")
            with gr.Column(scale=3, min_width=320):
                status = gr.HTML(elem_id="vs2-status")
                reasoning = gr.Textbox(label="Reasoning (streamed as the model writes it)", lines=10, max_lines=18,
                                       autoscroll=True, interactive=False, elem_id="vs2-reasoning")
                with gr.Row(equal_height=False):
                    radar = gr.Plot(label="Scores", elem_id="vs2-radar", min_width=280)
                    cards = gr.HTML(elem_id="vs2-cards", min_width=280)
        gallery = self._seekable_gallery("Frames the model saw (click to seek the player)", video, "vs2-frames")
        with gr.Accordion("Raw output, settings and download", open=False):
            raw = gr.Textbox(label="Raw model output", lines=8, interactive=False, elem_id="vs2-raw")
            result_json = gr.JSON(label="Result (model, settings, frames, timings)")
            download = gr.File(label="Result as JSON")
        outputs = [status, plan, reasoning, radar, cards, gallery, raw, result_json, download]
        inputs = [video, prompt, *settings]
        for trigger in (video.change, settings[-1].change):
            trigger(self.plan, [video, settings[-1]], plan, api_visibility="private", **PLAN_QUEUE)
        event = run.click(self.score, inputs, outputs, api_name="score", concurrency_id=serving.MODEL_SLOT,
                          concurrency_limit=1)
        stop.click(self.stop, None, status, cancels=_cancels(event), queue=False, api_visibility="private")
        examples = _examples()
        if examples:
            gr.Examples(examples, [video, prompt], outputs, fn=self._replay, cache_examples=True, cache_mode="lazy",
                        label="Examples (each computed once, then replayed)")

    def _replay(self, video: str, prompt: str) -> Iterator[tuple]:
        # What example caching records: a fixed-seed official-settings run, labelled as a replay.
        yield from self.score(video, prompt, 0, False, OFFICIAL_TEMPERATURE, OFFICIAL_MAX_NEW_TOKENS, OFFICIAL_FPS,
                              None, replay=True)

    def _compare_tab(self, settings: list) -> None:
        with gr.Row(equal_height=False):
            with gr.Column(min_width=300):
                video_a = gr.Video(label="Clip A", sources=["upload"], elem_id="vs2-video-a", height=260)
                plan_a = gr.HTML()
            with gr.Column(min_width=300):
                video_b = gr.Video(label="Clip B", sources=["upload"], elem_id="vs2-video-b", height=260)
                plan_b = gr.HTML()
        prompt_a = gr.Textbox(label="Text-to-video prompt (shared)", lines=2, elem_id="vs2-prompt-a")
        separate = gr.Checkbox(label="Use a different prompt for clip B", value=False)
        prompt_b = gr.Textbox(label="Prompt for clip B", lines=2, visible=False)
        separate.change(lambda s: gr.update(visible=s), separate, prompt_b, queue=False, api_visibility="private")
        with gr.Row():
            run = gr.Button("Compare", variant="primary", elem_id="vs2-compare")
            stop = gr.Button("Stop", variant="stop")
        status = gr.HTML()
        with gr.Row(equal_height=False):
            text_a = gr.Textbox(label="Clip A reasoning", lines=8, max_lines=14, autoscroll=True, interactive=False,
                                elem_id="vs2-reasoning-a", min_width=300)
            text_b = gr.Textbox(label="Clip B reasoning", lines=8, max_lines=14, autoscroll=True, interactive=False,
                                elem_id="vs2-reasoning-b", min_width=300)
        with gr.Row(equal_height=False):
            radar = gr.Plot(label="Both clips", elem_id="vs2-radar-compare", min_width=300)
            with gr.Column(min_width=300):
                verdict = gr.HTML(elem_id="vs2-verdict")
                table = gr.Dataframe(headers=render.COMPARISON_HEADERS, interactive=False, wrap=True)
        gallery_a = self._seekable_gallery("Frames clip A's evaluation saw", video_a, "vs2-frames-a")
        gallery_b = self._seekable_gallery("Frames clip B's evaluation saw", video_b, "vs2-frames-b")
        with gr.Accordion("Results and download", open=False):
            result_json = gr.JSON(label="Both results")
            download = gr.File(label="Comparison as JSON")
        fps = settings[-1]
        video_a.change(self.plan, [video_a, fps], plan_a, api_visibility="private", **PLAN_QUEUE)
        video_b.change(self.plan, [video_b, fps], plan_b, api_visibility="private", **PLAN_QUEUE)
        outputs = [status, plan_a, plan_b, text_a, text_b, radar, verdict, table, gallery_a, gallery_b, result_json,
                   download]
        event = run.click(self.compare, [video_a, video_b, prompt_a, separate, prompt_b, *settings], outputs,
                          api_name="compare", concurrency_id=serving.MODEL_SLOT, concurrency_limit=1)
        stop.click(self.stop, None, status, cancels=_cancels(event), queue=False, api_visibility="private")


def _cancels(event: Any) -> list:
    """Stop sets the session's stop flag: generation ends at the next token and the final update says so,
    keeping the partial reasoning. On ZeroGPU the generation runs in another process the flag cannot
    reach, so there Stop cancels the event instead."""
    return [event] if os.environ.get("SPACES_ZERO_GPU") else []


def _examples() -> list[list[str]]:
    """Examples listed in assets/examples.json (made by scripts/make_examples.py)."""
    index = ASSETS / "examples.json"
    if not index.exists():
        return []
    return [[str(ASSETS / e["video"]), e["prompt"]] for e in json.loads(index.read_text(encoding="utf-8"))]


ABOUT = """### What happens when you press Evaluate
1. **Frames.** The clip is sampled at 2 frames per second (4 to 768 frames, always an even number) and each frame
   is resized to a multiple of 28 pixels within a budget of 602,112 pixels, exactly as the official
   `qwen-vl-utils` does. The strip of thumbnails shows those frames with their timestamps.
2. **Prompt.** The model receives the official instruction, byte for byte, with your prompt inside it.
3. **Reasoning.** The model writes a `<think>` block; you see it token by token.
4. **Scores.** The three integers are read with the official regular expression. If that fails, a tolerant
   parser tries known variants and the result is marked amber; if nothing is found, no score is shown.
5. **Soft score (official).** At the token where each score digit is written, the model's probabilities for
   1…5 are read: soft = best × p(best) / Σ p. It shrinks when the model hesitates. The *expected* score
   Σ s·p(s)/Σ p and the *confidence* max p/Σ p are extras, not part of the official output.

Sampling (temperature 0.7) is the official setting, so two runs can differ; set a seed in Settings to make
runs reproducible.
"""


def launch_kwargs(demo: gr.Blocks, evaluator: Evaluator) -> dict[str, Any]:
    """What every launch of the page passes: its stylesheet, the exact upload limit and the request guard."""
    return {"css": render.CSS, **serving.launch_settings(demo, evaluator.limits.max_file_bytes)}


def build_demo(evaluator: Evaluator | None = None) -> gr.Blocks:
    demo = DemoApp(evaluator or Evaluator()).build()
    # api_open=False: the REST routes that would skip the queue (and the one model slot) stay closed
    demo.queue(max_size=64, default_concurrency_limit=1, api_open=False)
    return demo
