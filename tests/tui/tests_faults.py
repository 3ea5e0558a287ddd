# The fault matrix in the console (issue 7): every backend x every fault labsim injects, seen in
# the view that shows that backend: the dashboard (1) for Proxmox and Kubernetes, the chat (4)
# with the provider chosen for Ollama, Gemini and OpenAI, deploy (5) for ArgoCD and GitHub, jobs
# (6) for Airflow. One test per backend x fault, each a step a user would check at 2 a.m.:
#
# - the view (or the status line) names the backend and says what failed: "401 ...: check
#   token_id", "timed out", "malformed answer", "cut short", "too large";
# - the console is not frozen while it happens: a key pressed during the fault has its effect;
# - the other backends stay as they were (their data shown, their ✓ on the status line);
# - once the fault is gone (DELETE /faults) the next refresh (r) or question shows the data again;
# - memory stays bounded through the 50 MB answer (the peak RSS of labdeck, VmHWM);
# - no sanitizer report (the tmux tests run on the ASan build).
#
# The tests of one view share a console (opened by the first, closed with q by the last of the
# view that runs: exit 0, terminal restored, no sanitizer report), started with --timeout so that
# a hang past the timeout shows in seconds. Read into run.py's namespace (Console, lab, @test...).

FAULT_TIMEOUT = "1"  # --timeout: the total time of a request, the silence allowed in a stream

# (test name, labsim fault, what the message must say)
FAULTS = [
    ("latency", {"kind": "latency", "ms": 5000}, r"timed out"),
    ("401", {"kind": "status", "code": 401}, r"\b401\b"),
    ("403", {"kind": "status", "code": 403}, r"\b403\b"),
    ("404", {"kind": "status", "code": 404}, r"\b404\b"),
    # Longer than labdeck waits on its own (30 s): reported at once, with the wait asked for.
    ("429", {"kind": "status", "code": 429, "retry_after": 60}, r"\b429\b"),
    ("500", {"kind": "status", "code": 500}, r"\b500\b"),
    ("503", {"kind": "status", "code": 503}, r"\b503\b"),
    ("malformed", {"kind": "malformed"}, r"(?i)malformed|not JSON|not a chat stream"),
    ("truncated", {"kind": "truncated"}, r"cut short"),
    ("reset", {"kind": "reset"}, r"(?i)reset by peer|cut short"),
    ("stall", {"kind": "stall", "seconds": 5}, r"timed out"),
    ("big", {"kind": "big", "mb": 50}, r"too large|larger than|longer than"),
]

# What to do, for the faults where only the user can fix it: it must be on screen too.
FAULT_HINTS = {
    "proxmox": {"401": r"check token_id", "403": r"lacks a privilege"},
    "kubernetes": {"401": r"credentials of context", "403": r"cannot list"},
    "ollama": {"401": r"check what answers", "403": r"check what answers", "404": r"check chat_model"},
    "gemini": {"401": r"check the key", "403": r"(?i)enable|check the key", "404": r"check model"},
    "openai": {"401": r"check the key", "403": r"check the key", "404": r"check url and model"},
    "argocd": {"401": r"token in \[argocd\] was refused", "403": r"permission denied"},
    "github": {"401": r"token", "403": r"(?i)not accessible|token"},
    "airflow": {"401": r"username and pass", "403": r"permission"},
}

# Peak RSS (VmHWM) growth allowed through the 50 MB answer, in MB. Each request keeps at most its
# capped body (8 or 16 MiB) and Kubernetes has three in flight: +40 MB measured (gcc). The ASan
# build's quarantine keeps every freed buffer of the growing body: +180 MB measured there. Before
# the model services capped their bodies, Ollama's /api/ps took it to +300 MB (gcc), +600 (ASan).
FAULT_HWM_MB = 64
FAULT_HWM_ASAN_MB = 256


def _fault_hwm_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def _fault_selected():
    """The names of the tests this run runs (run.py's -k selection, read from its argv)."""
    ks, args, i = [], sys.argv[1:], 0
    while i < len(args):
        if args[i] == "-k" and i + 1 < len(args):
            ks.append(args[i + 1])
            i += 1
        elif args[i].startswith("-k") and len(args[i]) > 2:
            ks.append(args[i][2:])
        i += 1
    return [t.__name__ for t in TESTS if not ks or any(k in t.__name__ for k in ks)]


