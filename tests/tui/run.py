#!/usr/bin/env python3
"""The console in a real terminal: labdeck inside tmux against labsim.

    tests/tui/run.py --labdeck build/labdeck [-k NAME]...

Each test starts its own private tmux server (tmux -L NAME -f /dev/null), sends keys, reads the
pane back as text (capture-pane -p) or with colours (-e), and asserts what a user would see.
Synchronisation is always a predicate polled every 50 ms with a timeout, never a fixed sleep.
Prints "ok NAME" or "FAIL NAME: detail" per test, then "N passed, N failed"; exits 1 on a failure.
"""
import argparse
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # nothing written into the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Fail, Term, check, column_of, labdeck_script, width  # noqa: E402
from lab import Lab  # noqa: E402
import services  # noqa: E402

LABDECK = None
TESTS = []
LABS = {}  # shared labsim instances by their arguments
W, H = 80, 24
STATUS_ROW, BOTTOM_ROW = -2, -1  # the status line is the last-but-one row, messages the last


def test(fn):
    TESTS.append(fn)
    return fn


def lab(*args):
    """A labsim shared by the tests that ask for the same arguments (they must leave it as they
    found it: faults cleared). Churn is off (screens are compared); tests make changes with the
    admin API."""
    args = ("--churn", "0") + args
    if args not in LABS:
        LABS[args] = Lab(*args)
    return LABS[args]


class Console:
    """labdeck running in a tmux pane, with the pane's own temp dir for stty records."""

    def __init__(self, lab_, w=W, h=H, env=None, config=None, args=()):
        self.dir = tempfile.mkdtemp(prefix="labdeck-tui-")
        self.h = h
        home = os.path.join(self.dir, "home")
        os.mkdir(home)
        e = {"HOME": home, "NO_COLOR": None, "KUBECONFIG": None, "LABDECK_CONFIG": None}
        # With a sanitizer build, reports go to files that close() checks.
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            opts = os.environ.get(var, "")
            e[var] = (opts + ":" if opts else "") + "log_path=" + os.path.join(self.dir, "sanitizer")
        if env:
            e.update(env)
        self.config = config or lab_.config
        self.term = Term(labdeck_script(LABDECK, self.config, self.dir, args), w, h, env=e,
                         cwd=self.dir)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        report = self.close()
        if report and exc_type is None:
            raise Fail("sanitizer report:\n" + report)
        if report:
            print("# sanitizer report:\n" + report)

    def close(self):
        """Stops tmux; returns the start of any sanitizer report labdeck wrote, or "".
        A second call returns "" (the report was handed out by the first)."""
        if getattr(self, "closed", False):
            return ""
        self.closed = True
        self.term.close()
        report = ""
        for f in sorted(os.listdir(self.dir)):
            if f.startswith("sanitizer"):
                with open(os.path.join(self.dir, f), errors="replace") as fh:
                    report += "\n".join(fh.read().splitlines()[:30]) + "\n"
        shutil.rmtree(self.dir, ignore_errors=True)
        return report

    # shortcuts
    def keys(self, *k):
        self.term.keys(*k)

    def type(self, text):
        self.term.type(text)

    def wait_for(self, pred, what, timeout=10.0, escapes=False):
        return self.term.wait_for(pred, what, timeout, escapes)

    def wait_text(self, *subs, timeout=10.0):
        return self.term.wait_text(*subs, timeout=timeout)

    def capture(self, escapes=False):
        return self.term.capture(escapes)

    def first_frame(self, timeout=15.0):
        """Waits for the dashboard with data from both backends."""
        return self.wait_for(lambda s: "labdeck" in s.line(0) and "pve-a" in s.text
                             and "k8s-node-a" in s.text, "the first dashboard frame with data",
                             timeout)

    def pid(self):
        return self.term.wait_value(self.term.child_pid, "the labdeck process")

    def wait_exit(self, timeout=10.0):
        """Waits for EXIT=N and STTY=... printed by the pane's shell; returns (N, stty)."""
        s = self.wait_for(lambda s: re.search(r"^EXIT=\d+", s.text, re.M)
                          and re.search(r"^STTY=\w+", s.text, re.M), "EXIT= and STTY= after labdeck",
                          timeout)
        code = int(re.search(r"^EXIT=(\d+)", s.text, re.M).group(1))
        stty = re.search(r"^STTY=(\w+)", s.text, re.M).group(1)
        return code, stty, s

    def terminal_restored(self, expect_exit=None, timeout=10.0):
        code, stty, s = self.wait_exit(timeout)
        if expect_exit is not None:
            check(code == expect_exit, "exit status %d, expected %d" % (code, expect_exit))
        alt = self.term.display("#{alternate_on}")
        cur = self.term.display("#{cursor_flag}")
        check(alt == "0", "still on the alternate screen after exit (alternate_on=%s)" % alt)
        check(cur == "1", "cursor left hidden after exit (cursor_flag=%s)" % cur)
        check(stty == "same", "stty -g differs before and after labdeck (STTY=%s)" % stty)
        return code


# --- helpers on screens -----------------------------------------------------------------------

def status_line(s):
    return s.line(len(s.lines) - 2) if len(s.lines) >= 2 else ""


def pane_rows(s, h):
    """Rows as the terminal has them (capture trims nothing in the middle; pad to h)."""
    rows = list(s.lines)
    while len(rows) < h:
        rows.append("")
    return rows


def body_rows(s, h):
    """The rows between the title bar and the status line."""
    return pane_rows(s, h)[1:h - 2]


def selected_rows(s, h):
    """Indices (pane rows) of the list rows drawn in the selection style. The reference is the
    title bar's "[N view]" tab, drawn with the same theme slot, so this holds in every theme."""
    col = column_of(s.line(0), "[")
    ref = s.attr_at(0, col) if col >= 0 else None
    if ref is None:
        return []
    return [y for y in range(2, h - 2) if s.line(y).strip() and s.attr_at(y, 0) == ref]


def pods_rows(s, h):
    """(pane row index, text) of each pod row in the pods list (after the header)."""
    rows = pane_rows(s, h)
    hdr = next((i for i, l in enumerate(rows) if l.lstrip().startswith("NAMESPACE")), -1)
    if hdr < 0:
        return []
    return [(i, rows[i]) for i in range(hdr + 1, h - 2) if rows[i].strip()]


def ns_of(row_text):
    return row_text.split()[0] if row_text.split() else ""


def open_pods(c, timeout=15.0):
    c.keys("3")
    return c.wait_for(lambda s: "[3 pods]" in s.line(0) and len(pods_rows(s, c.h)) >= 10,
                      "the pods view with its rows", timeout)


# --- tests ------------------------------------------------------------------------------------

@test
def dashboard():
    with Console(lab()) as c:
        s = c.wait_for(lambda s: "proxmox ✓" in status_line(s) and "kubernetes ✓" in status_line(s)
                       and "CrashLoopBackOff" in s.text and "k8s-node-b" in s.text,
                       "dashboard data and both backends ✓ on the status line", 15)
        rows = s.lines
        check("[1 nodes]" in rows[0], "view 1 not marked in the title bar: %r" % rows[0])
        for sect in ("PROXMOX", "GUESTS", "KUBERNETES", "PODS"):
            check(any(l.startswith(sect) for l in rows), "no %s section:\n%s" % (sect, s))
        prox = next(i for i, l in enumerate(rows) if l.startswith("PROXMOX"))
        guests = next(i for i, l in enumerate(rows) if l.startswith("GUESTS"))
        k8s = next(i for i, l in enumerate(rows) if l.startswith("KUBERNETES"))
        pods = next(i for i, l in enumerate(rows) if l.startswith("PODS"))
        check(prox < guests < k8s < pods, "sections out of order")
        for node in ("pve-a", "pve-b"):
            check(any(node in l and "online" in l for l in rows[prox:guests]),
                  "%s online not under PROXMOX:\n%s" % (node, s))
        # At 80 columns the PCI domain is left out ("c5:00.0"); the device is still named.
        pci = [l for l in rows[guests:k8s] if re.search(r"◆ PCI (0000:)?c5:00\.0", l)]
        check(pci, "no guest marked '◆ PCI c5:00.0':\n%s" % s)
        check("k8s-node-b" in pci[0] and "102" in pci[0],
              "the PCI mark is not on VM 102 k8s-node-b: %r" % pci[0])
        for node in ("k8s-node-a", "k8s-node-b"):
            check(any(node in l and "Ready" in l for l in rows[k8s:pods]),
                  "%s Ready not under KUBERNETES:\n%s" % (node, s))
        crash = [l for l in rows[pods:] if "CrashLoopBackOff" in l]
        check(crash and re.search(r"lab/backend-[4-9bcdf]+-\w{5}", crash[0]),
              "the PODS summary does not name the CrashLoopBackOff pod:\n%s" % s)


