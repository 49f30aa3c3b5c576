"""The ``ymir-sdk`` command line: run, simulate, verify, check-image, conformance, new, exec, weights."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

from .errors import YmirError


def _cmd_run(args) -> int:
    from .tools.localdata import read_dataset
    from .tools.runner import execute, find_executor, lay_out, parse_sets, summary

    spec = find_executor(args.executor, args.img_man)
    dataset = read_dataset(args.dataset, args.format)
    env_file = lay_out(args.work, dataset, args.task, spec.img_man, parse_sets(args.set or []), gpus=args.gpus,
                       model=args.model, stage=args.stage, object_type=args.object_type, candidates=args.candidates)
    rc = execute(spec, env_file, progress=not args.no_progress, timeout=args.timeout)
    print(summary(os.path.abspath(args.work), args.task, rc))
    return rc


def _cmd_simulate(args) -> int:
    from .tools.runner import parse_sets
    from .tools.simulate import Settings, simulate

    settings = Settings(args.executor, args.dataset, args.initial, args.budget, args.rounds,
                        [a for a in (args.algorithms or "").split(",") if a.strip()], args.repeats, args.seed,
                        parse_sets(args.set or []), args.metric or "", args.object_type, args.warm_start, args.gpus,
                        args.format, args.img_man, args.model)
    simulate(settings, args.work, progress=not args.no_progress)
    with open(os.path.join(args.work, "summary.txt"), encoding="utf-8") as f:
        print(f.read(), end="")
    print(f"curves: {os.path.join(args.work, 'curves.csv')}, curves.json, curves.png")
    return 0


def _cmd_verify(args) -> int:
    from .tools.verify import verify_work

    from .contract import errors_only

    findings = verify_work(args.work, args.task, args.object_type)
    for line in findings:
        print(line)
    errors = errors_only(findings)
    if not errors:
        print(f"{args.work}: {args.task} outputs accepted" + (" (with warnings)" if findings else ""))
    return 1 if errors else 0


def _cmd_check_image(args) -> int:
    from .tools.verify import check_image

    from .contract import errors_only

    findings = check_image(args.folder)
    for line in findings:
        print(line)
    errors = errors_only(findings)
    if not errors:
        print(f"{args.folder}: img-man accepted" + (" (with warnings)" if findings else ""))
    return 1 if errors else 0


def _cmd_new(args) -> int:
    from .tools.scaffold import new, test_file

    folder = new(args.name, args.template, args.dest)
    print(f"{folder}: the {args.template} template; next:\n  ymir-sdk check-image {folder}\n"
          f"  pytest {os.path.join(folder, test_file(args.name))}")
    return 0


def _cmd_conformance(args) -> int:
    from .tools.conformance import check_executor

    problems = check_executor(args.executor, args.work, algorithms=args.algorithm or ())
    for line in problems:
        print(line)
    if not problems:
        print(f"{args.executor}: conforms (train, infer, mine, mine+infer verified in {args.work})")
    return 1 if problems else 0


def _cmd_exec(args) -> int:
    """Run an executor class in this process: ``ymir-sdk exec [package.module:ClassName]``; without one, the class
    the image's manifest names (env.yaml's ``manifest_file``, else /img-man/manifest.yaml: the image's CMD)."""
    from .env import load_env
    from .executor import load_executor_class, manifest_executor, run

    def executor():  # inside run: a manifest without the key, or a class that does not import, is reported
        return load_executor_class(args.target or manifest_executor(load_env(args.env).manifest_file))()

    return run(executor, args.env)


def _cmd_weights(args) -> int:
    """Fetch (``--fetch``) and verify an executor's pretrained weights: the image build runs this."""
    from .executor import load_executor_class
    from .weights import verify_weights, weights_dir

    executor = load_executor_class(args.executor)()
    problems = verify_weights(executor, args.dest, args.fetch, args.only)
    for line in problems:
        print(line)
    if not problems:
        print(f"{executor.name}: pretrained weights in {args.dest or weights_dir()} verified")
    return 1 if problems else 0


EXECUTOR_HELP = "an executor name or folder (its img-man/manifest.yaml names the class), or a start command"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ymir-sdk", description="YMIR executor SDK tools")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_run, _add_simulate, _add_checks, _add_new, _add_image_commands):
        add(sub)
    return p


