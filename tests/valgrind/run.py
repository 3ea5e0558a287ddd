#!/usr/bin/env python3
"""labdeck under valgrind: the CLI commands and a scripted console session against labsim.

    tests/valgrind/run.py --labdeck build-test/labdeck [-j N] [-k NAME]... [-v]

Every run is `valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
--suppressions=tests/valgrind/labdeck.supp labdeck ...` on the NON-sanitizer build (valgrind and
ASan do not mix). A run passes when labdeck did what it was asked (its exit status and a piece of
its output, so a run that failed early cannot pass) and valgrind found no error: no invalid read
or write, no use of uninitialised memory, no definite leak. The suppressions file only covers
memory that ncurses keeps until exit on purpose (reachable or possibly lost, never definite).

Runs that depend on each other (rag ingest before rag query, a chat session before session list)
form a chain; the chains and the console run in parallel (-j, default 2: more starves
labsim's 10 s TLS handshake timeout on a 2-core machine). Prints "ok NAME (N s)" or "FAIL NAME: why"
per run and "N passed, N failed" as the last line; exit status 1 on a failure.
"""
import argparse
import concurrent.futures
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # nothing written into the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "tui"))
from lab import Lab  # noqa: E402
import services  # noqa: E402
from harness import Fail, Term  # noqa: E402

SUPP = os.path.join(HERE, "labdeck.supp")
VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--error-exitcode=99", "--num-callers=40", "--child-silent-after-fork=yes",
            "--suppressions=" + SUPP]

DOCS = {
    "gpu.md": "# iGPU passthrough\n\nBind the iGPU (0000:c5:00.0) to vfio-pci, then pass it "
              "through with qm set 102 --hostpci0 0000:c5:00.0,pcie=1.\n\n## IOMMU\n\n"
              "Add amd_iommu=on iommu=pt to the kernel command line.\n",
    "backup.md": "# Backups\n\nTake an etcd snapshot every night and copy it to the NAS.\n\n"
                 "## 한국어\n\n백업은 매일 밤에 합니다.\n",
}


class Run:
    """One labdeck command under valgrind: args, the config it uses (a key of Setup.configs),
    the exit status it must end with and a string its stdout+stderr must contain."""

    def __init__(self, name, args, code=0, out=None, config="lab", stdin=None):
        self.name, self.args, self.code, self.out = name, list(args), code, out
        self.config, self.stdin = config, stdin


def chains():
    """The runs, as lists that run in order; the lists run in parallel."""
    return [
        [Run("nodes", ["nodes"], out="pve-a"),
         Run("nodes --json", ["nodes", "--json"], out='"pve-a"'),
         Run("guests --json", ["guests", "--json"], out='"win11"'),
         Run("pods", ["pods"], out="CrashLoopBackOff"),
         Run("pods --json -n lab", ["pods", "--json", "-n", "lab"], out='"lab"'),
         Run("guest start --wait", ["guest", "start", "103", "--yes", "--wait"], out="OK")],
        [Run("topology --json", ["topology", "--json"], out='"pve-a"'),
         Run("deploy list", ["deploy", "list"], out="root-app"),
         Run("jobs list --json", ["jobs", "list", "--json"], out="{"),
         Run("proxmox down", ["nodes"], config="pve_down", code=3, out="proxmox"),
         Run("usage error", ["frobnicate"], code=2, out="unknown command"),
         Run("usage error (option)", ["pods", "--bogus"], code=2, out="--bogus"),
         Run("ssh", ["ssh", "lab", "--", "echo", "over-ssh"], config="ssh", out="over-ssh")],
        [Run("chat ollama", ["chat", "--no-cache", "what is the gpu"], out="word for word"),
         Run("chat gemini --json", ["chat", "--json", "--no-cache", "--provider", "gemini",
                                    "what is the gpu"], out='"gemini'),
         Run("chat openai", ["chat", "--no-cache", "--provider", "openai", "what is the gpu"],
             out="word for word"),
         Run("chat cached (redis)", ["chat", "what is cached"], config="redis",
             out="word for word"),
         Run("chat --session", ["chat", "--no-cache", "--session", "vg", "remember this"],
             config="state", out="word for word"),
         Run("session list --json", ["session", "list", "--json"], config="state", out='"vg"'),
         Run("session show", ["session", "show", "vg"], config="state", out="remember this"),
         Run("ollama down --json", ["chat", "--json", "--no-cache", "hello"],
             config="ollama_down", code=3, out="ollama")],
        [Run("rag ingest (local index)", ["rag", "ingest", "DOCS/gpu.md", "DOCS/backup.md"],
             config="rag", out="gpu.md"),
         Run("rag query", ["rag", "query", "how do I pass the iGPU through"], config="rag",
             out="gpu.md"),
         Run("rag query --json", ["rag", "query", "--json", "etcd snapshot"], config="rag",
             out="backup.md"),
         Run("chat --rag", ["chat", "--no-cache", "--rag", "how do I pass the iGPU through"],
             config="rag", out="word for word")],
    ]


