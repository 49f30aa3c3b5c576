"""Mining algorithms on small hand-made inputs whose expected scores were worked out by hand, plus properties."""
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
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


def test_an_object_the_model_misses_scores_as_a_background_frame_under_entropy_not_aldd():
    """The unseen-object trap (README, "Mining that pays"): a rare object the model barely knows gets only a faint
    box below the mining floor - no detection, entropy 0, the score of a background frame; ALDD reads the dense
    maps, where the faint activation still disagrees with its neighbours (benchmarks/unseen_objects.py measures
    both on the imbalanced pool)."""
    faint = det([[40, 40, 72, 72]], [[0.01, 0.01, 0.05]])
    blank, missed = DetOutput.empty(3), faint.above(0.1)
    assert len(missed) == 0 and entropy_scores([blank, missed], 3).tolist() == [0.0, 0.0]
    background = np.full((1, 16, 16, 3), 0.001, np.float32)
    unseen = background.copy()
    unseen[0, 5:9, 5:9, 2] = 0.05  # the faint triangle on a stride-8 grid of a 128 px input
    s = aldd_scores(HeadMaps([np.stack([background, unseen])], (128, 128)))
    assert s[0] == pytest.approx(0.0, abs=1e-6) and s[1] > 1e-3, s


# ------------------------------------------------------------------ aldd
def test_aldd_uniform_maps_score_zero_and_checkerboard_by_hand():
    flat = HeadMaps([np.full((1, 64, 64, 1), 0.3, np.float32)], (512, 512))
    board = np.where((np.indices((64, 64)).sum(0) % 2) == 0, 0.99, 0.01).astype(np.float32)
    checker = HeadMaps([board[None, :, :, None]], (512, 512))  # a stride-8 grid: 32-pixel cells are 4 x 4
    s = aldd_scores([flat, checker])
    h = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))  # noqa: E731
    # inside, a 3x3 window holds 5 and 4 of the two values; at the border a window holds as many of each (its
    # mean is 0.5): the cells touching the border take that maximum, the inner ones the inside value
    inner, border = h((5 * 0.99 + 4 * 0.01) / 9) - h(0.01), h(0.5) - h(0.01)
    cells = 16 * 16
    assert s[0] == pytest.approx(0.0, abs=1e-5)
    assert s[1] == pytest.approx((60 * border + (cells - 60) * inner) / cells, abs=2e-4)


def test_aldd_batch_equals_images_and_memory_is_bounded(monkeypatch):
    """A batch gives each image's score; 80 classes in chunks give the unchunked scores."""
    import ymir_sdk.mining.detection as detection

    rng = np.random.default_rng(1)
    maps = [rng.uniform(0, 1, (3, 3, 16, 16, 80)).astype(np.float32), rng.uniform(0, 1, (3, 3, 8, 8, 80))]
    batch = aldd_scores(HeadMaps(maps, (128, 128)))
    single = [aldd_scores(HeadMaps([m[i] for m in maps], (128, 128)))[0] for i in range(3)]
    assert np.allclose(batch, single, rtol=1e-5)
    monkeypatch.setattr(detection, "ALDD_CHUNK", 3 * 3 * 16 * 16 * 7)  # 7 classes at a time
    assert np.allclose(aldd_scores(HeadMaps(maps, (128, 128))), batch, rtol=1e-5)


def test_aldd_class_weights_and_scales():
    rng = np.random.default_rng(0)
    maps = [rng.uniform(0, 1, (3, 8, 8, 2)).astype(np.float32), rng.uniform(0, 1, (3, 4, 4, 2)).astype(np.float32)]
    head = HeadMaps(maps, (64, 64))
    both = aldd_scores([head])[0]
    first = aldd_scores([head], class_weights=[1.0, 0.0])[0]
    second = aldd_scores([head], class_weights=[0.0])[0]  # missing weights are 1
    assert both > 0 and first > 0 and second > 0
    assert first + second == pytest.approx(both, rel=1e-5)


