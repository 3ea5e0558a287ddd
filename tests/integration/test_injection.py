"""Terminal injection, proven on the CLI (issue 7 item 4): labsim --hostile puts escape payloads
(CSI, OSC 0/2 titles, OSC 52 clipboard, DCS, APC, a carriage return, C1 controls as UTF-8 and as
raw bytes, bidi overrides and isolates) in every text field it serves; the model answers with them
when a prompt says labsim:hostile; status faults carry them in their reason. Every command runs
in text and --json form, with stdout/stderr to a pipe and to a pty, and none of those bytes may
reach the output: the check is on the raw bytes (inject_problems below), and each command must
also show the payload's markers ("PWN...") inert, so a field that is not shown at all cannot pass
for a sanitised one."""
import atexit
import json
import os
import pty
import select
import subprocess
import tempfile
import time

import itest
from itest import check, test_alone
from lab import Lab

FAST = {"LABDECK_POLL_INTERVAL": "0.05"}
# Code points text_sanitize must never let through (C1, bidi formatting, line/paragraph separators).
FORBIDDEN_CP = set(range(0x80, 0xA0)) | set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {
    0x200E, 0x200F, 0x061C, 0x2028, 0x2029}
# The payloads' own prefixes right before their markers: present only if a payload got through raw.
RAW_PREFIXES = (b"\x1b[6nPWN", b"\x1b[31mPWN", b"\x1b]0;PWN", b"\x1b]2;PWN", b"\x1b]52;", b"\x1bP$qPWN",
                b"\x1b_PWN", b"\rPWN", b"\x9b6nPWN", b"\x9d0;PWN")

_LAB = None


def hostile_lab():
    """One labsim --hostile shared by the tests of this module."""
    global _LAB
    if _LAB is None:
        _LAB = Lab("--hostile", "--churn", "0", "--argocd-polls", "1")
        atexit.register(_LAB.close)
    return _LAB


def inject_problems(data, tty):
    """What in labdeck's raw output could steer a terminal. Without a terminal (a pipe) no ESC and
    no C0 control but newline may appear at all; on a pty an ESC may only start an SGR (colour) or
    an erase-line (labdeck's own progress line: "\r\x1b[K")."""
    out = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        out.append("invalid UTF-8 (a raw C1 byte?) at %d: %r" % (e.start, data[max(0, e.start - 20):e.end + 20]))
        text = data.decode("utf-8", "replace")
    for p in RAW_PREFIXES:
        if p in data:
            i = data.index(p)
            out.append("payload prefix %r reached the output: %r" % (p, data[max(0, i - 20):i + 30]))
    bad = sorted({"U+%04X" % ord(c) for c in text if ord(c) in FORBIDDEN_CP})
    if bad:
        out.append("forbidden code points: %s" % ", ".join(bad))
    i = 0
    while True:
        i = text.find("\x1b", i)
        if i < 0:
            break
        j = i + 2
        while j < len(text) and (text[j].isdigit() or text[j] == ";"):
            j += 1
        if not tty or text[i + 1:i + 2] != "[" or text[j:j + 1] not in ("m", "K"):
            out.append("ESC not starting an SGR or an erase-line: %r" % text[max(0, i - 20):i + 30])
            break
        i = j
    ctl = sorted({"0x%02x" % ord(c) for c in text if ord(c) < 0x20 and c not in "\n\x1b" and not (tty and c == "\r")})
    if ctl:
        out.append("C0 controls: %s" % ", ".join(ctl))
    # the pty's onlcr writes "\r\n" for "\n"; labdeck's own progress line is "\r\x1b[K..."
    if tty and "\r" in text.replace("\r\n", "").replace("\r\x1b[K", ""):
        out.append("a carriage return not before a newline: %r" % text[max(0, text.find("\r") - 20):][:50])
    return out


