"""The Argo CD API personality (argocd-server, grpc-gateway JSON under /api/v1).

HTTPS with its own self-signed certificate (argocd-cert.pem doubles as ca_file), Bearer token
auth (argocd-token). Five applications: the app-of-apps root-app and its children gateway,
frontend, backend and models (label app.kubernetes.io/instance=root-app, as Argo CD's tracking
label puts it on the Applications root-app creates).

A sync (POST .../sync) starts an operation that is Running for `polls` GETs of that application
(or of the list) and then Succeeded (Failed with the app's `fail` knob). Argo CD does not queue
syncs: a second one while one runs answers 400 "another operation is already in progress" (code
9). DELETE .../operation terminates a running one (Terminating, then Failed "Operation
terminated"). An unknown application answers 403 permission denied (code 7), exactly as Argo CD
does when no ?project= is given. The expired token (state.json argocd.expired_token) answers 401
"token is expired"; any other wrong token 401 "no session information".

Admin knobs: POST /argocd/apps/NAME {"fail": bool, "polls": N (also caps a running one's), "message": "...",
"name": "..."}
(message: the next operation's message, e.g. with escape sequences; name: renames the app, for
hostile-name tests), GET /argocd/apps (the simulated state).
"""

import copy
import datetime
import hashlib
import json
import re
import secrets
import threading

import core
from core import Response, dumps
from lab import hostile as lab_hostile

JSON = "application/json"
BASE = "/api/v1"
REPO = "https://github.com/lab/homelab.git"
CHILDREN = ("gateway", "frontend", "backend", "models")


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha(text):
    return hashlib.sha1(text.encode()).hexdigest()


def grpc_error(status, code, message):
    return Response(status, dumps({"error": message, "code": code, "message": message}), content_type=JSON)


class App:
    def __init__(self, name, sync, health, revision, path, namespace):
        self.name = name
        self.sync = sync
        self.health = health
        self.revision = revision
        self.path = path
        self.namespace = namespace
        self.op = None  # the operationState dict
        self.op_polls = 0  # polls left while Running
        self.pending_phase = None
        self.fail = False
        self.polls = 2
        self.message = None
        self.uid = str(hashlib.md5(name.encode()).hexdigest())
        self.history = []


