"""Black-box tests of the front end's bounds (issue 16, section 4; config: limits):
connections, time (slow and idle clients), bytes held, and the file-descriptor
limit.  Each starts one `roma serve` with the generated mlp model.  No timing
goal is asserted: only that a bound holds and that the server keeps serving."""

import os
import shutil
import signal
import socket
import threading
import time

import pytest
import requests

from serve_util import Serve, model_dir, model_entry, request_body, wait_until


def client_sockets(pid):
    """Sockets roma serve holds (client connections among them)."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def closed_by_peer(sock, timeout):
    """Whether the server closed sock within timeout s (reads and drops data)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def predict(s, body, timeout=60):
    return requests.post(s.url("/v1/models/mlp:predict"), data=body, timeout=timeout,
                         headers={"Connection": "close"})


def test_connections_beyond_the_cap_wait_in_the_backlog(tmp_path):
    s = Serve(tmp_path, [model_entry("mlp")], name="cap",
              limits={"connections": 4, "request_timeout": "60s"}).start()
    idle = []
    try:
        s.session.close()  # its keep-alive connection would count
        time.sleep(0.3)
        before = client_sockets(s.proc.pid)
        idle = [connect(s.port) for _ in range(20)]  # the kernel completes them all
        time.sleep(1.0)
        held = client_sockets(s.proc.pid) - before
        assert held <= 4, f"roma serve holds {held} client sockets with limits.connections 4"
        assert "limits.connections" in s.output()
        result = {}
        t = threading.Thread(target=lambda: result.update(r=predict(s, request_body("mlp"))))
        t.start()
        for sock in idle:
            sock.close()
        t.join(60)
        assert "r" in result and result["r"].status_code == 200, result
        assert wait_until(lambda: "accepting connections again" in s.output(), 10), s.output()
    finally:
        for sock in idle:
            sock.close()
        s.stop()


