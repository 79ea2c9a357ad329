"""Black-box tests of access control in `roma serve` (issue 16, section 1).

The operations API: a change (PATCH /roma/v1/models/NAME, any method but GET
under /roma/v1/) needs `Authorization: Bearer TOKEN`: none gives 401 with
`WWW-Authenticate: Bearer realm="roma"`, a wrong one 403, the right one goes
through; a refused change changes nothing.  Reads (/roma/v1/models, /workers,
/controller, /metrics) are open by default and need the token with
`ops: {read: token}`; TF Serving's API stays open either way.  The token comes
from ops.token_file, or roma serve generates it at first start next to its
store (mode 0600), logs the file's path and never the token, and reuses it on
the next start; a token_file that cannot be read stops roma serve (exit 2).

The workers: a worker roma serve started refuses a request without the
per-start secret header (403, also when it carries X-Roma-Max-Runs) and
one with a wrong secret, and answers roma serve's own forwarded requests;
the secret is in no worker's command line.  A standalone `roma worker`
(test_predict.py and the rest) needs no secret.

SLA 1e-320 and alpha 2 are 400 (test_serve.py has the full list).
"""

import os
import stat
import subprocess

import pytest
import requests

from roma_http import PROJECT_ROOT, assert_error, free_port, ok_json, require_binary
from serve_util import Serve, model_entry, request_body, to_yaml, worker_secret

READS = ["/roma/v1/models", "/roma/v1/workers", "/roma/v1/controller", "/metrics"]


def stop(serve):
    rc = serve.stop()
    assert rc == 0, f"roma serve exit code {rc}\n{serve.output()[-4000:]}"


def serving(s):
    """A fixture's body: s started, yielded, stopped (exit code 0) at the end."""
    s.start()
    try:
        yield s
    finally:
        if s.alive():
            stop(s)
        else:
            s.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """roma serve with the default ops section: a generated token, reads open."""
    yield from serving(Serve(tmp_path_factory.mktemp("ops-auth"), [model_entry("mlp", sla=0.5)],
                             name="auth"))


def sla_of(serve, model="mlp"):
    return serve.models()[model]["sla"]


# --------------------------------------------------------------------------
# the token on changes
# --------------------------------------------------------------------------

def test_patch_without_token_is_401_and_changes_nothing(served):
    before = sla_of(served)
    r = served.patch("/roma/v1/models/mlp", {"sla": 0.3}, token=None)
    assert_error(r, 401, "Authorization: Bearer")
    assert r.headers.get("WWW-Authenticate") == 'Bearer realm="roma"', dict(r.headers)
    # a scheme other than Bearer, or Bearer with nothing after it, is no token either
    for value in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", served.token()):
        r = served.session.patch(served.url("/roma/v1/models/mlp"), data='{"sla": 0.3}',
                                 headers={"Authorization": value}, timeout=10)
        assert_error(r, 401)
        assert r.headers.get("WWW-Authenticate") == 'Bearer realm="roma"', (value, dict(r.headers))
    assert sla_of(served) == before


def test_patch_with_wrong_token_is_403_and_changes_nothing(served):
    before = sla_of(served)
    token = served.token()
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    for wrong in ("not-the-token", token[:-1], token + "0", flipped, "x" * 300):
        r = served.patch("/roma/v1/models/mlp", {"sla": 0.3}, token=wrong)
        assert_error(r, 403, "wrong operations token")
        assert "WWW-Authenticate" not in r.headers
    assert sla_of(served) == before


def test_patch_with_token_is_200(served):
    before = sla_of(served)
    try:
        r = served.patch("/roma/v1/models/mlp", {"sla": 0.3})
        assert {m["name"]: m for m in ok_json(r)["models"]}["mlp"]["sla"] == 0.3
        assert sla_of(served) == 0.3
        # the scheme is case-insensitive (RFC 7235) and blanks around the token do not matter
        r = served.session.patch(served.url("/roma/v1/models/mlp"), data='{"sla": 0.4}',
                                 headers={"Authorization": f"bearer  {served.token()} "},
                                 timeout=10)
        ok_json(r)
        assert sla_of(served) == 0.4
    finally:
        served.patch("/roma/v1/models/mlp", {"sla": before})


def test_any_change_under_roma_v1_needs_the_token(served):
    for method in ("POST", "PUT", "DELETE"):
        r = served.session.request(method, served.url("/roma/v1/models"), data="{}", timeout=10)
        assert_error(r, 401)
        r = served.session.request(method, served.url("/roma/v1/models"), data="{}",
                                   headers=served.auth(), timeout=10)
        assert_error(r, 404, "unknown operations endpoint")
    # the token is checked before the model is looked up: no probing of names
    assert_error(served.patch("/roma/v1/models/no_such", {"sla": 0.3}, token=None), 401)
    assert_error(served.patch("/roma/v1/models/no_such", {"sla": 0.3}), 404)


@pytest.mark.parametrize("body", ['{"sla": 1e-320}', '{"alpha": 2}'])
def test_out_of_range_sla_and_alpha_are_400(served, body):
    before = served.models()["mlp"]
    r = served.patch("/roma/v1/models/mlp", body)
    assert_error(r, 400, "[0.001, 3600" if "sla" in body else "[0, 1]")
    after = served.models()["mlp"]
    assert (after["sla"], after["alpha"]) == (before["sla"], before["alpha"])


# --------------------------------------------------------------------------
# reads, and TF Serving's API
# --------------------------------------------------------------------------

