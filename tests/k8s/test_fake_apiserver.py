"""Tests of the fake Kubernetes API server itself (fake_apiserver.py), through HTTP.

They hold the fake to the documented behaviour ROMA's cluster mode relies on (API
concepts: list, labelSelector, resourceVersion, watch, bookmarks, 410 Expired; KEP-1287:
the resize subresource, its validation, generation and the kubelet's status), so that a
client that passes against the fake was tested against that behaviour.  The last test
backs pods with real `roma worker` processes whose cgroup quota the resize really moves.
"""

import json
import time

import pytest
import requests

from conftest import MERGE, SMP, KubeClient
from fake_apiserver import ROMA_TOKEN, FakeApiServer


def cond(pod, ctype):
    return next((c for c in pod["status"]["conditions"] if c["type"] == ctype), None)


def cpus(pod, container=0):
    """(desired request, allocated request, actual request, actual limit) of the cpu."""
    spec = pod["spec"]["containers"][container]["resources"]
    cs = pod["status"]["containerStatuses"][container]
    return (spec["requests"]["cpu"], cs["allocatedResources"].get("cpu"),
            cs["resources"].get("requests", {}).get("cpu"), cs["resources"].get("limits", {}).get("cpu"))


def assert_status(resp, code, reason, *fragments):
    """resp is a Kubernetes Status error with that code and reason; returns it."""
    assert resp.status_code == code, f"expected {code}, got {resp.status_code}: {resp.text[:1500]}"
    assert resp.headers["Content-Type"].startswith("application/json")
    st = resp.json()
    assert (st["kind"], st["apiVersion"], st["status"]) == ("Status", "v1", "Failure"), st
    assert st["code"] == code and st["reason"] == reason, st
    for f in fragments:
        assert f in st["message"], f"{f!r} not in {st['message']!r}"
    return st


def settled(name, cpu):
    """Predicate: the pod's resize to cpu is complete and observed."""
    def check(fake):
        p = fake.pod(name)
        return (p and cpus(p)[1:] == (cpu, cpu, cpu)
                and p["status"]["observedGeneration"] == p["metadata"]["generation"]
                and not cond(p, "PodResizeInProgress") and not cond(p, "PodResizePending"))
    return check


# --------------------------------------------------------------------------
# list, watch
# --------------------------------------------------------------------------

