"""Integration tests of `labdeck rag ingest` and `rag query`: labsim's Ollama for embeddings,
PGlite (PostgreSQL + pgvector) and the local index file for storage."""
import json
import os
import re
import secrets
import shutil
import tempfile

import services
from itest import check, run, sanitizer_clean, test

DOCS = {
    "proxmox-gpu.md": """# iGPU passthrough on Proxmox

How to pass the Intel iGPU of the Ryzen host through to the inference VM.

## Enable IOMMU

Add amd_iommu=on iommu=pt to the kernel command line of the Proxmox host and reboot it.

## Bind the iGPU to vfio-pci

Bind the iGPU (0000:c5:00.0) to vfio-pci so the host driver does not claim it, then pass it
through with qm set 102 --hostpci0 0000:c5:00.0,pcie=1 and start the VM.
""",
    "k8s-upgrade.md": """# Upgrading Kubernetes

Drain each node with kubectl drain, upgrade kubeadm, kubelet and kubectl, then uncordon it.

## Control plane first

Run kubeadm upgrade plan, then kubeadm upgrade apply on the control plane node.
""",
    "ollama-models.md": """# Ollama models

The lab runs qwen2.5:14b for chat, exaone3.5:7.8b for summaries and bge-m3 for embeddings.

## 한국어 요약

요약 모델은 엑사원입니다. Keep the embedder loaded with keep_alive -1.
""",
}

K8S_CHANGED = """# Backing up etcd

Take an etcd snapshot every night with etcdctl snapshot save and copy the snapshot to the NAS.
"""

IGPU_QUESTION = "how do I pass the iGPU through"


class Docs:
    """The three Markdown documents in a directory of their own."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="labdeck-rag-docs-")
        for name, text in DOCS.items():
            self.write(name, text)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w", encoding="utf-8") as f:
            f.write(text)

    def all(self):
        return [self.path(n) for n in sorted(DOCS)]

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def lab_config_without(lab, *sections):
    """The lab's labdeck.ini without the named sections."""
    out, skip = [], False
    with open(lab.config) as f:
        for line in f:
            m = re.match(r"\s*\[([^\]]+)\]", line)
            if m:
                skip = m.group(1).strip() in sections
            if not skip:
                out.append(line)
    return "".join(out)


def rag_config(lab, postgres=None, table=None, top_k=3, ollama_url=None, embed_model=None,
               redis=None):
    text = lab_config_without(lab, "rag", "ollama", "redis")
    text += "\n[ollama]\nurl = %s\nembed_model = %s\n" % (
        ollama_url or lab.state["ollama"]["url"], embed_model or "bge-m3")
    text += "\n[rag]\ntop_k = %d\n" % top_k
    if postgres:
        text += "postgres = %s\n" % postgres
    if table:
        text += "table = %s\n" % table
    if redis:
        text += "\n[redis]\nurl = %s\ncache_ttl = 600\n" % redis
    return lab.write_config(text)


def embed_requests(lab):
    return [r for r in lab.requests("ollama") if r.get("path", "").startswith("/api/embed")]


def embedded_texts(reqs):
    """The texts a list of /api/embed requests sent, in order."""
    out = []
    for r in reqs:
        out.extend(json.loads(r["body"])["input"])
    return out


def by_path(doc):
    return {os.path.basename(f["path"]): f for f in doc["files"]}


def check_query_shape(r, want):
    check(r.code == 0, "query exits 0", r)
    doc = r.json()
    chunks = doc["chunks"]
    check(len(chunks) == want, "%d chunks (top_k)" % want, r)
    for c in chunks:
        for key in ("id", "title", "text", "distance"):
            check(key in c, "key %s in a chunk" % key, c)
        check(isinstance(c["id"], int), "id is a number", c)
        check(isinstance(c["distance"], float) and 0.0 <= c["distance"] <= 2.0,
              "distance is a cosine distance", c)
    d = [c["distance"] for c in chunks]
    check(d == sorted(d), "nearest first", d)
    return chunks


