"""Integration tests of the status commands (nodes, guests, pods), faults, TLS, configuration."""
import os
import re
import tempfile

from itest import by_name, check, run, sanitizer_clean, test, test_alone_with_lab


# --- the lab as it should look ---------------------------------------------------------------

@test
def nodes_table(lab):
    r = run("nodes", config=lab.config)
    check(r.code == 0, "exit 0", r)
    for name in ("pve-a", "pve-b", "k8s-node-a", "k8s-node-b"):
        check(re.search(r"^%s\s" % name, r.out, re.M), "row for " + name, r)
    check(r.out.splitlines()[0].split()[:3] == ["NAME", "SOURCE", "STATUS"], "header", r)
    check(re.search(r"^pve-a\s+proxmox\s+online\s+12\s", r.out, re.M), "pve-a online, 12 cpus", r)
    check(re.search(r"^k8s-node-a\s+kubernetes\s+Ready", r.out, re.M), "k8s-node-a Ready", r)
    sanitizer_clean(r)


@test
def nodes_json_shape(lab):
    r = run("nodes", "--json", config=lab.config)
    check(r.code == 0, "exit 0", r)
    doc = r.json()
    check(doc["errors"] == [], "no errors", r)
    nodes = by_name(doc["nodes"])
    check(set(nodes) == {"pve-a", "pve-b", "k8s-node-a", "k8s-node-b"}, "four nodes", r)
    for n in doc["nodes"]:
        for key in ("name", "source", "status", "cpu", "mem_used", "mem_total", "uptime"):
            check(key in n, "key %s in %s" % (key, n["name"]))
    a = nodes["pve-a"]
    check(a["source"] == "proxmox" and a["status"] == "online", "pve-a online", a)
    # Proxmox reports what the kernel sees: a little under the nominal 32 GiB.
    check(30 * 2**30 < a["mem_total"] <= 32 * 2**30, "pve-a has ~32 GiB", a)
    check(0.0 <= a["cpu"] <= 1.0, "cpu is a fraction", a)
    check(isinstance(a["uptime"], int) and a["uptime"] > 0, "uptime seconds", a)
    b = nodes["pve-b"]
    check(60 * 2**30 < b["mem_total"] <= 64 * 2**30, "pve-b has ~64 GiB", b)
    k = nodes["k8s-node-a"]
    check(k["source"] == "kubernetes" and k["status"] == "Ready", "k8s node Ready", k)
    check(k["cpu"] is not None and 0.0 <= k["cpu"] <= 1.0, "metrics give cpu", k)
    check(k["mem_used"] and k["mem_total"] and k["mem_used"] < k["mem_total"], "memory", k)


@test
def guests_json_passthrough(lab):
    r = run("guests", "--json", config=lab.config)
    check(r.code == 0, "exit 0", r)
    doc = r.json()
    guests = {g["vmid"]: g for g in doc["guests"]}
    check(len(guests) >= 5, "five guests", r)
    for g in doc["guests"]:
        for key in ("vmid", "name", "type", "node", "status", "cpu", "mem_used", "mem_total",
                    "uptime", "passthrough"):
            check(key in g, "key %s in guest %s" % (key, g.get("vmid")))
        check(isinstance(g["vmid"], int), "vmid is a number (LXC sends a string)", g)
        check(g["type"] in ("qemu", "lxc"), "type", g)
    infer = guests[102]
    check(infer["node"] == "pve-b" and infer["type"] == "qemu", "102 on pve-b", infer)
    check("0000:c5:00.0" in infer["passthrough"], "iGPU passthrough listed", infer)
    check("0000:c5:00.1" in infer["passthrough"], "short form normalised", infer)
    check(guests[101]["passthrough"] == [], "101 has none", guests[101])
    check(any(g["type"] == "lxc" for g in doc["guests"]), "an LXC container", r)


@test
def guests_table_and_node_filter(lab):
    r = run("guests", "--node", "pve-b", config=lab.config)
    check(r.code == 0, "exit 0", r)
    check("0000:c5:00.0" in r.out, "passthrough column", r)
    check("pve-a" not in r.out, "only pve-b", r)
    check(r.out.splitlines()[0].split()[0] == "VMID", "header", r)


