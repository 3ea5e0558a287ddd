"""The fault matrix (issue 7): every backend x every fault labsim injects, through the CLI
command that reads that backend. Each cell checks what a user relies on at 2 a.m.:

- one clear line on stderr, "labdeck: BACKEND: ...", saying what happened and what to do;
- the exit status of SPEC.md section 3 (3 unreachable/timed out/malformed/overloaded, 4 auth or
  permission, 1 the remote side refused: a 404);
- no hang: the command ends within the request timeout (--timeout 0.5) plus a margin for
  retries with backoff and process start;
- stdout still one JSON object with --json, and the other backends the command reads (Proxmox
  beside Kubernetes in `nodes`, GitHub beside ArgoCD in `deploy list`, the CronJobs beside
  Airflow in `jobs list`) still there, complete;
- bounded memory for a 50 MB answer (the child's own peak RSS, from wait4);
- no sanitizer report (the ASan build runs this file too).

Discord only mirrors changing actions: its cells run `deploy sync gateway --yes --wait` and
check that the sync is done and exits 0 whatever Discord does, with one warning line naming
Discord. The file starts its own labsim (no churn) once, and clears the faults after each cell.
"""
import atexit
import json
import os
import re
import subprocess
import tempfile
import time

import itest
from itest import check
from lab import Lab

TIMEOUT = 0.5  # --timeout: the total time one request may take
# Retries (truncated, reset: three more tries with 0.25-1 s backoff), process start and the
# sanitizer build's slowness; a hang would be minutes.
MARGIN = 3.5
RSS_LIMIT_MB = 64  # the peak RSS allowed for the 50 MB answer (gcc build)
ASAN_RSS_EXTRA_MB = 96  # under ASan: over a clean run's peak (shadow memory, quarantine)

FAULTS = {
    "latency": {"kind": "latency", "ms": 3000},
    "401": {"kind": "status", "code": 401},
    "403": {"kind": "status", "code": 403},
    "404": {"kind": "status", "code": 404},
    # Longer than labdeck waits on its own (30 s): reported at once with the wait asked for.
    "429": {"kind": "status", "code": 429, "retry_after": 60},
    "500": {"kind": "status", "code": 500},
    "503": {"kind": "status", "code": 503, "retry_after": 60},
    "malformed": {"kind": "malformed"},
    "truncated": {"kind": "truncated"},
    "reset": {"kind": "reset"},
    "stall": {"kind": "stall", "seconds": 5},
    "big": {"kind": "big", "mb": 50},
}

EXIT = {"latency": 3, "401": 4, "403": 4, "404": 1, "429": 3, "500": 3, "503": 3, "malformed": 3,
        "truncated": 3, "reset": 3, "stall": 3, "big": 3}

# What the line must say: (what happened, what to do).
SAYS = {
    "latency": (r"did not answer within 0\.5 s|no data from .* for 0\.5 s",
                r"--timeout|try again"),
    "401": (r"\b401\b", r"(?i)check|refused|generate-token"),
    "403": (r"\b403\b", r"(?i)permission|forbidden|not accessible|privilege|disabled|check"),
    "404": (r"\b404\b", r"(?i)check|no such|cannot see|pull|not there"),
    "429": (r"\b429\b", r"retry after 60 s"),
    "500": (r"\b500\b", r"(?i)try again|retry"),
    "503": (r"\b503\b", r"(?i)try again|retry"),
    "malformed": (r"(?i)malformed|not JSON|not a chat stream", r"(?i)is url|is the .*server|try again"),
    "truncated": (r"cut short", r"try again"),
    "reset": (r"(?i)reset by peer|cut short", r"try again"),
    "stall": (r"did not answer within 0\.5 s|no data from .* for 0\.5 s \(stalled\)",
              r"--timeout|try again"),
    "big": (r"larger than|longer than", r"(?i)is url"),
}


def chat(provider):
    return ("chat", "--provider", provider, "--no-cache", "--json", "how do I pass the iGPU through?")


