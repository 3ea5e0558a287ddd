"""Integration tests of `labdeck session list|show|rename|delete`: sessions made by
`labdeck chat --session NAME` against labsim, kept in files ($XDG_STATE_HOME in a temp dir) and in
a real Redis; the confirmation before a delete, on a terminal and without one; Redis gone; stored
content with terminal escape sequences shown harmless."""
import json
import os
import pty
import select
import subprocess
import tempfile
import time

import itest
import services
from itest import check, run, sanitizer_clean, test

MODEL = "qwen2.5:14b"  # the [ollama] chat_model of labsim's config


def state_env():
    d = tempfile.mkdtemp(prefix="labdeck-state-")
    return {"XDG_STATE_HOME": d}, os.path.join(d, "labdeck", "sessions")


def config_with(lab, extra):
    return lab.write_config(open(lab.config).read() + "\n" + extra + "\n")


def lab_run(cfg, env, *args, stdin=""):
    # stdin "" is an empty pipe: never the terminal the tests may have been started from.
    r = run(*args, config=cfg, env=env, stdin=stdin)
    sanitizer_clean(r)
    return r


def chat(cfg, env, name, message):
    r = lab_run(cfg, env, "chat", "--json", "--no-cache", "--session", name, message)
    check(r.code == 0, "chat --session %s answers" % name, r)
    return r.json()


def listed(cfg, env):
    r = lab_run(cfg, env, "session", "list", "--json")
    check(r.code == 0, "session list --json exits 0", r)
    doc = r.json()
    check(isinstance(doc.get("sessions"), list) and isinstance(doc.get("store"), str),
          "list --json has sessions and store", doc)
    for s in doc["sessions"]:
        check(set(s) >= {"name", "messages", "updated"}, "each session has its fields", s)
    return doc


def names(doc):
    return [s["name"] for s in doc["sessions"]]


def make_sessions(cfg, env):
    """alpha (2 turns, the most recent) and beta (1 turn): alpha, beta, then alpha again."""
    chat(cfg, env, "alpha", "first question")
    time.sleep(0.05)
    chat(cfg, env, "beta", "a question for beta")
    time.sleep(0.05)
    doc = chat(cfg, env, "alpha", "second question")
    check("(turn 2)" in doc["text"], "alpha's history went with its second turn", doc)


