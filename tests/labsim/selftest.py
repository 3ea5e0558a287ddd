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

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import selftest_llm  # noqa: E402

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

    def stream(self, path, max_time=20.0, headers=None, stop=None):
        """GET a Kubernetes stream (watch, log follow) and read it until the
        server ends it, `stop(bytes so far)` says enough, or max_time of
        silence.  -> (status, headers, body, ended cleanly, seconds)."""
        h = {"Authorization": "Bearer " + self.state["k8s_token"]}
        h.update(headers or {})
        c = self.conn("kubernetes", timeout=max_time)
        t0 = time.time()
        buf = b""
        clean = False
        r = None
        try:
            c.request("GET", path, headers=h)
            r = c.getresponse()
            while True:
                chunk = r.read1(65536)
                if not chunk:
                    clean = True
                    break
                buf += chunk
                if stop is not None and stop(buf):
                    break
        except (socket.timeout, TimeoutError, http.client.IncompleteRead, ConnectionError):
            pass
        finally:
            c.close()
        if r is None:
            return None, {}, buf, False, time.time() - t0
        return r.status, dict(r.getheaders()), buf, clean, time.time() - t0

    def list_rv(self, path="/api/v1/pods?limit=1"):
        st, _, _, body = self.get("kubernetes", path)
        return json.loads(body)["metadata"]["resourceVersion"]

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
    check("pve /cluster/resources: the 7 guests", guests == [
        (101, "qemu", "k8s-node-a", "pve-a"), (102, "qemu", "k8s-node-b", "pve-b"),
        (103, "qemu", "win11", "pve-a"), (104, "qemu", "백업-서버", "pve-b"), (110, "lxc", "dns", "pve-a"),
        (111, "lxc", "ollama-cache", "pve-b"), (112, "lxc", "web-캐시", "pve-a")], guests)
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

    # a query condition: the watch of a path, not its list (the --fault syntax's "?" and "query")
    st, d = a.admin("POST", "/faults", {"spec": "kubernetes:status:code=503@/api/v1/pods?watch=1#1"})
    check("--fault syntax: @/path?watch=1 is a path prefix and a query condition",
          st == 200 and d["fault"]["path"] == "/api/v1/pods" and d["fault"]["query"] == "watch=1", d)
    got = [a.get("kubernetes", p)[0] for p in (
        "/api/v1/pods", "/api/v1/pods?limit=5", "/api/v1/pods?watch=true&timeoutSeconds=1",
        "/api/v1/pods?allowWatchBookmarks=true&watch=1&timeoutSeconds=1", "/api/v1/pods?watch=1&timeoutSeconds=1")]
    check("fault query watch=1: lists and watch=true pass, the watch=1 request fails once",
          got == [200, 200, 200, 503, 200], got)
    a.fault(backend="kubernetes", kind="status", code=500, path="/api/v1/namespaces/default/pods",
            query="watch", count=1)
    got = [a.get("kubernetes", p)[0] for p in (
        "/api/v1/namespaces/default/pods", "/api/v1/pods?watch=true&timeoutSeconds=1",
        "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1")]
    check("fault query by name only (query=watch): any value, only under the path", got == [200, 200, 500], got)
    st, d = a.admin("POST", "/faults", {"backend": "kubernetes", "kind": "stall", "query": "=1"})
    check("admin refuses a query condition without a name", st == 400, d)
    a.admin("DELETE", "/faults")

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


HOSTILE_NAME = "evil\x1b[31mRED\x1b]0;pwned\x07\x9b2J"
HOSTILE_TEXT = "\x1b]52;c;SGVsbG8=\x07\x1b[2J"
RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z ")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def ndjson(body):
    return [json.loads(ln) for ln in body.decode("utf-8").splitlines() if ln.strip()]


def ns_pods(inst, ns):
    st, _, _, body = inst.get("kubernetes", "/api/v1/namespaces/%s/pods" % ns)
    return json.loads(body)["items"]


