"""The transformers internals the project relies on live in one adapter (engine/hf_internals.py), and this test
fails as soon as transformers changes any of them."""

from __future__ import annotations

import ast
from pathlib import Path

import transformers

from vs2demo.engine.hf_internals import GUARDED, PINNED_TRANSFORMERS, changed_hooks, fingerprint

PACKAGE = Path(__file__).resolve().parent.parent / "vs2demo"
ADAPTER = PACKAGE / "engine" / "hf_internals.py"


def _transformers_privates() -> set[str]:
    """Private names of the transformers classes the project touches (model, generation, processor, compile)."""
    from transformers import CompileConfig, GenerationConfig, ProcessorMixin
    from transformers.generation.utils import GenerationMixin
    from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl as qwen

    names: set[str] = set()
    for cls in (GenerationMixin, GenerationConfig, CompileConfig, ProcessorMixin, qwen.Qwen2_5_VLModel,
                qwen.Qwen2_5_VLForConditionalGeneration):
        names |= {n for n in dir(cls) if n.startswith("_") and not n.startswith("__")}
    names |= {"_compile_all_devices"}  # an instance attribute, not in dir() of the class
    return names


def _methods_patched() -> set[str]:
    """Public transformers methods the project replaces on an instance."""
    from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl as qwen

    return {n for n in dir(qwen.Qwen2_5_VLModel) if not n.startswith("_") and callable(getattr(qwen.Qwen2_5_VLModel, n))
            } - {"generate", "to", "eval", "forward"}


def test_the_guarded_hooks_are_what_the_pinned_release_has() -> None:
    changed = changed_hooks()
    assert not changed, (f"transformers {transformers.__version__} changed {sorted(changed)} (pinned "
                         f"{PINNED_TRANSFORMERS}): re-read that code, re-check parity, update GUARDED's fingerprints")


def test_the_guard_notices_a_change(monkeypatch) -> None:
    """The fingerprint is of the source itself: a guarded hook whose code changed is reported by name."""
    name = "GenerationMixin._get_logits_processor"
    where, pinned = GUARDED[name]
    assert fingerprint(where()) == pinned and name not in changed_hooks()
    monkeypatch.setitem(GUARDED, name, (lambda: changed_hooks, pinned))  # as if transformers rewrote the hook
    assert name in changed_hooks()


def test_no_module_outside_the_adapter_touches_a_transformers_private() -> None:
    privates = _transformers_privates()
    patched = _methods_patched()
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == ADAPTER:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Attribute):
                owner = node.value.id if isinstance(node.value, ast.Name) else None
                if node.attr in privates and owner not in {"self", "cls"}:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} reads .{node.attr}")
                if isinstance(node.ctx, ast.Store) and node.attr in patched and owner not in {"self", "cls"}:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} replaces .{node.attr}")
    assert not offenders, offenders
