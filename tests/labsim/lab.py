"""The simulated lab's data model: Proxmox nodes and guests, Kubernetes nodes,
namespaces and pods.

Everything here is plain data plus a few functions that turn wall time into
the slowly moving numbers a real lab shows (CPU fractions, memory, uptime,
cumulative counters).  The HTTP personalities (proxmox.py, kubernetes.py)
only shape this data into their wire formats.

Determinism: names, uids and addresses come from a seeded random generator,
so two labsim runs with the same --pods N produce the same pod names.

Change: pods churn (Lab.churn: a restart, or a replacement by the controller).
A change never edits a Pod or a PodSet: it makes new records and a new
snapshot, and appends to the history that watches read.
"""

import bisect
import math
import random
import threading
import time
import uuid
import zlib

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# Kubernetes pod name suffix alphabet (k8s.io/apimachinery/pkg/util/rand).
K8S_ALNUM = "bcdfghjklmnpqrstvwxz2456789"
# pod-template-hash is rand.SafeEncodeString of a decimal number: each digit
# maps into K8S_ALNUM, so only these ten characters occur ("7d9f8b6c5d").
K8S_HASH_CHARS = "456789bcdf"

# --hostile-names payloads.
HOSTILE_NAME = "evil\x1b[31mRED\x1b]0;pwned\x07\x9b2J"
HOSTILE_TEXT = "\x1b]52;c;SGVsbG8=\x07\x1b[2J"  # OSC 52 (set the clipboard), then clear the screen
# --hostile payloads: every one a control prefix followed by a marker starting "PWN", so a test can
# check the bytes just before each marker. C1 controls as UTF-8 code points (U+009B CSI, U+009D OSC,
# U+0090 DCS); HOSTILE_RAW adds C1 as raw bytes (written with surrogateescape) for text/plain bodies.
HOSTILE_PAYLOADS = (
    "\x1b[6nPWNcsi",  # CSI: device status report (the terminal would answer on stdin)
    "\x1b[31mPWNsgr\x1b[0m",
    "\x1b]0;PWNt0\x07",  # OSC 0: window and icon title, ended by BEL
    "\x1b]2;PWNt2\x1b\\",  # OSC 2: window title, ended by ST
    "\x1b]52;c;UFdO\x07PWN52",  # OSC 52: set the clipboard to "PWN"
    "\x1bP$qPWNdcs\x1b\\",  # DCS (DECRQSS)
    "\x1b_PWNapc\x1b\\",  # APC
    "ok\rPWNcr",  # carriage return: overwrite what came before on the line
    "\u009b6nPWNc1",  # 8-bit CSI as UTF-8
    "\u009d0;PWNc1osc\u009c",  # 8-bit OSC ... ST as UTF-8
    "\u0090PWNc1dcs\u009c",  # 8-bit DCS as UTF-8
    "\u202ePWNbidi\u202c",  # right-to-left override ... pop
    "\u2066PWNiso\u2069",  # left-to-right isolate ... pop
)
HOSTILE = " ".join(HOSTILE_PAYLOADS)
HOSTILE_SHORT = "\x1b]0;PWNt0\x07\u202e\u009b6n"  # for names: a title, a bidi override, an 8-bit CSI
HOSTILE_RAW = "\udc9b6nPWNraw \udc9d0;PWNrawosc\udc9c"  # raw C1 bytes 0x9b, 0x9d, 0x9c (surrogateescape)


def hostile(text, lab, short=False):
    """text with the --hostile payloads appended when the lab is hostile (all of them, or the short
    set for names); text unchanged otherwise."""
    if not getattr(lab, "hostile_all", False):
        return text
    return text + (HOSTILE_SHORT if short else " " + HOSTILE)