@test
def guests_hangul_alignment():
    with Console(lab(), w=120, h=40) as c:
        c.first_frame()
        c.keys("2")
        s = c.wait_for(lambda s: "[2 guests]" in s.line(0) and "백업-서버" in s.text
                       and "web-캐시" in s.text, "the guests view with the Hangul guests")
        hdr_i = s.find("VMID")
        check(hdr_i >= 0, "no header row")
        hdr = s.lines[hdr_i]
        words = hdr.split()
        check(words[:5] == ["VMID", "NAME", "TYPE", "NODE", "STATUS"],
              "header is %r" % hdr)
        type_col = column_of(hdr, "TYPE")
        node_col = column_of(hdr, "NODE")
        want = {"101": "k8s-node-a", "102": "k8s-node-b", "103": "win11", "104": "백업-서버",
                "110": "dns", "111": "ollama-cache", "112": "web-캐시"}
        seen = {}
        for l in s.lines[hdr_i + 1:]:
            m = re.match(r"\s*(\d{3})\s", l)
            if m:
                seen[m.group(1)] = l
        check(set(want) <= set(seen), "guests missing: %s" % sorted(set(want) - set(seen)))
        for vmid, name in want.items():
            l = seen[vmid]
            check(name in l, "VM %s row does not show %r: %r" % (vmid, name, l))
            m = re.search(r"\s(qemu|lxc)\s", l)
            check(m, "no TYPE in row %r" % l)
            col = width(l[:m.start() + 1])
            check(col == type_col, "TYPE of %s (%s) starts at column %d, header at %d:\n%s\n%s"
                  % (vmid, name, col, type_col, hdr, l))
            m2 = re.search(r"\s(pve-[ab])\s", l)
            check(m2 and width(l[:m2.start() + 1]) == node_col,
                  "NODE of %s not at column %d: %r" % (vmid, node_col, l))
        check("◆" in seen["102"] and "0000:c5:00.0" in seen["102"],
              "VM 102's passthrough is not shown: %r" % seen["102"])


@test
def layout_80x24():
    """At the smallest supported size the columns a user reads first stay readable: guest names
    (all of them are 12 columns or less), pod names up to their hash and the pod status."""
    with Console(lab()) as c:
        c.first_frame()
        c.keys("2")
        s = c.wait_for(lambda s: "[2 guests]" in s.line(0) and "VMID" in s.text, "the guests view")
        for name in ("k8s-node-a", "k8s-node-b", "win11", "백업-서버", "dns", "ollama-cache", "web-캐시"):
            check(re.search(r"\b\d{3}\s+%s(\s|$)" % re.escape(name), s.text),
                  "guest name %r not shown in full at 80x24:\n%s" % (name, s))
        # Columns stay aligned with a wide name cut or not.
        hdr = s.lines[s.find("VMID")]
        node_col = column_of(hdr, "NODE")
        for l in s.lines:
            if re.match(r"\s*\d{3}\s", l):
                m = re.search(r"\s(pve-[ab])\s", l)
                check(m and width(l[:m.start() + 1]) == node_col, "NODE misaligned at 80x24: %r" % l)
        c.keys("3")
        s = c.wait_for(lambda s: "[3 pods]" in s.line(0) and len(pods_rows(s, c.h)) >= 17, "the pods view")
        crash = [r for _, r in pods_rows(s, c.h) if "backend-" in r and "0/1" in r]
        check(crash, "no row for the crashlooping backend pod:\n%s" % s)
        check("CrashLoopBackOff" in crash[0], "STATUS cut at 80x24: %r" % crash[0])
        # A long name is cut in the middle: its start and the pod's own suffix (what tells the
        # replicas apart) stay visible.
        name = re.search(r"(backend-\S*)", crash[0]).group(1)
        check(name.endswith("-m4np5"), "pod NAME lost its suffix at 80x24: %r" % crash[0])


@test
def pods_navigation():
    with Console(lab(), w=120, h=40) as c:
        c.first_frame()
        s = open_pods(c)
        s = c.wait_for(lambda s: len(selected_rows(s, c.h)) == 1, "one selected row", escapes=True)
        first = selected_rows(s, c.h)[0]
        rows = pods_rows(s, c.h)
        check(first == rows[0][0], "selection starts on row %d, first pod row is %d" % (first, rows[0][0]))
        n = len(rows)
        c.keys("j")
        c.wait_for(lambda s: selected_rows(s, c.h) == [first + 1], "j moving the selection down",
                   escapes=True)
        c.keys("j", "j")
        c.wait_for(lambda s: selected_rows(s, c.h) == [first + 3], "j j", escapes=True)
        c.keys("k")
        c.wait_for(lambda s: selected_rows(s, c.h) == [first + 2], "k moving it up", escapes=True)
        c.keys("G")
        c.wait_for(lambda s: selected_rows(s, c.h) == [rows[-1][0]], "G to the last row",
                   escapes=True)
        c.keys("g")
        c.wait_for(lambda s: selected_rows(s, c.h) == [first], "g to the first row", escapes=True)
        c.keys("k")  # at the top: stays
        c.keys("Down")
        c.wait_for(lambda s: selected_rows(s, c.h) == [first + 1], "Down arrow", escapes=True)
        check(n >= 17, "only %d pod rows for 17 pods" % n)


@test
def pods_filter():
    with Console(lab(), w=120, h=40) as c:
        c.first_frame()
        s = open_pods(c)
        total = len(pods_rows(s, c.h))
        c.keys("/")
        c.wait_for(lambda s: s.line(c.h - 1).startswith("/"), "the / prompt")
        seen_counts = []
        for i, ch in enumerate("gateway"):
            c.type(ch)
            typed = "gateway"[:i + 1]

            def narrowed(s, typed=typed):
                rows = pods_rows(s, c.h)
                return s.line(c.h - 1).startswith("/" + typed) and rows and all(
                    typed in r.lower() for _, r in rows)
            s = c.wait_for(narrowed, "the list narrowing to %r as it is typed" % typed)
            seen_counts.append(len(pods_rows(s, c.h)))
        rows = pods_rows(s, c.h)
        check(len(rows) == 2 and all("gateway-" in r for _, r in rows),
              "filter gateway shows %d rows:\n%s" % (len(rows), s))
        check(seen_counts[0] < total, "typing 'g' did not narrow the list (%d of %d)" % (seen_counts[0], total))
        c.keys("Enter")
        s = c.wait_for(lambda s: "2 matches" in s.line(c.h - 1), "the match count on the bottom line")
        check("gateway" in s.line(c.h - 1), "bottom line: %r" % s.line(c.h - 1))
        c.keys("Escape")
        s = c.wait_for(lambda s: len(pods_rows(s, c.h)) == total, "Esc restoring every row")
        check("match" not in s.line(c.h - 1), "match count still shown: %r" % s.line(c.h - 1))
        # Esc while typing clears too.
        c.keys("/")
        c.type("zzz-no-such-pod")
        c.wait_for(lambda s: not pods_rows(s, c.h) or "0 match" in s.text or "/zzz" in s.text,
                   "an empty result")
        c.keys("Escape")
        c.wait_for(lambda s: len(pods_rows(s, c.h)) == total and not s.line(c.h - 1).startswith("/"),
                   "Esc in the prompt clearing the filter")


@test
def pods_sort():
    with Console(lab(), w=120, h=40) as c:
        c.first_frame()
        s = open_pods(c)
        hdr = next(l for _, l in [(0, x) for x in s.lines] if l.lstrip().startswith("NAMESPACE"))
        check("▲" not in hdr and "▼" not in hdr, "a sort arrow before sorting: %r" % hdr)
        before = [r for _, r in pods_rows(s, c.h)]
        # (a capture can fall between the header's write and the rows': wait for the whole frame)
        def ns_sorted(s, reverse):
            got = [ns_of(r) for _, r in pods_rows(s, c.h)]
            return got and got == sorted(got, reverse=reverse)
        c.keys("s")
        s = c.wait_for(lambda s: any("NAMESPACE▲" in l for l in s.lines) and ns_sorted(s, False),
                       "NAMESPACE▲ in the header and the rows ascending by namespace")
        c.keys("s")
        s = c.wait_for(lambda s: any("NAMESPACE▼" in l for l in s.lines) and ns_sorted(s, True),
                       "NAMESPACE▼ in the header and the rows descending by namespace")
        check([r for _, r in pods_rows(s, c.h)] != before, "the order did not change")
        c.keys("s")
        # Names may be cut with … at 80 columns; compare what is shown.
        def names_sorted(s):
            names = [r.split()[1] for _, r in pods_rows(s, c.h)]
            return names and names == sorted(names)
        c.wait_for(lambda s: any("NAME▲" in l and "NAMESPACE▲" not in l for l in s.lines)
                   and names_sorted(s), "NAME▲ (the next column) and the rows ascending by name")


