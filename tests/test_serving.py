"""A public Space's traffic through the launched app: API defaults, abandoned runs, per-visitor bounds, request
bodies, the upload limit and server paths. A scripted evaluator streams text slowly so runs last long enough."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from tests.helpers import ASSETS, RAW_SETTINGS, SLOW, ScriptedEvaluator, launch, upload
from vs2demo.core.options import Limits
from vs2demo.serve import guard

CLIP = str(ASSETS / "ball_bounces.mp4")
SCORED = "<think>fine</think>\n(1) visual quality: 4\n(2) text-to-video alignment: 3\n" \
         "(3) physical/common-sense consistency: 2"


# `served` (tests/conftest.py) launches the page on a scripted evaluator: served(text, delay_s=…)




def _post_call(base: str, api: str, data: list, **kw) -> httpx.Response:
    return httpx.post(f"{base}/call/{api}", json={"data": [*data, *RAW_SETTINGS]}, timeout=30, **kw)


def _wait(condition, timeout: float) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)
    return time.monotonic() - start


# ---- API defaults -----------------------------------------------------------------------------


def test_every_setting_has_its_official_default_in_the_api(served) -> None:
    _, client, _ = served(SCORED)
    final = client.predict(handle_file(CLIP), "a red ball", api_name="/score")
    options = final[7]["options"]
    assert (options["seed"], options["greedy"], options["temperature"], options["max_new_tokens"],
            options["fps"]) == (None, False, 0.7, 1024, 2.0)
    both = client.predict(handle_file(CLIP), handle_file(str(ASSETS / "ball_sinks.mp4")), "a red ball",
                          api_name="/compare")[10]
    assert both["clip_a"]["prompt"] == both["clip_b"]["prompt"] == "a red ball"
    assert both["clip_b"]["options"]["seed"] is None


# ---- runs nobody listens to ---------------------------------------------------------------------


def test_a_run_whose_results_are_never_read_frees_the_model(served, monkeypatch) -> None:
    monkeypatch.setattr(guard, "UNREAD_GRACE_S", 2.0)
    evaluator, client, base = served(SLOW, delay_s=0.02)
    _post_call(base, "score", [upload(base, CLIP), "a ball"]).raise_for_status()  # posted, never read
    _wait(lambda: evaluator.started >= 1, 30)
    job = client.submit(handle_file(CLIP), "a ball", api_name="/score")
    waited = _wait(lambda: evaluator.started >= 2, 40)  # the next visitor's run begins
    assert evaluator.ended[:1] == ["stopped"]
    assert waited < 20  # not after the abandoned run's full ~50 s
    job.cancel()


def test_a_client_that_disconnects_stops_its_run(served) -> None:
    evaluator, _, base = served(SLOW, delay_s=0.02)
    event = _post_call(base, "score", [upload(base, CLIP), "a ball"]).json()["event_id"]
    with httpx.stream("GET", f"{base}/call/score/{event}", timeout=30) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:") and "ball" in line:
                break  # the reasoning is streaming: now go away
    assert _wait(lambda: bool(evaluator.ended), 10) < 10
    assert evaluator.ended == ["closed"] or evaluator.ended == ["stopped"]


def test_one_session_cannot_queue_more_than_its_bound(served) -> None:
    _, client, base = served(SLOW, delay_s=0.02)
    fn_index = next(i for i, fn in client_fns(client) if fn == "score")
    clip = upload(base, CLIP)
    body = {"data": [clip, "a ball", *RAW_SETTINGS], "fn_index": fn_index, "session_hash": "tab-1", "event_data": None,
            "trigger_id": None}
    answers = [httpx.post(f"{base}/queue/join", json=body, timeout=30) for _ in range(guard.MAX_RUNS_PER_SESSION)]
    assert all(a.status_code == 200 for a in answers)
    refused = httpx.post(f"{base}/queue/join", json=body, timeout=30)
    assert refused.status_code == 429 and "already have" in refused.json()["detail"]
    other = httpx.post(f"{base}/queue/join", json={**body, "session_hash": "tab-2"}, timeout=30)
    assert other.status_code == 200  # another visitor still gets in


def test_sessionless_calls_are_bounded_per_address(served, monkeypatch) -> None:
    monkeypatch.setenv("VS2_MAX_RUNS_PER_ADDRESS", "3")
    _, _, base = served(SLOW, delay_s=0.02)
    clip = upload(base, CLIP)
    codes = [_post_call(base, "score", [clip, "a ball"]).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def client_fns(client: Client) -> list[tuple[int, str]]:
    config = httpx.get(client.src.rstrip("/") + "/config", timeout=30).json()
    return [(d["id"], d.get("api_name")) for d in config["dependencies"]]


# ---- request bodies and the upload limit ----------------------------------------------------------


def test_oversized_bodies_are_refused_before_they_are_parsed(served) -> None:
    _, client, base = served(SCORED)
    big = {"data": [None, "x" * 5_000_000]}
    assert httpx.post(f"{base}/call/score", json=big, timeout=30).status_code == 413

    def chunks():
        payload = json.dumps(big).encode()
        for i in range(0, len(payload), 65536):
            yield payload[i:i + 65536]

    chunked = httpx.post(f"{base}/call/score", content=chunks(), timeout=30,
                         headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert client.predict(handle_file(CLIP), "a ball", api_name="/score")[7]["raw_output"] == SCORED


def test_one_exact_byte_limit_for_uploads(tmp_path) -> None:
    evaluator = ScriptedEvaluator(SCORED, delay_s=0)
    evaluator.limits = Limits(max_file_mb=1.5)
    demo, client = launch(evaluator)  # "1.5mb" used to crash the launch
    base = client.src.rstrip("/") + "/gradio_api"
    try:
        for size, accepted in ((1_500_000, True), (1_500_001, False), (1_560_000, False)):
            path = tmp_path / f"f{size}.mp4"
            path.write_bytes(Path(CLIP).read_bytes() + b"\0" * (size - Path(CLIP).stat().st_size))
            with open(path, "rb") as f:
                answer = httpx.post(f"{base}/upload", files={"files": (path.name, f)}, timeout=30)
            assert (answer.status_code == 200) is accepted, (size, answer.status_code)
    finally:
        demo.close()


# ---- server paths ------------------------------------------------------------------------------


def test_refusals_and_results_name_the_upload_only(served, tmp_path) -> None:
    from gradio_client.exceptions import AppError

    _, client, _ = served(SCORED)
    long_name = tmp_path / ("a_clip_with_a_rather_long_descriptive_file_name_from_a_generator_" + "x" * 40 + ".mp4")
    data = bytearray(Path(CLIP).read_bytes())
    mdat = data.index(b"mdat") + 4
    data[mdat:] = b"\0" * (len(data) - mdat)  # valid headers, no decodable frames
    long_name.write_bytes(bytes(data))
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(long_name)), "a ball", api_name="/score")
    message = str(info.value)
    assert message.startswith(long_name.name) and "cannot be read" in message  # named by the upload's own name
    assert "/tmp" not in message and "gradio/" not in message
    result = client.predict(handle_file(CLIP), "a ball", api_name="/score")[7]
    assert result["video"] == "ball_bounces.mp4" and result["frames"]["video"] == "ball_bounces.mp4"


def test_a_missing_upload_is_named_without_its_folder(evaluator) -> None:
    import os

    from gradio.utils import get_upload_folder

    from vs2demo.serve.handlers import DemoApp

    missing = os.path.join(get_upload_folder(), "0123abcd", "gone.mp4")
    shown = DemoApp(evaluator).plan(missing, 2.0)
    assert "gone.mp4" in shown and get_upload_folder() not in shown and "0123abcd" not in shown


def test_raw_http_callers_may_leave_out_trailing_settings(served) -> None:
    _, _, base = served(SCORED)
    event = httpx.post(f"{base}/call/score", json={"data": [upload(base, CLIP), "a ball"]}, timeout=30).json()
    stream = httpx.get(f"{base}/call/score/{event['event_id']}", timeout=60).text
    assert "event: complete" in stream and "event: error" not in stream
    final = json.loads(stream.split("event: complete\ndata:")[1].strip().splitlines()[0])
    assert final[7]["options"]["seed"] is None and final[7]["options"]["samples"] == 1
