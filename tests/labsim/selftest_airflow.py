"""labsim selftest: the Airflow API (airflow.py), as Airflow 2 on the shared
instance and as Airflow 3 on an instance of its own (--airflow 3)."""

import base64
import http.client
import json


def call(inst, method, path, body=None, auth="basic", headers=None):
    st = inst.state["airflow"]
    h = dict(headers or {})
    if auth == "basic":
        h["Authorization"] = "Basic " + base64.b64encode(
            ("%s:%s" % (st["username"], st["password"])).encode()).decode()
    elif auth:
        h["Authorization"] = "Bearer " + auth
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c = http.client.HTTPConnection("127.0.0.1", st["port"], timeout=10)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        return r.status, r.getheader("Content-Type") or "", obj, raw
    finally:
        c.close()


def run_to_end(inst, prefix, dag, run_id, auth):
    states = []
    for _ in range(10):
        _, _, r, _ = call(inst, "GET", "%s/dags/%s/dagRuns/%s" % (prefix, dag, run_id), auth=auth)
        states.append(r["state"])
        if r["state"] in ("success", "failed"):
            break
    return states


def v2_checks(inst, check):
    st, _, v, _ = call(inst, "GET", "/api/v1/version", auth=None)
    check("airflow 2: /api/v1/version without credentials", st == 200 and v["version"].startswith("2."), v)
    st, ct, _, raw = call(inst, "GET", "/api/v2/version", auth=None)
    check("airflow 2: /api/v2 is an HTML 404", st == 404 and "text/html" in ct, (st, ct))
    st, ct, e, _ = call(inst, "GET", "/api/v1/dags", auth=None)
    check("airflow 2: no credentials -> 401 problem+json", st == 401 and "problem+json" in ct
          and e["title"] == "Unauthorized", (st, e))
    st, _, d, _ = call(inst, "GET", "/api/v1/dags")
    ids = {x["dag_id"]: x["is_paused"] for x in d["dags"]}
    check("airflow 2: three DAGs, model_warmup paused", ids == {"rag_ingest_daily": False, "backup_postgres": False,
                                                              "model_warmup": True}, ids)
    st, _, lst, _ = call(inst, "GET", "/api/v1/dags/backup_postgres/dagRuns?limit=1&order_by=-start_date")
    check("airflow 2: backup_postgres's last run failed", st == 200 and lst["dag_runs"][0]["state"] == "failed", lst)
    st, _, r, _ = call(inst, "POST", "/api/v1/dags/rag_ingest_daily/dagRuns", {"conf": {"full": True}})
    check("airflow 2: trigger -> queued run with the conf", st == 200 and r["state"] == "queued"
          and r["conf"] == {"full": True} and r["dag_run_id"].startswith("manual__"), r)
    states = run_to_end(inst, "/api/v1", "rag_ingest_daily", r["dag_run_id"], "basic")
    check("airflow 2: the run goes queued -> running -> success over polls",
          states[0] == "running" and states[-1] == "success", states)
    st, _, tis, _ = call(inst, "GET", "/api/v1/dags/rag_ingest_daily/dagRuns/%s/taskInstances" % r["dag_run_id"])
    check("airflow 2: task instances all success", [t["state"] for t in tis["task_instances"]] == ["success"] * 4, tis)
    st, ct, e, _ = call(inst, "POST", "/api/v1/dags/rag_ingest_daily/dagRuns", {"dag_run_id": r["dag_run_id"]})
    check("airflow 2: duplicate run id -> 409 problem+json", st == 409 and e["title"] == "Conflict"
          and "already exists" in e["detail"], (st, e))
    st, _, e, _ = call(inst, "POST", "/api/v1/dags/nope/dagRuns", {})
    check("airflow 2: unknown DAG -> 404 with detail", st == 404 and "not found" in e["detail"], e)
    st, _, e, _ = call(inst, "POST", "/api/v1/dags/rag_ingest_daily/dagRuns", {"executiondate": "x"})
    check("airflow 2: unknown field -> 400 'Unknown field.'", st == 400 and "Unknown field" in e["detail"], e)
    inst.admin("POST", "/airflow/outcome", {"dag_id": "backup_postgres", "state": "failed"})
    _, _, r, _ = call(inst, "POST", "/api/v1/dags/backup_postgres/dagRuns", {})
    states = run_to_end(inst, "/api/v1", "backup_postgres", r["dag_run_id"], "basic")
    _, _, tis, _ = call(inst, "GET", "/api/v1/dags/backup_postgres/dagRuns/%s/taskInstances" % r["dag_run_id"])
    check("airflow 2: the outcome knob fails the run and its last task", states[-1] == "failed"
          and tis["task_instances"][-1]["state"] == "failed", (states, tis))
    st, _, d, _ = call(inst, "PATCH", "/api/v1/dags/model_warmup?update_mask=is_paused", {"is_paused": False})
    check("airflow 2: PATCH is_paused", st == 200 and d["is_paused"] is False, d)
    call(inst, "PATCH", "/api/v1/dags/model_warmup?update_mask=is_paused", {"is_paused": True})
    _, _, r, _ = call(inst, "POST", "/api/v1/dags/model_warmup/dagRuns", {})
    states = run_to_end(inst, "/api/v1", "model_warmup", r["dag_run_id"], "basic")
    check("airflow 2: a paused DAG's run stays queued", set(states) == {"queued"}, states)
    fid = inst.fault(backend="airflow", kind="status", code=403, path="/api/v1/dags", count=1)
    st, ct, e, _ = call(inst, "GET", "/api/v1/dags")
    check("airflow 2: status fault 403 has the problem+json shape", st == 403 and e["title"] == "Forbidden", e)
    inst.admin("DELETE", "/faults/%d" % fid)
    reqs = inst.admin("GET", "/requests?backend=airflow")[1]["requests"]
    check("airflow 2: requests are recorded with their bodies",
          any(r["method"] == "POST" and '"full": true' in r["body"] for r in reqs), len(reqs))