def run_pty(args, env, timeout=60):
    """labdeck with stdout and stderr on a pty (not its controlling terminal; stdin empty): (exit
    status, every byte it wrote)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env,
                         start_new_session=True)
    os.close(slave)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the pty
                    break
                if not chunk:
                    break
                data += chunk
            elif p.poll() is not None:
                break
            if time.monotonic() > deadline:
                p.kill()
                raise AssertionError("labdeck %s did not finish in %d s" % (" ".join(args[1:]), timeout))
        p.wait(timeout=10)
    finally:
        os.close(master)
    return p.returncode, data


def env_for(extra=None):
    e = dict(os.environ)
    for k in ("KUBECONFIG", "LABDECK_CONFIG"):
        e.pop(k, None)
    e.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TERM": "xterm-256color"}, **FAST)
    if extra:
        e.update(extra)
    return e


def both_ways(lab, args, env=None, expect_marker=True, codes=(0,), config=None, pty_args=None, before=None):
    """Runs `labdeck ARGS` to a pipe and to a pty (`labdeck PTY_ARGS` when given: for an action
    that cannot be done twice; `before()` before each run); checks both outputs; returns the
    pipe's (code, stdout, stderr)."""
    cmd = [itest.LABDECK, "--config", config or lab.config] + list(args)
    e = env_for(env)
    if before:
        before()
    p = subprocess.run(cmd, capture_output=True, env=e, timeout=60, stdin=subprocess.DEVNULL)
    what = "labdeck " + " ".join(args)
    check(p.returncode in codes, "%s (pipe) exits %s: %d %r" % (what, codes, p.returncode, p.stderr[-300:]))
    for name, data in (("stdout", p.stdout), ("stderr", p.stderr)):
        probs = inject_problems(data, False)
        check(not probs, "%s, %s to a pipe: %s" % (what, name, "; ".join(probs)))
    check(b"AddressSanitizer" not in p.stderr and b"runtime error:" not in p.stderr, "sanitizer report: %r"
          % p.stderr[-500:])
    if expect_marker:
        check(b"PWN" in p.stdout + p.stderr, "%s (pipe) does not show the hostile field at all: %r"
              % (what, (p.stdout + p.stderr)[:300]))
    if pty_args is not None:
        cmd = [itest.LABDECK, "--config", config or lab.config] + list(pty_args)
        what = "labdeck " + " ".join(pty_args)
    if before:
        before()
    code, data = run_pty(cmd, e)
    check(code in codes, "%s (pty) exits %s: %d %r" % (what, codes, code, data[-300:]))
    probs = inject_problems(data, True)
    check(not probs, "%s on a pty: %s" % (what, "; ".join(probs)))
    if expect_marker:
        check(b"PWN" in data, "%s (pty) does not show the hostile field: %r" % (what, data[:300]))
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