@test
def pods_namespace():
    with Console(lab(), w=120, h=40) as c:
        c.first_frame()
        open_pods(c)
        c.keys(":")
        c.wait_for(lambda s: s.line(c.h - 1).startswith(":"), "the : prompt")
        c.type("ns lab")
        c.keys("Enter")
        c.wait_for(lambda s: "pods (lab)" in s.line(0) and len(pods_rows(s, c.h)) == 6
                   and all(ns_of(r) == "lab" for _, r in pods_rows(s, c.h)),
                   ":ns lab showing the 6 lab pods")
        c.keys(":")
        c.type("ns mo")
        c.keys("Tab")
        c.wait_for(prompt_is(c, ":ns models "), ":ns mo + Tab completing the namespace")
        c.keys("Enter")
        c.wait_for(lambda s: "pods (models)" in s.line(0) and pods_rows(s, c.h)
                   and all(ns_of(r) == "models" for _, r in pods_rows(s, c.h)), ":ns models")
        c.keys(":")
        c.type("ns all")
        c.keys("Enter")
        c.wait_for(lambda s: "all namespaces" in s.line(0) and len(pods_rows(s, c.h)) >= 17,
                   ":ns all")
        c.keys("n")
        c.wait_for(lambda s: "pods (kube-system)" in s.line(0) and pods_rows(s, c.h)
                   and all(ns_of(r) == "kube-system" for _, r in pods_rows(s, c.h)),
                   "n switching to the first namespace, kube-system")
        c.keys("n")
        c.wait_for(lambda s: "pods (lab)" in s.line(0) and pods_rows(s, c.h)
                   and all(ns_of(r) == "lab" for _, r in pods_rows(s, c.h)), "n again: lab")
        c.keys("n", "n")
        c.wait_for(lambda s: "all namespaces" in s.line(0) and len(pods_rows(s, c.h)) >= 17,
                   "n after the last namespace: all of them again")


def prompt_is(c, text):
    """The bottom line reads text (trailing spaces included: the cursor sits after them)."""
    def ok(s):
        if s.line(c.h - 1).rstrip() != text.rstrip():
            return False
        return int(c.term.display("#{cursor_x}")) == width(text)
    return ok


@test
def command_completion():
    with Console(lab()) as c:
        c.first_frame()
        c.keys(":")
        c.type("th")
        c.keys("Tab")
        c.wait_for(prompt_is(c, ":theme "), ":th + Tab completing to ':theme ' (cursor after the space)")
        c.keys("Tab")
        c.wait_for(lambda s: "mono" in s.line(c.h - 1) and "default" in s.line(c.h - 1),
                   "a second Tab listing the themes")
        c.type("mo")
        c.keys("Tab")
        c.wait_for(prompt_is(c, ":theme mono "), ":theme mo + Tab -> ':theme mono '")
        c.keys("Escape")
        c.wait_for(lambda s: not s.line(c.h - 1).startswith(":"), "Esc leaving the command line")
        c.keys(":")
        c.type("gu")
        c.keys("Tab")
        c.wait_for(prompt_is(c, ":guests "), ":gu + Tab -> ':guests '")
        c.keys("Enter")
        c.wait_for(lambda s: "[2 guests]" in s.line(0), "Enter running :guests (view 2)")
        c.keys(":")
        c.type("frobnicate")
        c.keys("Enter")
        c.wait_for(lambda s: "unknown command" in s.line(c.h - 1), "'unknown command' for :frobnicate")


def select_where(c, pred, what, limit=40):
    """Presses j until the selected row's text satisfies pred; returns that text."""
    for _ in range(limit):
        s = c.capture(escapes=True)
        sel = selected_rows(s, c.h)
        if sel and pred(s.line(sel[0])):
            return s.line(sel[0])
        before = sel
        c.keys("j")
        c.wait_for(lambda s: selected_rows(s, c.h) != before, "j moving the selection", escapes=True)
    raise Fail("no row %s" % what)


@test
def pod_details():
    with Console(lab(), w=120, h=40) as c:
        c.first_frame()
        c.keys("3")
        c.wait_for(lambda s: "[3 pods]" in s.line(0) and len(pods_rows(s, c.h)) >= 17, "pods")
        row = select_where(c, lambda r: "CrashLoopBackOff" in r, "for the CrashLoopBackOff pod")
        name = row.split()[1]
        c.keys("Enter")
        s = c.wait_for(lambda s: re.search(r"(?i)conditions", s.text) and re.search(r"(?i)containers", s.text)
                       and re.search(r"(?i)events", s.text), "the details with conditions, containers and events",
                       15)
        check(name in s.text, "details do not name the pod %s:\n%s" % (name, s))
        check("CrashLoopBackOff" in s.text, "details do not show CrashLoopBackOff:\n%s" % s)
        check(re.search(r"(?i)restart", s.text), "details do not show the restarts:\n%s" % s)
        c.keys("Escape")
        c.wait_for(lambda s: len(pods_rows(s, c.h)) >= 17 and "[3 pods]" in s.line(0),
                   "Esc back to the pods list")


@test
def pod_logs():
    with Console(lab(), w=120, h=40) as c:
        c.first_frame()
        c.keys("3")
        c.wait_for(lambda s: "[3 pods]" in s.line(0) and len(pods_rows(s, 40)) >= 17, "pods")
        select_where(c, lambda r: "gateway-" in r, "for a gateway pod")
        c.keys("l")

        def lines_count(s):
            m = re.search(r"(\d+) lines", s.text)
            return int(m.group(1)) if m else -1
        s = c.wait_for(lambda s: lines_count(s) > 0, "log lines arriving", 15)
        n0 = lines_count(s)
        check("following" in s.text, "the log view does not say it is following:\n%s" % s)
        s = c.wait_for(lambda s: lines_count(s) > n0, "new log lines over time (follow)", 15)
        # Pause: the shown lines stop moving while the count goes on.
        c.keys("p")
        s = c.wait_for(lambda s: "PAUSED" in s.text, "PAUSED after p")
        body = [l for l in s.lines[1:-3]]
        s2 = c.wait_for(lambda s: "new below" in s.text, "'new below' while paused", 15)
        later = []
        if [l for l in s2.lines[1:-3]] != body:
            later.append("the log moved while paused (PAUSED and 'new below' shown, yet new lines "
                         "scrolled in)")
        c.keys("p")
        c.wait_for(lambda s: "PAUSED" not in s.text, "p resuming")
        # Search: the log lines carry the pod's words; search for something on screen.
        s = c.capture()
        words = re.findall(r"[A-Za-z]{4,}", " ".join(s.lines[1:-4]))
        check(words, "no words in the log to search for:\n%s" % s)
        word = words[-1]
        c.keys("/")
        c.wait_for(lambda s: "search:" in s.text, "the log search prompt")
        c.type(word)
        c.keys("Enter")
        s = c.wait_for(lambda s: "search: " + word in s.text, "the search shown in the log status row",
                       escapes=True)
        hits = [y for y in range(1, c.h - 3) if word in s.line(y)
                and (s.attr_at(y, 0) is not None and (s.attr_at(y, 0).bg is not None or s.attr_at(y, 0).reverse))]
        check(len(hits) == 1, "%d highlighted lines hold the search match %r (want 1)" % (len(hits), word))
        c.keys("Escape")  # clears the search
        c.wait_for(lambda s: "search: " + word not in s.text, "Esc clearing the search")
        c.keys("Escape")  # leaves
        c.wait_for(lambda s: "[3 pods]" in s.line(0) and len(pods_rows(s, 40)) >= 1,
                   "Esc back to the pods list")
    check(not later, "; ".join(later))


@test
def pods_change_under_selection():
    """Pods come and go while a row is selected: the selection stays on its pod, and a list that
    shrinks under the cursor does not crash the console."""
    lb = lab()
    try:
        change_under_selection(lb)
    finally:
        lb._admin("POST", "/pods", {"count": 17})  # the hand-made set again, for the other tests