def v3_checks(inst, check):
    st, _, v, _ = call(inst, "GET", "/api/v2/version", auth=None)
    check("airflow 3: /api/v2/version", st == 200 and v["version"].startswith("3."), v)
    st, _, e, _ = call(inst, "GET", "/api/v1/dags")
    check("airflow 3: /api/v1 -> 404 {detail}", st == 404 and e == {"detail": "Not Found"}, e)
    st, _, e, _ = call(inst, "GET", "/api/v2/dags")
    check("airflow 3: basic auth is refused (401)", st == 401, (st, e))
    a = inst.state["airflow"]
    st, _, e, _ = call(inst, "POST", "/auth/token", {"username": a["username"], "password": "wrong"}, auth=None)
    check("airflow 3: bad password -> 401", st == 401, e)
    st, _, t, _ = call(inst, "POST", "/auth/token", {"username": a["username"], "password": a["password"]},
                       auth=None)
    check("airflow 3: /auth/token -> 201 access_token", st == 201 and t.get("access_token"), t)
    tok = t["access_token"]
    st, _, d, _ = call(inst, "GET", "/api/v2/dags", auth=tok)
    check("airflow 3: DAGs with the token", st == 200 and len(d["dags"]) == 3, st)
    st, _, e, _ = call(inst, "POST", "/api/v2/dags/rag_ingest_daily/dagRuns", {"conf": {}}, auth=tok)
    check("airflow 3: no logical_date -> 422 Field required", st == 422 and e["detail"][0]["loc"] ==
          ["body", "logical_date"], e)
    st, _, r, _ = call(inst, "POST", "/api/v2/dags/rag_ingest_daily/dagRuns", {"logical_date": None, "conf": {}},
                       auth=tok)
    check("airflow 3: trigger with logical_date null", st == 200 and r["state"] == "queued"
          and r["logical_date"] is None and r["triggered_by"] == "rest_api", r)
    states = run_to_end(inst, "/api/v2", "rag_ingest_daily", r["dag_run_id"], tok)
    check("airflow 3: the run ends in success", states[-1] == "success", states)
    st, _, e, _ = call(inst, "POST", "/api/v2/dags/rag_ingest_daily/dagRuns",
                       {"logical_date": None, "dag_run_id": r["dag_run_id"]}, auth=tok)
    check("airflow 3: duplicate run id -> 409 with an object detail", st == 409 and isinstance(e["detail"], dict), e)
    inst.admin("POST", "/airflow/expire_tokens")
    st, _, e, _ = call(inst, "GET", "/api/v2/dags", auth=tok)
    check("airflow 3: an expired token -> 401", st == 401, e)


def checks(inst, check):
    v2_checks(inst, check)
    other = inst.__class__("--churn", "0", "--airflow", "3")
    try:
        if check("labsim --airflow 3 starts", other.wait_ready()):
            v3_checks(other, check)
    finally:
        other.cleanup()
