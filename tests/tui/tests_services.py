# Services that die mid-session (docs/RELIABILITY.md "Services that die"): Redis, PostgreSQL
# (PGlite) and sshd are killed with SIGKILL while the console uses them, then started again on
# the same port. What a user checks: the console says what is down and what to do, nothing typed
# or shown is lost, it keeps working meanwhile, and it comes back by itself. Read into run.py's
# namespace (Console, lab, @test, open_chat, ask, command, ...); sshd helpers from tests_hosts.py.
import json as _json  # noqa: E402


def redis_get(redis, *args):
    """A redis-cli command against the test's server; its stdout."""
    return subprocess.run(["redis-cli", "-p", str(redis.port), *args], capture_output=True,
                          text=True, timeout=10).stdout


def stored_session(redis, name):
    """The messages of session name as Redis holds it ([] when it holds nothing)."""
    text = redis_get(redis, "GET", "labdeck:session:" + name).strip()
    return _json.loads(text)["messages"] if text else []


def chat_rows(s):
    """The chat's two rows about Redis being down."""
    return [l for l in s.lines
            if l.startswith("✗ redis is down") or l.startswith("  start redis")]


@test
def services_redis_killed_in_chat():
    lb = lab()
    redis = services.redis()
    cfg = lb.write_config(open(lb.config).read() + "\n[ui]\nrefresh = 2\n\n[redis]\nurl = %s\n"
                          % redis.url)
    where = "127.0.0.1:%d" % redis.port
    try:
        with Console(lb, config=cfg) as c:
            open_chat(c)
            c.wait_for(lambda s: "redis ✓" in status_line(s), "redis ok on the status line")
            leave_input(c)
            command(c, "session svc-redis")
            c.wait_for(lambda s: "svc-redis" in s.line(0), "the session named")
            ask(c, "first question")
            c.wait_for(lambda s: "answers" in s.text and "generating" not in s.text,
                       "the first answer", 20)
            c.term.wait_value(lambda: len(stored_session(redis, "svc-redis")) == 2 or None,
                              "the first turn saved in Redis")
            # Killed while a question is half typed.
            c.type("typed while redis died")
            redis.stop()
            s = c.wait_for(lambda s: "redis ✗ failing: connection refused" in status_line(s)
                           and any(l.startswith("✗ redis is down: connection refused at " + where)
                                   for l in s.lines), "redis down on the status line and in the"
                           " chat", 10)
            check(any(l.startswith("  start redis-server or fix [redis] url · session svc-redis "
                                   "is kept in memory") for l in s.lines),
                  "the chat does not say what to do:\n%s" % s)
            check("> typed while redis died" in s.text, "the typed line is gone:\n%s" % s)
            check("› first question" in s.text and "you asked about first" in s.text,
                  "the scrollback is gone:\n%s" % s)
            # The backoff: tries get rarer than the 2 s refresh.
            s = c.wait_for(lambda s: any(int(m) >= 4 for m in
                                         re.findall(r"next try in (\d+) s", s.text)),
                           "the next try 4 s or more away (backoff past the 2 s refresh)", 15)
            # The question goes out anyway: answered by the model (the cache is skipped), kept.
            c.keys("Enter")
            s = c.wait_for(lambda s: "answers (turn 2)" in s.text and "generating" not in s.text
                           and "(unsaved)" in s.line(0),
                           "the answer streamed without Redis, the title saying (unsaved)", 20)
            check("answered from the cache" not in s.text, "a cached answer with Redis down:\n%s"
                  % s)
            check(redis.proc.poll() is not None, "redis came back by itself?")
            c.type("still typing")
            redis.start()  # the same port, empty (no persistence)
            s = c.wait_for(lambda s: "redis ✓" in status_line(s) and not chat_rows(s)
                           and "(unsaved)" not in s.line(0),
                           "redis back by itself: ✓, the notice gone, the session saved", 40)
            check("> still typing" in s.text, "the typed line is gone after the reconnect:\n%s" % s)
            msgs = c.term.wait_value(lambda: (lambda m: m if len(m) == 4 else None)(
                stored_session(redis, "svc-redis")), "the whole conversation saved again")
            check(msgs[2]["content"] == "typed while redis died"
                  and "turn 2" in msgs[3]["content"],
                  "the turn asked while Redis was down is not stored: %r" % msgs)
            # And the next answer is cached in Redis again.
            c.keys("C-u")
            ask(c, "third question")
            c.wait_for(lambda s: "answers (turn 3)" in s.text and "generating" not in s.text,
                       "the third answer", 20)
            c.term.wait_value(lambda: redis_get(redis, "KEYS", "labdeck:cache:chat:*").strip()
                              or None, "the answer cached in Redis again")
            c.term.wait_value(lambda: len(stored_session(redis, "svc-redis")) == 6 or None,
                              "the third turn saved")
    finally:
        if redis.proc is None or redis.proc.poll() is not None:
            redis.start()


def ingest(lb, cfg, doc):
    """labdeck rag ingest DOC (the CLI, as a user would after PostgreSQL came back empty)."""
    env = dict(os.environ, LABDECK_CONFIG="", LC_ALL="C.UTF-8")
    r = subprocess.run([LABDECK, "--config", cfg, "rag", "ingest", doc], env=env,
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "rag ingest failed: %s %s" % (r.stdout, r.stderr))