def ingest_query_reingest(lab, cfg, env=None):
    """The whole story against one store: ingest, query, ingest again, change a file."""
    docs = Docs()
    try:
        before = len(embed_requests(lab))
        r = run("rag", "ingest", "--json", *docs.all(), config=cfg, env=env)
        check(r.code == 0, "ingest exits 0", r)
        files = by_path(r.json())
        check(set(files) == set(DOCS), "one entry per file", r)
        for name, f in files.items():
            check(f["status"] == "added", "%s added" % name, f)
            check(f["chunks"] >= 1, "%s has chunks" % name, f)
        check(files["proxmox-gpu.md"]["chunks"] == 3, "a chunk per section of proxmox-gpu.md",
              files)
        # all the chunks of a file go in one /api/embed request (batched)
        check(len(embed_requests(lab)) - before == 3, "one embed request per file", r)
        sanitizer_clean(r)

        r = run("rag", "query", "--json", IGPU_QUESTION, config=cfg, env=env)
        chunks = check_query_shape(r, 3)
        check(chunks[0]["source"].endswith("proxmox-gpu.md"), "proxmox-gpu.md first", r)
        check("iGPU" in chunks[0]["title"] or "iGPU" in chunks[0]["text"],
              "the nearest chunk is about the iGPU", chunks[0])
        sanitizer_clean(r)

        # the table for a person: rank, distance, title, source, then an excerpt
        r = run("rag", "query", IGPU_QUESTION, config=cfg, env=env)
        check(r.code == 0, "query exits 0", r)
        first = r.out.splitlines()[0]
        check(re.match(r"^1\. 0\.\d{4}  iGPU passthrough on Proxmox", first)
              and "proxmox-gpu.md" in first, "first row: distance, title, file", r)
        check(len(r.out.splitlines()) == 6, "three chunks, two lines each", r)

        # Hangul goes in and comes back whole
        r = run("rag", "query", "--json", "요약 모델은 엑사원입니다", config=cfg, env=env)
        chunks = check_query_shape(r, 3)
        check(chunks[0]["title"] == "Ollama models > 한국어 요약", "Hangul title", chunks[0])
        check("요약 모델은 엑사원입니다." in chunks[0]["text"], "Hangul text", chunks[0])

        # again, unchanged: skipped, and nothing is embedded
        before = len(embed_requests(lab))
        r = run("rag", "ingest", *docs.all(), config=cfg, env=env)
        check(r.code == 0, "second ingest exits 0", r)
        for name in DOCS:
            check(re.search(r"%s: \d+ chunks?, unchanged$" % re.escape(name), r.out, re.M),
                  "%s unchanged" % name, r)
        check(len(embed_requests(lab)) == before, "nothing embedded for unchanged files", r)

        # k8s-upgrade.md now says something else: its chunks are replaced, the others stay
        docs.write("k8s-upgrade.md", K8S_CHANGED)
        r = run("rag", "ingest", "--json", *docs.all(), config=cfg, env=env)
        check(r.code == 0, "third ingest exits 0", r)
        files = by_path(r.json())
        check(files["k8s-upgrade.md"]["status"] == "replaced" and
              files["k8s-upgrade.md"]["chunks"] == 1, "k8s-upgrade.md replaced by one chunk",
              files)
        check(files["proxmox-gpu.md"]["status"] == "unchanged", "proxmox-gpu.md unchanged",
              files)
        r = run("rag", "query", "--json", "etcd snapshot backup", config=cfg, env=env)
        chunks = check_query_shape(r, 3)
        check(chunks[0]["source"].endswith("k8s-upgrade.md") and "etcdctl" in chunks[0]["text"],
              "the new text is found", chunks[0])
        r = run("rag", "query", "--json", "kubeadm upgrade plan control plane", config=cfg,
                env=env)
        chunks = check_query_shape(r, 3)
        check(not any("kubeadm" in c["text"] for c in chunks), "the old chunks are gone", r)
        k8s = [c for c in chunks if c["source"].endswith("k8s-upgrade.md")]
        check(len(k8s) <= 1, "k8s-upgrade.md has only its one new chunk", r)

        # the query from standard input
        r = run("rag", "query", "--json", "-", config=cfg, env=env, stdin=IGPU_QUESTION + "\n")
        chunks = check_query_shape(r, 3)
        check(chunks[0]["source"].endswith("proxmox-gpu.md"), "stdin query", r)
        sanitizer_clean(r)
    finally:
        docs.close()


