"""The training's TensorBoard (:mod:`ymir_sdk.torch.board`): written with torch's SummaryWriter and read back with
tensorboard's own event reader, on every stack (the images draw with their PIL and torch)."""
import csv
import logging
import os

import numpy as np
import pytest

from conftest import TOY, cli, tensorboard_content

pytestmark = pytest.mark.images

NAMES = ["square", "disc", "triangle"]


def _image(h=96, w=128, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_matches_make_pr_data_and_a_confusion_matrix():
    from ymir_sdk.torch.board import Matches

    m = Matches(3)
    truth = np.array([[0, 10, 10, 30, 30], [1, 50, 50, 80, 80], [2, 0, 0, 5, 5]], dtype=float)
    pred = np.array([[11, 11, 30, 30, 0.9, 0],   # finds the square
                     [50, 50, 80, 80, 0.8, 0],   # a disc called a square
                     [90, 90, 99, 99, 0.7, 1],   # a disc where nothing is
                     [10, 10, 30, 30, 0.1, 0]])  # a duplicate below the confusion's score
    m.add(truth, pred)
    # square: hit (0.9), miss (0.8: on the disc), duplicate (0.1: the square is taken)
    assert m.scores[0] == [0.9, 0.8, 0.1] and m.found[0] == [True, False, False]
    # disc: one false prediction, its one object missed (score 0); triangle: missed
    assert m.scores[1] == [0.7, 0.0] and m.found[1] == [False, True]
    assert m.scores[2] == [0.0] and m.found[2] == [True]
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 0] = 1  # square -> square
    expected[0, 1] = 1  # disc predicted as square
    expected[3, 2] = 1  # triangle -> background (missed)
    expected[1, 3] = 1  # a disc on background
    assert (m.matrix == expected).all()


def test_yolov5_values_in_the_sdk_scheme():
    from ymir_sdk.torch.board import yolov5_scalars

    out = yolov5_scalars({"train/box_loss": 0.1, "train/obj_loss": 0.2, "train/cls_loss": 0.3,
                          "metrics/mAP_0.5": 0.5, "metrics/recall": 0.6, "metrics/mAP_0.5(M)": 0.4,
                          "metrics/recall(M)": 0.45, "metrics/mAP_0.5(B)": 0.55, "val/box_loss": 0.7, "x/lr0": 0.01})
    assert out == pytest.approx({"train/loss_box": 0.1, "train/loss_obj": 0.2, "train/loss_cls": 0.3,
                                 "train/loss": 0.6, "val/mAP": 0.55, "val/mAR": 0.6, "val/maskAP": 0.4,
                                 "val/maskAR": 0.45, "val/loss_box": 0.7, "train/lr": 0.01})


def test_the_board_writes_scalars_pictures_curves_and_results_csv(tmp_path):
    from ymir_sdk.torch.board import PICTURE_SIDE, TrainingBoard

    board = TrainingBoard(str(tmp_path), NAMES, pictures=2, time_share=1.0)  # every evaluation drawn
    board.training_batch([_image(seed=i) for i in range(5)], [np.array([[0, 5, 5, 40, 40]])] * 5)
    for step in (1, 2):
        board.begin_validation()
        for i in range(3):
            truth = np.array([[i, 10, 10, 60, 60]], dtype=float)
            pred = np.array([[12, 12, 60, 60, 0.8, i], [0, 0, 20, 20, 0.3, 2]], dtype=float)
            board.add_validation_image(_image(seed=10 + i) if board.wants_image() else None, truth, pred)
        board.scalars(step, {"train/loss": 1.0 / step, "val/mAP": 0.3 * step, "val/AP/disc": 0.2})
        board.end_validation(step)
    board.close()

    tags, images = tensorboard_content(str(tmp_path))
    assert {"train/loss", "val/mAP", "val/AP/disc"} <= set(tags["scalars"])
    assert set(images) == {"train/batch", "val/pictures/0", "val/pictures/1", "val/confusion"}
    assert {f"val/PR/{n}" for n in NAMES} <= set(tags["tensors"])
    for tag, shots in images.items():
        assert [s for s, _, _ in shots] == ([0] if tag == "train/batch" else [1, 2]), tag
        assert all(max(w, h) <= PICTURE_SIDE for _, w, h in shots), tag
    w, h = images["val/pictures/0"][0][1:]
    assert w > 2 * h  # ground truth and prediction side by side
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    ea.Reload()
    kinds = {t: ea.Images(t)[-1].encoded_image_string[:4] for t in images}
    assert kinds["val/pictures/0"][:3] == kinds["train/batch"][:3] == b"\xff\xd8\xff"  # photographs: JPEG
    assert kinds["val/confusion"] == b"\x89PNG"  # a chart: PNG
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], float(r["val/mAP"]), float(r["train/loss"])) for r in rows] == [("1", 0.3, 1.0),
                                                                                     ("2", 0.6, 0.5)]


def test_a_failure_to_draw_is_logged_once_and_the_training_goes_on(tmp_path, caplog):
    from ymir_sdk.torch.board import TrainingBoard

    board = TrainingBoard(str(tmp_path), NAMES)
    with caplog.at_level(logging.WARNING, logger="ymir_sdk"):
        for step in (1, 2):
            board.begin_validation()
            board.add_validation_image(np.zeros((4,)), np.zeros((0, 5)), np.zeros((0, 6)))  # not an image
            board.scalars(step, {"val/mAP": 0.5})
            board.end_validation(step)
        board.training_batch([np.zeros((2,))], [np.zeros((0, 5))])
    board.close()
    failures = [r.getMessage() for r in caplog.records if "TensorBoard" in r.getMessage()]
    assert len(failures) == 2, failures  # the pictures once, the training batch once
    assert all("the training goes on" in m for m in failures)
    tags, _ = tensorboard_content(str(tmp_path))
    assert "val/mAP" in tags["scalars"]


