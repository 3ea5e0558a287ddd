# The deploy view (5): ArgoCD applications and GitHub workflows, sync and dispatch from the
# console. Read into run.py's namespace (Console, lab, test, status_line, check... come from there).

def open_deploy(c, timeout=15.0):
    c.keys("5")
    return c.wait_for(lambda s: "[5 deploy]" in s.line(0) and "root-app" in s.text
                      and "deploy-models.yml" in s.text, "the deploy view with both lists",
                      timeout)


def deploy_row(s, name):
    """The pane row index of the list row whose first word (after a tree mark) is name."""
    for i, l in enumerate(s.lines):
        words = l.replace("└", " ").split()
        if words and words[0] == name:
            return i
    return -1


def select_deploy(c, name, limit=20):
    """Moves the cursor of the focused section onto name (the row drawn selected)."""
    c.keys("g")
    for _ in range(limit):
        s = c.capture(escapes=True)
        y = deploy_row(s, name)
        if y >= 0 and y in selected_rows(s, c.h):
            return s
        c.keys("j")
        time.sleep(0.05)
    raise Fail("could not select %s:\n%s" % (name, c.capture()))


def posts(lb, backend, suffix):
    return [r for r in lb.requests(backend) if r["method"] == "POST" and r["path"].endswith(suffix)]


@test
def deploy_lists_apps_and_workflows():
    with Console(lab()) as c:
        c.first_frame()
        s = open_deploy(c)
        root = deploy_row(s, "root-app")
        check(root >= 0, "root-app listed:\n%s" % s)
        col_root = column_of(s.line(root), "root-app")
        for child in ("gateway", "frontend", "backend", "models"):
            y = deploy_row(s, child)
            check(y > root, "%s listed under root-app:\n%s" % (child, s))
            line = s.line(y)
            check("└" in line and column_of(line, child) > col_root,
                  "%s indented under root-app: %r" % (child, line))
            check("Synced" in line or "OutOfSync" in line, "%s shows its sync state: %r" % (child, line))
        check(re.search(r"root-app\s+✓ Synced\s+✓ Healthy", s.line(root)),
              "root-app: sync and health with their symbols: %r" % s.line(root))
        check("ArgoCD apps 5, " in s.text and "GitHub workflows of lab/homelab 6" in s.text,
              "both section titles with their counts:\n%s" % s)
        for wf in ("bootstrap.yaml", "argocd-setup.yaml", "deploy-gateway.yml", "deploy-models.yml"):
            y = deploy_row(s, wf)
            check(y >= 0 and "active" in s.line(y) and "never" in s.line(y),
                  "%s listed, active, never run:\n%s" % (wf, s))
        # Tab moves the focus (the selected row) to the workflows; / filters that list.
        sel = selected_rows(c.capture(escapes=True), c.h)
        check(len(sel) == 1 and sel[0] == root, "one selected row, on root-app: %r" % sel)
        c.keys("Tab")
        s = c.wait_for(lambda s: selected_rows(s, c.h) == [deploy_row(s, "bootstrap.yaml")],
                       "Tab selecting the first workflow", escapes=True)
        check("▸ GitHub workflows" in s.text, "the focused section is marked:\n%s" % s)
        c.keys("?")
        s = c.wait_for(lambda s: "Keys in this view (deploy)" in s.text, "help for the deploy view")
        for k in ("sync", "sync-prune", "dispatch", "section"):
            check(re.search(r"\b%s\b" % k, s.text), "help lists %s:\n%s" % (k, s))
        c.keys("Escape")
        # The details of the latest run: none yet.
        c.keys("Enter")
        c.wait_for(lambda s: "has no recent run" in s.line(c.h - 1), "Enter on a workflow never run")


