import json
import os

import numpy as np
import pytest
import yaml
from PIL import Image

from ymir_sdk.dataset import (ConversionStats, convert_to_coco, convert_to_mmseg, convert_to_yolo, image_size,
                              load_records, merge_segments, parse_ark, parse_voc, read_candidates, read_pairs)
from ymir_sdk.dataset import rotated
from ymir_sdk.dataset.convert import cached, decode_segmentation, object_polygon

pytestmark = pytest.mark.images  # the SDK core runs in every image: also on the images' stack


def img(path, w=64, h=48, exif_orientation=None, fmt=None):
    im = Image.new("RGB", (w, h), (10, 20, 30))
    kwargs = {}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    im.save(path, format=fmt, **kwargs)
    return str(path)


def test_ark_seven_and_five_fields_blank_lines_crlf_inclusive_corners():
    text = "0, 48, 120, 207, 389, -1.0, 0.0\r\n\r\n2, 301, 210, 455, 330, 0.85, 0.5\n1,1,2,3,4\n   \n"
    classes, boxes, quality, angles = parse_ark(text)
    assert classes == [0, 2, 1]
    assert boxes[0] == (48, 120, 208, 390)  # xmax inclusive -> exclusive x2
    assert quality == [-1.0, 0.85, -1.0] and angles == [0.0, 0.5, 0.0]


def test_voc_parse_names_angles_quality():
    xml = ("<annotation><object><name>Dog</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>20</ymax>"
           "<rotate_angle>0.2500</rotate_angle></bndbox><box_quality>0.9000</box_quality></object>"
           "<object><name>cat</name><bndbox><xmin>0</xmin><ymin>0</ymin><xmax>1</xmax><ymax>1</ymax></bndbox>"
           "</object></annotation>")
    classes, boxes, quality, angles = parse_voc(xml, {"dog": 0})
    assert classes == [0, -1] and boxes[0] == (1, 2, 11, 21) and angles[0] == 0.25 and quality[0] == 0.9


def test_image_size_respects_exif_orientation(tmp_path):
    assert image_size(img(tmp_path / "a.jpg", 64, 48)) == (64, 48)
    assert image_size(img(tmp_path / "b.jpg", 64, 48, exif_orientation=6)) == (48, 64)
    assert image_size(img(tmp_path / "c.jpg", 64, 48, exif_orientation=3)) == (64, 48)
    assert image_size(img(tmp_path / "d.png", 30, 20)) == (30, 20)
    assert image_size(img(tmp_path / "e.png", 30, 20, exif_orientation=8)) == (20, 30)
    assert image_size(img(tmp_path / "f.bmp", 7, 5)) == (7, 5)
    assert image_size(img(tmp_path / "g.webp", 9, 4, fmt="WEBP")) == (9, 4)


def test_index_readers(tmp_path):
    idx = tmp_path / "train-index.tsv"
    idx.write_text("/a/1.jpg\t/a/1.txt\r\n\n/a/2.jpg\t/a/2.txt\n")
    assert read_pairs(str(idx)) == [("/a/1.jpg", "/a/1.txt"), ("/a/2.jpg", "/a/2.txt")]
    cand = tmp_path / "candidate-index.tsv"
    cand.write_text("/a/1.jpg\n/a/2.jpg\n\n/a/1.jpg\n")
    assert read_candidates(str(cand)) == ["/a/1.jpg", "/a/2.jpg"]


def _pairs(tmp_path, lines_per_image):
    pairs = []
    for i, lines in enumerate(lines_per_image):
        image = img(tmp_path / f"{i}.png", 100, 80)
        ann = tmp_path / f"{i}.txt"
        ann.write_text("".join(ln + "\n" for ln in lines))
        pairs.append((image, str(ann)))
    return pairs


def test_rules_are_counted_and_never_drop_an_image(tmp_path):
    pairs = _pairs(tmp_path, [
        ["0, 10, 10, 19, 19", "5, 10, 10, 19, 19"],          # unknown class -> box dropped
        ["1, 90, 70, 119, 99"],                                # partly outside -> clipped
        ["0, 200, 200, 210, 210", "0, 5, 5, 3, 3"],           # wholly outside, zero size -> dropped
        [],                                                    # background image
    ])
    pairs.append((img(tmp_path / "nolabel.png", 100, 80), str(tmp_path / "missing.txt")))
    stats = ConversionStats()
    records = load_records(pairs, ["a", "b"], stats)
    assert len(records) == 5  # every image kept
    assert (stats.unknown_class, stats.clipped, stats.outside, stats.degenerate, stats.missing_annotation) == \
        (1, 1, 1, 1, 1)
    assert records[1].boxes.tolist() == [[90, 70, 100, 80]]
    assert "1 objects with a class outside class_names" in stats.report("train")