@test
def pods_json_all(lab):
    r = run("pods", "--json", config=lab.config)
    check(r.code == 0, "exit 0", r)
    doc = r.json()
    pods = doc["pods"]
    check(len(pods) >= 10, "pods listed", r)
    for p in pods:
        for key in ("namespace", "name", "phase", "ready", "restarts", "node", "age"):
            check(key in p, "key " + key, p)
        check(re.match(r"^\d+/\d+$", p["ready"]), "ready like 1/1", p)
    names = {p["name"] for p in pods}
    for dep in ("gateway", "frontend", "backend", "models"):
        check(any(n.startswith(dep + "-") for n in names), "pods of " + dep, r)
    crash = [p for p in pods if p["phase"] == "CrashLoopBackOff"]
    check(crash and crash[0]["restarts"] == 7, "crash-looping pod with 7 restarts", crash)
    pending = [p for p in pods if p["phase"] == "Pending"]
    check(pending and pending[0]["node"] is None, "pending pod has no node", pending)
    check({"kube-system", "lab", "models"} <= {p["namespace"] for p in pods}, "namespaces", r)


@test
def pods_namespace(lab):
    r = run("pods", "-n", "lab", "--json", config=lab.config)
    check(r.code == 0, "exit 0", r)
    pods = r.json()["pods"]
    check(pods and all(p["namespace"] == "lab" for p in pods), "only lab", r)
    reqs = [q for q in lab.requests("kubernetes") if "/pods" in q["path"]]
    check(any(q["path"].startswith("/api/v1/namespaces/lab/pods") for q in reqs),
          "namespaced list URL", reqs)


@test
def pods_table(lab):
    r = run("pods", config=lab.config)
    check(r.code == 0, "exit 0", r)
    lines = r.out.splitlines()
    check(lines[0].split()[:4] == ["NAMESPACE", "NAME", "READY", "STATUS"], "header", r)
    check(any("CrashLoopBackOff" in line for line in lines), "status column", r)


@test
def requests_look_right(lab):
    lab.clear()
    r = run("nodes", "--json", config=lab.config)
    check(r.code == 0, "exit 0", r)
    pve = lab.requests("proxmox")
    check(pve, "proxmox was asked", pve)
    secret = lab.state["pve_token_secret"]
    for q in pve:
        auth = {k.lower(): v for k, v in q["headers"].items()}.get("authorization")
        check(auth == "PVEAPIToken=root@pam!labdeck=%s" % secret, "API token header", auth)
    paths = [q["path"] for q in pve]
    check(sum(p.startswith("/api2/json/cluster/resources") for p in paths) == 1,
          "one cluster/resources call", paths)
    check(any(p.startswith("/api2/json/nodes/pve-a/status") for p in paths), "node status", paths)
    lab.clear()
    run("pods", config=lab.config)
    k = [q for q in lab.requests("kubernetes") if "/pods" in q["path"]]
    check(k, "pods were listed", k)
    accept = {a.lower(): b for a, b in k[0]["headers"].items()}.get("accept", "")
    check("as=Table" in accept and "g=meta.k8s.io" in accept, "kubectl's Table Accept", accept)
    check("limit=500" in k[0]["path"], "paginated with limit=500", k[0])


@test
def pagination_and_expired_continue(lab):
    before = len(run("pods", "--json", config=lab.config).json()["pods"])
    lab._admin("POST", "/pods", {"count": 1200})
    try:
        lab.clear()
        r = run("pods", "--json", config=lab.config)
        check(r.code == 0, "exit 0", r)
        check(len(r.json()["pods"]) == 1200, "all 1200 pods", len(r.json()["pods"]))
        lists = [q for q in lab.requests("kubernetes") if "/pods" in q["path"]]
        check(len(lists) == 3, "three pages of 500", [q["path"] for q in lists])
        check("continue=" in lists[1]["path"], "continue token sent", lists[1])
        lab.clear()
        lab.fault("kubernetes", "expire_continue", count=1)
        r = run("pods", "--json", config=lab.config)
        check(r.code == 0, "a 410 Expired restarts the list", r)
        pods = r.json()["pods"]
        check(len(pods) == 1200, "no pod lost or doubled", len(pods))
        check(len({(p["namespace"], p["name"]) for p in pods}) == 1200, "no duplicates", None)
    finally:
        lab.clear()
        lab._admin("POST", "/pods", {"count": before})


# --- faults: clear error, right exit status, the other backend still shown ---------------------

