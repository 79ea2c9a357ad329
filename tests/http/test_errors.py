"""Routing and request-level errors: status codes and the {"error": "..."} body."""

import pytest

from roma_http import assert_error, ok_json

pytestmark = pytest.mark.tfserving_data


# ---------------------------------------------------------------- unknown model / version

def test_unknown_model_predict_is_404(half_plus_two):
    r = half_plus_two.predict("nope", {"instances": [1.0]})
    assert_error(r, 404, "nope")


def test_unknown_model_with_version_is_404(half_plus_two):
    assert_error(half_plus_two.predict("nope", {"instances": [1.0]}, version=50), 404)


def test_unknown_version_predict_is_404(half_plus_two):
    r = half_plus_two.predict("default", {"instances": [1.0]}, version=99)
    assert_error(r, 404, "99")


def test_unknown_model_regress_is_404(half_plus_two):
    r = half_plus_two.predict("nope", {"examples": [{"x": 1.0}]}, verb="regress")
    assert_error(r, 404)


# ---------------------------------------------------------------- malformed JSON

def test_empty_body_is_400(half_plus_two):
    r = half_plus_two.post("/v1/models/default:predict", raw=b"")
    assert_error(r, 400, "JSON Parse error")


def test_malformed_json_is_400(half_plus_two):
    r = half_plus_two.post("/v1/models/default:predict", raw="instances = [1, 2]")
    assert_error(r, 400, "JSON Parse error")


def test_unterminated_json_is_400(half_plus_two):
    r = half_plus_two.post("/v1/models/default:predict", raw='{"instances": [1.0, 2.0')
    assert_error(r, 400)


def test_trailing_garbage_after_json_is_400(half_plus_two):
    r = half_plus_two.post("/v1/models/default:predict", raw='{"instances": [1.0]} xyz')
    assert_error(r, 400)


def test_json_error_message_is_valid_json_string(half_plus_two):
    # Messages that quote the input must still be a well-formed JSON string.
    r = half_plus_two.predict("default", {"instances": ['quote " backslash \\ newline \n']})
    msg = assert_error(r, 400)
    assert isinstance(msg, str)


# ---------------------------------------------------------------- unsupported methods / URLs

@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/foo"),
    ("POST", "/v1/foo"),
    ("POST", "/v1/models"),
    ("GET", "/v1/models/default:predict"),
    ("POST", "/v1/models/default"),
    ("POST", "/v1/models/default/metadata"),
    ("POST", "/v1/models/default/version/123:predict"),
    ("POST", "/v1/models/default/versions/abc:predict"),
    ("POST", "/v1/models/default/versions/123/labels/x:predict"),
    ("POST", "/v1/models/default:explain"),
    ("GET", "/v1/models/default/debug/x"),
    ("PUT", "/v1/models/default"),
    ("DELETE", "/v1/models/default"),
])
def test_malformed_request_is_400(half_plus_two, method, path):
    # TF Serving answers INVALID_ARGUMENT "Malformed request: <METHOD> <path>" -> 400, not 404.
    r = half_plus_two.session.request(method, half_plus_two.url(path), data=b'{"instances": [1.0]}',
                                      timeout=30)
    assert_error(r, 400)


def test_missing_model_name_is_400(half_plus_two):
    assert_error(half_plus_two.get("/v1/models"), 400, "Missing model name")


def test_version_too_large_is_400(half_plus_two):
    r = half_plus_two.post("/v1/models/default/versions/18446744073709551615:predict",
                           {"instances": [1.0]})
    assert_error(r, 400)


def test_path_outside_v1_is_404(half_plus_two):
    r = half_plus_two.get("/index.html")
    assert r.status_code == 404, r.text


def test_url_encoded_model_name(half_plus_two):
    # Model names are URL-decoded: %64efault == default.
    r = half_plus_two.post("/v1/models/%64efault:predict", {"instances": [2.0]})
    assert ok_json(r) == {"predictions": [3.0]}


def test_still_serving(half_plus_two):
    assert ok_json(half_plus_two.predict("default", {"instances": [2.0]})) == {"predictions": [3.0]}
