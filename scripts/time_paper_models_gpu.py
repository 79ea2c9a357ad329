"""GPU service times of the paper-scale scenario's four models, batch 1.

experiments/paper.yaml needs a GPU time per model; this machine has no GPU
and TensorFlow's CPU wheel cannot use one, so this script is run on a
machine that has both a CUDA GPU and PyTorch with torchvision (the same
architectures as the Keras ones scripts/time_paper_models.py times on CPU,
random weights, nothing downloaded).

One request = what a model server does for a batch-1 image request once the
body is decoded: copy a 1x3x224x224 float32 input to the GPU, run the model
in inference mode, copy the output back (which waits for the GPU).  After a
warm-up, it times REQUESTS requests one after another and prints, per
model, the median, mean, p90 and coefficient of variation in ms, as JSON.

Usage: python3 scripts/time_paper_models_gpu.py [--requests 300] [--out FILE]
"""

import argparse
import json
import statistics
import time

import torch
import torchvision

MODELS = {  # paper.yaml name -> torchvision constructor and its arguments
    "resnet50": ("resnet50", {}),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False}),
    "vgg16": ("vgg16", {}),
    "alexnet": ("alexnet", {}),
}


def time_model(name, ctor, kwargs, requests, device):
    model = getattr(torchvision.models, ctor)(weights=None, **kwargs).eval().to(device)
    inputs = [torch.rand(1, 3, 224, 224) for _ in range(8)]
    times = []
    with torch.inference_mode():
        for i in range(30 + requests):
            x = inputs[i % len(inputs)]
            t0 = time.perf_counter()
            y = model(x.to(device)).cpu()
            t1 = time.perf_counter()
            if i >= 30:
                times.append((t1 - t0) * 1e3)
    assert y.shape == (1, 1000), (name, y.shape)
    times.sort()
    mean = statistics.fmean(times)
    return {"median_ms": round(statistics.median(times), 3), "mean_ms": round(mean, 3),
            "p90_ms": round(times[int(0.9 * len(times))], 3),
            "cv": round(statistics.pstdev(times) / mean, 3), "requests": len(times)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("time_paper_models_gpu: no CUDA GPU visible to PyTorch; run it where one is")
    torch.backends.cudnn.benchmark = True
    result = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "torchvision": torchvision.__version__, "models": {}}
    for name, (ctor, kwargs) in MODELS.items():
        result["models"][name] = time_model(name, ctor, kwargs, args.requests, "cuda")
        print(name, result["models"][name], flush=True)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
