#!/usr/bin/env python3
"""RAG benchmarks: `labdeck rag ingest` and `labdeck rag query` over 10,000 chunks.

    tests/bench/rag.py --labdeck build/labdeck [--files 100] [--sections 100] [--queries 50]
                       [--store both|local|postgres]

Generates FILES Markdown files of SECTIONS sections each (one chunk per section: 10,000 chunks by
default; made-up words, so that every section has words of its own), then, for each store:
  (a) ingest: `labdeck rag ingest` of all files in one run against labsim's Ollama (/api/embed,
      1024-dimensional vectors, batches of 16); wall time, chunks/s, labdeck's CPU time and
      peak RSS (/usr/bin/time). The share of the wall time spent in /api/embed is
      estimated by replaying the very request bodies labsim recorded, one after another as
      labdeck sends them, from this script on one kept-alive connection (labsim's work and
      the loopback transfer, without labdeck);
  (b) query: QUERIES runs of `labdeck rag query --json` (six words of a random section each, no
      cache), wall median / p95, peak RSS, and how often the section the words came from is
      the first hit (a sanity check, not a benchmark).
Stores: (a) PostgreSQL + pgvector, served by PGlite (started as tests/integration/services.py
does; needs `npm ci` in tests/pglite), and (b) the local index file, in a temporary
$XDG_STATE_HOME. Prints the figures and the machine; never fails on a figure. Python 3 standard
library only; 127.0.0.1 only. Not part of scripts/test.
"""
import argparse
import datetime
import http.client
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.dont_write_bytecode = True  # nothing written into the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from lab import Lab  # noqa: E402
import services  # noqa: E402


def pct(values, p):
    """The p-th percentile (nearest rank) of values."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%d CPUs (nproc), %s" % (os.cpu_count() or 0, model)


def make_words(rng, n):
    """n distinct pronounceable made-up words."""
    cons, vows = "bcdfghklmnprstvz", "aeiou"
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(cons) + rng.choice(vows) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def generate(dirpath, n_files, n_sections, rng):
    """Writes the Markdown files; returns (paths, sections) where sections[i] is (file name,
    heading, words of the body)."""
    vocab = make_words(rng, 5000)
    common = ["the", "node", "cluster", "backup", "upgrade", "pod", "disk", "network", "model"]
    paths, sections = [], []
    for fi in range(n_files):
        name = "notes-%03d.md" % fi
        out = ["# Notes %d\n" % fi]
        for si in range(n_sections):
            own = rng.sample(vocab, 12)
            body = []
            for _ in range(rng.randint(40, 60)):
                body.append(rng.choice(own) if rng.random() < 0.6 else rng.choice(common))
            heading = "Section %d %s" % (si, own[0])
            out.append("\n## %s\n\n%s.\n" % (heading, " ".join(body).capitalize()))
            sections.append((name, heading, own))
        path = os.path.join(dirpath, name)
        with open(path, "w") as f:
            f.write("".join(out))
        paths.append(path)
    return paths, sections


TIME = "/usr/bin/time"


def run_measured(argv, env):
    """Runs argv under /usr/bin/time (a small C program: the child's peak RSS is its own; a
    wait4 from Python would report at least Python's, which an exec keeps as the high-water
    mark); returns (wall s, user+sys s, peak RSS MB, exit status, stdout, stderr)."""
    with tempfile.NamedTemporaryFile(prefix="labdeck-bench-time-") as tf, \
            tempfile.TemporaryFile() as errf:
        t0 = time.monotonic()
        p = subprocess.run([TIME, "-f", "%U %S %M", "-o", tf.name] + argv, env=env,
                           stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        errf.seek(0)
        err = errf.read().decode("utf-8", "replace")
        fields = open(tf.name).read().split()[-3:]
        user, sys_, rss_kb = float(fields[0]), float(fields[1]), float(fields[2])
    return (wall, user + sys_, rss_kb / 1024.0, p.returncode, p.stdout.decode("utf-8", "replace"),
            err)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime of a running process (all its threads), in seconds; 0 when unknown."""
    if not pid:
        return 0.0
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def embed_requests(lab):
    return [r for r in lab.requests("ollama") if r.get("path", "").startswith("/api/embed")]


def replay(url, bodies):
    """Sends the recorded /api/embed bodies one after another on one kept-alive connection, as
    labdeck does; returns the seconds it took (labsim's work and the loopback transfer)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    t0 = time.monotonic()
    for b in bodies:
        conn.request("POST", "/api/embed", body=b.encode("utf-8"),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit("replay: /api/embed answered %d" % r.status)
    conn.close()
    return time.monotonic() - t0


def config(lab, postgres=None, table=None):
    """The lab's labdeck.ini with [ollama] and [rag] of our own and no [redis] (no cache)."""
    out, skip = [], False
    with open(lab.config) as f:
        for line in f:
            s = line.strip()
            if s.startswith("[") and s.endswith("]"):
                skip = s[1:-1].strip() in ("ollama", "rag", "redis")
            if not skip:
                out.append(line)
    text = "".join(out)
    text += "\n[ollama]\nurl = %s\nembed_model = bge-m3\n" % lab.state["ollama"]["url"]
    text += "\n[rag]\ntop_k = 5\n"
    if postgres:
        text += "postgres = %s\ntable = %s\n" % (postgres, table)
    return lab.write_config(text)


