import numpy as np
import torch

from tumorbench.data.augment import AffineAugment
from tumorbench.data.balance import balanced_class_weights, plan_epoch


def test_zero_augmentation_is_the_identity():
    x = torch.rand(2, 1, 16, 16)
    assert torch.allclose(AffineAugment(0, 0, 0)(x), x, atol=1e-5)


def test_shift_fills_with_the_nearest_edge_pixel_like_keras():
    x = torch.zeros(1, 1, 20, 20)
    x[..., :, 0] = 1.0  # a bright left column
    g = torch.Generator().manual_seed(0)
    out = AffineAugment(rotation=0, shift=0.1, zoom=0)(x, g)
    # The left edge is replicated into the uncovered border (constant fill would leave 0 there).
    shifted_right = out[0, 0, :, 0].mean() > 0.5 and out[0, 0, :, 1].mean() > 0.5
    shifted_left = out[0, 0, :, 0].mean() > 0.5 and out[0, 0, :, -1].mean() < 0.01
    assert shifted_right or shifted_left


def test_augmentation_changes_images_within_the_seed_ranges():
    x = torch.rand(8, 1, 32, 32)
    out = AffineAugment()(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and not torch.allclose(out, x)
    assert out.min() >= 0 and out.max() <= 1  # bilinear + border fill never leaves the input range


def test_augment_balance_brings_every_class_to_the_majority_count():
    labels = np.array([0] * 10 + [1] * 6 + [2] * 3 + [3] * 10)
    plan = plan_epoch(labels, "augment_balance", np.random.default_rng(0), n_classes=4)
    counts = np.bincount(labels[plan.indices], minlength=4)
    assert counts.tolist() == [10, 10, 10, 10]
    # Originals appear once, unaugmented; only the added copies are augmented.
    assert np.bincount(labels[plan.indices[~plan.augment]], minlength=4).tolist() == [10, 6, 3, 10]
    assert np.bincount(labels[plan.indices[plan.augment]], minlength=4).tolist() == [0, 4, 7, 0]


def test_none_visits_each_sample_once_in_a_seeded_order():
    labels = np.array([0, 1, 2, 3, 0, 1])
    a = plan_epoch(labels, "none", np.random.default_rng(5), n_classes=4)
    b = plan_epoch(labels, "none", np.random.default_rng(5), n_classes=4)
    assert sorted(a.indices.tolist()) == list(range(6)) and not a.augment.any()
    assert a.indices.tolist() == b.indices.tolist()


def test_balanced_weights_match_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.array([0] * 10 + [1] * 6 + [2] * 3 + [3] * 10)
    ours = balanced_class_weights(labels, 4)
    assert np.allclose(ours, compute_class_weight("balanced", classes=np.arange(4), y=labels))
