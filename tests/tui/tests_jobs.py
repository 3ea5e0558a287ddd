# The jobs view (6): Airflow DAGs and Kubernetes CronJobs in one list; T triggers a DAG or runs a
# CronJob now, C triggers a DAG with a typed conf, P pauses or unpauses a DAG or suspends or
# resumes a CronJob, each asked first and followed in the background;
# Enter shows the latest run's task instances or the Job started from here.
# Read into tests/tui/run.py's namespace (Console, lab, test, check, status_line... come from it).


def open_jobs(c, w_rows=6):
    c.first_frame()
    c.keys("6")
    return c.wait_for(lambda s: "[6 jobs]" in s.line(0) and "rag_ingest_daily" in s.text
                      and "backup-etcd" in s.text, "the jobs view with DAGs and CronJobs", 15)


def jobs_row(s, name):
    """The list row (text) naming name as a whole word, or None."""
    for l in s.lines:
        if re.search(r"(^|\s)%s(\s|$)" % re.escape(name), l) and ("DAG" in l or "CronJob" in l):
            return l
    return None


def select_job(c, name):
    c.keys("g")
    return select_where(c, lambda l: re.search(r"\s%s\s" % re.escape(name), l + " "),
                        "for %s" % name)


def bottom(c, s):
    return s.line(c.h - 1)


@test
def jobs_list_dags_and_cronjobs():
    with Console(lab(), w=140) as c:  # the title in full beside the eight tabs
        s = open_jobs(c)
        check("3 DAGs · 3 CronJobs · Airflow 2" in s.line(0),
              "title without the counts and Airflow's version: %r" % s.line(0))
        hdr = next((l for l in s.lines if l.lstrip().startswith("KIND")), "")
        for col in ("KIND", "NAMESPACE", "NAME", "SCHEDULE", "STATE", "LAST RUN", "ACTIVE"):
            check(col in hdr, "no %s column in %r" % (col, hdr))
        r = jobs_row(s, "rag_ingest_daily")
        check(r and r.split()[0] == "DAG" and "▶ active" in r
              and re.search(r"✓ success \d+h(\d+m)? ago", r), "rag_ingest_daily: %r" % r)
        r = jobs_row(s, "backup_postgres")
        check(r and re.search(r"✗ failed \d+h(\d+m)? ago", r), "backup_postgres: %r" % r)
        r = jobs_row(s, "model_warmup")
        check(r and "‖ paused" in r, "model_warmup not shown paused: %r" % r)
        r = jobs_row(s, "backup-etcd")
        check(r and r.split()[0] == "CronJob" and " batch " in r and "*/30 * * * *" in r
              and re.search(r"1[0-9]m ago", r), "backup-etcd: %r" % r)
        r = jobs_row(s, "rag-reindex")
        check(r and "0 3 * * *" in r and re.search(r"\b[67]h(\d+m)? ago", r), "rag-reindex: %r" % r)
        # Enter on a DAG: the latest run's task instances in a pane under the list.
        select_job(c, "backup_postgres")
        c.keys("Enter")
        s = c.wait_for(lambda s: "── DAG backup_postgres · run " in s.text
                       and "✗ failed" in s.text and "upload" in s.text and "reading" not in s.text,
                       "the tasks of backup_postgres's latest run")
        pane = s.text[s.text.index("── DAG backup_postgres"):]
        check(re.search(r"✓ success\s+pg_dump", pane) and re.search(r"✗ failed\s+upload", pane)
              and "1 of 2 tasks succeeded" in pane, "the task instances:\n%s" % s)
        # The pane follows the cursor: a CronJob shows its schedule and what was started here.
        select_job(c, "backup-etcd")
        s = c.wait_for(lambda s: "── CronJob batch/backup-etcd" in s.text
                       and "schedule */30 * * * *" in s.text
                       and "no Job started from here" in s.text, "the CronJob's pane")
        c.keys("Escape")
        s = c.wait_for(lambda s: "── CronJob" not in s.text, "Esc closing the pane")
        check(jobs_row(s, "backup-etcd"), "the list is gone after Esc:\n%s" % s)
        # The help names the view's keys.
        c.keys("?")
        s = c.wait_for(lambda s: "Keys in this view (jobs)" in s.text, "the help of the jobs view")
        check(re.search(r"T\s+trigger\s", s.text) and re.search(r"P\s+pause-dag\s", s.text),
              "T and P not in the help:\n%s" % s)


