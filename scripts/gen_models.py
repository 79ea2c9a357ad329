#!/usr/bin/env python3
"""Generate small test SavedModels for ROMA (random, seeded weights; no downloads).

Why: ROMA's tests and benchmarks need real TensorFlow SavedModels that the TF C
API (TF_LoadSessionFromSavedModel, tags={"serve"}) can load, with stable,
documented signature names, and that are cheap enough to run on one CPU core.

Usage:  gen_models.py --out DIR [--only mlp,resnet,mobilenet,resnet50]

Writes, in TensorFlow Serving's layout:
  DIR/<name>/1/saved_model.pb + variables/   (signature "serving_default")
  DIR/<name>/request.json                    (REST predict body, one instance)
  DIR/manifest.json                          (per model: signature keys, graph
                                              tensor names, shapes, dtypes)

Models (batch dimension is dynamic, shown as -1):
  mlp        input "x"     float32 [-1, 8]           -> "y"     float32 [-1, 2] (softmax)
  resnet     input "image" float32 [-1, 192, 192, 3] -> "probs" float32 [-1, 10]
  mobilenet  input "image" float32 [-1, 224, 224, 3] -> "probs" float32 [-1, 10]
  resnet50   input "image" float32 [-1, 224, 224, 3] -> "probs" float32 [-1, 1000]
             (only when named in --only: 98 MB, for bench/worker.sh)
Instances in request.json are uniform in [-1, 1], rounded to 3 decimals.

resnet: small ResNet, 3 stages x 2 basic residual blocks (conv+BN+ReLU),
        widths 32/64/128, global average pool, softmax.
mobilenet: MobileNet v1 layout (13 depthwise-separable blocks), width 1.0.
Each takes roughly 10-25 ms per image on one CPU core (see time_models.py).
resnet50: Keras' ResNet-50 (tf.keras.applications, weights=None), the model
        the ROMA paper served; about 120 ms per image on one core.

Graph tensor names (for the C API): feed "serving_default_<input>:0",
fetch "StatefulPartitionedCall:0" (single output).  `saved_model_cli show
--dir DIR/<name>/1 --all` prints them.  Each model is checked after export by
tf.saved_model.load and by a TF1 session load fed/fetched by those names.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

tf.get_logger().setLevel("ERROR")  # hide the TF1 loader's deprecation notice

SEED = 1234
NUM_CLASSES = 10


def build_mlp():
    x = keras.Input((8,))
    h = layers.Dense(16, activation="relu")(x)
    return keras.Model(x, layers.Dense(2, activation="softmax")(h), name="mlp")


def conv_bn(h, filters, kernel=3, stride=1, relu=True):
    h = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False)(h)
    h = layers.BatchNormalization()(h)
    return layers.ReLU()(h) if relu else h


def build_resnet(size=192, widths=(32, 64, 128), blocks=2):
    x = keras.Input((size, size, 3))
    h = conv_bn(x, widths[0], stride=2)
    for stage, w in enumerate(widths):
        for b in range(blocks):
            stride = 2 if (stage > 0 and b == 0) else 1
            shortcut = h
            if stride != 1 or h.shape[-1] != w:
                shortcut = conv_bn(h, w, kernel=1, stride=stride, relu=False)
            r = conv_bn(h, w, stride=stride)
            r = conv_bn(r, w, relu=False)
            h = layers.ReLU()(layers.Add()([shortcut, r]))
    h = layers.GlobalAveragePooling2D()(h)
    out = layers.Dense(NUM_CLASSES, activation="softmax")(h)
    return keras.Model(x, out, name="resnet")


def build_mobilenet(size=224, alpha=1.0):
    # (filters, stride) per depthwise-separable block, exactly as in MobileNet v1.
    cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + \
        [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    x = keras.Input((size, size, 3))
    h = conv_bn(x, int(32 * alpha), stride=2)
    for f, s in cfg:
        h = layers.DepthwiseConv2D(3, s, padding="same", use_bias=False)(h)
        h = layers.ReLU(6.0)(layers.BatchNormalization()(h))
        h = layers.Conv2D(int(f * alpha), 1, use_bias=False)(h)
        h = layers.ReLU(6.0)(layers.BatchNormalization()(h))
    h = layers.GlobalAveragePooling2D()(h)
    out = layers.Dense(NUM_CLASSES, activation="softmax")(h)
    return keras.Model(x, out, name="mobilenet")


def build_resnet50():
    # classifier_activation softmax, as in the published model
    return keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3), classes=1000)


# name -> (builder, input name, per-instance input shape, output name)
MODELS = {
    "mlp": (build_mlp, "x", [8], "y"),
    "resnet": (build_resnet, "image", [192, 192, 3], "probs"),
    "mobilenet": (build_mobilenet, "image", [224, 224, 3], "probs"),
    "resnet50": (build_resnet50, "image", [224, 224, 3], "probs"),
}
DEFAULT_MODELS = ["mlp", "resnet", "mobilenet"]  # what tests use; resnet50 on request


def calibrate_bn(model, in_shape, rng):
    """Set BatchNorm moving stats to the batch stats of random inputs.

    With random weights and default stats (mean 0, var 1), activations drift
    layer by layer and deep nets (mobilenet's ReLU6) saturate, so the output
    barely depends on the input.  One training-mode pass with momentum 0 makes
    every BN really normalize, so outputs differ per input.
    """
    bns = [l for l in model.layers if isinstance(l, layers.BatchNormalization)]
    for bn in bns:
        bn.momentum = 0.0
    model(rng.uniform(-1, 1, [16] + in_shape).astype("float32"), training=True)
    for bn in bns:
        bn.momentum = 0.99


def export(name, out_dir, rng):
    builder, in_name, in_shape, out_name = MODELS[name]
    model = builder()
    calibrate_bn(model, in_shape, rng)

    @tf.function(input_signature=[tf.TensorSpec([None] + in_shape, tf.float32, name=in_name)])
    def serve(inp):
        return {out_name: model(inp, training=False)}

    # Keras' ExportArchive, not a bare tf.saved_model.save(tf.Module): with the
    # latter, Keras 3 variables end up as two unconnected sets of VarHandleOps,
    # and a TF1/C-API session load fails with "Could not find variable ..."
    # (keras-team/keras#20095).  ExportArchive saves the tf.Variables the
    # endpoint actually uses (no archive.track(model): that stores a 2nd copy).
    path = os.path.join(out_dir, name, "1")
    archive = keras.export.ExportArchive()
    archive.add_endpoint("serving_default", serve)
    archive.write_out(path, verbose=False)

    instance = np.round(rng.uniform(-1, 1, in_shape), 3)  # float64: short JSON
    batch = instance[None].astype("float32")
    want = model(batch, training=False).numpy()

    # Check 1: TF2 load, call the signature by its input/output keys.
    sig = tf.saved_model.load(path).signatures["serving_default"]
    got = sig(**{in_name: tf.constant(batch)})[out_name].numpy()
    assert np.allclose(got, want, atol=1e-5), name
    # Check 2: TF1 session load by graph tensor names, as the C API
    # (TF_LoadSessionFromSavedModel + TF_SessionRun) does.
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path)
        sd = meta.signature_def["serving_default"]
        in_tensor, out_tensor = sd.inputs[in_name].name, sd.outputs[out_name].name
        got = sess.run(out_tensor, {in_tensor: batch})
    assert np.allclose(got, want, atol=1e-5), name

    with open(os.path.join(out_dir, name, "request.json"), "w") as f:
        json.dump({"instances": [instance.tolist()]}, f, separators=(",", ":"))
    return {
        "path": f"{name}/1",
        "signature": "serving_default",
        "input": {"name": in_name, "shape": [-1] + in_shape, "dtype": "float32",
                  "tensor": in_tensor},
        "output": {"name": out_name, "shape": [-1] + list(got.shape[1:]),
                   "dtype": "float32", "tensor": out_tensor},
        "params": int(model.count_params()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--only", help="comma-separated subset of: " + ",".join(MODELS))
    args = ap.parse_args()
    names = args.only.split(",") if args.only else DEFAULT_MODELS
    unknown = set(names) - set(MODELS)
    if unknown:
        ap.error(f"unknown model(s): {','.join(sorted(unknown))}")

    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.json")
    manifest = {}
    if os.path.exists(manifest_path):  # keep entries for models not regenerated
        with open(manifest_path) as f:
            manifest = json.load(f)
    for name in names:
        # Fresh layer names and seed per model, so --only gives the same model
        # (same weights and outputs; the checkpoint's variable order may vary).
        keras.backend.clear_session()
        keras.utils.set_random_seed(SEED)
        rng = np.random.default_rng(SEED)
        manifest[name] = export(name, args.out, rng)
        print(f"wrote {args.out}/{name}: {manifest[name]['params']} params")
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
