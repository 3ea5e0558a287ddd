"""labsim selftest: Kubernetes batch/v1 (CronJobs, Jobs) in kubernetes.py."""

import http.client
import json


def post(inst, path, obj):
    c = inst.conn("kubernetes")
    try:
        c.request("POST", path, body=json.dumps(obj).encode(),
                  headers={"Authorization": "Bearer " + inst.state["k8s_token"], "Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


def patch(inst, path, body, ctype="application/merge-patch+json", auth=True):
    """PATCH path with body (an object, sent as JSON, or bytes as they are) -> (status, answer)."""
    c = inst.conn("kubernetes")
    h = {"Content-Type": ctype}
    if auth:
        h["Authorization"] = "Bearer " + inst.state["k8s_token"]
    try:
        c.request("PATCH", path, body=body if isinstance(body, bytes) else json.dumps(body).encode(), headers=h)
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


def cronjob(inst, name):
    st, _, _, body = inst.get("kubernetes", "/apis/batch/v1/namespaces/batch/cronjobs/" + name)
    return json.loads(body)


def listed_suspend(inst, path):
    st, _, _, body = inst.get("kubernetes", path)
    return {i["metadata"]["name"]: i["spec"]["suspend"] for i in json.loads(body)["items"]}


def suspend_checks(inst, check):
    cj_path = "/apis/batch/v1/namespaces/batch/cronjobs/"
    before = cronjob(inst, "rag-reindex")
    st, j = patch(inst, cj_path + "rag-reindex?fieldManager=labdeck", {"spec": {"suspend": True}})
    md, omd = j.get("metadata", {}), before["metadata"]
    check("suspend: merge patch -> 200 with the CronJob, suspend true", st == 200 and j["kind"] == "CronJob"
          and j["spec"]["suspend"] is True and j["spec"]["schedule"] == "0 3 * * *", (st, j))
    check("suspend: resourceVersion and generation bumped, uid kept",
          int(md["resourceVersion"]) > int(omd["resourceVersion"]) and md["generation"] == omd["generation"] + 1
          and md["uid"] == omd["uid"] and j["status"] == before["status"], (omd, md))
    check("suspend: GET, the namespace's list and the all-namespaces list show it",
          cronjob(inst, "rag-reindex")["spec"]["suspend"] is True
          and listed_suspend(inst, "/apis/batch/v1/namespaces/batch/cronjobs") ==
          {"rag-reindex": True, "backup-etcd": False, "always-fails": False}
          and listed_suspend(inst, "/apis/batch/v1/cronjobs")["rag-reindex"] is True)
    st, j2 = patch(inst, cj_path + "rag-reindex", {"spec": {"suspend": True}})
    check("suspend: the same patch again changes nothing, not even resourceVersion",
          st == 200 and j2["metadata"]["resourceVersion"] == md["resourceVersion"], (st, j2.get("metadata")))
    st, j = patch(inst, cj_path + "rag-reindex", [{"op": "test", "path": "/spec/suspend", "value": True},
                                                  {"op": "replace", "path": "/spec/suspend", "value": False}],
                  "application/json-patch+json")
    check("resume: JSON patch (test, replace) -> suspend false", st == 200 and j["spec"]["suspend"] is False
          and cronjob(inst, "rag-reindex")["spec"]["suspend"] is False, (st, j))
    st, e = patch(inst, cj_path + "rag-reindex", [{"op": "replace", "path": "/spec/nope", "value": 1}],
                  "application/json-patch+json")
    check("JSON patch on a missing key -> 422 Invalid, nothing changed", st == 422 and e["reason"] == "Invalid"
          and "doc is missing key: /spec/nope" in e["details"]["causes"][0]["message"]
          and cronjob(inst, "rag-reindex")["metadata"]["resourceVersion"] == j["metadata"]["resourceVersion"], e)
    st, j = patch(inst, cj_path + "backup-etcd", {"spec": {"suspend": True}},
                  "application/strategic-merge-patch+json; charset=utf-8")
    check("suspend: strategic merge patch -> suspend true", st == 200 and j["spec"]["suspend"] is True, (st, j))
    st, j = patch(inst, cj_path + "backup-etcd", {"spec": {"suspend": None}})
    check("merge patch null: the field goes, the default (false) comes back", st == 200
          and j["spec"]["suspend"] is False, (st, j))
    st, e = patch(inst, cj_path + "backup-etcd", {"spec": {"suspend": "yes"}})
    check("suspend: a string -> 400 as Go's decoder says it", st == 400
          and e["message"] == "json: cannot unmarshal string into Go struct field CronJobSpec.spec.suspend "
                              "of type bool", e)
    st, e = patch(inst, cj_path + "backup-etcd", {"metadata": {"resourceVersion": "1"}, "spec": {"suspend": True}})
    check("a stale resourceVersion in the patch -> 409 Conflict", st == 409 and e["reason"] == "Conflict"
          and cronjob(inst, "backup-etcd")["spec"]["suspend"] is False, e)
    st, e = patch(inst, cj_path + "rag-reindex", {"spec": {"suspend": True}}, "application/json")
    check("PATCH as application/json -> 415 UnsupportedMediaType with the apiserver's message", st == 415
          and e["kind"] == "Status" and e["reason"] == "UnsupportedMediaType" and e["code"] == 415
          and e["message"] == "the body of the request was in an unknown format - accepted media types include: "
                              "application/json-patch+json, application/merge-patch+json, "
                              "application/apply-patch+yaml, application/strategic-merge-patch+json", e)
    st, e = patch(inst, cj_path + "nope", {"spec": {"suspend": True}})
    check("suspend an unknown CronJob -> 404 NotFound", st == 404 and e["reason"] == "NotFound"
          and e["message"] == 'cronjobs.batch "nope" not found', e)
    st, e = patch(inst, "/apis/batch/v1/namespaces/lab/cronjobs/rag-reindex", {"spec": {"suspend": True}})
    check("suspend in the wrong namespace -> 404", st == 404, e)
    st, e = patch(inst, cj_path + "rag-reindex", {"spec": {"suspend": True}}, auth=False)
    check("suspend without credentials -> 401", st == 401, e)
    st, d = inst.admin("POST", "/kubernetes/rbac", {"deny": ["patch cronjobs"]})
    check("admin /kubernetes/rbac takes a deny list", st == 200 and d == {"deny": ["patch cronjobs"]}, d)
    st, e = patch(inst, cj_path + "rag-reindex", {"spec": {"suspend": True}})
    check("suspend without the RBAC verb patch -> 403 Forbidden in RBAC's words", st == 403
          and e["reason"] == "Forbidden" and e["message"] ==
          'cronjobs.batch "rag-reindex" is forbidden: User "labdeck-admin" cannot patch resource "cronjobs" '
          'in API group "batch" in the namespace "batch"'
          and e["details"] == {"name": "rag-reindex", "group": "batch", "kind": "cronjobs"}, e)
    st, _, _, body = inst.get("kubernetes", cj_path + "rag-reindex")
    check("... while get (another verb) is still allowed, and nothing changed", st == 200
          and json.loads(body)["spec"]["suspend"] is False)
    st, d = inst.admin("POST", "/kubernetes/rbac", {"deny": []})
    st, j = patch(inst, cj_path + "always-fails", {"spec": {"suspend": True}}, "application/apply-patch+yaml")
    check("apply patch without fieldManager -> 422", st == 422 and "fieldManager" in j["message"], j)
    inst.fault(backend="kubernetes", kind="status", code=503, path=cj_path + "always-fails", count=1)
    st, e = patch(inst, cj_path + "always-fails", {"spec": {"suspend": True}})
    check("a fault on the CronJob's path answers the PATCH, which changes nothing", st == 503
          and cronjob(inst, "always-fails")["spec"]["suspend"] is False, (st, e))
    st, j = patch(inst, cj_path + "always-fails?fieldManager=labdeck", {"spec": {"suspend": True}})
    check("after the fault the PATCH goes through", st == 200 and j["spec"]["suspend"] is True, (st, j))
    reqs = inst.admin("GET", "/requests?backend=kubernetes")[1]["requests"]
    check("the PATCH and its Content-Type are recorded", any(
        r["method"] == "PATCH" and r["path"].endswith("always-fails?fieldManager=labdeck")
        and r["headers"].get("Content-Type") == "application/merge-patch+json"
        and json.loads(r["body"]) == {"spec": {"suspend": True}} for r in reqs))
    for name in ("rag-reindex", "backup-etcd", "always-fails"):  # as they were, for later sections
        patch(inst, cj_path + name, {"spec": {"suspend": False}})
    check("all three resumed again", set(listed_suspend(inst, "/apis/batch/v1/cronjobs").values()) == {False})


def job_from(cj, name):
    t = cj["spec"]["jobTemplate"]
    return {"kind": "Job", "apiVersion": "batch/v1",
            "metadata": {"name": name, "labels": t["metadata"].get("labels", {}),
                         "annotations": dict(t["metadata"].get("annotations", {}),
                                             **{"cronjob.kubernetes.io/instantiate": "manual"}),
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                              "name": cj["metadata"]["name"], "uid": cj["metadata"]["uid"],
                                              "controller": True}]},
            "spec": t["spec"]}


