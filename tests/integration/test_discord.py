"""The Discord mirror of changing actions: `labdeck session delete NAME --yes --json` (a
changing command that answers through cli_action_print) with labsim's [discord] webhook in the
config posts one message naming the action (?wait=true, no mentions allowed, Markdown in the
name escaped); a deleted webhook is one warning and changes neither stdout nor the exit status;
a 429 is waited out as retry_after says and the message is then sent once; Discord down is one
warning; without [discord] nothing is sent; the webhook's token never reaches the terminal. A followed action (`guest start --wait`) is one
message posted when it starts and edited at each state change into its end (OK, failed, or left
running after Ctrl-C)."""
import atexit
import json
import os
import signal
import subprocess
import tempfile
import time

import itest
from itest import check, run, sanitizer_clean, test, test_alone
from lab import Lab

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


# ---- a followed action: one message posted at its start, edited at each state change ----------

_guest_lab = []


def guest_lab():
    """A labsim of its own (guests change power state here), with no churn: 103 is stopped."""
    if not _guest_lab:
        lab = Lab("--churn", "0")
        atexit.register(lab.close)
        _guest_lab.append(lab)
    lab = _guest_lab[0]
    lab._admin("POST", "/proxmox/tasks", {"polls": 1, "seconds": 0, "power_denied": False})
    r = run("guests", "--json", config=lab.config)
    check(r.code == 0, "labdeck guests --json works", r)
    if {g["vmid"]: g for g in r.json()["guests"]}[103]["status"] != "stopped":
        r = run("guest", "stop", "103", "--yes", "--wait", config=lab.config,
                env={"LABDECK_POLL_INTERVAL": "0.05"}, stdin="")
        check(r.code == 0, "103 stopped before the test", r)
    reset(lab)
    lab._admin("POST", "/proxmox/tasks", {"polls": 3, "seconds": 10})
    return lab


def history(lab):
    msgs = messages(lab)
    check(len(msgs) == 1, "one message for the action", msgs)
    return msgs[0]


@test_alone
def discord_followed_guest_start_is_one_message_edited():
    lab = guest_lab()
    # Slow enough polls that Discord takes the "running" edit before the end (edits coalesce).
    r = run("guest", "start", "103", "--yes", "--wait", config=lab.config,
            env={"LABDECK_POLL_INTERVAL": "0.3"}, stdin="")
    sanitizer_clean(r)
    check(r.code == 0 and r.out.startswith("start 103: OK (UPID:pve-a:"), "the task ended OK", r)
    check("warning" not in r.err, "no Discord warning", r)
    m = history(lab)
    check(m["history"][0] == "**start** 103: started", "posted at the start: 'started'", m)
    check("**start** 103: running" in m["history"][1:-1], "edited to running while followed", m)
    check(m["content"].startswith("**start** 103: OK (UPID:pve-a:") and ":qmstart:103:" in m["content"],
          "edited into the final state with the UPID", m)
    check(m["edits"] == len(m["history"]) - 1 >= 2, "the same message edited, not new ones", m)
    sent = lab.requests("discord")
    check([s["method"] for s in sent].count("POST") == 1
          and all(s["method"] == "PATCH" for s in sent[1:]),
          "one POST, then PATCHes of that message", [(s["method"], s["path"]) for s in sent])
    check(all(s["path"].split("?")[0].endswith("/messages/" + m["id"]) for s in sent[1:]),
          "every edit is of the posted message", sent)


@test_alone
def discord_followed_guest_failure_ends_the_message():
    lab = guest_lab()
    lab._admin("POST", "/proxmox/tasks", {"fail": {"exitstatus": "start failed: no boot disk",
                                                   "log": ["TASK ERROR: start failed"]}})
    r = run("guest", "start", "103", "--yes", "--wait", config=lab.config,
            env={"LABDECK_POLL_INTERVAL": "0.05"}, stdin="")
    sanitizer_clean(r)
    check(r.code == 1, "the failed task exits 1", r)
    m = history(lab)
    check(m["history"][0] == "**start** 103: started" and
          m["content"].startswith("**start** 103: failed: start failed: no boot disk (UPID:"),
          "the message ends in the failure", m)


@test_alone
def discord_followed_guest_ctrl_c_ends_the_message():
    lab = guest_lab()
    lab._admin("POST", "/proxmox/tasks", {"polls": 1000, "seconds": 1000})
    e = dict(os.environ, LC_ALL="C.UTF-8", LABDECK_POLL_INTERVAL="0.05")
    p = subprocess.Popen([itest.LABDECK, "--config", lab.config, "guest", "start", "103", "--yes",
                          "--wait"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e, text=True)
    deadline = time.time() + 10
    while time.time() < deadline and not (
            messages(lab) and any("/tasks/" in q["path"] for q in lab.requests("proxmox"))):
        time.sleep(0.05)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=15)
    check(p.returncode == 130, "Ctrl-C: exit 130", (p.returncode, out, err))
    m = history(lab)
    check(m["history"][0] == "**start** 103: started"
          and m["content"] == "**start** 103: stopped following; still running",
          "the message says the task was left running", m)
    lab._admin("POST", "/proxmox/tasks", {"seconds": 0})
