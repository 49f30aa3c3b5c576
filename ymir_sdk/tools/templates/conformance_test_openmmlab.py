"""The conformance checks on this executor: check-image, then training, inference, each mining
algorithm and mining + inference on generated data, every output verified (pytest)."""
import os

from ymir_sdk.tools.conformance import check_executor

HERE = os.path.dirname(os.path.abspath(__file__))

#: a short training at 96 px on the CPU (a few minutes): YOLOX-tiny for two epochs
FAST = {"train": {"max_epochs": "2", "samples_per_gpu": "4", "workers_per_gpu": "0", "val_interval": "1",
                  "cfg_options": "img_scale=(96,96) "
                                 "model.data_preprocessor.batch_augments.0.random_size_range=(64,128) "
                                 "val_dataloader.dataset.pipeline.1.scale=(96,96) "
                                 "test_dataloader.dataset.pipeline.1.scale=(96,96)"},
        "infer": {"samples_per_gpu": "4", "workers_per_gpu": "0"},
        "mine": {"samples_per_gpu": "4", "workers_per_gpu": "0"}}


def test_conformance(tmp_path):
    assert check_executor(HERE, str(tmp_path), sets=FAST, algorithms=["entropy", "random"]) == []
