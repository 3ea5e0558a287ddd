"""Core v1 Events about pods, as `kubectl describe pod` and
`kubectl get events` read them.

Events are derived from each pod's state (no store), so they agree with it:
every pod has Scheduled, Pulled, Created and Started (counts grow with
restarts); the crash-looping pod adds BackOff and Unhealthy warnings, the
Pending pod FailedScheduling, a deleted pod Killing.  Unlike a real cluster
(where events expire after an hour) old pods keep theirs.

Two shapes occur, as on a real 1.32 cluster.  The kubelet writes through
the core/v1 API: `source` {component, host}, `firstTimestamp`,
`lastTimestamp`, `count`, and `eventTime` null.  The scheduler writes through
events.k8s.io/v1: `source` is {}, `firstTimestamp`/`lastTimestamp` are null,
there is no `count`, and `eventTime` (microseconds), `action`,
`reportingComponent` and `reportingInstance` say when and who (a repeated one
carries `series`).
"""

import calendar
import hashlib
import time
import uuid

from lab import HOSTILE_TEXT, hostile, human_duration, rfc3339


def micro(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))) + ".%06dZ" % (int(t * 1e6) % 1000000)


def _uid(name):
    return str(uuid.UUID(bytes=hashlib.md5(name.encode()).digest(), version=4))


def _event(p, seq, first, last, typ, reason, message, count=None, fieldpath=None, kubelet=True, action=None,
           series=None, rv=None):
    name = "%s.%x" % (p.name, int(first * 1e9) + seq)
    involved = {"kind": "Pod", "namespace": p.ns, "name": p.name, "uid": p.uid, "apiVersion": "v1",
                "resourceVersion": str(rv if rv is not None else p.rv)}
    if fieldpath:
        involved["fieldPath"] = fieldpath
    e = {"metadata": {"name": name, "namespace": p.ns, "uid": _uid(name),
                      "resourceVersion": str((rv if rv is not None else p.rv) + 3 + seq),
                      "creationTimestamp": rfc3339(first)},
         "involvedObject": involved, "reason": reason, "message": message}
    if kubelet:
        e["source"] = {"component": "kubelet", "host": p.node}
        e["firstTimestamp"] = rfc3339(first)
        e["lastTimestamp"] = rfc3339(last)
        e["count"] = count or 1
        e["type"] = typ
        e["eventTime"] = None
        e["reportingComponent"] = "kubelet"
        e["reportingInstance"] = p.node
    else:
        e["source"] = {}
        e["firstTimestamp"] = None
        e["lastTimestamp"] = None
        e["type"] = typ
        e["eventTime"] = micro(first)
        if series:
            e["series"] = series
        e["action"] = action
        e["reportingComponent"] = "default-scheduler"
        e["reportingInstance"] = "default-scheduler-k8s-node-a"
    return e


