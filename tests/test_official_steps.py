"""The official soft score's step for score digits written with several tokens (a fullwidth "３", an
Arabic-Indic "٣": the official regex's \\d accepts both), against the official procedure of tests/official.py.

The official script re-decodes growing prefixes until one equals the text through the digit, which happens only
at the digit's last token; our single decoding pass must name that same step, and the result built from the
recorded digits must carry the official soft score, marked official."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.official import official_soft_scores
from vs2demo.analysis.parse import parse_official, parse_scores
from vs2demo.analysis.result import dimension_scores
from vs2demo.engine.digits import DigitRecorder
from vs2demo.engine.generation import RowDecoder, official_digit_steps, row_digit_logprobs

LABELS = ("visual quality", "text-to-video alignment", "physical/common-sense consistency")


def _answer(digits: tuple[str, str, str], before: str = "<think>The motion is smooth.</think>") -> str:
    return before + "".join(f"\n{label}: {d}" for label, d in zip(LABELS, digits))


CASES = {
    "ascii": _answer(("3", "4", "2")),
    "fullwidth-first": _answer(("３", "4", "2")),
    "fullwidth-all": _answer(("５", "３", "１")),
    "arabic-indic": _answer(("٣", "٤", "٢")),
    "mixed-after-chinese": _answer(("٢", "３", "5"), "<think>一只熊猫在吃竹子，画面清晰。</think>"),
    "numbered-labels": "(１) visual quality: ３\n(２) text-to-video alignment: ٤\n(3) physical/common-sense "
                       "consistency: ５",
    "label-only-in-think": "<think>visual quality: ４ is fair</think> text-to-video alignment: 2",
}


@pytest.fixture(scope="module")
def tokenizer(smoke_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(smoke_dir))


def _scores(steps: int, vocab: int, digit_ids: list[int], seed: int) -> list[torch.Tensor]:
    """Per step, one row of processed scores with the digits' mass spread so every step's soft score differs."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        logits = rng.normal(0.0, 2.0, size=vocab).astype(np.float32)
        logits[digit_ids] = rng.normal(4.0, 2.0, size=len(digit_ids)).astype(np.float32)
        out.append(torch.from_numpy(logits).unsqueeze(0))
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_soft_score_step_and_value_equal_the_official_procedure(tokenizer, name: str) -> None:
    text = CASES[name]
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids, skip_special_tokens=False) == text  # the crafted output round-trips
    digit_ids = [tokenizer.convert_tokens_to_ids(str(s)) for s in range(1, 6)]
    scores = _scores(len(ids), len(tokenizer), digit_ids, seed=len(text))
    recorder = DigitRecorder(digit_ids)
    for step, row_scores in enumerate(scores):
        recorder(torch.tensor([ids[:step]]), row_scores)

    official = official_soft_scores(scores, ids, tokenizer, parsed=parse_official(text) is not None)
    decoded = RowDecoder(tokenizer, set())
    for token in ids:
        decoded.push(token)
    official_lp, logprobs_at = row_digit_logprobs(decoded, recorder, 0)
    parsed = parse_scores(text)
    ours = dimension_scores(parsed, official_lp, tuple(None if p is None else logprobs_at(p)
                                                       for p in parsed.digit_pos))
    for dim, (soft, probs) in zip(ours, official):
        # both sides agree on whether there is an official soft score, and when there is, on its numbers
        assert (dim.soft_source == "official") == (soft is not None)
        if soft is not None:
            assert (dim.soft, dim.probs) == (soft, probs)
    assert any(soft is not None for soft, _ in official) == (parse_official(text) is not None)


def test_a_multi_token_digit_is_read_at_its_last_token(tokenizer) -> None:
    text = _answer(("３", "٤", "2"))
    ids = tokenizer.encode(text, add_special_tokens=False)
    steps = official_digit_steps(tokenizer, ids)
    for step, digit in zip(steps, ("３", "٤", "2")):
        assert step is not None
        before = tokenizer.decode(ids[:step], skip_special_tokens=False)
        through = tokenizer.decode(ids[:step + 1], skip_special_tokens=False)
        assert through.endswith(digit) and not before.endswith(digit)  # the step where the digit becomes whole
    assert len(tokenizer.encode("３", add_special_tokens=False)) > 1  # the case under test really is multi-token


def test_a_multi_token_digit_found_only_by_the_fallback_is_read_at_its_last_token(tokenizer) -> None:
    text = "<think>ok</think>visual quality = ３"  # "=": the official search finds no label, the fallback does
    ids = tokenizer.encode(text, add_special_tokens=False)
    decoded = RowDecoder(tokenizer, set())
    for token in ids:
        decoded.push(token)
    pos = parse_scores(text).digit_pos[0]
    assert pos is not None and text[pos] == "３"
    step = decoded.token_completing(pos)
    assert step == len(ids) - 1  # the digit's last token, where it is whole
    assert decoded.token_at(pos) < step  # its first token comes earlier