def named(inst, ns, prefix):
    return [i["metadata"]["name"] for i in ns_pods(inst, ns) if i["metadata"]["name"].startswith(prefix)]


def parallel(**fns):
    """Run the functions at once; -> {name: result}."""
    out = {}
    ts = [threading.Thread(target=lambda k=k, f=f: out.__setitem__(k, f())) for k, f in fns.items()]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return out


def watch_checks(a, rv_before):
    rv0 = a.list_rv()
    check("--churn 0: the resourceVersion stood still during the events and logs checks", rv0 == rv_before,
          (rv_before, rv0))
    gw = named(a, "lab", "gateway-")[0]
    fe = named(a, "lab", "frontend-")[0]
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("w", a.stream(
        "/api/v1/pods?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=2" % rv0, 15)))
    t.start()
    time.sleep(0.5)
    st1, r1 = a.admin("POST", "/churn", {"action": "restart", "namespace": "lab", "name": gw})
    st2, r2 = a.admin("POST", "/churn", {"action": "replace", "namespace": "lab", "name": fe})
    new = r2.get("pod", "")
    check("admin POST /churn: restart and replace answer with the pods",
          st1 == 200 and r1["pod"] == gw and r1["restartCount"] == 1 and st2 == 200 and r2["deleted"] == fe
          and new != fe and new.rsplit("-", 1)[0] == fe.rsplit("-", 1)[0], (r1, r2))
    st, d = a.admin("POST", "/churn", {"action": "restart", "namespace": "lab", "name": "nope"})
    check("admin POST /churn: an unknown pod is 404", st == 404, d)
    t.join(20)
    st, hdr, body, clean, secs = out["w"]
    evs = ndjson(body)
    seen = [(e["type"], e["object"]["metadata"].get("name")) for e in evs]
    check("watch: 200, chunked, application/json",
          st == 200 and hdr.get("Transfer-Encoding") == "chunked" and hdr.get("Content-Type") == "application/json",
          (st, hdr))
    check("watch: MODIFIED, DELETED, ADDED, in order", seen == [("MODIFIED", gw), ("DELETED", fe), ("ADDED", new)],
          seen)
    if len(evs) == 3:
        mod, gone, added = (e["object"] for e in evs)
        check("watch: MODIFIED is the full pod with restartCount 1",
              mod["kind"] == "Pod" and mod["apiVersion"] == "v1" and "spec" in mod
              and mod["status"]["containerStatuses"][0]["restartCount"] == 1
              and "terminated" in mod["status"]["containerStatuses"][0]["lastState"], mod.get("status"))
        check("watch: DELETED carries deletionTimestamp; ADDED is Running",
              "deletionTimestamp" in gone["metadata"] and added["status"]["phase"] == "Running")
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
    check("watch: resourceVersions above the list's, increasing",
          rvs == sorted(set(rvs)) and rvs and rvs[0] > int(rv0), rvs)
    check("watch: timeoutSeconds=2 ends the stream cleanly", clean and 1.8 <= secs <= 5, (clean, secs))
    names = named(a, "lab", "")
    check("list after the changes: its resourceVersion is the last event's; new pod in, old out",
          rvs and a.list_rv() == str(rvs[-1]) and new in names and fe not in names, (rvs, names))
    rv1 = a.list_rv()
    a.fault(backend="kubernetes", kind="expire_watch", count=1)
    st_list = a.get("kubernetes", "/api/v1/pods?limit=1")[0]
    _, _, b1, _, _ = a.stream("/api/v1/pods?watch=1&resourceVersion=%s&timeoutSeconds=1" % rv1, 10)
    # The rest are 1 s watches: at once.
    w = parallel(
        resume=lambda: a.stream("/api/v1/pods?watch=1&resourceVersion=%d&timeoutSeconds=1" % (rvs or [0])[0], 10),
        old=lambda: a.stream("/api/v1/pods?watch=1&resourceVersion=1&allowWatchBookmarks=true", 10),
        again=lambda: a.stream("/api/v1/pods?watch=1&resourceVersion=%s&timeoutSeconds=1" % rv1, 10),
        ns=lambda: a.stream("/api/v1/namespaces/lab/pods?watch=1&timeoutSeconds=1", 10),
        table=lambda: a.stream("/api/v1/namespaces/lab/pods?watch=1&timeoutSeconds=1", 10, {"Accept": TABLE_ACCEPT}))
    body = w["resume"][2]
    check("watch from an event's RV resumes right after it",
          [e["type"] for e in ndjson(body)] == ["DELETED", "ADDED"], body[:300])

    st, _, body, clean, secs = w["old"]
    evs = ndjson(body)
    o = evs[0]["object"] if evs else {}
    check("watch from a too old RV: one ERROR (410 Expired, 'too old resource version: 1 (N)'), then the end",
          st == 200 and len(evs) == 1 and evs[0]["type"] == "ERROR" and clean and secs < 3
          and {k: v for k, v in o.items() if k != "message"} == {
              "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Expired",
              "code": 410}
          and re.match(r"^too old resource version: 1 \(\d+\)$", o.get("message", "")) is not None, body[:300])

    _, _, b2, c2, _ = w["again"]
    e1 = ndjson(b1)
    check("fault expire_watch: lists untouched; the watch gets ERROR 410; the next watch is fine",
          st_list == 200 and len(e1) == 1 and e1[0]["type"] == "ERROR" and e1[0]["object"]["code"] == 410
          and b2 == b"" and c2, (st_list, b1[:200], b2[:200]))

    st, _, body, clean, _ = w["ns"]
    evs = ndjson(body)
    check("watch without an RV: ADDED for each pod of the namespace, then live",
          len(evs) == 6 and all(e["type"] == "ADDED" and e["object"]["metadata"]["namespace"] == "lab" for e in evs),
          [e["type"] for e in evs])
    st, _, body, clean, _ = w["table"]
    evs = ndjson(body)
    check("watch as Table (kubectl get -w): one-row Tables, column definitions only in the first",
          len(evs) == 6 and all(e["object"]["kind"] == "Table" and len(e["object"]["rows"]) == 1 for e in evs)
          and evs[0]["object"]["columnDefinitions"] and all(e["object"]["columnDefinitions"] is None
                                                            for e in evs[1:]), body[:300])

    # A paginated list reads the snapshot of its first page while pods change.
    st, _, _, body = a.get("kubernetes", "/api/v1/pods?limit=8")
    p1 = json.loads(body)
    victim = named(a, "lab", "gateway-")[-1]
    a.admin("POST", "/churn", {"action": "replace", "namespace": "lab", "name": victim})
    names, cont = [i["metadata"]["name"] for i in p1["items"]], p1["metadata"]["continue"]
    rvs = {p1["metadata"]["resourceVersion"]}
    while cont:
        st, _, _, body = a.get("kubernetes", "/api/v1/pods?limit=8&continue=" + urllib.parse.quote(cont))
        d = json.loads(body)
        names += [i["metadata"]["name"] for i in d["items"]]
        rvs.add(d["metadata"]["resourceVersion"])
        cont = d["metadata"].get("continue")
    check("continue pages read their list's snapshot while pods churn",
          len(rvs) == 1 and victim in names and len(names) == a.state["pods"] and victim not in named(a, "lab", ""),
          (rvs, len(names)))