def pod_events(lab, p, now):
    """The events about pod p, oldest first."""
    t = p.tpl
    out = []
    seq = 0

    def add(*a, **kw):
        nonlocal seq
        out.append(_event(p, seq, *a, **kw))
        seq += 1

    if p.state == "pending":
        add(p.created + 0.2, now, "Warning", "FailedScheduling",
            "0/2 nodes are available: 1 Insufficient gpu.intel.com/i915, 1 node(s) didn't match Pod's node "
            "affinity/selector. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming "
            "pod, 1 Preemption is not helpful for scheduling.",
            kubelet=False, action="Scheduling",
            series={"count": max(1, int((now - p.created) // 300)), "lastObservedTime": micro(now - (now % 300))})
        return out
    if t.kind != "Node":  # static pods are not scheduled
        add(p.created + 0.05, p.created + 0.05, "Normal", "Scheduled",
            "Successfully assigned %s/%s to %s" % (p.ns, p.name, p.node), kubelet=False, action="Binding")
    crash = p.state == "crashloop"
    for i, c in enumerate(t.containers):
        fp = "spec.containers{%s}" % c["name"]
        n = 1 + (p.restarts if i == 0 else 0)
        last = p.last_restart if (i == 0 and p.restarts) else p.started
        if i == 0 and t.name == "models" and not p.restarts:
            add(p.created + 0.9, p.created + 0.9, "Normal", "Pulling", 'Pulling image "%s"' % c["image"],
                fieldpath=fp)
            add(p.started - 0.4, p.started - 0.4, "Normal", "Pulled",
                'Successfully pulled image "%s" in 41.203s (41.203s including waiting). Image size: 1712345678 '
                'bytes.' % c["image"], fieldpath=fp)
        else:
            add(p.started - 0.3, last, "Normal", "Pulled",
                'Container image "%s" already present on machine' % c["image"], count=n, fieldpath=fp)
        add(p.started - 0.2, last, "Normal", "Created", "Created container: %s" % c["name"], count=n, fieldpath=fp)
        add(p.started - 0.1, last, "Normal", "Started", "Started container %s" % c["name"], count=n, fieldpath=fp)
        if crash and i == 0:
            ip = p.ip
            add(p.started + 8, p.last_restart - 1, "Warning", "Unhealthy",
                'Readiness probe failed: Get "http://%s:8000/health": dial tcp %s:8000: connect: connection refused'
                % (ip, ip), count=3 * p.restarts + 2, fieldpath=fp)
            add(p.started + 12, now - (now % 10), "Warning", "BackOff",
                "Back-off restarting failed container %s in pod %s_%s(%s)" % (c["name"], p.name, p.ns, p.uid),
                count=int((now - p.started) // 20) + 30, fieldpath=fp, rv=lab.rv_counter)
    if p.key == lab.hostile_key:
        add(p.started + 30, p.started + 30, "Warning", "Unhealthy",
            hostile("Readiness probe failed: HTTP probe failed with statuscode: 503 body: " + HOSTILE_TEXT, lab),
            fieldpath="spec.containers{%s}" % t.containers[0]["name"])
    if p.deleted_at is not None:
        for c in t.containers:
            add(p.deleted_at - 0.01, p.deleted_at - 0.01, "Normal", "Killing", "Stopping container %s" % c["name"],
                fieldpath="spec.containers{%s}" % c["name"])
    return out


def event_fields(e):
    """Field selector values of an event (the fields the apiserver supports)."""
    io = e["involvedObject"]
    return {"involvedObject.kind": io.get("kind", ""), "involvedObject.namespace": io.get("namespace", ""),
            "involvedObject.name": io.get("name", ""), "involvedObject.uid": io.get("uid", ""),
            "involvedObject.apiVersion": io.get("apiVersion", ""),
            "involvedObject.resourceVersion": io.get("resourceVersion", ""),
            "involvedObject.fieldPath": io.get("fieldPath", ""), "reason": e["reason"],
            "reportingComponent": e["reportingComponent"], "source": e["source"].get("component", ""),
            "type": e["type"], "metadata.name": e["metadata"]["name"],
            "metadata.namespace": e["metadata"]["namespace"]}


def event_row(e, now):
    """A Table row as `kubectl get events` shows it."""
    last = e["lastTimestamp"] or (e.get("series") or {}).get("lastObservedTime") or e["eventTime"]
    first = e["firstTimestamp"] or e["eventTime"]

    def age(ts):
        if not ts:
            return "<unknown>"
        return human_duration(now - _parse(ts))

    src = e["source"]
    source = src.get("component", "") or e["reportingComponent"]
    host = src.get("host", "")
    if host:
        source += ", " + host
    count = e.get("count") or (e.get("series") or {}).get("count") or 1
    io = e["involvedObject"]
    return [age(last), e["type"], e["reason"], "pod/" + io["name"], io.get("fieldPath", ""), source, e["message"],
            age(first), count, e["metadata"]["name"]]


def _parse(ts):
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
