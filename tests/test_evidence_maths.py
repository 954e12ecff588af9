"""The evidence's pure maths, as tables: intervals and paired comparisons, floors, faithfulness curves, log-odds,
and the cost said before an explanation runs."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict

import pytest

from vs2demo.evidence import faithfulness as fa
from vs2demo.evidence import floor as fl
from vs2demo.evidence.explain import hide
from vs2demo.evidence.options import ExplainOptions, cost
from vs2demo.evidence.record import Segment, log_odds, shift
from vs2demo.evidence.scorer import Base, Fill, Visual
from vs2demo.evidence.total_effect import Draw, Interval, compare, mean_interval, t_quantile


@pytest.mark.parametrize("df,q", [(1, 12.706), (3, 3.182), (30, 2.042), (31, 1.96), (500, 1.96)])
def test_t_quantiles(df, q) -> None:
    assert t_quantile(df) == q


def test_mean_interval_is_the_t_interval() -> None:
    values = [0.2, 0.3, 0.25, 0.45]
    i = mean_interval(values)
    half = 3.182 * statistics.stdev(values) / 2
    assert (i.mean, i.low, i.high, i.n) == pytest.approx((0.3, 0.3 - half, 0.3 + half, 4), abs=1e-4)
    assert i.excludes_zero
    assert not mean_interval([-0.1, 0.2, 0.05]).excludes_zero
    assert mean_interval([]) is None
    one = mean_interval([0.5])
    assert one == Interval(0.5, 0.5, 0.5, 1) and not one.excludes_zero  # one pair: never a claim
    tiny = mean_interval([-0.003, -0.0031, -0.0029, -0.003])
    assert tiny.excludes_zero and not tiny.claimed  # consistent, but too small to be a "yes"
    assert i.claimed


def test_paired_comparison_counts_distributions_and_changes() -> None:
    with_ = [Draw((4, 3, None), (3.9, 3.0, None)), Draw((4, 3, 2), (4.1, 3.1, 2.0)), Draw((5, 3, 2), (4.6, 3.0, 2.1))]
    without = [Draw((2, 3, 2), (2.0, 3.0, 2.0)), Draw((4, 3, 2), (3.9, 3.1, 2.0)), Draw((2, 3, 2), (2.2, 3.0, 2.1))]
    quality, alignment, physics = compare(with_, without)
    assert quality.with_counts == (0, 0, 0, 2, 1) and quality.without_counts == (0, 2, 0, 1, 0)
    assert (quality.changed, quality.pairs) == (2, 3)
    assert quality.soft_delta.mean == pytest.approx(statistics.fmean([-1.9, -0.2, -2.4]), abs=1e-4)
    assert alignment.changed == 0 and alignment.soft_delta.mean == 0 and not alignment.soft_delta.excludes_zero
    assert physics.pairs == 2 and physics.soft_delta.n == 2  # a draw that did not parse is left out of its pair
    with pytest.raises(ValueError, match="paired"):
        compare(with_, without[:2])


@pytest.mark.parametrize("constant,minimum,floor", [((0.001, -0.004, 0.002), 0.01, 0.01),
                                                    ((0.05, -0.08, None), 0.01, 0.08), ((), 0.02, 0.02)])
def test_floor_is_the_largest_constant_clip_effect_or_the_minimum(constant, minimum, floor) -> None:
    assert fl.floor_of(constant, minimum) == floor


@pytest.mark.parametrize("value,floor,spread,clears", [(0.05, 0.01, None, True), (-0.05, 0.01, None, True),
                                                       (0.01, 0.01, None, False), (None, 0.01, None, False),
                                                       (0.05, 0.01, (0.02, 0.09), True),
                                                       (0.05, 0.01, (-0.01, 0.09), False),
                                                       (-0.05, 0.01, (-0.09, -0.02), True)])
def test_a_cell_clears_its_floor_and_its_spread(value, floor, spread, clears) -> None:
    assert fl.clears(value, floor, spread) is clears


@pytest.mark.parametrize("a,b,agree", [(0.001, -0.002, True), (-0.3, -0.2, True), (-0.3, 0.2, False),
                                       (-0.3, 0.001, False), (None, None, True), (None, 0.2, False)])
def test_fills_agree(a, b, agree) -> None:
    assert fl.fills_agree(a, b, 0.01) is agree


@pytest.mark.parametrize("row,floor,expected", [((0.1, 2.0, 1.2, -0.5), 0.02, (1, 2)), ((0.0, -0.1, 0.0), 0.02, ()),
                                                ((0.0014, 0.001), 0.02, ()),  # a 0.0014-nat drop is no grounding
                                                ((0.5, 0.4, 0.1), 0.45, (0,))])  # the floor beats the relative rule
def test_grounded_needs_both_the_absolute_and_the_relative_rule(row, floor, expected) -> None:
    assert fl.grounded(row, floor) == expected


def test_strongest_only_among_cells_over_the_floor() -> None:
    assert fl.strongest([0.004, -0.3, 0.2], 0.01) == 1
    assert fl.strongest([0.004, -0.003], 0.01) is None  # the argmax of noise is not "rests most on"
    assert fl.strongest([0.05, 0.04], [0.1, 0.01]) == 1


@pytest.mark.parametrize("curve,area", [([0, 1], 0.5), ([0, 1, 1], 0.75), ([2], 2.0), ([], 0.0), ([1, 1, 1, 1], 1.0)])
def test_auc(curve, area) -> None:
    assert fa.auc(curve) == pytest.approx(area)


def test_curve_sets_and_percentiles() -> None:
    assert fa.deletion_sets((2, 0, 1)) == [frozenset(), {2}, {2, 0}, {0, 1, 2}]
    assert fa.insertion_sets((2, 0, 1)) == [{0, 1, 2}, {0, 1}, {1}, frozenset()]
    orders = fa.random_orders(4, 20)
    assert len(orders) == 20 and all(sorted(o) == [0, 1, 2, 3] for o in orders) and orders == fa.random_orders(4, 20)
    assert len(fa.needed_sets((0, 1, 2, 3), orders)) <= 2 ** 4
    assert fa.percentile(5.0, [1, 2, 5, 9], higher_is_better=True) == 75.0  # a tie is matched, not lost
    assert fa.percentile(5.0, [1, 2, 5, 9], higher_is_better=False) == 50.0
    assert fa.percentile(9.0, [9, 9, 1], higher_is_better=True) == 100.0
    assert fa.percentile(8.9, [9, 9.5, 1], higher_is_better=True, tolerance=0.2) == 66.7  # 9 is within 0.2


def test_assess_a_planted_ranking_beats_random() -> None:
    def measure(hidden: frozenset[int]) -> float:  # only segment 2 matters
        return 1.0 if 2 in hidden else 0.0

    f = fa.assess((2, 0, 1, 3), measure, fa.random_orders(4, 40), [0.0, 0.0, 1.0, 0.0])
    assert f.deletion == (0.0, 1.0, 1.0, 1.0, 1.0) and f.insertion == (1.0, 0.0, 0.0, 0.0, 0.0)
    assert f.deletion_percentile == 100.0 and f.insertion_percentile == 100.0 and f.beats_random
    assert f.redundancy == 0.0
    wrong = fa.assess((0, 1, 3, 2), measure, fa.random_orders(4, 40), [0.0, 0.0, 1.0, 0.0])
    assert wrong.deletion_percentile < 50 and not wrong.beats_random
    # every area within the floor of every other: "at least as good as all of them" is no finding
    faint = {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.025}
    buried = fa.assess((0, 1, 2, 3), lambda s: sum(faint[i] for i in s), fa.random_orders(4, 40), list(faint.values()),
                       tolerance=0.02)
    assert buried.deletion_percentile == 100.0 and not buried.distinguishable and not buried.beats_random
    assert fa.from_dict(json.loads(json.dumps(asdict(f)))) == f  # the JSON keeps every field, unit included
    spread_out = fa.assess((0, 1), lambda s: float(len(s) == 2), fa.random_orders(2, 20), [0.0, 0.0])
    assert spread_out.redundancy == 1.0  # each alone seems to matter nothing, both together everything


@pytest.mark.parametrize("probs,hard,odds", [((0.1, 0.1, 0.2, 0.5, 0.1), 4, 0.0), ((0.2,) * 5, 1, math.log(0.25)),
                                             ((0.01, 0.01, 0.01, 0.01, 0.96), 5, math.log(24))])
def test_log_odds_of_the_written_score(probs, hard, odds) -> None:
    assert log_odds([math.log(p) for p in probs], hard) == pytest.approx(odds)
    assert log_odds(None, hard) is None and log_odds([math.log(p) for p in probs], None) is None


def test_log_odds_move_where_the_written_score_saturates() -> None:
    sure = [math.log(p) for p in (1e-6, 1e-6, 1e-6, 1e-6, 1 - 4e-6)]
    surer = [math.log(p) for p in (1e-8, 1e-8, 1e-8, 1e-8, 1 - 4e-8)]
    s = shift(surer, sure, 5)
    assert s.p_hard_delta == 0.0 and s.expected_delta == 0.0  # rounded away at four places
    assert s.log_odds_delta == pytest.approx(math.log(100), abs=1e-3)  # still measured


def test_hidden_segments_merge_into_spans_of_sampled_frames() -> None:
    segs = tuple(Segment(i, (i, i + 1), float(i), float(i + 1)) for i in range(4))
    assert hide(segs, [1, 0, 3]) == Visual(Base.CLIP, ((0, 4), (6, 8)), Fill.MEAN_COLOUR)
    assert hide(segs, range(4)) == Visual(hidden=((0, 8),))
    assert hide(segs, [2], Base.CONSTANT, Fill.FROZEN) == Visual(Base.CONSTANT, ((4, 6),), Fill.FROZEN)
    assert hide(segs, []) == Visual()


def test_the_cost_is_said_before_it_runs() -> None:
    options = ExplainOptions()
    c = cost(6, 4, options)
    assert c.generations == options.resamples * (1 + 1 + 2 + 3)  # unaltered, clip, two top seconds, three probes
    assert c.passes == 1 + 3 + 3 * 6 + 1 + 4 + 2 ** 6
    assert cost(6, 4, ExplainOptions(resamples=0, random_orders=0)) == type(c)(1 + 3 + 18 + 1 + 4, 0)
    assert "paired seeds" in c.sentence(options.resamples) and f"{c.passes} re-scoring passes" in c.sentence(4)


def test_the_cost_said_before_a_run_counts_every_sample_and_per_frame_segments() -> None:
    from tests.test_stability import result
    from vs2demo.present.evidence_html import cost_line

    one = result(4, 3, 2)  # 6 sampled frames: 3 pairs
    options = ExplainOptions(random_orders=0)
    four = cost_line(one, options, samples=4)
    alone = cost_line(one, options)
    per = lambda line: int(line.split(" re-scoring passes")[0].split()[-1])  # noqa: E731
    assert per(four) - per(alone) == 3 * (1 + 3)  # each other sample: its unaltered pass and one per segment
    per_frame = cost_line(one, ExplainOptions(random_orders=0, per_frame=True))
    assert per(per_frame) - per(alone) == 3 * (6 - 3)  # three passes a segment (two fills, constant clip)


@pytest.mark.parametrize("kwargs,match", [({"resamples": 1}, "at least 2"), ({"resamples": 17}, "between 0"),
                                          ({"random_orders": 5}, "at least 20"), ({"picked": (-1.0,)}, "negative")])
def test_explain_options_are_checked(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        ExplainOptions(**kwargs)


def test_how_it_works_names_the_three_quantities_with_one_picture() -> None:
    from vs2demo.present.page_prose import ABOUT

    section = ABOUT[ABOUT.index("### Explain this result"):]
    assert "The **direct effect** is" in section and "the **total effect** is" in section
    assert section.count("```text") == 1 and "the model writes AGAIN" in section  # the picture
    assert "not distinguishable from 0" in section and "not measurable here" in section


def test_an_explanation_stored_before_the_floor_test_gets_no_verdict_it_did_not_measure() -> None:
    """A stored faithfulness without ``deletion_beaten`` (older records) is neither "distinguishable" nor "not
    distinguishable": its line says the test was not made."""
    from vs2demo.evidence.faithfulness import from_dict

    old = {"order": [1, 0], "deletion": [0, 0.2, 0.3], "insertion": [0, 0.1, 0.3], "deletion_auc": 0.2,
           "insertion_auc": 0.1, "deletion_percentile": 100.0, "insertion_percentile": 100.0, "random_orders": 20,
           "redundancy": 0.0}
    f = from_dict(old)
    assert f.deletion_beaten is None and not f.distinguishable and not f.beats_random
    assert from_dict({**old, "deletion_beaten": 80.0}).beats_random
