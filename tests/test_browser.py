"""The app in a real browser: Debian's headless Chromium driven by Playwright (no browser download).

Screenshots go to $VS2_SCREENSHOTS or a temporary folder, printed at the start of the run.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.helpers import ASSETS, CHROMIUM, STATUS, ready_to_score, run_to_end, serve, upload_in_page

if not CHROMIUM and os.environ.get("VS2_REQUIRE_BROWSER"):
    raise RuntimeError("VS2_REQUIRE_BROWSER is set but Debian's chromium is not installed")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (apt-get install chromium)")]

# Records every distinct value the reasoning box takes, every 10 ms, so the test sees it grow.
WATCH = """(sel) => { window.__seen = []; window.__watch = setInterval(() => {
  const t = document.querySelector(sel + ' textarea'); if (!t) return;
  const v = t.value; if (window.__seen[window.__seen.length - 1] !== v) window.__seen.push(v); }, 10); }"""


def test_score_then_compare_in_a_real_browser(evaluator, browser, shots) -> None:
    demo, url = serve(evaluator)
    try:
        page = ready_to_score(browser, url, "ball_sinks.mp4", "a red ball bouncing on a wooden floor",
                              viewport={"width": 1280, "height": 1000})
        page.evaluate(WATCH, "#vs2-reasoning")
        page.click("#vs2-evaluate")
        page.wait_for_selector("#vs2-status >> text=Done", timeout=120_000)
        seen = [v for v in page.evaluate("window.__seen") if v]
        # the smoke model writes its ~50 tokens in a fraction of a second, so how many partial texts reach
        # the screen varies; each one seen must extend the last (test_reasoning_grows_while_streaming
        # checks the growth itself on a slower stream)
        assert seen and all(seen[i + 1].startswith(seen[i]) for i in range(len(seen) - 1)), seen
        page.wait_for_selector("#vs2-radar .js-plotly-plot", timeout=30_000)
        assert page.locator(".vs2-card").count() == 3
        assert page.locator("text=SMOKE MODEL").count() >= 1  # the banner says the scores mean nothing
        assert page.locator("#vs2-frames img").count() == 6  # the six frames the model saw
        assert page.locator("#vs2-frames >> text=0.00 s · frame 0").count() == 1
        page.locator("#vs2-frames img").nth(2).click()  # frame 28 at 1.17 s: the player seeks there
        page.wait_for_function("Math.abs(document.querySelector('#vs2-video video').currentTime - 1.17) < 0.05",
                               timeout=10_000)
        page.screenshot(path=str(shots / "score.png"), full_page=True)

        page.get_by_role("tab", name="Compare two clips").click()
        upload_in_page(page, "vs2-video-a", ASSETS / "ball_bounces.mp4")
        upload_in_page(page, "vs2-video-b", ASSETS / "ball_sinks.mp4")
        page.locator("#vs2-prompt-a textarea").fill("a red ball bouncing on a wooden floor")
        for side in ("a", "b"):  # both uploads finished and planned
            page.wait_for_selector(f"#vs2-plan-{side} >> text=The model will see", timeout=30_000)
        page.click("#vs2-compare")
        page.wait_for_selector("#vs2-verdict >> text=Overall", timeout=120_000)
        page.wait_for_selector("#vs2-radar-compare .js-plotly-plot", timeout=30_000)
        for side in ("a", "b"):
            assert page.locator(f"#vs2-reasoning-{side} textarea").input_value()
            assert page.locator(f"#vs2-frames-{side} img").count() == 6
        page.screenshot(path=str(shots / "compare.png"), full_page=True)

        phone = browser.new_page(viewport={"width": 390, "height": 844}, color_scheme="dark")
        phone.goto(url + "?__theme=dark")
        phone.wait_for_selector("#vs2-evaluate")
        box = phone.locator("#vs2-evaluate").bounding_box()
        assert box and box["x"] + box["width"] <= 390  # columns stack on a phone
        phone.screenshot(path=str(shots / "phone-dark.png"), full_page=True)
    finally:
        demo.close()


def test_model_output_with_html_renders_as_text(browser, shots) -> None:
    from tests.helpers import ScriptedEvaluator

    hostile = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold</b>\n'
               "(1) visual quality: 3\n(2) text-to-video alignment: 4\n(3) physical/common-sense consistency: 2")
    demo, url = serve(ScriptedEvaluator(hostile, delay_s=0.01))
    try:
        page = ready_to_score(browser, url, "ball_bounces.mp4", '<img src=x onerror="window.__pwned = 3">')
        page.click("#vs2-evaluate")
        page.wait_for_selector("#vs2-status >> text=Done", timeout=60_000)
        assert page.evaluate("window.__pwned") is None
        assert "<script>window.__pwned = 1</script>" in page.locator("#vs2-reasoning textarea").input_value()
        assert page.locator("img[src='x']").count() == 0
        page.screenshot(path=str(shots / "html-as-text.png"), full_page=True)
    finally:
        demo.close()


@pytest.mark.parametrize("viewport,scheme", [({"width": 1280, "height": 900}, "light"),
                                             ({"width": 390, "height": 844}, "dark")])
def test_an_example_is_a_full_result_computed_once_then_replayed(smoke_dir, browser, shots, viewport,
                                                                 scheme) -> None:
    """A visitor's first click: the example runs (once per process), then replays; either way Explain and Report
    work on it and a frame click seeks the player. Before any result, Explain and Report cannot be pressed."""
    from vs2demo.engine.evaluator import Evaluator

    evaluator = Evaluator("smoke")
    calls = []
    real = evaluator.generate_stream  # the model's half of an evaluation

    def counted(*args, **kwargs):
        calls.append(1)
        yield from real(*args, **kwargs)

    evaluator.generate_stream = counted
    demo, url = serve(evaluator)
    tag = f"{viewport['width']}-{scheme}"
    try:
        page = browser.new_page(viewport=viewport, color_scheme=scheme)
        page.goto(f"{url}?__theme={scheme}")
        page.wait_for_selector("#vs2-examples .gallery-item, #vs2-examples button.example", timeout=30_000)
        assert not page.locator("#vs2-explain").is_enabled() and not page.locator("#vs2-report-button").is_enabled()
        for attempt in range(2):
            if attempt == 1:  # reloaded: the page now opens on the recorded example, replayed and labelled
                page.wait_for_selector("#vs2-status >> text=Replay of an example run", timeout=60_000)
                page.wait_for_function("!document.querySelector('#vs2-explain').disabled", timeout=20_000)
            run_to_end(page, page.locator("#vs2-examples .gallery-item, #vs2-examples button.example").first.click)
            status = page.locator(STATUS).inner_text()
            replayed = "Replay of an example run" in status
            assert replayed == (attempt == 1), status  # computed the first time, replayed (and labelled) the second
            # the cards arrive with the status, but each HTML output is drawn in its own time
            page.wait_for_function("document.querySelectorAll('#vs2-cards .vs2-card').length === 3", timeout=10_000)
            page.wait_for_function("!document.querySelector('#vs2-explain').disabled", timeout=20_000)
            assert page.locator("#vs2-report-button").is_enabled()
            page.screenshot(path=str(shots / f"example-{tag}-{attempt}.png"), full_page=True)
            if attempt == 0:
                page.reload()
        assert len(calls) == 1  # the second click replayed the recorded run: no model call
        # every frame of the strip within the page's width (a phone shows three a row), captions whole
        rights = page.evaluate("""() => [...document.querySelectorAll('#vs2-frames .thumbnail-item')]
            .map((f) => f.getBoundingClientRect().right)""")
        assert len(rights) == 6 and max(rights) <= viewport["width"] + 1
        page.locator("#vs2-frames .thumbnail-item, #vs2-frames button").nth(3).click()  # seeking works
        page.wait_for_function("document.querySelector('#vs2-video video')?.currentTime > 1", timeout=20_000)
        page.click("#vs2-report-button")
        page.wait_for_selector("#vs2-report a, #vs2-report .file-preview, #vs2-report td", timeout=60_000)
        assert "Evaluate a clip first" not in page.content()
    finally:
        demo.close()


@pytest.fixture(scope="module")
def opened_on_first(smoke_dir):
    """The page on the smoke model after the app's start-up work: the first example and its explanation computed."""
    from vs2demo.engine.evaluator import Evaluator
    from vs2demo.serve.page import compute_first_example

    demo, url = serve(Evaluator("smoke"))
    compute_first_example(demo).join(300)
    yield url
    demo.close()


