"""A real terminal for labdeck's console: tmux on a private server, driven by keys, read back as
text (capture-pane -p) or as cells with colours and attributes (capture-pane -e).

Everything waits on predicates polled every 50 ms with a timeout, never on a fixed sleep.
Python 3 standard library only.
"""
import itertools
import os
import re
import shlex
import subprocess
import time
import unicodedata

POLL = 0.05
_counter = itertools.count()


class Fail(Exception):
    """A test's assertion failed; the message is the one line printed after FAIL."""


def check(cond, what):
    if not cond:
        raise Fail(what)


# --- display width ----------------------------------------------------------------------------

def char_width(ch):
    """Terminal columns of one character: east-asian wide/fullwidth are 2, combining marks 0."""
    if unicodedata.combining(ch) or ch in "\u200b\u200c\u200d":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def width(s):
    return sum(char_width(c) for c in s)


def column_of(line, sub, start=0):
    """Display column where `sub` starts in `line` (first occurrence at or after character index
    `start`), or -1."""
    i = line.find(sub, start)
    return -1 if i < 0 else width(line[:i])


# --- capture-pane -e parsing ------------------------------------------------------------------

class Attr:
    """The rendition of one cell as tmux reports it."""
    __slots__ = ("fg", "bg", "bold", "dim", "italic", "underline", "blink", "reverse")

    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None  # None: default; int 0-255; "#rrggbb"
        self.bg = None
        self.bold = self.dim = self.italic = self.underline = self.blink = self.reverse = False

    def copy(self):
        a = Attr()
        for k in Attr.__slots__:
            setattr(a, k, getattr(self, k))
        return a

    def key(self):
        return tuple(getattr(self, k) for k in Attr.__slots__)

    def __eq__(self, other):
        return isinstance(other, Attr) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __repr__(self):
        on = [k for k in ("bold", "dim", "italic", "underline", "blink", "reverse") if getattr(self, k)]
        return "Attr(fg=%r, bg=%r%s)" % (self.fg, self.bg, ", " + ",".join(on) if on else "")


_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
_OTHER_ESC = re.compile(r"\x1b(\[[0-9;:?]*[A-Za-z]|\][^\x07\x1b]*(\x07|\x1b\\)|.)")


def _apply_sgr(attr, params, codes):
    """Applies one SGR parameter string to attr; appends the colour codes seen to `codes`."""
    ps = [p for p in params.replace(":", ";").split(";")] if params else ["0"]
    i = 0
    while i < len(ps):
        p = int(ps[i]) if ps[i].isdigit() else 0
        if p == 0:
            attr.reset()
        elif p == 1:
            attr.bold = True
        elif p == 2:
            attr.dim = True
        elif p == 3:
            attr.italic = True
        elif p == 4:
            attr.underline = True
        elif p == 5:
            attr.blink = True
        elif p == 7:
            attr.reverse = True
        elif p == 22:
            attr.bold = attr.dim = False
        elif p == 23:
            attr.italic = False
        elif p == 24:
            attr.underline = False
        elif p == 25:
            attr.blink = False
        elif p == 27:
            attr.reverse = False
        elif 30 <= p <= 37 or 90 <= p <= 97:
            attr.fg = p - 30 if p < 90 else p - 90 + 8
            codes.append(str(p))
        elif 40 <= p <= 47 or 100 <= p <= 107:
            attr.bg = p - 40 if p < 100 else p - 100 + 8
            codes.append(str(p))
        elif p == 39:
            attr.fg = None
        elif p == 49:
            attr.bg = None
        elif p in (38, 48) and i + 1 < len(ps):
            kind = ps[i + 1]
            if kind == "5" and i + 2 < len(ps):
                val = int(ps[i + 2] or 0)
                codes.append("%d;5;%d" % (p, val))
                i += 2
            elif kind == "2" and i + 4 < len(ps):
                val = "#%02x%02x%02x" % tuple(int(x or 0) for x in ps[i + 2:i + 5])
                codes.append("%d;2;%s" % (p, val))
                i += 4
            else:
                val = None
                i += 1
            if p == 38:
                attr.fg = val
            else:
                attr.bg = val
        i += 1


