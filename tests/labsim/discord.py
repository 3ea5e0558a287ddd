"""A Discord webhook (docs/resources/webhook.md; research fixtures/discord):

    POST  /api/webhooks/{id}/{token}[?wait=true]        Execute Webhook: 204, or with wait=true
                                                          200 and the Message object
    PATCH /api/webhooks/{id}/{token}/messages/{mid}     Edit Webhook Message: 200 and the Message
    GET   /api/webhooks/{id}/{token}/messages/{mid}     Get Webhook Message
    GET   /api/webhooks/{id}/{token}                    the Webhook object

with Discord's own error bodies {"message", "code"}: 404 Unknown Webhook (10015) once the
webhook is deleted (admin POST /discord/webhook {"deleted": true}) or for another id, 401
Invalid Webhook Token (50027), 404 Unknown Message (10008), 400 Cannot send an empty message
(50006) and Invalid Form Body (50035, content over 2000 characters).  Successful answers carry
the X-RateLimit-* headers; the fault kind "status" with code=429 answers as Discord does:
{"message": "You are being rate limited.", "retry_after": S, "global": G} with Retry-After
(whole seconds, rounded up), X-RateLimit-Scope and, when global, X-RateLimit-Global
(parameters retry_after=SECONDS, retry_ms=MS for a fraction, global=1).

Admin: GET /discord/messages -> {"messages": [{"id", "content", "allowed_mentions", "edits",
"history": [every content it had, first to last], "timestamp", "edited_timestamp"}]};
DELETE /discord/messages clears them; POST /discord/webhook {"deleted": bool}.
"""

import json
import math
import secrets
import threading
import time

import core
from core import Response, dumps, write_file

JSON_CT = "application/json"
WEBHOOK_ID = "1223344556677889900"
CHANNEL_ID = "1187654321098765432"
GUILD_ID = "1100000000000000001"
DISCORD_EPOCH_MS = 1420070400000


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06d+00:00" % int((t % 1) * 1e6)


