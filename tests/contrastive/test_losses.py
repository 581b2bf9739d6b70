"""Each loss against a hand-written reference on small tensors."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from contrastive.losses import DDMLoss, DistillLoss, InfoNCELoss, NTXentLoss  # noqa: E402


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


def _unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def _dot(u, v):
    return sum(x * y for x, y in zip(u, v))


def _infonce_by_hand(q, k, queue, tau):
    total = 0.0
    for qi, ki in zip(q.tolist(), k.tolist()):
        qi, ki = _unit(qi), _unit(ki)
        pos = math.exp(_dot(qi, ki) / tau)
        neg = sum(math.exp(_dot(qi, _unit(n)) / tau) for n in queue.tolist())
        total += -math.log(pos / (pos + neg))
    return total / len(q)


@pytest.mark.parametrize("tau", [0.07, 0.2, 1.0])
def test_infonce_matches_the_hand_computed_value(tau):
    g = torch.Generator().manual_seed(1)
    q, k, queue = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g), torch.randn(9, 6, generator=g)
    assert InfoNCELoss(tau)(q, k, queue).item() == pytest.approx(_infonce_by_hand(q, k, queue, tau), rel=1e-5)


def test_infonce_is_low_when_the_key_is_the_query_and_the_queue_is_orthogonal():
    # q = k = e1, queue = {e2, e3} at T = 1: -log(e / (e + 2)).
    e = torch.eye(3)
    value = InfoNCELoss(1.0)(e[:1], e[:1], e[1:])
    assert value.item() == pytest.approx(-math.log(math.e / (math.e + 2)), rel=1e-6)


def test_infonce_leaves_excluded_keys_out_of_each_querys_negatives():
    # Query 0 is not contrasted with queued keys 1 and 4, query 2 not with key 0: the
    # hand-computed loss of each query over its own remaining negatives.
    g = torch.Generator().manual_seed(3)
    q, k, queue = torch.randn(3, 6, generator=g), torch.randn(3, 6, generator=g), torch.randn(5, 6, generator=g)
    exclude = torch.zeros(3, 5, dtype=torch.bool)
    exclude[0, [1, 4]] = exclude[2, 0] = True
    keep = [[j for j in range(5) if not exclude[i, j]] for i in range(3)]
    expected = sum(_infonce_by_hand(q[i : i + 1], k[i : i + 1], queue[keep[i]], 0.2) for i in range(3)) / 3
    assert InfoNCELoss(0.2)(q, k, queue, exclude).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="exclusion mask"):
        InfoNCELoss(0.2)(q, k, queue, exclude[:, :4])


def _ddm_by_hand(weak, strong, tau):
    total = 0.0
    for w, s in zip(weak.tolist(), strong.tolist()):
        zw = sum(math.exp(x / tau) for x in w)
        zs = sum(math.exp(x / tau) for x in s)
        total += -sum(math.exp(a / tau) / zw * math.log(math.exp(b / tau) / zs) for a, b in zip(w, s))
    return total / len(weak)


@pytest.mark.parametrize("tau", [0.2, 0.5])
def test_ddm_matches_the_hand_computed_value_and_takes_no_gradient_through_the_weak_view(tau):
    g = torch.Generator().manual_seed(2)
    weak = torch.randn(3, 5, generator=g).requires_grad_()
    strong = torch.randn(3, 5, generator=g).requires_grad_()
    value = DDMLoss(tau)(weak, strong)
    assert value.item() == pytest.approx(_ddm_by_hand(weak, strong, tau), rel=1e-5)
    value.backward()
    assert weak.grad is None and strong.grad.abs().sum() > 0


def test_ddm_is_stable_where_a_softmax_underflows():
    # Similarities 1 apart at T = 0.001: a softmax rounds the small ones to 0, and log(0)
    # would make the loss infinite; log_softmax keeps it finite.
    weak = torch.tensor([[1.0, 0.0, 0.0]])
    strong = torch.tensor([[0.0, 1.0, 0.0]])
    value = DDMLoss(1e-3)(weak, strong)
    assert math.isfinite(value.item()) and value.item() == pytest.approx(1000.0, rel=1e-4)


def test_ddm_over_rows_with_excluded_keys_equals_ddm_without_those_columns():
    # An excluded key is -inf in both rows (the same queue and mask): 0 * -inf must not
    # make the loss or its gradient NaN; the loss is that of the rows without the column.
    g = torch.Generator().manual_seed(4)
    weak, strong = torch.randn(2, 5, generator=g), torch.randn(2, 5, generator=g).requires_grad_()
    cut = torch.tensor([[False, False, True, False, False], [False, False, False, False, True]])
    value = DDMLoss(0.2)(weak.masked_fill(cut, float("-inf")), strong.masked_fill(cut, float("-inf")))
    expected = sum(_ddm_by_hand(weak[i : i + 1, ~cut[i]], strong[i : i + 1, ~cut[i]], 0.2) for i in range(2)) / 2
    assert value.item() == pytest.approx(expected, rel=1e-5)
    value.backward()
    assert torch.isfinite(strong.grad).all() and (strong.grad[cut] == 0).all()


def test_distill_matches_the_hand_computed_value_and_never_moves_the_teacher():
    student = torch.tensor([[3.0, 4.0], [1.0, 0.0]], requires_grad=True)
    teacher = torch.tensor([[4.0, 3.0], [0.0, 2.0]], requires_grad=True)
    # Row 1: (0.6, 0.8) - (0.8, 0.6) -> 0.04 + 0.04; row 2: (1, 0) - (0, 1) -> 2; mean 1.04.
    value = DistillLoss()(student, teacher)
    assert value.item() == pytest.approx(1.04, rel=1e-6)
    value.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0


def test_distill_names_a_teacher_of_another_embedding_size():
    with pytest.raises(ValueError, match=r"the student's embeddings are \(2, 128\), the teacher's \(2, 256\)"):
        DistillLoss()(torch.zeros(2, 128), torch.zeros(2, 256))