class Setup:
    """labsim, redis-server, sshd, the configs and the state directory the runs share."""

    def __init__(self, want_ssh):
        self.dir = tempfile.mkdtemp(prefix="labdeck-vg-")
        self.lab = Lab("--churn", "0")
        self.state = os.path.join(self.dir, "state")
        self.docs = os.path.join(self.dir, "docs")
        os.makedirs(self.docs)
        for name, text in DOCS.items():
            with open(os.path.join(self.docs, name), "w", encoding="utf-8") as f:
                f.write(text)
        base = open(self.lab.config).read()
        dead = "http://127.0.0.1:%d" % services.free_port()
        rd = services.redis()
        self.configs = {
            "lab": self.lab.config,
            "state": self.lab.config,
            "redis": self.lab.write_config(base + "\n[redis]\nurl = %s\ncache_ttl = 600\n" % rd.url),
            "rag": self.lab.write_config(base + "\n[rag]\ntop_k = 2\n"),
            "pve_down": self.lab.write_config(
                re.sub(r"(?m)^(\[proxmox\]\nurl = ).*$", r"\g<1>" + dead.replace("http", "https"),
                       base)),
            "ollama_down": self.lab.write_config(
                re.sub(r"(?m)^(\[ollama\]\nurl = ).*$", r"\g<1>" + dead, base)),
        }
        if want_ssh:
            from sshd import sshd
            s = sshd()
            known = os.path.join(self.dir, "known_hosts")
            with open(known, "w") as f:
                f.write(s.host_line + "\n")
            self.configs["ssh"] = self.lab.write_config(
                base + '\n[ssh "lab"]\nhost = 127.0.0.1\nport = %d\nuser = root\nidentity = %s\n'
                'known_hosts = %s\n' % (s.port, s.client_key, known))

    def env(self):
        e = {k: v for k, v in os.environ.items()
             if k not in ("KUBECONFIG", "LABDECK_CONFIG", "NO_COLOR")}
        e.update(LC_ALL="C.UTF-8", LANG="C.UTF-8", XDG_STATE_HOME=self.state,
                 HOME=os.path.join(self.dir, "home"))
        os.makedirs(e["HOME"], exist_ok=True)
        return e

    def close(self):
        self.lab.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def valgrind_verdict(log):
    """"" when valgrind's log is clean, else why not (with the first error's stack)."""
    try:
        text = open(log, errors="replace").read()
    except OSError:
        return "no valgrind log (%s)" % log
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    if not m:
        return "valgrind did not finish (no ERROR SUMMARY):\n" + text[-2000:]
    if m.group(1) == "0":
        return ""
    # The first error: from the first line after the preamble that is not blank.
    body = [l for l in text.splitlines() if re.match(r"==\d+== ", l)]
    first, n = [], 0
    for l in body:
        l = re.sub(r"^==\d+== ", "", l)
        if not first and (not l.strip() or l.startswith(("Memcheck", "Copyright", "Using ",
                                                          "Command:", "Parent PID", "HEAP",
                                                          "  in use", "  total heap",
                                                          "All heap", "Warning"))):
            continue
        if l.startswith(("LEAK SUMMARY", "ERROR SUMMARY")) and first:
            break
        first.append(l)
        n += 1
        if n > 45:
            break
    return "valgrind: %s error(s); the first:\n    %s" % (m.group(1), "\n    ".join(first))


