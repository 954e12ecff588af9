"""The library on the page in a real browser (scripted evaluator): a run shows its link; ?r=ID opens the stored
result in full, labelled with its date; feedback is saved, shown escaped and kept for this browser only; a bad id
is one message. Screenshots at 1280 and 390 px."""

from __future__ import annotations

import re

import pytest

from tests.helpers import CHROMIUM, ScriptedEvaluator, ready_to_score
from tests.reviews import serve_library

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (apt-get install chromium)")]

TEXT = ("<think>The ball bounces and lands softly.</think>\n(1) visual quality: 4\n(2) text-to-video alignment: 4\n"
        "(3) physical/common-sense consistency: 3")
VIEWS = [{"width": 1280, "height": 900}, {"width": 390, "height": 844}]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    target = str(tmp_path_factory.mktemp("lib") / "library.db")
    demo, client, library = serve_library(ScriptedEvaluator(TEXT, delay_s=0.005), target)
    yield client.src, library
    demo.close()


def run_and_get_link(browser, url: str, viewport: dict) -> tuple[object, str]:
    page = ready_to_score(browser, url, "ball_bounces.mp4", "a red ball bouncing", viewport=viewport)
    page.check("#vs2-keep-clip input")
    page.click("#vs2-evaluate")
    page.wait_for_selector("#vs2-status >> text=Done in", timeout=60_000)
    page.wait_for_selector("#vs2-link .vs2-copy-link", timeout=30_000)
    href = page.locator("#vs2-link a").get_attribute("href")
    rid = re.fullmatch(r"\?r=([A-Za-z0-9_-]{22})", href).group(1)
    return page, rid


@pytest.mark.parametrize("viewport", VIEWS, ids=lambda v: str(v["width"]))
def test_a_link_reopens_the_result_and_takes_feedback(browser, served, shots, viewport) -> None:
    url, library = served
    w = viewport["width"]
    page, rid = run_and_get_link(browser, url, viewport)
    try:
        assert "The clip is kept" in page.locator("#vs2-link").inner_text()
        page.screenshot(path=str(shots / f"library-link-{w}.png"), full_page=True)
        page.goto(f"{url}?r={rid}")
        page.wait_for_selector("#vs2-stored-label", timeout=30_000)
        label = page.locator("#vs2-stored-label").inner_text()
        assert "Stored result" in label and library.results.get(rid).date in label
        assert page.locator("#vs2-stored-cards .vs2-card").count() == 3
        assert "The ball bounces" in page.locator("#vs2-stored-reasoning textarea").input_value()
        page.wait_for_selector("#vs2-stored-frames img")
        assert page.locator("#vs2-stored-frames img").count() == len(library.results.get(rid).frames)
        page.wait_for_selector("#vs2-stored-video video")  # the kept clip plays here
        page.locator("#vs2-stored-frames img").nth(2).click()  # seeks, and notes the second for the feedback
        expected = library.results.get(rid).frames[2].seconds
        page.wait_for_function(f"Math.abs(document.querySelector('#vs2-stored-video video').currentTime - "
                               f"{expected}) < 0.05", timeout=10_000)
        assert page.locator("#vs2-fb-visual_quality-seconds textarea, #vs2-fb-visual_quality-seconds input"
                            ).first.input_value() == f"{round(expected, 3):g}"
        page.locator("#vs2-fb-visual_quality-verdict").get_by_text("disagree").click()
        page.locator("#vs2-fb-visual_quality-comment textarea").fill("<b>blurry</b> edges")
        page.locator("#vs2-fb-visual_quality-unsupported input").check()
        page.click("#vs2-fb-save")
        page.wait_for_selector("#vs2-fb-status >> text=Saved your feedback", timeout=30_000)
        listing = page.locator("#vs2-feedback-list")
        assert "<b>blurry</b> edges" in listing.inner_text()  # escaped: shown as text
        assert page.locator("#vs2-feedback-list b").count() == 0
        page.screenshot(path=str(shots / f"library-stored-{w}.png"), full_page=True)
        (row,) = [f for f in library.feedback.for_result(rid)]
        assert (row.verdict, row.unsupported) == ("disagree", True)
        assert row.seconds == pytest.approx((expected,), abs=1e-3)
        page.goto(f"{url}?r={rid}")  # the same browser sees its own feedback in the form again
        page.wait_for_selector("#vs2-feedback-list .vs2-fb-mine", timeout=30_000)
        assert page.locator("#vs2-fb-visual_quality-comment textarea").input_value() == "<b>blurry</b> edges"
        page.get_by_text("This browser's stored results").click()
        page.wait_for_selector(f"#vs2-mine a[href='?r={rid}']", timeout=30_000)  # its own results are listed
        page.get_by_role("tab", name="Reviews").click()  # agreement, as the paper reports it
        page.click("#vs2-reviews-refresh")
        page.wait_for_selector("#vs2-agreement", timeout=60_000)
        assert "Exact" in page.locator("#vs2-agreement").inner_text()
        page.wait_for_selector("#vs2-reviews-confusion .js-plotly-plot", timeout=30_000)
        assert page.locator(f"#vs2-disagreements a[href='?r={rid}']").count() >= 1  # each opens its result
        page.screenshot(path=str(shots / f"library-reviews-{w}.png"), full_page=True)
    finally:
        page.close()
    other = browser.new_context(viewport=viewport)  # another browser: another token, not the owner
    try:
        stranger = other.new_page()
        stranger.goto(f"{url}?r={rid}")
        stranger.wait_for_selector("#vs2-feedback-list", timeout=30_000)
        assert stranger.locator("#vs2-feedback-list .vs2-fb-mine").count() == 0
        assert stranger.locator("#vs2-fb-visual_quality-comment textarea").input_value() == ""
        stranger.get_by_text("This browser's stored results").click()
        stranger.wait_for_selector("#vs2-mine >> text=No stored results for this browser", timeout=30_000)
        assert rid not in stranger.locator("#vs2-mine").inner_html()  # nobody else's results are listed
    finally:
        other.close()


