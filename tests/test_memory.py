"""A request's memory is decided before its work: one pixel tensor (and one vision-encoder pass) per clip whatever
the rows, rows chunked by a budget that counts pixels and vision activations, and one clear refusal over budget.
(Explanations build their altered visuals per chunk and splice per-group features: evidence/model_scorer.py.)"""

from __future__ import annotations

import pytest

from vs2demo.core.errors import InputError
from vs2demo.core.options import GenerationOptions
from vs2demo.engine import budget
from vs2demo.engine.events import Finished, Job
from vs2demo.engine.inputs import model_inputs
from vs2demo.engine.vision import ROW_PIXELS

OPTS = dict(max_new_tokens=12, seed=5)


@pytest.fixture(scope="module")
def long_clip(make_clip) -> str:
    """A long, low-bitrate clip: 60 s of small frames, 120 planned frames."""
    return make_clip(60.0, 4, (96, 64))


def _count_encoder_passes(evaluator, monkeypatch) -> list[int]:
    calls: list[int] = []
    real = evaluator.model.get_video_features

    def counted(pixels, grid, **kw):
        calls.append(int(pixels.shape[0]))
        return real(pixels, grid, **kw)

    monkeypatch.setattr(evaluator.model, "get_video_features", counted)
    return calls


def test_k_samples_share_one_pixel_tensor_and_one_encoder_pass(evaluator, long_clip, monkeypatch) -> None:
    clip, _ = evaluator.prepare(long_clip)
    inputs = model_inputs(evaluator.processor, [clip] * 16, ["a square"] * 16)
    assert "pixel_values_videos" not in inputs
    assert all(p is clip.video_inputs["pixel_values_videos"] for p in inputs[ROW_PIXELS])  # no copies
    calls = _count_encoder_passes(evaluator, monkeypatch)
    samples = evaluator.evaluate(long_clip, "a square", GenerationOptions(samples=16, **OPTS))
    assert len(samples) == 16
    assert calls == [clip.video_inputs["pixel_values_videos"].shape[0]]  # the clip's patches, once


def test_compare_encodes_each_clip_once(evaluator, make_clip, monkeypatch) -> None:
    a, b = make_clip(2.0), make_clip(2.5)
    calls = _count_encoder_passes(evaluator, monkeypatch)
    events = list(evaluator.stream([Job(a, "x"), Job(b, "y")], GenerationOptions(samples=4, **OPTS)))
    assert isinstance(events[-1], Finished) and len(calls) == 2


def test_the_request_cost_counts_pixels_once_and_rows_apart(evaluator, long_clip) -> None:
    plan = evaluator.plan(long_clip)
    one = evaluator.request_cost([plan], GenerationOptions(**OPTS))
    many = evaluator.request_cost([plan], GenerationOptions(samples=16, **OPTS))
    assert many.fixed == one.fixed >= budget.clip_bytes(plan)  # pixels and the encoder pass: once
    assert many.rows == 16 and many.per_row == one.per_row
    ranked = evaluator.request_cost([plan] * 8, GenerationOptions(**OPTS))
    assert ranked.fixed == one.fixed  # the same clip eight times is held once


def test_over_budget_is_refused_before_any_frame_is_decoded(evaluator, long_clip, make_clip, monkeypatch) -> None:
    import vs2demo.engine.evaluator as evaluator_module

    monkeypatch.setattr(evaluator_module, "read_frames",
                        lambda plan: pytest.fail("a refused request must not decode frames"))
    evaluator.cache.clear()
    monkeypatch.setenv("VS2_REQUEST_MB", "1")
    with pytest.raises(InputError, match="Lower the frames per second, or use shorter or fewer clips"):
        evaluator.evaluate(long_clip, "a square", GenerationOptions(samples=16, **OPTS))
    clips = [make_clip(20.0 + i, 4, (96, 64)) for i in range(8)]  # rank: 8 long clips
    with pytest.raises(InputError, match="of memory even one sample at a time"):
        evaluator.evaluate_many([Job(c, "x") for c in clips], GenerationOptions(**OPTS))


def test_rows_are_chunked_by_the_budget(evaluator, long_clip, monkeypatch) -> None:
    options = GenerationOptions(samples=4, **OPTS)
    plan = evaluator.plan(long_clip)
    cost = evaluator.request_cost([plan], options)
    monkeypatch.setattr(evaluator.engine, "memory_budget", lambda: cost.peak(2))  # two rows at a time
    events = list(evaluator.stream([Job(long_clip, "a square")], options))
    assert any("Sampling rows 1–2 of 4" in getattr(e, "message", "") for e in events)
    assert isinstance(events[-1], Finished) and len(events[-1].samples[0]) == 4


@pytest.mark.parametrize("budget_bytes,rows,expected", [(10_000, 8, 8), (5_500, 8, 4), (2_000, 8, 1)])
def test_rows_at_once(budget_bytes, rows, expected) -> None:
    assert budget.rows_at_once(budget.RequestCost(1000, 1000, rows), budget_bytes) == expected
    with pytest.raises(InputError):
        budget.rows_at_once(budget.RequestCost(1000, 1000, rows), 1999)
