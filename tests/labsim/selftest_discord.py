"""labsim selftest: the Discord webhook (discord.py): post with ?wait=true and edit the
message, the error bodies, the 429 fault as Discord sends it, the deleted webhook, the record
of messages and the webhook URL in a 0600 file named by labdeck.ini."""

import http.client
import json
import os
import stat


def call(inst, method, path, body=None, token=None):
    st = inst.state["discord"]
    base = "/api/webhooks/%s/%s" % (st["webhook_id"], token or st["webhook_token"])
    data = None
    h = {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c = http.client.HTTPConnection("127.0.0.1", st["port"], timeout=10)
    try:
        c.request(method, base + path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), obj
    finally:
        c.close()


def checks(inst, check):
    st = inst.state["discord"]
    check("discord: state.json has the webhook", st["webhook_url"].startswith(st["url"] + "/api/webhooks/"),
          st)
    with open(inst.p("labdeck.ini")) as f:
        ini = f.read()
    path = inst.p("discord-webhook")
    check("discord: labdeck.ini names the webhook file", "[discord]\nwebhook_url_file = " + path in ini, ini)
    check("discord: the webhook file is 0600 and holds the URL",
          stat.S_IMODE(os.stat(path).st_mode) == 0o600 and open(path).read().strip() == st["webhook_url"])
    inst.admin("DELETE", "/discord/messages")

    s, h, m = call(inst, "POST", "?wait=true", {"content": "**deploy sync** root-app: started",
                                                "allowed_mentions": {"parse": []}})
    check("discord: POST ?wait=true answers 200 with the message",
          s == 200 and m and m.get("content") == "**deploy sync** root-app: started" and m.get("id", "").isdigit()
          and m.get("webhook_id") == st["webhook_id"], (s, m))
    check("discord: rate-limit headers on success", "x-ratelimit-bucket" in h and "x-ratelimit-remaining" in h, h)
    mid = m["id"] if m else "0"
    s, _, e = call(inst, "PATCH", "/messages/" + mid, {"content": "**deploy sync** root-app: Succeeded"})
    check("discord: PATCH edits the message", s == 200 and e["content"].endswith("Succeeded") and
          e["edited_timestamp"], (s, e))
    s, _, g = call(inst, "GET", "/messages/" + mid)
    check("discord: GET shows the edit", s == 200 and g["content"].endswith("Succeeded"), (s, g))
    s, _, _ = call(inst, "POST", "", {"content": "no wait"})
    check("discord: POST without wait answers 204", s == 204, s)
    s, _, e = call(inst, "POST", "?wait=true", {"content": ""})
    check("discord: empty message refused (50006)", s == 400 and e == {"message": "Cannot send an empty message",
                                                                         "code": 50006}, (s, e))
    s, _, e = call(inst, "POST", "?wait=true", {"content": "x" * 2001})
    check("discord: over 2000 characters refused (50035)", s == 400 and e["code"] == 50035, (s, e))
    s, _, e = call(inst, "PATCH", "/messages/123", {"content": "x"})
    check("discord: unknown message (10008)", s == 404 and e["code"] == 10008, (s, e))
    s, _, e = call(inst, "POST", "?wait=true", {"content": "x"}, token="wrong")
    check("discord: wrong token (50027)", s == 401 and e["code"] == 50027, (s, e))

    msgs = inst.admin("GET", "/discord/messages")[1]["messages"]
    check("discord: admin lists the messages with their history",
          len(msgs) == 2 and msgs[0]["history"] == ["**deploy sync** root-app: started",
                                                    "**deploy sync** root-app: Succeeded"]
          and msgs[0]["allowed_mentions"] == {"parse": []} and msgs[0]["edits"] == 1, msgs)

    inst.fault(backend="discord", kind="status", code=429, retry_ms="250", count=1)
    s, h, e = call(inst, "POST", "?wait=true", {"content": "x"})
    check("discord: 429 fault as Discord sends it",
          s == 429 and e == {"message": "You are being rate limited.", "retry_after": 0.25, "global": False}
          and h.get("retry-after") == "1" and h.get("x-ratelimit-scope") == "user", (s, h, e))
    inst.fault(backend="discord", kind="status", code=429, retry_after=2, count=1, **{"global": "1"})
    s, h, e = call(inst, "POST", "?wait=true", {"content": "x"})
    check("discord: global 429", s == 429 and e["global"] is True and e["retry_after"] == 2.0
          and h.get("x-ratelimit-global") == "true", (s, h, e))

    inst.admin("POST", "/discord/webhook", {"deleted": True})
    s, _, e = call(inst, "POST", "?wait=true", {"content": "x"})
    check("discord: deleted webhook: 404 Unknown Webhook (10015)",
          s == 404 and e == {"message": "Unknown Webhook", "code": 10015}, (s, e))
    s, _, e = call(inst, "PATCH", "/messages/" + mid, {"content": "x"})
    check("discord: deleted webhook: edits 404 too", s == 404 and e["code"] == 10015, (s, e))
    inst.admin("POST", "/discord/webhook", {"deleted": False})
    s, _, _ = call(inst, "GET", "/messages/" + mid)
    check("discord: webhook restored", s == 200, s)
    inst.admin("DELETE", "/discord/messages")