@pytest.mark.parametrize("viewport,scheme", [({"width": 1280, "height": 900}, "light"),
                                             ({"width": 390, "height": 844}, "dark")])
def test_the_first_screen_is_a_finished_explained_example(opened_on_first, browser, shots, viewport, scheme) -> None:
    """Before any click: the first example's reasoning replayed as a stream, its radar, cards, frames and
    explanation, labelled as a replay; Explain and Report work on it, and the report carries the evidence."""
    page = browser.new_page(viewport=viewport, color_scheme=scheme)
    try:
        page.goto(f"{opened_on_first}?__theme={scheme}")
        page.wait_for_selector("#vs2-status >> text=Replay of an example run", timeout=60_000)
        assert page.locator("#vs2-cards .vs2-card").count() == 3
        page.wait_for_selector("#vs2-radar .js-plotly-plot", timeout=20_000)  # plotly draws after the update
        page.wait_for_selector("#vs2-radar .radial-axis text", timeout=20_000)
        ticks = page.evaluate("""() => [...document.querySelectorAll('#vs2-radar .radial-axis text')].map(t => {
            const m = t.getScreenCTM();
            return {text: t.textContent, turn: Math.atan2(m.b, m.a) * 180 / Math.PI,
                    size: parseFloat(getComputedStyle(t).fontSize)}; })""")
        assert [t["text"] for t in ticks] == ["1", "2", "3", "4", "5"]
        assert all(abs(t["turn"]) < 1 and t["size"] >= 12 for t in ticks), ticks  # upright, as text is read
        page.wait_for_function("document.querySelectorAll('#vs2-frames .thumbnail-item').length >= 3",
                               timeout=20_000)
        assert page.locator("#vs2-reasoning textarea").input_value().startswith("<think>")
        page.wait_for_selector("#vs2-evidence .vs2-ev", timeout=20_000)  # its explanation, shown with it
        page.wait_for_function("!document.querySelector('#vs2-explain').disabled", timeout=20_000)
        assert page.locator("#vs2-report").count() == 0 or not page.locator("#vs2-report").is_visible()
        page.screenshot(path=str(shots / f"first-screen-explained-{viewport['width']}-{scheme}.png"), full_page=True)
        page.click("#vs2-report-button")
        page.wait_for_selector("#vs2-report a, #vs2-report .file-preview, #vs2-report td", timeout=60_000)
    finally:
        page.close()


