"""The README's picture of an explained result: the smoke model scores and explains an example clip in the real
page, a dimension is chosen and a sentence clicked, and the page is saved (default assets/explained.png).

    python scripts/screenshot_explain.py [--out assets/explained.png] [--scheme light|dark]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import CHROMIUM, FLAGS, ready_to_score, serve  # noqa: E402
from vs2demo.core.dimensions import DIMENSIONS  # noqa: E402
from vs2demo.engine.evaluator import Evaluator  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "assets" / "explained.png"))
    ap.add_argument("--scheme", default="light", choices=["light", "dark"])
    args = ap.parse_args()
    demo, url = serve(Evaluator("smoke"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = ready_to_score(browser, f"{url}?__theme={args.scheme}", "ball_sinks.mp4",
                                  "a red ball bouncing on a wooden floor", viewport={"width": 1280, "height": 900},
                                  color_scheme=args.scheme)
            page.click("#vs2-evaluate")
            page.wait_for_selector("#vs2-status >> text=Done in", timeout=120_000)
            page.click("#vs2-explain")
            page.wait_for_selector("#vs2-evidence .vs2-ev", timeout=300_000)
            page.locator("#vs2-evidence").get_by_role("button", name=DIMENSIONS[0].title, exact=True).click()
            page.locator("#vs2-evidence .vs2-sent").first.click()
            # page coordinates (the clicks scrolled the page; bounding boxes are relative to the viewport)
            top, bottom = page.evaluate("""() => { const y = (s) => document.querySelector(s).getBoundingClientRect();
                return [y('#vs2-frames').top + scrollY - 10, y('#vs2-evidence').bottom + scrollY + 10]; }""")
            box = {"x": 0, "y": top, "width": 1280, "height": bottom - top}
            page.screenshot(path=args.out, full_page=True, clip=box)
            browser.close()
    finally:
        demo.close()
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