def _help_answers(c):
    """A key during the fault has its effect: ? opens the help, Esc closes it."""
    c.keys("?")
    c.wait_for(lambda s: "Everywhere" in s.text, "the help opening while the fault lasts", 5)
    c.keys("Escape")
    c.wait_for(lambda s: "Everywhere" not in s.text, "the help closing while the fault lasts", 5)


# --- the views ------------------------------------------------------------------------------

class FaultView:
    def settle(self, c, backend, name, says):
        """Waits for what else the fault shows once the view said it (nothing by default)."""


class DashboardFaults(FaultView):
    """Proxmox and Kubernetes on the dashboard (1): the status line's ✗ and the section's note."""
    group, size = "dashboard", (80, 24)
    heading = {"proxmox": "PROXMOX", "kubernetes": "KUBERNETES"}
    other = {"proxmox": ("kubernetes", "k8s-node-a"), "kubernetes": ("proxmox", "pve-a")}

    def open(self, c):
        c.first_frame()

    def prepare(self, c, backend):
        c.wait_for(lambda s: "[1 nodes]" in s.line(0), "the dashboard", 5)

    def provoke(self, c, backend, name):
        c.keys("r")

    def failure(self, s, backend):
        """The section's note while the backend fails, or None."""
        if "%s ✗" % backend not in status_line(s):
            return None
        head = self.heading[backend] + "  ✗ "
        line = next((l for l in s.lines if l.startswith(head)), None)
        return line[len(self.heading[backend]):].strip() if line else None

    def alive(self, c, backend):
        _help_answers(c)

    def others(self, s, backend):
        name, data = self.other[backend]
        if "%s ✓" % name not in status_line(s) or data not in s.text:
            return "%s not shown ✓ with its data beside failing %s" % (name, backend)
        return None

    def recover(self, c, backend):
        c.keys("r")
        c.wait_for(lambda s: "%s ✓" % backend in status_line(s)
                   and any(l.startswith(self.heading[backend] + "  data ") for l in s.lines),
                   "%s ✓ and its data again once the fault is gone" % backend, 15)


class ChatFaults(FaultView):
    """The model services in the chat (4), the provider chosen with :chat NAME: the question's
    answer is an error line naming the provider."""
    group, size = "chat", (80, 24)
    model = {"ollama": "qwen2.5:14b", "gemini": "gemini-2.5-pro", "openai": "local"}

    def __init__(self):
        self.asked = 0

    def open(self, c):
        open_chat(c)
        self.provider = "ollama"

    def prepare(self, c, backend):
        if self.provider != backend:
            c.keys("Escape")
            c.wait_for(lambda s: "Enter types" in s.text, "Esc leaving the input line", 5)
            c.keys(":")
            c.type("chat " + backend)
            c.keys("Enter")
            c.wait_for(lambda s: "[4 chat]" in s.line(0) and self.model[backend] in s.line(0),
                       ":chat %s naming %s in the title" % (backend, self.model[backend]), 5)
            c.keys("Enter")
            c.wait_for(lambda s: "Enter sends" in s.text, "Enter back in the input line", 5)
            self.provider = backend

    def provoke(self, c, backend, name):
        self.asked += 1
        self.question = "fault %d %s" % (self.asked, name)
        ask(c, self.question)

    def _after_question(self, s):
        body = chat_body(s, self.size[1])
        idx = max((i for i, l in enumerate(body) if l.startswith("› " + self.question)), default=-1)
        if idx < 0:
            return None
        return " ".join(l.strip() for l in body[idx + 1:])

    def failure(self, s, backend):
        after = self._after_question(s)
        if not after or "generating" in s.text:
            return None
        m = re.search(r"\b%s: .*" % backend, after)
        return m.group(0) if m else None

    def settle(self, c, backend, name, says):
        if backend == "ollama":
            # After the answer the header asks Ollama which models are loaded: that fails too,
            # and the header says its list is from before.
            c.wait_for(lambda s: s.line(1).startswith("ollama loaded (last look failed): "),
                       "the header's look at Ollama's loaded models failing with %s" % name, 10)

    def alive(self, c, backend):
        # Typing into the input line while the answer fails (or stalls): the text shows.
        c.type("zq")
        c.wait_for(lambda s: any(l.startswith("> zq") for l in s.lines),
                   "typed text in the input line while the fault lasts", 5)
        c.keys("C-u")
        c.wait_for(lambda s: not any(l.startswith("> zq") for l in s.lines),
                   "Ctrl-U clearing the input line", 5)

    def others(self, s, backend):
        sl = status_line(s)
        if "proxmox ✓" not in sl or "kubernetes ✓" not in sl:
            return "proxmox or kubernetes not ✓ beside failing %s: %r" % (backend, sl)
        if backend != "ollama" and "ollama loaded:" not in s.text:
            return "the header lost Ollama's loaded models beside failing %s" % backend
        return None

    def recover(self, c, backend):
        self.provoke(c, backend, "again")
        c.wait_for(lambda s: (self._after_question(s) or "").startswith("labsim-")
                   and "answers" in (self._after_question(s) or "") and "generating" not in s.text,
                   "an answer from %s once the fault is gone" % backend, 15)
        c.wait_for(lambda s: s.line(1).startswith("ollama loaded:"),
                   "the header with Ollama's loaded models again", 10)


