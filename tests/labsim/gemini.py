"""The Gemini API personality (generativelanguage.googleapis.com, v1beta).

Shapes follow the real API (research fixtures/gemini): the key in the
x-goog-api-key header, contents/systemInstruction/generationConfig,
`:streamGenerateContent?alt=sse` with `data: {...}\\r\\n\\r\\n` events and no
[DONE], usageMetadata on every event (cumulative), finishReason on the last,
promptFeedback blocks, Google's error bodies (pretty-printed, code/message/
status/details), and the JSON quirks of Google's front end: `": "` after keys
but no space after commas in events, `<`, `>` and `&` as \\u escapes.

One deliberate difference: a key in the URL (`?key=`) is refused with 400,
so tests prove the client never puts it there.
"""

import json
import re
import secrets

from core import Response
from llm_common import Context, LlmBackend, StreamPlan, count_tokens, cut_tokens, pieces, respond, stream_writes

JSON_CT = "application/json; charset=UTF-8"
SSE_CT = "text/event-stream"
MODELS = {
    "gemini-2.5-pro": {"displayName": "Gemini 2.5 Pro", "thinking": "always", "input": 1048576, "output": 65536},
    "gemini-2.5-flash": {"displayName": "Gemini 2.5 Flash", "thinking": "default", "input": 1048576, "output": 65536},
    "gemini-2.5-flash-lite": {"displayName": "Gemini 2.5 Flash-Lite", "thinking": "off", "input": 1048576,
                              "output": 65536},
    "gemini-2.0-flash": {"displayName": "Gemini 2.0 Flash", "thinking": "none", "input": 1048576, "output": 8192},
}
TOP_KEYS = {"contents", "systemInstruction", "system_instruction", "generationConfig", "generation_config",
            "safetySettings", "safety_settings", "tools", "toolConfig", "tool_config", "cachedContent",
            "cached_content", "labels", "model"}
GEN_KEYS = {"temperature", "topP", "top_p", "topK", "top_k", "candidateCount", "candidate_count",
            "maxOutputTokens", "max_output_tokens", "stopSequences", "stop_sequences", "responseMimeType",
            "response_mime_type", "responseSchema", "response_schema", "responseJsonSchema", "presencePenalty",
            "frequencyPenalty", "seed", "responseLogprobs", "logprobs", "thinkingConfig", "thinking_config",
            "responseModalities", "response_modalities", "mediaResolution", "speechConfig"}