@pytest.mark.parametrize("path", READS)
def test_reads_are_open_by_default(served, path):
    r = served.ops_get(path, token=None, timeout=10)
    assert r.status_code == 200, r.text
    r = served.ops_get(path, token="wrong-token-but-reads-are-open", timeout=10)
    assert r.status_code == 200, r.text


def test_tf_serving_api_needs_no_token(served):
    ok_json(served.predict("mlp", request_body("mlp")))
    ok_json(served.get("/v1/models/mlp"))


# --------------------------------------------------------------------------
# the token file
# --------------------------------------------------------------------------

def test_token_file_generated_0600_path_logged_and_reused(tmp_path):
    first = Serve(tmp_path, [model_entry("mlp")], name="first").start()
    try:
        path = tmp_path / "roma.token"  # next to the store, <workdir>/first.db
        token = first.token()
        assert token and len(token) == 64 and all(c in "0123456789abcdef" for c in token), token
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, oct(os.stat(path).st_mode)
        out = first.output()
        assert f"operations token generated in {path}" in out, out
        assert token not in out, "the token itself was logged"
        ok_json(first.patch("/roma/v1/models/mlp", {"alpha": 0.25}))
    finally:
        stop(first)
    second = Serve(tmp_path, [model_entry("mlp")], name="second").start()
    try:
        assert second.token() == token
        assert f"operations token read from {path}" in second.output(), second.output()
        ok_json(second.patch("/roma/v1/models/mlp", {"alpha": 0.25}, token=token))
    finally:
        stop(second)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """roma serve with ops: {token_file: <a file the operator wrote>, read: token}; the file
    is readable by others, which roma serve warns about."""
    tmp = tmp_path_factory.mktemp("ops-read-token")
    token_file = tmp / "ops.token"
    token_file.write_text("operator-chosen-token-1234\n")
    token_file.chmod(0o644)
    yield from serving(Serve(tmp, [model_entry("mlp")], name="guarded",
                             ops={"token_file": str(token_file), "read": "token"}))


def test_read_token_mode_uses_the_given_file(guarded):
    assert guarded.token() == "operator-chosen-token-1234"
    assert not (guarded.workdir / "roma.token").exists(), "a token was generated anyway"
    out = guarded.output()
    assert f"operations token read from {guarded.token_path}" in out, out
    assert "can be read by other users: chmod 600" in out, out
    assert "operator-chosen-token-1234" not in out, "the token itself was logged"


@pytest.mark.parametrize("path", READS)
def test_read_token_mode_guards_reads(guarded, path):
    r = guarded.ops_get(path, token=None, timeout=10)
    assert_error(r, 401)
    assert r.headers.get("WWW-Authenticate") == 'Bearer realm="roma"'
    assert_error(guarded.ops_get(path, token="operator-chosen-token-9999", timeout=10), 403)
    r = guarded.ops_get(path, timeout=10)
    assert r.status_code == 200, r.text


def test_read_token_mode_leaves_tf_serving_api_open(guarded):
    ok_json(guarded.predict("mlp", request_body("mlp")))
    ok_json(guarded.get("/v1/models/mlp"))


def run_bad_config(tmp_path, ops):
    s = Serve(tmp_path, [model_entry("mlp")], name="bad", ops=ops)
    path = tmp_path / "roma.yaml"
    path.write_text(to_yaml(s.config(free_port())) + "\n")
    p = subprocess.run([str(require_binary()), "serve", "-c", str(path)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30, cwd=str(PROJECT_ROOT))
    return p.returncode, p.stdout.decode(errors="replace")


def test_unreadable_token_file_exits_2(tmp_path):
    missing = tmp_path / "no_such.token"
    rc, out = run_bad_config(tmp_path, {"token_file": str(missing)})
    assert rc == 2 and str(missing) in out and "ops.token_file" in out, (rc, out)
    short = tmp_path / "short.token"
    short.write_text("abc\n")
    rc, out = run_bad_config(tmp_path, {"token_file": str(short)})
    assert rc == 2 and str(short) in out and "16 to 256" in out, (rc, out)


# --------------------------------------------------------------------------
# workers answer only their roma serve
# --------------------------------------------------------------------------

def test_worker_refuses_requests_without_its_secret(served):
    w = served.worker("mlp")
    predict = f"http://127.0.0.1:{w['port']}/v1/models/mlp:predict"
    body = request_body("mlp")
    secret = worker_secret(w["pid"])
    cases = [({}, "no secret"),
             ({"X-Roma-Max-Runs": "1"}, "a run cap without the secret"),
             ({"X-Roma-Secret": "0" * 64}, "a wrong secret"),
             ({"X-Roma-Secret": secret[:-1]}, "a prefix of the secret")]
    for headers, what in cases:
        r = requests.post(predict, data=body, headers=headers, timeout=10)
        assert r.status_code == 403, f"{what}: {r.status_code} {r.text}"
        assert_error(r, 403, "X-Roma-Secret", "roma serve")
    assert_error(requests.get(f"http://127.0.0.1:{w['port']}/v1/models/mlp", timeout=10), 403)
    # roma serve's own requests, and a client that holds the secret, are answered
    ok_json(served.predict("mlp", body))
    ok_json(requests.post(predict, data=body, headers={"X-Roma-Secret": secret}, timeout=10))


def test_worker_secret_not_on_the_command_line(served):
    w = served.worker("mlp")
    secret = worker_secret(w["pid"])
    assert len(secret) == 64
    cmdline = open(f"/proc/{w['pid']}/cmdline", "rb").read()
    assert secret.encode() not in cmdline, "the secret is visible in ps"
    assert secret not in served.output(), "the worker secret was logged"
