"""The demo: generate a small synthetic detection dataset, run train -> infer -> mine+infer through
`ymir-sdk run`, check every output with `ymir-sdk verify`, print the validation mAP and the top mined images.

The executor is EXECUTOR (default: the framework-free toy executor of tests/). Work folders go to demo-work/.
"""
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ymir_sdk.synthetic import write_ark_dataset  # noqa: E402


def sdk(*args):
    print("$ ymir-sdk " + " ".join(args), flush=True)
    r = subprocess.run([sys.executable, "-m", "ymir_sdk", *args], cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"ymir-sdk {args[0]} failed with status {r.returncode}")


def main():
    executor = os.environ.get("EXECUTOR", os.path.join(ROOT, "tests", "toy_executor", "start.py"))
    base = os.path.join(ROOT, "demo-work")
    dataset = os.path.join(base, "dataset")
    if not os.path.exists(os.path.join(dataset, "classes.txt")):
        write_ark_dataset(dataset, n_train=60, n_val=20, size=(128, 128))
    train = os.path.join(base, "train")
    sdk("run", executor, "--task", "train", "--dataset", dataset, "--work", train)
    sdk("verify", train, "--task", "train")
    for task in ("infer", "mine+infer"):
        work = os.path.join(base, task.replace("+", "-"))
        sdk("run", executor, "--task", task, "--dataset", dataset, "--work", work, "--model", train)
        sdk("verify", work, "--task", task)
    result = yaml.safe_load(open(os.path.join(train, "out", "models", "result.yaml")))
    best = result["model_stages"][result["best_stage_name"]]
    print(f"\nvalidation mAP@0.5 of stage {result['best_stage_name']}: {best['mAP']:.3f}")
    print("top mined images (most valuable to label first):")
    with open(os.path.join(base, "mine-infer", "out", "result.tsv")) as f:
        for line in list(f)[:5]:
            path, score = line.rstrip("\n").split("\t")
            print(f"  {score:>22}  {path}")


if __name__ == "__main__":
    main()
