"""The conformance checks on this executor: check-image, then training, inference, each mining
algorithm and mining + inference on generated data, every output verified (pytest)."""
import os

from ymir_sdk.tools.conformance import check_executor

HERE = os.path.dirname(os.path.abspath(__file__))


def test_conformance(tmp_path):
    assert check_executor(HERE, str(tmp_path), algorithms=["entropy", "random"]) == []
