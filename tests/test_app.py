"""The app through gradio_client, launched for real on the smoke model (and on a scripted evaluator)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from gradio_client import handle_file

from tests.helpers import ASSETS, SETTINGS
from vs2demo.analysis.parse import parse_scores
from vs2demo.core.dimensions import DIMENSIONS


@pytest.mark.slow  # a fresh interpreter importing gradio
def test_import_app_is_cheap_and_loads_no_model() -> None:
    import subprocess
    import sys

    code = "import sys, app; assert 'torch' not in sys.modules; assert not app.demo is None; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip().splitlines()[-1] == "ok", out.stderr


def test_score_streams_then_returns_scores_frames_and_figure(smoke_app) -> None:
    job = smoke_app.submit(handle_file(str(ASSETS / "ball_bounces.mp4")), "a red ball bouncing", *SETTINGS,
                     api_name="/score")
    final = job.result()
    updates = job.outputs()
    status, plan, reasoning, radar, cards, gallery, raw, result, download = final
    texts = [u[2] for u in updates if isinstance(u[2], str)]
    assert len(updates) >= 4 and len({t for t in texts if t}) >= 2  # the reasoning grew over several updates
    assert reasoning == raw == result["raw_output"]
    parsed = parse_scores(raw)
    assert result["parse_method"] == parsed.method.value
    assert [result["scores"][d.key]["hard"] for d in DIMENSIONS] == list(parsed.scores)
    assert set(result["scores"]) == {"visual_quality", "text_to_video_alignment", "physical_consistency"}
    assert len(gallery) == result["frames"]["frame_count"] == 6
    assert "0.00 s" in gallery[0]["caption"]
    has_score = any(s is not None for s in parsed.scores)
    assert (radar is not None and radar["type"] == "plotly") == has_score  # a chart exactly when a score exists
    assert "frames" in plan and "Done" in status and "vs2-badge" in cards
    assert Path(download).read_text().startswith("{")


def test_compare_returns_both(smoke_app) -> None:
    final = smoke_app.predict(handle_file(str(ASSETS / "ball_bounces.mp4")),
                              handle_file(str(ASSETS / "ball_sinks.mp4")),
                              "a red ball bouncing on a wooden floor", False, "", *SETTINGS, api_name="/compare")
    status, plan_a, plan_b, text_a, text_b, radar, verdict, table, gallery_a, gallery_b, both, download = final
    assert both["clip_a"]["raw_output"] == text_a and both["clip_b"]["raw_output"] == text_b
    assert len(gallery_a) == 6 and len(gallery_b) == 6
    rows = table.split("<tbody>")[1].split("</tr>")[:-1]  # one row per dimension, then overall
    assert len(rows) == 4 and "Overall (sum)" in rows[-1]
    assert "Overall" in verdict and "Done" in status
    assert "The model will see" in plan_a and "The model will see" in plan_b
    has_score = any(s is not None for text in (text_a, text_b) for s in parse_scores(text).scores)
    assert (radar is not None and radar["type"] == "plotly") == has_score
    assert set(json.loads(Path(download).read_text())) == {"clip_a", "clip_b"}


@pytest.mark.parametrize("case", ["not a video", "empty file", "empty prompt", "no video"])
def test_bad_input_gets_a_message_and_the_app_keeps_serving(smoke_app, tmp_path, case) -> None:
    from gradio_client.exceptions import AppError

    bad = tmp_path / "upload.mp4"
    bad.write_bytes(b"" if case == "empty file" else b"GIF89a? no, just text pretending" * 3)
    video = None if case == "no video" else handle_file(str(ASSETS / "ball_bounces.mp4") if case == "empty prompt"
                                                        else str(bad))
    prompt = "" if case == "empty prompt" else "a ball"
    with pytest.raises(AppError) as info:
        smoke_app.predict(video, prompt, *SETTINGS, api_name="/score")
    message = str(info.value)
    expected = {"not a video": "not", "empty file": "empty", "empty prompt": "prompt", "no video": "Upload"}
    assert expected[case] in message
    # the next visitor is served as usual
    final = smoke_app.predict(handle_file(str(ASSETS / "ball_sinks.mp4")), "a ball", 2, False, 0.7, 32, 2.0,
                        api_name="/score")
    assert final[7]["frames"]["frame_count"] == 6


def test_fallback_and_no_score_states_are_labelled(served) -> None:
    recovered = "<think>fine</think>\nVisual quality: 4/5\nText-to-video alignment: 3/5\n" \
                "Physical/common-sense consistency = 2"
    _, client, _ = served(recovered)
    final = client.predict(handle_file(str(ASSETS / "ball_bounces.mp4")), "x", *SETTINGS, api_name="/score")
    assert "fallback" in final[4] and final[7]["parse_method"] == "fallback" and final[3] is not None
    _, client, _ = served("I cannot judge this video.")
    final = client.predict(handle_file(str(ASSETS / "ball_bounces.mp4")), "x", *SETTINGS, api_name="/score")
    assert "No score parsed" in final[4] and final[3] is None  # no chart, no made-up number
    assert "no score could be parsed" in final[0]


@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../../../etc/passwd", __file__])
def test_server_paths_sent_through_the_api_are_not_read(smoke_app, path, monkeypatch) -> None:
    """Raw HTTP, as an attacker would send it (gradio_client would upload its own local file instead)."""
    import httpx

    import vs2demo.input.video

    opened: list[str] = []
    real = vs2demo.input.video.sniff_container
    monkeypatch.setattr(vs2demo.input.video, "sniff_container", lambda p: (opened.append(str(p)), real(p))[1])
    base = smoke_app.src.rstrip("/") + "/gradio_api"
    data = [{"path": path, "meta": {"_type": "gradio.FileData"}}, "a ball", *SETTINGS]
    event = httpx.post(f"{base}/call/score", json={"data": data}).json()["event_id"]
    stream = httpx.get(f"{base}/call/score/{event}", timeout=60).text
    assert "event: error" in stream and "Done" not in stream
    assert opened == []  # refused before a byte was read


def test_handler_refuses_paths_outside_uploads_and_examples(evaluator) -> None:
    import gradio as gr

    from vs2demo.serve.handlers import DemoApp

    with pytest.raises(gr.Error, match="Only uploaded videos"):
        next(DemoApp(evaluator).score("/etc/passwd", "a ball", *SETTINGS))


def test_failure_inside_generate_fails_that_visitor_only(smoke_app, evaluator, monkeypatch) -> None:
    from gradio_client.exceptions import AppError

    from tests.helpers import fail_first_generate

    fail_first_generate(monkeypatch, evaluator)
    model = evaluator.model
    with pytest.raises(AppError, match="Out of memory during generation"):
        smoke_app.predict(handle_file(str(ASSETS / "ball_bounces.mp4")), "a ball", *SETTINGS, api_name="/score")
    final = smoke_app.predict(handle_file(str(ASSETS / "ball_bounces.mp4")), "a ball", *SETTINGS, api_name="/score")
    assert final[7]["raw_output"] and evaluator.model is model  # served, and the model was not reloaded


def test_model_that_cannot_load_gives_a_message_and_the_page_keeps_working(served, tmp_path) -> None:
    from gradio_client.exceptions import AppError

    from vs2demo.engine.evaluator import Evaluator

    _, client, _ = served(Evaluator(str(tmp_path / "missing-model")))
    for _ in range(2):  # asked again, it answers again: nothing is left broken
        with pytest.raises(AppError, match=r"Cannot load model .*--model smoke"):
            client.predict(handle_file(str(ASSETS / "ball_bounces.mp4")), "a ball", *SETTINGS, api_name="/score")


def test_files_handed_to_gradio_are_written_once_and_pruned(tmp_path, monkeypatch) -> None:
    from vs2demo.serve import files

    monkeypatch.setattr(files, "FILES_DIR", tmp_path)
    monkeypatch.setattr(files, "KEEP_FILES", 3)
    monkeypatch.setattr(files, "PRUNE_EVERY", 1)
    first = files.write_file("a.json", b"1")
    assert files.write_file("a.json", b"other") == first and Path(first).read_bytes() == b"1"  # never rewritten
    for i in range(6):
        files.write_file(f"f{i}.json", b"x")
    assert len(list(tmp_path.glob("*.json"))) == 3


def test_a_file_handed_out_again_outlives_newer_ones(tmp_path, monkeypatch) -> None:
    """A content-named thumbnail written long ago and handed out again must not be the first pruned."""
    from vs2demo.serve import files

    monkeypatch.setattr(files, "FILES_DIR", tmp_path)
    monkeypatch.setattr(files, "KEEP_FILES", 2)
    monkeypatch.setattr(files, "PRUNE_EVERY", 1)
    reused = Path(files.write_file("frame_old.webp", b"1"))
    os.utime(reused, (1_000_000, 1_000_000))  # written long ago
    files.write_file("frame_new.webp", b"2")
    assert files.write_file("frame_old.webp", b"1") == str(reused)  # handed out again now
    files.write_file("frame_newer.webp", b"3")  # prunes down to the two youngest
    assert reused.exists()
    assert sorted(p.name for p in tmp_path.glob("*.webp")) == ["frame_newer.webp", "frame_old.webp"]


def test_pruning_spares_a_file_touched_after_it_was_listed(tmp_path) -> None:
    from vs2demo.serve import files

    path = tmp_path / "frame.webp"
    path.write_bytes(b"1")
    os.utime(path, (1_000_000, 1_000_000))
    listed = path.stat().st_mtime
    os.utime(path)  # handed out again between the listing and the removal
    files.remove_unless_touched(path, listed)
    assert path.exists()
    files.remove_unless_touched(path, path.stat().st_mtime)  # untouched since listed: removed
    assert not path.exists()
    files.remove_unless_touched(path, listed)  # already gone (another process pruned it): no error


@pytest.mark.parametrize("given,seed", [(None, None), ("", None), ("  ", None), (" 7 ", 7), (7, 7), ("7.0", 7),
                                        (0, 0), ("-3", -3)])
def test_seed_box_empty_means_random(given, seed) -> None:
    from vs2demo.serve.requests import page_options

    assert page_options(given, False, 0.7, 1024, 2.0).seed == seed


@pytest.mark.parametrize("given", ["abc", "1.5", "nan", "inf"])
def test_seed_box_refuses_what_is_not_a_whole_number(given) -> None:
    import gradio as gr

    from vs2demo.serve.requests import page_options

    with pytest.raises(gr.Error, match="whole number"):
        page_options(given, False, 0.7, 1024, 2.0)


def test_a_visitors_mistake_is_one_log_line_and_one_message(evaluator, tmp_path, caplog) -> None:
    """A bad upload is the visitor's to fix: one line in the log, no traceback, and Gradio told not to print one."""
    import logging

    import gradio as gr
    from gradio.utils import get_upload_folder

    from vs2demo.serve.handlers import DemoApp

    folder = Path(get_upload_folder()) / "test-mistake"
    folder.mkdir(parents=True, exist_ok=True)
    bad = folder / "notes.mp4"  # where an upload lands
    bad.write_text("not a video at all")
    app = DemoApp(evaluator)
    with caplog.at_level(logging.INFO, logger="vs2demo"), pytest.raises(gr.Error) as info:
        list(app.check(str(bad), "a ball"))
    assert info.value.print_exception is False
    records = [r for r in caplog.records if r.name.startswith("vs2demo")]
    assert len(records) == 1 and records[0].exc_info is None and "notes.mp4" in records[0].getMessage()
