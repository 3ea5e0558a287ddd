"""The Kubernetes API personality (kube-apiserver v1.32).

Serves discovery (legacy formats), nodes, namespaces, pods (full JSON, Table,
PartialObjectMetadataList), watch (k8s_watch.py), pod logs (k8s_logs.py),
events (k8s_events.py) and metrics.k8s.io, with limit/continue pagination as
the apiserver does it: items sorted by "namespace/name", an opaque base64
continue token holding the list resourceVersion and the next start key,
remainingItemCount.  A continue token reads the snapshot of its
resourceVersion, so a paginated list stays consistent while pods churn.

Pods are kept compact (lab.Pod) and turned into full ~8 KB objects per page;
serialized pages are cached for a few seconds, so 20 pages of 500 pods cost
little more than the socket writes.
"""

import base64
import bisect
import binascii
import calendar
import json
import re
import threading
import time
import uuid

import k8s_events
import k8s_logs
import k8s_watch
import core
from core import Response, dumps
from lab import hostile, human_duration, rfc3339, wave

JSON = "application/json"
KUBE_VERSION = "v1.32.4"
CACHE_TTL = 10.0
CACHE_MAX_BYTES = 256 * 1024 * 1024

NAME_DESC = ("Name must be unique within a namespace. Is required when creating resources, although some "
             "resources may allow a client to request the generation of an appropriate name automatically. "
             "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
             "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
AGE_DESC = ("CreationTimestamp is a timestamp representing the server time when this object was created. It "
            "is not guaranteed to be set in happens-before order across separate operations. Clients may not "
            "set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. "
            "Read-only. Null for lists. More info: "
            "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
ADDR_DESC = ("List of addresses reachable to the node. Queried from cloud provider, if available. More info: "
             "https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared "
             "as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when "
             "it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 "
             "for an example. Consumers should assume that addresses can change during the lifetime of a "
             "Node. However, there are some exceptions where this may not be possible, such as Pods that "
             "inherit a Node's address in its own status or consumers of the downward API (status.hostIP).")


def col(name, desc, priority=0, fmt="", typ="string"):
    return {"name": name, "type": typ, "format": fmt, "description": desc, "priority": priority}


POD_COLUMNS = [
    col("Name", NAME_DESC, 0, "name"),
    col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "The aggregate status of the containers in this pod."),
    col("Restarts", "The number of times the containers in this pod have been restarted and when the "
                    "last container in this pod has restarted."),
    col("Age", AGE_DESC),
    col("IP", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
              "allocated.", 1),
    col("Node", "NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the "
                "scheduler simply schedules this pod onto that node, assuming that it fits resource "
                "requirements.", 1),
    col("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node, but "
                          "it cannot be scheduled right away as preemption victims receive their graceful "
                          "termination periods. This field does not guarantee that the pod will be scheduled "
                          "on this node. Scheduler may decide to place the pod elsewhere if other nodes become "
                          "available sooner. Scheduler may also decide to give the resources on this node to a "
                          "higher priority pod that is created after preemption. As a result, this field may "
                          "be different than PodSpec.nodeName when the pod is scheduled.", 1),
    col("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness. A pod is "
                           "ready when all its containers are ready AND all conditions specified in the "
                           "readiness gates have status equal to \"True\" More info: "
                           "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates", 1),
]
NODE_COLUMNS = [
    col("Name", NAME_DESC, 0, "name"),
    col("Status", "The status of the node"),
    col("Roles", "The roles of the node"),
    col("Age", AGE_DESC),
    col("Version", "Kubelet Version reported by the node."),
    col("Internal-IP", ADDR_DESC, 1),
    col("External-IP", ADDR_DESC, 1),
    col("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1),
    col("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    col("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API "
                             "(e.g. containerd://1.4.2).", 1),
]
NS_COLUMNS = [
    col("Name", NAME_DESC, 0, "name"),
    col("Status", "The status of the namespace"),
    col("Age", AGE_DESC),
]
POD_COLUMNS_JSON = dumps(POD_COLUMNS)
EVENT_COLUMNS = [
    col("Last Seen", "The time that the event was last seen"),
    col("Type", "The type of the event"),
    col("Reason", "The reason of the event"),
    col("Object", "The object that the event is about"),
    col("Subobject", "The subobject that the event is about", 1),
    col("Source", "The source of the event", 1),
    col("Message", "A human-readable description of the status of this operation."),
    col("First Seen", "The time that the event was first seen", 1),
    col("Count", "The number of times the event has occurred", 1),
    col("Name", NAME_DESC, 1, "name"),
]

# Associative lists in managedFields: list name -> key fields.
LIST_KEYS = {"containers": ("name",), "initContainers": ("name",), "volumes": ("name",),
             "env": ("name",), "ports": ("containerPort", "protocol"), "volumeMounts": ("mountPath",),
             "conditions": ("type",), "ownerReferences": ("uid",), "podIPs": ("ip",), "hostIPs": ("ip",),
             "tolerations": None, "containerStatuses": None}
NO_DOT = {"resources"}


def fields_v1(obj, top=True):
    """The managedFields FieldsV1 tree of a JSON object (keys sorted, as the
    apiserver serializes field sets)."""
    out = {}
    for k, v in obj.items():
        fk = "f:" + k
        if isinstance(v, dict):
            if not v:
                out[fk] = {}
            else:
                sub = fields_v1(v, False)
                if k not in NO_DOT and not top:
                    sub["."] = {}
                out[fk] = dict(sorted(sub.items()))
        elif isinstance(v, list) and v and isinstance(v[0], dict) and LIST_KEYS.get(k):
            d = {}
            for item in v:
                key = {kk: item[kk] for kk in LIST_KEYS[k] if kk in item}
                sub = fields_v1(item, False)
                sub["."] = {}
                d["k:" + json.dumps(key, separators=(",", ":"))] = dict(sorted(sub.items()))
            out[fk] = dict(sorted(d.items()))
        else:
            out[fk] = {}
    return dict(sorted(out.items()))


class K8sError(Exception):
    def __init__(self, code, reason, message, details=None, metadata=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.metadata = metadata


def status_obj(code, reason, message, details=None, metadata=None):
    d = {"kind": "Status", "apiVersion": "v1", "metadata": metadata or {}, "status": "Failure",
         "message": message, "reason": reason}
    if details is not None:
        d["details"] = details
    d["code"] = code
    return d


STATUS_REASONS = {400: ("BadRequest", "the server rejected our request for an unknown reason"),
                  401: ("Unauthorized", "Unauthorized"),
                  403: ("Forbidden", "forbidden: User \"labdeck-admin\" cannot list resource \"pods\" in API "
                                     "group \"\" at the cluster scope"),
                  404: ("NotFound", "the server could not find the requested resource"),
                  405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
                  409: ("Conflict", "the object has been modified; please apply your changes to the latest "
                                    "version and try again"),
                  410: ("Expired", "too old resource version"),
                  422: ("Invalid", "the request is invalid"),
                  429: ("TooManyRequests", "Too many requests, please try again later."),
                  500: ("InternalError", "Internal error occurred: etcdserver: request timed out"),
                  503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
                  504: ("Timeout", "the server was unable to return a response in the time allotted, but may "
                                   "still be processing the request")}

EXPIRED_MESSAGE = ("The provided continue parameter is too old to display a consistent list result. You can "
                   "start a new list without the continue parameter, or use the continue token in this "
                   "response to retrieve the remainder of the results. Continuing with the provided token "
                   "results in an inconsistent list - objects that were created, modified, or deleted between "
                   "the time the first chunk was returned and now may show up in the list.")


def encode_continue(rv, start):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token):
    try:
        pad = "=" * (-len(token) % 4)
        d = json.loads(base64.urlsafe_b64decode(token + pad))
        if d.get("v") != "meta.k8s.io/v1":
            raise ValueError("version")
        return int(d["rv"]), str(d["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise K8sError(400, "BadRequest", "continue key is not valid: incorrect encoded start "
                                          "resourceVersion (version meta.k8s.io/v1)")


def parse_selector(text):
    """Label selector terms: k=v, k==v, k!=v, k, !k (set-based forms unsupported)."""
    terms = []
    for t in filter(None, (x.strip() for x in text.split(","))):
        if "!=" in t:
            k, v = t.split("!=", 1)
            terms.append(("ne", k.strip(), v.strip()))
        elif "==" in t:
            k, v = t.split("==", 1)
            terms.append(("eq", k.strip(), v.strip()))
        elif "=" in t:
            k, v = t.split("=", 1)
            terms.append(("eq", k.strip(), v.strip()))
        elif t.startswith("!"):
            terms.append(("absent", t[1:].strip(), None))
        elif " in " in t or " notin " in t or "(" in t:
            raise K8sError(400, "BadRequest", "unable to parse requirement: labsim supports only "
                                              "=, ==, != and existence selectors")
        else:
            terms.append(("exists", t, None))
    return terms


def labels_match(labels, terms):
    for op, k, v in terms:
        have = labels.get(k)
        if op == "eq" and have != v:
            return False
        if op == "ne" and have == v:
            return False
        if op == "exists" and k not in labels:
            return False
        if op == "absent" and k in labels:
            return False
    return True


def request_attributes(req):
    """(verb, group, resource, subresource, namespace, name) of a resource request, as the
    apiserver's RequestInfoFactory reads the path and method; None for discovery and other
    non-resource paths."""
    parts = [x for x in req.path.split("/") if x]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    ns = name = sub = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    resource = rest[0]
    if len(rest) >= 2:
        name = rest[1]
    if len(rest) >= 3:
        sub = rest[2]
    if resource == "namespaces" and name:
        ns = name
    m = req.method
    if m in ("GET", "HEAD"):
        verb = "watch" if k8s_watch.truthy(req.qget("watch")) else ("get" if name else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}.get(m, m.lower())
    return verb, group, resource, sub, ns, name


class PageCache:
    """Rendered pages for CACHE_TTL seconds.  A value is (pods, rows bytes):
    the page's pod records are kept so that a later snapshot whose page holds
    the very same records (churn elsewhere) reuses the rows."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = {}
        self.size = 0

    def get(self, key):
        with self.lock:
            e = self.items.get(key)
            if e is None:
                return None
            if e[0] < time.monotonic():
                self.size -= len(e[1][1])
                del self.items[key]
                return None
            return e[1]

    def put(self, key, value):
        n = len(value[1])
        with self.lock:
            now = time.monotonic()
            for k in [k for k, e in self.items.items() if e[0] < now]:
                self.size -= len(self.items.pop(k)[1][1])
            old = self.items.pop(key, None)
            if old is not None:
                self.size -= len(old[1][1])
            while self.items and self.size + n > CACHE_MAX_BYTES:
                k = next(iter(self.items))
                self.size -= len(self.items.pop(k)[1][1])
            self.items[key] = (now + CACHE_TTL, value)
            self.size += n

    def clear(self):
        with self.lock:
            self.items = {}
            self.size = 0


class Kubernetes:
    name = "kubernetes"
    server_header = ""  # the Go apiserver sends no Server header
    json_type = JSON

    def __init__(self, lab, tokens, client_cn=None):
        self.lab = lab
        self.tokens = set(tokens)
        self.client_cn = client_cn
        self.deny = set()  # RBAC: ("verb", "resource") pairs refused with 403 (admin /kubernetes/rbac)
        self.cache = PageCache()
        self.flow_uid = "3b1e7f0c-2a4d-4e58-9c61-7d2f0a8b9e41"
        self.prio_uid = "8f5a2c1d-6b3e-4f70-a9d2-1c4e7b0f3a52"
        self.batch = Batch(self)

    # ---------------- plumbing ----------------

    def headers(self, pf=True):
        h = [("Audit-Id", str(uuid.uuid4())), ("Cache-Control", "no-cache, private"), ("Content-Type", JSON)]
        if pf:  # API priority and fairness headers: only past authentication
            h += [("X-Kubernetes-Pf-Flowschema-Uid", self.flow_uid),
                  ("X-Kubernetes-Pf-Prioritylevel-Uid", self.prio_uid)]
        return h

    def ok(self, body, status=200):
        """Go's json.Encoder ends every body with a newline; so do we."""
        if not isinstance(body, (bytes, bytearray)):
            body = dumps(body)
        return Response(status, body + b"\n", headers=self.headers())

    def fail(self, code, reason, message, details=None, metadata=None, extra_headers=()):
        return Response(code, dumps(status_obj(code, reason, message, details, metadata)) + b"\n",
                        headers=self.headers(pf=code != 401) + list(extra_headers))

    def authenticated(self, req):
        auth = req.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            if auth[7:].strip() in self.tokens:
                return True
        if self.client_cn and req.peercert:
            for rdn in req.peercert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName" and v == self.client_cn:
                        return True
        return False

    def handle(self, req):
        if not self.authenticated(req):
            return self.fail(401, "Unauthorized", "Unauthorized")
        try:
            self.authorize(req)
            return self.route(req)
        except K8sError as e:
            return self.fail(e.code, e.reason, e.message, e.details, e.metadata)

    def authorize(self, req):
        """RBAC as the admin knob /kubernetes/rbac sets it: a denied (verb, resource) gets the
        403 Forbidden Status the apiserver's RBAC authorizer gives (errors.NewForbidden with
        forbiddenMessage's wording).  Everything else is allowed (the user is cluster-admin)."""
        if not self.deny:
            return
        attrs = request_attributes(req)
        if attrs is None:
            return
        verb, group, resource, sub, ns, name = attrs
        full = resource + ("/" + sub if sub else "")
        if not any(v in ("*", verb) and r in ("*", resource, full) for v, r in self.deny):
            return
        where = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
        why = 'User "labdeck-admin" cannot %s resource "%s" in API group "%s" %s' % (verb, full, group, where)
        qualified = resource + ("." + group if group else "")
        msg = '%s%s is forbidden: %s' % (qualified, ' "%s"' % name if name else "", why)
        details = {"group": group, "kind": resource} if group else {"kind": resource}
        if name:
            details = dict({"name": name}, **details)
        raise K8sError(403, "Forbidden", msg, details)

    def fault_status(self, req, code, params):
        reason, message = STATUS_REASONS.get(code, ("", "labsim injected status %d" % code))
        if params.get("reason"):
            message = params["reason"]
        extra = []
        if params.get("retry_after") is not None:
            extra.append(("Retry-After", str(params["retry_after"])))
        if params.get("body") is not None:
            body = params["body"]
            return Response(code, body.encode() if isinstance(body, str) else dumps(body),
                            headers=self.headers() + extra)
        details = {"retryAfterSeconds": params["retry_after"]} if params.get("retry_after") else None
        return self.fail(code, reason, message, details, extra_headers=extra)

    def malformed_body(self):
        return b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":' \
               b'{"name":"x\xff\xfe\x00 <html><body>upstream connect error'

    def big_parts(self, nbytes):
        item = self.full_json(self.lab.podset.pods[0]) if self.lab.podset.pods else b"{}"
        head = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"%d"},"items":[' % \
            self.lab.podset.rv
        return core.json_array_parts(head, item, b"]}", nbytes)

    def expired_continue(self, req):
        """410 Expired for a list carrying a continue token, as the apiserver
        answers once etcd compacted past the token's revision; its
        metadata.continue lets the client go on inconsistently."""
        token = req.qget("continue")
        try:
            _, start = decode_continue(token)
            cont = encode_continue(self.lab.podset.rv, start)
        except K8sError:
            cont = ""
        return self.fail(410, "Expired", EXPIRED_MESSAGE, metadata={"continue": cont})

    def expired_watch(self, req):
        """The `expire_watch` fault: a watch gets the ERROR event a watch from
        a compacted resourceVersion gets, and the stream ends."""
        rv = req.qget("resourceVersion") or "0"
        return Response(200, chunks=iter([k8s_watch.expired_line(rv, self.lab.watch_floor)]),
                        headers=self.headers())

    def admin(self, method, path, data):
        if path == "/kubernetes/rbac" and method in ("GET", "POST"):
            # {"deny": ["patch cronjobs", "create jobs", "* cronjobs"]} replaces the denied
            # "verb resource" pairs; {"deny": []} allows everything again.
            if method == "POST":
                deny = (data or {}).get("deny")
                if not isinstance(deny, list) or not all(
                        isinstance(d, str) and len(d.split()) == 2 for d in deny):
                    return 400, {"error": 'deny must be a list of "verb resource" strings'}
                self.deny = {tuple(d.split()) for d in deny}
            return 200, {"deny": sorted(" ".join(d) for d in self.deny)}
        if path == "/churn" and method == "POST":
            data = data or {}
            try:
                r = self.lab.churn(data.get("action"), data.get("namespace"), data.get("name"))
            except KeyError as e:
                return 404, {"error": e.args[0]}
            if r is None:
                return 409, {"error": "no pod to %s" % (data.get("action") or "change")}
            return 200, r
        if path == "/kubernetes/node" and method == "POST":
            # topology knob: shrink a node's allocatable so its pods' requests overfill it
            data = data or {}
            n = self.lab.k8s_node_by_name.get(data.get("name"))
            if n is None:
                return 404, {"error": "unknown node %r" % data.get("name")}
            if "alloc_cpu_m" in data:
                n.alloc_cpu_m = int(data["alloc_cpu_m"])
            if "alloc_mem_ki" in data:
                n.alloc_mem_ki = int(data["alloc_mem_ki"])
            n.rv += 1
            return 200, {"name": n.name, "alloc_cpu_m": n.alloc_cpu_m, "alloc_mem_ki": n.alloc_mem_ki}
        if path == "/pods" and method == "POST":
            n = (data or {}).get("count")
            if not isinstance(n, int) or n < 0 or n > 1000000:
                return 400, {"error": "count must be an integer 0..1000000"}
            ps = self.lab.rebuild_pods(n)
            self.cache.clear()
            self.warm()
            return 200, {"pods": len(ps.pods), "resourceVersion": str(ps.rv)}
        return None

    # ---------------- routing ----------------

    def route(self, req):
        p = req.path.rstrip("/") or "/"
        if p.split("/")[1:4] == ["apis", "batch", "v1"] or p == "/apis/batch":
            return self.batch.route(req, p.split("/")[4:])
        if req.method not in ("GET", "HEAD"):
            raise K8sError(405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource")
        parts = p.split("/")[1:]
        if k8s_watch.truthy(req.qget("watch")):
            return self.route_watch(req, parts)
        if p in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", headers=[("Audit-Id", str(uuid.uuid4())),
                                                 ("Cache-Control", "no-cache, private"),
                                                 ("Content-Type", "text/plain; charset=utf-8"),
                                                 ("X-Content-Type-Options", "nosniff")])
        if p == "/version":
            return self.ok({"major": "1", "minor": "32", "gitVersion": KUBE_VERSION,
                            "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335", "gitTreeState": "clean",
                            "buildDate": "2025-04-22T15:56:13Z", "goVersion": "go1.23.8", "compiler": "gc",
                            "platform": "linux/amd64"})
        if p == "/api":
            return self.ok({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "10.10.0.11:6443"}]})
        if p == "/apis":
            return self.ok(self.api_groups())
        if p == "/api/v1":
            return self.ok(self.core_resources())
        if parts[:2] == ["apis", "metrics.k8s.io"]:
            if not self.lab.metrics:
                raise K8sError(404, "NotFound", "the server could not find the requested resource", {})
            return self.route_metrics(req, parts[2:])
        if parts[:2] == ["api", "v1"]:
            rest = parts[2:]
            r = len(rest)
            if r == 1 and rest[0] == "pods":
                return self.list_pods(req, None)
            if r == 1 and rest[0] == "nodes":
                return self.list_nodes(req)
            if r == 2 and rest[0] == "nodes":
                return self.get_node(req, rest[1])
            if r == 1 and rest[0] == "namespaces":
                return self.list_namespaces(req)
            if r == 2 and rest[0] == "namespaces":
                return self.get_namespace(req, rest[1])
            if r == 1 and rest[0] == "events":
                return self.list_events(req, None)
            if r == 3 and rest[0] == "namespaces" and rest[2] == "pods":
                return self.list_pods(req, rest[1])
            if r == 4 and rest[0] == "namespaces" and rest[2] == "pods":
                return self.get_pod(req, rest[1], rest[3])
            if r == 5 and rest[0] == "namespaces" and rest[2] == "pods" and rest[4] == "log":
                return self.pod_log(req, rest[1], rest[3])
            if r == 3 and rest[0] == "namespaces" and rest[2] == "events":
                return self.list_events(req, rest[1])
        raise K8sError(404, "NotFound", "the server could not find the requested resource", {})

    def route_watch(self, req, parts):
        rest = parts[2:] if parts[:2] == ["api", "v1"] else None
        if rest == ["pods"] or (rest and len(rest) == 3 and rest[0] == "namespaces" and rest[2] == "pods"):
            ns = rest[1] if len(rest) == 3 else None
            match = self.pod_matcher(req, ns)
            enc = k8s_watch.Encoder(self, req, "Pod", self.pod_row, POD_COLUMNS)
            return k8s_watch.watch(
                self, req, "Pod", lambda ps: [p for p in self.pods_in(ps, ns) if match(p)], match,
                lambda p: enc.obj(p, self.pod_json, lambda q: self.pod_metadata(q), p.rv), enc)
        if rest == ["nodes"]:
            terms = parse_selector(req.qget("labelSelector") or "")
            enc = k8s_watch.Encoder(self, req, "Node", self.node_row, NODE_COLUMNS)
            return k8s_watch.watch(
                self, req, "Node",
                lambda ps: [n for n in self.lab.k8s_nodes if labels_match(self.node_labels(n), terms)], None,
                lambda n: enc.obj(n, lambda o: dumps(self.node_object(o, True)),
                                  lambda o: self.node_object(o, False)["metadata"], n.rv), enc)
        if rest == ["namespaces"]:
            enc = k8s_watch.Encoder(self, req, "Namespace", self.ns_row, NS_COLUMNS)
            return k8s_watch.watch(
                self, req, "Namespace", lambda ps: sorted(self.lab.namespaces), None,
                lambda ns: enc.obj(ns, lambda o: dumps(self.ns_object(o, True)),
                                   lambda o: self.ns_object(o, False)["metadata"], ns[3]), enc)
        if rest is not None and rest and (rest[-1] in ("events", "pods", "nodes", "namespaces")
                                          or rest[0] in ("pods", "nodes", "namespaces", "events")):
            raise K8sError(405, "MethodNotAllowed", "labsim does not implement watch for %s" % "/".join(rest))
        raise K8sError(404, "NotFound", "the server could not find the requested resource", {})

    # ---------------- discovery ----------------

    def api_groups(self):
        groups = []
        if self.lab.metrics:
            gv = {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
            groups.append({"name": "metrics.k8s.io", "versions": [gv], "preferredVersion": gv})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    @staticmethod
    def core_resources():
        allv = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event", "verbs": allv,
             "shortNames": ["ev"], "storageVersionHash": "r2yiGXH7wu8="},
            {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
             "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["ns"],
             "storageVersionHash": "Q3oi5N2YM8M="},
            {"name": "namespaces/status", "singularName": "", "namespaced": False, "kind": "Namespace",
             "verbs": ["get", "patch", "update"]},
            {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node", "verbs": allv,
             "shortNames": ["no"], "storageVersionHash": "XwShjMxG9Fs="},
            {"name": "nodes/status", "singularName": "", "namespaced": False, "kind": "Node",
             "verbs": ["get", "patch", "update"]},
            {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": allv,
             "shortNames": ["po"], "categories": ["all"], "storageVersionHash": "xPOwRZ+Yhw8="},
            {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
            {"name": "pods/status", "singularName": "", "namespaced": True, "kind": "Pod",
             "verbs": ["get", "patch", "update"]},
        ]}

    def route_metrics(self, req, rest):
        if not rest:
            gv = {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
            return self.ok({"kind": "APIGroup", "apiVersion": "v1", "name": "metrics.k8s.io",
                            "versions": [gv], "preferredVersion": gv})
        if rest[0] != "v1beta1":
            raise K8sError(404, "NotFound", "the server could not find the requested resource", {})
        rest = rest[1:]
        if not rest:
            return self.ok({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "metrics.k8s.io/v1beta1",
                            "resources": [
                                {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
                                 "verbs": ["get", "list"]},
                                {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
                                 "verbs": ["get", "list"]}]})
        if rest == ["nodes"]:
            return self.ok({"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
                            "items": [self.node_metrics(n) for n in self.lab.k8s_nodes]})
        if len(rest) == 2 and rest[0] == "nodes":
            n = self.lab.k8s_node_by_name.get(rest[1])
            if n is None:
                raise K8sError(404, "NotFound", 'nodemetrics.metrics.k8s.io "%s" not found' % rest[1],
                               {"name": rest[1], "group": "metrics.k8s.io", "kind": "nodes"})
            return self.ok(dict({"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1"},
                                **self.node_metrics(n)))
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == "pods":
            ns = rest[1]
            if len(rest) == 4:
                p = self.lab.podset.get(ns, rest[3])
                if p is None or p.state != "running":
                    raise K8sError(404, "NotFound", 'podmetrics.metrics.k8s.io "%s/%s" not found' % (ns, rest[3]),
                                   {"name": rest[3], "group": "metrics.k8s.io", "kind": "pods"})
                return self.ok(dict({"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1"},
                                    **self.pod_metrics(p)))
            rest = ["pods"]
        if rest == ["pods"]:
            items = [self.pod_metrics(p) for p in self.lab.podset.pods
                     if p.state == "running" and (ns is None or p.ns == ns)]
            return self.ok({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
                            "items": items})
        raise K8sError(404, "NotFound", "the server could not find the requested resource", {})

    def node_metrics(self, n):
        lab = self.lab
        now = lab.now()
        g = lab.guest_by_id.get(n.pve_vmid)
        if g is not None and g.running and lab.node_online(g.node):
            cores = lab.guest_cpu(g, now) * g.cores * 0.93
            mem_ki = int(lab.guest_mem(g, now) * 0.9) // 1024
        else:
            cores = n.cpu * n.cpu_use * (0.8 + 0.4 * wave("km" + n.name, now))
            mem_ki = int(n.mem_ki * n.mem_use)
        return {"metadata": {"name": n.name, "creationTimestamp": rfc3339(now), "labels": self.node_labels(n)},
                "timestamp": rfc3339(now - 7), "window": "20.041s",
                "usage": {"cpu": "%dn" % int(cores * 1e9), "memory": "%dKi" % mem_ki}}

    def pod_metrics(self, p):
        now = self.lab.now()
        t = p.tpl
        conts = []
        for c in t.containers:
            w = wave("pm" + p.name + c["name"], now, 120)
            cpu_m, mem_ki = c.get("_use", (t.cpu_use_m, t.mem_use_ki))
            conts.append({"name": c["name"], "usage": {"cpu": "%dn" % int(cpu_m * (0.6 + 0.8 * w) * 1e6),
                                                       "memory": "%dKi" % int(mem_ki * (0.95 + 0.1 * w))}})
        return {"metadata": {"name": p.name, "namespace": p.ns, "creationTimestamp": rfc3339(now),
                             "labels": t.labels},
                "timestamp": rfc3339(now - 9), "window": "15.013s", "containers": conts}

    # ---------------- formats ----------------

    @staticmethod
    def wants(req):
        """-> ("table", "v1"|"v1beta1") | ("meta", "v1"|"v1beta1") | ("json", None)."""
        accept = req.headers.get("Accept", "") or ""
        for part in accept.split(","):
            fields = [f.strip() for f in part.split(";")]
            params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
            if params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
                if params.get("as") == "Table":
                    return "table", params["v"]
                if params.get("as") == "PartialObjectMetadataList":
                    return "metalist", params["v"]
                if params.get("as") == "PartialObjectMetadata":
                    return "meta", params["v"]
            if fields[0] in ("application/json", "*/*", "application/*", ""):
                return "json", None
        return "json", None

    @staticmethod
    def include_object(req):
        v = req.qget("includeObject", "Metadata") or "Metadata"
        if v not in ("None", "Metadata", "Object"):
            raise K8sError(400, "BadRequest", 'includeObject: Unsupported value: "%s": supported values: '
                                              '"None", "Metadata", "Object"' % v)
        return v

    def paginate(self, keys, req, list_rv, first_rv):
        """keys: sorted start keys of the candidate items.
        -> (start, end, continue token or "", remaining count or None)."""
        try:
            limit = int(req.qget("limit") or 0)
        except ValueError:
            raise K8sError(400, "BadRequest", "limit: Invalid value: must be an integer")
        cont = req.qget("continue")
        start = 0
        if cont:
            trv, start_key = decode_continue(cont)
            if trv < first_rv:
                raise K8sError(410, "Expired", EXPIRED_MESSAGE, metadata={
                    "continue": encode_continue(list_rv, start_key)})
            start = _bisect(keys, start_key)
        total = len(keys)
        end = total if limit <= 0 else min(total, start + limit)
        if end < total:
            return start, end, encode_continue(list_rv, keys[end - 1] + "\x00"), total - end
        return start, end, "", None

    @staticmethod
    def list_meta(rv, cont, remaining):
        m = {"resourceVersion": str(rv)}
        if cont:
            m["continue"] = cont
            if remaining is not None:
                m["remainingItemCount"] = remaining
        return m

    # ---------------- pods ----------------

    @staticmethod
    def pods_in(ps, ns):
        """The pods of snapshot ps in namespace ns (all for None)."""
        if ns is None:
            return ps.pods
        lo = _bisect(ps.keys, ns + "/")
        hi = _bisect(ps.keys, ns + "0")  # '0' sorts right after '/'
        return ps.pods[lo:hi]

    FIELD_GETTERS = {"spec.nodeName": lambda p: p.node or "",
                     "metadata.name": lambda p: p.name,
                     "metadata.namespace": lambda p: p.ns,
                     "status.phase": lambda p: Kubernetes.phase(p),
                     "spec.restartPolicy": lambda p: "Always",
                     "spec.schedulerName": lambda p: "default-scheduler",
                     "spec.serviceAccountName": lambda p: p.tpl.service_account if p.tpl.sa_token else "",
                     "status.podIP": lambda p: p.ip}

    def selector_matcher(self, req):
        """labelSelector and fieldSelector as one predicate (None: no selector)."""
        ls = req.qget("labelSelector")
        fs = req.qget("fieldSelector")
        tests = []
        if ls:
            terms = parse_selector(ls)
            tests.append(lambda p: labels_match(p.tpl.labels, terms))
        if fs:
            for op, k, v in parse_selector(fs):
                if op not in ("eq", "ne"):
                    raise K8sError(400, "BadRequest", "invalid field selector: %s" % fs)
                getter = self.FIELD_GETTERS.get(k)
                if getter is None:
                    raise K8sError(400, "BadRequest", 'field label not supported: %s' % k)
                want = op == "eq"
                tests.append(lambda p, g=getter, v=v, want=want: (g(p) == v) == want)
        if not tests:
            return None
        return lambda p: all(t(p) for t in tests)

    def pod_matcher(self, req, ns):
        """A predicate for single pods (watch events): namespace + selectors."""
        sel = self.selector_matcher(req)
        if ns is None:
            return sel or (lambda p: True)
        if sel is None:
            return lambda p: p.ns == ns
        return lambda p: p.ns == ns and sel(p)

    def pod_filter(self, req, ns, ps):
        pods = self.pods_in(ps, ns)
        sel = self.selector_matcher(req)
        if sel is not None:
            pods = [p for p in pods if sel(p)]
        return pods

    def list_pods(self, req, ns):
        fmt, ver = self.wants(req)
        inc = self.include_object(req) if fmt == "table" else None
        ps = self.lab.podset
        token = req.qget("continue")
        if token:
            # A continue token reads the snapshot of its list: consistent pages
            # while pods churn.  A snapshot that is gone has expired (410).
            trv, start_key = decode_continue(token)
            snap = self.lab.snapshot(trv) if trv >= ps.first_rv else None
            if snap is None:
                raise K8sError(410, "Expired", EXPIRED_MESSAGE, metadata={
                    "continue": encode_continue(ps.rv, start_key)})
            ps = snap
        pods = self.pod_filter(req, ns, ps)
        rel = len(ns) + 1 if ns is not None else 0
        keys = [p.key[rel:] for p in pods] if (req.qget("labelSelector") or req.qget("fieldSelector")
                                                 or ns is not None) else ps.keys
        start, end, cont, remaining = self.paginate(keys, req, ps.rv, 0)
        page = pods[start:end]
        # The rows are cached by what is on the page: churn elsewhere (a new
        # snapshot) leaves this page's rows valid; only the metadata changes.
        ckey = ("pods", ps.build, ns, req.qget("labelSelector"), req.qget("fieldSelector"),
                page[0].key if page else "", len(page), fmt, ver, inc)
        hit = self.cache.get(ckey)
        if hit is not None and all(a is b for a, b in zip(hit[0], page)):
            rows = hit[1]
        else:
            if fmt == "table":
                rows = b",".join([self.pod_row_json(p, inc, ver) for p in page])
            elif fmt in ("metalist", "meta"):
                head = b'{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/' + ver.encode() + \
                    b'","metadata":'
                rows = b",".join([head + self.md_json(p) + b"}" for p in page])
            else:
                rows = b",".join([self.full_json(p) for p in page])
            self.cache.put(ckey, (tuple(page), rows))
        meta = dumps(self.list_meta(ps.rv, cont, remaining))
        v = (ver or "").encode()
        if fmt == "table":
            body = b"".join([b'{"kind":"Table","apiVersion":"meta.k8s.io/', v, b'","metadata":', meta,
                             b',"columnDefinitions":', POD_COLUMNS_JSON, b',"rows":[', rows, b"]}\n"])
        elif fmt in ("metalist", "meta"):
            body = b"".join([b'{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/', v,
                             b'","metadata":', meta, b',"items":[', rows, b"]}\n"])
        else:
            body = b"".join([b'{"kind":"PodList","apiVersion":"v1","metadata":', meta, b',"items":[', rows,
                             b"]}\n"])
        return Response(200, body, headers=self.headers())

    def get_pod(self, req, ns, name):
        p = self.lab.podset.get(ns, name)
        if p is None:
            raise K8sError(404, "NotFound", 'pods "%s" not found' % name, {"name": name, "kind": "pods"})
        fmt, ver = self.wants(req)
        if fmt == "table":
            inc = self.include_object(req)
            return self.ok({"kind": "Table", "apiVersion": "meta.k8s.io/" + ver,
                            "metadata": {"resourceVersion": str(p.rv)}, "columnDefinitions": POD_COLUMNS,
                            "rows": [self.pod_row(p, inc, ver)]})
        if fmt == "meta":
            return self.ok(b'{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/' + ver.encode() +
                           b'","metadata":' + self.md_json(p) + b"}")
        return self.ok(self.pod_json(p))

    def pod_row(self, p, inc, ver):
        now = self.lab.now()
        n = len(p.tpl.containers)
        if p.deleted_at is not None:
            ready, status = 0, "Terminating"
        elif p.state == "running":
            ready, status = n, "Running"
        elif p.state == "crashloop":
            ready, status = n - 1, "CrashLoopBackOff"
        else:
            ready, status = 0, "Pending"
        restarts = str(p.restarts)
        if p.restarts and p.last_restart:
            restarts = "%d (%s ago)" % (p.restarts, human_duration(now - p.last_restart))
        row = {"cells": [p.name, "%d/%d" % (ready, n), status, restarts, human_duration(now - p.created),
                         p.ip or "<none>", p.node or "<none>", "<none>", "<none>"]}
        if inc == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/" + ver,
                             "metadata": self.pod_metadata(p)}
        elif inc == "Object":
            row["object"] = self.pod_object(p, True)
        return row

    # -- the full pod object --

    def owner_refs(self, p):
        t = p.tpl
        if t.kind == "Node":
            node = self.lab.k8s_node_by_name[p.node]
            return [{"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": node.uid, "controller": True}]
        return [{"apiVersion": t.owner_api, "kind": t.kind, "name": t.owner_name, "uid": t.owner_uid,
                 "controller": True, "blockOwnerDeletion": True}]

    def generate_name(self, p):
        t = p.tpl
        if t.kind == "ReplicaSet":
            return t.owner_name + "-"
        if t.kind == "DaemonSet":
            return t.name + "-"
        return None

    def template_fields(self, p):
        """FieldsV1 of what the creating manager set: cached per template
        (admission-added parts such as the service account volume are not
        attributed to it, as on a real cluster)."""
        t = p.tpl
        if t.cm_fields is None:
            md = {}
            gn = self.generate_name(p)
            if gn:
                md["generateName"] = gn
            md["labels"] = t.labels
            if t.annotations:
                md["annotations"] = t.annotations
            md["ownerReferences"] = self.owner_refs(p)
            spec = self.template_spec(t)
            if t.kind == "Node":
                spec = dict(spec, nodeName=p.node)
            t.cm_fields = fields_v1({"metadata": md, "spec": spec})
        return t.cm_fields

    def pod_metadata(self, p):
        t = p.tpl
        md = {"name": p.name}
        gn = self.generate_name(p)
        if gn:
            md["generateName"] = gn
        md["namespace"] = p.ns
        md["uid"] = p.uid
        md["resourceVersion"] = str(p.rv)
        md["creationTimestamp"] = rfc3339(p.created)
        if p.deleted_at is not None:
            md["deletionTimestamp"] = rfc3339(p.deleted_at)
            md["deletionGracePeriodSeconds"] = 0
        md["labels"] = t.labels
        if t.annotations:
            md["annotations"] = t.annotations
        md["ownerReferences"] = self.owner_refs(p)
        mf = [{"manager": "kubelet" if t.kind == "Node" else "kube-controller-manager", "operation": "Update",
               "apiVersion": "v1", "time": rfc3339(p.created), "fieldsType": "FieldsV1",
               "fieldsV1": self.template_fields(p)}]
        if p.state == "pending":
            mf.append({"manager": "kube-scheduler", "operation": "Update", "apiVersion": "v1",
                       "time": rfc3339(p.created + 0.2), "fieldsType": "FieldsV1",
                       "fieldsV1": {"f:status": {"f:conditions": {".": {}, 'k:{"type":"PodScheduled"}': {
                           ".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:message": {},
                           "f:reason": {}, "f:status": {}, "f:type": {}}}}},
                       "subresource": "status"})
        else:
            cond = {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}
            unready = dict(cond, **{"f:message": {}, "f:reason": {}}) if p.state == "crashloop" else cond
            if p.deleted_at is not None:
                unready = dict(cond, **{"f:reason": {}})
            fv = {"f:status": {
                "f:conditions": {
                    'k:{"type":"ContainersReady"}': unready,
                    'k:{"type":"Initialized"}': cond,
                    'k:{"type":"PodReadyToStartContainers"}': cond,
                    'k:{"type":"Ready"}': unready},
                "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {},
                "f:podIPs": {".": {}, 'k:{"ip":"%s"}' % p.ip: {".": {}, "f:ip": {}}},
                "f:startTime": {}}}
            mf.append({"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                       "time": rfc3339(max(p.started + 2, p.last_restart, p.deleted_at or 0)),
                       "fieldsType": "FieldsV1",
                       "fieldsV1": fv, "subresource": "status"})
        md["managedFields"] = mf
        return md

    @staticmethod
    def template_spec(t):
        """The pod spec a controller writes (before admission and scheduling)."""
        if getattr(t, "_spec", None) is not None:
            return t._spec
        order = ("name", "image", "command", "args", "ports", "env", "resources", "volumeMounts",
                 "livenessProbe", "readinessProbe", "startupProbe")
        conts = []
        for c in t.containers:
            d = {k: c[k] for k in order if k in c}
            d.setdefault("resources", {})
            d["terminationMessagePath"] = "/dev/termination-log"
            d["terminationMessagePolicy"] = "File"
            d["imagePullPolicy"] = "IfNotPresent"
            if "securityContext" in c:
                d["securityContext"] = c["securityContext"]
            conts.append(d)
        spec = {}
        if t.volumes:
            spec["volumes"] = t.volumes
        spec["containers"] = conts
        spec["restartPolicy"] = "Always"
        spec["terminationGracePeriodSeconds"] = t.term_grace
        spec["dnsPolicy"] = t.dns_policy
        if t.node_selector:
            spec["nodeSelector"] = t.node_selector
        if t.sa_token:
            spec["serviceAccountName"] = t.service_account
            spec["serviceAccount"] = t.service_account
        if t.host_network:
            spec["hostNetwork"] = True
        spec["securityContext"] = t.security_context
        spec["schedulerName"] = "default-scheduler"
        if t.tolerations_extra:
            spec["tolerations"] = t.tolerations_extra
        if t.priority_class:
            spec["priorityClassName"] = t.priority_class
        t._spec = spec
        return spec

    def pod_spec(self, p):
        t = p.tpl
        base = self.template_spec(t)
        spec = {}
        if t.sa_token:
            spec["volumes"] = list(base.get("volumes", [])) + [{"name": p.sa_vol, "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}], "defaultMode": 420}}]
            mount = {"name": p.sa_vol, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
            conts = []
            for c in base["containers"]:
                c2 = dict(c)
                c2["volumeMounts"] = list(c.get("volumeMounts", [])) + [mount]
                conts.append(c2)
        else:
            if "volumes" in base:
                spec["volumes"] = base["volumes"]
            conts = base["containers"]
        spec["containers"] = conts
        for k in ("restartPolicy", "terminationGracePeriodSeconds", "dnsPolicy", "nodeSelector",
                  "serviceAccountName", "serviceAccount"):
            if k in base:
                spec[k] = base[k]
        if p.node:
            spec["nodeName"] = p.node
        if "hostNetwork" in base:
            spec["hostNetwork"] = True
        spec["securityContext"] = base["securityContext"]
        if t.kind == "DaemonSet":
            spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                        "values": [p.node]}]}]}}}
        spec["schedulerName"] = "default-scheduler"
        tol = list(base.get("tolerations", []))
        if t.kind == "Node":
            tol = [{"operator": "Exists", "effect": "NoExecute"}]
        elif t.kind == "DaemonSet":
            tol += [{"key": "node.kubernetes.io/%s" % k, "operator": "Exists", "effect": e}
                    for k, e in (("not-ready", "NoExecute"), ("unreachable", "NoExecute"),
                                 ("disk-pressure", "NoSchedule"), ("memory-pressure", "NoSchedule"),
                                 ("pid-pressure", "NoSchedule"), ("unschedulable", "NoSchedule"),
                                 ("network-unavailable", "NoSchedule"))]
        else:
            tol += [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                     "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                     "tolerationSeconds": 300}]
        spec["tolerations"] = tol
        if t.priority_class:
            spec["priorityClassName"] = t.priority_class
        spec["priority"] = t.priority
        spec["enableServiceLinks"] = True
        spec["preemptionPolicy"] = "PreemptLowerPriority"
        return spec

    @staticmethod
    def qos(t):
        req_any = False
        guaranteed = True
        for c in t.containers:
            r = c.get("resources", {})
            lim, rq = r.get("limits", {}), r.get("requests", {})
            if lim or rq:
                req_any = True
            for k in ("cpu", "memory"):
                if k not in lim or rq.get(k, lim[k]) != lim[k]:
                    guaranteed = False
        if not req_any:
            return "BestEffort"
        return "Guaranteed" if guaranteed else "Burstable"

    def pod_status(self, p):
        t = p.tpl
        created = rfc3339(p.created)
        if p.state == "pending":
            return {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "lastProbeTime": None,
                "lastTransitionTime": rfc3339(p.created + 0.2), "reason": "Unschedulable",
                "message": hostile("", self.lab).lstrip() +  # --hostile: first, so a cut line shows it
                           "0/2 nodes are available: 1 Insufficient gpu.intel.com/i915, 1 node(s) didn't match "
                           "Pod's node affinity/selector. preemption: 0/2 nodes are available: 1 No preemption "
                           "victims found for incoming pod, 1 Preemption is not helpful for scheduling."}],
                "qosClass": self.qos(t)}
        started = rfc3339(p.started)
        node_ip = self.lab.k8s_node_by_name[p.node].ip
        crash = p.state == "crashloop"
        gone = p.deleted_at is not None
        restarted = p.restarts > 0 and not crash  # container 0 runs again since last_restart
        ready_at = rfc3339((p.last_restart if restarted else p.started) + 3)
        cond = lambda typ, ok, at, **kw: dict({"type": typ, "status": "True" if ok else "False",  # noqa: E731
                                               "lastProbeTime": None, "lastTransitionTime": at}, **kw)
        first = t.containers[0]["name"]
        unready = {"reason": "ContainersNotReady", "message": "containers with unready status: [%s]" % first}
        if gone:
            fin = rfc3339(p.deleted_at)
            conds = [cond("PodReadyToStartContainers", False, fin), cond("Initialized", True, created),
                     cond("Ready", False, fin, reason="PodCompleted"),
                     cond("ContainersReady", False, fin, reason="PodCompleted")]
        else:
            conds = [cond("PodReadyToStartContainers", True, started),
                     cond("Initialized", True, created)]
            if crash:
                conds += [cond("Ready", False, rfc3339(p.last_restart), **unready),
                          cond("ContainersReady", False, rfc3339(p.last_restart), **unready)]
            else:
                conds += [cond("Ready", True, ready_at), cond("ContainersReady", True, ready_at)]
        conds.append(cond("PodScheduled", True, created))
        statuses = []
        for i, c in enumerate(t.containers):
            mounts = [{"name": m["name"], "mountPath": m["mountPath"]} for m in c.get("volumeMounts", [])]
            if t.sa_token:
                mounts.append({"name": p.sa_vol, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                               "readOnly": True, "recursiveReadOnly": "Disabled"})
            cs = {"name": c["name"]}
            since = p.last_restart if (i == 0 and restarted) else p.started
            if gone:
                cs["state"] = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": rfc3339(since),
                                              "finishedAt": rfc3339(p.deleted_at), "containerID": p.cids[i]}}
                cs["lastState"] = {}
                cs["ready"] = False
                cs["restartCount"] = p.restarts if i == 0 else 0
                cs["started"] = False
            elif crash and i == 0:
                cs["state"] = {"waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": hostile("", self.lab).lstrip() + "back-off 5m0s restarting failed container=%s pod=%s_%s(%s)" % (
                        c["name"], p.name, p.ns, p.uid)}}
                cs["lastState"] = {"terminated": {
                    "exitCode": 1, "reason": "Error", "startedAt": rfc3339(p.last_restart - 4),
                    "finishedAt": rfc3339(p.last_restart), "containerID": p.cids[i]}}
                cs["ready"] = False
                cs["restartCount"] = p.restarts
                cs["started"] = False
            else:
                cs["state"] = {"running": {"startedAt": rfc3339(since)}}
                cs["lastState"] = {}
                if i == 0 and restarted:
                    code, reason = p.last_exit or (2, "Error")
                    cs["lastState"] = {"terminated": {
                        "exitCode": code, "reason": reason,
                        "startedAt": rfc3339(max(p.started, p.last_restart - 3600)),
                        "finishedAt": rfc3339(p.last_restart - 0.5), "containerID": p.prev_cid or p.cids[i]}}
                cs["ready"] = True
                cs["restartCount"] = p.restarts if i == 0 else 0
                cs["started"] = True
            cs["image"] = c["image"]
            cs["imageID"] = self.lab.image_id(c["image"])
            cs["containerID"] = p.cids[i]
            cs["volumeMounts"] = mounts
            statuses.append(cs)
        return {"phase": self.phase(p), "conditions": conds, "hostIP": node_ip, "hostIPs": [{"ip": node_ip}],
                "podIP": p.ip, "podIPs": [{"ip": p.ip}], "startTime": created,
                "containerStatuses": statuses, "qosClass": self.qos(t)}

    @staticmethod
    def phase(p):
        if p.deleted_at is not None:
            return "Succeeded"
        return "Pending" if p.state == "pending" else "Running"

    def pod_object(self, p, with_kind):
        d = {"kind": "Pod", "apiVersion": "v1"} if with_kind else {}
        d["metadata"] = self.pod_metadata(p)
        d["spec"] = self.pod_spec(p)
        d["status"] = self.pod_status(p)
        return d

    # A Pod record never changes (a change makes a new record), so its JSON
    # is made once and kept on the record (about 13 KB per pod for both forms).

    def md_json(self, p):
        b = p.md_json
        if b is None:
            b = p.md_json = dumps(self.pod_metadata(p))
        return b

    def full_json(self, p):
        """The pod as a list item: {"metadata":...,"spec":...,"status":...}."""
        b = p.full_json
        if b is None:
            b = p.full_json = b'{"metadata":' + self.md_json(p) + b',"spec":' + dumps(self.pod_spec(p)) + \
                b',"status":' + dumps(self.pod_status(p)) + b"}"
        return b

    def warm(self):
        """Serialize every pod in the background so the first full listing
        (a benchmark's first run) is as fast as the next ones."""
        def run(ps):
            for p in ps.pods:
                if self.lab.podset.build != ps.build:
                    return
                self.full_json(p)
        threading.Thread(target=run, args=(self.lab.podset,), daemon=True).start()

    def pod_json(self, p):
        """The pod as GET returns it, with kind and apiVersion."""
        return b'{"kind":"Pod","apiVersion":"v1",' + self.full_json(p)[1:]

    def pod_row_json(self, p, inc, ver):
        # The cells (Age, "7 (3m ago)") are kept as long as a page would be.
        c = p.cells
        now = time.monotonic()
        if c is None or c[0] < now:
            c = p.cells = (now + CACHE_TTL, dumps(self.pod_row(p, "None", ver)["cells"]))
        cells = c[1]
        if inc == "Metadata":
            return b'{"cells":' + cells + b',"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/' + \
                ver.encode() + b'","metadata":' + self.md_json(p) + b"}}"
        if inc == "Object":
            return b'{"cells":' + cells + b',"object":' + self.pod_json(p) + b"}"
        return b'{"cells":' + cells + b"}"

    # ---------------- nodes ----------------

    @staticmethod
    def node_labels(n):
        labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux",
                  "node-role.kubernetes.io/" + n.role: ""}
        labels.update(n.extra_labels)
        return dict(sorted(labels.items()))

    def node_object(self, n, with_kind):
        now = int(self.lab.now())
        beat = rfc3339(now - now % 43)
        since = rfc3339(n.created + 30)
        cap = {"cpu": str(n.cpu), "ephemeral-storage": "129886128Ki" if n.cpu == 6 else "259825904Ki",
               "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "%dKi" % n.mem_ki, "pods": "110"}
        alloc = {"cpu": "%dm" % n.alloc_cpu_m,
                 "ephemeral-storage": "119703055367" if n.cpu == 6 else "239453544367",
                 "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "%dKi" % n.alloc_mem_ki, "pods": "110"}
        cap.update(n.extra_capacity)
        alloc.update(n.extra_capacity)
        cap = dict(sorted(cap.items()))
        alloc = dict(sorted(alloc.items()))
        cond = lambda typ, st, reason, msg: {"type": typ, "status": st, "lastHeartbeatTime": beat,  # noqa: E731
                                            "lastTransitionTime": since, "reason": reason, "message": msg}
        d = {"kind": "Node", "apiVersion": "v1"} if with_kind else {}
        d["metadata"] = {
            "name": n.name, "uid": n.uid, "resourceVersion": str(n.rv), "creationTimestamp": rfc3339(n.created),
            "labels": self.node_labels(n),
            "annotations": {"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
                            "node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        }
        d["spec"] = {"podCIDR": n.pod_cidr, "podCIDRs": [n.pod_cidr]}
        d["status"] = {
            "capacity": cap, "allocatable": alloc,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": n.ip}, {"type": "Hostname", "address": n.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": n.machine_id, "systemUUID": n.system_uuid, "bootID": n.boot_id,
                         "kernelVersion": "6.1.0-31-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "containerRuntimeVersion": "containerd://1.7.24", "kubeletVersion": KUBE_VERSION,
                         "kubeProxyVersion": KUBE_VERSION, "operatingSystem": "linux", "architecture": "amd64"},
            "images": [
                {"names": ["registry.k8s.io/etcd@sha256:c6a9d11cc5c04b114ccdef39a9265eeef818e3d02f5359be035ae784097fdec5",
                           "registry.k8s.io/etcd:3.5.16-0"], "sizeBytes": 57680541},
                {"names": ["registry.k8s.io/kube-apiserver:v1.32.4"], "sizeBytes": 28675845},
                {"names": ["registry.k8s.io/kube-proxy:v1.32.4"], "sizeBytes": 30928375},
                {"names": ["registry.k8s.io/coredns/coredns:v1.11.3"], "sizeBytes": 18562039},
                {"names": ["registry.k8s.io/pause:3.10"], "sizeBytes": 320368},
            ],
            "runtimeHandlers": [{"name": "runc", "features": {"recursiveReadOnlyMounts": True,
                                                             "userNamespaces": True}},
                                {"name": "", "features": {"recursiveReadOnlyMounts": True,
                                                         "userNamespaces": True}}],
            "features": {"supplementalGroupsPolicy": True},
        }
        if n.extra_capacity:
            d["status"]["images"].insert(0, {"names": ["ollama/ollama:0.6.2"], "sizeBytes": 1712345678})
        return d

    def node_row(self, n, inc, ver):
        now = self.lab.now()
        row = {"cells": [n.name, "Ready", n.role, human_duration(now - n.created), KUBE_VERSION, n.ip, "<none>",
                         "Debian GNU/Linux 12 (bookworm)", "6.1.0-31-amd64", "containerd://1.7.24"]}
        if inc == "Metadata":
            md = self.node_object(n, False)["metadata"]
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/" + ver, "metadata": md}
        elif inc == "Object":
            row["object"] = self.node_object(n, True)
        return row

    def small_list(self, req, items, kind, columns, row_fn, obj_fn):
        """Lists of a few cluster-scoped objects (nodes, namespaces)."""
        fmt, ver = self.wants(req)
        rv = self.lab.podset.rv
        keys = [k for k, _ in items]
        start, end, cont, remaining = self.paginate(keys, req, rv, 0)
        meta = self.list_meta(rv, cont, remaining)
        page = [o for _, o in items[start:end]]
        if fmt == "table":
            inc = self.include_object(req)
            return self.ok({"kind": "Table", "apiVersion": "meta.k8s.io/" + ver, "metadata": meta,
                            "columnDefinitions": columns, "rows": [row_fn(o, inc, ver) for o in page]})
        if fmt in ("metalist", "meta"):
            return self.ok({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/" + ver,
                            "metadata": meta, "items": [
                                {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/" + ver,
                                 "metadata": obj_fn(o, False)["metadata"]} for o in page]})
        return self.ok({"kind": kind, "apiVersion": "v1", "metadata": meta,
                        "items": [obj_fn(o, False) for o in page]})

    def list_nodes(self, req):
        ls = req.qget("labelSelector")
        nodes = self.lab.k8s_nodes
        if ls:
            terms = parse_selector(ls)
            nodes = [n for n in nodes if labels_match(self.node_labels(n), terms)]
        return self.small_list(req, [(n.name, n) for n in nodes], "NodeList", NODE_COLUMNS, self.node_row,
                               self.node_object)

    def get_node(self, req, name):
        n = self.lab.k8s_node_by_name.get(name)
        if n is None:
            raise K8sError(404, "NotFound", 'nodes "%s" not found' % name, {"name": name, "kind": "nodes"})
        fmt, ver = self.wants(req)
        if fmt == "table":
            return self.ok({"kind": "Table", "apiVersion": "meta.k8s.io/" + ver,
                            "metadata": {"resourceVersion": str(n.rv)}, "columnDefinitions": NODE_COLUMNS,
                            "rows": [self.node_row(n, self.include_object(req), ver)]})
        return self.ok(self.node_object(n, True))

    # ---------------- namespaces & events ----------------

    def ns_object(self, ns, with_kind):
        name, created, uid, rv = ns
        d = {"kind": "Namespace", "apiVersion": "v1"} if with_kind else {}
        d["metadata"] = {"name": name, "uid": uid, "resourceVersion": str(rv), "creationTimestamp": rfc3339(created),
                         "labels": {"kubernetes.io/metadata.name": name},
                         "managedFields": [{"manager": "kube-apiserver" if name in ("default", "kube-system")
                                            else "kubectl-create", "operation": "Update", "apiVersion": "v1",
                                            "time": rfc3339(created), "fieldsType": "FieldsV1",
                                            "fieldsV1": {"f:metadata": {"f:labels": {
                                                ".": {}, "f:kubernetes.io/metadata.name": {}}}}}]}
        d["spec"] = {"finalizers": ["kubernetes"]}
        d["status"] = {"phase": "Active"}
        return d

    def ns_row(self, ns, inc, ver):
        row = {"cells": [ns[0], "Active", human_duration(self.lab.now() - ns[1])]}
        if inc == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/" + ver,
                             "metadata": self.ns_object(ns, False)["metadata"]}
        elif inc == "Object":
            row["object"] = self.ns_object(ns, True)
        return row

    def list_namespaces(self, req):
        items = sorted((ns[0], ns) for ns in self.lab.namespaces)
        return self.small_list(req, items, "NamespaceList", NS_COLUMNS, self.ns_row, self.ns_object)

    def get_namespace(self, req, name):
        for ns in self.lab.namespaces:
            if ns[0] == name:
                fmt, ver = self.wants(req)
                if fmt == "table":
                    return self.ok({"kind": "Table", "apiVersion": "meta.k8s.io/" + ver,
                                    "metadata": {"resourceVersion": str(ns[3])}, "columnDefinitions": NS_COLUMNS,
                                    "rows": [self.ns_row(ns, self.include_object(req), ver)]})
                return self.ok(self.ns_object(ns, True))
        raise K8sError(404, "NotFound", 'namespaces "%s" not found' % name, {"name": name, "kind": "namespaces"})

    EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                    "reason", "reportingComponent", "source", "type", "metadata.name", "metadata.namespace")

    def list_events(self, req, ns):
        """EventLists about pods (k8s_events.py); fieldSelector terms on the
        event fields are ANDed, as the apiserver does."""
        fmt, ver = self.wants(req)
        lab = self.lab
        ps = lab.podset
        now = lab.now()
        terms = []
        fs = req.qget("fieldSelector")
        if fs:
            for op, k, v in parse_selector(fs):
                if op not in ("eq", "ne"):
                    raise K8sError(400, "BadRequest", "invalid field selector: %s" % fs)
                if k not in self.EVENT_FIELDS:
                    raise K8sError(400, "BadRequest", 'field label not supported: %s' % k)
                terms.append((k, v, op == "eq"))
        ls = req.qget("labelSelector")
        if ls:  # events carry no labels
            lterms = parse_selector(ls)
        name = next((v for k, v, eq in terms if k == "involvedObject.name" and eq), None)
        if name is not None:
            pods = [p for p in self.pods_in(ps, ns) if p.name == name]
        else:
            pods = list(self.pods_in(ps, ns))
        with lab.lock:
            gone = [p for p in lab.deleted if (ns is None or p.ns == ns) and (name is None or p.name == name)]
        events = []
        for p in pods + gone:
            events += k8s_events.pod_events(lab, p, now)
        if terms:
            events = [e for e in events
                      if all((k8s_events.event_fields(e)[k] == v) == eq for k, v, eq in terms)]
        if ls:
            events = [e for e in events if labels_match({}, lterms)]
        events.sort(key=lambda e: (e["metadata"]["namespace"], e["metadata"]["name"]))
        rel = ns is not None
        keys = [e["metadata"]["name"] if rel else e["metadata"]["namespace"] + "/" + e["metadata"]["name"]
                for e in events]
        start, end, cont, remaining = self.paginate(keys, req, ps.rv, 0)
        page = events[start:end]
        meta = self.list_meta(ps.rv, cont, remaining)
        if fmt == "table":
            inc = self.include_object(req)
            rows = []
            for e in page:
                row = {"cells": k8s_events.event_row(e, now)}
                if inc == "Metadata":
                    row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/" + ver,
                                     "metadata": e["metadata"]}
                elif inc == "Object":
                    row["object"] = dict({"kind": "Event", "apiVersion": "v1"}, **e)
                rows.append(row)
            return self.ok({"kind": "Table", "apiVersion": "meta.k8s.io/" + ver, "metadata": meta,
                            "columnDefinitions": EVENT_COLUMNS, "rows": rows})
        if fmt in ("metalist", "meta"):
            return self.ok({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/" + ver,
                            "metadata": meta, "items": [
                                {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/" + ver,
                                 "metadata": e["metadata"]} for e in page]})
        return self.ok({"kind": "EventList", "apiVersion": "v1", "metadata": meta, "items": page})

    # ---------------- pod logs ----------------

    @staticmethod
    def _int_param(req, name, minimum):
        v = req.qget(name)
        if v in (None, ""):
            return None
        try:
            n = int(v)
        except ValueError:
            raise K8sError(400, "BadRequest", "%s: Invalid value: \"%s\": must be an integer" % (name, v))
        if n < minimum:
            raise K8sError(422, "Invalid", 'PodLogOptions "" is invalid: %s: Invalid value: %d: must be greater '
                                           'than or equal to %d' % (name, n, minimum))
        return n

    def pod_log(self, req, ns, name):
        """text/plain, chunked; follow=true streams new lines until the
        client goes, the container ends (restart, deletion) or, for the
        crash-looping container, right after its last instance's log."""
        lab = self.lab
        p = lab.podset.get(ns, name)
        if p is None:
            raise K8sError(404, "NotFound", 'pods "%s" not found' % name, {"name": name, "kind": "pods"})
        names = [c["name"] for c in p.tpl.containers]
        cname = req.qget("container")
        if not cname:
            if len(names) != 1:
                raise K8sError(400, "BadRequest", "a container name must be specified for pod %s, choose one of: "
                                                  "[%s]" % (name, " ".join(names)))
            cname = names[0]
        elif cname not in names:
            raise K8sError(400, "BadRequest", "container %s is not valid for pod %s" % (cname, name))
        idx = names.index(cname)
        follow = k8s_watch.truthy(req.qget("follow"))
        stamps = k8s_watch.truthy(req.qget("timestamps"))
        previous = k8s_watch.truthy(req.qget("previous"))
        tail = self._int_param(req, "tailLines", 0)
        since = self._int_param(req, "sinceSeconds", 1)
        limit = self._int_param(req, "limitBytes", 1)
        st = req.qget("sinceTime")
        headers = [("Audit-Id", str(uuid.uuid4())), ("Cache-Control", "no-cache, private"),
                   ("Content-Type", "text/plain"), ("X-Kubernetes-Pf-Flowschema-Uid", self.flow_uid),
                   ("X-Kubernetes-Pf-Prioritylevel-Uid", self.prio_uid)]
        if p.node is None:  # not scheduled: the apiserver has no kubelet to ask, and answers nothing
            return Response(200, b"", headers=headers)
        if previous and not (idx == 0 and p.restarts > 0):
            raise K8sError(400, "BadRequest", 'previous terminated container "%s" in pod "%s" not found'
                           % (cname, name))
        log = k8s_logs.ContainerLog(lab, p, idx, previous)
        now = lab.now()
        n = log.count_at(now)
        lo = 0
        cut = None
        if since is not None:
            cut = now - since
        elif st:
            try:
                cut = calendar.timegm(time.strptime(st[:19], "%Y-%m-%dT%H:%M:%S"))
            except ValueError:
                raise K8sError(400, "BadRequest", 'sinceTime: Invalid value: "%s": must be RFC3339' % st)
        if cut is not None:
            while lo < n and log.time_of(lo) < cut:
                lo += 1
        if tail is not None:
            lo = max(lo, n - tail)
        follow = follow and log.end is None and not previous

        def gen():
            left = limit
            buf = []
            size = 0
            for k in range(lo, n):
                b = log.line(k, stamps)
                if left is not None:
                    b = b[:left]
                    left -= len(b)
                buf.append(b)
                size += len(b)
                if size >= 65536:
                    yield b"".join(buf)
                    buf, size = [], 0
                if left == 0:
                    break
            yield b"".join(buf)
            k = n
            while follow and left != 0:
                due = log.time_of(k)
                while True:
                    if req.client_gone():
                        return
                    cur = lab.podset.get(ns, name)
                    if cur is None or cur.restarts != p.restarts:
                        return  # the container ended (deleted, or restarted: a new instance)
                    wait = due - lab.now()
                    if wait <= 0:
                        break
                    time.sleep(min(wait, 0.5))
                b = log.line(k, stamps)
                if left is not None:
                    b = b[:left]
                    left -= len(b)
                yield b
                k += 1

        return Response(200, chunks=gen(), headers=headers)


