"""Sampling exactly as the official run: generate()'s own processors whatever the checkpoint's generation config
says, the official soft-score arithmetic, and the weights' dtype labelled as a deviation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.official import official_generate, official_soft_at
from vs2demo.analysis.parse import soft_from_logprobs
from vs2demo.core.options import GenerationOptions
from vs2demo.engine.digits import DigitRecorder
from vs2demo.engine.evaluator import Evaluator

PROMPT = "a red ball bouncing on a wooden floor"

# generation_config.json edits: what many checkpoints omit, an extreme top-k, a strong repetition penalty
VARIANTS = {
    "no-top-k-top-p": {"drop": ["top_k", "top_p"], "set": {}},
    "top-k-1": {"drop": [], "set": {"top_k": 1}},
    "repetition-penalty": {"drop": ["top_p"], "set": {"repetition_penalty": 1.3}},
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request, smoke_dir: Path, tmp_path_factory) -> Evaluator:
    spec = VARIANTS[request.param]
    target = tmp_path_factory.mktemp("variants") / request.param
    shutil.copytree(smoke_dir, target)
    path = target / "generation_config.json"
    config = json.loads(path.read_text())
    for key in spec["drop"]:
        config.pop(key, None)
    config.update(spec["set"])
    path.write_text(json.dumps(config))
    ev = Evaluator(str(target))
    ev.load()
    return ev


@pytest.mark.parametrize("seed", [0, 5])
def test_seeded_text_and_digit_probabilities_equal_stock_generate(variant: Evaluator, clip: str, seed: int) -> None:
    options = GenerationOptions(seed=seed, temperature=1.5, max_new_tokens=120)
    ours = variant.score(clip, PROMPT, options)
    prepared, _ = variant.prepare(clip)
    inputs = variant.model_inputs([prepared], [PROMPT])
    official, _ = official_generate(variant.model, variant.processor, inputs, seed=seed, max_new_tokens=120,
                                    temperature=1.5)
    assert ours.raw_output == official.text
    for ours_dim, soft, probs in zip(ours.scores, official.soft, official.probs):
        # both sides agree on whether there is an official score at all, and when there is, on its numbers
        assert (ours_dim.soft_source == "official") == (official.hard is not None)
        if official.hard is not None:
            assert (ours_dim.soft, ours_dim.probs) == (soft, probs)


def test_recorder_sees_every_step_exactly_as_output_scores(variant: Evaluator, clip: str) -> None:
    """Whatever the config, the recorder runs after all of generate()'s processors, at every step."""
    prepared, _ = variant.prepare(clip)
    inputs = variant.model_inputs([prepared], [PROMPT])
    recorder = DigitRecorder(variant.digit_ids())
    torch.manual_seed(3)
    with torch.inference_mode():
        out = variant.model.generate(**inputs, do_sample=True, temperature=1.5, max_new_tokens=40,
                                     logits_processor=[recorder], output_scores=True, return_dict_in_generate=True)
    assert len(recorder.steps) == len(out.scores)
    for recorded, scores in zip(recorder.steps, out.scores):
        assert torch.equal(recorded, torch.log_softmax(scores, dim=-1)[:, variant.digit_ids()])


def _random_step_scores(rng: np.random.Generator, vocab: int) -> torch.Tensor:
    logits = rng.normal(0.0, rng.choice([0.5, 3.0, 12.0]), size=vocab).astype(np.float32)
    kind = rng.integers(0, 4)
    if kind == 1:  # a top-k cut: everything outside the k best masked, as TopKLogitsWarper does
        k = int(rng.integers(1, 12))
        logits[logits < np.sort(logits)[-k]] = -np.inf
    elif kind == 2:  # every digit masked: the official script prints 0.0 here
        logits[:5] = -np.inf
    elif kind == 3:  # near-ties among the digits
        logits[:5] = logits[0] + rng.normal(0, 1e-6, 5).astype(np.float32)
    return torch.from_numpy(logits / np.float32(rng.choice([0.7, 1.0, 1.5])))


def test_soft_arithmetic_equals_the_official_one_on_random_logits() -> None:
    rng = np.random.default_rng(0)
    digit_ids = [0, 1, 2, 3, 4]
    cases = 0
    zeros = 0
    for _ in range(500):  # batches of 8 rows, as a batched generation records them
        vocab = int(rng.integers(6, 3000))
        rows = torch.stack([_random_step_scores(rng, vocab) for _ in range(8)])
        recorder = DigitRecorder(digit_ids)
        recorder(None, rows)
        for r in range(rows.shape[0]):
            ours = soft_from_logprobs(recorder.logprobs(r, 0))
            soft, probs = official_soft_at(rows[r], digit_ids)
            assert (ours.soft, ours.probs) == (soft, probs)
            cases += 1
            zeros += soft == 0.0
    assert cases == 4000 and zeros > 100  # the no-mass case was exercised


def test_no_probability_mass_prints_zero_like_the_official_script() -> None:
    s = soft_from_logprobs([-np.inf] * 5)
    assert s.soft == 0.0 and s.expected is None and s.confidence is None


# ---- dtype ------------------------------------------------------------------------------------


def test_dtype_other_than_float32_is_a_labelled_deviation(smoke_dir: Path, clip: str, monkeypatch) -> None:
    monkeypatch.setenv("VS2_DTYPE", "bfloat16")
    ev = Evaluator("smoke")
    result = ev.score(clip, PROMPT, GenerationOptions(max_new_tokens=4))
    assert result.model.dtype == "bfloat16"
    assert result.deviations() == ["max new tokens 4", "bfloat16 weights (official: float32)"]
    assert not result.official_settings
    assert result.to_dict()["settings_deviations"] == result.deviations()


def test_float32_weights_are_official(evaluator: Evaluator, clip: str) -> None:
    result = evaluator.score(clip, PROMPT, GenerationOptions(max_new_tokens=8))
    assert result.model.dtype == "float32" and result.deviations() == ["max new tokens 8"]


def test_unknown_dtype_is_refused(monkeypatch) -> None:
    with pytest.raises(ValueError, match="dtype must be one of float32, bfloat16, float16"):
        Evaluator("smoke", dtype="int8")
    monkeypatch.setenv("VS2_DTYPE", "fp8")
    with pytest.raises(ValueError, match="dtype"):
        Evaluator("smoke")


def test_a_score_without_digit_mass_is_shown_not_crashed(clip: str) -> None:
    """top-k can mask every digit: the official soft score is 0.0 and the extras do not exist."""
    from vs2demo.analysis.parse import parse_scores
    from vs2demo.analysis.result import Result, Timings, dimension_scores
    from vs2demo.input.framing import plan_frames
    from vs2demo.input.video import probe
    from vs2demo.present.result_html import cards_html

    text = "(1) visual quality: 3\n(2) text-to-video alignment: 4\n(3) physical/common-sense consistency: 2"
    none = (-np.inf,) * 5
    scores = dimension_scores(parse_scores(text), (none, none, none), (None, None, None))
    assert [s.soft for s in scores] == [0.0, 0.0, 0.0]
    from tests.helpers import INFO

    result = Result(video=clip, prompt="p", raw_output=text, think="", parse_method="official", parse_notes=(),
                    scores=scores, plan=plan_frames(probe(clip)), model=INFO,
                    options=GenerationOptions(), timings=Timings(0, 0, None, 1, 1))
    assert "no probability on any digit" in cards_html(result)