@test
def rag_pgvector(lab):
    pg = services.postgres()
    table = "rag_it_" + secrets.token_hex(4)
    cfg = rag_config(lab, postgres=pg.conninfo, table=table)
    ingest_query_reingest(lab, cfg)
    r = run("rag", "query", IGPU_QUESTION, config=cfg)
    check("local index" not in r.err, "PostgreSQL, not the local index", r)


@test
def rag_local_index(lab):
    state = tempfile.mkdtemp(prefix="labdeck-rag-state-")
    try:
        env = {"XDG_STATE_HOME": state}
        cfg = rag_config(lab)
        r = run("rag", "query", "anything", config=cfg, env=env)
        check(r.code == 0 and r.out == "", "an empty index answers with nothing", r)
        check(r.err.count("[rag] postgres is not set: using the local index") == 1,
              "says once that it uses the local index", r)
        check("nothing is stored" in r.err, "and that nothing is stored yet", r)
        ingest_query_reingest(lab, cfg, env=env)
        check(os.path.exists(os.path.join(state, "labdeck", "rag-index.bin")),
              "the index is under $XDG_STATE_HOME/labdeck", state)

        # a damaged index: a clear error naming the file, exit 3
        path = os.path.join(state, "labdeck", "rag-index.bin")
        with open(path, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0xFF]))
        r = run("rag", "query", IGPU_QUESTION, config=cfg, env=env)
        check(r.code == 3, "exit 3 on a damaged index", r)
        check(path in r.err and "damaged" in r.err, "the message names the file", r)
        sanitizer_clean(r)
    finally:
        shutil.rmtree(state, ignore_errors=True)


@test
def rag_postgres_down(lab):
    pg = services.postgres()
    password = "Sup3r-s3cret-" + secrets.token_hex(4)
    # a URI with a host name (looked up without blocking) and a password
    uri = "postgresql://postgres:%s@localhost:%d/postgres?sslmode=disable" % (password, pg.port)
    cfg = rag_config(lab, postgres=uri, table="rag_it_down")
    docs = Docs()
    try:
        # the URI form works (PGlite takes any password)
        r = run("rag", "ingest", docs.path("proxmox-gpu.md"), config=cfg)
        check(r.code == 0, "ingest through a URI", r)
        pg.stop()
        for args in (("rag", "query", IGPU_QUESTION), ("rag", "ingest", *docs.all()),
                     ("rag", "query", "--json", IGPU_QUESTION)):
            r = run(*args, config=cfg, timeout=30)
            check(r.code == 3, "exit 3 with PostgreSQL down: %s" % " ".join(args[:2]), r)
            lines = [l for l in r.err.splitlines() if l.strip()]
            check(len(lines) == 1, "one line on stderr", r)
            check("localhost:%d" % pg.port in lines[0] and "PostgreSQL" in lines[0],
                  "the message names PostgreSQL's host and port", r)
            check(password not in r.err and password not in r.out, "never the password", r)
            check(r.elapsed < 10, "fails fast", r)
            sanitizer_clean(r)
        check(r.json()["chunks"] == [] and r.json()["errors"], "JSON says so too", r)
    finally:
        pg.restart()
        docs.close()


