"""Start-up behaviour and command-line flags of `roma worker`."""

import os
import signal
import socket
import subprocess
import time

import pytest

from roma_http import PROJECT_ROOT, free_port, ok_json, require_binary, tfs_model

pytestmark = pytest.mark.startup

EXIT_WITHIN_S = 15


def run_expecting_exit(*args, port=None, timeout=EXIT_WITHIN_S):
    """Run `roma worker` and require it to exit non-zero within `timeout` s.
    Returns the combined stdout+stderr text."""
    port = port or free_port()
    cmd = [str(require_binary()), "worker", f"--rest_api_port={port}", *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            cwd=str(PROJECT_ROOT), start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"worker still running after {timeout} s: {' '.join(cmd)}\n"
                    f"{out.decode(errors='replace')[-3000:]}", pytrace=False)
    text = out.decode(errors="replace")
    assert proc.returncode != 0, f"worker exited 0 for {' '.join(cmd)}\n{text[-3000:]}"
    return text


def test_nonexistent_base_path_fails_fast(tmp_path):
    missing = tmp_path / "no_such_model_dir"
    out = run_expecting_exit("--model_name=m", f"--model_base_path={missing}")
    assert str(missing) in out, f"message does not name {missing}:\n{out[-2000:]}"


def test_base_path_without_numeric_version_fails_fast(tmp_path):
    base = tmp_path / "model"
    (base / "not_a_version").mkdir(parents=True)
    (base / "README").write_text("no versions here\n")
    out = run_expecting_exit("--model_name=m", f"--model_base_path={base}")
    assert str(base) in out, f"message does not name {base}:\n{out[-2000:]}"


def test_unparsable_model_config_file_fails(tmp_path):
    cfg = tmp_path / "bad.config"
    cfg.write_text("model_config_list { config { name: 'm' base_path: \n")
    run_expecting_exit(f"--model_config_file={cfg}")


def test_missing_model_config_file_fails(tmp_path):
    cfg = tmp_path / "missing.config"
    out = run_expecting_exit(f"--model_config_file={cfg}")
    assert str(cfg) in out, out[-2000:]


def test_config_with_missing_base_path_fails(tmp_path):
    cfg = tmp_path / "m.config"
    missing = tmp_path / "nowhere"
    cfg.write_text('model_config_list { config { name: "m" base_path: "%s" model_platform: "tensorflow" } }\n'
                   % missing)
    out = run_expecting_exit(f"--model_config_file={cfg}")
    assert str(missing) in out, out[-2000:]


def test_no_model_given_fails():
    run_expecting_exit()


def test_unknown_flag_fails(tmp_path):
    run_expecting_exit("--no_such_flag=1", "--model_name=m", f"--model_base_path={tmp_path}")


def test_bad_server_timing_value_fails(tmp_path):
    out = run_expecting_exit("--server_timing=yes", "--model_name=m", f"--model_base_path={tmp_path}")
    assert "--server_timing=yes: expected an integer in [0, 1]" in out, out[-2000:]


@pytest.mark.tfserving_data
def test_port_in_use_fails():
    model = tfs_model("saved_model_half_plus_two_cpu")
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen(1)
        port = s.getsockname()[1]
        run_expecting_exit("--model_name=default", f"--model_base_path={model}", port=port, timeout=60)


@pytest.mark.tfserving_data
def test_all_tensorflow_model_server_flags_accepted(workers):
    w = workers.serve(tfs_model("saved_model_half_plus_two_cpu"), "default",
                      "--rest_api_num_threads=2",
                      "--tensorflow_intra_op_parallelism=1",
                      "--tensorflow_inter_op_parallelism=1",
                      "--tensorflow_thread_spinning=0",
                      "--rest_api_timeout_in_ms=30000",
                      "--device=cpu")
    r = w.predict("default", {"instances": [2.0, 3.0, 4.0]})
    assert ok_json(r) == {"predictions": [3.0, 3.5, 4.0]}


@pytest.mark.tfserving_data
def test_sigterm_stops_worker_promptly(workers):
    w = workers.serve(tfs_model("saved_model_half_plus_two_cpu"), "default")
    t0 = time.monotonic()
    w.proc.send_signal(signal.SIGTERM)
    try:
        w.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("worker did not exit within 10 s of SIGTERM")
    assert time.monotonic() - t0 < 10


def test_bad_device_flag_fails(tmp_path):
    out = run_expecting_exit("--device=tpu:0", f"--model_base_path={tmp_path}")
    assert "--device=tpu:0" in out and "gpu:N" in out, out[-2000:]


def test_bad_thread_spinning_flag_fails(tmp_path):
    out = run_expecting_exit("--tensorflow_thread_spinning=2", f"--model_base_path={tmp_path}")
    assert "--tensorflow_thread_spinning=2" in out and "[0, 1]" in out, out[-2000:]


def test_gpu_device_refused_without_gpu_support():
    """On a TensorFlow build without GPU support (the tensorflow-cpu wheel) or
    a machine without a GPU, --device=gpu:0 must stop with a clear message."""
    try:
        import tensorflow as tf  # noqa: F401  (only to learn the build kind)
        if tf.config.list_physical_devices("GPU"):
            pytest.skip("this machine has a GPU TensorFlow can use")
    except ImportError:
        pass
    out = run_expecting_exit("--device=gpu:0", "--model_name=default",
                             f"--model_base_path={tfs_model('saved_model_half_plus_two_cpu')}")
    assert "no GPU" in out and "--device=cpu" in out, out[-2000:]
