"""The Open Inference Protocol (KServe v2 REST, Triton's HTTP API) on `roma worker`, driven by the
real `tritonclient` HTTP client from PyPI, next to TF Serving's API on the same worker.

Models: TF Serving's saved_model_half_plus_two_cpu (FP32 in and out), and a small SavedModel
generated here (`typed`) whose serving_default takes BYTES, INT32, UINT8 and BOOL inputs and
answers BYTES, INT32, INT64, FP64 and BOOL outputs.  Every v2 answer is compared with TF
Serving's API's answer (POST /v1/models/M:predict) for the same inputs.  Hostile requests are
sent raw (requests), since a correct client cannot build them; each must be a 400 (or 404)
{"error": "..."} and the worker must keep serving.
"""

import json
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from roma_http import assert_error, ok_json, project_models_dir, tfs_model

tritonclient_http = pytest.importorskip(
    "tritonclient.http", reason="tritonclient[http] missing: run scripts/setup.sh")
InferenceServerException = pytest.importorskip("tritonclient.utils").InferenceServerException

pytestmark = pytest.mark.tfserving_data

# serving_default of the `typed` model; output keys are sorted by TensorFlow.
TYPED_MODEL = textwrap.dedent('''
    import sys
    import tensorflow as tf

    class Typed(tf.Module):
        @tf.function(input_signature=[
            tf.TensorSpec([None], tf.string, name="text"),
            tf.TensorSpec([None, 2], tf.int32, name="n"),
            tf.TensorSpec([None], tf.uint8, name="pix"),
            tf.TensorSpec([None], tf.bool, name="flag")])
        def serve(self, text, n, pix, flag):
            return {"upper": tf.strings.upper(text),
                    "n2": n * 2,
                    "n_sum": tf.reduce_sum(tf.cast(n, tf.int64), axis=1),
                    "half": tf.cast(pix, tf.float64) / 2.0,
                    "not_flag": tf.logical_not(flag)}

    m = Typed()
    tf.saved_model.save(m, sys.argv[1], signatures={"serving_default": m.serve})
''')


@pytest.fixture(scope="module")
def typed_model_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("typed")
    subprocess.run([sys.executable, "-c", TYPED_MODEL, str(base / "1")], check=True,
                   env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}, timeout=300)
    return base


@pytest.fixture(scope="module")
def worker(workers, typed_model_dir):
    return workers.serve_config([
        {"name": "hp2", "base_path": str(tfs_model("saved_model_half_plus_two_cpu"))},
        {"name": "typed", "base_path": str(typed_model_dir)},
    ], ready_model="hp2")


@pytest.fixture(scope="module")
def client(worker):
    c = tritonclient_http.InferenceServerClient(url=f"127.0.0.1:{worker.port}")
    yield c
    c.close()


def v1_outputs(worker, model, inputs):
    """TF Serving's API's columnar answer for the same inputs, as numpy arrays."""
    body = {"inputs": {k: v.tolist() for k, v in inputs.items()}}
    for k, v in body["inputs"].items():
        if inputs[k].dtype == np.object_:
            body["inputs"][k] = [x.decode() for x in v]
    outputs = ok_json(worker.predict(model, body))["outputs"]
    return outputs if isinstance(outputs, dict) else {"y": outputs}


def infer(client, model, inputs, datatypes, binary_in, binary_out, outputs=None, **kw):
    ins = []
    for name, value in inputs.items():
        i = tritonclient_http.InferInput(name, list(value.shape), datatypes[name])
        i.set_data_from_numpy(value, binary_data=binary_in)
        ins.append(i)
    outs = [tritonclient_http.InferRequestedOutput(o, binary_data=binary_out)
            for o in (outputs or [])] or None
    return client.infer(model, ins, outputs=outs, **kw)


# ---------------------------------------------------------------- health and metadata

