#!/usr/bin/env python3
"""Console benchmarks: labdeck's full-screen console on a pty, every byte it writes timestamped.

    tests/bench/console.py --labdeck build/labdeck [--pods 10000] [--idle 60] [--size 80x24]

Measures, against labsim with --pods N (churn and log lines off, so nothing moves but the clock):
  (a) exec -> first frame (first output holding the title bar "labdeck"), median of 5, against the
      lab and against a config whose every backend is a closed 127.0.0.1 port;
  (b) keystroke -> frame: `j` in the pods view, 200 times, each after the previous frame settled:
      write -> first output byte, and write -> end of frame (no byte for 5 ms); p50/p99;
  (c) filter keystrokes over N pods: `/`, a word typed char by char, Ctrl-U, Esc; 50 times;
  (d) RSS: VmRSS 30 s after start (steady) and VmHWM (peak) from /proc/PID/status;
  (e) CPU over --idle seconds on the dashboard with the default refresh (utime+stime), % of a core;
  (f) bytes written for a small change (a `j` frame; one character typed at the : prompt) and
      bytes per second while idle.
Prints a table with the targets next to the figures. It never fails on a figure: the exit status
is 0 unless the harness itself breaks. Python 3 standard library only; 127.0.0.1 only.
"""
import argparse
import datetime
import fcntl
import os
import select
import shutil
import signal
import socket
import statistics
import struct
import sys
import tempfile
import termios
import time

sys.dont_write_bytecode = True  # nothing written into the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from lab import Lab  # noqa: E402

QUIET = 0.005  # a frame has ended when no byte came for 5 ms
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Harness(Exception):
    pass