_bisect = bisect.bisect_left


# --------------------------------------------------------------------------
# batch/v1: CronJobs and Jobs (namespace `batch`)
#
# CronJobs rag-reindex ("0 3 * * *"), backup-etcd ("*/30 * * * *") and
# always-fails ("15 4 * * *", its pods exit 1).  POST .../jobs validates the
# Job (kind, apiVersion, a DNS-1123 name, a container, restartPolicy
# OnFailure|Never, strict field validation when asked) and keeps the body as
# sent (GET /requests shows it too).  PATCH .../cronjobs/NAME (suspend/resume:
# kubectl patch) takes application/merge-patch+json (RFC 7386),
# application/strategic-merge-patch+json (the same merge: a CronJob's fields
# that matter are plain, lists are replaced; $patch delete|replace on a map),
# application/json-patch+json (RFC 6902: add remove replace move copy test)
# and application/apply-patch+yaml (JSON only, merged, fieldManager
# required); any other type gets 415.  A change bumps resourceVersion, a
# change of spec also generation; a patch that changes nothing bumps neither.
# labsim does not run schedules (lastScheduleTime stays put), so a suspended
# CronJob starts no Job by itself either; run now (POST jobs) still works, as
# it does on a real cluster.  A Job's status moves on each GET of it:
# {} -> active 1 (startTime) -> Complete (SuccessCriteriaMet then Complete,
# succeeded 1, completionTime), or for a Job owned by always-fails
# FailureTarget then Failed (BackoffLimitExceeded).

