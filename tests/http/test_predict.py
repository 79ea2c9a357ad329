""":predict on TF Serving's own test models, answers as TF Serving gives them."""

import base64
import math
import struct

import pytest

from roma_http import assert_error, ok_json, strict_floats, tf_example, tfs_model

pytestmark = pytest.mark.tfserving_data


# ---------------------------------------------------------------- half_plus_two

def test_predict_row_format(half_plus_two):
    r = half_plus_two.predict("default", {"instances": [2.0, 3.0, 4.0]})
    assert ok_json(r) == {"predictions": [3.0, 3.5, 4.0]}


def test_predict_columnar_format(half_plus_two):
    r = half_plus_two.predict("default", {"inputs": [2.0, 3.0, 4.0]})
    assert ok_json(r) == {"outputs": [3.0, 3.5, 4.0]}


def test_predict_named_instances(half_plus_two):
    # Row form with objects keyed by the input name.
    r = half_plus_two.predict("default", {"instances": [{"x": 2.0}, {"x": 4.0}]})
    assert ok_json(r) == {"predictions": [3.0, 4.0]}


def test_predict_named_columnar_inputs(half_plus_two):
    r = half_plus_two.predict("default", {"inputs": {"x": [[2.0], [4.0]]}})
    assert ok_json(r) == {"outputs": [[3.0], [4.0]]}


def test_predict_2d_instances(half_plus_two):
    # From TF Serving's handler unit test.
    r = half_plus_two.predict("default", {"instances": [[1.0, 2.0], [3.0, 4.0]]})
    assert ok_json(r) == {"predictions": [[2.5, 3.0], [3.5, 4.0]]}


def test_predict_integer_json_into_float_input(half_plus_two):
    # JSON integers are accepted for a float input when they are exact.
    r = half_plus_two.predict("default", {"instances": [2, 4]})
    assert ok_json(r) == {"predictions": [3.0, 4.0]}


def test_predict_explicit_serving_default(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "serving_default", "instances": [3.0, 4.0]})
    assert ok_json(r) == {"predictions": [3.5, 4.0]}


def test_predict_selects_signature_by_name(half_plus_two):
    # regress_x2_to_y3 takes float `inputs` (x2) and returns y3 = 0.5 * x2 + 3.
    r = half_plus_two.predict("default", {"signature_name": "regress_x2_to_y3",
                                          "instances": [[2.0], [4.0]]})
    assert ok_json(r) == {"predictions": [[4.0], [5.0]]}


def test_floats_are_written_as_decimals(half_plus_two):
    # TF Serving appends ".0" to whole-valued floats: 3.0, never 3.
    r = half_plus_two.predict("default", {"instances": [2.0, 4.0]})
    assert r.status_code == 200, r.text
    assert strict_floats(r.text) == {"predictions": [3.0, 4.0]}


def test_float32_written_in_shortest_form(half_plus_two):
    # 0.5 * 0.1f + 2 == float32(2.05); TF Serving prints "2.05", not 2.04999995...
    r = half_plus_two.predict("default", {"instances": [0.1]})
    assert ok_json(r) == {"predictions": [2.05]}


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def test_float_output_keeps_full_float32_precision(half_plus_two):
    # TF Serving prints a float with 6 significant digits only when that text reads back
    # as the same float32; otherwise it uses 9 digits. So every value must round-trip.
    xs = [1234.567, 0.1234567, 3.3333333, 16777.215, -98765.4321, 1e-3]
    r = half_plus_two.predict("default", {"instances": xs})
    got = ok_json(r)["predictions"]
    want = [_f32(_f32(0.5 * _f32(x)) + 2.0) for x in xs]
    assert [_f32(g) for g in got] == want, f"lossy float text in {r.text!r}"


def test_large_float_output_not_truncated(half_plus_two):
    # 0.5 * 8388608 + 2 = 4194306.0 exactly; 6-digit %g would give 4.19431e+06.
    r = half_plus_two.predict("default", {"instances": [8388608.0]})
    assert ok_json(r) == {"predictions": [4194306.0]}