class Screen:
    """One capture: `lines` is the plain text of each row; with escapes, `cells[y]` is a list of
    (character, Attr) and `codes` every colour code (e.g. "38;5;110", "31") that occurred."""

    def __init__(self, text, escaped=None):
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.escaped = escaped
        self.cells = None
        self.codes = []
        if escaped is not None:
            self._parse(escaped)

    def _parse(self, raw):
        attr = Attr()
        self.cells = []
        for line in raw.split("\n"):
            row = []
            pos = 0
            while pos < len(line):
                ch = line[pos]
                if ch == "\x1b":
                    m = _SGR.match(line, pos)
                    if m:
                        _apply_sgr(attr, m.group(1), self.codes)
                        pos = m.end()
                        continue
                    m = _OTHER_ESC.match(line, pos)
                    pos = m.end() if m else pos + 1
                    continue
                row.append((ch, attr.copy()))
                pos += 1
            self.cells.append(row)
        if self.cells and not self.cells[-1]:
            self.cells.pop()

    @property
    def text(self):
        return "\n".join(self.lines)

    def line(self, y):
        """Row y (negative counts from the bottom); "" past the end (tmux trims empty rows)."""
        try:
            return self.lines[y]
        except IndexError:
            return ""

    def find(self, sub):
        """Index of the first row containing sub, or -1."""
        for i, l in enumerate(self.lines):
            if sub in l:
                return i
        return -1

    def has(self, *subs):
        return all(s in self.text for s in subs)

    def row_attrs(self, y):
        """The set of Attr used by the characters of row y (needs escapes)."""
        if self.cells is None or y >= len(self.cells):
            return set()
        return {a for _, a in self.cells[y]}

    def attr_at(self, y, col):
        """Attr of the cell at display column col of row y, or None."""
        if self.cells is None or y >= len(self.cells):
            return None
        x = 0
        for ch, a in self.cells[y]:
            if x <= col < x + max(1, char_width(ch)):
                return a
            x += char_width(ch)
        return None

    def colour_codes(self):
        """Colour codes (SGR 3x/4x/9x/10x, 38/48;5;N, 38/48;2;...) anywhere in the capture."""
        return list(self.codes)

    def __str__(self):
        return self.text


# --- tmux -------------------------------------------------------------------------------------

class Term:
    """One private tmux server with one session running a shell script."""

    def __init__(self, script, width=80, height=24, env=None, cwd=None):
        self.sock = "labdeck-tui-%d-%d" % (os.getpid(), next(_counter))
        self.last = None
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TERM": "tmux-256color",
        }
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                base[k] = os.environ[k]
        if env:
            for k, v in env.items():
                if v is None:
                    base.pop(k, None)
                else:
                    base[k] = v
        cmd = ["env", "-i"] + ["%s=%s" % kv for kv in sorted(base.items())] + ["sh", "-c", script]
        self._run("set", "-g", "status", "off", ";",
                  "set", "-g", "default-terminal", "tmux-256color", ";",
                  "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                  *(["-c", cwd] if cwd else []), "--", *cmd)

    def _run(self, *args, check_rc=True):
        p = subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", *args],
                           capture_output=True, text=True, timeout=20)
        if check_rc and p.returncode != 0:
            raise Fail("tmux %s: %s" % (" ".join(args[:3]), p.stderr.strip()))
        return p.stdout

    # keys
    def keys(self, *keys):
        """send-keys with tmux key names: "j", "Enter", "Escape", "C-l", "Tab"..."""
        self._run("send-keys", "-t", "t", *keys)

    def type(self, text):
        """Literal text (send-keys -l)."""
        self._run("send-keys", "-t", "t", "-l", text)

    # reading
    def display(self, fmt):
        return self._run("display", "-p", "-t", "t", fmt).rstrip("\n")

    def capture(self, escapes=False):
        text = self._run("capture-pane", "-p", "-t", "t")
        esc = self._run("capture-pane", "-p", "-e", "-N", "-t", "t") if escapes else None
        self.last = Screen(text, esc)
        return self.last

    def wait_for(self, pred, what, timeout=10.0, escapes=False):
        """Polls the pane every 50 ms until pred(screen) is true; returns that screen. On timeout
        fails with `what` and the last screen."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.capture(escapes)
            try:
                if pred(s):
                    return s
            except (IndexError, ValueError, AttributeError):
                pass
            if time.monotonic() > deadline:
                raise Fail("timed out after %.0f s waiting for %s; screen:\n%s" % (timeout, what, s.text))
            time.sleep(POLL)

    def wait_text(self, *subs, timeout=10.0):
        return self.wait_for(lambda s: s.has(*subs), " and ".join(repr(x) for x in subs), timeout)

    def wait_value(self, fn, what, timeout=10.0):
        """Polls fn() every 50 ms until it returns a true value, which it returns."""
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.monotonic() > deadline:
                raise Fail("timed out after %.0f s waiting for %s" % (timeout, what))
            time.sleep(POLL)

    def resize(self, w, h):
        self._run("resize-window", "-t", "t", "-x", str(w), "-y", str(h))

    def pane_pid(self):
        return int(self.display("#{pane_pid}"))

    def child_pid(self, comm="labdeck"):
        """Pid of the pane shell's child named comm, or None."""
        parent = self.pane_pid()
        return find_child(parent, comm)

    def close(self):
        self._run("kill-server", check_rc=False)


def find_child(parent, comm):
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if ppid == parent and name == comm:
            return int(d)
    return None


def labdeck_script(labdeck, config, workdir, extra_args=()):
    """The pane's shell script: records stty before and after, runs labdeck, prints its exit
    status (EXIT=N) and whether the terminal modes came back (STTY=same|differs), then stays
    up so both can be read."""
    q = shlex.quote
    before, after = os.path.join(workdir, "stty.before"), os.path.join(workdir, "stty.after")
    args = " ".join(q(a) for a in extra_args)
    return ("stty -g > {b}; {ld} --config {cfg} {args}; st=$?; stty -g > {a}; "
            "if cmp -s {b} {a}; then s=same; else s=differs; fi; "
            "echo \"EXIT=$st\"; echo \"STTY=$s\"; sleep 30").format(
        b=q(before), a=q(after), ld=q(labdeck), cfg=q(config), args=args)
