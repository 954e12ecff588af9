"""How the decode loop runs: the dynamic cache (the official run's), or a static cache with a compiled decode step.

With ``cache_implementation="static"`` transformers compiles the decode forward (inductor; on CUDA
``mode="reduce-overhead"``, i.e. CUDA graphs) and replays it every step; the prefill stays eager. A graph is
recorded per cache length and batch size, so cache lengths are rounded up to a bucket: a second clip of another
length inside the same bucket reuses the graph. Pure settings here; generation.py passes them to generate().
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vs2demo.engine.hf_internals import compile_config_for_any_device

CACHE_BUCKET = 1024  # tokens: cache lengths are rounded up to a multiple (a 7B KV row is ~57 kB per token in bf16)
# The cache length compiled at load: a few seconds of 720p at 2 fps and the official 1,024 new tokens fit in it.
# transformers keeps a static cache at the longest length it has used, so shorter requests reuse this graph.
WARM_CACHE_LEN = 4 * CACHE_BUCKET


def batch_bucket(rows: int) -> int:
    """The batch size a static, compiled decode runs ``rows`` at: the next power of two (1, 2, 4, 8, 16, …)."""
    return 1 << max(0, rows - 1).bit_length()


def bucketed(length: int, bucket: int = CACHE_BUCKET) -> int:
    """``length`` rounded up to a multiple of ``bucket`` (at least one bucket)."""
    return max(1, math.ceil(length / bucket)) * bucket


STATIC_NOTE = ("static cache and compiled decode step: same tokens as the official run in our checks; digit "
               "probabilities may differ by ~1e-5")


@dataclass(frozen=True)
class DecodeSettings:
    """``static``: a fixed-size cache, its length bucketed; ``compiled``: the decode step compiled (transformers
    compiles by itself on GPUs when the cache is static; ``compiled=False`` turns that off, ``compile_on_cpu``
    forces it where it would not, which only tests and the CPU benchmark want)."""

    static: bool = False
    compiled: bool = False
    bucket: int = CACHE_BUCKET
    compile_on_cpu: bool = False
    warm_cache_len: int = WARM_CACHE_LEN

    @classmethod
    def default_for(cls, device: str, switch: bool | None = None) -> DecodeSettings:
        """On GPUs a static cache and a compiled step unless switched off; on CPU the official eager decoding
        unless switched on (transformers compiles only on GPUs: on CPU ``on`` means a static cache alone)."""
        on = device.startswith("cuda") if switch is None else switch
        return cls(static=on, compiled=on)

    def deviations(self) -> tuple[str, ...]:
        """What may differ from the official run, for the result's deviations (none when decoding as it does)."""
        return (STATIC_NOTE,) if self.static else ()

    def generate_kwargs(self, prompt_tokens: int, max_new_tokens: int) -> dict[str, Any]:
        if not self.static:
            return {}
        kwargs: dict[str, Any] = {"cache_implementation": "static",
                                  "max_cache_len": bucketed(prompt_tokens + max_new_tokens, self.bucket)}
        if not self.compiled:
            kwargs["disable_compile"] = True
        elif self.compile_on_cpu:
            kwargs["compile_config"] = compile_config_for_any_device()
        return kwargs
