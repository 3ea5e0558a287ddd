"""Integration tests of `labdeck jobs list|trigger|pause|unpause` against labsim: Airflow 2 (the
shared lab) and Airflow 3 (a lab of its own, --airflow 3), Kubernetes CronJobs run now as
kubectl's `create job --from=cronjob/` does. Each asserts what was sent (labsim's request
record), what was printed and the exit status."""
import base64
import json
import os
import pty
import select
import signal
import subprocess
import time

import itest
from itest import check, run, sanitizer_clean, test, test_alone
from lab import Lab

FAST = {"LABDECK_POLL_INTERVAL": "0.02"}


def jobs(cfg, *args, stdin=""):
    r = run("jobs", *args, config=cfg, env=FAST, stdin=stdin)
    sanitizer_clean(r)
    return r


def sent(lab, backend, method=None, contains=None):
    return [q for q in lab.requests(backend)
            if (method is None or q["method"] == method) and (contains is None or contains in q["path"])]


def admin(lab, method, path, body=None):
    return lab._admin(method, path, body)


@test
def jobs_list_dags_and_cronjobs(lab):
    r = jobs(lab.config, "list", "--json")
    check(r.code == 0, "jobs list --json exits 0", r)
    doc = r.json()
    check(set(doc) == {"dags", "cronjobs", "errors"} and doc["errors"] == [], "the SPEC shape", doc)
    dags = itest.by_name(doc["dags"], "dag_id")
    check(set(dags) == {"rag_ingest_daily", "backup_postgres", "model_warmup"}, "three DAGs", doc)
    check(dags["model_warmup"]["paused"] is True and dags["rag_ingest_daily"]["paused"] is False,
          "paused as Airflow says", dags)
    check(dags["backup_postgres"]["last_run_state"] == "failed", "last run state", dags)
    cjs = itest.by_name(doc["cronjobs"])
    check(cjs["rag-reindex"] == {"namespace": "batch", "name": "rag-reindex", "schedule": "0 3 * * *",
                                 "last_schedule": cjs["rag-reindex"]["last_schedule"]}
          and cjs["rag-reindex"]["last_schedule"].endswith("Z"), "a CronJob with its schedules", cjs)
    check(cjs["backup-etcd"]["schedule"] == "*/30 * * * *", "backup-etcd's schedule", cjs)
    r = jobs(lab.config, "list")
    check(r.code == 0 and "rag_ingest_daily" in r.out and "*/30 * * * *" in r.out
          and "LAST SCHEDULE" in r.out, "the tables", r)


@test
def jobs_trigger_airflow2_wait(lab):
    lab.clear()
    r = jobs(lab.config, "trigger", "rag_ingest_daily", "--conf", '{"full": true}', "--yes", "--wait",
             "--json")
    check(r.code == 0, "a run that succeeds: exit 0", r)
    doc = r.json()
    check(doc["action"] == "jobs trigger" and doc["target"] == "rag_ingest_daily"
          and doc["id"].startswith("manual__") and doc["state"] == "success", "the action answer", doc)
    posts = sent(lab, "airflow", "POST")
    check(len(posts) == 1 and posts[0]["path"] == "/api/v1/dags/rag_ingest_daily/dagRuns",
          "one POST to /api/v1 (Airflow 2)", posts)
    check(json.loads(posts[0]["body"]) == {"conf": {"full": True}}, "the body: the conf, no logical_date",
          posts[0]["body"])
    st = lab.state["airflow"]
    want = "Basic " + base64.b64encode(("%s:%s" % (st["username"], st["password"])).encode()).decode()
    check(posts[0]["headers"].get("Authorization") == want, "basic auth from [airflow]", posts[0]["headers"])
    check("task upsert_pgvector: success" in r.err and ": running" in r.err, "progress on stderr", r.err)
    polls = [q for q in sent(lab, "airflow", "GET", "/dags/rag_ingest_daily/dagRuns/manual__")
             if not q["path"].endswith("/taskInstances")]
    check(len(polls) >= 3, "the run was polled until it ended", len(polls))
    check(st["password"] not in r.out + r.err, "the password is never printed", None)


@test
def jobs_trigger_failed_run_exit_1(lab):
    admin(lab, "POST", "/airflow/outcome", {"dag_id": "backup_postgres", "state": "failed"})
    try:
        r = jobs(lab.config, "trigger", "backup_postgres", "--yes", "--wait")
    finally:
        admin(lab, "POST", "/airflow/outcome", {"dag_id": "backup_postgres", "state": "success"})
    check(r.code == 1, "a failed run: exit 1", r)
    check("jobs trigger backup_postgres: failed" in r.out and "task upload: failed" in r.err,
          "says failed, and which task", r)