def test_unreadable_image_dropped_and_reported(tmp_path, caplog):
    pairs = _pairs(tmp_path, [["0, 1, 1, 5, 5"]])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    ann = tmp_path / "bad.txt"
    ann.write_text("0, 1, 1, 5, 5\n")
    stats = ConversionStats()
    records = load_records(pairs + [(str(bad), str(ann))], ["a"], stats)
    stats.log("train")
    assert len(records) == 1 and stats.unreadable_images == [str(bad)]
    assert "bad.png" in caplog.text


def test_coco_conversion_and_cache(tmp_path):
    pairs = _pairs(tmp_path, [["0, 10, 10, 19, 29"], ["1, 0, 0, 9, 9", "0, 50, 40, 59, 49"]])
    out = convert_to_coco({"train": pairs, "val": pairs[:1]}, ["a", "b"], str(tmp_path / "conv"))
    data = json.load(open(out["train"]))
    assert [a["bbox"] for a in data["annotations"]] == [[10, 10, 10, 20], [0, 0, 10, 10], [50, 40, 10, 10]]
    assert data["categories"][0] == {"id": 0, "name": "a", "supercategory": "none"}
    assert data["images"][0]["file_name"] == pairs[0][0] and data["images"][0]["width"] == 100
    # unchanged input: reused; changed annotation: rebuilt
    mtime = os.path.getmtime(out["train"])
    convert_to_coco({"train": pairs, "val": pairs[:1]}, ["a", "b"], str(tmp_path / "conv"))
    assert os.path.getmtime(out["train"]) == mtime
    with open(pairs[0][1], "a") as f:
        f.write("1, 1, 1, 4, 4\n")
    os.utime(pairs[0][1], ns=(1, 10**18))
    convert_to_coco({"train": pairs, "val": pairs[:1]}, ["a", "b"], str(tmp_path / "conv"))
    assert len(json.load(open(out["train"]))["annotations"]) == 4


def test_a_conversion_publishes_the_training_split_s_class_counts(tmp_path):
    """Beside the converted data (so a reused cache has them too), and copied to ``counts_to`` (a training's
    models folder): the training split's images and objects per class, every class named."""
    pairs = _pairs(tmp_path, [["0, 10, 10, 19, 29"], ["0, 0, 0, 9, 9", "0, 50, 40, 59, 49"], []])
    for convert in (convert_to_coco, convert_to_yolo):  # (and convert_to_mmseg: the same code)
        for attempt in ("built", "reused"):
            models = tmp_path / f"models-{convert.__name__}-{attempt}"
            convert({"train": pairs, "val": pairs[1:2]}, ["a", "b"], str(tmp_path / "conv"), counts_to=str(models))
            counts = json.load(open(models / "class-counts.json"))
            assert counts == {"images": 3, "objects": {"a": 3, "b": 0}}, (convert.__name__, attempt)


def test_half_written_cache_is_never_reused(tmp_path):
    target = str(tmp_path / "out")
    calls = []

    def broken(path):
        os.makedirs(path)
        open(os.path.join(path, "part"), "w").write("half")
        raise KeyboardInterrupt  # the run is killed mid-way

    with pytest.raises(KeyboardInterrupt):
        cached(target, "k1", broken)
    assert not os.path.exists(target) and not os.path.exists(target + ".key")

    def good(path):
        calls.append(1)
        os.makedirs(path)

    assert cached(target, "k1", good) is False
    assert cached(target, "k1", good) is True and len(calls) == 1
    # an output without its key file (killed between rename and key write) is rebuilt
    os.unlink(target + ".key")
    assert cached(target, "k1", good) is False and len(calls) == 2