@test
def jobs_80x24_and_readonly():
    with Console(lab(), args=("--readonly",)) as c:
        s = open_jobs(c)
        check(all(width(l) <= 80 for l in s.lines), "a line wider than 80 columns:\n%s" % s)
        hdr = next((l for l in s.lines if l.lstrip().startswith("KIND")), "")
        for col in ("KIND", "NAME", "STATE", "LAST RUN"):
            check(col in hdr, "no %s column at 80 columns: %r" % (col, hdr))
        r = jobs_row(s, "backup_postgres")
        check(r and "✗ failed" in r, "the failed run's state at 80 columns: %r" % r)
        select_job(c, "rag_ingest_daily")
        c.keys("T")
        c.wait_for(lambda s: "refused, labdeck runs read-only" in bottom(c, s),
                   "--readonly refusing T at once")
        c.keys("C")
        c.wait_for(lambda s: "trigger DAG rag_ingest_daily with conf (a JSON object): refused"
                   in bottom(c, s), "--readonly refusing C before the conf")
        time.sleep(0.3)
        posts = [r for r in lab().requests("airflow") if r["method"] != "GET"]
        check(posts == [], "a read-only console sent %r" % posts)


@test
def jobs_airflow_failure_keeps_the_list():
    lb = lab()
    with Console(lb, w=120) as c:
        open_jobs(c)
        try:
            lb.fault(backend="airflow", kind="status", code=403, path="/api/v1/dags")
            c.keys("r")
            s = c.wait_for(lambda s: "✗ airflow failing" in s.text, "the Airflow error in the view")
            line = next(l for l in s.lines if "✗ airflow failing" in l)
            check("showing the last list read" in line and "r retries" in line and "403" in line,
                  "the error line does not say what is shown and what to do: %r" % line)
            check(jobs_row(s, "rag_ingest_daily") and jobs_row(s, "backup-etcd"),
                  "the last good list is gone:\n%s" % s)
        finally:
            lb.clear()
        c.keys("r")
        c.wait_for(lambda s: "✗ airflow" not in s.text, "the error gone once Airflow answers")