def change_under_selection(lb):
    with Console(lb, w=120, h=40) as c:
        c.first_frame()
        c.keys("3")
        s = c.wait_for(lambda s: "[3 pods]" in s.line(0) and len(pods_rows(s, c.h)) >= 17, "pods")
        n = len(pods_rows(s, c.h))
        row = select_where(c, lambda r: "frontend-" in r, "for a frontend pod")
        name = row.split()[1]
        # A pod above the selection is replaced (deleted, a new one made): same pod selected.
        coredns = [r.split()[1] for _, r in pods_rows(s, c.h) if "coredns-" in r][0]
        lb._admin("POST", "/churn", {"action": "delete", "namespace": "kube-system", "name": coredns})
        s = c.wait_for(lambda s: coredns not in s.text, "the deleted pod leaving the list", escapes=True)
        sel = selected_rows(s, c.h)
        later = []
        if not (len(sel) == 1 and name in s.line(sel[0])):
            later.append("the selection moved off %s when a pod above it went away: %r"
                         % (name, [s.line(y).split()[1] for y in sel]))
        # The selected pod itself is the last row and goes away.
        c.keys("G")
        s = c.wait_for(lambda s: selected_rows(s, c.h) and selected_rows(s, c.h)[0] == pods_rows(s, c.h)[-1][0],
                       "G on the last row", escapes=True)
        last = s.line(selected_rows(s, c.h)[0])
        ns, pod = last.split()[0], last.split()[1]
        lb._admin("POST", "/churn", {"action": "delete", "namespace": ns, "name": pod})
        s = c.wait_for(lambda s: "EXIT=" in s.text or (pod not in s.text and pods_rows(s, c.h)),
                       "the last pod leaving the list", escapes=True)
        check("EXIT=" not in s.text, "labdeck died when the selected last row went away:\n%s" % s)
        check(len(pods_rows(s, c.h)) == n - 2, "%d rows after deleting 2 of %d" % (len(pods_rows(s, c.h)), n))
        check(len(selected_rows(s, c.h)) == 1, "no selected row after the selected pod went away")
        c.keys("k", "j", "g")
        c.wait_for(lambda s: selected_rows(s, c.h) == [pods_rows(s, c.h)[0][0]], "g after the change",
                   escapes=True)
        check(c.term.child_pid() is not None, "labdeck is gone")
        check(not later, "; ".join(later))


@test
def help_overlay():
    with Console(lab()) as c:
        c.first_frame()
        c.keys("?")
        s = c.wait_for(lambda s: "Everywhere" in s.text, "the help overlay")
        for word in ("quit", "filter", "refresh", "theme", "help"):
            check(re.search(r"\b%s\b" % word, s.text), "help does not list %r:\n%s" % (word, s))
        check(re.search(r"^\s*q\s+quit", s.text, re.M), "help has no 'q  quit' line:\n%s" % s)
        check(re.search(r"^\s*/\s+filter", s.text, re.M), "help has no '/  filter' line:\n%s" % s)
        c.keys("Escape")
        c.wait_for(lambda s: "Everywhere" not in s.text and "PROXMOX" in s.text, "Esc closing help")
        # In the pods view, the pods keys come first.
        c.keys("3", "?")
        s = c.wait_for(lambda s: "Everywhere" in s.text, "help in the pods view")
        check(re.search(r"^\s*l\s+logs", s.text, re.M), "pods help has no 'l  logs':\n%s" % s)
        c.keys("?")
        c.wait_for(lambda s: "Everywhere" not in s.text, "? closing help")


@test
def themes():
    with Console(lab()) as c:
        c.first_frame()
        s_default = c.wait_for(lambda s: "proxmox ✓" in status_line(s), "data", escapes=True)
        codes_default = set(s_default.colour_codes())
        check(any(code.startswith("38;5;") or code.startswith("48;5;") for code in codes_default),
              "the default theme shows no 256-colour codes: %s" % sorted(codes_default)[:20])
        names = []
        for _ in range(3):
            c.keys("t")
            s = c.wait_for(lambda s: re.search(r"theme [\w-]+", s.line(c.h - 1))
                           and re.search(r"theme ([\w-]+)", s.line(c.h - 1)).group(1) not in names + ["default"],
                           "the 'theme NAME' message for the next theme")
            names.append(re.search(r"theme ([\w-]+)", s.line(c.h - 1)).group(1))
        check(names == ["high-contrast", "light", "mono"], "t cycled through %s" % names)
        s_mono = c.wait_for(lambda s: not s.colour_codes(), "a frame without colour codes in mono",
                            escapes=True)
        check(s_mono.escaped != s_default.escaped, "mono looks the same as default with -e")
        check(any(a.reverse or a.bold for row in s_mono.cells for _, a in row),
              "mono has no attributes at all")
        c.keys("t")
        c.wait_for(lambda s: "theme default" in s.line(c.h - 1), "t wrapping around to default")
        c.keys(":")
        c.type("theme mono")
        c.keys("Enter")
        c.wait_for(lambda s: "theme mono" in s.line(c.h - 1) and not s.colour_codes(),
                   "':theme mono' + Enter: the message and no colour codes", escapes=True)


@test
def no_color():
    with Console(lab(), env={"NO_COLOR": "1"}) as c:
        c.first_frame()
        s = c.wait_for(lambda s: "proxmox ✓" in status_line(s), "data under NO_COLOR", escapes=True)
        check(not s.colour_codes(), "NO_COLOR=1 still shows colour codes: %s" % sorted(set(s.colour_codes()))[:20])
        check(any(a.reverse or a.bold for row in s.cells for _, a in row),
              "NO_COLOR shows no attributes either (the title bar should be reverse)")
        # Without colour the selection must still stand out from every other row, the rows of
        # pods in trouble included.
        c.keys("3")
        s = c.wait_for(lambda s: "[3 pods]" in s.line(0) and len(pods_rows(s, c.h)) >= 17, "pods",
                       escapes=True)
        sel = selected_rows(s, c.h)
        check(len(sel) == 1, "under NO_COLOR %d rows look selected (rows %s):\n%s"
              % (len(sel), ", ".join(s.line(y).split()[1] for y in sel), s))
        c.keys("1")
        # A theme switch keeps it colourless.
        c.keys("t")
        s = c.wait_for(lambda s: "theme" in s.line(c.h - 1), "the theme message", escapes=True)
        check(not s.colour_codes(), "after t under NO_COLOR: colour codes %s" % sorted(set(s.colour_codes()))[:20])
        check("NO_COLOR" in s.line(c.h - 1), "the theme message does not say colours are off by NO_COLOR: %r"
              % s.line(c.h - 1))


def check_layout(c, w, h, what):
    def ok(s):
        rows = pane_rows(s, h)
        return (len(s.lines) <= h and rows[0].startswith(" labdeck")
                and width(rows[0].rstrip()) >= w - 1 and "proxmox" in rows[h - 2]
                and "kubernetes" in rows[h - 2])
    s = c.wait_for(ok, "a %dx%d frame (%s)" % (w, h, what))
    check(c.term.display("#{pane_width}x#{pane_height}") == "%dx%d" % (w, h), "pane size")
    # The title bar's colour spans the whole width.
    s = c.capture(escapes=True)
    a0, alast = s.attr_at(0, 0), s.attr_at(0, w - 1)
    check(a0 is not None and a0 == alast, "the title bar does not span the width at %dx%d: %r vs %r"
          % (w, h, a0, alast))
    return s


@test
def resize():
    with Console(lab()) as c:
        c.first_frame()
        check_layout(c, 80, 24, "start")
        c.term.resize(120, 40)
        s = check_layout(c, 120, 40, "grown")
        check(len(s.lines) <= 40, "more rows than the pane")
        c.term.resize(80, 24)
        check_layout(c, 80, 24, "shrunk back")
        c.keys("3")
        c.wait_for(lambda s: "[3 pods]" in s.line(0), "the pods view")
        c.term.resize(60, 20)
        s = c.wait_for(lambda s: "terminal too small" in s.text, "'terminal too small' at 60x20")
        check(all(width(l) <= 60 for l in s.lines), "a line wider than 60 columns:\n%s" % s)
        c.term.resize(80, 24)
        s = check_layout(c, 80, 24, "restored")
        check("[3 pods]" in s.line(0) and "NAMESPACE" in s.text, "the pods view did not come back:\n%s" % s)
        check(c.term.child_pid() is not None, "labdeck died while resizing")
        c.keys("q")
        check(c.terminal_restored(expect_exit=0) == 0, "exit")