def fault_case(lab, backend, kind, expect_code, expect_msg, args=("nodes", "--json"),
               timeout_flag=None, path=None, count=None, max_elapsed=None, **params):
    lab.clear()
    lab.fault(backend, kind, path=path, count=count, **params)
    extra = ["--timeout", str(timeout_flag)] if timeout_flag else []
    try:
        r = run(*extra, *args, config=lab.config, timeout=120)
    finally:
        lab.clear()
    check(r.code == expect_code, "exit %d" % expect_code, r)
    check(re.search(expect_msg, r.err), "stderr says /%s/" % expect_msg, r)
    check(("labdeck: %s:" % backend) in r.err, "error names the backend", r)
    check(r.err.count("\n") <= 3, "a short error, not a dump", r)
    sanitizer_clean(r)
    if max_elapsed is not None:
        check(r.elapsed < max_elapsed, "done within %.0f s (took %.1f)" % (max_elapsed, r.elapsed))
    if args[-1] == "--json":
        doc = r.json()
        check(any(e["backend"] == backend for e in doc["errors"]), "error in JSON", doc["errors"])
        other = "kubernetes" if backend == "proxmox" else "proxmox"
        if args[0] == "nodes":
            check(any(n["source"] == other for n in doc["nodes"]),
                  "the other backend's nodes still shown", doc)
    return r


@test
def fault_proxmox_401(lab):
    fault_case(lab, "proxmox", "status", 4, r"401 .*token_id", code=401)


@test
def fault_kubernetes_403(lab):
    fault_case(lab, "kubernetes", "status", 4, r"403", code=403, path="/api/v1/nodes")


@test
def fault_proxmox_404(lab):
    fault_case(lab, "proxmox", "status", 1, r"404", code=404, path="/api2/json/cluster")


@test
def fault_429_retry_after_then_ok(lab):
    lab.clear()
    lab.fault("kubernetes", "status", path="/api/v1/pods", count=1, code=429, retry_after=1)
    r = run("pods", "--json", config=lab.config)
    check(r.code == 0, "one 429 is waited out", r)
    lists = [q for q in lab.requests("kubernetes") if q["path"].startswith("/api/v1/pods")]
    check(len(lists) == 2, "retried once", [q["path"] for q in lists])
    t = [q["time"] for q in lists]
    check(t[1] - t[0] >= 0.9, "waited Retry-After (%.2f s)" % (t[1] - t[0]))
    lab.clear()


@test
def fault_429_persistent(lab):
    fault_case(lab, "kubernetes", "status", 3, r"429.*retry after", args=("pods", "--json"),
               code=429, retry_after=1, max_elapsed=30)


@test
def fault_500(lab):
    fault_case(lab, "proxmox", "status", 3, r"500", code=500, path="/api2/json/cluster")


@test
def fault_503_once_is_retried(lab):
    lab.clear()
    lab.fault("proxmox", "status", path="/api2/json/cluster", count=1, code=503)
    r = run("nodes", "--json", config=lab.config)
    check(r.code == 0 and r.json()["errors"] == [], "a single 503 is retried", r)
    lab.clear()


@test
def fault_503_persistent(lab):
    fault_case(lab, "kubernetes", "status", 3, r"503", code=503, path="/api/v1/nodes")


@test
def fault_malformed(lab):
    fault_case(lab, "proxmox", "malformed", 3, r"(?i)malformed|not JSON",
               path="/api2/json/cluster")


@test
def fault_truncated(lab):
    fault_case(lab, "kubernetes", "truncated", 3, r"cut short|malformed|not JSON",
               path="/api/v1/nodes")


@test
def fault_reset(lab):
    fault_case(lab, "proxmox", "reset", 3, r"proxmox", path="/api2/json/cluster")


@test
def fault_latency_past_timeout(lab):
    fault_case(lab, "proxmox", "latency", 3, r"did not answer within 2", timeout_flag=2,
               ms=5000, path="/api2/json/cluster", max_elapsed=15)


@test
def fault_stalled_stream(lab):
    fault_case(lab, "kubernetes", "stall", 3, r"did not answer|stalled", timeout_flag=2,
               args=("pods", "--json"), seconds=30, max_elapsed=15)


@test
def fault_big_body(lab):
    fault_case(lab, "kubernetes", "big", 3, r"larger than", args=("pods", "--json"), mb=50)


@test
def fault_596_node_unreachable(lab):
    r = fault_case(lab, "proxmox", "status", 3, r"596.*unreachable", code=596,
                   path="/api2/json/nodes/pve-b/status")
    nodes = by_name(r.json()["nodes"])
    check("pve-a" in nodes and nodes["pve-a"]["mem_total"], "pve-a still complete", nodes)


@test
def backend_down(lab):
    cfg = lab.write_config(open(lab.config).read().replace(
        lab.state["proxmox"]["url"], "https://127.0.0.1:1"))
    r = run("nodes", "--json", config=cfg)
    check(r.code == 3, "exit 3 when unreachable", r)
    check("labdeck: proxmox: cannot connect" in r.err, "says it cannot connect", r)
    check(any(n["source"] == "kubernetes" for n in r.json()["nodes"]), "k8s still shown", r)