@test
def jobs_trigger_without_wait(lab):
    r = jobs(lab.config, "trigger", "rag_ingest_daily", "--yes", "--json")
    check(r.code == 0 and r.json()["state"] == "queued", "without --wait: the run as created", r)


@test
def jobs_refusals_send_nothing(lab):
    lab.clear()
    r = jobs(lab.config, "trigger", "rag_ingest_daily")
    check(r.code == 2 and "--yes" in r.err, "no --yes off a terminal: exit 2 with the hint", r)
    r = jobs(lab.config, "trigger", "cronjob/rag-reindex", "-n", "batch")
    check(r.code == 2, "the same for a CronJob", r)
    r = run("--readonly", "jobs", "trigger", "rag_ingest_daily", "--yes", config=lab.config)
    check(r.code == 2 and "read-only" in r.err, "--readonly: exit 2", r)
    r = run("--readonly", "jobs", "pause", "rag_ingest_daily", "--yes", config=lab.config)
    check(r.code == 2, "--readonly pause: exit 2", r)
    check(sent(lab, "airflow") == [], "nothing was sent to Airflow", sent(lab, "airflow"))
    check(sent(lab, "kubernetes", "POST") == [], "no Job was created", None)
    r = jobs(lab.config, "trigger", "rag_ingest_daily", "--conf", "[1]", "--yes")
    check(r.code == 2 and "JSON object" in r.err and sent(lab, "airflow") == [], "a bad --conf: exit 2", r)