def _task_arguments(p: argparse.ArgumentParser, dataset: str, work: str, sets: str, model: str) -> None:
    """The arguments of the commands that lay out platform tasks (run, simulate)."""
    p.add_argument("executor", help=EXECUTOR_HELP)
    p.add_argument("--dataset", required=True, help=dataset)
    p.add_argument("--work", required=True, help=work)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help=sets)
    p.add_argument("--model", help=model)
    p.add_argument("--gpus", default="", help="gpu_id, e.g. '0,1' ('' = CPU)")
    p.add_argument("--format", choices=["coco", "yolo", "voc", "ark"], help="dataset format (default: detected)")
    p.add_argument("--object-type", type=int, help="object type for multi-type images")
    p.add_argument("--img-man", help="img-man folder (default: the executor folder's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_run(sub) -> None:
    r = sub.add_parser("run", help="lay out a platform work folder from a local dataset and run an executor")
    _task_arguments(r, "a COCO, YOLO, VOC or ark dataset folder", "work folder (in/ and out/ are recreated)",
                    "a hyper-parameter, sent as the web does", "a finished training's work folder (required for "
                    "infer/mine)")
    r.add_argument("--task", required=True, choices=["train", "infer", "mine", "mine+infer"])
    r.add_argument("--stage", help="model stage to use (default: the best)")
    r.add_argument("--candidates", default="val", choices=["val", "train", "all"], help="images to infer/mine")
    r.add_argument("--timeout", type=float, help="kill the executor after this many seconds")
    r.set_defaults(func=_cmd_run)


def _add_simulate(sub) -> None:
    s = sub.add_parser("simulate", help="an offline active-learning loop: each mining algorithm against random "
                       "selection on your data")
    _task_arguments(s, "a COCO, YOLO, VOC or ark dataset folder with a validation split",
                    "work folder (the same command resumes an interrupted run)",
                    "a hyper-parameter of the training or mining template, sent as the web does",
                    "a finished training's work folder: every round's training starts from it (as "
                    "pretrained_model_params; with --warm-start, round 0's)")
    s.add_argument("--initial", type=int, default=20, help="labelled images to start with (default 20)")
    s.add_argument("--budget", type=int, default=10, help="images labelled per round (default 10)")
    s.add_argument("--rounds", type=int, default=3, help="mining rounds (default 3)")
    s.add_argument("--algorithms", help="comma-separated mining algorithms (random is always included; default: "
                   "the mining template's)")
    s.add_argument("--repeats", type=int, default=1, help="repeats with other start sets, for mean and spread")
    s.add_argument("--seed", type=int, default=0, help="seed of the start sets and of random selection")
    s.add_argument("--metric", help="the result.yaml metric to plot (default: mAP, mIoU or maskAP by object type)")
    s.add_argument("--warm-start", action="store_true", help="each round's training starts from the previous "
                   "round's model of the same algorithm")
    s.set_defaults(func=_cmd_simulate)


def _add_checks(sub) -> None:
    v = sub.add_parser("verify", help="check WORKDIR/out against the platform contract")
    v.add_argument("work")
    v.add_argument("--task", required=True, choices=["train", "infer", "mine", "mine+infer"])
    v.add_argument("--object-type", type=int, choices=[2, 3, 4],
                   help="the task's object type (default: config.yaml's, else told by the result's shape)")
    v.set_defaults(func=_cmd_verify)

    c = sub.add_parser("check-image", help="check an image's img-man folder (and, beside it, the executor's "
                       "params against the templates and the README's hyper-parameter table)")
    c.add_argument("folder")
    c.set_defaults(func=_cmd_check_image)

    k = sub.add_parser("conformance", help="check-image, then train, infer, mine and mine+infer on generated data, "
                       "every output verified")
    k.add_argument("executor", help=EXECUTOR_HELP)
    k.add_argument("--work", required=True, help="work folder")
    k.add_argument("--algorithm", action="append", help="a mining algorithm to run (repeatable; default: the "
                   "template's)")
    k.set_defaults(func=_cmd_conformance)


def _add_new(sub) -> None:
    n = sub.add_parser("new", help="write a ready executor package (executor.py, img-man, Dockerfile, README, "
                       "a conformance test)")
    n.add_argument("name", help="the executor's name (lower-case letters, digits, '-', '_')")
    n.add_argument("--template", default="minimal", choices=["minimal", "torch", "openmmlab"],
                   help="minimal: NumPy only; torch: a small torch model; openmmlab: mmdet on the SDK's glue")
    n.add_argument("--dest", default=".", help="the folder to create it in (default: here)")
    n.set_defaults(func=_cmd_new)


def _add_image_commands(sub) -> None:
    """What an image runs: its task (exec, the image's CMD) and, at build time, its weights."""
    e = sub.add_parser("exec", help="run an Executor class in-process against env.yaml")
    e.add_argument("target", nargs="?", help="module:Class (default: the manifest's executor_class)")
    e.add_argument("--env", help="env.yaml path (default: $YMIR_ENV_FILE, then the platform's)")
    e.set_defaults(func=_cmd_exec)

    w = sub.add_parser("weights", help="fetch and verify an executor's pretrained weights (the image build runs it)")
    w.add_argument("executor", help="an executor package (executors.yolov5) or module:Class")
    w.add_argument("--dest", help="the weights folder (default: $YMIR_WEIGHTS_DIR, else /weights)")
    w.add_argument("--fetch", action="store_true", help="download the files that are not there yet")
    w.add_argument("--only", action="append", metavar="KEY", help="only this model key (repeatable)")
    w.set_defaults(func=_cmd_weights)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except YmirError as e:
        print(f"error {int(e.code)}: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted{': the same command resumes' if args.command == 'simulate' else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
