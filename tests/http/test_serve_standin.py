"""GPU stand-ins (node.gpu_standins) and cost-aware dispatch in `roma serve`.

A stand-in is a worker pinned to CPUs of its own that roma serve treats as a
GPU: the GPU policy chooses what it serves and the controller never resizes
it (tests and experiments only; README, "GPU stand-ins").  These tests run
the real dispatcher, workers and controller:

  - the stand-in runs on its CPUs only, the CPU workers never on them, and
    its cores and CPUs stay the same while the controller resizes the CPU
    worker next to it;
  - with `gpu_policy: cost-aware` requests go where they are expected to
    finish first from the service times roma serve measured (on a quiet
    machine the stand-in, since the CPU worker is held at a fraction of a
    core), and to the CPU worker when the model's profile says the GPU is
    slow; with `roma` (CPU first) they all go to the CPU worker;
  - bad stand-in configs stop roma serve with exit code 2 and a message.

Needs 2 CPUs (one for the stand-in, one for the CPU workers); skipped with
fewer.  Timing goals are not asserted: only where requests went.
"""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from roma_http import PROJECT_ROOT, require_binary
from serve_util import Serve, model_dir, request_body, to_yaml, wait_until

ALLOWED = sorted(os.sched_getaffinity(0))
needs_two_cpus = pytest.mark.skipif(len(ALLOWED) < 2, reason="a stand-in needs a CPU of its own")


class StandinServe(Serve):
    """roma serve with a GPU stand-in on the last CPU this process may use."""

    def __init__(self, workdir, models, policy, **kw):
        super().__init__(workdir, models, cpus=len(ALLOWED) - 1, **kw)
        self.policy = policy
        self.standin_cpu = ALLOWED[-1]

    def config(self, port):
        c = super().config(port)
        c["node"] = {"cpus": self.cpus, "gpu_standins": [{"cpus": str(self.standin_cpu)}]}
        c["dispatch"] = {"gpu_policy": self.policy, "queue_limit": self.queue_limit}
        return c


def resnet(profiled=None):
    """The resnet test model with its CPU worker held at 0.2-0.3 cores: some 5x slower
    there than on a whole CPU, so a stand-in on a whole CPU finishes first."""
    m = {"name": "resnet", "base_path": str(model_dir("resnet")), "sla": 1.0, "alpha": 0.5,
         "cores": {"min": 0.2, "max": 0.3, "initial": 0.3}}
    if profiled:
        m["profiled"] = profiled
    return m


def allowed_cpus(pid):
    """Every thread's CPU list of process pid, as a set of strings."""
    lists = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        lists.add(line.split(":", 1)[1].strip())
        except FileNotFoundError:
            pass  # a thread that just ended
    return lists


def standin_of(serve):
    ws = [w for w in serve.workers()["workers"] if "standin_cpus" in w]
    assert len(ws) == 1, ws
    return ws[0]


def send_serially(serve, n):
    """n predictions one after the other; the X-Roma-Device of each."""
    body = request_body("resnet")
    devices = []
    for _ in range(n):
        r = serve.predict("resnet", body, timeout=30)
        assert r.status_code == 200, r.text
        devices.append(r.headers["X-Roma-Device"])
    return devices


def expected_by_cost(m, cores):
    """Where roma_cost_cpu_takes sends a request arriving at an idle node, from the
    service times roma serve measured: the stand-in (its time a request) or the CPU
    worker (its CPU a request at its cores); ties to the stand-in."""
    return "gpu:0" if m["gpu_service"] <= m["cpu_cost"] / min(cores, 1) else "cpu"


