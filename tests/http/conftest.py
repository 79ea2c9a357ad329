"""Fixtures for black-box HTTP tests of `roma worker` (TF-Serving-compatible REST).

Each test module starts the workers it needs once (module-scoped fixtures), on a
free port, waits until `GET /v1/models/<name>` answers 200 and kills the process
at teardown. Helpers live in roma_http.py.
"""

import tempfile
from pathlib import Path

import pytest

from roma_http import WorkerPool, tfs_model


def pytest_configure(config):
    for name, doc in [
        ("tfserving_data", "needs ../shared/testdata/tfserving (skipped when absent)"),
        ("project_models", "needs the generated models/ folder (skipped when absent)"),
        ("hostile", "malformed / oversized / truncated requests"),
        ("concurrency", "many parallel clients"),
        ("startup", "process start-up and command-line behaviour"),
        ("once", "gains nothing from the sanitizer build (documents and scripts, or minutes of waiting on "
                 "roma serve's timers): scripts/test.sh runs it once, not again under ASan"),
    ]:
        config.addinivalue_line("markers", f"{name}: {doc}")


@pytest.fixture(scope="module")
def workers():
    """Factory for workers that live until the end of the test module."""
    with tempfile.TemporaryDirectory(prefix="roma-http-") as d:
        pool = WorkerPool(Path(d))
        try:
            yield pool
        finally:
            pool.close()


@pytest.fixture(scope="module")
def half_plus_two(workers):
    """saved_model_half_plus_two_cpu served as `default` (TF Serving's own test setup)."""
    return workers.serve(tfs_model("saved_model_half_plus_two_cpu"), "default")


