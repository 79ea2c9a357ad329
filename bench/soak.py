"""The soak under faults (issue 16, item 3): `roma serve` with two models at
about 70% of their measured capacity for MINUTES, and every ~20 s one fault
from a fixed, seeded list.  Run it through bench/soak.sh.

Phases:
  1. start `roma serve` (resnet and mobilenet, the generated test models) on
     a free port, its store on a small tmpfs when root (the disk-full fault);
  2. calibrate: a short closed loop per model (both at once) measures what
     this machine serves now; the open-loop rate of each model is 70% of it;
  3. warm up, then one fault every interval (20 s, shorter when MINUTES is
     too short to inject each kind once), then a quiet settle period;
  4. SIGTERM, then the checks.

Every request is one connection (HTTP/1.1, Connection: close) read to EOF,
so "exactly one answer" is checked literally: one complete response, then
nothing.  Each request sent is in the ledger with what came back.

Checks (each is in the JSON summary with its figures; any failure exits 1):
  answers   every request got exactly one answer: 200, or 429/503 whose JSON
            body has an "error" saying why;
  store     the rows in the SQLite store equal the answers that went through
            a model's queue (door refusals are not stored), less the rows the
            store's log says it could not write (and why);
  rss, fds  roma serve's RSS and open fds after the last fault are within
            10% of their values after warm-up: both measured idle (every
            request answered, queues empty; medians over 5 s), so a backlog
            left by a slow machine is not mistaken for a leak; the warm-up
            holds 500 idle connections once, so that the per-connection
            state's high-water mark (~1 MB) is in the baseline;
  idle_cpu  roma serve's CPU in those idle windows stays under 0.05 cores (a
            loop that spins on a stale event shows here, not in RSS or fds);
  cleanup   after SIGTERM roma serve exits 0, no worker process it started
            is alive and its cgroup tree is gone.

Faults (skipped with a message where the machine cannot have them):
  kill9     kill -9 of a worker (it is restarted; in-flight requests retried)
  sigstop   SIGSTOP of a worker for 3 s, then SIGCONT
  cgroup    the worker's cpu.cfs_quota_us made unwritable for 10 s (a
            read-only bind mount over it: root and cgroup v1 only)
  diskfull  the store's tmpfs filled for 12 s (root only)
  slowloris 500 idle connections held open for 10 s
  halfbody  20 clients that send half a body and vanish
  burst     3 s at 10x the rate
"""

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "http"))
from serve_util import to_yaml  # noqa: E402  (the tests' YAML writer, no PyYAML here)
from roma_http import free_port  # noqa: E402

MODELS = {"resnet": 0.150, "mobilenet": 0.200}  # examples/roma.yaml's SLAs
FAULTS = ["kill9", "sigstop", "cgroup", "diskfull", "slowloris", "halfbody", "burst"]
CLIENT_TIMEOUT_S = 90.0
IDLE_S = 5.0  # the idle windows RSS and fds are compared in
IDLE_CPU_MAX = 0.05  # cores roma serve may use idle (its timers: ~0.01)
TMPFS_MB = 64
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
# Door refusals: answered before the request joins a queue, so not stored.
DOOR_REFUSALS = ("queue is full", "limits.inflight_mb", "roma serve is stopping")
NO_WORKER = "no worker can serve this model"


AS_ROOT = os.geteuid() == 0  # --no-root clears it: the paths without root, as root


def is_root():
    return AS_ROOT


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------
# one request, read to EOF
# --------------------------------------------------------------------------

