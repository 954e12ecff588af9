"""The page's own behaviour in a real browser (scripted evaluator): one clear message for a bad clip, Evaluate
disabled while a run goes on, Stop with nothing running leaves the result alone, and thumbnails seek every time.
Screenshots of each state."""

from __future__ import annotations

import pytest

from tests.helpers import ASSETS, CHROMIUM, ready_to_score, upload_in_page

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (apt-get install chromium)")]

TEXT = ("<think>The ball bounces and lands softly.</think>\n(1) visual quality: 4\n(2) text-to-video alignment: 4\n"
        "(3) physical/common-sense consistency: 3")
VIEWS = [({"width": 1280, "height": 900}, "light"), ({"width": 390, "height": 844}, "dark")]


@pytest.fixture(scope="module")
def scripted(served):
    """One page on a slowly scripted evaluator for the module (conftest's served closes it): (evaluator, url)."""
    evaluator, client, _ = served(TEXT, delay_s=0.08)
    return evaluator, client.src


def status(page) -> str:
    return page.locator("#vs2-status").inner_text()


def player_time(page) -> float:
    return page.evaluate("document.querySelector('#vs2-video video').currentTime")


def told(page, words: str) -> int:
    """How often the page says ``words`` (in its text, toasts included)."""
    return page.locator("body").inner_text().count(words)


def no_toast_and_no_error_mark(page) -> None:
    page.wait_for_timeout(1200)  # a toast or Gradio's "Error" mark would be drawn by now
    assert page.locator(".toast-body").all_inner_texts() == []  # not Gradio's "Video not playable", not ours
    marks = page.evaluate("Array.from(document.querySelectorAll('.error')).filter((e) => e.offsetParent).length")
    assert marks == 0


def in_view(page, selector: str) -> bool:
    return page.evaluate(f"(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect(); "
                         "return r.top >= -1 && r.top < innerHeight; })()")


@pytest.mark.parametrize("viewport,scheme", VIEWS)
def test_a_bad_clip_gets_one_message_and_the_page_stays_ready(browser, scripted, shots, tmp_path, viewport,
                                                               scheme) -> None:
    """Told once beside the clip on upload (no toast, not even the player's own), then once in the status, in view,
    when Evaluate is pressed; the next clip clears it and runs."""
    _, url = scripted
    tag = f"{viewport['width']}-{scheme}"
    bad = tmp_path / "not_a_video.mp4"
    bad.write_bytes(b"this is plain text, not a video\n" * 20)
    page = browser.new_page(viewport=viewport, color_scheme=scheme)
    try:
        page.goto(url + f"?__theme={scheme}")
        upload_in_page(page, "vs2-video", bad)
        page.wait_for_selector(".vs2-plan .vs2-error", timeout=30_000)
        no_toast_and_no_error_mark(page)
        assert told(page, "not a video file") == 1
        page.screenshot(path=str(shots / f"bad-upload-{tag}.png"))
        page.get_by_label("Text-to-video prompt").first.fill("a red ball bouncing")
        page.click("#vs2-evaluate")
        page.wait_for_selector("#vs2-status .vs2-error", timeout=30_000)
        no_toast_and_no_error_mark(page)
        assert told(page, "not a video file") == 1  # moved to the status, not repeated
        assert "not a video file" in status(page) and "Checking the clip" not in status(page)
        assert in_view(page, "#vs2-status")  # where the visitor looks after pressing Evaluate
        for output in ("#vs2-reasoning", "#vs2-cards", "#vs2-radar", "#vs2-frames"):
            assert page.locator(f"{output} .error").count() == 0, output
        assert page.locator("#vs2-evaluate").is_enabled()
        page.screenshot(path=str(shots / f"bad-clip-{tag}.png"), full_page=True)
        page.locator("#vs2-video").get_by_role("button", name="Clear").click()  # the next try works
        upload_in_page(page, "vs2-video", ASSETS / "ball_bounces.mp4")
        page.wait_for_selector("text=The model will see", timeout=30_000)
        assert told(page, "not a video file") == 0  # the old clip's message went with it
        page.click("#vs2-evaluate")
        page.wait_for_selector("#vs2-status >> text=Done in", timeout=60_000)
    finally:
        page.close()


