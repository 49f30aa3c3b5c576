"""Outputs the platform never rejects and faults that keep their code, framework-free: atomic stage files, boxes
clipped to their image, a fault of the run never taken for a fault of an image, errors mapped to the contract's
codes, config checked before any work, verify's errors and warnings. (The executors' halves of these run in the
conformance suite.)"""
import json
import os
import threading
import time

import pytest
import yaml

from conftest import TOY, cli, monitor_line, start_command, write_env, write_yaml
from ymir_sdk import Detection, ImageError, ReturnCode, contract, load_env
from ymir_sdk.errors import code_for_exception
from ymir_sdk.io import atomic_output

pytestmark = pytest.mark.images


# ------------------------------------------------------------------ every listed file whole
def test_a_reader_never_sees_a_part_of_a_file_written_through_atomic_output(tmp_path):
    """A slow writer (as torch.save of a big checkpoint) and a reader polling the target: the reader sees the old
    file or the new one, never a part (the same write straight to the target is seen half-written)."""
    target = str(tmp_path / "best.pt")
    old, new = b"o" * 4096, b"n" * 4096
    open(target, "wb").write(old)

    def slow_write(path):
        with open(path, "wb") as f:
            for i in range(0, len(new), 256):
                f.write(new[i:i + 256])
                f.flush()
                time.sleep(0.002)

    def poll(seen, stop):
        while not stop.is_set():
            data = open(target, "rb").read()
            seen.add(data if data in (old, new) else b"part")

    for direct in (False, True):
        open(target, "wb").write(old)
        seen, stop = set(), threading.Event()
        reader = threading.Thread(target=poll, args=(seen, stop))
        reader.start()
        if direct:
            slow_write(target)
        else:
            with atomic_output(target) as tmp:
                slow_write(tmp)
        stop.set()
        reader.join()
        assert open(target, "rb").read() == new
        assert (b"part" in seen) == direct, (direct, seen)
    assert sorted(os.listdir(tmp_path)) == ["best.pt"]  # no temporary file left
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("killed")
    assert open(target, "rb").read() == new and sorted(os.listdir(tmp_path)) == ["best.pt"]


# ------------------------------------------------------------------ boxes the platform stores
def test_boxes_are_clipped_to_their_image_and_dropped_when_nothing_is_left(tmp_path):
    from ymir_sdk.results import clip_detection, write_detection_result

    path = str(tmp_path / "r.json")
    dets = {"/in/a.jpg": [Detection(0, 0.9, -5.0, -5.0, 50.0, 40.0), Detection(0, 0.8, 90.0, 10.0, 2.0 ** 40, 30.0),
                          Detection(0, 0.7, 200.0, 200.0, 300.0, 300.0), Detection(0, 0.6, 99.6, 5.0, 120.0, 9.0)]}
    write_detection_result(path, dets, ["cat"], sizes={"/in/a.jpg": (100, 60)})
    boxes = [b["box"] for b in json.load(open(path))["detection"]["a.jpg"]["boxes"]]
    assert boxes == [{"x": 0, "y": 0, "w": 50, "h": 40}, {"x": 90, "y": 10, "w": 10, "h": 20}]
    rotated = clip_detection(Detection(0, 0.5, 150.0, 10.0, 170.0, 20.0, angle=0.3), 100, 60)
    assert (rotated.x1 + rotated.x2) / 2 == 100 and rotated.x2 - rotated.x1 == 20 and rotated.angle == 0.3


# ------------------------------------------------------------------ a fault of the run, not of an image
def _context(tmp_path, candidates):
    from ymir_sdk import Executor, HyperParams, Monitor
    from ymir_sdk.executor import Context

    index = tmp_path / "candidates.tsv"
    index.write_text("".join(p + "\n" for p in candidates))
    env = load_env(write_env(str(tmp_path), run_mining=True, candidate_index_file=str(index)))
    return Context(Executor(), env, HyperParams.parse({}), Monitor(env.output.monitor_file, "t"), "mine")


def _images(tmp_path, n):
    from PIL import Image

    paths = []
    for i in range(n):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (8, 8)).save(paths[-1])
    return paths


