"""Pod logs (GET .../pods/{name}/log), as the kubelet serves them through the
apiserver: text/plain, chunked, the container's own lines.

A container's log is a pure function of time, so every request sees the same
lines: an instance that started before labsim did has 200 lines of history
spread between its start and labsim's start; one that started later (a
restart, a replacement pod) has a dozen start-up lines; after that a new line
appears every --log-interval seconds.  Line k's text comes from a generator
seeded with the pod uid, the container, the instance and k.

The crash-looping pod's container is waiting: as the kubelet does, its log is
that of the last terminated instance, which ends with a traceback, and a
follow ends there.  previous=true gives the previous instance of a container
that has restarted.
"""

import random
import time

from lab import HOSTILE_RAW, HOSTILE_TEXT, hostile

STARTUP_LINES = 12
HISTORY_LINES = 200


def rfc3339nano(t):
    """Go's time.RFC3339Nano: trailing zeros of the fraction are dropped, and
    the fraction goes altogether when it is zero (so widths vary)."""
    sec = int(t)
    ns = int(round((t - sec) * 1e9))
    if ns >= 1000000000:
        sec, ns = sec + 1, ns - 1000000000
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    if ns == 0:
        return base + "Z"
    return base + ("." + "%09d" % ns).rstrip("0") + "Z"