@pytest.mark.parametrize("viewport,scheme", VIEWS)
def test_compare_and_rank_tell_a_bad_clip_once_in_their_status(browser, scripted, shots, tmp_path, viewport,
                                                                scheme) -> None:
    _, url = scripted
    tag = f"{viewport['width']}-{scheme}"
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    page = browser.new_page(viewport=viewport, color_scheme=scheme)
    try:
        page.goto(url + f"?__theme={scheme}")
        page.get_by_role("tab", name="Compare two clips").click()
        upload_in_page(page, "vs2-video-a", ASSETS / "ball_bounces.mp4")
        upload_in_page(page, "vs2-video-b", bad)
        page.wait_for_selector("#vs2-plan-b .vs2-error", timeout=30_000)
        page.wait_for_selector("#vs2-plan-a >> text=The model will see", timeout=30_000)
        no_toast_and_no_error_mark(page)
        assert told(page, "broken.mp4") == 1
        page.fill("#vs2-prompt-a textarea", "a red ball bouncing")
        page.click("#vs2-compare")
        page.wait_for_selector("#vs2-compare-status .vs2-error", timeout=30_000)
        no_toast_and_no_error_mark(page)
        assert told(page, "broken.mp4") == 1 and "broken.mp4" in page.locator("#vs2-compare-status").inner_text()
        assert in_view(page, "#vs2-compare-status") and page.locator("#vs2-compare").is_enabled()
        page.screenshot(path=str(shots / f"compare-bad-{tag}.png"))

        page.get_by_role("tab", name="Rank clips (best of N)").click()
        page.locator("#vs2-rank-clips input[type=file]").set_input_files([str(ASSETS / "ball_bounces.mp4"),
                                                                          str(bad)])
        page.fill("#vs2-rank-prompt textarea", "a red ball bouncing")
        page.click("#vs2-rank")
        page.wait_for_selector("#vs2-rank-status .vs2-error", timeout=30_000)
        no_toast_and_no_error_mark(page)
        rank_status = page.locator("#vs2-rank-status").inner_text()
        assert "at least 2 readable clips" in rank_status and "broken.mp4" in rank_status
        assert page.locator("#vs2-rank").is_enabled()
    finally:
        page.close()


