"""GPU-style augmentation of line drawings: per sample, deterministic by generator, lines
kept black on white, the uint8 batch left as it was."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")

from contrastive.augment import AugmentOptions, LineAugment, jitter_strokes  # noqa: E402


def _drawings(n: int = 8, size: int = 48) -> torch.Tensor:
    """n copies of a cross of 2 px black lines on white."""
    x = torch.ones(n, 3, size, size)
    x[:, :, size // 2 - 1 : size // 2 + 1, 8:-8] = 0
    x[:, :, 8:-8, size // 2 - 1 : size // 2 + 1] = 0
    return x


def test_each_sample_of_a_batch_gets_its_own_view():
    out = LineAugment()(_drawings(), torch.Generator().manual_seed(0))
    distinct = {tuple(out[i].flatten().round(decimals=3).tolist()) for i in range(len(out))}
    assert len(distinct) == len(out)


def test_the_view_is_a_function_of_the_generator_only():
    aug, x = LineAugment(), _drawings()
    torch.manual_seed(123)  # the global generator must not matter
    a = aug(x, torch.Generator().manual_seed(5))
    torch.manual_seed(456)
    b = aug(x, torch.Generator().manual_seed(5))
    c = aug(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_lines_stay_black_on_white():
    x = _drawings(32)
    out = LineAugment(AugmentOptions(noise=0.0))(x, torch.Generator().manual_seed(1))
    assert out.min() >= 0 and out.max() <= 1
    corners = torch.stack([out[..., 0, 0], out[..., 0, -1], out[..., -1, 0], out[..., -1, -1]])
    assert (corners > 0.95).all()  # what a crop or rotation uncovers is paper, not ink
    ink, before = (1 - out).mean(dim=(1, 2, 3)), (1 - x).mean(dim=(1, 2, 3))
    assert (ink > 0.15 * before).all() and (ink < 4 * before).all()  # lines still there; the page not black


def test_the_uint8_batch_is_left_as_it_was(poses_data):
    from contrastive.ssl import DrawingMethod, EmbeddingModel
    from spare3d_bench.data import drawing_pool, open_split
    from spare3d_bench.inputs import InputOptions
    from spare3d_bench.models import TaskSpec

    spec = TaskSpec("t2i", size=32)
    method = DrawingMethod(spec, EmbeddingModel("resnet18", spec), DrawingMethod.Options(), InputOptions())
    pool = drawing_pool(open_split(poses_data / "train"))
    batch = pool.gather(torch.arange(6).numpy())
    before = batch["views"].clone()
    a, b, labels, ids = method.prepare(batch, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert torch.equal(batch["views"], before) and batch["views"].dtype == torch.uint8
    assert a.shape == b.shape == (6, 3, 32, 32) and not torch.equal(a, b)


def test_stroke_jitter_thickens_or_thins_each_sample_by_one_pixel():
    ink = 1 - _drawings(3)
    out = jitter_strokes(ink, torch.tensor([1.0, -1.0, 0.0]))
    area = out.sum(dim=(1, 2, 3)) / ink.sum(dim=(1, 2, 3))
    # 2 px lines: 4 px wide when thicker, half their ink when thinner (erosion would remove them)
    assert area[0] > 1.5 and 0.45 < area[1] < 0.55 and torch.equal(out[2], ink[2])


def test_thinner_takes_a_pixel_of_ink_off_a_wide_line_and_keeps_its_core():
    ink = torch.zeros(1, 1, 16, 16)
    ink[:, :, 6:11, 2:14] = 1  # a 5 px line
    out = jitter_strokes(ink, torch.tensor([-1.0]))[0, 0, :, 8]  # one column across it
    assert out[7:10].tolist() == [1, 1, 1] and out[6] == out[10] == 0.5 and out[:6].sum() == out[11:].sum() == 0


def test_stroke_jitter_is_drawn_per_sample_with_its_probability():
    x = _drawings(64)
    opts = AugmentOptions(crop=1.0, rotate=0.0, translate=0.0, stroke=1.0, dropout=0.0, blur=0.0, noise=0.0)
    out = LineAugment(opts)(x, torch.Generator().manual_seed(0))
    area = (1 - out).sum(dim=(1, 2, 3)) / (1 - x).sum(dim=(1, 2, 3))
    thick, thin = area > 1.5, (area > 0.45) & (area < 0.55)
    assert (thick | thin).all() and 16 < thick.sum() < 48
    off = LineAugment(AugmentOptions(crop=1.0, rotate=0.0, translate=0.0, stroke=0.0, dropout=0.0, blur=0.0,
                                         noise=0.0))
    assert torch.equal(off(x, torch.Generator().manual_seed(0)), x)  # nothing drawn: the drawing itself


def test_the_crop_is_a_zoom_per_axis_that_keeps_at_least_crop_of_the_drawing():
    """crop 0.25: each axis is magnified by 1 to 2 (1/sqrt(0.25)), drawn per sample and per
    axis, so a centred square of side 16 becomes a rectangle 16-32 px on each side."""
    x = torch.ones(64, 1, 64, 64)
    x[:, :, 24:40, 24:40] = 0
    opts = AugmentOptions(crop=0.25, rotate=0.0, translate=0.0, stroke=0.0, dropout=0.0, blur=0.0, noise=0.0)
    ink = (LineAugment(opts)(x, torch.Generator().manual_seed(0)) < 0.5)[:, 0]
    width = ink.any(dim=1).sum(dim=1).float()
    height = ink.any(dim=2).sum(dim=1).float()
    assert (width >= 15).all() and (width <= 33).all() and (height >= 15).all() and (height <= 33).all()
    assert width.std() > 2 and height.std() > 2 and ((width - height).abs() > 2).any()  # per sample, per axis


def _square(left: int = 24, n: int = 64) -> torch.Tensor:
    """n drawings of a black 16 px square, rows 24-39, columns from `left`."""
    x = torch.ones(n, 1, 64, 64)
    x[:, :, 24:40, left : left + 16] = 0
    return x


def _still(**change) -> AugmentOptions:
    return AugmentOptions(**{**dict(crop=1.0, rotate=0.0, translate=0.0, stroke=0.0, dropout=0.0, blur=0.0,
                                    noise=0.0), **change})


def test_the_shift_moves_each_drawing_by_at_most_translate_of_the_side():
    out = LineAugment(_still(translate=0.25))(_square(), torch.Generator().manual_seed(0)) < 0.5
    ys, xs = torch.arange(64.0)[:, None], torch.arange(64.0)[None, :]
    ink = out[:, 0].float()
    cy, cx = (ink * ys).sum((1, 2)) / ink.sum((1, 2)), (ink * xs).sum((1, 2)) / ink.sum((1, 2))
    dy, dx = cy - 31.5, cx - 31.5
    assert (dy.abs() <= 16.5).all() and (dx.abs() <= 16.5).all() and dx.std() > 4 and dy.std() > 4
    assert torch.allclose(ink.sum((1, 2)), torch.full((64,), 256.0), atol=40)  # moved, not resized


def test_flips_mirror_about_half_the_drawings_when_asked_and_none_by_default():
    x = _square(left=12)  # left of centre: asymmetric
    left = lambda out: ((out < 0.5)[:, 0, :, :32].sum((1, 2)) > 128)  # noqa: E731
    flipped = ~left(LineAugment(_still(flip=True))(x, torch.Generator().manual_seed(0)))
    assert 16 < flipped.sum() < 48
    assert left(LineAugment(_still())(x, torch.Generator().manual_seed(0))).all()


def test_a_sample_s_view_does_not_depend_on_the_other_drawings_of_its_batch():
    """Parameters are drawn per position, operations masked per sample: changing one
    drawing changes only its own view."""
    x = _drawings(6)
    y = x.clone()
    y[2] = 1.0  # a blank page in place of the third drawing
    a = LineAugment()(x, torch.Generator().manual_seed(3))
    b = LineAugment()(y, torch.Generator().manual_seed(3))
    same = [i for i in range(6) if torch.equal(a[i], b[i])]
    assert same == [0, 1, 3, 4, 5]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_weak_views_never_wait_for_the_device():
    x, aug = _drawings(8).cuda(), LineAugment()
    aug(x, torch.Generator().manual_seed(0))  # kernels loaded
    torch.cuda.set_sync_debug_mode("error")
    try:
        aug(x, torch.Generator().manual_seed(1))
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_clsa_strong_views_without_geometry_keep_axis_aligned_lines_axis_aligned():
    from contrastive.augment import strong_set

    ink = 1 - _drawings(64, 64)  # a cross of axis-aligned lines, lines high as the chain has them
    distinct_rows = []
    for geometry in (False, True):
        torch.manual_seed(0)
        out = strong_set(geometry=geometry)(ink)
        distinct_rows.append([len(torch.unique(o[0].round(decimals=3), dim=0)) for o in out])
    # shifts, tone and sharpness leave a handful of distinct rows; a rotation or shear makes dozens
    assert max(distinct_rows[0]) <= 16
    assert max(distinct_rows[1]) > 30


def test_clsa_takes_the_strong_geometry_switch():
    from contrastive.moco import CLSA

    assert CLSA.Options().strong_geometry
    kept = CLSA.strong_augment(CLSA.Options(strong_geometry=False)).strong
    assert not any(type(m).__name__ == "RandomRotation" for m in kept)
    assert any(type(m).__name__ == "RandomRotation" for m in CLSA.strong_augment(CLSA.Options()).strong)


def test_grey_drawings_get_the_strong_views_their_rgb_copies_get():
    """CLSA's strong set on one channel: the grey view is what the same drawing in three
    equal channels gets, channel for channel (kornia's saturation takes RGB only)."""
    grey = _drawings(6)[:, :1]
    aug = LineAugment(AugmentOptions(noise=0.0), strong=True)
    one = aug(grey, torch.Generator().manual_seed(5))
    three = aug(grey.repeat(1, 3, 1, 1), torch.Generator().manual_seed(5))
    assert one.shape == grey.shape
    torch.testing.assert_close(one[:, 0], three[:, 0], atol=1e-5, rtol=0)
    torch.testing.assert_close(three[:, 1], three[:, 0], atol=1e-5, rtol=0)


def test_the_strong_set_and_the_noise_draw_from_different_seeds(monkeypatch):
    """Both are Mersenne twisters on the CPU: one seed would make the noise a function of
    the strong set's draws."""
    seeds = {}

    class Spy(torch.Generator):
        def manual_seed(self, seed):
            seeds["noise"] = seed
            return super().manual_seed(seed)

    def manual_seed(seed, real=torch.manual_seed):
        seeds["strong"] = seed
        return real(seed)

    aug = LineAugment(AugmentOptions(noise=1.0), strong=True)
    generator = torch.Generator().manual_seed(0)
    monkeypatch.setattr(torch, "Generator", Spy)
    monkeypatch.setattr(torch, "manual_seed", manual_seed)
    aug(_drawings(4), generator)
    assert seeds.keys() == {"noise", "strong"} and seeds["noise"] != seeds["strong"]
