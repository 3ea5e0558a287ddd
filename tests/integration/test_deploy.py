"""Integration tests of `labdeck deploy list|sync|run` against labsim's ArgoCD and GitHub: what was
sent (labsim's request record), what was printed, the exit status; the refusals that send
nothing; the services' own error bodies; a hostile name never reaching the terminal raw; Ctrl-C
while following; GitHub's primary rate limit waited out until X-RateLimit-Reset (GETs only)."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import itest
from itest import check, run, sanitizer_clean, test

FAST = {"LABDECK_POLL_INTERVAL": "0.05"}


def dl(lab, *args, config=None, stdin=""):
    r = run(*args, config=config or lab.config, env=FAST, stdin=stdin)
    sanitizer_clean(r)
    return r


def changing(reqs):
    return [r for r in reqs if r["method"] != "GET"]


def knob(lab, path, body):
    return lab._admin("POST", path, body)


@test
def deploy_list_both(lab):
    lab.clear()
    r = dl(lab, "deploy", "list", "--json")
    check(r.code == 0, "deploy list --json exits 0", r)
    doc = r.json()
    check(set(doc) == {"applications", "workflows", "errors"} and doc["errors"] == [], "SPEC shape", doc)
    apps = itest.by_name(doc["applications"])
    check(set(apps) == {"root-app", "gateway", "frontend", "backend", "models"}, "the five apps", doc)
    for a in doc["applications"]:
        check({"name", "sync", "health", "revision"} <= set(a), "app fields", a)
    check(apps["backend"]["health"] == "Degraded" and apps["models"]["sync"] == "OutOfSync",
          "sync and health as ArgoCD says", apps)
    check(apps["gateway"]["parent"] == "root-app" and apps["root-app"]["parent"] is None,
          "children of the app-of-apps", apps)
    wfs = {os.path.basename(w["path"]): w for w in doc["workflows"]}
    check(set(wfs) == {"bootstrap.yaml", "argocd-setup.yaml", "deploy-gateway.yml", "deploy-frontend.yml",
                       "deploy-backend.yml", "deploy-models.yml"}, "the six workflows", doc)
    check(all(w["state"] == "active" and w["name"] for w in doc["workflows"]), "workflow fields", doc)
    reqs = lab.requests("argocd")
    check(any(q["path"].startswith("/api/v1/applications") and q["headers"].get("Authorization", "")
              .startswith("Bearer ") for q in reqs), "ArgoCD asked with the Bearer token", reqs)
    gh = lab.requests("github")
    check(any("/repos/lab/homelab/actions/workflows" in q["path"] for q in gh), "GitHub asked", gh)
    r = dl(lab, "deploy", "list")
    check(r.code == 0 and "└ gateway" in r.out and "deploy-models.yml" in r.out, "the table", r)


@test
def deploy_list_one_down(lab):
    lab.clear()
    lab._admin("POST", "/outage", {"backend": "github", "down": True})
    try:
        r = dl(lab, "deploy", "list", "--json")
    finally:
        lab._admin("POST", "/outage", {"backend": "github", "down": False})
    check(r.code == 3, "github down: exit 3", r)
    doc = r.json()
    check(len(doc["applications"]) == 5 and doc["workflows"] == [], "ArgoCD still listed", doc)
    check(len(doc["errors"]) == 1 and doc["errors"][0]["backend"] == "github", "one error, github's", doc)
    check(len(r.err.strip().splitlines()) == 1 and "github" in r.err, "one clear line", r)


@test
def deploy_sync_wait(lab):
    lab.clear()
    r = dl(lab, "deploy", "sync", "frontend", "--yes", "--wait", "--json")
    check(r.code == 0, "sync --wait exits 0", r)
    doc = r.json()
    check(doc["action"] == "sync" and doc["target"] == "frontend" and doc["state"] == "Succeeded"
          and doc["sync"] == "Synced", "the action answer", doc)
    posts = changing(lab.requests("argocd"))
    check(len(posts) == 1 and posts[0]["method"] == "POST"
          and posts[0]["path"] == "/api/v1/applications/frontend/sync", "one POST .../sync", posts)
    body = json.loads(posts[0]["body"])
    check(body.get("prune") is False and body.get("dryRun") is False, "prune and dryRun off", body)
    check("Running" in r.err and "Succeeded" in r.err, "progress lines on stderr", r)
    gets = [q for q in lab.requests("argocd") if q["path"] == "/api/v1/applications/frontend"]
    check(len(gets) >= 2, "followed by polling", gets)


@test
def deploy_sync_prune_dry(lab):
    lab.clear()
    r = dl(lab, "deploy", "sync", "models", "--prune", "--dry-run", "--yes", "--wait")
    check(r.code == 0 and "sync models: Succeeded" in r.out, "dry run succeeded", r)
    body = json.loads(changing(lab.requests("argocd"))[0]["body"])
    check(body == {"prune": True, "dryRun": True}, "prune and dryRun sent", body)


@test
def deploy_sync_failed(lab):
    lab.clear()
    knob(lab, "/argocd/apps/backend", {"fail": True})
    try:
        r = dl(lab, "deploy", "sync", "backend", "--yes", "--wait")
    finally:
        knob(lab, "/argocd/apps/backend", {"fail": False})
    check(r.code == 1, "a failed sync exits 1", r)
    check("Failed" in r.out and "failed to apply" in r.err, "the failure said", r)


@test
def deploy_sync_busy(lab):
    lab.clear()
    knob(lab, "/argocd/apps/gateway", {"polls": 1000})
    try:
        r = dl(lab, "deploy", "sync", "gateway", "--yes")
        check(r.code == 0 and "Running" in r.out, "first sync accepted", r)
        r = dl(lab, "deploy", "sync", "gateway", "--yes")
        check(r.code == 1, "second sync off a terminal: exit 1", r)
        check("another operation is already in progress" in r.err, "ArgoCD's message said", r)
        posts = changing(lab.requests("argocd"))
        check(len(posts) == 2, "each sync sent once, none retried", posts)
    finally:
        knob(lab, "/argocd/apps/gateway", {"polls": 0})
        dl(lab, "deploy", "list")  # one poll ends it


@test
def deploy_sync_refusals(lab):
    lab.clear()
    r = dl(lab, "deploy", "sync", "gateway")
    check(r.code == 2 and "--yes" in r.err, "no --yes off a terminal: exit 2", r)
    r = dl(lab, "--readonly", "deploy", "sync", "gateway", "--yes")
    check(r.code == 2 and "read-only" in r.err, "--readonly: exit 2", r)
    r = dl(lab, "--readonly", "deploy", "run", "deploy-gateway.yml", "--yes")
    check(r.code == 2, "--readonly run: exit 2", r)
    check(changing(lab.requests("argocd")) == [] and changing(lab.requests("github")) == [],
          "nothing sent", lab.requests())


@test
def deploy_sync_unknown_app(lab):
    lab.clear()
    r = dl(lab, "deploy", "sync", "no-such-app", "--yes")
    check(r.code == 4, "403: exit 4", r)
    check("permission denied (ArgoCD also answers 403 for an app that does not exist)" in r.err, "explained", r)


@test
def deploy_token_expired(lab):
    lab.clear()
    cfg = lab.write_config(open(lab.config).read().replace(
        "token_file = " + os.path.join(lab.dir, "argocd-token"),
        "token = " + lab.state["argocd"]["expired_token"]))
    r = dl(lab, "deploy", "sync", "gateway", "--yes", config=cfg)
    check(r.code == 4 and "token is expired" in r.err, "expired token: exit 4, ArgoCD's words", r)


@test
def deploy_argocd_down(lab):
    lab.clear()
    lab._admin("POST", "/outage", {"backend": "argocd", "down": True})
    try:
        r = dl(lab, "deploy", "sync", "gateway", "--yes", "--wait")
    finally:
        lab._admin("POST", "/outage", {"backend": "argocd", "down": False})
    check(r.code == 3, "argocd down: exit 3", r)
    check(len(r.err.strip().splitlines()) == 1 and "argocd" in r.err, "one clear line", r)


@test
def deploy_run_wait(lab):
    lab.clear()
    r = dl(lab, "deploy", "run", "deploy-gateway.yml", "--input", "image_tag=v1.2.3", "--yes", "--wait", "--json")
    check(r.code == 0, "run --wait exits 0", r)
    doc = r.json()
    check(doc["action"] == "run" and doc["target"] == "deploy-gateway.yml" and doc["state"] == "success"
          and doc["id"].isdigit(), "the action answer with the run id", doc)
    posts = changing(lab.requests("github"))
    check(len(posts) == 1 and posts[0]["path"] == "/repos/lab/homelab/actions/workflows/deploy-gateway.yml/dispatches",
          "one POST .../dispatches", posts)
    body = json.loads(posts[0]["body"])
    check(body["ref"] == "main" and body["inputs"] == {"image_tag": "v1.2.3"}, "ref and inputs sent", body)
    check(posts[0]["headers"].get("Authorization", "").startswith("Bearer "), "Bearer auth", posts[0])
    check("Build image" in r.err and "completed success" in r.err, "jobs and steps followed", r)
    runs = lab._admin("GET", "/github/runs")["runs"]
    check(str(runs[-1]["id"]) == doc["id"], "the run that dispatch created", (runs, doc))


@test
def deploy_run_found_by_polling(lab):
    """A server without return_run_details (204): the run is found among runs created after."""
    lab.clear()
    knob(lab, "/github/knobs", {"details": 0, "hide": 2})
    try:
        r = dl(lab, "deploy", "run", "deploy-backend.yml", "--yes", "--json")
    finally:
        knob(lab, "/github/knobs", {"details": 1, "hide": 1})
    check(r.code == 0 and r.json()["id"].isdigit(), "the run found", r)
    runs = lab._admin("GET", "/github/runs")["runs"]
    check(str(runs[-1]["id"]) == r.json()["id"], "the run that dispatch created", (runs, r.out))
    lists = [q for q in lab.requests("github") if "/runs?" in q["path"]]
    check(len(lists) >= 2 and all("created=%3E%3D" in q["path"] and "event=workflow_dispatch" in q["path"]
                                  and "branch=main" in q["path"] for q in lists),
          "polled runs of that workflow created after the dispatch", lists)


@test
def deploy_run_failure(lab):
    lab.clear()
    knob(lab, "/github/knobs", {"conclusion": "failure"})
    try:
        r = dl(lab, "deploy", "run", "deploy-frontend.yml", "--yes", "--wait")
    finally:
        knob(lab, "/github/knobs", {"conclusion": "success"})
    check(r.code == 1 and "failure" in r.out, "a failed run exits 1", r)
    check("Build image" in r.err, "the failing step named", r)


@test
def deploy_run_422(lab):
    lab.clear()
    r = dl(lab, "deploy", "run", "bootstrap.yaml", "--yes")
    check(r.code == 1, "422: exit 1", r)
    check("Workflow does not have 'workflow_dispatch' trigger" in r.err and "not on that ref" in r.err,
          "GitHub's message and the explanation", r)
    r = dl(lab, "deploy", "run", "deploy-models.yml", "--ref", "dev", "--input", "model=x", "--yes")
    check(r.code == 1 and "on dev" in r.err, "file not on the ref", r)
    r = dl(lab, "deploy", "run", "deploy-models.yml", "--yes")
    check(r.code == 1 and "Required input 'model' not provided" in r.err, "GitHub's own error body", r)
    r = dl(lab, "deploy", "run", "deploy-models.yml", "--input", "nokey", "--yes")
    check(r.code == 2, "--input without = is a usage error", r)


@test
def deploy_run_auth(lab):
    lab.clear()
    cfg = lab.write_config(open(lab.config).read().replace(
        "token_file = " + os.path.join(lab.dir, "github-token"), "token = ghp_wrong"))
    r = dl(lab, "deploy", "run", "deploy-gateway.yml", "--yes", config=cfg)
    check(r.code == 4 and "Bad credentials" in r.err and "ghp_wrong" not in r.err, "401: exit 4, no secret", r)


@test
def deploy_run_secondary_rate_limit(lab):
    lab.clear()
    r0 = dl(lab, "deploy", "run", "argocd-setup.yaml", "--yes")
    check(r0.code == 0, "dispatch", r0)
    knob(lab, "/github/knobs", {"secondary": 1})
    t0 = time.time()
    r = dl(lab, "deploy", "list", "--json")
    check(r.code == 0 and len(r.json()["workflows"]) == 6, "Retry-After waited out, then asked again", r)
    check(time.time() - t0 >= 0.9, "it waited the Retry-After second", r)


@test
def deploy_hostile_message(lab):
    lab.clear()
    knob(lab, "/argocd/apps/root-app", {"message": "evil \x1b]0;pwned\x07\x1b[2J done"})
    r = dl(lab, "deploy", "sync", "root-app", "--yes", "--wait")
    check(r.code == 0, "sync ok", r)
    r2 = dl(lab, "deploy", "list")
    for x in (r, r2):
        check("\x1b" not in x.err and "\x07" not in x.err, "no raw escape on stderr", x)
    knob(lab, "/github/knobs", {"step_name": "Build \x1b[31mred\x1b[0m"})
    try:
        r = dl(lab, "deploy", "run", "deploy-gateway.yml", "--yes", "--wait")
    finally:
        knob(lab, "/github/knobs", {"step_name": "Build image"})
    check(r.code == 0 and "\x1b" not in r.err and "red" in r.err, "hostile step name sanitised", r)


def pty_run(lab, args, answer):
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(FAST)
        os.environ["LC_ALL"] = "C.UTF-8"
        os.execv(itest.LABDECK, [itest.LABDECK, "--config", lab.config] + args)
    out = b""
    sent = False
    deadline = time.time() + 20
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                break
            if not d:
                break
            out += d
            if not sent and (b"confirm" in out or b"[y/N]" in out or b"[c]ancel" in out):
                os.write(fd, answer)
                sent = True
    done, status = 0, 0
    end = time.time() + 5
    while done == 0 and time.time() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    if done == 0:  # still waiting for input: a failure, not a hang
        os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def settle(lab, app):
    """Waits until app has no operation running (other tests share the lab and may have left
    one): each `deploy list` is a poll, and labsim advances operations on polls."""
    for _ in range(100):
        state = lab._admin("GET", "/argocd/apps") or {}
        if (state.get("apps", {}).get(app) or {}).get("phase") != "Running":
            return
        dl(lab, "deploy", "list")
        time.sleep(0.05)
    raise AssertionError("%s still has an operation running" % app)


@test
def deploy_sync_prune_confirm_pty(lab):
    lab.clear()
    settle(lab, "gateway")
    code, out = pty_run(lab, ["deploy", "sync", "gateway", "--prune"], b"nope\n")
    check(code == 1 and "type gateway to confirm" in out, "a wrong name: not done", out)
    check(changing(lab.requests("argocd")) == [], "nothing sent", lab.requests("argocd"))
    settle(lab, "gateway")
    code, out = pty_run(lab, ["deploy", "sync", "gateway", "--prune", "--wait"], b"gateway\n")
    check(code == 0 and "Succeeded" in out, "the typed name: synced", out)
    check(len(changing(lab.requests("argocd"))) == 1, "one sync sent", lab.requests("argocd"))


@test
def deploy_sync_busy_terminate_pty(lab):
    lab.clear()
    knob(lab, "/argocd/apps/frontend", {"polls": 1000})
    try:
        r = dl(lab, "deploy", "sync", "frontend", "--yes")
        check(r.code == 0, "first sync", r)
        knob(lab, "/argocd/apps/frontend", {"polls": 2})
        code, out = pty_run(lab, ["deploy", "sync", "frontend", "--yes", "--wait"], b"t\n")
        check("[t]erminate" in out, "offered wait or terminate", out)
        methods = [(q["method"], q["path"]) for q in changing(lab.requests("argocd"))]
        check(("DELETE", "/api/v1/applications/frontend/operation") in methods, "terminate sent", methods)
        check(code == 0 and methods.count(("POST", "/api/v1/applications/frontend/sync")) == 3,
              "then synced again", (code, out, methods))
    finally:
        knob(lab, "/argocd/apps/frontend", {"polls": 2})


def interrupt_when(lab, args, ready, timeout=15):
    """Runs labdeck ARGS in a process group of its own, sends it SIGINT (as Ctrl-C on a terminal
    does: to the whole group) once ready() is true, and returns (exit status, stdout, stderr)."""
    e = dict(os.environ, LC_ALL="C.UTF-8", **FAST)
    p = subprocess.Popen([itest.LABDECK, "--config", lab.config] + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, text=True,
                         start_new_session=True)
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None and not ready():
        time.sleep(0.05)
    time.sleep(0.2)
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=timeout)
    check("Sanitizer" not in err and "runtime error:" not in err, "no sanitizer report", err)
    return p.returncode, out, err


def last_discord(lab):
    msgs = lab._admin("GET", "/discord/messages")["messages"]
    return msgs[-1] if msgs else None


@test
def deploy_sync_ctrl_c_stops_following(lab):
    lab.clear()
    settle(lab, "frontend")
    knob(lab, "/argocd/apps/frontend", {"polls": 1000})
    try:
        code, out, err = interrupt_when(
            lab, ["deploy", "sync", "frontend", "--yes", "--wait"],
            lambda: len([q for q in lab.requests("argocd")
                         if q["method"] == "GET" and q["path"] == "/api/v1/applications/frontend"]) >= 2)
        check(code == 130, "Ctrl-C while following: exit 130", (code, out, err))
        check("stopped following; the sync of frontend goes on" in err and "labdeck deploy list" in err,
              "says the sync goes on and how to check it", err)
        check(out == "", "no answer on stdout", out)
        posts = changing(lab.requests("argocd"))
        check(len(posts) == 1 and posts[0]["path"] == "/api/v1/applications/frontend/sync",
              "one sync sent, nothing to stop it", posts)
        app = lab._admin("GET", "/argocd/apps")["apps"]["frontend"]
        check(app["phase"] == "Running", "the sync itself still runs", app)
        m = last_discord(lab)
        check(m and m["history"][0] == "**sync** frontend: started"
              and m["content"] == "**sync** frontend: stopped following; still running",
              "the Discord message was posted at the start and ends saying it was left running", m)
    finally:
        knob(lab, "/argocd/apps/frontend", {"polls": 2})
    settle(lab, "frontend")


@test
def deploy_run_waits_for_the_rate_limit_reset(lab):
    """GitHub's primary limit: 403 with X-RateLimit-Remaining 0 and no Retry-After. A GET waits
    until X-RateLimit-Reset, then asks again."""
    lab.clear()
    knob(lab, "/github/knobs", {"remaining": 0, "reset_in": 2})
    try:
        t0 = time.time()
        r = dl(lab, "deploy", "list", "--json")
    finally:
        knob(lab, "/github/knobs", {"remaining": 4990, "reset_in": 3600})
    check(r.code == 0 and len(r.json()["workflows"]) == 6 and r.json()["errors"] == [],
          "the workflows, once the limit reset", r)
    wf = [q for q in lab.requests("github") if q["path"].startswith("/repos/lab/homelab/actions/workflows")]
    check([q["status"] for q in wf] == [403, 200], "refused once, asked again once", wf)
    gap = wf[1]["time"] - wf[0]["time"]
    check(1.0 <= gap <= 4.5, "asked again after the reset (2 s), not before: %.2f s" % gap, wf)
    check(time.time() - t0 < 10, "no long wait", None)


@test
def deploy_rate_limit_reset_far_away_is_said(lab):
    lab.clear()
    knob(lab, "/github/knobs", {"remaining": 0, "reset_in": 600})
    try:
        r = dl(lab, "deploy", "list")
        r2 = dl(lab, "deploy", "run", "deploy-gateway.yml", "--yes", "--wait")
    finally:
        knob(lab, "/github/knobs", {"remaining": 4990, "reset_in": 3600})
    check(r.elapsed < 5, "a reset 10 min away is not waited for", r)
    check(r.code == 3, "rate limited: exit 3", r)
    check(re.search(r"API rate limit exceeded.*the rate limit resets at \d\d:\d\d:\d\d \(in 10 min\)",
                    r.err), "GitHub's message and when the limit resets, plainly", r)
    wf = [q for q in lab.requests("github") if "/actions/workflows?" in q["path"]]
    check(len(wf) == 1, "asked once", wf)
    check(r2.code == 3 and "resets at" in r2.err and r2.out == "", "the dispatch refused: exit 3", r2)
    posts = changing(lab.requests("github"))
    check(len(posts) == 1, "the dispatch POST was sent once, never again", posts)


@test
def deploy_rate_limited_post_is_not_retried(lab):
    """Even with the reset 2 s away, a POST refused by the rate limit is not sent again."""
    lab.clear()
    knob(lab, "/github/knobs", {"remaining": 0, "reset_in": 2})
    try:
        r = dl(lab, "deploy", "run", "deploy-gateway.yml", "--yes")
        time.sleep(2.5)
    finally:
        knob(lab, "/github/knobs", {"remaining": 4990, "reset_in": 3600})
    check(r.code == 3 and "API rate limit exceeded" in r.err, "the dispatch refused: exit 3", r)
    posts = changing(lab.requests("github"))
    check(len(posts) == 1, "one POST: a dispatch is never retried on its own", posts)
    check(r.elapsed < 1.5, "and not waited for either", r)