@needs_two_cpus
@pytest.mark.parametrize("policy,profiled,expect", [
    # measured: on a quiet machine the stand-in (one whole CPU) finishes first; on
    # a busy one its wall time stretches while the CPU worker's CPU cost does not,
    # so the test expects what the measurements say (expected_by_cost)
    ("cost-aware", None, None),
    ("cost-aware", "30s", "cpu"),    # the profile says the GPU is slow: the CPU finishes first
    ("roma", None, "cpu"),           # the paper's order: a free CPU slot takes the head
])
def test_the_policy_chooses_the_device(tmp_path, policy, profiled, expect):
    serve = StandinServe(tmp_path, [resnet(profiled)], policy, period="0.5s").start()
    try:
        send_serially(serve, 5)  # the cost-aware dispatcher measures the CPU worker first
        assert wait_until(lambda: serve.models()["resnet"]["cpu_cost"] > 0 or policy != "cost-aware",
                          timeout=10), serve.models()
        if expect is None:
            send_serially(serve, 5)  # and the stand-in
        devices = send_serially(serve, 30)
        m = serve.models()["resnet"]
        if expect is None:
            expect = expected_by_cost(m, serve.worker("resnet")["cores"])
            assert m["gpu_service"] > 0, "the stand-in was never measured"
        share = devices.count(expect) / len(devices)
        assert share >= 0.8, (policy, profiled, expect, " ".join(devices), m)
        if profiled:
            assert m["gpu_service"] == 30, "the profile is kept while the stand-in gets nothing"
    finally:
        assert serve.stop() == 0, serve.output()[-3000:]


@needs_two_cpus
def test_standin_keeps_its_own_cpus_while_cpu_workers_are_resized(tmp_path):
    """Under a load past what 0.2 cores serve in the SLA the controller grows the CPU
    worker to its max, and back to min once idle; the stand-in next to it serves part of
    the load (the paper's policy sends it what waits) and keeps its CPU and cores."""
    model = dict(resnet(), sla=0.05, cores={"min": 0.2, "max": 0.3, "initial": 0.2})
    serve = StandinServe(tmp_path, [model], "roma", period="0.3s").start()
    try:
        standin = standin_of(serve)
        cpu = serve.worker("resnet")
        assert standin["device"] == "gpu:0" and standin["name"] == "gpu0-standin"
        assert standin["standin_cpus"] == [serve.standin_cpu]
        mine = str(serve.standin_cpu)
        assert allowed_cpus(standin["pid"]) == {mine}
        assert mine not in ",".join(allowed_cpus(cpu["pid"])).split(","), \
            "a CPU worker runs on the stand-in's CPU"
        with ThreadPoolExecutor(4) as pool:
            load = [pool.submit(send_serially, serve, 15) for _ in range(4)]
            grown = wait_until(lambda: serve.worker("resnet")["cores"] == 0.3, timeout=60)
            standin_cpus = allowed_cpus(standin["pid"])
            assert standin_of(serve)["cores"] == 1
            devices = sum((f.result() for f in load), [])
        assert grown, "the controller never grew the CPU worker: nothing was shown"
        assert wait_until(lambda: serve.worker("resnet")["cores"] == 0.2, timeout=10), \
            "the controller never gave the CPU worker's cores back"
        standin_cpus |= allowed_cpus(standin["pid"])
        assert standin_cpus == {mine}, "the stand-in's CPUs changed"
        assert standin_of(serve)["cores"] == 1 and standin_of(serve)["pid"] == standin["pid"]
        assert "gpu:0" in devices and "cpu" in devices, devices
    finally:
        assert serve.stop() == 0, serve.output()[-3000:]


def run_config(tmp_path, node):
    """roma serve on a config with this node section: (exit code, output)."""
    cfg = {"listen": "127.0.0.1:1", "node": node, "store": {"path": str(tmp_path / "r.db")},
           "models": [resnet()]}
    path = tmp_path / "roma.yaml"
    path.write_text(to_yaml(cfg) + "\n")
    p = subprocess.run([str(require_binary()), "serve", "-c", str(path)], cwd=str(PROJECT_ROOT),
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("standins,says", [
    ([{"cpus": "x"}], "is not a CPU list"),
    ([{"cpus": "3-1"}], "is not a CPU list"),
    ([{"cpus": "1,"}], "is not a CPU list"),
    ([{}], "needs cpus"),
    ([{"cpus": "1", "gpus": 1}], "unknown key 'gpus'"),
    ([{"cpus": "1"}, {"cpus": "0-1"}], "CPU 1 is also node.gpu_standins[0]'s"),
    ([{"cpus": "1023"}], "is not one this process may run on"),
    ([{"cpus": ",".join(str(c) for c in ALLOWED)}], "leave at least one"),
])
def test_bad_standins_stop_with_a_message(tmp_path, standins, says):
    code, out = run_config(tmp_path, {"cpus": 1, "gpu_standins": standins})
    assert code == 2, out
    assert says in out, out