@pytest.mark.parametrize("viewport,scheme", VIEWS)
def test_run_stop_and_thumbnails(browser, scripted, shots, viewport, scheme) -> None:
    _, url = scripted
    tag = f"{viewport['width']}-{scheme}"
    page = ready_to_score(browser, url + f"?__theme={scheme}", "ball_bounces.mp4", "a red ball bouncing",
                          viewport=viewport, color_scheme=scheme)
    try:
        page.click("#vs2-evaluate")
        page.wait_for_function("document.querySelector('#vs2-reasoning textarea').value.length > 8",
                               timeout=30_000)
        assert page.locator("#vs2-evaluate").is_disabled()  # no second run on top of the first
        page.wait_for_selector("#vs2-status >> text=Done in", timeout=60_000)
        page.wait_for_function("!document.querySelector('#vs2-evaluate').disabled", timeout=10_000)
        done = status(page)
        assert "tokens" in done and "Stopped" not in done
        page.wait_for_selector("#vs2-evidence .vs2-reading", timeout=10_000)  # the reasoning, readable
        reading = page.locator("#vs2-evidence .vs2-reading").inner_text()
        assert "The ball bounces and lands softly." in reading and "<think>" not in reading
        assert "Physical / common-sense consistency: 3 / 5" in reading  # the scores set apart

        page.click("#vs2-stop")  # nothing is running: the result and its status stay
        page.wait_for_selector("text=Nothing was running.", timeout=10_000)  # the handler ran and said so
        assert status(page) == done

        thumbs = page.locator("#vs2-frames .thumbnail-item")
        third = thumbs.nth(2)
        third.click()
        page.wait_for_function("document.querySelector('#vs2-video video').currentTime > 0.5", timeout=10_000)
        first_seek = player_time(page)
        page.evaluate("document.querySelector('#vs2-video video').currentTime = 0")
        third.click()  # the same thumbnail again seeks again
        page.wait_for_function(f"Math.abs(document.querySelector('#vs2-video video').currentTime - {first_seek})"
                               " < 0.05", timeout=10_000)
        in_view = page.evaluate("(() => { const r = document.querySelector('#vs2-video video')"
                                ".getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; })()")
        assert in_view  # the player was brought into view
        page.screenshot(path=str(shots / f"thumbnail-seek-{tag}.png"), full_page=True)

        # every frame's caption whole (a phone wraps it), and every frame large shows every row: none cut
        captions = page.evaluate("""() => [...document.querySelectorAll('#vs2-frames .caption-label')].map(
            (c) => c.scrollWidth <= c.clientWidth + 1)""")
        assert captions and all(captions)
        page.click("#vs2-large-frames input")
        page.wait_for_function("document.querySelector('#vs2-frames').classList.contains('vs2-frames-large')",
                               timeout=10_000)
        page.wait_for_timeout(500)
        whole = page.evaluate("""() => { const g = document.querySelector('#vs2-frames').getBoundingClientRect();
            return [...document.querySelectorAll('#vs2-frames .thumbnail-item')].map((t) => {
                const r = t.getBoundingClientRect();
                return r.bottom <= g.bottom + 1 && r.right <= g.right + 1; }); }""")
        assert len(whole) == 6 and all(whole)
        page.screenshot(path=str(shots / f"frames-large-{tag}.png"), full_page=True)
        page.click("#vs2-large-frames input")

        page.click("#vs2-evaluate")  # the next run starts with no frame selected
        page.wait_for_selector("#vs2-status >> text=Done in", timeout=60_000)
        page.wait_for_function("document.querySelectorAll('#vs2-frames .thumbnail-item').length >= 3",
                               timeout=10_000)
        page.wait_for_function("document.querySelectorAll('#vs2-frames .thumbnail-item.selected').length === 0",
                               timeout=5_000)

    finally:
        page.close()


