# Terminal injection, proven on the console (issue 7 item 4); read into run.py's namespace.
#
# labdeck runs on a raw Python pty (not tmux: tmux would interpret the sequences, and we want the
# bytes labdeck writes) against labsim --hostile, whose every text field carries escape payloads
# (tests/labsim/lab.py HOSTILE_PAYLOADS), the model answering with them too (labsim:hostile). A
# script of keys visits every view; every byte is recorded, and none of the payloads' control
# sequences may be among them. Synchronisation: Ctrl-L (a full repaint, so every row is written
# whole) is sent until the awaited words appear in the bytes written since, polled every 50 ms.

INJ_FORBIDDEN_CP = set(range(0x80, 0xA0)) | set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {
    0x200E, 0x200F, 0x061C, 0x2028, 0x2029}
# A payload's control prefix right before its marker, or one of the sequences no screen of labdeck
# needs (OSC, DCS, APC, PM, the device status report); ncurses with TERM=xterm-256color sends none
# of them (checked: a run without payloads passes the same check).
INJ_RAW = (b"\x1b]", b"\x1bP", b"\x1b_", b"\x1b^", b"\x1b[6n", b"\x1b[31mPWN", b"\rPWN", b"UFdO\x07",
           b"\x9b6n", b"\x9d0;")
INJ_CSI = re.compile(rb"\x1b\[[0-9;?>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78DEHMc]")


def inj_problems(data):
    out = []
    for p in INJ_RAW:
        i = data.find(p)
        if i >= 0:
            out.append("%r reached the terminal: %r" % (p, data[max(0, i - 30):i + 40]))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        out.append("invalid UTF-8 (a raw C1 byte?) at %d: %r" % (e.start, data[max(0, e.start - 30):e.end + 30]))
        text = data.decode("utf-8", "replace")
    bad = sorted({"U+%04X" % ord(c) for c in text if ord(c) in INJ_FORBIDDEN_CP})
    if bad:
        out.append("forbidden code points on the terminal: %s" % ", ".join(bad))
    return out


class PtyDeck:
    """labdeck on a raw pty (its controlling terminal), every byte it writes kept in self.out."""

    def __init__(self, lb, w=120, h=40):
        import fcntl
        import struct
        import termios
        self.dir = tempfile.mkdtemp(prefix="labdeck-inject-")
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.dir, "TERM": "xterm-256color",
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "XDG_STATE_HOME": os.path.join(self.dir, "state")}
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            opts = os.environ.get(var, "")
            env[var] = (opts + ":" if opts else "") + "log_path=" + os.path.join(self.dir, "sanitizer")
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                os.close(master)
                os.chdir(self.dir)
                os.execve(LABDECK, [LABDECK, "--config", lb.config], env)
            finally:
                os._exit(127)
        os.close(slave)
        self.pid, self.master, self.out, self.status = pid, master, b"", None

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while True:
            r, _, _ = select.select([self.master], [], [], max(0.0, end - time.monotonic()))
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return False
                self.out += data
            if time.monotonic() >= end:
                return True

    def keys(self, data):
        os.write(self.master, data if isinstance(data, bytes) else data.encode())

    def wait(self, what, *words, timeout=15.0, repaint=True):
        """Sends Ctrl-L until every word is in what labdeck wrote since (escape sequences taken out);
        returns the text of that repaint. Without repaint (a prompt, which any key answers), just
        polls what was written since the call."""
        deadline = time.monotonic() + timeout
        mark = len(self.out)
        while True:
            if repaint:
                mark = len(self.out)
                self.keys(b"\x0c")
            t_next = time.monotonic() + 1.0
            while time.monotonic() < t_next:
                if not self.pump(0.05):
                    raise Fail("labdeck exited while waiting for %s" % what)
                text = INJ_CSI.sub(b"", self.out[mark:]).decode("utf-8", "replace")
                if all(w in text for w in words):
                    return text
            if time.monotonic() > deadline:
                raise Fail("timed out waiting for %s (%s); last repaint: %r" % (what, words, text[-600:]))

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.master)
        report = ""
        for f in sorted(os.listdir(self.dir)):
            if f.startswith("sanitizer"):
                with open(os.path.join(self.dir, f), errors="replace") as fh:
                    report += fh.read()[:3000]
        shutil.rmtree(self.dir, ignore_errors=True)
        return report