def _clf(t):
    """Common log format time: 27/Nov/2025:01:02:03 +0000."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(int(t)))


def _iso_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))) + ".%03dZ" % (int(t * 1000) % 1000)


def _klog(t, rng, level="I"):
    tm = time.gmtime(int(t))
    return "%s%02d%02d %02d:%02d:%02d.%06d       1 " % (level, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                                       tm.tm_sec, int(t * 1e6) % 1000000)


UAS = ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
       "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
       "Safari/605.1.15",
       "curl/8.5.0", "kube-probe/1.32", "labdeck/0.1", "python-httpx/0.27.0"]
PATHS = [("GET", "/api/health", 200), ("POST", "/api/chat", 200), ("POST", "/api/rag/query", 200),
         ("GET", "/api/models", 200), ("GET", "/", 200), ("GET", "/assets/index-4f2a9c.js", 200),
         ("GET", "/api/sessions/7", 404), ("POST", "/api/chat", 502), ("GET", "/metrics", 200),
         ("POST", "/api/embed", 200)]
MODELS = ["qwen2.5:14b", "exaone3.5:7.8b", "bge-m3"]


def _peer(rng, node_third):
    return "10.244.%d.%d" % (node_third, rng.randrange(2, 60))


# ---- one line of each kind of container: (rng, t, k) -> text ----

def line_gateway(rng, t, k, start):
    if k < 6:
        ts = _iso_ms(t)
        up = 'time=%s level=INFO msg="upstream registered" name=%s url=%s'
        return ['time=%s level=INFO msg="starting gateway" version=1.8.3 go=go1.23.8 listen=:8080' % ts,
                up % (ts, "backend", "http://backend.lab.svc.cluster.local:8000"),
                up % (ts, "frontend", "http://frontend.lab.svc.cluster.local:80"),
                up % (ts, "ollama", "http://models.models.svc.cluster.local:11434"),
                'time=%s level=INFO msg="metrics listening" addr=:9090' % ts,
                'time=%s level=INFO msg="ready"' % ts][k]
    m, p, st = PATHS[rng.randrange(len(PATHS))]
    if rng.random() < 0.05:
        return ('time=%s level=WARN msg="upstream slow" upstream=ollama path=/api/chat dur=%.1fs'
                % (_iso_ms(t), 8 + rng.random() * 20))
    return ('time=%s level=INFO msg=request method=%s path=%s status=%d dur=%.1fms bytes=%d remote=%s:%d ua="%s"'
            % (_iso_ms(t), m, p, st, rng.random() * 90 + 0.4, rng.randrange(120, 90000), _peer(rng, 0),
               rng.randrange(30000, 61000), UAS[rng.randrange(len(UAS))]))


def line_frontend(rng, t, k, start):
    if k < 4:
        return ["/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
                "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
                "/docker-entrypoint.sh: Configuration complete; ready for start up",
                "%s [notice] 1#1: nginx/1.27.3" % time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(int(t)))][k]
    m, p, st = PATHS[rng.randrange(len(PATHS))]
    return '%s - - [%s] "%s %s HTTP/1.1" %d %d "https://lab.example.internal/" "%s" "-"' % (
        _peer(rng, 0), _clf(t), m, p, st, rng.randrange(200, 60000), UAS[rng.randrange(len(UAS))])


def line_backend(rng, t, k, start):
    if k < 5:
        return ["INFO:     Started server process [1]", "INFO:     Waiting for application startup.",
                '{"ts":"%s","level":"info","logger":"backend","msg":"connected to postgres","pool":10}' % _iso_ms(t),
                "INFO:     Application startup complete.",
                "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)"][k]
    r = rng.random()
    if r < 0.35:
        m, p = rng.choice([("POST", "/rag/query"), ("POST", "/chat"), ("GET", "/health"), ("GET", "/sessions")])
        return 'INFO:     %s:%d - "%s %s HTTP/1.1" 200 OK' % (_peer(rng, 0), rng.randrange(30000, 61000), m, p)
    if r < 0.55:
        return ('{"ts":"%s","level":"info","logger":"rag","msg":"retrieved chunks","k":5,"ms":%.1f,"best":%.4f}'
                % (_iso_ms(t), 20 + rng.random() * 80, 0.18 + rng.random() * 0.2))
    if r < 0.7:
        return ('{"ts":"%s","level":"info","logger":"rag","msg":"질의 처리 완료","ms":%d,"model":"%s"}'
                % (_iso_ms(t), rng.randrange(300, 9000), MODELS[rng.randrange(2)]))
    if r < 0.78:
        return ('{"ts":"%s","level":"warning","logger":"llm","msg":"gemini rate limited, retrying","retry_after":%d}'
                % (_iso_ms(t), rng.randrange(1, 30)))
    return ('{"ts":"%s","level":"info","logger":"llm","msg":"completion","provider":"ollama","prompt_tokens":%d,'
            '"completion_tokens":%d}' % (_iso_ms(t), rng.randrange(200, 4000), rng.randrange(20, 900)))


BACKEND_CRASH = [
    'Traceback (most recent call last):',
    '  File "/app/.venv/lib/python3.12/site-packages/psycopg_pool/pool.py", line 192, in getconn',
    '    raise PoolTimeout(',
    'psycopg_pool.PoolTimeout: couldn\'t get a connection after 30.00 sec',
    '',
    'The above exception was the direct cause of the following exception:',
    '',
    'Traceback (most recent call last):',
    '  File "/app/.venv/bin/uvicorn", line 8, in <module>',
    '    sys.exit(main())',
    '  File "/app/backend/app.py", line 57, in lifespan',
    '    await store.migrate()',
    '  File "/app/backend/store.py", line 88, in migrate',
    '    raise RuntimeError("database unavailable: postgres.lab.svc.cluster.local:5432") from e',
    'RuntimeError: database unavailable: postgres.lab.svc.cluster.local:5432',
    'ERROR:    Application startup failed. Exiting.',
]


def line_ollama(rng, t, k, start):
    ts = _iso_ms(t)
    if k < 8:
        return ['time=%s level=INFO source=routes.go:1238 msg="server config" '
                'env="map[OLLAMA_HOST:http://0.0.0.0:11434 OLLAMA_KEEP_ALIVE:24h0m0s OLLAMA_MAX_LOADED_MODELS:2 '
                'OLLAMA_NUM_PARALLEL:2]"' % ts,
                'time=%s level=INFO source=images.go:432 msg="total blobs: 31"' % ts,
                'time=%s level=INFO source=routes.go:1289 msg="Listening on [::]:11434 (version 0.6.2)"' % ts,
                'time=%s level=INFO source=gpu.go:217 msg="looking for compatible GPUs"' % ts,
                'time=%s level=INFO source=types.go:130 msg="inference compute" id=0 library=oneapi variant="" '
                'compute="" driver=0.0 name="Intel(R) Iris(R) Xe Graphics" total="23.4 GiB" available="22.9 GiB"' % ts,
                'time=%s level=INFO source=server.go:105 msg="system memory" total="47.0 GiB" free="39.1 GiB" '
                'free_swap="0 B"' % ts,
                'time=%s level=INFO source=server.go:405 msg="starting llama server" cmd="/usr/bin/ollama runner '
                '--model /root/.ollama/models/blobs/sha256-2049f5674b1e --ctx-size 8192 --batch-size 512 '
                '--n-gpu-layers 49 --threads 4 --parallel 2 --port 39111"' % ts,
                'time=%s level=INFO source=server.go:596 msg="모델 로드 완료" model=qwen2.5:14b '
                'duration="6.42s"' % ts][k]
    r = rng.random()
    if r < 0.6:
        dur = rng.random() * 9 + 0.02
        ep = rng.choice(['POST     "/api/chat"', 'POST     "/api/embed"', 'GET      "/api/tags"',
                         'GET      "/api/ps"', 'POST     "/api/generate"'])
        return "[GIN] %s | 200 | %12s | %15s | %s" % (time.strftime("%Y/%m/%d - %H:%M:%S", time.gmtime(int(t))),
                                                       "%.6fs" % dur, _peer(rng, 1), ep)
    if r < 0.8:
        return ('time=%s level=INFO source=server.go:596 msg="모델 로드 완료" model=%s duration="%.2fs"'
                % (ts, MODELS[rng.randrange(3)], 1 + rng.random() * 8))
    return ('time=%s level=INFO source=sched.go:508 msg="updated VRAM based on existing loaded models" '
            'gpu=0 library=oneapi total="23.4 GiB" available="%.1f GiB"' % (ts, 4 + rng.random() * 12))


def line_model_sync(rng, t, k, start):
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))
    if k == 0:
        return "%s model-sync 0.4.1 watching 3 models every 10m0s" % ts
    m = MODELS[k % 3]
    if rng.random() < 0.1:
        return "%s pull %s: 동기화 중 %d%%" % (ts, m, rng.randrange(1, 100))
    return "%s sync: %s up to date (digest %012x)" % (ts, m, rng.getrandbits(48))


def line_coredns(rng, t, k, start):
    if k < 5:
        return [".:53", "[INFO] plugin/reload: Running configuration SHA512 = "
                "591cf328cccc12bc490481273e738df59329c62c0b729d94e8b61db9961c2fa5f"
                "046dd37f1cf888b953814040d180f52594972691cd6ff41be96639138a43908",
                "CoreDNS-1.11.3", "linux/amd64, go1.21.11, a6338e9",
                "[INFO] 127.0.0.1:41233 - 52112 \"HINFO IN 5483104120394850127.4829572395010394251. udp 57 false 512\" "
                "NXDOMAIN qr,rd,ra 57 0.012183s"][k]
    q = rng.choice(["backend.lab.svc.cluster.local.", "models.models.svc.cluster.local.",
                    "postgres.lab.svc.cluster.local.", "generativelanguage.googleapis.com.",
                    "ghcr.io.", "kubernetes.default.svc.cluster.local."])
    typ = rng.choice(["A", "AAAA"])
    rc = "NOERROR" if q.endswith("local.") or typ == "A" else "NXDOMAIN"
    return '[INFO] %s:%d - %d "%s IN %s udp %d false 1232" %s qr,aa,rd %d %.6fs' % (
        _peer(rng, rng.randrange(2)), rng.randrange(30000, 61000), rng.randrange(65536), typ, q,
        rng.randrange(40, 90), rc, rng.randrange(90, 200), rng.random() * 0.002)


def line_etcd(rng, t, k, start):
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))) + ".%06dZ" % (int(t * 1e6) % 1000000)
    if rng.random() < 0.5:
        rev = 4800000 + int(t) % 100000
        return ('{"level":"info","ts":"%s","caller":"mvcc/index.go:214","msg":"compact tree index","revision":%d}'
                % (ts, rev))
    return ('{"level":"info","ts":"%s","caller":"mvcc/kvstore_compaction.go:69","msg":"finished scheduled '
            'compaction","compact-revision":%d,"took":"%.6fms","hash":%d}'
            % (ts, 4800000 + int(t) % 100000, rng.random() * 40 + 5, rng.getrandbits(32)))


def line_klog(rng, t, k, start):
    msg = rng.choice([
        'controller.go:615] quota admission added evaluator for: leases.coordination.k8s.io',
        'alloc.go:330] "allocated clusterIPs" service="lab/backend" clusterIPs={"IPv4":"10.96.142.17"}',
        'cidrallocator.go:277] updated ClusterIP allocator for Service CIDR 10.96.0.0/12',
        'event.go:389] "Event occurred" object="lab/backend" fieldPath="" kind="Deployment" apiVersion="apps/v1" '
        'type="Normal" reason="ScalingReplicaSet"',
        'leaderelection.go:271] successfully acquired lease kube-system/kube-scheduler',
        'node_lifecycle_controller.go:1234] "Node is healthy" node="k8s-node-b"',
        'proxier.go:805] "SyncProxyRules complete" elapsed="41.512ms"',
        'server.go:214] "Successfully retrieved node IP(s)" IPs=["10.10.0.11"]',
    ])
    return _klog(t, rng, "W" if rng.random() < 0.05 else "I") + msg


LINE_KINDS = {"gateway": line_gateway, "frontend": line_frontend, "backend": line_backend, "ollama": line_ollama,
              "model-sync": line_model_sync, "coredns": line_coredns, "etcd": line_etcd}


class ContainerLog:
    """The log of one container instance: n lines, line k at time time_of(k);
    `end` is None while the container runs (the log grows), else the time the
    instance ended (the log is complete)."""

    def __init__(self, lab, pod, cidx, previous=False):
        self.lab = lab
        self.pod = pod
        self.cname = pod.tpl.containers[cidx]["name"]
        self.kind = LINE_KINDS.get(self.cname, line_klog)
        crash = pod.state == "crashloop" and cidx == 0
        restarted = pod.restarts > 0 and cidx == 0
        self.tail_lines = []
        if previous or crash:
            # The last terminated instance: ran until last_restart.
            self.end = pod.last_restart
            self.start = pod.last_restart - 4 if crash else max(pod.started, pod.last_restart - 3600)
            self.instance = pod.restarts - (0 if crash else 1)
            exit_code = (pod.last_exit or (1, "Error"))[0]
            if exit_code == 137:
                self.tail_lines = []  # OOM-killed: the log just stops
            elif pod.tpl.name == "backend":
                self.tail_lines = list(BACKEND_CRASH)
            elif self.cname == "frontend":
                self.tail_lines = ['%s [emerg] 1#1: host not found in upstream "backend.lab.svc.cluster.local" '
                                   'in /etc/nginx/conf.d/default.conf:14'
                                   % time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(int(self.end)))]
            elif self.kind in (line_gateway, line_model_sync):
                self.tail_lines = ["panic: runtime error: invalid memory address or nil pointer dereference",
                                   "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x9c2f1a]", "",
                                   "goroutine 1 [running]:", "main.main()",
                                   "\t/src/cmd/%s/main.go:57 +0x1ba" % self.cname]
            else:
                self.tail_lines = [_klog(self.end, None, "F") + 'server.go:305] "Error running" err="leader election '
                                   'lost"']
            self.hist = STARTUP_LINES if crash else 60
        else:
            self.end = None
            self.start = pod.last_restart if restarted else pod.started
            self.instance = pod.restarts if restarted else 0
            self.hist = HISTORY_LINES if self.start < lab.t0 else STARTUP_LINES
        self.hist_end = self.end if self.end is not None else max(lab.t0, self.start + 4.0)
        self.total = None if self.end is None else self.hist + len(self.tail_lines)
        self.interval = lab.log_interval
        self.hostile = pod.key == lab.hostile_key
        self.hostile_all = self.hostile and lab.hostile_all
        self.lab = lab
        self.seed = "%s/%s/%d" % (pod.uid, self.cname, self.instance)

    BOOT = 8  # start-up lines, a quarter of a second apart

    def time_of(self, k):
        h = self.hist
        if self.end is not None:
            if k >= h:  # the closing lines, just before the end
                return self.end - 0.05 * (self.total - k)
            last = self.end - 0.05 * (len(self.tail_lines) + 1)
            return self.start + 0.5 + (last - self.start - 0.5) * k / max(h - 1, 1)
        if k < min(self.BOOT, h):
            return self.start + 0.5 + 0.25 * k
        if k < h:
            # the rest of the history: evenly over (at most) the last half hour
            a = max(self.start + 0.5 + 0.25 * self.BOOT, self.hist_end - 1800.0)
            n = h - self.BOOT
            return a + (self.hist_end - a) * (k - self.BOOT + 1) / n
        if self.interval <= 0:
            return float("inf")
        return self.hist_end + (k - h + 1) * self.interval

    def count_at(self, t):
        """How many lines exist at time t."""
        if self.total is not None:
            n = 0
            while n < self.total and self.time_of(n) <= t:
                n += 1
            return n
        if t < self.hist_end:
            lo, hi = 0, self.hist
            while lo < hi:
                mid = (lo + hi) // 2
                if self.time_of(mid) <= t:
                    lo = mid + 1
                else:
                    hi = mid
            return lo
        if self.interval <= 0:
            return self.hist
        return self.hist + int((t - self.hist_end) / self.interval)

    def text(self, k):
        if self.end is not None and k >= self.hist:
            return self.tail_lines[k - self.hist]
        t = self.time_of(k)
        rng = random.Random("%s/%d" % (self.seed, k))
        if self.hostile_all and k % 5 == 2:  # --hostile: every 5th line, C1 as raw bytes, then every payload
            return HOSTILE_RAW + hostile(" level=WARN", self.lab)
        if self.hostile and k % 50 == 7:
            return ('time=%s level=WARN msg="odd user agent" remote=10.244.0.9:51515 ua="%s"'
                    % (_iso_ms(t), HOSTILE_TEXT))
        return self.kind(rng, t, k, self.start)

    def line(self, k, timestamps):
        s = self.text(k)
        if timestamps:
            s = rfc3339nano(self.time_of(k)) + " " + s
        return (s + "\n").encode("utf-8", "surrogateescape")  # HOSTILE_RAW's raw bytes
