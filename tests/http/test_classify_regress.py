""":classify and :regress with tf.Example JSON, as in TF Serving's server tests."""

import base64

import pytest

from roma_http import assert_error, ok_json, strict_floats, tf_example

pytestmark = pytest.mark.tfserving_data


def test_classify_like_tfserving(half_plus_two):
    # tensorflow_model_server_test.py testClassifyREST
    r = half_plus_two.predict("default", {"signature_name": "classify_x_to_y",
                                          "examples": [{"x": 2.0}]}, verb="classify")
    assert ok_json(r) == {"results": [[["", 3.0]]]}


def test_regress_like_tfserving(half_plus_two):
    # tensorflow_model_server_test.py testRegressREST
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "examples": [{"x": 2.0}]}, verb="regress")
    assert ok_json(r) == {"results": [3.0]}
    assert strict_floats(r.text) == {"results": [3.0]}


def test_regress_several_examples(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "examples": [{"x": 2.0}, {"x": 4.0}, {"x": 80.0}]},
                              verb="regress")
    assert ok_json(r) == {"results": [3.0, 4.0, 42.0]}


def test_classify_several_examples(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "classify_x_to_y",
                                          "examples": [{"x": 20.0}, {"x": 10.0}]}, verb="classify")
    assert ok_json(r) == {"results": [[["", 12.0]], [["", 7.0]]]}


def test_regress_other_signature(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y2",
                                          "examples": [{"x": 2.0}]}, verb="regress")
    assert ok_json(r) == {"results": [4.0]}


def test_feature_as_list(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "examples": [{"x": [2.0]}]}, verb="regress")
    assert ok_json(r) == {"results": [3.0]}


def test_context_features_shared_by_examples(half_plus_two):
    # "context" is merged into every example (ExampleListWithContext).
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "context": {"x": 2.0}, "examples": [{}]}, verb="regress")
    assert ok_json(r) == {"results": [3.0]}


def test_regress_with_version_in_url(half_plus_two):
    r = half_plus_two.post("/v1/models/default/versions/123:regress",
                           {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]})
    assert ok_json(r) == {"results": [3.0]}


def test_regress_predict_equivalence_with_b64(half_plus_two):
    # The same regress signature through :predict with serialized tf.Example strings.
    ex = base64.b64encode(tf_example(x=[2.0])).decode()
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "instances": [{"b64": ex}]})
    assert ok_json(r) == {"predictions": [[3.0]]}


# ---------------------------------------------------------------- errors

def test_missing_examples(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y"}, verb="regress")
    assert_error(r, 400, "examples")


def test_examples_not_a_list(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "examples": {"x": 2.0}}, verb="regress")
    assert_error(r, 400)


def test_empty_examples(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "examples": []}, verb="regress")
    assert_error(r, 400)


def test_example_not_an_object(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "examples": [2.0]}, verb="regress")
    assert_error(r, 400)


def test_null_feature_value(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "examples": [{"x": None}]}, verb="regress")
    assert_error(r, 400)


def test_integer_feature_where_float_expected(half_plus_two):
    # {"x": 2} is an int64 feature; the graph parses x as float -> INVALID_ARGUMENT.
    r = half_plus_two.predict("default", {"signature_name": "regress_x_to_y",
                                          "examples": [{"x": 2}]}, verb="regress")
    assert_error(r, 400)


def test_unknown_signature(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "nope",
                                          "examples": [{"x": 2.0}]}, verb="classify")
    assert_error(r, 400, "nope")


def test_classify_on_predict_signature(half_plus_two):
    # No signature_name means serving_default, which is not a classification signature.
    r = half_plus_two.predict("default", {"examples": [{"x": 2.0}]}, verb="classify")
    assert_error(r, 400)


def test_regress_on_classify_signature(half_plus_two):
    r = half_plus_two.predict("default", {"signature_name": "classify_x_to_y",
                                          "examples": [{"x": 2.0}]}, verb="regress")
    assert_error(r, 400)


def test_classify_unknown_model(half_plus_two):
    r = half_plus_two.predict("nope", {"signature_name": "classify_x_to_y",
                                       "examples": [{"x": 2.0}]}, verb="classify")
    assert_error(r, 404)


def test_regress_malformed_json(half_plus_two):
    assert_error(half_plus_two.post("/v1/models/default:regress", raw="{examples: "), 400)