@test
def injection_check_is_not_blind():
    """The byte check catches each payload as labsim sends it, and passes curses' own output."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("labsim_lab", os.path.join(HERE, "..", "labsim", "lab.py"))
    lm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lm)
    for p in lm.HOSTILE_PAYLOADS:
        check(inj_problems(("x" + p).encode()), "payload %r not caught" % p)
    check(inj_problems(lm.HOSTILE_RAW.encode("utf-8", "surrogateescape")), "raw C1 bytes not caught")
    check(not inj_problems("\x1b[?1049h\x1b[1;1H\x1b[38;5;2m✓ 백업\x1b(B\x1b[m\r\n".encode()), "curses' own refused")


@test
def injection_every_view_on_a_raw_pty():
    lb = lab("--hostile", "--argocd-polls", "1")
    d = PtyDeck(lb)
    views = {}  # view -> the bytes written while it was shown
    try:
        def visit(name, key, *words, marker=True, repaint=True):
            start = len(d.out)
            if key:
                d.keys(key)
            text = d.wait(name, *words, repaint=repaint)
            views[name] = d.out[start:]
            if marker:
                check("PWN" in text, "%s: the hostile fields are not shown at all: %r" % (name, text[-400:]))

        visit("the dashboard (1)", None, "pve-a", "k8s-node-a", marker=False)
        visit("guests (2)", "2", "[2 guests]", "ollama-cache", "PWNt0")
        visit("pods (3)", "3", "[3 pods]", "gateway-", "Pending", marker=False)
        visit("the Pending pod's details", "GG\r", "Unschedulable", "PWN")
        d.keys("\x1b")
        visit("the CrashLoopBackOff pod's details", "/backend\rg", "[3 pods]", "CrashLoopBackOff", marker=False)
        visit("the CrashLoopBackOff pod's details", "\r", "Back-off", marker=False)
        d.keys("\x1b\x1b")
        visit("the hostile gateway pod's log", "/gateway\rgl", "PWNraw", "PWNt0")
        d.keys("\x1b\x1b\x1b")
        visit("chat (4)", "4", "[4 chat]", marker=False)
        visit("a chat answer", "what is hostile here labsim:hostile\r", "after the payloads", "PWNc1")
        d.keys("\x1b")
        visit("sessions (S)", "S", "hostile", marker=False)
        d.keys("\x1b")
        visit("deploy (5)", "5", "[5 deploy]", "evil-app", "PWN")
        visit("jobs (6)", "6", "[6 jobs]", "evil_dag", "PWNt0")
        visit("hosts (7)", "7", "[7 hosts]", marker=False)
        visit("topology (8)", "8", "[8 topology]", "PWNt0")
        visit("help (?)", "?", "quit", marker=False)
        d.keys("\x1b")
        # A guest action: the confirmation names the guest, the task fails with a hostile status.
        lb._admin("POST", "/proxmox/tasks", {"fail": {"exitstatus": "boom \x1b]0;PWNtask\x07 \u009b6n",
                                                      "log": ["\x1bP$qPWNdcs\x1b\\"]}})
        visit("guests again", "2g", "[2 guests]", "ollama-cache")
        visit("the start confirmation", "jjjjjU", "y confirms", "PWNt0", repaint=False)
        d.keys("y")
        visit("the action log (A) with the failed start", "A", "boom", "PWNtask")
        d.keys("\x1b")
        d.keys("q")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            d.pump(0.05)
            p, st = os.waitpid(d.pid, os.WNOHANG)
            if p:
                d.status = st
                break
        d.pump(0.1)
    finally:
        report = d.close()
        lb._admin("POST", "/proxmox/tasks", {})
    check(not report, "sanitizer report:\n" + report[:2000])
    probs = inj_problems(d.out)
    if probs:
        where = [n for n, b in views.items() if inj_problems(b)]
        raise Fail("%s (in: %s)" % ("; ".join(probs), ", ".join(where) or "?"))
    check(len(d.out) > 20000, "suspiciously little output: %d bytes" % len(d.out))
    check(d.status is not None and os.WIFEXITED(d.status) and os.WEXITSTATUS(d.status) == 0,
          "q did not end labdeck with status 0 (%r)" % d.status)