def test_pictures_stop_at_the_budget_and_scalars_go_on(tmp_path):
    from ymir_sdk.torch.board import TrainingBoard

    board = TrainingBoard(str(tmp_path), NAMES, pictures=1, budget=1, time_share=1.0)
    for step in (1, 2, 3):
        board.begin_validation()
        board.add_validation_image(_image(), np.zeros((0, 5)), np.zeros((0, 6)))
        board.scalars(step, {"val/mAP": 0.1 * step})
        board.end_validation(step)
    board.close()
    tags, images = tensorboard_content(str(tmp_path))
    assert [s for s, _, _ in images["val/pictures/0"]] == [1]  # the first picture spends the budget
    assert os.path.getsize(tmp_path / "results.csv") and "val/mAP" in tags["scalars"]


def test_verify_warns_when_a_training_s_tensorboard_holds_no_image(ark_dataset, tmp_path):
    import shutil

    from ymir_sdk.torch.board import TrainingBoard
    from ymir_sdk.tools.verify import holds_image

    work = str(tmp_path / "w")
    assert cli("run", TOY, "--task", "train", "--dataset", ark_dataset, "--work", work, "--no-progress").returncode == 0
    folder = os.path.join(work, "out", "tensorboard")
    shutil.rmtree(folder)
    board = TrainingBoard(folder, NAMES)
    board.scalars(1, {"val/mAP": 0.5})
    board.close()
    assert holds_image(folder) is False
    r = cli("verify", work, "--task", "train")
    assert r.returncode == 0 and "warning: tensorboard/ holds no image" in r.stdout, r.stdout
    board = TrainingBoard(folder, NAMES)
    board.training_batch([_image()], [np.zeros((0, 5))])
    board.close()
    assert holds_image(folder) is True
    assert "holds no image" not in cli("verify", work, "--task", "train").stdout


def test_pictures_can_be_switched_off(tmp_path, monkeypatch):
    from ymir_sdk.torch.board import TrainingBoard

    monkeypatch.setenv("YMIR_BOARD_PICTURES", "0")
    board = TrainingBoard(str(tmp_path), NAMES)
    board.training_batch([_image()], [np.zeros((0, 5))])
    board.begin_validation()
    board.add_validation_image(_image() if board.wants_image() else None, np.zeros((0, 5)), np.zeros((0, 6)))
    board.scalars(1, {"val/mAP": 0.5})
    board.end_validation(1)
    board.close()
    tags, images = tensorboard_content(str(tmp_path))
    assert not images and not tags["tensors"] and "val/mAP" in tags["scalars"]


def test_instance_pictures_paint_masks_under_their_boxes(tmp_path):
    from ymir_sdk.torch.board import TrainingBoard, colour, paint

    image = np.full((64, 96, 3), 128, np.uint8)
    mask = np.zeros((1, 64, 96), bool)
    mask[0, 10:30, 20:50] = True
    painted = paint(image, mask, [1])
    assert (painted[15, 30] == ((128 + np.array(colour(1))) / 2).astype(np.uint8)).all()
    assert (painted[50, 80] == 128).all() and (painted[~mask[0]] == 128).all()
    board = TrainingBoard(str(tmp_path), NAMES, pictures=2)
    truth = np.array([[1, 20, 10, 50, 30]], dtype=float)
    pred = np.array([[20, 10, 50, 30, 0.9, 1], [0, 0, 5, 5, 0.1, 0]], dtype=float)  # the second not drawn
    board.instance_pictures(3, [(image, truth, mask, pred, np.concatenate([mask, mask]))] * 3)
    board.close()
    _, images = tensorboard_content(str(tmp_path))
    assert set(images) == {"val/pictures/0", "val/pictures/1"}  # the first two images only
    (step, w, h), = images["val/pictures/0"]
    assert step == 3 and 600 <= w <= 640 and w > 2 * h


def test_an_evaluation_gets_pictures_only_while_drawing_stays_within_its_time_share(tmp_path, monkeypatch):
    from ymir_sdk.torch import board as board_module
    from ymir_sdk.torch.board import TIME_SHARE, TrainingBoard

    now = [1000.0]
    monkeypatch.setattr(board_module.time, "monotonic", lambda: now[0])
    board = TrainingBoard(str(tmp_path), NAMES)
    for step, elapsed, drawing in ((1, 0.1, 1.0), (2, 20, 1.0), (3, 1.0 / TIME_SHARE + 10, 1.0)):
        now[0] = 1000.0 + elapsed
        board.drawing_seconds = drawing  # what the drawing took so far
        board.begin_validation()
        board.add_validation_image(_image() if board.wants_image() else None, np.zeros((0, 5)), np.zeros((0, 6)))
        board.end_validation(step)
    board.close()
    _, images = tensorboard_content(str(tmp_path))
    # the first evaluation is drawn whatever the drawing took; then 1 s of drawing is over 2 % of 20 s (no picture
    # at step 2) and within 2 % of 60 s (step 3 gets them again)
    assert [s for s, _, _ in images["val/pictures/0"]] == [1, 3]
    assert [s for s, _, _ in images["val/confusion"]] == [1, 2, 3]  # the matrix at every evaluation
    with board.timed():
        now[0] += 2.5
    assert board.drawing_seconds >= 3.5
