"""Settings as frozen dataclasses, with the official defaults; read from flags and environment at the edges."""

from __future__ import annotations

import os
import secrets
from dataclasses import asdict, dataclass, replace
from typing import Any

DEFAULT_MODEL = "TIGER-Lab/VideoScore2"
SMOKE_MODEL = "smoke"
SMOKE_BANNER = ("SMOKE MODEL: a tiny randomly built test model, not VideoScore2. "
                "Its reasoning and scores mean nothing.")
OFFICIAL_FPS = 2.0
OFFICIAL_TEMPERATURE = 0.7
OFFICIAL_MAX_NEW_TOKENS = 1024
# the official script sets no dtype, so transformers 4.53.2 loads float32; bf16 (the training dtype) on GPUs is ours
OFFICIAL_DTYPE = "float32"
DTYPES = ("float32", "bfloat16", "float16")
# how the official script turns generated ids into text
OFFICIAL_DECODE = {"skip_special_tokens": True, "clean_up_tokenization_spaces": False}


def model_from_env(flag: str | None = None) -> str:
    """The model to use: an explicit flag wins, then $VS2_MODEL, then the official checkpoint."""
    return flag or os.environ.get("VS2_MODEL") or DEFAULT_MODEL


def dtype_from_env(flag: str | None = None) -> str | None:
    """The weights' dtype: an explicit flag wins, then $VS2_DTYPE; None picks per device (bf16 on GPUs)."""
    dtype = flag or os.environ.get("VS2_DTYPE") or None
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return dtype


def compiled_decode_from_env(flag: bool | None = None) -> bool | None:
    """Whether to decode with a static cache and a compiled step: a flag wins, then $VS2_COMPILED_DECODE
    (1/0, on/off, true/false); None lets the engine choose (on for GPUs, off on CPU)."""
    if flag is not None:
        return flag
    raw = os.environ.get("VS2_COMPILED_DECODE", "").strip().lower()
    if not raw:
        return None
    if raw in ("1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    raise ValueError(f"VS2_COMPILED_DECODE must be on or off, got {raw!r}")


DEFAULT_CACHE_MB = 2000.0  # prepared clips (frames and tensors) kept for reuse, in total


def cache_mb_from_env(flag: float | None = None) -> float:
    """The prepared-clip cache's budget in MB (10⁶ bytes): a flag, then $VS2_CACHE_MB, then the default."""
    mb = flag if flag is not None else float(os.environ.get("VS2_CACHE_MB", DEFAULT_CACHE_MB))
    if mb < 0:
        raise ValueError(f"the cache budget must be 0 MB or more, got {mb:g}")
    return mb


MAX_SAMPLES = 16
SAMPLE_CHOICES = (1, 4, 8, 16)  # what the page offers


@dataclass(frozen=True)
class GenerationOptions:
    """How to generate. The defaults are the official script's; anything else is labelled in results."""

    seed: int | None = None  # None: not reproducible, exactly like the official script
    greedy: bool = False
    temperature: float = OFFICIAL_TEMPERATURE
    max_new_tokens: int = OFFICIAL_MAX_NEW_TOKENS
    fps: float = OFFICIAL_FPS
    min_new_tokens: int = 0  # benchmarks only: keep generating past the end (fixed-length runs)
    samples: int = 1  # an extra: K samples per clip with seeds seed … seed+K-1 (1 = the official single sample)

    def __post_init__(self) -> None:
        if not 1 <= self.max_new_tokens <= 8192:
            raise ValueError(f"max_new_tokens must be between 1 and 8192, got {self.max_new_tokens}")
        if not 0.05 <= self.fps <= 30:
            raise ValueError(f"fps must be between 0.05 and 30, got {self.fps}")
        if not self.greedy and not 0.01 <= self.temperature <= 5:
            raise ValueError(f"temperature must be between 0.01 and 5, got {self.temperature}")
        if not 1 <= self.samples <= MAX_SAMPLES:
            raise ValueError(f"samples must be between 1 and {MAX_SAMPLES}, got {self.samples}")
        if self.samples > 1 and self.greedy:
            raise ValueError("several samples need sampling: greedy decoding gives the same text every time")

    def deviations(self) -> list[str]:
        """Which settings differ from the official script (empty when the run is official)."""
        out = []
        if self.seed is not None and self.samples > 1:
            out.append(f"seeds {self.seed}–{sample_seed(self.seed, self.samples - 1)}")
        elif self.seed is not None:
            out.append(f"seed {self.seed}")
        if self.greedy:
            out.append("greedy decoding")
        elif self.temperature != OFFICIAL_TEMPERATURE:
            out.append(f"temperature {self.temperature}")
        if self.max_new_tokens != OFFICIAL_MAX_NEW_TOKENS:
            out.append(f"max new tokens {self.max_new_tokens}")
        if self.fps != OFFICIAL_FPS:
            out.append(f"fps {self.fps}")
        if self.min_new_tokens:
            out.append(f"at least {self.min_new_tokens} new tokens")
        if self.samples > 1:
            out.append(f"{self.samples} samples")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def seeded_for_samples(self) -> GenerationOptions:
        """Several samples are only worth having when each can be reproduced: draw a seed when none is given
        (and record it); one sample keeps the official unseeded sampling."""
        if self.samples > 1 and self.seed is None:
            return replace(self, seed=draw_seed())
        return self

    def for_sample(self, k: int) -> GenerationOptions:
        """Sample k alone: what ``score --seed s+k`` runs, and what its result records."""
        if self.samples == 1:
            return self
        return replace(self, seed=sample_seed(self.seed, k), samples=1)


def draw_seed() -> int:
    """A fresh seed for a run that must be reproducible but was given none (recorded with its results); room is
    left for its samples' seeds s … s+MAX_SAMPLES−1."""
    return secrets.randbelow(2**31 - MAX_SAMPLES)


def sample_seed(seed: int | None, k: int) -> int | None:
    """The seed rule, written once: sample k of a run seeded s uses s + k (so ``score --seed s+k`` reproduces it
    alone); an unseeded run stays unseeded, as the official script is."""
    return None if seed is None else seed + k


@dataclass(frozen=True)
class Limits:
    """What a clip may be. Checked before any frame is decoded or any GPU time is spent."""

    max_file_mb: float = 512.0
    max_duration_s: float = 600.0
    max_side_px: int = 4096
    max_total_frames: int = 100_000

    @classmethod
    def from_env(cls) -> Limits:
        def get(name: str, default: float) -> float:
            return float(os.environ.get(name, default))

        d = cls()
        return cls(
            max_file_mb=get("VS2_MAX_FILE_MB", d.max_file_mb),
            max_duration_s=get("VS2_MAX_DURATION_S", d.max_duration_s),
            max_side_px=int(get("VS2_MAX_SIDE_PX", d.max_side_px)),
        )

    @property
    def max_file_bytes(self) -> int:
        """The one exact byte limit that Gradio's upload check and ours both apply (MB = 10⁶ bytes)."""
        return int(self.max_file_mb * 1_000_000)

    def describe(self) -> str:
        return (f"up to {self.max_file_mb:g} MB, {self.max_duration_s:g} s, "
                f"{self.max_side_px} px on the longer side")