@test
def rag_ollama_down(lab):
    state = tempfile.mkdtemp(prefix="labdeck-rag-state-")
    docs = Docs()
    try:
        env = {"XDG_STATE_HOME": state}
        cfg = rag_config(lab, ollama_url="http://127.0.0.1:%d" % services.free_port())
        r = run("rag", "query", IGPU_QUESTION, config=cfg, env=env)
        check(r.code == 3, "exit 3 with Ollama down", r)
        check("ollama" in r.err, "the message names Ollama", r)
        r = run("rag", "ingest", "--json", docs.path("k8s-upgrade.md"), config=cfg, env=env)
        check(r.code == 3, "ingest: exit 3 with Ollama down", r)
        check(r.json()["files"][0]["status"] == "error", "the file is not stored", r)
        sanitizer_clean(r)

        # a model Ollama does not have: its own message, and how to get it
        cfg = rag_config(lab, embed_model="no-such-embedder")
        r = run("rag", "ingest", docs.path("k8s-upgrade.md"), config=cfg, env=env)
        check(r.code == 1, "exit 1 for a missing model", r)
        check("no-such-embedder" in r.err and "ollama pull" in r.err, "says to pull it", r)
    finally:
        docs.close()
        shutil.rmtree(state, ignore_errors=True)


@test
def rag_usage(lab):
    cfg = rag_config(lab)
    for args, what in ((("rag",), "subcommand"), (("rag", "ingest"), "FILE"),
                       (("rag", "query"), "TEXT"), (("rag", "frobnicate"), "frobnicate")):
        r = run(*args, config=cfg)
        check(r.code == 2, "exit 2 for %s" % " ".join(args), r)
        check(what in r.err, "the message says what is missing", r)
    state = tempfile.mkdtemp(prefix="labdeck-rag-state-")
    try:
        r = run("rag", "ingest", "/nonexistent/notes.md", config=cfg,
                env={"XDG_STATE_HOME": state})
        check(r.code == 2, "exit 2 for a file that is not there", r)
        check("/nonexistent/notes.md" in r.err, "names the file", r)
    finally:
        shutil.rmtree(state, ignore_errors=True)


@test
def rag_embed_faults(lab):
    """Ollama answering badly: a clear message and exit 3, nothing stored."""
    state = tempfile.mkdtemp(prefix="labdeck-rag-state-")
    docs = Docs()
    env = {"XDG_STATE_HOME": state}
    cfg = rag_config(lab)
    try:
        for kind, params, says in (("malformed", {}, "not JSON"),
                                   ("status", {"code": 500}, "500"),
                                   ("truncated", {}, "ollama")):
            lab.fault("ollama", kind, path="/api/embed", count=1, **params)
            r = run("rag", "ingest", "--json", docs.path("proxmox-gpu.md"), config=cfg, env=env)
            lab.clear()
            check(r.code == 3, "exit 3 on a %s answer" % kind, r)
            check(says in r.err and "ollama" in r.err, "the message says what went wrong", r)
            check(r.json()["files"][0]["status"] == "error", "not stored", r)
            sanitizer_clean(r)
        # the next try, with Ollama well again, stores the file
        r = run("rag", "ingest", "--json", docs.path("proxmox-gpu.md"), config=cfg, env=env)
        check(r.code == 0 and r.json()["files"][0]["status"] == "added", "stored now", r)
    finally:
        lab.clear()
        docs.close()
        shutil.rmtree(state, ignore_errors=True)


def cached_doc(nonce):
    """Three sections, each with a word of its own, so that another run (or another test on the
    same Redis) never finds these chunks in the cache."""
    return """# Cache notes %s

## Backups

Back up the etcd snapshot %s to the NAS every night.

## Upgrades

Upgrade kubelet on node-b after draining it (%s).

## Models

Keep bge-m3 loaded for embeddings (%s).
""" % ((nonce,) * 4)