def test_health(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("hp2")
    assert client.is_model_ready("hp2", "123")
    assert not client.is_model_ready("hp2", "7")
    assert not client.is_model_ready("nope")


def test_server_metadata(client):
    md = client.get_server_metadata()
    assert md["name"] == "roma" and md["version"]
    assert "binary_tensor_data" in md["extensions"]


def test_model_metadata_from_the_signature(client):
    md = client.get_model_metadata("hp2")
    assert md["name"] == "hp2" and md["versions"] == ["123"]
    assert md["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 1]}]
    assert md["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}]
    assert client.get_model_metadata("hp2", "123")["versions"] == ["123"]
    typed = client.get_model_metadata("typed")
    types = {t["name"]: (t["datatype"], t["shape"]) for t in typed["inputs"] + typed["outputs"]}
    assert types == {"text": ("BYTES", [-1]), "n": ("INT32", [-1, 2]), "pix": ("UINT8", [-1]),
                     "flag": ("BOOL", [-1]), "upper": ("BYTES", [-1]), "n2": ("INT32", [-1, 2]),
                     "n_sum": ("INT64", [-1]), "half": ("FP64", [-1]),
                     "not_flag": ("BOOL", [-1])}


# ---------------------------------------------------------------- inference

@pytest.mark.parametrize("binary_in", [True, False], ids=["bin-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["bin-out", "json-out"])
def test_half_plus_two_equals_tf_serving(worker, client, binary_in, binary_out):
    x = np.array([[1.0], [2.5], [-3.0], [1e-3]], dtype=np.float32)
    r = infer(client, "hp2", {"x": x}, {"x": "FP32"}, binary_in, binary_out, outputs=["y"],
              request_id="req-7", model_version="123")
    y = r.as_numpy("y")
    assert y.dtype == np.float32 and y.shape == (4, 1)
    np.testing.assert_array_equal(y, np.array(v1_outputs(worker, "hp2", {"x": x})["y"],
                                              dtype=np.float32))
    np.testing.assert_array_equal(y, 0.5 * x + 2)
    assert r.get_response()["id"] == "req-7"
    assert r.get_response()["model_version"] == "123"


TYPED_IN = {
    "text": np.array([b"abc", b"", "é x".encode()], dtype=np.object_),
    "n": np.array([[1, -2], [2147483647, -2147483648], [0, 5]], dtype=np.int32),
    "pix": np.array([0, 7, 255], dtype=np.uint8),
    "flag": np.array([True, False, True]),
}
TYPED_DT = {"text": "BYTES", "n": "INT32", "pix": "UINT8", "flag": "BOOL"}


@pytest.mark.parametrize("binary_in", [True, False], ids=["bin-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["bin-out", "json-out"])
def test_typed_model_equals_tf_serving(worker, client, binary_in, binary_out):
    want = v1_outputs(worker, "typed", TYPED_IN)
    # n * 2 overflows int32 for the extremes: TensorFlow wraps, both APIs must agree.
    names = ["upper", "n2", "n_sum", "half", "not_flag"]
    r = infer(client, "typed", TYPED_IN, TYPED_DT, binary_in, binary_out, outputs=names)
    got = {o: r.as_numpy(o) for o in names}
    assert [o["name"] for o in r.get_response()["outputs"]] == names
    upper = [x.decode() if isinstance(x, bytes) else x for x in got["upper"]]  # JSON: str
    assert upper == want["upper"] and upper[0] == "ABC"
    assert got["n2"].dtype == np.int32 and got["n2"].tolist() == want["n2"]
    assert got["n_sum"].dtype == np.int64 and got["n_sum"].tolist() == want["n_sum"]
    assert got["half"].dtype == np.float64 and got["half"].tolist() == want["half"]
    assert got["not_flag"].dtype == np.bool_ and got["not_flag"].tolist() == want["not_flag"]


def test_output_selection_and_default_outputs(worker, client):
    r = infer(client, "typed", TYPED_IN, TYPED_DT, True, True, outputs=["n_sum"])
    assert [o["name"] for o in r.get_response()["outputs"]] == ["n_sum"]
    # No outputs named: all of them; tritonclient then asks for binary_data_output.
    r = infer(client, "typed", TYPED_IN, TYPED_DT, True, False)
    assert sorted(o["name"] for o in r.get_response()["outputs"]) == \
        ["half", "n2", "n_sum", "not_flag", "upper"]
    assert r.as_numpy("n_sum").tolist() == [-1, -1, 5]
    body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [4]}]}
    r = worker.post("/v2/models/hp2/infer", body)  # plain JSON: all outputs as JSON
    assert ok_json(r)["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [1, 1],
                                      "data": [4.0]}]


def test_binary_data_output_parameter(worker):
    body = {"parameters": {"binary_data_output": True},
            "inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32", "data": [1, 2]}]}
    r = worker.post("/v2/models/hp2/infer", body)
    assert r.status_code == 200, r.text
    n = int(r.headers["Inference-Header-Content-Length"])
    header = json.loads(r.content[:n])
    assert header["outputs"][0]["parameters"]["binary_data_size"] == 8
    assert struct.unpack("<2f", r.content[n:]) == (2.5, 3.0)


def test_nested_json_data_is_accepted(worker):
    body = {"inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32", "data": [[1], [2]]}]}
    out = ok_json(worker.post("/v2/models/hp2/infer", body))["outputs"][0]
    assert out == {"name": "y", "datatype": "FP32", "shape": [2, 1], "data": [2.5, 3.0]}