class DeployFaults(FaultView):
    """ArgoCD and GitHub in deploy (5): the section's ✗ line, the other section untouched."""
    group, size = "deploy", (120, 30)
    other = {"argocd": ("github", "deploy-models.yml"), "github": ("argocd", "root-app")}

    def open(self, c):
        c.first_frame()
        open_deploy(c)

    def prepare(self, c, backend):
        c.wait_for(lambda s: "[5 deploy]" in s.line(0), "the deploy view", 5)

    def provoke(self, c, backend, name):
        c.keys("r")

    def failure(self, s, backend):
        line = next((l for l in s.lines if l.strip().startswith("✗ %s: " % backend)), None)
        return line.strip()[2:] if line else None

    def alive(self, c, backend):
        _help_answers(c)

    def others(self, s, backend):
        name, data = self.other[backend]
        if data not in s.text or any(l.strip().startswith("✗ %s" % name) for l in s.lines):
            return "%s's list not shown beside failing %s" % (name, backend)
        if "proxmox ✓" not in status_line(s) or "kubernetes ✓" not in status_line(s):
            return "the status line changed beside failing %s: %r" % (backend, status_line(s))
        return None

    def recover(self, c, backend):
        c.keys("r")
        c.wait_for(lambda s: not any(l.strip().startswith("✗ %s" % backend) for l in s.lines)
                   and "root-app" in s.text and "deploy-models.yml" in s.text,
                   "%s's list again once the fault is gone" % backend, 15)


class JobsFaults(FaultView):
    """Airflow in jobs (6): the ✗ line over the last list read, the CronJobs untouched."""
    group, size = "jobs", (120, 30)

    def open(self, c):
        c.first_frame()
        c.keys("6")
        c.wait_for(lambda s: "[6 jobs]" in s.line(0) and "rag_ingest_daily" in s.text
                   and "backup-etcd" in s.text, "the jobs view with DAGs and CronJobs", 15)

    def prepare(self, c, backend):
        c.wait_for(lambda s: "[6 jobs]" in s.line(0), "the jobs view", 5)

    def provoke(self, c, backend, name):
        c.keys("r")

    def failure(self, s, backend):
        line = next((l for l in s.lines if "✗ airflow failing" in l), None)
        return line.strip() if line else None

    def alive(self, c, backend):
        _help_answers(c)

    def others(self, s, backend):
        if "backup-etcd" not in s.text or "kubernetes ✓" not in status_line(s):
            return "the CronJobs or kubernetes ✓ gone beside failing airflow"
        if "rag_ingest_daily" not in s.text:
            return "the last DAG list read is gone while airflow fails"
        return None

    def recover(self, c, backend):
        c.keys("r")
        c.wait_for(lambda s: "✗ airflow" not in s.text and "rag_ingest_daily" in s.text,
                   "the error gone once Airflow answers", 15)


