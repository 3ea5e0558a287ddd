"""The Ollama API personality (plain HTTP, as `ollama serve` on :11434).

Shapes follow Ollama 0.12 (server/routes.go, api/types.go; research
fixtures/ollama): /api/tags, /api/ps, /api/version, /api/show, /api/chat
(NDJSON stream by default, one object per line, the last with done:true and
the counts and durations in nanoseconds; stream:false gives one object) and
/api/embed (always an array of arrays).  Errors are {"error":"..."}; an error
while streaming is a {"error":...} line under the 200 (fault midstream_error).
Go's JSON: compact, raw UTF-8.
"""

import hashlib
import json
import re
import threading
import time

import core
from core import Response, dumps
from llm_common import (LlmBackend, StreamPlan, count_tokens, embed, local_rfc3339nano, pieces, respond,
                        rfc3339nano, stream_writes, vector_json)

NDJSON = "application/x-ndjson"
JSON = "application/json; charset=utf-8"
VERSION = "0.12.6"
GiB = 1024 ** 3
FOREVER_NS = (1 << 63) - 1  # a negative keep_alive: Go's longest Duration


def _digest(name):
    return hashlib.sha256(("labsim-model:" + name).encode()).hexdigest()


# name -> what /api/tags, /api/show and the loader need
MODELS = {
    "bge-m3:latest": {
        "size": 1157672605, "family": "bert", "parameter_size": "566.70M", "quantization_level": "F16",
        "kind": "embedding", "embedding_length": 1024, "context_length": 8192, "loaded_size": 1716387840,
        "vram_share": 1.0, "modified": "2025-10-02T21:14:09.113514785+09:00",
    },
    "exaone3.5:7.8b": {
        "size": 4765263808, "family": "exaone", "parameter_size": "7.8B", "quantization_level": "Q4_K_M",
        "kind": "chat", "embedding_length": 4096, "context_length": 32768, "loaded_size": 6123456512,
        "vram_share": 1.0, "modified": "2025-10-14T09:41:52.720114331+09:00",
    },
    "qwen2.5:14b": {
        "size": 8988124069, "family": "qwen2", "parameter_size": "14.8B", "quantization_level": "Q4_K_M",
        "kind": "chat", "embedding_length": 5120, "context_length": 32768, "loaded_size": 10942537728,
        "vram_share": 0.7, "modified": "2025-09-28T18:02:37.402581993+09:00",
    },
}
KV_BYTES_PER_TOKEN = {"bge-m3:latest": 0, "exaone3.5:7.8b": 65536, "qwen2.5:14b": 196608}
DEFAULT_NUM_CTX = 4096
DEFAULT_KEEP_ALIVE_NS = 5 * 60 * 1000000000


def details(name):
    m = MODELS[name]
    return {"parent_model": "", "format": "gguf", "family": m["family"], "families": [m["family"]],
            "parameter_size": m["parameter_size"], "quantization_level": m["quantization_level"]}


def resolve(name):
    """Ollama's name resolution: a missing tag is :latest."""
    if not isinstance(name, str) or not name:
        return None
    full = name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"
    return full if full in MODELS else None


_DUR_RE = re.compile(r"(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DUR_NS = {"ns": 1, "us": 1000, "µs": 1000, "ms": 1000000, "s": 1000000000, "m": 60 * 1000000000,
           "h": 3600 * 1000000000}


def keep_alive_ns(v):
    """keep_alive as Ollama reads it: a number of seconds or a Go duration;
    negative = forever; None = the default 5m.  -> ns, or ValueError."""
    if v is None:
        return DEFAULT_KEEP_ALIVE_NS
    if isinstance(v, bool):
        raise ValueError("bad keep_alive")
    if isinstance(v, (int, float)):
        return FOREVER_NS if v < 0 else int(v * 1000000000)
    if isinstance(v, str):
        s = v.strip()
        if re.fullmatch(r"-?\d+", s):
            n = int(s)
            return FOREVER_NS if n < 0 else n * 1000000000
        if s.startswith("-"):
            return FOREVER_NS
        pos = 0
        total = 0
        for m in _DUR_RE.finditer(s):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _DUR_NS[m.group(2)]
            pos = m.end()
        if pos == len(s) and s:
            return int(total)
    raise ValueError("time: invalid duration %s" % json.dumps(v))


