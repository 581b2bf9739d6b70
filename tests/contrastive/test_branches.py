"""The four-branch network: each architecture switch changes the parameter count as the
paper's description says it should, shapes, dropout, and ImageNet-free construction."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from contrastive.branches import BranchOptions, FourBranchNet  # noqa: E402
from spare3d_bench.models import TaskSpec, build_model  # noqa: E402

VGG13 = [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
H = 16  # a narrow head keeps the numbers small


def _vgg13_params(in_channels: int, width: float = 1.0) -> int:
    """Weights and biases of VGG-13's convolutions (3 x 3) at a channel multiplier."""
    total, c = 0, in_channels
    for v in VGG13:
        if v != "M":
            out = round(v * width)
            total += 9 * c * out + out
            c = out
    return total


def _count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def _net(size=32, outputs=1, **switches) -> FourBranchNet:
    return FourBranchNet("vgg13", TaskSpec("t2i", 3, 8, size), BranchOptions(hidden=H, **switches), outputs)


def _head3(f: int, outputs: int = 1) -> int:
    """views FC (3F -> H), isometric FC (F -> H), joint FC (2H -> H), output (H -> outputs)."""
    return 3 * f * H + H + f * H + H + 2 * H * H + H + H * outputs + outputs


@pytest.mark.parametrize("share", [False, True])
def test_weight_sharing_keeps_one_encoder_instead_of_four(share):
    f = 512 * 36  # VGG maps pooled to 6 x 6
    encoders = 1 if share else 4
    assert _count(_net(share=share)) == encoders * _vgg13_params(3) + _head3(f)


def test_without_adaptive_pooling_the_head_takes_the_map_as_it_is():
    # at 64 px VGG leaves 2 x 2 maps: 2,048 features instead of the 18,432 of the 6 x 6 pool
    assert _count(_net(size=64, pool=False)) == 4 * _vgg13_params(3) + _head3(512 * 4)
    assert _count(_net(size=64, pool=True)) == 4 * _vgg13_params(3) + _head3(512 * 36)


def test_one_fc_layer_joins_the_four_features_straight_to_the_output():
    f = 512 * 36
    assert _count(_net(fc=1)) == 4 * _vgg13_params(3) + 4 * f + 1


@pytest.mark.parametrize("width, last", [(0.75, 384), (0.875, 448), (1.0, 512), (2.0, 1024)])
def test_the_width_multiplier_gives_the_papers_last_stage_channels(width, last):
    net = _net(width=width)
    assert net.enc_iso.out_features == last * 36
    assert _count(net) == 4 * _vgg13_params(3, width) + _head3(last * 36)


def test_one_branch_stacks_the_four_drawings_as_twelve_channels():
    f = 512 * 36
    head = f * H + H + H * H + H + H + 1
    assert _count(_net(branches=1)) == _vgg13_params(12) + head


def test_pose_outputs_and_shapes():
    net = _net(outputs=8).eval()
    views, isos = torch.rand(2, 3, 3, 32, 32), torch.rand(2, 5, 3, 32, 32)
    assert net(views, isos).shape == (2, 5, 8)
    assert _count(net) == 4 * _vgg13_params(3) + _head3(512 * 36, outputs=8)


@pytest.mark.parametrize("switches, encoders, head", [
    ({}, 1, 512 * 36 * H + H + H * H + H + H * 8 + 8),  # isometric FC, joint FC (H -> H), output
    ({"fc": 1}, 1, 512 * 36 * 8 + 8),
    ({"share": True}, 1, 512 * 36 * H + H + H * H + H + H * 8 + 8),
    ({"branches": 1}, 1, 512 * 36 * H + H + H * H + H + H * 8 + 8),  # one 3-channel encoder: the isometric's
])
def test_without_views_the_network_reads_the_isometric_alone(switches, encoders, head):
    net = _net(outputs=8, views=False, dropout=False, **switches).eval()
    assert _count(net) == encoders * _vgg13_params(3) + head
    views, isos = torch.rand(2, 3, 3, 32, 32), torch.rand(2, 4, 3, 32, 32)
    out = net(views, isos)
    assert out.shape == (2, 4, 8)
    assert torch.equal(net(torch.rand_like(views), isos), out)  # the views change nothing
    assert torch.equal(net(views, isos[:, [1, 0, 3, 2]]), out[:, [1, 0, 3, 2]])  # each isometric its own logits
    with pytest.raises(ValueError, match="needs views=yes"):
        _net(head="cosine", views=False)


def test_a_shared_encoder_reads_the_views_before_the_isometric():
    """Batch-norm statistics follow the order of the calls, so the order is part of the network."""
    import copy

    torch.manual_seed(0)
    net = FourBranchNet("resnet18", TaskSpec("t2i", 3, 8, 32), BranchOptions(hidden=H, share=True), 1).train()
    twin = copy.deepcopy(net.shared)
    views, isos = torch.rand(2, 3, 3, 32, 32), torch.rand(2, 2, 3, 32, 32)
    net(views, isos)
    twin(views.flatten(0, 1))
    twin(isos.flatten(0, 1))
    assert all(torch.equal(a, b) for a, b in zip(net.shared.buffers(), twin.buffers()))


def test_dropout_only_makes_training_passes_random():
    views, isos = torch.rand(2, 3, 3, 32, 32), torch.rand(2, 2, 3, 32, 32)
    for dropout in (True, False):
        torch.manual_seed(0)
        net = _net(dropout=dropout).train()
        a, b = net(views, isos), net(views, isos)
        assert torch.equal(a, b) != dropout
        assert _count(net) == 4 * _vgg13_params(3) + _head3(512 * 36)  # dropout has no weights


def test_the_cosine_head_scores_by_embedding_agreement():
    net = _net(head="cosine", temperature=0.5).eval()
    views = torch.rand(3, 3, 3, 32, 32)
    isos = torch.rand(3, 4, 3, 32, 32)
    scores = net(views, isos)[..., 0]
    za, zb = net.embed(views, isos.flatten(0, 1))
    assert torch.allclose(scores, (zb.view(3, 4, -1) * za[:, None]).sum(-1) / 0.5, atol=1e-5)
    assert scores.abs().max() <= 1 / 0.5 + 1e-4
    with pytest.raises(ValueError, match="cosine head compares"):
        _net(head="cosine", fc=1)


def test_models_check_their_switches_in_one_line():
    spec = TaskSpec("t2i", 3, 8, 32)
    with pytest.raises(ValueError, match="--arch of vgg13-compare: unknown option 'wdith'"):
        build_model("vgg13-compare", spec, arch={"wdith": "2"})
    with pytest.raises(ValueError, match="fc: 2 is not one of 1, 3"):
        build_model("vgg13-compare", spec, arch={"fc": "2"})
    with pytest.raises(ValueError, match="vgg13-early has no architecture options"):
        build_model("vgg13-early", spec, arch={"share": "1"})
    with pytest.raises(ValueError, match="unknown model 'bagnet33-compare'"):
        build_model("bagnet33-compare", spec)
