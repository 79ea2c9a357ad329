"""Closed-loop load with Triton's own HTTP client (tritonclient, PyPI), as
perf_analyzer measures: at concurrency N, N clients each send the next
request as soon as the previous answer is in, for a time; throughput and
latency percentiles of that window.  Used by bench/perf_analyzer.sh, since
perf_analyzer's PyPI wheels need glibc 2.38 and Debian 12 has 2.36.

Inputs are random tensors of the model's shapes (from its v2 metadata,
dynamic dimensions as 1), sent and answered as binary tensor data.

  python bench/triton_load.py URL MODEL CONCURRENCY SECONDS   -> one JSON line
"""
import json
import sys
import threading
import time

import numpy as np
import tritonclient.http as th

NP = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "INT8": np.int8,
      "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8, "BOOL": np.bool_}


def inputs_of(metadata):
    rng = np.random.default_rng(0)
    out = []
    for t in metadata["inputs"]:
        shape = [d if d > 0 else 1 for d in t["shape"]]
        value = (rng.random(shape) * 100).astype(NP[t["datatype"]])
        i = th.InferInput(t["name"], shape, t["datatype"])
        i.set_data_from_numpy(value, binary_data=True)
        out.append(i)
    return out


def main():
    url, model, conc, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    probe = th.InferenceServerClient(url=url)
    md = probe.get_model_metadata(model)
    outputs = [th.InferRequestedOutput(o["name"], binary_data=True) for o in md["outputs"]]
    for _ in range(3):  # warm-up
        probe.infer(model, inputs_of(md), outputs=outputs)
    lat, errors, lock = [], [0], threading.Lock()
    start = time.monotonic()
    stop = start + secs

    def loop():
        c = th.InferenceServerClient(url=url)
        ins = inputs_of(md)
        mine, bad = [], 0
        while time.monotonic() < stop:
            t0 = time.monotonic()
            try:
                c.infer(model, ins, outputs=outputs)
                mine.append(time.monotonic() - t0)
            except Exception:  # counted, not fatal: the table shows errors
                bad += 1
        with lock:
            lat.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=loop) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6 if lat else float("nan")
    print(json.dumps({"concurrency": conc, "requests": len(lat), "errors": errors[0],
                      "throughput_rps": len(lat) / wall, "p50_us": pct(0.5), "p90_us": pct(0.9),
                      "p99_us": pct(0.99), "avg_us": sum(lat) / len(lat) * 1e6 if lat else 0}))


if __name__ == "__main__":
    main()
