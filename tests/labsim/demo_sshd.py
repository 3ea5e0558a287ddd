"""labsim --sshd: a real OpenSSH sshd on loopback, so that the demo has an SSH host.

    s = demo_sshd.start(d, P)   # a DemoSshd, or None after one line on stderr saying why
    s.ini_lines()               # the [ssh "lab-shell"] section for labdeck.ini
    s.state()                   # what state.json holds under "ssh"
    s.stop()                    # sshd and the connections it serves are gone

It makes, in the state directory, with ssh-keygen: a host key (sshd-host-key), a client key
(ssh-client-key), authorized_keys with the client key, known_hosts with the host key as
"[127.0.0.1]:PORT ssh-ed25519 ...", and sshd_config. sshd runs as `sshd -D -e -f sshd_config`,
a child of labsim, logging to sshd.log. It lets in only the user labsim runs as (root too, by
key, when labsim runs as root), with the client key, from loopback.

Run as root, sshd needs its privilege separation directory /run/sshd (it is made if missing: the
one thing written outside the state directory). Run as an ordinary user, sshd can only log that
user in, which is what the demo asks of it. Standard library only."""
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time

SSHD = os.environ.get("LABSIM_SSHD") or "/usr/sbin/sshd"  # another one for tests of the failures
HOST = "lab-shell"  # the name the hosts view shows
START_TIMEOUT = 5.0
# quick commands a lab owner would have on a host: (name, command), harmless and quick
COMMANDS = (("uptime", "uptime"), ("disk", "df -h /"), ("memory", "free -m"))

PR_SET_PDEATHSIG = 1


def _pdeathsig():
    """A preexec_fn that makes the child get SIGTERM when labsim dies, even by SIGKILL (Linux);
    libc is looked up here, in the parent, so the child only makes the call."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def child():
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    return child


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path):
    for p in (path, path + ".pub"):
        if os.path.exists(p):
            os.unlink(p)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labsim", "-f", path],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def _pub(path):
    with open(path + ".pub") as f:
        return " ".join(f.read().split()[:2])


def _listening(log, port):
    """True once sshd's log says it listens on the port (it binds before it says so)."""
    try:
        with open(log, errors="replace") as f:
            return ("Server listening on 127.0.0.1 port %d." % port) in f.read()
    except OSError:
        return False


def _descendants(pid):
    """The pids of every process below pid (from /proc, by parent pid)."""
    children = {}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % e) as f:
                stat = f.read()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(e))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _last_line(path):
    try:
        with open(path, errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


class DemoSshd:
    def __init__(self, d, P):
        self.dir = d
        self.P = P
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.host_key = P("sshd-host-key")
        self.client_key = P("ssh-client-key")
        self.known_hosts = P("known_hosts")
        self.config = P("sshd_config")
        self.log = P("sshd.log")
        self.port = None
        self.proc = None

    def _write(self):
        _keygen(self.host_key)
        _keygen(self.client_key)
        self.port = _free_port()
        with open(self.P("authorized_keys"), "w") as f:
            f.write(_pub(self.client_key) + "\n")
        with open(self.known_hosts, "w") as f:
            f.write("[127.0.0.1]:%d %s\n" % (self.port, _pub(self.host_key)))
        lines = [
            "# written by labsim --sshd: the demo's SSH host, on loopback only",
            "Port %d" % self.port,
            "ListenAddress 127.0.0.1",
            "HostKey " + self.host_key,
            "AuthorizedKeysFile " + self.P("authorized_keys"),
            "PidFile " + self.P("sshd.pid"),
            "AllowUsers " + self.user,
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "StrictModes no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "PermitTunnel no",
            "PrintMotd no",
        ]
        if os.geteuid() == 0:
            lines.append("PermitRootLogin prohibit-password")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        """Makes the files and starts sshd; returns why not (one line), or None once it answers."""
        if not os.access(SSHD, os.X_OK):
            return "%s is not installed (apt install openssh-server)" % SSHD
        if not shutil.which("ssh-keygen"):
            return "ssh-keygen is not installed (apt install openssh-client)"
        if os.geteuid() == 0:
            try:
                os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            except OSError as e:
                return "cannot make sshd's directory /run/sshd: %s" % e.strerror
        try:
            self._write()
        except subprocess.CalledProcessError as e:
            return "ssh-keygen failed: %s" % (e.stderr or b"").decode(errors="replace").strip()
        except OSError as e:
            return "cannot write its files: %s" % e
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", self.config],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=_pdeathsig(), close_fds=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                why = _last_line(self.log)
                self.proc = None
                return "sshd exited at start (%s): %s" % (self.log, why or "no message")
            if _listening(self.log, self.port):
                return None
            time.sleep(0.05)
        self.stop()
        return "sshd did not listen on port %d within %g s (see %s)" % (
            self.port, START_TIMEOUT, self.log)

    def ini_lines(self):
        """labdeck.ini's [ssh "lab-shell"] section, without a trailing blank line."""
        return ['[ssh "%s"]' % HOST,
                "; a real sshd that labsim runs on loopback as you (labsim --sshd)",
                "host = 127.0.0.1",
                "port = %d" % self.port,
                "user = " + self.user,
                "identity = " + self.client_key,
                "known_hosts = " + self.known_hosts] + [
                    "command.%s = %s" % c for c in COMMANDS]

    def state(self):
        return {"host": HOST, "port": self.port, "user": self.user, "pid": self.proc.pid,
                "identity": self.client_key, "known_hosts": self.known_hosts, "log": self.log}

    def stop(self):
        """Stops sshd and every connection it serves (each runs in a session of its own, so
        stopping the listener alone would leave them up)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            doomed = _descendants(proc.pid)
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for pid in doomed:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


def start(d, P, err=None):
    """A running DemoSshd for the state directory d (P(name) is a path in it), or None when sshd
    is missing or does not start, after one line on err (stderr) saying why."""
    s = DemoSshd(d, P)
    why = s.start()
    if why is None:
        return s
    (err or sys.stderr).write("labsim: --sshd: no SSH host: %s\n" % why)
    (err or sys.stderr).flush()
    return None
