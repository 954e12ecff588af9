"""Files sent as URLs: fetched by the app before the run is queued, capped in size and time, the file count checked
first, nothing refused left on disk. A loopback server plays the hostile host (allowed by name, as a test must)."""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from gradio.utils import get_upload_folder

from tests.helpers import ASSETS, ScriptedEvaluator, launch
from vs2demo.core.options import Limits
from vs2demo.serve.fetch import FOLDER, Fetcher, FetchRefused, FetchSettings

CLIP = ASSETS / "ball_bounces.mp4"
SCORED = "<think>fine</think>\n(1) visual quality: 4\n(2) text-to-video alignment: 3\n" \
         "(3) physical/common-sense consistency: 2"
LIMIT_MB = 2
DEADLINE_S = 3


class Host(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        Host.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        if self.path.startswith("/clip"):
            data = CLIP.read_bytes()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.end_headers()  # no length: a streamed body
        sent = 0
        try:
            while sent < 400_000_000:
                if self.path.startswith("/huge"):
                    self.wfile.write(b"\0" * 65536)
                    sent += 65536
                else:  # /slow: a byte now and then, for ever
                    self.wfile.write(b"\0")
                    sent += 1
                    time.sleep(0.5)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def host():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def app(host):
    mp = pytest.MonkeyPatch()
    mp.setenv("VS2_FETCH_PRIVATE_HOSTS", "127.0.0.1")
    mp.setenv("VS2_FETCH_DEADLINE_S", str(DEADLINE_S))
    evaluator = ScriptedEvaluator(SCORED, delay_s=0.0)
    evaluator.limits = Limits(max_file_mb=LIMIT_MB)
    demo, client = launch(evaluator)
    yield evaluator, client.src.rstrip("/") + "/gradio_api"
    demo.close()
    mp.undo()


def fetched_files() -> list[Path]:
    return [p for p in (Path(get_upload_folder()) / FOLDER).rglob("*") if p.is_file()]


def call(base: str, api: str, data: list) -> tuple[int, str, float]:
    """A raw API call: (status of the post, the event stream or the refusal, seconds taken)."""
    start = time.monotonic()
    posted = httpx.post(f"{base}/call/{api}", json={"data": data}, timeout=60)
    if posted.status_code != 200:
        return posted.status_code, posted.json()["detail"], time.monotonic() - start
    stream = httpx.get(f"{base}/call/{api}/{posted.json()['event_id']}", timeout=60).text
    return 200, stream, time.monotonic() - start


def url_file(url: str) -> dict:
    return {"path": url, "meta": {"_type": "gradio.FileData"}}


def test_a_url_is_fetched_by_the_app_and_scored(app, host) -> None:
    _, base = app
    status, stream, _ = call(base, "score_json", [url_file(f"{host}/clip.mp4"), "a red ball"])
    assert status == 200 and "visual_quality" in stream and "event: complete" in stream, stream[-300:]


def test_a_huge_url_is_cut_at_the_upload_limit_and_leaves_nothing(app, host) -> None:
    evaluator, base = app
    before, started = fetched_files(), evaluator.started
    status, message, took = call(base, "score_json", [url_file(f"{host}/huge.mp4"), "a red ball"])
    assert status == 400 and f"larger than the limit of {LIMIT_MB} MB" in message and took < DEADLINE_S
    assert fetched_files() == before and evaluator.started == started  # nothing on disk; the model never ran


def test_a_slow_url_is_cut_at_the_deadline_before_the_model_slot(app, host) -> None:
    evaluator, base = app
    before, started = fetched_files(), evaluator.started
    status, message, took = call(base, "score", [url_file(f"{host}/slow.mp4"), "a red ball"])
    assert status == 400 and f"longer than {DEADLINE_S} s" in message and took < DEADLINE_S + 2
    assert fetched_files() == before and evaluator.started == started


def test_too_many_urls_are_refused_before_any_is_fetched(app, host) -> None:
    _, base = app
    hits = len(Host.hits)
    urls = [url_file(f"{host}/clip{i}.mp4") for i in range(300)]
    status, message, _ = call(base, "rank_json", [urls, "a red ball"])
    assert status == 400 and "at most 8 files" in message and "(got 300)" in message
    assert len(Host.hits) == hits  # not one was fetched


@pytest.mark.parametrize("url,says", [("http://127.0.0.1:9/x.mp4", "not a public address"),
                                      ("http://localhost:9/x.mp4", "not a public address"),
                                      ("http://[::1]:9/x.mp4", "not a public address"),
                                      ("http://169.254.169.254/latest/meta-data", "not a public address"),
                                      ("file:///etc/passwd", "Only http(s) URLs")])
def test_private_addresses_are_never_fetched(tmp_path, url, says) -> None:
    fetcher = Fetcher(FetchSettings(1_000_000, tmp_path))
    files = [url_file(url)]
    with pytest.raises(FetchRefused, match=says.replace("(", r"\(").replace(")", r"\)")):
        asyncio.run(fetcher.localise(files))
    assert files[0]["path"] == url and not any(tmp_path.rglob("*.*"))
