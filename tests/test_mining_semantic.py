"""rsal and ripu on hand-made probability maps."""
import math

import numpy as np
import pytest

from ymir_sdk import ConfigError
from ymir_sdk.mining import Regions, bvsb, ripu_scores, rsal_regions, rsal_scores, superpixels


def H(*p):
    return -sum(x * math.log(x) for x in p if x > 0)


def test_bvsb():
    probs = np.array([[0.5, 0.9, 0.2], [0.5, 0.1, 0.3], [0.0, 0.0, 0.5]])[:, :, None]
    assert bvsb(probs)[:, 0] == pytest.approx([1.0, 0.1 / 0.9, 0.3 / 0.5])
    assert bvsb(np.array([[[0.8]]]))[0, 0] == pytest.approx(0.25)  # one class: p vs 1 - p


@pytest.mark.parametrize("method", ["slic", "slico", "mslic", "seeds"])
def test_superpixels_respect_the_bound(method):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    labels = superpixels(img, method, max_superpixels=40)
    assert labels.shape == (60, 80) and 1 < labels.max() + 1 <= 40
    assert set(np.unique(labels)) == set(range(labels.max() + 1))


def test_unknown_superpixel_method():
    with pytest.raises(ConfigError, match="slic, slico, mslic, seeds"):
        superpixels(np.zeros((8, 8, 3), np.uint8), "watershed")


def test_rsal_regions_follow_uncertainty():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, 20:] = 255
    probs = np.empty((2, 40, 40), np.float32)
    probs[:, :, :20] = 0.5          # uncertain left half (a tie: BvSB 1)
    probs[0, :, 20:], probs[1, :, 20:] = 0.05, 0.95  # confident right half, class 1
    r = rsal_regions(probs, img, "slico", max_superpixels=16)
    assert r.scores.max() == pytest.approx(1.0, abs=1e-3)
    assert r.scores.min() == pytest.approx(0.05 / 0.95, abs=1e-3)
    assert set(r.classes[r.scores < 0.5].tolist()) == {1}


def test_rsal_scores_by_hand():
    a = Regions(np.array([0.9, 0.1, 0.8, 0.7]), np.array([0, 0, 0, 1]))
    b = Regions(np.array([0.5, 0.4]), np.array([1, 1]))
    # no class balance, top-2: a = 0.9 + 0.8, plus further regions >= threshold; 6 regions, max_kept 1:
    # q = 100 * max(0.8, 1 - 2/6) = 80th percentile of [0.9, .1, .8, .7, .5, .4] = 0.8 -> 0.7 is below
    s = rsal_scores([a, b], 2, topk=2, class_balance=False, max_kept=1)
    assert s == pytest.approx([0.9 + 0.8, 0.5 + 0.4])
    # class balance: n = (3, 3) -> equal weights exp(-1/2): same ranking, scaled
    w = math.exp(-3 / 6)
    assert rsal_scores([a, b], 2, topk=2, class_balance=True, max_kept=1) == pytest.approx([1.7 * w, 0.9 * w])
    # a rare class weighs more: one class-1 region in a pool dominated by class 0
    c = Regions(np.array([0.6]), np.array([1]))
    d = Regions(np.array([0.6, 0.6, 0.6]), np.array([0, 0, 0]))
    sc = rsal_scores([c, d], 2, topk=1, class_balance=True, max_kept=100)
    assert sc[0] == pytest.approx(0.6 * math.exp(-1 / 4)) and sc[1] == pytest.approx(0.6 * math.exp(-3 / 4))


def test_ripu_by_hand():
    probs = np.empty((2, 12, 10), np.float32)
    probs[0, :, :5], probs[1, :, :5] = 0.9, 0.1   # class 0 on the left
    probs[0, :, 5:], probs[1, :, 5:] = 0.1, 0.9   # class 1 on the right
    flat = np.full((2, 12, 10), 0.5, np.float32)  # uncertain everywhere but one predicted class: pure regions
    ri = H(2 / 3, 1 / 3) / math.log(2)
    pu = H(0.9, 0.1) / math.log(2)
    s = ripu_scores([probs, flat], radius=1, topk=3)
    assert s[0] == pytest.approx(3 * ri * pu, rel=1e-4)
    assert s[1] == pytest.approx(0.0, abs=1e-6)
    assert ripu_scores([probs], radius=1, topk=1)[0] == pytest.approx(ri * pu, rel=1e-4)


def test_ripu_one_class_and_finite():
    rng = np.random.default_rng(1)
    one = rng.uniform(0, 1, (1, 16, 16)).astype(np.float32)
    s = ripu_scores([one, rng.dirichlet([1, 1, 1], (16, 16)).transpose(2, 0, 1)], radius=2, topk=5)
    assert np.isfinite(s).all() and (s >= 0).all()