def run_cli(setup, labdeck, r, logdir):
    cfg = setup.configs.get(r.config)
    if cfg is None:
        return "no %s config (%s unavailable)" % (r.config, r.config)
    args = [a.replace("DOCS/", setup.docs + "/") for a in r.args]
    for attempt in (1, 2):
        log = os.path.join(logdir, re.sub(r"\W+", "_", r.name) + ".%d.log" % attempt)
        cmd = VALGRIND + ["--log-file=" + log, labdeck, "--config", cfg] + args
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, env=setup.env(),
                               timeout=120, input=r.stdin or "")
        except subprocess.TimeoutExpired:
            return "no exit in 120 s"
        out = p.stdout + p.stderr
        # Under valgrind on a busy machine a TLS handshake can outlast labsim's 10 s handshake
        # timeout: such a run is done once more (its memory was checked all the same).
        if (attempt == 1 and p.returncode == 3 and r.code != 3 and "did not answer within" in out
                and not valgrind_verdict(log)):
            print("# %s: a backend timed out under valgrind; once more" % r.name, flush=True)
            continue
        break
    if p.returncode == 99:
        return valgrind_verdict(log) or "exit 99 (valgrind's error status)"
    if p.returncode != r.code:
        return "exit %d, expected %d; output:\n%s" % (p.returncode, r.code, out[-1500:])
    if r.out and r.out not in out:
        return "%r not in its output:\n%s" % (r.out, out[-1500:])
    return valgrind_verdict(log)


# --- the console ------------------------------------------------------------------------------

