"""Integration tests of chat with sessions (files and Redis), the response cache (Redis) and
retrieval with the cost-saving pipeline (condense vs direct), against labsim and real Redis."""
import json
import os
import stat
import tempfile

import services
from itest import check, run, test

DOCS = {
    "proxmox-gpu.md": "# GPU passthrough on Proxmox\n\n" + " ".join(
        ["To pass the iGPU through to a VM, add hostpci0 with the PCI address c5:00.0 to the "
         "VM's config and enable IOMMU in the kernel command line; the guest then sees the "
         "device as its own and the host can no longer use it for its console."] * 4) +
    "\n\n## Checking it\n\n" + " ".join(
        ["Run lspci inside the guest after a reboot and look for the Intel graphics device; "
         "dmesg on the host shows vfio-pci taking the device when the VM starts."] * 4),
    "k8s-upgrade.md": "# Upgrading Kubernetes\n\n" + " ".join(
        ["Drain each node, upgrade kubeadm on the control plane first, apply the plan, then "
         "upgrade the kubelet on every node and uncordon it again."] * 5),
    "ollama-models.md": "# Models in Ollama\n\n" + " ".join(
        ["bge-m3 makes the embeddings, exaone3.5 condenses context locally, and qwen2.5 "
         "answers chat; keep_alive decides how long a model stays in memory."] * 5),
}


def config_with(lab, extra):
    text = open(lab.config).read() + "\n" + extra + "\n"
    return lab.write_config(text)


def state_env():
    d = tempfile.mkdtemp(prefix="labdeck-state-")
    return {"XDG_STATE_HOME": d}, d


def chat_json(cfg, env, *args):
    r = run("chat", "--json", *args, config=cfg, env=env)
    return r, (r.json() if r.out.strip().startswith("{") else None)


@test
def chat_session_in_files(lab):
    env, d = state_env()
    r, doc = chat_json(lab.config, env, "--session", "work", "hello there")
    check(r.code == 0 and doc, "first turn", r)
    r, doc = chat_json(lab.config, env, "--session", "work", "and again")
    check(r.code == 0 and "(turn 2)" in doc["text"], "the history went with the second turn", r)
    path = os.path.join(d, "labdeck", "sessions", "work.json")
    check(os.path.exists(path), "session stored under $XDG_STATE_HOME/labdeck/sessions", None)
    check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, "session file is private", None)
    stored = json.load(open(path))
    text = json.dumps(stored)
    check("hello there" in text and "and again" in text, "both questions kept", stored)
    r = run("chat", "--session", "bad/name", "x", config=lab.config, env=env)
    check(r.code == 2, "a bad session name is a usage error", r)


@test
def chat_session_in_redis_survives_redis_going_away(lab):
    rd = services.redis()
    cfg = config_with(lab, "[redis]\nurl = %s\n" % rd.url)
    env, _ = state_env()
    r, doc = chat_json(cfg, env, "--session", "r1", "--no-cache", "first question")
    check(r.code == 0, "first turn in Redis", r)
    r, doc = chat_json(cfg, env, "--session", "r1", "--no-cache", "second question")
    check(r.code == 0 and "(turn 2)" in doc["text"], "history read back from Redis", r)
    rd.stop()
    try:
        r, doc = chat_json(cfg, env, "--session", "r1", "--no-cache", "third question")
        check(doc and doc["text"], "the chat goes on with Redis gone", r)
        check(r.code == 3, "exit 3: the session could not be read", r)
        check("redis" in r.err.lower() and "without the session" in r.err, "says so", r)
    finally:
        rd.restart()
    # A throwaway Redis comes back empty: the chat reconnects on its own and stores again.
    r, doc = chat_json(cfg, env, "--session", "r1", "--no-cache", "fourth question")
    check(r.code == 0, "reconnected after Redis came back", r)
    r, doc = chat_json(cfg, env, "--session", "r1", "--no-cache", "fifth question")
    check(r.code == 0 and "(turn 2)" in doc["text"], "the session is stored again", r)


@test
def chat_cache_answers_the_second_time(lab):
    rd = services.redis()
    cfg = config_with(lab, "[redis]\nurl = %s\ncache_ttl = 600\n" % rd.url)
    env, _ = state_env()
    lab.clear()
    q = "what is cached in the lab %d" % os.getpid()
    r1, d1 = chat_json(cfg, env, "--provider", "gemini", q)
    r2, d2 = chat_json(cfg, env, "--provider", "gemini", q)
    check(r1.code == 0 and r2.code == 0, "both answered", (r1, r2))
    calls = [x for x in lab.requests("gemini") if "generatecontent" in x["path"].lower()]
    check(len(calls) == 1, "labsim saw one request for two identical questions", calls)
    check(d2["cached"] and not d1["cached"], "the second is marked cached", d2)
    check(d2["text"] == d1["text"], "the same answer", (d1["text"], d2["text"]))
    check(d2["cloud_tokens"] == 0, "a cached answer costs no cloud tokens", d2)
    r3, d3 = chat_json(cfg, env, "--provider", "gemini", "--no-cache", q)
    calls = [x for x in lab.requests("gemini") if "generatecontent" in x["path"].lower()]
    check(len(calls) == 2 and not d3["cached"], "--no-cache asks again", calls)


def ingest(cfg, env, d):
    paths = []
    for name, text in DOCS.items():
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(text)
        paths.append(p)
    r = run("rag", "ingest", *paths, config=cfg, env=env)
    check(r.code == 0, "ingest", r)


@test
def chat_rag_condense_sends_fewer_cloud_tokens(lab):
    env, d = state_env()
    condense = config_with(lab, "[rag]\npipeline = condense\ntop_k = 3\n")
    direct = config_with(lab, "[rag]\npipeline = direct\ntop_k = 3\n")
    ingest(condense, env, d)
    q = "how do I pass the iGPU through to a VM"
    rc, dc = chat_json(condense, env, "--provider", "gemini", "--rag", q)
    rd_, dd = chat_json(direct, env, "--provider", "gemini", "--rag", q)
    check(rc.code == 0 and rd_.code == 0, "both answered", (rc, rd_))
    check(dc["sources"] and dc["sources"][0]["title"].startswith("GPU passthrough"),
          "the right document is the first source", dc["sources"])
    check(dc["rag"]["pipeline"] == "condense" and dd["rag"]["pipeline"] == "direct",
          "pipelines as configured", (dc.get("rag"), dd.get("rag")))
    check(dc["local_tokens"] > 0, "condensing was done by a local model", dc)
    saved = dd["usage"]["prompt_tokens"] - dc["usage"]["prompt_tokens"]
    check(saved > 0, "condense sent fewer prompt tokens to Gemini (%d vs %d)" % (
        dc["usage"]["prompt_tokens"], dd["usage"]["prompt_tokens"]))
    print("# cloud prompt tokens: condense %d, direct %d, saved %d (%.0f%%)" % (
        dc["usage"]["prompt_tokens"], dd["usage"]["prompt_tokens"], saved,
        100.0 * saved / dd["usage"]["prompt_tokens"]))


@test
def chat_rag_with_postgres_down_still_answers(lab):
    env, _ = state_env()
    port = services.free_port()
    cfg = config_with(lab, "[rag]\npostgres = host=127.0.0.1 port=%d dbname=lab user=lab "
                      "connect_timeout=2\n" % port)
    r, doc = chat_json(cfg, env, "--rag", "anything about the lab")
    check(r.code == 0 and doc and doc["text"], "the chat answers without context", r)
    check("warning" in r.err and "without retrieved context" in r.err, "RAG off, with a reason", r)
    check(doc["sources"] == [], "no sources", doc)
