"""Integration tests of `labdeck ssh HOST -- COMMAND...` against a real OpenSSH sshd that this
module starts on a free loopback port (host key and client keys made with ssh-keygen in a temp
dir): the remote output and exit status, the command string sent unchanged (an authorized_keys
command= entry echoes $SSH_ORIGINAL_COMMAND back), host keys (unknown: refused off a terminal,
accepted on a pty after 'yes' and appended; changed: refused loudly, naming the known_hosts
line), a key the server refuses (exit 4), sshd down (exit 3), output streamed as it comes,
escape sequences kept off a terminal, quick commands, --readonly, Ctrl-C.

sshd.py starts the sshd; it must run as root here (its own config, no PAM): a missing sshd or a
non-root run fails the tests with that reason rather than skipping them."""
import os
import pty
import select
import signal
import subprocess
import tempfile
import time

import itest
import services
from sshd import keygen, pub, sshd
from itest import check, run, sanitizer_clean, test_alone


class Case:
    """A config with host "lab" (and "echo", whose key makes sshd echo the command), a
    known_hosts of the case's own, and a marker file a command can create to prove it ran."""

    def __init__(self, known=True, identity=None, port=None, extra=""):
        s = sshd()
        self.s = s
        self.dir = tempfile.mkdtemp(prefix="labdeck-ssh-")
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        if known:
            with open(self.known_hosts, "w") as f:
                f.write(s.host_line + "\n")
        self.marker = os.path.join(self.dir, "ran")
        port = port or s.port
        self.config = os.path.join(self.dir, "labdeck.ini")
        with open(self.config, "w") as f:
            for name, key in (("lab", s.client_key if identity is None else identity), ("echo", s.echo_key)):
                f.write('[ssh "%s"]\nhost = 127.0.0.1\nport = %d\nuser = root\n'
                        'identity = %s\nknown_hosts = %s\n' % (name, port, key, self.known_hosts))
                if name == "lab":
                    f.write(extra)
        os.chmod(self.config, 0o600)

    def run(self, *args, **kw):
        r = run(*args, config=self.config, stdin=kw.pop("stdin", ""), **kw)
        sanitizer_clean(r)
        return r

    def ran(self):
        return os.path.exists(self.marker)

    def known(self):
        return open(self.known_hosts).read() if os.path.exists(self.known_hosts) else ""


def on_pty(case, args, answer=None, prompt=b"(yes/no/[fingerprint])? ", stdout_pty=False):
    """Runs labdeck with a terminal on stdin (and stdout with stdout_pty); answers the prompt
    when answer is given. Returns (exit, stdout bytes, stderr bytes)."""
    master, slave = pty.openpty()
    e = dict(os.environ, LC_ALL="C.UTF-8")
    p = subprocess.Popen([itest.LABDECK, "--config", case.config, *args], stdin=slave,
                         stdout=slave if stdout_pty else subprocess.PIPE, stderr=subprocess.PIPE,
                         env=e)
    os.close(slave)
    err = b""
    if answer is not None:
        deadline = time.time() + 20
        while prompt not in err and time.time() < deadline and p.poll() is None:
            ready, _, _ = select.select([p.stderr], [], [], 0.2)
            if ready:
                err += os.read(p.stderr.fileno(), 4096)
        check(prompt in err, "the question was asked", err)
        os.write(master, answer.encode())
    out = b""
    if stdout_pty:
        deadline = time.time() + 20
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        rest = p.stderr.read()
        p.wait(timeout=20)
    else:
        out, rest = p.communicate(timeout=20)
    os.close(master)
    check(b"Sanitizer" not in err + rest and b"runtime error:" not in err + rest,
          "sanitizer report", err + rest)
    return p.returncode, out, err + rest


@test_alone
def ssh_output_and_exit_status():
    c = Case()
    r = c.run("ssh", "lab", "--", "sh", "-c", "'echo out; echo err >&2; exit 3'")
    check(r.code == 3, "the remote exit status is ours", r)
    check(r.out == "out\n", "stdout to stdout", r)
    check(r.err == "err\n", "stderr to stderr, nothing else said", r)
    r = c.run("ssh", "lab", "--", "true")
    check(r.code == 0 and r.out == "" and r.err == "", "exit 0", r)
    r = c.run("ssh", "lab", "--", "sh", "-c", "'kill -TERM $$'")
    check(r.code == 128 + 15 and "killed by signal TERM" in r.err, "a signal: 128+N, said", r)


@test_alone
def ssh_command_sent_unchanged():
    c = Case()
    # sshd runs the echo key's command= entry, which prints the command string it received.
    r = c.run("ssh", "echo", "--", "sh", "-c", "'x  y; echo \"$HOME\"'")
    check(r.code == 0, "ran", r)
    check(r.out == "sh -c 'x  y; echo \"$HOME\"'", "the words joined with single spaces, "
          "quotes and $ untouched", r)
    r = c.run("ssh", "echo", "--", "echo 'a   b' | tr a c")
    check(r.out == "echo 'a   b' | tr a c", "one word is sent exactly", r)
    # And the remote shell makes of it what ssh(1)'s would.
    r = c.run("ssh", "lab", "--", "echo 'a   b' \"$((6*7))\"")
    check(r.code == 0 and r.out == "a   b 42\n", "the remote shell parsed it", r)


