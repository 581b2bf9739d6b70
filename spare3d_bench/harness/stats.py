"""Statistics of accuracies: intervals for one run and across seeds, and paired tests
between two models answering the same questions. scipy does the distributions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..evaluate import wilson_interval  # noqa: F401 - one run's interval, importable from here


@dataclass(frozen=True)
class MeanInterval:
    """Mean of `n` values with its two-sided t interval (`low`, `high`; equal to the mean
    when n is 1: one seed says nothing about the spread)."""

    mean: float
    low: float
    high: float
    n: int


def t_interval(values, confidence: float = 0.95) -> MeanInterval:
    """Mean across seeds with the Student-t interval of the mean."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values to average")
    mean = float(x.mean())
    if x.size == 1:
        return MeanInterval(mean, mean, mean, 1)
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return MeanInterval(mean, mean - half, mean + half, int(x.size))


@dataclass(frozen=True)
class PairedTest:
    """Two models on the same questions: accuracy difference (a - b), questions only a
    got right (`only_a`) and only b (`only_b`), and the two-sided p-value."""

    difference: float
    only_a: int
    only_b: int
    p_value: float
    test: str


def _paired(correct_a, correct_b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired answers need two equal, non-empty lists (got {a.shape} and {b.shape})")
    return a, b


def mcnemar_exact(correct_a, correct_b) -> PairedTest:
    """Exact McNemar test: of the questions exactly one model answered right, is the split
    between them further from even than chance allows (two-sided binomial test, p = 1/2)?"""
    from scipy import stats

    a, b = _paired(correct_a, correct_b)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p = 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return PairedTest(float(a.mean() - b.mean()), only_a, only_b, p, "exact McNemar")


def paired_bootstrap(correct_a, correct_b, resamples: int = 10000, seed: int = 0) -> PairedTest:
    """Paired bootstrap of the accuracy difference: questions resampled with replacement,
    both models' answers together; p is twice the share of resampled differences on the
    far side of zero (at least 1/resamples)."""
    a, b = _paired(correct_a, correct_b)
    diff = a.astype(np.float64) - b.astype(np.float64)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    observed = float(diff.mean())
    tail = np.mean(means <= 0) if observed > 0 else np.mean(means >= 0) if observed < 0 else 0.5
    p = min(1.0, max(2 * float(tail), 1.0 / resamples))
    return PairedTest(observed, int((a & ~b).sum()), int((~a & b).sum()), p, "paired bootstrap")