# ---------------------------------------------------------------- errors through tritonclient

def test_wrong_shape_for_the_model(client):
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)  # the model wants [-1, 1]
    with pytest.raises(InferenceServerException, match=r"shape \[3\].*expects \[-1, 1\]"):
        infer(client, "hp2", {"x": x}, {"x": "FP32"}, True, True)


def test_wrong_datatype_for_the_model(client):
    x = np.array([[1.0]], dtype=np.float64)
    with pytest.raises(InferenceServerException, match="datatype FP64.*FP32"):
        infer(client, "hp2", {"x": x}, {"x": "FP64"}, True, True)


def test_unknown_model_and_input_and_output(client):
    x = np.array([[1.0]], dtype=np.float32)
    with pytest.raises(InferenceServerException, match="nope"):
        infer(client, "nope", {"x": x}, {"x": "FP32"}, True, True)
    with pytest.raises(InferenceServerException, match="unknown input 'z'"):
        infer(client, "hp2", {"z": x}, {"z": "FP32"}, True, True)
    with pytest.raises(InferenceServerException, match="unknown output 'w'"):
        infer(client, "hp2", {"x": x}, {"x": "FP32"}, True, True, outputs=["w"])


# ---------------------------------------------------------------- hostile requests (raw)

def binary_request(inputs, blob, header_len=None):
    """A v2 body: JSON header (inputs given) + blob, and the header-length header."""
    header = json.dumps({"inputs": inputs}).encode()
    n = len(header) if header_len is None else header_len
    return header + blob, {"Inference-Header-Content-Length": str(n),
                           "Content-Type": "application/octet-stream"}


def x_input(shape, size, datatype="FP32"):
    return [{"name": "x", "shape": shape, "datatype": datatype,
             "parameters": {"binary_data_size": size}}]


