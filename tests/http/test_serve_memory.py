"""Black-box regression test: roma serve gives back the memory of a burst.

The soak (bench/soak.sh) found it: after a burst of 1 MB request bodies
roma serve's RSS stayed at the burst's peak (350 MB, against 20 MB before)
with nothing queued, because glibc keeps freed heap chunks.  Now each
control period returns it once the burst is over (serve_release_memory).
No timing goal: a bounded wait for RSS to come back down."""

import json

import pytest

from roma_http import require_binary
from serve_util import Serve, burst, model_entry, wait_until


def sanitizer_build():
    """Whether roma is the AddressSanitizer build: its allocator (a quarantine of
    freed memory, its own release policy) is not glibc's, which this test is about."""
    return b"__asan_init" in require_binary().read_bytes()


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def test_rss_comes_back_after_a_burst_of_large_bodies(tmp_path):
    if sanitizer_build():
        pytest.skip("the AddressSanitizer build has its own allocator (freed memory is quarantined)")
    # 120 requests of about 1 MB each, for the tiny mlp model (fast to run).
    body = json.dumps({"instances": [[0.5] * 8] * 24000}).encode()
    assert len(body) > 900_000
    s = Serve(tmp_path, [model_entry("mlp")], period="0.5s", queue_limit=1000).start()
    try:
        pid = s.proc.pid
        base = rss_mb(pid)
        results = burst(s.url("/v1/models/mlp:predict"), body, 120, timeout=120)
        assert all(r.status == 200 for r in results), results
        peak = rss_mb(pid)
        back = wait_until(lambda: rss_mb(pid) < base + 40, 15, interval=0.5)
        assert back, (f"roma serve's RSS was {base:.0f} MB before a burst of 120 x 1 MB "
                      f"bodies, {peak:.0f} MB after it, and still {rss_mb(pid):.0f} MB "
                      "15 s later with nothing queued")
    finally:
        s.stop()