@test
def deploy_sync_confirmed_followed_logged():
    lb = Lab("--churn", "0")  # its own lab: this test changes the applications
    try:
        with Console(lb, w=120, h=30) as c:
            c.first_frame()
            open_deploy(c)
            select_deploy(c, "frontend")
            c.keys("S")
            c.wait_for(lambda s: "sync frontend? y confirms" in s.line(c.h - 1), "S asking first")
            c.keys("n")
            c.wait_for(lambda s: "nothing done" in s.line(c.h - 1), "n doing nothing")
            time.sleep(0.3)
            check(posts(lb, "argocd", "/sync") == [], "a declined sync was sent")
            # Prune wants the name typed; a wrong one sends nothing.
            c.keys("P")
            c.wait_for(lambda s: "type frontend and Enter to confirm" in s.line(c.h - 1),
                       "P asking for the name")
            c.type("frontent")
            c.keys("Enter")
            c.wait_for(lambda s: "did not match" in s.line(c.h - 1), "a wrong name refused")
            check(posts(lb, "argocd", "/sync") == [], "a refused prune was sent")
            c.keys("S")
            c.wait_for(lambda s: "y confirms" in s.line(c.h - 1), "S asking again")
            c.keys("y")
            c.wait_for(lambda s: "⟳ sync frontend" in status_line(s), "the sync on the status line")
            c.wait_for(lambda s: "sync frontend: Succeeded" in s.line(c.h - 1), "the end announced", 20)
            sent = posts(lb, "argocd", "/sync")
            check(len(sent) == 1 and "/applications/frontend/" in sent[0]["path"],
                  "exactly one sync POST: %r" % [p["path"] for p in sent])
            c.wait_for(lambda s: "Succeeded: successfully synced" in s.line(deploy_row(s, "frontend")),
                       "the last operation shown on frontend's row", 15)
            # Enter: the application's last operation and resources.
            c.keys("Enter")
            s = c.wait_for(lambda s: "RESOURCES (1)" in s.text and "LAST OPERATION" in s.text,
                           "frontend's details")
            check("deployment.apps/frontend configured" in s.text and "Deployment" in s.text,
                  "the operation's resource message and the resources:\n%s" % s)
            c.keys("Escape")
            c.wait_for(lambda s: "[5 deploy]" in s.line(0) and "GitHub workflows" in s.text,
                       "Esc back to the lists")
            # Another operation in progress: wait for it, then the sync goes out.
            lb._admin("POST", "/argocd/apps/backend", {"polls": 40})
            labdeck_cli(lb, "deploy", "sync", "backend", "--yes")
            select_deploy(c, "backend")
            c.keys("S")
            c.wait_for(lambda s: "y confirms" in s.line(c.h - 1), "S asking")
            c.keys("y")
            c.wait_for(lambda s: "another operation is already in progress — w waits" in s.text,
                       "the choice offered in the view")
            c.keys("w")
            c.wait_for(lambda s: "waiting for the running operation" in s.text, "waiting")
            lb._admin("POST", "/argocd/apps/backend", {"polls": 1})
            c.wait_for(lambda s: "sync backend: Succeeded" in s.line(c.h - 1), "synced after the wait", 25)
            sent = posts(lb, "argocd", "/applications/backend/sync")
            check(len(sent) == 3, "the CLI's sync, the refused one, the one after: %d" % len(sent))
            # ... or terminate it.
            lb._admin("POST", "/argocd/apps/gateway", {"polls": 40})
            labdeck_cli(lb, "deploy", "sync", "gateway", "--yes")
            select_deploy(c, "gateway")
            c.keys("S", "y")
            c.wait_for(lambda s: "t terminates it" in s.text, "the choice offered again")
            c.keys("t")
            c.term.wait_value(lambda: [r for r in lb.requests("argocd") if r["method"] == "DELETE"
                                       and r["path"].endswith("/gateway/operation")],
                              "a DELETE of gateway's operation")
            c.term.wait_value(lambda: len(posts(lb, "argocd", "/applications/gateway/sync")) == 3,
                              "the sync sent again after the termination")
            lb._admin("POST", "/argocd/apps/gateway", {"polls": 1})
            c.wait_for(lambda s: "sync gateway: Succeeded" in s.line(c.h - 1), "synced after terminating", 25)
            # A failing sync: its message.
            lb._admin("POST", "/argocd/apps/models", {"fail": True})
            select_deploy(c, "models")
            c.keys("S", "y")
            c.wait_for(lambda s: "sync models: Failed — one or more objects failed to apply"
                       in s.line(c.h - 1), "the failure and its message", 20)
            c.keys("A")
            s = c.wait_for(lambda s: "actions 4 (0 running)" in s.line(0), "four actions in the log")
            check(sum("✓" in l for l in s.lines if re.match(r"\s*\d+s ago ", l)) == 3,
                  "three syncs succeeded:\n%s" % s)
        with Console(lb, args=("--readonly",)) as c:
            c.first_frame()
            open_deploy(c)
            c.keys("S")
            c.wait_for(lambda s: "refused, labdeck runs read-only" in s.line(c.h - 1),
                       "--readonly refusing a sync at once")
    finally:
        lb.close()


def labdeck_cli(lb, *args):
    r = subprocess.run([LABDECK, "--config", lb.config, *args], capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, HOME=lb.dir))
    check(r.returncode == 0, "labdeck %s: %s" % (" ".join(args), r.stderr))


