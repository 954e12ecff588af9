"""Reproducible rows: every batch row samples from its own stream, so a compared clip, or a sample among K,
reads exactly as the same clip scored alone with that seed."""

from __future__ import annotations

import pytest

from vs2demo.core.options import GenerationOptions
from vs2demo.engine import batching
from vs2demo.engine import hf_engine as hf_engine_module
from vs2demo.engine.events import Finished, Job, Piece

PROMPT = "a red ball bouncing on a wooden floor"
OPTS = {"max_new_tokens": 60, "temperature": 1.2}  # hot enough that rows differ from one another


def finished(evaluator, jobs, options) -> Finished:
    events = list(evaluator.stream(jobs, options))
    return events[-1]


@pytest.fixture(scope="module")
def clips(make_clip):
    return [make_clip(3.0), make_clip(4.0, 30, (240, 320)), make_clip(2.5, 24, (288, 224))]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_compared_rows_equal_single_runs(evaluator, clips, seed) -> None:
    a, b = clips[0], clips[1]
    both = finished(evaluator, [Job(a, PROMPT), Job(b, "a square")], GenerationOptions(seed=seed, **OPTS))
    alone_a = evaluator.score(a, PROMPT, GenerationOptions(seed=seed, **OPTS))
    alone_b = evaluator.score(b, "a square", GenerationOptions(seed=seed, **OPTS))
    assert [r.raw_output for r in both.results] == [alone_a.raw_output, alone_b.raw_output]
    for batched, alone in ((both.results[0], alone_a), (both.results[1], alone_b)):
        # the same text, so the same hard scores; the probabilities agree up to the batch's float rounding
        assert [s.hard for s in batched.scores] == [s.hard for s in alone.scores]
        for x, y in zip(batched.scores, alone.scores):
            assert (x.probs is None) == (y.probs is None)
            assert x.probs is None or x.probs == pytest.approx(y.probs, abs=1e-5)


def test_a_rows_text_does_not_depend_on_its_partners(evaluator, clips) -> None:
    options = GenerationOptions(seed=5, **OPTS)
    with_b = finished(evaluator, [Job(clips[0], PROMPT), Job(clips[1], "a square")], options).results[0]
    with_c = finished(evaluator, [Job(clips[0], PROMPT), Job(clips[2], "waves")], options).results[0]
    assert with_b.raw_output == with_c.raw_output


def test_k_samples_are_k_single_runs_with_consecutive_seeds(evaluator, clips) -> None:
    done = finished(evaluator, [Job(clips[0], PROMPT)], GenerationOptions(seed=10, samples=4, **OPTS))
    (samples,) = done.samples
    assert [s.options.seed for s in samples] == [10, 11, 12, 13]
    assert all(s.options.samples == 1 for s in samples)  # each is what `score --seed s+k` runs
    for k, sample in enumerate(samples):
        alone = evaluator.score(clips[0], PROMPT, GenerationOptions(seed=10 + k, **OPTS))
        assert sample.raw_output == alone.raw_output
    assert len({s.raw_output for s in samples}) > 1  # they are different samples
    assert done.results == (samples[0],)


def test_without_a_seed_one_is_drawn_and_recorded(evaluator, clips) -> None:
    (samples,) = finished(evaluator, [Job(clips[0], PROMPT)], GenerationOptions(samples=4, **OPTS)).samples
    seeds = [s.options.seed for s in samples]
    assert seeds[0] is not None and seeds == list(range(seeds[0], seeds[0] + 4))
    again = evaluator.score(clips[0], PROMPT, GenerationOptions(seed=seeds[2], **OPTS))
    assert again.raw_output == samples[2].raw_output


def test_only_the_first_sample_streams_first_and_every_sample_arrives(evaluator, clips) -> None:
    events = list(evaluator.stream([Job(clips[0], PROMPT)], GenerationOptions(seed=3, samples=4, **OPTS)))
    pieces = [e for e in events if isinstance(e, Piece)]
    (samples,) = events[-1].samples
    for k, sample in enumerate(samples):
        assert "".join(p.text for p in pieces if p.sample == k) == sample.raw_output


def test_rows_run_in_chunks_when_memory_is_short(evaluator, clips, monkeypatch) -> None:
    options = GenerationOptions(seed=20, samples=4, **OPTS)
    batched = finished(evaluator, [Job(clips[0], PROMPT), Job(clips[1], "a square")], options).samples
    monkeypatch.setattr(hf_engine_module, "free_bytes", lambda device: 1)  # room for one row at a time
    events = list(evaluator.stream([Job(clips[0], PROMPT), Job(clips[1], "a square")], options))
    chunked = events[-1].samples
    assert [[s.raw_output for s in job] for job in chunked] == [[s.raw_output for s in job] for job in batched]
    assert any("Sampling rows 1–1 of 8" in getattr(e, "message", "") for e in events)


@pytest.mark.parametrize("rows,free,per_row,expected", [
    (8, 10_000, 1000, 8), (8, 5_000, 1000, 4), (8, 100, 1000, 1), (1, 10**12, 1, 1), (16, 10**9, 0, 16),
])
def test_rows_per_chunk_follow_free_memory(rows, free, per_row, expected) -> None:
    assert batching.rows_per_chunk(rows, free, per_row) == expected


def test_row_cost_grows_with_length_and_model_size(evaluator) -> None:
    config = evaluator.model.config
    kv = batching.kv_bytes_per_token(config, 4)
    text = config.get_text_config()
    head_dim = text.hidden_size // text.num_attention_heads
    assert kv == 2 * text.num_hidden_layers * text.num_key_value_heads * head_dim * 4
    short = batching.row_bytes(100, 100, kv, 1000, 64, 4)
    assert batching.row_bytes(100, 1000, kv, 1000, 64, 4) > short
    assert batching.row_bytes(5000, 100, kv, 1000, 64, 4) > short


def test_several_samples_refuse_greedy_decoding() -> None:
    with pytest.raises(ValueError, match="greedy"):
        GenerationOptions(samples=4, greedy=True)
    with pytest.raises(ValueError, match="samples must be between 1 and 16"):
        GenerationOptions(samples=17)


def test_the_other_samples_report_progress(evaluator, clips) -> None:
    from vs2demo.engine.events import Progress

    events = list(evaluator.stream([Job(clips[0], PROMPT)], GenerationOptions(seed=3, samples=4, **OPTS)))
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and progress[-1] == Progress(4, 4)
    assert [p.finished for p in progress] == sorted(p.finished for p in progress)
    single = list(evaluator.stream([Job(clips[0], PROMPT)], GenerationOptions(seed=3, **OPTS)))
    assert not any(isinstance(e, Progress) for e in single)  # one sample: nothing to report


def test_deviations_name_every_seed_of_the_samples() -> None:
    assert GenerationOptions(seed=10, samples=4).deviations() == ["seeds 10–13", "4 samples"]
    assert GenerationOptions(seed=10, samples=4).for_sample(2).deviations() == ["seed 12"]