@test
def services_postgres_killed_in_rag_chat():
    lb = lab()
    pg = services.postgres()
    work = tempfile.mkdtemp(prefix="labdeck-tui-pg-")
    try:
        doc = os.path.join(work, "gpu.md")
        with open(doc, "w") as f:
            f.write(DOC)
        cfg = lb.write_config(open(lb.config).read() + "\n[rag]\npostgres = %s\ntable = svc_%d\n"
                              "pipeline = direct\n" % (pg.conninfo, os.getpid()))
        ingest(lb, cfg, doc)
        with Console(lb, config=cfg) as c:
            open_chat(c)
            leave_input(c)
            c.keys("R")
            c.wait_for(lambda s: "docs" in s.line(0), "R turning documents on")
            c.keys("Enter")
            ask(c, "how do I pass the GPU through to a VM")
            c.wait_for(lambda s: "sources: 1 GPU passthrough on Proxmox" in s.text
                       and "generating" not in s.text, "an answer from the documents", 30)
            pg.stop()
            ask(c, "and the kernel command line")
            s = c.wait_for(lambda s: "answers (turn 2)" in s.text and "generating" not in s.text,
                           "the second question answered with PostgreSQL down", 30)
            text = re.sub(r"\s+", " ", " ".join(chat_body(s, c.h)))
            check(re.search(r"rag: cannot connect to PostgreSQL at 127\.0\.0\.1:%d: Connection "
                            r"refused; start PostgreSQL there or fix \[rag\] postgres; answering "
                            r"without retrieved context" % pg.port, text),
                  "no line naming PostgreSQL and what to do:\n%s" % s)
            # Still live: another view and back.
            leave_input(c)
            c.keys("1")
            c.wait_for(lambda s: "[1 nodes]" in s.line(0), "1 switching to the dashboard")
            c.keys("4")
            c.wait_for(lambda s: "[4 chat]" in s.line(0) and "answers (turn 2)" in s.text,
                       "4 back to the chat, the scrollback kept")
            pg.start()  # the same port; PGlite keeps data in memory: stored again
            ingest(lb, cfg, doc)
            c.keys("Enter")
            ask(c, "how do I enable IOMMU for the GPU")
            s = c.wait_for(lambda s: "answers (turn 3)" in s.text and "generating" not in s.text,
                           "the third question answered", 30)
            rows = chat_body(s, c.h)
            last = max(i for i, l in enumerate(rows) if "answers (turn 3)" in l)
            after = " ".join(rows[last:])
            check("sources: 1 GPU passthrough on Proxmox" in after,
                  "PostgreSQL back, but no sources under the next answer:\n%s" % s)
    finally:
        if pg.proc is None or pg.proc.poll() is not None:
            pg.start()
        shutil.rmtree(work, ignore_errors=True)


def run_typed(c, cmd):
    """c on the hosts list, the command typed, Enter, y."""
    c.keys("c")
    c.wait_for(lambda s: "command on lab: " in s.text, "c opening the prompt")
    c.type(cmd)
    c.keys("Enter")
    c.wait_for(confirm_line(c, cmd), "the typed line asked exactly")
    c.keys("y")


@test
def services_sshd_killed_under_hosts_view():
    k = SshCase()
    where = "127.0.0.1:%d" % k.s.port
    try:
        with k.console(w=140, h=30) as c:
            c.port = k.s.port
            open_hosts(c)
            run_typed(c, "echo first; sleep 30; touch %s" % k.marker)
            c.wait_for(lambda s: any(l.rstrip() == "first" for l in s.lines)
                       and "⟳ running" in s.text, "the command running, its first line shown")
            k.s.kill()  # sshd and the connection it serves
            s = c.wait_for(lambda s: "✗ ssh lab: %s: the connection was lost while the command "
                           "ran" % where in s.text, "the pane saying the connection was lost", 10)
            check("it may still be running there" in s.text, "the pane does not say the command"
                  " may go on:\n%s" % s)
            check(any(l.rstrip() == "first" for l in s.lines), "the output is gone:\n%s" % s)
            check("⟳" not in status_line(s), "still shown running: %r" % status_line(s))
            c.keys("Escape")
            c.wait_for(lambda s: "[7 hosts]" in s.line(0) and "✗ ssh lab:" in s.text,
                       "the hosts list saying how the last command ended")
            # Usable while sshd is down: a new command says it cannot connect, and why.
            run_typed(c, "echo again")
            c.wait_for(lambda s: "cannot connect to %s: Connection refused (is sshd running "
                       "there?)" % where in s.text, "a command with sshd down: refused, clearly")
            c.keys("Escape")
            c.wait_for(lambda s: "[7 hosts]" in s.line(0), "back to the hosts list")
            k.s.restart()
            run_typed(c, "echo back again")
            s = c.wait_for(lambda s: "✓ exit 0 after" in s.text, "a command after sshd restarted")
            check(any(l.rstrip() == "back again" for l in s.lines), "its output:\n%s" % s)
        check(not k.ran(), "the killed command got to its end")
    finally:
        if k.s.svc.proc is None or k.s.svc.proc.poll() is not None:
            k.s.restart()
        k.close()
