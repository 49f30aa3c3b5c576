"""The streaming candidate loop (ymir_sdk.loops.candidates) and the streamed writers: each batch's results are on
disk before the next batch runs, rank 0 merges the shards in candidate order, the writers give the bytes the
whole-pool writers gave, RSAL's pool step over files gives the in-memory result, and the bounded quantile is
exact. Across torchrun ranks: tests/test_dist.py (dist_worker.py) and the executors' two-process tests."""
import json
import os

import numpy as np
import pytest

from ymir_sdk.loops import candidates as loop
from ymir_sdk.loops.settings import Batching, Mining
from ymir_sdk.mining import semantic

pytestmark = pytest.mark.images  # the SDK core runs in every image: also on the images' stack


def _context(tmp_path, paths, task="mine"):
    from conftest import write_env
    from ymir_sdk import Executor, HyperParams, Monitor, load_env
    from ymir_sdk.executor import Context

    index = tmp_path / "candidates.tsv"
    index.write_text("".join(p + "\n" for p in paths))
    env = load_env(write_env(str(tmp_path), run_mining=True, run_infer=True, candidate_index_file=str(index)))
    params = HyperParams.parse({"class_names": ["a", "b"]})
    return Context(Executor(), env, params, Monitor(env.output.monitor_file, "t"), task)


