"""Samples, the sampled verdict and Best-of-N in a real browser (smoke model), with screenshots of each state."""

from __future__ import annotations

import pytest

from tests.helpers import ASSETS, CHROMIUM, ready_to_score, serve, upload_in_page

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (apt-get install chromium)")]
CLIPS = ["ball_bounces.mp4", "ball_sinks.mp4", "ball_blurred.mp4"]


def choose_samples(page, k: int) -> None:
    page.get_by_text("Settings (official defaults marked)").click()
    page.locator("#vs2-samples input").click()
    page.get_by_role("option", name=str(k), exact=True).click()


@pytest.mark.parametrize("viewport,scheme", [({"width": 1280, "height": 900}, "light"),
                                             ({"width": 1280, "height": 900}, "dark"),
                                             ({"width": 390, "height": 844}, "light"),
                                             ({"width": 390, "height": 844}, "dark")])
def test_samples_compare_and_rank_views(evaluator, browser, shots, viewport, scheme) -> None:
    demo, url = serve(evaluator)
    tag = f"{viewport['width']}-{scheme}"
    try:
        page = ready_to_score(browser, url + f"?__theme={scheme}", "ball_sinks.mp4", "a red ball bouncing",
                              viewport=viewport, color_scheme=scheme)
        choose_samples(page, 4)
        seed_box = page.locator("#vs2-seed textarea, #vs2-seed input").first
        assert seed_box.input_value() == ""  # opening Settings leaves the seed empty (random), not 0
        page.click("#vs2-evaluate")
        page.wait_for_selector("#vs2-cards >> text=How stable is it? 4 finished samples", timeout=120_000)
        assert "seeds 0–3" not in page.locator("#vs2-status").inner_text()  # a seed was drawn, not a 0 box
        assert page.locator("#vs2-cards .vs2-stability li").count() == 3  # one row per dimension
        # nothing cut at this width: every row fits its column and each label can be seen
        assert page.evaluate("""() => [...document.querySelectorAll('#vs2-cards .vs2-stability li')]
            .every((li) => li.scrollWidth <= li.clientWidth + 1)""")
        assert all(label.is_visible() for label in page.locator("#vs2-cards .vs2-stability .vs2-label").all())
        assert page.locator("#vs2-cards details.vs2-sample").count() == 4
        page.locator("#vs2-cards details.vs2-sample summary").first.click()  # open one sample's reasoning
        assert page.locator("#vs2-cards details.vs2-sample[open] pre").first.is_visible()
        page.screenshot(path=str(shots / f"samples-{tag}.png"), full_page=True)

        page.get_by_role("tab", name="Compare two clips").click()
        for side, name in (("a", CLIPS[0]), ("b", CLIPS[1])):
            upload_in_page(page, f"vs2-video-{side}", ASSETS / name)
            page.wait_for_selector(f"#vs2-plan-{side} >> text=The model will see", timeout=30_000)
        page.locator("#vs2-prompt-a textarea").fill("a red ball bouncing")
        page.click("#vs2-compare")
        verdict = page.locator("#vs2-verdict")
        page.wait_for_selector("#vs2-verdict >> text=sum of the three scores", timeout=120_000)
        assert any(s in verdict.inner_text() for s in ("better in", "too close to call"))
        page.screenshot(path=str(shots / f"compare-samples-{tag}.png"), full_page=True)

        page.get_by_role("tab", name="Rank clips (best of N)").click()
        page.locator("#vs2-rank-clips input[type=file]").set_input_files([str(ASSETS / n) for n in CLIPS])
        page.locator("#vs2-rank-prompt textarea").fill("a red ball bouncing")
        page.click("#vs2-rank")
        page.wait_for_selector("#vs2-leaderboard >> text=Best of 3", timeout=120_000)
        assert page.locator("#vs2-leaderboard tr").count() == 4
        board = page.locator("#vs2-leaderboard").inner_text()  # every column's words readable at any width
        assert "Rank certainty" in board and "Ranked first" in board
        cells = page.evaluate("""() => [...document.querySelectorAll('#vs2-leaderboard td')].map((td) =>
            td.getBoundingClientRect().right <= innerWidth + 1 && td.scrollWidth <= td.clientWidth + 1)""")
        assert len(cells) == 3 * 4 and all(cells)
        page.wait_for_function("document.querySelectorAll('#vs2-rank-gallery img').length === 3", timeout=30_000)
        page.locator("#vs2-rank-gallery img").first.click()  # the winner's full result opens
        page.wait_for_function("document.querySelector('#vs2-rank-reasoning textarea').value.length > 0",
                               timeout=30_000)
        assert page.locator("#vs2-rank-cards .vs2-card").count() == 3
        page.screenshot(path=str(shots / f"rank-{tag}.png"), full_page=True)
    finally:
        demo.close()
