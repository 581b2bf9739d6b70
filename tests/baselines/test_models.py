"""The SPARE3D baselines: losses against hand-computed values, shapes, BagNet's patches,
pretrained-weight loading, and the entry-point registry."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from spare3d_bench.backbones import make_backbone  # noqa: E402
from spare3d_bench.models import TaskSpec, build_model, model_names  # noqa: E402


def _inputs(b=2, k=4, c=3, s=32):
    g = torch.Generator().manual_seed(0)
    return torch.rand(b, 3, c, s, s, generator=g), torch.rand(b, k, c, s, s, generator=g), torch.tensor([1, 8])


def test_early_fusion_t2i_loss_is_bce_over_the_four_logits():
    model = build_model("resnet18-early", TaskSpec("t2i"))
    scores = torch.tensor([[2.0, -1.0, 0.5, 0.0]])
    expected = -(math.log(1 / (1 + math.exp(-2.0))) + math.log(1 - 1 / (1 + math.exp(1.0))) + math.log(1 - 1 / (1 + math.exp(-0.5))) + math.log(0.5)) / 4
    assert model.loss(scores, torch.tensor([0])).item() == pytest.approx(expected, rel=1e-6)


def test_late_fusion_margin_ranking_loss():
    model = build_model("resnet18-late", TaskSpec("t2i"))
    distances = torch.tensor([[1.0, 3.0, 0.5, 4.0], [2.0, 2.0, 2.0, 0.0]])
    # question 0: answer 0 at distance 1; margins 2: max(0, 1-3+2)=0, max(0, 1-0.5+2)=2.5, max(0, 1-4+2)=0
    # question 1: answer 3 at distance 0: max(0, 0-2+2)=0 three times
    assert model.loss(-distances, torch.tensor([0, 3])).item() == pytest.approx(2.5 / 6)


def test_i2p_loss_is_cross_entropy():
    model = build_model("resnet18-early", TaskSpec("i2p"))
    scores = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    expected = -(3.0 - math.log(sum(math.exp(x) for x in (1.0, 2.0, 3.0, 4.0))))
    assert model.loss(scores, torch.tensor([2])).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "name,task,channels,k,n_scores",
    [
        ("resnet18-early", "t2i", 3, 4, 4),
        ("resnet18-early", "t2i", 1, 4, 4),
        ("resnet18-late", "t2i", 3, 4, 4),
        ("resnet18-early", "i2p", 3, 1, 4),
        ("resnet18-early", "p2i", 3, 4, 4),
        ("bagnet33-early", "t2i", 1, 4, 4),
    ],
)
def test_scores_per_question(name, task, channels, k, n_scores):
    torch.manual_seed(0)
    model = build_model(name, TaskSpec(task, channels)).eval()
    views, candidates, pose = _inputs(k=k, c=channels, s=48)
    scores = model(views, candidates, pose)
    assert scores.shape == (2, n_scores) and torch.isfinite(scores).all()


def test_p2i_scores_depend_on_the_queried_pose_and_extended_i2p_has_20_classes():
    torch.manual_seed(0)
    model = build_model("resnet18-early", TaskSpec("p2i")).eval()
    views, candidates, _ = _inputs()
    with torch.no_grad():
        a = model(views, candidates, torch.tensor([1, 1]))
        b = model(views, candidates, torch.tensor([5, 5]))
    assert not torch.allclose(a, b)
    assert TaskSpec("i2p", poses=20).n_scores == 20


def test_models_refuse_tasks_they_do_not_do():
    with pytest.raises(ValueError, match="does not do i2p"):
        build_model("vgg16-late", TaskSpec("i2p"))
    with pytest.raises(ValueError, match="unknown model"):
        build_model("alexnet-early", TaskSpec("t2i"))
    with pytest.raises(ValueError, match="channels"):
        TaskSpec("t2i", channels=2)


def test_entry_points_register_every_backbone_fusion_pair():
    names = model_names()
    assert {"vgg16-early", "resnet50-early", "resnet18-early", "bagnet33-early", "vgg16-late", "resnet18-late"} <= set(names)
    assert "resnet18-late" not in model_names("i2p")


def test_bagnet33_sees_33_pixel_patches():
    torch.manual_seed(0)
    model = make_backbone("bagnet33", 3, 5).eval()
    x = torch.rand(1, 3, 96, 96, requires_grad=True)
    patches = model.patch_logits(x)
    assert patches.shape == (1, 5, 8, 8)
    patches[0, 0, 5, 5].backward()
    rows, cols = (x.grad[0].abs().sum(0) > 0).nonzero(as_tuple=True)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (40, 72, 40, 72)  # 33 px at stride 8
    assert torch.allclose(model(x.detach()), patches.detach().mean(dim=(2, 3)), atol=1e-5)


def test_local_pretrained_weights_are_tiled_over_input_channels(tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(1)
    source = resnet18(weights=None)
    torch.save(source.state_dict(), tmp_path / "r18.pt")
    model = make_backbone("resnet18", 12, 1, weights=tmp_path / "r18.pt")
    w, w0 = model.conv1.weight, source.conv1.weight
    assert w.shape == (64, 12, 7, 7)
    assert torch.allclose(w[:, 3:6], w0 / 4) and torch.allclose(w[:, 9:12], w0 / 4)
    assert torch.equal(model.layer3[0].conv1.weight, source.layer3[0].conv1.weight)
    assert model.fc.out_features == 1


def test_pretrained_filters_see_grey_images_as_rgb_images_with_equal_channels(tmp_path):
    """--channels 1: each grey image goes through the sum of the RGB filters (its response as
    an RGB image with R = G = B), averaged over the stacked images. Three grey views used to
    meet the raw R, G and B filters, four the R, G, B, R filters."""
    from torchvision.models import resnet18

    torch.manual_seed(2)
    source = resnet18(weights=None)
    torch.save(source.state_dict(), tmp_path / "r18.pt")
    grey = torch.rand(2, 1, 32, 32)
    as_rgb = torch.nn.functional.conv2d(grey.expand(-1, 3, -1, -1), source.conv1.weight, stride=2, padding=3)
    for images in (1, 3, 4):  # late fusion's candidate and views nets, early fusion
        conv = make_backbone("resnet18", images, 1, weights=tmp_path / "r18.pt", image_channels=1).conv1
        same = conv(grey.expand(-1, images, -1, -1))  # the same drawing in every slot
        assert torch.allclose(same, as_rgb, atol=1e-5)
    with pytest.raises(ValueError, match="not a stack of 3-channel images"):
        make_backbone("resnet18", 4, 1, image_channels=3)


def test_a_grey_runs_filters_answer_an_rgb_drawing_as_they_answered_it_in_grey(tmp_path):
    """A first convolution trained on grey drawings (--channels 1), reused on RGB ones: each
    channel gets the filter times its luma weight, so an RGB image (red hidden lines
    included) gets the response its grey version got, for one image and for early fusion's
    four stacked images. The filter used to be copied whole into every channel (three times
    the response), and four stacked images did not fit at all."""
    from torchvision.models import resnet18

    from spare3d_bench.backbones import make_feature_encoder
    from spare3d_bench.inputs import LUMA

    torch.manual_seed(3)
    source = resnet18(weights=None)
    source.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)  # as a grey run's encoder stores it
    state = source.state_dict()
    rgb = torch.rand(2, 3, 32, 32)
    grey = (rgb * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    in_grey = source.conv1(grey)
    for images in (1, 4):  # late fusion's candidate net, early fusion
        conv = make_backbone("resnet18", 3 * images, 1, weights=state).conv1
        assert torch.allclose(conv(rgb.repeat(1, images, 1, 1)), in_grey, atol=1e-5)
    encoder = make_feature_encoder("resnet18", 3, weights=state)  # an RGB student of a grey run
    assert torch.allclose(encoder.conv1(rgb), in_grey, atol=1e-5)
    assert torch.equal(make_feature_encoder("resnet18", 1, weights=state).conv1.weight, source.conv1.weight)


def test_a_mobilenet_embedding_keeps_pretrained_stem_filters_across_grey_and_rgb():
    """MobileNet-v3 weights of the other channel count are adapted, not replaced by a random
    stem; weights of another network are one line."""
    from spare3d_bench.backbones import make_feature_encoder
    from spare3d_bench.inputs import LUMA

    torch.manual_seed(4)
    rgb_net = make_feature_encoder("mobilenet_v3_large", 3)
    grey = make_feature_encoder("mobilenet_v3_large", 1, weights=rgb_net.state_dict())
    assert torch.allclose(grey.features[0][0].weight, rgb_net.features[0][0].weight.sum(1, keepdim=True))
    back = make_feature_encoder("mobilenet_v3_large", 3, weights=grey.state_dict())
    x = torch.rand(1, 3, 16, 16)
    luma = (x * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    assert torch.allclose(back.features[0][0](x), grey.features[0][0](luma), atol=1e-5)
    with pytest.raises(ValueError, match="not weights for mobilenet_v3_large"):
        make_feature_encoder("mobilenet_v3_large", 3, weights=make_feature_encoder("efficientnet_b0").state_dict())


class _Hostile:
    def __reduce__(self):
        return (os.system, ("touch hacked",))


@pytest.mark.parametrize("content", [b"not a checkpoint", b"hi\n", "hostile", "truncated", None])
def test_unreadable_weights_and_checkpoints_are_one_line(tmp_path, content):
    """Garbage, a pickle that would run code, a cut-off torch file and a missing file all
    give one ValueError naming the file; nothing is executed."""
    import pickle

    from spare3d_bench.train import load_checkpoint

    bad = tmp_path / "bad.pt"
    if content == "hostile":
        bad.write_bytes(pickle.dumps(_Hostile()))
    elif content == "truncated":
        torch.save({"w": torch.zeros(1000)}, bad)
        bad.write_bytes(bad.read_bytes()[:2000])
    elif content is not None:
        bad.write_bytes(content)
    with pytest.raises(ValueError, match=r"bad.pt: cannot read the pretrained weights") as e:
        make_backbone("resnet18", 3, 1, weights=bad)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"bad.pt: cannot read the checkpoint"):
        load_checkpoint(bad)
    assert not (tmp_path / "hacked").exists() and not Path("hacked").exists()


def test_wrong_backbone_weights(tmp_path):
    from torchvision.models import resnet18

    torch.save(resnet18(weights=None).state_dict(), tmp_path / "r18.pt")
    with pytest.raises(ValueError, match="not weights for this backbone"):
        make_backbone("vgg16", 3, 1, weights=tmp_path / "r18.pt")
