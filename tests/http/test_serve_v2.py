"""The Open Inference Protocol (KServe v2, Triton's HTTP API) through `roma serve`, driven by the
real `tritonclient` HTTP client from PyPI.

One roma serve (serve_util.Serve) serves the generated `mlp` model (FP32) and the `typed` model of
test_v2.py (BYTES, INT32, UINT8, BOOL in; BYTES, INT32, INT64, FP64, BOOL out).  What is checked:
  - inference answers through roma serve equal the worker's own, byte for byte with the headers
    that say how to read them (Content-Type, Inference-Header-Content-Length), for binary and
    JSON inputs and outputs and `outputs` selection;
  - the worker's 400s (wrong shape, truncated binary tail, binary_data_size not adding up) come
    through unchanged; an unknown model is roma serve's own 404;
  - health and server metadata answered by roma serve, model metadata and a named version's
    readiness forwarded to the model's worker;
  - v2 inferences count in /metrics and the store like TF Serving ones; a full queue is 429 and
    held bodies past limits.inflight_mb 503, with {"error": ...} and Retry-After; requests a
    killed worker held are re-sent.
The worker is reached directly (for comparisons) with its per-start secret, as test_serve.py does.
"""

import json
import os
import signal
import sqlite3
import threading

import numpy as np
import pytest
import requests

from roma_http import assert_error, ok_json
from serve_util import Load, Serve, model_entry, post_once, request_body, wait_until, worker_secret
# typed_model_dir is a fixture: imported, it makes the typed model for this module too.
from test_v2 import TYPED_DT, TYPED_IN, binary_request, infer, typed_model_dir, x_input  # noqa: F401

tritonclient_http = pytest.importorskip(
    "tritonclient.http", reason="tritonclient[http] missing: run scripts/setup.sh")
InferenceServerException = pytest.importorskip("tritonclient.utils").InferenceServerException

QUEUE_LIMIT = 2  # small, for the 429 test; the other tests send one request at a time
TYPED_OUT = ["upper", "n2", "n_sum", "half", "not_flag"]


@pytest.fixture(scope="module")
def serve(tmp_path_factory, typed_model_dir):  # noqa: F811 (the imported fixture)
    s = Serve(tmp_path_factory.mktemp("serve-v2"), [
        model_entry("mlp", sla=1.0, cmin=0.2, cmax=1, initial=1),
        {"name": "typed", "base_path": str(typed_model_dir), "sla": 1.0, "alpha": 0.5,
         "cores": {"min": 0.2, "max": 1, "initial": 0.5}},
    ], period="0.5s", controller="static", queue_limit=QUEUE_LIMIT, name="v2",
        limits={"inflight_mb": 1, "body_mb": 1}).start()
    try:
        yield s
    finally:
        rc = s.stop()
        assert rc == 0, f"roma serve exit code {rc}\n{s.output()[-4000:]}"


@pytest.fixture(scope="module")
def client(serve):
    c = tritonclient_http.InferenceServerClient(url=f"127.0.0.1:{serve.port}")
    yield c
    c.close()


def secret(serve, model):
    return {"X-Roma-Secret": worker_secret(serve.worker(model)["pid"])}


def direct(serve, model, method, path, headers=None, **kw):
    """The same request straight to model's worker (with its secret)."""
    w = serve.worker(model)
    return requests.request(method, f"http://127.0.0.1:{w['port']}{path}", timeout=30,
                            headers={**(headers or {}), **secret(serve, model)}, **kw)


def mlp_x():
    return np.array(json.loads(request_body("mlp"))["instances"], dtype=np.float32)


def mlp_request(binary_out=True):
    """A binary v2 request for mlp, as tritonclient writes it: (body, headers)."""
    i = tritonclient_http.InferInput("x", list(mlp_x().shape), "FP32")
    i.set_data_from_numpy(mlp_x(), binary_data=True)
    o = tritonclient_http.InferRequestedOutput("y", binary_data=binary_out)
    body, json_size = tritonclient_http.InferenceServerClient.generate_request_body([i], [o])
    return body, {"Inference-Header-Content-Length": str(json_size),
                  "Content-Type": "application/octet-stream"}


