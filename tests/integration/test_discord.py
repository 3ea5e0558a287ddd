"""The Discord mirror of changing actions: `labdeck session delete NAME --yes --json` (a
changing command that answers through cli_action_print) with labsim's [discord] webhook in the
config posts one message naming the action (?wait=true, no mentions allowed, Markdown in the
name escaped); a deleted webhook is one warning and changes neither stdout nor the exit status;
a 429 is waited out as retry_after says and the message is then sent once; Discord down is one
warning; without [discord] nothing is sent; the webhook's token never reaches the terminal."""
import json
import os
import tempfile

from itest import check, run, sanitizer_clean, test

MODEL = "qwen2.5:14b"


def state_env():
    return {"XDG_STATE_HOME": tempfile.mkdtemp(prefix="labdeck-state-")}


def make_session(lab, env, name):
    r = run("chat", "--json", "--no-cache", "--session", name, "hello", config=lab.config, env=env,
            stdin="")
    check(r.code == 0, "chat --session %s answers" % name, r)


def delete(lab, env, name, config=None):
    r = run("session", "delete", name, "--yes", "--json", config=config or lab.config, env=env,
            stdin="")
    sanitizer_clean(r)
    return r


def messages(lab):
    return lab._admin("GET", "/discord/messages")["messages"]


def reset(lab):
    lab.clear()
    lab._admin("DELETE", "/discord/messages")
    lab._admin("POST", "/discord/webhook", {"deleted": False})


def answered(r, name):
    check(r.code == 0, "session delete exits 0", r)
    doc = r.json()
    check(doc == {"action": "session delete", "target": name, "id": name, "state": "deleted"},
          "stdout is the action answer alone", r)


def no_secret(lab, r):
    token = lab.state["discord"]["webhook_token"]
    check(token not in r.err and token not in r.out, "the webhook token never printed", r)


@test
def discord_posts_one_message_per_action(lab):
    reset(lab)
    env = state_env()
    make_session(lab, env, "lab_notes")
    r = delete(lab, env, "lab_notes")
    answered(r, "lab_notes")
    check(r.err == "", "nothing on stderr", r)
    msgs = messages(lab)
    check(len(msgs) == 1, "one message", msgs)
    m = msgs[0]
    check("session delete" in m["content"] and "lab\\_notes" in m["content"] and "deleted" in m["content"],
          "the message names the action, its target (Markdown escaped) and the outcome", m)
    check(m["allowed_mentions"] == {"parse": []}, "no mentions allowed", m)
    sent = lab.requests("discord")
    check(len(sent) == 1 and sent[0]["method"] == "POST" and sent[0]["path"].endswith("?wait=true"),
          "one POST ?wait=true", sent)
    check(json.loads(sent[0]["body"])["content"] == m["content"], "the body is the message", sent)
    no_secret(lab, r)


@test
def discord_not_configured_sends_nothing(lab):
    reset(lab)
    env = state_env()
    make_session(lab, env, "quiet")
    text = open(lab.config).read()
    start = text.index("[discord]")
    end = text.find("\n[", start + 1)
    cfg = lab.write_config(text[:start] + (text[end + 1:] if end >= 0 else ""))
    r = delete(lab, env, "quiet", config=cfg)
    answered(r, "quiet")
    check(lab.requests("discord") == [] and messages(lab) == [], "no request to Discord", None)


@test
def discord_refused_action_sends_nothing(lab):
    reset(lab)
    env = state_env()
    make_session(lab, env, "kept")
    r = run("session", "delete", "kept", "--json", config=lab.config, env=env, stdin="")
    check(r.code == 2, "no --yes off a terminal: exit 2", r)
    r = run("--readonly", "session", "delete", "kept", "--yes", "--json", config=lab.config, env=env, stdin="")
    check(r.code == 2, "--readonly: exit 2", r)
    check(lab.requests("discord") == [] and messages(lab) == [], "nothing sent to Discord", None)


@test
def discord_deleted_webhook_is_one_warning(lab):
    reset(lab)
    env = state_env()
    make_session(lab, env, "gone")
    lab._admin("POST", "/discord/webhook", {"deleted": True})
    try:
        r = delete(lab, env, "gone")
    finally:
        lab._admin("POST", "/discord/webhook", {"deleted": False})
    answered(r, "gone")
    lines = r.err.splitlines()
    check(len(lines) == 1 and lines[0].startswith("labdeck: warning: discord: ")
          and "deleted or is wrong" in lines[0] and "Unknown Webhook" in lines[0],
          "exactly one warning saying the webhook is gone", r)
    check(len(lab.requests("discord")) == 1, "one request, not retried", lab.requests("discord"))
    check(messages(lab) == [], "nothing posted", None)
    no_secret(lab, r)
    check("api/webhooks" not in r.err, "the webhook URL never printed", r)


@test
def discord_429_is_waited_out(lab):
    reset(lab)
    env = state_env()
    make_session(lab, env, "busy")
    lab.fault("discord", "status", code=429, retry_after=1, count=1)
    r = delete(lab, env, "busy")
    answered(r, "busy")
    check(r.err == "", "a 429 waited out is no warning", r)
    sent = lab.requests("discord")
    check(len(sent) == 2 and [s["status"] for s in sent] == [429, 200] and all(s["method"] == "POST" for s in sent),
          "the POST refused with 429, then sent again once", sent)
    gap = sent[1]["time"] - sent[0]["time"]
    check(gap >= 0.95, "sent again after retry_after (1 s), not before: %.2f s" % gap, sent)
    check(len(messages(lab)) == 1, "one message", messages(lab))


@test
def discord_down_is_one_warning(lab):
    reset(lab)
    env = state_env()
    make_session(lab, env, "offline")
    lab._admin("POST", "/outage", {"backend": "discord", "down": True})
    try:
        r = delete(lab, env, "offline")
    finally:
        lab._admin("POST", "/outage", {"backend": "discord", "down": False})
    answered(r, "offline")
    lines = r.err.splitlines()
    check(len(lines) == 1 and lines[0].startswith("labdeck: warning: discord: ")
          and "discord webhook" in lines[0], "one warning naming the discord webhook, not its URL", r)
    no_secret(lab, r)
    check(os.path.basename(lab.state["discord"]["webhook_url"]) not in r.err, "no part of the URL", r)