@test_alone
def inject_check_is_not_blind():
    """The check itself: each payload as labsim sends it (before sanitising) is caught."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "labsim", "lab.py")
    spec = importlib.util.spec_from_file_location("labsim_lab", path)
    labsim_lab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(labsim_lab)
    for p in labsim_lab.HOSTILE_PAYLOADS:
        raw = p.encode("utf-8")
        check(inject_problems(raw, True) and inject_problems(raw, False), "payload %r not caught" % p)
    raw = labsim_lab.HOSTILE_RAW.encode("utf-8", "surrogateescape")
    check(inject_problems(raw, True), "raw C1 bytes not caught")
    check(not inject_problems("pve-a ✓ 백업 \x1b[1;38;5;2mok\x1b[0m\r\n".encode(), True), "SGR on a pty refused")


@test_alone
def inject_status_commands():
    lab = hostile_lab()
    for args, marker in ((("nodes",), False), (("guests",), True), (("pods",), False), (("topology",), True),
                         (("deploy", "list"), True), (("jobs", "list"), True)):
        both_ways(lab, args, expect_marker=marker)
        both_ways(lab, ("--json",) + args, expect_marker=marker)
    # --json still means the same: the escaped code points come back when parsed.
    _, out, _ = both_ways(lab, ("--json", "guests"))
    names = {g["vmid"]: g["name"] for g in json.loads(out)["guests"]}
    check(names[111] == "ollama-cache\x1b]0;PWNt0\x07\u202e\u009b6n", "the JSON value is the name as served: %r"
          % names[111])
    check("\\u009b" in out and "\\u202e" in out, "C1 and bidi written as \\u escapes: %r" % out[:300])


@test_alone
def inject_chat_answers():
    lab = hostile_lab()
    d = tempfile.mkdtemp(prefix="labdeck-state-")
    env = {"XDG_STATE_HOME": d}
    for prov in ("ollama", "gemini", "openai"):
        q = "tell me about hostile answers labsim:hostile"
        both_ways(lab, ("chat", "--no-cache", "--provider", prov, q), env=env)
        both_ways(lab, ("chat", "--json", "--no-cache", "--provider", prov, q), env=env)
    # stored in a session, then listed and shown
    both_ways(lab, ("chat", "--no-cache", "--session", "evil", "answer with payloads labsim:hostile"), env=env)
    both_ways(lab, ("session", "list"), env=env, expect_marker=False)
    both_ways(lab, ("session", "show", "evil"), env=env)
    both_ways(lab, ("--json", "session", "show", "evil"), env=env)


@test_alone
def inject_actions_followed():
    """Task logs (Proxmox), ArgoCD operation messages and app names, GitHub run, job and step
    names, Airflow runs: followed with --wait."""
    lab = hostile_lab()
    start, stop = ("guest", "start", "111", "--yes", "--wait"), ("guest", "stop", "111", "--yes", "--wait")
    both_ways(lab, start, pty_args=stop)
    both_ways(lab, ("--json",) + start, pty_args=("--json",) + stop)
    lab._admin("POST", "/proxmox/tasks", {"fail": {"exitstatus": "boom \x1b]0;PWNtask\x07\u009b6n", "count": 2,
                                                   "log": ["PWN line \x1b]52;c;UFdO\x07", "\x1bP$qPWNdcs\x1b\\"]}})
    both_ways(lab, start, codes=(1,))
    def argo_message():
        lab._admin("POST", "/argocd/apps/backend", {"message": "failed: \x1b]2;PWNargo\x1b\\ \u202eevil",
                                                    "fail": True})
    both_ways(lab, ("deploy", "sync", "backend", "--yes", "--wait"), codes=(1,), before=argo_message)
    lab._admin("POST", "/github/knobs", {"step_name": "Build \x1b]0;PWNstep\x07 \u2066image\u2069"})
    both_ways(lab, ("deploy", "run", "deploy-gateway.yml", "--yes", "--wait"))
    both_ways(lab, ("--json", "deploy", "run", "deploy-gateway.yml", "--yes", "--wait"))
    both_ways(lab, ("jobs", "trigger", "backup_postgres", "--yes", "--wait"), expect_marker=False, codes=(0, 1))


HOSTILE_REASON = "boom \x1b[6nPWNcsi \x1b]0;PWNt0\x07 \x1b]52;c;UFdO\x07 \x1bP$qPWNdcs\x1b\\ \u009b6nPWNc1 \u202ePWNbidi"


@test_alone
def inject_error_messages():
    """A status fault whose reason (Proxmox: the HTTP reason phrase, where C1 controls go out as
    raw bytes; the others: the message in the body) carries the payloads: the error line shows
    it inert, for every backend."""
    lab = hostile_lab()
    cases = [("proxmox", 500, ("guests",), (3,)), ("kubernetes", 500, ("pods",), (3,)),
             ("argocd", 500, ("deploy", "list"), (3,)), ("github", 500, ("deploy", "list"), (3,)),
             ("airflow", 500, ("jobs", "list"), (3,), "/api/v1/dags"),
             ("ollama", 500, ("chat", "--no-cache", "--provider", "ollama", "hi"), (1, 3)),
             ("gemini", 500, ("chat", "--no-cache", "--provider", "gemini", "hi"), (1, 3)),
             ("openai", 500, ("chat", "--no-cache", "--provider", "openai", "hi"), (1, 3))]
    try:
        for backend, code, args, codes, *path in cases:
            path = path[0] if path else None  # past the version probe, which says only the status
            lab.clear()
            lab.fault(backend, "status", path=path, code=code, reason=HOSTILE_REASON)
            _, out, err = both_ways(lab, args, codes=codes)
            check("PWN" in err, "%s's error is not on stderr: %r" % (backend, err[:300]))
            lab.clear()
            lab.fault(backend, "status", path=path, code=code, reason=HOSTILE_REASON)
            both_ways(lab, ("--json",) + args, codes=codes)
    finally:
        lab.clear()