BATCH_NS = "batch"
CRONJOBS = [
    # name, schedule, image, command, minutes since the last schedule
    ("rag-reindex", "0 3 * * *", "registry.lab/rag-indexer:1.4.2", ["python", "-m", "indexer", "--all"], 420),
    ("backup-etcd", "*/30 * * * *", "registry.k8s.io/etcd:3.5.16-0", ["/bin/sh", "-c", "etcdctl snapshot save /backup/etcd.db"], 12),
    ("always-fails", "15 4 * * *", "busybox:1.36", ["/bin/sh", "-c", "echo failing; exit 1"], 300),
]
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml",
               "application/strategic-merge-patch+json")
CRONJOB_SPEC_KEYS = {"schedule", "timeZone", "startingDeadlineSeconds", "concurrencyPolicy", "suspend",
                     "jobTemplate", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"}
JOB_KEYS = {"kind", "apiVersion", "metadata", "spec", "status"}
META_KEYS = {"name", "generateName", "namespace", "labels", "annotations", "ownerReferences", "finalizers",
             "uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"}


class PatchError(Exception):
    pass


def go_type(v):
    """The JSON type's name as Go's encoding/json says it in an unmarshal error."""
    return ("bool" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else
            "string" if isinstance(v, str) else "array" if isinstance(v, list) else "object")


def merge_patch(target, patch, strategic=False):
    """RFC 7386 JSON merge patch: an object merges key by key, null deletes, anything else
    replaces.  strategic: the strategic merge patch of a type without merge keys (CronJob's
    fields that matter): the same, plus the $patch directive on a map (delete, replace) and
    the other $-keys ($retainKeys, $setElementOrder/...) dropped."""
    if not isinstance(patch, dict):
        return patch
    if strategic and patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if not k.startswith("$")}
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if strategic and k.startswith("$"):
            continue
        if v is None or (strategic and isinstance(v, dict) and v.get("$patch") == "delete"):
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v, strategic)
    return out


