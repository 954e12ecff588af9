"""Loading VideoScore2 (or the offline smoke model) into an ``HFEngine``: device, dtype, one clear error."""

from __future__ import annotations

import time
from pathlib import Path

from vs2demo.analysis.result import ModelInfo
from vs2demo.core.errors import ModelLoadError
from vs2demo.core.options import SMOKE_MODEL
from vs2demo.engine.hf_engine import HFEngine
from vs2demo.engine.static_cache import DecodeSettings


def pick_device_dtype(device: str | None = None, dtype: str | None = None) -> tuple[str, str]:
    """bf16 on a GPU (the training dtype; fp16 where bf16 is missing), fp32 on CPU."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        if device.startswith("cuda"):
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "float32"
    return device, dtype


def resolve_path(model_id: str) -> str:
    """A hub id or folder as given; the smoke model built into the cache on first use."""
    if model_id == SMOKE_MODEL:
        from vs2demo.engine.smoke import ensure_smoke_model

        return str(ensure_smoke_model())
    return model_id


def load_engine(model_id: str, device: str | None = None, dtype: str | None = None,
                decode: DecodeSettings | None = None, compiled: bool | None = None) -> HFEngine:
    """Load ``model_id`` on ``device`` in ``dtype`` (None: the defaults of ``pick_device_dtype``), decoding with
    ``decode`` (None: ``DecodeSettings.default_for`` the device and the ``compiled`` switch).

    Raises ModelLoadError with one actionable line, the cause chained."""
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    start = time.perf_counter()
    device, dtype = pick_device_dtype(device, dtype)
    path = resolve_path(model_id)
    try:
        processor = AutoProcessor.from_pretrained(path)
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=getattr(torch, dtype))
        model.to(device).eval()
    except torch.OutOfMemoryError as exc:
        raise ModelLoadError(f"Out of memory loading {model_id} on {device} in {dtype}: free memory, use a "
                             "larger GPU, or try --model smoke for a tiny offline test model.") from exc
    except Exception as exc:  # hub errors, missing files, bad configs: one actionable line, the cause chained
        raise ModelLoadError(
            f"Cannot load model {model_id!r}: {first_line(exc)}. Check the hub id or local folder and "
            "your network (offline, set HF_HUB_OFFLINE=1 with a cached copy), or use --model smoke.") from exc
    smoke = model_id == SMOKE_MODEL or (Path(path) / "SMOKE_MODEL").exists()
    info = ModelInfo(model_id, device, dtype, smoke, time.perf_counter() - start)
    return HFEngine(model, processor, info, decode or DecodeSettings.default_for(device, compiled))


def first_line(exc: BaseException) -> str:
    """An error's first line (at most 200 characters), for a message a visitor reads."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
