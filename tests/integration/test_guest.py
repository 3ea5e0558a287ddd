"""Integration tests of `labdeck guest start|shutdown|stop|reboot VMID`: the Proxmox power action
against labsim — the exact request sent (method, path, token), the task followed to its end,
the confirmation (a y, or the name typed for stop) on a terminal and its refusal without one,
--readonly, Proxmox's own refusals and failed tasks with their log, the service down, auth
refused, Ctrl-C while following, and hostile names never reaching the terminal raw.

These tests change guests' power state, so they run on labsim instances of their own (not the
shared one the status tests read)."""
import atexit
import json
import os
import pty
import re
import select
import signal
import subprocess
import time
import urllib.parse

import itest
from itest import check, run, sanitizer_clean, test_alone
from lab import Lab

UPID_RX = r"UPID:pve-a:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:%s:%d:root@pam!labdeck:"
FAST = {"LABDECK_POLL_INTERVAL": "0.05"}
ESCAPES = ("\x1b", "\x07", "\x9b")

_labs = {}


def guest_lab(*args):
    """One labsim per set of options, shared by this module's tests, stopped at exit."""
    if args not in _labs:
        lab = Lab("--churn", "0", *args)
        atexit.register(lab.close)
        _labs[args] = lab
    lab = _labs[args]
    lab.clear()
    lab._admin("POST", "/proxmox/tasks", {"polls": 3, "seconds": 10, "power_denied": False})
    return lab


def guest(lab, *args, env=None, config=None):
    e = dict(FAST)
    e.update(env or {})
    r = run("guest", *args, config=config or lab.config, env=e, stdin="")
    sanitizer_clean(r)
    return r


def posts(lab):
    return [r for r in lab.requests("proxmox") if r["method"] == "POST"]


def status_of(lab, vmid):
    r = run("guests", "--json", config=lab.config)
    check(r.code == 0, "labdeck guests --json works", r)
    return {g["vmid"]: g for g in r.json()["guests"]}[vmid]["status"]


@test_alone
def guest_start_wait_happy_path():
    lab = guest_lab()
    check(status_of(lab, 103) == "stopped", "103 starts stopped")
    lab.clear()
    r = guest(lab, "start", "103", "--yes", "--wait")
    check(r.code == 0, "start --wait of a stopped VM exits 0", r)
    check(re.fullmatch(r"start 103: OK \(%s\)\n" % UPID_RX % ("qmstart", 103), r.out),
          "stdout: the action, the exit status OK and the UPID", r)
    check("win11" in r.err and "pve-a" in r.err, "stderr says which guest on which node", r)
    sent = posts(lab)
    check(len(sent) == 1 and sent[0]["path"] == "/api2/json/nodes/pve-a/qemu/103/status/start",
          "exactly one POST, to the guest's node and type", sent)
    check(sent[0]["headers"].get("Authorization")
          == "PVEAPIToken=%s=%s" % (lab.state["pve_token_id"], lab.state["pve_token_secret"]),
          "the API token is sent", None)
    upid = r.out.split("(")[1].rstrip(")\n")
    polls = [q for q in lab.requests("proxmox")
             if q["method"] == "GET" and "/tasks/" in q["path"] and q["path"].endswith("/status")]
    check(len(polls) == 3 and all(q["path"] == "/api2/json/nodes/pve-a/tasks/%s/status"
                                  % urllib.parse.quote(upid, safe="") for q in polls),
          "the task's status was read until it stopped (3 reads), UPID escaped", polls)
    check(status_of(lab, 103) == "running", "labdeck guests shows 103 running afterwards")
    # and back: stop with --json
    lab.clear()
    r = guest(lab, "stop", "103", "--yes", "--wait", "--json")
    check(r.code == 0, "stop --wait --json exits 0", r)
    doc = r.json()
    check(doc["action"] == "stop" and doc["target"] == "103" and doc["state"] == "OK"
          and re.fullmatch(UPID_RX % ("qmstop", 103), doc["id"]) and doc["node"] == "pve-a"
          and doc["name"] == "win11", "the JSON action shape", doc)
    check(status_of(lab, 103) == "stopped", "103 stopped again")