def test_nan_and_infinity_tokens(half_plus_two):
    r = half_plus_two.post("/v1/models/default:predict",
                           raw='{"instances": [NaN, Infinity, -Infinity]}')
    body = ok_json(r)
    p = body["predictions"]
    assert math.isnan(p[0]) and p[1] == math.inf and p[2] == -math.inf
    assert "NaN" in r.text and "-Infinity" in r.text


def test_b64_string_input_via_predict(half_plus_two):
    # regress_x_to_y takes serialized tf.Example strings; send them as {"b64": ...}.
    ex = [base64.b64encode(tf_example(x=[v])).decode() for v in (2.0, 4.0)]
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "instances": [{"b64": e} for e in ex]})
    assert ok_json(r) == {"predictions": [[3.0], [4.0]]}


def test_b64_columnar_input(half_plus_two):
    ex = base64.b64encode(tf_example(x=[2.0])).decode()
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y2",
                                          "inputs": [{"b64": ex}]})
    assert ok_json(r) == {"outputs": [[4.0]]}


def test_bad_base64_is_400(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "instances": [{"b64": "***not base64***"}]})
    assert_error(r, 400)


def test_keep_alive_many_requests_one_connection(half_plus_two):
    for i in range(50):
        r = half_plus_two.predict("default", {"instances": [float(i)]})
        assert ok_json(r) == {"predictions": [0.5 * i + 2]}


# ---------------------------------------------------------------- input errors

def test_wrong_dtype_string_for_float(half_plus_two):
    r = half_plus_two.predict("default", {"instances": ["x", "y"]})
    assert_error(r, 400, "not of expected type")


def test_wrong_dtype_bool_for_float(half_plus_two):
    r = half_plus_two.predict("default", {"instances": [True]})
    assert_error(r, 400)


def test_int_not_exact_in_float32_is_400(half_plus_two):
    r = half_plus_two.predict("default", {"instances": [16777217]})
    assert_error(r, 400, "loss of precision")


def test_ragged_instances_is_400(half_plus_two):
    r = half_plus_two.predict("default", {"instances": [[1.0], [2.0, 3.0]]})
    assert_error(r, 400)


def test_mixed_depth_instances_is_400(half_plus_two):
    r = half_plus_two.predict("default", {"instances": [1.0, [2.0]]})
    assert_error(r, 400)


def test_missing_instances_and_inputs(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "serving_default"})
    assert_error(r, 400, "Missing 'inputs' or 'instances' key")


def test_both_instances_and_inputs(half_plus_two):
    r = half_plus_two.predict("default", {"instances": [1.0], "inputs": [1.0]})
    assert_error(r, 400, "instances", "inputs")


def test_instances_not_a_list(half_plus_two):
    assert_error(half_plus_two.predict("default", {"instances": 1.0}), 400)


def test_empty_instances(half_plus_two):
    assert_error(half_plus_two.predict("default", {"instances": []}), 400, "instances")


def test_unknown_named_input(half_plus_two):
    r = half_plus_two.predict("default", {"instances": [{"nope": 1.0}]})
    assert_error(r, 400)


def test_missing_named_columnar_input(half_plus_two):
    r = half_plus_two.predict("default", {"inputs": {"nope": [1.0]}})
    assert_error(r, 400)


def test_unknown_signature_name(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "nope", "instances": [1.0]})
    assert_error(r, 400, "nope")