def churn_bg_watch(d, out):
    """Started first: a 12 s watch of the --churn 1 lab, checked later."""
    try:
        rv = d.list_rv()
        out["rv"] = rv
        out["w"] = d.stream("/api/v1/pods?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=12"
                            % rv, 25)
    except Exception as e:  # noqa: BLE001 - reported by churn_checks
        out["error"] = e


def churn_checks(d, out, thread):
    thread.join(30)
    if "w" not in out:
        check("background watch ran", False, out.get("error"))
        return
    st, _, body, clean, secs = out["w"]
    evs = ndjson(body)
    types = [e["type"] for e in evs]
    changes = [e for e in evs if e["type"] != "BOOKMARK"]
    check("--churn 1: changes arrive by themselves (MODIFIED, DELETED+ADDED)",
          st == 200 and len(changes) >= 6 and "MODIFIED" in types and "DELETED" in types and "ADDED" in types
          and all(types[i + 1] == "ADDED" for i, t in enumerate(types) if t == "DELETED" and i + 1 < len(types)),
          types)
    bms = [e["object"] for e in evs if e["type"] == "BOOKMARK"]
    check("bookmarks: every ~10 s, {kind: Pod, apiVersion: v1, metadata: {resourceVersion}} only",
          len(bms) == 1 and set(bms[0]) == {"kind", "apiVersion", "metadata"} and bms[0]["kind"] == "Pod"
          and list(bms[0]["metadata"]) == ["resourceVersion"], bms)
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
    check("watch rvs never go back (bookmarks included)", rvs == sorted(rvs), rvs)
    check("a 12 s watch ends cleanly after 12 s", clean and 11.5 <= secs <= 15, (clean, secs))