@test
def hostile_names():
    lb = lab("--hostile-names")
    with Console(lb, w=120, h=40) as c:
        c.first_frame()
        c.keys("2")
        s = c.wait_for(lambda s: "[2 guests]" in s.line(0) and "evil" in s.text, "the guest named evil…",
                       escapes=True)
        y = s.find("evil")
        line = s.lines[y]
        check("evil?[31mRED?]0;pwned??2J" in line,
              "the hostile name is not shown inert with '?' for each control: %r" % line)
        reds = [a for ch, a in s.cells[y] if a.fg in (1, 9)]
        check(not reds, "the name turned cells red: %r" % reds[:3])
        check("31" not in s.colour_codes(), "an SGR 31 reached the terminal")
        check(c.term.display("#{pane_title}") != "pwned", "the window title was changed to 'pwned'")
        # Rows after it are not shifted: the NODE column is still aligned.
        hdr = s.lines[s.find("VMID")]
        col = column_of(hdr, "NODE")
        for l in s.lines:
            m = re.search(r"\s(pve-[ab])\s", l)
            if re.match(r"\s*\d{3}\s", l):
                check(m and width(l[:m.start() + 1]) == col, "NODE misaligned in %r" % l)
        # A log line with OSC 52 (set the clipboard) and CSI 2J (clear the screen), in the first
        # gateway pod's log every 50 lines: shown as text, the lines above it stay.
        c.keys("3")
        c.wait_for(lambda s: "[3 pods]" in s.line(0) and len(pods_rows(s, c.h)) >= 17, "pods")
        select_where(c, lambda r: "gateway-" in r, "for the first gateway pod")
        c.keys("l")
        s = c.wait_for(lambda s: "]52;c;SGVsbG8=" in s.text, "the hostile log line", 15, escapes=True)
        y = s.find("]52;c;SGVsbG8=")
        check("?]52;c;SGVsbG8=??[2J" in s.lines[y], "the OSC 52 line is not shown inert: %r" % s.lines[y])
        check(y > 1 and s.line(y - 1).strip(), "the screen above the hostile log line was cleared")
        check("31" not in s.colour_codes(), "SGR 31 in the log view")
        check(c.term.display("#{pane_title}") != "pwned", "title changed in the log view")
        c.keys("Escape")
        c.wait_for(lambda s: "[3 pods]" in s.line(0) and len(pods_rows(s, c.h)) >= 17, "back to pods")
        # Its Warning event carries the same payload: the details show it inert.
        c.keys("Enter")
        s = c.wait_for(lambda s: "Unhealthy" in s.text, "the details with the Unhealthy event", 15,
                       escapes=True)
        ev = s.lines[s.find("Unhealthy")]
        check("?]52;c" in ev, "the event message is not shown inert: %r" % ev)
        check("CONDITIONS" in s.text.upper(), "the details screen was cleared above the event")
        check("31" not in s.colour_codes(), "SGR 31 in the details")
        c.keys("Escape")
        # The dashboard shows it inert as well.
        c.keys("1")
        s = c.wait_for(lambda s: "[1 nodes]" in s.line(0) and "evil" in s.text, "the dashboard", escapes=True)
        check("31" not in s.colour_codes(), "SGR 31 on the dashboard")
        check(c.term.display("#{pane_title}") != "pwned", "title changed on the dashboard")


@test
def backend_outage():
    lb = lab()
    later = []  # failures that should not stop the rest of the test
    with Console(lb) as c:
        c.first_frame()
        c.wait_for(lambda s: "proxmox ✓" in status_line(s), "proxmox ✓")
        lb._admin("POST", "/outage", {"backend": "proxmox", "down": True})
        try:
            s = c.wait_for(lambda s: re.search(r"proxmox ✗ \S", status_line(s)),
                           "proxmox ✗ with a reason on the status line", 40)
            if "kubernetes ✓" not in status_line(s):
                later.append("at 80x24 the status line does not show kubernetes while proxmox fails: %r"
                             % status_line(s))
            c.keys("3")
            c.wait_for(lambda s: "[3 pods]" in s.line(0) and len(pods_rows(s, c.h)) >= 17,
                       "the pods view working while proxmox is down")
            c.keys("2")
            c.wait_for(lambda s: "[2 guests]" in s.line(0), "view 2 during the outage")
            c.keys("1")
            c.wait_for(lambda s: "[1 nodes]" in s.line(0) and "PROXMOX" in s.text, "view 1 during the outage")
        finally:
            lb._admin("POST", "/outage", {"backend": "proxmox", "down": False})
        c.wait_for(lambda s: "proxmox ✓" in status_line(s), "proxmox ✓ again after the outage", 40)
    check(not later, "; ".join(later))


@test
def stalled_backend():
    lb = lab()
    try:
        with Console(lb) as c:
            c.first_frame()
            c.keys("3")
            c.wait_for(lambda s: len(pods_rows(s, c.h)) >= 17, "pods")
            # Logs that stall: the view opens, keys keep working, Esc leaves and cancels.
            lb.fault("kubernetes", "stall", path="/api/v1/namespaces/", seconds=120)
            c.keys("l")
            c.wait_for(lambda s: re.search(r"following|\d+ lines", s.line(c.h - 3)), "the log view opening")
            c.keys("?")
            c.wait_for(lambda s: "Everywhere" in s.text, "help while the log stalls")
            c.keys("Escape")
            c.wait_for(lambda s: "Everywhere" not in s.text, "help closing")
            c.keys("Escape")
            c.wait_for(lambda s: "[3 pods]" in s.line(0) and len(pods_rows(s, c.h)) >= 17,
                       "Esc leaving the stalled log view", 5)
            # Every Proxmox call and the pod list stall on a refresh: views and help still
            # answer, and the status line turns stale instead of freezing.
            lb.clear()
            f_pods = lb.fault("kubernetes", "stall", path="/api/v1/pods", seconds=120)["id"]
            lb.fault("proxmox", "stall", seconds=120)
            c.keys("r")

            def stalled():
                rules = lb._admin("GET", "/faults")["faults"]
                return any(r["id"] == f_pods and r["hits"] > 0 for r in rules)
            c.term.wait_value(stalled, "a stalled pod list request")
            for key, what in (("1", "[1 nodes]"), ("2", "[2 guests]"), ("3", "[3 pods]")):
                c.keys(key)
                c.wait_for(lambda s, w=what: w in s.line(0), "view %s during the stall" % key, 3)
            c.keys("?")
            c.wait_for(lambda s: "Everywhere" in s.text, "help during the stall", 3)
            c.keys("Escape")
            c.wait_for(lambda s: "Everywhere" not in s.text, "help closing", 3)
            c.keys("1", "Escape")
            c.wait_for(lambda s: "[1 nodes]" in s.line(0), "Esc at the top", 3)
            c.wait_for(lambda s: re.search(r"proxmox ◷ stale \d+s", status_line(s)),
                       "'proxmox ◷ stale Ns' on the status line while Proxmox stalls", 25)
            c.keys("q")
            c.terminal_restored(expect_exit=0, timeout=5)
    finally:
        lb.clear()


@test
def ctrl_z_suspends_and_resumes():
    """Ctrl-Z gives the shell back with the terminal as it was; fg brings the console back."""
    lb = lab()
    d = tempfile.mkdtemp(prefix="labdeck-tui-")
    t = Term("exec bash --norc --noprofile -i", W, H, env={"PS1": "SHELL> ", "HOME": d}, cwd=d)
    try:
        t.wait_text("SHELL>")
        t.type("stty -g > before; %s --config %s" % (LABDECK, lb.config))
        t.keys("Enter")
        t.wait_for(lambda s: "labdeck" in s.line(0) and "pve-a" in s.text, "the console")
        t.keys("C-z")
        s = t.wait_for(lambda s: "Stopped" in s.text, "the shell's job-stopped line")
        check(t.display("#{alternate_on}") == "0", "suspended console left the alternate screen")
        check(t.display("#{cursor_flag}") == "1", "cursor visible while suspended")
        t.type("stty -g | cmp -s - before && echo STTY_SAME || echo STTY_DIFF")
        t.keys("Enter")
        s = t.wait_for(lambda s: "STTY_SAME" in s.text or "STTY_DIFF" in s.text, "stty compared")
        check("STTY_SAME" in s.text, "terminal modes restored while suspended:\n%s" % s)
        t.type("fg")
        t.keys("Enter")
        t.wait_for(lambda s: "labdeck" in s.line(0) and "PROXMOX" in s.text, "the console back")
        t.keys("q")
        t.wait_text("SHELL>")
    finally:
        t.close()
        shutil.rmtree(d, ignore_errors=True)


@test
def eight_colours():
    """On an 8-colour terminal (TERM=screen) the console uses only the 8 basic colours."""
    with Console(lab(), env={"TERM": "screen"}) as c:
        c.first_frame()
        s = c.wait_for(lambda s: "proxmox ✓" in status_line(s), "data in 8 colours", escapes=True)
        codes = s.colour_codes()
        check(codes, "no colour at all on an 8-colour terminal")
        extended = [x for x in codes if "38;5" in str(x) or "48;5" in str(x) or "38;2" in str(x)]
        check(not extended, "256/true-colour codes on an 8-colour terminal: %s" % extended[:10])
        c.keys("t")
        # (the key help on that line says "t theme" too: wait for the message itself)
        s = c.wait_for(lambda s: "colours" in s.line(c.h - 1), "the theme message")
        check("8 colours" in s.line(c.h - 1), "the message names the colour mode: %r" % s.line(c.h - 1))


