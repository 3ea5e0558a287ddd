# Crashes give the terminal back (issue 7, item 6). Read into run.py's namespace (Console, lab(),
# @test, check, select_guest, open_chat, ask... come from there).
#
# Every way the console can end — q, Ctrl-C, SIGTERM, SIGHUP, SIGSEGV, SIGABRT, a memory error
# caught by the allocator (a sanitizer report on the ASan build, glibc's abort on a plain one)
# and a closed pty — must leave the terminal as it was: `stty -g` unchanged, the alternate screen
# left (#{alternate_on} 0) and the cursor visible (#{cursor_flag} 1). Not only on the dashboard:
# while the chat view streams, with a confirmation prompt, the command line or the log follower
# open, where the console is in a different state when the end comes.
#
# The memory error needs no hook in labdeck: a small library preloaded into the test's labdeck
# (compiled here, from MEMORY_ERROR_SHIM) wraps ncurses' wget_wch and frees a block twice when
# the key Ctrl-] arrives, or (on the sanitizer build) overflows a signed int under UBSan on
# Ctrl-^. The binary a user runs has no such key.
import shlex

MEMORY_ERROR_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

/* wget_wch(WINDOW *, wint_t *) from ncursesw, with the types it has on Linux. */
int wget_wch(void *win, unsigned int *ch);

int wget_wch(void *win, unsigned int *ch)
{
	static int (*real)(void *, unsigned int *);
	if (!real) {
		real = (int (*)(void *, unsigned int *))dlsym(RTLD_NEXT, "wget_wch");
	}
	int rc = real(win, ch);
	if (rc == 0 && *ch == 0x1d) { /* Ctrl-] : a double free, in the console's main loop */
		char *volatile p = malloc(24);
		free(p);
		free(p);
	}
	if (rc == 0 && *ch == 0x1e) { /* Ctrl-^ : signed overflow, for UBSan (built with it) */
		volatile int x = 2147483647;
		volatile int y = x + 1;
		(void)y;
	}
	return rc;
}
"""
_SHIM = {}


def memory_error_labdeck():
    """A wrapper that runs LABDECK with the shim preloaded (built once per run); its path."""
    if "wrapper" not in _SHIM:
        d = tempfile.mkdtemp(prefix="labdeck-tui-shim-")
        src, so = os.path.join(d, "shim.c"), os.path.join(d, "shim.so")
        with open(src, "w") as f:
            f.write(MEMORY_ERROR_SHIM)
        # On the sanitizer build the shim is built with UBSan too, so that Ctrl-^ is a genuine
        # UBSan report from the runtime labdeck loaded.
        ub = ["-fsanitize=undefined"] if sanitizer_build() else []
        p = subprocess.run(["cc", "-shared", "-fPIC", "-O0", *ub, "-o", so, src, "-ldl"],
                           capture_output=True, text=True)
        check(p.returncode == 0, "building the test's memory-error shim: %s" % p.stderr)
        wrapper = os.path.join(d, "labdeck")
        with open(wrapper, "w") as f:
            # ASan wants its runtime first in the library list; the shim comes first here.
            # stderr to a file in the console's directory (its cwd): gcc's libubsan ignores
            # log_path, and what it writes on the alternate screen is gone after the restore.
            f.write('#!/bin/sh\nASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}'
                    'verify_asan_link_order=0" LD_PRELOAD=%s exec %s "$@" 2>>labdeck.stderr\n'
                    % (shlex.quote(so), shlex.quote(LABDECK)))
        os.chmod(wrapper, 0o755)
        _SHIM["wrapper"], _SHIM["dir"] = wrapper, d
        import atexit
        atexit.register(shutil.rmtree, d, True)
    return _SHIM["wrapper"]


def console_running(labdeck, *a, **kw):
    """A Console whose pane runs `labdeck` instead of LABDECK."""
    global LABDECK
    saved = LABDECK
    LABDECK = labdeck
    try:
        return Console(*a, **kw)
    finally:
        LABDECK = saved


class ShellConsole(Console):
    """labdeck started from an interactive bash in the pane, as a user starts it: Ctrl-C goes to
    labdeck's process group only (in Console's `sh -c` pane it would end the pane's shell too).
    The command line records stty and prints EXIT= and STTY= as Console's script does."""

    def __init__(self, lab_, labdeck, w=W, h=H):
        self.dir = tempfile.mkdtemp(prefix="labdeck-tui-")
        self.h = h
        home = os.path.join(self.dir, "home")
        os.mkdir(home)
        e = {"HOME": home, "NO_COLOR": None, "KUBECONFIG": None, "LABDECK_CONFIG": None,
             "PS1": "SHELL> "}
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            opts = os.environ.get(var, "")
            e[var] = (opts + ":" if opts else "") + "log_path=" + os.path.join(self.dir, "sanitizer")
        self.term = Term("exec bash --norc --noprofile -i", w, h, env=e, cwd=self.dir)
        self.term.wait_text("SHELL>")
        self.term.type("stty -g >before; %s --config %s; st=$?; stty -g >after; cmp -s before after"
                       " && s=same || s=differs; echo EXIT=$st; echo STTY=$s"
                       % (shlex.quote(labdeck), shlex.quote(lab_.config)))
        self.term.keys("Enter")