def events_checks(a):
    items = ns_pods(a, "lab")
    crash = [i for i in items if "waiting" in i["status"]["containerStatuses"][0]["state"]]
    check("one crash-looping pod in lab", len(crash) == 1)
    if not crash:
        return
    name = crash[0]["metadata"]["name"]
    st, _, _, body = a.get("kubernetes", "/api/v1/namespaces/lab/pods/" + name)
    p = json.loads(body)
    conds = {c["type"]: c for c in p["status"]["conditions"]}
    cs = p["status"]["containerStatuses"][0]
    check("pod details: Ready False (ContainersNotReady), waiting CrashLoopBackOff, last terminated exit 1",
          conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "ContainersNotReady"
          and conds["PodScheduled"]["status"] == "True" and cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
          and cs["lastState"]["terminated"]["exitCode"] == 1 and cs["restartCount"] == 7
          and cs["imageID"] and cs["containerID"].startswith("containerd://"), (conds, cs))
    st, _, _, body = a.get("kubernetes", "/api/v1/namespaces/lab/events?fieldSelector=" + urllib.parse.quote(
        "involvedObject.name=%s,involvedObject.kind=Pod" % name))
    evs = json.loads(body)
    by = {e["reason"]: e for e in evs.get("items", [])}
    check("events: an EventList about that pod only",
          st == 200 and evs["kind"] == "EventList" and by
          and all(e["involvedObject"]["name"] == name for e in evs["items"]), body[:300])
    check("events: Scheduled, Pulled, Created, Started, and BackOff + Unhealthy warnings",
          {"Scheduled", "Pulled", "Created", "Started", "BackOff", "Unhealthy"} <= set(by)
          and by["BackOff"]["type"] == "Warning" and by["Unhealthy"]["type"] == "Warning"
          and by["Started"]["type"] == "Normal" and by["BackOff"]["count"] > 1, sorted(by))
    k = by.get("BackOff", {})
    check("kubelet events: source kubelet/host, counts, firstTimestamp <= lastTimestamp",
          k.get("source") == {"component": "kubelet", "host": crash[0]["spec"]["nodeName"]}
          and k["firstTimestamp"] <= k["lastTimestamp"] and by["Started"]["count"] == 8
          and k["message"].startswith("Back-off restarting failed container backend in pod " + name), k)
    s = by.get("Scheduled", {})
    check("scheduler events: the events.k8s.io shape (source {}, null timestamps, eventTime)",
          s.get("source") == {} and s["firstTimestamp"] is None and s["reportingComponent"] == "default-scheduler"
          and re.match(r"^\d{4}-.*T.*\.\d{6}Z$", s["eventTime"] or "") is not None, s)
    pend = [i["metadata"]["name"] for i in ns_pods(a, "models") if i["status"]["phase"] == "Pending"]
    st, _, _, body = a.get("kubernetes", "/api/v1/namespaces/models/events?fieldSelector=involvedObject.name="
                           + pend[0])
    check("events: the Pending pod has FailedScheduling",
          [e["reason"] for e in json.loads(body)["items"]] == ["FailedScheduling"], body[:300])
    st, _, _, body = a.get("kubernetes", "/api/v1/events?fieldSelector=involvedObject.kind%3DNode")
    st2, _, _, body2 = a.get("kubernetes", "/api/v1/events?fieldSelector=nope%3D1")
    check("events: selectors AND (kind=Node: none); an unknown field is 400",
          st == 200 and json.loads(body)["items"] == [] and st2 == 400, (st2, body2[:200]))
    if shutil.which("kubectl"):
        rc, out, err = kubectl(a, "describe", "pod", "-n", "lab", name)
        check("kubectl describe pod shows the events", rc == 0 and "Events:" in out and "BackOff" in out, err)