HOSTILE = {
    "header-longer-than-body": (
        lambda: binary_request(x_input([1, 1], 4), b"\0" * 4, header_len=10**6),
        400, "Inference-Header-Content-Length is 1000000"),
    "header-length-not-a-number": (
        lambda: binary_request(x_input([1, 1], 4), b"\0" * 4, header_len="12a"),
        400, "not a byte count"),
    "size-overflows-with-shape": (
        lambda: binary_request(x_input([2**62, 2**62], 8), b"\0" * 8),
        400, "overflow"),
    "size-overflows-times-dtype": (
        lambda: binary_request(x_input([2**62, 1], 8), b"\0" * 8),
        400, "overflow"),
    "negative-dimension": (
        lambda: binary_request(x_input([-1, 1], 4), b"\0" * 4),
        400, "dimension 0 is not a size"),
    "huge-dimension": (
        lambda: binary_request(x_input([10**15, 1], 4), b"\0" * 4),
        400, "does not add up"),
    "size-does-not-add-up": (
        lambda: binary_request(x_input([2, 1], 12), b"\0" * 12),
        400, "binary_data_size 12 does not add up: shape [2, 1] of FP32 is 8 bytes"),
    "truncated-binary-tail": (
        lambda: binary_request(x_input([4, 1], 16), b"\0" * 9),
        400, "truncated"),
    "bytes-after-the-inputs": (
        lambda: binary_request(x_input([1, 1], 4), b"\0" * 8),
        400, "add up to 4"),
    "bytes-element-past-its-size": (
        lambda: binary_request([{"name": "text", "shape": [1], "datatype": "BYTES",
                                 "parameters": {"binary_data_size": 6}},
                                {"name": "n", "shape": [1, 2], "datatype": "INT32",
                                 "data": [1, 2]},
                                {"name": "pix", "shape": [1], "datatype": "UINT8", "data": [1]},
                                {"name": "flag", "shape": [1], "datatype": "BOOL",
                                 "data": [True]}],
                               struct.pack("<I", 100) + b"ab"),
        400, "runs past"),
    "binary-without-header-length": (
        lambda: (json.dumps({"inputs": x_input([1, 1], 4)}).encode(), {}),
        400, "no Inference-Header-Content-Length"),
    "unknown-datatype": (
        lambda: binary_request(x_input([1, 1], 4, "FLOAT"), b"\0" * 4),
        400, "datatype"),
    "json-data-count-mismatch": (
        lambda: (json.dumps({"inputs": [{"name": "x", "shape": [3, 1], "datatype": "FP32",
                                         "data": [1, 2]}]}).encode(), {}),
        400, "has 2 values"),
    "not-json": (lambda: (b"{inputs", {}), 400, "JSON"),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_request_is_a_clear_400(worker, case):
    make, status, fragment = HOSTILE[case]
    body, headers = make()
    model = "typed" if "bytes-element" in case else "hp2"
    r = worker.post(f"/v2/models/{model}/infer", raw=body, headers=headers)
    assert_error(r, status, fragment)
    assert worker.alive() and worker.get("/v2/health/live").status_code == 200


def test_error_status_codes(worker):
    assert_error(worker.post("/v2/models/nope/infer", {"inputs": []}), 404, "nope")
    assert_error(worker.get("/v2/models/nope"), 404, "nope")
    assert_error(worker.get("/v2/models/hp2/versions/9"), 404, "9")
    assert_error(worker.get("/v2/models/hp2/versions/x1"), 400, "not a number")
    assert_error(worker.get("/v2/models/hp2/infer"), 400, "POST")
    assert_error(worker.get("/v2/nothing"), 404, "/v2/nothing")


# ---------------------------------------------------------------- the generated models

@pytest.mark.project_models
@pytest.mark.parametrize("name", ["mlp", "resnet"])
def test_generated_model_binary_v2_equals_tf_serving_json(workers, name):
    """The generated models' own request.json, as TF Serving JSON and as binary v2: the same
    float32 input runs the same graph, so the answers are equal to the bit."""
    models = project_models_dir()
    entry = json.loads((models / "manifest.json").read_text())[name]
    body = json.loads((models / name / "request.json").read_text())
    w = workers.serve(models / name, name)
    want = np.array(ok_json(w.predict(name, body))["predictions"], dtype=np.float32)
    x = np.array(body["instances"], dtype=np.float32)
    c = tritonclient_http.InferenceServerClient(url=f"127.0.0.1:{w.port}")
    try:
        r = infer(c, name, {entry["input"]["name"]: x}, {entry["input"]["name"]: "FP32"}, True,
                  True, outputs=[entry["output"]["name"]])
    finally:
        c.close()
    np.testing.assert_array_equal(r.as_numpy(entry["output"]["name"]), want)
