"""GET model status and metadata."""

import json

import pytest

from roma_http import TFS_DATA, assert_error, ok_json

pytestmark = pytest.mark.tfserving_data

AVAILABLE_123 = {"model_version_status": [{"version": "123", "state": "AVAILABLE",
                                           "status": {"error_code": "OK", "error_message": ""}}]}


def test_status_like_tfserving(half_plus_two):
    assert ok_json(half_plus_two.get("/v1/models/default")) == AVAILABLE_123


def test_status_of_version(half_plus_two):
    assert ok_json(half_plus_two.get("/v1/models/default/versions/123")) == AVAILABLE_123


def test_status_unknown_model(half_plus_two):
    assert_error(half_plus_two.get("/v1/models/nope"), 404, "nope")


def test_status_unknown_version(half_plus_two):
    assert_error(half_plus_two.get("/v1/models/default/versions/99"), 404, "99")


def _sorted(obj):
    # TF Serving's own test compares the metadata as an order-free JSON object.
    if isinstance(obj, dict):
        return {k: _sorted(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return sorted((_sorted(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
    return obj


def test_metadata_like_tfserving(half_plus_two):
    expected = json.loads((TFS_DATA / "half_plus_two_model_metadata.json").read_text())
    got = ok_json(half_plus_two.get("/v1/models/default/metadata"))
    assert _sorted(got) == _sorted(expected)


def test_metadata_of_version(half_plus_two):
    got = ok_json(half_plus_two.get("/v1/models/default/versions/123/metadata"))
    assert got["model_spec"] == {"name": "default", "signature_name": "", "version": "123"}
    sigs = got["metadata"]["signature_def"]["signature_def"]
    assert set(sigs) == {"serving_default", "classify_x_to_y", "regress_x_to_y",
                         "regress_x_to_y2", "regress_x2_to_y3"}


def test_metadata_unknown_model(half_plus_two):
    assert_error(half_plus_two.get("/v1/models/nope/metadata"), 404)


def test_metadata_unknown_version(half_plus_two):
    assert_error(half_plus_two.get("/v1/models/default/versions/99/metadata"), 404)


def test_status_is_json_content_type(half_plus_two):
    r = half_plus_two.get("/v1/models/default")
    assert r.headers.get("Content-Type", "").startswith("application/json")
