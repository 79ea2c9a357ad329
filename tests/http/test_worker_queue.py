"""The worker's job queue under overload (issue 16): a request whose client has
closed its connection before a thread takes it is not run, and past
--rest_api_max_queued waiting requests a new one is answered 503 at once.

The worker runs one inference thread, kept busy by a slow request (a 15 MB
body with a NaN token, which takes the general JSON path: a second or more);
requests sent meanwhile wait in the queue.  Whether a request ran is read off
saved_model_counter's state: incr_counter_by adds its delta to a variable.
"""

import json
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from roma_http import ok_json, tfs_model

pytestmark = pytest.mark.tfserving_data

MAX_QUEUED = 3
SKIP_LOG = "closed its connection before the request ran"


@pytest.fixture(scope="module")
def worker(workers):
    models = [{"name": "default", "base_path": str(tfs_model("saved_model_half_plus_two_cpu"))},
              {"name": "counter", "base_path": str(tfs_model("saved_model_counter"))}]
    return workers.serve_config(models, "--rest_api_num_threads=1",
                                f"--rest_api_max_queued={MAX_QUEUED}")


def raw_request(path, body):
    data = json.dumps(body).encode()
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (path.encode(), len(data))) + data


def incr_request(delta):
    return raw_request("/v1/models/counter:predict",
                       {"signature_name": "incr_counter_by", "inputs": {"delta": delta}})


def send(w, raw):
    s = socket.create_connection(("127.0.0.1", w.port), timeout=60)
    s.sendall(raw)
    return s


def read_answer(s, timeout=60):
    """(status, headers dict with lower-case keys, body bytes) of one response."""
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"connection closed without an answer: {data[:300]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "connection closed in the middle of the answer"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def counter_value(w):
    s = send(w, incr_request(0.0))
    try:
        status, _, body = read_answer(s)
    finally:
        s.close()
    assert status == 200, body[:300]
    return json.loads(body)["outputs"]


@contextmanager
def inference_thread_busy(w):
    """Runs a slow request on the worker's only inference thread while the
    block runs; on exit waits for it and checks it was answered 200."""
    n = 3_000_000
    body = ('{"instances": [NaN' + ", 1.5" * n + "]}").encode()
    raw = (b"POST /v1/models/default:predict HTTP/1.1\r\nHost: x\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body)) + body
    result = {}

    def run():
        s = send(w, raw)
        result["sent"] = True
        try:
            result["status"] = read_answer(s, timeout=120)[0]
        finally:
            s.close()

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 30
    while "sent" not in result and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # read by the loop and taken by the thread
    try:
        yield result
    finally:
        t.join(timeout=120)
        assert result.get("status") == 200, f"the slow request got {result!r}"


def test_request_whose_client_left_is_not_run(worker):
    before = counter_value(worker)
    skipped_before = worker.output().count(SKIP_LOG)
    with inference_thread_busy(worker):
        gone = send(worker, incr_request(1.0))
        gone.close()                          # queued, then abandoned
        stays = send(worker, incr_request(100.0))
        status, _, body = read_answer(stays)  # runs once the slow one is done
        stays.close()
    assert status == 200, body[:300]
    # The request that stayed ran (the counter shows runs), the abandoned one did not
    # (had the thread not been busy, it would have run at once and shown too).
    assert json.loads(body)["outputs"] == before + 100.0
    assert counter_value(worker) == before + 100.0
    assert worker.output().count(SKIP_LOG) == skipped_before + 1, worker.output()[-2000:]
    assert worker.alive()


def test_past_the_queue_bound_503_at_once(worker):
    before = counter_value(worker)
    with inference_thread_busy(worker):
        queued = [send(worker, incr_request(1.0)) for _ in range(MAX_QUEUED)]
        time.sleep(0.2)  # all read and queued
        extra = send(worker, incr_request(1000.0))
        status, headers, body = read_answer(extra, timeout=60)  # never a hang
        extra.close()
        answers = []
        for s in queued:
            answers.append(read_answer(s)[0])
            s.close()
    assert status == 503, body[:300]
    assert headers.get("retry-after") == "1"
    assert "application/json" in headers.get("content-type", "")
    error = json.loads(body)["error"]
    assert "--rest_api_max_queued" in error and str(MAX_QUEUED) in error, error
    assert answers == [200] * MAX_QUEUED
    assert counter_value(worker) == before + MAX_QUEUED  # the refused one never ran
    assert worker.alive()


def test_abandoned_requests_hold_no_queue_places(worker):
    # The queue is full of requests whose clients left: a live request is
    # still taken (they are swept out first), and none of them runs.
    before = counter_value(worker)
    skipped_before = worker.output().count(SKIP_LOG)
    with inference_thread_busy(worker):
        for _ in range(MAX_QUEUED):
            send(worker, incr_request(1.0)).close()
        time.sleep(0.2)  # all read and queued, and their FINs in
        live = send(worker, incr_request(100.0))
        status, _, body = read_answer(live)
        live.close()
    assert status == 200, body[:300]
    assert json.loads(body)["outputs"] == before + 100.0
    assert worker.output().count(SKIP_LOG) == skipped_before + MAX_QUEUED
