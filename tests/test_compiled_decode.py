"""Static cache and compiled decode: the same tokens as eager decoding for seeded, greedy, compare, K-sample and
rank batches; a second clip of another length inside a bucket reuses the compiled step; the setting is listed
among the result's deviations, and switched off (the default on CPU) decoding stays the official one.

Compiling with inductor on a 2-core CPU takes about a minute per batch size: the compiled tests are few, share
one evaluator, and are marked slow."""

from __future__ import annotations

import pytest

from vs2demo.core.options import GenerationOptions
from vs2demo.engine.evaluator import Evaluator
from vs2demo.engine.events import Job, Status
from vs2demo.engine.static_cache import STATIC_NOTE, DecodeSettings, batch_bucket, bucketed

PROMPT = "a red ball bouncing on a wooden floor"
TOKENS = 24
BUCKET = 2048  # every request below (a few hundred prompt tokens + TOKENS) fits in one bucket


def _evaluator(settings: DecodeSettings) -> Evaluator:
    ev = Evaluator("smoke", decode=settings)
    ev.load()
    return ev


@pytest.fixture(scope="module")
def compiled(smoke_dir) -> Evaluator:
    return _evaluator(DecodeSettings(static=True, compiled=True, compile_on_cpu=True, bucket=BUCKET,
                                     warm_cache_len=BUCKET))


def _graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def _same_tokens(a, b) -> None:
    assert len(a) == len(b) and [len(j) for j in a] == [len(j) for j in b]  # no row dropped, no filler row leaked
    for job_a, job_b in zip(a, b):
        for x, y in zip(job_a, job_b):
            assert x.token_ids == y.token_ids and x.raw_output == y.raw_output
            for sx, sy in zip(x.scores, y.scores):
                assert sx.hard == sy.hard
                assert (sx.probs is None) == (sy.probs is None)
                if sx.probs is not None:
                    assert sx.probs == pytest.approx(sy.probs, abs=1e-5)


@pytest.mark.parametrize("rows,bucket", [(1, 1), (2, 2), (3, 4), (4, 4), (5, 8), (16, 16)])
def test_batch_sizes_are_bucketed_to_powers_of_two(rows, bucket) -> None:
    assert batch_bucket(rows) == bucket


def test_cache_lengths_are_bucketed() -> None:
    assert bucketed(1, 1024) == bucketed(1024, 1024) == 1024 and bucketed(1025, 1024) == 2048
    kwargs = DecodeSettings(static=True, compiled=True, bucket=1024).generate_kwargs(900, 300)
    assert kwargs == {"cache_implementation": "static", "max_cache_len": 2048}
    assert DecodeSettings(static=True).generate_kwargs(900, 300)["disable_compile"] is True
    assert DecodeSettings().generate_kwargs(900, 300) == {}  # off: the official dynamic cache


def test_on_by_default_on_gpus_only_and_listed_as_a_deviation(evaluator) -> None:
    assert DecodeSettings.default_for("cuda:0") == DecodeSettings(static=True, compiled=True)
    assert DecodeSettings.default_for("cuda:0", switch=False) == DecodeSettings()
    assert DecodeSettings.default_for("cpu") == DecodeSettings()
    assert evaluator.info.deviations == []  # CPU, float32, eager: strict parity
    on = DecodeSettings(static=True, compiled=True)
    assert on.deviations() == (STATIC_NOTE,)


def test_the_switch_comes_from_the_environment(monkeypatch) -> None:
    from vs2demo.core.options import compiled_decode_from_env

    monkeypatch.setenv("VS2_COMPILED_DECODE", "off")
    assert compiled_decode_from_env() is False and compiled_decode_from_env(True) is True
    monkeypatch.setenv("VS2_COMPILED_DECODE", "maybe")
    with pytest.raises(ValueError, match="on or off"):
        compiled_decode_from_env()