def lifecycle(cfg, env, store):
    """The same checks on either store; store is what list --json must name."""
    make_sessions(cfg, env)
    doc = listed(cfg, env)
    check(doc["store"] == store, "the store is named: %s" % store, doc)
    check(names(doc) == ["alpha", "beta"], "most recently updated first", doc)
    by = itest.by_name(doc["sessions"])
    check(by["alpha"]["messages"] == 4 and by["beta"]["messages"] == 2,
          "message counts (question + answer per turn)", doc)
    now = time.time()
    check(all(now - 120 < s["updated"] <= now + 1 for s in doc["sessions"]),
          "updated is seconds since the epoch, just now", doc)

    # The table a person reads.
    r = lab_run(cfg, env, "session", "list")
    check(r.code == 0, "session list exits 0", r)
    lines = r.out.splitlines()
    check(lines and lines[0].split() == ["NAME", "MESSAGES", "UPDATED"], "table header", r)
    rows = [ln.split() for ln in lines[1:]]
    check([row[0] for row in rows] == ["alpha", "beta"] and rows[0][1] == "4"
          and rows[1][1] == "2", "one row per session, most recent first", r)
    check(all(row[2].endswith("s") for row in rows), "UPDATED is an age ('3s')", r)

    # show: the messages, the model's name on its answers.
    r = lab_run(cfg, env, "session", "show", "alpha")
    check(r.code == 0, "show exits 0", r)
    check("you: first question" in r.out and "you: second question" in r.out,
          "the questions under 'you:'", r)
    check(r.out.count(MODEL + ": ") == 2, "the answers under the model's name", r)
    check(r.out.index("first question") < r.out.index("second question"), "in order", r)
    check("ollama" in r.out, "the provider is shown", r)
    r = lab_run(cfg, env, "session", "show", "alpha", "--json")
    check(r.code == 0, "show --json exits 0", r)
    doc = r.json()
    check(doc["name"] == "alpha" and doc["provider"] == "ollama" and doc["model"] == MODEL,
          "name, provider, model", doc)
    check(set(doc) >= {"system", "created", "updated", "messages"}, "all the fields", doc)
    check([m["role"] for m in doc["messages"]] == ["user", "assistant"] * 2, "roles", doc)
    check(doc["messages"][0]["content"] == "first question"
          and doc["messages"][2]["content"] == "second question", "contents as asked", doc)
    check(doc["created"] <= doc["updated"], "created before updated", doc)
    r = lab_run(cfg, env, "session", "show", "nosuch")
    check(r.code == 1 and "no session called 'nosuch'" in r.err
          and "labdeck session list" in r.err, "an unknown name: exit 1, with a hint", r)

    # rename: the old name is gone, the new one has the messages.
    r = lab_run(cfg, env, "session", "rename", "alpha", "gamma")
    check(r.code == 0 and "gamma" in r.out, "rename exits 0 and says so", r)
    doc = listed(cfg, env)
    check(names(doc) == ["gamma", "beta"], "renamed in the list, same place", doc)
    check(itest.by_name(doc["sessions"])["gamma"]["messages"] == 4, "messages kept", doc)
    r = lab_run(cfg, env, "session", "show", "alpha")
    check(r.code == 1, "the old name is gone", r)
    # Onto an existing name: refused, both kept.
    r = lab_run(cfg, env, "session", "rename", "beta", "gamma")
    check(r.code == 1 and "already" in r.err and "gamma" in r.err,
          "renaming onto an existing session is refused", r)
    doc = listed(cfg, env)
    check(sorted(names(doc)) == ["beta", "gamma"]
          and itest.by_name(doc["sessions"])["gamma"]["messages"] == 4, "both kept", doc)
    r = lab_run(cfg, env, "session", "rename", "nosuch", "other")
    check(r.code == 1 and "no session called 'nosuch'" in r.err, "renaming nothing", r)

    # delete: without --yes and without a terminal, refused and kept.
    r = lab_run(cfg, env, "session", "delete", "beta")
    check(r.code == 2 and "--yes" in r.err, "delete without --yes off a terminal: exit 2", r)
    check("beta" in names(listed(cfg, env)), "still there", None)
    r = lab_run(cfg, env, "session", "delete", "beta", "--yes")
    check(r.code == 0 and "deleted" in r.out, "delete --yes", r)
    check(names(listed(cfg, env)) == ["gamma"], "gone from the list", None)
    r = lab_run(cfg, env, "session", "show", "beta")
    check(r.code == 1, "gone for show", r)
    r = lab_run(cfg, env, "session", "delete", "beta", "--yes")
    check(r.code == 1 and "no session called 'beta'" in r.err, "deleting it again: exit 1", r)
    r = lab_run(cfg, env, "--json", "session", "delete", "gamma", "--yes")
    check(r.code == 0, "delete --json", r)
    doc = r.json()
    check(doc["action"] == "session delete" and doc["target"] == "gamma"
          and doc["state"] == "deleted", "the changing-action shape", doc)

    # Empty again: a friendly line, exit 0.
    r = lab_run(cfg, env, "session", "list")
    check(r.code == 0 and r.out == "" and "no sessions yet" in r.err
          and "chat --session NAME" in r.err, "an empty store says how to start one", r)
    check(listed(cfg, env)["sessions"] == [], "empty list in JSON", None)


@test
def session_cli_in_files(lab):
    env, d = state_env()
    lifecycle(lab.config, env, d)
    # Bad names are usage errors that say what is allowed.
    for args in (("show", "../etc"), ("rename", "ok", "bad name"), ("delete", ".hidden", "--yes")):
        r = lab_run(lab.config, env, "session", *args)
        check(r.code == 2 and "letters, digits" in r.err, "bad name: exit 2 %s" % (args,), r)
    r = lab_run(lab.config, env, "session")
    check(r.code == 2 and "list, show, rename or delete" in r.err, "no subcommand", r)
    r = lab_run(lab.config, env, "session", "show")
    check(r.code == 2 and "NAME" in r.err, "show without a name", r)
    r = lab_run(lab.config, env, "session", "list", "--yes")
    check(r.code == 2, "--yes is only for delete", r)
    r = lab_run(lab.config, env, "session", "--help")
    check(r.code == 0 and "session delete NAME [--yes]" in r.out, "--help", r)
    r = lab_run(lab.config, env, "--help")
    check("session list" in r.out, "the main usage names the command", r)


