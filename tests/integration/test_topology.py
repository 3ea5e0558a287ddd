"""Integration tests of `labdeck topology`: the tree against labsim, matching by each rule and the
unmatched case, every warning through labsim's knobs, and a backend down."""
import re

from itest import check, run, sanitizer_clean, test, test_alone
from lab import Lab

GiB = 2 ** 30


def alone(fn):
    """A test that changes labsim's state: a lab of its own."""
    def wrap():
        lab = Lab()
        try:
            fn(lab)
        finally:
            lab.close()
    wrap.__name__ = fn.__name__
    return test_alone(wrap)


def guests_of(doc):
    return {g["vmid"]: dict(g, host=h["name"]) for h in doc["hosts"] for g in h["guests"]}


def with_topology(lab, section):
    """The lab's config plus a [topology] section."""
    base = open(lab.config).read()
    base = re.sub(r"\[topology\]\n(?:[;a-z].*\n)*", "", base)  # labsim's own section
    return lab.write_config(base + "\n[topology]\n" + section + "\n")


@test
def topology_json_matches_by_address(lab):
    r = run("topology", "--json", config=lab.config)
    check(r.code == 0, "exit 0", r)
    doc = r.json()
    for key in ("hosts", "unmatched_nodes", "warnings", "errors"):
        check(key in doc, "key " + key, r)
    check(doc["errors"] == [], "no errors", r)
    check([h["name"] for h in doc["hosts"]] == ["pve-a", "pve-b"], "two hosts in order", r)
    a = doc["hosts"][0]
    check(a["cpus"] == 12 and 30 * GiB < a["mem_total"] <= 32 * GiB, "pve-a's capacity", a)
    # running guests on pve-a: 101 (6 vCPUs, 16 GiB), 110 (1, 512 MiB), 112 (1, 1 GiB)
    check(a["alloc_cpus"] == 8, "8 vCPUs given on pve-a (stopped win11 not counted)", a)
    check(a["alloc_mem"] == 16 * GiB + GiB // 2 + GiB, "17.5 GiB given on pve-a", a)
    g = guests_of(doc)
    check(set(g) == {101, 102, 103, 104, 110, 111, 112}, "every guest", r)
    check(g[102]["host"] == "pve-b" and g[102]["passthrough"] == ["0000:c5:00.0", "0000:c5:00.1"],
          "102 on pve-b with its iGPU", g[102])
    check(g[103]["k8s_node"] is None and g[110]["k8s_node"] is None, "no node in win11/dns", r)
    na, nb = g[101]["k8s_node"], g[102]["k8s_node"]
    check(na and na["name"] == "k8s-node-a" and na["match"] == "address", "101 holds node a by address", na)
    check(nb and nb["name"] == "k8s-node-b" and nb["match"] == "address", "102 holds node b by address", nb)
    check(abs(nb["alloc_cpu"] - 7.8) < 1e-9, "allocatable 7800m", nb)
    check(nb["usage_cpu"] is not None and nb["usage_mem"] > 0, "metrics usage", nb)
    models = [w for w in nb["workloads"] if w["namespace"] == "models"]
    # its pod: ollama (4 cores, 16 GiB) and a small sidecar, summed
    check(len(models) == 1 and models[0]["name"] == "models" and models[0]["kind"] == "Deployment"
          and 4 <= models[0]["requests_cpu"] < 4.5 and 16 * GiB <= models[0]["requests_mem"] < 17 * GiB,
          "the models Deployment (RS name minus hash)", models)
    check(nb["requests_cpu"] >= 4 and nb["requests_mem"] >= 16 * GiB, "node sums include it", nb)
    check(doc["unmatched_nodes"] == [], "nothing unmatched", r)
    sanitizer_clean(r)


@test
def topology_config_rule_and_models(lab):
    cfg = with_topology(lab, "k8s-node-b = 102\nollama = 102")
    r = run("topology", "--json", config=cfg)
    check(r.code == 0, "exit 0", r)
    g = guests_of(r.json())
    check(g[102]["k8s_node"]["match"] == "config", "102 by [topology]", g[102]["k8s_node"])
    check(g[101]["k8s_node"]["match"] == "address", "101 still by address", g[101]["k8s_node"])
    models = g[102]["models"]
    check(len(models) >= 1, "Ollama's loaded models on 102", g[102])
    for m in models:
        check(set(m) >= {"name", "size", "size_vram", "expires_at"} and m["size"] > 0, "model shape", m)
    check(all(x["models"] == [] for v, x in g.items() if v != 102), "models on 102 only", r)
    t = run("topology", config=cfg)
    check(t.code == 0, "text exit 0", t)
    check(re.search(r"^\s+model \S+ loaded", t.out, re.M), "models in the text tree", t)


@alone
def topology_name_rule_and_unmatched(lab):
    lab._admin("POST", "/proxmox/guest", {"vmid": 101, "agent": False})
    lab._admin("POST", "/proxmox/guest", {"vmid": 102, "agent": False, "name": "gpu-vm"})
    r = run("topology", "--json", config=lab.config)
    check(r.code == 0, "exit 0: a guest without agent is no error", r)
    doc = r.json()
    check(doc["errors"] == [], "no errors", r)
    g = guests_of(doc)
    check(g[101]["k8s_node"]["match"] == "name", "no agent: 101 by its name", g[101]["k8s_node"])
    check(g[102]["k8s_node"] is None, "renamed, no agent: 102 holds nothing", g[102])
    check(doc["unmatched_nodes"] == ["k8s-node-b"], "node b unmatched", doc["unmatched_nodes"])
    t = run("topology", config=lab.config)
    check(re.search(r"^Kubernetes nodes in no guest.*\n\s+node k8s-node-b", t.out, re.M),
          "text lists the unmatched node", t)


@alone
def topology_warnings_through_knobs(lab):
    r = run("topology", "--json", config=lab.config)
    check(r.json()["warnings"] == [], "the seed has no warning", r)
    # pve-b: 16 threads, 62.6 GiB; 102 grows to 70 vCPUs and ~68 GiB
    lab._admin("POST", "/proxmox/guest", {"vmid": 102, "cores": 70, "memory_mib": 70000})
    # node b's requests (4.6 cores, ~17 GiB) over a shrunken allocatable
    lab._admin("POST", "/kubernetes/node", {"name": "k8s-node-b", "alloc_cpu_m": 4000,
                                            "alloc_mem_ki": 16 * 1024 * 1024})
    r = run("topology", "--json", config=lab.config)
    check(r.code == 0, "warnings do not fail the command", r)
    ws = r.json()["warnings"]

    def find(subject, pattern):
        return [w for w in ws if w["subject"] == subject and re.search(pattern, w["message"])]

    mem = find("pve-b", r"memory given to running guests .* > ")
    check(mem and mem[0]["level"] == "warn", "pve-b memory overcommitted", ws)
    cpu = find("pve-b", r"70 vCPUs given to running guests on 16 threads")
    check(cpu and cpu[0]["level"] == "warn", "pve-b vCPUs overcommitted", ws)
    req = find("node k8s-node-b", r"CPU requests .* > ")
    check(req and req[0]["level"] == "crit", "node b CPU requests over allocatable: crit", ws)
    mreq = find("node k8s-node-b", r"memory requests .* > ")
    check(mreq and mreq[0]["level"] == "crit", "node b memory requests over allocatable", ws)
    lim = find("node k8s-node-b", r"memory limits .* > allocatable")
    check(lim and lim[0]["level"] == "warn", "node b memory limits over allocatable", ws)
    check(not [w for w in ws if w["subject"].startswith("pve-a") or "k8s-node-a" in w["subject"]],
          "nothing about pve-a or node a", ws)
    t = run("topology", config=lab.config)
    check(re.search(r"^Warnings:$", t.out, re.M), "a warnings section", t)
    check(re.search(r"^\s+CRIT node k8s-node-b: CPU requests", t.out, re.M), "CRIT word", t)
    check(re.search(r"^\s+WARN pve-b: memory given", t.out, re.M), "WARN word", t)


@alone
def topology_backend_down_keeps_the_rest(lab):
    lab.fault("kubernetes", "status", code=503, path="/api/v1/pods", count=50)
    r = run("topology", "--json", config=lab.config)
    check(r.code == 3, "exit 3: a backend failed", r)
    doc = r.json()
    check(any(e["backend"] == "kubernetes" for e in doc["errors"]), "kubernetes in errors", r)
    check(len(doc["hosts"]) == 2, "Proxmox hosts still there", r)
    g = guests_of(doc)
    nb = g[102]["k8s_node"]
    check(nb and nb["workloads"] == [] and nb["requests_cpu"] == 0, "nodes without pods", nb)
    check(re.search(r"^labdeck: .*503", r.err, re.M), "stderr names the failure", r)
    lab.clear()
    lab.fault("proxmox", "status", code=401, path="/api2/json/cluster/resources", count=50)
    r = run("topology", "--json", config=lab.config)
    check(r.code == 4, "exit 4: authentication", r)
    doc = r.json()
    check(any(e["backend"] == "proxmox" for e in doc["errors"]), "proxmox in errors", r)
    check(doc["hosts"] == [] and set(doc["unmatched_nodes"]) == {"k8s-node-a", "k8s-node-b"},
          "no hosts; both nodes unmatched but listed", doc)


@alone
def topology_model_warnings(lab):
    """The inference guest shrunk to 12 GiB: the loaded models (bge-m3 and qwen2.5:14b, about
    13 GB with their KV caches) no longer fit its memory (crit), and loading exaone3.5 would not
    fit in what is left (warn) — each warning names the model and the numbers that cross."""
    lab._admin("POST", "/proxmox/guest", {"vmid": 102, "memory_mib": 12288})
    cfg = with_topology(lab, "ollama = 102")
    r = run("topology", "--json", config=cfg)
    check(r.code == 0, "exit 0", r)
    doc = r.json()
    g = guests_of(doc)[102]
    check(g["mem_total"] == 12 * GiB, "102 has 12 GiB now", g)
    loaded = sum(m["size"] for m in g["models"])
    check(loaded > 12 * GiB, "the loaded models are larger than the guest", g["models"])
    warns = {w["subject"]: w for w in doc["warnings"]}
    crit = [w for w in doc["warnings"] if w["level"] == "crit" and "loaded models" in w["message"]]
    check(len(crit) == 1 and "102" in crit[0]["subject"] and "12Gi" in crit[0]["message"],
          "crit: loaded models over the guest's memory, with both figures", doc["warnings"])
    fit = warns.get("model exaone3.5:7.8b")
    check(fit and fit["level"] == "warn" and "would not fit" in fit["message"]
          and "4.4Gi" in fit["message"] and "of 12Gi" in fit["message"],
          "warn: exaone would not fit, with its size and the guest's", doc["warnings"])
    check("model qwen2.5:14b" not in warns, "a loaded model is not warned about loading", warns)
    t = run("topology", config=cfg)
    check(re.search(r"(?m)^\s*CRIT .*loaded models", t.out) and "would not fit" in t.out,
          "both warnings in the text form", t)
    sanitizer_clean(r)
