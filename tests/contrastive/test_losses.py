"""Each loss against a hand-written reference on small tensors."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from contrastive.losses import NTXentLoss  # noqa: E402


def _ntxent_by_hand(a, b, tau: float) -> float:
    """SimCLR's loss written out: for each of the 2N embeddings, -log of its twin's share
    of exp(cos / tau) over every other embedding; the mean over the 2N."""
    z = [[x / math.sqrt(sum(y * y for y in v)) for x in v] for v in a.tolist() + b.tolist()]
    n = len(a)
    total = 0.0
    for i in range(2 * n):
        twin = (i + n) % (2 * n)
        sims = {j: sum(x * y for x, y in zip(z[i], z[j])) / tau for j in range(2 * n) if j != i}
        total += -sims[twin] + math.log(sum(math.exp(s) for s in sims.values()))
    return total / (2 * n)


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_ntxent_matches_the_hand_computed_value(tau):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    assert NTXentLoss(tau)(a, b).item() == pytest.approx(_ntxent_by_hand(a, b, tau), rel=1e-5)


def test_ntxent_on_a_two_pair_example_worked_by_hand():
    # a = (e1, e2), b = (e1, e2): each embedding's twin has cosine 1, the others 0, at tau 1:
    # -log(e / (e + 1 + 1)) for every row.
    e = torch.eye(2)
    assert NTXentLoss(1.0)(e, e).item() == pytest.approx(-math.log(math.e / (math.e + 2)), rel=1e-6)


def test_ntxent_refuses_a_zero_temperature_and_bad_shapes():
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        NTXentLoss(0)
    with pytest.raises(ValueError, match="expected two"):
        NTXentLoss(0.1)(torch.zeros(3, 4), torch.zeros(2, 4))