@test
def jobs_actions_followed_airflow3():
    lb = Lab("--churn", "0", "--airflow", "3")  # its own lab: DAG runs, pauses, Jobs change it
    try:
        with Console(lb, w=140) as c:
            s = open_jobs(c)
            check("Airflow 3" in s.line(0), "Airflow 3 not found out: %r" % s.line(0))
            select_job(c, "rag_ingest_daily")
            c.keys("T")
            c.wait_for(lambda s: "trigger a run of DAG rag_ingest_daily? y confirms"
                       in bottom(c, s), "T asking first")
            c.keys("n")
            c.wait_for(lambda s: "nothing done" in bottom(c, s), "n doing nothing")
            time.sleep(0.3)
            posts = [r for r in lb.requests("airflow") if r["method"] == "POST"
                     and "dagRuns" in r["path"]]
            check(posts == [], "a declined trigger sent %r" % posts)
            c.keys("T")
            c.wait_for(lambda s: "y confirms" in bottom(c, s), "T asking again")
            c.keys("y")
            c.wait_for(lambda s: "⟳ trigger DAG rag_ingest_daily" in status_line(s),
                       "the running trigger on the status line")
            c.wait_for(lambda s: "trigger DAG rag_ingest_daily: success" in bottom(c, s),
                       "the run followed to success", 30)
            posts = [r for r in lb.requests("airflow") if r["method"] == "POST"
                     and "dagRuns" in r["path"]]
            check(len(posts) == 1 and posts[0]["path"].startswith("/api/v2/dags/rag_ingest_daily"),
                  "exactly one trigger POST on /api/v2: %r" % [p["path"] for p in posts])
            # Enter: the new run's tasks, all four succeeded.
            c.keys("Enter")
            s = c.wait_for(lambda s: "── DAG rag_ingest_daily · run manual__" in s.text
                           and "4 of 4 tasks succeeded" in s.text, "the new run's tasks", 15)
            check(re.search(r"✓ success\s+upsert_pgvector", s.text), "the tasks:\n%s" % s)
            c.keys("Escape")
            # A paused DAG: the question says its run will wait, and it is not followed forever.
            select_job(c, "model_warmup")
            c.keys("T")
            c.wait_for(lambda s: "trigger a run of DAG model_warmup (paused: the run waits until "
                       "it is unpaused)? y confirms" in bottom(c, s), "T warning of the pause")
            c.keys("y")
            c.wait_for(lambda s: "trigger DAG model_warmup: queued" in bottom(c, s),
                       "the paused DAG's run created and left queued")
            # P on the paused DAG unpauses it (asked first).
            c.keys("P")
            c.wait_for(lambda s: "unpause DAG model_warmup? y confirms" in bottom(c, s),
                       "P asking before unpausing")
            c.keys("y")
            s = c.wait_for(lambda s: "unpause DAG model_warmup: unpaused" in bottom(c, s)
                           and "▶ active" in (jobs_row(s, "model_warmup") or ""),
                           "model_warmup unpaused and shown active", 15)
            # A CronJob run now: a Job followed to Complete; one that fails says why.
            select_job(c, "backup-etcd")
            c.keys("T")
            c.wait_for(lambda s: "run CronJob batch/backup-etcd now (creates a Job)? y confirms"
                       in bottom(c, s), "T asking before running the CronJob")
            c.keys("y")
            c.wait_for(lambda s: "run CronJob batch/backup-etcd: complete" in bottom(c, s),
                       "the Job followed to Complete", 20)
            c.keys("Enter")
            s = c.wait_for(lambda s: re.search(r"✓ Job backup-etcd-manual-[a-z0-9]{5} \(started "
                                               r"here\): complete", s.text),
                           "Enter showing the Job started here")
            c.keys("Escape")
            select_job(c, "always-fails")
            c.keys("T")
            c.keys("y")
            c.wait_for(lambda s: "run CronJob batch/always-fails: failed" in bottom(c, s),
                       "the failing Job followed to Failed", 20)
            c.keys("A")
            s = c.wait_for(lambda s: "actions 5 (0 running)" in s.line(0), "five actions logged")
            check("BackoffLimitExceeded" in s.text, "the failed Job's reason is not logged:\n%s"
                  % s)
    finally:
        lb.close()


@test
def jobs_trigger_with_conf():
    """C asks for the DAG run's conf (a JSON object, {} to start with), refuses what is not one,
    and sends exactly what was typed; on a CronJob it says what to use instead."""
    lb = Lab("--churn", "0")
    try:
        with Console(lb, w=140) as c:
            open_jobs(c)
            select_job(c, "backup-etcd")
            c.keys("C")
            c.wait_for(lambda s: "C passes a conf to an Airflow DAG" in bottom(c, s),
                       "C on a CronJob explained")
            select_job(c, "rag_ingest_daily")
            c.keys("C")
            c.wait_for(lambda s: "trigger DAG rag_ingest_daily with conf (a JSON object)" in bottom(c, s)
                       and bottom(c, s).rstrip().endswith("{}"), "C asking, {} to start with")
            c.keys("C-u")
            c.type("[1, 2]")
            c.keys("Enter")
            c.wait_for(lambda s: "--conf wants a JSON object" in bottom(c, s)
                       and "nothing triggered" in bottom(c, s), "a JSON array refused")
            c.keys("C")
            c.wait_for(lambda s: bottom(c, s).rstrip().endswith("{}"), "C asking again")
            c.keys("C-u")
            c.type('{"full": true, "source": "드라이브"}')
            c.keys("Enter")
            c.wait_for(lambda s: 'trigger a run of DAG rag_ingest_daily with conf {"full": true, '
                       '"source": "드라이브"}? y confirms' in bottom(c, s), "the question shows the conf")
            c.keys("y")
            c.wait_for(lambda s: "trigger DAG rag_ingest_daily: success" in bottom(c, s),
                       "the run followed to success", 30)
            posts = [r for r in lb.requests("airflow") if r["method"] == "POST"
                     and "dagRuns" in r["path"]]
            check(len(posts) == 1, "exactly one trigger: %r" % [p["path"] for p in posts])
            check(json.loads(posts[0]["body"])["conf"] == {"full": True, "source": "드라이브"},
                  "the conf typed was sent: %s" % posts[0]["body"])
    finally:
        lb.close()


