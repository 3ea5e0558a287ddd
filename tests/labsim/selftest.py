#!/usr/bin/env python3
"""labsim selftest: starts labsim as a subprocess in temporary directories,
as a real test would, and checks it from the outside with http.client/ssl
(and kubectl when it is installed).

    python3 tests/labsim/selftest.py [-v]

Prints one line per check and "N passed, N failed"; exits 1 on a failure.
"""

import base64
import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
LABSIM = os.path.join(HERE, "labsim.py")
TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
                "g=meta.k8s.io,application/json")
VERBOSE = "-v" in sys.argv

passed = 0
failed = 0
lock = threading.Lock()


def check(name, cond, detail=""):
    global passed, failed
    with lock:
        if cond:
            passed += 1
            print("ok   %s" % name)
        else:
            failed += 1
            print("FAIL %s%s" % (name, (": " + str(detail)[:600]) if detail else ""))
    return cond


def section(name, fn, *args):
    """Run a group of checks; an exception fails the group, not the run."""
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - report and go on
        import traceback
        check("%s (no exception)" % name, False, "%s: %s" % (type(e).__name__, e))
        if VERBOSE:
            traceback.print_exc()


class Instance:
    """One labsim process in its own temporary directory."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="labsim-selftest-")
        self.errf = open(os.path.join(self.dir, "stderr.log"), "w+")
        self.proc = subprocess.Popen([sys.executable, LABSIM, "--dir", self.dir] + list(args),
                                     stdout=subprocess.PIPE, stderr=self.errf, text=True)
        self.state = None
        self.ready_line = None

    def wait_ready(self, timeout=20.0):
        path = os.path.join(self.dir, "state.json")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(path):
                with open(path) as f:
                    self.state = json.load(f)
                self.ready_line = self.proc.stdout.readline().strip()
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return False

    def p(self, name):
        return os.path.join(self.dir, name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        self.errf.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- HTTP ----

    def ctx(self, backend, client_cert=False):
        if backend == "proxmox":
            c = ssl.create_default_context(cafile=self.p("pve-cert.pem"))
        else:
            c = ssl.create_default_context(cafile=self.p("k8s-ca.pem"))
            if client_cert:
                c.load_cert_chain(self.p("k8s-client.pem"), self.p("k8s-client-key.pem"))
        return c

    def conn(self, backend, timeout=10.0, client_cert=False):
        return http.client.HTTPSConnection("127.0.0.1", self.state[backend]["port"],
                                           context=self.ctx(backend, client_cert), timeout=timeout)

    def get(self, backend, path, headers=None, timeout=10.0, client_cert=False, auth=True):
        h = dict(headers or {})
        if auth and "Authorization" not in h:
            if backend == "proxmox":
                h["Authorization"] = "PVEAPIToken=%s=%s" % (self.state["pve_token_id"],
                                                           self.state["pve_token_secret"])
            elif not client_cert:
                h["Authorization"] = "Bearer " + self.state["k8s_token"]
        c = self.conn(backend, timeout, client_cert)
        try:
            c.request("GET", path, headers=h)
            r = c.getresponse()
            body = r.read()
            return r.status, r.reason, dict(r.getheaders()), body
        finally:
            c.close()

    def admin(self, method, path, obj=None):
        c = http.client.HTTPConnection("127.0.0.1", self.state["admin"]["port"], timeout=10)
        try:
            body = json.dumps(obj).encode() if obj is not None else None
            c.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            c.close()

    def fault(self, **spec):
        st, d = self.admin("POST", "/faults", spec)
        if st != 200:
            raise RuntimeError("POST /faults %s -> %s %s" % (spec, st, d))
        return d["id"]

    def paginate(self, path, limit, accept="application/json", client_cert=False):
        """All pages of a list; -> (names, first page, pages)."""
        names, first, pages, cont = [], None, 0, ""
        while True:
            sep = "&" if "?" in path else "?"
            q = "%s%slimit=%d" % (path, sep, limit) + ("&continue=" + urllib.parse.quote(cont) if cont else "")
            st, _, _, body = self.get("kubernetes", q, {"Accept": accept}, client_cert=client_cert)
            if st != 200:
                raise RuntimeError("GET %s -> %d %s" % (q, st, body[:200]))
            d = json.loads(body)
            first = first or d
            pages += 1
            if d["kind"] == "Table":
                names += [r["cells"][0] for r in d["rows"]]
            else:
                names += [i["metadata"]["name"] for i in d["items"]]
            cont = d["metadata"].get("continue", "")
            if not cont:
                return names, first, pages


def kubectl(inst, *args, context=None):
    exe = shutil.which("kubectl")
    cmd = [exe, "--kubeconfig", inst.p("kubeconfig"), "--cache-dir", inst.p("kube-cache")]
    if context:
        cmd += ["--context", context]
    env = dict(os.environ, HOME=inst.dir)
    r = subprocess.run(cmd + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60, env=env)
    return r.returncode, r.stdout, r.stderr


# --------------------------------------------------------------------------
# checks


def files_and_state(a):
    s = a.state
    for k in ("pid", "proxmox", "kubernetes", "admin", "pve_fingerprint", "pve_token_id", "pve_token_secret"):
        check("state.json has %s" % k, k in s)
    check("state urls are loopback https/http",
          s["proxmox"]["url"] == "https://127.0.0.1:%d" % s["proxmox"]["port"]
          and s["kubernetes"]["url"] == "https://127.0.0.1:%d" % s["kubernetes"]["port"]
          and s["admin"]["url"].startswith("http://127.0.0.1:"), s)
    check("ready line printed", a.ready_line == "labsim ready %s" % a.p("state.json"), a.ready_line)
    check("pid is the labsim process", s["pid"] == a.proc.pid)
    mode = stat.S_IMODE(os.stat(a.p("pve-token")).st_mode)
    with open(a.p("pve-token")) as f:
        tok = f.read()
    check("pve-token holds the secret on one line, mode 0600",
          tok == s["pve_token_secret"] + "\n" and mode == 0o600, (tok, oct(mode)))
    with open(a.p("labdeck.ini")) as f:
        ini = f.read()
    mode = stat.S_IMODE(os.stat(a.p("labdeck.ini")).st_mode)
    want = ["[proxmox]", "url = " + s["proxmox"]["url"], "token_id = root@pam!labdeck",
            "token_secret_file = " + a.p("pve-token"), "ca_file = " + a.p("pve-cert.pem"),
            "[kubernetes]", "kubeconfig = " + a.p("kubeconfig")]
    check("labdeck.ini points at the lab, mode 0600",
          all(w in ini.splitlines() for w in want) and mode == 0o600, ini)
    with open(a.p("kubeconfig")) as f:
        kc = f.read()
    with open(a.p("k8s-ca.pem"), "rb") as f:
        ca = f.read()
    check("kubeconfig: cluster, CA data, contexts, current-context",
          "current-context: labsim" in kc and "name: other" in kc
          and "certificate-authority-data: " + base64.b64encode(ca).decode() in kc
          and 'server: "%s"' % s["kubernetes"]["url"] in kc, kc[:400])
    out = subprocess.run(["openssl", "x509", "-in", a.p("pve-cert.pem"), "-noout", "-text"],
                         stdout=subprocess.PIPE, text=True).stdout
    check("pve cert: SAN 127.0.0.1 + localhost, CA:TRUE",
          "IP Address:127.0.0.1" in out and "DNS:localhost" in out and "CA:TRUE" in out)


def proxmox_basics(a):
    s = a.state
    st, _, hdr, body = a.get("proxmox", "/api2/json/cluster/resources")
    d = json.loads(body)["data"]
    nodes = sorted(r["node"] for r in d if r["type"] == "node")
    guests = sorted((r["vmid"], r["type"], r["name"], r["node"]) for r in d if r["type"] in ("qemu", "lxc"))
    check("pve /cluster/resources: both nodes", st == 200 and nodes == ["pve-a", "pve-b"], nodes)
    check("pve /cluster/resources: the 5 guests", guests == [
        (101, "qemu", "k8s-node-a", "pve-a"), (102, "qemu", "k8s-node-b", "pve-b"),
        (103, "qemu", "win11", "pve-a"), (110, "lxc", "dns", "pve-a"),
        (111, "lxc", "ollama-cache", "pve-b")], guests)
    check("pve content type", hdr.get("Content-Type") == "application/json;charset=UTF-8", hdr)
    c = a.conn("proxmox")
    auth = {"Authorization": "PVEAPIToken=%s=%s" % (s["pve_token_id"], s["pve_token_secret"])}
    try:
        c.request("GET", "/api2/json/version", headers=auth)
        r1 = c.getresponse()
        r1.read()
        sock1 = c.sock
        c.request("GET", "/api2/json/nodes", headers=auth)
        r2 = c.getresponse()
        r2.read()
        check("pve keep-alive: two requests on one connection",
              r1.status == 200 and r2.status == 200 and c.sock is sock1 and not r2.will_close)
    finally:
        c.close()
    st, _, _, body = a.get("proxmox", "/api2/json/cluster/resources?type=vm")
    check("pve ?type=vm filters", {r["type"] for r in json.loads(body)["data"]} == {"qemu", "lxc"})

    # the server certificate's SHA-256 is what state.json and /nodes say
    with socket.create_connection(("127.0.0.1", s["proxmox"]["port"]), timeout=5) as raw:
        c = ssl.create_default_context()
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        with c.wrap_socket(raw) as t:
            der = t.getpeercert(binary_form=True)
    fp = hashlib.sha256(der).hexdigest().upper()
    fp = ":".join(fp[i:i + 2] for i in range(0, 64, 2))
    check("pve cert SHA-256 == pve_fingerprint", fp == s["pve_fingerprint"], (fp, s["pve_fingerprint"]))
    st, _, _, body = a.get("proxmox", "/api2/json/nodes")
    nd = {r["node"]: r for r in json.loads(body)["data"]}
    check("pve /nodes: ssl_fingerprint of pve-a matches",
          nd["pve-a"]["ssl_fingerprint"] == s["pve_fingerprint"] and "ssl_fingerprint" in nd["pve-b"])

    st, reason, hdr, body = a.get("proxmox", "/api2/json/nodes",
                                  {"Authorization": "PVEAPIToken=root@pam!labdeck=wrong"})
    check("pve wrong token: 401 authentication failure, empty body",
          st == 401 and reason == "authentication failure" and body == b"", (st, reason, body))
    st, reason, _, body = a.get("proxmox", "/api2/json/nodes", auth=False)
    check("pve no token: 401", st == 401 and body == b"")
    st, _, _, _ = a.get("proxmox", "/api2/json/version", {
        "Authorization": "PVEAPIToken %s=%s" % (s["pve_token_id"], s["pve_token_secret"])})
    check("pve token with a space after PVEAPIToken is accepted", st == 200)

    st, _, _, body = a.get("proxmox", "/api2/json/nodes/pve-b/lxc")
    d = json.loads(body)["data"]
    check("pve lxc list: vmid is a string", d and all(isinstance(r["vmid"], str) for r in d), d)
    st, _, _, body = a.get("proxmox", "/api2/json/nodes/pve-a/qemu")
    d = json.loads(body)["data"]
    check("pve qemu list: vmid is a number", sorted(r["vmid"] for r in d) == [101, 103], d)
    st, _, _, body = a.get("proxmox", "/api2/json/nodes/pve-a/status")
    d = json.loads(body)["data"]
    check("pve node status: loadavg strings, memory, cpuinfo",
          len(d["loadavg"]) == 3 and all(isinstance(x, str) for x in d["loadavg"])
          and d["memory"]["total"] == d["memory"]["used"] + d["memory"]["free"]
          and d["cpuinfo"]["cpus"] == 12 and d["cpuinfo"]["cores"] == 6, d)
    st, _, _, body = a.get("proxmox", "/api2/json/nodes/pve-b/qemu/102/config")
    d = json.loads(body)["data"]
    check("pve VM 102 config: hostpci0 full and hostpci1 short form",
          d.get("hostpci0") == "0000:c5:00.0,pcie=1" and d.get("hostpci1") == "c5:00.1", d)
    st, _, _, body = a.get("proxmox", "/api2/json/nodes/pve-a/qemu/101/status/current")
    d = json.loads(body)["data"]
    check("pve VM 101 status/current running with qmpstatus", d["status"] == "running"
          and d["qmpstatus"] == "running" and d["cpus"] == 6, d)
    st, _, _, body = a.get("proxmox", "/api2/json/nodes/pve-a/rrddata?timeframe=hour&cf=AVERAGE")
    d = json.loads(body)["data"]
    check("pve rrddata: 70 points, 60 s apart",
          len(d) == 70 and all(d[i + 1]["time"] - d[i]["time"] == 60 for i in range(69)))
    st, reason, _, body = a.get("proxmox", "/api2/json/nodes/pve-a/qemu/999/config")
    check("pve unknown vmid: 500 with the config-file reason",
          st == 500 and reason == "Configuration file 'nodes/pve-a/qemu-server/999.conf' does not exist"
          and json.loads(body)["data"] is None, (st, reason, body))
    st, reason, _, body = a.get("proxmox", "/api2/json/xyz")
    check("pve unknown path: 501 not implemented", st == 501
          and json.loads(body) == {"data": None, "message": "Method 'GET /xyz' not implemented"}, (st, body))
    st, _, _, b1 = a.get("proxmox", "/api2/json/nodes/pve-a/status")
    u1 = json.loads(b1)["data"]["uptime"]
    time.sleep(1.1)
    st, _, _, b2 = a.get("proxmox", "/api2/json/nodes/pve-a/status")
    check("pve uptime grows with wall time", json.loads(b2)["data"]["uptime"] > u1)

    st, d = a.admin("GET", "/requests?backend=proxmox")
    auths = [r["headers"].get("Authorization") for r in d["requests"]]
    check("admin /requests records the exact Authorization header",
          "PVEAPIToken=root@pam!labdeck=%s" % s["pve_token_secret"] in auths
          and all(r["backend"] == "proxmox" for r in d["requests"]), auths[:3])
    rec = d["requests"][-1]
    check("a record has time, method, path with query, body length, status",
          all(k in rec for k in ("time", "method", "path", "headers", "body_length", "status")), rec)


def kubernetes_basics(a):
    s = a.state
    st, _, hdr, body = a.get("kubernetes", "/api/v1/pods", auth=False)
    check("k8s no token: 401 Status Unauthorized", st == 401 and json.loads(body) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
        "reason": "Unauthorized", "code": 401}, body)
    st, _, _, _ = a.get("kubernetes", "/api/v1/pods", {"Authorization": "Bearer " + s["k8s_other_token"]})
    check("k8s the 'other' context's token is rejected", st == 401)

    n = s["pods"]
    names_t, first_t, pages_t = a.paginate("/api/v1/pods", 5, TABLE_ACCEPT)
    names_j, first_j, pages_j = a.paginate("/api/v1/pods", 4)
    check("k8s Table and JSON lists paginate to the same %d pods" % n,
          len(names_t) == n and sorted(names_t) == sorted(names_j) and len(set(names_t)) == n,
          (len(names_t), len(names_j)))
    check("k8s pagination: pages and remainingItemCount",
          pages_t == (n + 4) // 5 and first_t["metadata"].get("remainingItemCount") == n - 5
          and first_j["metadata"].get("remainingItemCount") == n - 4, (pages_t, first_t["metadata"]))
    check("k8s Table shape: 9 pod columns, wide ones priority 1",
          [c["name"] for c in first_t["columnDefinitions"]] == [
              "Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
          and [c["priority"] for c in first_t["columnDefinitions"]] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
          and first_t["apiVersion"] == "meta.k8s.io/v1")
    obj = first_t["rows"][0]["object"]
    check("k8s Table row object defaults to PartialObjectMetadata with managedFields",
          obj["kind"] == "PartialObjectMetadata" and "managedFields" in obj["metadata"], obj.get("kind"))
    st, _, _, body = a.get("kubernetes", "/api/v1/pods?limit=2&includeObject=None", {"Accept": TABLE_ACCEPT})
    check("k8s includeObject=None omits row objects", all("object" not in r for r in json.loads(body)["rows"]))
    st, _, _, body = a.get("kubernetes", "/api/v1/pods?limit=2&includeObject=Object", {"Accept": TABLE_ACCEPT})
    check("k8s includeObject=Object gives full pods",
          all(r["object"]["kind"] == "Pod" and "spec" in r["object"] for r in json.loads(body)["rows"]))

    st, _, _, body = a.get("kubernetes", "/api/v1/pods", {"Accept": TABLE_ACCEPT})
    rows = {r["cells"][0]: r["cells"] for r in json.loads(body)["rows"]}
    crash = [c for c in rows.values() if c[2] == "CrashLoopBackOff"]
    pend = [c for c in rows.values() if c[2] == "Pending"]
    check("k8s one CrashLoopBackOff pod with 7 restarts",
          len(crash) == 1 and re.match(r"^7 \(\d+m(\d+s)? ago\)$", crash[0][3]) is not None, crash)
    check("k8s one Pending pod without node or IP", len(pend) == 1 and pend[0][5:7] == ["<none>", "<none>"], pend)
    for want in ("etcd-k8s-node-a", "kube-apiserver-k8s-node-a"):
        check("k8s has %s" % want, want in rows)
    dep = {n.rsplit("-", 2)[0] for n in rows if re.match(r"^[a-z-]+-[4-9bcdf]{10}-[a-z0-9]{5}$", n)}
    check("k8s deployments' pods have ReplicaSet-hash names",
          {"gateway", "frontend", "backend", "models", "coredns"} <= dep, dep)

    st, _, _, body = a.get("kubernetes", "/api/v1/pods")
    items = json.loads(body)["items"]
    sizes = sorted(len(json.dumps(i, separators=(",", ":"))) for i in items)
    check("k8s pods are full objects (~8 KB median)", 5000 <= sizes[len(sizes) // 2] <= 12000, sizes)
    it = items[0]
    check("k8s pod has spec/status/metadata essentials",
          all(k in it["metadata"] for k in ("uid", "resourceVersion", "creationTimestamp", "labels",
                                             "ownerReferences", "managedFields"))
          and "containers" in it["spec"] and "conditions" in it["status"], list(it["metadata"]))
    rvs = [int(i["metadata"]["resourceVersion"]) for i in items]
    list_rv = int(json.loads(body)["metadata"]["resourceVersion"])
    check("k8s list resourceVersion is above every item's", max(rvs) < list_rv, (max(rvs), list_rv))
    ns_name = [i["metadata"]["namespace"] + "/" + i["metadata"]["name"] for i in items]
    check("k8s list is sorted by namespace/name", ns_name == sorted(ns_name))

    c = a.conn("kubernetes")
    try:
        socks = []
        for path in ("/api/v1/nodes", "/api/v1/pods?limit=3", "/version"):
            c.request("GET", path, headers={"Authorization": "Bearer " + s["k8s_token"]})
            r = c.getresponse()
            r.read()
            socks.append((r.status, c.sock))
        check("k8s keep-alive: three requests on one connection",
              [x[0] for x in socks] == [200] * 3 and len({id(x[1]) for x in socks}) == 1)
    finally:
        c.close()
    st, _, _, body = a.get("kubernetes", "/api/v1/namespaces/lab/pods?limit=2")
    d = json.loads(body)
    check("k8s namespaced list only has that namespace",
          st == 200 and {i["metadata"]["namespace"] for i in d["items"]} == {"lab"}
          and d["metadata"].get("remainingItemCount") == 4, d["metadata"])
    name = d["items"][0]["metadata"]["name"]
    st, _, _, body = a.get("kubernetes", "/api/v1/namespaces/lab/pods/" + name)
    check("k8s GET one pod", st == 200 and json.loads(body)["kind"] == "Pod")
    st, _, _, body = a.get("kubernetes", "/api/v1/namespaces/lab/pods/abc")
    check("k8s unknown pod: 404 Status like the real one", st == 404 and json.loads(body) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "abc" not found', "reason": "NotFound", "details": {"name": "abc", "kind": "pods"},
        "code": 404}, body)
    st, _, _, body = a.get("kubernetes", "/api/v1/nodes")
    nodes = {n["metadata"]["name"]: n for n in json.loads(body)["items"]}
    b = nodes.get("k8s-node-b", {})
    check("k8s nodes: a (control-plane, 10.10.0.11) and b (GPU)",
          sorted(nodes) == ["k8s-node-a", "k8s-node-b"]
          and "node-role.kubernetes.io/control-plane" in nodes["k8s-node-a"]["metadata"]["labels"]
          and nodes["k8s-node-a"]["status"]["addresses"][0] == {"type": "InternalIP", "address": "10.10.0.11"}
          and b["status"]["capacity"].get("gpu.intel.com/i915") == "1"
          and nodes["k8s-node-a"]["status"]["allocatable"]["cpu"] == "5800m")
    st, _, _, body = a.get("kubernetes", "/api/v1/namespaces")
    check("k8s namespaces", sorted(i["metadata"]["name"] for i in json.loads(body)["items"])
          == ["default", "kube-system", "lab", "models"])
    st, _, _, body = a.get("kubernetes", "/apis/metrics.k8s.io/v1beta1/nodes")
    d = json.loads(body)
    check("k8s node metrics: cpu in n, memory in Ki",
          st == 200 and d["kind"] == "NodeMetricsList" and len(d["items"]) == 2
          and all(re.match(r"^\d+n$", i["usage"]["cpu"]) and re.match(r"^\d+Ki$", i["usage"]["memory"])
                  for i in d["items"]), d)
    st, _, _, body = a.get("kubernetes", "/apis/metrics.k8s.io/v1beta1/pods")
    check("k8s pod metrics", st == 200 and json.loads(body)["kind"] == "PodMetricsList")
    st, _, _, body = a.get("kubernetes", "/apis")
    check("k8s discovery lists metrics.k8s.io",
          [g["name"] for g in json.loads(body)["groups"]] == ["metrics.k8s.io"])

    # a continue token from before a rebuild has expired
    st, _, _, body = a.get("kubernetes", "/api/v1/pods?limit=3")
    old = json.loads(body)["metadata"]["continue"]
    st, d = a.admin("POST", "/pods", {"count": 1234})
    check("admin POST /pods rebuilds the pod set", st == 200 and d["pods"] == 1234, d)
    names_t, _, _ = a.paginate("/api/v1/pods", 500, TABLE_ACCEPT)
    names_j, _, _ = a.paginate("/api/v1/pods", 500)
    check("k8s 1234 pods paginate the same in Table and JSON",
          len(names_t) == 1234 and sorted(names_t) == sorted(names_j) and len(set(names_j)) == 1234)
    st, _, _, body = a.get("kubernetes", "/api/v1/pods?limit=3&continue=" + urllib.parse.quote(old))
    d = json.loads(body)
    check("k8s continue token from before a rebuild: 410 Expired",
          st == 410 and d["reason"] == "Expired" and d["code"] == 410 and d["metadata"].get("continue"), d)
    st, _, _, body = a.get("kubernetes", "/api/v1/pods?limit=3&continue=bm90LWEtdG9rZW4")
    check("k8s garbage continue token: 400 BadRequest", st == 400 and json.loads(body)["reason"] == "BadRequest")
    a.admin("POST", "/pods", {"count": s["pods"]})


def fault_checks(a):
    s = a.state
    # CLI fault: kubernetes:status:code=503,retry_after=1@/api/v1/namespaces/default#2
    got = []
    for _ in range(3):
        st, _, hdr, body = a.get("kubernetes", "/api/v1/namespaces/default/pods")
        got.append((st, hdr.get("Retry-After"), json.loads(body).get("reason")))
    check("--fault SPEC: 503 twice with Retry-After, then normal", got == [
        (503, "1", "ServiceUnavailable"), (503, "1", "ServiceUnavailable"), (200, None, None)], got)
    st, d = a.admin("GET", "/faults")
    check("GET /faults shows the CLI rule used up", st == 200 and d["faults"][0]["count"] == 0
          and d["faults"][0]["hits"] == 2, d)
    a.admin("DELETE", "/faults")
    check("DELETE /faults clears", a.admin("GET", "/faults")[1]["faults"] == [])

    # latency (added with the --fault syntax through the admin API)
    st, d = a.admin("POST", "/faults", {"spec": "proxmox:latency:ms=400@/api2/json/version#1"})
    check("admin POST /faults takes the --fault syntax as {spec}", st == 200 and d["fault"]["ms"] == 400
          and d["fault"]["path"] == "/api2/json/version" and d["fault"]["count"] == 1, d)
    t = time.time()
    a.get("proxmox", "/api2/json/version")
    t1 = time.time() - t
    t = time.time()
    a.get("proxmox", "/api2/json/version")
    t2 = time.time() - t
    check("fault latency: delays by ms, count 1", t1 >= 0.4 and t2 < 0.3, (t1, t2))

    # status (kubernetes 429, proxmox 401 empty)
    a.fault(backend="kubernetes", kind="status", code=429, retry_after=2, count=1)
    st, _, hdr, body = a.get("kubernetes", "/api/v1/nodes")
    d = json.loads(body)
    check("fault status 429: TooManyRequests Status + Retry-After",
          st == 429 and hdr.get("Retry-After") == "2" and d["reason"] == "TooManyRequests" and d["code"] == 429, d)
    a.fault(backend="proxmox", kind="status", code=401, count=1)
    st, reason, _, body = a.get("proxmox", "/api2/json/nodes")
    check("fault status 401 (proxmox): empty body", st == 401 and body == b"", (st, reason, body))
    a.fault(backend="proxmox", kind="status", code=500, reason="got timeout", count=1)
    st, reason, _, body = a.get("proxmox", "/api2/json/nodes")
    check("fault status 500 (proxmox): reason and JSON message",
          st == 500 and reason == "got timeout" and json.loads(body)["data"] is None, (st, reason, body))

    # path prefix: a rule for /api2/json/nodes leaves /version alone
    a.fault(backend="proxmox", kind="status", code=503, path="/api2/json/nodes", count=1)
    st1 = a.get("proxmox", "/api2/json/version")[0]
    st2 = a.get("proxmox", "/api2/json/nodes/pve-a/status")[0]
    check("fault path prefix: only matching paths", (st1, st2) == (200, 503), (st1, st2))

    # malformed
    a.fault(backend="proxmox", kind="malformed", count=1)
    st, _, hdr, body = a.get("proxmox", "/api2/json/cluster/resources")
    try:
        json.loads(body)
        bad = False
    except ValueError:
        bad = True
    check("fault malformed: 200 application/json that is not JSON",
          st == 200 and bad and hdr.get("Content-Type", "").startswith("application/json"))

    # truncated
    a.fault(backend="kubernetes", kind="truncated", count=1)
    c = a.conn("kubernetes")
    c.request("GET", "/api/v1/pods", headers={"Authorization": "Bearer " + s["k8s_token"]})
    r = c.getresponse()
    announced = int(r.getheader("Content-Length"))
    try:
        r.read()
        err = None
    except http.client.IncompleteRead as e:
        err = e
    c.close()
    check("fault truncated: Content-Length announced, half sent, closed",
          err is not None and announced > 1000 and len(err.partial) == announced // 2,
          (announced, err and len(err.partial)))

    # reset: the server closes with RST.  (Python's ssl module reports a
    # reset under TLS as EOF, so look at the socket's pending error.)
    a.fault(backend="proxmox", kind="reset", count=1)
    raw = socket.create_connection(("127.0.0.1", s["proxmox"]["port"]), timeout=5)
    t = a.ctx("proxmox").wrap_socket(raw, server_hostname="127.0.0.1")
    t.sendall(b"GET /api2/json/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    deadline = time.time() + 3
    err = 0
    while time.time() < deadline and not err:
        err = t.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        time.sleep(0.02)
    try:
        data = t.recv(100)
    except OSError as e:
        data = e
    t.close()
    check("fault reset: RST (ECONNRESET), no answer",
          (err == errno.ECONNRESET and not data) or isinstance(data, ConnectionResetError), (err, data))
    st = a.get("proxmox", "/api2/json/version")[0]
    check("fault reset: count 1, next request answered", st == 200)

    # stall
    a.fault(backend="kubernetes", kind="stall", seconds=3, count=1)
    c = a.conn("kubernetes", timeout=1.0)
    c.request("GET", "/api/v1/pods", headers={"Authorization": "Bearer " + s["k8s_token"]})
    r = c.getresponse()
    first = r.read1(65536) if hasattr(r, "read1") else b""
    t = time.time()
    try:
        r.read()
        stalled = False
    except (socket.timeout, TimeoutError):
        stalled = True
    c.close()
    check("fault stall: headers + part of the body, then silence",
          r.status == 200 and r.getheader("Transfer-Encoding") == "chunked" and len(first) > 0 and stalled
          and time.time() - t >= 0.9, (r.status, len(first), stalled))

    # big
    a.fault(backend="kubernetes", kind="big", mb=3, count=1)
    st, _, hdr, body = a.get("kubernetes", "/api/v1/pods", timeout=30)
    try:
        d = json.loads(body)
        ok = d["kind"] == "PodList" and len(d["items"]) > 100
    except ValueError:
        ok = False
    check("fault big: a valid 3 MB JSON body, chunked",
          st == 200 and len(body) >= 3 * 1024 * 1024 and ok and hdr.get("Transfer-Encoding") == "chunked",
          (st, len(body)))

    # expire_continue: only requests with a continue token; the 410 has the real shape
    a.fault(backend="kubernetes", kind="expire_continue", count=1)
    st, _, _, body = a.get("kubernetes", "/api/v1/pods?limit=5")
    cont = json.loads(body)["metadata"]["continue"]
    st2, _, _, body2 = a.get("kubernetes", "/api/v1/pods?limit=5&continue=" + urllib.parse.quote(cont))
    d = json.loads(body2)
    st3, _, _, _ = a.get("kubernetes", "/api/v1/pods?limit=5&continue=" + urllib.parse.quote(cont))
    check("fault expire_continue: first page fine, next 410 Expired, then fine again",
          st == 200 and st2 == 410 and st3 == 200 and d["reason"] == "Expired" and d["status"] == "Failure"
          and d["message"].startswith("The provided continue parameter is too old")
          and set(d) == {"kind", "apiVersion", "metadata", "status", "message", "reason", "code"}, d)

    # slow401: only a 401 is delayed, by the real 3 s
    a.fault(backend="proxmox", kind="slow401", count=1)
    t = time.time()
    st = a.get("proxmox", "/api2/json/version")[0]
    fast_ok = time.time() - t
    t = time.time()
    st401 = a.get("proxmox", "/api2/json/version", {"Authorization": "PVEAPIToken=x=y"})[0]
    slow = time.time() - t
    check("fault slow401: 200s untouched, the 401 after 3 s",
          st == 200 and fast_ok < 1.0 and st401 == 401 and slow >= 2.9, (fast_ok, slow))

    # bad fault specs are refused
    st, d = a.admin("POST", "/faults", {"backend": "proxmox", "kind": "nonsense"})
    check("admin refuses an unknown fault kind", st == 400, d)
    a.admin("DELETE", "/faults")
    st, d = a.admin("DELETE", "/requests")
    st, d = a.admin("GET", "/requests")
    check("DELETE /requests clears; admin calls are not recorded", d["requests"] == [], d)


def tls_abuse(a):
    port = a.state["proxmox"]["port"]
    # 1. connect and send garbage instead of a ClientHello
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")
        try:
            s.recv(100)
        except OSError:
            pass
    # 2. connect and close before the handshake completes
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.close()
    # 3. a client that rejects the certificate (pinning mismatch) aborts
    ctx = ssl.create_default_context()  # system CAs: labsim's cert is unknown
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass
        rejected = False
    except ssl.SSLCertVerificationError:
        rejected = True
    check("a client that rejects the cert fails the handshake", rejected)
    # 4. a client that connects and says nothing does not block others
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        st = a.get("proxmox", "/api2/json/version", timeout=5)[0]
    finally:
        idle.close()
    check("server still answers after aborted handshakes", st == 200 and a.proc.poll() is None)
    st, d = a.admin("GET", "/requests?backend=proxmox")
    check("aborted handshakes record no request", len(d["requests"]) == 1, len(d["requests"]))


def kubectl_checks(a):
    if not shutil.which("kubectl"):
        print("skip kubectl checks (kubectl not installed)")
        return
    rc, out, err = kubectl(a, "get", "pods", "-A", "-o", "wide")
    lines = out.splitlines()
    check("kubectl get pods -A -o wide", rc == 0 and len(lines) == a.state["pods"] + 1
          and lines[0].split()[:3] == ["NAMESPACE", "NAME", "READY"], err or out[:300])
    check("kubectl shows CrashLoopBackOff with '7 (..ago)' restarts and a Pending pod",
          any("CrashLoopBackOff" in ln and " 7 (" in ln for ln in lines) and any(" Pending " in ln for ln in lines))
    rc, out, err = kubectl(a, "get", "nodes")
    lines = out.splitlines()
    check("kubectl get nodes: both Ready", rc == 0 and len(lines) == 3
          and all(" Ready " in ln for ln in lines[1:]), err or out)
    rc, out, err = kubectl(a, "get", "pods", context="other")
    check("kubectl --context other: Unauthorized", rc != 0 and "Unauthorized" in err, err)
    rc, out, err = kubectl(a, "top", "nodes")
    check("kubectl top nodes (metrics.k8s.io)", rc == 0 and "k8s-node-b" in out, err or out)


def cert_offline_checks(b):
    st, _, _, body = b.get("kubernetes", "/api/v1/pods?limit=500", {"Accept": TABLE_ACCEPT}, client_cert=True)
    rows = json.loads(body).get("rows", []) if st == 200 else []
    check("k8s client-cert auth works (16 pods without metrics-server)", st == 200 and len(rows) == 16, st)
    st, _, _, _ = b.get("kubernetes", "/api/v1/pods", auth=False)
    check("k8s cert mode: no cert, no token -> 401", st == 401)
    st, _, _, body = b.get("kubernetes", "/apis/metrics.k8s.io/v1beta1/nodes", client_cert=True)
    check("--no-metrics: metrics.k8s.io answers 404 NotFound", st == 404
          and json.loads(body)["message"] == "the server could not find the requested resource")
    st, _, _, body = b.get("kubernetes", "/apis", client_cert=True)
    check("--no-metrics: discovery omits metrics.k8s.io", json.loads(body)["groups"] == [])

    st, _, _, body = b.get("proxmox", "/api2/json/cluster/resources")
    d = json.loads(body)["data"]
    nb = [r for r in d if r["type"] == "node" and r["node"] == "pve-b"][0]
    check("--pve-offline: node offline without cpu/mem/uptime",
          nb["status"] == "offline" and not ({"cpu", "mem", "uptime"} & set(nb)), nb)
    gs = {r["vmid"]: r["status"] for r in d if r["type"] in ("qemu", "lxc")}
    check("--pve-offline: its guests are unknown, others not",
          gs[102] == "unknown" and gs[111] == "unknown" and gs[101] == "running", gs)
    st, _, _, body = b.get("proxmox", "/api2/json/nodes")
    nb = [r for r in json.loads(body)["data"] if r["node"] == "pve-b"][0]
    check("--pve-offline: /nodes offline without cpu/mem", nb["status"] == "offline" and "cpu" not in nb, nb)
    t = time.time()
    st, reason, _, body = b.get("proxmox", "/api2/json/nodes/pve-b/status")
    check("--pve-offline: /nodes/pve-b/... 596 Connection timed out after a delay",
          st == 596 and reason == "Connection timed out" and time.time() - t >= 0.2
          and json.loads(body)["data"] is None, (st, reason, body))
    if shutil.which("kubectl"):
        rc, out, err = kubectl(b, "get", "nodes")
        check("kubectl with a client certificate", rc == 0 and "k8s-node-a" in out, err)


def exec_checks(c):
    # the exec plugin prints an ExecCredential whose token works
    r = subprocess.run([sys.executable, c.p("exec-plugin.py")], stdout=subprocess.PIPE, text=True, timeout=10)
    cred = json.loads(r.stdout)
    check("exec plugin prints an ExecCredential with expiry", cred["kind"] == "ExecCredential"
          and cred["apiVersion"] == "client.authentication.k8s.io/v1beta1"
          and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", cred["status"]["expirationTimestamp"]), cred)
    st, _, _, _ = c.get("kubernetes", "/api/v1/nodes", {"Authorization": "Bearer " + cred["status"]["token"]})
    check("exec token is accepted", st == 200)
    with open(c.p("exec-plugin.calls")) as f:
        n0 = len(f.readlines())
    check("exec-plugin.calls counts runs", n0 == 1, n0)
    if shutil.which("kubectl"):
        rc, out, err = kubectl(c, "get", "pods", "-A")
        with open(c.p("exec-plugin.calls")) as f:
            n1 = len(f.readlines())
        check("kubectl with an exec plugin lists --pods 3000", rc == 0 and len(out.splitlines()) == 3001
              and n1 > n0, (rc, len(out.splitlines()), n1, err[:300]))


def main():
    t0 = time.time()
    a = Instance("--fault", "kubernetes:status:code=503,retry_after=1@/api/v1/namespaces/default#2")
    b = Instance("--k8s-auth", "cert", "--pve-offline", "pve-b", "--no-metrics")
    c = Instance("--k8s-auth", "exec", "--pods", "3000")
    insts = [a, b, c]
    try:
        for i in insts:
            if not check("labsim %s starts and writes state.json" % " ".join(i.proc.args[4:]), i.wait_ready()):
                i.errf.seek(0)
                print(i.errf.read())
                return 1
        section("files", files_and_state, a)
        section("proxmox", proxmox_basics, a)
        section("kubernetes", kubernetes_basics, a)
        section("faults", fault_checks, a)
        section("tls", tls_abuse, a)
        section("kubectl", kubectl_checks, a)
        section("cert+offline", cert_offline_checks, b)
        section("exec", exec_checks, c)
        for i in insts:
            t = time.time()
            rc = i.stop()
            check("SIGTERM: labsim exits 0 promptly (%s)" % " ".join(i.proc.args[4:6]),
                  rc == 0 and time.time() - t < 5, rc)
            i.errf.seek(0)
            err = i.errf.read()
            check("no tracebacks on stderr", "Traceback" not in err, err[-2000:])
            if VERBOSE and err:
                print(err)
    finally:
        for i in insts:
            i.cleanup()
    print("%.1f s" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