def pct(values, p):
    """The p-th percentile (nearest rank) of values."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


class Console:
    """labdeck on a fresh pty; read() drains and timestamps everything it writes."""

    def __init__(self, labdeck, config, cols, rows, home):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
               "TERM": "tmux-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        self.t_exec = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                os.closerange(3, 256)
                os.execve(labdeck, [labdeck, "--config", config], env)
            finally:
                os._exit(127)
        os.close(slave)
        self.pid, self.fd = pid, master
        self.chunks = []  # (perf_counter time, bytes)
        self.total = 0

    def read(self, timeout):
        """Reads what is there within timeout; returns the bytes (b"" if none)."""
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return b""
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError:
            raise Harness("the console's pty closed (labdeck exited?)")
        if not data:
            raise Harness("the console's pty closed")
        now = time.perf_counter()
        self.chunks.append((now, data))
        self.total += len(data)
        return data

    def drain(self, quiet=QUIET, limit=5.0):
        """Reads until nothing came for `quiet` seconds; returns (bytes, time of the last byte)."""
        out = b""
        last = None
        end = time.perf_counter() + limit
        while time.perf_counter() < end:
            d = self.read(quiet)
            if not d:
                break
            out += d
            last = self.chunks[-1][0]
        return out, last

    def pump(self, seconds):
        """Reads everything for `seconds`; returns the bytes."""
        out = b""
        end = time.perf_counter() + seconds
        while True:
            left = end - time.perf_counter()
            if left <= 0:
                return out
            out += self.read(min(left, 0.1))

    def wait_output(self, needle, timeout):
        """Reads until needle appears in what came since the call; returns its arrival time."""
        buf = b""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            d = self.read(0.05)
            buf += d
            if needle in buf:
                return self.chunks[-1][0]
        raise Harness("no %r within %.0f s" % (needle, timeout))

    def key(self, data):
        """Writes a key; returns (write time, latency to the first byte, to the end of the frame,
        frame bytes). Waits for the frame: up to 2 s for its first byte."""
        t0 = time.perf_counter()
        os.write(self.fd, data)
        first = None
        out = b""
        end = t0 + 2.0
        while first is None and time.perf_counter() < end:
            d = self.read(0.05)
            if d:
                first = self.chunks[-1][0]
                out += d
        if first is None:
            raise Harness("no frame within 2 s after %r" % data)
        rest, last = self.drain()
        out += rest
        last = last or first
        return t0, first - t0, last - t0, out

    def settle(self, quiet=0.05, limit=10.0):
        self.drain(quiet, limit)

    def redraw_until(self, needle, timeout):
        """Ctrl-L (full redraw) until a frame holds needle (ncurses writes only changed cells, so
        a full redraw is the way to see the whole screen in the byte stream)."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            os.write(self.fd, b"\x0c")
            out, _ = self.drain(0.1, 3.0)
            if needle in out:
                return
            self.pump(0.4)
        raise Harness("no frame with %r within %.0f s" % (needle, timeout))

    def status(self):
        with open("/proc/%d/status" % self.pid) as f:
            return {l.split(":")[0]: l.split(":", 1)[1].strip() for l in f}

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.pid) as f:
            st = f.read()
        fields = st[st.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def close(self):
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        end = time.perf_counter() + 5
        while time.perf_counter() < end:
            try:
                self.read(0.05)
            except Harness:
                pass
            p, _ = os.waitpid(self.pid, os.WNOHANG)
            if p:
                break
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # bound, never listening, now closed: connecting is refused
    return port


def unreachable_config(lab):
    """labsim's config and kubeconfig with every server moved to a closed loopback port."""
    with open(lab.config) as f:
        ini = f.read()
    with open(lab.state["kubeconfig"]) as f:
        kube = f.read()
    ini = ini.replace(lab.state["proxmox"]["url"], "https://127.0.0.1:%d" % closed_port())
    kube = kube.replace(lab.state["kubernetes"]["url"], "https://127.0.0.1:%d" % closed_port())
    kpath = os.path.join(lab.dir, "kubeconfig-unreachable")
    with open(kpath, "w") as f:
        f.write(kube)
    os.chmod(kpath, 0o600)
    ini = ini.replace(lab.state["kubeconfig"], kpath)
    return lab.write_config(ini)


def first_frame(labdeck, config, size, home, runs=5):
    times = []
    for _ in range(runs):
        c = Console(labdeck, config, size[0], size[1], home)
        try:
            t = c.wait_output(b"labdeck", 10)
            times.append(t - c.t_exec)
        finally:
            c.close()
    return times


def fmt_ms(x):
    return "%.1f ms" % (x * 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labdeck", required=True)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of idle measurement")
    ap.add_argument("--size", default="80x24", help="terminal COLSxROWS")
    ap.add_argument("--keys", type=int, default=200, help="j presses")
    ap.add_argument("--filters", type=int, default=50, help="filter rounds")
    opts = ap.parse_args()
    labdeck = os.path.abspath(opts.labdeck)
    cols, rows = (int(x) for x in opts.size.split("x"))
    home = tempfile.mkdtemp(prefix="labdeck-bench-home-")
    print("labsim --pods %d --churn 0 --log-interval 0 ..." % opts.pods, flush=True)
    lab = Lab("--pods", str(opts.pods), "--churn", "0", "--log-interval", "0", timeout=120)
    res = {}
    try:
        # (a) first frame
        ff_lab = first_frame(labdeck, lab.config, (cols, rows), home)
        ff_down = first_frame(labdeck, unreachable_config(lab), (cols, rows), home)
        res["ff_lab"] = statistics.median(ff_lab)
        res["ff_down"] = statistics.median(ff_down)
        print("first frame: lab %s, unreachable %s (runs: %s | %s)" % (
            fmt_ms(res["ff_lab"]), fmt_ms(res["ff_down"]),
            " ".join(fmt_ms(x) for x in ff_lab), " ".join(fmt_ms(x) for x in ff_down)), flush=True)

        c = Console(labdeck, lab.config, cols, rows, home)
        try:
            t_start = c.t_exec
            # The pods are in when the dashboard's PODS section counts them all.
            c.redraw_until(b"%d:" % opts.pods, 120)
            res["load"] = time.perf_counter() - t_start
            print("all %d pods on the dashboard after %.2f s" % (opts.pods, res["load"]), flush=True)
            c.key(b"3")
            c.settle(0.2)

            # (b) j in the pods view
            first_b, frame_t, frame_bytes = [], [], []
            for _ in range(opts.keys):
                _, f, e, out = c.key(b"j")
                first_b.append(f)
                frame_t.append(e)
                frame_bytes.append(len(out))
                c.settle(0.01)
            res["j_first"] = (pct(first_b, 50), pct(first_b, 99))
            res["j_frame"] = (pct(frame_t, 50), pct(frame_t, 99))
            res["j_bytes"] = statistics.median(frame_bytes)
            print("j: first byte p50 %s p99 %s; frame end p50 %s p99 %s; %d bytes (median)" % (
                fmt_ms(res["j_first"][0]), fmt_ms(res["j_first"][1]), fmt_ms(res["j_frame"][0]),
                fmt_ms(res["j_frame"][1]), res["j_bytes"]), flush=True)

            # (c) filter keystrokes
            word = b"gateway"
            f_first, f_frame, clear_frame = [], [], []
            for _ in range(opts.filters):
                c.key(b"/")
                c.settle(0.01)
                for ch in word:
                    _, f, e, _ = c.key(bytes([ch]))
                    f_first.append(f)
                    f_frame.append(e)
                    c.settle(0.01)
                _, f, e, _ = c.key(b"\x15")  # Ctrl-U: the whole list comes back
                clear_frame.append(e)
                c.settle(0.01)
                c.key(b"\x1b")  # Esc (its frame waits for ESCDELAY; not counted)
                c.settle(0.06)
            res["f_first"] = (pct(f_first, 50), pct(f_first, 99))
            res["f_frame"] = (pct(f_frame, 50), pct(f_frame, 99))
            res["f_clear"] = (pct(clear_frame, 50), pct(clear_frame, 99))
            print("filter: char frame p50 %s p99 %s (first byte p50 %s p99 %s); Ctrl-U p50 %s p99 %s" % (
                fmt_ms(res["f_frame"][0]), fmt_ms(res["f_frame"][1]), fmt_ms(res["f_first"][0]),
                fmt_ms(res["f_first"][1]), fmt_ms(res["f_clear"][0]), fmt_ms(res["f_clear"][1])),
                flush=True)

            # (f) one character typed at the : prompt (then erased), 20 times: the median
            c.key(b":")
            c.settle(0.05)
            sizes = []
            for _ in range(20):
                _, _, _, out = c.key(b"x")
                sizes.append(len(out))
                c.settle(0.01)
                c.key(b"\x7f")
                c.settle(0.01)
            res["cmd_char_bytes"] = statistics.median(sizes)
            c.key(b"\x1b")
            c.settle(0.1)

            # (d) RSS 30 s after start, on the dashboard
            c.key(b"1")
            left = 30 - (time.perf_counter() - t_start)
            if left > 0:
                c.pump(left)
            st = c.status()
            res["rss"] = int(st["VmRSS"].split()[0]) / 1024.0
            res["hwm"] = int(st["VmHWM"].split()[0]) / 1024.0
            print("RSS %.1f MB steady, %.1f MB peak" % (res["rss"], res["hwm"]), flush=True)

            # (e) idle CPU and bytes on the dashboard
            c.settle(0.2)
            cpu0, b0, t0 = c.cpu_seconds(), c.total, time.perf_counter()
            c.pump(opts.idle)
            cpu1, b1, t1 = c.cpu_seconds(), c.total, time.perf_counter()
            res["idle_cpu"] = (cpu1 - cpu0) / (t1 - t0) * 100
            res["idle_bps"] = (b1 - b0) / (t1 - t0)
            print("idle %.0f s: CPU %.2f %% of a core, %.0f bytes/s" % (
                t1 - t0, res["idle_cpu"], res["idle_bps"]), flush=True)
        finally:
            c.close()
    finally:
        lab.close()
        shutil.rmtree(home, ignore_errors=True)

    ok = lambda good: "yes" if good else "**no**"  # noqa: E731
    table = [
        ("first frame, %d pods (median of 5)" % opts.pods, "≤ 50 ms", fmt_ms(res["ff_lab"]),
         ok(res["ff_lab"] <= 0.05)),
        ("first frame, every backend unreachable", "≤ 50 ms", fmt_ms(res["ff_down"]),
         ok(res["ff_down"] <= 0.05)),
        ("`j` → end of frame, p50 / p99", "p99 ≤ 5 ms",
         "%s / %s" % (fmt_ms(res["j_frame"][0]), fmt_ms(res["j_frame"][1])), ok(res["j_frame"][1] <= 0.005)),
        ("`j` → first byte, p50 / p99", "", "%s / %s" % (fmt_ms(res["j_first"][0]), fmt_ms(res["j_first"][1])), ""),
        ("filter char → end of frame, p50 / p99", "p99 ≤ 30 ms",
         "%s / %s" % (fmt_ms(res["f_frame"][0]), fmt_ms(res["f_frame"][1])), ok(res["f_frame"][1] <= 0.03)),
        ("filter cleared (Ctrl-U) → end of frame, p50 / p99", "p99 ≤ 30 ms",
         "%s / %s" % (fmt_ms(res["f_clear"][0]), fmt_ms(res["f_clear"][1])), ok(res["f_clear"][1] <= 0.03)),
        ("RSS steady (VmRSS at 30 s)", "≤ 32 MB", "%.1f MB" % res["rss"], ok(res["rss"] <= 32)),
        ("RSS peak (VmHWM)", "≤ 64 MB", "%.1f MB" % res["hwm"], ok(res["hwm"] <= 64)),
        ("idle CPU on the dashboard (%.0f s)" % opts.idle, "≤ 0.5 %", "%.2f %%" % res["idle_cpu"],
         ok(res["idle_cpu"] <= 0.5)),
        ("bytes for a `j` frame (median)", "≤ 64 B", "%d B" % res["j_bytes"], ok(res["j_bytes"] <= 64)),
        ("bytes for one character at the `:` prompt", "≤ 64 B", "%d B" % res["cmd_char_bytes"],
         ok(res["cmd_char_bytes"] <= 64)),
        ("bytes per second while idle", "≤ 1 KB/s", "%.0f B/s" % res["idle_bps"], ok(res["idle_bps"] <= 1024)),
    ]
    print()
    print("console, %s, %d pods, %s (labsim on loopback, pty, TERM=tmux-256color)" % (
        opts.size, opts.pods, datetime.date.today().isoformat()))
    print()
    print("| what | target | measured | met |")
    print("| --- | --- | ---: | --- |")
    for row in table:
        print("| %s | %s | %s | %s |" % row)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Harness as e:
        print("console.py: harness error: %s" % e, file=sys.stderr)
        sys.exit(2)