def test_auto_class_weights_balance_the_model_s_training_counts(tmp_path):
    """``class_distribution_scores: auto``: (N + C) / (C (n_c + 1)) from the counts the training wrote, by class
    name (1 for a balanced set; a class the training lacked weighs most); without counts a 300001 naming the key,
    with a file that holds none a 300004 naming it."""
    import json

    from ymir_sdk import ModelError
    from ymir_sdk.loops.settings import Batching, Mining
    from ymir_sdk.mining.detection import balanced_class_weights

    assert balanced_class_weights({"a": 9, "b": 9}, ["a", "b"]) == [1.0, 1.0]
    assert balanced_class_weights({"a": 98, "b": 8, "x": 5}, ["a", "b", "c"]) == pytest.approx(
        [109 / 297, 109 / 27, 109 / 3])

    class Ctx:
        class_names = ["a", "b"]
        files = []

        def model_files(self):
            return list(self.files)

    ctx, mining = Ctx(), Mining("aldd", Batching(1), class_weights="auto")
    assert Mining("aldd", Batching(1), class_weights=[1.0, 2.0]).weights(ctx) == [1.0, 2.0]
    with pytest.raises(ConfigError) as e:
        mining.weights(ctx)
    assert e.value.key == "class_distribution_scores" and "class-counts.json" in e.value.message
    counts = tmp_path / "class-counts.json"
    ctx.files = [str(tmp_path / "best.pt"), str(counts)]
    counts.write_text(json.dumps({"images": 4, "objects": {"a": 5, "b": 1}}))
    assert mining.weights(ctx) == pytest.approx([8 / 12, 8 / 4])
    counts.write_text(json.dumps({"objects": {"a": -1}}))
    with pytest.raises(ModelError, match="class-counts.json"):
        mining.weights(ctx)


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


def test_cald_consistency_keeps_a_nan_for_the_task_to_refuse():
    """A NaN in the model's outputs is not turned into full consistency (``min(1, nan)`` is 1 in Python): it stays
    NaN, and the task fails with 300201 naming the image, as for every other algorithm."""
    ref = det([[20, 20, 44, 44]], [[0.65]])
    broken = det([[20, 20, 44, 44]], [[float("nan")]])
    assert math.isnan(cald_consistency(ref, ref.boxes, broken, 1))
    assert math.isnan(cald_consistency(broken, ref.boxes, ref, 1))


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
    assert calls == [3, 3, 3, 3]  # one batched call per augmentation, of the 3 images
    assert scores[1] == 0.0  # the detection vanishes in every view: consistency 0, labelled first
    assert scores[2] == -1.0  # nothing in the original nor in any view: fully consistent, labelled last
    assert -0.45 < scores[0] < -0.2  # about 0.35 consistency for a stable detection
    assert scores[2] < scores[0] < scores[1]


def test_cald_ranks_a_pool_of_background_frames_last():
    """Background frames (no detection anywhere) after every image with something to learn from; a detection
    that appears only in augmented views makes an image inconsistent."""
    objects = [_square_image((255, 255, 255), (8 + 4 * i, 10, 40 + 2 * i, 50)) for i in range(3)]
    background = [np.zeros((64, 64, 3), np.uint8) for _ in range(8)]
    appears = np.zeros((64, 64, 3), np.uint8)
    appears[20:44, 52:64] = 255  # at the right edge: the 0.8 resize moves it inside the image only there
    images = background[:4] + objects + [appears] + background[4:]

    def detect(imgs):
        return white_detector(imgs)

    refs = [d if i != len(background[:4]) + 3 else DetOutput.empty(1) for i, d in enumerate(detect(images))]
    scores = cald_scores(images, refs, detect, num_classes=1)
    order = list(np.argsort(-scores, kind="stable"))
    assert set(order[-8:]) == {0, 1, 2, 3, 8, 9, 10, 11}  # the background frames, last
    assert scores[7] > -1.0  # detections only in augmented views: not fully consistent


