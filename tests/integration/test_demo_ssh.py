"""The demo's SSH host: `labsim --sshd` (what `labdeck --demo` starts) runs a real OpenSSH sshd on
loopback and adds [ssh "lab-shell"] to labdeck.ini, so the hosts view has a host. labdeck reaches
it with the files labsim wrote (client key, known_hosts), runs commands there, and stopping
labsim stops sshd. Without --sshd, or when sshd cannot start, there is no [ssh] section and the
rest of the lab works as before.

Each test starts a labsim of its own (the "alone" style of test_status.py)."""
import os
import re
import signal
import socket
import subprocess
import time

from itest import check, run, sanitizer_clean, test_alone_with_lab


def ini(lab):
    with open(lab.config) as f:
        return f.read()


def ssh(lab, *args):
    r = run("ssh", *args, config=lab.config, stdin="")
    sanitizer_clean(r)
    return r


def alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def sshd_processes(config):
    """pids of the sshd processes started with this sshd_config (the listener)."""
    out = subprocess.run(["pgrep", "-f", config], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@test_alone_with_lab("--sshd", "--churn", "0")
def demo_ssh_host_works_and_goes_with_labsim(lab):
    text = ini(lab)
    m = re.search(r'^\[ssh "lab-shell"\]\n((?:[^\[\n].*\n)*)', text, re.M)
    check(m, "labdeck.ini has the section [ssh \"lab-shell\"]:\n" + text)
    keys = dict(re.findall(r"^(\S+) = (.*)$", m.group(1), re.M))
    port = lab.state["ssh"]["port"]
    check(keys.get("host") == "127.0.0.1" and keys.get("port") == str(port),
          "host 127.0.0.1 on the port state.json names: %r" % keys)
    with open(keys["known_hosts"]) as f:
        known = f.read()
    check(known.startswith("[127.0.0.1]:%d ssh-ed25519 " % port),
          "known_hosts holds the host key for [127.0.0.1]:PORT: %r" % known)

    r = ssh(lab, "lab-shell")
    check(r.code == 0, "labdeck ssh lab-shell lists the quick commands", r)
    for name, cmd in ((":uptime", "uptime"), (":disk", "df -h /"), (":memory", "free -m")):
        check(re.search(r"^%s\s+%s$" % (re.escape(name), re.escape(cmd)), r.out, re.M),
              "quick command %s (%s) listed" % (name, cmd), r)

    # off a terminal an unknown host key is refused: this passes only with labsim's known_hosts
    r = ssh(lab, "lab-shell", "--", "echo", "hello-from-demo")
    check(r.code == 0 and r.out == "hello-from-demo\n", "the command's output, exit 0", r)
    r = ssh(lab, "lab-shell", ":uptime")
    check(r.code == 0 and "load average" in r.out, "the quick command :uptime ran there", r)

    pid = lab.state["ssh"]["pid"]
    with open(os.path.join(lab.dir, "sshd.pid")) as f:
        check(int(f.read()) == pid, "state.json's ssh.pid is sshd's own pid file")
    check(alive(pid), "sshd runs while labsim does")
    config = os.path.join(lab.dir, "sshd_config")
    lab.proc.send_signal(signal.SIGTERM)
    code = lab.proc.wait(timeout=20)
    check(code == 0, "labsim exits 0 on SIGTERM (got %s)" % code)
    deadline = time.monotonic() + 5
    while (alive(pid) or sshd_processes(config)) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(not alive(pid), "sshd (pid %d) gone after labsim stopped" % pid)
    check(not sshd_processes(config), "no sshd process of the lab left: %s" % sshd_processes(config))
    with socket.socket() as s:
        check(s.connect_ex(("127.0.0.1", port)) != 0, "nothing listens on the SSH port any more")


@test_alone_with_lab("--churn", "0")
def no_ssh_host_without_the_option(lab):
    text = ini(lab)
    check("[ssh" not in text, "no [ssh] section without --sshd:\n" + text)
    check("ssh" not in lab.state, "no ssh in state.json without --sshd")
    check(not os.path.exists(os.path.join(lab.dir, "sshd_config")), "no sshd_config written")
    r = ssh(lab, "lab-shell", "--", "true")
    check(r.code != 0 and "lab-shell" in r.err, "labdeck ssh lab-shell: no such host", r)


@test_alone_with_lab("--sshd", "--churn", "0", env={"LABSIM_SSHD": "/bin/false"})
def failing_sshd_leaves_the_host_out(lab):
    with open(os.path.join(lab.dir, "labsim.err")) as f:
        err = f.read()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    check(len(lines) == 1 and "--sshd" in lines[0] and "sshd exited at start" in lines[0],
          "one line on stderr saying why there is no SSH host: %r" % err)
    text = ini(lab)
    check("[ssh" not in text, "no [ssh] section when sshd did not start:\n" + text)
    check("ssh" not in lab.state, "no ssh in state.json when sshd did not start")
    r = run("nodes", config=lab.config)
    check(r.code == 0 and re.search(r"^pve-a\s", r.out, re.M), "the rest of the lab works", r)
    sanitizer_clean(r)


@test_alone_with_lab("--sshd", "--churn", "0", env={"LABSIM_SSHD": "/nonexistent/sshd"})
def missing_sshd_leaves_the_host_out(lab):
    with open(os.path.join(lab.dir, "labsim.err")) as f:
        err = f.read()
    check(err.count("\n") == 1 and "not installed" in err and "openssh-server" in err,
          "one line on stderr: sshd is not installed: %r" % err)
    check("[ssh" not in ini(lab), "no [ssh] section without sshd")