def on_terminal(cfg, args, answer):
    master, slave = pty.openpty()
    e = dict(os.environ, LC_ALL="C.UTF-8", **FAST)
    p = subprocess.Popen([itest.LABDECK, "--config", cfg, *args], stdin=slave,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    os.close(slave)
    err = b""
    deadline = time.time() + 20
    while b"[y/N]" not in err and time.time() < deadline and p.poll() is None:
        ready, _, _ = select.select([p.stderr], [], [], 0.2)
        if ready:
            err += os.read(p.stderr.fileno(), 4096)
    check(b"[y/N]" in err, "the prompt was shown", err)
    os.write(master, answer.encode())
    out, rest = p.communicate(timeout=30)
    os.close(master)
    return p.returncode, out.decode(), (err + rest).decode()


@test
def jobs_confirmation_on_a_terminal(lab):
    lab.clear()
    code, out, err = on_terminal(lab.config, ["jobs", "trigger", "rag_ingest_daily"], "n\n")
    check("Trigger Airflow DAG rag_ingest_daily with conf {}? [y/N]" in err, "the question names it", err)
    check(code == 1 and sent(lab, "airflow", "POST") == [], "no: exit 1, nothing triggered", (code, err))
    code, out, err = on_terminal(lab.config, ["jobs", "pause", "model_warmup"], "y\n")
    check(code == 0 and "jobs pause model_warmup: paused" in out, "yes: done", (code, out, err))
    patches = sent(lab, "airflow", "PATCH")
    check(len(patches) == 1 and patches[0]["path"] == "/api/v1/dags/model_warmup?update_mask=is_paused"
          and json.loads(patches[0]["body"]) == {"is_paused": True}, "the PATCH Airflow 2 documents", patches)


@test
def jobs_pause_unpause(lab):
    r = jobs(lab.config, "unpause", "backup_postgres", "--yes", "--json")
    check(r.code == 0 and r.json()["state"] == "unpaused", "unpause", r)
    r = jobs(lab.config, "pause", "backup_postgres", "--yes")
    check(r.code == 0 and "paused" in r.out, "pause", r)
    doc = jobs(lab.config, "list", "--json").json()
    check(itest.by_name(doc["dags"], "dag_id")["backup_postgres"]["paused"] is True, "list shows it paused", doc)
    jobs(lab.config, "unpause", "backup_postgres", "--yes")
    r = jobs(lab.config, "trigger", "model_warmup", "--yes", "--wait")
    check(r.code == 1 and "paused" in r.err, "--wait on a paused DAG: warned, not waiting forever", r)


@test
def jobs_airflow_errors(lab):
    r = jobs(lab.config, "trigger", "no_such_dag", "--yes")
    check(r.code == 1 and "DAG with dag_id: 'no_such_dag' not found" in r.err, "Airflow's own 404 detail", r)
    check(len(r.err.strip().splitlines()) == 1, "one line", r.err)
    lab.fault("airflow", "status", code=403, path="/api/v1/dags", count=1)
    r = jobs(lab.config, "list", "--json")
    check(r.code == 4 and r.json()["errors"][0]["backend"] == "airflow", "403: exit 4", r)
    check(r.json()["cronjobs"], "the CronJobs are still listed", r)
    bad = lab.write_config(open(lab.config).read().replace(
        "password_file = " + os.path.join(lab.dir, "airflow-password"), "password = wrong"))
    r = jobs(bad, "trigger", "rag_ingest_daily", "--yes")
    check(r.code == 4 and "401" in r.err and "[airflow]" in r.err, "wrong password: exit 4", r)
    evil = "no \x1b]0;pwned\x07 \x1b[31mred"
    lab.fault("airflow", "status", code=400, path="/api/v1/dags/rag_ingest_daily/dagRuns", count=1,
              reason=evil)
    r = jobs(lab.config, "trigger", "rag_ingest_daily", "--yes")
    check(r.code == 1 and "pwned" in r.err and "\x1b" not in r.err and "\x07" not in r.err,
          "a hostile error detail is shown, escapes removed", r)
    lab.fault("airflow", "malformed", path="/api/v1/dags", count=1)
    r = jobs(lab.config, "list")
    check(r.code == 3 and "malformed" in r.err, "a malformed answer: exit 3", r)


@test
def jobs_airflow_down(lab):
    admin(lab, "POST", "/outage", {"backend": "airflow", "down": True})
    try:
        r = jobs(lab.config, "trigger", "rag_ingest_daily", "--yes")
    finally:
        admin(lab, "POST", "/outage", {"backend": "airflow", "down": False})
    check(r.code == 3 and len(r.err.strip().splitlines()) == 1 and "airflow" in r.err,
          "Airflow down: exit 3, one line", r)


@test
def jobs_cronjob_run_now(lab):
    lab.clear()
    r = jobs(lab.config, "trigger", "cronjob/rag-reindex", "-n", "batch", "--yes", "--wait", "--json")
    check(r.code == 0, "a Job that completes: exit 0", r)
    doc = r.json()
    check(doc["action"] == "jobs trigger" and doc["target"] == "cronjob/rag-reindex"
          and doc["state"] == "complete" and doc["id"].startswith("rag-reindex-manual-")
          and len(doc["id"]) == len("rag-reindex-manual-") + 5, "the action answer", doc)
    posts = sent(lab, "kubernetes", "POST")
    check(len(posts) == 1 and posts[0]["path"].startswith("/apis/batch/v1/namespaces/batch/jobs?")
          and "fieldValidation=Strict" in posts[0]["path"], "one POST of a Job", posts)
    job = json.loads(posts[0]["body"])
    cj = json.loads(subprocess_get(lab, "/apis/batch/v1/namespaces/batch/cronjobs/rag-reindex"))
    tmpl = cj["spec"]["jobTemplate"]
    check(job["kind"] == "Job" and job["apiVersion"] == "batch/v1", "a batch/v1 Job", job)
    check(job["metadata"]["name"] == doc["id"] and job["metadata"]["labels"] == tmpl["metadata"]["labels"],
          "named as answered, the template's labels", job["metadata"])
    check(job["metadata"]["annotations"] == dict(tmpl["metadata"]["annotations"],
                                                 **{"cronjob.kubernetes.io/instantiate": "manual"}),
          "the instantiate annotation, with the template's", job["metadata"])
    check(job["metadata"]["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob",
                                                  "name": "rag-reindex", "uid": cj["metadata"]["uid"],
                                                  "controller": True}], "the owner reference", job)
    check(job["spec"] == tmpl["spec"], "the template's spec verbatim", job["spec"])
    check("active" in r.err and "complete" in r.err, "progress on stderr", r.err)


@test
def jobs_cronjob_failed_and_found_without_n(lab):
    r = jobs(lab.config, "trigger", "cronjob/always-fails", "--yes", "--wait")
    check(r.code == 1 and "failed" in r.out and "backoff limit" in r.err,
          "found in its namespace without -n; Failed: exit 1 with the reason", r)
    r = jobs(lab.config, "trigger", "cronjob/nope", "-n", "batch", "--yes")
    check(r.code == 1 and 'cronjobs.batch "nope" not found' in r.err, "the apiserver's 404 message", r)


def subprocess_get(lab, path):
    import ssl
    import urllib.request
    ctx = ssl.create_default_context(cafile=os.path.join(lab.dir, "k8s-ca.pem"))
    req = urllib.request.Request(lab.state["kubernetes"]["url"] + path,
                                 headers={"Authorization": "Bearer " + lab.state["k8s_token"]})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        return resp.read()