def test_yolo_boxes(tmp_path):
    pairs = _pairs(tmp_path, [["1, 10, 20, 29, 59"]])
    data_yaml = convert_to_yolo({"train": pairs, "val": pairs}, ["a", "b"], str(tmp_path / "y"))
    data = yaml.safe_load(open(data_yaml))
    assert data["nc"] == 2 and data["names"] == ["a", "b"]
    listed = open(data["train"]).read().split()
    label = listed[0].replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt"
    cls, cx, cy, w, h = open(label).read().split()
    assert cls == "1" and float(cx) == pytest.approx(20 / 100) and float(cy) == pytest.approx(40 / 80)
    assert float(w) == pytest.approx(0.2) and float(h) == pytest.approx(0.5)
    assert os.path.realpath(listed[0]) == os.path.realpath(pairs[0][0])


def _coco_seg_pairs(tmp_path, segmentation):
    image = img(tmp_path / "s.png", 40, 40)
    coco = {"images": [{"id": 1, "file_name": "s.png", "width": 40, "height": 40}],
            "categories": [{"id": 0, "name": "a"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 0, "bbox": [5, 5, 30, 30], "area": 1,
                             "segmentation": segmentation}]}
    path = tmp_path / "coco-annotations.json"
    path.write_text(json.dumps(coco))
    return [(image, str(path))]


def _ring_rle():
    from pycocotools import mask as mask_utils

    m = np.zeros((40, 40), np.uint8)
    m[5:35, 5:35] = 1
    m[15:25, 15:25] = 0  # a hole
    rle = mask_utils.encode(np.asfortranarray(m))
    return m, {"size": [40, 40], "counts": rle["counts"].decode()}