def log_checks(a):
    gws = named(a, "lab", "gateway-")
    base = "/api/v1/namespaces/lab/pods/%s/log" % gws[-1]
    st, _, hdr, body = a.get("kubernetes", base)
    lines = body.decode("utf-8").splitlines()
    check("pod log: text/plain, chunked, ~200 lines", st == 200 and hdr.get("Content-Type") == "text/plain"
          and hdr.get("Transfer-Encoding") == "chunked" and 200 <= len(lines) <= 400, (st, hdr, len(lines)))
    st, _, _, body = a.get("kubernetes", base + "?tailLines=5&timestamps=true")
    lines = body.decode("utf-8").splitlines()
    check("pod log: tailLines=5&timestamps=true gives 5 RFC3339Nano-stamped lines",
          len(lines) == 5 and all(RFC3339NANO.match(ln) for ln in lines), lines)
    mp = [i["metadata"]["name"] for i in ns_pods(a, "models") if i["status"]["phase"] == "Running"][0]
    mbase = "/api/v1/namespaces/models/pods/%s/log" % mp
    st, _, _, body = a.get("kubernetes", mbase)
    check("pod log: a two-container pod without container= is 400 with the real message",
          st == 400 and json.loads(body)["message"] == "a container name must be specified for pod %s, choose one "
          "of: [ollama model-sync]" % mp, body)
    st, _, _, body = a.get("kubernetes", mbase + "?container=nope")
    check("pod log: an unknown container is 400",
          st == 400 and json.loads(body)["message"] == "container nope is not valid for pod %s" % mp, body)
    st, _, _, body = a.get("kubernetes", mbase + "?container=ollama")
    check("pod log: UTF-8 (Korean) lines in the model server's log",
          st == 200 and "모델 로드 완료" in body.decode())
    crash = [i["metadata"]["name"] for i in ns_pods(a, "lab")
             if "waiting" in i["status"]["containerStatuses"][0]["state"]][0]
    st, _, _, body, = a.get("kubernetes", "/api/v1/namespaces/lab/pods/%s/log" % crash)
    text = body.decode()
    check("pod log: the crash-looping pod's log ends with a traceback",
          "Traceback (most recent call last):" in text and text.rstrip().splitlines()[-1].startswith("ERROR:"),
          text[-300:])
    st, _, body, clean, secs = a.stream("/api/v1/namespaces/lab/pods/%s/log?follow=true" % crash, 10)
    check("pod log: following a crashed container ends with its log", st == 200 and clean and secs < 3)
    t0 = time.time()
    st, _, body, clean, secs = a.stream(base + "?follow=true&tailLines=1", 5,
                                        stop=lambda b: time.time() - t0 > 1.7)
    n = len(body.decode().splitlines())
    check("pod log: follow=true streams a new line every 0.5 s", st == 200 and 3 <= n <= 6, (n, body[-200:]))
    st, _, _, body = a.get("kubernetes", base + "?previous=true")
    check("pod log: previous=true without a restart is 400", st == 400, body)
    a.fault(backend="kubernetes", kind="stall", seconds=3, path=base, count=1)
    st, hdr, body, clean, secs = a.stream(base + "?follow=true", 1.0)
    check("fault stall applies to logs: part of the body, then silence",
          st == 200 and 0 < len(body) < 20000 and not clean, (st, len(body), clean))
    if shutil.which("kubectl"):
        rc, out, err = kubectl(a, "logs", "-n", "models", mp, "-c", "model-sync", "--tail=2")
        check("kubectl logs -c", rc == 0 and len(out.splitlines()) == 2, err or out)