def _pointer(path):
    if path == "":
        return []
    if not isinstance(path, str) or not path.startswith("/"):
        raise PatchError("JSON pointer %r does not start with /" % path)
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _walk(doc, tokens, op, path):
    """The container that holds the last token of path."""
    for t in tokens[:-1]:
        if isinstance(doc, dict) and t in doc:
            doc = doc[t]
        elif isinstance(doc, list) and t.isdigit() and int(t) < len(doc):
            doc = doc[int(t)]
        else:
            raise PatchError("%s operation does not apply: doc is missing path: \"%s\": missing value" % (op, path))
    return doc


def _index(doc, t, op, path, adding=False):
    if t == "-" and adding:
        return len(doc)
    if not t.isdigit() or int(t) > len(doc) - (0 if adding else 1):
        raise PatchError("%s operation does not apply: doc is missing path: \"%s\": missing value" % (op, path))
    return int(t)


def _get(doc, path, op):
    tokens = _pointer(path)
    if not tokens:
        return doc
    c = _walk(doc, tokens, op, path)
    t = tokens[-1]
    if isinstance(c, dict) and t in c:
        return c[t]
    if isinstance(c, list):
        return c[_index(c, t, op, path)]
    raise PatchError("%s operation does not apply: doc is missing path: \"%s\": missing value" % (op, path))


