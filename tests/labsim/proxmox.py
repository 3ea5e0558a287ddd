"""The Proxmox VE API personality (pve-api-daemon), under /api2/json.

Shapes follow real PVE 8 answers (see research fixtures): the {"data":...}
envelope, the LXC list's string vmid, loadavg as an array of strings, offline
nodes without cpu/mem/uptime, 401 with an empty body and the reason in the
status line, errors with the message both in the reason phrase and in
{"data":null,"message":...}.
"""

import hashlib
import re
import threading
import time

import core
from core import Response, dumps
from lab import GiB, MiB, hostile, wave

BASE = "/api2/json"
JSON = "application/json;charset=UTF-8"


class PveError(Exception):
    def __init__(self, status, message, body_message=None, delay=0.0, errors=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body_message = message if body_message is None else body_message
        self.delay = delay
        self.errors = errors  # per-parameter errors of a 400


UPID_RX = re.compile(r"^UPID:([a-zA-Z0-9][a-zA-Z0-9.-]*):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
                     r"([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$")

# task type per guest type and action (PVE's worker types)
TASK_TYPES = {("qemu", "start"): "qmstart", ("qemu", "stop"): "qmstop",
              ("qemu", "shutdown"): "qmshutdown", ("qemu", "reboot"): "qmreboot",
              ("lxc", "start"): "vzstart", ("lxc", "stop"): "vzstop",
              ("lxc", "shutdown"): "vzshutdown", ("lxc", "reboot"): "vzreboot"}


class Task:
    """A worker task: running until `polls` status reads have seen it or
    `seconds` have passed (whichever comes first), then stopped with
    `exitstatus`.  `finish` runs once, when it stops with OK."""

    def __init__(self, upid, node, ttype, vmid, user, pid, pstart, starttime, polls, seconds,
                 exitstatus, log_running, log_end, finish):
        self.upid = upid
        self.node = node
        self.type = ttype
        self.id = str(vmid)
        self.user = user
        self.pid = pid
        self.pstart = pstart
        self.starttime = starttime
        self.polls_left = polls
        self.ends_at = starttime + seconds
        self.exitstatus = exitstatus
        self.log_running = log_running
        self.log_end = log_end
        self.finish = finish
        self.stopped = False
        self.endtime = None

    def advance(self, now, poll):
        if self.stopped:
            return
        if poll:
            self.polls_left -= 1
        if self.polls_left <= 0 or now >= self.ends_at:
            self.stopped = True
            self.endtime = int(now)
            if self.exitstatus == "OK" or self.exitstatus.startswith("WARNINGS"):
                self.finish()

    def lines(self):
        return self.log_running + (self.log_end if self.stopped else [])


class Proxmox:
    name = "proxmox"
    server_header = "pve-api-daemon/3.0"
    json_type = JSON

    def __init__(self, lab, token_id, token_secret):
        self.lab = lab
        self.token_id = token_id
        self.token_secret = token_secret
        self._auth_ok = {"PVEAPIToken=%s=%s" % (token_id, token_secret),
                         "PVEAPIToken %s=%s" % (token_id, token_secret)}
        self.routes = [
            (re.compile(r"^/$"), self.get_root),
            (re.compile(r"^/version$"), self.get_version),
            (re.compile(r"^/cluster$"), self.get_cluster_index),
            (re.compile(r"^/cluster/resources$"), self.get_cluster_resources),
            (re.compile(r"^/cluster/status$"), self.get_cluster_status),
            (re.compile(r"^/nodes$"), self.get_nodes),
            (re.compile(r"^/nodes/([^/]+)$"), self.get_node_index),
            (re.compile(r"^/nodes/([^/]+)/status$"), self.get_node_status),
            (re.compile(r"^/nodes/([^/]+)/rrddata$"), self.get_node_rrd),
            (re.compile(r"^/nodes/([^/]+)/(qemu|lxc)$"), self.get_guest_list),
            (re.compile(r"^/nodes/([^/]+)/(qemu|lxc)/(\d+)$"), self.get_guest_index),
            (re.compile(r"^/nodes/([^/]+)/(qemu|lxc)/(\d+)/config$"), self.get_guest_config),
            (re.compile(r"^/nodes/([^/]+)/(qemu|lxc)/(\d+)/status$"), self.get_guest_status_index),
            (re.compile(r"^/nodes/([^/]+)/(qemu|lxc)/(\d+)/status/current$"), self.get_guest_status),
            (re.compile(r"^/nodes/([^/]+)/(qemu|lxc)/(\d+)/rrddata$"), self.get_guest_rrd),
            (re.compile(r"^/nodes/([^/]+)/qemu/(\d+)/agent/network-get-interfaces$"), self.get_agent_interfaces),
            (re.compile(r"^/nodes/([^/]+)/tasks/([^/]+)/status$"), self.get_task_status),
            (re.compile(r"^/nodes/([^/]+)/tasks/([^/]+)/log$"), self.get_task_log),
        ]
        self.post_routes = [
            (re.compile(r"^/nodes/([^/]+)/(qemu|lxc)/(\d+)/status/(start|stop|shutdown|reboot)$"),
             self.post_guest_action),
        ]
        # Power tasks: knobs set through the admin API (POST /proxmox/tasks).
        self.task_lock = threading.Lock()
        self.tasks = {}
        self.task_polls = 3  # status reads until a task stops (the 3rd read says stopped)
        self.task_seconds = 10.0  # ... or this long, if nobody reads
        self.task_failures = []  # [(exitstatus, log lines)] for the next tasks
        self.power_denied = False  # the token lacks VM.PowerMgmt
        self.task_seq = 0

    # ---------------- plumbing ----------------

    @staticmethod
    def ok(data):
        return Response(200, dumps({"data": data}), content_type=JSON, headers=[
            ("Cache-Control", "max-age=0"), ("Pragma", "no-cache"),
            ("Expires", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))])

    @staticmethod
    def error(status, reason, message=None):
        msg = reason if message is None else message
        return Response(status, dumps({"data": None, "message": msg}), reason=reason, content_type=JSON,
                        headers=[("Cache-Control", "max-age=0"), ("Pragma", "no-cache")])

    @staticmethod
    def unauthorized():
        # pve-http-server answers auth failures before the formatter: no body.
        return Response(401, b"", reason="authentication failure", close=True,
                        headers=[("Cache-Control", "max-age=0")])

    def authorized(self, req):
        return req.headers.get("Authorization", "") in self._auth_ok

    def handle(self, req):
        path = req.path
        if not (path == BASE or path.startswith(BASE + "/")):
            # the real server's file handler (e.g. a base URL without /api2/json)
            return Response(500, b"", reason="no such file '%s'" % path,
                            headers=[("Cache-Control", "max-age=0")])
        if not self.authorized(req):
            return self.unauthorized()
        rel = path[len(BASE):] or "/"
        self.advance_tasks()
        if req.method == "POST":
            routes = self.post_routes
        elif req.method in ("GET", "HEAD"):
            routes = self.routes
        else:
            routes = []
        for rx, fn in routes:
            m = rx.match(rel)
            if m:
                try:
                    return fn(req, *m.groups())
                except PveError as e:
                    if e.delay:
                        self.lab_sleep(e.delay)
                    if e.errors is not None:
                        return Response(e.status, dumps({"errors": e.errors, "data": None}), reason=e.message,
                                        content_type=JSON, headers=[("Cache-Control", "max-age=0")])
                    return self.error(e.status, e.message, e.body_message)
        return self.error(501, "Method '%s %s' not implemented" % (req.method, rel))

    def lab_sleep(self, seconds):
        time.sleep(seconds)

    def fault_status(self, req, code, params):
        reason = params.get("reason")
        headers = [("Cache-Control", "max-age=0")]
        if params.get("retry_after") is not None:
            headers.append(("Retry-After", str(params["retry_after"])))
        if code == 401:
            body = params.get("body", "")
            return Response(401, body.encode() if isinstance(body, str) else b"",
                            reason=reason or "authentication failure", headers=headers)
        reason = reason or {403: "Permission check failed", 500: "internal error",
                            502: "Bad Gateway", 503: "Service Unavailable", 595: "Connection refused",
                            596: "Connection timed out", 429: "Too Many Requests"}.get(code, "error")
        body = params.get("body")
        if body is None:
            body = dumps({"data": None, "message": reason + "\n"})
        elif isinstance(body, str):
            body = body.encode()
        else:
            body = dumps(body)
        return Response(code, body, reason=reason, content_type=JSON, headers=headers)

    def malformed_body(self):
        return b'{"data":[{"id":"qemu/101","type":"qemu","cpu":0.0\x00\xff\xfe<html>502 Bad Gateway'

    def big_parts(self, nbytes):
        item = dumps({"id": "qemu/100", "type": "qemu", "vmid": 100, "name": "filler", "node": "pve-a",
                      "status": "running", "cpu": 0.0123, "maxcpu": 2, "mem": 1073741824,
                      "maxmem": 2147483648, "disk": 0, "maxdisk": 34359738368, "uptime": 12345,
                      "netin": 123456789, "netout": 12345678, "diskread": 1234567, "diskwrite": 7654321,
                      "template": 0, "tags": "x" * 200})
        return core.json_array_parts(b'{"data":[', item, b"]}", nbytes)

    def expired_continue(self, req):
        return None

    def admin(self, method, path, data):
        if path == "/proxmox/offline" and method == "POST":
            data = data or {}
            node = data.get("node")
            if node not in self.lab.pve_node_by_name:
                return 400, {"error": "unknown node %r" % node}
            if data.get("offline", True):
                self.lab.pve_offline.add(node)
            else:
                self.lab.pve_offline.discard(node)
            return 200, {"offline": sorted(self.lab.pve_offline)}
        if path == "/proxmox/guest" and method == "POST":
            # topology knobs: resize a guest (overcommit its host), drop its agent, rename it
            data = data or {}
            g = self.lab.guest_by_id.get(data.get("vmid"))
            if g is None:
                return 400, {"error": "unknown vmid %r" % data.get("vmid")}
            if "cores" in data:
                g.cores = int(data["cores"])
            if "memory_mib" in data:
                g.memory_mib = int(data["memory_mib"])
                g.maxmem = g.memory_mib * MiB
            if "agent" in data:
                g.extra_config["agent"] = "1" if data["agent"] else "0"
            if "name" in data:
                g.name = str(data["name"])
            return 200, {"vmid": g.vmid, "name": g.name, "cores": g.cores, "memory_mib": g.memory_mib,
                         "agent": g.extra_config.get("agent", "0")}
        if path == "/proxmox/tasks":
            if method == "POST":
                data = data or {}
                with self.task_lock:
                    if "polls" in data:
                        self.task_polls = max(1, int(data["polls"]))
                    if "seconds" in data:
                        self.task_seconds = float(data["seconds"])
                    if "power_denied" in data:
                        self.power_denied = bool(data["power_denied"])
                    if data.get("fail"):
                        f = data["fail"]
                        lines = f.get("log") or []
                        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
                            return 400, {"error": "fail.log must be a list of strings"}
                        for _ in range(int(f.get("count", 1))):
                            self.task_failures.append((str(f.get("exitstatus", "task failed")), lines))
            with self.task_lock:
                return 200, {"polls": self.task_polls, "seconds": self.task_seconds,
                             "power_denied": self.power_denied,
                             "pending_failures": [x[0] for x in self.task_failures],
                             "tasks": [{"upid": t.upid, "status": "stopped" if t.stopped else "running",
                                        "exitstatus": t.exitstatus if t.stopped else None}
                                       for t in self.tasks.values()]}
        return None

    # ---------------- helpers ----------------

    def node_or_error(self, name):
        n = self.lab.pve_node_by_name.get(name)
        if n is None:
            raise PveError(500, "hostname lookup '%s' failed - failed to get address info for: %s: "
                                "Name or service not known" % (name, name),
                           "hostname lookup '%s' failed - failed to get address info for: %s: "
                           "Name or service not known\n" % (name, name))
        if not self.lab.node_online(name):
            raise PveError(596, "Connection timed out", delay=0.2)
        return n

    def guest_or_error(self, node, gtype, vmid):
        g = self.lab.guest_by_id.get(int(vmid))
        if g is None or g.node != node or g.type != gtype:
            conf = "qemu-server" if gtype == "qemu" else "lxc"
            msg = "Configuration file 'nodes/%s/%s/%s.conf' does not exist" % (node, conf, vmid)
            raise PveError(500, msg, msg + "\n")
        return g

    def node_row(self, n, with_fp):
        lab = self.lab
        row = {"id": "node/" + n.name, "type": "node", "node": n.name, "level": "",
               "maxcpu": n.threads, "maxmem": n.maxmem, "maxdisk": n.root_total}
        if lab.node_online(n.name):
            row.update({"status": "online", "cpu": lab.node_cpu(n), "mem": lab.node_mem(n),
                        "disk": n.boot_disk_used, "uptime": lab.node_uptime(n), "cgroup-mode": 2})
        else:
            row["status"] = "offline"
        if with_fp:
            row["ssl_fingerprint"] = n.ssl_fingerprint
        return row

    def guest_row(self, g, for_cluster):
        lab = self.lab
        if not lab.node_online(g.node):
            row = {"id": "%s/%d" % (g.type, g.vmid), "type": g.type, "vmid": g.vmid, "name": g.name,
                   "node": g.node, "status": "unknown", "template": g.template,
                   "maxcpu": g.cores, "maxmem": g.maxmem, "maxdisk": g.maxdisk}
            if g.tags:
                row["tags"] = g.tags
            return row
        netin, netout, dread, dwrite = lab.guest_counters(g)
        run = g.running
        row = {"vmid": g.vmid, "name": g.name, "status": "running" if run else "stopped",
               "uptime": lab.guest_uptime(g), "cpu": lab.guest_cpu(g), "mem": lab.guest_mem(g),
               "maxmem": g.maxmem, "disk": 0, "maxdisk": g.maxdisk,
               "netin": netin if run else 0, "netout": netout if run else 0,
               "diskread": dread if run else 0, "diskwrite": dwrite if run else 0}
        if g.type == "lxc":
            row["disk"] = int(g.maxdisk * 0.21) if run else 0
        if for_cluster:
            row.update({"id": "%s/%d" % (g.type, g.vmid), "type": g.type, "node": g.node,
                        "maxcpu": g.cores, "template": g.template})
        else:
            row["cpus"] = g.cores
            if g.type == "lxc":
                row["type"] = "lxc"
                row["vmid"] = str(g.vmid)  # real PVE quirk: the LXC list has a string vmid
                row["maxswap"] = 512 * MiB
                row["swap"] = 0
            if g.template:
                row["template"] = g.template
            if run:
                row["pid"] = g.pid
        if g.tags:
            row["tags"] = g.tags
        return row

    # ---------------- endpoints ----------------

    def get_root(self, req):
        return self.ok([{"subdir": s} for s in ("version", "cluster", "nodes", "storage", "access",
                                                 "pools")])

    def get_version(self, req):
        return self.ok({"version": "8.2.4", "release": "8.2", "repoid": "faa83925c9641325"})

    def get_cluster_index(self, req):
        return self.ok([{"name": s} for s in ("log", "options", "resources", "status", "tasks",
                                               "nextid")])

    def get_cluster_status(self, req):
        lab = self.lab
        out = [{"id": "cluster", "name": "homelab", "type": "cluster", "nodes": len(lab.pve_nodes),
                "quorate": 1 if all(lab.node_online(n.name) for n in lab.pve_nodes) else 0,
                "version": 4}]
        for i, n in enumerate(lab.pve_nodes):
            out.append({"id": "node/" + n.name, "name": n.name, "type": "node", "ip": n.ip,
                        "level": "", "local": 1 if i == 0 else 0, "nodeid": i + 1,
                        "online": 1 if lab.node_online(n.name) else 0})
        return self.ok(out)

    def get_cluster_resources(self, req):
        lab = self.lab
        want = req.qget("type")
        if want not in (None, "", "vm", "node", "storage", "sdn"):
            raise PveError(400, "Parameter verification failed.", errors={
                "type": "value '%s' does not have a value in the enumeration 'vm, storage, node, sdn'" % want})
        out = []
        if want in (None, "", "vm"):
            out += [self.guest_row(g, True) for g in lab.guests]
        if want in (None, "", "node"):
            out += [self.node_row(n, False) for n in lab.pve_nodes]
        if want in (None, "", "storage"):
            for n in lab.pve_nodes:
                online = lab.node_online(n.name)
                for sid, ptype, content, maxd, used in (
                        ("local", "dir", "backup,iso,vztmpl", n.root_total, n.boot_disk_used),
                        ("local-lvm", "lvmthin", "images,rootdir", n.maxdisk - 120 * GiB,
                         int((n.maxdisk - 120 * GiB) * (0.31 if n.name == "pve-a" else 0.47)))):
                    row = {"id": "storage/%s/%s" % (n.name, sid), "type": "storage", "storage": sid,
                           "node": n.name, "plugintype": ptype, "content": content, "shared": 0,
                           "status": "available" if online else "unknown"}
                    if online:
                        row["disk"] = used
                        row["maxdisk"] = maxd
                    out.append(row)
        if want == "sdn":
            out = [{"id": "sdn/%s/localnetwork" % n.name, "type": "sdn", "sdn": "localnetwork",
                    "node": n.name, "status": "ok" if lab.node_online(n.name) else "unknown"}
                   for n in lab.pve_nodes]
        return self.ok(out)

    def get_nodes(self, req):
        return self.ok([self.node_row(n, True) for n in self.lab.pve_nodes])

    def get_node_index(self, req, node):
        self.node_or_error(node)
        return self.ok([{"name": s} for s in ("apt", "capabilities", "ceph", "disks", "firewall",
                                               "lxc", "network", "qemu", "rrd", "rrddata", "status",
                                               "storage", "tasks", "version")])

    def get_node_status(self, req, node):
        n = self.node_or_error(node)
        lab = self.lab
        t = lab.now()
        mem = lab.node_mem(n, t)
        root_total = n.root_total
        return self.ok({
            "uptime": lab.node_uptime(n),
            "idle": 0,
            "wait": round(0.0004 + 0.003 * wave("wait" + n.name, t), 6),
            "cpu": lab.node_cpu(n, t),
            "loadavg": lab.node_loadavg(n, t),
            "kversion": "Linux 6.8.8-2-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.8-2 (2024-06-24T09:00Z)",
            "pveversion": "pve-manager/8.2.4/faa83925c9641325",
            "current-kernel": {"machine": "x86_64", "release": "6.8.8-2-pve", "sysname": "Linux",
                               "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.8.8-2 (2024-06-24T09:00Z)"},
            "boot-info": {"mode": "efi", "secureboot": 0},
            "cpuinfo": {"cpus": n.threads, "cores": n.cores, "sockets": 1, "model": n.cpu_model,
                        "mhz": n.mhz, "hvm": "1", "user_hz": 100,
                        "flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
                                 "clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb "
                                 "rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl "
                                 "xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor "
                                 "ds_cpl vmx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid sse4_1 sse4_2 "
                                 "x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm abm "
                                 "3dnowprefetch cpuid_fault epb invpcid_single ssbd ibrs ibpb stibp "
                                 "tpr_shadow flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 avx2 "
                                 "smep bmi2 erms invpcid mpx rdseed adx smap clflushopt intel_pt "
                                 "xsaveopt xsavec xgetbv1 xsaves dtherm ida arat pln pts hwp hwp_notify "
                                 "hwp_act_window hwp_epp md_clear flush_l1d arch_capabilities"},
            "memory": {"total": n.maxmem, "used": mem, "free": n.maxmem - mem},
            "swap": {"total": n.swap_total, "used": 0, "free": n.swap_total},
            "rootfs": {"total": root_total, "used": n.boot_disk_used,
                       "free": root_total - n.boot_disk_used, "avail": root_total - n.boot_disk_used - 5 * GiB},
            "ksm": {"shared": 0},
        })

    @staticmethod
    def timeframe_step(req):
        cf = req.qget("cf")
        if cf not in (None, "AVERAGE", "MAX"):
            raise PveError(400, "Parameter verification failed.", errors={
                "cf": "value '%s' does not have a value in the enumeration 'AVERAGE, MAX'" % cf})
        tf = req.qget("timeframe", "hour")
        steps = {"hour": 60, "day": 1800, "week": 10800, "month": 43200, "year": 604800,
                 "decade": 6048000}
        if tf not in steps:
            raise PveError(400, "Parameter verification failed.", errors={
                "timeframe": "value '%s' does not have a value in the enumeration "
                             "'hour, day, week, month, year, decade'" % tf})
        return steps[tf]

    def get_node_rrd(self, req, node):
        """70 points `step` apart; the last is the current, still filling
        slot, whose values are the live ones (what /nodes/{node}/status says now)."""
        n = self.node_or_error(node)
        step = self.timeframe_step(req)
        lab = self.lab
        now = lab.now()
        end = int(now) // step * step
        out = []
        for i in range(70):
            t = end - (69 - i) * step
            at = now if i == 69 else t
            cpu = lab.node_cpu(n, at)
            mem = lab.node_mem(n, at)
            out.append({"time": t, "cpu": cpu, "maxcpu": n.threads,
                        "iowait": round(0.0002 + 0.002 * wave("io" + n.name, t), 8),
                        "loadavg": round(cpu * n.threads * (0.9 + 0.2 * wave("la" + n.name, t)), 6),
                        "memtotal": n.maxmem, "memused": mem + 0.53333,
                        "swaptotal": n.swap_total, "swapused": 0,
                        "roottotal": n.root_total, "rootused": n.boot_disk_used + 0.7333,
                        "netin": round(12000 + 90000 * wave("ni" + n.name, t), 3),
                        "netout": round(4000 + 30000 * wave("no" + n.name, t), 3)})
        return self.ok(out)

    def get_guest_list(self, req, node, gtype):
        self.node_or_error(node)
        return self.ok([self.guest_row(g, False) for g in self.lab.guests_on(node) if g.type == gtype])

    def get_guest_index(self, req, node, gtype, vmid):
        self.node_or_error(node)
        self.guest_or_error(node, gtype, vmid)
        return self.ok([{"subdir": s} for s in ("config", "status", "rrd", "rrddata", "snapshot")])

    def get_guest_status_index(self, req, node, gtype, vmid):
        self.node_or_error(node)
        self.guest_or_error(node, gtype, vmid)
        return self.ok([{"subdir": s} for s in ("current", "start", "stop", "shutdown", "reboot")])

    def get_guest_config(self, req, node, gtype, vmid):
        self.node_or_error(node)
        g = self.guest_or_error(node, gtype, vmid)
        if g.type == "qemu":
            cfg = {"name": g.name, "cores": g.cores, "sockets": 1,
                   # PVE 8 returns memory as a string since virtio-mem ([current=]<int>);
                   # older servers a number.  Both appear here so parsers see both.
                   "memory": str(g.memory_mib) if g.vmid == 102 else g.memory_mib,
                   "ostype": "l26", "scsihw": "virtio-scsi-single", "boot": "order=scsi0;ide2;net0",
                   "net0": "virtio=%s,bridge=vmbr0,firewall=1" % g.mac,
                   "meta": "creation-qemu=8.1.5,ctime=%d" % int(self.lab.cluster_born - 86400 * 3),
                   "smbios1": "uuid=%s" % self._uuid(g),
                   "vmgenid": self._uuid(g, "gen")}
            cfg.update(g.extra_config)
            if g.vmid == 103:
                cfg["boot"] = "order=sata0;ide2;net0"
                cfg["net0"] = "e1000=%s,bridge=vmbr0" % g.mac
        else:
            cfg = {"arch": "amd64", "cores": g.cores, "hostname": g.name, "memory": g.memory_mib,
                   "swap": 512, "ostype": "debian", "unprivileged": 1, "features": "nesting=1",
                   "onboot": 1 if g.running else 0,
                   "rootfs": "local-lvm:vm-%d-disk-0,size=%dG" % (g.vmid, g.maxdisk // GiB),
                   "net0": "name=eth0,bridge=vmbr0,firewall=1,gw=10.10.0.1,hwaddr=%s,ip=%s/24,type=veth"
                           % (g.mac, g.ip)}
            if g.vmid == 111:
                cfg["mp0"] = "/tank/models,mp=/srv/models"
        if g.tags:
            cfg["tags"] = g.tags
        cfg["digest"] = hashlib.sha1(dumps(cfg)).hexdigest()
        return self.ok(cfg)

    @staticmethod
    def _uuid(g, salt=""):
        h = hashlib.md5(("%s%d" % (salt, g.vmid)).encode()).hexdigest()
        return "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])

    def get_agent_interfaces(self, req, node, vmid):
        """The guest agent's interfaces (qemu-guest-agent guest-network-get-interfaces in
        data.result): lo, and eth0 with the guest's address and a link-local one. A guest whose
        config has no agent, or that is not running, answers 500 as Proxmox does."""
        self.node_or_error(node)
        g = self.guest_or_error(node, "qemu", vmid)
        if not str(g.extra_config.get("agent", "0")).startswith("1"):
            raise PveError(500, "No QEMU guest agent configured")
        if not g.running or not g.ip:
            raise PveError(500, "QEMU guest agent is not running")
        mac = (g.mac or "bc:24:11:00:00:00").lower()
        parts = mac.split(":")
        ll = "fe80::be24:11ff:fe%s:%s%s" % (parts[3], parts[4], parts[5])
        lo = {"name": "lo", "hardware-address": "00:00:00:00:00:00",
              "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
                               {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128}],
              "statistics": {"rx-bytes": 51234, "rx-dropped": 0, "rx-errs": 0, "rx-packets": 612,
                             "tx-bytes": 51234, "tx-dropped": 0, "tx-errs": 0, "tx-packets": 612}}
        eth = {"name": "eth0", "hardware-address": mac,
               "ip-addresses": [{"ip-address": g.ip, "ip-address-type": "ipv4", "prefix": 24},
                                {"ip-address": ll, "ip-address-type": "ipv6", "prefix": 64}],
               "statistics": {"rx-bytes": 912345678, "rx-dropped": 0, "rx-errs": 0, "rx-packets": 723411,
                              "tx-bytes": 123456789, "tx-dropped": 0, "tx-errs": 0, "tx-packets": 512344}}
        return self.ok({"result": [lo, eth]})

    def get_guest_status(self, req, node, gtype, vmid):
        self.node_or_error(node)
        g = self.guest_or_error(node, gtype, vmid)
        lab = self.lab
        run = g.running
        netin, netout, dread, dwrite = lab.guest_counters(g)
        st = {"vmid": g.vmid, "name": g.name, "status": "running" if run else "stopped",
              "cpus": g.cores, "maxmem": g.maxmem, "maxdisk": g.maxdisk,
              "uptime": lab.guest_uptime(g), "cpu": lab.guest_cpu(g), "mem": lab.guest_mem(g),
              "disk": 0, "netin": netin if run else 0, "netout": netout if run else 0,
              "diskread": dread if run else 0, "diskwrite": dwrite if run else 0,
              "ha": {"managed": 0}}
        if g.tags:
            st["tags"] = g.tags
        if g.type == "qemu":
            st["qmpstatus"] = "running" if run else "stopped"
            if run:
                free = g.maxmem - st["mem"]
                st.update({"pid": g.pid, "agent": 1, "running-qemu": "8.1.5",
                           "running-machine": "pc-q35-8.1+pve0", "shares": 1000,
                           "balloon": g.maxmem, "freemem": free,
                           "ballooninfo": {"actual": g.maxmem, "max_mem": g.maxmem, "free_mem": free,
                                           "total_mem": g.maxmem - 85 * MiB, "major_page_faults": 1811,
                                           "minor_page_faults": 3803793, "mem_swapped_in": 0,
                                           "mem_swapped_out": 0, "last_update": int(lab.now()) - 3},
                           "blockstat": {"scsi0": {"rd_bytes": dread, "wr_bytes": dwrite,
                                                   "rd_operations": dread // 65536,
                                                   "wr_operations": dwrite // 16384,
                                                   "flush_operations": 15494, "failed_rd_operations": 0,
                                                   "failed_wr_operations": 0, "account_failed": True,
                                                   "account_invalid": True, "timed_stats": [],
                                                   "idle_time_ns": 4427685914,
                                                   "wr_highest_offset": 2808696832}},
                           "nics": {"tap%di0" % g.vmid: {"netin": netin, "netout": netout}},
                           "proxmox-support": {"pbs-dirty-bitmap": True, "pbs-dirty-bitmap-migration": True,
                                               "pbs-dirty-bitmap-savevm": True, "pbs-masterkey": True,
                                               "query-bitmap-info": True, "backup-max-workers": True,
                                               "pbs-library-version": "1.4.1 (UNKNOWN)"}})
                if "hostpci0" in g.extra_config:
                    st.pop("balloon")
                    st.pop("ballooninfo")
        else:
            st.update({"type": "lxc", "maxswap": 512 * MiB, "swap": 0})
            if run:
                st["pid"] = g.pid
                st["disk"] = int(g.maxdisk * 0.21)
        if g.template:
            st["template"] = g.template
        return self.ok(st)

    def get_guest_rrd(self, req, node, gtype, vmid):
        self.node_or_error(node)
        g = self.guest_or_error(node, gtype, vmid)
        step = self.timeframe_step(req)
        lab = self.lab
        now = lab.now()
        end = int(now) // step * step
        out = []
        for i in range(70):
            t = end - (69 - i) * step
            at = now if i == 69 else t  # the last slot: live values
            p = {"time": t, "maxcpu": g.cores, "maxmem": g.maxmem, "maxdisk": g.maxdisk,
                 "disk": int(g.maxdisk * 0.21) if g.type == "lxc" else 0}
            if g.running:
                p.update({"cpu": lab.guest_cpu(g, at), "mem": lab.guest_mem(g, at) + 0.2666,
                          "netin": round(9000 + 40000 * wave("gi%d" % g.vmid, t), 3),
                          "netout": round(3000 + 12000 * wave("go%d" % g.vmid, t), 3),
                          "diskread": round(2000 + 9000 * wave("gr%d" % g.vmid, t), 3),
                          "diskwrite": round(5000 + 30000 * wave("gw%d" % g.vmid, t), 3)})
            out.append(p)
        return self.ok(out)

    # ---------------- power actions and tasks ----------------

    def make_upid(self, node, ttype, vmid, now):
        """PVE::Tools::upid_encode: UPID:node:PID:PSTART:STARTTIME:type:id:user: with
        upper-case hex; the user of a token call is USER@REALM!TOKENID."""
        self.task_seq += 1
        n = self.lab.pve_node_by_name[node]
        pid = (0x0F1A2B + 7919 * self.task_seq + int(now)) % 0x3FFFFF
        pstart = int(self.lab.node_uptime(n) * 100) & 0xFFFFFFFF
        return pid, pstart, "UPID:%s:%08X:%08X:%08X:%s:%s:%s:" % (node, pid, pstart, int(now), ttype,
                                                                 vmid, self.token_id)

    def post_guest_action(self, req, node, gtype, vmid, action):
        self.node_or_error(node)
        g = self.guest_or_error(node, gtype, vmid)
        if self.power_denied:
            msg = "Permission check failed (/vms/%s, VM.PowerMgmt)" % vmid
            raise PveError(403, msg, msg + "\n")
        kind = "VM" if gtype == "qemu" else "CT"
        # What PVE checks before it forks the worker (a 500), and what the worker finds (a
        # task that fails): qemu's vm_start dies inside the worker; LXC checks first.
        pre = None
        worker_error = None
        if gtype == "qemu":
            if action == "start" and g.running:
                worker_error = "VM %s already running" % vmid
            elif action == "reboot" and not g.running:
                pre = "VM %s not running" % vmid
            # qemu stop/shutdown of a stopped VM: the worker finds nothing to do, OK
        else:
            if action == "start" and g.running:
                pre = "CT %s already running" % vmid
            elif action != "start" and not g.running:
                pre = "CT %s not running" % vmid
        if pre:
            raise PveError(500, pre, pre + "\n")
        now = self.lab.now()
        ttype = TASK_TYPES[(gtype, action)]
        with self.task_lock:
            pid, pstart, upid = self.make_upid(node, ttype, vmid, now)
            if worker_error is None and self.task_failures:
                worker_error, extra = self.task_failures.pop(0)
            else:
                extra = None
            if worker_error is not None:
                running = list(extra) if extra else [worker_error]
                exitstatus = worker_error
                end = ["TASK ERROR: " + worker_error]
            else:
                running, end, exitstatus = self.task_log_ok(g, action, kind), ["TASK OK"], "OK"
            if self.lab.hostile_all:  # --hostile: a task log line with every payload
                running = running + [hostile("worker says:", self.lab)]
            lab = self.lab

            def finish():
                if action == "start":
                    lab.set_guest_running(g, True)
                elif action in ("stop", "shutdown"):
                    lab.set_guest_running(g, False)
                else:
                    lab.set_guest_running(g, True, restarted=True)

            t = Task(upid, node, ttype, vmid, self.token_id, pid, pstart, int(now), self.task_polls,
                     self.task_seconds, exitstatus, running, end, finish)
            self.tasks[upid] = t
        return self.ok(upid)

    @staticmethod
    def task_log_ok(g, action, kind):
        """The lines a successful worker writes before TASK OK (qmstart of a
        cloud-init VM regenerates its ISO; the others write nothing)."""
        if action == "start" and g.type == "qemu" and "ipconfig0" in g.extra_config:
            return ["generating cloud-init ISO"]
        return []

    def advance_tasks(self):
        """Tasks whose time is up end before any answer (so a guest's status is right
        even when nobody follows its task)."""
        now = self.lab.now()
        with self.task_lock:
            for t in self.tasks.values():
                if not t.stopped and now >= t.ends_at:
                    t.advance(now, False)

    def task_or_error(self, node, upid, poll):
        self.node_or_error(node)
        m = UPID_RX.match(upid)
        if not m:
            raise PveError(400, "Parameter verification failed.",
                           errors={"upid": "unable to parse worker upid '%s'" % upid})
        with self.task_lock:
            t = self.tasks.get(upid)
            if t is None or t.node != node:
                msg = "unable to open file '/var/log/pve/tasks/%s/%s' - No such file or directory" % (
                    upid.split(":")[4][-1:] if len(upid.split(":")) > 4 else "0", upid)
                raise PveError(500, msg, msg + "\n")
            t.advance(self.lab.now(), poll)
            return t

    def get_task_status(self, req, node, upid):
        t = self.task_or_error(node, upid, True)
        user, _, tokenid = t.user.partition("!")
        st = {"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart, "starttime": t.starttime,
              "type": t.type, "id": t.id, "user": user, "status": "stopped" if t.stopped else "running"}
        if tokenid:
            st["tokenid"] = tokenid
        if t.stopped:
            st["exitstatus"] = t.exitstatus
        return self.ok(st)

    def get_task_log(self, req, node, upid):
        t = self.task_or_error(node, upid, False)
        try:
            start = int(req.qget("start", "0"))
            limit = int(req.qget("limit", "50"))
        except ValueError:
            raise PveError(400, "Parameter verification failed.",
                           errors={"start": "type check ('integer') failed"})
        lines = t.lines()
        page = [{"n": i + 1, "t": x} for i, x in enumerate(lines)][start:start + limit if limit else None]
        return Response(200, dumps({"data": page, "total": len(lines)}), content_type=JSON,
                        headers=[("Cache-Control", "max-age=0")])