def test_slow_and_idle_clients_are_dropped(tmp_path):
    """A slowloris client (a header byte every 0.3 s, so no single read times out)
    and an idle connection are both closed after limits.request_timeout."""
    s = Serve(tmp_path, [model_entry("mlp")], name="slow",
              limits={"request_timeout": "2s"}).start()
    try:
        idle = connect(s.port)
        slow = connect(s.port)
        slow.sendall(b"POST /v1/models/mlp:predict HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 30
        dropped = False
        while time.monotonic() < deadline and not dropped:
            try:
                slow.sendall(b"X")
            except OSError:
                dropped = True
                break
            dropped = closed_by_peer(slow, 0.3)
        assert dropped, "a client sending a header byte every 0.3 s kept its connection 30 s"
        assert closed_by_peer(idle, 30), "an idle connection stayed open 30 s"
        idle.close()
        slow.close()
        # a client that sends whole requests in time is served as before
        assert predict(s, request_body("mlp")).status_code == 200
    finally:
        s.stop()


def test_bodies_held_are_bounded(tmp_path):
    """limits.inflight_mb counts the bytes of accepted requests: with the worker
    stopped, a second 0.6 MB request does not fit in 1 MB and gets 503 with
    Retry-After; the first is answered once the worker runs again."""
    s = Serve(tmp_path, [model_entry("mlp")], name="bytes",
              limits={"inflight_mb": 1, "body_mb": 1}).start()
    body = request_body("mlp") + b" " * 600_000  # JSON allows the padding
    pid = s.worker("mlp")["pid"]
    os.kill(pid, signal.SIGSTOP)
    result = {}
    try:
        t = threading.Thread(target=lambda: result.update(r=predict(s, body)))
        t.start()
        assert wait_until(lambda: s.held("mlp") == 1, 20), s.models()
        r = predict(s, body)
        assert r.status_code == 503, (r.status_code, r.text)
        assert "inflight_mb" in r.json()["error"] and r.headers.get("Retry-After")
    finally:
        os.kill(pid, signal.SIGCONT)
    t.join(60)
    try:
        assert result["r"].status_code == 200, result["r"].text
        assert predict(s, body).status_code == 200  # the bytes were given back
    finally:
        s.stop()


def test_at_the_fd_limit_accepting_pauses_instead_of_spinning(tmp_path):
    s = Serve(tmp_path, [model_entry("mlp")], name="fds", nofile=128,
              limits={"connections": 1000}).start()
    socks = []
    try:
        for _ in range(200):
            try:
                socks.append(connect(s.port))
            except OSError:
                break
        time.sleep(2.0)
        out = s.output()
        assert out.count("cannot accept connections") == 1, out[-3000:]
        assert "Error from accept" not in out, out[-3000:]
        for sock in socks:
            sock.close()
        socks = []
        assert wait_until(lambda: predict(s, request_body("mlp"), timeout=10).status_code == 200,
                          30), s.output()[-3000:]
    finally:
        for sock in socks:
            sock.close()
        s.stop()


# --------------------------------------------------------------------------
# supervisor.c: ready workers are still probed; failed ones are retried
# --------------------------------------------------------------------------

def test_a_stopped_worker_leaves_dispatch_and_comes_back(tmp_path):
    """A SIGSTOPped worker stops answering its health probe: it is taken out of
    dispatch (not 'ready'), a request sent meanwhile waits in the queue, and
    after SIGCONT the worker is ready again and the request is answered."""
    s = Serve(tmp_path, [model_entry("mlp")], name="hung").start()
    pid = s.worker("mlp")["pid"]
    os.kill(pid, signal.SIGSTOP)
    result = {}
    try:
        assert wait_until(lambda: s.worker("mlp")["state"] != "ready", 40), \
            f"a stopped worker stayed ready: {s.worker('mlp')}"
        t = threading.Thread(target=lambda: result.update(r=predict(s, request_body("mlp"))))
        t.start()
        assert wait_until(lambda: s.models()["mlp"]["queue_length"] == 1, 20), s.models()
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        assert wait_until(lambda: s.worker("mlp")["state"] == "ready", 60), s.worker("mlp")
        t.join(60)
        assert result["r"].status_code == 200, result["r"].text
        assert s.worker("mlp")["pid"] == pid  # the same process, not a restart
    finally:
        s.stop()


@pytest.mark.once  # 8 back-offs and a 30 s retry: ~2 min under ASan
def test_a_failed_worker_is_started_again(tmp_path):
    """A worker whose model directory is gone fails its starts and is 'failed'
    (503); once the directory is back it is started again without restarting
    roma serve.  Slow (the back-off to failed, then the retry period)."""
    src = tmp_path / "mlp-copy"
    shutil.copytree(str(model_dir("mlp")), str(src))
    entry = dict(model_entry("mlp"), base_path=str(src))
    s = Serve(tmp_path, [entry], name="failed").start()
    hidden = tmp_path / "mlp-hidden"
    try:
        src.rename(hidden)
        os.kill(s.worker("mlp")["pid"], signal.SIGKILL)
        assert wait_until(lambda: s.worker("mlp")["state"] == "failed", 120), s.worker("mlp")
        assert predict(s, request_body("mlp")).status_code == 503
        hidden.rename(src)
        assert wait_until(lambda: s.worker("mlp")["state"] == "ready", 120), \
            f"a failed worker was not started again: {s.worker('mlp')}\n{s.output()[-2000:]}"
        assert predict(s, request_body("mlp")).status_code == 200
    finally:
        if hidden.exists():
            hidden.rename(src)
        s.stop()


# --------------------------------------------------------------------------
# supervisor.c: a worker's port cannot be taken by another process
# --------------------------------------------------------------------------

def socket_inodes(pid):
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:"):
            found.add(link)
    return found


def test_a_restarted_worker_inherits_no_connection_of_roma_serve(tmp_path):
    """A worker inherits its listening socket and nothing else.  A worker restarted while roma
    serve had connections open (to another worker: libevent opens them without O_CLOEXEC; to
    clients) held them for its whole life: their peers never saw them close, and roma serve's
    epoll kept reporting them once roma serve had closed its side (a busy loop, 2/3 of a core
    in the soak)."""
    s = Serve(tmp_path, [model_entry("a"), model_entry("b")], name="cloexec").start()
    try:
        body = request_body("mlp")
        assert s.predict("a", body).status_code == 200  # roma serve -> a's worker, kept alive
        assert s.predict("b", body).status_code == 200
        old = s.worker("b")["pid"]
        os.kill(old, signal.SIGKILL)
        w = wait_until(lambda: (lambda w: w if w["state"] == "ready" and w["pid"] != old
                                else None)(s.worker("b")), 30)
        assert w, s.output()[-2000:]
        shared = socket_inodes(s.proc.pid) & socket_inodes(w["pid"])
        assert len(shared) == 1, f"the worker holds {len(shared) - 1} of roma serve's connections"
    finally:
        s.stop()


def test_a_worker_port_cannot_be_taken_while_it_restarts(tmp_path):
    """roma serve holds each worker's listening socket (the worker inherits it),
    so between a worker's death and its restart no other process can bind its
    port and answer in its place.  Ports used to be picked free and left unbound
    until the worker bound them."""
    s = Serve(tmp_path, [model_entry("mlp")], name="port").start()
    try:
        w = s.worker("mlp")
        os.kill(w["pid"], signal.SIGKILL)
        taken = []
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not taken:
            imp = socket.socket()
            imp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                imp.bind(("127.0.0.1", w["port"]))
                imp.listen(8)
                taken.append(imp)
            except OSError:
                imp.close()
            time.sleep(0.01)
        for imp in taken:
            imp.close()
        assert not taken, f"another process bound worker port {w['port']} while it restarted"
        assert wait_until(lambda: s.worker("mlp")["state"] == "ready"
                          and s.worker("mlp")["pid"] != w["pid"], 60), s.worker("mlp")
        assert s.worker("mlp")["port"] == w["port"]
        assert predict(s, request_body("mlp")).status_code == 200
    finally:
        s.stop()
