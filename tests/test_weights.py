"""ymir_sdk.weights: the pretrained files an image holds (fetched and verified at build time, found at run time).
Framework-free; the executors' own checks are in their test modules."""
import hashlib
import os

import pytest

from ymir_sdk import Executor, ModelError
from ymir_sdk.weights import check_sha256, fetch, file_name, image_weights, sha256_prefix, verify_weights

pytestmark = pytest.mark.images


def _named_by_hash(folder, stem, data):
    digest = hashlib.sha256(data).hexdigest()
    path = folder / f"{stem}-{digest[:8]}.pth"
    path.write_bytes(data)
    return str(path)


def test_sha256_prefix_in_the_name(tmp_path):
    path = _named_by_hash(tmp_path, "yolox_tiny_8x8_300e_coco_20211124_171234", b"weights")
    check_sha256(path)  # the name's promise holds
    truncated = tmp_path / os.path.basename(path).replace("yolox", "cut")
    truncated.write_bytes(b"weigh")
    with pytest.raises(ModelError, match="does not match"):
        check_sha256(str(truncated))
    assert sha256_prefix("/w/yolov5s.pt") is None
    check_sha256(__file__)  # no promise in the name: nothing to check


def test_fetch_is_atomic_and_idempotent(tmp_path):
    src = tmp_path / "src" / "model-abc.pth"
    src.parent.mkdir()
    src.write_bytes(b"x" * 3_000_000)
    url = src.as_uri()
    dest = tmp_path / "weights"
    path = fetch(url, str(dest))
    assert path == str(dest / "model-abc.pth") and open(path, "rb").read() == src.read_bytes()
    assert os.listdir(dest) == ["model-abc.pth"]  # no partial file left behind
    src.write_bytes(b"changed")
    assert open(fetch(url, str(dest)), "rb").read()[:1] == b"x"  # already there: not fetched again
    with pytest.raises(OSError):
        fetch((tmp_path / "none.pth").as_uri(), str(dest))
    assert os.listdir(dest) == ["model-abc.pth"]


class Toy(Executor):
    name = "toy"
    pretrained_weights = {"small": "https://example.org/zoo/small.pt", "large": "https://example.org/zoo/large.pt"}

    def check_weights(self, key, path):
        if open(path).read() != key:
            raise ModelError(f"{os.path.basename(path)} is not the {key} model")


def test_verify_and_run_time_lookup(tmp_path, monkeypatch):
    (tmp_path / "small.pt").write_text("small")
    (tmp_path / "large.pt").write_text("small")
    problems = verify_weights(Toy(), str(tmp_path))
    assert problems == ["large: large.pt is not the large model"]
    assert verify_weights(Toy(), str(tmp_path), only=["small"]) == []
    assert verify_weights(Toy(), str(tmp_path), only=["medium"]) == ["medium: not in toy's weight table"]
    os.unlink(tmp_path / "large.pt")
    assert "is missing" in verify_weights(Toy(), str(tmp_path))[0]
    monkeypatch.setenv("YMIR_WEIGHTS_DIR", str(tmp_path))
    assert image_weights(Toy.pretrained_weights, "small") == str(tmp_path / "small.pt")
    assert image_weights(Toy.pretrained_weights, "large") is None  # listed, not in the folder
    assert image_weights(Toy.pretrained_weights, "medium") is None  # not listed
    assert file_name("https://example.org/a/b/c-1234abcd.pth?x=1") == "c-1234abcd.pth"