@test_alone
def guest_without_wait_prints_the_upid():
    lab = guest_lab()
    lab._admin("POST", "/proxmox/tasks", {"seconds": 0.5})  # ends in time even unfollowed
    r = guest(lab, "start", "111", "--yes", "--json")
    check(r.code == 0, "start without --wait exits 0 once the task is started", r)
    doc = r.json()
    check(doc["state"] == "running" and doc["id"].startswith("UPID:pve-b:")
          and ":vzstart:111:" in doc["id"] and doc["node"] == "pve-b", "state running, the UPID", doc)
    check(not [q for q in lab.requests("proxmox") if "/tasks/" in q["path"]],
          "without --wait the task is not followed", None)
    time.sleep(0.6)
    check(status_of(lab, 111) == "running", "the unfollowed task ended: 111 runs")
    r = guest(lab, "shutdown", "111", "--yes", "--wait")
    check(r.code == 0 and r.out.startswith("shutdown 111: OK (UPID:pve-b:"), "shutdown --wait", r)


@test_alone
def guest_refused_without_yes_off_a_terminal():
    lab = guest_lab()
    r = guest(lab, "stop", "101")
    check(r.code == 2, "no --yes without a terminal: exit 2", r)
    check("--yes" in r.err and r.out == "", "the hint names --yes", r)
    check(lab.requests("proxmox") == [], "nothing was sent to Proxmox", lab.requests("proxmox"))


@test_alone
def guest_readonly_refuses():
    lab = guest_lab()
    r = run("--readonly", "guest", "stop", "101", "--yes", config=lab.config, stdin="")
    check(r.code == 2 and "read-only" in r.err, "--readonly: exit 2, says read-only", r)
    cfg = lab.write_config(open(lab.config).read() + "\n[ui]\nreadonly = true\n")
    r = run("guest", "start", "103", "--yes", config=cfg, stdin="")
    check(r.code == 2 and "readonly = true" in r.err, "[ui] readonly = true: exit 2", r)
    check(lab.requests("proxmox") == [], "nothing was sent", lab.requests("proxmox"))