def _remove(doc, path, op):
    tokens = _pointer(path)
    if not tokens:
        raise PatchError("%s operation does not apply: cannot remove the whole document" % op)
    c = _walk(doc, tokens, op, path)
    t = tokens[-1]
    if isinstance(c, dict) and t in c:
        return c.pop(t)
    if isinstance(c, list):
        return c.pop(_index(c, t, op, path))
    raise PatchError("Unable to remove nonexistent key: %s: missing value" % path)


def _add(doc, path, value, op, replace=False):
    tokens = _pointer(path)
    if not tokens:
        return value
    c = _walk(doc, tokens, op, path)
    t = tokens[-1]
    if isinstance(c, dict):
        if replace and t not in c:
            raise PatchError("replace operation does not apply: doc is missing key: %s: missing value" % path)
        c[t] = value
    elif isinstance(c, list):
        i = _index(c, t, op, path, adding=not replace)
        if replace:
            c[i] = value
        else:
            c.insert(i, value)
    else:
        raise PatchError("%s operation does not apply: doc is missing path: \"%s\": missing value" % (op, path))
    return doc


def json_patch(doc, ops):
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test) on a copy of doc;
    PatchError with evanphx/json-patch's wording when an operation does not apply."""
    doc = json.loads(json.dumps(doc))
    for o in ops:
        op, path = o.get("op"), o.get("path")
        if op in ("add", "replace", "test") and "value" not in o:
            raise PatchError("%s operation does not apply: missing value" % op)
        if op == "add":
            doc = _add(doc, path, o["value"], op)
        elif op == "replace":
            doc = _add(doc, path, o["value"], op, replace=True)
        elif op == "remove":
            _remove(doc, path, op)
        elif op in ("move", "copy"):
            src = o.get("from")
            v = _remove(doc, src, op) if op == "move" else json.loads(json.dumps(_get(doc, src, op)))
            doc = _add(doc, path, v, op)
        elif op == "test":
            if _get(doc, path, op) != o["value"]:
                raise PatchError("testing value %s failed: test failed" % path)
        else:
            raise PatchError("Unexpected kind: %s" % op)
    return doc


