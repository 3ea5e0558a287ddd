"""labsim core: HTTP(S) plumbing, TLS material, fault injection, the request
record and the admin API.

A backend (proxmox.py, kubernetes.py, later ollama.py ...) is an object with:

    name                  "proxmox", "kubernetes", ...
    server_header         value of the Server: header
    handle(req)           -> Response                    (the real API)
    fault_status(req, code, params) -> Response          (fault kind "status")
    malformed_body()      -> bytes                       (fault kind "malformed")
    big_parts(nbytes)     -> iterator of bytes            (fault kind "big")
    expired_continue(req) -> Response or None             (fault kind "expire_continue")
    expired_watch(req)    -> Response or None             (fault kind "expire_watch"; optional)
    admin(method, path, body) -> (status, obj) or None   (extra admin routes)

    is_stream(req)        -> bool       (optional: the answer is a model's token
                                         stream; the kinds midstream_error and
                                         truncated_stream apply only to those)
    stream_fault(req, kind, params) -> (Response, ending) or None
                                        (optional: a model stream's own form of
                                         midstream_error, truncated_stream, stall;
                                         ending is "end", "close" or "stall")

A Response with `chunks` streams (watch, log follow): the iterator may block
between chunks, and should end when req.client_gone() says the client left.

Everything binds 127.0.0.1 only.  A backend's port can be taken down and
brought back at run time (admin POST /outage): the listening socket is
closed, so connecting is refused, and re-opened on the same port.
"""

import base64
import hashlib
import http.server
import json
import os
import re
import select
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from email.utils import formatdate
from http import HTTPStatus

LOOPBACK = "127.0.0.1"
HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 300.0
MAX_RECORDS = 100000
MAX_RECORDED_BODY = 65536


def log(msg):
    """Errors only: labsim is quiet when things work."""
    try:
        sys.stderr.write("labsim: %s\n" % msg)
        sys.stderr.flush()
    except Exception:
        pass


_C1 = re.compile("[\u0080-\u009f]")


def dumps(obj):
    """Compact JSON, as the real servers send it (UTF-8, no spaces).  Control
    characters are \\u escapes: C0 ones (ESC, BEL) as json always writes
    them, and C1 ones (U+0080-U+009F, such as the 8-bit CSI U+009B) too."""
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    if _C1.search(s):
        s = _C1.sub(lambda m: "\\u%04x" % ord(m.group()), s)
    return s.encode("utf-8")


def reason_phrase(code):
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def json_array_parts(head, item, tail, nbytes, batch=65536):
    """The `big` fault's body: head, then item repeated (comma-separated) until about nbytes
    are out, then tail; yielded in pieces of about `batch` bytes, never built whole."""
    yield head
    sent = len(head)
    buf = []
    size = 0
    first = True
    while sent < nbytes - len(tail):
        piece = item if first else b"," + item
        first = False
        buf.append(piece)
        size += len(piece)
        sent += len(piece)
        if size >= batch:
            yield b"".join(buf)
            buf = []
            size = 0
    buf.append(tail)
    yield b"".join(buf)


def padded_string_parts(head, tail, nbytes, batch=65536):
    """The `big` fault's body for an object with one huge string: head (ending inside the
    string's quotes), about nbytes of 'x', then tail; yielded in pieces, never built whole."""
    yield head
    left = max(0, nbytes - len(head) - len(tail))
    piece = b"x" * batch
    while left > 0:
        n = min(left, batch)
        yield piece[:n]
        left -= n
    yield tail


# --------------------------------------------------------------------------
# Requests and responses