def parse_response(data: bytes):
    """(status, body, leftover, problem) of the bytes of a Connection: close answer."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None, b"", b"", f"incomplete header ({len(data)} bytes)"
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        return None, b"", b"", f"bad status line {lines[0]!r}"
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        if len(rest) < n:
            return int(m.group(1)), rest, b"", f"body cut at {len(rest)} of {n} bytes"
        return int(m.group(1)), rest[:n], rest[n:], None
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body, pos = b"", 0
        while True:
            eol = rest.find(b"\r\n", pos)
            if eol < 0:
                return int(m.group(1)), body, b"", "chunked body cut"
            size = int(rest[pos:eol].split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                end = rest.find(b"\r\n", pos)
                return int(m.group(1)), body, rest[end + 2:] if end >= 0 else b"", None
            body += rest[pos:pos + size]
            pos += size + 2
    return int(m.group(1)), rest, b"", None


class Ledger:
    def __init__(self):
        self.rows = []  # dicts: id, model, kind, t, status, why, problem

    def add(self, **kw):
        self.rows.append(kw)
        return kw


async def send_one(port, model, body, kind, ledger, t0):
    rec = ledger.add(id=len(ledger.rows), model=model, kind=kind, t=time.monotonic() - t0,
                     status=None, why=None, problem=None, rt=None)
    head = (f"POST /v1/models/{model}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    start = time.monotonic()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
        writer.write(head + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(-1), CLIENT_TIMEOUT_S)
    except Exception as e:  # every way of not getting an answer is recorded
        rec["problem"] = f"{type(e).__name__}: {e}"
        return
    finally:
        if writer is not None:
            writer.close()
    rec["rt"] = time.monotonic() - start
    status, rbody, leftover, problem = parse_response(data)
    rec["status"] = status
    if problem:
        rec["problem"] = problem
    elif leftover:
        rec["problem"] = f"{len(leftover)} bytes after the answer (a second answer?)"
    if status != 200:
        try:
            rec["why"] = json.loads(rbody)["error"]
        except (ValueError, KeyError, TypeError):
            rec["why"] = None
            rec["problem"] = rec["problem"] or f"{status} without a JSON error body: {rbody[:200]!r}"


# --------------------------------------------------------------------------
# the roma serve process and what it holds
# --------------------------------------------------------------------------

def proc_rss_kb(pid):
    for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith("VmRSS:"):
            return int(ln.split()[1])
    return 0


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_cpu_s(pid):
    """CPU seconds pid has used (user + system, all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def smaps_rss(pid, top=8):
    """RSS (kB) of pid by mapping ([heap], [stack], a file, or anon:<address>), largest first."""
    out, name = {}, None
    for ln in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = ln.split()
        if parts and "-" in parts[0] and ":" not in parts[0]:
            name = parts[5] if len(parts) > 5 else f"anon:{parts[0].split('-')[0]}"
        elif parts and parts[0] == "Rss:" and name:
            out[name] = out.get(name, 0) + int(parts[1])
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:top])


def pid_alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Serve:
    def __init__(self, args, work: Path):
        self.args, self.work = args, work
        self.port = free_port()
        self.store_dir = work / "store"
        self.tmpfs = False
        self.proc = None
        self.pids_seen = set()
        self.cgroups_seen = set()

    def mount_store(self):
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if not is_root():
            return "not root: the store stays on the work directory's disk"
        rc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "roma-soak",
                             str(self.store_dir)], capture_output=True, text=True)
        if rc.returncode != 0:
            return f"mount -t tmpfs failed: {rc.stderr.strip()}"
        self.tmpfs = True
        return None

    def unmount_store(self):
        if self.tmpfs:
            subprocess.run(["umount", str(self.store_dir)], capture_output=True)
            self.tmpfs = False

    @property
    def db_path(self):
        return self.store_dir / "roma.db"

    def config(self):
        models = [{"name": m, "base_path": str(ROOT / "models" / m), "sla": sla, "alpha": 0.5,
                   "cores": {"min": 0.2, "max": 2, "initial": 1}} for m, sla in MODELS.items()]
        return {"listen": f"127.0.0.1:{self.port}", "node": {"cpus": 2, "gpus": []},
                "control": {"period": "1s", "controller": "roma"},
                "dispatch": {"gpu_policy": "roma", "queue_limit": 100},
                "store": {"path": str(self.db_path), "max_rows": 1000000},
                "models": models}

    def start(self):
        cfg = self.work / "roma.yaml"
        cfg.write_text(to_yaml(self.config()) + "\n")
        self.log_path = self.work / "serve.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(self.args.roma), "serve", "-c", str(cfg)],
                                     stdout=self._log, stderr=subprocess.STDOUT, cwd=str(ROOT),
                                     start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"roma serve exited with {self.proc.returncode}:\n"
                                 + self.log_path.read_text()[-4000:])
            try:
                ws = self.workers()
                if ws and all(w["state"] == "ready" for w in ws):
                    return
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(0.2)
        raise SystemExit("roma serve: workers not ready after 120 s\n" + self.log_path.read_text()[-4000:])

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def workers_doc(self):
        return requests.get(self.url("/roma/v1/workers"), timeout=10).json()

    def workers(self):
        ws = self.workers_doc()["workers"]
        for w in ws:
            if w.get("pid", 0) > 0:
                self.pids_seen.add(w["pid"])
            if w.get("cgroup"):
                self.cgroups_seen.add(w["cgroup"])
        return ws