@test_alone
def ssh_unknown_key_refused_off_a_terminal():
    c = Case(known=False)
    r = c.run("ssh", "lab", "--", "touch", c.marker)
    check(r.code == 4, "exit 4: the host could not be authenticated", r)
    check(c.s.fp in r.err and "[127.0.0.1]:%d" % c.s.port in r.err,
          "the SHA-256 fingerprint (as ssh-keygen -l shows it) and the host are named", r)
    check("terminal" in r.err and c.known_hosts in r.err, "says how to accept it", r)
    check(not c.ran() and r.out == "", "the command did not run", r)
    check(c.known() == "", "known_hosts untouched", c.known())


@test_alone
def ssh_unknown_key_accepted_on_a_terminal():
    c = Case(known=False)
    code, out, err = on_pty(c, ["ssh", "lab", "--", "echo", "hello"], "no\n")
    check(code == 4 and out == b"" and c.known() == "", "'no': refused, nothing added",
          (code, out, err))
    code, out, err = on_pty(c, ["ssh", "lab", "--", "echo", "hello"], "yes\n")
    check(b"ED25519 key fingerprint is " + c.s.fp.encode() in err, "the fingerprint shown", err)
    check(code == 0 and out == b"hello\n", "'yes': the command ran", (code, out, err))
    check(c.known() == c.s.host_line + "\n", "known_hosts has the key as OpenSSH writes it",
          c.known())
    r = c.run("ssh", "lab", "--", "echo", "again")
    check(r.code == 0 and r.out == "again\n" and r.err == "", "now known: no question", r)
    # OpenSSH's own client agrees with what was written.
    p = subprocess.run(["ssh", "-p", str(c.s.port), "-i", c.s.client_key, "-o", "BatchMode=yes",
                        "-o", "UserKnownHostsFile=" + c.known_hosts,
                        "-o", "StrictHostKeyChecking=yes", "root@127.0.0.1", "echo", "ok"],
                       capture_output=True, text=True, timeout=20)
    check(p.returncode == 0 and p.stdout == "ok\n", "ssh(1) accepts the entry", p)


@test_alone
def ssh_changed_key_refused_loudly():
    c = Case(known=False)
    other = os.path.join(c.dir, "other")
    keygen(other)
    with open(c.known_hosts, "w") as f:
        f.write("node-x %s\n[127.0.0.1]:%d %s\n" % (pub(other), c.s.port, pub(other)))
    before = c.known()
    r = c.run("ssh", "lab", "--", "touch", c.marker)
    check(r.code == 4, "exit 4", r)
    check("REMOTE HOST IDENTIFICATION HAS CHANGED" in r.err, "loud", r)
    check("%s, line 2" % c.known_hosts in r.err, "names the known_hosts line", r)
    check(c.s.fp in r.err, "the new key's fingerprint", r)
    check(not c.ran() and c.known() == before, "nothing ran, nothing written", r)
    # Never a question, not even on a terminal.
    code, out, err = on_pty(c, ["ssh", "lab", "--", "touch", c.marker])
    check(code == 4 and b"(yes/no" not in err and b"CHANGED" in err and not c.ran(),
          "no prompt on a terminal either", (code, out, err))


@test_alone
def ssh_hashed_known_hosts():
    c = Case()
    subprocess.run(["ssh-keygen", "-H", "-f", c.known_hosts], capture_output=True, check=True)
    check(c.known().startswith("|1|"), "hashed", c.known())
    r = c.run("ssh", "lab", "--", "echo", "ok")
    check(r.code == 0 and r.out == "ok\n", "a hashed [host]:port entry is found", r)


@test_alone
def ssh_auth_refused():
    c0 = Case()
    wrong = os.path.join(c0.dir, "wrong")
    keygen(wrong)
    c = Case(identity=wrong)
    r = c.run("ssh", "lab", "--", "touch", c.marker)
    check(r.code == 4 and "refused the key " + wrong in r.err and "root@127.0.0.1" in r.err,
          "a key the server does not know: exit 4, named", r)
    check(not c.ran(), "nothing ran", r)
    locked = os.path.join(c0.dir, "locked")
    keygen(locked, passphrase="secret words")
    c = Case(identity=locked)
    r = c.run("ssh", "lab", "--", "true")
    check(r.code == 2 and "passphrase" in r.err and "ssh-agent" in r.err,
          "a passphrase-protected key: exit 2, says what to do", r)
    check("secret words" not in r.err, "no passphrase in the message", r)


