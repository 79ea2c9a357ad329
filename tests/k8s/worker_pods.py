"""Pods of the fake API server backed by real `build/roma worker` processes.

A WorkerPod is what a ROMA worker pod is on a node: one `roma worker` serving one model on
127.0.0.1 (the pod IP) and its own port, in its own cgroup v1 cpu group under
/sys/fs/cgroup/cpu/roma-k8s-fake/ whose cpu.cfs_quota_us the simulated kubelet writes when
it actuates a resize (the pod's actuator); the actual CPU limit the pod status reports is
read back from that quota.  The pod turns Ready once the worker answers its model status
URL; deleting the pod stops the worker.  env: what the pod spec gives the container
(`roma k8s render` gives ROMA_WORKER_SECRET from its Secret and ROMA_WORKER_OPEN_STATUS=1).  Without root or a writable cgroup v1 cpu
hierarchy, cgroup_skip_reason() says why and the tests that need it skip.
"""

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from roma_http import free_port, project_models_dir, require_binary
from serve_util import CGROUP_V1_CPU, cgroup_cores, cgroup_pids

CGROUP_PARENT = CGROUP_V1_CPU / "roma-k8s-fake"
PERIOD_US = 100_000


def cgroup_skip_reason():
    """None when cgroup v1 cpu quotas can be written here, else why not."""
    if os.geteuid() != 0:
        return "needs root to create cgroups (running as uid %d)" % os.geteuid()
    if not (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists():
        return f"no cgroup v1 cpu controller at {CGROUP_V1_CPU} (cgroup v2-only host?)"
    if not os.access(CGROUP_V1_CPU, os.W_OK):
        return f"{CGROUP_V1_CPU} is not writable (read-only cgroup mount in this container?)"
    return None


class CpuCgroup:
    """One cgroup v1 cpu group: quota in cores (None: unlimited)."""

    def __init__(self, name):
        self.path = CGROUP_PARENT / name
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))

    def set_cores(self, cores):
        quota = -1 if cores is None else max(1000, int(round(cores * PERIOD_US)))
        (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def cores(self):
        return cgroup_cores(self.path)

    def remove(self):
        """Move any process left back to the root group, then remove the group."""
        if not self.path.exists():
            return
        for pid in cgroup_pids(self.path):
            try:
                (CGROUP_V1_CPU / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass
        try:
            self.path.rmdir()
        except OSError:
            pass


class WorkerPod:
    """A real `roma worker` registered as a pod of `fake` (a FakeApiServer)."""

    def __init__(self, fake, name, model, workdir, cpu="1", node="node-a", labels=None,
                 use_cgroup=True, extra_args=(), env=None):
        self.fake, self.name, self.model = fake, name, model
        self.workdir = Path(workdir)
        self.port = free_port()
        self.cgroup = None
        if use_cgroup:
            why = cgroup_skip_reason()
            if why:
                raise RuntimeError(f"WorkerPod {name}: cannot use a cgroup: {why}")
            self.cgroup = CpuCgroup(f"{uuid.uuid4().hex[:8]}-{name}")
            self.cgroup.set_cores(float(cpu))
        model_dir = project_models_dir() / model
        cmd = [str(require_binary()), "worker", f"--rest_api_port={self.port}",
               "--rest_api_host=127.0.0.1", f"--model_name={model}",
               f"--model_base_path={model_dir}", "--tensorflow_thread_spinning=0", *extra_args]
        if self.cgroup is not None:
            # enter the cgroup before exec, so every thread the worker starts is in it
            cmd = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.cgroup.path), *cmd]
        self.log = open(self.workdir / f"pod-{name}.log", "w+b")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     env=dict(os.environ, **env) if env else None)
        self.ready_url = f"http://127.0.0.1:{self.port}/v1/models/{model}"
        fake.create_pod(name, cpu=cpu, labels=labels or {"app": "roma", "roma/role": "worker",
                                                         "roma/model": model},
                        node=node, port=self.port, actuator=self.actuate,
                        ready_url=self.ready_url, on_delete=lambda _name: self.stop())

    def actuate(self, name, cpu_limit_cores):
        """The kubelet's actuation: write the quota, report what the cgroup now holds."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"container of pod {name} is not running (exit {self.proc.returncode})")
        if self.cgroup is None:
            return None
        self.cgroup.set_cores(cpu_limit_cores)
        return self.cgroup.cores()

    def wait_ready(self, timeout=60.0):
        def ready(fake):
            pod = fake.pod(self.name)
            if self.proc.poll() is not None:
                raise AssertionError(f"worker of pod {self.name} exited ({self.proc.returncode}):\n"
                                     + self.output()[-3000:])
            return pod and any(c["type"] == "Ready" and c["status"] == "True"
                               for c in pod["status"]["conditions"])
        self.fake.wait_for(ready, timeout, what=f"pod {self.name} Ready")
        return self

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.cgroup is not None:
            deadline = time.monotonic() + 5
            while self.cgroup.path.exists() and cgroup_pids(self.cgroup.path) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.cgroup.remove()
