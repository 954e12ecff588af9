"""The settings a visitor may choose for a run, with the page's limits: parsed once, into typed options, for the page,
its API endpoints and the JSON/MCP tools alike.

The model accepts more (``GenerationOptions`` allows 30 fps and 8192 new tokens, for the command line); a public
server offers what its sliders offer, whoever calls it. Each bound is defined here and the page's sliders are built
from the same values, so the two cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vs2demo.core.errors import InputError
from vs2demo.core.options import (
    OFFICIAL_FPS,
    OFFICIAL_MAX_NEW_TOKENS,
    OFFICIAL_TEMPERATURE,
    SAMPLE_CHOICES,
    GenerationOptions,
)


@dataclass(frozen=True)
class Bound:
    """A setting's range on the page (the slider's ends and step)."""

    name: str
    lo: float
    hi: float
    step: float

    def check(self, value: float) -> float:
        if not (isinstance(value, (int, float)) and not isinstance(value, bool)) or not math.isfinite(value):
            raise InputError(f"{self.name} must be a number between {self.lo:g} and {self.hi:g} (got {value!r:.20}).")
        if not self.lo <= value <= self.hi:
            raise InputError(f"{self.name} must be between {self.lo:g} and {self.hi:g} on this server "
                             f"(got {value:g}).")
        return value


FPS = Bound("Frames per second", 0.5, 8.0, 0.5)
MAX_NEW_TOKENS = Bound("Max new tokens", 16, 2048, 16)
TEMPERATURE = Bound("Temperature", 0.05, 2.0, 0.05)


def whole(name: str, value: object) -> int:
    """An int, or a float that is one (JSON has one number type); anything else is refused in one line."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a whole number (got {value!r:.20}).")
    if isinstance(value, float) and not value.is_integer():
        raise InputError(f"{name} must be a whole number (got {value!r:.20}).")
    return int(value)


def seed_from_text(seed: str | float | None) -> int | None:
    """The page's seed box: empty means random (the official behaviour); anything else must be a whole number."""
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    text = "" if seed is None else str(seed).strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        raise InputError(f"The seed must be a whole number, or empty for a random one (got {text[:20]!r}).")
    return int(text) if text.lstrip("+-").isdigit() else int(value)  # digits stay exact past 2⁵³


def run_options(*, seed: int | None = None, greedy: bool = False, temperature: float = OFFICIAL_TEMPERATURE,
                max_new_tokens: int = OFFICIAL_MAX_NEW_TOKENS, fps: float = OFFICIAL_FPS,
                samples: int = 1) -> GenerationOptions:
    """Typed settings, checked against the page's limits, as the options of one run (InputError says what to
    change)."""
    if samples not in SAMPLE_CHOICES or isinstance(samples, bool):
        raise InputError(f"Samples must be one of {', '.join(map(str, SAMPLE_CHOICES))} (got {samples!r:.20}).")
    if not isinstance(greedy, bool):
        raise InputError(f"Greedy must be true or false (got {greedy!r:.20}).")
    options = dict(seed=None if seed is None else whole("The seed", seed), greedy=greedy,
                   temperature=float(TEMPERATURE.check(temperature)),
                   max_new_tokens=whole(MAX_NEW_TOKENS.name, MAX_NEW_TOKENS.check(max_new_tokens)),
                   fps=float(FPS.check(fps)), samples=int(samples))
    try:
        return GenerationOptions(**options)
    except ValueError as exc:  # what only the combination rules out (several samples with greedy decoding)
        raise InputError(str(exc)[:1].upper() + str(exc)[1:] + ".") from exc