def test_cald_stage_two_by_hand(tmp_path):
    """CALD's stage 2 (``cald_candidates``, the paper's ``cls_kldiv``): the class maxima are averaged over the five
    passes; the divergence is JS(softmax(labelled objects per image), softmax(class maxima)); of the M least
    consistent images those with a detection go first, most divergent first (score 1 + JS), the rest keep stage 1's
    order; an image with no detection in any pass is never lifted."""
    import json

    from ymir_sdk.loops.settings import Batching, Mining
    from ymir_sdk.mining.detection import (cald, cald_class_balance, cald_divergence, labelled_class_mean)

    stable = _square_image((255, 255, 255))
    refs = [det([[20, 20, 44, 44]], [[0.2, 0.7]]), DetOutput.empty(2)]
    out = cald([stable, np.zeros_like(stable)], refs, lambda imgs: [refs[0]] + [DetOutput.empty(2)] * (len(imgs) - 1),
               num_classes=2, augmentations=cald_scores.__defaults__[-1][:1])
    assert out.class_max.tolist() == [[0.0, 0.7], [0.0, 0.0]]  # (0.7 + 0.7) / 2 passes; nothing in either pass

    labelled = labelled_class_mean({"images": 4, "objects": {"a": 6, "b": 2, "x": 9}}, ["a", "b", "c"])
    assert labelled.tolist() == [1.5, 0.5, 0.0]
    maxima = np.array([[0.0, 0.9, 0.0], [0.9, 0.0, 0.0], [0.0, 0.0, 0.0]])
    d = cald_divergence(maxima, labelled)

    def js(p, q):
        p, q = np.exp(p) / np.exp(p).sum(), np.exp(q) / np.exp(q).sum()
        m = (p + q) / 2
        return 0.5 * (p * np.log(p / m)).sum() + 0.5 * (q * np.log(q / m)).sum()

    assert d[:2] == pytest.approx([js(labelled, maxima[0]), js(labelled, maxima[1])])
    assert d[0] > d[1] and math.isnan(d[2])  # an image of the rarer class differs more from the labelled set

    scores = np.array([-0.9, -0.1, -0.2, -0.3, -0.05])  # stage 1: 4, 1, 2, 3, 0
    divergence = np.array([0.5, 0.01, np.nan, 0.02, 0.03])
    ranked = cald_class_balance(scores, divergence, candidates=3)
    assert list(np.argsort(-ranked, kind="stable")) == [4, 1, 2, 3, 0]  # 4 and 1 lifted (by JS), 2 has none
    assert ranked.tolist() == [-0.9, 1.01, -0.2, -0.3, 1.03]
    assert (cald_class_balance(scores, divergence, 0) == scores).all()
    assert list(np.argsort(-cald_class_balance(scores, divergence, 5), kind="stable")) == [0, 4, 3, 1, 2]

    class Ctx:
        class_names = ["a", "b", "c"]
        files = []

        def model_files(self):
            return list(self.files)

    ctx = Ctx()
    assert Mining("cald", Batching(1)).labelled_mean(ctx) is None  # stage 1 only: nothing read
    with pytest.raises(ConfigError) as e:
        Mining("cald", Batching(1), cald_candidates=12).labelled_mean(ctx)
    assert e.value.key == "cald_candidates" and "class-counts.json" in e.value.message
    counts = tmp_path / "class-counts.json"
    counts.write_text(json.dumps({"images": 4, "objects": {"a": 6, "b": 2}}))
    ctx.files = [str(counts)]
    assert Mining("cald", Batching(1), cald_candidates=12).labelled_mean(ctx).tolist() == [1.5, 0.5, 0.0]


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
    m_half[0, 0, 0] = 0.5  # one maximally uncertain pixel: 1 bit, weighted by its 0.5 membership
    two = np.concatenate([m_half, m_half])
    s = apis_scores([_inst([[1, 1, 3, 3]], [[0.9]], m_sure), _inst([[1, 1, 3, 3]], [[0.9]], m_half),
                     _inst([[1, 1, 3, 3], [0, 0, 2, 2]], [[0.9], [0.8]], two), InstOutput(DetOutput.empty(1),
                                                                                         np.zeros((0, 4, 4)))])
    h99 = -(0.99 * math.log2(0.99) + 0.01 * math.log2(0.01))
    u_half = (4 * 0.99 * h99 + 0.5 * 1.0) / (4 * 0.99 + 0.5)
    assert s[0] == pytest.approx(0.9 * h99, rel=1e-3) and s[1] == pytest.approx(0.9 * u_half, rel=1e-3)
    assert s[2] == pytest.approx(1.7 * u_half, rel=1e-3) and s[3] == 0.0


@pytest.mark.parametrize("count", [1, 3, 8])
def test_apis_ranks_blurry_masks_above_sharp_ones_at_equal_counts(count):
    """The first version scored every mask that crosses 0.5 about 1 bit: it counted instances."""
    yy, xx = np.mgrid[0:32, 0:32]
    dist = np.hypot(yy - 16, xx - 16)
    sharp = 1 / (1 + np.exp((dist - 8) * 4.0))  # a disc with a crisp edge
    blurry = 1 / (1 + np.exp((dist - 8) * 0.4))  # the same disc, a wide uncertain rim
    boxes, probs = [[8, 8, 24, 24]] * count, [[0.9]] * count
    scores = apis_scores([_inst(boxes, probs, np.stack([m] * count)) for m in (sharp, blurry)])
    assert scores[1] > 2 * scores[0] > 0