# backend -> (command, labsim path prefix of the fault or None for every request)
COMMANDS = {
    "proxmox": (("nodes", "--json"), None),
    "kubernetes": (("pods", "--json"), None),
    "ollama": (chat("ollama"), None),
    "gemini": (chat("gemini"), None),
    "openai": (chat("openai"), None),
    "argocd": (("deploy", "list", "--json"), None),
    "github": (("deploy", "list", "--json"), None),
    # The list itself: the version probe before it has its own messages (see RELIABILITY.md).
    "airflow": (("jobs", "list", "--json"), "/api/v1/dags"),
    "discord": (("deploy", "sync", "gateway", "--yes", "--wait", "--json"), None),
}

_lab = None
_asan = None
_baseline_rss = {}


def lab():
    global _lab
    if _lab is None:
        _lab = Lab("--churn", "0", "--log-interval", "0")
        atexit.register(_lab.close)
    return _lab


def is_asan():
    global _asan
    if _asan is None:
        out = subprocess.run(["ldd", itest.LABDECK], capture_output=True, text=True).stdout
        _asan = "libasan" in out
    return _asan


class Run:
    """One labdeck run: exit status, stdout, stderr, wall time, and the child's own peak RSS."""

    def __init__(self, *args, limit=60):
        env = dict(os.environ)
        env.pop("KUBECONFIG", None)
        env.pop("LABDECK_CONFIG", None)
        env.update({"LC_ALL": "C.UTF-8", "LABDECK_POLL_INTERVAL": "0.05"})
        cmd = [itest.LABDECK, "--config", lab().config, "--timeout", str(TIMEOUT)] + list(args)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t0 = time.monotonic()
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
            while True:  # wait4: the rusage of this child alone
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - t0 > limit:
                    p.kill()
                    pid, status, ru = os.wait4(p.pid, 0)
                    break
                time.sleep(0.005)
            p.returncode = os.waitstatus_to_exitcode(status)
            self.elapsed = time.monotonic() - t0
            self.code = p.returncode
            self.rss_mb = ru.ru_maxrss / 1024.0
            out.seek(0)
            err.seek(0)
            self.out = out.read().decode("utf-8", "replace")
            self.err = err.read().decode("utf-8", "replace")

    def json(self):
        try:
            doc = json.loads(self.out)
        except ValueError as e:
            raise AssertionError("stdout is not JSON (%s): %r" % (e, self.out[:300]))
        check(isinstance(doc, dict), "one JSON object", self)
        return doc

    def __repr__(self):
        return "exit %d in %.2f s, %.0f MB, stdout %r, stderr %r" % (
            self.code, self.elapsed, self.rss_mb, self.out[:300], self.err[:600])


def baseline_rss(args):
    """Peak RSS of the same command with no fault (for the sanitizer build's allowance)."""
    key = tuple(args)
    if key not in _baseline_rss:
        lab().clear()
        _baseline_rss[key] = Run(*args).rss_mb
    return _baseline_rss[key]


def check_common(r, backend, fault):
    check("AddressSanitizer" not in r.err and "runtime error:" not in r.err
          and "LeakSanitizer" not in r.err, "no sanitizer report", r)
    check(r.elapsed < TIMEOUT + MARGIN, "ends within the timeout and a margin (%.2f s)" % r.elapsed, r)
    if fault == "big":
        limit = RSS_LIMIT_MB
        if is_asan():
            limit = baseline_rss(COMMANDS[backend][0]) + ASAN_RSS_EXTRA_MB
        check(r.rss_mb < limit, "peak RSS %.0f MB < %.0f MB for a 50 MB answer" % (r.rss_mb, limit), r)


def check_line(line, backend, fault, r):
    what, todo = SAYS[fault]
    check(line.startswith("labdeck: %s: " % backend) or
          line.startswith("labdeck: warning: %s: " % backend), "the line names %s" % backend, r)
    check(re.search(what, line), "says what happened (%s)" % what, r)
    check(re.search(todo, line), "says what to do (%s)" % todo, r)
    check("\x1b" not in line and len(line) < 600, "one short plain line", r)