def console(setup, labdeck, logdir):
    """The console in tmux under valgrind: views 1-8, pod details and logs, a chat question
    answered, q. Slow under valgrind: every wait is a predicate with a generous timeout."""
    log = os.path.join(logdir, "console.log")
    env = setup.env()
    q = shlex.quote
    script = "%s --log-file=%s %s --config %s; echo EXIT=$?; sleep 60" % (
        " ".join(q(a) for a in VALGRIND), q(log), q(labdeck), q(setup.configs["redis"]))
    t = Term(script, 100, 30, env={"HOME": env["HOME"], "XDG_STATE_HOME": setup.state,
                                   "NO_COLOR": None, "KUBECONFIG": None, "LABDECK_CONFIG": None})
    try:
        def view(key, tab, *subs, timeout=30):
            t.keys(key)
            t.wait_for(lambda s: tab in s.line(0) and all(x in s.text for x in subs),
                       "%s showing %s" % (tab, ", ".join(subs)), timeout)

        t.wait_for(lambda s: "labdeck" in s.line(0) and "pve-a" in s.text
                   and "k8s-node-a" in s.text, "the first dashboard frame with data", 90)
        view("2", "[2 guests]", "win11")
        view("3", "[3 pods]", "CrashLoopBackOff")
        t.keys("Enter")
        t.wait_for(lambda s: "Conditions" in s.text or "CONDITIONS" in s.text
                   or "Events" in s.text or "EVENTS" in s.text, "the pod's details", 30)
        t.keys("Escape")
        t.wait_for(lambda s: "[3 pods]" in s.line(0), "back to the pods", 30)
        view("4", "[4 chat]", "qwen2.5:14b")
        t.type("how does the gpu passthrough work")
        t.keys("Enter")
        t.wait_for(lambda s: "word for word." in s.text and "generating" not in s.text,
                   "the whole answer", 60)
        t.keys("Escape")
        t.wait_for(lambda s: "Enter types" in s.text, "Esc leaving the input line", 30)
        view("5", "[5 deploy]", "homelab")
        view("6", "[6 jobs]", "DAG")
        view("7", "[7 hosts]")
        view("8", "[8 topology]", "pve-a")
        view("1", "[1 nodes]", "pve-a")
        t.keys("q")
        s = t.wait_for(lambda s: re.search(r"^EXIT=\d+", s.text, re.M), "labdeck exiting", 60)
        code = int(re.search(r"^EXIT=(\d+)", s.text, re.M).group(1))
        if code == 99:
            return valgrind_verdict(log) or "exit 99 (valgrind's error status)"
        if code != 0:
            return "exit %d after q:\n%s" % (code, s.text)
        return valgrind_verdict(log)
    except Fail as e:
        return str(e)
    finally:
        t.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labdeck", required=True, help="the labdeck binary (not a sanitizer build)")
    ap.add_argument("-j", type=int, default=2, help="jobs run in parallel (default 2)")
    ap.add_argument("-k", action="append", default=[], metavar="NAME",
                    help="only runs whose name contains NAME (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the valgrind logs (path printed)")
    ap.add_argument("--show-all", action="store_true",
                    help="list every leak kind in the logs (to review the suppressions); "
                    "implies --keep")
    opts = ap.parse_args()
    labdeck = os.path.abspath(opts.labdeck)
    if opts.show_all:
        VALGRIND.append("--show-leak-kinds=all")
        opts.keep = True
    if not shutil.which("valgrind"):
        print("FAIL setup: valgrind is not installed\n0 passed, 1 failed")
        return 1
    with open(labdeck, "rb") as f:
        if b"__asan_init" in f.read():
            print("FAIL setup: %s is a sanitizer build; valgrind needs a plain one\n"
                  "0 passed, 1 failed" % labdeck)
            return 1
    selected = [[r for r in c if not opts.k or any(k in r.name for k in opts.k)] for c in chains()]
    selected = [c for c in selected if c]
    want_console = not opts.k or any(k in "console" for k in opts.k)
    want_ssh = any(r.config == "ssh" for c in selected for r in c)
    t_all = time.monotonic()
    passed = failed = 0
    results = []
    try:
        setup = Setup(want_ssh)
    except (RuntimeError, AssertionError, OSError) as e:
        print("FAIL setup: %s\n0 passed, 1 failed" % e)
        return 1
    logdir = tempfile.mkdtemp(prefix="labdeck-vg-logs-")

    def chain(runs):
        for r in runs:
            t0 = time.monotonic()
            why = run_cli(setup, labdeck, r, logdir)
            report(r.name, why, time.monotonic() - t0)

    def report(name, why, secs):
        nonlocal passed, failed
        if why:
            failed += 1
            print("FAIL %s: %s" % (name, why), flush=True)
        else:
            passed += 1
            print("ok %s (%.1f s)" % (name, secs), flush=True)

    def console_job():
        t0 = time.monotonic()
        report("console: views 1-8, pod details, a chat answer, q",
               console(setup, labdeck, logdir), time.monotonic() - t0)

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.j)) as ex:
            futures = []
            if want_console:
                futures.append(ex.submit(console_job))  # the longest: first
            futures += [ex.submit(chain, c) for c in selected]
            for f in futures:
                try:
                    f.result()
                except Exception as e:  # a harness error is a failure too
                    report("harness", "%s: %s" % (type(e).__name__, e), 0)
    finally:
        if opts.keep:
            shutil.copy(os.path.join(setup.lab.dir, "labsim.err"), logdir)
        setup.close()
        if opts.keep:
            print("# valgrind logs in %s" % logdir)
        else:
            shutil.rmtree(logdir, ignore_errors=True)
    print("# %.0f s" % (time.monotonic() - t_all))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
