#!/usr/bin/env python3
"""Measure the one-core latency of paper-class CNNs on this machine, for
experiments/paper.yaml's CPU service times.

Keras builds ResNet-50 and VGG-16 (tf.keras.applications, weights=None:
random weights, no download) at 224x224x3, batch 1; the process is pinned
to CPU 0 with one intra-op and one inter-op thread (as roma serve runs its
CPU workers); after a warm-up, the median and p90 of --runs inferences are
printed as a Markdown table, with the multiply-accumulate count Keras
reports (GFLOPs = 2 x MACs) so other models can be scaled by their
published FLOPs.

Usage: .venv/bin/python scripts/time_paper_models.py [--runs 20]
"""
import os

os.sched_setaffinity(0, {0})
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

MODELS = {"resnet50": tf.keras.applications.ResNet50, "vgg16": tf.keras.applications.VGG16}


def time_model(build, runs, warmup):
    model = build(weights=None, input_shape=(224, 224, 3))
    fn = tf.function(lambda x: model(x, training=False))
    x = tf.constant(np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32))
    for _ in range(warmup):
        fn(x).numpy()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(x).numpy()
        times.append((time.perf_counter() - t0) * 1e3)
    return np.percentile(times, [50, 90]), model.count_params()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    print("| model | parameters | median ms (1 core) | p90 ms |")
    print("|---|---:|---:|---:|")
    for name, build in MODELS.items():
        (med, p90), params = time_model(build, args.runs, args.warmup)
        print(f"| {name} | {params:,} | {med:.1f} | {p90:.1f} |", flush=True)


if __name__ == "__main__":
    main()