@pytest.mark.parametrize("viewport,scheme", VIEWS)
def test_first_screen_teaching_and_compare(browser, scripted, shots, viewport, scheme) -> None:
    import json

    _, url = scripted
    tag = f"{viewport['width']}-{scheme}"
    page = browser.new_page(viewport=viewport, color_scheme=scheme)
    try:
        page.goto(url + f"?__theme={scheme}")
        lessons = [e["teaches"] for e in json.loads((ASSETS / "examples.json").read_text())]
        examples = page.locator("#vs2-examples")
        page.wait_for_selector("#vs2-examples .gallery-item", timeout=30_000)
        for lesson in lessons:  # each example says what it teaches, and the labels tell them apart
            assert examples.get_by_text(lesson, exact=False).count() >= 1
        if viewport["width"] >= 1000:  # beside the upload, on the first screen
            box = examples.bounding_box()
            assert box is not None and box["y"] < viewport["height"]
        page.screenshot(path=str(shots / f"first-screen-{tag}.png"))

        page.get_by_role("tab", name="How it works").click()
        page.wait_for_selector("text=From a clip to three scores", timeout=10_000)
        assert page.get_by_text("3,600 visual tokens", exact=False).count() == 1  # computed by the frame maths

        page.get_by_role("tab", name="Compare two clips").click()
        for side, name in (("a", "ball_bounces.mp4"), ("b", "ball_sinks.mp4")):
            upload_in_page(page, f"vs2-video-{side}", ASSETS / name)
            page.wait_for_selector(f"#vs2-plan-{side} >> text=The model will see", timeout=30_000)
        page.locator("#vs2-prompt-a textarea").fill("a red ball bouncing")
        page.click("#vs2-compare")
        page.wait_for_function("document.querySelector('#vs2-compare').disabled", timeout=10_000)  # while it runs
        page.wait_for_function("document.querySelector('#vs2-reasoning-a textarea').value.length > 5",
                               timeout=30_000)
        page.wait_for_timeout(700)  # the smooth scroll to the status has ended
        # both reasoning boxes stream in sight (on a phone, which stacks them, the first one)
        for side in ("a", "b") if viewport["width"] >= 1000 else ("a",):
            assert in_view(page, f"#vs2-reasoning-{side}"), side
        page.wait_for_selector("#vs2-verdict .vs2-headline", timeout=60_000)
        # every cell of the comparison table within the page's width: a narrow page stacks rows into cards
        cells = page.evaluate("""() => [...document.querySelectorAll('#vs2-compare-table td')].map((td) => [
            td.getBoundingClientRect().right, td.scrollWidth <= td.clientWidth + 1])""")
        assert len(cells) == 4 * 7 and all(right <= viewport["width"] + 1 and whole for right, whole in cells)
        table = page.locator("#vs2-compare-table").inner_text()  # every column's header readable, as text
        assert all(h in table for h in ("Clip A", "Clip B", "A − B", "Soft A", "Soft B", "Better"))
        page.wait_for_function("!document.querySelector('#vs2-compare').disabled", timeout=30_000)  # back after
        headline = page.locator("#vs2-verdict .vs2-headline").inner_text()
        assert headline.startswith("Overall:") and "sum 11 vs 11" in headline  # the scripted text twice: a tie
        # one seek moves both players
        page.evaluate("document.querySelector('#vs2-video-a video').currentTime = 1.5")
        page.wait_for_function("Math.abs(document.querySelector('#vs2-video-b video').currentTime - 1.5) < 0.1",
                               timeout=10_000)
        sync = page.locator("#vs2-sync input")
        assert sync.is_checked()
        sync.click()  # the visitor can untick it, and then a seek moves one player only
        assert not sync.is_checked()
        page.evaluate("document.querySelector('#vs2-video-a video').currentTime = 0.5")
        page.wait_for_timeout(500)
        assert abs(page.evaluate("document.querySelector('#vs2-video-b video').currentTime") - 1.5) < 0.1
        page.screenshot(path=str(shots / f"compare-headline-{tag}.png"), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("viewport,scheme", VIEWS)
def test_a_gif_is_brought_in_by_its_button_and_scored_with_its_reader_named(browser, scripted, shots, tmp_path,
                                                                            viewport, scheme) -> None:
    """The player takes video files only: a GIF comes in through its own button and is planned and scored, the
    fallback reader named before and after the run."""
    import subprocess

    import imageio_ffmpeg

    gif = tmp_path / "pattern.gif"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=10", "-t", "3", str(gif)], check=True)
    _, url = scripted
    page = browser.new_page(viewport=viewport, color_scheme=scheme)
    try:
        page.goto(url + f"?__theme={scheme}")
        page.locator("#vs2-animation input[type=file], input[type=file][accept*='.gif']").first.set_input_files(
            str(gif))
        page.wait_for_selector("text=The model will see", timeout=30_000)
        assert "read by ffmpeg, not the official decord" in page.locator(".vs2-plan").first.inner_text()
        # the browser cannot play a GIF in a video player: the player says so in place, with no toast
        no_toast_and_no_error_mark(page)
        page.wait_for_selector("#vs2-video [data-vs2-unplayable]", state="attached", timeout=10_000)
        note = page.evaluate("getComputedStyle(document.querySelector('#vs2-video [data-vs2-unplayable]'), "
                             "'::after').content")
        assert "cannot play" in note
        page.get_by_label("Text-to-video prompt").first.fill("a test pattern")
        page.click("#vs2-evaluate")
        page.wait_for_selector("#vs2-status >> text=Done in", timeout=60_000)
        assert "read by ffmpeg, not the official decord" in page.locator("#vs2-status").inner_text()
        page.screenshot(path=str(shots / f"gif-{viewport['width']}-{scheme}.png"))
    finally:
        page.close()