SAFETY_OK = [{"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
             {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
             {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
             {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"}]
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
                503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
STATUS_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    404: "Requested entity was not found.",
    499: "The operation was cancelled.",
    500: "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
QUOTA_MSG = ("You exceeded your current quota, please check your plan and billing details. For more information on "
             "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.")


def _esc(s):
    """Google's front end writes <, > and & as \\u escapes."""
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def event_json(obj):
    """An SSE event's JSON: `"key": value` with no space after commas."""
    return _esc(json.dumps(obj, separators=(",", ": "), ensure_ascii=False)).encode("utf-8")


def pretty_json(obj):
    return _esc(json.dumps(obj, indent=2, ensure_ascii=False)).encode("utf-8")


def google_error(code, message, details=None, status=None):
    e = {"code": code, "message": message, "status": status or STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        e["details"] = details
    return Response(code, pretty_json({"error": e}) + b"\n", content_type=JSON_CT, headers=Gemini.HEADERS)


def _word(text, w):
    return re.search(r"(?<!\w)%s(?!\w)" % w, text, re.I) is not None


class GeminiPlan(StreamPlan):
    pass


class Gemini(LlmBackend):
    name = "gemini"
    server_header = "scaffolding on HTTPServer2"
    json_type = JSON_CT
    HEADERS = [("Vary", "Origin"), ("Vary", "X-Origin"), ("Vary", "Referer"), ("X-XSS-Protection", "0"),
               ("X-Frame-Options", "SAMEORIGIN"), ("X-Content-Type-Options", "nosniff")]
    ROUTE = re.compile(r"^/(v1beta|v1)/models/([^/:]+)(?::([A-Za-z]+))?$")

    def __init__(self, api_key, chunk_ms=None):
        self.api_key = api_key
        if chunk_ms is not None:
            self.chunk_ms = chunk_ms

    # ---------------- faults ----------------

    def fault_status(self, req, code, params):
        headers = list(self.HEADERS)
        if params.get("retry_after") is not None:
            headers.append(("Retry-After", str(params["retry_after"])))
        if params.get("body") is not None:
            body = params["body"]
            return Response(code, body.encode() if isinstance(body, str) else pretty_json(body),
                            content_type=JSON_CT, headers=headers)
        reason = params.get("reason")
        if code == 429:
            delay = ("%ds" % params["retry_after"]) if params.get("retry_after") is not None \
                else str(params.get("retry_delay", "7s"))
            per_day = str(params.get("quota", "minute")) == "day"
            viol = {
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests" if per_day
                else "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
                "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier" if per_day
                else "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                "quotaDimensions": {"location": "global", "model": self._model_of(req) or "gemini-2.5-pro"},
                "quotaValue": "50" if per_day else "250000"}
            details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [viol]},
                       {"@type": "type.googleapis.com/google.rpc.Help",
                        "links": [{"description": "Learn more about Gemini API quotas",
                                   "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
                       {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
            e = {"code": 429, "message": reason or QUOTA_MSG, "status": "RESOURCE_EXHAUSTED", "details": details}
        elif code == 403:
            proj = "projects/123456789012"
            url = ("https://console.developers.google.com/apis/api/generativelanguage.googleapis.com/overview"
                   "?project=123456789012")
            e = {"code": 403, "message": reason or (
                "Generative Language API has not been used in project 123456789012 before or it is disabled. "
                "Enable it by visiting %s then retry. If you enabled this API recently, wait a few minutes for "
                "the action to propagate to our systems and retry." % url), "status": "PERMISSION_DENIED",
                "details": [{"@type": "type.googleapis.com/google.rpc.Help",
                             "links": [{"description": "Google developers console API activation", "url": url}]},
                            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                             "domain": "googleapis.com",
                             "metadata": {"service": "generativelanguage.googleapis.com", "consumer": proj}}]}
        else:
            e = {"code": code, "message": reason or STATUS_MESSAGES.get(code, "labsim injected status %d" % code),
                 "status": STATUS_NAMES.get(code, "UNKNOWN")}
        return Response(code, pretty_json({"error": e}) + b"\n", content_type=JSON_CT, headers=headers)

    def malformed_body(self):
        return b'{\n  "candidates": [\n    {\n      "content": {\n        "parts": [\n          {\n' \
               b'            "text": "\xec\x95\x88\x00\xff<!DOCTYPE html><html lang=en><title>Error 502 (Server Error)'

    def big_parts(self, nbytes):
        yield b'{\n  "candidates": [\n    {\n      "content": {\n        "parts": [\n          {\n            "text": "'
        sent = 80
        line = b"labsim big answer \xec\x9a\x94\xec\x95\xbd " * 40
        while sent < nbytes - 200:
            yield line
            sent += len(line)
        yield (b'"\n          }\n        ],\n        "role": "model"\n      },\n      "finishReason": "STOP",\n'
               b'      "index": 0\n    }\n  ],\n  "modelVersion": "gemini-2.5-pro"\n}\n')

    def expired_continue(self, req):
        return None

    def error_event(self, params, plan=None):
        code = int(params.get("code", 500))
        e = {"error": {"code": code, "message": params.get("message") or STATUS_MESSAGES.get(code, "labsim error"),
                       "status": STATUS_NAMES.get(code, "UNKNOWN")}}
        if plan is not None and getattr(plan, "array", False):
            return b",\r\n" + pretty_json(e) + b"\n]"
        if int(params.get("bare", 0)):
            return pretty_json(e) + b"\n"  # Vertex's form: a bare JSON object after the events
        return b"data: " + event_json(e) + b"\r\n\r\n"

    # ---------------- requests ----------------

    def _model_of(self, req):
        m = self.ROUTE.match(req.path)
        return m.group(2) if m else None

    def auth_error(self, req):
        if "key" in req.query:
            return google_error(400, "labsim: the API key was sent in the URL (?key=...); URLs get logged. "
                                     "Send it in the x-goog-api-key header.")
        key = req.headers.get("x-goog-api-key")
        if key is None:
            return google_error(403, "Method doesn't allow unregistered callers (callers without established "
                                     "identity). Please use API Key or other form of API consumer identity to "
                                     "call this API.")
        if key != self.api_key:
            msg = "API key not valid. Please pass a valid API key."
            return google_error(400, msg, [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": msg}])
        return None

    @staticmethod
    def not_found(model, version, method="generateContent"):
        msg = ("models/%s is not found for API version %s, or is not supported for %s. Call ListModels to see "
               "the list of available models and their supported methods." % (model, version, method))
        return google_error(404, msg)

    @staticmethod
    def model_json(name):
        m = MODELS[name]
        d = {"name": "models/" + name, "version": "001", "displayName": m["displayName"],
             "description": "labsim's %s" % m["displayName"], "inputTokenLimit": m["input"],
             "outputTokenLimit": m["output"],
             "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent",
                                            "batchGenerateContent"],
             "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2}
        if m["thinking"] != "none":
            d["thinking"] = True
        return d

    def handle(self, req):
        err = self.auth_error(req)
        if err is not None:
            return err
        if req.path in ("/v1beta/models", "/v1/models") and req.method == "GET":
            return Response(200, pretty_json({"models": [self.model_json(n) for n in MODELS]}) + b"\n",
                            content_type=JSON_CT, headers=self.HEADERS)
        m = self.ROUTE.match(req.path)
        if m is None:
            return google_error(404, "Method not found.")
        version, model, method = m.group(1), m.group(2), m.group(3)
        if method is None:
            if req.method != "GET":
                return google_error(404, "Method not found.")
            if model not in MODELS:
                return google_error(404, "models/%s is not found for API version %s" % (model, version))
            return Response(200, pretty_json(self.model_json(model)) + b"\n", content_type=JSON_CT,
                            headers=self.HEADERS)
        if method not in ("generateContent", "streamGenerateContent", "countTokens") or req.method != "POST":
            return google_error(404, "Method not found.")
        plan = self.plan(req)
        if plan.events is None:
            return plan.response
        ct = JSON_CT if plan.array else SSE_CT
        return Response(200, content_type=ct, headers=self.HEADERS + [("Content-Disposition", "attachment")],
                        chunks=stream_writes(req, plan.events, plan.chunk_ms))

    @staticmethod
    def _only(resp):
        p = GeminiPlan(None, 0, None)
        p.response = resp
        p.array = False
        return p

    @staticmethod
    def texts_of(content, where):
        """-> (role, text) of one Content, or raises ValueError(message)."""
        if not isinstance(content, dict):
            raise ValueError("Invalid value at '%s' (type.googleapis.com/google.ai.generativelanguage.v1beta."
                             "Content), not an object" % where)
        for k in content:
            if k not in ("role", "parts"):
                raise ValueError('Invalid JSON payload received. Unknown name "%s" at \'%s\': Cannot find field.'
                                 % (k, where))
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise ValueError("* GenerateContentRequest.%s.parts: contents.parts must not be empty.\n" % where)
        text = []
        for p in parts:
            if not isinstance(p, dict):
                raise ValueError("Invalid value at '%s.parts'" % where)
            if isinstance(p.get("text"), str) and not p.get("thought"):
                text.append(p["text"])
        return content.get("role"), "".join(text)

    def prepare(self, req):
        m = self.ROUTE.match(req.path)
        if m is None or m.group(3) not in ("generateContent", "streamGenerateContent", "countTokens") \
                or req.method != "POST":
            return None
        if self.auth_error(req) is not None:
            return None
        version, model, method = m.group(1), m.group(2), m.group(3)
        if model not in MODELS:
            return self._only(self.not_found(model, version, "countTokens" if method == "countTokens"
                                             else "generateContent"))
        try:
            obj = json.loads(req.body or b"null")
        except ValueError:
            return self._only(google_error(400, "Invalid JSON payload received. Unexpected token.\n%s\n^"
                                           % req.body[:40].decode("utf-8", "replace")))
        if not isinstance(obj, dict):
            return self._only(google_error(400, "Invalid JSON payload received. Expected an object."))
        if method == "countTokens" and isinstance(obj.get("generateContentRequest"), dict):
            obj = obj["generateContentRequest"]
        for k in obj:
            if k not in TOP_KEYS:
                return self._only(google_error(
                    400, 'Invalid JSON payload received. Unknown name "%s": Cannot find field.' % k,
                    [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                      "fieldViolations": [{"description": 'Invalid JSON payload received. Unknown name "%s": '
                                                          'Cannot find field.' % k}]}]))
        contents = obj.get("contents")
        if not isinstance(contents, list) or not contents:
            return self._only(google_error(400, "* GenerateContentRequest.contents: contents is not specified\n"))
        turns = []
        try:
            for i, c in enumerate(contents):
                role, text = self.texts_of(c, "contents[%d]" % i)
                if role not in ("user", "model", None):
                    return self._only(google_error(400, "Please use a valid role: user, model."))
                turns.append((role or "user", text))
            si = obj.get("systemInstruction", obj.get("system_instruction"))
            system = self.texts_of(si, "system_instruction")[1] if si is not None else ""
        except ValueError as e:
            return self._only(google_error(400, str(e)))
        gc = obj.get("generationConfig", obj.get("generation_config")) or {}
        if not isinstance(gc, dict):
            return self._only(google_error(400, "Invalid value at 'generation_config'"))
        for k in gc:
            if k not in GEN_KEYS:
                return self._only(google_error(
                    400, 'Invalid JSON payload received. Unknown name "%s" at \'generation_config\': Cannot find '
                         'field.' % k))
        if method == "countTokens":
            n = sum(count_tokens(t) for _, t in turns) + count_tokens(system)
            return self._only(Response(200, pretty_json({"totalTokens": n, "promptTokensDetails": [
                {"modality": "TEXT", "tokenCount": n}]}) + b"\n", content_type=JSON_CT, headers=self.HEADERS))
        tc = gc.get("thinkingConfig", gc.get("thinking_config")) or {}
        budget = tc.get("thinkingBudget", tc.get("thinking_budget")) if isinstance(tc, dict) else None
        include = bool(tc.get("includeThoughts", tc.get("include_thoughts"))) if isinstance(tc, dict) else False
        kind = MODELS[model]["thinking"]
        if isinstance(budget, int) and not isinstance(budget, bool):
            if kind == "always" and budget == 0:
                return self._only(google_error(400, "Budget 0 is invalid. This model only works in thinking mode."))
            if kind == "always" and budget != -1 and not 128 <= budget <= 32768:
                return self._only(google_error(
                    400, "The thinking budget %d is invalid. Please choose a value between 128 and 32768." % budget))
        else:
            budget = None
        thinks = kind == "always" or (kind == "default" and budget != 0)
        max_out = gc.get("maxOutputTokens", gc.get("max_output_tokens"))
        if not isinstance(max_out, int) or isinstance(max_out, bool) or max_out <= 0:
            max_out = None

        r = respond(model, system, turns, condense_ok=False, think=thinks)
        thoughts = r.thinking_tokens * 4 if thinks else 0
        if budget is not None and budget > 0:
            thoughts = min(thoughts, budget)
        text = r.text
        finish = "STOP"
        if max_out is not None:  # output tokens include the thinking
            room = max_out - thoughts
            if room <= 0:
                thoughts = max_out
                text, finish = "", "MAX_TOKENS"
            elif count_tokens(text) > room:
                text, finish = cut_tokens(text, room), "MAX_TOKENS"
        q = self._question(turns)
        blocked = _word(q, "blockme")
        unsafe = _word(q, "unsafe")
        recite = _word(q, "recite")
        rid = secrets.token_urlsafe(17)[:23]
        pt = r.prompt_tokens
        ptd = [{"modality": "TEXT", "tokenCount": pt}]

        def usage(cand):
            u = {"promptTokenCount": pt}
            if cand:
                u["candidatesTokenCount"] = cand
            u["totalTokenCount"] = pt + cand + thoughts
            u["promptTokensDetails"] = ptd
            if thoughts:
                u["thoughtsTokenCount"] = thoughts
            return u

        objs = []
        if blocked:
            objs.append({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
                dict(x, probability="HIGH") if x["category"] == "HARM_CATEGORY_DANGEROUS_CONTENT" else x
                for x in SAFETY_OK]}, "usageMetadata": {"promptTokenCount": pt, "totalTokenCount": pt,
                                                         "promptTokensDetails": ptd},
                "modelVersion": model, "responseId": rid})
        elif unsafe:
            objs.append({"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
                dict(x, probability="MEDIUM", blocked=True) if x["category"] == "HARM_CATEGORY_DANGEROUS_CONTENT"
                else x for x in SAFETY_OK]}], "usageMetadata": usage(0), "modelVersion": model, "responseId": rid})
        else:
            if recite:
                text = text[: len(text) // 2]
            if include and r.thinking:
                for i, t in enumerate(pieces(r.thinking, 12)):
                    objs.append({"candidates": [{"content": {"parts": [{"text": ("**Thinking**\n\n" if i == 0
                                                                                 else "") + t,
                                                                        "thought": True}], "role": "model"},
                                                 "index": 0}],
                                 "usageMetadata": usage(0), "modelVersion": model, "responseId": rid})
            ps = pieces(text, 6)
            done = 0
            for i, t in enumerate(ps):
                done += count_tokens(t)
                cand = {"content": {"parts": [{"text": t}], "role": "model"}}
                if i == len(ps) - 1 and not recite:
                    cand["finishReason"] = finish
                cand["index"] = 0
                objs.append({"candidates": [cand], "usageMetadata": usage(done), "modelVersion": model,
                             "responseId": rid})
            if recite:
                objs.append({"candidates": [{"finishReason": "RECITATION", "index": 0, "citationMetadata": {
                    "citationSources": [{"startIndex": 0, "endIndex": len(text.encode()),
                                         "uri": "https://example.com/labsim-recited"}]}}],
                    "usageMetadata": usage(max(done, 1)), "modelVersion": model, "responseId": rid})
            elif not ps:  # thinking used up maxOutputTokens: the real API sends content without parts
                objs.append({"candidates": [{"content": {"role": "model"}, "finishReason": finish, "index": 0}],
                             "usageMetadata": usage(0), "modelVersion": model, "responseId": rid})
        if method == "generateContent":
            return self._only(Response(200, pretty_json(self.merge(objs)) + b"\n", content_type=JSON_CT,
                                       headers=self.HEADERS))
        chunk_ms = self.chunk_ms if r.chunk_ms is None else float(r.chunk_ms)
        if req.qget("alt") == "sse":
            events = [b"data: " + event_json(o) + b"\r\n\r\n" for o in objs]
            plan = GeminiPlan(events, chunk_ms, SSE_CT, headers=self.HEADERS)
            plan.array = False
        else:  # without alt=sse: one JSON array, streamed
            events = [(b"[" if i == 0 else b"\n,\r\n") + pretty_json(o) for i, o in enumerate(objs)]
            events[-1] += b"\n]"
            plan = GeminiPlan(events, chunk_ms, JSON_CT, headers=self.HEADERS)
            plan.array = True
        return plan

    @staticmethod
    def _question(turns):
        users = [t for role, t in turns if role == "user"]
        if not users:
            return ""
        c = Context(users[-1])
        return c.question_text() if c.has_context else users[-1]

    @staticmethod
    def merge(objs):
        """The unary answer: the events' texts joined, the last usage."""
        last = objs[-1]
        if "candidates" not in last:
            return last
        text = []
        thought = []
        for o in objs:
            for c in o.get("candidates", []):
                for p in c.get("content", {}).get("parts", []):
                    (thought if p.get("thought") else text).append(p.get("text", ""))
        cand = dict(last["candidates"][0])
        if text or thought:
            parts = ([{"text": "".join(thought), "thought": True}] if thought else []) + [{"text": "".join(text)}]
            cand = {"content": {"parts": parts, "role": "model"}, **{k: v for k, v in cand.items()
                                                                     if k != "content"}}
        return {"candidates": [cand], "usageMetadata": last["usageMetadata"], "modelVersion": last["modelVersion"],
                "responseId": last["responseId"]}