def _maskal_exact(passes, num_classes, iou_thr=0.5):
    """The SDK's first MaskAL certainty (full resolution, every instance), the reference for the bounded one."""
    members = []
    for o in passes:
        dist = o.det.class_distribution(num_classes)
        masks = np.asarray(o.masks) > 0.5
        for k in range(len(o)):
            m = masks[k]
            home = next((c for c in members for _, other, _ in c
                         if np.logical_or(m, other).sum() and np.logical_and(m, other).sum()
                         / np.logical_or(m, other).sum() > iou_thr), None)
            (home.append if home is not None else lambda x: members.append([x]))((o.det.boxes[k], m, dist[k]))
    if not members:
        return float("nan")
    out = []
    for cluster in members:
        n = len(cluster)
        q = np.stack([d for _, _, d in cluster])
        u_sem = float(np.clip(np.mean(1 - (-(q * np.log(np.clip(q, 1e-12, 1))).sum(1)) / math.log(num_classes + 1)),
                              0, 1))
        stack = np.stack([m for _, m, _ in cluster]).astype(np.float32)
        mean = stack.mean(axis=0)
        on = mean >= 0.25
        inter = np.logical_and(stack > 0, on).reshape(n, -1).sum(1)
        union = np.logical_or(stack > 0, on).reshape(n, -1).sum(1)
        boxes = np.stack([np.asarray(b, dtype=np.float64) for b, _, _ in cluster])
        mb = boxes.mean(axis=0)
        bi = (np.clip(np.minimum(mb[2], boxes[:, 2]) - np.maximum(mb[0], boxes[:, 0]) + 1, 0, None)
              * np.clip(np.minimum(mb[3], boxes[:, 3]) - np.maximum(mb[1], boxes[:, 1]) + 1, 0, None))
        ba = ((mb[2] - mb[0] + 1) * (mb[3] - mb[1] + 1)
              + (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1))
        mask_part = np.clip((inter[union > 0] / union[union > 0]).sum() / n, 0, 1)
        u_spl = float(mask_part * np.clip((bi / (ba - bi)).sum() / n, 0, 1))
        out.append(u_sem * u_spl * min(1.0, n / max(1, len(passes))))
    return float(min(out))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2 ** 31 - 1))
@example(43024)  # instances of a pass not in score order: the clustering must see them in the pass's order
def test_maskal_bounded_equals_the_exact_computation_on_small_masks(seed):
    """Masks within the size bound, instances within the count bound: the same certainty as the full-resolution,
    every-instance computation, so the same ranking."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(4):
        passes = []
        for _ in range(int(rng.integers(1, 5))):
            n = int(rng.integers(0, 4))
            masks = np.zeros((n, 24, 24), np.float32)
            boxes = []
            for k in range(n):
                x, y = rng.integers(0, 12, 2)
                w, h = rng.integers(4, 12, 2)
                masks[k, y:y + h, x:x + w] = rng.uniform(0.3, 1.0)
                boxes.append([x, y, x + w, y + h])
            probs = rng.dirichlet(np.ones(3), n)[:, :2] if n else np.zeros((0, 2))
            passes.append(InstOutput(DetOutput(np.array(boxes, dtype=np.float64).reshape(-1, 4), probs.max(1)
                                               if n else np.zeros(0), probs.argmax(1) if n else np.zeros(0, int),
                                               probs), masks))
        images.append(passes)
    exact = [_maskal_exact(p, 2) for p in images]
    bounded = [maskal_certainty(p, 2) for p in images]
    assert np.allclose(np.nan_to_num(bounded, nan=-1), np.nan_to_num(exact, nan=-1), atol=1e-6)


def test_maskal_bounds_resolution_and_instances():
    """Large masks of many instances a pass: compared at 96 px and 50 instances (the best-scored) a pass, so the
    certainty comes out of a quadratic clustering of at most 150 instances of 96 x 54 pixels."""
    rng = np.random.default_rng(0)
    passes = []
    for _ in range(3):
        masks = np.zeros((120, 540, 960), np.float32)
        masks[:, 100:300, 100:300] = 1
        boxes = np.tile([100.0, 100.0, 300.0, 300.0], (120, 1)) + rng.uniform(-3, 3, (120, 4))
        probs = rng.dirichlet(np.ones(3), 120)[:, :2]
        passes.append(InstOutput(DetOutput(boxes, probs.max(1), probs.argmax(1), probs), masks))
    c = maskal_certainty(passes, 2)
    assert 0 <= c <= 1
    # the same masks at the bound: the same instances cluster alike
    small = [InstOutput(p.det, p.masks[:, ::10, ::10]) for p in passes]
    assert maskal_certainty(small, 2) == pytest.approx(c, abs=0.05)


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
    assert np.isfinite(s).all() and s[1] > s[0] > s[2] == 0.0  # nothing in any pass: certain, labelled last


def test_maskal_ranks_a_pool_of_background_frames_last():
    """A pool mostly of background frames (no instance in any pass): every image with an instance comes first,
    not the frames in candidate order (MaskAL's code gives them NaN; a score of 1 put them first)."""
    found = [_inst([[2, 2, 9, 9]], [[0.95, 0.05]], _square_mask(2, 2, 10, 10)) for _ in range(4)]
    frame = [InstOutput(DetOutput.empty(2), np.zeros((0, 20, 20)))] * 4
    s = maskal_scores([frame] * 5 + [found] + [frame] * 5, num_classes=2)
    assert int(np.argmax(s)) == 5 and (np.delete(s, 5) == 0).all()
