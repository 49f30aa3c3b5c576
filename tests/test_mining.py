"""Mining algorithms on small hand-made inputs whose expected scores were worked out by hand, plus properties."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ymir_sdk import ConfigError
from ymir_sdk.mining import (DetOutput, HeadMaps, aldd_scores, algorithm_name, cald_scores, entropy_scores,
                             random_scores)
from ymir_sdk.mining.detection import cald_consistency

pytestmark = pytest.mark.images  # the SDK core runs in every image: also on the images' stack


def det(boxes, probs, scores=None):
    probs = np.asarray(probs, dtype=np.float64).reshape(len(boxes), -1)
    scores = probs.max(axis=1) if scores is None else np.asarray(scores, dtype=np.float64)
    return DetOutput(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), scores, probs.argmax(axis=1), probs)


# ------------------------------------------------------------------ names
def test_algorithm_names():
    assert algorithm_name("ALDD") == "aldd" and algorithm_name(" cald ") == "cald"
    with pytest.raises(ConfigError) as e:
        algorithm_name("coreset")
    assert e.value.code == 300001 and "random, entropy, aldd, cald" in e.value.message
    with pytest.raises(ConfigError, match="one of random, entropy"):
        algorithm_name("aldd", supported=("random", "entropy"))


# ------------------------------------------------------------------ random
def test_random_is_reproducible_and_order_free():
    paths = [f"/in/assets/{i}.jpg" for i in range(50)]
    a = random_scores(paths)
    b = random_scores(paths[::-1])[::-1]
    assert np.array_equal(a, b) and ((a >= 0) & (a < 1)).all() and len(set(a.tolist())) == 50
    assert not np.array_equal(a, random_scores(paths, seed=1))


# ------------------------------------------------------------------ entropy
def test_entropy_hand_values():
    flip = det([[0, 0, 10, 10]], [[0.5, 0.5]])            # q = (0.5, 0.5, 0): H = ln 2, / ln 3
    sure = det([[0, 0, 10, 10]], [[0.98, 0.01]])          # q = (0.98, 0.01, 0.01)
    scores = entropy_scores([sure, flip, DetOutput.empty(2)], num_classes=2)
    assert scores[1] == pytest.approx(math.log(2) / math.log(3))
    expected_sure = -(0.98 * math.log(0.98) + 2 * 0.01 * math.log(0.01)) / math.log(3)
    assert scores[0] == pytest.approx(expected_sure)
    assert scores[2] == 0.0
    assert scores[1] > scores[0]  # the box flipping between two classes ranks first


def test_entropy_one_class_and_max_over_boxes():
    half = det([[0, 0, 5, 5], [5, 5, 9, 9]], [[0.5], [0.99]])  # q = (0.5, 0.5): binary entropy 1 bit
    assert entropy_scores([half], 1)[0] == pytest.approx(1.0)
    no_probs = DetOutput(np.array([[0, 0, 1, 1.0]]), np.array([0.9]), np.array([0]))
    assert entropy_scores([no_probs], 3)[0] == pytest.approx(
        -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)) / math.log(4))


# ------------------------------------------------------------------ aldd
def test_aldd_uniform_maps_score_zero_and_checkerboard_by_hand():
    flat = HeadMaps([np.full((1, 64, 64, 1), 0.3, np.float32)], (64, 64))
    board = np.where((np.indices((64, 64)).sum(0) % 2) == 0, 0.99, 0.01).astype(np.float32)
    checker = HeadMaps([board[None, :, :, None]], (64, 64))
    s = aldd_scores([flat, checker])
    h = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))  # noqa: E731
    # a 9x9 window holds 41 and 40 of the two values: the entropy of the mean is ~ln 2, the mean entropy H(0.01)
    expected = h((41 * 0.99 + 40 * 0.01) / 81) - h(0.01)
    assert s[0] == pytest.approx(0.0, abs=1e-5)
    assert s[1] == pytest.approx(expected, abs=2e-3)


def test_aldd_class_weights_and_scales():
    rng = np.random.default_rng(0)
    maps = [rng.uniform(0, 1, (3, 8, 8, 2)).astype(np.float32), rng.uniform(0, 1, (3, 4, 4, 2)).astype(np.float32)]
    head = HeadMaps(maps, (64, 64))
    both = aldd_scores([head])[0]
    first = aldd_scores([head], class_weights=[1.0, 0.0])[0]
    second = aldd_scores([head], class_weights=[0.0])[0]  # missing weights are 1
    assert both > 0 and first > 0 and second > 0
    assert first + second == pytest.approx(both, rel=1e-5)


# ------------------------------------------------------------------ cald
def _square_image(colour, box=(20, 20, 44, 44), size=64):
    img = np.zeros((size, size, 3), np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = colour
    return img


def white_detector(images):
    """Detects the bbox of white pixels (score 0.65, one class)."""
    out = []
    for img in images:
        white = (img > 200).all(axis=2)
        if white.sum() < 4:
            out.append(DetOutput.empty(1))
            continue
        ys, xs = np.nonzero(white)
        out.append(det([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], [[0.65]]))
    return out


def test_cald_consistency_by_hand():
    ref = det([[20, 20, 44, 44]], [[0.65]])
    same = det([[20, 20, 44, 44]], [[0.65]])
    # IoU 1, JS 0: |1 + 0.5 * 1 * (0.65 + 0.65) - 1.3| = 0.35
    assert cald_consistency(ref, ref.boxes, same, 1) == pytest.approx(0.35)
    assert cald_consistency(ref, ref.boxes, DetOutput.empty(1), 1) == 0.0
    shifted = det([[32, 20, 56, 44]], [[0.65]])  # IoU = 12*24 / (2*576 - 288) = 1/3
    assert cald_consistency(ref, ref.boxes, shifted, 1) == pytest.approx(abs(1 / 3 + 0.65 - 1.3))


def test_cald_ranks_vanishing_detections_high():
    stable = _square_image((255, 255, 255))
    vanishing = _square_image((255, 0, 0))  # the detector never finds red: its detection vanishes
    empty = np.zeros((64, 64, 3), np.uint8)
    refs = [white_detector([stable])[0], det([[20, 20, 44, 44]], [[0.65]]), DetOutput.empty(1)]
    calls = []

    def detect(images):
        calls.append(len(images))
        return white_detector(images)

    scores = cald_scores([stable, vanishing, empty], refs, detect, num_classes=1)
    assert calls == [8]  # one batched call: 4 augmentations x 2 images with detections
    assert scores[1] == 0.0 and scores[2] == 0.0  # consistency 0: labelled first, as in the paper's code
    assert -0.45 < scores[0] < -0.2  # about 0.35 consistency for a stable detection
    assert scores[0] < scores[1]


# ------------------------------------------------------------------ properties
det_strategy = st.integers(0, 4).flatmap(lambda n: st.tuples(
    st.lists(st.lists(st.floats(0, 1), min_size=3, max_size=3), min_size=n, max_size=n),
    st.lists(st.tuples(st.floats(0, 50), st.floats(0, 50), st.floats(1, 30), st.floats(1, 30)), min_size=n,
             max_size=n)))


def _to_det(item):
    probs, boxes = item
    if not probs:
        return DetOutput.empty(3)
    b = [[x, y, x + w, y + h] for x, y, w, h in boxes]
    return det(b, probs, scores=np.max(probs, axis=1))


@settings(max_examples=60, deadline=None)
@given(st.lists(det_strategy, min_size=1, max_size=8), st.randoms())
def test_entropy_finite_and_permutation_invariant(items, rnd):
    outs = [_to_det(i) for i in items]
    scores = entropy_scores(outs, 3)
    assert np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1 + 1e-9).all()
    order = list(range(len(outs)))
    rnd.shuffle(order)
    assert np.allclose(entropy_scores([outs[i] for i in order], 3), scores[order])


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2 ** 31 - 1))
def test_aldd_finite_and_permutation_invariant(seed):
    rng = np.random.default_rng(seed)
    heads = [HeadMaps([rng.uniform(0, 1, (2, 4, 4, 2)).astype(np.float32)], (40, 36)) for _ in range(3)]
    s = aldd_scores(heads)
    assert np.isfinite(s).all() and (s >= -1e-6).all()
    assert np.allclose(aldd_scores(heads[::-1]), s[::-1])


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 1000))
def test_cald_finite_and_permutation_invariant(seed):
    rng = np.random.default_rng(seed)
    images = [_square_image((255, 255, 255), box=(int(x), int(x), int(x) + 20, int(x) + 20))
              for x in rng.integers(0, 40, 3)]
    refs = white_detector(images)
    s = cald_scores(images, refs, white_detector, 1, seed=seed)
    assert np.isfinite(s).all() and (s <= 0).all()
    # same seed per image order is not guaranteed (cutout draws), so compare the seed-free augmentations
    flip_only = cald_scores(images, refs, white_detector, 1, augmentations=cald_scores.__defaults__[-1][:1])
    flip_rev = cald_scores(images[::-1], refs[::-1], white_detector, 1,
                           augmentations=cald_scores.__defaults__[-1][:1])
    assert np.allclose(flip_only, flip_rev[::-1])


# ------------------------------------------------------------------ instance segmentation
from ymir_sdk.mining import InstOutput, apis_scores, maskal_certainty, maskal_scores  # noqa: E402


def _inst(boxes, probs, masks):
    return InstOutput(det(boxes, probs), np.asarray(masks, dtype=np.float32))


def test_apis_by_hand():
    m_sure = np.zeros((1, 4, 4))
    m_sure[0, 1:3, 1:3] = 0.99
    m_half = m_sure.copy()
    m_half[0, 0, 0] = 0.5  # one maximally uncertain pixel: 1 bit
    two = np.concatenate([m_half, m_half])
    s = apis_scores([_inst([[1, 1, 3, 3]], [[0.9]], m_sure), _inst([[1, 1, 3, 3]], [[0.9]], m_half),
                     _inst([[1, 1, 3, 3], [0, 0, 2, 2]], [[0.9], [0.8]], two), InstOutput(DetOutput.empty(1),
                                                                                         np.zeros((0, 4, 4)))])
    h99 = -(0.99 * math.log2(0.99) + 0.01 * math.log2(0.01))
    assert s[0] == pytest.approx(h99, rel=1e-4) and s[1] == pytest.approx(1.0, rel=1e-4)
    assert s[2] == pytest.approx(2.0, rel=1e-4) and s[3] == 0.0


def _square_mask(x1, y1, x2, y2, size=20):
    m = np.zeros((1, size, size), np.float32)
    m[0, y1:y2, x1:x2] = 1
    return m


def test_maskal_one_class_consistent_instance_by_hand():
    # 3 passes, the same instance each time, one class with p = 0.5: q = (0.5, 0.5), H = log 2 = max entropy
    passes = [_inst([[2, 2, 9, 9]], [[0.5]], _square_mask(2, 2, 10, 10)) for _ in range(3)]
    assert maskal_certainty(passes, num_classes=1) == pytest.approx(0.0)  # u_sem = 1 - 1 = 0
    sure = [_inst([[2, 2, 9, 9]], [[1.0]], _square_mask(2, 2, 10, 10)) for _ in range(3)]
    assert maskal_certainty(sure, num_classes=1) == pytest.approx(1.0)  # u_sem 1, u_spl 1, u_n 1
    # found in only 2 of 4 passes: u_n = 1/2
    half = sure[:2] + [InstOutput(DetOutput.empty(1), np.zeros((0, 20, 20)))] * 2
    assert maskal_certainty(half, num_classes=1) == pytest.approx(0.5)


def test_maskal_ranks_unstable_images_first():
    stable = [[_inst([[2, 2, 9, 9]], [[0.95, 0.05]], _square_mask(2, 2, 10, 10)) for _ in range(4)]]
    shaky_masks = [_square_mask(2, 2, 10, 10), _square_mask(3, 2, 11, 10), _square_mask(2, 3, 10, 12),
                   _square_mask(2, 2, 9, 9)]
    shaky = [[_inst([[2, 2, 9, 9]], [[0.6, 0.4]], m) for m in shaky_masks]]
    nothing = [[InstOutput(DetOutput.empty(2), np.zeros((0, 20, 20)))] * 4]
    s = maskal_scores(stable + shaky + nothing, num_classes=2)
    assert np.isfinite(s).all() and s[2] == 1.0 and s[1] > s[0]
