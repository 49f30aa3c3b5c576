"""The checks every executor must pass, for executor authors: ``check_executor(EXECUTOR, WORKDIR)`` (and
``ymir-sdk conformance``) runs ``check-image`` on its folder, then, on data generated here (boxes, or masks for
the segmentation types), a training, an inference, a mining with each algorithm asked for and a mining +
inference, each laid out as the platform lays it out and each output checked by ``verify``. Returns the
problems, one line each (none: the executor conforms). A test in an executor's folder is one line:
``assert check_executor(HERE, str(tmp_path)) == []``.
"""
from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Sequence

from ..contract import errors_only
from .localdata import read_dataset
from .runner import execute, find_executor, lay_out, read_templates
from .verify import check_image, verify_work


def check_executor(executor: str, work: str, sets: Optional[Mapping[str, Mapping[str, str]]] = None,
                   algorithms: Sequence[str] = (), object_type: Optional[int] = None, n_train: int = 24,
                   n_val: int = 8, timeout: Optional[float] = None) -> List[str]:
    """``sets``: per task (``train``, ``infer``, ``mine``) the ``--set`` values (a fast setting, for instance);
    ``algorithms``: the mining algorithms to run (default: the mining template's)."""
    from .synthetic import write_ark_dataset, write_coco_dataset

    spec = find_executor(executor)
    problems = [f"check-image: {p}" for p in errors_only(check_image(spec.img_man))]
    templates, object_type = read_templates(spec.img_man, object_type)
    data = os.path.join(work, "dataset")
    if not os.path.exists(data):
        write = write_coco_dataset if object_type in (3, 4) else write_ark_dataset
        write(data, n_train=n_train, n_val=n_val)
    dataset = read_dataset(data)
    sets = {k: dict(v) for k, v in (sets or {}).items()}

    def run(task: str, name: str, model: Optional[str] = None, extra: Optional[Dict[str, str]] = None) -> bool:
        folder = os.path.join(work, name)
        task_sets = {**sets.get("mine" if task.startswith("mine") else task, {}), **(extra or {})}
        env_file = lay_out(folder, dataset, task, spec.img_man, task_sets, model=model, object_type=object_type)
        rc = execute(spec, env_file, progress=False, timeout=timeout)
        if rc != 0:
            problems.append(f"{name}: exit status {rc} (see {folder}/out/ymir-executor-out.log)")
            return False
        problems.extend(f"{name}: {p}" for p in errors_only(verify_work(folder, task, object_type)))
        return True

    if "train" not in templates:
        return problems + ["the image has no training template"]
    if not run("train", "train"):
        return problems
    model = os.path.join(work, "train")
    if "infer" in templates:
        run("infer", "infer", model)
    if "mine" in templates:
        names = list(algorithms) or [str(templates["mine"].get("mining_algorithm") or "")]
        for algorithm in names:
            extra = {"mining_algorithm": algorithm} if algorithm else {}
            run("mine", f"mine-{algorithm or 'default'}", model, extra)
        if "infer" in templates:
            run("mine+infer", "mine-infer", model)
    return problems
