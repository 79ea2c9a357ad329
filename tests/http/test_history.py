"""GET /roma/v1/history of `roma serve` (issue 15): the per-second series.

A sample a second, per model: answers by device and status, response-time
quantiles, SLA, violations, queue, cores allocated and CPU used; `since`
makes it incremental (only newer samples, "last" to pass back); `model`
selects one model; a bad since is 400 and an unknown model 404, both with
a JSON error; reads follow ops.read (401 without the token with ops.read:
token).  A roma serve restarted on the same store serves the samples of the
previous run, and a PATCH of the SLA shows in the next samples.
"""

import time

import pytest

from serve_util import Serve, model_entry, request_body, wait_until

SLA = 0.5


def history(serve, **params):
    r = serve.ops_get("/roma/v1/history", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def served(tmp_path):
    s = Serve(tmp_path, [model_entry("mlp", sla=SLA), model_entry("mlp2", base="mlp", sla=1.0)],
              period="1s", ops={"read": "token"}, name="hist")
    s.start()
    try:
        yield s
    finally:
        if s.alive():
            assert s.stop() == 0, s.output()[-3000:]
        else:
            s.kill()


def test_history_counts_since_model_and_restart(served):
    body = request_body("mlp")
    for _ in range(20):
        assert served.predict("mlp", body).status_code == 200
    h = wait_until(lambda: (lambda h: h if sum(h["models"][0]["ok"]["cpu"]) >= 20 else None)(
        history(served)), 5, 0.2)
    assert h, f"20 answers not in the history: {history(served)}"
    assert [m["name"] for m in h["models"]] == ["mlp", "mlp2"]
    assert h["interval"] == 1 and h["horizon"] == 3600 and h["gpus"] == []
    mlp = h["models"][0]
    n = len(h["t"])
    assert all(len(mlp[k]) == n for k in ("sla", "p50", "p95", "p99", "mean", "queue", "cores",
                                          "cpu_used", "violations", "rejected", "failed"))
    assert h["t"] == sorted(h["t"]) and h["last"] == h["t"][-1]
    assert abs(h["last"] - time.time()) < 5
    busy = [i for i, c in enumerate(mlp["ok"]["cpu"]) if c]
    assert all(mlp["p50"][i] is not None and 0 < mlp["p50"][i] <= mlp["p99"][i] for i in busy)
    assert set(mlp["sla"]) == {SLA}
    assert sum(h["models"][1]["ok"]["cpu"]) == 0
    assert all(x is None for x in h["models"][1]["p50"])  # nothing answered: null

    # Incremental: nothing newer than last, then only newer samples.
    later = history(served, since=h["last"], model="mlp2")
    assert all(t > h["last"] for t in later["t"])
    assert [m["name"] for m in later["models"]] == ["mlp2"]
    r = served.patch("/roma/v1/models/mlp", {"sla": 0.25})
    assert r.status_code == 200, r.text
    assert wait_until(lambda: 0.25 in history(served, since=h["last"], model="mlp")["models"][0]["sla"], 5, 0.2)

    # Errors, and the token.
    r = served.ops_get("/roma/v1/history", params={"since": "yesterday"})
    assert r.status_code == 400 and "since" in r.json()["error"], r.text
    r = served.ops_get("/roma/v1/history", params={"model": "nope"})
    assert r.status_code == 404 and "model" in r.json()["error"], r.text
    r = served.ops_get("/roma/v1/history", token=None)
    assert r.status_code == 401, r.text

    # A restart on the same store starts with the past.
    before = history(served)
    assert served.stop() == 0
    served.start()
    after = history(served)
    old = [t for t in after["t"] if t <= before["last"]]
    assert len(old) >= len(before["t"]) - 1, (len(old), len(before["t"]))
    i = after["t"].index(before["t"][busy[0]])
    assert after["models"][0]["ok"]["cpu"][i] == mlp["ok"]["cpu"][busy[0]]
    assert "samples of the last hour read from the store" in served.output()