class ArgoCD:
    name = "argocd"
    server_header = ""  # argocd-server (Go) sends none
    json_type = JSON

    def __init__(self, lab, token, expired_token, polls=2):
        self.lab = lab
        self.token = token
        self.expired_token = expired_token
        self.lock = threading.Lock()
        self.head = sha("homelab main head")
        old = sha("homelab main previous")
        self.apps = {}
        specs = [
            ("root-app", "Synced", "Healthy", self.head, "apps", "argocd"),
            ("gateway", "Synced", "Healthy", self.head, "k8s/gateway", "lab"),
            ("frontend", "OutOfSync", "Healthy", old, "k8s/frontend", "lab"),
            ("backend", "Synced", "Degraded", self.head, "k8s/backend", "lab"),
            ("models", "OutOfSync", "Progressing", old, "k8s/models", "models"),
        ]
        hostile_all = getattr(lab, "hostile_all", False)
        if hostile_all:  # --hostile: a sixth app with escapes in its name (lab.hostile)
            specs.append((lab_hostile("evil-app", lab, short=True), "OutOfSync", "Degraded", old, "k8s/evil", "lab"))
        for s in specs:
            a = App(*s)
            a.polls = polls
            a.op = {
                "operation": {"sync": {"revision": s[3]}, "initiatedBy": {"automated": True}, "retry": {}},
                "phase": "Succeeded", "message": lab_hostile("successfully synced (all tasks run)", lab),
                "syncResult": {"resources": [], "revision": s[3]},
                "startedAt": "2025-11-20T09:00:00Z", "finishedAt": "2025-11-20T09:00:04Z",
            }
            a.history.append({"revision": s[3], "deployedAt": "2025-11-20T09:00:04Z", "id": 0,
                              "deployStartedAt": "2025-11-20T09:00:00Z"})
            self.apps[a.name] = a
        self.routes = [
            ("GET", re.compile(r"^/api/v1/applications$"), self.list_apps),
            ("GET", re.compile(r"^/api/v1/applications/([^/]+)$"), self.get_app),
            ("POST", re.compile(r"^/api/v1/applications/([^/]+)/sync$"), self.sync_app),
            ("DELETE", re.compile(r"^/api/v1/applications/([^/]+)/operation$"), self.terminate),
            ("GET", re.compile(r"^/api/v1/session/userinfo$"), self.userinfo),
        ]

    # ---------------- plumbing ----------------

    def fault_status(self, req, code, params):
        headers = []
        if params.get("retry_after") is not None:
            headers.append(("Retry-After", str(params["retry_after"])))
        if params.get("body") is not None:
            body = params["body"]
            return Response(code, body.encode() if isinstance(body, str) else dumps(body), content_type=JSON,
                            headers=headers)
        grpc = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 503: 14}.get(code, 2)
        msg = params.get("reason") or {
            400: "another operation is already in progress", 401: "no session information",
            403: "permission denied", 404: "not found", 500: "internal error",
            503: "upstream connect error or disconnect/reset before headers",
        }.get(code, "labsim injected status %d" % code)
        r = grpc_error(code, grpc, msg)
        r.headers += headers
        return r

    def malformed_body(self):
        return b'{"metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"gateway"},"status":{"sync":'

    def big_parts(self, nbytes):
        item = dumps(self.render(self.apps["gateway"]))
        return core.json_array_parts(b'{"metadata":{"resourceVersion":"9"},"items":[', item, b"]}", nbytes)

    def tls(self, P):
        core.make_self_signed(P("argocd-cert.pem"), P("argocd-key.pem"), "/O=Argo CD/CN=argocd-server")
        return core.server_context(P("argocd-cert.pem"), P("argocd-key.pem"))

    def ini(self, url, P):
        core.write_file(P("argocd-token"), self.token + "\n", 0o600)
        return ["[argocd]", "url = " + url, "token_file = " + P("argocd-token"),
                "ca_file = " + P("argocd-cert.pem")]

    def state(self, url):
        return {"url": url, "port": int(url.rsplit(":", 1)[1]), "token": self.token,
                "expired_token": self.expired_token, "apps": list(self.apps)}

    # ---------------- the model ----------------

    def advance(self, a):
        """One poll of an application: a running operation moves on."""
        op = a.op
        if op is None or op["phase"] not in ("Running", "Terminating"):
            return
        if op["phase"] == "Terminating":
            op["phase"] = "Failed"
            op["message"] = "Operation terminated"
            op["finishedAt"] = now_iso()
            return
        if a.op_polls > 0:
            a.op_polls -= 1
            if a.op_polls == 1:
                op["message"] = "waiting for healthy state of apps/Deployment/%s" % a.name
            return
        sync = op["operation"]["sync"]
        rev = sync.get("revision") or self.head
        dry = sync.get("dryRun", False)
        verb = "configured (dry run)" if dry else "configured"
        res = [{"group": "apps", "version": "v1", "kind": "Deployment", "namespace": a.namespace,
                "name": a.name, "status": "Synced", "message": "deployment.apps/%s %s" % (a.name, verb),
                "hookPhase": "Running", "syncPhase": "Sync"}]
        if a.name == "root-app":
            res = [{"group": "argoproj.io", "version": "v1alpha1", "kind": "Application", "namespace": "argocd",
                    "name": c, "status": "Synced", "message": "application.argoproj.io/%s unchanged" % c,
                    "hookPhase": "Running", "syncPhase": "Sync"} for c in CHILDREN]
        op["finishedAt"] = now_iso()
        if a.fail:
            op["phase"] = "Failed"
            op["message"] = a.message or ("one or more objects failed to apply, reason: Deployment.apps "
                                          "\"%s\" is invalid: spec.template.spec.containers[0].image: "
                                          "Required value" % a.name)
            res[0]["status"] = "SyncFailed"
            res[0]["message"] = op["message"]
        else:
            op["phase"] = "Succeeded"
            op["message"] = a.message or "successfully synced (all tasks run)"
            if not dry:
                a.sync = "Synced"
                a.health = "Healthy"
                a.revision = rev
                a.history.append({"revision": rev, "deployedAt": op["finishedAt"], "id": len(a.history),
                                  "deployStartedAt": op["startedAt"]})
        a.message = None
        op["syncResult"] = {"resources": res, "revision": rev,
                            "source": {"repoURL": REPO, "path": a.path, "targetRevision": "HEAD"}}

    def render(self, a):
        labels = {}
        if a.path.startswith("k8s/"):
            labels["app.kubernetes.io/instance"] = "root-app"
        resources = [{"group": "apps", "version": "v1", "kind": "Deployment", "namespace": a.namespace,
                      "name": a.name, "status": a.sync, "health": {"status": a.health}}]
        if a.name == "root-app":
            resources = [{"group": "argoproj.io", "version": "v1alpha1", "kind": "Application",
                          "namespace": "argocd", "name": c.name, "status": c.sync}
                         for c in self.apps.values() if c.path.startswith("k8s/")]
        st = {
            "resources": resources,
            "sync": {"status": a.sync, "comparedTo": {
                "source": {"repoURL": REPO, "path": a.path, "targetRevision": "HEAD"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": a.namespace}},
                "revision": a.revision},
            "health": {"status": a.health, "lastTransitionTime": "2025-11-20T09:00:04Z"},
            "history": a.history[-10:],
            "reconciledAt": now_iso(),
            "sourceType": "Directory" if a.name == "root-app" else "Kustomize",
            "summary": {},
            "controllerNamespace": "argocd",
        }
        if a.op is not None:
            st["operationState"] = copy.deepcopy(a.op)
        return {
            "metadata": {"name": a.name, "namespace": "argocd", "uid": a.uid, "resourceVersion": "41%03d" % len(a.history),
                         "generation": len(a.history) + 3, "creationTimestamp": "2025-06-01T10:00:00Z",
                         "labels": labels},
            "spec": {"source": {"repoURL": REPO, "path": a.path, "targetRevision": "HEAD"},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": a.namespace},
                     "project": "default",
                     "syncPolicy": {"syncOptions": ["CreateNamespace=true"]}},
            "status": st,
        }

    def find(self, name):
        for a in self.apps.values():
            if a.name == name:
                return a
        return None

    # ---------------- requests ----------------

    def handle(self, req):
        auth = req.header("Authorization")
        if auth == "Bearer " + self.expired_token:
            return grpc_error(401, 16, "invalid session: token has invalid claims: token is expired")
        if auth != "Bearer " + self.token:
            return grpc_error(401, 16, "no session information")
        for method, rx, fn in self.routes:
            m = rx.match(req.path)
            if m:
                if req.method != method:
                    return Response(405, b"Method Not Allowed\n", content_type="text/plain; charset=utf-8")
                with self.lock:
                    return fn(req, *m.groups())
        return Response(404, b"404 page not found\n", content_type="text/plain; charset=utf-8")

    def userinfo(self, req):
        return Response(200, dumps({"loggedIn": True, "username": "labdeck", "iss": "argocd"}), content_type=JSON)

    def list_apps(self, req):
        sel = req.qget("selector")
        items = []
        for a in self.apps.values():
            self.advance(a)
            r = self.render(a)
            if sel:
                k, _, v = sel.partition("=")
                if r["metadata"]["labels"].get(k) != v:
                    continue
            items.append(r)
        return Response(200, dumps({"metadata": {"resourceVersion": "41999"}, "items": items}), content_type=JSON)

    def get_app(self, req, name):
        a = self.find(name)
        if a is None:
            return grpc_error(403, 7, "permission denied")
        self.advance(a)
        return Response(200, dumps(self.render(a)), content_type=JSON)

    def sync_app(self, req, name):
        a = self.find(name)
        if a is None:
            return grpc_error(403, 7, "permission denied")
        if a.op is not None and a.op["phase"] in ("Running", "Terminating"):
            return grpc_error(400, 9, "another operation is already in progress")
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return grpc_error(400, 3, "invalid character 'x' looking for beginning of value")
        if not isinstance(body, dict):
            return grpc_error(400, 3, "json: cannot unmarshal array into Go value of type "
                              "application.ApplicationSyncRequest")
        sync = {"revision": body.get("revision") or self.head}
        if body.get("prune"):
            sync["prune"] = True
        if body.get("dryRun"):
            sync["dryRun"] = True
        operation = {"sync": sync, "initiatedBy": {"username": "labdeck"}, "retry": {}}
        a.op = {"operation": copy.deepcopy(operation), "phase": "Running", "message": "",
                "startedAt": now_iso()}
        a.op_polls = a.polls
        r = self.render(a)
        r["operation"] = operation
        # the answer still shows the operationState of before, as Argo CD's does right after the POST
        return Response(200, dumps(r), content_type=JSON)

    def terminate(self, req, name):
        a = self.find(name)
        if a is None:
            return grpc_error(403, 7, "permission denied")
        if a.op is None or a.op["phase"] != "Running":
            return grpc_error(400, 9, "Unable to terminate operation. No operation is in progress")
        a.op["phase"] = "Terminating"
        return Response(200, b"{}", content_type=JSON)

    # ---------------- admin knobs ----------------

    def admin(self, method, path, data):
        if path == "/argocd/apps" and method == "GET":
            with self.lock:
                return 200, {"apps": {a.name: {"sync": a.sync, "health": a.health, "revision": a.revision,
                                               "phase": a.op and a.op["phase"]} for a in self.apps.values()}}
        m = re.match(r"^/argocd/apps/([^/]+)$", path)
        if m and method == "POST":
            data = data or {}
            with self.lock:
                a = self.apps.get(m.group(1))
                if a is None:
                    return 404, {"error": "no app %s" % m.group(1)}
                if "fail" in data:
                    a.fail = bool(data["fail"])
                if "polls" in data:
                    a.polls = int(data["polls"])
                    a.op_polls = min(a.op_polls, a.polls)
                if "message" in data:
                    a.message = data["message"]
                if "name" in data:
                    a.name = str(data["name"])
                return 200, {"app": m.group(1), "fail": a.fail, "polls": a.polls, "name": a.name}
        return None


def add_arguments(ap):
    ap.add_argument("--argocd-polls", type=int, default=2, metavar="N",
                    help="polls an Argo CD sync stays Running (default 2)")


def make(lab, P, args):
    token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + secrets.token_urlsafe(48) + "." + secrets.token_urlsafe(32)
    expired = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + secrets.token_urlsafe(48) + ".expired"
    return ArgoCD(lab, token, expired, polls=getattr(args, "argocd_polls", 2))