@test
def rag_embedding_cache(lab):
    """With Redis, a changed file sends only its new chunks to /api/embed, and a repeated query
    does not embed its text again."""
    rd = services.redis()
    state = tempfile.mkdtemp(prefix="labdeck-rag-state-")
    docs = Docs()
    env = {"XDG_STATE_HOME": state}
    cfg = rag_config(lab, redis=rd.url)
    nonce = secrets.token_hex(6)
    try:
        docs.write("notes.md", cached_doc(nonce))
        before = len(embed_requests(lab))
        r = run("rag", "ingest", "--json", docs.path("notes.md"), config=cfg, env=env)
        check(r.code == 0 and r.json()["files"][0]["status"] == "added"
              and r.json()["files"][0]["chunks"] == 3, "ingested, three chunks", r)
        check(r.json()["errors"] == [], "no errors", r)
        first = embedded_texts(embed_requests(lab)[before:])
        check(len(first) == 3, "the first ingest embeds all three chunks", first)
        sanitizer_clean(r)

        # one paragraph changes: only its chunk is embedded again
        changed = cached_doc(nonce).replace("after draining it", "after cordoning and draining "
                                            "it with kubectl drain --ignore-daemonsets")
        docs.write("notes.md", changed)
        before = len(embed_requests(lab))
        r = run("rag", "ingest", "--json", docs.path("notes.md"), config=cfg, env=env)
        check(r.code == 0, "re-ingest exits 0", r)
        f = r.json()["files"][0]
        check(f["status"] == "replaced" and f["chunks"] == 3, "replaced, still three chunks", f)
        sent = embedded_texts(embed_requests(lab)[before:])
        check(len(sent) == 1 and "--ignore-daemonsets" in sent[0],
              "only the changed chunk went to /api/embed", sent)
        check(not any("etcd snapshot" in t or "bge-m3 loaded" in t for t in sent),
              "the unchanged chunks came from the cache", sent)
        sanitizer_clean(r)

        # and the stored chunks are right: the new text is found, with the cached ones beside it
        r = run("rag", "query", "--json", "kubectl drain ignore daemonsets cordoning", config=cfg,
                env=env)
        chunks = check_query_shape(r, 3)
        check("--ignore-daemonsets" in chunks[0]["text"], "the new paragraph is found", chunks[0])
        check(any("etcd snapshot %s" % nonce in c["text"] for c in chunks),
              "the cached chunks are stored too", chunks)

        # the same query twice: its text is embedded once
        question = "where do the etcd snapshots %s go" % nonce
        before = len(embed_requests(lab))
        r1 = run("rag", "query", "--json", question, config=cfg, env=env)
        r2 = run("rag", "query", "--json", question, config=cfg, env=env)
        sent = embedded_texts(embed_requests(lab)[before:])
        check(sent == [question], "one /api/embed request for two identical queries", sent)
        c1, c2 = check_query_shape(r1, 3), check_query_shape(r2, 3)
        check(c1 == c2, "the cached vector finds the same chunks", (c1, c2))
        check("etcd snapshot" in c1[0]["text"], "the nearest chunk answers the question", c1[0])
        sanitizer_clean(r2)
    finally:
        docs.close()
        shutil.rmtree(state, ignore_errors=True)


@test
def rag_embedding_cache_redis_down(lab):
    """Redis not there: ingest and query work as without a cache, and fast."""
    state = tempfile.mkdtemp(prefix="labdeck-rag-state-")
    docs = Docs()
    env = {"XDG_STATE_HOME": state}
    cfg = rag_config(lab, redis="redis://127.0.0.1:%d/0" % services.free_port())
    try:
        before = len(embed_requests(lab))
        r = run("rag", "ingest", "--json", *docs.all(), config=cfg, env=env)
        check(r.code == 0, "ingest exits 0 with Redis down", r)
        check(r.json()["errors"] == [], "no errors", r)
        check(all(f["status"] == "added" for f in r.json()["files"]), "every file added", r)
        check(len(embed_requests(lab)) - before == 3, "every file embedded by Ollama", r)
        check(r.elapsed < 5, "no wait on the missing Redis", r)
        sanitizer_clean(r)
        for _ in range(2):
            r = run("rag", "query", "--json", IGPU_QUESTION, config=cfg, env=env)
            chunks = check_query_shape(r, 3)
            check(chunks[0]["source"].endswith("proxmox-gpu.md"), "the query works", r)
            check(r.json()["errors"] == [], "no errors", r)
            sanitizer_clean(r)
    finally:
        docs.close()
        shutil.rmtree(state, ignore_errors=True)