@test
def deploy_dispatch_followed_with_steps():
    lb = Lab("--churn", "0")
    try:
        with Console(lb, w=120, h=30) as c:
            c.first_frame()
            open_deploy(c)
            c.keys("Tab")
            select_deploy(c, "deploy-frontend.yml")
            c.keys("W")
            c.wait_for(lambda s: "run workflow deploy-frontend.yml on main? y confirms" in s.line(c.h - 1),
                       "W asking first")
            c.keys("y")
            c.wait_for(lambda s: "⟳ run workflow deploy-frontend.yml on main" in status_line(s),
                       "the run on the status line")
            c.wait_for(lambda s: "run workflow deploy-frontend.yml on main: success" in s.line(c.h - 1),
                       "the run's end announced", 25)
            sent = posts(lb, "github", "/dispatches")
            check(len(sent) == 1 and "deploy-frontend.yml" in sent[0]["path"],
                  "exactly one dispatch: %r" % [p["path"] for p in sent])
            s = c.wait_for(lambda s: "✓ success" in s.line(deploy_row(s, "deploy-frontend.yml")),
                           "the workflow's last run shown with its result", 15)
            check("on main" in s.line(deploy_row(s, "deploy-frontend.yml")), "the run's branch")
            c.keys("Enter")
            s = c.wait_for(lambda s: "JOB deploy" in s.text and "Build image" in s.text,
                           "the latest run's jobs and steps")
            check(re.search(r"✓ 3 Build image\s+completed success", s.text), "the step's result:\n%s" % s)
            c.keys("Escape")
            # A run that fails: the failing step in the announcement.
            lb._admin("POST", "/github/knobs", {"conclusion": "failure"})
            c.wait_for(lambda s: "[5 deploy]" in s.line(0), "back to the lists")
            c.keys("W", "y")
            c.wait_for(lambda s: "run workflow deploy-frontend.yml on main: failure" in s.line(c.h - 1)
                       and "Build image" in s.line(c.h - 1), "the failure and its step", 25)
    finally:
        lb.close()


@test
def deploy_dispatch_with_inputs():
    """I asks for --ref and KEY=VALUE inputs (the CLI's words), shows them in the question, and
    sends exactly those; Esc and a word that is not an input send nothing."""
    lb = Lab("--churn", "0")
    try:
        with Console(lb, w=120, h=30) as c:
            c.first_frame()
            open_deploy(c)
            c.keys("Tab")
            select_deploy(c, "deploy-models.yml")
            c.keys("I")
            c.wait_for(lambda s: "run workflow deploy-models.yml: --ref REF and inputs" in s.line(c.h - 1)
                       and s.line(c.h - 1).rstrip().endswith("--ref main"),
                       "I asking for the inputs, the ref filled in")
            c.keys("Escape")
            c.wait_for(lambda s: "nothing done" in s.line(c.h - 1), "Esc doing nothing")
            c.keys("I")
            c.wait_for(lambda s: "--ref main" in s.line(c.h - 1), "I asking again")
            c.type("oops")
            c.keys("Enter")
            c.wait_for(lambda s: "'oops' is not an input" in s.line(c.h - 1)
                       and "nothing run" in s.line(c.h - 1), "a word that is not KEY=VALUE refused")
            c.keys("I")
            c.wait_for(lambda s: "--ref main" in s.line(c.h - 1), "I asking a third time")
            c.type("model=qwen2.5:14b image_tag=\"v 2\"")
            c.keys("Enter")
            c.wait_for(lambda s: "run workflow deploy-models.yml on main with model=qwen2.5:14b, "
                       "image_tag=v 2? y confirms" in s.line(c.h - 1), "the question shows the inputs")
            check(posts(lb, "github", "/dispatches") == [], "nothing sent before y")
            c.keys("y")
            c.wait_for(lambda s: "run workflow deploy-models.yml on main: success" in s.line(c.h - 1),
                       "the run followed to its end", 25)
            sent = posts(lb, "github", "/dispatches")
            check(len(sent) == 1, "exactly one dispatch: %r" % [p["path"] for p in sent])
            body = json.loads(sent[0]["body"])
            check(body["ref"] == "main" and body["inputs"] == {"model": "qwen2.5:14b",
                                                                "image_tag": "v 2"},
                  "the ref and inputs typed were sent: %r" % body)
    finally:
        lb.close()


@test
def deploy_backend_error_keeps_the_other():
    lb = lab()
    try:
        with Console(lb) as c:
            c.first_frame()
            open_deploy(c)
            lb.fault("argocd", "status", code=503)
            c.keys("r")
            s = c.wait_for(lambda s: "✗ argocd" in s.text, "the ArgoCD error in the view", 15)
            check("root-app" in s.text, "the last good applications kept:\n%s" % s)
            check("deploy-models.yml" in s.text, "the workflows still shown:\n%s" % s)
            lb.clear()
            c.keys("r")
            c.wait_for(lambda s: "✗ argocd" not in s.text, "the error gone once ArgoCD answers", 15)
    finally:
        lb.clear()