@pytest.mark.slow
def test_static_cache_gives_the_same_tokens_and_labels_the_result(evaluator, clip) -> None:
    static = _evaluator(DecodeSettings(static=True, compiled=False, bucket=BUCKET))
    for options in (GenerationOptions(seed=2, max_new_tokens=120), GenerationOptions(greedy=True, max_new_tokens=60)):
        ours = static.score(clip, PROMPT, options)
        eager = evaluator.score(clip, PROMPT, options)
        _same_tokens([[ours]], [[eager]])
        assert STATIC_NOTE in ours.deviations() and STATIC_NOTE not in eager.deviations()


@pytest.mark.slow
def test_compiled_decode_warms_up_at_load_and_keeps_tokens(compiled, evaluator, clip, make_clip) -> None:
    events = list(compiled.stream([Job(clip, PROMPT)], GenerationOptions(seed=1, max_new_tokens=TOKENS)))
    told = [e.message for e in events if isinstance(e, Status)]
    assert any(m.startswith("Compiling the decode step") for m in told)  # the warm-up is reported while it runs
    assert any(m.startswith("Compiled the decode step in") for m in told)
    graphs = _graphs()
    assert graphs > 0  # the decode step really was compiled
    for options in (GenerationOptions(seed=1, max_new_tokens=TOKENS), GenerationOptions(greedy=True,
                                                                                      max_new_tokens=TOKENS)):
        _same_tokens(compiled.evaluate_many([Job(clip, PROMPT)], options),
                     evaluator.evaluate_many([Job(clip, PROMPT)], options))
    other = make_clip(4.0)  # another length: more visual tokens, the same cache bucket
    options = GenerationOptions(seed=5, max_new_tokens=TOKENS)
    _same_tokens(compiled.evaluate_many([Job(other, PROMPT)], options),
                 evaluator.evaluate_many([Job(other, PROMPT)], options))
    assert _graphs() == graphs  # nothing was compiled again


@pytest.mark.slow
def test_compiled_batches_keep_tokens_for_compare_samples_and_rank(compiled, evaluator, clip, make_clip) -> None:
    clips = [clip, make_clip(4.0), make_clip(2.5)]
    compare = [Job(clips[0], PROMPT), Job(clips[1], "a square")]
    samples = GenerationOptions(seed=3, samples=2, max_new_tokens=TOKENS)
    _same_tokens(compiled.evaluate_many(compare, GenerationOptions(seed=1, max_new_tokens=TOKENS)),
                 evaluator.evaluate_many(compare, GenerationOptions(seed=1, max_new_tokens=TOKENS)))
    graphs = _graphs()
    _same_tokens(compiled.evaluate_many([Job(clip, PROMPT)], samples),
                 evaluator.evaluate_many([Job(clip, PROMPT)], samples))
    assert _graphs() == graphs  # two rows again: the batch-2 step is replayed
    rank = [Job(c, PROMPT) for c in clips]  # three rows, run as a batch of four (one filler row, never told)
    four = GenerationOptions(seed=7, max_new_tokens=TOKENS)
    _same_tokens(compiled.evaluate_many(rank, four), evaluator.evaluate_many(rank, four))
    graphs = _graphs()
    k4 = GenerationOptions(seed=9, samples=4, max_new_tokens=TOKENS)
    _same_tokens(compiled.evaluate_many([Job(clip, PROMPT)], k4), evaluator.evaluate_many([Job(clip, PROMPT)], k4))
    assert _graphs() == graphs  # four rows: the step compiled for the three-clip batch


@pytest.mark.parametrize("flag,env,expected", [(None, None, None), ("off", "on", False), ("on", None, True),
                                               (None, "off", False)])
def test_the_cli_switch_wins_over_the_environment(monkeypatch, capsys, flag, env, expected) -> None:
    import argparse

    from vs2demo.cli.main import compiled_switch, main

    if env is None:
        monkeypatch.delenv("VS2_COMPILED_DECODE", raising=False)
    else:
        monkeypatch.setenv("VS2_COMPILED_DECODE", env)
    assert compiled_switch(argparse.Namespace(compiled_decode=flag)) is expected
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    assert "--compiled-decode {on,off}" in capsys.readouterr().out