def names_checks(a, d):
    st, _, _, raw = a.get("proxmox", "/api2/json/cluster/resources")
    names = [r.get("name", "") for r in json.loads(raw)["data"]]
    st, _, _, kraw = a.get("kubernetes", "/api/v1/nodes")
    labels = [v for n in json.loads(kraw)["items"] for v in n["metadata"]["labels"].values()]
    check("without --hostile-names: no control characters in names or labels",
          not any(CONTROL.search(x) for x in names + labels) and b"\\u00" not in raw + kraw, names)
    st, _, _, body = a.get("proxmox", "/api2/json/nodes/pve-b/qemu/104/config")
    check("VM 104 '백업-서버' has its config", json.loads(body)["data"]["name"] == "백업-서버")

    st, _, _, raw = d.get("proxmox", "/api2/json/cluster/resources?type=vm")
    g103 = [r for r in json.loads(raw)["data"] if r["vmid"] == 103][0]
    check("--hostile-names: a guest name with ESC, BEL and U+009B, sent as \\u escapes",
          b'"name":"evil\\u001b[31mRED\\u001b]0;pwned\\u0007\\u009b2J"' in raw and g103["name"] == HOSTILE_NAME,
          g103)
    st, _, _, raw = d.get("kubernetes", "/api/v1/nodes/k8s-node-b")
    check("--hostile-names: a node label carries them too",
          HOSTILE_NAME in json.loads(raw)["metadata"]["labels"].values())
    found_log = found_event = False
    # (--churn 1 may have just restarted the pod: its new instance writes the line 2.25 s after the start)
    deadline = time.time() + 5
    while not (found_log and found_event) and time.time() < deadline:
        for gw in named(d, "lab", "gateway-"):
            st, _, _, body = d.get("kubernetes", "/api/v1/namespaces/lab/pods/%s/log" % gw)
            found_log = found_log or HOSTILE_TEXT in body.decode("utf-8", "replace")
            st, _, _, body = d.get("kubernetes",
                                   "/api/v1/namespaces/lab/events?fieldSelector=involvedObject.name=" + gw)
            found_event = found_event or any(HOSTILE_TEXT in e["message"] for e in json.loads(body)["items"])
        if not (found_log and found_event):
            time.sleep(0.5)
    check("--hostile-names: a gateway pod's log line and event message carry OSC 52 and CSI 2J",
          found_log and found_event, (found_log, found_event))


def rrd_checks(a):
    st, _, _, body = a.get("proxmox", "/api2/json/nodes/pve-a/rrddata?timeframe=hour&cf=AVERAGE")
    now = time.time()
    pts = json.loads(body)["data"]
    st, _, _, sb = a.get("proxmox", "/api2/json/nodes/pve-a/status")
    live = json.loads(sb)["data"]
    last = pts[-1]
    check("node rrddata: 70 points, 60 s apart, ending now, with cpu/memused/memtotal/netin/netout",
          len(pts) == 70 and all(pts[i + 1]["time"] - pts[i]["time"] == 60 for i in range(69))
          and now - 61 <= last["time"] <= now + 1
          and all({"cpu", "memused", "memtotal", "netin", "netout"} <= set(p) for p in pts), last)
    check("node rrddata: the latest point agrees with /status",
          abs(last["cpu"] - live["cpu"]) <= 0.01 * live["cpu"] + 0.0005
          and abs(last["memused"] - live["memory"]["used"]) <= 0.002 * live["memory"]["used"]
          and last["memtotal"] == live["memory"]["total"], (last, live["cpu"], live["memory"]))


