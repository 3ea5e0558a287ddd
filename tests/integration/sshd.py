"""A real OpenSSH sshd for the tests, on a free loopback port with keys made by ssh-keygen in a
temp dir: the integration tests of `labdeck ssh` (test_ssh.py) and the console's hosts view
(tests/tui/tests_hosts.py) both use it.

    s = sshd.sshd()      # started once per test run, stopped at exit
    s.port, s.host_key, s.client_key, s.echo_key, s.host_line, s.fp
    s.kill(), s.restart()   # SIGKILL sshd and the connections it serves; start it again

authorized_keys holds client_key, and echo_key with a command= entry that prints the command
string it received ($SSH_ORIGINAL_COMMAND). host_line is the known_hosts line for the server
("[127.0.0.1]:PORT ssh-ed25519 AAAA..."), fp its SHA-256 fingerprint as ssh-keygen -l shows it.

sshd must run as root here (it is started with its own config, no PAM); a missing sshd or a
non-root run raises AssertionError with that reason (the tests fail rather than skip)."""
import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import services

SSHD = "/usr/sbin/sshd"
_sshd = {}


def _require(cond, what):
    if not cond:
        raise AssertionError(what)


def keygen(path, passphrase=""):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "", "-f", path],
                   check=True)


def pub(path):
    """'ssh-ed25519 AAAA...' of a key pair's .pub."""
    return " ".join(open(path + ".pub").read().split()[:2])


def fingerprint(path):
    out = subprocess.run(["ssh-keygen", "-lf", path + ".pub"], capture_output=True, text=True,
                         check=True).stdout
    return out.split()[1]


class Sshd:
    def __init__(self, log_level=None):
        """log_level (e.g. "DEBUG3") raises sshd's LogLevel for a test that reads its log
        (log_size, wait_log); the shared sshd() keeps the default."""
        _require(os.path.exists(SSHD), "OpenSSH sshd is installed at %s (apt install "
                 "openssh-server)" % SSHD)
        _require(os.geteuid() == 0, "the sshd tests run as root (sshd with its own config)")
        os.makedirs("/run/sshd", exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="labdeck-sshd-")
        d = self.dir
        self.host_key = os.path.join(d, "host_ed25519")
        self.client_key = os.path.join(d, "id_ed25519")
        self.echo_key = os.path.join(d, "id_echo")  # its entry runs command=, echoing the command
        keygen(self.host_key)
        keygen(self.client_key)
        keygen(self.echo_key)
        with open(os.path.join(d, "authorized_keys"), "w") as f:
            f.write(pub(self.client_key) + "\n")
            f.write('command="printf %%s \\"$SSH_ORIGINAL_COMMAND\\"" %s\n' % pub(self.echo_key))
        self.port = services.free_port()
        conf = os.path.join(d, "sshd_config")
        with open(conf, "w") as f:
            f.write("\n".join([
                "Port %d" % self.port, "ListenAddress 127.0.0.1", "HostKey " + self.host_key,
                "PidFile " + os.path.join(d, "sshd.pid"),
                "AuthorizedKeysFile " + os.path.join(d, "authorized_keys"), "StrictModes no",
                "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password"]
                + (["LogLevel " + log_level] if log_level else []) + [""]))
        self.svc = services.Service("sshd", [SSHD, "-D", "-e", "-f", conf], self.port)
        self.host_line = "[127.0.0.1]:%d %s" % (self.port, pub(self.host_key))
        self.fp = fingerprint(self.host_key)

    def log_path(self):
        """sshd's log (-e: its stderr, which services.Service writes to DIR/log)."""
        return os.path.join(self.svc.dir, "log")

    def log_size(self):
        """The log's length now: a mark for wait_log."""
        try:
            return os.path.getsize(self.log_path())
        except OSError:
            return 0

    def wait_log(self, mark, pattern, timeout=10.0):
        """The log written after `mark`, once a line matching the regex `pattern` is in it (or
        the timeout passes: then whatever is there)."""
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path(), errors="replace") as f:
                f.seek(mark)
                text = f.read()
            if re.search(pattern, text) or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def kill(self):
        """Kills sshd with SIGKILL, and with it every connection it serves (each runs in a
        session of its own, so killing the listener alone would leave them up): what a crash of
        the server or of its host does to the commands running there."""
        proc = self.svc.proc
        if proc is None or proc.poll() is not None:
            return
        doomed = _descendants(proc.pid)
        self.svc.stop()
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def restart(self):
        """Kills sshd and its connections, then starts it again on the same port and keys."""
        self.kill()
        self.svc.start()

    def close(self):
        self.kill()
        self.svc.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _descendants(pid):
    """The pids of every process below pid (from /proc, by parent pid)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def sshd():
    """The sshd of this test run, started on first use."""
    if "s" not in _sshd:
        _sshd["s"] = Sshd()
    return _sshd["s"]


@atexit.register
def _stop():
    for s in _sshd.values():
        s.close()
    _sshd.clear()
