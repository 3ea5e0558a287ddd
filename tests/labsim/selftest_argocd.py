"""labsim selftest: the Argo CD personality (selftest.py runs checks(inst, check) when this file
is there)."""

import http.client
import json
import ssl


def req(inst, method, path, body=None, token=None):
    st = inst.state["argocd"]
    ctx = ssl.create_default_context(cafile=inst.p("argocd-cert.pem"))
    c = http.client.HTTPSConnection("127.0.0.1", st["port"], context=ctx, timeout=10)
    try:
        c.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                  headers={"Authorization": "Bearer " + (token or st["token"])})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        c.close()


def checks(inst, check):
    st, doc = req(inst, "GET", "/api/v1/applications")
    names = [i["metadata"]["name"] for i in doc["items"]]
    check("argocd: five apps over HTTPS with its own CA", st == 200 and names ==
          ["root-app", "gateway", "frontend", "backend", "models"], names)
    check("argocd: children carry app.kubernetes.io/instance=root-app",
          all(i["metadata"]["labels"].get("app.kubernetes.io/instance") == "root-app" for i in doc["items"][1:]))
    st, doc = req(inst, "GET", "/api/v1/applications/nope")
    check("argocd: unknown app is 403 permission denied (code 7)", st == 403 and doc["code"] == 7, doc)
    st, doc = req(inst, "GET", "/api/v1/applications", token=inst.state["argocd"]["expired_token"])
    check("argocd: expired token is 401 code 16", st == 401 and "token is expired" in doc["error"], doc)
    st, doc = req(inst, "POST", "/api/v1/applications/models/sync", {"dryRun": True})
    check("argocd: sync accepted, answer has the operation", st == 200 and doc["operation"]["sync"]["dryRun"], doc)
    st2, doc2 = req(inst, "POST", "/api/v1/applications/models/sync", {})
    check("argocd: a second sync is 400 another operation is already in progress (code 9)",
          st2 == 400 and doc2["code"] == 9, doc2)
    phases = [req(inst, "GET", "/api/v1/applications/models")[1]["status"]["operationState"]["phase"]
              for _ in range(4)]
    check("argocd: operationState advances Running -> Succeeded over polls",
          phases[0] == "Running" and phases[-1] == "Succeeded", phases)
    req(inst, "POST", "/api/v1/applications/backend/sync", {})
    st, _ = req(inst, "DELETE", "/api/v1/applications/backend/operation")
    ph = [req(inst, "GET", "/api/v1/applications/backend")[1]["status"]["operationState"] for _ in range(1)]
    check("argocd: DELETE .../operation terminates", st == 200 and ph[0]["phase"] == "Failed"
          and ph[0]["message"] == "Operation terminated", ph)
    fid = inst.fault(backend="argocd", kind="status", code=503, count=1)
    st, _ = req(inst, "GET", "/api/v1/applications")
    check("argocd: fault knobs apply", st == 503, fid)