def test_signature_name_not_a_string(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": 100, "instances": [1.0]})
    assert_error(r, 400, "signature_name")


def test_top_level_not_an_object(half_plus_two):
    assert_error(half_plus_two.post("/v1/models/default:predict", raw="[1, 2]"), 400)


def test_server_still_answers_after_errors(half_plus_two):
    r = half_plus_two.predict("default", {"instances": [2.0]})
    assert ok_json(r) == {"predictions": [3.0]}


# ---------------------------------------------------------------- other models

@pytest.fixture(scope="module")
def half_plus_three(workers):
    return workers.serve(tfs_model("saved_model_half_plus_three"), "half_plus_three")


def test_half_plus_three(half_plus_three):
    r = half_plus_three.predict("half_plus_three", {"instances": [2.0, 3.0, 4.0]})
    assert ok_json(r) == {"predictions": [4.0, 4.5, 5.0]}
    r = half_plus_three.predict("half_plus_three", {"inputs": [2.0]})
    assert ok_json(r) == {"outputs": [4.0]}


@pytest.fixture(scope="module")
def tf2_model(workers):
    return workers.serve(tfs_model("saved_model_half_plus_two_tf2_cpu"), "tf2")


def test_tf2_model_predict(tf2_model):
    # The TF2 export's serving_default takes x of shape [1].
    r = tf2_model.predict("tf2", {"instances": [2.0]})
    assert ok_json(r) == {"predictions": [3.0]}
    r = tf2_model.predict("tf2", {"inputs": [4.0]})
    assert ok_json(r) == {"outputs": [4.0]}


def test_tf2_model_string_signature_with_b64(tf2_model):
    ex = base64.b64encode(tf_example(x=[2.0])).decode()
    r = tf2_model.predict("tf2", {"signature_name": "regress_x_to_y2", "instances": [{"b64": ex}]})
    assert ok_json(r) == {"predictions": [[4.0]]}


def test_tf2_model_status(tf2_model):
    body = ok_json(tf2_model.get("/v1/models/tf2"))
    assert [s["version"] for s in body["model_version_status"]] == ["123"]


@pytest.fixture(scope="module")
def matrix_model(workers):
    return workers.serve(tfs_model("matrix_half_plus_two"), "matrix")


def test_matrix_model_rank3_tensors(matrix_model):
    m = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
    want = [[0.5 * v + 2 for v in row] for row in m]
    assert ok_json(matrix_model.predict("matrix", {"instances": [m, m]})) == {"predictions": [want, want]}
    assert ok_json(matrix_model.predict("matrix", {"inputs": [m]})) == {"outputs": [want]}


@pytest.fixture(scope="module")
def counter(workers):
    return workers.serve(tfs_model("saved_model_counter"), "counter")


def test_counter_model_keeps_state(counter):
    # incr_counter_by adds a scalar `delta` and returns the new scalar value.
    def incr(delta):
        r = counter.predict("counter", {"signature_name": "incr_counter_by", "inputs": {"delta": delta}})
        return ok_json(r)["outputs"]

    first = incr(1.0)
    assert incr(2.0) == first + 2.0
    assert incr(0.5) == first + 2.5


def test_counter_signature_without_inputs_is_400(counter):
    # get_counter has no inputs; TF Serving's REST predict cannot call it.
    r = counter.predict("counter", {"signature_name": "get_counter", "inputs": {}})
    assert_error(r, 400)


# ---------------------------------------------------------------- Server-Timing

def server_timing(resp):
    """Server-Timing's metrics as {name: milliseconds}."""
    parts = {}
    for metric in resp.headers["Server-Timing"].split(","):
        name, _, dur = metric.strip().partition(";dur=")
        parts[name] = float(dur)
    return parts


def test_server_timing_says_where_the_time_went(workers, half_plus_two):
    """--server_timing=1: each answer says how long its request waited for an inference
    thread, was converted (JSON to tensors and back) and ran in TensorFlow; off by default."""
    timed = workers.serve(tfs_model("saved_model_half_plus_two_cpu"), "default", "--server_timing=1")
    body = {"instances": [1.0, 2.0, 5.0]}
    ok_json(timed.predict("default", body))  # the first run warms TensorFlow up
    r = timed.predict("default", body)
    assert ok_json(r) == {"predictions": [2.5, 3.0, 4.5]}
    parts = server_timing(r)
    assert set(parts) == {"queue", "convert", "run"}, r.headers["Server-Timing"]
    assert all(v >= 0 for v in parts.values()), parts
    assert parts["run"] > 0, parts  # TensorFlow did run
    assert sum(parts.values()) <= r.elapsed.total_seconds() * 1e3, (parts, r.elapsed)
    status = timed.get("/v1/models/default")  # no inference: no run time
    assert status.status_code == 200 and server_timing(status)["run"] == 0
    assert "Server-Timing" not in half_plus_two.predict("default", body).headers