@test
def demo_starts_and_stops_its_lab():
    """labdeck --demo: labsim started for it, the dashboard with its data, the demo's SSH host
    working in view 7, labsim and its sshd gone after q."""
    d = tempfile.mkdtemp(prefix="labdeck-tui-")
    before = {p for p in os.listdir("/tmp") if p.startswith("labdeck-demo-")}
    t = Term("%s --demo; echo EXIT=$?; sleep 30" % LABDECK, W, H, env={"HOME": d}, cwd=d)
    try:
        t.wait_for(lambda s: "labdeck" in s.line(0) and "pve-a" in s.text and "k8s-node-a" in s.text,
                   "the demo dashboard with the simulated lab's data", 30)
        demo_dirs = [p for p in os.listdir("/tmp") if p.startswith("labdeck-demo-")
                     and p not in before]
        check(demo_dirs, "the demo's lab directory exists while it runs")
        # The demo's SSH host (labsim --sshd): listed in view 7, its command run for real.
        t.keys("7")
        t.wait_for(lambda s: "[7 hosts]" in s.line(0) and "lab-shell" in s.text,
                   "the hosts view listing the demo's lab-shell")
        t.keys("c")
        t.wait_for(lambda s: "command on lab-shell: " in s.text, "c opening the prompt")
        t.type("echo demo-ssh-$((6*7))")
        t.keys("Enter")
        t.wait_for(lambda s: "y confirms" in s.text, "the command asked first")
        t.keys("y")
        t.wait_for(lambda s: "demo-ssh-42" in s.text and "✓ exit 0" in s.text,
                   "the command run over ssh on the demo host", 15)
        t.keys("Escape")
        t.wait_for(lambda s: "[7 hosts]" in s.line(0), "back to the hosts list")
        sshd = subprocess.run(["pgrep", "-f", "sshd -D -e -f /tmp/labdeck-demo-"],
                              capture_output=True, text=True).stdout.split()
        check(sshd, "the demo's sshd found while it runs (the check below would see it)")
        t.keys("q")
        s = t.wait_for(lambda s: "EXIT=" in s.text, "labdeck --demo exiting", 15)
        check("EXIT=0" in s.text, "exit 0 after q:\n%s" % s)
        deadline = time.time() + 10
        while time.time() < deadline:
            procs = subprocess.run(["pgrep", "-f", "labsim.py --dir /tmp/labdeck-demo-|"
                                    "sshd -D -e -f /tmp/labdeck-demo-"],
                                   capture_output=True, text=True).stdout.split()
            left = [p for p in demo_dirs if os.path.exists(os.path.join("/tmp", p))]
            if not procs and not left:
                break
            time.sleep(0.1)
        check(not procs, "labsim or its sshd still running after the demo: %s" % procs)
        check(not left, "the demo left its lab directory behind: %s" % left)
    finally:
        t.close()
        shutil.rmtree(d, ignore_errors=True)


# --- the chat view (4) ------------------------------------------------------------------------

def open_chat(c):
    c.first_frame()
    c.keys("4")
    return c.wait_for(lambda s: "[4 chat]" in s.line(0) and "qwen2.5:14b" in s.line(0),
                      "the chat view (4) naming ollama's qwen2.5:14b in the title")


def ask(c, question):
    c.type(question)
    c.keys("Enter")


def chat_body(s, h):
    """The scrollback rows: between the header line and the rule above the input."""
    rows = pane_rows(s, h)
    rule = next((i for i in range(h - 3, 1, -1) if rows[i].startswith("──")), h - 4)
    return rows[2:rule]


@test
def chat_streams_an_answer():
    with Console(lab()) as c:
        open_chat(c)
        ask(c, "how does the gpu passthrough work labsim:chunk_ms=60")
        head = "labsim-qwen2.5:14b answers"
        tail = "word for word."
        s = c.wait_for(lambda s: head in s.text and tail not in s.text,
                       "part of the answer while it streams", 20)
        check("generating" in s.text, "the view does not say it is generating:\n%s" % s)
        check(any(l.startswith("› how does the gpu passthrough") for l in s.lines),
              "the question is not shown as a user turn:\n%s" % s)
        s = c.wait_for(lambda s: tail in s.text and "generating" not in s.text,
                       "the whole answer", 30)
        body = "\n".join(chat_body(s, c.h))
        check("요약:" in body and head in body, "the answer is not in the scrollback:\n%s" % s)
        # The meter: the local tokens of the answer are counted, on the status line.
        m = re.search(r"local ([\d.]+k?) tok", status_line(s))
        check(m and m.group(1) not in ("0",), "no local token count on the status line: %r"
              % status_line(s))
        check("cloud 0 tok $0.000" in status_line(s), "cloud tokens counted for ollama: %r"
              % status_line(s))
        # The console still works: Esc leaves the input, 1 and 4 switch views, history returns.
        c.keys("Escape")
        c.wait_for(lambda s: "Enter types" in s.text, "Esc leaving the input line")
        c.keys("1")
        c.wait_for(lambda s: "[1 nodes]" in s.line(0), "1 back to the dashboard")
        c.keys("4")
        s = c.wait_for(lambda s: "[4 chat]" in s.line(0) and tail in s.text,
                       "4 back to the chat with the answer kept")


@test
def chat_hangul_wraps_at_80_columns():
    with Console(lab()) as c:
        open_chat(c)
        ask(c, "한국어로 백업 서버 설명 labsim:tokens=400 labsim:chunk_ms=0")
        s = c.wait_for(lambda s: "generating" not in s.text and "항목을" in s.text,
                       "a long Hangul answer", 30)
        rows = chat_body(s, c.h)
        check(len([r for r in rows if re.search("[\uac00-\ud7a3]", r)]) >= 5,
              "fewer than 5 rows of Hangul:\n%s" % s)
        for r in pane_rows(s, c.h):
            check(width(r) <= W, "a row wider than the pane (%d columns): %r" % (width(r), r))
        # Wrapped at word boundaries: long rows of prose end with a whole word, so at least
        # most full rows are close to (but not over) 80 columns.
        full = [r for r in rows if width(r) >= W - 12]
        check(len(full) >= 3, "the answer is not wrapped to the width:\n%s" % s)
        # PgUp scrolls back to the question, PgDn returns.
        c.keys("PPage")
        c.keys("PPage")
        c.keys("PPage")
        c.wait_for(lambda s: "more below" in s.text, "PgUp scrolling back")
        c.keys("NPage", "NPage", "NPage", "NPage")
        c.wait_for(lambda s: "more below" not in s.text, "PgDn back to the bottom")


@test
def chat_esc_stops_generation():
    with Console(lab()) as c:
        open_chat(c)
        ask(c, "tell me about backups labsim:tokens=600 labsim:chunk_ms=150")
        s = c.wait_for(lambda s: "labsim-qwen2.5:14b answers" in s.text,
                       "the answer starting to stream", 20)
        c.keys("Escape")
        s = c.wait_for(lambda s: "[stopped]" in s.text and "generating" not in s.text,
                       "Esc stopping the answer, marked [stopped]")
        body = "\n".join(chat_body(s, c.h))
        check("labsim-qwen2.5:14b answers" in body, "the partial answer is gone:\n%s" % s)
        time.sleep(0.5)
        s2 = c.capture()
        check(chat_body(s2, c.h) == chat_body(s, c.h), "text still arrives after Esc:\n%s" % s2)
        # Responsive: Esc leaves the input (nothing to stop), 1 and back.
        c.keys("Escape")
        c.wait_for(lambda s: "Enter types" in s.text, "Esc leaving the input line")
        c.keys("1")
        c.wait_for(lambda s: "[1 nodes]" in s.line(0), "1 switching to the dashboard")
        c.keys("4")
        s = c.wait_for(lambda s: "[4 chat]" in s.line(0) and "[stopped]" in s.text,
                       "4 back to the chat with the stopped answer")
        # A new question still works after the stop.
        c.keys("Enter")
        ask(c, "and the restore")
        c.wait_for(lambda s: "answers (turn 2)" in s.text and "generating" not in s.text,
                   "a second answer after the stop (turn 2 of the same conversation)", 20)


@test
def chat_header_shows_loaded_models():
    with Console(lab()) as c:
        open_chat(c)
        s = c.wait_for(lambda s: re.search(r"qwen2\.5:14b [\d.]+ GB 70% VRAM", s.line(1)),
                       "the header naming qwen2.5:14b loaded with 70% of it in VRAM")
        check(s.line(1).startswith("ollama loaded:"), "header is %r" % s.line(1))
        # After an answer the header still names the models, the meter is on the status line.
        ask(c, "hi there")
        s = c.wait_for(lambda s: "local" in status_line(s) and "generating" not in s.text,
                       "an answer and the meter", 20)
        check(re.search(r"qwen2\.5:14b [\d.]+ GB 70% VRAM", s.line(1)),
              "the header lost the loaded model after an answer: %r" % s.line(1))


