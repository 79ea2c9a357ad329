"""SIGTERM to a `roma worker` under load: it stops accepting, answers every
request it had accepted (the drain), and exits with status 0.

The worker serves the generated resnet test model on one inference thread,
so a burst of requests queues in it; SIGTERM is sent once the first answer
is back (the others are then accepted and waiting).  The worker's log says
how many accepted requests it is answering; at least that many must come
back 200, none may get an error status, and a new connection afterwards is
refused.  roma serve's own SIGTERM drain is tested in test_serve.py.
"""

import re
import signal
import subprocess
import time

import pytest

from serve_util import Burst, connect_refused, model_dir, request_body, wait_until

N = 12  # under the worker's queue limit (16 a thread): none is refused 503 for room


def test_sigterm_drains_accepted_requests_and_exits_0(workers):
    resnet = model_dir("resnet")
    if not (resnet / "request.json").is_file():
        pytest.skip(f"{resnet} missing: run scripts/gen_models.py --out models")
    w = workers.serve(resnet, "resnet", "--rest_api_num_threads=1",
                      "--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=1")
    burst = Burst(w.url("/v1/models/resnet:predict"), request_body("resnet"), N, timeout=60).start()
    assert wait_until(lambda: any(r is not None for r in burst.results), 30), "no answer in 30 s"
    w.proc.send_signal(signal.SIGTERM)
    t_term = time.monotonic()
    try:
        code = w.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"worker still running 60 s after SIGTERM\n{w.output()[-3000:]}")
    drained_in = time.monotonic() - t_term
    results = burst.join()
    log = w.output()
    assert code == 0, f"worker exited {code} after SIGTERM\n{log[-3000:]}"
    m = re.search(r"no longer accepting; answering (\d+) accepted requests", log)
    assert m, f"the worker did not log its drain\n{log[-3000:]}"
    accepted = int(m.group(1))
    assert accepted >= 1, f"nothing was in flight at SIGTERM: the drain was not exercised\n{log[-3000:]}"
    answered = [r for r in results if r.status == 200]
    statuses = sorted({r.status for r in results if r.status is not None})
    assert set(statuses) <= {200}, f"error statuses during the drain: {statuses}"
    # every request answered 200 after SIGTERM was one it had accepted
    after = [r for r in answered if r.end > t_term]
    assert len(after) >= accepted, \
        f"{accepted} accepted at SIGTERM but only {len(after)} answered 200 after it\n{log[-3000:]}"
    # those it had not accepted found the door shut: no answer, never a hang
    assert all(r.error for r in results if r.status is None)
    assert connect_refused(w.port), "the worker's port still accepts connections after it exited"
    print(f"SIGTERM: {accepted} accepted requests answered, exit 0 after {drained_in:.2f} s")