def bench_store(args, lab, what, cfg, env, paths, sections, rng, server_pid=None):
    base = [os.path.abspath(args.labdeck), "--config", cfg]
    lab.clear()
    lab_cpu0, server_cpu0 = proc_cpu(lab.proc.pid), proc_cpu(server_pid)
    wall, cpu, rss, code, out, err = run_measured(base + ["rag", "ingest", "--json"] + paths, env)
    lab_cpu, server_cpu = proc_cpu(lab.proc.pid) - lab_cpu0, proc_cpu(server_pid) - server_cpu0
    if code != 0:
        raise SystemExit("%s: ingest failed (exit %d): %s" % (what, code, err[-2000:]))
    doc = json.loads(out)
    chunks = sum(f["chunks"] for f in doc["files"])
    reqs = embed_requests(lab)
    bodies = [r["body"] for r in reqs]
    truncated = sum(1 for r in reqs if r.get("body_length", 0) > len(r["body"].encode("utf-8")))
    embed_s = replay(lab.state["ollama"]["url"], bodies) if not truncated else float("nan")
    res = {
        "store": what, "chunks": chunks, "ingest_wall": wall, "ingest_cpu": cpu,
        "ingest_rss": rss, "embed_requests": len(reqs), "embed_replay": embed_s,
    }
    print("%s: ingested %d chunks in %.1f s (%.0f chunks/s), labdeck CPU %.1f s, peak RSS "
          "%.1f MB; %d /api/embed requests, replayed alone in %.1f s (%.0f%% of the wall time)"
          % (what, chunks, wall, chunks / wall, cpu, rss, len(reqs), embed_s,
             100.0 * embed_s / wall), flush=True)
    print("%s: CPU during the ingest: labdeck %.1f s, labsim %.1f s%s" % (
        what, cpu, lab_cpu, ", PGlite %.1f s" % server_cpu if server_pid else ""), flush=True)
    res.update(lab_cpu=lab_cpu, server_cpu=server_cpu)

    walls, rsss, cpus, first = [], [], [], 0
    for i in range(args.queries):
        name, heading, own = rng.choice(sections)
        q = " ".join(rng.sample(own, 6))
        w, qc, r, code, out, err = run_measured(base + ["rag", "query", "--json", q], env)
        if code != 0:
            raise SystemExit("%s: query failed (exit %d): %s" % (what, code, err[-2000:]))
        hits = json.loads(out)["chunks"]
        if hits and hits[0]["title"].endswith(heading) and hits[0]["source"].endswith(name):
            first += 1
        walls.append(w)
        rsss.append(r)
        cpus.append(qc)
    res.update(q_median=statistics.median(walls), q_p95=pct(walls, 95), q_rss=max(rsss),
               q_first=first, q_n=args.queries, q_cpu=statistics.median(cpus))
    print("%s: %d queries: wall median %.1f ms, p95 %.1f ms, labdeck CPU median %.0f ms, peak "
          "RSS %.1f MB; the source section first in %d of %d"
          % (what, args.queries, res["q_median"] * 1000, res["q_p95"] * 1000,
             res["q_cpu"] * 1000, res["q_rss"], first, args.queries), flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labdeck", required=True)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--sections", type=int, default=100)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--store", choices=("both", "local", "postgres"), default="both")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (files, local index) and say where")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="labdeck-bench-rag-")
    lab = None
    try:
        docs = os.path.join(work, "docs")
        os.mkdir(docs)
        paths, sections = generate(docs, args.files, args.sections, rng)
        size = sum(os.path.getsize(p) for p in paths)
        print("%s; %d files, %d sections, %.1f MB of Markdown" % (machine(), len(paths),
                                                                   len(sections), size / 1e6))
        lab = Lab("--churn", "0", "--log-interval", "0")
        env = dict(os.environ, LC_ALL="C.UTF-8", XDG_STATE_HOME=os.path.join(work, "state"))
        env.pop("LABDECK_CONFIG", None)
        results = []
        if args.store in ("both", "postgres"):
            pg = services.postgres()
            table = "rag_bench_" + secrets.token_hex(4)
            cfg = config(lab, postgres=pg.conninfo, table=table)
            results.append(bench_store(args, lab, "PostgreSQL (PGlite + pgvector, HNSW)", cfg,
                                       env, paths, sections, rng, server_pid=pg.proc.pid))
        if args.store in ("both", "local"):
            cfg = config(lab)
            results.append(bench_store(args, lab, "local index", cfg, env, paths, sections,
                                       rng))
            idx = os.path.join(work, "state", "labdeck", "rag-index.bin")
            if os.path.exists(idx):
                print("local index file: %.1f MB" % (os.path.getsize(idx) / 1e6))

        print()
        print("| %s | store | ingest wall | chunks/s | share in /api/embed | ingest peak RSS "
              "| query median / p95 | query CPU | query peak RSS |" % datetime.date.today())
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in results:
            print("| | %s | %.1f s | %.0f | %.0f%% | %.1f MB | %.0f / %.0f ms | %.0f ms | %.1f MB |"
                  % (r["store"], r["ingest_wall"], r["chunks"] / r["ingest_wall"],
                     100.0 * r["embed_replay"] / r["ingest_wall"], r["ingest_rss"],
                     r["q_median"] * 1000, r["q_p95"] * 1000, r["q_cpu"] * 1000, r["q_rss"]))
    finally:
        if lab:
            lab.close()
        if args.keep:
            print("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
