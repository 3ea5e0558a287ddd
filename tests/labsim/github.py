"""The GitHub REST API personality (Actions), plain HTTP on loopback.

Repository lab/homelab with six workflows: bootstrap.yaml (no workflow_dispatch trigger: a
dispatch answers GitHub's 422), argocd-setup.yaml and deploy-{gateway,frontend,backend,models}.yml.
deploy-models.yml has a required input `model`; the deploy workflows accept `image_tag`.
Branches: main and dev; deploy-models.yml is not on dev (so a dispatch on dev answers the same
422 as a workflow without the trigger, as GitHub does).

A dispatch answers 204 with an empty body, or 200 {"workflow_run_id","run_url","html_url"} when
the body asks "return_run_details": true. It creates a run (event workflow_dispatch) that is
hidden from run lists for the first `hide` list requests (GitHub takes a moment to show it), then
queued -> in_progress -> completed as it is polled (GET runs/{id} or its jobs), with conclusion
success, or failure with the `conclusion` knob. Every answer carries X-RateLimit-* headers.

Admin knobs: POST /github/knobs {"conclusion": "success"|"failure", "polls": N, "hide": N,
"remaining": N (rate limit left; at 0 the primary 403 answers until reset), "reset_in": S,
"secondary": N (the next N requests answer the secondary-limit 403 with Retry-After: 1),
"step_name": "..." (a step's name, e.g. with escape sequences), "details": 0 (ignore
"return_run_details": answer 204 as GitHub did before 2026-02)}; GET /github/runs.
"""

import datetime
import json
import re
import secrets
import threading
import time
import urllib.parse

import core
from core import Response, dumps
from lab import hostile as lab_hostile

JSON = "application/json; charset=utf-8"
OWNER, REPO = "lab", "homelab"
DOCS = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event"

WORKFLOWS = [
    # id, file, name, dispatch, inputs {name: required}
    (61000001, "bootstrap.yaml", "Bootstrap", False, {}),
    (61000002, "argocd-setup.yaml", "ArgoCD setup", True, {}),
    (61000003, "deploy-gateway.yml", "Deploy gateway", True, {"image_tag": False}),
    (61000004, "deploy-frontend.yml", "Deploy frontend", True, {"image_tag": False}),
    (61000005, "deploy-backend.yml", "Deploy backend", True, {"image_tag": False}),
    (61000006, "deploy-models.yml", "Deploy models", True, {"model": True, "image_tag": False}),
]
BRANCHES = {"main": {w[1] for w in WORKFLOWS},
            "dev": {w[1] for w in WORKFLOWS} - {"deploy-models.yml"}}