class Loaded:
    __slots__ = ("name", "num_ctx", "expires_ns", "loaded_ns")

    def __init__(self, name, num_ctx, expires_ns):
        self.name = name
        self.num_ctx = num_ctx
        self.expires_ns = expires_ns
        self.loaded_ns = time.time_ns()


class ChatPlan(StreamPlan):
    pass


class Ollama(LlmBackend):
    name = "ollama"
    server_header = ""  # Go's net/http sends none
    json_type = JSON

    def __init__(self, chunk_ms=None):
        if chunk_ms is not None:
            self.chunk_ms = chunk_ms
        self.lock = threading.Lock()
        now = time.time_ns()
        # the owner keeps the chat model warm for a day and the embedder forever
        self.loaded = {
            "qwen2.5:14b": Loaded("qwen2.5:14b", 8192, now + 24 * 3600 * 1000000000),
            "bge-m3:latest": Loaded("bge-m3:latest", 8192, FOREVER_NS),
        }

    # ---------------- plumbing ----------------

    @staticmethod
    def ok(obj):
        return Response(200, dumps(obj), content_type=JSON)

    @staticmethod
    def error(status, message):
        return Response(status, dumps({"error": message}), content_type=JSON)

    def fault_status(self, req, code, params):
        headers = []
        if params.get("retry_after") is not None:
            headers.append(("Retry-After", str(params["retry_after"])))
        if params.get("body") is not None:
            body = params["body"]
            return Response(code, body.encode() if isinstance(body, str) else dumps(body), content_type=JSON,
                            headers=headers)
        msg = params.get("reason") or {
            400: "invalid request", 401: "unauthorized", 403: "forbidden", 404: "model not found",
            429: "too many requests", 500: "the model failed to generate a response",
            502: "an error was encountered while running the model",
            503: "server busy, please try again.  maximum pending requests exceeded",
        }.get(code, "labsim injected status %d" % code)
        return Response(code, dumps({"error": msg}), content_type=JSON, headers=headers)

    def malformed_body(self):
        return (b'{"model":"qwen2.5:14b","created_at":"2025-11-27T01:02:03.1Z","message":{"role":"assistant",'
                b'"content":"\xea\xb0\x80\x00\xff<html><body>502 Bad Gateway')

    def big_parts(self, nbytes):
        item = dumps({"name": "filler:latest", "model": "filler:latest", "modified_at": "2025-10-02T21:14:09+09:00",
                      "size": 1, "digest": "0" * 64, "details": details("qwen2.5:14b"), "x": "y" * 300})
        return core.json_array_parts(b'{"models":[', item, b"]}", nbytes)

    def expired_continue(self, req):
        return None

    def error_event(self, params, plan=None):
        return dumps({"error": params.get("message") or "an error was encountered while running the model"}) + b"\n"

    # ---------------- loaded models ----------------

    def touch(self, name, num_ctx, keep_alive):
        """A request used the model: (re)load it; -> load_duration in ns."""
        now = time.time_ns()
        exp = FOREVER_NS if keep_alive == FOREVER_NS else now + keep_alive
        with self.lock:
            cur = self.loaded.get(name)
            self._expire(now)
            if keep_alive == 0:
                self.loaded.pop(name, None)
                return 0 if cur is not None else 2400000000
            if cur is not None and cur.num_ctx == num_ctx:
                cur.expires_ns = exp
                return 18000000  # warm: a few ms
            self.loaded[name] = Loaded(name, num_ctx, exp)
            return 2400000000 if cur is None else 1900000000  # cold load / reload for a new num_ctx

    def _expire(self, now):
        for n in [n for n, m in self.loaded.items() if m.expires_ns <= now]:
            del self.loaded[n]

    def ps(self):
        now = time.time_ns()
        out = []
        with self.lock:
            self._expire(now)
            items = list(self.loaded.values())
        for m in items:
            info = MODELS[m.name]
            size = info["loaded_size"] + KV_BYTES_PER_TOKEN[m.name] * m.num_ctx
            if m.expires_ns == FOREVER_NS:
                exp = "2318-02-22T08:47:16.854775807+09:00"  # now + 292 years, as Go computes it
                sort_key = FOREVER_NS
            else:
                exp = local_rfc3339nano(m.expires_ns)
                sort_key = m.expires_ns
            out.append((sort_key, {
                "name": m.name, "model": m.name, "size": size, "digest": _digest(m.name),
                "details": details(m.name), "expires_at": exp,
                "size_vram": int(size * info["vram_share"]), "context_length": m.num_ctx,
            }))
        out.sort(key=lambda x: -x[0])  # longest time left first, as Ollama sorts
        return [x[1] for x in out]

    # ---------------- routes ----------------

    def handle(self, req):
        p = req.path
        if p in ("/", "") and req.method in ("GET", "HEAD"):
            return Response(200, b"Ollama is running", content_type="text/plain; charset=utf-8")
        if p == "/api/version" and req.method in ("GET", "HEAD"):
            return self.ok({"version": VERSION})
        if p == "/api/tags" and req.method in ("GET", "HEAD"):
            return self.ok({"models": [{"name": n, "model": n, "modified_at": m["modified"], "size": m["size"],
                                        "digest": _digest(n), "details": details(n)}
                                       for n, m in sorted(MODELS.items(), key=lambda x: x[1]["modified"],
                                                          reverse=True)]})
        if p == "/api/ps" and req.method in ("GET", "HEAD"):
            return self.ok({"models": self.ps()})
        if p in ("/api/chat", "/api/embed", "/api/show", "/api/embeddings", "/api/generate"):
            if req.method != "POST":
                return Response(405, b"405 method not allowed", content_type="text/plain")
            if p == "/api/chat":
                return self.chat(req)
            if p == "/api/embed":
                return self.embed(req)
            if p == "/api/show":
                return self.show(req)
            if p == "/api/embeddings":
                return self.embeddings_legacy(req)
            return self.error(404, "labsim: /api/generate is not simulated; use /api/chat")
        return Response(404, b"404 page not found", content_type="text/plain")

    @staticmethod
    def body_json(req):
        """-> (obj, error Response)."""
        if not req.body:
            return None, Ollama.error(400, "missing request body")
        try:
            obj = json.loads(req.body)
        except ValueError as e:
            return None, Ollama.error(400, "invalid character %r looking for beginning of value (%s)" % (
                req.body[:1].decode("latin-1"), e))
        if not isinstance(obj, dict):
            return None, Ollama.error(400, "json: cannot unmarshal %s into Go value of type api.ChatRequest"
                                      % type(obj).__name__)
        return obj, None

    # ---- /api/chat ----

    def prepare(self, req):
        """The plan of a /api/chat answer: a StreamPlan with .events when it
        streams, or with .response set (a single answer or an error)."""
        if req.path != "/api/chat" or req.method != "POST":
            return None
        obj, err = self.body_json(req)
        if err is not None:
            return self._only(err)
        model_req = obj.get("model")
        name = resolve(model_req)
        if not isinstance(model_req, str) or not model_req:
            return self._only(self.error(400, "model is required"))
        if name is None:
            return self._only(self.error(404, "model '%s' not found" % model_req))
        if MODELS[name]["kind"] != "chat":
            return self._only(self.error(400, "%s does not support chat" % json.dumps(model_req)))
        msgs = obj.get("messages") or []
        if not isinstance(msgs, list):
            return self._only(self.error(400, "json: cannot unmarshal messages"))
        opts = obj.get("options") or {}
        if not isinstance(opts, dict):
            return self._only(self.error(400, "json: cannot unmarshal options"))
        try:
            ka = keep_alive_ns(obj.get("keep_alive"))
        except ValueError as e:
            return self._only(self.error(400, str(e)))
        num_ctx = opts.get("num_ctx", DEFAULT_NUM_CTX)
        if not isinstance(num_ctx, int) or isinstance(num_ctx, bool):
            return self._only(self.error(400, "option \"num_ctx\" must be of type integer"))
        num_predict = opts.get("num_predict")
        if num_predict is not None and (not isinstance(num_predict, int) or num_predict < 0):
            num_predict = None
        stream = obj.get("stream", True) is not False
        think = obj.get("think")
        think = think is True or think in ("low", "medium", "high", "max")
        load_ns = self.touch(name, num_ctx, ka)
        now = rfc3339nano()
        if not msgs:  # load or unload the model
            reason = "unload" if ka == 0 else "load"
            return self._only(self.ok({"model": model_req, "created_at": now,
                                       "message": {"role": "assistant", "content": ""},
                                       "done_reason": reason, "done": True}))
        system = "\n".join(m.get("content", "") for m in msgs
                           if isinstance(m, dict) and m.get("role") == "system" and isinstance(m.get("content"), str))
        turns = [(m.get("role"), m.get("content") if isinstance(m.get("content"), str) else "")
                 for m in msgs if isinstance(m, dict) and m.get("role") != "system"]
        r = respond(model_req, system, turns, num_ctx=num_ctx, max_tokens=num_predict, think=think)
        stats = self.stats(r, load_ns)
        if not stream:
            msg = {"role": "assistant", "content": r.text}
            if r.thinking:
                msg["thinking"] = r.thinking
            return self._only(self.ok(dict({"model": model_req, "created_at": rfc3339nano(), "message": msg,
                                             "done_reason": r.finish, "done": True}, **stats)))
        chunk_ms = self.chunk_ms if r.chunk_ms is None else float(r.chunk_ms)
        t0 = time.time_ns()
        step = int(chunk_ms * 2000000) + 1000  # about when each line goes out
        events = []
        for t in pieces(r.thinking):
            events.append(dumps({"model": model_req, "created_at": rfc3339nano(t0 + step * len(events)),
                                 "message": {"role": "assistant", "content": "", "thinking": t},
                                 "done": False}) + b"\n")
        for t in pieces(r.text):
            events.append(dumps({"model": model_req, "created_at": rfc3339nano(t0 + step * len(events)),
                                 "message": {"role": "assistant", "content": t}, "done": False}) + b"\n")
        events.append(dumps(dict({"model": model_req, "created_at": rfc3339nano(t0 + step * len(events)),
                                  "message": {"role": "assistant", "content": ""}, "done_reason": r.finish,
                                  "done": True}, **stats)) + b"\n")
        return ChatPlan(events, chunk_ms, NDJSON)

    @staticmethod
    def _only(resp):
        p = ChatPlan(None, 0, None)
        p.response = resp
        return p

    @staticmethod
    def stats(r, load_ns):
        prompt_ns = r.prompt_tokens * 250000  # 4000 tokens/s
        eval_ns = (r.completion_tokens + r.thinking_tokens) * 25000000  # 40 tokens/s
        return {"total_duration": load_ns + prompt_ns + eval_ns + 1234567, "load_duration": load_ns,
                "prompt_eval_count": r.prompt_tokens, "prompt_eval_duration": prompt_ns,
                "eval_count": r.completion_tokens + r.thinking_tokens, "eval_duration": eval_ns}

    def chat(self, req):
        plan = self.plan(req)
        if plan.events is None:
            return plan.response
        return Response(200, content_type=NDJSON, chunks=stream_writes(req, plan.events, plan.chunk_ms))

    # ---- /api/embed ----

    def embed(self, req):
        obj, err = self.body_json(req)
        if err is not None:
            return err
        model_req = obj.get("model")
        if not isinstance(model_req, str) or not model_req:
            return self.error(404, "model '' not found")
        name = resolve(model_req)
        if name is None:
            return self.error(404, "model %s not found, try pulling it first" % json.dumps(model_req))
        inp = obj.get("input")
        if isinstance(inp, str):
            texts = [inp] if inp else []
        elif isinstance(inp, list):
            if not all(isinstance(x, str) for x in inp):
                return self.error(400, "invalid input type")
            texts = inp
        elif inp is None:
            texts = []
        else:
            return self.error(400, "invalid input type")
        opts = obj.get("options") or {}
        try:
            ka = keep_alive_ns(obj.get("keep_alive"))
        except ValueError as e:
            return self.error(400, str(e))
        num_ctx = opts.get("num_ctx", MODELS[name]["context_length"]) if isinstance(opts, dict) else 8192
        if not isinstance(num_ctx, int):
            num_ctx = 8192
        t0 = time.time_ns()
        load_ns = self.touch(name, num_ctx, ka)
        if not texts:
            return self.ok({"model": model_req, "embeddings": []})
        dim = MODELS[name]["embedding_length"]
        dims = obj.get("dimensions")
        if isinstance(dims, int) and 0 < dims < dim:
            dim_out = dims
        else:
            dim_out = dim
        vecs = []
        ntok = 0
        for t in texts:
            v = embed(t, dim)
            if dim_out != dim:
                v = v[:dim_out]
                n = sum(x * x for x in v) ** 0.5 or 1.0
                v = [x / n for x in v]
            vecs.append(vector_json(v))
            ntok += count_tokens(t) + 2  # [CLS] and [SEP]
        total = time.time_ns() - t0 + load_ns
        body = ('{"model":%s,"embeddings":[%s],"total_duration":%d,"load_duration":%d,"prompt_eval_count":%d}'
                % (json.dumps(model_req, ensure_ascii=False), ",".join(vecs), total, load_ns, ntok))
        return Response(200, body.encode("utf-8"), content_type=JSON)

    def embeddings_legacy(self, req):
        obj, err = self.body_json(req)
        if err is not None:
            return err
        name = resolve(obj.get("model"))
        if name is None:
            return self.error(404, "model %s not found, try pulling it first" % json.dumps(obj.get("model")))
        prompt = obj.get("prompt") or ""
        if not prompt:
            return self.ok({"embedding": []})
        v = embed(prompt, MODELS[name]["embedding_length"])
        return Response(200, ('{"embedding":%s}' % vector_json(v)).encode(), content_type=JSON)

    # ---- /api/show ----

    def show(self, req):
        obj, err = self.body_json(req)
        if err is not None:
            return err
        model_req = obj.get("model") or obj.get("name")
        if not model_req:
            return self.error(400, "model is required")
        name = resolve(model_req)
        if name is None:
            return self.error(404, "model '%s' not found" % model_req)
        m = MODELS[name]
        fam = m["family"]
        caps = ["embedding"] if m["kind"] == "embedding" else (["completion", "tools"] if fam == "qwen2"
                                                               else ["completion"])
        return self.ok({
            "license": "labsim", "modelfile": "# Modelfile generated by \"ollama show\"\nFROM %s\n" % name,
            "parameters": "" if m["kind"] == "embedding" else 'stop                           "<|im_end|>"',
            "template": "{{ .Prompt }}", "details": details(name),
            "model_info": {"general.architecture": fam, "general.parameter_count": 0,
                           "%s.context_length" % fam: m["context_length"],
                           "%s.embedding_length" % fam: m["embedding_length"]},
            "capabilities": caps, "modified_at": m["modified"]})