def test_yolo_seg_keeps_a_holed_object_as_one_instance(tmp_path):
    import cv2

    mask, rle = _ring_rle()
    pairs = _coco_seg_pairs(tmp_path, rle)
    data = yaml.safe_load(open(convert_to_yolo({"train": pairs}, ["a"], str(tmp_path / "y"), segments=True)))
    listed = open(data["train"]).read().split()
    lines = open(listed[0].replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt").read().splitlines()
    assert len(lines) == 1  # one instance, not one per boundary
    xy = np.array(lines[0].split()[1:], float).reshape(-1, 2) * 40
    drawn = np.zeros((40, 40), np.uint8)
    cv2.fillPoly(drawn, [np.round(xy).astype(np.int32)], 1)
    iou = (drawn & mask).sum() / (drawn | mask).sum()
    assert iou > 0.8 and drawn[20, 20] == 0  # the hole stays a hole


def test_multi_part_polygons_merge_into_one():
    a = [0, 0, 10, 0, 10, 10, 0, 10]
    b = [20, 0, 30, 0, 30, 10, 20, 10]
    poly = object_polygon([a, b], 20, 40)
    assert len(poly) == 4 + 5 + 1  # both parts plus a bridge
    assert {tuple(p) for p in np.asarray(b).reshape(-1, 2)} <= {tuple(p) for p in poly}
    assert merge_segments([]).shape == (0, 2)


def test_mmseg_label_maps_with_and_without_background(tmp_path):
    import cv2

    mask, rle = _ring_rle()
    pairs = _coco_seg_pairs(tmp_path, rle)
    for bg, fill, label in ((True, 0, 1), (False, 255, 0)):
        index = convert_to_mmseg({"train": pairs}, ["a"], str(tmp_path / "m"), with_background=bg)
        image, png = open(index["train"]).read().split()
        lm = cv2.imread(png, cv2.IMREAD_UNCHANGED)
        assert image == pairs[0][0] and lm.dtype == np.uint8
        assert lm[20, 20] == fill and lm[6, 6] == label and lm[0, 0] == fill
        assert ((lm == label) == mask.astype(bool)).all()


def test_decode_polygon_and_rle_agree():
    mask, rle = _ring_rle()
    assert (decode_segmentation(rle, 40, 40) == mask).all()
    square = decode_segmentation([[5, 5, 35, 5, 35, 35, 5, 35]], 40, 40)
    assert square[20, 20] == 1 and square[0, 0] == 0


def test_rotated_convention_round_trip():
    boxes = np.array([[10.0, 20.0, 50.0, 40.0]])
    r = rotated.rboxes_from_boxes(boxes, np.array([np.pi / 2]))
    assert r.tolist() == [[30.0, 30.0, 40.0, 20.0, np.pi / 2]]
    c = rotated.corners(r).reshape(4, 2)
    # turned by 90 degrees clockwise (y down): the 40-wide side now runs vertically
    assert np.ptp(c[:, 0]) == pytest.approx(20) and np.ptp(c[:, 1]) == pytest.approx(40)
    b, a = rotated.boxes_from_rboxes(r)
    assert b.tolist() == boxes.tolist() and a.tolist() == [np.pi / 2]
    assert rotated.normalize_le90(np.array([[0, 0, 4, 2, np.pi]]))[0, 4] == pytest.approx(0.0)


def _corner_set(rbox):
    return sorted(map(tuple, np.round(rotated.corners(rbox).reshape(4, 2), 6)))


def test_the_form_nearest_upright_is_the_same_rectangle():
    """A tall upright box that le90 writes as a wide box turned by -pi/2 comes back tall with angle 0; any form
    of a rectangle (turned by any multiple of a quarter turn, dims swapped accordingly) gives the same corners
    with an angle in [-pi/4, pi/4)."""
    tall_as_le90 = np.array([[30.0, 30.0, 40.0, 20.0, -np.pi / 2]])  # the 20 x 40 tall box
    assert rotated.nearest_upright(tall_as_le90).tolist() == [[30.0, 30.0, 20.0, 40.0, 0.0]]
    rng = np.random.default_rng(0)
    r = np.column_stack([rng.uniform(0, 100, (200, 2)), rng.uniform(1, 50, (200, 2)), rng.uniform(-7, 7, 200)])
    got = rotated.nearest_upright(r)
    assert (got[:, 4] >= -np.pi / 4 - 1e-12).all() and (got[:, 4] < np.pi / 4 + 1e-12).all()
    for a, b in zip(r, got):
        assert _corner_set(a) == _corner_set(b), (a, b)


def test_rotated_coco_polygons(tmp_path):
    pairs = _pairs(tmp_path, [["0, 10, 10, 49, 29, -1.0, 0.5"]])
    data = json.load(open(convert_to_coco({"train": pairs}, ["a"], str(tmp_path / "r"), "rotated")["train"]))
    ann = data["annotations"][0]
    assert ann["rotate_angle"] == 0.5 and len(ann["segmentation"][0]) == 8
    expected = rotated.corners(rotated.rboxes_from_boxes(np.array([[10, 10, 50, 30]]), np.array([0.5])))[0]
    assert ann["segmentation"][0] == pytest.approx(expected.tolist())


def _slow_cached_build(target, log_path, go):
    """One rank of a multi-GPU run converting the dataset (used by the test below, in its own process)."""
    import time

    from ymir_sdk.dataset.convert import cached

    go.wait()

    def build(path):
        with open(log_path, "a") as f:
            f.write("build\n")
        os.makedirs(path)
        time.sleep(0.5)  # long enough for the other process to arrive while this one builds
        with open(os.path.join(path, "train.json"), "w") as f:
            f.write("{}")

    reused = cached(target, "key", build)
    assert os.path.isfile(os.path.join(target, "train.json"))  # complete, whichever process built it
    with open(log_path, "a") as f:
        f.write(f"reused={reused}\n")


def test_concurrent_conversions_build_once(tmp_path):
    """Ranks converting the same dataset at once: one builds under the lock, the other waits and reuses it
    (without the lock the second rank deleted the folder the first was reading)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    target, log_path = str(tmp_path / "coco"), str(tmp_path / "log")
    go = ctx.Event()
    procs = [ctx.Process(target=_slow_cached_build, args=(target, log_path, go)) for _ in range(2)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    lines = open(log_path).read().split()
    assert lines.count("build") == 1 and sorted(ln for ln in lines if ln.startswith("reused")) == [
        "reused=False", "reused=True"]


# ---------------------------------------------------------------------------------------------- batch ark parser
ARK_FILES = [
    b"0, 48, 120, 207, 389, -1.0, 0.0\r\n\r\n2, 301, 210, 455, 330, 0.85, 0.5\n1,1,2,3,4\n   \n",
    b"",                                                    # empty file (background image)
    b"1, 5, 6, 7, 8",                                       # no trailing newline, 5 fields
    b"\n\n2, 0.5, 1.25, 10.75, 20, 0.3\n",                  # 6 fields (no angle), fractional corners
    b"\t0 ,\t10, 10, 19, 19, -1.0, -0.25 \r\n",              # tabs and spaces around numbers, CRLF
    b"0, 1, 2, 3, 4, -1.0, 0.0\n" * 3,
    b"  \r\n",                                              # whitespace-only lines only
    b"+1, -5, 6, 1e1, 8, .5, 0\n",                          # signs, exponent, leading dot
]


def _reference_rows(files):
    from ymir_sdk.dataset.annotations import _rows

    rows, counts = [], []
    for data in files:
        parsed = parse_ark(data.decode())
        rows.append(_rows(*parsed))
        counts.append(len(parsed[0]))
    return np.concatenate(rows), counts


@pytest.mark.parametrize("order", [list(range(len(ARK_FILES))), list(reversed(range(len(ARK_FILES)))),
                                   [0, 5], [1], [6, 6], [5, 5, 2]])
def test_batch_ark_parser_equals_the_line_parser(order):
    from ymir_sdk.dataset.annotations import parse_ark_batch

    files = [ARK_FILES[i] for i in order]
    rows, counts = parse_ark_batch(files, [f"{i}.txt" for i in order])
    want_rows, want_counts = _reference_rows(files)
    assert counts.tolist() == want_counts
    assert rows.shape == want_rows.shape and rows.tolist() == want_rows.tolist()  # bit-identical values


@pytest.mark.parametrize("bad, message", [
    (b"0, 1, 2, 3, 4\n0, 1, two, 3, 4\n", "bad.txt line 2: non-numeric field"),
    (b"0, 1, 2\n", "bad.txt line 1: expected 5 or 7"),
    (b"0, 1, 2, 3, 4, 5, 6, 7\n", "bad.txt line 1: expected 5 or 7"),
    (b"\n1.5, 1, 2, 3, 4\n", "bad.txt line 2: class id must be an integer"),
    (b"0, nan, 2, 3, 4\n", "bad.txt line 1: non-finite value"),
    (b"0, 1, 2, 3, 4,\n", "bad.txt line 1: non-numeric field"),
    (b"0, 1, , 3, 4\n", "bad.txt line 1: non-numeric field"),
    (b"0, 1, 2, 3, \xff4\n", "bad.txt is not UTF-8 text"),
    (b"0, 1, 2, 3, 4, 0.9, 0.5\n0, 1, 2, 3, 4, 0.9, 30\n", "bad.txt line 2: a rotate angle of 30, beyond 2*pi"),
    (b"0, 1, 2, 3, 4, 0.9, -6.3\n", "bad.txt line 1: a rotate angle of -6.3, beyond 2*pi"),
])
def test_batch_ark_parser_names_the_file_and_line_of_a_bad_value(bad, message):
    from ymir_sdk.dataset.annotations import parse_ark_batch
    from ymir_sdk.errors import DatasetError

    files = [ARK_FILES[0], bad, ARK_FILES[5]]
    with pytest.raises(DatasetError) as e:
        parse_ark_batch(files, ["good.txt", "bad.txt", "other.txt"])
    assert message in str(e.value) and e.value.code == 300002


def test_record_set_is_a_sequence_of_records(tmp_path):
    from ymir_sdk.dataset.annotations import RecordSet

    pairs = _pairs(tmp_path, [["0, 10, 10, 19, 29", "1, 1, 1, 4, 4"], [], ["1, 0, 0, 9, 9"]])
    records = load_records(pairs, ["a", "b"])
    assert isinstance(records, RecordSet) and len(records) == 3 and records.object_count == 3
    assert [len(r) for r in records] == [2, 0, 1]
    assert records[-1].boxes.tolist() == [[0, 0, 10, 10]] and records[2].classes.tolist() == [1]
    assert [r.image for r in records[1:]] == [pairs[1][0], pairs[2][0]]
    with pytest.raises(IndexError):
        records[3]
    again = RecordSet.of(list(records))  # a plain list of records -> the same arrays
    assert again.offsets.tolist() == records.offsets.tolist() == [0, 2, 2, 3]
    assert again.boxes.tolist() == records.boxes.tolist()


def _reference_coco(records, class_names):
    """COCO built the slow, obvious way (json.dumps of dicts)."""
    images, annotations = [], []
    for i, rec in enumerate(records, 1):
        images.append({"id": i, "file_name": rec.image, "width": rec.width, "height": rec.height})
        for (x1, y1, x2, y2), c in zip(rec.boxes.tolist(), rec.classes.tolist()):
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": c,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": i, "name": n, "supercategory": "none"} for i, n in enumerate(class_names)]}


@pytest.mark.parametrize("lines", [["0, 10, 10, 19, 29", "1, 0, 0, 9, 9"],          # integral: written as ints
                                   ["0, 10.5, 10.25, 19.125, 29", "1, 0, 0, 9, 9"]])  # fractional: floats
def test_coco_json_equals_the_obvious_encoding_and_escapes_names(tmp_path, lines):
    """Also written in pieces of a few images (a split of a million is never held whole as text): the same text,
    whichever pieces hold an image without objects or a fractional number."""
    from ymir_sdk.dataset.convert import coco_json, coco_json_parts

    odd = tmp_path / 'quote" back\\slash ünï.png'
    pairs = _pairs(tmp_path, [lines, [], lines[:1]])
    img(odd, 100, 80)
    pairs.append((str(odd), pairs[0][1]))
    records = load_records(pairs, ["a", "b"])
    text = coco_json(records, ["a", "b"])
    assert json.loads(text) == _reference_coco(records, ["a", "b"])
    assert json.loads(text)["images"][3]["file_name"] == str(odd)
    fractional = "." in lines[0]
    assert ('"bbox":[10.5,10.25,' in text) == fractional and ('"bbox":[10,10,10,20]' in text) == (not fractional)
    for segmentation in ("none", "rotated", "masks"):
        whole = coco_json(records, ["a", "b"], segmentation)
        for chunk in (1, 2, 3):
            parts = list(coco_json_parts(records, ["a", "b"], segmentation, chunk=chunk))
            assert "".join(parts) == whole and len(parts) > 4


def test_cache_key_follows_the_content_not_the_mtime(tmp_path):
    """A file rewritten with the same size and mtime (a coarse-mtime filesystem) is still seen as changed; a copy
    with new mtimes and the same bytes reuses the conversion."""
    pairs = _pairs(tmp_path, [["0, 10, 10, 19, 29"]])
    out = str(tmp_path / "conv")
    path = convert_to_coco({"train": pairs}, ["a", "b"], out)["train"]
    st = os.stat(pairs[0][1])
    with open(pairs[0][1], "w") as f:
        f.write("1, 10, 10, 19, 29\n")  # same length
    os.utime(pairs[0][1], ns=(st.st_atime_ns, st.st_mtime_ns))
    convert_to_coco({"train": pairs}, ["a", "b"], out)
    assert json.load(open(path))["annotations"][0]["category_id"] == 1
    built = os.path.getmtime(path)
    os.utime(pairs[0][1], ns=(1, 10**18))
    convert_to_coco({"train": pairs}, ["a", "b"], out)
    assert os.path.getmtime(path) == built  # same bytes: reused


def test_image_size_reads_past_the_first_block(tmp_path):
    """Headers whose size or orientation lie beyond the first 1024 bytes (a long comment before the JPEG frame
    header, a long text chunk before the PNG eXIf chunk)."""
    from PIL.PngImagePlugin import PngInfo

    exif = Image.Exif()
    exif[0x0112] = 6
    im = Image.new("RGB", (64, 48))
    jpg, png = tmp_path / "long.jpg", tmp_path / "long.png"
    im.save(jpg, exif=exif.tobytes(), comment=b"x" * 5000)
    info = PngInfo()
    info.add_text("comment", "y" * 5000)
    im.save(png, pnginfo=info, exif=exif.tobytes())
    assert os.path.getsize(jpg) > 5000 and os.path.getsize(png) > 5000
    with Image.open(png) as check:
        assert check.getexif().get(0x0112) == 6
    assert image_size(str(jpg)) == (48, 64) and image_size(str(png)) == (48, 64)


# ------------------------------------------------------------------ broken and empty segmentations
def _ring_counts():
    return _ring_rle()[1]["counts"]


BROKEN_SEGMENTATIONS = {
    "counts not an RLE": ({"size": [40, 40], "counts": "abc"}, "counts is not a compressed RLE string"),
    "counts cut mid-number": ({"size": [40, 40], "counts": _ring_counts() + "o"}, "not a compressed RLE"),
    "counts with a byte outside the alphabet": ({"size": [40, 40], "counts": "\x00\x01"}, "not a compressed RLE"),
    "counts cover too many pixels": ({"size": [40, 40], "counts": "PPYo1"}, "cover 2073600 pixels, not the image's 1600"),
    "counts cover too few pixels": ({"size": [40, 40], "counts": [10, 20]}, "cover 30 pixels"),
    "counts a number": ({"size": [40, 40], "counts": 5}, "neither an RLE string nor a list of run lengths"),
    "counts with a negative run": ({"size": [40, 40], "counts": [1700, -100]}, "neither an RLE string"),
    "size of another image": ({"size": [30, 40], "counts": _ring_counts()}, "size [30, 40] on an image of"),
    "size missing": ({"counts": _ring_counts()}, "without a [height, width] size"),
    "polygon of text": ([["5", "5", "35", "5", "35", "35"]], "not a finite number ('5')"),
    "polygon with NaN": ([[5, 5, 35, 5, float("nan"), 35]], "not a finite number"),
    "polygon not nested": ([5, 5, 35, 5, 35, 35], "not a list of [x1, y1, x2, y2, ...] lists"),
    "polygon of odd length": ([[5, 5, 35, 5, 35]], "odd number of coordinates"),
    "segmentation a string": ("5 5 35 5", "neither an RLE dict nor a list of polygons"),
}


@pytest.mark.parametrize("convert", ["mmseg", "yolo-seg", "coco-masks"])
@pytest.mark.parametrize("name", sorted(BROKEN_SEGMENTATIONS))
def test_a_broken_segmentation_is_a_dataset_error_naming_file_image_and_annotation(tmp_path, name, convert):
    """pycocotools would crash on each of these (a Python error, or malloc aborting the process on an RLE whose
    runs overrun the mask): every converter names the annotation file, the image and the annotation id (300002),
    and leaves no output behind."""
    from ymir_sdk.errors import DatasetError

    seg, words = BROKEN_SEGMENTATIONS[name]
    pairs = _coco_seg_pairs(tmp_path, seg)
    out = tmp_path / "out"
    with pytest.raises(DatasetError) as e:
        {"mmseg": lambda: convert_to_mmseg({"train": pairs}, ["a"], str(out), with_background=True),
         "yolo-seg": lambda: convert_to_yolo({"train": pairs}, ["a"], str(out), segments=True),
         "coco-masks": lambda: convert_to_coco({"train": pairs}, ["a"], str(out), segmentation="masks")}[convert]()
    assert e.value.code == 300002
    assert f"{pairs[0][1]}: annotation 1 of image s.png has" in str(e.value) and words in str(e.value)
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


@pytest.mark.parametrize("seg", [[[5, 5, 35, 5]], [[5, 5]], {"size": [40, 40], "counts": [1600]},
                                 {"size": [40, 40], "counts": "Pg1"}], ids=["two points", "one point", "no run set",
                                                                          "compressed, no run set"])
def test_an_empty_mask_is_kept_as_its_box_counted_and_named(tmp_path, seg, caplog):
    """Instance segmentation (YOLO-seg) trains it as its box's rectangle; the log counts and names it."""
    import logging

    if isinstance(seg, dict) and isinstance(seg["counts"], str):
        from pycocotools import mask as mask_utils

        seg = {"size": [40, 40], "counts": mask_utils.encode(np.zeros((40, 40), np.uint8, order="F"))["counts"].decode()}
    pairs = _coco_seg_pairs(tmp_path, seg)
    stats = ConversionStats()
    records = load_records(pairs, ["a"], stats)
    assert stats.empty_masks == ["annotation 1 of s.png"] and records[0].segmentations == [None]
    assert "1 objects with an empty mask (kept as boxes only)" in stats.report("train set")
    with caplog.at_level(logging.WARNING, logger="ymir_sdk"):
        data = yaml.safe_load(open(convert_to_yolo({"train": pairs}, ["a"], str(tmp_path / "y"), segments=True)))
    assert "empty mask, kept as a box only: annotation 1 of s.png" in caplog.text
    label = open(data["train"]).read().split()[0].replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt"
    xy = np.array(open(label).read().split()[1:], float).reshape(-1, 2) * 40
    assert sorted(map(tuple, xy.round(3))) == [(5, 5), (5, 35), (35, 5), (35, 35)]


def test_a_mask_too_thin_to_trace_is_kept_as_its_box(tmp_path):
    """One set pixel decodes but has no three-point contour: YOLO-seg gets the box's rectangle, not nothing."""
    from pycocotools import mask as mask_utils

    m = np.zeros((40, 40), np.uint8, order="F")
    m[10, 10] = 1
    seg = {"size": [40, 40], "counts": mask_utils.encode(m)["counts"].decode()}
    data = yaml.safe_load(open(convert_to_yolo({"train": _coco_seg_pairs(tmp_path, seg)}, ["a"], str(tmp_path / "y"),
                                               segments=True)))
    label = open(data["train"]).read().split()[0].replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt"
    assert len(open(label).read().split()) == 1 + 8


def test_rle_runs_read_what_pycocotools_writes():
    from pycocotools import mask as mask_utils

    from ymir_sdk.dataset.annotations import rle_runs

    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(1, 120, 2))
        m = np.asfortranarray((rng.random((h, w)) < rng.random()).astype(np.uint8))
        runs = rle_runs(mask_utils.encode(m)["counts"].decode())
        flat = m.T.reshape(-1)
        edges = np.flatnonzero(np.diff(flat)) + 1
        expected = np.diff(np.concatenate(([0], edges, [flat.size])))
        expected = expected if flat[0] == 0 else np.concatenate(([0], expected))
        assert runs.tolist() == expected.tolist()


