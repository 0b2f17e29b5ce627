"""hemlr.stats: the order statistics of the median's interval against hand-computed values, and
both intervals' coverage against many simulated samples of known distributions."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hemlr.stats import binomial_cdf, coverage, median_interval, median_rank, median_ratio

# n -> (k, coverage of (x_k, x_{n+1-k})), by hand: 1 - 2 * sum_{i<k} C(n, i) / 2^n
HAND = {
    6: (1, 1 - 2 * 1 / 64),                            # 0.96875; k = 2 would give 0.78125
    8: (1, 1 - 2 * 1 / 256),                           # k = 2: 1 - 2 * 9/256 = 0.9297 < 0.95
    9: (2, 1 - 2 * (1 + 9) / 512),                     # 0.9609
    12: (3, 1 - 2 * (1 + 12 + 66) / 4096),             # 0.9614
    17: (5, 1 - 2 * (1 + 17 + 136 + 680 + 2380) / 2**17),  # 0.9510, the level only just reached
    20: (6, 1 - 2 * (1 + 20 + 190 + 1140 + 4845 + 15504) / 2**20),  # 0.9586
}


@pytest.mark.parametrize("n", sorted(HAND))
def test_rank_and_coverage_against_hand_computed_values(n: int):
    k, expected = HAND[n]
    assert median_rank(n) == k
    assert coverage(n, k) == pytest.approx(expected, abs=1e-12)
    assert coverage(n, k + 1) < 0.95 <= coverage(n, k)  # the largest k that reaches the level
    x = np.arange(1.0, n + 1)[::-1]  # unsorted input
    assert median_interval(x) == (k, n + 1 - k, pytest.approx(expected), True)


def test_binomial_cdf_is_exact():
    assert binomial_cdf(-1, 5) == 0.0
    assert binomial_cdf(2, 4) == 11 / 16
    assert binomial_cdf(7, 7) == 1.0


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_too_few_samples_give_the_range_and_say_so(n: int):
    assert median_rank(n) is None
    iv = median_interval([3.0, 1.0, 5.0, 4.0, 2.0][:n])
    assert (iv.low, iv.high) == (min([3.0, 1.0, 5.0, 4.0, 2.0][:n]), max([3.0, 1.0, 5.0, 4.0, 2.0][:n]))
    assert iv.coverage == pytest.approx(1 - 2 ** (1 - n)) and not iv.reached


def test_level_changes_the_rank_and_bad_levels_are_refused():
    assert median_rank(5, 0.90) == 1 and median_interval(range(5), 0.90).reached
    assert median_rank(20, 0.99) == 4
    for level in (0.0, 1.0, 95):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            median_interval([1.0, 2.0], level)


def test_missing_values_are_left_out_and_an_empty_sample_has_no_interval():
    assert median_interval([np.nan, 2.0, 1.0, 3.0, 4.0, 5.0, 6.0, np.nan]) == (1.0, 6.0, pytest.approx(0.96875), True)
    iv = median_interval([np.nan])
    assert math.isnan(iv.low) and math.isnan(iv.high) and iv.coverage == 0.0 and not iv.reached


@pytest.mark.parametrize("n", [4, 7, 12, 25])
def test_median_interval_covers_as_often_as_it_says(n: int):
    """Exponential draws (skewed, median ln 2): the share of intervals holding the median is
    the stated coverage, within 5 binomial standard errors."""
    draws = np.random.default_rng(n).exponential(1.0, size=(4000, n))
    found = [median_interval(x) for x in draws]
    stated = found[0].coverage
    hit = np.mean([iv.low <= math.log(2) <= iv.high for iv in found])
    assert abs(hit - stated) < 5 * math.sqrt(stated * (1 - stated) / len(draws))


def test_ratio_reproduces_bonett_and_price():
    """The example of statpsych's ci.ratio.median2 (Bonett and Price 2020), group 1 over group 2."""
    group2 = [32, 39, 26, 35, 43, 27, 40, 37, 34, 29, 49, 42, 40]
    group1 = [36, 44, 47, 42, 49, 39, 46, 31, 33, 48]
    r = median_ratio(group2, group1)
    assert (r.ratio, r.low, r.high) == pytest.approx((43 / 37, 0.927667, 1.455933), abs=1e-6)
    assert median_ratio(group2, group1) == r  # closed form: the same numbers every time


@pytest.mark.parametrize("n, lowest, highest", [(3, 0.90, 0.99), (5, 0.93, 0.99), (10, 0.93, 0.99)])
def test_ratio_interval_covers_the_true_ratio(n: int, lowest: float, highest: float):
    """Log-normal times, B's median 1.3 x A's: the interval holds 1.3 about as often as it
    says (approximate: a little conservative from 5 a side)."""
    rng = np.random.default_rng(100 + n)
    a = rng.lognormal(0.0, 0.3, size=(2000, n))
    b = 1.3 * rng.lognormal(0.0, 0.3, size=(2000, n))
    found = [median_ratio(x, y) for x, y in zip(a, b)]
    hit = np.mean([r.low <= 1.3 <= r.high for r in found])
    assert lowest <= hit <= highest
    assert np.median([r.ratio for r in found]) == pytest.approx(1.3, rel=0.05)


def test_ratio_without_an_interval():
    one = median_ratio([2.0], [3.0, 3.1])
    assert one.ratio == pytest.approx(3.05 / 2.0) and math.isnan(one.low) and math.isnan(one.high)
    assert math.isnan(median_ratio([0.0, 1.0, 2.0], [1.0, 2.0]).low)  # log of 0: no interval
    assert math.isnan(median_ratio([], [1.0, 2.0]).ratio)
    tight = median_ratio([2.0, 2.0, 2.0], [3.0, 3.0, 3.0])  # no spread: the interval is the point
    assert tight.low == pytest.approx(1.5) and tight.high == pytest.approx(1.5)
