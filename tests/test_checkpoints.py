"""A user's checkpoint never runs code, on any torch (the images' 1.8.1 through the allow-list unpickler, the test
stack's 2.x through weights_only); the torch version gates. Runs on both stacks."""
import argparse
import collections
import os
import pickle

import numpy as np
import pytest

from conftest import Payload
from ymir_sdk import ModelError, ReturnCode
from ymir_sdk.torch.compat import launch_command, parse_version

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.images


def payloads(marker):
    return {"os.system": Payload(os.system, f"touch {marker}"),
            "builtins.exec": Payload(exec, f"open({str(marker)!r}, 'w').close()"),
            "subprocess": Payload(__import__("subprocess").call, ["touch", str(marker)])}


@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("kind", ["os.system", "builtins.exec", "subprocess"])
def test_a_pickle_payload_is_refused_and_never_runs(tmp_path, kind, zipfile):
    from ymir_sdk.torch import load_checkpoint

    marker = tmp_path / "pwned"
    path = str(tmp_path / "model.pt")
    # hidden where a framework checkpoint keeps its data, next to real tensors
    torch.save({"state_dict": {"w": torch.zeros(2)}, "meta": payloads(marker)[kind]}, path,
               _use_new_zipfile_serialization=zipfile)
    with pytest.raises(ModelError) as e:
        load_checkpoint(path)
    assert e.value.code == ReturnCode.MODEL_ERROR and "model.pt" in e.value.message
    assert not marker.exists()


def test_framework_checkpoints_load(tmp_path):
    """What mmengine and yolov5 checkpoints hold: modules, OrderedDicts, NumPy arrays and scalars, options,
    sets, bytes, dtypes and half tensors."""
    from ymir_sdk.torch import load_checkpoint

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.SiLU()).half()
    data = {"model": model, "state_dict": collections.OrderedDict(model.state_dict()), "epoch": 3,
            "best_fitness": np.float64(0.5), "hist": np.arange(4, dtype=np.float32),
            "opt": argparse.Namespace(epochs=2, names={"a", "b"}), "raw": b"\x00\x01", "dtype": torch.float16,
            "size": torch.Size([1, 2]), "tail": slice(1, 3)}
    path = str(tmp_path / "ok.pt")
    torch.save(data, path)
    got = load_checkpoint(path)
    assert isinstance(got["model"], torch.nn.Sequential) and got["model"][0].weight.dtype == torch.float16
    assert torch.equal(got["state_dict"]["0.weight"], model.state_dict()["0.weight"])
    assert got["best_fitness"] == 0.5 and got["hist"].tolist() == [0, 1, 2, 3] and got["opt"].names == {"a", "b"}
    assert got["raw"] == b"\x00\x01" and got["dtype"] == torch.float16 and got["size"] == torch.Size([1, 2])


def test_truncated_and_missing_files(tmp_path):
    from ymir_sdk.torch import load_checkpoint

    path = str(tmp_path / "w.pt")
    torch.save({"state_dict": {"w": torch.zeros(100)}}, path)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(ModelError, match="w.pt cannot be loaded"):
        load_checkpoint(path)
    with pytest.raises(ModelError, match="not found"):
        load_checkpoint(str(tmp_path / "none.pt"))
    open(path, "wb").write(b"garbage")
    with pytest.raises(ModelError, match="w.pt"):
        load_checkpoint(path)


def test_unlisted_module_classes_are_refused(tmp_path):
    """A class that is not an allow-listed nn.Module (here one defined by the test) does not load: its module
    could be anything."""
    from ymir_sdk.torch import load_checkpoint

    path = str(tmp_path / "m.pt")
    torch.save({"model": OwnModule()}, path)
    with pytest.raises(ModelError) as e:
        load_checkpoint(path)
    # the same words on every torch, naming the class (never torch's advice to load the file unsafely)
    assert e.value.message.startswith(f"model file {path} cannot be loaded: the file needs ") and \
        ".OwnModule, which a checkpoint may not hold" in e.value.message, e.value.message


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("kind", ["os.system", "builtins.exec", "subprocess"])
def test_the_file_check_refuses_a_payload_from_its_opcodes(tmp_path, kind, protocol):
    """Before any framework is imported (the SDK checks every model file of a task first), a data.pkl naming a
    global that runs code is refused from its opcodes alone: torch.save's protocol 2 (GLOBAL) and a hand-made
    protocol 4 archive (STACK_GLOBAL with its strings from the memo)."""
    import zipfile

    from ymir_sdk.models import check_checkpoint_file

    marker = tmp_path / "pwned"
    path = str(tmp_path / "model.pt")
    data = {"state_dict": {"w": torch.zeros(2)}, "meta": [payloads(marker)[kind], payloads(marker)[kind]]}
    if protocol == 2:
        torch.save(data, path)
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("model/data.pkl", pickle.dumps({"meta": data["meta"]}, protocol=protocol))
    with pytest.raises(ModelError) as e:
        check_checkpoint_file(path)
    assert "model.pt names" in e.value.message and e.value.code == ReturnCode.MODEL_ERROR, e.value.message
    assert not marker.exists()


def test_the_file_check_passes_all_the_loader_allows(tmp_path):
    """The opcode check refuses nothing the loader would load: no global of the loader's list (torch's own, the
    standard list, and a framework's modules) is one it refuses, and a checkpoint of every allowed kind passes."""
    import torch.nn.modules.conv as conv

    from ymir_sdk.models import CODE_BUILTINS, CODE_MODULES, check_checkpoint_file
    from ymir_sdk.torch import checkpoints

    checkpoints.allow_checkpoint_classes([conv])
    allowed = {**checkpoints._torch_serialization_globals(), **checkpoints._ALLOWED}
    assert len(allowed) > 100
    for module, name in allowed:
        assert module.split(".")[0] not in CODE_MODULES, (module, name)
        assert not (module == "builtins" and name in CODE_BUILTINS), (module, name)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    path = str(tmp_path / "ok.pt")
    torch.save({"model": model, "hist": np.arange(3), "opt": argparse.Namespace(names={"a"}), "t": slice(1, 2),
                "raw": b"\x00", "d": collections.OrderedDict(a=torch.float16)}, path)
    check_checkpoint_file(path)


class OwnModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 2)


def test_plain_pickle_would_have_run_it(tmp_path):
    """The control for the payload tests: the same file through plain pickle runs the command."""
    marker = tmp_path / "ran"
    blob = pickle.dumps(Payload(os.system, f"touch {marker}"))
    pickle.loads(blob)
    assert marker.exists()


def test_version_gates():
    assert parse_version("1.8.1+cu111") == (1, 8) and parse_version("2.14.1") == (2, 14)
    assert parse_version("1.11.0") == (1, 11)
    cmd = launch_command(2, ["start.py", "--x"])
    if parse_version(torch.__version__) >= (1, 9):
        assert cmd[1:4] == ["-m", "torch.distributed.run", "--nnodes=1"]
        assert any(a.startswith("--rdzv_endpoint=127.0.0.1:") for a in cmd)  # a free port, never 29400
    else:  # the images' torch 1.8.1 has no torchrun
        assert cmd[1:4] == ["-m", "torch.distributed.launch", "--use_env"]
        assert any(a.startswith("--master_port=") for a in cmd)
    assert cmd[-2:] == ["start.py", "--x"] and "--nproc_per_node=2" in cmd
