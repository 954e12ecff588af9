"""Parser tables: the official regex first, a labelled fallback, and an honest 'none'."""

import numpy as np
import pytest

from vs2demo.analysis.parse import (
    FALLBACK,
    NONE,
    OFFICIAL,
    PARTIAL,
    official_score_positions,
    parse_official,
    parse_scores,
    soft_from_logprobs,
)

TRAINED = ("<think>Sharp frames, the ball bounces.</think>\n(1) visual quality: 3\n"
           "(2) text-to-video alignment: 4\n(3) physical/common-sense consistency: 2")

CASES = [
    ("trained format", TRAINED, OFFICIAL, (3, 4, 2)),
    ("upper case", TRAINED.upper().replace("<THINK>", "<think>"), OFFICIAL, (3, 4, 2)),
    ("prompt-style answer", "visual quality: 5; \ntext-to-video alignment: 1, \nphysical/common-sense consistency: 4",
     OFFICIAL, (5, 1, 4)),
    ("descriptor echoes", "<think>ok</think>\n(1) visual quality \u2013 clarity, smoothness, artifacts: 3\n"
     "(2) text-to-video alignment \u2013 fidelity to the prompt: 4\n"
     "(3) physical/common-sense consistency \u2013 naturalness and physics plausibility: 2", FALLBACK, (3, 4, 2)),
    ("scores only in think", "<think>Visual quality = 4/5. Text-to-video alignment: 2/5. "
     "Physical/common-sense consistency: **5**</think>\nDone.", FALLBACK, (4, 2, 5)),
    ("repeated </think>", "<think>a</think></think>\n(1) visual quality: 2\n(2) text-to-video alignment: 2\n"
     "(3) physical/common-sense consistency: 3</think>", OFFICIAL, (2, 2, 3)),
    ("out-of-range digits", "(1) visual quality: 7\n(2) text-to-video alignment: 0\n"
     "(3) physical/common-sense consistency: 9", NONE, (None, None, None)),
    ("one missing", "(1) visual quality: 4\n(2) text-to-video alignment: 5\n", PARTIAL, (4, 5, None)),
    ("nothing at all", "The video shows a cat.", NONE, (None, None, None)),
    ("empty", "", NONE, (None, None, None)),
]


@pytest.mark.parametrize("name,text,method,scores", CASES, ids=[c[0] for c in CASES])
def test_parse_table(name, text, method, scores) -> None:
    parsed = parse_scores(text)
    assert (parsed.method, parsed.scores) == (method, scores)
    for pos, score in zip(parsed.digit_pos, parsed.scores):
        assert (pos is None) == (score is None)
        if pos is not None:
            assert text[pos] == str(score)
    if method != OFFICIAL:
        assert parsed.notes  # fallback, partial and none are always labelled


def test_official_regex_takes_the_first_match_even_inside_think() -> None:
    text = ("<think>visual quality: 1, text-to-video alignment: 1, physical/common-sense consistency: 1</think>"
            "\n(1) visual quality: 4\n(2) text-to-video alignment: 5\n(3) physical/common-sense consistency: 3")
    assert parse_official(text) == (1, 1, 1)  # what the official script reports, so what we report
    assert parse_scores(text).scores == (1, 1, 1)


def test_fallback_prefers_the_answer_after_think() -> None:
    text = ("<think>Visual quality: 1/5, text-to-video alignment = 1, physical/common-sense consistency = 1</think>"
            "\n(1) Visual quality: 4/5\n(2) Text-to-video alignment: 5/5\n(3) Physical/common-sense consistency = 3")
    parsed = parse_scores(text)
    assert (parsed.method, parsed.scores) == (FALLBACK, (4, 5, 3))


def test_official_parse_is_the_regex_with_raw_integers() -> None:
    assert parse_official("visual quality: 12 text-to-video alignment: 3 physical/common-sense consistency: 4") == (
        12, 3, 4)
    assert parse_official("nothing") is None


@pytest.mark.parametrize("text,digits", [
    # the first match anywhere, think block included, whatever the case
    ("<think>Visual quality: 2 …</think>\n(1) visual quality: 3\n(2) text-to-video alignment: 4\n"
     "(3) physical/common-sense consistency: 5", ("2", "4", "5")),
    ("VISUAL QUALITY:4 TEXT-TO-VIDEO ALIGNMENT: 1 Physical/Common-Sense Consistency:\n 2", ("4", "1", "2")),
    # the first digit after the label, however far
    ("visual quality: good, 3. text-to-video alignment:4 physical/common-sense consistency: none", ("3", "4", None)),
    # a label without its colon is not an anchor
    ("visual quality 5; visual quality: 2", ("2", None, None)),
    ("nothing here", (None, None, None)),
])
def test_official_score_positions_match_the_official_search(text, digits) -> None:
    pos = official_score_positions(text)
    assert tuple(None if p is None else text[p] for p in pos) == digits


@pytest.mark.parametrize("prefix", ["(1) ", "(12)\t", "\n   ", ""])
def test_official_anchor_allows_its_optional_prefix(prefix) -> None:
    text = f"x{prefix}visual quality: 4"
    assert text[official_score_positions(text)[0]] == "4"


@pytest.mark.parametrize("probs,soft,expected,confidence", [
    ((0, 0, 1, 0, 0), 3.0, 3.0, 1.0),
    ((0.1, 0.1, 0.1, 0.1, 0.6), 3.0, 4.0, 0.6),
    ((0.2, 0.2, 0.2, 0.2, 0.2), 0.2, 3.0, 0.2),  # ties: the first maximum, like the official list.index
    ((0.05, 0.05, 0.0, 0.0, 0.0), 0.5, 1.5, 0.5),  # not normalised: divided by the digit mass
])
def test_soft_expected_confidence(probs, soft, expected, confidence) -> None:
    with np.errstate(divide="ignore"):
        s = soft_from_logprobs(np.log(np.asarray(probs, dtype=np.float64)))
    assert s.soft == pytest.approx(soft, abs=1e-4)
    assert s.expected == pytest.approx(expected, abs=1e-6)
    assert s.confidence == pytest.approx(confidence, abs=1e-6)


def test_cli_parse_reads_stdin() -> None:
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "vs2demo", "parse"], input=TRAINED.encode(), capture_output=True,
                         check=True)
    data = json.loads(out.stdout)
    assert data["method"] == "official"
    assert data["scores"] == {"visual_quality": 3, "text_to_video_alignment": 4, "physical_consistency": 2}
