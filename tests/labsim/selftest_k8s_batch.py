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