def iso(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(s).timestamp()


class Run:
    def __init__(self, rid, number, wf, ref, inputs, conclusion, polls, hide, step_name):
        self.id = rid
        self.number = number
        self.wf = wf
        self.ref = ref
        self.inputs = inputs
        self.created = time.time()
        self.conclusion_to_be = conclusion
        self.polls_left = polls
        self.hide = hide
        self.polls = 0
        self.status = "queued"
        self.conclusion = None
        self.started = None
        self.updated = self.created
        self.step_name = step_name


class GitHub:
    name = "github"
    server_header = "github.com"
    json_type = JSON

    def __init__(self, lab, token):
        self.lab = lab
        self.token = token
        self.lock = threading.Lock()
        self.runs = {}
        self.next_run = 14200000001
        self.next_number = 41
        self.knobs = {"conclusion": "success", "polls": 3, "hide": 1, "remaining": 4990,
                      "reset_in": 3600, "secondary": 0, "step_name": "Build image", "details": 1}
        self.reset_at = None
        self.head_sha = "3f2a9c1e5b7d4a60c8e1f2b3a4c5d6e7f8091a2b"
        self.routes = [
            ("GET", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/workflows$"), self.list_workflows),
            ("GET", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)$"), self.get_workflow),
            ("POST", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/dispatches$"), self.dispatch),
            ("GET", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/runs$"), self.list_wf_runs),
            ("GET", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs$"), self.list_runs),
            ("GET", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs/(\d+)$"), self.get_run),
            ("GET", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/jobs$"), self.get_jobs),
            ("GET", re.compile(r"^/rate_limit$"), self.rate_limit),
        ]

    # ---------------- plumbing ----------------

    def rl_headers(self, count=True):
        if self.reset_at is None or time.time() >= self.reset_at:
            if self.reset_at is not None and self.knobs["remaining"] <= 0:
                self.knobs["remaining"] = 5000
            self.reset_at = time.time() + self.knobs["reset_in"]
        if count and self.knobs["remaining"] > 0:
            self.knobs["remaining"] -= 1
        rem = self.knobs["remaining"]
        return [("X-RateLimit-Limit", "5000"), ("X-RateLimit-Remaining", str(rem)),
                ("X-RateLimit-Reset", str(int(self.reset_at))), ("X-RateLimit-Used", str(5000 - rem)),
                ("X-RateLimit-Resource", "core"), ("X-GitHub-Api-Version-Selected", "2022-11-28"),
                ("X-GitHub-Request-Id", "C0DE:%X" % secrets.randbits(32))]

    def answer(self, status, obj=None, headers=None):
        body = dumps(obj) if obj is not None else b""
        return Response(status, body, content_type=JSON if obj is not None else None,
                        headers=self.rl_headers() + list(headers or []))

    def error(self, status, message, doc="https://docs.github.com/rest", headers=None):
        return self.answer(status, {"message": message, "documentation_url": doc, "status": str(status)},
                           headers)

    def fault_status(self, req, code, params):
        headers = []
        if params.get("retry_after") is not None:
            headers.append(("Retry-After", str(params["retry_after"])))
        if params.get("body") is not None:
            body = params["body"]
            return Response(code, body.encode() if isinstance(body, str) else dumps(body), content_type=JSON,
                            headers=headers)
        msg = params.get("reason") or {
            401: "Bad credentials", 403: "Resource not accessible by personal access token",
            404: "Not Found", 422: "Validation Failed", 429: "API rate limit exceeded",
            500: "Server Error", 502: "Server Error", 503: "Service Unavailable",
        }.get(code, "labsim injected status %d" % code)
        with self.lock:
            return self.error(code, msg, headers=headers)

    def malformed_body(self):
        return b'{"total_count":6,"workflows":[{"id":61000001,"name":"Bootstrap","path":".github/wo'

    def big_parts(self, nbytes):
        item = dumps({"id": 1, "name": "x", "path": ".github/workflows/x.yml", "state": "active", "pad": "y" * 300})
        return core.json_array_parts(b'{"total_count":1,"workflows":[', item, b"]}", nbytes)

    def tls(self, P):
        return None

    def ini(self, url, P):
        import core
        core.write_file(P("github-token"), self.token + "\n", 0o600)
        return ["[github]", "url = " + url, "repo = %s/%s" % (OWNER, REPO), "ref = main",
                "token_file = " + P("github-token")]

    def state(self, url):
        return {"url": url, "port": int(url.rsplit(":", 1)[1]), "token": self.token,
                "repo": "%s/%s" % (OWNER, REPO)}

    # ---------------- the model ----------------

    def workflow(self, key):
        for w in WORKFLOWS:
            if key == w[1] or key == str(w[0]):
                return w
        return None

    def render_wf(self, w):
        base = "http://api.github.invalid/repos/%s/%s" % (OWNER, REPO)
        return {"id": w[0], "node_id": "W_kwDOLab%08d" % (w[0] % 10 ** 8), "name": lab_hostile(w[2], self.lab),
                "path": ".github/workflows/" + w[1], "state": "active",
                "created_at": "2025-06-01T10:00:00.000+09:00", "updated_at": "2025-11-20T09:00:00.000+09:00",
                "url": "%s/actions/workflows/%d" % (base, w[0]),
                "html_url": "https://github.com/%s/%s/blob/main/.github/workflows/%s" % (OWNER, REPO, w[1]),
                "badge_url": "https://github.com/%s/%s/workflows/%s/badge.svg" % (OWNER, REPO, w[1])}

    def advance(self, r):
        if r.status == "completed":
            return
        r.polls += 1
        if r.status == "queued":
            r.status = "in_progress"
            r.started = time.time()
        elif r.polls > r.polls_left:
            r.status = "completed"
            r.conclusion = r.conclusion_to_be
        r.updated = time.time()

    def render_run(self, r):
        w = r.wf
        api = "http://api.github.invalid/repos/%s/%s/actions/runs/%d" % (OWNER, REPO, r.id)
        return {"id": r.id, "name": lab_hostile(w[2], self.lab), "node_id": "WFR_kwLab%d" % r.id, "head_branch": r.ref,
                "head_sha": self.head_sha, "path": ".github/workflows/" + w[1],
                "display_title": lab_hostile(w[2], self.lab),
                "run_number": r.number, "event": "workflow_dispatch", "status": r.status,
                "conclusion": r.conclusion, "workflow_id": w[0], "check_suite_id": r.id + 7,
                "url": api, "html_url": "https://github.com/%s/%s/actions/runs/%d" % (OWNER, REPO, r.id),
                "pull_requests": [], "created_at": iso(r.created), "updated_at": iso(r.updated),
                "actor": {"login": "labdeck-bot", "id": 1, "type": "User"},
                "run_attempt": 1, "referenced_workflows": [],
                "run_started_at": iso(r.started or r.created),
                "triggering_actor": {"login": "labdeck-bot", "id": 1, "type": "User"},
                "jobs_url": api + "/jobs", "logs_url": api + "/logs", "cancel_url": api + "/cancel",
                "rerun_url": api + "/rerun", "workflow_url": "http://api.github.invalid/repos/%s/%s/actions/"
                "workflows/%d" % (OWNER, REPO, w[0])}

    def render_jobs(self, r):
        steps_names = ["Set up job", "Checkout", r.step_name, lab_hostile("Deploy", self.lab), "Complete job"]
        nsteps = len(steps_names)
        if r.status == "queued":
            done = -1
        elif r.status == "in_progress":
            done = min(nsteps - 1, (r.polls - 1) * 2)
        else:
            done = nsteps
        steps = []
        fail_at = 2 if r.conclusion == "failure" else None
        for i, n in enumerate(steps_names):
            st, concl = "queued", None
            if i < done or r.status == "completed":
                st, concl = "completed", "success"
                if fail_at is not None and i == fail_at:
                    concl = "failure"
                elif fail_at is not None and i > fail_at and n != "Complete job":
                    concl = "skipped"
            elif i == done:
                st = "in_progress"
            steps.append({"name": n, "status": st, "conclusion": concl, "number": i + 1,
                          "started_at": iso(r.started or r.created) if st != "queued" else None,
                          "completed_at": iso(r.updated) if st == "completed" else None})
        job = {"id": r.id * 10 + 1, "run_id": r.id, "workflow_name": r.wf[2], "head_branch": r.ref,
               "run_url": "http://api.github.invalid/repos/%s/%s/actions/runs/%d" % (OWNER, REPO, r.id),
               "run_attempt": 1, "node_id": "CR_kwLab%d" % r.id, "head_sha": self.head_sha,
               "html_url": "https://github.com/%s/%s/actions/runs/%d/job/%d" % (OWNER, REPO, r.id, r.id * 10 + 1),
               "status": "queued" if r.status == "queued" else r.status, "conclusion": r.conclusion,
               "created_at": iso(r.created), "started_at": iso(r.started or r.created),
               "completed_at": iso(r.updated) if r.status == "completed" else None,
               "name": "deploy", "steps": steps, "labels": ["self-hosted", "homelab"],
               "runner_id": 3 if r.status != "queued" else None,
               "runner_name": "homelab-runner-1" if r.status != "queued" else None,
               "runner_group_id": 1, "runner_group_name": "Default"}
        return {"total_count": 1, "jobs": [job]}

    # ---------------- requests ----------------

    def handle(self, req):
        with self.lock:
            if self.knobs["secondary"] > 0:
                self.knobs["secondary"] -= 1
                return self.error(403, "You have exceeded a secondary rate limit. Please wait a few minutes "
                                  "before you try again. If you reach out to GitHub Support for help, please "
                                  "include the request ID C0DE:1234.",
                                  "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-"
                                  "the-rest-api#about-secondary-rate-limits", headers=[("Retry-After", "1")])
            auth = req.header("Authorization")
            if auth not in ("Bearer " + self.token, "token " + self.token):
                return self.error(401, "Bad credentials")
            if self.reset_at is not None and time.time() >= self.reset_at and self.knobs["remaining"] <= 0:
                self.knobs["remaining"] = 5000
                self.reset_at = None
            if self.knobs["remaining"] <= 0 and req.path != "/rate_limit":
                return self.error(403, "API rate limit exceeded for user ID 1. If you reach out to GitHub "
                                  "Support for help, please include the request ID C0DE:5678.",
                                  "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api")
            for method, rx, fn in self.routes:
                m = rx.match(req.path)
                if m:
                    if req.method != method:
                        return self.error(404, "Not Found")
                    g = m.groups()
                    if len(g) >= 2 and (g[0], g[1]) != (OWNER, REPO):
                        return self.error(404, "Not Found")
                    return fn(req, *g[2:])
            return self.error(404, "Not Found")

    def rate_limit(self, req):
        rem = self.knobs["remaining"]
        core_rl = {"limit": 5000, "remaining": rem, "reset": int(self.reset_at or time.time() + 3600),
                   "used": 5000 - rem, "resource": "core"}
        return self.answer(200, {"resources": {"core": core_rl}, "rate": core_rl})

    def list_workflows(self, req):
        wfs = [self.render_wf(w) for w in WORKFLOWS]
        return self.answer(200, {"total_count": len(wfs), "workflows": wfs})

    def get_workflow(self, req, key):
        w = self.workflow(urllib.parse.unquote(key))
        if w is None:
            return self.error(404, "Not Found", "https://docs.github.com/rest/actions/workflows#get-a-workflow")
        return self.answer(200, self.render_wf(w))

    def dispatch(self, req, key):
        w = self.workflow(urllib.parse.unquote(key))
        if w is None:
            return self.error(404, "Not Found", DOCS)
        try:
            body = json.loads(req.body or b"null")
        except ValueError:
            return self.error(400, "Problems parsing JSON", DOCS)
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
            return self.error(422, "Invalid request.\n\n\"ref\" wasn't supplied.", DOCS)
        ref = body["ref"]
        branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
        if branch not in BRANCHES:
            return self.error(422, "No ref found for: %s" % ref, DOCS)
        if not w[3] or w[1] not in BRANCHES[branch]:
            return self.error(422, "Workflow does not have 'workflow_dispatch' trigger", DOCS)
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            return self.error(422, "Invalid request.\n\nFor 'properties/inputs', %s is not an object." %
                              json.dumps(inputs), DOCS)
        extra = sorted(k for k in inputs if k not in w[4])
        if extra:
            return self.error(422, "Unexpected inputs provided: %s" % json.dumps(extra), DOCS)
        for k, required in w[4].items():
            if required and not inputs.get(k):
                return self.error(422, "Required input '%s' not provided" % k, DOCS)
        for k, v in inputs.items():
            if not isinstance(v, str):
                return self.error(422, "Invalid request.\n\nFor 'properties/%s', %s is not a string." %
                                  (k, json.dumps(v)), DOCS)
        r = Run(self.next_run, self.next_number, w, branch, inputs, self.knobs["conclusion"],
                self.knobs["polls"], self.knobs["hide"], self.knobs["step_name"])
        self.next_run += 1
        self.next_number += 1
        self.runs[r.id] = r
        if body.get("return_run_details") is True and self.knobs["details"]:
            return self.answer(200, {
                "workflow_run_id": r.id,
                "run_url": "http://api.github.invalid/repos/%s/%s/actions/runs/%d" % (OWNER, REPO, r.id),
                "html_url": "https://github.com/%s/%s/actions/runs/%d" % (OWNER, REPO, r.id)})
        return self.answer(204)

    def filtered_runs(self, req, wf=None):
        created = req.qget("created")
        after = None
        if created:
            c = created
            if c.startswith(">="):
                c = c[2:]
            elif c.startswith(">"):
                c = c[1:]
            try:
                after = parse_iso(c)
            except ValueError:
                return None, self.error(422, "Invalid request.\n\nInvalid value for created.")
        out = []
        for r in sorted(self.runs.values(), key=lambda x: -x.id):
            if r.hide > 0:
                r.hide -= 1
                continue
            if wf is not None and r.wf is not wf:
                continue
            if req.qget("event") and req.qget("event") != "workflow_dispatch":
                continue
            if req.qget("branch") and req.qget("branch") != r.ref:
                continue
            if after is not None and int(r.created) < int(after):
                continue
            out.append(self.render_run(r))
        try:
            per = max(1, min(100, int(req.qget("per_page", "30"))))
        except ValueError:
            per = 30
        return {"total_count": len(out), "workflow_runs": out[:per]}, None

    def list_runs(self, req):
        doc, err = self.filtered_runs(req)
        return err or self.answer(200, doc)

    def list_wf_runs(self, req, key):
        w = self.workflow(urllib.parse.unquote(key))
        if w is None:
            return self.error(404, "Not Found")
        doc, err = self.filtered_runs(req, w)
        return err or self.answer(200, doc)

    def get_run(self, req, rid):
        r = self.runs.get(int(rid))
        if r is None:
            return self.error(404, "Not Found", "https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run")
        self.advance(r)
        return self.answer(200, self.render_run(r))

    def get_jobs(self, req, rid):
        r = self.runs.get(int(rid))
        if r is None:
            return self.error(404, "Not Found")
        return self.answer(200, self.render_jobs(r))

    # ---------------- admin knobs ----------------

    def admin(self, method, path, data):
        if path == "/github/knobs" and method in ("GET", "POST"):
            with self.lock:
                for k, v in (data or {}).items():
                    if k not in self.knobs:
                        raise ValueError("unknown github knob %r (%s)" % (k, ", ".join(sorted(self.knobs))))
                    self.knobs[k] = v if isinstance(self.knobs[k], str) else int(v)
                    if k in ("remaining", "reset_in"):
                        self.reset_at = time.time() + self.knobs["reset_in"]
                return 200, {"knobs": dict(self.knobs)}
        if path == "/github/runs" and method == "GET":
            with self.lock:
                return 200, {"runs": [dict(self.render_run(r), inputs=r.inputs) for r in self.runs.values()]}
        return None


def make(lab, P, args):
    return GitHub(lab, "ghp_" + secrets.token_urlsafe(27)[:36])