@test
def session_cli_in_redis(lab):
    rd = services.redis()
    # A database of our own: other tests share this server.
    url = rd.url.rsplit("/", 1)[0] + "/7"
    cfg = config_with(lab, "[redis]\nurl = %s\n" % url)
    env, d = state_env()
    lifecycle(cfg, env, "redis 127.0.0.1:%d" % rd.port)
    check(not os.path.exists(d), "nothing was written to files", os.listdir(os.path.dirname(d))
          if os.path.exists(os.path.dirname(d)) else None)
    chat(cfg, env, "kept", "hello")
    rd.stop()
    try:
        where = "127.0.0.1:%d" % rd.port
        for args in (("list",), ("list", "--json"), ("show", "kept"),
                     ("rename", "kept", "moved"), ("delete", "kept", "--yes")):
            r = lab_run(cfg, env, "session", *args)
            check(r.code == 3, "Redis down: exit 3 for %s" % (args,), r)
            check(where in r.err and "redis" in r.err.lower(), "names the server", r)
            check(len(r.err.strip().splitlines()) == 1, "one line", r)
            check(r.elapsed < 10, "fails fast", r)
        check(not os.path.exists(d), "no fallback to files", None)
    finally:
        rd.restart()


@test
def session_cli_hostile_content(lab):
    env, d = state_env()
    os.makedirs(d, mode=0o700)
    hostile = {
        "version": 1, "provider": "ollama", "model": "evil\x1b[2Jmodel",
        "system": "be nice\x1b]0;pwned\x07 please",
        "created": time.time() - 7200, "updated": time.time() - 300,
        "messages": [
            {"role": "user", "content": "hi \x1b[31mred\x1b[0m there"},
            {"role": "assistant", "content": "line one\n\x1b]52;c;Y2xpcA==\x07clip\r\x9b2J"},
        ],
    }
    with open(os.path.join(d, "evil.json"), "w") as f:
        json.dump(hostile, f)
    r = lab_run(lab.config, env, "session", "show", "evil")
    check(r.code == 0, "show exits 0", r)
    check(not any(ch in r.out for ch in "\x1b\x07\r\x9b"), "no control characters printed", r)
    check("red" in r.out and "there" in r.out and "clip" in r.out and "line one" in r.out,
          "the text itself is kept", r)
    r = lab_run(lab.config, env, "session", "list")
    check(r.code == 0 and r.out.splitlines()[1].split()[:3] == ["evil", "2", "5m"],
          "listed with its count and age", r)
    r = lab_run(lab.config, env, "session", "show", "evil", "--json")
    doc = r.json()
    check(doc["messages"][0]["content"] == hostile["messages"][0]["content"]
          and doc["system"] == hostile["system"], "--json gives the content as stored", doc)


def on_terminal(cfg, env, args, answer):
    """Runs labdeck with a terminal on stdin, answers the prompt; (exit, stdout, stderr)."""
    master, slave = pty.openpty()
    e = dict(os.environ, LC_ALL="C.UTF-8", **env)
    p = subprocess.Popen([itest.LABDECK, "--config", cfg, *args], stdin=slave,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    os.close(slave)
    err = b""
    deadline = time.time() + 20
    while b"[y/N]" not in err and time.time() < deadline and p.poll() is None:
        ready, _, _ = select.select([p.stderr], [], [], 0.2)
        if ready:
            err += os.read(p.stderr.fileno(), 4096)
    check(b"[y/N]" in err, "the prompt was shown", err)
    os.write(master, answer.encode())
    out, rest = p.communicate(timeout=20)
    os.close(master)
    return p.returncode, out.decode(), (err + rest).decode()


@test
def session_cli_delete_asks_on_a_terminal(lab):
    env, d = state_env()
    chat(lab.config, env, "asked", "one")
    chat(lab.config, env, "asked", "two")
    code, out, err = on_terminal(lab.config, env, ["session", "delete", "asked"], "n\n")
    check("Delete session 'asked' (4 messages)? [y/N]" in err, "the question", err)
    check(code == 1 and "kept" in err, "no: exit 1, kept", (code, out, err))
    check(names(listed(lab.config, env)) == ["asked"], "still there", None)
    code, out, err = on_terminal(lab.config, env, ["session", "delete", "asked"], "y\n")
    check(code == 0 and "deleted" in out, "yes: deleted", (code, out, err))
    check(names(listed(lab.config, env)) == [], "gone", None)


@test
def session_cli_readonly_refuses(lab):
    env = {"XDG_STATE_HOME": tempfile.mkdtemp(prefix="labdeck-ro-")}
    r = run("chat", "--session", "keep", "hello", config=lab.config, env=env)
    check(r.code == 0, "a session to protect", r)
    for args in (["session", "delete", "keep", "--yes"], ["session", "rename", "keep", "other"]):
        r = run("--readonly", *args, config=lab.config, env=env)
        check(r.code == 2 and "read-only" in r.err and "--readonly" in r.err,
              "--readonly refuses %s with exit 2" % args[1], r)
    r = run("session", "show", "keep", config=lab.config, env=env)
    check(r.code == 0, "the session is still there", r)
