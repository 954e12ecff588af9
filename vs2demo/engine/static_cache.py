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


def bucketed(length: int, bucket: int = CACHE_BUCKET) -> int:
    """``length`` rounded up to a multiple of ``bucket`` (at least one bucket)."""
    return max(1, math.ceil(length / bucket)) * bucket


@dataclass(frozen=True)
class DecodeSettings:
    """``static``: a fixed-size cache, its length bucketed; ``compiled``: the decode step compiled (transformers
    compiles by itself on GPUs when the cache is static; ``compiled=False`` turns that off, ``compile_on_cpu``
    forces it where it would not, which only tests and the CPU benchmark want)."""

    static: bool = False
    compiled: bool = False
    bucket: int = CACHE_BUCKET
    compile_on_cpu: bool = False

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