def follow(inst, name):
    conds = []
    for _ in range(8):
        st, _, _, body = inst.get("kubernetes", "/apis/batch/v1/namespaces/batch/jobs/" + name)
        j = json.loads(body)
        c = [x["type"] for x in j["status"].get("conditions", []) if x["status"] == "True"]
        conds.append((j["status"].get("active", 0), c))
        if "Complete" in c or "Failed" in c:
            break
    return conds


def checks(inst, check):
    st, _, _, body = inst.get("kubernetes", "/apis/batch/v1/cronjobs")
    d = json.loads(body)
    names = {i["metadata"]["name"]: i["spec"]["schedule"] for i in d["items"]}
    check("batch: three CronJobs in all namespaces", st == 200 and d["kind"] == "CronJobList" and names == {
        "rag-reindex": "0 3 * * *", "backup-etcd": "*/30 * * * *", "always-fails": "15 4 * * *"}, names)
    check("batch: lastScheduleTime on each", all(i["status"].get("lastScheduleTime") for i in d["items"]))
    st, _, _, body = inst.get("kubernetes", "/apis/batch/v1/namespaces/lab/cronjobs")
    check("batch: none in namespace lab", st == 200 and json.loads(body)["items"] == [])
    st, _, _, body = inst.get("kubernetes", "/apis/batch/v1/namespaces/batch/cronjobs/rag-reindex")
    cj = json.loads(body)
    check("batch: GET one CronJob with its uid", st == 200 and cj["metadata"]["uid"], st)
    st, _, _, body = inst.get("kubernetes", "/apis/batch/v1/namespaces/batch/cronjobs/nope")
    check("batch: unknown CronJob -> 404 Status", st == 404 and json.loads(body)["reason"] == "NotFound")
    st, _, _, body = inst.get("kubernetes", "/apis/batch/v1/cronjobs", auth=False)
    check("batch: 401 without credentials", st == 401)
    st, j = post(inst, "/apis/batch/v1/namespaces/batch/jobs?fieldManager=kubectl-create&fieldValidation=Strict",
                 job_from(cj, "rag-reindex-manual-st1"))
    check("batch: POST job -> 201 with the owner reference and the annotation", st == 201
          and j["metadata"]["ownerReferences"][0]["uid"] == cj["metadata"]["uid"]
          and j["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual", (st, j))
    conds = follow(inst, "rag-reindex-manual-st1")
    check("batch: the Job goes active -> Complete", conds[0][0] == 1 and "Complete" in conds[-1][1], conds)
    st, e = post(inst, "/apis/batch/v1/namespaces/batch/jobs", job_from(cj, "rag-reindex-manual-st1"))
    check("batch: the same name again -> 409 AlreadyExists", st == 409 and e["reason"] == "AlreadyExists", e)
    st, _, _, body = inst.get("kubernetes", "/apis/batch/v1/namespaces/batch/cronjobs/always-fails")
    af = json.loads(body)
    st, j = post(inst, "/apis/batch/v1/namespaces/batch/jobs", job_from(af, "always-fails-manual-st2"))
    conds = follow(inst, "always-fails-manual-st2")
    check("batch: always-fails ends Failed", st == 201 and "Failed" in conds[-1][1], conds)
    bad = job_from(cj, "Bad_Name")
    st, e = post(inst, "/apis/batch/v1/namespaces/batch/jobs", bad)
    check("batch: an invalid name -> 422 Invalid", st == 422 and e["reason"] == "Invalid", e)
    bad = job_from(cj, "x-st3")
    bad["metadata"]["bogus"] = 1
    st, e = post(inst, "/apis/batch/v1/namespaces/batch/jobs?fieldValidation=Strict", bad)
    check("batch: strict field validation -> 400", st == 400 and "unknown field" in e["message"], e)
    reqs = inst.admin("GET", "/requests?backend=kubernetes")[1]["requests"]
    check("batch: the POST body is recorded", any(r["method"] == "POST" and "rag-reindex-manual-st1" in r["body"]
                                                  for r in reqs))
    suspend_checks(inst, check)