@test
def chat_input_editing_and_multiline():
    with Console(lab()) as c:
        open_chat(c)
        c.type("hello wrold")
        c.keys("C-w")
        c.type("world")
        c.keys("C-a")
        c.type("say ")
        c.wait_for(lambda s: "> say hello world" in s.text, "Ctrl-W and Ctrl-A editing the input")
        c.keys("C-e")
        c.keys("C-j")
        c.type("둘째 줄")
        c.wait_for(lambda s: any(l.startswith("│ 둘째 줄") for l in s.lines),
                   "Ctrl-J starting a second input line")
        c.keys("Enter")
        s = c.wait_for(lambda s: "labsim-qwen2.5:14b answers" in s.text
                       and "generating" not in s.text, "the answer to the two-line message", 20)
        check(any(l.startswith("› say hello world") for l in s.lines)
              and any(l.startswith("  둘째 줄") for l in s.lines),
              "the two-line question is not shown as two lines:\n%s" % s)
        c.keys("Up")
        c.wait_for(lambda s: "> say hello world" in s.text, "Up recalling the last message")
        c.keys("C-u")
        c.wait_for(lambda s: "> say hello world" in s.text
                   and not any(l.startswith("│ 둘째") for l in s.lines),
                   "Ctrl-U clearing the line the cursor is on (the second)")
        c.keys("BSpace")
        c.keys("Left", "Left", "Left", "Left", "Left")
        c.type("big ")
        c.wait_for(lambda s: any(l.rstrip() == "> say hello big world" for l in s.lines)
                   and not any(l.startswith("│") for l in s.lines),
                   "Backspace joining the lines, Left moving the cursor back to insert")


@test
def chat_markdown_and_copy():
    with Console(lab()) as c:
        c.term._run("set", "-g", "set-clipboard", "on")
        open_chat(c)
        ask(c, "show markdown for the proxmox backup")
        s = c.wait_for(lambda s: "╰─" in s.text and "generating" not in s.text,
                       "a Markdown answer with a code block", 20)
        body = chat_body(s, c.h)
        check(any(l == "정리" for l in body), "the ## heading is not shown bare:\n%s" % s)
        check(any(l.startswith("  • ") and "the first point" in l and "**" not in l for l in body),
              "the list item is not indented with its ** emphasis drawn:\n%s" % s)
        check(any(l.startswith("  │ echo ") for l in body), "the code block is not set apart:\n%s" % s)
        c.keys("Escape")
        c.wait_for(lambda s: "Enter types" in s.text, "Esc leaving the input")
        c.keys("Y")
        c.wait_for(lambda s: "copied the code block" in s.line(c.h - 1), "Y copying the code block")
        buf = c.term._run("show-buffer", check_rc=False)
        check(buf.startswith("# labsim example\necho "),
              "the clipboard (OSC 52 -> tmux buffer) holds %r, not the code block" % buf)


@test
def chat_gemini_meter_and_429():
    lb = lab()
    with Console(lb) as c:
        open_chat(c)
        c.keys("Escape")
        c.wait_for(lambda s: "Enter types" in s.text, "Esc leaving the input")
        c.keys("p")
        c.wait_for(lambda s: "gemini-2.5-pro" in s.line(0), "p switching to gemini")
        c.keys("Enter")
        ask(c, "what is a proxmox cluster")
        s = c.wait_for(lambda s: "labsim-gemini-2.5-pro answers" in s.text
                       and "generating" not in s.text, "gemini's answer", 20)
        m = re.search(r"cloud ([\d.]+k?) tok \$[\d.]+", status_line(s))
        check(m and m.group(1) != "0", "no cloud tokens on the status line: %r" % status_line(s))
        lb.clear()
        lb.fault("gemini", "status", count=1, code=429, retry_delay="7s")
        try:
            ask(c, "and again")
            s = c.wait_for(lambda s: "429" in s.text and "generating" not in s.text,
                           "the 429 shown in the view", 20)
            err = [l for l in chat_body(s, c.h) if "429" in l]
            check(err and "retry after 7" in " ".join(chat_body(s, c.h)),
                  "the 429 line does not give the retry delay:\n%s" % s)
        finally:
            lb.clear()
        # Still working: the next question is answered.
        ask(c, "third question")
        c.wait_for(lambda s: "answers (turn 2)" in s.text and "generating" not in s.text,
                   "an answer after the 429 (the failed turn left out of the history)", 20)

def leave_input(c):
    c.keys("Escape")
    c.wait_for(lambda s: "Enter types" in s.text, "Esc leaving the input line")


def command(c, text):
    c.keys(":")
    c.type(text)
    c.keys("Enter")


@test
def chat_sessions_named_listed_resumed():
    state = tempfile.mkdtemp(prefix="labdeck-tui-state-")
    try:
        with Console(lab(), env={"XDG_STATE_HOME": state}) as c:
            open_chat(c)
            ask(c, "where do the backups go")
            c.wait_for(lambda s: "labsim-qwen2.5:14b answers" in s.text
                       and "generating" not in s.text, "the first answer", 20)
            check("unsaved" in c.capture().line(0), "a new conversation is not called unsaved")
            leave_input(c)
            # Naming the conversation on screen keeps it, answer included.
            command(c, "session lab-notes")
            s = c.wait_for(lambda s: "lab-notes" in s.line(0), "the title naming the session")
            path = os.path.join(state, "labdeck", "sessions", "lab-notes.json")
            c.term.wait_value(lambda: os.path.exists(path) or None, "the session file written")
            stored = open(path).read()
            check("where do the backups go" in stored and "labsim-qwen2.5:14b answers" in stored,
                  "the session file lacks the question or the answer: %r" % stored[:300])
            # A new conversation, then the list: S shows lab-notes with its 2 messages.
            leave_input(c)
            command(c, "new")
            c.wait_for(lambda s: "unsaved" in s.line(0) and "backups" not in s.text,
                       ":new starting an empty conversation")
            leave_input(c)
            c.keys("S")
            s = c.wait_for(lambda s: "sessions 1" in s.line(0), "S opening the sessions list")
            s = c.wait_for(lambda s: any("lab-notes" in l and " 2 " in l for l in s.lines),
                           "lab-notes listed with 2 messages")
            # R renames it.
            c.keys("R")
            c.wait_for(lambda s: "rename lab-notes to: lab-notes" in s.text, "the rename prompt")
            c.keys("C-u")
            c.type("backups")
            c.keys("Enter")
            c.wait_for(lambda s: any("backups" in l and " 2 " in l for l in s.lines)
                       and not any("lab-notes" in l for l in s.lines[1:]), "renamed to backups")
            check(os.path.exists(os.path.join(state, "labdeck", "sessions", "backups.json"))
                  and not os.path.exists(path), "the file was not renamed")
            # Enter resumes it: the earlier question is back, and the next turn carries it.
            c.keys("Enter")
            s = c.wait_for(lambda s: "backups" in s.line(0) and "[4 chat]" in s.line(0)
                           and "where do the backups go" in s.text, "Enter resuming the session")
            c.keys("Enter")
            ask(c, "and how often")
            c.wait_for(lambda s: "answers (turn 2)" in s.text and "generating" not in s.text,
                       "the resumed history sent with the next question", 20)
            # d asks, y deletes.
            leave_input(c)
            c.keys("S")
            c.wait_for(lambda s: any("backups" in l and " 4 " in l for l in s.lines),
                       "the session with 4 messages")
            c.keys("d")
            c.wait_for(lambda s: "delete session backups (4 messages)?" in s.text,
                       "d asking before deleting")
            c.keys("y")
            c.wait_for(lambda s: "no saved conversations yet" in s.text, "y deleting it")
            check(not os.path.exists(os.path.join(state, "labdeck", "sessions", "backups.json")),
                  "the file is still there after delete")
            c.keys("Escape")
            c.wait_for(lambda s: "[4 chat]" in s.line(0) and "unsaved" in s.line(0),
                       "Esc back to the chat, now unsaved")
    finally:
        shutil.rmtree(state, ignore_errors=True)


DOC = ("# GPU passthrough on Proxmox\n\n" + " ".join(
    ["To pass the iGPU through to a VM, add hostpci0 with the PCI address c5:00.0 to the VM's "
     "config and enable IOMMU in the kernel command line; the guest then sees the device."] * 6)
    + "\n\n# Kubernetes upgrades\n\n" + " ".join(
    ["Drain each node, upgrade kubeadm on the control plane first, then the kubelet on every "
     "node, and uncordon it again."] * 6) + "\n")