def outage_checks(a):
    s = a.state

    def refused(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=3).close()
            return False
        except ConnectionRefusedError:
            return True

    st, d = a.admin("POST", "/outage", {"backend": "proxmox", "down": True})
    check("outage: proxmox down, its port refuses connections",
          st == 200 and d["down"] == ["proxmox"] and refused(s["proxmox"]["port"]), d)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("w", a.stream(
        "/api/v1/pods?watch=1&resourceVersion=%s&timeoutSeconds=30" % a.list_rv(), 20)))
    t.start()
    time.sleep(0.5)
    st, d = a.admin("POST", "/outage", {"backend": "kubernetes", "down": True})
    t.join(10)
    check("outage: kubernetes down cuts a watch in progress and refuses new connections",
          st == 200 and "w" in out and not out["w"][3] and out["w"][4] < 5 and refused(s["kubernetes"]["port"]),
          out.get("w", ("no answer",))[3:])
    a.admin("POST", "/outage", {"backend": "proxmox", "down": False})
    st, d = a.admin("POST", "/outage", {"backend": "kubernetes", "down": False})
    check("outage over: both answer again on the same ports",
          d == {"down": []} and a.get("proxmox", "/api2/json/version")[0] == 200
          and a.get("kubernetes", "/version")[0] == 200, d)


def main():
    t0 = time.time()
    a = Instance("--churn", "0", "--fault", "kubernetes:status:code=503,retry_after=1@/api/v1/namespaces/default#2")
    b = Instance("--k8s-auth", "cert", "--pve-offline", "pve-b", "--no-metrics")
    c = Instance("--k8s-auth", "exec", "--pods", "3000")
    d = Instance("--churn", "1", "--hostile-names", "--log-interval", "0.2")
    insts = [a, b, c, d]
    try:
        for i in insts:
            if not check("labsim %s starts and writes state.json" % " ".join(i.proc.args[4:]), i.wait_ready()):
                i.errf.seek(0)
                print(i.errf.read())
                return 1
        bg = {}
        bg_thread = threading.Thread(target=churn_bg_watch, args=(d, bg))
        bg_thread.start()
        rv_c0 = c.list_rv()
        section("files", files_and_state, a)
        section("proxmox", proxmox_basics, a)
        section("kubernetes", kubernetes_basics, a)
        section("faults", fault_checks, a)
        section("tls", tls_abuse, a)
        section("kubectl", kubectl_checks, a)
        section("cert+offline", cert_offline_checks, b)
        section("exec", exec_checks, c)
        rv_a = a.list_rv()
        section("events", events_checks, a)
        section("logs", log_checks, a)
        section("names", names_checks, a, d)
        section("rrddata", rrd_checks, a)
        section("watch", watch_checks, a, rv_a)
        section("churn", churn_checks, d, bg, bg_thread)
        section("outage", outage_checks, a)
        section("llm files", selftest_llm.llm_files, a, check)
        section("ollama", selftest_llm.ollama_checks, a, check)
        section("gemini", selftest_llm.gemini_checks, a, check)
        section("openai", selftest_llm.openai_checks, a, check)
        section("llm record", selftest_llm.record_checks, a, check)
        section("llm faults", selftest_llm.llm_fault_checks, a, check)
        # The operations services and the Proxmox/Kubernetes actions: selftest_NAME.py each,
        # a checks(inst, check) function, run when the file is there.
        for name in ("proxmox_tasks", "k8s_batch", "argocd", "github", "airflow", "discord", "topology"):
            if os.path.exists(os.path.join(HERE, "selftest_%s.py" % name)):
                section(name, __import__("selftest_" + name).checks, a, check)
        check("default --churn 5: the lab changes by itself", c.list_rv() != rv_c0)
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