def post(serve, path, body, headers):
    return requests.post(serve.url(path), data=body, headers=headers, timeout=30)


# ---------------------------------------------------------------- health and metadata

def test_health_and_readiness(serve, client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("mlp") and client.is_model_ready("typed")
    assert client.is_model_ready("mlp", "1")  # forwarded: only the worker knows versions
    assert not client.is_model_ready("mlp", "7")
    assert not client.is_model_ready("nope")
    assert_error(serve.get("/v2/models/nope/ready"), 404, "nope")
    assert_error(serve.get("/v2/models/mlp/versions/7/ready"), 404, "7")
    r = serve.get("/v2/health/ready")
    assert r.status_code == 200 and r.content == b"", r.text


def test_server_metadata_is_the_workers(serve, client):
    md = client.get_server_metadata()
    assert md["name"] == "roma" and "binary_tensor_data" in md["extensions"], md
    assert md == ok_json(direct(serve, "mlp", "GET", "/v2"))


def test_model_metadata_is_forwarded(serve, client):
    for path, want in [("/v2/models/mlp", client.get_model_metadata("mlp")),
                       ("/v2/models/mlp/versions/1", client.get_model_metadata("mlp", "1"))]:
        assert want == ok_json(direct(serve, "mlp", "GET", path)), path
    md = client.get_model_metadata("mlp")
    assert md["versions"] == ["1"]
    assert md["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 8]}], md
    typed = client.get_model_metadata("typed")
    assert {t["name"]: t["datatype"] for t in typed["inputs"]}["text"] == "BYTES", typed


# ---------------------------------------------------------------- inference

@pytest.mark.parametrize("binary_in", [True, False], ids=["bin-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["bin-out", "json-out"])
def test_mlp_equals_tf_serving_api(serve, client, binary_in, binary_out):
    r = infer(client, "mlp", {"x": mlp_x()}, {"x": "FP32"}, binary_in, binary_out, outputs=["y"],
              request_id="r-1", model_version="1")
    y = r.as_numpy("y")
    want = np.array(ok_json(serve.predict("mlp", request_body("mlp")))["predictions"],
                    dtype=np.float32)
    assert y.dtype == np.float32 and y.shape == want.shape
    np.testing.assert_array_equal(y, want)
    assert r.get_response()["id"] == "r-1" and r.get_response()["model_version"] == "1"


@pytest.mark.parametrize("path", ["/v2/models/mlp/infer", "/v2/models/mlp/versions/1/infer"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["bin-out", "json-out"])
def test_answer_passes_through_byte_for_byte(serve, path, binary_out):
    body, headers = mlp_request(binary_out)
    via = post(serve, path, body, headers)
    own = direct(serve, "mlp", "POST", path, headers, data=body)
    assert via.status_code == own.status_code == 200, (via.text, own.text)
    assert via.content == own.content
    for h in ("Content-Type", "Inference-Header-Content-Length"):
        assert via.headers.get(h) == own.headers.get(h), (h, via.headers, own.headers)
    assert ("Inference-Header-Content-Length" in via.headers) == binary_out, via.headers
    assert via.headers.get("X-Roma-Device") == "cpu", via.headers


@pytest.mark.parametrize("binary_in", [True, False], ids=["bin-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["bin-out", "json-out"])
def test_bytes_and_other_dtypes_equal_the_worker(serve, client, binary_in, binary_out):
    got = infer(client, "typed", TYPED_IN, TYPED_DT, binary_in, binary_out, outputs=TYPED_OUT)
    wc = tritonclient_http.InferenceServerClient(url=f"127.0.0.1:{serve.worker('typed')['port']}")
    try:
        want = infer(wc, "typed", TYPED_IN, TYPED_DT, binary_in, binary_out, outputs=TYPED_OUT,
                     headers=secret(serve, "typed"))
    finally:
        wc.close()
    assert [o["name"] for o in got.get_response()["outputs"]] == TYPED_OUT
    for name in TYPED_OUT:
        a, b = got.as_numpy(name), want.as_numpy(name)
        assert a.dtype == b.dtype and a.tolist() == b.tolist(), name
    upper = got.as_numpy("upper")[0]
    assert (upper.decode() if isinstance(upper, bytes) else upper) == "ABC"


def test_outputs_selection(client):
    r = infer(client, "typed", TYPED_IN, TYPED_DT, True, True, outputs=["n_sum"])
    assert [o["name"] for o in r.get_response()["outputs"]] == ["n_sum"]
    assert r.as_numpy("n_sum").tolist() == [-1, -1, 5]
    r = infer(client, "typed", TYPED_IN, TYPED_DT, True, False)  # none named: all of them
    assert sorted(o["name"] for o in r.get_response()["outputs"]) == sorted(TYPED_OUT)


# ---------------------------------------------------------------- errors

def test_wrong_shape_is_the_workers_400(client):
    x = np.zeros([3], dtype=np.float32)  # mlp wants [-1, 8]
    with pytest.raises(InferenceServerException, match=r"shape \[3\].*expects \[-1, 8\]") as e:
        infer(client, "mlp", {"x": x}, {"x": "FP32"}, True, True)
    assert e.value.status() == "400"


@pytest.mark.parametrize("case", ["truncated", "size-does-not-add-up", "header-past-body"])
def test_bad_binary_request_is_the_workers_400(serve, case):
    body, headers = {
        "truncated": lambda: binary_request(x_input([2, 8], 64), b"\0" * 40),
        "size-does-not-add-up": lambda: binary_request(x_input([2, 8], 60), b"\0" * 60),
        "header-past-body": lambda: binary_request(x_input([1, 8], 32), b"\0" * 32, 10**6),
    }[case]()
    via = post(serve, "/v2/models/mlp/infer", body, headers)
    own = direct(serve, "mlp", "POST", "/v2/models/mlp/infer", headers, data=body)
    assert_error(via, 400)
    assert via.content == own.content and own.status_code == 400
    assert serve.alive()


def test_unknown_model_and_bad_paths(serve, client):
    with pytest.raises(InferenceServerException, match="unknown model 'nope'") as e:
        infer(client, "nope", {"x": mlp_x()}, {"x": "FP32"}, True, True)
    assert e.value.status() == "404"
    assert_error(post(serve, "/v2/models/nope/infer", b"{}", {}), 404, "nope", "/roma/v1/models")
    assert_error(serve.get("/v2/models/nope"), 404, "nope")
    assert_error(serve.get("/v2/models/mlp/infer"), 400, "POST")
    assert_error(serve.get("/v2/models/mlp/versions/x1"), 400, "not a number")
    assert_error(serve.get("/v2/nothing"), 404, "/v2/nothing")
    # TF Serving's API keeps TF Serving's message
    assert_error(serve.predict("nope", request_body("mlp")), 404,
                 "Servable not found for request: Latest(nope)")


# ---------------------------------------------------------------- accounting

def store_counts(serve, model):
    with sqlite3.connect(f"file:{serve.workdir / 'v2.db'}?mode=ro", uri=True, timeout=5) as db:
        return dict(db.execute("SELECT status, count(*) FROM requests WHERE model = ? "
                               "GROUP BY status", (model,)).fetchall())


def test_v2_requests_count_like_v1_ones(serve, client):
    def total(m, code):
        return m.value("roma_requests_total", model="mlp", device="cpu", code=code)

    m0 = serve.metrics()
    body, headers = mlp_request()
    for _ in range(3):
        assert post(serve, "/v2/models/mlp/infer", body, headers).status_code == 200
    assert serve.predict("mlp", request_body("mlp")).status_code == 200
    bad, bad_headers = binary_request(x_input([2, 8], 60), b"\0" * 60)
    assert post(serve, "/v2/models/mlp/infer", bad, bad_headers).status_code == 400
    client.get_model_metadata("mlp")  # forwarded, but not an inference: not counted
    m1 = serve.metrics()
    assert total(m1, 200) - total(m0, 200) == 4, m1.text
    assert total(m1, 400) - total(m0, 400) == 1, m1.text

    # The store's writer batches rows off the loop: it catches up with the metrics (every
    # answer so far in this module was an inference's or a metadata request's).
    def stored():
        rows = store_counts(serve, "mlp")
        return rows.get(200) == total(m1, 200) and rows.get(400) == total(m1, 400)

    assert wait_until(stored, 10), (store_counts(serve, "mlp"), m1.text)


# ---------------------------------------------------------------- queue, limits, worker death
# (last: they stop and kill the mlp worker)

def test_queue_full_429_and_bodies_held_503(serve):
    """With the worker stopped (SIGSTOP): a 0.6 MB request is held, a second does not fit in
    limits.inflight_mb (503); then the worker's slots and the queue fill and the next is 429.
    All held requests are answered once the worker runs again."""
    w = serve.worker("mlp")
    body, headers = mlp_request()
    pad = json.dumps({"inputs": x_input([1, 8], 32)}).encode() + b" " * 600_000
    big, big_headers = pad + b"\0" * 32, {**headers, "Inference-Header-Content-Length": str(len(pad))}
    url = serve.url("/v2/models/mlp/infer")
    held = []

    def send(b, h):
        t = threading.Thread(target=lambda: held.append(post_once(url, b, 60, headers=h)))
        t.start()
        return t

    os.kill(w["pid"], signal.SIGSTOP)
    try:
        threads = [send(big, big_headers)]
        assert wait_until(lambda: serve.held("mlp") == 1, 20)
        assert serve.metrics().one("roma_request_body_bytes_held") >= len(big)
        try:
            r = post(serve, "/v2/models/mlp/infer", big, big_headers)
        except requests.Timeout:  # what roma serve was doing meanwhile, to find why
            pytest.fail(f"no answer to the second 0.6 MB request in 30 s; roma serve's log:\n"
                        f"{serve.output()[-4000:]}")
        assert_error(r, 503, "inflight_mb")
        assert r.headers.get("Retry-After")
        n = w["slots"] - 1 + QUEUE_LIMIT
        threads += [send(body, headers) for _ in range(n)]
        assert wait_until(lambda: serve.held("mlp") == n + 1, 20), serve.held("mlp")
        r = post(serve, "/v2/models/mlp/infer", body, headers)
        assert_error(r, 429, "queue is full")
        assert r.headers.get("Retry-After")
    finally:
        os.kill(w["pid"], signal.SIGCONT)
    for t in threads:
        t.join(60)
    assert len(held) == len(threads) and all(r.status == 200 for r in held), held


def test_worker_kill9_v2_requests_are_resent(serve):
    body, headers = mlp_request()
    want = post(serve, "/v2/models/mlp/infer", body, headers).content
    old = serve.worker("mlp")["pid"]
    # 2 clients: with queue_limit 2 none can be refused while the worker restarts
    load = Load(serve.url("/v2/models/mlp/infer"), body, 2, headers=headers).start()
    try:
        assert wait_until(lambda: load.count() >= 30, 15), "load did not get going"
        os.kill(old, signal.SIGKILL)
        w = wait_until(lambda: (lambda w: w if w["state"] == "ready" and w["pid"] != old else None)(
            serve.worker("mlp")), 30)
        assert w, serve.output()[-3000:]
        n = load.count()
        assert wait_until(lambda: load.count() >= n + 30, 15)
    finally:
        results = load.stop()
    assert not [r for r in results if r.error], [r for r in results if r.error][:3]
    assert {r.status for r in results} == {200}, {r.status for r in results}
    assert all(r.body == want for r in results)  # re-sent requests got their own answers