@test
def chat_documents_sources_and_saving():
    lb = lab()
    state = tempfile.mkdtemp(prefix="labdeck-tui-state-")
    try:
        doc = os.path.join(state, "gpu.md")
        with open(doc, "w") as f:
            f.write(DOC)
        env = dict(os.environ, XDG_STATE_HOME=state, LABDECK_CONFIG="")
        r = subprocess.run([LABDECK, "--config", lb.config, "rag", "ingest", doc], env=env,
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "rag ingest failed: %s %s" % (r.stdout, r.stderr))
        with Console(lb, env={"XDG_STATE_HOME": state}) as c:
            open_chat(c)
            leave_input(c)
            c.keys("p")
            c.wait_for(lambda s: "gemini-2.5-pro" in s.line(0), "p switching to gemini")
            c.keys("R")
            s = c.wait_for(lambda s: "docs" in s.line(0), "R turning documents on (title)")
            c.keys("Enter")
            ask(c, "how do I pass the GPU through to a VM")
            s = c.wait_for(lambda s: "sources:" in s.text and "generating" not in s.text
                           and "condensing" not in s.text, "an answer with its sources", 30)
            body = " ".join(chat_body(s, c.h))
            check("GPU passthrough on Proxmox" in body, "the nearest source is not listed:\n%s" % s)
            m = re.search(r"saved (\d+)%", status_line(s))
            check(m and int(m.group(1)) > 0, "the meter shows no saving: %r" % status_line(s))
            check(re.search(r"local [\d.]+k? tok", status_line(s)), "no local tokens counted "
                  "(condensing): %r" % status_line(s))
    finally:
        shutil.rmtree(state, ignore_errors=True)


@test
def chat_redis_going_away():
    lb = lab()
    redis = services.redis()
    cfg = lb.write_config(open(lb.config).read() + "\n[redis]\nurl = %s\n" % redis.url)
    try:
        with Console(lb, config=cfg) as c:
            open_chat(c)
            s = c.wait_for(lambda s: "redis ✓" in status_line(s), "redis ok on the status line")
            leave_input(c)
            command(c, "session gone-away")
            c.wait_for(lambda s: "gone-away" in s.line(0), "the session named")
            ask(c, "first question")
            c.wait_for(lambda s: "answers" in s.text and "generating" not in s.text,
                       "the first answer", 20)
            redis.stop()
            ask(c, "second question")
            s = c.wait_for(lambda s: "answers (turn 2)" in s.text and "generating" not in s.text
                           and "(unsaved)" in s.line(0),
                           "the chat going on without Redis, the title saying (unsaved)", 30)
            s = c.wait_for(lambda s: "redis ✗" in status_line(s), "redis failing on the status line")
            redis.start()
            ask(c, "third question")
            c.wait_for(lambda s: "answers (turn 3)" in s.text and "generating" not in s.text
                       and "(unsaved)" not in s.line(0),
                       "Redis back: the next answer saves the whole conversation", 30)
    finally:
        if redis.proc is None or redis.proc.poll() is not None:
            redis.start()

def select_guest(c, vmid):
    c.keys("2")
    c.wait_for(lambda s: "[2 guests]" in s.line(0) and " %d " % vmid in s.text, "the guests view")
    c.keys("g")
    return select_where(c, lambda l: re.match(r"\s*%d\s" % vmid, l), "for guest %d" % vmid)


@test
def guest_power_actions_confirmed_followed_logged():
    lb = Lab("--churn", "0")  # its own lab: this test changes guests' states
    try:
        with Console(lb, w=140) as c:  # wide enough for the log's DETAIL column
            c.first_frame()
            select_guest(c, 103)  # win11, stopped
            c.keys("U")
            c.wait_for(lambda s: "start VM 103 (win11) on pve-a? y confirms" in s.line(c.h - 1),
                       "U asking before starting 103")
            c.keys("n")
            c.wait_for(lambda s: "nothing done" in s.line(c.h - 1), "n doing nothing")
            time.sleep(0.3)
            posts = [r for r in lb.requests("proxmox") if r["method"] == "POST"]
            check(posts == [], "a declined start sent %r" % posts)
            c.keys("U")
            c.wait_for(lambda s: "y confirms" in s.line(c.h - 1), "U asking again")
            c.keys("y")
            s = c.wait_for(lambda s: "⟳ start guest 103 (win11) on pve-a" in status_line(s),
                           "the running action on the status line")
            s = c.wait_for(lambda s: "start guest 103 (win11) on pve-a: OK" in s.line(c.h - 1),
                           "the end announced", 20)
            c.wait_for(lambda s: any(re.match(r"\s*103\s.*running", l) for l in s.lines),
                       "103 shown running", 15)
            posts = [r for r in lb.requests("proxmox") if r["method"] == "POST"]
            check(len(posts) == 1 and posts[0]["path"].endswith("/qemu/103/status/start"),
                  "exactly one start POST: %r" % [p["path"] for p in posts])
            # Stop cuts the power: the name must be typed; a wrong name does nothing.
            select_guest(c, 103)
            c.keys("X")
            c.wait_for(lambda s: "type win11 and Enter to confirm" in s.line(c.h - 1),
                       "X asking for the name")
            c.type("win10")
            c.keys("Enter")
            c.wait_for(lambda s: "did not match" in s.line(c.h - 1), "a wrong name refused")
            c.keys("X")
            c.type("win11")
            c.keys("Enter")
            c.wait_for(lambda s: "stop guest 103 (win11) on pve-a: OK" in s.line(c.h - 1),
                       "the stop done", 20)
            # A task that fails: its exit status and a log line, in the log view too.
            lb._admin("POST", "/proxmox/tasks", {"fail": {"exitstatus": "start failed: "
                                                          "QEMU exited with code 1",
                                                          "log": ["kvm: cannot allocate memory"],
                                                          "count": 1}})
            select_guest(c, 103)
            c.keys("U")
            c.keys("y")
            c.wait_for(lambda s: "start failed: QEMU exited with code 1" in s.line(c.h - 1),
                       "the failed task's exit status", 20)
            c.keys("A")
            s = c.wait_for(lambda s: "[actions" in s.line(0) or "actions 3" in s.line(0),
                           "A opening the action log")
            s = c.wait_for(lambda s: "actions 3 (0 running)" in s.line(0), "three actions")
            rows = [l for l in s.lines if re.match(r"\d+s ago ", l)]
            check(len(rows) == 3 and "✗" in rows[0] and "✓" in rows[1] and "✓" in rows[2],
                  "the log, newest first, with how each ended:\n%s" % s)
            check("cannot allocate memory" in s.text, "the failing log line is shown:\n%s" % s)
        with Console(lb, args=("--readonly",)) as c:
            c.first_frame()
            select_guest(c, 103)
            c.keys("U")
            c.wait_for(lambda s: "refused, labdeck runs read-only" in s.line(c.h - 1),
                       "--readonly refusing at once")
    finally:
        lb.close()

# More tests live in tests_*.py beside this file, one per view (views 5-8, ...): they are read
# into this module's namespace, so they use Console, lab(), @test and the helpers above as the
# tests here do.
for _f in sorted(os.listdir(HERE)):
    if _f.startswith("tests_") and _f.endswith(".py"):
        with open(os.path.join(HERE, _f)) as _fh:
            exec(compile(_fh.read(), os.path.join(HERE, _f), "exec"), globals())

# --- main -------------------------------------------------------------------------------------

def main():
    global LABDECK
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labdeck", required=True, help="the labdeck binary")
    ap.add_argument("-k", action="append", default=[], metavar="NAME",
                    help="run only tests whose name contains NAME (repeatable)")
    ap.add_argument("-v", action="store_true", help="print a traceback on failure")
    ap.add_argument("--part", default="1/1", metavar="I/N",
                    help="run only the I-th of N interleaved shares of the tests (scripts/test "
                         "runs shares side by side)")
    opts = ap.parse_args()
    part, parts = (int(x) for x in opts.part.split("/"))
    LABDECK = os.path.abspath(opts.labdeck)
    if not os.access(LABDECK, os.X_OK):
        print("FAIL setup: %s is not executable" % LABDECK)
        return 1
    if not shutil.which("tmux"):
        print("FAIL setup: tmux is not installed")
        return 1
    tests = [t for t in TESTS if not opts.k or any(k in t.__name__ for k in opts.k)]
    tests = [t for i, t in enumerate(tests) if i % parts == part - 1]
    # What this process runs (after -k and --part), for tests that share a console across cells
    # and close it after the last one they run.
    globals()["SELECTED"] = [t.__name__ for t in tests]
    passed = failed = 0
    t_all = time.monotonic()
    try:
        for t in tests:
            t0 = time.monotonic()
            try:
                t()
                passed += 1
                print("ok %s (%.1f s)" % (t.__name__, time.monotonic() - t0), flush=True)
            except Fail as e:
                failed += 1
                print("FAIL %s: %s" % (t.__name__, e), flush=True)
                if opts.v:
                    traceback.print_exc()
            except Exception as e:  # a harness error is a failure too, with its cause
                failed += 1
                print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e), flush=True)
                traceback.print_exc()
    finally:
        for lb in LABS.values():
            lb.close()
    print("# %.0f s" % (time.monotonic() - t_all))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