@test
def jobs_cronjob_suspend_and_resume():
    """P on a CronJob suspends it (asked first, the merge patch kubectl sends), the row says
    suspended; P again resumes it; a user without the patch verb is told which verb is missing."""
    lb = Lab("--churn", "0")
    try:
        with Console(lb, w=140) as c:
            open_jobs(c)
            select_job(c, "backup-etcd")
            c.keys("P")
            c.wait_for(lambda s: "suspend CronJob batch/backup-etcd (no new Jobs on its schedule)? "
                       "y confirms" in bottom(c, s), "P asking first")
            c.keys("y")
            c.wait_for(lambda s: "suspend CronJob batch/backup-etcd: suspended" in bottom(c, s),
                       "the suspension announced")
            c.wait_for(lambda s: "‖ suspended" in (jobs_row(s, "backup-etcd") or ""),
                       "the row shows it suspended")
            patches = [r for r in lb.requests("kubernetes") if r["method"] == "PATCH"]
            check(len(patches) == 1 and patches[0]["path"].split("?")[0].endswith("/cronjobs/backup-etcd")
                  and json.loads(patches[0]["body"]) == {"spec": {"suspend": True}},
                  "one merge patch of spec.suspend: %r" % patches)
            ctype = {k.lower(): v for k, v in patches[0]["headers"].items()}.get("content-type")
            check(ctype == "application/merge-patch+json", "sent as a merge patch: %r" % ctype)
            c.keys("P")
            c.wait_for(lambda s: "resume CronJob batch/backup-etcd? y confirms" in bottom(c, s),
                       "P on a suspended CronJob offering to resume it")
            c.keys("y")
            c.wait_for(lambda s: "▶ active" in (jobs_row(s, "backup-etcd") or ""),
                       "the row active again")
            # Without the RBAC verb: refused, and the message says what is missing.
            lb._admin("POST", "/kubernetes/rbac", {"deny": ["patch cronjobs"]})
            c.keys("P", "y")
            c.wait_for(lambda s: "not allowed to suspend cronjob batch/backup-etcd" in bottom(c, s),
                       "a 403 explained")
            c.keys("A")
            c.wait_for(lambda s: "suspend CronJob" in s.text and "refused" in s.text,
                       "the refusal kept in the action log")
    finally:
        lb.close()


@test
def jobs_stalled_airflow_cancelled_with_esc():
    lb = lab()
    try:
        f = lb.fault("airflow", "stall", path="/api/v1/dags", seconds=120)["id"]
        with Console(lb, w=120) as c:
            c.first_frame()
            c.keys("6")
            # The CronJobs come while Airflow stalls: the view does not wait for it.
            s = c.wait_for(lambda s: "[6 jobs]" in s.line(0) and jobs_row(s, "backup-etcd"),
                           "the CronJobs while the DAG list stalls")
            check(not jobs_row(s, "rag_ingest_daily"), "DAGs shown from a stalled request")

            def stalled():
                return any(r["id"] == f and r["hits"] > 0
                           for r in lb._admin("GET", "/faults")["faults"])
            c.term.wait_value(stalled, "a stalled DAG list request")
            c.keys("Escape")
            c.wait_for(lambda s: "cancelled" in bottom(c, s), "Esc cancelling the DAG list")
            lb.clear()
            c.keys("r")
            c.wait_for(lambda s: jobs_row(s, "rag_ingest_daily") and jobs_row(s, "backup-etcd"),
                       "r reading the DAGs again once Airflow answers")
    finally:
        lb.clear()