def on_terminal(cfg, args, answer, prompt):
    """Runs labdeck with a terminal on stdin, answers the prompt; (exit, stdout, stderr)."""
    master, slave = pty.openpty()
    e = dict(os.environ, LC_ALL="C.UTF-8", **FAST)
    p = subprocess.Popen([itest.LABDECK, "--config", cfg, *args], stdin=slave,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    os.close(slave)
    err = b""
    deadline = time.time() + 20
    while prompt not in err and time.time() < deadline and p.poll() is None:
        ready, _, _ = select.select([p.stderr], [], [], 0.2)
        if ready:
            err += os.read(p.stderr.fileno(), 4096)
    check(prompt in err, "the prompt was shown", err)
    os.write(master, answer.encode())
    out, rest = p.communicate(timeout=20)
    os.close(master)
    return p.returncode, out.decode(), (err + rest).decode()


@test_alone
def guest_confirmation_on_a_terminal():
    lab = guest_lab()
    code, out, err = on_terminal(lab.config, ["guest", "stop", "110"], "web\n", b"to confirm: ")
    check("Stop guest 110 (dns) on pve-a: type dns to confirm:" in err, "stop asks for the name", err)
    check(code == 1 and "not done" in err, "a wrong name: exit 1, not done", (code, out, err))
    check(posts(lab) == [], "nothing was POSTed", posts(lab))
    code, out, err = on_terminal(lab.config, ["guest", "reboot", "110"], "n\n", b"[y/N]")
    check("Reboot guest 110 (dns) on pve-a? [y/N]" in err, "reboot asks y/N", err)
    check(code == 1 and posts(lab) == [], "no: nothing sent", (code, err))
    code, out, err = on_terminal(lab.config, ["guest", "reboot", "110", "--wait"], "y\n", b"[y/N]")
    check(code == 0 and out.startswith("reboot 110: OK (UPID:pve-a:"), "y: rebooted", (code, out, err))
    check([q["path"] for q in posts(lab)] == ["/api2/json/nodes/pve-a/lxc/110/status/reboot"],
          "one POST, to the container", posts(lab))


@test_alone
def guest_proxmox_refusals_and_failed_tasks():
    lab = guest_lab()
    r = guest(lab, "reboot", "104", "--yes", "--wait")
    check(r.code == 1, "reboot of a stopped VM: exit 1 (refused)", r)
    check(r.err.strip().splitlines()[-1] == "labdeck: proxmox: reboot guest 104: VM 104 not running",
          "Proxmox's own message, plainly, on one line", r)
    r = guest(lab, "start", "101", "--yes", "--wait")
    check(r.code == 1, "start of a running VM: the task fails, exit 1", r)
    check("the task failed: VM 101 already running" in r.err
          and "TASK ERROR: VM 101 already running" in r.err, "the exit status and the log end", r)
    lab._admin("POST", "/proxmox/tasks", {"fail": {"exitstatus": "command 'qm shutdown' failed: got timeout",
                                                   "log": ["shutdown guest", "waiting...", "got timeout"]}})
    r = guest(lab, "shutdown", "101", "--yes", "--wait", "--json")
    check(r.code == 1, "a failed task: exit 1", r)
    doc = r.json()
    check(doc["state"] == "failed: command 'qm shutdown' failed: got timeout"
          and doc["log"][-2:] == ["got timeout", "TASK ERROR: command 'qm shutdown' failed: got timeout"],
          "JSON: failed: EXITSTATUS, and the log's last lines", doc)
    check("got timeout" in r.err, "the log lines on stderr too", r)
    check(status_of(lab, 101) == "running", "the guest is as it was")
    lab.clear()
    r = guest(lab, "stop", "4242", "--yes")
    check(r.code == 1 and "no guest 4242" in r.err and posts(lab) == [],
          "an unknown vmid: exit 1, nothing POSTed", r)
    r = guest(lab, "stop", "abc", "--yes")
    check(r.code == 2 and "VMID" in r.err, "not a number: usage, exit 2", r)
    r = guest(lab, "suspend", "101", "--yes")
    check(r.code == 2 and "unknown action" in r.err, "unknown action: exit 2", r)


@test_alone
def guest_auth_refused():
    lab = guest_lab()
    cfg = lab.write_config(open(lab.config).read().replace(
        "token_secret_file = " + os.path.join(lab.dir, "pve-token"), "token_secret = wrong-secret"))
    check(cfg and "wrong-secret" in open(cfg).read(), "the config has the wrong secret", None)
    r = guest(lab, "start", "103", "--yes", config=cfg)
    check(r.code == 4 and "401" in r.err and "wrong-secret" not in r.err, "a wrong token: exit 4", r)
    lab._admin("POST", "/proxmox/tasks", {"power_denied": True})
    r = guest(lab, "start", "103", "--yes", "--wait")
    check(r.code == 4 and "Permission check failed (/vms/103, VM.PowerMgmt)" in r.err,
          "a token without VM.PowerMgmt: exit 4, the privilege named", r)
    check(len(posts(lab)) == 1, "the refused POST is not retried", posts(lab))


@test_alone
def guest_service_down():
    lab = guest_lab()
    lab._admin("POST", "/outage", {"backend": "proxmox", "down": True})
    try:
        r = guest(lab, "start", "103", "--yes", "--wait")
    finally:
        lab._admin("POST", "/outage", {"backend": "proxmox", "down": False})
    check(r.code == 3, "Proxmox down: exit 3", r)
    lines = r.err.strip().splitlines()
    check(len(lines) == 1 and "proxmox" in lines[0], "one clear line", r)


@test_alone
def guest_ctrl_c_stops_following():
    lab = guest_lab()
    lab._admin("POST", "/proxmox/tasks", {"polls": 1000, "seconds": 1000})
    e = dict(os.environ, LC_ALL="C.UTF-8", **FAST)
    p = subprocess.Popen([itest.LABDECK, "--config", lab.config, "guest", "start", "111", "--yes",
                          "--wait"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e, text=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        if any("/tasks/" in q["path"] for q in lab.requests("proxmox")):
            break
        time.sleep(0.05)
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    check(p.returncode == 130, "Ctrl-C while following: exit 130", (p.returncode, out, err))
    check("Sanitizer" not in err and "runtime error:" not in err, "no sanitizer report", err)
    check("the task goes on" in err and "pvesh get /nodes/pve-b/tasks/UPID" in err,
          "says how to check later", err)
    st = lab._admin("POST", "/proxmox/tasks", {"seconds": 0})
    check(st["tasks"][-1]["status"] == "running", "the task itself was not stopped", st)


@test_alone
def guest_ctrl_c_on_a_terminal():
    """The real thing: labdeck on a terminal, confirmed with y, following; Ctrl-C typed on the
    terminal (the line discipline signals the foreground process group)."""
    lab = guest_lab()
    lab._admin("POST", "/proxmox/tasks", {"polls": 1000, "seconds": 1000})
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(FAST)
        os.environ["LC_ALL"] = "C.UTF-8"
        os.execv(itest.LABDECK, [itest.LABDECK, "--config", lab.config, "guest", "reboot", "110",
                                 "--wait"])
    out = b""
    answered = interrupted = False
    deadline = time.time() + 20
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                d = os.read(fd, 4096)
            except OSError:
                break
            if not d:
                break
            out += d
        if not answered and b"[y/N]" in out:
            os.write(fd, b"y\n")
            answered = True
        if answered and not interrupted and b"running, " in out:
            time.sleep(0.2)
            os.write(fd, b"\x03")  # Ctrl-C
            interrupted = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    text = out.decode("utf-8", "replace")
    check(answered and interrupted, "asked, answered, then followed on the terminal", text)
    check(code == 130, "Ctrl-C while following: exit 130", (code, text))
    check("Sanitizer" not in text and "runtime error:" not in text, "no sanitizer report", text)
    check("stopped following; the task goes on" in text and "pvesh get /nodes/pve-a/tasks/UPID" in text,
          "says the task goes on and how to check it", text)
    check([q["path"] for q in posts(lab)] == ["/api2/json/nodes/pve-a/lxc/110/status/reboot"],
          "one POST, nothing sent to stop the task", posts(lab))
    st = lab._admin("POST", "/proxmox/tasks", {"seconds": 0})
    check(st["tasks"][-1]["status"] == "running", "the task itself was not stopped", st)


@test_alone
def guest_hostile_names_are_sanitised():
    lab = guest_lab("--hostile-names")
    lab._admin("POST", "/proxmox/tasks", {"fail": {"exitstatus": "bad \x1b]0;pwned\x07 thing",
                                                   "log": ["line \x1b[2J\x9b31m"]}})
    r = guest(lab, "start", "103", "--yes", "--wait")
    check(r.code == 1, "the failed task exits 1", r)
    check("evil" in r.err and "pwned" in r.err, "the name and message are shown", r)
    check(not any(c in r.err + r.out for c in ESCAPES), "no escape sequence reaches the terminal", r)
    code, out, err = on_terminal(lab.config, ["guest", "stop", "103"], "no\n", b"to confirm: ")
    check(code == 1 and not any(c in err for c in ESCAPES), "the confirmation shows the name harmless",
          err)
    check("Sanitizer" not in err, "no sanitizer report", err)
    r = guest(lab, "start", "103", "--yes", "--json")
    doc = json.loads(r.out)
    check(doc["name"] == "evil\x1b[31mRED\x1b]0;pwned\x07\x9b2J", "--json carries the name as it is", doc)