FAULT_VIEWS = {"proxmox": DashboardFaults, "kubernetes": DashboardFaults, "ollama": ChatFaults,
               "gemini": ChatFaults, "openai": ChatFaults, "argocd": DeployFaults,
               "github": DeployFaults, "airflow": JobsFaults}
_fault_open = {}  # group -> (Console, view object): the console the group's tests share


def _fault_close(group, check_exit=True):
    """Quits the group's console with q; fails on an unclean exit or a sanitizer report."""
    c, _ = _fault_open.pop(group)
    try:
        if check_exit and c.term.child_pid():
            if group == "chat":  # q would be typed into the input line
                c.keys("Escape")
                c.wait_for(lambda s: "Enter types" in s.text, "Esc leaving the input line", 5)
            c.keys("q")
            c.terminal_restored(expect_exit=0, timeout=10)
    finally:
        report = c.close()
    check(not report, "sanitizer report:\n" + report)


def _fault_console(backend):
    view = FAULT_VIEWS[backend]
    for g in [g for g in _fault_open if g != view.group]:
        _fault_close(g)  # a test of another view runs: the last one did not close its console
    if view.group in _fault_open:
        c, v = _fault_open[view.group]
        if c.term.child_pid() is None:  # labdeck is gone: say why, and start again
            last = c.capture()
            _fault_close(view.group, check_exit=False)
            raise Fail("labdeck exited during an earlier fault:\n%s" % last)
        return c, v
    w, h = view.size
    c = Console(lab(), w=w, h=h, args=("--timeout", FAULT_TIMEOUT))
    v = view()
    try:
        v.open(c)
    except BaseException:
        report = c.close()
        if report:
            print("# sanitizer report:\n" + report)
        raise
    _fault_open[view.group] = (c, v)
    return c, v


def fault_case(backend, name, fault, says):
    lb = lab()
    c, v = _fault_console(backend)
    done = False
    try:
        v.prepare(c, backend)
        pid = c.pid()
        hwm0 = _fault_hwm_mb(pid)
        lb.fault(backend, **fault)
        try:
            v.provoke(c, backend, name)
            # A key answered while the request is still failing (stalled, timing out, retried).
            v.alive(c, backend)
            s = c.wait_for(lambda s: v.failure(s, backend), "%s failing with %s named in the view"
                           % (backend, name), 15)
            said = v.failure(s, backend)
            check(re.search(says, said), "%s, %s: the view says %r, not /%s/:\n%s"
                  % (backend, name, said, says, s))
            hint = FAULT_HINTS.get(backend, {}).get(name)
            if hint:
                check(re.search(hint, said), "%s, %s: no hint of what to do (/%s/) in %r"
                      % (backend, name, hint, said))
            bad = v.others(s, backend)
            check(not bad, "%s:\n%s" % (bad, s))
            v.settle(c, backend, name, says)
            if name == "big":
                grew = _fault_hwm_mb(pid) - hwm0
                print("# %s, 50 MB answer: peak RSS %.0f MB -> %.0f MB" % (backend, hwm0, hwm0 + grew))
                limit = FAULT_HWM_ASAN_MB if sanitizer_build() else FAULT_HWM_MB
                check(grew < limit, "%s, 50 MB answer: peak RSS grew by %.0f MB (limit %d)"
                      % (backend, grew, limit))
            v.alive(c, backend)
        finally:
            lb.clear()
        v.recover(c, backend)
        done = True
    finally:
        if not done:  # a fresh console for the next test; a report is shown, the test failed
            c, _ = _fault_open.pop(v.group)
            report = c.close()
            if report:
                print("# sanitizer report:\n" + report)
    names = _fault_selected()
    me = "faults_%s_%s" % (backend, name)
    later = names[names.index(me) + 1:] if me in names else []
    if not any(n.startswith("faults_") and FAULT_VIEWS.get(n.split("_")[1]) is FAULT_VIEWS[backend]
               for n in later):
        _fault_close(v.group)  # the last test of this view: q, exit 0, no sanitizer report


def _fault_test(backend, name, fault, says):
    def t():
        fault_case(backend, name, fault, says)
    t.__name__ = "faults_%s_%s" % (backend, name)
    return test(t)


