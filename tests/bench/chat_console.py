#!/usr/bin/env python3
"""The chat view under a long conversation: labdeck's console on a pty against labsim's Ollama.

    tests/bench/chat_console.py --labdeck build/labdeck [--fill 50] [--tokens 2000]
                                [--turns 5] [--stream-tokens 1000] [--chunk-ms 2]

First fills the scrollback: --fill answers of --tokens tokens, streamed as fast as labsim can
write them. Then, with that long conversation on screen, asks --turns more questions answered one
token every --chunk-ms milliseconds, as a model streams, and measures per answer labdeck's CPU
time (utime+stime from /proc) per token — the whole path from the socket through the NDJSON
parser, the scrollback layout and ncurses to the pty — and bytes written to the terminal per
token. At the end: VmRSS and VmHWM (peak) with the whole conversation in the scrollback, and the
latency of PgUp (a frame over the long scrollback). Prints figures; never fails on one. Python 3
standard library only; 127.0.0.1 only.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from console import Console, Harness, pct  # noqa: E402
from lab import Lab  # noqa: E402


def answer(con, question, quiet, limit=120.0):
    """Types question and Enter; returns (seconds to the end of the answer's frames, bytes)."""
    for ch in question:
        os.write(con.fd, ch.encode())
    con.settle(0.02, 2.0)
    t0 = time.perf_counter()
    os.write(con.fd, b"\r")
    out, last = b"", None
    end = t0 + limit
    while time.perf_counter() < end:
        d, l = con.drain(quiet, 30.0)
        if not d:
            break
        out += d
        last = l
    if last is None:
        raise Harness("no answer to %r" % question)
    return last - t0, len(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labdeck", required=True)
    ap.add_argument("--fill", type=int, default=50, help="answers filling the scrollback")
    ap.add_argument("--tokens", type=int, default=2000, help="tokens per filling answer")
    ap.add_argument("--turns", type=int, default=5, help="streamed answers measured")
    ap.add_argument("--stream-tokens", type=int, default=1000)
    ap.add_argument("--chunk-ms", type=int, default=2, help="ms between streamed tokens")
    ap.add_argument("--size", default="80x24")
    opts = ap.parse_args()
    cols, rows = (int(x) for x in opts.size.split("x"))
    labdeck = os.path.abspath(opts.labdeck)
    lab = Lab("--pods", "0")
    home = tempfile.mkdtemp(prefix="labdeck-bench-home-")
    con = None
    try:
        con = Console(labdeck, lab.config, cols, rows, home)
        con.wait_output(b"labdeck", 15)
        con.settle(0.2, 5)
        con.key(b"4")
        con.settle(0.3, 5)
        t_fill = time.perf_counter()
        c_fill = con.cpu_seconds()
        for i in range(opts.fill):
            answer(con, "fill %d about backups labsim:tokens=%d labsim:chunk_ms=0"
                   % (i, opts.tokens), quiet=0.3)
        t_fill = time.perf_counter() - t_fill
        c_fill = con.cpu_seconds() - c_fill
        fill_tokens = opts.fill * opts.tokens
        times, cpu_per_tok, bytes_per_tok = [], [], []
        n = opts.stream_tokens
        for i in range(opts.turns):
            q = "turn %d about restores labsim:tokens=%d labsim:chunk_ms=%d" % (i, n,
                                                                                 opts.chunk_ms)
            c0 = con.cpu_seconds()
            secs, nbytes = answer(con, q, quiet=0.3)
            c1 = con.cpu_seconds()
            times.append(secs)
            cpu_per_tok.append((c1 - c0) / n * 1e6)
            bytes_per_tok.append(nbytes / n)
        st = con.status()
        pg = []
        os.write(con.fd, b"\x1b")  # leave the input: PgUp scrolls the conversation
        con.settle(0.2, 5)
        for _ in range(20):  # up a page and back: each a frame over the whole scrollback
            _, first, end, _ = con.key(b"\x1b[5~")
            pg.append(end * 1000)
            con.key(b"\x1b[6~")
        print("chat view %s, labsim Ollama over 127.0.0.1" % opts.size)
        print("  fill: %d answers x %d tokens (%d tokens) in %.1f s, labdeck CPU %.2f s (%.1f us "
              "per token)" % (opts.fill, opts.tokens, fill_tokens, t_fill, c_fill,
                              c_fill / max(1, fill_tokens) * 1e6))
        print("  then %d answers x %d tokens, one token every %d ms, with the long scrollback:"
              % (opts.turns, n, opts.chunk_ms))
        print("    answer, Enter -> last frame  median %.2f s" % statistics.median(times))
        print("    labdeck CPU per token        median %.1f us  max %.1f us"
              % (statistics.median(cpu_per_tok), max(cpu_per_tok)))
        print("    terminal bytes per token     median %.1f B" % statistics.median(bytes_per_tok))
        print("  RSS at the end %s, peak (VmHWM) %s" % (st.get("VmRSS"), st.get("VmHWM")))
        print("  PgUp over the long scrollback  median %.2f ms  p99 %.2f ms"
              % (statistics.median(pg), pct(pg, 99)))
    finally:
        if con:
            con.close()
        lab.close()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Harness as e:
        print("harness: %s" % e, file=sys.stderr)
        sys.exit(1)
