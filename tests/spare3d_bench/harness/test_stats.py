"""The harness's statistics against values computed by hand."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("scipy")

from spare3d_bench.harness.stats import mcnemar_exact, paired_bootstrap, t_interval, wilson_interval  # noqa: E402


def test_wilson_interval_of_8_of_10():
    # p = 0.8, z = 1.96: centre (0.8 + 0.19207) / 1.38415 = 0.71674,
    # half 1.96 * sqrt(0.016 + 0.0096) / 1.38415 = 0.22656
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_ends_exactly_at_0_and_1_when_none_or_all_are_right():
    # 0 of 3: centre and half are both 0.28075 in exact arithmetic; in floats the low bound came out 5.6e-17
    assert wilson_interval(0, 3)[0] == 0.0 and wilson_interval(3, 3)[1] == 1.0
    assert wilson_interval(0, 3)[1] == pytest.approx(0.5615, abs=1e-4)


def test_t_interval_of_three_seeds():
    # mean 0.5, s = 0.1, t(0.975, 2) = 4.302653: half 4.302653 * 0.1 / sqrt(3) = 0.248414
    r = t_interval([0.4, 0.5, 0.6])
    assert r.mean == pytest.approx(0.5) and r.n == 3
    assert r.low == pytest.approx(0.5 - 0.248414, abs=1e-6) and r.high == pytest.approx(0.5 + 0.248414, abs=1e-6)
    one = t_interval([0.7])
    assert (one.low, one.high, one.n) == (0.7, 0.7, 1)
    with pytest.raises(ValueError, match="no values"):
        t_interval([])


def test_exact_mcnemar_by_hand():
    # 10 questions only a got right, 2 only b: p = 2 * sum_{k<=2} C(12, k) / 2^12 = 2 * 79 / 4096
    a = [1] * 10 + [0] * 2 + [1] * 5 + [0] * 3
    b = [0] * 10 + [1] * 2 + [1] * 5 + [0] * 3
    r = mcnemar_exact(a, b)
    assert (r.only_a, r.only_b) == (10, 2)
    assert r.p_value == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert r.difference == pytest.approx(8 / 20)
    assert mcnemar_exact([1, 0], [1, 0]).p_value == 1.0
    with pytest.raises(ValueError, match="equal, non-empty"):
        mcnemar_exact([1, 0, 1], [1, 0])


def test_paired_bootstrap_agrees_with_the_normal_approximation():
    # 100 questions: a right on 60, b on 50, a's extra 10 on disjoint questions: diff 0.1,
    # per-question differences 0.2 of +1 and 0.1 of -1, sd = sqrt(0.3 - 0.01) = 0.5385:
    # z = 0.1 / (0.5385 / 10) = 1.857, two-sided normal p = 0.0633
    a = [1] * 60 + [0] * 40
    b = [1] * 40 + [0] * 20 + [1] * 10 + [0] * 30
    r = paired_bootstrap(a, b, resamples=20000, seed=1)
    assert r.difference == pytest.approx(0.1) and (r.only_a, r.only_b) == (20, 10)
    assert r.p_value == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(1.857 / math.sqrt(2)))), abs=0.015)
    assert paired_bootstrap(a, b, resamples=2000, seed=1) == paired_bootstrap(a, b, resamples=2000, seed=1)
