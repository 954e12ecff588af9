"""Regenerate the example clips in assets/ (small, synthetic, each chosen to teach one dimension).

    python scripts/make_examples.py

Writes assets/*.mp4 and assets/examples.json (video, prompt, what it teaches).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.synth import write_clip

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SIZE = (320, 240)
SECONDS = 3.0
FPS = 24.0
FLOOR = 0.8  # floor line, as a fraction of the height


def _scene(h: int, w: int) -> np.ndarray:
    """A tiled wall over a wooden floor: fine detail that shows blur and blocking."""
    y, x = np.mgrid[0:h, 0:w]
    wall = 200 + 30 * (((x // 16) + (y // 16)) % 2)
    frame = np.stack([wall, wall - 10, wall - 30], axis=-1).astype(np.float32)
    floor = y >= int(FLOOR * h)
    grain = 120 + 25 * np.sin(x / 3.0 + y / 7.0)
    frame[floor] = np.stack([grain, grain * 0.7, grain * 0.4], axis=-1)[floor]
    return frame


def _ball(frame: np.ndarray, cx: float, cy: float, r: float, colour: tuple[int, int, int]) -> np.ndarray:
    h, w = frame.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    inside = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    shade = 1 - 0.4 * np.clip(((x - cx + r / 3) ** 2 + (y - cy + r / 3) ** 2) / (r * r), 0, 1)
    for c in range(3):
        frame[..., c] = np.where(inside, colour[c] * shade, frame[..., c])
    return frame


def _height(t: float, period: float = 1.0) -> float:
    """Height above the floor of a ball bouncing elastically (a parabola per bounce), 0..1."""
    phase = (t % period) / period
    return 4 * phase * (1 - phase)


def bouncing(i: int, h: int, w: int, t: float) -> np.ndarray:
    r = h * 0.08
    floor_y = FLOOR * h
    cy = floor_y - r - _height(t) * (floor_y - 2 * r - 10)
    return _ball(_scene(h, w), w * (0.2 + 0.6 * t / SECONDS), cy, r, (220, 30, 30)).astype(np.uint8)


def sinking(i: int, h: int, w: int, t: float) -> np.ndarray:
    """The same ball falls and keeps going, through the floor: a physics violation."""
    r = h * 0.08
    cy = 10 + r + (t / SECONDS) ** 1.5 * h * 0.95
    # drawn over the floor: the ball keeps falling past the floor line instead of bouncing off it
    return _ball(_scene(h, w), w * 0.5, cy, r, (220, 30, 30)).astype(np.uint8)


def blurred_blocky(i: int, h: int, w: int, t: float) -> np.ndarray:
    """The bouncing ball, downscaled 8× and blown up again (blocks), then box-blurred."""
    sharp = bouncing(i, h, w, t).astype(np.float32)
    small = sharp[::8, ::8]
    blocks = np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)[:h, :w]
    k = 5
    padded = np.pad(blocks, ((k, k), (k, k), (0, 0)), mode="edge")
    out = np.zeros_like(blocks)
    for dy in range(-k, k + 1, 2):
        for dx in range(-k, k + 1, 2):
            out += padded[k + dy:k + dy + h, k + dx:k + dx + w]
    return (out / ((k + 1) ** 2)).astype(np.uint8)


EXAMPLES = [
    ("ball_bounces.mp4", bouncing, "a red ball bouncing across a wooden floor in front of a tiled wall",
     "physical consistency: a natural bounce"),
    ("ball_sinks.mp4", sinking, "a red ball bouncing on a wooden floor in front of a tiled wall",
     "physical consistency: the ball sinks through the floor"),
    ("ball_blurred.mp4", blurred_blocky, "a red ball bouncing across a wooden floor in front of a tiled wall",
     "visual quality: the same scene, blurred and blocky"),
    ("ball_bounces.mp4", None, "a blue sports car driving along a coastal road at sunset",
     "alignment: the clip does not show what the prompt asks"),
]


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    index = []
    for name, painter, prompt, teaches in EXAMPLES:
        path = ASSETS / name
        if painter is not None:  # None: reuse a clip already written, with another prompt
            write_clip(path, SECONDS, FPS, SIZE, painter=painter, quality=6)
        index.append({"video": name, "prompt": prompt, "teaches": teaches})
        print(f"{path} ({path.stat().st_size / 1e3:.0f} kB): {teaches}")
    (ASSETS / "examples.json").write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