@test_alone
def ssh_agent_auth():
    c = Case(identity="")
    # identity unset: the agent. Rewrite the lab section without the identity line.
    text = open(c.config).read().replace("identity = \n", "", 1)
    open(c.config, "w").write(text)
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(kv.split("=", 1) for kv in
               (part.split(";")[0] for part in agent.split("\n")) if "=" in kv)
    try:
        r = c.run("ssh", "lab", "--", "true", env={"SSH_AUTH_SOCK": ""})
        check(r.code == 2 and "SSH_AUTH_SOCK" in r.err, "no agent, no identity: exit 2", r)
        subprocess.run(["ssh-add", "-q", c.s.client_key], env=dict(os.environ, **env),
                       check=True, capture_output=True)
        r = c.run("ssh", "lab", "--", "echo", "via-agent", env=env)
        check(r.code == 0 and r.out == "via-agent\n", "the agent's key works", r)
    finally:
        os.kill(int(env["SSH_AGENT_PID"]), signal.SIGTERM)


@test_alone
def ssh_server_down():
    port = services.free_port()  # nothing listens there
    c = Case(port=port)
    r = c.run("ssh", "lab", "--", "true")
    check(r.code == 3, "exit 3", r)
    check("127.0.0.1:%d" % port in r.err and "Connection refused" in r.err,
          "host:port and why", r)
    check(len(r.err.strip().splitlines()) == 1, "one line", r)


@test_alone
def ssh_output_streams():
    c = Case()
    t0 = time.monotonic()
    p = subprocess.Popen([itest.LABDECK, "--config", c.config, "ssh", "lab", "--", "sh", "-c",
                          "'echo first; sleep 3; echo second'"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    first = p.stdout.readline()
    took = time.monotonic() - t0
    check(first == b"first\n" and took < 2.5 and p.poll() is None,
          "the first line arrived before the command ended (%.1f s)" % took, first)
    rest, err = p.communicate(timeout=20)
    check(p.returncode == 0 and rest == b"second\n", "then the rest", (rest, err))
    check(err == b"", "nothing on stderr (no sanitizer report)", err)
    # A long output arrives whole and in order.
    r = c.run("ssh", "lab", "--", "seq", "1", "200000")
    check(r.code == 0 and r.out == "".join("%d\n" % i for i in range(1, 200001)),
          "200000 lines intact", r.out[-100:])


@test_alone
def ssh_hostile_output():
    c = Case()
    cmd = ["ssh", "lab", "--", "printf", "'\\033]0;pwned\\007\\033[31mred\\033[0m \\342\\202\\254\\n'"]
    code, out, err = on_pty(c, cmd, stdout_pty=True)
    check(code == 0, "ran", (code, out, err))
    check(b"\x1b" not in out and b"\x07" not in out, "no escape sequence reached the terminal",
          out)
    check(b"red" in out and "€".encode() in out, "the text is shown, UTF-8 intact", out)
    # Into a pipe the bytes are the command's own, as ssh(1) gives them.
    r = c.run(*cmd)
    check(r.code == 0 and "\x1b[31mred" in r.out, "raw into a pipe", r)


@test_alone
def ssh_hosts_and_quick_commands():
    c = Case(extra="command.hello = echo hello from $(hostname)\ncommand.fail = exit 7\n")
    r = c.run("ssh", "nosuch", "--", "true")
    check(r.code == 2 and "nosuch" in r.err and "lab, echo" in r.err,
          "an unknown host: exit 2 listing the configured ones", r)
    r = c.run("ssh", "lab")
    check(r.code == 0 and ":hello" in r.out and "echo hello from $(hostname)" in r.out
          and ":fail" in r.out, "the quick commands listed", r)
    r = c.run("ssh", "lab", "--json")
    check(r.code == 0 and r.json() == {"host": "lab", "commands": [
        {"name": "hello", "command": "echo hello from $(hostname)"},
        {"name": "fail", "command": "exit 7"}]}, "and as JSON", r)
    r = c.run("ssh", "lab", ":hello")
    check(r.code == 0 and r.out.startswith("hello from "), "one runs by :NAME", r)
    r = c.run("ssh", "lab", ":fail")
    check(r.code == 7, "its exit status", r)
    r = c.run("ssh", "lab", ":nope")
    check(r.code == 2 and ":hello" in r.err, "an unknown quick command: exit 2, listed", r)
    r = c.run("ssh", "lab", "echo", "x")
    check(r.code == 2 and "'--'" in r.err, "a command needs '--' before it", r)


@test_alone
def ssh_readonly_refuses():
    c = Case()
    r = c.run("--readonly", "ssh", "lab", "--", "touch", c.marker)
    check(r.code == 2 and "read-only" in r.err and not c.ran(), "refused, nothing ran", r)
    r = c.run("ssh", "lab", "--readonly")
    check(r.code == 0, "listing is fine read-only", r)


@test_alone
def ssh_ctrl_c():
    c = Case()
    p = subprocess.Popen([itest.LABDECK, "--config", c.config, "ssh", "lab", "--", "sh", "-c",
                          "'echo started; sleep 30'"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    check(p.stdout.readline() == b"started\n", "running", None)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    check(p.returncode == 130 and time.monotonic() - t0 < 3, "exit 130 at once", (out, err))
    check(b"may go on running" in err, "says the remote command may go on", err)
    check(b"Sanitizer" not in err, "sanitizer report", err)
