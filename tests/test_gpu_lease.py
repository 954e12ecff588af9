"""ZeroGPU: only GPU work inside the lease. The runner prepares clips before the wrapped call, passes cache keys
(not frames) across the process boundary, and sizes the lease from the measured speed."""

from __future__ import annotations

import pytest

from vs2demo.core.options import GenerationOptions
from vs2demo.engine import evaluator as evaluator_module
from vs2demo.engine.events import Finished, Job, Planned
from vs2demo.serve import runs

PROMPT = "a red ball bouncing on a wooden floor"


def test_nothing_is_decoded_inside_the_gpu_call_and_only_keys_cross_it(evaluator, make_clip, monkeypatch) -> None:
    clip = make_clip(3.5, 24, (320, 240))
    runner = runs.Runner(evaluator)
    monkeypatch.setattr(runs, "ON_ZERO_GPU", True)
    crossing = []
    real = runs.gpu_stream

    def lease(key, run, owner, jobs, options, ready):
        crossing.extend(ready)
        decoded = []
        monkeypatch.setattr(evaluator_module, "read_frames", lambda *a, **k: decoded.append(1))  # must not be called
        try:
            yield from real(key, run, owner, jobs, options, ready)
        finally:
            assert decoded == []

    monkeypatch.setattr(runs, "gpu_stream", lease)
    options = GenerationOptions(seed=2, max_new_tokens=40)
    events = list(runner.stream([Job(clip, PROMPT)], options, "tab"))
    assert isinstance(events[0], Planned) and isinstance(events[-1], Finished)
    assert [r.clip for r in crossing] == [None] and crossing[0].key[1] == options.fps  # a key, no frames
    alone = evaluator.score(clip, PROMPT, options)
    assert events[-1].results[0].raw_output == alone.raw_output


def test_the_lease_follows_the_measured_speed(evaluator, clip) -> None:
    runner = runs.Runner(evaluator)
    jobs, options = [Job(clip, PROMPT)], GenerationOptions(seed=1, max_new_tokens=64, min_new_tokens=64)
    before = runs.estimate_seconds(runner.key, 0, "tab", jobs, options, [])
    list(runner.stream(jobs, options, "tab"))
    assert runner.steps_per_s != runs.DEFAULT_STEPS_PER_S  # measured on the run
    after = runs.estimate_seconds(runner.key, 0, "tab", jobs, options, [])
    assert after == runs.lease_seconds(64, 1, runner.steps_per_s) and after != before


@pytest.mark.parametrize("tokens,rows,rate,expected", [
    (1024, 1, 32.0, runs.LEASE_MARGIN_S + runs.PREFILL_S_PER_ROW + 32),
    (1024, 8, 32.0, runs.LEASE_MARGIN_S + 8 * runs.PREFILL_S_PER_ROW + 32),
    (512, 1, 8.0, runs.LEASE_MARGIN_S + runs.PREFILL_S_PER_ROW + 64),
])
def test_lease_seconds(tokens, rows, rate, expected) -> None:
    assert runs.lease_seconds(tokens, rows, rate) == expected
