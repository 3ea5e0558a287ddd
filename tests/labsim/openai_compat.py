"""An OpenAI-compatible server personality, as llama.cpp's `llama-server`
answers under /v1 (research fixtures/openai): /v1/models and
/v1/chat/completions, streaming as SSE `data: {...}\\n\\n` chunks (a first
chunk with the role, content deltas, a finish chunk with an empty delta and
llama.cpp's `timings`, a usage chunk with `"choices":[]` when
stream_options.include_usage is set) and a final `data: [DONE]`.  A Bearer
key is required when one is configured.  Errors are OpenAI error objects
{"error":{"code","message","type"}}.
"""

import json
import secrets
import time

import core
from core import Response, dumps
from llm_common import LlmBackend, StreamPlan, pieces, respond, stream_writes

JSON_CT = "application/json; charset=utf-8"
SSE_CT = "text/event-stream"
FINGERPRINT = "b6123-3f4a5b6c"
ERR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
             404: "not_found_error", 429: "rate_limit_error", 500: "server_error", 501: "not_supported_error",
             503: "unavailable_error"}


def error_body(code, message, etype=None):
    return dumps({"error": {"code": code, "message": message, "type": etype or ERR_TYPES.get(code, "server_error")}})


class OpenAIPlan(StreamPlan):
    pass