def rfc3339(ts):
    """Epoch seconds -> '2024-05-01T10:20:30Z' (what the apiserver emits)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


def human_duration(seconds):
    """Go's k8s.io/apimachinery/pkg/util/duration.HumanDuration, used by the
    apiserver's Table printers for Age and the Restarts "(3m ago)" part."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return "%ds" % s
    minutes = s // 60
    if minutes < 10:
        sec = s % 60
        return "%dm" % minutes if sec == 0 else "%dm%ds" % (minutes, sec)
    if minutes < 60 * 3:
        return "%dm" % minutes
    hours = s // 3600
    if hours < 8:
        m = minutes % 60
        return "%dh" % hours if m == 0 else "%dh%dm" % (hours, m)
    if hours < 48:
        return "%dh" % hours
    if hours < 24 * 8:
        h = hours % 24
        return "%dd" % (hours // 24) if h == 0 else "%dd%dh" % (hours // 24, h)
    if hours < 24 * 365 * 2:
        return "%dd" % (hours // 24)
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return "%dy" % years if dy == 0 else "%dy%dd" % (years, dy)
    return "%dy" % (hours // 24 // 365)


def wave(key, t, period=300.0):
    """A smooth, deterministic value in [0, 1] that drifts with time.

    Two sines with periods that do not divide each other, phased by a hash of
    `key`, so every guest moves on its own."""
    ph = (zlib.crc32(key.encode()) % 10000) / 10000.0 * 2 * math.pi
    a = math.sin(t * 2 * math.pi / period + ph)
    b = math.sin(t * 2 * math.pi / (period * 0.37) + 2 * ph)
    return 0.5 + 0.35 * a + 0.15 * b


def hexid(rng, n):
    return "%0*x" % (n, rng.getrandbits(4 * n))


def k8s_suffix(rng, n):
    return "".join(rng.choice(K8S_ALNUM) for _ in range(n))


def uid4(rng):
    return str(uuid.UUID(bytes=rng.randbytes(16), version=4))


# --------------------------------------------------------------------------
# Proxmox VE


class PveNode:
    def __init__(self, name, cores, threads, mem, disk, cpu_model, mhz, base_uptime,
                 load, ip):
        self.name = name
        self.cores = cores
        self.threads = threads
        self.maxmem = mem
        self.maxdisk = disk
        self.cpu_model = cpu_model
        self.mhz = mhz
        self.base_uptime = base_uptime
        self.load = load  # typical host load without guests (fraction)
        self.ip = ip
        self.ssl_fingerprint = ""
        self.swap_total = 8 * GiB
        # root filesystem (what /nodes and /cluster/resources call disk/maxdisk)
        self.root_total = 100861726720
        self.boot_disk_used = int(self.root_total * (0.17 if name == "pve-a" else 0.11))


class Guest:
    """A VM (type 'qemu') or container (type 'lxc')."""

    def __init__(self, vmid, name, gtype, node, running, cores, memory_mib, disk_gib,
                 base_uptime=0, cpu_level=0.1, mem_level=0.5, template=0, tags="",
                 ip="", extra_config=None, mac=""):
        self.vmid = vmid
        self.name = name
        self.type = gtype
        self.node = node
        self.running = running
        self.cores = cores
        self.memory_mib = memory_mib
        self.maxmem = memory_mib * MiB
        self.maxdisk = disk_gib * GiB
        self.base_uptime = base_uptime
        self.cpu_level = cpu_level
        self.mem_level = mem_level
        self.template = template
        self.tags = tags
        self.ip = ip
        self.mac = mac
        self.extra_config = extra_config or {}
        self.pid = 1000 + (vmid * 7919) % 900000
        # Set when a Proxmox task (re)started the guest: its uptime counts from then.
        self.started_at = None


# --------------------------------------------------------------------------
# Kubernetes


class K8sNode:
    def __init__(self, name, ip, role, cpu, alloc_cpu_m, mem_ki, alloc_mem_ki, pve_vmid,
                 extra_labels=None, extra_capacity=None, pod_cidr="", created=0.0,
                 boot_id="", machine_id="", system_uuid="", cpu_use=0.2, mem_use=0.4):
        self.name = name
        self.ip = ip
        self.role = role
        self.cpu = cpu
        self.alloc_cpu_m = alloc_cpu_m
        self.mem_ki = mem_ki
        self.alloc_mem_ki = alloc_mem_ki
        self.pve_vmid = pve_vmid
        self.extra_labels = extra_labels or {}
        self.extra_capacity = extra_capacity or {}
        self.pod_cidr = pod_cidr
        self.created = created
        self.boot_id = boot_id
        self.machine_id = machine_id
        self.system_uuid = system_uuid
        self.cpu_use = cpu_use
        self.mem_use = mem_use
        self.uid = ""
        self.rv = 0


class Template:
    """What a controller stamps pods from: a Deployment's ReplicaSet, a
    DaemonSet, or a kubelet static pod manifest.  Everything that is the same
    for all of its pods lives here."""

    def __init__(self, ns, name, kind, containers, labels, annotations=None, volumes=None,
                 host_network=False, priority_class="", priority=0, node_selector=None,
                 service_account="default", sa_token=True, security_context=None,
                 tolerations_extra=None, qos="Burstable", dns_policy="ClusterFirst",
                 term_grace=30, created=0.0, cpu_use_m=5, mem_use_ki=30000):
        self.ns = ns
        self.name = name
        self.kind = kind  # ReplicaSet | DaemonSet | Node
        self.containers = containers
        # Go's encoding/json writes map keys sorted; keep maps sorted here.
        self.labels = dict(sorted(labels.items()))
        self.annotations = dict(sorted((annotations or {}).items()))
        for c in containers:
            res = c.get("resources")
            if res:
                c["resources"] = {k: dict(sorted(v.items())) for k, v in sorted(res.items())}
        self.volumes = volumes or []
        self.host_network = host_network
        self.priority_class = priority_class
        self.priority = priority
        self.node_selector = node_selector
        self.service_account = service_account
        self.sa_token = sa_token
        self.security_context = security_context if security_context is not None else {}
        self.tolerations_extra = tolerations_extra or []
        self.qos = qos
        self.dns_policy = dns_policy
        self.term_grace = term_grace
        self.created = created
        self.cpu_use_m = cpu_use_m
        self.mem_use_ki = mem_use_ki
        # filled by PodSet
        self.hash = ""
        self.owner_name = ""
        self.owner_uid = ""
        self.owner_api = ""
        self.cm_fields = None  # cached managedFields fieldsV1 of the creating manager


class Pod:
    """One pod, compact: the full JSON object is built on demand
    (kubernetes.py) from this record and its Template.  A Pod never changes
    once it is in a PodSet: a change (restart, deletion) makes a new Pod with
    clone(), so snapshots and the serialized JSON kept on the record stay
    valid."""

    __slots__ = ("ns", "name", "key", "uid", "rv", "created", "tpl", "node", "ip", "state",
                 "restarts", "last_restart", "last_exit", "prev_cid", "deleted_at", "started", "cids",
                 "sa_vol", "seq", "md_json", "full_json", "cells")

    def __init__(self):
        self.restarts = 0
        self.last_restart = 0.0
        self.last_exit = None  # (exitCode, reason) of the previous container instance
        self.prev_cid = None  # containerID of the previous instance of container 0
        self.deleted_at = None  # set on the object a DELETED event carries
        self.md_json = None  # serialized metadata, filled on first use
        self.full_json = None  # serialized object without kind/apiVersion
        self.cells = None  # (monotonic expiry, serialized Table cells): Age moves on

    def clone(self):
        q = Pod()
        for k in Pod.__slots__:
            if k not in ("md_json", "full_json", "cells"):
                setattr(q, k, getattr(self, k))
        q.cids = list(self.cids)
        return q


class PodSet:
    """All pods, sorted by storage key "namespace/name" as etcd returns them.
    A PodSet is a snapshot: changes make a new one (copy-on-write), so a
    paginated list can go on reading the snapshot its continue token names."""

    def __init__(self, pods, rv, first_rv, presorted=False):
        if not presorted:
            pods.sort(key=lambda p: p.key)
        self.pods = pods
        self.keys = [p.key for p in pods]
        self.rv = rv  # list resourceVersion (global counter when this snapshot was made)
        self.first_rv = first_rv  # continue tokens older than this are expired
        self.generation = 0  # unique per snapshot (page cache key)
        self.build = 0  # changes only when the whole set is rebuilt

    def index_after(self, start_key):
        """Index of the first pod whose key is >= start_key."""
        return bisect.bisect_left(self.keys, start_key)

    def get(self, ns, name):
        key = ns + "/" + name
        i = bisect.bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            return self.pods[i]
        return None


# --------------------------------------------------------------------------
# The lab


class Lab:
    """The whole lab.  Thread-safe where it changes: pod rebuilds and churn
    happen under `lock`; readers take `podset` (an immutable snapshot) once
    and work on it.  `cond` (on the same lock) wakes watchers on a change."""

    BASE_PODS = 17  # the hand-made pod set (16 with --no-metrics); see rebuild_pods()
    HISTORY = 1000  # changes a watch can resume from
    SNAPSHOTS = 64  # pod set snapshots kept for continue tokens

    def __init__(self, pods=None, metrics=True, pve_offline=(), seed=20240611, hostile=False,
                 log_interval=0.5, hostile_all=False):
        self.t0 = time.time()
        self.seed = seed
        self.metrics = metrics
        self.hostile = hostile or hostile_all
        self.hostile_all = hostile_all  # --hostile: payloads in every text field (hostile() below)
        self.log_interval = log_interval
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.pve_offline = set(pve_offline)
        self.rv_counter = 4817201
        self.cluster_born = self.t0 - 41 * 86400 - 5 * 3600 - 17 * 60
        self.history = []  # [(rv, "MODIFIED"|"ADDED"|"DELETED", Pod)], oldest first
        self.watch_floor = 0  # a watch from an RV below this has expired
        self.snapshots = {}  # list rv -> PodSet
        self.deleted = []  # recently deleted pods (their events are still listed)
        self.hostile_key = None  # "ns/name" of the pod whose log and events carry escapes
        self.churn_rng = random.Random(seed + 7)
        self.ip_next = {}
        self._make_pve()
        self._make_k8s()
        self.podset = None
        self.rebuild_pods(pods)

    def now(self):
        return time.time()

    def elapsed(self):
        return time.time() - self.t0

    # ---------------- Proxmox ----------------

    def _make_pve(self):
        self.pve_nodes = [
            PveNode("pve-a", 6, 12, 33396490240, 500107862016,
                    "Intel(R) Core(TM) i5-10500T CPU @ 2.30GHz", "3800.000",
                    base_uptime=1987233, load=0.03, ip="10.10.0.2"),
            PveNode("pve-b", 8, 16, 67174932480, 1000204886016,
                    "11th Gen Intel(R) Core(TM) i7-11800H @ 2.30GHz", "4600.000",
                    base_uptime=1209611, load=0.02, ip="10.10.0.3"),
        ]
        self.pve_node_by_name = {n.name: n for n in self.pve_nodes}
        g = []
        g.append(Guest(101, "k8s-node-a", "qemu", "pve-a", True, 6, 16384, 128,
                       base_uptime=1985012, cpu_level=0.22, mem_level=0.71, tags="k8s;control-plane",
                       ip="10.10.0.11", mac="BC:24:11:5A:0E:11", extra_config={
                           "agent": "1",
                           "cpu": "host",
                           "numa": 0,
                           "onboot": 1,
                           "scsi0": "local-lvm:vm-101-disk-0,discard=on,iothread=1,size=128G,ssd=1",
                           "ide2": "none,media=cdrom",
                           "ipconfig0": "ip=10.10.0.11/24,gw=10.10.0.1",
                           "ciuser": "debian",
                           "sshkeys": "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIHb7bS0m3%20admin%40lab%0A",
                       }))
        g.append(Guest(103, "win11", "qemu", "pve-a", False, 4, 8192, 96,
                       tags="windows", mac="BC:24:11:7C:21:03", extra_config={
                           "bios": "ovmf",
                           "machine": "pc-q35-8.1",
                           "cpu": "x86-64-v2-AES",
                           "efidisk0": "local-lvm:vm-103-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M",
                           "tpmstate0": "local-lvm:vm-103-disk-2,size=4M,version=v2.0",
                           "sata0": "local-lvm:vm-103-disk-1,cache=writeback,discard=on,size=96G",
                           "ide2": "local:iso/Win11_23H2_English_x64v2.iso,media=cdrom,size=6653034K",
                           "ostype": "win11",
                       }))
        g.append(Guest(110, "dns", "lxc", "pve-a", True, 1, 512, 8,
                       base_uptime=1986140, cpu_level=0.01, mem_level=0.09, tags="infra",
                       ip="10.10.0.53", mac="BC:24:11:D1:5E:6E"))
        g.append(Guest(102, "k8s-node-b", "qemu", "pve-b", True, 8, 49152, 256,
                       base_uptime=1208870, cpu_level=0.35, mem_level=0.83, tags="gpu;inference;k8s",
                       ip="10.10.0.12", mac="BC:24:11:9E:3B:12", extra_config={
                           "agent": "1",
                           "bios": "ovmf",
                           "machine": "q35",
                           "cpu": "host",
                           "balloon": 0,
                           "onboot": 1,
                           "efidisk0": "local-lvm:vm-102-disk-0,efitype=4m,size=4M",
                           "scsi0": "local-lvm:vm-102-disk-1,discard=on,iothread=1,size=256G,ssd=1",
                           "hostpci0": "0000:c5:00.0,pcie=1",
                           "hostpci1": "c5:00.1",
                           "vga": "std",
                           "ipconfig0": "ip=10.10.0.12/24,gw=10.10.0.1",
                           "ciuser": "debian",
                       }))
        g.append(Guest(111, "ollama-cache", "lxc", "pve-b", False, 2, 4096, 200,
                       tags="models", ip="10.10.0.54", mac="BC:24:11:4F:A0:6F"))
        # Names for display tests: Hangul (two columns per character on a terminal).
        g.append(Guest(104, "백업-서버", "qemu", "pve-b", False, 2, 4096, 500,
                       tags="backup", mac="BC:24:11:2D:91:04", extra_config={
                           "cpu": "x86-64-v2-AES",
                           "scsi0": "local-lvm:vm-104-disk-0,discard=on,size=500G",
                           "ide2": "none,media=cdrom",
                           "description": "주간 백업 (Proxmox Backup Server)\n",
                       }))
        g.append(Guest(112, "web-캐시", "lxc", "pve-a", True, 1, 1024, 16,
                       base_uptime=1985377, cpu_level=0.03, mem_level=0.27, tags="web",
                       ip="10.10.0.80", mac="BC:24:11:6B:C1:12"))
        if self.hostile:
            # Terminal escapes in a name: CSI colour, an OSC title ended by BEL,
            # and the 8-bit CSI (U+009B).  The JSON carries them as \u escapes.
            next(x for x in g if x.vmid == 103).name = HOSTILE_NAME
        if self.hostile_all:
            # --hostile: a second hostile name, the notes (description) and the tags.
            g111 = next(x for x in g if x.vmid == 111)
            g111.name = hostile("ollama-cache", self, short=True)
            g104 = next(x for x in g if x.vmid == 104)
            g104.extra_config["description"] = hostile("notes:", self) + "\n"
            g104.tags = hostile("backup", self, short=True)
        self.guests = sorted(g, key=lambda x: x.vmid)
        self.guest_by_id = {x.vmid: x for x in self.guests}

    def node_online(self, name):
        return name not in self.pve_offline

    def guest_uptime(self, g):
        if not g.running:
            return 0
        if g.started_at is not None:
            return int(self.now() - g.started_at)
        return int(g.base_uptime + self.elapsed())

    def set_guest_running(self, g, running, restarted=False):
        """What a finished power task does: start, stop or (restarted) reboot."""
        if running and (not g.running or restarted):
            g.started_at = self.now()
            g.pid = 1000 + (g.pid * 7 + 13) % 900000
        g.running = running

    def guest_cpu(self, g, t=None):
        """Fraction of the guest's vCPUs in use (0..1)."""
        if not g.running:
            return 0
        t = self.now() if t is None else t
        return round(max(0.0005, g.cpu_level * (0.6 + 0.8 * wave("cpu%d" % g.vmid, t))), 6)

    def guest_mem(self, g, t=None):
        if not g.running:
            return 0
        t = self.now() if t is None else t
        frac = g.mem_level * (0.97 + 0.06 * wave("mem%d" % g.vmid, t, 900))
        return int(g.maxmem * min(frac, 0.99)) // 4096 * 4096

    def guest_counters(self, g):
        """Cumulative netin, netout, diskread, diskwrite since guest start."""
        up = self.guest_uptime(g)
        r = (g.vmid * 2654435761) % 1000 / 1000.0
        return (int(up * (9000 + 40000 * r)), int(up * (3000 + 12000 * r)),
                int(up * (2000 + 9000 * r)) + 612 * MiB, int(up * (5000 + 30000 * r)) + 204 * MiB)

    def node_uptime(self, n):
        return int(n.base_uptime + self.elapsed())

    def node_cpu(self, n, t=None):
        """Fraction of all the node's threads in use."""
        t = self.now() if t is None else t
        used = n.load * n.threads * (0.7 + 0.6 * wave("node" + n.name, t, 240))
        for g in self.guests:
            if g.node == n.name and g.running:
                used += self.guest_cpu(g, t) * g.cores
        return round(min(used / n.threads, 1.0), 6)

    def node_mem(self, n, t=None):
        t = self.now() if t is None else t
        used = int(2.7 * GiB + 0.2 * GiB * wave("nmem" + n.name, t, 600))
        for g in self.guests:
            if g.node == n.name and g.running:
                # qemu with passthrough pins all its memory; others use what they touch
                if g.type == "qemu" and any(k.startswith("hostpci") for k in g.extra_config):
                    used += g.maxmem
                else:
                    used += self.guest_mem(g, t)
        return min(used, n.maxmem - GiB)

    def node_loadavg(self, n, t=None):
        t = self.now() if t is None else t
        c = self.node_cpu(n, t) * n.threads
        return ["%.2f" % (c * (0.9 + 0.2 * wave("l1" + n.name, t, 60))),
                "%.2f" % (c * (0.95 + 0.1 * wave("l5" + n.name, t, 300))),
                "%.2f" % (c * (0.98 + 0.04 * wave("l15" + n.name, t, 900)))]

    def guests_on(self, node):
        return [g for g in self.guests if g.node == node]

    # ---------------- Kubernetes ----------------

    def _make_k8s(self):
        born = self.cluster_born
        self.namespaces = [
            ("default", born, "a7c0e5d2-2b9e-4f4b-9d0f-4bd1a1f3c001", 19),
            ("kube-system", born, "0e2c7b9a-6d1f-4d3b-8a51-3f0f7c1e6002", 4),
            ("lab", born + 3600 * 5, "5b9d3f1e-8c2a-4e7f-b6d4-91c0e8a2b003", 2412),
            ("models", born + 86400 * 3, "c3e8a1f7-4b6d-4a9c-8e2f-7d5b0c9a1004", 88201),
        ]
        self.k8s_nodes = [
            K8sNode("k8s-node-a", "10.10.0.11", "control-plane", 6, 5800, 16314928, 16212528,
                    101, extra_labels={"node.kubernetes.io/exclude-from-external-load-balancers": ""},
                    pod_cidr="10.244.0.0/24", created=born,
                    boot_id="1f0c3d9e-8a7b-4f2e-9d61-0b5a4c3e2f11",
                    machine_id="8e3f1c2d7b9a4e6f8d0c1b2a3e4f5a61",
                    system_uuid="d2b1e6a4-3c7f-4e9a-8b15-6f0a2c9d3e71", cpu_use=0.31, mem_use=0.58),
            K8sNode("k8s-node-b", "10.10.0.12", "worker", 8, 7800, 49279560, 49177160, 102,
                    extra_labels={"intel.feature.node.kubernetes.io/gpu": "true",
                                  "gpu.intel.com/device-id.0300-9a60.present": "true",
                                  "gpu.intel.com/device-id.0300-9a60.count": "1"},
                    extra_capacity={"gpu.intel.com/i915": "1"}, pod_cidr="10.244.1.0/24",
                    created=born + 1260,
                    boot_id="7c2e9a1b-4d3f-4b8e-a0c6-2e1f9d8b7a22",
                    machine_id="3b7d9e1f2a4c4d6e8f0a1b3c5d7e9f02",
                    system_uuid="a9c4e2f1-7b3d-4c8e-9a06-1d5f3b7e9c82", cpu_use=0.42, mem_use=0.71),
        ]
        rng = random.Random(self.seed + 1)
        for n in self.k8s_nodes:
            n.uid = uid4(rng)
        if self.hostile:
            self.k8s_nodes[1].extra_labels["labsim.example/note"] = HOSTILE_NAME
        if self.hostile_all:
            self.k8s_nodes[0].extra_labels["labsim.example/note"] = hostile("note", self)
        self.k8s_nodes[0].rv = 4816893
        self.k8s_nodes[1].rv = 4816911
        self.k8s_node_by_name = {n.name: n for n in self.k8s_nodes}

    def _templates(self):
        born = self.cluster_born
        T = []
        probe = lambda path, port, delay: {  # noqa: E731
            "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
            "initialDelaySeconds": delay, "timeoutSeconds": 1, "periodSeconds": 10,
            "successThreshold": 1, "failureThreshold": 3}
        restricted = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                      "runAsNonRoot": True, "runAsUser": 10001,
                      "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
        fieldenv = lambda n, p: {"name": n, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": p}}}  # noqa: E731
        lab_labels = lambda app, ver: {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "lab",  # noqa: E731
                                       "app.kubernetes.io/version": ver, "app.kubernetes.io/managed-by": "argocd"}
        lab_ann = lambda port: {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),  # noqa: E731
                                "kubectl.kubernetes.io/restartedAt": rfc3339(born + 38 * 86400 + 7211)}

        T.append(Template("lab", "gateway", "ReplicaSet", [{
            "name": "gateway", "image": "ghcr.io/homelab/gateway:1.8.3",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                      {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
            "env": [{"name": "LISTEN_ADDR", "value": ":8080"},
                    {"name": "UPSTREAM_BACKEND", "value": "http://backend.lab.svc.cluster.local:8000"},
                    {"name": "UPSTREAM_FRONTEND", "value": "http://frontend.lab.svc.cluster.local:80"},
                    {"name": "OLLAMA_URL", "value": "http://models.models.svc.cluster.local:11434"},
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.monitoring:4317"},
                    fieldenv("POD_NAME", "metadata.name"), fieldenv("POD_NAMESPACE", "metadata.namespace"),
                    fieldenv("POD_IP", "status.podIP")],
            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                          "requests": {"cpu": "100m", "memory": "128Mi"}},
            "volumeMounts": [{"name": "config", "readOnly": True, "mountPath": "/etc/gateway"},
                             {"name": "tmp", "mountPath": "/tmp"}],
            "livenessProbe": probe("/healthz", "http", 10),
            "readinessProbe": probe("/readyz", "http", 3),
            "securityContext": restricted}],
            lab_labels("gateway", "1.8.3"), lab_ann(9090),
            volumes=[{"name": "config", "configMap": {"name": "gateway-config", "defaultMode": 420}},
                     {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
            created=born + 38 * 86400 + 7211, cpu_use_m=12, mem_use_ki=48120))
        T.append(Template("lab", "frontend", "ReplicaSet", [{
            "name": "frontend", "image": "ghcr.io/homelab/frontend:2.4.0",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "NGINX_ENTRYPOINT_QUIET_LOGS", "value": "1"},
                    {"name": "API_BASE", "value": "/api"},
                    {"name": "PUBLIC_URL", "value": "https://lab.example.internal"}],
            "resources": {"limits": {"cpu": "200m", "memory": "128Mi"},
                          "requests": {"cpu": "50m", "memory": "64Mi"}},
            "volumeMounts": [{"name": "nginx-conf", "readOnly": True, "mountPath": "/etc/nginx/conf.d"},
                             {"name": "cache", "mountPath": "/var/cache/nginx"}],
            "livenessProbe": probe("/", "http", 5),
            "readinessProbe": probe("/", "http", 2),
            "securityContext": restricted}],
            lab_labels("frontend", "2.4.0"), lab_ann(8080),
            volumes=[{"name": "nginx-conf", "configMap": {"name": "frontend-nginx", "defaultMode": 420}},
                     {"name": "cache", "emptyDir": {}}],
            created=born + 38 * 86400 + 7300, cpu_use_m=2, mem_use_ki=11210))
        T.append(Template("lab", "backend", "ReplicaSet", [{
            "name": "backend", "image": "ghcr.io/homelab/backend:3.1.7",
            "args": ["--port=8000", "--workers=2"],
            "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
            "env": [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "backend-db", "key": "url"}}},
                    {"name": "REDIS_URL", "value": "redis://redis.lab.svc.cluster.local:6379/0"},
                    {"name": "OLLAMA_URL", "value": "http://models.models.svc.cluster.local:11434"},
                    {"name": "GEMINI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "gemini", "key": "api-key",
                                                                               "optional": True}}},
                    {"name": "RAG_TOP_K", "value": "5"},
                    {"name": "LOG_FORMAT", "value": "json"},
                    fieldenv("POD_NAME", "metadata.name")],
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                          "requests": {"cpu": "250m", "memory": "512Mi"}},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            "livenessProbe": probe("/health", "http", 15),
            "readinessProbe": probe("/health", "http", 5),
            "securityContext": restricted}],
            lab_labels("backend", "3.1.7"), lab_ann(8000),
            volumes=[{"name": "tmp", "emptyDir": {}}],
            created=born + 38 * 86400 + 7400, cpu_use_m=35, mem_use_ki=301540))
        T.append(Template("models", "models", "ReplicaSet", [{
            "name": "ollama", "image": "ollama/ollama:0.6.2",
            "ports": [{"name": "http", "containerPort": 11434, "protocol": "TCP"}],
            "env": [{"name": "OLLAMA_HOST", "value": "0.0.0.0:11434"},
                    {"name": "OLLAMA_KEEP_ALIVE", "value": "24h"},
                    {"name": "OLLAMA_MAX_LOADED_MODELS", "value": "2"},
                    {"name": "OLLAMA_NUM_PARALLEL", "value": "2"},
                    {"name": "OLLAMA_INTEL_GPU", "value": "1"}],
            "resources": {"limits": {"gpu.intel.com/i915": "1", "memory": "32Gi"},
                          "requests": {"cpu": "4", "gpu.intel.com/i915": "1", "memory": "16Gi"}},
            "volumeMounts": [{"name": "models", "mountPath": "/root/.ollama"},
                             {"name": "dri", "mountPath": "/dev/dri"}],
            "livenessProbe": probe("/api/version", "http", 30),
            "readinessProbe": probe("/api/tags", "http", 10)}, {
            # A second container, so logs need ?container= here.  "_use" is
            # its usage for metrics (cpu millicores, memory Ki); not serialized.
            "name": "model-sync", "image": "ghcr.io/homelab/model-sync:0.4.1",
            "args": ["--models=qwen2.5:14b,exaone3.5:7.8b,bge-m3", "--interval=10m"],
            "env": [{"name": "OLLAMA_URL", "value": "http://127.0.0.1:11434"}],
            "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "10m", "memory": "32Mi"}},
            "volumeMounts": [{"name": "models", "readOnly": True, "mountPath": "/models"}],
            "_use": (1, 9120)}],
            {"app.kubernetes.io/name": "models", "app.kubernetes.io/part-of": "lab",
             "app.kubernetes.io/component": "inference"},
            {"kubectl.kubernetes.io/restartedAt": rfc3339(born + 40 * 86400)},
            volumes=[{"name": "models", "persistentVolumeClaim": {"claimName": "ollama-models"}},
                     {"name": "dri", "hostPath": {"path": "/dev/dri", "type": "Directory"}}],
            node_selector={"intel.feature.node.kubernetes.io/gpu": "true"},
            created=born + 40 * 86400, cpu_use_m=1450, mem_use_ki=14123008))
        T.append(Template("kube-system", "coredns", "ReplicaSet", [{
            "name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.11.3",
            "args": ["-conf", "/etc/coredns/Corefile"],
            "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                      {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                      {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}],
            "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
            "volumeMounts": [{"name": "config-volume", "readOnly": True, "mountPath": "/etc/coredns"}],
            "livenessProbe": dict(probe("/health", 8080, 60), timeoutSeconds=5, failureThreshold=5),
            "readinessProbe": probe("/ready", 8181, 0),
            "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                                "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}}],
            {"k8s-app": "kube-dns"}, {},
            volumes=[{"name": "config-volume", "configMap": {"name": "coredns", "items": [
                {"key": "Corefile", "path": "Corefile"}], "defaultMode": 420}}],
            priority_class="system-cluster-critical", priority=2000000000, service_account="coredns",
            dns_policy="Default",
            tolerations_extra=[{"key": "CriticalAddonsOnly", "operator": "Exists"},
                               {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
            created=born + 60, cpu_use_m=3, mem_use_ki=19876))
        static_ann = lambda h: {"kubernetes.io/config.hash": h, "kubernetes.io/config.mirror": h,  # noqa: E731
                                "kubernetes.io/config.seen": rfc3339(born - 20).replace("Z", ".183422151Z"),
                                "kubernetes.io/config.source": "file"}
        etcd_ann = static_ann("5d1f0c4bf0b1f0b4e3a1c9d2e7f8a6b5")
        etcd_ann["kubeadm.kubernetes.io/etcd.advertise-client-urls"] = "https://10.10.0.11:2379"
        T.append(Template("kube-system", "etcd", "Node", [{
            "name": "etcd", "image": "registry.k8s.io/etcd:3.5.16-0",
            "command": ["etcd", "--advertise-client-urls=https://10.10.0.11:2379",
                        "--cert-file=/etc/kubernetes/pki/etcd/server.crt", "--client-cert-auth=true",
                        "--data-dir=/var/lib/etcd", "--experimental-initial-corrupt-check=true",
                        "--experimental-watch-progress-notify-interval=5s",
                        "--initial-advertise-peer-urls=https://10.10.0.11:2380",
                        "--initial-cluster=k8s-node-a=https://10.10.0.11:2380",
                        "--key-file=/etc/kubernetes/pki/etcd/server.key",
                        "--listen-client-urls=https://127.0.0.1:2379,https://10.10.0.11:2379",
                        "--listen-metrics-urls=http://127.0.0.1:2381",
                        "--listen-peer-urls=https://10.10.0.11:2380", "--name=k8s-node-a",
                        "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt", "--peer-client-cert-auth=true",
                        "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
                        "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt", "--snapshot-count=10000",
                        "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt"],
            "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}},
            "volumeMounts": [{"name": "etcd-data", "mountPath": "/var/lib/etcd"},
                             {"name": "etcd-certs", "mountPath": "/etc/kubernetes/pki/etcd"}],
            "livenessProbe": {"httpGet": {"path": "/livez", "port": 2381, "host": "127.0.0.1", "scheme": "HTTP"},
                              "initialDelaySeconds": 10, "timeoutSeconds": 15, "periodSeconds": 10,
                              "successThreshold": 1, "failureThreshold": 8}}],
            {"component": "etcd", "tier": "control-plane"}, etcd_ann,
            volumes=[{"name": "etcd-certs", "hostPath": {"path": "/etc/kubernetes/pki/etcd",
                                                         "type": "DirectoryOrCreate"}},
                     {"name": "etcd-data", "hostPath": {"path": "/var/lib/etcd", "type": "DirectoryOrCreate"}}],
            host_network=True, priority_class="system-node-critical", priority=2000001000, sa_token=False,
            security_context={"seccompProfile": {"type": "RuntimeDefault"}}, dns_policy="ClusterFirst",
            created=born + 8, cpu_use_m=38, mem_use_ki=98120))
        api_ann = static_ann("9a1e2c6f7b3d4e8fa0c1b2d3e4f5a6b7")
        api_ann["kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"] = "10.10.0.11:6443"
        T.append(Template("kube-system", "kube-apiserver", "Node", [{
            "name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.32.4",
            "command": ["kube-apiserver", "--advertise-address=10.10.0.11", "--allow-privileged=true",
                        "--authorization-mode=Node,RBAC", "--client-ca-file=/etc/kubernetes/pki/ca.crt",
                        "--enable-admission-plugins=NodeRestriction", "--enable-bootstrap-token-auth=true",
                        "--etcd-servers=https://127.0.0.1:2379", "--secure-port=6443",
                        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                        "--service-cluster-ip-range=10.96.0.0/12",
                        "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
                        "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key"],
            "resources": {"requests": {"cpu": "250m"}},
            "volumeMounts": [{"name": "ca-certs", "readOnly": True, "mountPath": "/etc/ssl/certs"},
                             {"name": "k8s-certs", "readOnly": True, "mountPath": "/etc/kubernetes/pki"}],
            "livenessProbe": {"httpGet": {"path": "/livez", "port": 6443, "host": "10.10.0.11", "scheme": "HTTPS"},
                              "initialDelaySeconds": 10, "timeoutSeconds": 15, "periodSeconds": 10,
                              "successThreshold": 1, "failureThreshold": 8}}],
            {"component": "kube-apiserver", "tier": "control-plane"}, api_ann,
            volumes=[{"name": "ca-certs", "hostPath": {"path": "/etc/ssl/certs", "type": "DirectoryOrCreate"}},
                     {"name": "k8s-certs", "hostPath": {"path": "/etc/kubernetes/pki", "type": "DirectoryOrCreate"}}],
            host_network=True, priority_class="system-node-critical", priority=2000001000, sa_token=False,
            security_context={"seccompProfile": {"type": "RuntimeDefault"}},
            created=born + 9, cpu_use_m=61, mem_use_ki=412332))
        for comp, h, cpu, mem in (("kube-controller-manager", "c0ffee1d2e3f4a5b6c7d8e9f0a1b2c3d", 14, 61234),
                                  ("kube-scheduler", "f00dbabe1a2b3c4d5e6f7a8b9c0d1e2f", 4, 28311)):
            T.append(Template("kube-system", comp, "Node", [{
                "name": comp, "image": "registry.k8s.io/%s:v1.32.4" % comp,
                "command": [comp, "--authentication-kubeconfig=/etc/kubernetes/%s.conf" % comp.split("-")[-1],
                            "--authorization-kubeconfig=/etc/kubernetes/%s.conf" % comp.split("-")[-1],
                            "--bind-address=127.0.0.1", "--leader-elect=true"],
                "resources": {"requests": {"cpu": "200m" if "controller" in comp else "100m"}},
                "volumeMounts": [{"name": "kubeconfig", "readOnly": True,
                                  "mountPath": "/etc/kubernetes/%s.conf" % comp.split("-")[-1]}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 10257 if "controller" in comp else 10259,
                                              "host": "127.0.0.1", "scheme": "HTTPS"},
                                  "initialDelaySeconds": 10, "timeoutSeconds": 15, "periodSeconds": 10,
                                  "successThreshold": 1, "failureThreshold": 8}}],
                {"component": comp, "tier": "control-plane"}, static_ann(h),
                volumes=[{"name": "kubeconfig", "hostPath": {
                    "path": "/etc/kubernetes/%s.conf" % comp.split("-")[-1], "type": "FileOrCreate"}}],
                host_network=True, priority_class="system-node-critical", priority=2000001000, sa_token=False,
                security_context={"seccompProfile": {"type": "RuntimeDefault"}},
                created=born + 9, cpu_use_m=cpu, mem_use_ki=mem))
        T.append(Template("kube-system", "kube-proxy", "DaemonSet", [{
            "name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.32.4",
            "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                        "--hostname-override=$(NODE_NAME)"],
            "env": [fieldenv("NODE_NAME", "spec.nodeName")],
            "volumeMounts": [{"name": "kube-proxy", "mountPath": "/var/lib/kube-proxy"},
                             {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
                             {"name": "lib-modules", "readOnly": True, "mountPath": "/lib/modules"}],
            "securityContext": {"privileged": True}}],
            {"k8s-app": "kube-proxy", "controller-revision-hash": "6cf8b5d4c7", "pod-template-generation": "1"}, {},
            volumes=[{"name": "kube-proxy", "configMap": {"name": "kube-proxy", "defaultMode": 420}},
                     {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
                     {"name": "lib-modules", "hostPath": {"path": "/lib/modules", "type": ""}}],
            host_network=True, priority_class="system-node-critical", priority=2000001000,
            service_account="kube-proxy", qos="BestEffort",
            tolerations_extra=[{"operator": "Exists"}],
            created=born + 60, cpu_use_m=1, mem_use_ki=17333))
        if self.metrics:
            T.append(Template("kube-system", "metrics-server", "ReplicaSet", [{
                "name": "metrics-server", "image": "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
                "args": ["--cert-dir=/tmp", "--secure-port=10250",
                         "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
                         "--kubelet-use-node-status-port", "--metric-resolution=15s", "--kubelet-insecure-tls"],
                "ports": [{"name": "https", "containerPort": 10250, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}},
                "volumeMounts": [{"name": "tmp-dir", "mountPath": "/tmp"}],
                "livenessProbe": dict(probe("/livez", "https", 0), httpGet={
                    "path": "/livez", "port": "https", "scheme": "HTTPS"}),
                "readinessProbe": dict(probe("/readyz", "https", 20), httpGet={
                    "path": "/readyz", "port": "https", "scheme": "HTTPS"}),
                "securityContext": restricted}],
                {"k8s-app": "metrics-server"}, {},
                volumes=[{"name": "tmp-dir", "emptyDir": {}}],
                priority_class="system-cluster-critical", priority=2000000000, service_account="metrics-server",
                created=born + 600, cpu_use_m=4, mem_use_ki=23456))
        return T

    def rebuild_pods(self, count=None):
        """Make the pod set: the 17 hand-made pods (16 with --no-metrics),
        then extra Running replicas of gateway/frontend/backend spread over
        both nodes until there are `count` pods.  A count below the base
        keeps the first `count` pods in creation order; None means the base."""
        rng = random.Random(self.seed)
        born = self.cluster_born
        t0 = self.t0
        tpls = self._templates()
        by = {t.name: t for t in tpls}
        names = set()
        for t in tpls:
            if t.kind == "ReplicaSet":
                t.hash = "".join(rng.choice(K8S_HASH_CHARS) for _ in range(10))
                t.owner_name = "%s-%s" % (t.name, t.hash)
                t.owner_api = "apps/v1"
                t.labels = dict(sorted(dict(t.labels, **{"pod-template-hash": t.hash}).items()))
            elif t.kind == "DaemonSet":
                t.owner_name = t.name
                t.owner_api = "apps/v1"
            t.owner_uid = uid4(rng)
        node_a, node_b = "k8s-node-a", "k8s-node-b"
        ip_next = {node_a: 2, node_b: 2}

        plan = []  # (template, node, state, created)
        plan.append((by["etcd"], node_a, "running", born + 8))
        plan.append((by["kube-apiserver"], node_a, "running", born + 9))
        plan.append((by["kube-controller-manager"], node_a, "running", born + 9))
        plan.append((by["kube-scheduler"], node_a, "running", born + 9))
        plan.append((by["kube-proxy"], node_a, "running", born + 61))
        plan.append((by["kube-proxy"], node_b, "running", born + 1290))
        plan.append((by["coredns"], node_a, "running", born + 64))
        plan.append((by["coredns"], node_b, "running", born + 1301))
        if self.metrics:
            plan.append((by["metrics-server"], node_b, "running", born + 610))
        plan.append((by["gateway"], node_a, "running", t0 - 3 * 86400 - 4 * 3600))
        plan.append((by["gateway"], node_b, "running", t0 - 3 * 86400 - 4 * 3600 + 2))
        plan.append((by["frontend"], node_a, "running", t0 - 3 * 86400 - 4 * 3600 + 40))
        plan.append((by["frontend"], node_b, "running", t0 - 3 * 86400 - 4 * 3600 + 41))
        plan.append((by["backend"], node_a, "running", t0 - 3 * 86400 - 4 * 3600 + 80))
        plan.append((by["backend"], node_b, "crashloop", t0 - 2 * 3600 - 14 * 60))
        plan.append((by["models"], node_b, "running", t0 - 86400 - 6 * 3600))
        plan.append((by["models"], None, "pending", t0 - 86400 - 6 * 3600 + 1))
        if count is None:
            count = len(plan)
        if count < len(plan):
            plan = plan[:max(count, 0)]
        extra_tpls = [by["gateway"], by["frontend"], by["backend"]]
        for i in range(count - len(plan)):
            plan.append((extra_tpls[i % 3], node_a if i % 2 == 0 else node_b, "running",
                         t0 - 3 * 86400 + 30 + (i % 50000) * 0.37))

        with self.lock:
            first_rv = self.rv_counter + 1
            rv = first_rv
            pods = []
            hostile = None
            for seq, (tpl, node, state, created) in enumerate(plan):
                p = Pod()
                p.tpl = tpl
                p.ns = tpl.ns
                if tpl.kind == "Node":
                    name = "%s-%s" % (tpl.name, node)
                elif tpl.kind == "DaemonSet":
                    name = "%s-%s" % (tpl.name, k8s_suffix(rng, 5))
                else:
                    name = "%s-%s-%s" % (tpl.name, tpl.hash, k8s_suffix(rng, 5))
                while name in names:
                    name = "%s-%s-%s" % (tpl.name, tpl.hash, k8s_suffix(rng, 5))
                names.add(name)
                p.name = name
                p.key = p.ns + "/" + name
                p.uid = uid4(rng)
                rv += 1 + rng.randrange(40)
                p.rv = rv
                p.created = created
                p.node = node
                p.seq = seq
                p.state = state
                if node is None:
                    p.ip = ""
                elif tpl.host_network:
                    p.ip = self.k8s_node_by_name[node].ip
                else:
                    p.ip = self._pod_ip(ip_next, node)
                p.started = created + 1.4 + rng.random() * 2
                if state == "crashloop":
                    p.restarts = 7
                    p.last_restart = t0 - 180
                    p.last_exit = (1, "Error")
                # The first container's id comes from the build generator (pod
                # names depend on its sequence); sidecars' ids from the uid.
                p.cids = ["containerd://" + hexid(rng, 64)]
                side = random.Random(p.uid)
                p.cids += ["containerd://" + hexid(side, 64) for _ in tpl.containers[1:]]
                p.sa_vol = "kube-api-access-" + k8s_suffix(rng, 5)
                if hostile is None and tpl.name == "gateway" and self.hostile:
                    hostile = p.key
                pods.append(p)
            self.rv_counter = rv + 17
            ps = PodSet(pods, self.rv_counter, first_rv)
            ps.generation = (self.podset.generation + 1) if self.podset else 1
            ps.build = (self.podset.build + 1) if self.podset else 1
            self.podset = ps
            self.ip_next = ip_next
            self.hostile_key = hostile
            self.history = []
            self.watch_floor = ps.rv
            self.snapshots = {ps.rv: ps}
            self.deleted = []
            self.cond.notify_all()
        return ps

    @staticmethod
    def _pod_ip(ip_next, node):
        i = ip_next[node]
        ip_next[node] += 1
        base = 0 if node == "k8s-node-a" else 1
        third = base + 2 * ((i - 2) // 250)
        return "10.244.%d.%d" % (third, (i - 2) % 250 + 2)

    # ---------------- change over time (churn) ----------------

    def _bump(self):
        """The next resourceVersion: the global counter moves on with every
        write in the cluster (leases, events, ...), so steps are uneven."""
        self.rv_counter += 1 + self.churn_rng.randrange(6)
        return self.rv_counter

    def _commit(self, pods, changes):
        """Publish a new snapshot and record `changes` [(type, Pod)].
        Called with the lock held."""
        old = self.podset
        ps = PodSet(pods, self.rv_counter, old.first_rv, presorted=True)
        ps.generation = old.generation + 1
        ps.build = old.build
        self.podset = ps
        self.snapshots[ps.rv] = ps
        if len(self.snapshots) > self.SNAPSHOTS:
            for rv in sorted(self.snapshots)[: len(self.snapshots) - self.SNAPSHOTS]:
                del self.snapshots[rv]
        for typ, p in changes:
            self.history.append((p.rv, typ, p))
        if len(self.history) > self.HISTORY:
            cut = len(self.history) - self.HISTORY
            self.watch_floor = self.history[cut - 1][0]
            del self.history[:cut]
        self.cond.notify_all()

    def churn_candidates(self, action):
        """Pods churn may pick for `action`.  The landmarks stay put: the
        crash-looping and the Pending pod, and the --hostile-names pod (which
        may restart but is never replaced)."""
        out = []
        for p in self.podset.pods:
            if p.state != "running":
                continue
            if action == "replace" and (p.tpl.kind != "ReplicaSet" or p.key == self.hostile_key):
                continue
            out.append(p)
        return out

    def churn(self, action=None, ns=None, name=None):
        """One change, now.  action: "restart" (a container restarts: the pod
        is MODIFIED), "replace" (the pod is DELETED and its controller ADDs a
        new one with a new name) or "delete" (DELETED only); None picks
        restart or replace at random.  ns/name pick the pod (else random).
        -> {"action", "pod", ...} or raises ValueError / KeyError (no such pod)."""
        with self.lock:
            rng = self.churn_rng
            if action is None:
                action = "restart" if rng.random() < 0.6 else "replace"
            if action not in ("restart", "replace", "delete"):
                raise ValueError("action must be restart, replace or delete")
            ps = self.podset
            if name:
                p = ps.get(ns or "default", name)
                if p is None:
                    raise KeyError('pods "%s" not found in namespace %s' % (name, ns or "default"))
                if action == "restart" and p.state == "pending":
                    raise ValueError("pod %s is Pending: no container to restart" % name)
                if action == "replace" and p.tpl.kind not in ("ReplicaSet", "DaemonSet"):
                    raise ValueError("pod %s has no controller that would replace it" % name)
            else:
                cands = self.churn_candidates(action if action != "delete" else "replace")
                if not cands:
                    return None
                p = cands[rng.randrange(len(cands))]
            now = self.now()
            pods = list(ps.pods)
            i = ps.index_after(p.key)
            if action == "restart":
                q = p.clone()
                q.restarts += 1
                q.last_restart = now
                q.last_exit = (137, "OOMKilled") if p.tpl.name in ("backend", "models") else (2, "Error")
                if q.state == "crashloop":
                    q.last_exit = (1, "Error")
                else:
                    q.prev_cid = q.cids[0]
                    q.cids[0] = "containerd://" + hexid(rng, 64)
                q.rv = self._bump()
                pods[i] = q
                self._commit(pods, [("MODIFIED", q)])
                return {"action": action, "pod": q.name, "namespace": q.ns, "restartCount": q.restarts,
                        "resourceVersion": str(q.rv)}
            gone = p.clone()
            gone.deleted_at = now
            gone.rv = self._bump()
            del pods[i]
            self.deleted.append(gone)
            del self.deleted[:-200]
            changes = [("DELETED", gone)]
            out = {"action": action, "deleted": p.name, "namespace": p.ns}
            if action == "replace":
                t = p.tpl
                taken = set(ps.keys)
                while True:
                    if t.kind == "DaemonSet":
                        nm = "%s-%s" % (t.name, k8s_suffix(rng, 5))
                    else:
                        nm = "%s-%s-%s" % (t.name, t.hash, k8s_suffix(rng, 5))
                    if p.ns + "/" + nm not in taken:
                        break
                q = Pod()
                q.tpl = t
                q.ns = p.ns
                q.name = nm
                q.key = q.ns + "/" + nm
                q.uid = uid4(rng)
                q.created = now
                q.node = p.node
                q.seq = p.seq
                q.state = "running"
                q.ip = self.k8s_node_by_name[q.node].ip if t.host_network else self._pod_ip(self.ip_next, q.node)
                q.started = now + 1.4 + rng.random() * 2
                q.cids = ["containerd://" + hexid(rng, 64) for _ in t.containers]
                q.sa_vol = "kube-api-access-" + k8s_suffix(rng, 5)
                q.rv = self._bump()
                bisect.insort(pods, q, key=lambda x: x.key)
                changes.append(("ADDED", q))
                out["pod"] = q.name
            else:
                out["pod"] = p.name
            out["resourceVersion"] = str(self.rv_counter)
            self._commit(pods, changes)
            return out

    def start_churn(self, interval, stop):
        """Every `interval` seconds something happens, until `stop` is set."""
        def run():
            while not stop.wait(interval):
                try:
                    self.churn()
                except Exception:  # a bug here must not end the lab
                    import traceback
                    traceback.print_exc()
        threading.Thread(target=run, daemon=True, name="churn").start()

    def events_since(self, rv):
        """The changes after rv, [(rv, type, Pod)], or None when rv is older
        than the history kept (the watch has expired).  Call with the lock held."""
        if rv < self.watch_floor:
            return None
        rvs = [h[0] for h in self.history]
        return self.history[bisect.bisect_right(rvs, rv):]

    def snapshot(self, rv):
        """The pod set a list at resourceVersion rv saw, or None if it is gone."""
        with self.lock:
            return self.snapshots.get(rv)

    def image_id(self, image):
        h = "%08x" % zlib.crc32(image.encode())
        return image.split(":")[0] + "@sha256:" + (h * 8)[:64]