for _b in ("proxmox", "kubernetes", "ollama", "gemini", "openai", "argocd", "github", "airflow"):
    for _name, _fault, _says in FAULTS:
        _fault_test(_b, _name, _fault, _says)


# --- a pod watch that stalls after its list -------------------------------------------------------
# labsim's query condition (@/api/v1/pods?watch=1) stalls the watch and leaves the list alone: the
# stream stays open and says nothing, the way a proxy that holds a stream's bytes back does.

WATCH_IDLE_S = 2  # LABDECK_WATCH_IDLE: the silence a watch is allowed (90 s by default)
# (Not named faults_kubernetes_*: fault_case takes those for cells of the dashboard's console.)


def _pod_keys(s, h):
    """The (namespace, name) of each pod row on screen."""
    return [tuple(t.split()[:2]) for _, t in pods_rows(s, h)]


@test
def faults_watch_stalls_after_list():
    """The pods view (3) while the pod watch stalls after an answered list: the status line says
    the watch stalled within the idle time, keys answer, the rows stay (frozen while the lab
    changes), and the console is live again by itself once the fault is gone."""
    # A change every 0.3 s: a healthy watch is never quiet for WATCH_IDLE_S.
    lb = lab("--churn", "0.3")
    with Console(lb, w=120, h=30, env={"LABDECK_WATCH_IDLE": str(WATCH_IDLE_S)}) as c:
        c.first_frame()
        open_pods(c)
        c.wait_for(lambda s: "kubernetes ✓" in status_line(s), "kubernetes ✓ before the fault", 5)
        try:
            fid = lb.fault("kubernetes", "stall", path="/api/v1/pods?watch=1", seconds=60)["id"]
            c.keys("r")  # lists again (answered), then watches: that watch stalls
            t0 = time.monotonic()
            s = c.wait_for(lambda s: "kubernetes ✗" in status_line(s), "kubernetes ✗ once the watch "
                           "stalls", WATCH_IDLE_S + 5)
            took = time.monotonic() - t0
            print("# pod watch stall reported after %.1f s (idle %d s)" % (took, WATCH_IDLE_S))
            check("the pod watch stalled" in status_line(s),
                  "the status line does not say the watch stalled: %r" % status_line(s))
            reqs = lb.requests("kubernetes")
            lists = [r for r in reqs if r["path"].startswith("/api/v1/pods?")
                     and "watch=1" not in r["path"]]
            check(lists and all(r["status"] == 200 for r in lists),
                  "the pod list after r was not answered: %r" % [(r["path"], r["status"]) for r in lists])
            rule = next(r for r in lb._admin("GET", "/faults")["faults"] if r["id"] == fid)
            check(rule["hits"] >= 1, "the stall never hit the watch: %r" % rule)
            rows = _pod_keys(s, c.h)
            check(len(rows) >= 10, "the pods are gone while the watch stalls:\n%s" % s)
            _help_answers(c)
            c.keys("1")
            s = c.wait_for(lambda s: "[1 nodes]" in s.line(0) and any(
                l.startswith("KUBERNETES  ✗ the pod watch stalled: nothing from the API server for %d s"
                             % WATCH_IDLE_S) for l in s.lines),
                "the dashboard's Kubernetes note saying the watch stalled, for how long", 5)
            c.keys("3")
            s = c.wait_for(lambda s: "[3 pods]" in s.line(0) and "kubernetes ✗" in status_line(s),
                           "back in the pods view, still ✗", 5)
            # The lab keeps changing (churn), the rows on screen do not: they are the last heard.
            check(_pod_keys(s, c.h) == rows, "the rows changed while the watch stalled:\n%s" % s)
        finally:
            lb.clear()
        t0 = time.monotonic()
        c.wait_for(lambda s: "kubernetes ✓" in status_line(s), "kubernetes ✓ by itself once the "
                   "watch answers again", 15)
        print("# pod watch back %.1f s after the fault was cleared" % (time.monotonic() - t0))
        c.wait_for(lambda s: len(pods_rows(s, c.h)) >= 10 and _pod_keys(s, c.h) != rows,
                   "the rows following the lab's changes again", 10)
        c.keys("q")
        c.terminal_restored(expect_exit=0, timeout=10)
