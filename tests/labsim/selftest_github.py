"""labsim selftest: the GitHub Actions personality (selftest.py runs checks(inst, check) when
this file is there)."""

import http.client
import json


def req(inst, method, path, body=None):
    st = inst.state["github"]
    c = http.client.HTTPConnection("127.0.0.1", st["port"], timeout=10)
    try:
        c.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                  headers={"Authorization": "Bearer " + st["token"]})
        r = c.getresponse()
        raw = r.read()
        return r.status, dict(r.getheaders()), json.loads(raw) if raw else None
    finally:
        c.close()


def checks(inst, check):
    base = "/repos/lab/homelab/actions"
    st, h, doc = req(inst, "GET", base + "/workflows")
    check("github: six workflows, X-RateLimit-* headers", st == 200 and doc["total_count"] == 6
          and h.get("X-RateLimit-Remaining", "").isdigit() and h.get("X-RateLimit-Reset"), h)
    st, _, doc = req(inst, "POST", base + "/workflows/bootstrap.yaml/dispatches", {"ref": "main"})
    check("github: bootstrap.yaml dispatch is GitHub's 422", st == 422 and
          doc["message"] == "Workflow does not have 'workflow_dispatch' trigger", doc)
    st, _, doc = req(inst, "POST", base + "/workflows/deploy-gateway.yml/dispatches", {"ref": "main"})
    check("github: dispatch answers 204 with no body", st == 204 and doc is None, doc)
    st, _, doc = req(inst, "POST", base + "/workflows/deploy-gateway.yml/dispatches",
                     {"ref": "main", "return_run_details": True})
    check("github: return_run_details answers 200 with the run id", st == 200 and doc["workflow_run_id"] > 0, doc)
    rid = doc["workflow_run_id"]
    seen = [req(inst, "GET", base + "/runs/%d" % rid)[2]["status"] for _ in range(6)]
    check("github: the run goes in_progress -> completed over polls",
          seen[0] == "in_progress" and seen[-1] == "completed", seen)
    _, _, jobs = req(inst, "GET", base + "/runs/%d/jobs" % rid)
    check("github: jobs with steps", len(jobs["jobs"][0]["steps"]) == 5, jobs)
    q = base + "/runs?event=workflow_dispatch&created=%3E%3D2000-01-01T00:00:00Z"
    _, _, first = req(inst, "GET", q)
    _, _, runs = req(inst, "GET", q)
    check("github: a new run shows in lists only from the second (GitHub takes a moment)",
          first["total_count"] == 0 and runs["total_count"] == 2, (first, runs))
    _, _, later = req(inst, "GET", base + "/runs?event=workflow_dispatch&created=%3E%3D2100-01-01T00:00:00Z")
    check("github: created=>= filters", later["total_count"] == 0, later)
    inst.admin("POST", "/github/knobs", {"secondary": 1})
    st, h, doc = req(inst, "GET", base + "/workflows")
    check("github: the secondary rate limit 403 with Retry-After", st == 403 and h.get("Retry-After") == "1"
          and "secondary rate limit" in doc["message"], doc)