# --- TLS ------------------------------------------------------------------------------------------

def pve_config(lab, tls_lines):
    return lab.write_config(
        "[proxmox]\nurl = %s\ntoken_id = root@pam!labdeck\ntoken_secret_file = %s\n%s\n" % (
            lab.state["proxmox"]["url"], os.path.join(lab.dir, "pve-token"), tls_lines))


@test
def tls_ca_file(lab):
    cfg = pve_config(lab, "ca_file = %s" % os.path.join(lab.dir, "pve-cert.pem"))
    r = run("guests", "--json", config=cfg)
    check(r.code == 0 and len(r.json()["guests"]) >= 5, "trusted via ca_file", r)


@test
def tls_fingerprint_match(lab):
    cfg = pve_config(lab, "fingerprint = %s" % lab.state["pve_fingerprint"])
    r = run("guests", "--json", config=cfg)
    check(r.code == 0 and len(r.json()["guests"]) >= 5, "pinned fingerprint accepted", r)
    low = pve_config(lab, "fingerprint = %s" % lab.state["pve_fingerprint"].replace(":", "").lower())
    r = run("guests", "--json", config=low)
    check(r.code == 0, "pin without colons, lower case", r)


@test
def tls_fingerprint_mismatch_sends_nothing(lab):
    wrong = ":".join(["AB"] * 32)
    cfg = pve_config(lab, "fingerprint = %s" % wrong)
    lab.clear()
    r = run("guests", "--json", config=cfg)
    check(r.code == 3, "exit 3", r)
    check("fingerprint mismatch" in r.err and lab.state["pve_fingerprint"] in r.err,
          "says which certificate it saw", r)
    check(lab.requests("proxmox") == [], "no request reached the server", lab.requests())
    check(lab.state["pve_token_secret"] not in r.err + r.out, "secret not printed", r)


@test
def tls_untrusted_offers_pin(lab):
    cfg = pve_config(lab, "")
    lab.clear()
    r = run("guests", config=cfg)
    check(r.code == 3, "exit 3", r)
    check("fingerprint = %s" % lab.state["pve_fingerprint"] in r.err, "offers the pin line", r)
    check(lab.requests("proxmox") == [], "no request sent on an untrusted certificate", None)


@test
def tls_insecure_warns(lab):
    cfg = pve_config(lab, "insecure = true")
    r = run("guests", "--json", config=cfg)
    check(r.code == 0, "insecure works", r)
    check("warning" in r.err and "insecure" in r.err, "prints a warning", r)


# --- configuration and command line ---------------------------------------------------------------

@test
def config_errors_exit_2(lab):
    cfg = lab.write_config("[ui]\nrefresh = soon\n")
    r = run("nodes", config=cfg)
    check(r.code == 2, "exit 2", r)
    check(re.search(r"%s:2:" % re.escape(cfg), r.err), "file:line in the message", r)
    cfg = lab.write_config("[proxmox]\nurl = https://127.0.0.1:8006\ntoken_id = a@pam!b\n"
                           "token_secret = hunter2-distinctive\n", mode=0o644)
    r = run("nodes", config=cfg)
    check(r.code == 2 and "chmod 600" in r.err, "group-readable secret refused", r)
    check("hunter2-distinctive" not in r.err, "secret not echoed", r)
    r = run("nodes", config=os.path.join(lab.dir, "missing.ini"))
    check(r.code == 2 and "missing.ini" in r.err, "missing explicit file", r)


@test
def cli_usage(lab):
    r = run("--version")
    check(r.code == 0 and r.out.startswith("labdeck "), "version", r)
    r = run("--help")
    check(r.code == 0 and "nodes" in r.out and "--json" in r.out, "help", r)
    r = run("frobnicate")
    check(r.code == 2 and "unknown command" in r.err, "unknown command exit 2", r)
    r = run("nodes", "--bogus")
    check(r.code == 2, "unknown option exit 2", r)


@test
def nothing_configured(lab):
    home = tempfile.mkdtemp()
    r = run("nodes", env={"HOME": home, "XDG_CONFIG_HOME": os.path.join(home, "x")})
    check(r.code == 2 and "no backend is configured" in r.err, "explains how to configure", r)