def dns1123(name):
    return isinstance(name, str) and 0 < len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)


class Batch:
    def __init__(self, k8s):
        self.k8s = k8s
        self.lock = threading.Lock()
        self.rv = 41000
        t = time.time()
        self.cronjobs = {}
        for i, (name, sched, image, cmd, ago) in enumerate(CRONJOBS):
            last = (int(t) // 60 - ago) * 60
            self.cronjobs[name] = {
                "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": name, "namespace": BATCH_NS,
                             "uid": str(uuid.UUID(int=0x5eed0000000000000000000000000000 + i)),
                             "resourceVersion": str(40000 + i), "generation": 1,
                             "creationTimestamp": rfc3339(t - 86400 * 30),
                             "labels": {"app.kubernetes.io/part-of": "lab", "app.kubernetes.io/name": name}},
                "spec": {"schedule": sched, "timeZone": "Asia/Seoul", "concurrencyPolicy": "Forbid",
                         "suspend": False, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                         "jobTemplate": {
                             "metadata": {"labels": {"app.kubernetes.io/name": name, "lab/kind": "batch"},
                                          "annotations": {"lab/owner": "labdeck"}},
                             "spec": {"backoffLimit": 2, "ttlSecondsAfterFinished": 86400, "template": {
                                 "metadata": {"labels": {"app.kubernetes.io/name": name}},
                                 "spec": {"restartPolicy": "OnFailure", "containers": [
                                     {"name": name.split("-")[0], "image": image, "command": cmd,
                                      "imagePullPolicy": "IfNotPresent", "resources": {}}]}}}}},
                "status": {"lastScheduleTime": rfc3339(last),
                           "lastSuccessfulTime": rfc3339(last + 40) if name != "always-fails" else None},
            }
            if name == "always-fails":
                del self.cronjobs[name]["status"]["lastSuccessfulTime"]
        self.jobs = {}  # (ns, name) -> {"obj", "polls", "fails", "body"}

    def err(self, code, reason, message, details=None):
        return K8sError(code, reason, message, details)

    def route(self, req, rest):
        k = self.k8s
        m = req.method
        if not rest:
            return k.ok({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "batch/v1", "resources": [
                {"name": "cronjobs", "singularName": "cronjob", "namespaced": True, "kind": "CronJob",
                 "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                 "shortNames": ["cj"], "categories": ["all"], "storageVersionHash": "sd5LIXh4Fjs="},
                {"name": "jobs", "singularName": "job", "namespaced": True, "kind": "Job",
                 "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                 "categories": ["all"], "storageVersionHash": "mudhfqk/qZY="}]})
        if k8s_watch.truthy(req.qget("watch")):
            raise self.err(405, "MethodNotAllowed", "labsim does not implement watch for batch/v1; poll instead")
        with self.lock:
            if rest == ["cronjobs"] and m == "GET":
                return k.ok(self.list("CronJobList", list(self.cronjobs.values())))
            if rest == ["jobs"] and m == "GET":
                return k.ok(self.list("JobList", [self.job_obj(j) for j in self.jobs.values()]))
            if len(rest) >= 3 and rest[0] == "namespaces":
                ns, kind = rest[1], rest[2]
                if kind == "cronjobs" and len(rest) == 3 and m == "GET":
                    return k.ok(self.list("CronJobList", [c for c in self.cronjobs.values()
                                                          if c["metadata"]["namespace"] == ns]))
                if kind == "cronjobs" and len(rest) == 4 and m == "GET":
                    c = self.cronjobs.get(rest[3])
                    if c is None or ns != BATCH_NS:
                        raise self.err(404, "NotFound", 'cronjobs.batch "%s" not found' % rest[3],
                                       {"name": rest[3], "group": "batch", "kind": "cronjobs"})
                    return k.ok(c)
                if kind == "cronjobs" and len(rest) == 4 and m == "PATCH":
                    return self.patch_cronjob(req, ns, rest[3])
                if kind == "jobs" and len(rest) == 3 and m == "GET":
                    return k.ok(self.list("JobList", [self.job_obj(j) for (jns, _), j in self.jobs.items()
                                                      if jns == ns]))
                if kind == "jobs" and len(rest) == 3 and m == "POST":
                    return self.create_job(req, ns)
                if kind == "jobs" and len(rest) == 4 and m == "GET":
                    j = self.jobs.get((ns, rest[3]))
                    if j is None:
                        raise self.err(404, "NotFound", 'jobs.batch "%s" not found' % rest[3],
                                       {"name": rest[3], "group": "batch", "kind": "jobs"})
                    j["polls"] += 1
                    return k.ok(self.job_obj(j))
        if m not in ("GET", "HEAD", "POST", "PATCH"):
            raise self.err(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        raise self.err(404, "NotFound", "the server could not find the requested resource", {})

    def patch_cronjob(self, req, ns, name):
        ctype = req.header("Content-Type").split(";", 1)[0].strip().lower()
        if ctype not in PATCH_TYPES:
            raise self.err(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           "accepted media types include: " + ", ".join(PATCH_TYPES))
        old = self.cronjobs.get(name)
        if old is None or ns != BATCH_NS:
            raise self.err(404, "NotFound", 'cronjobs.batch "%s" not found' % name,
                           {"name": name, "group": "batch", "kind": "cronjobs"})
        try:
            patch = json.loads(req.body or b"")
        except ValueError as e:
            if ctype == "application/apply-patch+yaml":
                raise self.err(400, "BadRequest", "labsim takes apply patches as JSON only: %s" % e)
            raise self.err(400, "BadRequest", "Invalid JSON Patch" if ctype != PATCH_TYPES[0] else str(e))
        cur = json.loads(json.dumps(old))
        if ctype == "application/json-patch+json":
            if not isinstance(patch, list) or not all(isinstance(o, dict) for o in patch):
                raise self.err(400, "BadRequest", "json: cannot unmarshal %s into Go value of type jsonpatch.Patch"
                               % go_type(patch))
            try:
                new = json_patch(cur, patch)
            except PatchError as e:
                raise self.err(422, "Invalid", "the server rejected our request due to an error in our request",
                               {"causes": [{"reason": "UnexpectedServerResponse", "message": str(e)}]})
        else:
            if not isinstance(patch, dict):
                raise self.err(400, "BadRequest", "Invalid JSON Patch")
            if ctype == "application/apply-patch+yaml":
                if not req.qget("fieldManager"):
                    raise self.err(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                                   "Required value: is required for apply patch")
                if patch.get("apiVersion") != "batch/v1" or patch.get("kind") != "CronJob":
                    raise self.err(400, "BadRequest", "the API version and kind of an apply patch must be "
                                   "batch/v1 CronJob")
            new = merge_patch(cur, patch, strategic=ctype == "application/strategic-merge-patch+json")
        return self.k8s.ok(self.store_patched(req, old, new, name))

    def store_patched(self, req, old, new, name):
        """Checks the patched CronJob as the apiserver's decoding, update strategy and
        validation would, then keeps it (unless dryRun=All)."""
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict) or \
                not isinstance(new.get("spec"), dict):
            raise self.err(400, "BadRequest", "Object 'Kind' is missing in the patched CronJob")
        md, spec = new["metadata"], new["spec"]
        omd = old["metadata"]
        if md.get("name") != name:
            raise self.err(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)"
                           % (md.get("name"), name))
        if md.get("namespace") != omd["namespace"]:
            raise self.err(400, "BadRequest", "the namespace of the object (%s) does not match the namespace on "
                           "the URL (%s)" % (md.get("namespace"), omd["namespace"]))
        if md.get("resourceVersion") not in (None, "", omd["resourceVersion"]):  # a precondition
            raise self.err(409, "Conflict", 'Operation cannot be fulfilled on cronjobs.batch "%s": the object has '
                           "been modified; please apply your changes to the latest version and try again" % name,
                           {"name": name, "group": "batch", "kind": "cronjobs"})
        md["resourceVersion"] = omd["resourceVersion"]
        unknown = sorted(k for k in spec if k not in CRONJOB_SPEC_KEYS)
        if unknown and req.qget("fieldValidation") == "Strict":
            raise self.err(400, "BadRequest", "strict decoding error: %s" % ", ".join(
                'unknown field "spec.%s"' % u for u in unknown))
        for u in unknown:  # the apiserver drops fields it does not know
            del spec[u]
        if spec.get("suspend") is None:
            spec["suspend"] = False  # SetDefaults_CronJob
        if not isinstance(spec["suspend"], bool):
            raise self.err(400, "BadRequest", "json: cannot unmarshal %s into Go struct field "
                           "CronJobSpec.spec.suspend of type bool" % go_type(spec["suspend"]))
        if not isinstance(spec.get("schedule"), str) or not spec["schedule"]:
            raise self.err(422, "Invalid", 'CronJob.batch "%s" is invalid: spec.schedule: Required value' % name,
                           {"name": name, "group": "batch", "kind": "CronJob", "causes": [
                               {"reason": "FieldValueRequired", "message": "Required value",
                                "field": "spec.schedule"}]})
        # what a PATCH of the object cannot change: identity and the status subresource
        for key in ("uid", "creationTimestamp", "generation"):
            md[key] = omd[key]
        new["status"] = json.loads(json.dumps(old.get("status", {})))
        new["apiVersion"], new["kind"] = "batch/v1", "CronJob"
        if new == old:
            return old
        if new["spec"] != old["spec"]:
            md["generation"] = omd["generation"] + 1
        self.rv += 1
        md["resourceVersion"] = str(self.rv)
        if req.qget("dryRun") != "All":
            self.cronjobs[name] = new
        return new

    def list(self, kind, items):
        self.rv += 1
        return {"kind": kind, "apiVersion": "batch/v1", "metadata": {"resourceVersion": str(self.rv)},
                "items": items}

    def invalid(self, name, causes):
        msg = 'Job.batch "%s" is invalid: %s' % (name, "; ".join("%s: %s" % (c["field"], c["message"])
                                                                   for c in causes))
        return self.err(422, "Invalid", msg, {"name": name, "group": "batch", "kind": "Job",
                                              "causes": [dict(c, reason="FieldValueInvalid") for c in causes]})

    def create_job(self, req, ns):
        try:
            body = json.loads(req.body or b"")
        except ValueError as e:
            raise self.err(400, "BadRequest", "error decoding request body: %s" % e)
        if not isinstance(body, dict):
            raise self.err(400, "BadRequest", "the body of the request was in an unknown format")
        strict = req.qget("fieldValidation") == "Strict"
        unknown = [k for k in body if k not in JOB_KEYS]
        md = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        unknown += ["metadata." + k for k in md if k not in META_KEYS]
        if strict and unknown:
            raise self.err(400, "BadRequest", "strict decoding error: %s" % ", ".join(
                'unknown field "%s"' % u for u in unknown))
        if body.get("kind") != "Job" or body.get("apiVersion") != "batch/v1":
            raise self.err(400, "BadRequest", "the API version in the data (%s) does not match the expected API "
                           "version (batch/v1)" % body.get("apiVersion"))
        if md.get("namespace") not in (None, ns):
            raise self.err(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                           "sent on the request")
        name = md.get("name") or ""
        if not name and md.get("generateName"):
            name = md["generateName"] + "".join("bcdfghjklmnpqrstvwxz2456789"[b % 27] for b in uuid.uuid4().bytes[:5])
        causes = []
        if not dns1123(name):
            causes.append({"field": "metadata.name", "message":
                           "Invalid value: %s: a lowercase RFC 1123 subdomain must consist of lower case "
                           "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                           "character; at most 63 characters" % json.dumps(name)})
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        tspec = ((spec.get("template") or {}).get("spec") or {}) if isinstance(spec.get("template"), dict) else {}
        if not tspec.get("containers"):
            causes.append({"field": "spec.template.spec.containers", "message": "Required value"})
        if tspec.get("restartPolicy") not in ("OnFailure", "Never"):
            causes.append({"field": "spec.template.spec.restartPolicy", "message":
                           'Required value: valid values: "OnFailure", "Never"'})
        if causes:
            raise self.invalid(name, causes)
        if ns not in self.k8s.lab.namespaces and ns != BATCH_NS:
            raise self.err(404, "NotFound", 'namespaces "%s" not found' % ns,
                           {"name": ns, "kind": "namespaces"})
        if (ns, name) in self.jobs:
            raise self.err(409, "AlreadyExists", 'jobs.batch "%s" already exists' % name,
                           {"name": name, "group": "batch", "kind": "jobs"})
        if req.qget("dryRun") == "All":
            j = self.new_job(body, ns, name)
            return self.k8s.ok(self.job_obj(j), 201)
        j = self.new_job(body, ns, name)
        self.jobs[(ns, name)] = j
        return self.k8s.ok(self.job_obj(j), 201)

    def new_job(self, body, ns, name):
        obj = json.loads(json.dumps(body))
        md = obj.setdefault("metadata", {})
        uid = str(uuid.uuid4())
        self.rv += 1
        md.update({"name": name, "namespace": ns, "uid": uid, "resourceVersion": str(self.rv), "generation": 1,
                   "creationTimestamp": rfc3339(time.time())})
        md.setdefault("labels", {}).update({"batch.kubernetes.io/controller-uid": uid,
                                            "batch.kubernetes.io/job-name": name,
                                            "controller-uid": uid, "job-name": name})
        spec = obj["spec"]
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        spec["template"].setdefault("metadata", {}).setdefault("labels", {}).update(
            {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
             "controller-uid": uid, "job-name": name})
        owner = next((o.get("name") for o in md.get("ownerReferences") or [] if o.get("kind") == "CronJob"), None)
        fails = owner == "always-fails" or any(
            "exit 1" in " ".join(c.get("command") or []) for c in spec["template"].get("spec", {}).get("containers", []))
        obj["status"] = {}
        return {"obj": obj, "polls": 0, "fails": fails, "created": time.time(), "body": body}

    def job_obj(self, j):
        obj = json.loads(json.dumps(j["obj"]))
        st = {}
        p = j["polls"]
        t0 = j["created"]
        if p >= 1:
            st = {"startTime": rfc3339(t0), "active": 1, "ready": 0, "terminating": 0,
                  "uncountedTerminatedPods": {}}
        if p == 2:
            st["ready"] = 1
            if j["fails"]:
                st["failed"] = 1
        if p >= 3:
            st.pop("active", None)
            st["ready"] = 0
            now = rfc3339(t0 + 9)
            if j["fails"]:
                st["failed"] = obj["spec"].get("backoffLimit", 6) + 1
                msg = "Job has reached the specified backoff limit"
                st["conditions"] = [
                    {"type": "FailureTarget", "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                     "reason": "BackoffLimitExceeded", "message": msg},
                    {"type": "Failed", "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                     "reason": "BackoffLimitExceeded", "message": msg}]
            else:
                st["succeeded"] = 1
                st["completionTime"] = now
                msg = "Reached expected number of succeeded pods"
                st["conditions"] = [
                    {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": now,
                     "lastTransitionTime": now, "reason": "CompletionsReached", "message": msg},
                    {"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                     "reason": "CompletionsReached", "message": msg}]
        obj["status"] = st
        return obj