class Request:
    __slots__ = ("backend", "method", "target", "path", "query", "headers", "body", "peercert",
                 "time", "version", "conn", "streaming", "extra")

    def qget(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def client_gone(self):
        """For streams: has the client closed (or the connection been cut by an
        outage)?  A streaming client sends nothing after its request, so
        anything readable (EOF, a TLS close_notify) means it has gone."""
        c = self.conn
        if c is None:
            return False
        try:
            if isinstance(c, ssl.SSLSocket) and c.pending():
                return True
            r, _, _ = select.select([c], [], [], 0)
            return bool(r)
        except (OSError, ValueError):
            return True

    def header(self, name, default=""):
        v = self.headers.get(name)
        return default if v is None else v


class Response:
    """status + reason + headers + body.  `body` is bytes; `chunks` (an
    iterable of bytes) instead streams with chunked encoding."""

    def __init__(self, status=200, body=b"", reason=None, headers=None, content_type=None,
                 chunks=None, close=False):
        self.status = status
        self.body = body
        self.reason = reason
        self.headers = list(headers or [])
        if content_type:
            self.headers.append(("Content-Type", content_type))
        self.chunks = chunks
        self.close = close

    def full_body(self):
        if self.chunks is None:
            return self.body
        return b"".join(self.chunks)


# --------------------------------------------------------------------------
# Fault injection

FAULT_KINDS = ("latency", "status", "malformed", "truncated", "reset", "stall", "big",
               "expire_continue", "expire_watch", "slow401", "midstream_error", "truncated_stream")
# Kinds that replace the answer (at most one applies to a request).
TERMINAL_KINDS = ("status", "malformed", "truncated", "reset", "stall", "big", "expire_continue",
                  "expire_watch", "midstream_error", "truncated_stream")
# Kinds that apply only to a model's token stream (req.streaming).
STREAM_KINDS = ("midstream_error", "truncated_stream")
NUMERIC_PARAMS = {"ms": float, "code": int, "retry_after": int, "seconds": float, "mb": float, "after": int,
                  "clean": int, "bare": int}


class FaultRule:
    def __init__(self, rid, backend, kind, path, count, params, query=""):
        self.id = rid
        self.backend = backend
        self.kind = kind
        self.path = path
        self.query = query  # "" = any; else "k=v&k2" (each must be in the request's query)
        self.count = count  # None = unlimited; else remaining applications
        self.params = params
        self.hits = 0
        self.query_terms = parse_fault_query(query)

    def to_json(self):
        d = {"id": self.id, "backend": self.backend, "kind": self.kind, "path": self.path,
             "count": self.count, "hits": self.hits}
        if self.query:
            d["query"] = self.query
        d.update(self.params)
        return d

    def matches(self, backend, path, query=None):
        """path: the request's path without the query; query: its parse_qs dict (None: {})."""
        if self.count is not None and self.count <= 0:
            return False
        if self.backend != "*" and self.backend != backend:
            return False
        if not path.startswith(self.path):
            return False
        for k, v in self.query_terms:
            got = (query or {}).get(k)
            if got is None or (v is not None and v not in got):
                return False
        return True


def parse_fault_query(text):
    """A rule's query condition "watch=1&labelSelector" -> [("watch", "1"), ("labelSelector", None)]:
    each name must be in the request's query, with that value when one is given."""
    terms = []
    for part in (text or "").split("&"):
        if not part:
            continue
        k, eq, v = part.partition("=")
        k = urllib.parse.unquote_plus(k)
        if not k:
            raise ValueError("query condition %r has an empty name" % part)
        terms.append((k, urllib.parse.unquote_plus(v) if eq else None))
    return terms


def normalize_fault(spec):
    """Validate a fault dict {"backend","kind","path","query","count",...params};
    returns (backend, kind, path, count, params, query) or raises ValueError.  A "?" in path
    starts a query condition (the same as "query")."""
    if not isinstance(spec, dict):
        raise ValueError("fault must be a JSON object")
    spec = dict(spec)
    backend = spec.pop("backend", "*") or "*"
    kind = spec.pop("kind", None)
    path = spec.pop("path", "") or ""
    query = spec.pop("query", "") or ""
    count = spec.pop("count", None)
    spec.pop("id", None)
    spec.pop("hits", None)
    if kind not in FAULT_KINDS:
        raise ValueError("unknown fault kind %r (one of %s)" % (kind, ", ".join(FAULT_KINDS)))
    if not isinstance(backend, str):
        raise ValueError("backend must be a string")
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise ValueError("path must be a prefix starting with /")
    if not isinstance(query, str):
        raise ValueError("query must be a string like watch=1")
    if "?" in path:
        path, q = path.split("?", 1)
        query = "&".join(x for x in (q, query.lstrip("?")) if x)
    query = query.lstrip("?")
    parse_fault_query(query)  # raises on a bad condition
    if count is not None:
        try:
            count = int(count)
        except (TypeError, ValueError):
            raise ValueError("count must be an integer")
        if count < 0:
            raise ValueError("count must be >= 0")
    params = {}
    for k, v in spec.items():
        conv = NUMERIC_PARAMS.get(k)
        if conv is not None:
            try:
                v = conv(v)
            except (TypeError, ValueError):
                raise ValueError("parameter %s must be a number" % k)
        params[k] = v
    if kind == "latency" and "ms" not in params:
        raise ValueError("latency needs ms=N")
    if kind == "status" and "code" not in params:
        raise ValueError("status needs code=N")
    if kind == "status" and not 100 <= params["code"] <= 999:
        raise ValueError("status code out of range")
    if kind == "big" and "mb" not in params:
        raise ValueError("big needs mb=N")
    return backend, kind, path, count, params, query


def parse_fault_spec(text):
    """CLI syntax: backend:kind[:key=val,key=val...][@/path/prefix[?name=value&name...]][#count]"""
    s = text
    count = None
    if "#" in s:
        s, c = s.rsplit("#", 1)
        try:
            count = int(c)
        except ValueError:
            raise ValueError("bad count in fault %r" % text)
    path = ""
    at = s.find("@/")
    if at >= 0:
        s, path = s[:at], s[at + 1:]
    parts = s.split(":", 2)
    if len(parts) < 2:
        raise ValueError("fault %r: expected backend:kind[:params][@path[?query]][#count]" % text)
    spec = {"backend": parts[0], "kind": parts[1], "path": path, "count": count}
    if len(parts) == 3 and parts[2]:
        for kv in parts[2].split(","):
            if "=" not in kv:
                raise ValueError("fault %r: parameter %r is not key=value" % (text, kv))
            k, v = kv.split("=", 1)
            spec[k.strip()] = v
    normalize_fault(spec)
    return spec


class FaultTable:
    """Rules in the order they were added.  For a request, every matching
    `latency` rule applies (delays add up), then the first matching rule of a
    terminal kind replaces the answer; `slow401` applies only to answers that
    are 401.  Each application uses one unit of the rule's count."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1

    def add(self, spec):
        backend, kind, path, count, params, query = normalize_fault(spec)
        with self.lock:
            r = FaultRule(self.next_id, backend, kind, path, count, params, query)
            self.next_id += 1
            self.rules.append(r)
            return r

    def clear(self):
        with self.lock:
            self.rules = []

    def remove(self, rid):
        with self.lock:
            n = len(self.rules)
            self.rules = [r for r in self.rules if r.id != rid]
            return len(self.rules) != n

    def list(self):
        with self.lock:
            return [r.to_json() for r in self.rules]

    @staticmethod
    def _use(r):
        r.hits += 1
        if r.count is not None:
            r.count -= 1

    def take_pre(self, backend, req):
        """-> (latency rules, terminal rule or None), counts consumed."""
        lat = []
        term = None
        with self.lock:
            if not self.rules:
                return lat, None
            for r in self.rules:
                if not r.matches(backend, req.path, req.query):
                    continue
                if r.kind == "latency":
                    self._use(r)
                    lat.append(r)
                elif r.kind in TERMINAL_KINDS and term is None:
                    if r.kind == "expire_continue" and not req.qget("continue"):
                        continue
                    if r.kind == "expire_watch" and req.qget("watch") not in ("1", "true", "True"):
                        continue
                    if r.kind in STREAM_KINDS and not req.streaming:
                        continue
                    self._use(r)
                    term = r
        return lat, term

    def take_kind(self, backend, req, kind):
        with self.lock:
            for r in self.rules:
                if r.kind == kind and r.matches(backend, req.path, req.query):
                    self._use(r)
                    return r
        return None


# --------------------------------------------------------------------------
# Request record


class RequestLog:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []
        self.seq = 0

    def add(self, req):
        hdrs = {}
        for k, v in req.headers.items():
            hdrs[k] = (hdrs[k] + ", " + v) if k in hdrs else v
        rec = {"time": req.time, "backend": req.backend, "method": req.method, "path": req.target,
               "headers": hdrs, "body_length": len(req.body),
               "body": req.body[:MAX_RECORDED_BODY].decode("utf-8", "replace"), "status": None}
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.items.append(rec)
            if len(self.items) > MAX_RECORDS:
                del self.items[: len(self.items) - MAX_RECORDS]
        return rec

    def list(self, backend=None):
        with self.lock:
            if backend:
                return [r for r in self.items if r["backend"] == backend]
            return list(self.items)

    def clear(self):
        with self.lock:
            self.items = []


# --------------------------------------------------------------------------
# HTTP servers


class _Server(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer on 127.0.0.1:0.  With TLS, the handshake happens in
    the connection's own thread, so a client that stalls or aborts it wedges
    nothing."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, handler_cls, app, backend=None, ssl_ctx=None):
        self.app = app
        self.backend = backend
        self.ssl_ctx = ssl_ctx
        self.conns = set()  # open connections (an outage cuts them)
        self.conns_lock = threading.Lock()
        self.down = False
        self.thread = None
        super().__init__((LOOPBACK, 0), handler_cls)

    def serve_in_thread(self):
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.25}, daemon=True)
        self.thread.start()

    def go_down(self):
        """Stop listening (new connections are refused) and cut the open
        connections, as when the service dies."""
        if self.down:
            return
        self.down = True
        self.shutdown()  # serve_forever returns; nothing accepts any more
        self.socket.close()
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            try:  # on a duplicate of the descriptor: the TLS object stays with its thread
                s = socket.fromfd(c.fileno(), socket.AF_INET, socket.SOCK_STREAM)
                try:
                    s.shutdown(socket.SHUT_RDWR)
                finally:
                    s.close()
            except OSError:
                pass

    def go_up(self):
        """Listen again on the same port."""
        if not self.down:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(self.server_address)
            s.listen(self.request_queue_size)
        except OSError:
            s.close()
            raise
        self.socket = s
        self.down = False
        self.serve_in_thread()

    def server_bind(self):
        # No reverse lookup of the name (HTTPServer.server_bind does getfqdn).
        # SO_REUSEADDR, so that after an outage the port can be bound again
        # while connections that were cut sit in TIME_WAIT.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name = LOOPBACK
        self.server_port = self.server_address[1]

    def finish_request(self, request, client_address):
        conn = request
        name = self.backend.name if self.backend else "admin"
        with self.conns_lock:  # (an outage during the handshake cuts it too)
            self.conns.add(request)
        if self.ssl_ctx is not None:
            try:
                request.settimeout(HANDSHAKE_TIMEOUT)
                conn = self.ssl_ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                log("%s: TLS handshake with %s:%d failed: %s" % (name, client_address[0],
                                                                  client_address[1], e))
                with self.conns_lock:
                    self.conns.discard(request)
                return
        with self.conns_lock:
            self.conns.discard(request)
            self.conns.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            with self.conns_lock:
                self.conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError, BrokenPipeError)):
            return
        log("error while serving %s:%d" % client_address)
        traceback.print_exc(file=sys.stderr)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # Unbuffered rfile reads would be slow; the default buffered rfile is fine.

    def log_message(self, fmt, *args):  # quiet: errors are logged explicitly
        pass

    def version_string(self):
        b = self.server.backend
        return b.server_header if b else "labsim-admin"

    def _read_body(self):
        """The request body (Content-Length or chunked).  A malformed framing
        gives an empty body and closes the connection after the answer."""
        try:
            te = self.headers.get("Transfer-Encoding", "")
            if "chunked" in te.lower():
                out = []
                while True:
                    line = self.rfile.readline(65537)
                    size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    out.append(self.rfile.read(size))
                    self.rfile.readline(3)
                return b"".join(out)
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n > 0 else b""
        except ValueError:
            self.close_connection = True
            return b""

    def _build_request(self):
        req = Request()
        req.backend = self.server.backend.name if self.server.backend else "admin"
        req.method = self.command
        req.target = self.path
        u = urllib.parse.urlsplit(self.path)
        req.path = urllib.parse.unquote(u.path) or "/"
        req.query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        req.headers = self.headers
        req.body = self._read_body()
        req.time = time.time()
        req.version = self.request_version
        req.conn = self.connection
        req.streaming = False
        req.extra = {}
        req.peercert = None
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                req.peercert = self.connection.getpeercert()
            except (ValueError, ssl.SSLError):
                req.peercert = None
        return req

    def write_head(self, status, reason, headers, length=None, chunked=False, close=False):
        if reason is None:
            reason = reason_phrase(status)
        lines = ["HTTP/1.1 %d %s" % (status, reason.replace("\r", " ").replace("\n", " ")),
                 "Date: " + formatdate(usegmt=True)]
        server = self.version_string()
        if server:
            lines.append("Server: " + server)
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        elif length is not None:
            lines.append("Content-Length: %d" % length)
        if close or self.close_connection:
            lines.append("Connection: close")
            self.close_connection = True
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def send(self, resp, rec=None):
        """Write a Response: Content-Length for bodies, chunked for streams
        (HTTP/1.0 clients get the stream until close)."""
        head_only = self.command == "HEAD"
        if resp.chunks is None:
            body = resp.body or b""
            head = self.write_head(resp.status, resp.reason, resp.headers, length=len(body),
                                   close=resp.close)
            if head_only or not body:
                self.wfile.write(head)
            elif len(body) < 65536:
                self.wfile.write(head + body)
            else:
                self.wfile.write(head)
                self.wfile.write(body)
        else:
            chunked = self.request_version == "HTTP/1.1"
            head = self.write_head(resp.status, resp.reason, resp.headers, chunked=chunked,
                                   close=resp.close or not chunked)
            self.wfile.write(head)
            if not head_only:
                for c in resp.chunks:
                    if not c:
                        continue
                    if chunked:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                    else:
                        self.wfile.write(c)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
        if rec is not None:
            rec["status"] = resp.status

    def rst(self):
        """Close with RST: SO_LINGER on with a zero timeout."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def hard_close(self):
        """Close without an orderly TLS close_notify or HTTP end."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def do_any(self):
        if self.server.backend is None:
            self.server.app.admin_dispatch(self)
        else:
            self.server.app.dispatch(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_any


class App:
    """Everything a labsim process serves."""

    def __init__(self):
        self.faults = FaultTable()
        self.requests = RequestLog()
        self.stop_event = threading.Event()
        self.servers = []
        self.outage_lock = threading.Lock()
        self.backends = {}
        self.admin_server = None
        self.state = {}

    def add_backend(self, backend, ssl_ctx=None):
        srv = _Server(_Handler, self, backend, ssl_ctx)
        self.servers.append(srv)
        self.backends[backend.name] = backend
        return srv.server_address[1]

    def add_admin(self):
        srv = _Server(_Handler, self, None, None)
        self.admin_server = srv
        self.servers.append(srv)
        return srv.server_address[1]

    def start(self):
        for s in self.servers:
            s.serve_in_thread()

    def shutdown(self):
        self.stop_event.set()
        for s in self.servers:
            try:
                if not s.down:
                    s.shutdown()
                s.server_close()
            except Exception:
                pass

    def set_outage(self, name, down):
        """Take a backend's port down (connections refused) or bring it back."""
        with self.outage_lock:
            for s in self.servers:
                if s.backend is not None and s.backend.name == name:
                    if down:
                        s.go_down()
                    else:
                        s.go_up()
                    return True
        return False

    def outages(self):
        return sorted(s.backend.name for s in self.servers if s.backend is not None and s.down)

    # ---- backend requests ----

    def dispatch(self, h):
        backend = h.server.backend
        req = h._build_request()
        rec = self.requests.add(req)
        hook = getattr(backend, "is_stream", None)
        if hook is not None:
            try:
                req.streaming = bool(hook(req))
            except Exception:  # a labsim bug: say so; handle() will answer
                traceback.print_exc(file=sys.stderr)
        lat, term = self.faults.take_pre(backend.name, req)
        for r in lat:
            if self.stop_event.wait(max(0.0, r.params["ms"]) / 1000.0):
                h.hard_close()
                return
        if term is not None:
            self.apply_fault(h, backend, req, rec, term)
            return
        resp = self.answer(backend, req)
        if resp.status == 401:
            r = self.faults.take_kind(backend.name, req, "slow401")
            if r is not None:
                self.stop_event.wait(float(r.params.get("seconds", 3.0)))
        h.send(resp, rec)

    def answer(self, backend, req):
        try:
            return backend.handle(req)
        except Exception as e:  # a labsim bug: say so, keep serving
            log("%s: internal error on %s %s" % (backend.name, req.method, req.target))
            traceback.print_exc(file=sys.stderr)
            return backend.fault_status(req, 500, {"reason": "labsim internal error: %s" % e})

    def apply_fault(self, h, backend, req, rec, r):
        kind = r.kind
        p = r.params
        hook = getattr(backend, "stream_fault", None)
        if hook is not None and req.streaming and kind in ("midstream_error", "truncated_stream", "stall"):
            sf = hook(req, kind, p)
            if sf is not None:
                self.send_stream_fault(h, sf[0], rec, sf[1], float(p.get("seconds", 600.0)))
                return
        if kind == "status":
            h.send(backend.fault_status(req, p["code"], p), rec)
        elif kind == "malformed":
            h.send(Response(200, backend.malformed_body(), content_type=backend.json_type), rec)
        elif kind in ("expire_continue", "expire_watch"):
            hook = getattr(backend, "expired_continue" if kind == "expire_continue" else "expired_watch", None)
            resp = hook(req) if hook is not None else None
            if resp is None:
                resp = self.answer(backend, req)
            h.send(resp, rec)
        elif kind == "reset":
            rec["status"] = 0
            h.rst()
        elif kind == "truncated":
            resp = self.answer(backend, req)
            if resp.chunks is not None:
                # a stream: a chunk announced whole, half of it sent, then the end
                first = self._first_chunk(resp)
                head = h.write_head(resp.status, resp.reason, resp.headers, chunked=True)
                h.wfile.write(head + (b"%x\r\n%s" % (len(first), first[: len(first) // 2]) if first else b""))
            else:
                body = resp.body or b""
                head = h.write_head(resp.status, resp.reason, resp.headers, length=len(body))
                h.wfile.write(head + body[: len(body) // 2])
            rec["status"] = resp.status
            h.hard_close()
        elif kind == "stall":
            resp = self.answer(backend, req)
            if resp.chunks is not None:
                # a stream (watch, log follow): what it sends first, then nothing
                body = self._first_chunk(resp)
                part = body[: max(1, min(len(body) // 2, 4096))] if body else b""
            else:
                body = resp.body or b""
                part = body[: max(1, min(len(body) // 2, 4096))] if body else b" "
            head = h.write_head(resp.status, resp.reason, resp.headers, chunked=True)
            h.wfile.write(head + (b"%x\r\n%s\r\n" % (len(part), part) if part else b""))
            rec["status"] = resp.status
            self.stop_event.wait(float(p.get("seconds", 600.0)))
            h.hard_close()
        elif kind == "big":
            n = int(float(p["mb"]) * 1024 * 1024)
            h.send(Response(200, chunks=backend.big_parts(n), content_type=backend.json_type), rec)
        else:
            h.send(self.answer(backend, req), rec)

    def send_stream_fault(self, h, resp, rec, ending, seconds):
        """A model stream that goes wrong: its first events, then the end
        ("end": the terminating chunk, a clean HTTP end), a close without it
        ("close"), or silence for `seconds` and then the close ("stall")."""
        head = h.write_head(resp.status, resp.reason, resp.headers, chunked=True)
        try:
            h.wfile.write(head)
            for c in resp.chunks:
                if c:
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
            rec["status"] = resp.status
            if ending == "end":
                h.wfile.write(b"0\r\n\r\n")
                return
            if ending == "stall":
                self.stop_event.wait(seconds)
        except OSError:
            rec["status"] = resp.status
        h.hard_close()

    # ---- admin API (plain HTTP, not recorded) ----

    def admin_dispatch(self, h):
        body = h._read_body()
        u = urllib.parse.urlsplit(h.path)
        path = u.path.rstrip("/") or "/"
        query = urllib.parse.parse_qs(u.query)
        data = None
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                return self._admin_reply(h, 400, {"error": "body is not JSON"})
        try:
            status, obj = self.admin_route(h.command, path, query, data)
        except ValueError as e:
            status, obj = 400, {"error": str(e)}
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            status, obj = 500, {"error": "labsim: %s" % e}
        self._admin_reply(h, status, obj)

    @staticmethod
    def _first_chunk(resp):
        """What a stream sends first (streams yield b"" before they block, so
        this never waits)."""
        for c in resp.chunks:
            return c
        return b""

    @staticmethod
    def _admin_reply(h, status, obj):
        h.send(Response(status, dumps(obj) + b"\n", content_type="application/json"))

    def admin_route(self, method, path, query, data):
        if path == "/":
            return 200, {"endpoints": ["GET /faults", "POST /faults", "DELETE /faults",
                                       "DELETE /faults/{id}", "GET /requests[?backend=NAME]",
                                       "DELETE /requests", "GET /state", "POST /pods",
                                       "POST /proxmox/offline", "POST /churn", "GET /outage",
                                       "POST /outage"]}
        if path == "/faults":
            if method == "GET":
                return 200, {"faults": self.faults.list()}
            if method == "POST":
                if isinstance(data, dict) and isinstance(data.get("spec"), str):
                    data = parse_fault_spec(data["spec"])  # the --fault syntax
                r = self.faults.add(data if data is not None else {})
                return 200, {"id": r.id, "fault": r.to_json()}
            if method == "DELETE":
                self.faults.clear()
                return 200, {"faults": []}
        if path.startswith("/faults/") and method == "DELETE":
            try:
                rid = int(path.rsplit("/", 1)[1])
            except ValueError:
                return 400, {"error": "bad fault id"}
            if self.faults.remove(rid):
                return 200, {"deleted": rid}
            return 404, {"error": "no fault %d" % rid}
        if path == "/requests":
            if method == "GET":
                b = query.get("backend", [None])[0]
                return 200, {"requests": self.requests.list(b)}
            if method == "DELETE":
                self.requests.clear()
                return 200, {"requests": []}
        if path == "/state" and method == "GET":
            return 200, self.state
        if path == "/outage":
            if method == "POST":
                data = data or {}
                name = data.get("backend")
                if name not in self.backends:
                    return 400, {"error": "backend must be one of %s" % ", ".join(sorted(self.backends))}
                try:
                    self.set_outage(name, bool(data.get("down", True)))
                except OSError as e:
                    return 500, {"error": "cannot listen on the port again: %s" % e}
            if method in ("GET", "POST"):
                return 200, {"down": self.outages()}
        for b in self.backends.values():
            hook = getattr(b, "admin", None)
            if hook is not None:
                r = hook(method, path, data)
                if r is not None:
                    return r
        return 404, {"error": "no admin route %s %s" % (method, path)}


# --------------------------------------------------------------------------
# TLS material, made with the openssl command-line tool


def _openssl(args):
    r = subprocess.run(["openssl"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.decode(errors="replace")))


def make_self_signed(cert, key, subj, days=3650):
    """Self-signed server cert, SAN IP:127.0.0.1 + DNS:localhost, CA:TRUE so
    the same file works as a CA bundle (a Proxmox node cert)."""
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", key, "-out", cert,
              "-days", str(days), "-subj", subj,
              "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "extendedKeyUsage=serverAuth"])
    os.chmod(key, 0o600)


def make_ca(cert, key, subj, days=3650):
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", key, "-out", cert,
              "-days", str(days), "-subj", subj,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign"])
    os.chmod(key, 0o600)


def make_signed(cert, key, subj, ca_cert, ca_key, server=True, days=365):
    """A leaf signed by ca_cert: a server cert (SAN 127.0.0.1/localhost) or a
    client cert (extendedKeyUsage clientAuth)."""
    args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", key, "-out", cert,
            "-days", str(days), "-subj", subj, "-CA", ca_cert, "-CAkey", ca_key,
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature,keyEncipherment"]
    if server:
        args += ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                 "-addext", "extendedKeyUsage=serverAuth"]
    else:
        args += ["-addext", "extendedKeyUsage=clientAuth"]
    _openssl(args)
    os.chmod(key, 0o600)


def cert_fingerprint(pem_path):
    """SHA-256 of the certificate DER, upper-case colon hex (as Proxmox shows it)."""
    with open(pem_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return fingerprint_der(der)


def fingerprint_der(der):
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def server_context(cert, key, client_ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    if client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(client_ca)
    return ctx


def b64(data):
    return base64.b64encode(data).decode("ascii")


def write_file(path, data, mode=0o644):
    """Write atomically (tmp + rename) with the given mode."""
    tmp = path + ".tmp"
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
