"""Distribution-free intervals for a job's repeated measurements: the median of one side, and
the ratio of two sides' medians.

A job trains a handful of times (its repeats); its times are skewed (a busy neighbour only
ever slows a run down) and nowhere near normal, so these intervals assume no shape: only
independent draws from one continuous distribution per side (ties rare). Standard library and
numpy only, like the report wing: it reads numbers, never the training code.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

#: the confidence level asked for when none is given
LEVEL = 0.95


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level {level!r}: a confidence level is strictly between 0 and 1 (e.g. 0.95)")


def _finite(samples: Iterable[float]) -> np.ndarray:
    """The samples as floats, sorted, missing values (NaN) left out."""
    x = np.asarray(list(samples), dtype=float)
    return np.sort(x[~np.isnan(x)])


def binomial_cdf(k: int, n: int) -> float:
    """P(Binomial(n, 1/2) <= k), exactly: from integer counts, so no rounding decides which
    order statistics an interval uses."""
    if k < 0:
        return 0.0
    return sum(math.comb(n, i) for i in range(min(k, n) + 1)) / 2**n


def coverage(n: int, k: int) -> float:
    """The probability that the k-th smallest and the k-th largest of n independent draws
    enclose the population median: the number of draws below it is Binomial(n, 1/2), and the
    interval misses only when k or fewer fall on one side, 1 - 2 P(Bin(n, 1/2) <= k - 1)."""
    return 1.0 - 2.0 * binomial_cdf(k - 1, n)


@functools.lru_cache(maxsize=None)
def median_rank(n: int, level: float = LEVEL) -> int | None:
    """The largest k whose order statistics (k, n + 1 - k) reach ``level``: the narrowest
    symmetric interval that does. None when even the whole range (k = 1, coverage
    1 - 2^(1-n)) falls short, as for n < 6 at 95%."""
    _check_level(level)
    best = None
    for k in range(1, (n + 1) // 2 + 1):  # coverage falls as k grows
        if coverage(n, k) < level:
            break
        best = k
    return best


class MedianInterval(NamedTuple):
    """An interval for a population median from the order statistics of a sample."""

    low: float
    high: float
    #: the probability that such an interval holds the median (exact, not the level asked for)
    coverage: float
    #: False: the sample is too small for the level asked for, and low - high is its whole
    #: range, whose coverage is below that level
    reached: bool


def median_interval(samples: Iterable[float], level: float = LEVEL) -> MedianInterval:
    """A distribution-free interval for the median of the population ``samples`` were drawn
    from (NaN left out): the order statistics of :func:`median_rank`, or the sample's min to
    max with its actual coverage (``reached`` False) when the sample is too small for
    ``level``. Empty: NaN bounds and coverage 0."""
    _check_level(level)
    x = _finite(samples)
    n = len(x)
    if n == 0:
        return MedianInterval(math.nan, math.nan, 0.0, False)
    k = median_rank(n, level)
    rank = k or 1
    return MedianInterval(float(x[rank - 1]), float(x[n - rank]), coverage(n, rank), k is not None)


class RatioInterval(NamedTuple):
    """The ratio of two medians, median(b) / median(a), with an interval at ``level``."""

    ratio: float
    low: float
    high: float
    level: float


def _log_median_se(x: np.ndarray) -> float:
    """The standard error of log(median) of the sorted positive sample ``x`` (Bonett and Price):
    the spread of the log order statistics (a, n + 1 - a), a = round(n/2 - sqrt(n)) but at
    least 1, divided by twice the normal quantile of their exact binomial coverage. Needs
    n >= 2 (NaN otherwise)."""
    n = len(x)
    if n < 2:
        return math.nan
    a = max(1, round(n / 2 - math.sqrt(n)))
    z = NormalDist().inv_cdf(1.0 - binomial_cdf(a - 1, n))
    return (math.log(x[n - a]) - math.log(x[a - 1])) / (2.0 * z)


def median_ratio(a: Iterable[float], b: Iterable[float], level: float = LEVEL) -> RatioInterval:
    """median(b) / median(a) with the Bonett-Price (2020) distribution-free interval:
    exp(log m_b - log m_a +- z sqrt(se_a^2 + se_b^2)), se from :func:`_log_median_se`, z the
    normal quantile of ``level``.

    Chosen over a bootstrap because a job has few repeats: a bootstrap median of 3-5 values
    takes only a few distinct values and its percentile interval covers far less than it
    says; this one is closed-form (deterministic, no seed to fix) and was built for small
    samples. Assumes two independent samples, each of independent draws from a continuous
    distribution of positive values (times), ties rare. The normal approximation of the log
    median makes the coverage approximate: a little above ``level`` from about 5 values a
    side, below it with 2 or 3 (tests/test_stats.py simulates both).
    Bounds are NaN with fewer than 2 values on a side or a value <= 0; the ratio itself is
    NaN when a median is not positive.
    """
    _check_level(level)
    xa, xb = _finite(a), _finite(b)
    ma = float(np.median(xa)) if len(xa) else math.nan
    mb = float(np.median(xb)) if len(xb) else math.nan
    ratio = mb / ma if ma > 0 and mb > 0 else math.nan
    if math.isnan(ratio) or xa[0] <= 0 or xb[0] <= 0:
        return RatioInterval(ratio, math.nan, math.nan, level)
    se = math.hypot(_log_median_se(xa), _log_median_se(xb))
    half = NormalDist().inv_cdf(0.5 + level / 2) * se
    return RatioInterval(ratio, ratio * math.exp(-half), ratio * math.exp(half), level)