def test_an_unreadable_image_is_skipped_but_a_failing_run_fails(tmp_path):
    from ymir_sdk.loops.candidates import over_candidates

    paths = _images(tmp_path, 4)

    def load(path):
        if path.endswith("1.png"):
            raise ImageError(f"image unreadable: {path}")
        return path

    shards = over_candidates(_context(tmp_path, paths), lambda items: [p for p, _ in items], load, batch_size=2)
    records = list(shards.records())
    assert [(p, ok) for p, ok, _ in records] == [(p, p != paths[1]) for p in paths]
    assert records[1][2] == f"image unreadable: {paths[1]}" and (shards.found, shards.skipped) == (3, 1)

    def letterbox_fails(path):  # e.g. an img_size no image can be resized to: every image fails alike
        raise ValueError("cv2.error: (-4:Insufficient memory) Failed to allocate 107374182400 bytes")

    with pytest.raises(ValueError) as e:
        over_candidates(_context(tmp_path, paths), lambda items: items, letterbox_fails, batch_size=2)
    assert code_for_exception(e.value) == ReturnCode.OUT_OF_MEMORY

    def nothing_decodes(path):
        raise ImageError(f"image unreadable: {path}")

    with pytest.raises(ImageError, match="none of the 4 candidates could be decoded"):
        over_candidates(_context(tmp_path, paths), lambda items: items, nothing_decodes, batch_size=2)
    with pytest.raises(ImageError, match="none of the 2 candidates could be read"):
        _context(tmp_path, [str(tmp_path / "gone1.png"), str(tmp_path / "gone2.png")]).readable(
            [str(tmp_path / "gone1.png"), str(tmp_path / "gone2.png")])


@pytest.mark.parametrize("exc,code", [
    (MemoryError(), 300103),
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), 300103),
    (Exception("OpenCV(4.8.0) error: (-4:Insufficient memory) Failed to allocate 4 bytes in function 'OutOfMemory'"),
     300103),
    (RuntimeError("CUDA error: invalid device ordinal"), 300102),
    (AssertionError("Invalid CUDA '--device 3' requested, use '--device cpu' or pass valid CUDA device(s)"), 300102),
    (AssertionError("Torch not compiled with CUDA enabled"), 300102),
    (RuntimeError("CUDA driver version is insufficient for CUDA runtime version"), 300101),
    (KeyError("x"), 160004),
])
def test_errors_map_to_the_contract_codes(exc, code):
    assert int(code_for_exception(exc)) == code


# ------------------------------------------------------------------ config checked before any work
@pytest.fixture(scope="module")
def toy_trained(ark_dataset, tmp_path_factory):
    work = str(tmp_path_factory.mktemp("toy-hard") / "train")
    r = cli("run", TOY, "--task", "train", "--dataset", ark_dataset, "--work", work, "--no-progress")
    assert r.returncode == 0, r.stdout
    return work


def _rerun(work, edit_config=None, edit_env=None):
    """Run the toy executor again on a laid-out work folder, after editing its config.yaml / env.yaml."""
    import subprocess

    for name, edit in (("config.yaml", edit_config), ("env.yaml", edit_env)):
        if edit:
            path = os.path.join(work, "in", name)
            data = yaml.safe_load(open(path))
            edit(data)
            write_yaml(path, data)
    # as the runner starts it: the toy package importable from tests/
    env = dict(os.environ, YMIR_ENV_FILE=os.path.join(work, "in", "env.yaml"), PYTHONPATH=os.path.dirname(TOY))
    return subprocess.run(start_command(TOY), env=env, capture_output=True, text=True, timeout=120)


def _train_work(ark_dataset, tmp_path):
    from ymir_sdk.tools.localdata import read_dataset
    from ymir_sdk.tools.runner import lay_out

    work = str(tmp_path / "w")
    lay_out(work, read_dataset(ark_dataset), "train", os.path.join(TOY, "img-man"), {})
    return work


@pytest.mark.parametrize("edit,code,words", [
    (lambda c: c.pop("class_names"), 300001, ["'class_names'"]),
    (lambda c: c.update(class_names=["square", "disc", "Square"]), 300001, ["'class_names'", "twice"]),
    (lambda c: c.update(gpu_id="0"), 300102, ["gpu_id 0"]),  # these machines have no GPU
])
def test_training_config_checked_before_any_work(ark_dataset, tmp_path, edit, code, words):
    work = _train_work(ark_dataset, tmp_path)
    r = _rerun(work, edit_config=edit)
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", str(code)], line
    for w in words:
        assert w in line[5], line
    assert not os.listdir(os.path.join(work, "out", "models"))  # nothing was done


def test_a_task_id_with_tabs_and_newlines_still_gives_a_parseable_monitor(ark_dataset, tmp_path):
    work = _train_work(ark_dataset, tmp_path)
    r = _rerun(work, edit_env=lambda e: e.update(task_id="t-1\tbad\nid"))
    assert r.returncode == 0, r.stderr[-2000:]
    text = open(os.path.join(work, "out", "monitor.txt")).read()
    assert contract.check_monitor(text, final=True) == [] and text.startswith("t-1_bad_id\t")