class OpenAICompat(LlmBackend):
    name = "openai"
    server_header = "llama.cpp"
    json_type = JSON_CT

    def __init__(self, api_key=None, models=("local",), chunk_ms=None):
        self.api_key = api_key
        self.models = list(models)
        self.created = int(time.time())
        if chunk_ms is not None:
            self.chunk_ms = chunk_ms

    @staticmethod
    def error(code, message, etype=None, headers=None):
        return Response(code, error_body(code, message, etype), content_type=JSON_CT, headers=headers)

    def fault_status(self, req, code, params):
        headers = []
        if params.get("retry_after") is not None:
            headers.append(("Retry-After", str(params["retry_after"])))
        if params.get("body") is not None:
            body = params["body"]
            return Response(code, body.encode() if isinstance(body, str) else dumps(body), content_type=JSON_CT,
                            headers=headers)
        msg = params.get("reason") or {
            400: "Invalid request", 401: "Invalid API Key", 404: "File Not Found",
            429: "Too many requests: the server is busy, try again later", 500: "Internal Server Error",
            503: "Loading model"}.get(code, "labsim injected status %d" % code)
        return self.error(code, msg, headers=headers)

    def malformed_body(self):
        return b'{"choices":[{"finish_reason":"stop","index":0,"message":{"role":"assistant","content":"\xeb\x8b' \
               b'\x00\xff<html><head><title>502 Bad Gateway</title>'

    def big_parts(self, nbytes):
        item = dumps({"id": "filler", "object": "model", "created": 0, "owned_by": "llamacpp", "meta": "x" * 300})
        return core.json_array_parts(b'{"object":"list","data":[', item, b"]}", nbytes)

    def expired_continue(self, req):
        return None

    def error_event(self, params, plan=None):
        code = int(params.get("code", 500))
        msg = params.get("message") or "labsim: the model stopped generating (simulated crash)"
        return b"data: " + error_body(code, msg) + b"\n\n"

    # ---------------- requests ----------------

    def auth_error(self, req):
        if not self.api_key:
            return None
        if req.headers.get("Authorization", "") != "Bearer " + self.api_key:
            return self.error(401, "Invalid API Key")
        return None

    def handle(self, req):
        p = req.path
        if p == "/health" and req.method == "GET":
            return Response(200, b'{"status":"ok"}', content_type=JSON_CT)
        err = self.auth_error(req)
        if err is not None:
            return err
        if p in ("/v1/models", "/models") and req.method == "GET":
            return Response(200, dumps({"object": "list", "data": [
                {"id": m, "object": "model", "created": self.created, "owned_by": "llamacpp",
                 "meta": {"vocab_type": 2, "n_vocab": 152064, "n_ctx_train": 32768, "n_embd": 5120,
                          "n_params": 14770033664, "size": 8988110976}} for m in self.models]}),
                content_type=JSON_CT)
        if p in ("/v1/chat/completions", "/chat/completions"):
            if req.method != "POST":
                return self.error(405, "Method Not Allowed", "invalid_request_error")
            plan = self.plan(req)
            if plan.events is None:
                return plan.response
            return Response(200, content_type=SSE_CT, headers=[("Cache-Control", "no-cache")],
                            chunks=stream_writes(req, plan.events, plan.chunk_ms))
        return self.error(404, "File Not Found")

    @staticmethod
    def _only(resp):
        p = OpenAIPlan(None, 0, None)
        p.response = resp
        return p

    @staticmethod
    def _text(content):
        if isinstance(content, str):
            return content
        if isinstance(content, list):  # [{"type":"text","text":...}]
            return "".join(x.get("text", "") for x in content if isinstance(x, dict) and x.get("type") == "text")
        return ""

    def prepare(self, req):
        if req.path not in ("/v1/chat/completions", "/chat/completions") or req.method != "POST":
            return None
        if self.auth_error(req) is not None:
            return None
        try:
            obj = json.loads(req.body or b"null")
        except ValueError as e:
            return self._only(self.error(400, "Failed to parse the request body as JSON: %s" % e))
        if not isinstance(obj, dict):
            return self._only(self.error(400, "The request body must be a JSON object"))
        model = obj.get("model") or self.models[0]
        if model not in self.models:
            return self._only(self.error(404, "The model `%s` does not exist" % model, "invalid_request_error"))
        msgs = obj.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return self._only(self.error(400, "'messages' is required and must be a non-empty array"))
        system = []
        turns = []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                return self._only(self.error(400, "messages[%d]: role must be one of system, user, assistant, "
                                                  "tool" % i))
            if m["role"] in ("system", "developer"):
                system.append(self._text(m.get("content")))
            else:
                turns.append((m["role"], self._text(m.get("content"))))
        max_t = obj.get("max_completion_tokens", obj.get("max_tokens"))
        if not isinstance(max_t, int) or isinstance(max_t, bool) or max_t < 0:
            max_t = None
        think = obj.get("reasoning_effort") is not None
        r = respond(model, "\n".join(system), turns, max_tokens=max_t, think=think)
        finish = "length" if r.finish == "length" else "stop"
        cid = "chatcmpl-" + secrets.token_hex(16)
        created = int(time.time())
        usage = {"completion_tokens": r.completion_tokens + r.thinking_tokens, "prompt_tokens": r.prompt_tokens,
                 "total_tokens": r.prompt_tokens + r.completion_tokens + r.thinking_tokens}
        n_pred = r.completion_tokens + r.thinking_tokens
        timings = {"cache_n": 0, "prompt_n": r.prompt_tokens, "prompt_ms": round(r.prompt_tokens * 0.25, 3),
                   "prompt_per_token_ms": 0.25, "prompt_per_second": 4000.0, "predicted_n": n_pred,
                   "predicted_ms": round(n_pred * 25.0, 3), "predicted_per_token_ms": 25.0,
                   "predicted_per_second": 40.0}
        if obj.get("stream") is not True:
            msg = {"role": "assistant", "content": r.text}
            if r.thinking:
                msg["reasoning_content"] = r.thinking
            return self._only(Response(200, dumps({
                "choices": [{"finish_reason": finish, "index": 0, "message": msg}], "created": created,
                "model": model, "system_fingerprint": FINGERPRINT, "object": "chat.completion", "usage": usage,
                "id": cid, "timings": timings}), content_type=JSON_CT))

        def chunk(delta, fin=None, **extra):
            d = {"choices": [{"finish_reason": fin, "index": 0, "delta": delta}], "created": created, "id": cid,
                 "model": model, "system_fingerprint": FINGERPRINT, "object": "chat.completion.chunk"}
            d.update(extra)
            return b"data: " + dumps(d) + b"\n\n"

        events = [chunk({"role": "assistant", "content": None})]
        for t in pieces(r.thinking):
            events.append(chunk({"reasoning_content": t}))
        for t in pieces(r.text):
            events.append(chunk({"content": t}))
        events.append(chunk({}, finish, timings=timings))
        so = obj.get("stream_options")
        if isinstance(so, dict) and so.get("include_usage"):
            events.append(b"data: " + dumps({"choices": [], "created": created, "id": cid, "model": model,
                                             "system_fingerprint": FINGERPRINT,
                                             "object": "chat.completion.chunk", "usage": usage,
                                             "timings": timings}) + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        chunk_ms = self.chunk_ms if r.chunk_ms is None else float(r.chunk_ms)
        return OpenAIPlan(events, chunk_ms, SSE_CT, headers=[("Cache-Control", "no-cache")])
