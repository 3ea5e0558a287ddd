"""Services that die, on the command line (docs/RELIABILITY.md "Services that die"; the console's
side is tests/tui/tests_services.py). Redis, PostgreSQL (PGlite) and sshd are killed with SIGKILL
between or during labdeck commands and started again on the same port: each command says in one
line what is down, where, and what to do, exits 3 (SPEC §3: a backend unreachable) without
hanging, keeps the answer it could still give, and the first command after the restart works."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import itest
import services
import sshd as sshd_mod
from itest import check, run, sanitizer_clean, test, test_alone

DOC = ("# GPU passthrough on Proxmox\n\n" + " ".join(
    ["To pass the iGPU through to a VM, add hostpci0 with the PCI address c5:00.0 to the VM's "
     "config and enable IOMMU in the kernel command line; the guest then sees the device."] * 4)
    + "\n")


def stderr_lines(r):
    return [l for l in r.err.splitlines() if l.strip()]


def redis_messages(redis, name):
    out = subprocess.run(["redis-cli", "-p", str(redis.port), "GET", "labdeck:session:" + name],
                         capture_output=True, text=True, timeout=10).stdout.strip()
    return json.loads(out)["messages"] if out else []


@test
def services_die_redis_under_chat_session(lab):
    redis = services.redis()
    cfg = lab.write_config(open(lab.config).read() + "\n[redis]\nurl = %s\n" % redis.url)
    where = "127.0.0.1:%d" % redis.port
    name = "svc-die-%d" % os.getpid()
    try:
        r = run("chat", "--session", name, "first question", config=cfg)
        check(r.code == 0 and "labsim-qwen2.5:14b answers" in r.out and r.err == "",
              "chat --session with Redis up", r)
        check(len(redis_messages(redis, name)) == 2, "the turn stored in Redis", r)
        redis.stop()
        # The session cannot be read: said in one line, the answer still comes, exit 3.
        r = run("chat", "--session", name, "second question", config=cfg, timeout=20)
        sanitizer_clean(r)
        check(r.code == 3, "exit 3 (Redis unreachable)", r)
        check("labsim-qwen2.5:14b answers" in r.out, "the answer is still printed", r)
        lines = stderr_lines(r)
        check(len(lines) == 1 and lines[0] == "labdeck: redis: connection refused at %s; "
              "answered without the session's history: start redis-server or fix [redis] url; "
              "the answer above was not saved" % where,
              "one line naming Redis, its address, what to do and that nothing was saved", r)
        check(r.elapsed < 5, "no wait on the dead server", r)
        # Without a session only the cache needs Redis: skipped, nothing to report.
        r = run("chat", "third question", config=cfg, timeout=20)
        check(r.code == 0 and "labsim-qwen2.5:14b answers" in r.out and r.err == "",
              "a chat without --session does not need Redis (the cache is skipped)", r)
        redis.start()  # the same port, empty
        r = run("chat", "--session", name, "fourth question", config=cfg)
        check(r.code == 0 and r.err == "", "chat --session once Redis is back", r)
        msgs = redis_messages(redis, name)
        check(len(msgs) == 2 and msgs[0]["content"] == "fourth question",
              "the new turn stored in the restarted Redis: %r" % msgs, r)
    finally:
        if redis.proc is None or redis.proc.poll() is not None:
            redis.start()


@test
def services_die_postgres_under_rag(lab):
    pg = services.postgres()
    work = tempfile.mkdtemp(prefix="labdeck-svc-pg-")
    try:
        doc = os.path.join(work, "gpu.md")
        with open(doc, "w") as f:
            f.write(DOC)
        cfg = lab.write_config(open(lab.config).read() + "\n[rag]\npostgres = %s\n"
                               "table = svc_die_%d\n" % (pg.conninfo, os.getpid()))
        r = run("rag", "ingest", doc, config=cfg)
        check(r.code == 0, "ingest with PostgreSQL up", r)
        pg.stop()
        hint = ("rag: cannot connect to PostgreSQL at 127.0.0.1:%d: Connection refused; start "
                "PostgreSQL there or fix [rag] postgres" % pg.port)
        r = run("rag", "query", "gpu passthrough", config=cfg, timeout=20)
        sanitizer_clean(r)
        check(r.code == 3 and stderr_lines(r) == ["labdeck: " + hint],
              "rag query: exit 3, one line naming PostgreSQL and what to do", r)
        r = run("chat", "--rag", "how do I pass the GPU through", config=cfg, timeout=30)
        check(r.code == 0 and "labsim-qwen2.5:14b answers" in r.out,
              "chat --rag still answers, without the documents", r)
        check(stderr_lines(r) == ["labdeck: warning: %s; answering without retrieved context"
                                  % hint], "and says why in one line", r)
        pg.start()  # the same port; PGlite keeps its data in memory: stored again
        r = run("rag", "ingest", doc, config=cfg)
        check(r.code == 0, "ingest once PostgreSQL is back", r)
        r = run("rag", "query", "--json", "gpu passthrough", config=cfg)
        check(r.code == 0 and r.json()["chunks"]
              and r.json()["chunks"][0]["title"] == "GPU passthrough on Proxmox",
              "the query finds the document again", r)
    finally:
        if pg.proc is None or pg.proc.poll() is not None:
            pg.start()
        shutil.rmtree(work, ignore_errors=True)


@test_alone
def services_die_sshd_under_ssh_command():
    s = sshd_mod.sshd()
    work = tempfile.mkdtemp(prefix="labdeck-svc-ssh-")
    try:
        known = os.path.join(work, "known_hosts")
        with open(known, "w") as f:
            f.write(s.host_line + "\n")
        cfg = os.path.join(work, "labdeck.ini")
        with open(cfg, "w") as f:
            f.write('[ssh "lab"]\nhost = 127.0.0.1\nport = %d\nuser = root\nidentity = %s\n'
                    'known_hosts = %s\n' % (s.port, s.client_key, known))
        os.chmod(cfg, 0o600)
        where = "127.0.0.1:%d" % s.port
        env = dict(os.environ, LC_ALL="C.UTF-8")
        env.pop("LABDECK_CONFIG", None)
        p = subprocess.Popen([itest.LABDECK, "--config", cfg, "ssh", "lab", "--",
                              "echo first; sleep 30; echo never"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            check(p.stdout.readline() == b"first\n", "the first line streamed")
            t0 = time.monotonic()
            s.kill()  # sshd and the connection it serves
            out, err = p.communicate(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        err = err.decode()
        lines = [l for l in err.splitlines() if l.strip()]
        check(p.returncode == 3, "exit 3 when the connection is lost: %r" % err)
        check(time.monotonic() - t0 < 5, "noticed at once")
        check(out == b"", "nothing after the first line: %r" % out)
        check(len(lines) == 1 and lines[0].startswith(
            "labdeck: ssh lab: %s: the connection was lost while the command ran (" % where)
            and lines[0].endswith("); it may still be running there"),
            "one line saying the connection was lost: %r" % err)
        r = run("ssh", "lab", "--", "echo", "down", config=cfg, stdin="")
        check(r.code == 3 and stderr_lines(r) == [
            "labdeck: ssh lab: cannot connect to %s: Connection refused (is sshd running there?)"
            % where], "sshd down: exit 3, one line saying what to check", r)
        s.restart()
        r = run("ssh", "lab", "--", "echo", "back", config=cfg, stdin="")
        sanitizer_clean(r)
        check(r.code == 0 and r.out == "back\n", "the next command after the restart", r)
    finally:
        if s.svc.proc is None or s.svc.proc.poll() is not None:
            s.restart()
        shutil.rmtree(work, ignore_errors=True)