@test
def kubeconfig_context_and_env(lab):
    kc = os.path.join(lab.dir, "kubeconfig")
    cfg = lab.write_config("[kubernetes]\nkubeconfig = %s\ncontext = other\n" % kc)
    r = run("pods", config=cfg)
    check(r.code == 4, "the other context's token is refused: exit 4", r)
    check("context 'other'" in r.err, "names the context", r)
    empty = lab.write_config("[ui]\nrefresh = 5\n")
    r = run("pods", "--json", config=empty, env={"KUBECONFIG": "/nonexistent:" + kc})
    check(r.code == 0 and r.json()["pods"], "$KUBECONFIG list with a missing file", r)


def kubeconfig_with(lab, extra):
    """A copy of labsim's kubeconfig with `extra` added to its cluster (after server:)."""
    with open(os.path.join(lab.dir, "kubeconfig")) as f:
        text = f.read()
    text = re.sub(r"^(    server: .*)$", lambda m: m.group(1) + "\n" + extra, text, count=1,
                  flags=re.M)
    path = os.path.join(lab.dir, "kubeconfig-sni")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return lab.write_config("[kubernetes]\nkubeconfig = %s\n" % path)


@test
def kubeconfig_tls_server_name(lab):
    # The certificate is checked against tls-server-name, not the url's host (127.0.0.1): a
    # name the certificate does not carry is refused before a request is sent ...
    cfg = kubeconfig_with(lab, "    tls-server-name: wrong.example")
    r = run("pods", config=cfg)
    check(r.code == 3 and "kubernetes" in r.err and "wrong.example" in r.err and
          "not for this host name" in r.err and "tls-server-name" in r.err,
          "a tls-server-name the certificate lacks is refused, exit 3, naming it", r)
    # ... and one it carries (localhost) works while the connection still goes to 127.0.0.1.
    cfg = kubeconfig_with(lab, "    tls-server-name: localhost")
    r = run("pods", "--json", config=cfg)
    check(r.code == 0 and r.json()["pods"], "tls-server-name: localhost lists the pods", r)
    cfg = kubeconfig_with(lab, "    tls-server-name: 'bad host:1'")
    r = run("pods", config=cfg)
    check(r.code == 2 and "tls-server-name 'bad host:1'" in r.err,
          "an unusable tls-server-name is a configuration error", r)


@test
def kubeconfig_missing_context(lab):
    kc = os.path.join(lab.dir, "kubeconfig")
    cfg = lab.write_config("[kubernetes]\nkubeconfig = %s\ncontext = nope\n" % kc)
    r = run("pods", config=cfg)
    check(r.code == 2 and "nope" in r.err, "a missing context is a config error", r)


@test
def keys_doc_matches_the_program(lab):
    r = run("--keys")
    check(r.code == 0 and "| `q` | quit |" in r.out, "--keys prints the table", r)
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "keys.md")).read()
    check(r.out.strip() in doc, "docs/keys.md carries the program's key table (regenerate it "
          "with: labdeck --keys)", None)
    for line in r.out.splitlines():
        if line.startswith("| `"):
            keys = re.findall(r"`([^`]+)`", line.split(" | ")[0])
            check(len(keys) == len(set(keys)), "a key named once per line: %r" % line, None)


@test
def console_needs_a_terminal(lab):
    r = run(config=lab.config)
    check(r.code == 2 and "needs a terminal" in r.err, "no console without a tty", r)


@test_alone_with_lab("--k8s-auth", "exec", "--no-metrics", "--pve-offline", "pve-b")
def second_lab_exec_nometrics_offline(lab):
    """Run against a lab with exec auth, no metrics, and pve-b offline."""
    r = run("nodes", "--json", config=lab.config)
    check(r.code == 0, "exit 0: an offline node is a state, not an error", r)
    nodes = by_name(r.json()["nodes"])
    check(nodes["pve-b"]["status"] == "offline", "pve-b offline", nodes["pve-b"])
    check(nodes["pve-b"]["cpu"] is None and nodes["pve-b"]["mem_used"] is None,
          "unknown figures are null", nodes["pve-b"])
    k = nodes["k8s-node-a"]
    check(k["cpu"] is None and k["mem_used"] is None, "no metrics-server: null, no error", k)
    calls = open(os.path.join(lab.dir, "exec-plugin.calls")).read().splitlines()
    check(len(calls) == 1, "exec plugin ran once per process", calls)
    r = run("pods", "--json", config=lab.config)
    check(r.code == 0 and r.json()["pods"], "pods with exec credentials", r)


@test_alone_with_lab("--k8s-auth", "cert")
def cert_lab_client_certificate(lab):
    r = run("pods", "--json", config=lab.config)
    check(r.code == 0 and r.json()["pods"], "client certificate auth", r)