def _images(tmp_path, n, size=(24, 16)):
    import cv2

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        paths.append(str(tmp_path / f"img{i}.png"))
        cv2.imwrite(paths[-1], rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    return paths


def test_each_batch_is_on_disk_before_the_next_and_nothing_is_kept(tmp_path):
    """The shard grows batch by batch (a crash loses at most the batch at hand; nothing waits for the last
    batch), and the loop returns no results: rank 0 reads them back from disk, once, in candidate order."""
    paths = _images(tmp_path, 7)
    ctx = _context(tmp_path, paths)
    seen = []

    def scores(items):
        shard = loop.shard_file(loop.shard_folder(ctx), 0)
        on_disk = sum(1 for _ in open(shard))
        assert on_disk == len(seen), "the previous batches' results are not on disk yet"
        seen.extend(p for p, _ in items)
        return [float(len(seen) - k) for k in range(len(items))]

    shards = loop.over_candidates(ctx, scores, lambda p: None, batch_size=3)
    assert seen == paths and [p for p, _, _ in shards.records()] == paths
    loop.write_scores(ctx, shards)
    ranked = [ln.split("\t")[0] for ln in open(ctx.env.output.mining_result_file).read().splitlines()]
    assert sorted(ranked) == sorted(paths) and not os.path.exists(shards.folder)  # the shards are removed


def test_a_gap_in_the_shards_is_an_error_not_a_shorter_result(tmp_path):
    paths = _images(tmp_path, 4)
    ctx = _context(tmp_path, paths)
    shards = loop.over_candidates(ctx, lambda items: [0.5] * len(items), lambda p: None, batch_size=2)
    lines = open(shards.files()[0]).read().splitlines()
    with open(shards.files()[0], "w") as f:
        f.write("\n".join(lines[:1] + lines[2:]) + "\n")  # candidate 1 lost
    with pytest.raises(Exception, match="candidate 2 where 1 was due"):
        list(shards.records())


def test_parts_have_shards_of_their_own_and_raw_payloads_are_their_json_text(tmp_path):
    """A pass that makes two tasks' results keeps each part in its own files; read raw, a payload is the JSON
    text json.dumps gives (strings with brackets, commas, quotes and non-ASCII included), an unreadable
    candidate's reason still parsed."""
    paths = _images(tmp_path, 5)
    with open(paths[2], "wb") as f:
        f.write(b"not an image")
    ctx = _context(tmp_path, paths)
    odd = {"boxes": [{"class_name": 'x],"y\\', "note": "ünï [1,2]"}], "n": 1.5}

    def load(path):
        from ymir_sdk.dataset.imagesize import image_size
        return image_size(path)

    shards = loop.over_candidates(ctx, lambda items: [[odd, float(k)] for k in range(len(items))], load,
                                  batch_size=2, parts=2)
    assert sorted(os.listdir(shards.folder)) == ["rank-0.part-0.jsonl", "rank-0.part-1.jsonl"]
    raw = list(shards.of(0).records(raw=True))
    assert [ok for _, ok, _ in raw] == [True, True, False, True, True]
    assert all(text == json.dumps(odd, ensure_ascii=False, separators=(",", ":")) for _, ok, text in raw if ok)
    assert raw[2][2].startswith("image unreadable: ")  # the reason, parsed
    assert [v for _, ok, v in shards.of(1).records() if ok] == [0.0, 1.0, 0.0, 0.0]  # batches [0 1] [3] [4]


def test_streamed_outputs_are_the_bytes_of_the_whole_pool_writers(tmp_path):
    """infer-result.json (detection and COCO) and result.tsv written entry by entry are byte for byte what
    json.dumps of the whole result gave (the writers before streaming)."""
    from ymir_sdk.results import (Detection, Instance, coco_annotations, detection_json, write_coco_result,
                                  write_detection_result, write_mining_result)

    names = ["cat", "dog"]
    dets = {"/x/a.png": [Detection(0, 0.91234567, 1.4, 2.6, 30.2, 40.9), Detection(1, 0.5, -5, -5, 3, 3)],
            "/x/b.png": [], "/y/c.png": [Detection(1, 0.25, 3, 4, 50, 60, angle=0.3)]}
    sizes = {"/x/a.png": (32, 32), "/y/c.png": (64, 64)}
    write_detection_result(str(tmp_path / "det.json"), dets, names, sizes)
    whole = json.dumps(detection_json(dets, names, sizes), ensure_ascii=False, separators=(",", ":"))
    assert (tmp_path / "det.json").read_text() == whole

    m = np.zeros((20, 30), bool)
    m[2:8, 3:9] = True
    images = [("/x/a.png", 30, 20, [Instance(0, m, 0.8), Instance(1, np.zeros_like(m))]), ("/x/b.png", 30, 20, []),
              ("/x/c.png", 30, 20, [Instance(1, m)])]
    write_coco_result(str(tmp_path / "coco.json"), images, names)
    coco = json.loads((tmp_path / "coco.json").read_text())
    anns = [a for p, w, h, insts in images for a in coco_annotations(p, w, h, insts, names)]
    assert [{k: v for k, v in a.items() if k not in ("id", "image_id")} for a in coco["annotations"]] == anns
    assert [a["image_id"] for a in coco["annotations"]] == [1, 3] and [a["id"] for a in coco["annotations"]] == [1, 2]
    assert (tmp_path / "coco.json").read_text() == json.dumps(coco, separators=(",", ":"))

    write_mining_result(str(tmp_path / "r.tsv"), {"/a.jpg": 0.1, "/b.jpg": np.float32(0.9), "/c.jpg": -1e3,
                                                   "/e.jpg": 0.1}, ["/a.jpg", "/b.jpg", "/c.jpg", "/d.jpg", "/e.jpg"],
                        skipped=["/d.jpg"])
    assert (tmp_path / "r.tsv").read_text() == ("/b.jpg\t0.8999999761581421\n/a.jpg\t0.1\n/e.jpg\t0.1\n"
                                                "/c.jpg\t-1000.0\n/d.jpg\t-1001.0\n")


def test_a_result_is_not_written_when_a_line_breaks_the_contract(tmp_path):
    from ymir_sdk.errors import ContractError
    from ymir_sdk.results import write_ranking

    out = tmp_path / "result.tsv"
    with pytest.raises(ContractError, match="candidates are missing"):
        write_ranking(str(out), ["/a.jpg"], np.array([0.5]), (), ["/a.jpg", "/b.jpg"])
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize("buffer", [semantic.QUANTILE_BUFFER, 50, 7])
def test_the_bounded_quantile_is_numpy_s_percentile(monkeypatch, buffer):
    """Exact whatever the bound on the values held (the small bounds force the histogram narrowing), with ties
    and a value range many orders of magnitude wide."""
    monkeypatch.setattr(semantic, "QUANTILE_BUFFER", buffer)
    rng = np.random.default_rng(1)
    data = np.concatenate([rng.random(3000) ** 8, np.full(500, 0.25), rng.random(7) * 1e-9, [0.0, 1.0]])
    rng.shuffle(data)
    chunks = np.array_split(data, 13)
    for q in (0, 1, 50, 80, 87.5, 99.9, 100):
        assert semantic.quantile(lambda: iter(chunks), q, len(data)) == pytest.approx(np.percentile(data, q),
                                                                                      rel=1e-12, abs=1e-18)


class _Segmenter:
    """A stand-in semantic model: class probabilities from the image's colour channels (3 classes)."""

    offset = 0

    def read(self, path):
        import cv2

        image = cv2.imread(path)
        if image is None:
            from ymir_sdk.errors import ImageError

            raise ImageError(f"image unreadable: {path}")
        return image

    def rgb(self, image):
        return image[:, :, ::-1].copy()

    def prepare(self, image):
        return image

    def load(self, path, keep_image=False):
        image = self.read(path)
        return (self.rgb(image) if keep_image else None), image

    def probabilities(self, prepared, max_side):
        out = []
        for image in prepared:
            x = image.astype(np.float64).transpose(2, 0, 1) / 64
            e = np.exp(x - x.max(0))
            out.append(e / e.sum(0))
        return out


def test_rsal_over_files_ranks_as_the_pool_in_memory(tmp_path, monkeypatch):
    """RSAL's pool step over the regions on disk, read in chunks smaller than one image's regions, gives the
    scores rsal_scores gives with every region in memory; an unreadable image is listed last."""
    from ymir_sdk.loops import segmentation

    pytest.importorskip("cv2.ximgproc", reason="superpixels need opencv-contrib (the seg-in-one image has it)")
    monkeypatch.setattr(segmentation, "REGION_CHUNK", 5)
    monkeypatch.setattr(semantic, "QUANTILE_BUFFER", 40)
    paths = _images(tmp_path, 6, size=(40, 32))
    broken = str(tmp_path / "broken.png")
    open(broken, "wb").write(b"not an image")
    ctx = _context(tmp_path, paths[:3] + [broken] + paths[3:])
    segmentation.mine(ctx, _Segmenter, Mining.of("rsal", 3, Batching(4), options=dict(max_superpixels=16,
                                                                                       max_kept=1)))
    rows = [ln.split("\t") for ln in open(ctx.env.output.mining_result_file).read().splitlines()]
    assert rows[-1][0] == broken

    model = _Segmenter()
    regions = [semantic.rsal_regions(model.probabilities([model.read(p)], 512)[0], model.rgb(model.read(p)),
                                     "slico", 16) for p in paths]
    expected = dict(zip(paths, semantic.rsal_scores(regions, 3, max_kept=1)))
    assert {p: float(s) for p, s in rows[:-1]} == pytest.approx(expected, rel=1e-12)
    assert len(set(expected.values())) > 3  # the images differ: the comparison can fail


class _Detector:
    """A stand-in detection model: one box per image whose class probabilities follow the image's mean colour;
    head maps for ALDD from the image's pixels."""

    def read(self, path):
        import cv2

        return cv2.imread(path)

    def prepare(self, image):
        return image

    def load(self, path, keep_image=False):
        image = self.read(path)
        return (image if keep_image else None), image

    def detect(self, prepared, heads=False):
        from ymir_sdk.mining import DetOutput, HeadMaps

        outs = []
        for im in prepared:
            q = float(im.mean()) / 255
            outs.append(DetOutput(np.array([[1.0, 2.0, 9.0, 7.0]]), np.array([max(q, 1 - q)]),
                                  np.array([int(q < 0.5)]), np.array([[q, 1 - q]])))
        maps = [np.stack([im[None, :4, :4, :2] / 255.0 for im in prepared]).astype(np.float32)]
        return outs, (HeadMaps(maps, (16, 16)) if heads else None)


@pytest.mark.parametrize("algorithm", ["random", "entropy", "aldd"])
def test_mine_and_infer_in_one_pass_writes_what_two_passes_write(tmp_path, algorithm, caplog):
    """The algorithms whose scores come from inference's forward pass: one pass over the pool (the model sees
    each candidate once) writes the same result.tsv and infer-result.json, byte for byte, as mining and then
    inference; cald needs passes of its own and is declined."""
    import logging

    from ymir_sdk.loops import detection

    paths = _images(tmp_path, 5)
    calls = []

    class Counting(_Detector):
        def detect(self, prepared, heads=False):
            calls.append(len(prepared))
            return super().detect(prepared, heads)

    def outputs(ctx_mine, ctx_infer):
        return (open(ctx_mine.env.output.mining_result_file).read(),
                open(ctx_infer.env.output.infer_result_file).read())

    two = tmp_path / "two"
    two.mkdir()
    mine, infer = _context(two, paths, "mine"), _context(two, paths, "infer")
    detection.mine(mine, Counting, Mining.of(algorithm, 2, Batching(2)))
    detection.infer(infer, Counting(), Batching(2))
    separate = outputs(mine, infer)
    calls.clear()
    one = tmp_path / "one"
    one.mkdir()
    mine, infer = _context(one, paths, "mine"), _context(one, paths, "infer")
    with caplog.at_level(logging.INFO, logger="ymir_sdk"):
        assert detection.mine_and_infer(mine, infer, Counting, Mining.of(algorithm, 2, Batching(2)))
    assert sum(calls) == len(paths) and "one pass over the pool" in caplog.text
    assert outputs(mine, infer) == separate
    assert not detection.mine_and_infer(mine, infer, Counting, Mining.of("cald", 2, Batching(2)))


def test_a_result_that_is_not_finite_fails_naming_the_image(tmp_path):
    """A NaN or infinite payload (a mining score, CALD's divergence) is a 300201 naming the image, before anything is
    written, not the JSON encoder's ValueError."""
    from ymir_sdk.errors import NanError

    paths = _images(tmp_path, 3)
    ctx = _context(tmp_path, paths)
    with pytest.raises(NanError, match="img1.png") as e:
        loop.over_candidates(ctx, lambda items: [[0.5, float("nan") if p.endswith("img1.png") else 0.1]
                                                 for p, _ in items], lambda p: None, batch_size=2)
    assert e.value.code == 300201 and not os.path.exists(ctx.env.output.mining_result_file)


def test_cald_stage_two_lifts_the_most_divergent_of_the_least_consistent(tmp_path):
    """``cald_candidates``: the M best by stage 1 go first, ordered by their divergence from the labelled set's
    classes (kept beside each score in the shards, reranked once the pool is scored); the rest keep stage 1's
    order; with 0 the ranking is stage 1's."""
    from ymir_sdk.loops import detection
    from ymir_sdk.mining.detection import cald, cald_divergence

    class Model(_Detector, detection.Detector):  # the augmented views through the Detector's own detect_images
        pass

    paths = _images(tmp_path, 7)
    counts = tmp_path / "class-counts.json"
    counts.write_text(json.dumps({"images": 10, "objects": {"a": 30, "b": 2}}))

    def ranking(folder, candidates):
        folder.mkdir()
        ctx = _context(folder, paths)
        ctx._model_files = [str(counts)]
        detection.mine(ctx, Model, Mining.of("cald", 2, Batching(2), cald_candidates=candidates))
        return [ln.split("\t") for ln in open(ctx.env.output.mining_result_file).read().splitlines()]

    stage1, stage2 = ranking(tmp_path / "one", 0), ranking(tmp_path / "two", 3)
    d, divergence = Model(), {}
    for i in range(0, len(paths), 2):  # batch by batch, as the loop (each batch's cutouts drawn from seed 0)
        images = [d.read(p) for p in paths[i:i + 2]]
        maxima = cald(images, d.detect(images)[0], lambda imgs: d.detect(imgs)[0], 2).class_max
        divergence.update(zip(paths[i:i + 2], cald_divergence(maxima, np.array([3.0, 0.2]))))
    head = sorted((p for p, _ in stage1[:3]), key=lambda p: -divergence[p])
    assert [p for p, _ in stage2] == head + [p for p, _ in stage1[3:]]
    assert [float(s) for _, s in stage2[:3]] == pytest.approx([1 + divergence[p] for p in head])
    assert len(set(divergence.values())) == len(paths) and head != [p for p, _ in stage1[:3]]  # the test can fail