def test_a_semantic_training_set_without_a_labelled_pixel_is_a_dataset_error(tmp_path, caplog):
    """Every mask empty ({} objects, box only): 300002; some images without a labelled pixel: counted in the log."""
    import logging

    from ymir_sdk.errors import DatasetError

    empty = _coco_seg_pairs(tmp_path, {})
    for bg in (True, False):
        with pytest.raises(DatasetError, match="train dataset has no labelled pixel of any class"):
            convert_to_mmseg({"train": empty}, ["a"], str(tmp_path / f"m{bg}"), with_background=bg)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pairs = _coco_seg_pairs(mixed, _ring_rle()[1])
    blank = img(mixed / "blank.png", 40, 40)
    with caplog.at_level(logging.WARNING, logger="ymir_sdk"):
        index = convert_to_mmseg({"train": pairs + [(blank, pairs[0][1])], "val": [(blank, pairs[0][1])]}, ["a"],
                                 str(tmp_path / "mixed-out"), with_background=True)
    assert "train set: 1 of 2 images have no labelled pixel" in caplog.text
    assert "val set: 1 of 1 images have no labelled pixel" in caplog.text  # a validation set may: warned only
    assert len(open(index["train"]).read().split("\n")) == 3


@pytest.mark.parametrize("fmt", ["png", "jpeg-header-only", "bmp-header-only"])
def test_an_image_whose_data_is_cut_short_is_dropped_from_training(tmp_path, fmt):
    """Its header says 10000x10000 and reads, its end marker is there, its data is a few bytes: the size check
    passes, training's decoder would fail (yolov5: 'Image Not Found'). Training conversions decode every image
    and drop (and count) those that do not decode, as inference and mining skip them."""
    import struct
    import zlib

    good = img(tmp_path / "good.png", 40, 40)
    bad = tmp_path / f"bad.{fmt[:4]}"
    if fmt == "png":
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        bad.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10000, 10000, 8, 2, 0, 0, 0))
                        + chunk(b"IDAT", zlib.compress(b"\x00" * 30001)) + chunk(b"IEND", b""))
    elif fmt == "jpeg-header-only":
        import io

        buf = io.BytesIO()
        Image.new("RGB", (10000, 10000)).resize((64, 48)).save(buf, "JPEG")
        data = buf.getvalue()
        sof = data.index(b"\xff\xc0")  # the frame header: claim 10000x10000, keep only the headers and EOI
        head = data[: sof + 5] + struct.pack(">HH", 10000, 10000) + data[sof + 9:]
        bad.write_bytes(head[: head.index(b"\xff\xda")] + b"\xff\xd9")
    else:
        bad.write_bytes(b"BM" + struct.pack("<IHHIIiiHHIIiiII", 54 + 10, 0, 0, 54, 40, 10000, 10000, 1, 24, 0, 0, 0, 0,
                                            0, 0) + b"\x00" * 10)
    assert image_size(str(bad)) == (10000, 10000)  # the header reads
    ann = tmp_path / "a.txt"
    ann.write_text("0, 1, 1, 10, 10\n")
    stats = ConversionStats()
    from ymir_sdk.dataset.convert import decodable

    assert decodable([(good, str(ann)), (str(bad), str(ann))], stats) == [(good, str(ann))]
    assert stats.unreadable_images == [str(bad)]
    out = convert_to_coco({"train": [(good, str(ann)), (str(bad), str(ann))]}, ["a"], str(tmp_path / "c"))
    assert [i["file_name"] for i in json.load(open(out["train"]))["images"]] == [good]
