#!/usr/bin/env python3
"""Measure single-core latency of one inference per model made by gen_models.py.

Why: the test models are sized so one inference of one instance takes a few to
tens of ms on one core; this checks that, and gives a Python/TF baseline to
compare ROMA's latency against.

Usage:  time_models.py --models DIR [--runs 50]

Pins the process to CPU 0 and sets TF intra/inter-op threads to 1 before TF
does anything, loads DIR/<name>/1, feeds DIR/<name>/request.json through the
"serving_default" signature, warms up, then prints a Markdown table of median
and p90 latency.
"""
import os

os.sched_setaffinity(0, {0})
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", required=True, help="directory written by gen_models.py")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()

    with open(os.path.join(args.models, "manifest.json")) as f:
        manifest = json.load(f)

    print("| model | input shape | median ms | p90 ms |")
    print("|---|---|---:|---:|")
    for name, info in manifest.items():
        sig = tf.saved_model.load(os.path.join(args.models, info["path"])).signatures[
            info["signature"]]
        with open(os.path.join(args.models, name, "request.json")) as f:
            x = tf.constant(np.asarray(json.load(f)["instances"], dtype=np.float32))
        feed = {info["input"]["name"]: x}
        for _ in range(args.warmup):
            sig(**feed)[info["output"]["name"]].numpy()
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            sig(**feed)[info["output"]["name"]].numpy()
            times.append((time.perf_counter() - t0) * 1e3)
        med, p90 = np.percentile(times, [50, 90])
        print(f"| {name} | {list(x.shape)} | {med:.2f} | {p90:.2f} |")


if __name__ == "__main__":
    main()