class Discord:
    name = "discord"
    server_header = "cloudflare"
    json_type = JSON_CT

    def __init__(self):
        self.token = secrets.token_urlsafe(51)[:68]
        self.base = "/api/webhooks/%s/%s" % (WEBHOOK_ID, self.token)
        self.lock = threading.Lock()
        self.messages = {}  # id -> message (with "history" and "edits", not sent)
        self.order = []
        self.deleted = False
        self.seq = 0

    # ---- the API ----

    @staticmethod
    def error(status, message, code, extra=None, headers=None):
        body = {"message": message, "code": code}
        body.update(extra or {})
        return Response(status, dumps(body), content_type=JSON_CT, headers=headers)

    def rate_headers(self):
        return [("X-RateLimit-Limit", "5"), ("X-RateLimit-Remaining", "4"), ("X-RateLimit-Reset",
                "%.3f" % (time.time() + 2)), ("X-RateLimit-Reset-After", "2.000"),
                ("X-RateLimit-Bucket", "2e2f5c3b1a0d9e8f7c6b5a4d3c2b1a0f")]

    def snowflake(self):
        self.seq += 1
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (1 << 17) | (self.seq & 0xFFF))

    def public(self, m):
        return {k: v for k, v in m.items() if k not in ("history", "edits", "allowed_mentions")}

    def handle(self, req):
        path = req.path.rstrip("/")
        parts = path.split("/")
        # ["", "api", "webhooks", id, token, ("messages", mid)]
        if len(parts) < 5 or parts[1] != "api" or parts[2] != "webhooks":
            return self.error(404, "404: Not Found", 0)
        if parts[3] != WEBHOOK_ID or self.deleted:
            return self.error(404, "Unknown Webhook", 10015)
        if parts[4] != self.token:
            return self.error(401, "Invalid Webhook Token", 50027)
        rest = parts[5:]
        if not rest:
            if req.method == "POST":
                return self.execute(req)
            if req.method == "GET":
                return Response(200, dumps({"application_id": None, "avatar": None, "channel_id": CHANNEL_ID,
                                            "guild_id": GUILD_ID, "id": WEBHOOK_ID, "name": "labdeck", "type": 1,
                                            "token": self.token}), content_type=JSON_CT,
                                headers=self.rate_headers())
            return self.error(405, "405: Method Not Allowed", 0)
        if len(rest) == 2 and rest[0] == "messages":
            with self.lock:
                m = self.messages.get(rest[1])
            if m is None:
                return self.error(404, "Unknown Message", 10008)
            if req.method == "GET":
                return Response(200, dumps(self.public(m)), content_type=JSON_CT, headers=self.rate_headers())
            if req.method == "PATCH":
                return self.edit(req, m)
            return self.error(405, "405: Method Not Allowed", 0)
        return self.error(404, "404: Not Found", 0)

    def parse_body(self, req):
        try:
            body = json.loads(req.body.decode("utf-8") or "{}")
        except (ValueError, UnicodeDecodeError):
            return None, self.error(400, "The request body contains invalid JSON.", 50109)
        if not isinstance(body, dict):
            return None, self.error(400, "The request body contains invalid JSON.", 50109)
        content = body.get("content")
        if content is not None and (not isinstance(content, str) or len(content) > 2000):
            return None, self.error(400, "Invalid Form Body", 50035, {"errors": {"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}})
        return body, None

    def execute(self, req):
        body, err = self.parse_body(req)
        if err:
            return err
        if not body.get("content") and not body.get("embeds"):
            return self.error(400, "Cannot send an empty message", 50006)
        now = time.time()
        with self.lock:
            mid = self.snowflake()
            m = {"type": 0, "content": body.get("content") or "", "mentions": [], "mention_roles": [],
                 "attachments": [], "embeds": body.get("embeds") or [], "timestamp": iso(now),
                 "edited_timestamp": None, "flags": 0, "components": [], "id": mid, "channel_id": CHANNEL_ID,
                 "author": {"bot": True, "id": WEBHOOK_ID, "username": body.get("username") or "labdeck",
                            "avatar": None, "discriminator": "0000"},
                 "pinned": False, "mention_everyone": False, "tts": False, "webhook_id": WEBHOOK_ID,
                 "history": [body.get("content") or ""], "edits": 0,
                 "allowed_mentions": body.get("allowed_mentions")}
            self.messages[mid] = m
            self.order.append(mid)
        if req.qget("wait") in ("true", "True", "1"):
            return Response(200, dumps(self.public(m)), content_type=JSON_CT, headers=self.rate_headers())
        return Response(204, b"", headers=self.rate_headers())

    def edit(self, req, m):
        body, err = self.parse_body(req)
        if err:
            return err
        with self.lock:
            if "content" in body:
                m["content"] = body.get("content") or ""
            if "embeds" in body:
                m["embeds"] = body.get("embeds") or []
            if "allowed_mentions" in body:
                m["allowed_mentions"] = body["allowed_mentions"]
            m["edited_timestamp"] = iso(time.time())
            m["edits"] += 1
            m["history"].append(m["content"])
        return Response(200, dumps(self.public(m)), content_type=JSON_CT, headers=self.rate_headers())

    def fault_status(self, req, code, params):
        if code == 429:
            s = float(params.get("retry_ms")) / 1000.0 if params.get("retry_ms") is not None \
                else float(params.get("retry_after", 1))
            glob = str(params.get("global", "0")) in ("1", "true", "True")
            headers = [("Retry-After", str(int(math.ceil(s)))),
                       ("X-RateLimit-Scope", "global" if glob else "user")]
            if glob:
                headers.append(("X-RateLimit-Global", "true"))
            else:
                headers += [("X-RateLimit-Limit", "5"), ("X-RateLimit-Remaining", "0"),
                            ("X-RateLimit-Reset", "%.3f" % (time.time() + s)),
                            ("X-RateLimit-Reset-After", "%.3f" % s),
                            ("X-RateLimit-Bucket", "2e2f5c3b1a0d9e8f7c6b5a4d3c2b1a0f")]
            return Response(429, dumps({"message": "You are being rate limited.", "retry_after": round(s, 3),
                                        "global": glob}), reason="Too Many Requests", content_type=JSON_CT,
                            headers=headers)
        msg = params.get("reason") or {401: "401: Unauthorized", 403: "Missing Access", 404: "Unknown Webhook",
                                       500: "500: Internal Server Error",
                                       502: "502: Bad Gateway"}.get(code, "labsim injected status %d" % code)
        dcode = {403: 50001, 404: 10015}.get(code, 0)
        return self.error(code, msg, dcode)

    def malformed_body(self):
        return b'{"type":0,"content":"\xeb\x8b\x00<html><head><title>502 Bad Gateway</title>'

    def big_parts(self, nbytes):
        return core.padded_string_parts(b'{"type":0,"content":"', b'","id":"1"}', nbytes)

    # ---- admin ----

    def admin(self, method, path, data):
        if path == "/discord/messages":
            if method == "GET":
                with self.lock:
                    return 200, {"messages": [dict(self.messages[i]) for i in self.order]}
            if method == "DELETE":
                with self.lock:
                    self.messages.clear()
                    self.order = []
                return 200, {"messages": []}
        if path == "/discord/webhook" and method == "POST":
            self.deleted = bool((data or {}).get("deleted", True))
            return 200, {"deleted": self.deleted}
        return None

    # ---- the plugin interface (labsim.py) ----

    def tls(self, P):
        return None

    def ini(self, url, P):
        write_file(P("discord-webhook"), url + self.base + "\n", 0o600)
        return ["[discord]", "webhook_url_file = " + P("discord-webhook")]

    def state(self, url):
        return {"url": url, "port": int(url.rsplit(":", 1)[1]), "webhook_id": WEBHOOK_ID,
                "webhook_token": self.token, "webhook_url": url + self.base}


def make(lab, P, args):
    return Discord()