@pytest.mark.parametrize("query, says", [("?r=../../etc", "malformed"), ("?r=AAAAAAAAAAAAAAAAAAAAAA", "No stored")])
def test_a_bad_link_is_one_message(browser, served, shots, query, says) -> None:
    url, _ = served
    page = browser.new_page(viewport=VIEWS[1])
    try:
        page.goto(url + query)
        page.wait_for_selector("#vs2-library-message .vs2-error", timeout=30_000)
        assert says in page.locator("#vs2-library-message").inner_text()
        assert page.locator("#vs2-stored-label").count() == 0
        page.screenshot(path=str(shots / f"library-bad-{says.split()[0].lower()}.png"), full_page=True)
    finally:
        page.close()


def test_a_comparison_takes_a_side_per_dimension_and_overall(browser, served, shots) -> None:
    from gradio_client import Client, handle_file

    from tests.helpers import ASSETS, SETTINGS

    url, library = served
    Client(url, verbose=False).predict(handle_file(str(ASSETS / "ball_bounces.mp4")),
                                       handle_file(str(ASSETS / "ball_sinks.mp4")), "a red ball", False, None,
                                       *SETTINGS, 1, api_name="/compare")
    rid = library.results.ids()[-1]
    assert library.results.get(rid).kind == "compare"
    page = browser.new_page(viewport=VIEWS[0])
    try:
        page.goto(url)  # a pasted link opens it too
        page.get_by_role("tab", name="Stored results").click()
        page.locator("#vs2-open-box textarea, #vs2-open-box input").first.fill(f"{url}?r={rid}")
        page.click("#vs2-open")
        page.wait_for_selector("#vs2-stored-summary .vs2-headline", timeout=30_000)  # the verdict, again
        overall = page.locator("#vs2-fb-overall-verdict")
        overall.wait_for(timeout=10_000)
        assert page.locator("#vs2-fb-visual_quality-score").is_hidden()  # a side, not a score
        assert page.locator("#vs2-stored-clip").is_visible()  # A or B's reasoning and cards, on request
        page.wait_for_selector("#vs2-stored-radar .js-plotly-plot", timeout=30_000)
        page.locator("#vs2-fb-visual_quality-verdict").get_by_text("both bad").click()
        overall.get_by_text("B", exact=True).click()
        page.click("#vs2-fb-save")
        page.wait_for_selector("#vs2-fb-status >> text=Saved your feedback on 2", timeout=30_000)
        page.screenshot(path=str(shots / "library-compare-1280.png"), full_page=True)
    finally:
        page.close()
    said = {(f.item, f.dimension, f.verdict) for f in library.feedback.for_result(rid)}
    assert said == {(0, "visual_quality", "both_bad"), (0, "overall", "B")}  # about the pair