# --------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------

class Faults:
    def __init__(self, serve: Serve, soak):
        self.serve, self.soak = serve, soak
        self.rng = random.Random(soak.args.seed)
        self.order = []
        self.skip_reason = {}
        if not is_root():
            self.skip_reason["diskfull"] = "not root: cannot mount a tmpfs for the store"
            self.skip_reason["cgroup"] = "not root: cannot make a cgroup file read-only"
        elif not serve.tmpfs:
            self.skip_reason["diskfull"] = "the store's tmpfs could not be mounted"
        self.mounted = []  # read-only bind mounts to undo

    def check_cgroup_mode(self):
        if "cgroup" in self.skip_reason:
            return
        doc = self.serve.workers_doc()
        if doc.get("cgroups") != "cgroup v1":
            self.skip_reason["cgroup"] = (f"roma serve runs with {doc.get('cgroups')!r} "
                                          f"({doc.get('cgroups_note')}); the fault needs the "
                                          "cgroup v1 cpu controller")

    def next_kind(self):
        if not self.order:
            self.order = FAULTS[:]
            self.rng.shuffle(self.order)
        return self.order.pop(0)

    def pick_worker(self):
        ws = [w for w in self.serve.workers() if w["state"] == "ready" and w["pid"] > 0]
        return self.rng.choice(ws) if ws else None

    async def run(self, kind):
        if kind in self.skip_reason:
            return {"skipped": self.skip_reason[kind]}
        return await getattr(self, "do_" + kind)()

    async def do_kill9(self):
        w = self.pick_worker()
        if not w:
            return {"skipped": "no ready worker"}
        os.kill(w["pid"], signal.SIGKILL)
        t = time.monotonic()
        back = None
        while time.monotonic() - t < 60:
            await asyncio.sleep(0.5)
            try:
                cur = [x for x in self.serve.workers() if x["name"] == w["name"]][0]
            except (requests.RequestException, IndexError, ValueError):
                continue
            if cur["state"] == "ready" and cur["pid"] != w["pid"]:
                back = time.monotonic() - t
                break
        return {"worker": w["name"], "pid": w["pid"], "ready_again_s": back}

    async def do_sigstop(self):
        w = self.pick_worker()
        if not w:
            return {"skipped": "no ready worker"}
        os.kill(w["pid"], signal.SIGSTOP)
        try:
            await asyncio.sleep(3)
        finally:
            try:
                os.kill(w["pid"], signal.SIGCONT)
            except ProcessLookupError:
                pass
        return {"worker": w["name"], "pid": w["pid"]}

    async def do_cgroup(self):
        w = self.pick_worker()
        if not w or not w.get("cgroup"):
            return {"skipped": "no ready worker with a cgroup"}
        f = Path(w["cgroup"]) / "cpu.cfs_quota_us"
        if not f.exists():
            return {"skipped": f"{f} does not exist (not the cgroup v1 cpu controller)"}
        rc = subprocess.run(["mount", "--bind", str(f), str(f)], capture_output=True, text=True)
        if rc.returncode != 0:
            self.skip_reason["cgroup"] = f"mount --bind over {f} failed: {rc.stderr.strip()}"
            return {"skipped": self.skip_reason["cgroup"]}
        self.mounted.append(f)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(f)], capture_output=True)
        seen = None
        try:
            t = time.monotonic()
            while time.monotonic() - t < 10:
                await asyncio.sleep(0.5)
                try:
                    cur = [x for x in self.serve.workers() if x["name"] == w["name"]][0]
                except (requests.RequestException, IndexError, ValueError):
                    continue
                seen = seen or cur.get("cores_error")
        finally:
            self.unmount_cgroup(f)
        return {"worker": w["name"], "file": str(f), "cores_error": seen}

    def unmount_cgroup(self, f):
        subprocess.run(["umount", str(f)], capture_output=True)
        if f in self.mounted:
            self.mounted.remove(f)

    async def do_diskfull(self):
        filler = self.serve.store_dir / "filler"
        written = 0
        try:
            with open(filler, "wb") as out:
                chunk = b"\0" * (1 << 20)
                while True:
                    try:
                        out.write(chunk)
                        out.flush()
                        written += len(chunk)
                    except OSError:
                        break
            await asyncio.sleep(12)
        finally:
            try:
                filler.unlink()
            except OSError:
                pass
        return {"filled_mb": written >> 20}

    async def do_slowloris(self, hold_s=10):
        socks, failed = [], 0
        for i in range(500):
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.serve.port), 5)
                if i % 2:  # half of them start a request and never finish it
                    w.write(b"POST /v1/models/resnet:predict HTTP/1.1\r\nHost: x\r\n")
                socks.append(w)
            except (OSError, asyncio.TimeoutError):
                failed += 1
        await asyncio.sleep(hold_s)
        fds_held = proc_fds(self.serve.proc.pid)
        for w in socks:
            w.close()
        return {"opened": len(socks), "failed": failed, "serve_fds_while_held": fds_held}

    async def do_halfbody(self):
        body = self.soak.bodies["resnet"]
        done = 0
        for _ in range(20):
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.serve.port), 5)
                w.write((f"POST /v1/models/resnet:predict HTTP/1.1\r\nHost: x\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
                        .encode() + body[:len(body) // 2])
                await w.drain()
                if done % 2:
                    w.transport.abort()  # vanish with a RST
                else:
                    w.close()  # or with a FIN
                done += 1
            except (OSError, asyncio.TimeoutError):
                pass
        return {"clients": done}

    async def do_burst(self):
        n = await self.soak.arrivals(3.0, 10.0, "burst")
        return {"seconds": 3, "factor": 10, "requests": n}

    def cleanup(self):
        for f in list(self.mounted):
            self.unmount_cgroup(f)


# --------------------------------------------------------------------------
# the soak
# --------------------------------------------------------------------------

class Soak:
    def __init__(self, args):
        self.args = args
        self.bodies = {m: (ROOT / "models" / m / "request.json").read_bytes() for m in MODELS}
        self.ledger = Ledger()
        self.rates = {}
        self.samples = []  # (t, rss_kb, fds, cpu_s)
        self.smaps = {}  # idle window -> RSS by mapping (what grew, if RSS did)
        self.model_samples = []  # [t, [model, cores, queue_length]...]
        self.fault_log = []
        self.tasks = set()
        self.t0 = time.monotonic()

    def spawn(self, model, kind):
        t = asyncio.ensure_future(send_one(self.serve.port, model, self.bodies[model], kind,
                                           self.ledger, self.t0))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def arrivals(self, seconds, factor, kind, stop=None):
        """Poisson arrivals of every model at factor x its rate for seconds."""
        rng = random.Random(self.args.seed * 7919 + len(self.ledger.rows))
        total = sum(self.rates.values()) * factor
        end = time.monotonic() + seconds
        nxt = time.monotonic()
        n = 0
        while True:
            nxt += rng.expovariate(total)
            if nxt >= end or (stop and stop.is_set()):
                return n
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
            r = rng.random() * total
            for m, rate in self.rates.items():
                r -= rate * factor
                if r <= 0:
                    break
            self.spawn(m, kind)
            n += 1

    async def calibrate(self):
        """Closed loop, 2 clients per model at once, for args.calibrate seconds."""
        done = {m: 0 for m in MODELS}
        stop = time.monotonic() + self.args.calibrate
        measure_from = time.monotonic() + 3  # the first seconds warm the workers up

        async def client(m):
            while time.monotonic() < stop:
                before = len(self.ledger.rows)
                await send_one(self.serve.port, m, self.bodies[m], "calibrate", self.ledger, self.t0)
                rec = self.ledger.rows[before] if len(self.ledger.rows) > before else None
                if time.monotonic() >= measure_from and rec and rec["status"] == 200:
                    done[m] += 1

        await asyncio.gather(*(client(m) for m in MODELS for _ in range(2)))
        span = self.args.calibrate - 3
        for m in MODELS:
            cap = done[m] / span
            self.rates[m] = max(0.2, self.args.load * cap)
        return {m: done[m] / span for m in MODELS}

    async def sampler(self, stop):
        pid = self.serve.proc.pid
        while not stop.is_set():
            try:
                t = time.monotonic() - self.t0
                self.samples.append((t, proc_rss_kb(pid), proc_fds(pid), proc_cpu_s(pid)))
                self.serve.workers()  # remembers worker pids and cgroups
                ms = requests.get(self.serve.url("/roma/v1/models"), timeout=5).json()["models"]
                self.model_samples.append([round(t, 1)] + [[m["name"], m["cores"], m["queue_length"]]
                                                          for m in ms])
            except (OSError, requests.RequestException, ValueError):
                pass
            await asyncio.sleep(1.0)

    async def main(self):
        a = self.args
        work = Path(a.work)
        work.mkdir(parents=True, exist_ok=True)
        self.serve = Serve(a, work)
        store_note = self.serve.mount_store()
        if store_note:
            log(f"store: {store_note}; the disk-full fault is skipped")
        faults = Faults(self.serve, self)
        self.faults = faults
        try:
            self.serve.start()
            log(f"roma serve ready on port {self.serve.port} (pid {self.serve.proc.pid}), work dir {work}")
            faults.check_cgroup_mode()
            for k, why in faults.skip_reason.items():
                log(f"fault {k} skipped: {why}")
            capacity = await self.calibrate()
            log("capacity (closed loop, req/s): " + ", ".join(f"{m} {c:.1f}" for m, c in capacity.items())
                + "; open-loop rates: " + ", ".join(f"{m} {r:.2f}" for m, r in self.rates.items()))
            self.capacity = capacity
            await self.run_load(faults)
        except BaseException:
            self.abort()
            raise
        finally:
            faults.cleanup()
        summary = self.finish(store_note)
        return summary

    async def quiesce(self, what):
        """Waits until every request sent is answered and the queues are empty,
        then samples roma serve idle for IDLE_S; returns the idle window."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=CLIENT_TIMEOUT_S + 40)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                ms = requests.get(self.serve.url("/roma/v1/models"), timeout=5).json()["models"]
                if all(m["queue_length"] == 0 for m in ms):
                    break
            except (requests.RequestException, ValueError, KeyError):
                pass
            await asyncio.sleep(0.5)
        await asyncio.sleep(8)  # roma serve trims freed heap at most every 5 s
        t_from = time.monotonic() - self.t0
        await asyncio.sleep(IDLE_S)
        try:
            self.smaps[what] = smaps_rss(self.serve.proc.pid)
        except OSError:
            pass
        log(f"{what}: idle window {t_from:.0f}-{t_from + IDLE_S:.0f} s")
        return (t_from, time.monotonic() - self.t0)

    def abort(self):
        """The soak itself failed: stop roma serve (the process group) and unmount."""
        p = self.serve.proc
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.serve.unmount_store()

    async def run_load(self, faults):
        """Warm-up load, an idle window (the baseline), load with one fault per
        interval and a settle period, then another idle window (the final)."""
        a = self.args
        total = a.minutes * 60
        warm, settle = a.warmup, a.settle
        n_faults_room = total - warm - settle
        interval = a.interval
        if n_faults_room / interval < len(FAULTS):  # short runs: each kind at least once
            interval = max(6.0, n_faults_room / len(FAULTS))
        self.interval = interval
        stop = asyncio.Event()
        sampler = asyncio.ensure_future(self.sampler(stop))
        # Warm-up reaches the working set, connections included: 500 idle
        # connections once leave ~1 MB of per-connection state (libevent's
        # per-fd entries among it) for good; a high-water mark bounded by
        # limits.connections, not a leak, but 10% of an idle roma serve.
        warm_load = asyncio.ensure_future(self.arrivals(warm, 1.0, "load"))
        self.warm_conns = (await self.faults.do_slowloris(hold_s=3))["opened"]
        await warm_load
        self.loaded_warm = (time.monotonic() - self.t0 - 10, time.monotonic() - self.t0)
        self.idle_warm = await self.quiesce("after warm-up")
        t_start = time.monotonic()
        load = asyncio.ensure_future(self.arrivals(total - warm, 1.0, "load"))
        n_faults = max(1, int(n_faults_room / interval + 1e-6))
        for i in range(n_faults):
            kind = faults.next_kind()
            t = time.monotonic() - self.t0
            log(f"fault {i}: {kind}")
            try:
                result = await faults.run(kind)
            except Exception as e:  # a fault that cannot be injected is reported, not fatal
                result = {"error": f"{type(e).__name__}: {e}"}
            rec = {"i": i, "kind": kind, "t": round(t, 2), "t_end": round(time.monotonic() - self.t0, 2),
                   **result}
            self.fault_log.append(rec)
            if "skipped" in result or "error" in result:
                log(f"  {result}")
            nxt = t_start + (i + 1) * interval
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
        self.last_fault_end = self.fault_log[-1]["t_end"] if self.fault_log else 0
        await load
        self.loaded_end = (time.monotonic() - self.t0 - 10, time.monotonic() - self.t0)
        log(f"load over; waiting for {len(self.tasks)} requests in flight")
        self.idle_end = await self.quiesce("after the last fault")
        stop.set()
        await sampler

    # ---- checks -----------------------------------------------------------

    def stop_serve(self):
        s = self.serve
        s.workers()
        s.proc.send_signal(signal.SIGTERM)
        try:
            rc = s.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(s.proc.pid, signal.SIGKILL)
            rc = None
        time.sleep(1)
        alive = sorted(p for p in s.pids_seen if pid_alive(p))
        parent = CGROUP_V1_CPU / f"roma-{s.port}"
        left = sorted(c for c in s.cgroups_seen if Path(c).exists())
        if parent.exists():
            left.append(str(parent))
        return {"exit_code": rc, "workers_seen": len(s.pids_seen), "workers_alive": alive,
                "cgroups_seen": len(s.cgroups_seen), "cgroups_left": left,
                "ok": rc == 0 and not alive and not left}

    def store_check(self, rows):
        s = self.serve
        db = sqlite3.connect(f"file:{s.db_path}?mode=ro", uri=True)
        by = {}
        for status, worker, n in db.execute(
                "SELECT status, worker = '', count(*) FROM requests GROUP BY status, worker = ''"):
            by[(status, bool(worker))] = n
        db.close()
        stored = sum(by.values())
        stored_499 = sum(n for (st, _), n in by.items() if st == 499)
        stored_noworker = by.get((503, True), 0)
        text = s.log_path.read_text(errors="replace")
        lost = max([int(x) for x in re.findall(r"rows lost, (\d+) in all", text)] or [0])
        dropped = max([int(x) for x in re.findall(r"rows dropped, (\d+) in all", text)] or [0])
        reasons = [ln[:400] for ln in text.splitlines()
                   if "rows lost" in ln or "rows dropped" in ln][:10]
        door = sum(1 for r in rows if r["status"] in (429, 503) and r["why"]
                   and any(d in r["why"] for d in DOOR_REFUSALS))
        noworker = sum(1 for r in rows if r["status"] == 503 and r["why"] and NO_WORKER in r["why"])
        # A "no worker" 503 is either a door refusal (not stored) or a queued
        # request failed when its model lost its worker (stored, worker '').
        if stored_noworker > noworker:
            door_noworker = -1  # more stored than answered: the check below fails
        else:
            door_noworker = noworker - stored_noworker
        answered = sum(1 for r in rows if r["status"] is not None)
        expected = answered - door - max(door_noworker, 0)
        ok = (stored - stored_499) + lost + dropped == expected and door_noworker >= 0 and stored_499 == 0
        return {"rows": stored, "rows_by_status": {f"{k[0]}{' (no worker)' if k[1] else ''}": v
                                                   for k, v in sorted(by.items())},
                "answered": answered, "door_refusals": door + max(door_noworker, 0),
                "expected_rows": expected, "lost_logged": lost, "dropped_logged": dropped,
                "loss_lines": reasons, "ok": ok}

    def window(self, t_from, t_to):
        pts = [(t, r, f, c) for t, r, f, c in self.samples if t_from <= t <= t_to]
        if not pts:
            return None
        span = pts[-1][0] - pts[0][0]
        return {"rss_kb": statistics.median(p[1] for p in pts),
                "fds": statistics.median(p[2] for p in pts), "samples": len(pts),
                "cpu_cores": (pts[-1][3] - pts[0][3]) / span if span > 0 else None}

    def finish(self, store_note):
        rows = self.ledger.rows
        cleanup = self.stop_serve()
        statuses = {}
        for r in rows:
            key = str(r["status"]) if r["status"] is not None else "none"
            statuses[key] = statuses.get(key, 0) + 1
        bad = [r for r in rows if r["problem"] or r["status"] not in (200, 429, 503)
               or (r["status"] != 200 and not r["why"])]
        whys = {}
        for r in rows:
            if r["status"] in (429, 503) and r["why"]:
                whys[f"{r['status']} {r['why']}"] = whys.get(f"{r['status']} {r['why']}", 0) + 1
        try:
            store = self.store_check(rows)
        except sqlite3.Error as e:
            store = {"ok": False, "error": f"cannot read the store: {e}"}
        self.serve.unmount_store()
        warm, after = self.window(*self.idle_warm), self.window(*self.idle_end)
        res = {}
        for k in ("rss_kb", "fds"):
            if warm and after:
                ratio = after[k] / warm[k] if warm[k] else float("inf")
                res[k] = {"after_warmup": warm[k], "after_last_fault": after[k],
                          "ratio": round(ratio, 3), "ok": abs(ratio - 1) <= 0.10,
                          "idle_windows_s": [[round(x, 1) for x in self.idle_warm],
                                             [round(x, 1) for x in self.idle_end]],
                          "under_load": [(self.window(*self.loaded_warm) or {}).get(k),
                                         (self.window(*self.loaded_end) or {}).get(k)]}
            else:
                res[k] = {"ok": False, "error": "no samples in the idle windows"}
        if warm and after and after["cpu_cores"] is not None:
            idle_cpu = {"after_warmup": round(warm["cpu_cores"] or 0, 4),
                        "after_last_fault": round(after["cpu_cores"], 4), "max": IDLE_CPU_MAX,
                        "ok": after["cpu_cores"] <= IDLE_CPU_MAX}
        else:
            idle_cpu = {"ok": False, "error": "no samples in the idle windows"}
        kinds = {}
        for f in self.fault_log:
            d = kinds.setdefault(f["kind"], {"injected": 0, "skipped": 0})
            d["skipped" if "skipped" in f or "error" in f else "injected"] += 1
        summary = {
            "minutes": self.args.minutes, "seed": self.args.seed, "load_factor": self.args.load,
            "port": self.serve.port, "work_dir": str(self.serve.work),
            "capacity_rps": self.capacity, "rates_rps": self.rates,
            "fault_interval_s": self.interval,
            "warmup_connections": self.warm_conns,
            "store_note": store_note,
            "requests": len(rows), "answers_by_status": statuses,
            "answers_by_kind": {k: sum(1 for r in rows if r["kind"] == k)
                                for k in ("calibrate", "load", "burst")},
            "refusal_reasons": whys,
            "rt_200_p50_s": statistics.median([r["rt"] for r in rows if r["status"] == 200] or [0]),
            "faults": kinds, "fault_log": self.fault_log,
            "checks": {
                "answers": {"ok": not bad, "bad": len(bad), "examples": bad[:10]},
                "store": store, "rss": res["rss_kb"], "fds": res["fds"], "idle_cpu": idle_cpu,
                "cleanup": cleanup,
            },
        }
        summary["ok"] = all(c.get("ok") for c in summary["checks"].values())
        return summary


def buckets(rows, width):
    """Per width-second bucket of send time: requests, answers by status, p50 of 200s."""
    out = {}
    for r in rows:
        b = out.setdefault(int(r["t"] // width) * width, {"sent": 0, "200": 0, "refused": 0, "rts": []})
        b["sent"] += 1
        if r["status"] == 200:
            b["200"] += 1
            b["rts"].append(r["rt"])
        elif r["status"] is not None:
            b["refused"] += 1
    for b in out.values():
        rts = sorted(b.pop("rts"))
        b["p50_s"] = round(rts[len(rts) // 2], 3) if rts else None
        b["p99_s"] = round(rts[int(len(rts) * 0.99)], 3) if rts else None
    return [[t, b] for t, b in sorted(out.items())]


def plot(summary, samples, faults, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = [s[0] / 60 for s in samples]
    fig, ax1 = plt.subplots(figsize=(11, 4.5))
    ax1.plot(t, [s[1] / 1024 for s in samples], color="tab:blue", lw=1, label="RSS (MiB)")
    ax1.set_xlabel("minutes since start")
    ax1.set_ylabel("roma serve RSS (MiB)", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(t, [s[2] for s in samples], color="tab:red", lw=1, label="open fds")
    ax2.set_ylabel("roma serve open fds", color="tab:red")
    ax2.set_yscale("symlog")
    colors = dict(zip(FAULTS, plt.cm.tab10.colors))
    shown = set()
    for f in faults:
        lab = f["kind"] if f["kind"] not in shown else None
        shown.add(f["kind"])
        ax1.axvline(f["t"] / 60, color=colors[f["kind"]], alpha=0.5, lw=0.8,
                    ls=":" if "skipped" in f else "-", label=lab)
    for w in summary["checks"]["rss"].get("idle_windows_s", []):
        ax1.axvspan(w[0] / 60, w[1] / 60, color="grey", alpha=0.3)
    ax1.legend(loc="upper left", fontsize=7, ncol=4)
    ok = "all checks passed" if summary["ok"] else "CHECKS FAILED"
    ax1.set_title(f"roma serve under faults: {summary['requests']} requests, "
                  f"{sum(v['injected'] for v in summary['faults'].values())} faults, {ok}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("minutes", type=float, nargs="?", default=10.0, help="load duration (default 10)")
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--load", type=float, default=0.7, help="share of the measured capacity (0.7)")
    p.add_argument("--interval", type=float, default=20.0, help="seconds between faults (20)")
    p.add_argument("--calibrate", type=float, default=15.0, help="calibration seconds (15)")
    p.add_argument("--warmup", type=float, default=20.0)
    p.add_argument("--settle", type=float, default=20.0)
    p.add_argument("--out", default=str(ROOT / "results"), help="where soak-<stamp>.json/.png go")
    p.add_argument("--work", default=None, help="work directory (default /tmp/roma-soak-<stamp>)")
    p.add_argument("--roma", default=os.environ.get("ROMA_BIN", str(ROOT / "build" / "roma")))
    p.add_argument("--no-root", action="store_true",
                   help="do without root (no tmpfs, no cgroup fault), as a user would")
    a = p.parse_args()
    global AS_ROOT
    AS_ROOT = AS_ROOT and not a.no_root
    stamp = time.strftime("%Y%m%d-%H%M%S")
    a.work = a.work or f"/tmp/roma-soak-{stamp}"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    if not Path(a.roma).is_file():
        raise SystemExit(f"{a.roma} not found: build it with `make -j2`")
    soak = Soak(a)
    summary = asyncio.run(soak.main())
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"soak-{stamp}"
    summary["samples"] = [[round(t, 1), r, f, round(c, 2)] for t, r, f, c in soak.samples]
    summary["model_samples"] = soak.model_samples
    summary["rss_by_mapping_kb"] = soak.smaps
    summary["per_10s"] = buckets(soak.ledger.rows, 10)
    summary["client_cpu_s"] = round(sum(os.times()[:2]), 1)
    Path(f"{base}.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(summary, soak.samples, soak.fault_log, f"{base}.png")
    c = summary["checks"]
    log(f"{summary['requests']} requests, answers {summary['answers_by_status']}; faults "
        + ", ".join(f"{k} {v['injected']}" + (f" (+{v['skipped']} skipped)" if v["skipped"] else "")
                    for k, v in summary["faults"].items()))
    for name, chk in c.items():
        brief = {k: v for k, v in chk.items() if k not in ("examples", "rows_by_status", "loss_lines")}
        log(f"check {name}: {'ok' if chk.get('ok') else 'FAILED'} {json.dumps(brief)[:400]}")
    log(f"results: {base}.json {base}.png")
    shutil.copy(soak.serve.log_path, f"{base}-serve.log")
    if summary["ok"]:
        shutil.rmtree(a.work, ignore_errors=True)
    sys.exit(0 if summary["ok"] else 1)


if __name__ == "__main__":
    main()
