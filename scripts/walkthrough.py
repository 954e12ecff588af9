"""A first-time visitor's walk through the page, saved as screenshots (the README's walk-through pictures).

The smoke model serves the real page; at 1280 and 390 px wide, light and dark, the walk saves: the first screen,
an example clicked and finished, an upload evaluated, its explanation, two clips compared. Look at every picture
before calling a page change done.

    python scripts/walkthrough.py [--out DIR] [--only 1280-light,390-dark] [--skip-explain]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import ASSETS, CHROMIUM, FLAGS, run_to_end, serve, upload_in_page  # noqa: E402
from vs2demo.engine.evaluator import Evaluator  # noqa: E402
from vs2demo.serve.page import compute_first_example  # noqa: E402

VIEWS = {"1280-light": ({"width": 1280, "height": 900}, "light"), "1280-dark": ({"width": 1280, "height": 900}, "dark"),
         "390-light": ({"width": 390, "height": 844}, "light"), "390-dark": ({"width": 390, "height": 844}, "dark")}


def walk(browser, url: str, out: Path, tag: str, viewport: dict, scheme: str, explain: bool) -> None:
    page = browser.new_page(viewport=viewport, color_scheme=scheme)
    page.goto(f"{url}?__theme={scheme}")
    page.wait_for_selector("#vs2-status >> text=Replay of an example run", timeout=60_000)  # opens on a result
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out / f"{tag}-1-first-screen.png"))
    example = page.locator("#vs2-examples .gallery-item, #vs2-examples button.example").nth(1)
    run_to_end(page, example.click, timeout_ms=180_000)
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / f"{tag}-2-example.png"), full_page=True)
    page.locator("#vs2-video button[aria-label='Clear'], #vs2-video button[title='Clear']").first.click()
    upload_in_page(page, "vs2-video", ASSETS / "ball_sinks.mp4")
    page.get_by_label("Text-to-video prompt").first.fill("a red ball bouncing on a wooden floor")
    page.wait_for_selector("text=The model will see", timeout=30_000)
    run_to_end(page, lambda: page.click("#vs2-evaluate"), timeout_ms=180_000)
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / f"{tag}-3-evaluated.png"), full_page=True)
    if explain:
        page.click("#vs2-explain")
        page.wait_for_selector("#vs2-evidence .vs2-ev", timeout=600_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(out / f"{tag}-4-explained.png"), full_page=True)
    page.get_by_role("tab", name="Compare two clips").click()
    for side, clip in (("a", "ball_bounces.mp4"), ("b", "ball_sinks.mp4")):
        upload_in_page(page, f"vs2-video-{side}", ASSETS / clip)
        page.wait_for_selector(f"#vs2-plan-{side} >> text=The model will see", timeout=30_000)
    page.fill("#vs2-prompt-a textarea", "a red ball bouncing on a wooden floor")
    page.click("#vs2-compare")
    page.wait_for_selector("#vs2-verdict .vs2-headline", timeout=180_000)
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / f"{tag}-5-compared.png"), full_page=True)
    page.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="walkthrough")
    ap.add_argument("--only", default=",".join(VIEWS))
    ap.add_argument("--skip-explain", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    demo, url = serve(Evaluator("smoke"))
    # as app.py does at start: the page opens on the first example (and its explanation, unless skipped)
    started = compute_first_example(demo, explained=not args.skip_explain)
    if started is not None:
        started.join(600)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for tag in args.only.split(","):
                viewport, scheme = VIEWS[tag]
                walk(browser, url, out, tag, viewport, scheme, not args.skip_explain)
                print(f"saved {tag}", flush=True)
            browser.close()
    finally:
        demo.close()


if __name__ == "__main__":
    main()