def test_list_with_label_selector(fake_api, kube):
    fake_api.create_pod("mlp-0", cpu="0.5", labels={"roma/model": "mlp", "roma/role": "worker"})
    fake_api.create_pod("mlp-1", cpu="0.5", labels={"roma/model": "mlp", "roma/role": "worker"})
    fake_api.create_pod("resnet-0", cpu="1", labels={"roma/model": "resnet", "roma/role": "worker"})
    fake_api.create_pod("other", cpu="0.1", labels={"app": "other"})
    fake_api.create_pod("elsewhere", cpu="0.1", labels={"roma/model": "mlp"}, namespace="default")

    def names(**params):
        r = kube.list(**params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["kind"] == "PodList" and body["apiVersion"] == "v1"
        assert body["metadata"]["resourceVersion"] == fake_api.resource_version
        assert all("kind" not in p for p in body["items"]), "list items carry no kind"
        return [p["metadata"]["name"] for p in body["items"]]

    assert names() == ["elsewhere", "mlp-0", "mlp-1", "other", "resnet-0"][1:]  # namespace roma only
    assert names(labelSelector="roma/model=mlp") == ["mlp-0", "mlp-1"]
    assert names(labelSelector="roma/model==resnet,roma/role=worker") == ["resnet-0"]
    assert names(labelSelector="roma/model in (mlp, resnet),roma/model!=mlp") == ["resnet-0"]
    assert names(labelSelector="roma/model notin (mlp)") == ["other", "resnet-0"]
    assert names(labelSelector="!roma/model") == ["other"]
    assert names(labelSelector="app") == ["other"]
    assert names(fieldSelector="metadata.name=mlp-1") == ["mlp-1"]
    assert_status(kube.list(labelSelector="roma/model in mlp"), 400, "BadRequest", "labelSelector")

    # paging: limit + continue give the same snapshot
    r = kube.list(limit=2).json()
    assert len(r["items"]) == 2 and r["metadata"]["remainingItemCount"] == 2
    r2 = kube.list(limit=2, **{"continue": r["metadata"]["continue"]}).json()
    assert [p["metadata"]["name"] for p in r["items"] + r2["items"]] == ["mlp-0", "mlp-1", "other", "resnet-0"]
    assert "continue" not in r2["metadata"]


def test_list_resource_version_semantics(fake_api, kube):
    fake_api.create_pod("a", cpu="1")
    rv = kube.list().json()["metadata"]["resourceVersion"]
    assert kube.resize_cpu("a", "2").status_code == 200
    # NotOlderThan (default): the latest state; Exact: the state at rv
    assert cpus(kube.list(resourceVersion=rv).json()["items"][0])[0] == "2"
    exact = kube.list(resourceVersion=rv, resourceVersionMatch="Exact").json()
    assert exact["metadata"]["resourceVersion"] == rv and cpus(exact["items"][0])[0] == "1"
    fake_api.compact()
    assert_status(kube.list(resourceVersion=rv, resourceVersionMatch="Exact"), 410, "Expired")
    fake_api.too_large_wait_s = 0.1
    st = assert_status(kube.list(resourceVersion=str(int(fake_api.resource_version) + 100)), 504, "Timeout",
                       "Too large resource version")
    assert st["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"


def test_watch_from_resource_version_sees_later_events(fake_api, kube):
    fake_api.create_pod("before", cpu="1", labels={"roma/model": "mlp"})
    rv = kube.list(labelSelector="roma/model=mlp").json()["metadata"]["resourceVersion"]
    w = kube.watch(resourceVersion=rv, labelSelector="roma/model=mlp")
    assert w.status_code == 200 and w.headers.get("Transfer-Encoding") == "chunked"
    assert w.headers.get("Content-Type") == "application/json"
    fake_api.create_pod("new", cpu="0.5", labels={"roma/model": "mlp"})
    fake_api.create_pod("unrelated", cpu="0.5", labels={"roma/model": "resnet"})
    assert kube.resize_cpu("new", "1").status_code == 200
    fake_api.wait_for(settled("new", "1"), what="resize of new settles")
    fake_api.delete_pod("new")

    events = w.until(lambda e: e["type"] == "DELETED", what="DELETED of new")
    kinds = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert kinds[0] == ("ADDED", "new"), kinds
    assert ("MODIFIED", "new") in kinds and kinds[-1] == ("DELETED", "new")
    assert all(n == "new" for _, n in kinds), f"selector or resourceVersion not honoured: {kinds}"
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv), rvs
    assert events[0]["object"]["kind"] == "Pod"


def test_watch_without_resource_version_starts_with_added(fake_api, kube):
    fake_api.create_pod("a", cpu="1")
    fake_api.create_pod("b", cpu="1")
    w = kube.watch()
    got = [w.next(), w.next()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [("ADDED", "a"), ("ADDED", "b")]


def test_bookmarks_only_when_allowed(fake_api, kube):
    fake_api.create_pod("a", cpu="1")
    rv = fake_api.resource_version
    with_bm = kube.watch(resourceVersion=rv, allowWatchBookmarks="true")
    without = kube.watch(resourceVersion=rv)
    ev = with_bm.next(timeout=5)
    assert ev["type"] == "BOOKMARK", ev
    assert ev["object"]["kind"] == "Pod" and set(ev["object"]["metadata"]) <= {"resourceVersion", "creationTimestamp"}
    assert int(ev["object"]["metadata"]["resourceVersion"]) >= int(rv)
    fake_api.send_bookmarks()
    time.sleep(0.5)
    assert kube.resize_cpu("a", "2").status_code == 200
    ev = without.next()
    assert ev["type"] == "MODIFIED", f"a BOOKMARK without allowWatchBookmarks: {ev}"
    # a watch resumed from a bookmark's resourceVersion misses nothing
    bm = with_bm.until(lambda e: e["type"] == "BOOKMARK" and
                       int(e["object"]["metadata"]["resourceVersion"]) >= int(ev["object"]["metadata"]["resourceVersion"]))
    fake_api.wait_for(settled("a", "2"))
    bm = with_bm.until(lambda e: e["type"] == "BOOKMARK" and
                       int(e["object"]["metadata"]["resourceVersion"]) == int(fake_api.resource_version))
    resumed = kube.watch(resourceVersion=bm[-1]["object"]["metadata"]["resourceVersion"])
    assert kube.resize_cpu("a", "1").status_code == 200
    first = resumed.next()
    assert first["type"] == "MODIFIED" and cpus(first["object"])[0] == "1", \
        "a watch resumed from the last bookmark starts right after it"


def test_expired_resource_version_gets_410_then_relist_works(fake_api, kube):
    fake_api.create_pod("a", cpu="1")
    old_rv = kube.list().json()["metadata"]["resourceVersion"]
    fake_api.set_watch_window(2)
    for cpu in ("1.1", "1.2", "1.3"):
        assert kube.resize_cpu("a", cpu).status_code == 200
    fake_api.wait_for(settled("a", "1300m"))
    w = kube.watch(resourceVersion=old_rv)
    assert w.status_code == 200
    ev = w.next()
    assert ev["type"] == "ERROR", ev
    st = ev["object"]
    assert (st["kind"], st["apiVersion"], st["status"], st["code"]) == ("Status", "v1", "Failure", 410)
    assert st["reason"] in ("Expired", "Gone") and "too old resource version" in st["message"]
    assert w.next() is None, "the stream ends after the ERROR event"

    fake_api.set_watch_window(1000)   # a window of 2 would expire a watcher slower than the kubelet
    relist = kube.list().json()
    new_rv = relist["metadata"]["resourceVersion"]
    w2 = kube.watch(resourceVersion=new_rv)
    assert kube.resize_cpu("a", "1").status_code == 200
    ev = w2.next()
    assert ev["type"] == "MODIFIED" and cpus(ev["object"])[0] == "1"

    # the same as a plain HTTP 410 (some API server paths answer so)
    fake_api.expired_as_http_error = True
    assert_status(kube.session.get(kube.pods_url(), params={"watch": "1", "resourceVersion": old_rv}),
                  410, "Expired", "too old resource version")


# --------------------------------------------------------------------------
# errors: 401, 403, 404, 409, 415, 422
# --------------------------------------------------------------------------

def test_unauthorized_and_forbidden(fake_api, kube):
    fake_api.create_pod("a", cpu="1")
    for token in (None, "wrong-token"):
        with KubeClient(fake_api.url, token) as c:
            assert_status(c.list(), 401, "Unauthorized")
            assert_status(c.resize_cpu("a", "2"), 401, "Unauthorized")
    # the Role ROMA gets has no delete, and is bound to namespace roma only
    assert_status(kube.delete("a"), 403, "Forbidden", "cannot delete")
    with KubeClient(fake_api.url, ROMA_TOKEN, namespace="default") as other:
        assert_status(other.list(), 403, "Forbidden", 'namespace "default"')
    assert fake_api.pod("a") is not None


def test_not_found(fake_api, kube):
    st = assert_status(kube.get("nope"), 404, "NotFound", 'pods "nope" not found')
    assert st["details"] == {"name": "nope", "kind": "pods"}
    assert_status(kube.resize_cpu("nope", "1"), 404, "NotFound")


def test_stale_resource_version_is_409(fake_api, kube):
    pod = fake_api.create_pod("a", cpu="1")
    stale = pod["metadata"]["resourceVersion"]
    assert kube.resize_cpu("a", "1.5").status_code == 200
    st = assert_status(kube.resize_cpu("a", "2", rv=stale), 409, "Conflict", "the object has been modified")
    assert st["details"]["name"] == "a"
    assert cpus(fake_api.pod("a"))[0] == "1500m", "a refused patch changed the pod"
    fresh = kube.get("a").json()["metadata"]["resourceVersion"]
    r = kube.resize_cpu("a", "2", rv=fresh)
    assert r.status_code == 200 and cpus(r.json())[0] == "2"


def test_unsupported_patch_type_is_415(fake_api, kube):
    fake_api.create_pod("a", cpu="1")
    r = kube.patch_resize("a", [{"op": "replace", "path": "/spec", "value": {}}],
                          content_type="application/json-patch+json")
    assert_status(r, 415, "UnsupportedMediaType", "strategic-merge-patch")


INVALID = {
    # name: (pod kwargs, patch resources, field named, message fragment)
    # Guaranteed needs requests = limits for cpu and memory; limits above requests: Burstable
    "qos-change": (dict(cpu="1", memory="64Mi"), {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}},
                   "spec", "QOS"),
    "limit-removed": (dict(cpu="1"), {"limits": {"cpu": None}},
                      "spec.containers[0].resources.limits[cpu]", "cannot be removed"),
    "request-removed": (dict(cpu="1", limits_cpu=None, memory="64Mi"), {"requests": {"cpu": None}},
                        "spec.containers[0].resources.requests[cpu]", "cannot be removed"),
    "request-above-limit": (dict(cpu="1", limits_cpu="2"), {"requests": {"cpu": "3"}},
                            "spec.containers[0].resources.requests", "less than or equal to cpu limit"),
    "not-cpu-or-memory": (dict(cpu="1"), {"limits": {"ephemeral-storage": "1Gi"}},
                          "spec.containers[0].resources.limits[ephemeral-storage]", "only cpu and memory"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_resize_is_422(fake_api, kube, case):
    pod_kw, resources, field, fragment = INVALID[case]
    before = fake_api.create_pod("a", **pod_kw)
    r = kube.patch_resize("a", {"spec": {"containers": [{"name": "worker", "resources": resources}]}})
    st = assert_status(r, 422, "Invalid", 'Pod "a" is invalid', fragment)
    assert st["details"]["name"] == "a" and st["details"]["kind"] == "Pod"
    assert field in [c["field"] for c in st["details"]["causes"]], st["details"]["causes"]
    after = fake_api.pod("a")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"] == before["spec"]


def test_container_set_cannot_change(fake_api, kube):
    fake_api.create_pod("a", cpu="1")
    res = {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}
    r = kube.patch_resize("a", {"spec": {"containers": [{"name": "sidecar", "image": "x", "resources": res}]}})
    assert "spec.containers" in [c["field"] for c in assert_status(r, 422, "Invalid")["details"]["causes"]]
    # a merge patch replaces the list: renaming the only container is refused too
    r = kube.patch_resize("a", {"spec": {"containers": [{"name": "renamed", "resources": res}]}}, MERGE)
    assert_status(r, 422, "Invalid")


def test_non_resource_changes_are_dropped(fake_api, kube):
    """As the real resize strategy does: only resources/resizePolicy are taken from the request."""
    before = fake_api.create_pod("a", cpu="1", labels={"x": "1"})
    r = kube.patch_resize("a", {"metadata": {"labels": {"x": "2"}},
                                "spec": {"nodeName": "node-b",
                                         "containers": [{"name": "worker", "image": "evil:latest"}]}})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], \
        "nothing changed: no new resourceVersion"
    after = fake_api.pod("a")
    assert after["metadata"]["labels"] == {"x": "1"} and after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == 1


# --------------------------------------------------------------------------
# accepted resizes and the kubelet (KEP-1287)
# --------------------------------------------------------------------------

def test_accepted_resize_then_kubelet_status_as_separate_events(fake_api, kube):
    pod = fake_api.create_pod("a", cpu="1")
    w = kube.watch(resourceVersion=pod["metadata"]["resourceVersion"])
    fake_api.set_kubelet_delays(admit=0.2, actuate=0.2)
    r = kube.resize_cpu("a", "1.5")
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "Pod" and body["metadata"]["generation"] == 2
    assert int(body["metadata"]["resourceVersion"]) > int(pod["metadata"]["resourceVersion"])
    assert body["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "1500m"}, "limits": {"cpu": "1500m"}}
    assert body["status"]["observedGeneration"] == 1, "the kubelet has not seen it yet"

    events = w.until(lambda e: e["type"] == "MODIFIED" and cpus(e["object"])[2] == "1500m")
    assert len(events) == 3, [e["object"]["status"] for e in events]
    spec_ev, admitted, actuated = (e["object"] for e in events)
    assert cpus(spec_ev) == ("1500m", "1", "1", "1") and spec_ev["status"]["observedGeneration"] == 1
    assert cpus(admitted)[:3] == ("1500m", "1500m", "1") and admitted["status"]["observedGeneration"] == 2
    ip = cond(admitted, "PodResizeInProgress")
    assert ip and ip["status"] == "True" and "reason" not in ip and ip["observedGeneration"] == 2
    assert cpus(actuated) == ("1500m", "1500m", "1500m", "1500m")
    assert not cond(actuated, "PodResizeInProgress") and not cond(actuated, "PodResizePending")
    assert actuated["metadata"]["generation"] == 2 and actuated["status"]["observedGeneration"] == 2


def test_kep_flow_replayed(fake_api, kube):
    """KEP-1287's own flow: cpu 1 -> 1.5 -> 2 (Deferred) -> 1.6 -> 2 again (Deferred, then
    admitted when another pod shrinks) -> 100 (Infeasible, never retried)."""
    fake_api.set_node("node-a", cpu=4)
    fake_api.create_pod("neighbour", cpu="2.4")
    fake_api.create_pod("a", cpu="1")

    def patch(cpu):
        r = kube.resize_cpu("a", cpu)
        assert r.status_code == 200, r.text
        return r.json()["metadata"]["generation"]

    def observed(gen):
        return lambda f: f.pod("a")["status"]["observedGeneration"] >= gen and f.pod("a")

    gen = patch("1.5")                                        # 1 + 2.4 -> 1.5 + 2.4 = 3.9: fits
    fake_api.wait_for(settled("a", "1500m"), what="1.5 accepted")
    assert fake_api.pod("a")["status"]["observedGeneration"] == gen == 2

    gen = patch("2")                                          # 2 + 2.4 = 4.4 > 4: Deferred
    p = fake_api.wait_for(observed(gen), what="2 observed")
    pending = cond(p, "PodResizePending")
    assert pending and pending["reason"] == "Deferred" and pending["observedGeneration"] == gen, p["status"]
    assert "cpu" in pending["message"]
    assert cpus(p) == ("2", "1500m", "1500m", "1500m"), "a Deferred resize changes nothing"
    time.sleep(0.5)                                           # retried, still no room
    assert cpus(fake_api.pod("a"))[1] == "1500m"

    gen = patch("1.6")                                        # 1.6 + 2.4 = 4.0: fits
    fake_api.wait_for(settled("a", "1600m"), what="1.6 accepted")
    assert fake_api.pod("a")["status"]["observedGeneration"] == gen

    gen = patch("2")                                          # Deferred again ...
    fake_api.wait_for(lambda f: (cond(f.pod("a"), "PodResizePending") or {}).get("reason") == "Deferred")
    assert kube.resize_cpu("neighbour", "2").status_code == 200   # ... until the neighbour shrinks
    fake_api.wait_for(settled("neighbour", "2"), what="neighbour shrinks")
    fake_api.wait_for(settled("a", "2"), what="deferred 2 admitted once room appeared")

    gen = patch("100")                                        # above the node's 4 CPUs
    p = fake_api.wait_for(observed(gen), what="100 observed")
    pending = cond(p, "PodResizePending")
    assert pending and pending["reason"] == "Infeasible" and pending["observedGeneration"] == gen
    assert cpus(p) == ("100", "2", "2", "2")
    rv = p["metadata"]["resourceVersion"]
    fake_api.delete_pod("neighbour")                          # room appears, even for 100 CPUs:
    fake_api.set_node("node-a", cpu=200)                      # an Infeasible verdict is never retried
    time.sleep(0.6)
    p = fake_api.pod("a")
    assert p["metadata"]["resourceVersion"] == rv and cond(p, "PodResizePending")["reason"] == "Infeasible"
    assert cpus(p)[1:] == ("2", "2", "2")


def test_actuation_error_is_reported_and_retried(fake_api, kube):
    fake_api.create_pod("a", cpu="1")
    fake_api.set_actuation_error("a", "cgroup write failed")
    assert kube.resize_cpu("a", "1.5").status_code == 200
    p = fake_api.wait_for(lambda f: (cond(f.pod("a"), "PodResizeInProgress") or {}).get("reason") == "Error"
                          and f.pod("a"), what="PodResizeInProgress/Error")
    assert "cgroup write failed" in cond(p, "PodResizeInProgress")["message"]
    assert cpus(p)[1:3] == ("1500m", "1"), "allocated but not actuated"
    fake_api.set_actuation_error("a", None)
    fake_api.wait_for(settled("a", "1500m"), what="retried after the error cleared")


def test_actuator_is_called_with_the_new_limit(fake_api, kube):
    calls = []
    fake_api.create_pod("a", cpu="1", actuator=lambda name, cores: calls.append((name, cores)) or cores)
    assert kube.resize_cpu("a", "0.25").status_code == 200
    fake_api.wait_for(settled("a", "250m"))
    assert calls == [("a", 0.25)]


def test_resize_through_merge_patch_and_put(fake_api, kube, kube_admin):
    fake_api.create_pod("a", cpu="1")
    res = {"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}}
    r = kube.patch_resize("a", {"spec": {"containers": [{"name": "worker", "resources": res}]}}, MERGE)
    assert r.status_code == 200 and cpus(r.json())[0] == "500m", r.text
    full = r.json()
    full["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "0.75"}, "limits": {"cpu": "0.75"}}
    fake_api.wait_for(settled("a", "500m"))     # the kubelet's status writes made full stale
    put = dict(data=json.dumps(full), headers={"Content-Type": "application/json"})
    assert_status(kube.session.put(kube.pods_url("a", "resize"), **put), 403, "Forbidden",
                  "cannot update")   # ROMA's Role has patch, not update
    assert_status(kube_admin.session.put(kube.pods_url("a", "resize"), **put), 409, "Conflict")
    del full["metadata"]["resourceVersion"]     # an unconditional update
    r = kube_admin.session.put(kube.pods_url("a", "resize"), **dict(put, data=json.dumps(full)))
    assert r.status_code == 200 and cpus(r.json())[0] == "750m" and r.json()["metadata"]["generation"] == 3


def test_delete_emits_deleted_and_frees_room(fake_api, kube_admin):
    fake_api.create_pod("a", cpu="1")
    rv = fake_api.resource_version
    w = kube_admin.watch(resourceVersion=rv)
    r = kube_admin.delete("a", gracePeriodSeconds="1")
    assert r.status_code == 200 and "deletionTimestamp" in r.json()["metadata"]
    assert w.next()["type"] == "MODIFIED"
    ev = w.next(timeout=5)
    assert ev["type"] == "DELETED" and ev["object"]["metadata"]["name"] == "a"
    assert_status(kube_admin.get("a"), 404, "NotFound")


def test_api_down_and_back_on_the_same_port(fake_api, kube):
    fake_api.create_pod("a", cpu="1")
    w = kube.watch(resourceVersion=fake_api.resource_version)
    port = fake_api.port
    fake_api.stop()
    assert w.next(timeout=5) is None, "an open watch breaks when the API server goes down"
    with pytest.raises(requests.ConnectionError):
        requests.get(kube.pods_url(), timeout=2)
    fake_api.create_pod("b", cpu="1")          # the cluster goes on meanwhile
    fake_api.start()
    assert fake_api.port == port
    assert [p["metadata"]["name"] for p in kube.list().json()["items"]] == ["a", "b"]


def test_slow_api_and_injected_errors(fake_api, kube):
    fake_api.set_latency(0.5)
    t0 = time.monotonic()
    assert kube.list().status_code == 200
    assert time.monotonic() - t0 >= 0.5
    fake_api.set_latency(0)
    fake_api.inject_errors(1, 429, "TooManyRequests")
    r = kube.list()
    assert_status(r, 429, "TooManyRequests")
    assert r.headers.get("Retry-After") == "1"
    assert kube.list().status_code == 200


def test_tls_with_the_ca_file(tmp_path):
    with FakeApiServer(tls=True, workdir=tmp_path) as fake:
        fake.create_pod("a", cpu="1")
        with KubeClient(fake.url, ROMA_TOKEN, verify=fake.ca_file) as c:
            assert c.get("a").json()["metadata"]["name"] == "a"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(fake.url + "/api/v1/namespaces/roma/pods", timeout=5)


# --------------------------------------------------------------------------
# a pod backed by a real roma worker in its own cgroup
# --------------------------------------------------------------------------

def test_real_worker_pod_cgroup_quota_follows_resize(fake_api, kube, tmp_path):
    from worker_pods import WorkerPod, cgroup_skip_reason
    why = cgroup_skip_reason()
    if why:
        pytest.skip(f"real worker pod with a cgroup quota: {why}")
    pod = WorkerPod(fake_api, "mlp-0", "mlp", tmp_path, cpu="1")
    try:
        pod.wait_ready(timeout=60)
        p = kube.get("mlp-0").json()
        assert p["status"]["podIP"] == "127.0.0.1" and p["spec"]["nodeName"] == "node-a"
        port = p["spec"]["containers"][0]["ports"][0]["containerPort"]
        assert requests.get(f"http://127.0.0.1:{port}/v1/models/mlp", timeout=5).status_code == 200
        assert pod.cgroup.cores() == pytest.approx(1.0)
        assert pod.proc.pid in __import__("serve_util").cgroup_pids(pod.cgroup.path)

        assert kube.resize_cpu("mlp-0", "0.5").status_code == 200
        fake_api.wait_for(settled("mlp-0", "500m"), what="resize to 0.5 actuated")
        assert pod.cgroup.cores() == pytest.approx(0.5)
        assert cpus(fake_api.pod("mlp-0"))[3] == "500m", "actual limit read back from the cgroup"

        assert kube.resize_cpu("mlp-0", "1.5").status_code == 200
        fake_api.wait_for(settled("mlp-0", "1500m"), what="resize to 1.5 actuated")
        assert pod.cgroup.cores() == pytest.approx(1.5)
        body = json.dumps({"instances": [[0.0] * 8]})
        assert requests.post(f"http://127.0.0.1:{port}/v1/models/mlp:predict", data=body, timeout=10).status_code == 200

        fake_api.delete_pod("mlp-0")
        assert pod.proc.poll() is not None, "deleting the pod stops its worker"
        assert not pod.cgroup.path.exists()
    finally:
        pod.stop()