@pytest.fixture
def slow_run(browser):
    """A long scripted generation already streaming into a page: (evaluator, page)."""
    from tests.helpers import ScriptedEvaluator

    slow = ScriptedEvaluator("<think>" + "looking closely at every frame. " * 200 + "</think>", delay_s=0.05)
    demo, url = serve(slow)
    try:
        page = ready_to_score(browser, url, "ball_bounces.mp4", "a ball")
        page.evaluate(WATCH, "#vs2-reasoning")
        page.click("#vs2-evaluate")
        page.wait_for_function("document.querySelector('#vs2-reasoning textarea').value.length > 20",
                               timeout=30_000)
        yield slow, page
    finally:
        demo.close()


def wait_until_ended(slow, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not slow.ended and time.monotonic() < deadline:
        time.sleep(0.05)


def test_reasoning_grows_while_streaming(slow_run) -> None:
    slow, page = slow_run
    page.wait_for_function("window.__seen.filter(Boolean).length >= 5", timeout=30_000)
    seen = [v for v in page.evaluate("window.__seen") if v]
    assert len(seen) >= 5, seen  # the text reached the page in many growing steps, not all at the end
    assert all(seen[i + 1].startswith(seen[i]) and len(seen[i + 1]) > len(seen[i]) for i in range(len(seen) - 1))
    assert len(seen[-1]) < len(slow.text)  # still streaming: this was not the final update


def test_stop_ends_generation_promptly_and_the_next_run_works(slow_run) -> None:
    slow, page = slow_run
    page.click("#vs2-stop")
    page.wait_for_selector("#vs2-status >> text=Stopped early", timeout=10_000)
    wait_until_ended(slow, 5)
    assert slow.ended == ["stopped"]  # the generation itself ended, at the next piece
    assert len(page.locator("#vs2-reasoning textarea").input_value()) < len(slow.text)
    slow.text = "(1) visual quality: 3 (2) text-to-video alignment: 3 (3) physical/common-sense consistency: 3"
    page.click("#vs2-evaluate")
    page.wait_for_function("(() => { const s = document.querySelector('#vs2-status').innerText; "
                           "return s.startsWith('Done'); })()", timeout=30_000)
    assert slow.ended == ["stopped", "done"]


def test_closing_the_tab_ends_the_generation(slow_run) -> None:
    slow, page = slow_run
    page.close()  # the visitor leaves mid-generation
    wait_until_ended(slow, 15)
    assert slow.ended and slow.ended[0] in {"closed", "stopped"}, slow.ended  # not run to the end