def sanitizer_build():
    """True when LABDECK was built with ASan/UBSan (their runtime is linked in)."""
    try:
        with open(LABDECK, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# --- the states the end comes in -------------------------------------------------------------

def in_dashboard(c):
    c.first_frame()
    check(c.term.display("#{alternate_on}") == "1", "the console is not on the alternate screen")


def in_chat_streaming(c):
    open_chat(c)
    ask(c, "tell me about backups labsim:tokens=600 labsim:chunk_ms=150")
    c.wait_for(lambda s: "labsim-qwen2.5:14b answers" in s.text and "generating" in s.text,
               "the answer streaming", 20)


def in_confirm_prompt(c):
    c.first_frame()
    select_guest(c, 103)
    c.keys("U")
    c.wait_for(lambda s: "start VM 103 (win11) on pve-a? y confirms" in s.line(c.h - 1),
               "U asking before starting 103")


def in_command_line(c):
    c.first_frame()
    c.keys(":")
    c.type("them")
    c.wait_for(lambda s: ":them" in s.line(c.h - 1), "the command line with ':them' typed")


def in_pod_logs(c):
    c.first_frame()
    open_pods(c)
    select_where(c, lambda r: "gateway-" in r, "for a gateway pod")
    c.keys("l")
    c.wait_for(lambda s: re.search(r"[1-9]\d* lines", s.text) and "following" in s.text,
               "the log follower with lines arriving", 15)


STATES = {"dashboard": in_dashboard, "chat_streaming": in_chat_streaming,
          "confirm_prompt": in_confirm_prompt, "command_line": in_command_line,
          "pod_logs": in_pod_logs}


# --- the ends --------------------------------------------------------------------------------

def end_console(c, ending):
    """Ends the console the given way and checks the terminal is given back and the exit status.
    On the sanitizer build a memory error or SIGSEGV is the sanitizer's: its report is expected
    (and checked), its exit status is 1, or 134 with abort_on_error=1."""
    asan = sanitizer_build()
    sigs = {"sigterm": signal.SIGTERM, "sighup": signal.SIGHUP, "sigsegv": signal.SIGSEGV,
            "sigabrt": signal.SIGABRT}
    expect = {"sigterm": 0, "sighup": 0, "sigsegv": 128 + signal.SIGSEGV,
              "sigabrt": 128 + signal.SIGABRT, "memory_error": 128 + signal.SIGABRT,
              "ctrl_c": 130, "quit": 0, "ub_report": 1}[ending]
    if ending == "ub_report" and not asan:
        # No UBSan in a plain build: the key does nothing, the console goes on and quits.
        c.term._run("send-keys", "-t", "t", "-H", "1e")
        c.wait_for(lambda s: "labdeck" in s.line(0), "the console still there")
        os.kill(c.pid(), signal.SIGTERM)
        c.terminal_restored(expect_exit=0)
        return
    report_word = None
    if ending == "ub_report":
        report_word = "signed integer overflow"
    elif asan and ending == "sigsegv":
        report_word = "SEGV"
    elif asan and ending == "memory_error":
        report_word = "double-free"
    if ending in sigs:
        os.kill(c.pid(), sigs[ending])
    elif ending == "memory_error":
        c.pid()  # running
        c.keys("C-]")
    elif ending == "ub_report":
        c.pid()
        c.term._run("send-keys", "-t", "t", "-H", "1e")
    elif ending == "ctrl_c":
        c.keys("C-c")
    elif ending == "quit":
        if c.capture().line(c.h - 1).startswith(":"):
            c.keys("C-u")  # the command line: clear what is typed, then :q
            c.type("q")
            c.keys("Enter")
        else:
            c.keys("q")
    code = c.terminal_restored(timeout=15)
    if report_word == "signed integer overflow":
        check(code in (1, 128 + signal.SIGABRT), "UBSan's exit status, got %d" % code)
        try:
            with open(os.path.join(c.dir, "labdeck.stderr"), errors="replace") as f:
                err = f.read()
        except OSError:
            err = ""
        check("runtime error: signed integer overflow" in err,
              "UBSan's report on labdeck's stderr: %r" % err[:400])
        return
    if report_word:
        check(code in (1, 128 + signal.SIGABRT), "the sanitizer's exit status, got %d" % code)
        report = c.close()
        check(report_word in report, "the sanitizer reported the %s: %r" % (report_word,
                                                                           report[:400]))
    else:
        check(code == expect, "exit status %d, expected %d" % (code, expect))


def crash_test(state, ending):
    def fn():
        labdeck = (memory_error_labdeck() if ending in ("memory_error", "ub_report")
                   else LABDECK)
        w, h = (120, 40) if state == "pod_logs" else (W, H)
        if ending == "ctrl_c":
            c = ShellConsole(lab(), labdeck, w=w, h=h)
        else:
            c = console_running(labdeck, lab(), w=w, h=h)
        with c:
            STATES[state](c)
            end_console(c, ending)
    fn.__name__ = "%s_in_%s_restores_terminal" % (ending, state)
    return test(fn)


# Every end on the dashboard; in the other states, each end at least once (the whole square
# would be 40 consoles: these 22 give every state two to five ends and every end two states).
for _state, _endings in (
        ("dashboard", ("quit", "sigterm", "sighup", "sigsegv", "sigabrt", "memory_error",
                       "ub_report", "ctrl_c")),
        ("chat_streaming", ("ctrl_c", "sigterm", "sigsegv", "memory_error", "ub_report")),
        ("confirm_prompt", ("ctrl_c", "sighup", "sigabrt", "memory_error")),
        ("command_line", ("quit", "sigterm", "sigsegv")),
        ("pod_logs", ("sighup", "sigabrt"))):
    for _ending in _endings:
        crash_test(_state, _ending)


# --- a closed pty -----------------------------------------------------------------------------

def spawn_on_pty(lb, controlling):
    """labdeck on a fresh pty (80x24); returns (pid, master fd, its temp dir). Sanitizer reports
    go to files in the temp dir (the pty is gone when they would be written)."""
    import fcntl
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    home = tempfile.mkdtemp(prefix="labdeck-tui-home-")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "TERM": "tmux-256color",
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        opts = os.environ.get(var, "")
        env[var] = (opts + ":" if opts else "") + "log_path=" + os.path.join(home, "sanitizer")
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if controlling:
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.close(master)
            os.execve(LABDECK, [LABDECK, "--config", lb.config], env)
        finally:
            os._exit(127)
    os.close(slave)
    return pid, master, home


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        fields = st[st.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError):
        return None


def read_until(master, out, pred, what, timeout=15):
    deadline = time.monotonic() + timeout
    while not pred(out):
        r, _, _ = select.select([master], [], [], 0.05)
        if r:
            try:
                out += os.read(master, 65536)
            except OSError:
                break
        if time.monotonic() > deadline:
            raise Fail("timed out waiting for %s on the pty; last output %r" % (what, out[-300:]))
    return out


def closed_pty_test(chat):
    """The master side closed (the terminal window or the ssh connection gone) after the first
    frame, or while the chat view streams: labdeck must end within 3 s, by itself (exit 0, not
    a crash), without spinning, and with no sanitizer report (leaks included)."""
    lb = lab()
    for controlling in (True, False):
        pid, master, home = spawn_on_pty(lb, controlling)
        what = "%s pty%s" % ("controlling" if controlling else "non-controlling",
                             " while the chat streams" if chat else "")
        try:
            out = read_until(master, b"", lambda o: b"labdeck" in o and b"pve-a" in o,
                             "the first frame")
            if chat:
                os.write(master, b"4")
                out = read_until(master, out, lambda o: b"qwen2.5:14b" in o, "the chat view")
                os.write(master, b"tell me about backups labsim:tokens=600 "
                                 b"labsim:chunk_ms=150\r")
                out = read_until(master, out, lambda o: b"answers" in o,
                                 "the answer streaming", 20)
            os.close(master)
            master = None
            t0 = time.monotonic()
            status = None
            while time.monotonic() - t0 < 3.0:
                p, st = os.waitpid(pid, os.WNOHANG)
                if p:
                    status = st
                    break
                time.sleep(0.05)
            if status is None:
                c0 = cpu_ticks(pid)
                t1 = time.monotonic()
                time.sleep(1.0)  # measuring: how busy is the hung process (not synchronisation)
                c1 = cpu_ticks(pid)
                busy = ((c1 - c0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t1)
                        if c0 is not None and c1 is not None else -1)
                raise Fail("labdeck still running 3 s after the %s was closed (%.0f%% CPU)"
                           % (what, busy * 100))
            check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
                  "after the %s was closed labdeck ended with %s, expected exit 0"
                  % (what, ("exit %d" % os.WEXITSTATUS(status)) if os.WIFEXITED(status)
                     else "signal %d" % os.WTERMSIG(status)))
            pid = None
            reports = [f for f in os.listdir(home) if f.startswith("sanitizer")]
            if reports:
                with open(os.path.join(home, reports[0]), errors="replace") as fh:
                    raise Fail("sanitizer report after the %s was closed:\n%s"
                               % (what, "\n".join(fh.read().splitlines()[:30])))
        finally:
            if master is not None:
                os.close(master)
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
            shutil.rmtree(home, ignore_errors=True)


@test
def closed_pty():
    closed_pty_test(chat=False)


@test
def closed_pty_while_chat_streams():
    closed_pty_test(chat=True)
