"""The decode loop waits for the device no more than bare generate() does (only its stop check), and what it
produces is unchanged: the same texts and digit probabilities as the official procedure, one decode thread."""

from __future__ import annotations

import threading

import pytest
import torch

from tests.official import official_generate
from vs2demo.core.options import GenerationOptions
from vs2demo.engine.events import Job
from vs2demo.engine.generation import Sampling, stream_generate
from vs2demo.engine.sync_count import SyncCounter
from vs2demo.engine.vision import with_shared_features

PROMPT = "a red ball bouncing on a wooden floor"
STEPS = 10


@pytest.fixture(scope="module")
def inputs(evaluator, clip):
    """Two rows of one clip and prompt: a batch without padding (a padded batch adds a wait inside the model's
    attention-mask code, bare generate() included, that no loop of ours can remove)."""
    prepared, _ = evaluator.prepare(clip)
    return evaluator.model_inputs([prepared, prepared], [PROMPT, PROMPT])


def bare(evaluator, inputs) -> dict:
    """The batch as generate() itself takes it: the rows' one clip encoded once, passed as precomputed features (the
    prefill; the decode steps counted here are the same either way)."""
    return with_shared_features(evaluator.model, inputs)


def _bare_waits(evaluator, inputs, **sampling) -> int:
    with torch.inference_mode(), SyncCounter(evaluator.model) as log:
        torch.manual_seed(0)
        evaluator.model.generate(**bare(evaluator, inputs), **sampling, max_new_tokens=STEPS, min_new_tokens=STEPS)
    assert len(log.decode_steps) == STEPS - 1
    return log.per_step()


def _pipeline_log(evaluator, inputs, sampling: Sampling):
    with SyncCounter(evaluator.model) as log:
        stream = stream_generate(evaluator.model, inputs, sampling, tokenizer=evaluator.processor.tokenizer,
                                 digit_ids=evaluator.digit_ids(), stop_ids=evaluator.stop_ids(),
                                 stop=threading.Event(), lock=evaluator.generation_lock,
                                 thread=evaluator.decode_thread)
        pieces = list(stream)
    assert pieces  # it streamed
    assert len(log.decode_steps) == STEPS - 1
    return log


@pytest.mark.parametrize("greedy,seeds", [(False, None), (False, (4, 5)), (True, None)],
                         ids=["sampled", "seeded-rows", "greedy"])
def test_at_most_one_wait_per_decode_step_like_bare_generate(evaluator, inputs, greedy, seeds) -> None:
    bare = _bare_waits(evaluator, inputs, **({"do_sample": False} if greedy else
                                             {"do_sample": True, "temperature": 0.7}))
    log = _pipeline_log(evaluator, inputs, Sampling(greedy, 0.7, STEPS, STEPS, seeds))
    assert log.per_step() <= 1
    assert log.per_step() == bare  # the stop check, which bare generate() has too
    assert set(log.kinds()) <= {"__bool__"}, log.kinds()


def test_the_counter_sees_the_waits_it_exists_to_catch(evaluator, inputs) -> None:
    """Honesty of the measure: a processor indexing with a host list, a 0-dim tensor index, a .cpu() copy and an
    .item() are each counted, once per decode step; reading the host copy afterwards is not."""

    def wasteful(input_ids, scores):
        digits = torch.log_softmax(scores, dim=-1)[:, [1, 2, 3]]  # list index: a blocking host-to-device copy
        best = scores.argmax(dim=-1)
        scores[0, best[0]] = scores[0, 0]  # 0-dim tensor as an index: an .item()
        digits.cpu().tolist()  # the copy waits; reading the host copy does not
        _ = float(digits.sum().item())
        return scores

    with torch.inference_mode(), SyncCounter(evaluator.model) as log:
        evaluator.model.generate(**bare(evaluator, inputs), do_sample=False, max_new_tokens=STEPS, min_new_tokens=STEPS,
                                 logits_processor=[wasteful])
    kinds = log.kinds()
    steps = len(log.decode_steps)
    assert kinds["index from a host list (blocking copy to the device)"] == steps
    assert kinds["0-dim tensor as an index (.item())"] == steps
    assert kinds["cpu"] == steps and kinds["item"] == steps and kinds["tolist"] == 0
    assert log.per_step() == 5  # the four above and the stop check


@pytest.mark.parametrize("seed", [0, 3])
def test_texts_and_digit_probabilities_are_unchanged(evaluator, clip, seed) -> None:
    """One row: text, ids and digit probabilities exactly the official procedure's. Two seeded samples in one
    batch: each row's text and ids equal the official procedure run alone with its seed (its probabilities only
    to batched-arithmetic rounding, as before this loop)."""
    prepared, _ = evaluator.prepare(clip)
    single = evaluator.model_inputs([prepared], [PROMPT])
    alone = evaluator.score(clip, PROMPT, GenerationOptions(seed=seed, max_new_tokens=160))
    (samples,) = evaluator.evaluate_many([Job(clip, PROMPT)], GenerationOptions(seed=seed, samples=2,
                                                                                max_new_tokens=160))
    for k, ours in enumerate((alone, *samples)):
        official, _ = official_generate(evaluator.model, evaluator.processor, single, seed=seed + max(0, k - 1),
                                        max_new_tokens=160)
        assert ours.raw_output == official.text
        assert ours.token_ids == official.token_ids
        for dim, soft, probs in zip(ours.scores, official.soft, official.probs):
            assert (dim.soft_source == "official") == (official.hard is not None and soft is not None)
            if official.hard is not None and soft is not None:
                if k == 0:
                    assert (dim.soft, dim.probs) == (soft, probs)
                else:
                    assert dim.probs == pytest.approx(probs, abs=1e-5)


def test_every_generation_runs_on_the_models_one_decode_thread(evaluator, clip) -> None:
    seen: list[str] = []
    real = evaluator.model.generate

    def spy(*args, **kwargs):
        seen.append(threading.current_thread().name)
        assert threading.get_ident() == evaluator.decode_thread.ident
        return real(*args, **kwargs)

    evaluator.model.generate = spy
    try:
        for seed in (1, 2):
            evaluator.score(clip, PROMPT, GenerationOptions(seed=seed, max_new_tokens=8))
    finally:
        del evaluator.model.generate
    assert seen == ["vs2-decode", "vs2-decode"]


def test_the_digit_recorder_keeps_its_steps_on_the_device_buffer(evaluator, inputs) -> None:
    """Recording past its initial capacity grows the buffer and keeps every earlier step."""
    from vs2demo.engine.digits import DigitRecorder

    recorder = DigitRecorder(evaluator.digit_ids(), device=evaluator.model.device, capacity=2)
    scores = [torch.randn(2, len(evaluator.processor.tokenizer)) for _ in range(5)]
    for s in scores:
        recorder(inputs["input_ids"], s)
    assert recorder.count == 5
    for step, s in enumerate(scores):
        expected = torch.log_softmax(s, dim=-1)[:, evaluator.digit_ids()]
        assert torch.equal(recorder.steps[step], expected)
        assert recorder.logprobs(1, step) == tuple(expected[1].tolist())