def test_a_run_wide_failure_during_mining_exits_with_its_code(toy_trained, ark_dataset, tmp_path):
    """Every candidate unreadable is not a few bad images: the task fails (300003), nothing is written."""
    import shutil

    ds = str(tmp_path / "ds")
    shutil.copytree(ark_dataset, ds)
    for name in os.listdir(os.path.join(ds, "images", "val")):
        open(os.path.join(ds, "images", "val", name), "wb").write(b"not an image")
    work = str(tmp_path / "w")
    r = cli("run", TOY, "--task", "mine", "--dataset", ds, "--work", work, "--model", toy_trained, "--no-progress")
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300003"] and "none of the" in line[5], line
    assert not os.path.exists(os.path.join(work, "out", "result.tsv"))


def test_index_files_with_a_byte_order_mark(ark_dataset, tmp_path):
    from ymir_sdk.dataset import read_candidates, read_pairs

    index = tmp_path / "i.tsv"
    index.write_bytes("\ufeff/in/a.jpg\t/in/a.txt\n/in/b.jpg\t/in/b.txt\n".encode("utf-8"))
    assert read_pairs(str(index))[0] == ("/in/a.jpg", "/in/a.txt")
    assert read_candidates(str(index))[0] == "/in/a.jpg"


def test_a_cut_png_is_an_unreadable_image_in_training_too(ark_dataset, tmp_path):
    """Its header reads, its data does not: left out of a training's records (and counted) as mining skips it."""
    from ymir_sdk.dataset import load_records
    from ymir_sdk.dataset.annotations import ConversionStats

    image = os.path.join(ark_dataset, "images", "train", "train_00000.png")
    ann = os.path.join(ark_dataset, "annotations", "train", "train_00000.txt")
    good = open(image, "rb").read()
    cut = str(tmp_path / "cut.png")
    open(cut, "wb").write(good[: len(good) // 2])
    stats = ConversionStats()
    records = load_records([(image, ann), (cut, ann)], ["square", "disc"], stats)
    assert [r.image for r in records] == [image] and stats.unreadable_images == [cut]


# ------------------------------------------------------------------ verify: errors and warnings
def test_verify_warns_where_the_platform_accepts(ark_dataset, tmp_path):
    import shutil

    work = str(tmp_path / "w")
    assert cli("run", TOY, "--task", "train", "--dataset", ark_dataset, "--work", work, "--no-progress").returncode == 0
    shutil.rmtree(os.path.join(work, "out", "tensorboard"))
    os.makedirs(os.path.join(work, "out", "tensorboard"))
    r = cli("verify", work, "--task", "train")
    assert r.returncode == 0 and "warning: tensorboard/ holds no file" in r.stdout and "(with warnings)" in r.stdout
    # the legacy result format: accepted as one stage
    models = os.path.join(work, "out", "models")
    result = yaml.safe_load(open(os.path.join(models, "result.yaml")))
    stage = result["model_stages"][result["best_stage_name"]]
    for f in stage["files"]:
        shutil.copy(os.path.join(models, result["best_stage_name"], f), os.path.join(models, f))
    write_yaml(os.path.join(models, "result.yaml"), {"model": stage["files"], "map": stage["mAP"]})
    r = cli("verify", work, "--task", "train")
    assert r.returncode == 0 and "warning: result.yaml uses the legacy" in r.stdout


def test_verify_tells_a_coco_result_by_its_shape(toy_trained, ark_dataset, tmp_path):
    """Without object_type in config.yaml (platform < 2.4) a COCO inference result is checked as one."""
    work = str(tmp_path / "w")
    r = cli("run", TOY, "--task", "infer", "--dataset", ark_dataset, "--work", work, "--model", toy_trained,
            "--no-progress")
    assert r.returncode == 0
    config = os.path.join(work, "in", "config.yaml")
    write_yaml(config, {k: v for k, v in yaml.safe_load(open(config)).items() if k != "object_type"})
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}], "categories": [],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 0, "bbox": [0, 0, 2, 2], "score": 0.5,
                             "segmentation": {"size": [4, 4], "counts": "04"}}]}  # no area: the platform fails
    json.dump(coco, open(os.path.join(work, "out", "infer-result.json"), "w"))
    r = cli("verify", work, "--task", "infer")
    assert r.returncode == 1 and "area" in r.stdout and "'detection'" not in r.stdout
    r = cli("verify", work, "--task", "infer", "--object-type", "2")
    assert r.returncode == 1 and "'detection'" in r.stdout
