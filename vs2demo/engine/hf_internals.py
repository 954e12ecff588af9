"""Every private transformers hook the project uses, and nowhere else: one adapter, guarded.

The official run's numbers depend on details transformers does not promise to keep: which logits processors
generate() builds and in what order, how Qwen2.5-VL places rope positions, how a compile config is allowed off
GPUs. Each use is a small function here; ``GUARDED`` names the transformers code each one relies on, with the
fingerprint of its source in the pinned release, and tests/test_hf_internals.py fails as soon as transformers
changes any of it (then re-read that code, re-check parity, and update the fingerprint).
"""

from __future__ import annotations

import hashlib
import inspect
import types
from collections.abc import Callable
from typing import Any

PINNED_TRANSFORMERS = "5.23.0"
_REORDERED = "_vs2_processors_reordered"


def _qwen() -> Any:
    from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl

    return modeling_qwen2_5_vl


def _generation() -> Any:
    from transformers.generation import utils

    return utils


def _config() -> Any:
    from transformers.generation import configuration_utils

    return configuration_utils


# name -> (where it lives, sha256 of its source in PINNED_TRANSFORMERS: the first 16 hex digits)
GUARDED: dict[str, tuple[Callable[[], Any], str]] = {
    # generate() builds its processors here; we wrap it (run ours last) and call it (re-scoring)
    "GenerationMixin._get_logits_processor": (lambda: _generation().GenerationMixin._get_logits_processor,
                                              "68fb7d0e2062182f"),
    # generate() merges the checkpoint's generation config with a call's arguments here; re-scoring calls it
    "GenerationMixin._prepare_generation_config": (lambda: _generation().GenerationMixin._prepare_generation_config,
                                                   "e31e7ac9816ecf01"),
    # the sampling loop: processors, then the stopping criteria right after the step's tokens are appended
    "GenerationMixin._sample": (lambda: _generation().GenerationMixin._sample, "9f5d2e3906df6579"),
    # the loop's one wait per step (and the .cpu() a streamer would add, which we avoid by not passing one)
    "StopCheck": (lambda: _generation().StopCheck, "ce5d2eb78f5d5544"),
    # whether generate() compiles the decode step (the private _compile_all_devices switch is read here)
    "GenerationMixin._valid_auto_compile_criteria": (
        lambda: _generation().GenerationMixin._valid_auto_compile_criteria, "df89e154fb688cd5"),
    "CompileConfig": (lambda: _config().CompileConfig, "bc2709a23322eda8"),
    # the rope rule we replace on the instance, and the vision positions our replacement builds on
    "Qwen2_5_VLModel.get_rope_index": (lambda: _qwen().Qwen2_5_VLModel.get_rope_index, "c8ee3ef7bd026745"),
    "Qwen2_5_VLModel.get_vision_position_ids": (lambda: _qwen().Qwen2_5_VLModel.get_vision_position_ids,
                                                "45a107103aa444a1"),
}


def fingerprint(obj: Any) -> str:
    """The first 16 hex digits of the sha256 of ``obj``'s source."""
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def changed_hooks() -> dict[str, str]:
    """The guarded hooks whose source differs from the pinned release's (name -> its fingerprint now)."""
    out = {}
    for name, (where, pinned) in GUARDED.items():
        try:
            now = fingerprint(where())
        except (AttributeError, ImportError, OSError, TypeError) as exc:
            now = f"missing ({type(exc).__name__})"
        if now != pinned:
            out[name] = now
    return out


def run_marked_processors_last(model: Any, marker: str = "runs_last") -> None:
    """Make this model instance's generate() move the logits processors that carry ``marker`` (the digit recorder,
    then a per-row sampler) after all of its own, in the order they were passed. generate() places custom
    processors before its sampling warpers; everything else it builds stays exactly as it is. Installed once per
    model instance; other instances are untouched."""
    if getattr(model, _REORDERED, False):
        return
    from transformers import LogitsProcessorList

    build = model._get_logits_processor

    def build_then_reorder(*args: Any, **kwargs: Any) -> Any:
        processors = build(*args, **kwargs)
        last = [p for p in processors if getattr(p, marker, False)]
        return LogitsProcessorList([p for p in processors if not getattr(p, marker, False)] + last)

    model._get_logits_processor = build_then_reorder
    setattr(model, _REORDERED, True)


def generation_processors(model: Any, generate_kwargs: dict[str, Any], prompt_ids: Any) -> Any:
    """The logits processors generate() builds for these arguments and prompt, in its order (ours excluded):
    generate() merges the checkpoint's generation config with the call's arguments, then builds the list from
    the merged config; doing the same gives the same processors, library defaults included."""
    config, _ = model._prepare_generation_config(None, **generate_kwargs)
    mask = prompt_ids.new_ones(prompt_ids.shape)
    return model._get_logits_processor(generation_config=config, input_ids_seq_length=prompt_ids.shape[1],
                                       encoder_input_ids=prompt_ids, device=prompt_ids.device,
                                       model_kwargs={"attention_mask": mask})


def replace_rope_index(model: Any, rope_index: Callable[..., Any]) -> None:
    """Make ``model`` (a Qwen2_5_VLForConditionalGeneration) compute rope positions with ``rope_index`` (same
    contract as its ``get_rope_index``), on this instance only."""
    inner = model.model
    inner.get_rope_index = types.MethodType(rope_index, inner)


def compile_config_for_any_device(mode: str = "default") -> Any:
    """A compile config generate() honours on any device: transformers compiles only on GPUs unless its private
    ``_compile_all_devices`` is set (CUDA graphs do not exist on CPU: the default mode there)."""
    from transformers import CompileConfig

    config = CompileConfig(mode=mode)
    config._compile_all_devices = True
    return config


def checkpoint_revision(model: Any) -> str | None:
    """The Hub commit a loaded checkpoint came from, as transformers records it on the config (its private
    ``_commit_hash``), else None (a local folder, the smoke model, random weights)."""
    commit = getattr(getattr(model, "config", None), "_commit_hash", None)
    return commit if isinstance(commit, str) else None