def cell(backend, fault):
    args, path = COMMANDS[backend]
    lb = lab()
    lb.clear()
    if backend == "discord":
        baseline_rss(args)  # before the fault
    elif fault == "big" and is_asan():
        baseline_rss(args)
    spec = dict(FAULTS[fault])
    kind = spec.pop("kind")
    lb.fault(backend, kind, path=path, **spec)
    try:
        r = Run(*args)
        asked = lb.requests(backend)
        if backend == "kubernetes":
            # `pods` reads Kubernetes alone; `nodes` shows Proxmox beside it in one process.
            r2 = Run("nodes", "--json")
    finally:
        lb.clear()
    check_common(r, backend, fault)
    doc = r.json()
    lines = [ln for ln in r.err.splitlines() if ln.strip()]

    if backend == "discord":
        # The mirror never changes the action: the sync is done, exit 0, one warning line.
        check(r.code == 0, "the sync is done whatever Discord does: exit 0", r)
        check(doc.get("action") == "sync" and doc.get("target") == "gateway"
              and doc.get("state") == "Succeeded", "the action's answer on stdout", doc)
        mine = [ln for ln in lines if "discord" in ln]
        check(len(mine) == 1, "one line about Discord", r)
        if fault in ("latency", "stall"):
            what = r"did not answer within 0\.5 s|not sent within 0\.5 s"
        elif fault == "429":
            what = r"not sent within 0\.5 s|\b429\b"
        elif fault == "big":
            what = r"larger than"
        else:
            what = SAYS[fault][0]
        check(mine[0].startswith("labdeck: warning: discord: "), "a warning naming discord", r)
        check(re.search(what, mine[0]), "says what happened (%s)" % what, r)
        check(any(q["method"] == "POST" for q in asked), "Discord was asked (the fault was hit)", asked)
        return

    check(r.code == EXIT[fault], "exit %d" % EXIT[fault], r)
    check(len(lines) == 1, "exactly one line on stderr", r)
    check_line(lines[0], backend, fault, r)

    if backend in ("ollama", "gemini", "openai"):
        check(doc.get("provider") == backend, "the provider", doc)
        if fault == "stall":  # what came before the stall is kept, marked as cut
            check(doc.get("text") and doc.get("truncated") is True, "the partial answer kept", doc)
        else:
            check(doc.get("text") == "", "no made-up text", doc)
        e = doc.get("error") or {}
        check(e.get("message", "").startswith(backend + ": ") and e.get("code"),
              "the error in the JSON too", doc)
        return

    errors = doc.get("errors")
    check(isinstance(errors, list) and [e.get("backend") for e in errors] == [backend],
          "one error in the JSON, %s's" % backend, doc)
    if backend == "proxmox":
        kube = [n for n in doc["nodes"] if n["source"] == "kubernetes"]
        check(len(kube) == 2 and all(n["status"] == "Ready" for n in kube),
              "the Kubernetes nodes still there", doc)
        check(not any(n["source"] == "proxmox" for n in doc["nodes"]), "no made-up Proxmox rows", doc)
    elif backend == "kubernetes":
        check(doc["pods"] == [], "no made-up pods", doc)
        check_common(r2, backend, fault if fault != "big" else "")
        d2 = r2.json()
        check(r2.code == EXIT[fault], "nodes: exit %d" % EXIT[fault], r2)
        pve = [n for n in d2["nodes"] if n["source"] == "proxmox"]
        check(len(pve) == 2 and {n["name"] for n in pve} == {"pve-a", "pve-b"},
              "nodes: the Proxmox nodes still there beside the failing Kubernetes", d2)
        check([e["backend"] for e in d2["errors"]] == ["kubernetes"], "nodes: Kubernetes' error", d2)
    elif backend == "argocd":
        check(doc["applications"] == [], "no made-up applications", doc)
        check(len(doc["workflows"]) == 6, "the six GitHub workflows still there", doc)
    elif backend == "github":
        check(doc["workflows"] == [], "no made-up workflows", doc)
        check(len(doc["applications"]) == 5, "the five ArgoCD applications still there", doc)
    elif backend == "airflow":
        check(doc["dags"] == [], "no made-up DAGs", doc)
        check({c["name"] for c in doc["cronjobs"]} == {"rag-reindex", "backup-etcd", "always-fails"},
              "the CronJobs still there", doc)


def _register(backend, fault):
    def fn():
        cell(backend, fault)
    fn.__name__ = "fault_matrix_%s_%s" % (backend, fault)
    itest.test_alone(fn)


for _b in COMMANDS:
    for _f in FAULTS:
        _register(_b, _f)
