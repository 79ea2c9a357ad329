"""Versions, version policies, labels and multi-model --model_config_file."""

import pytest

from roma_http import assert_error, model_config_text, ok_json, tfs_model

pytestmark = pytest.mark.tfserving_data

TWO = "saved_model_half_plus_two_2_versions"  # versions 123 and 124, same weights


def versions_of(status_body):
    return sorted(int(s["version"]) for s in status_body["model_version_status"])


# ---------------------------------------------------------------- default policy: latest only

@pytest.fixture(scope="module")
def two_latest(workers):
    return workers.serve(tfs_model(TWO), "hp2")


def test_default_policy_serves_highest_version(two_latest):
    body = ok_json(two_latest.get("/v1/models/hp2"))
    assert versions_of(body) == [124]
    assert body["model_version_status"][0]["state"] == "AVAILABLE"
    meta = ok_json(two_latest.get("/v1/models/hp2/metadata"))
    assert meta["model_spec"]["version"] == "124"


def test_default_policy_predict_latest_and_explicit(two_latest):
    assert ok_json(two_latest.predict("hp2", {"instances": [2.0]})) == {"predictions": [3.0]}
    assert ok_json(two_latest.predict("hp2", {"instances": [2.0]}, version=124)) == {"predictions": [3.0]}


def test_default_policy_older_version_not_served(two_latest):
    assert_error(two_latest.predict("hp2", {"instances": [2.0]}, version=123), 404)
    assert_error(two_latest.get("/v1/models/hp2/versions/123"), 404)


def test_unknown_version_is_404(two_latest):
    assert_error(two_latest.predict("hp2", {"instances": [2.0]}, version=99), 404)
    assert_error(two_latest.get("/v1/models/hp2/versions/99/metadata"), 404)


def test_zero_padded_version_in_url(two_latest):
    # Versions are numbers: /versions/00124 is version 124.
    assert ok_json(two_latest.post("/v1/models/hp2/versions/00124:predict",
                                   {"instances": [2.0]})) == {"predictions": [3.0]}


# ---------------------------------------------------------------- all {} + labels, several models

@pytest.fixture(scope="module")
def multi(workers):
    return workers.serve_config([
        {"name": "hp2", "base_path": tfs_model(TWO), "policy": "all",
         "labels": {"stable": 123, "canary": 124}},
        {"name": "half_plus_two", "base_path": tfs_model("saved_model_half_plus_two_cpu")},
        {"name": "half_plus_three", "base_path": tfs_model("saved_model_half_plus_three")},
    ], ready_model="hp2")


def _wait_all_loaded(worker, name, want, timeout=60):
    import time
    deadline = time.monotonic() + timeout
    while True:
        r = worker.get(f"/v1/models/{name}")
        if r.status_code == 200 and versions_of(r.json()) == want and \
                all(s["state"] == "AVAILABLE" for s in r.json()["model_version_status"]):
            return r.json()
        if time.monotonic() > deadline:
            pytest.fail(f"{name} never reached versions {want}: {r.status_code} {r.text}")
        time.sleep(0.2)


def test_config_all_policy_serves_both_versions(multi):
    body = _wait_all_loaded(multi, "hp2", [123, 124])
    # current TF Serving lists the newest version first
    assert [s["version"] for s in body["model_version_status"]] == ["124", "123"]
    for v in (123, 124):
        assert ok_json(multi.predict("hp2", {"instances": [2.0]}, version=v)) == {"predictions": [3.0]}
        meta = ok_json(multi.get(f"/v1/models/hp2/versions/{v}/metadata"))
        assert meta["model_spec"]["version"] == str(v)


def test_config_all_policy_default_is_highest(multi):
    _wait_all_loaded(multi, "hp2", [123, 124])
    meta = ok_json(multi.get("/v1/models/hp2/metadata"))
    assert meta["model_spec"]["version"] == "124"


def test_labels_route_to_versions(multi):
    _wait_all_loaded(multi, "hp2", [123, 124])
    for label, version in (("stable", "123"), ("canary", "124")):
        r = multi.predict("hp2", {"instances": [2.0, 4.0]}, label=label)
        assert ok_json(r) == {"predictions": [3.0, 4.0]}
        st = ok_json(multi.get(f"/v1/models/hp2/labels/{label}"))
        assert [s["version"] for s in st["model_version_status"]] == [version]
        meta = ok_json(multi.get(f"/v1/models/hp2/labels/{label}/metadata"))
        assert meta["model_spec"]["version"] == version


def test_label_with_classify_and_regress(multi):
    r = multi.predict("hp2", {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
                      label="stable", verb="regress")
    assert ok_json(r) == {"results": [42.0]}
    r = multi.predict("hp2", {"signature_name": "classify_x_to_y", "examples": [{"x": 10.0}]},
                      label="canary", verb="classify")
    assert ok_json(r) == {"results": [[["", 7.0]]]}


def test_unknown_label_is_400(multi):
    r = multi.predict("hp2", {"instances": [2.0]}, label="nope")
    assert_error(r, 400, "Unrecognized servable version label")
    assert_error(multi.get("/v1/models/hp2/labels/nope"), 400)


def test_label_on_model_without_labels_is_400(multi):
    assert_error(multi.predict("half_plus_two", {"instances": [2.0]}, label="stable"), 400)


def test_several_models_from_one_config(multi):
    assert ok_json(multi.predict("half_plus_two", {"instances": [2.0]})) == {"predictions": [3.0]}
    assert ok_json(multi.predict("half_plus_three", {"instances": [2.0]})) == {"predictions": [4.0]}
    for name in ("half_plus_two", "half_plus_three"):
        assert versions_of(ok_json(multi.get(f"/v1/models/{name}"))) == [123]


def test_model_not_in_config_is_404(multi):
    assert_error(multi.predict("default", {"instances": [2.0]}), 404)


# ---------------------------------------------------------------- specific {} policy

@pytest.fixture(scope="module")
def specific(workers):
    return workers.serve_config([
        {"name": "hp2", "base_path": tfs_model(TWO), "policy": ("specific", [123])},
    ])


def test_specific_policy_serves_only_listed_version(specific):
    assert versions_of(ok_json(specific.get("/v1/models/hp2"))) == [123]
    meta = ok_json(specific.get("/v1/models/hp2/metadata"))
    assert meta["model_spec"]["version"] == "123"
    assert_error(specific.predict("hp2", {"instances": [2.0]}, version=124), 404)
    assert ok_json(specific.predict("hp2", {"instances": [2.0]})) == {"predictions": [3.0]}


# ---------------------------------------------------------------- latest { num_versions: 2 }

@pytest.fixture(scope="module")
def latest_two(workers):
    return workers.serve_config([
        {"name": "hp2", "base_path": tfs_model(TWO), "policy": ("latest", 2)},
    ])


def test_latest_num_versions_2(latest_two):
    _wait_all_loaded(latest_two, "hp2", [123, 124])
    assert ok_json(latest_two.predict("hp2", {"instances": [2.0]}, version=123)) == {"predictions": [3.0]}


def test_config_text_format_example():
    # Sanity check of the helper that writes TF Serving text-format configs.
    text = model_config_text([{"name": "m", "base_path": "/p", "policy": "all", "labels": {"a": 1}}])
    assert 'name: "m"' in text and "model_version_policy { all {} }" in text
    assert 'version_labels { key: "a" value: 1 }' in text
