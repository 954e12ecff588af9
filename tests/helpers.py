"""Helpers shared by the tests (and scripts/measure_trust.py): a scripted evaluator, launching the app, running
the CLI, raw HTTP uploads, and the scripts the subprocess tests run."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
from gradio_client import Client

from vs2demo.analysis.result import ModelInfo, Timings, build_result
from vs2demo.core.options import GenerationOptions
from vs2demo.engine.evaluator import Evaluator
from vs2demo.engine.events import Finished, FramesReady, Job, Piece, Planned, Status
from vs2demo.engine.inputs import PreparedClip, ReadyClip
from vs2demo.input.video import load_frames, thumbnail_array

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
SETTINGS = (1, False, 0.7, 1024, 2.0)  # seed, greedy, temperature, max new tokens, fps (positional API values)
RAW_SETTINGS = [None, False, 0.7, 1024, 2.0]  # the official ones: raw HTTP sends every value itself
INFO = ModelInfo("fake", "cpu", "float32", smoke=True, load_s=0.0)
SLOW = "<think>" + "The ball keeps bouncing. " * 400 + "</think>"  # ~50 s at 4 characters per 0.02 s


class ScriptedEvaluator(Evaluator):
    """Streams ``text`` in small pieces for every clip, then results parsed from it (no model): the CPU half
    (plans, frames) is real, the generation is scripted."""

    def __init__(self, text: str, delay_s: float = 0.02) -> None:
        super().__init__("smoke")
        self.text, self.delay_s = text, delay_s
        self.ended: list[str] = []  # how each stream ended: "done", "stopped" or "closed"
        self.started = 0  # streams that began writing text

    def prepare_stream(self, jobs: Sequence[Job], options: GenerationOptions) -> Iterator:
        """Real plans and frames (no model): what the page shows before the text."""
        ready = []
        for i, job in enumerate(jobs):
            yield Planned(i, self.plan(job.video, options.fps))
        for i, job in enumerate(jobs):
            frames = load_frames(job.video, options.fps, self.limits)
            ready.append(ReadyClip((job.video, options.fps), False, PreparedClip(frames, {}, 0.0)))
            yield FramesReady(i, frames.plan, thumbnail_array(frames))
        return ready

    def generate_stream(self, jobs: Sequence[Job], options: GenerationOptions, ready: Sequence[ReadyClip],
                        stop=None) -> Iterator:
        yield Status("Thinking…")
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
        timings = Timings(0.0, 0.0, 0.01, 0.1, len(emitted) // 4)
        yield Finished(tuple(build_result(job.video, job.prompt, emitted, r.clip.frames.plan, INFO, options, timings,
                                          stopped) for job, r in zip(jobs, ready)))


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


def forbid(monkeypatch, target, name: str, why: str) -> list:
    """Make ``target.name`` (a decoder, a subprocess starter) fail the test with ``why`` if anything calls it: as
    pytest's own failure, which no ``except Exception`` in the code under test can swallow (a fallback would hide
    an AssertionError). Returns the calls made, for the caller to assert there were none."""
    import pytest

    calls: list = []

    def never(*args, **kwargs):
        calls.append(args)
        pytest.fail(why)

    monkeypatch.setattr(target, name, never)
    return calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(evaluator):
    """The page on ``evaluator``, launched as the app launches it; returns (demo, client)."""
    from vs2demo.serve.page import build_demo, launch_kwargs

    demo = build_demo(evaluator)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs(demo, evaluator))
    return demo, Client(f"http://127.0.0.1:{port}/", verbose=False)


def cli(*args, input=None):
    return subprocess.run([sys.executable, "-m", "vs2demo", *args], capture_output=True, text=True, input=input,
                          timeout=600, cwd=ROOT)


def upload(base: str, path: str) -> dict:
    """Upload a file over raw HTTP as an attacker's script would; returns the FileData to send."""
    with open(path, "rb") as f:
        name = httpx.post(f"{base}/upload", files={"files": (Path(path).name, f)}, timeout=30).json()[0]
    return {"path": name, "meta": {"_type": "gradio.FileData"}}


# 16 threads × 25 probes in a fresh process; fd 2 must still be what it was, and still work.
STORM = r"""
import os, sys, threading
from vs2demo.input import video
from vs2demo.core.errors import InputError
paths = sys.argv[1:]
before = os.readlink("/proc/self/fd/2")
def work(k):
    for i in range(25):
        try:
            video.probe(paths[(k + i) % len(paths)])
        except InputError:
            pass
threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
[t.start() for t in threads]
[t.join() for t in threads]
assert os.readlink("/proc/self/fd/2") == before, os.readlink("/proc/self/fd/2")
sys.stderr.write("STDERR-ALIVE\n")
"""


# ---- the real browser: Debian's chromium driven by Playwright (no browser download) ----------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def serve(evaluator):
    """The page on ``evaluator`` for a browser; returns (demo, url)."""
    demo, client = launch(evaluator)
    return demo, client.src


def upload_in_page(page, elem_id: str, path: Path) -> None:
    """Choose ``path`` in the file input of the component with id ``elem_id``."""
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))


STATUS = "#vs2-status .vs2-status"  # the status line itself, without Gradio's queue notes beside it


def run_to_end(page, start, timeout_ms: int = 120_000) -> None:
    """``start()`` a run and wait for its end. The last status line is marked first: any update of the run draws a
    new one (a replay ends on the same words, and Gradio's queue notes share the box, so words alone cannot tell)."""
    page.evaluate(f"document.querySelector('{STATUS}')?.setAttribute('data-old', '')")
    start()
    page.wait_for_function(f"""() => {{ const s = document.querySelector('{STATUS}');
        return s && !s.hasAttribute('data-old') && s.innerText.includes('Done in'); }}""", timeout=timeout_ms)


def ready_to_score(browser, url: str, clip: str, prompt: str, **page_options):
    """A fresh page with a clip uploaded and a prompt typed, once the frame plan is shown."""
    page = browser.new_page(**page_options)
    page.goto(url)
    upload_in_page(page, "vs2-video", ASSETS / clip)
    page.get_by_label("Text-to-video prompt").first.fill(prompt)
    page.wait_for_selector("text=The model will see", timeout=30_000)  # the plan, before any GPU time
    return page
