"""Watch (?watch=1) as the apiserver serves it: HTTP 200, chunked, one JSON
object per line {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}.

- resourceVersion unset or "0": ADDED for every object there is now, then
  the changes.  resourceVersion=RV: every change after RV, then live ones.
- An RV older than the history kept (Lab.HISTORY changes), from before a
  rebuild (admin POST /pods), or the `expire_watch` fault: a single ERROR
  event with a 410 Status (reason Expired, "too old resource version: RV
  (OLDEST)"), then the stream ends.  A watcher that falls behind the history
  gets the same.
- allowWatchBookmarks=true: a BOOKMARK every BOOKMARK_INTERVAL seconds,
  whose object is {"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":RV}}.
  sendInitialEvents=true adds one after the initial ADDED events with the
  annotation k8s.io/initial-events-end: "true".
- timeoutSeconds=N ends the stream cleanly after N s (the server's default is
  DEFAULT_TIMEOUT).
- Accept as=Table: each object is a one-row Table; only the first carries
  columnDefinitions, later ones have null (the apiserver's NoHeaders).
  as=PartialObjectMetadata: metadata-only objects.

Pods change (churn); nodes and namespaces do not, so their watches carry the
initial ADDED events and bookmarks only.
"""

import time

import kubernetes as kube  # (a cycle: only attributes are used, at call time)
from core import Response, dumps

BOOKMARK_INTERVAL = 10.0
DEFAULT_TIMEOUT = 1800.0
POLL = 1.0  # how often a quiet watch checks for a departed client


def truthy(v):
    return v in ("1", "true", "True")


def expired_line(rv, floor):
    st = kube.status_obj(410, "Expired", "too old resource version: %s (%d)" % (rv, floor))
    return b'{"type":"ERROR","object":' + dumps(st) + b"}\n"


class Encoder:
    """Event objects in the format the Accept header asks for."""

    def __init__(self, k8s, req, kind, row_fn, columns):
        self.k8s = k8s
        self.fmt, self.ver = k8s.wants(req)
        self.inc = k8s.include_object(req) if self.fmt == "table" else None
        self.kind = kind
        self.row_fn = row_fn
        self.columns = columns
        self.headers_sent = False

    def table(self, rv, row):
        cols = b"null"
        if not self.headers_sent:
            cols = dumps(self.columns)
            self.headers_sent = True
        return (b'{"kind":"Table","apiVersion":"meta.k8s.io/' + self.ver.encode() + b'","metadata":' +
                dumps({"resourceVersion": str(rv)}) + b',"columnDefinitions":' + cols + b',"rows":[' +
                dumps(row) + b"]}")

    def obj(self, o, full_json, metadata, rv):
        """o: the object; full_json(o) -> bytes with kind; metadata(o) -> dict."""
        if self.fmt == "table":
            return self.table(rv, self.row_fn(o, self.inc, self.ver))
        if self.fmt in ("meta", "metalist"):
            return b'{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/' + self.ver.encode() + \
                b'","metadata":' + dumps(metadata(o)) + b"}"
        return full_json(o)

    def bookmark(self, rv, initial_end=False):
        md = {"resourceVersion": str(rv)}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        if self.fmt == "table":
            row = {"cells": [""] + ["<none>"] * (len(self.columns) - 1),
                   "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/" + self.ver,
                              "metadata": dict(md, creationTimestamp=None)}}
            obj = self.table(rv, row)
        elif self.fmt in ("meta", "metalist"):
            obj = b'{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/' + self.ver.encode() + \
                b'","metadata":' + dumps(md) + b"}"
        else:
            obj = dumps({"kind": self.kind, "apiVersion": "v1", "metadata": md})
        return event("BOOKMARK", obj)


def event(typ, obj):
    return b'{"type":"' + typ.encode() + b'","object":' + obj + b"}\n"


def params(req):
    rv = req.qget("resourceVersion") or ""
    try:
        timeout = int(req.qget("timeoutSeconds") or 0)
    except ValueError:
        raise kube.K8sError(400, "BadRequest", "timeoutSeconds: Invalid value: must be an integer")
    if rv not in ("", "0"):
        try:
            if int(rv) < 0:
                raise ValueError(rv)
        except ValueError:
            raise kube.K8sError(400, "BadRequest", 'resourceVersion: Invalid value: "%s": strconv.ParseUint: parsing '
                                              '"%s": invalid syntax' % (rv, rv))
    return rv, (timeout if timeout > 0 else DEFAULT_TIMEOUT), truthy(req.qget("allowWatchBookmarks")), \
        req.qget("sendInitialEvents") == "true"


def watch(k8s, req, kind, initial_fn, match, enc_obj, enc):
    """The stream.  initial_fn(ps) -> objects for ADDED; match(pod) -> bool
    for pod changes (None: this resource never changes); enc_obj(o) ->
    bytes."""
    lab = k8s.lab
    rv, timeout, bookmarks, send_initial = params(req)
    with lab.lock:
        ps = lab.podset
        build = ps.build
        if rv in ("", "0") or send_initial:
            initial = initial_fn(ps)
            pos = ps.rv
            backlog = []
        else:
            pos = int(rv)
            backlog = lab.events_since(pos)
            if backlog is None:
                floor = lab.watch_floor
                return Response(200, chunks=iter([expired_line(rv, floor)]), headers=k8s.headers())
            initial = []
            backlog = list(backlog)
    deadline = time.monotonic() + timeout

    def gen():
        nonlocal pos
        for o in initial:
            yield event("ADDED", enc_obj(o))
        if send_initial and bookmarks:
            yield enc.bookmark(pos, initial_end=True)
        evs = backlog
        next_bm = time.monotonic() + BOOKMARK_INTERVAL
        while True:
            for erv, typ, p in evs:
                pos = max(pos, erv)
                if match is not None and match(p):
                    yield event(typ, enc_obj(p))
            now = time.monotonic()
            if now >= deadline:
                return
            if bookmarks and now >= next_bm:
                yield enc.bookmark(pos)
                next_bm = now + BOOKMARK_INTERVAL
            if req.client_gone():
                return
            yield b""  # about to wait (core's stall fault takes this as "nothing yet")
            with lab.cond:
                evs = lab.events_since(pos) if lab.podset.build == build else None
                if evs == []:
                    wait = min(POLL, deadline - now, (next_bm - now) if bookmarks else POLL)
                    if wait > 0:
                        lab.cond.wait(wait)
                    evs = lab.events_since(pos) if lab.podset.build == build else None
                if evs is not None:
                    evs = list(evs)
                    # Nothing is missed between the last event and the list RV now.
                    cur = lab.podset.rv
                floor = lab.watch_floor
            if evs is None:
                yield expired_line(pos, floor)
                return
            if not evs:
                pos = max(pos, cur)

    return Response(200, chunks=gen(), headers=k8s.headers())