@test_alone
def jobs_airflow3(lab=None):
    lab = Lab("--airflow", "3", "--churn", "0")
    try:
        r = jobs(lab.config, "list", "--json")
        check(r.code == 0 and len(r.json()["dags"]) == 3, "Airflow 3 found on its own", r)
        probes = [q["path"] for q in lab.requests("airflow")][:2]
        check(probes == ["/api/v2/version", "/auth/token"], "/api/v2/version first, then a token", probes)
        lab.clear()
        admin(lab, "POST", "/airflow/expire_tokens")
        r = jobs(lab.config, "trigger", "rag_ingest_daily", "--conf", '{"k": 1}', "--yes", "--wait", "--json")
        check(r.code == 0 and r.json()["state"] == "success", "trigger --wait on Airflow 3", r)
        reqs = lab.requests("airflow")
        post = [q for q in reqs if q["method"] == "POST" and q["path"].endswith("/dagRuns")]
        check(len(post) == 1 and post[0]["path"] == "/api/v2/dags/rag_ingest_daily/dagRuns"
              and json.loads(post[0]["body"]) == {"conf": {"k": 1}, "logical_date": None},
              "one POST to /api/v2 with logical_date null", post)
        check(post[0]["headers"]["Authorization"].startswith("Bearer "), "a bearer token", post[0]["headers"])
        check(not any(q["path"].startswith("/api/v1") for q in reqs), "never /api/v1", None)
        # the token is refused while following (it expired): a new one is fetched once, in the
        # same run of labdeck, and the poll is sent again
        lab.clear()
        lab.fault("airflow", "status", code=401, path="/api/v2/dags/backup_postgres/dagRuns/", count=1)
        r = jobs(lab.config, "trigger", "backup_postgres", "--yes", "--wait")
        tokens = [q for q in lab.requests("airflow") if q["path"] == "/auth/token"]
        check(r.code == 0 and len(tokens) == 2, "one labdeck run, a second token after the 401", (r, tokens))
        lab.clear()
        lab.fault("airflow", "status", code=401, path="/api/v2/dags", count=5)
        r = jobs(lab.config, "list")
        check(r.code == 4 and "401" in r.err, "a 401 that stays: exit 4 (renewed once, not in a loop)", r)
        check(len([q for q in lab.requests("airflow") if q["path"] == "/auth/token"]) == 2,
              "exactly one renewal", lab.requests("airflow"))
    finally:
        lab.close()


@test
def jobs_trigger_ctrl_c_stops_following(lab):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) while a run is followed: exit
    130, the run goes on, and the Discord message says it was left running."""
    lab.clear()
    e = dict(os.environ, LC_ALL="C.UTF-8", LABDECK_POLL_INTERVAL="5")
    p = subprocess.Popen([itest.LABDECK, "--config", lab.config, "jobs", "trigger", "backup_postgres",
                          "--yes", "--wait"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e, text=True, start_new_session=True)
    deadline = time.time() + 15
    while time.time() < deadline and p.poll() is None and not sent(lab, "airflow", "POST"):
        time.sleep(0.05)
    time.sleep(0.3)  # now in the 5 s pause between polls
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=15)
    check(p.returncode == 130, "Ctrl-C while following: exit 130", (p.returncode, out, err))
    check("Sanitizer" not in err and "runtime error:" not in err, "no sanitizer report", err)
    check("stopped following; the run goes on" in err and "labdeck jobs list" in err,
          "says the run goes on and how to check it", err)
    check(out == "", "no answer on stdout", out)
    posts = sent(lab, "airflow", "POST")
    check(len(posts) == 1 and posts[0]["path"] == "/api/v1/dags/backup_postgres/dagRuns",
          "one trigger sent", posts)
    check(sent(lab, "airflow", "PATCH") == [] and sent(lab, "airflow", "DELETE") == [],
          "nothing sent to stop the run", lab.requests("airflow"))
    runs = admin(lab, "GET", "/airflow")["dags"]["backup_postgres"]["runs"]
    check(runs and runs[-1]["state"] in ("queued", "running"), "the run itself goes on", runs)
    msgs = admin(lab, "GET", "/discord/messages")["messages"]
    check(msgs and msgs[-1]["history"][0] == "**jobs trigger** backup\\_postgres: started"
          and msgs[-1]["content"] == "**jobs trigger** backup\\_postgres: stopped following; still running",
          "the Discord message posted at the start ends saying it was left running",
          msgs[-1] if msgs else None)
