"""Chat sessions and the answer cache in a real Redis.

The Redis-backed behaviour is tested by the cmocka programs test_session and test_llm_cache (built
beside the labdeck binary), run here against a redis-server of our own: they skip their Redis tests
unless LABDECK_TEST_REDIS_URL is set. With LABDECK_TEST_REDIS_CONTROL=1, test_session's
redis_goes_away test prints "@@ stop redis" / "@@ start redis" and waits for a line on stdin: this
module kills the server, lets the program find out mid-session, and starts it again."""
import os
import re
import subprocess
import threading

import itest
import services
from itest import check, test_alone

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Ran:
    def __init__(self, code, out, actions):
        self.code, self.out, self.actions = code, out, actions

    def __repr__(self):
        return "exit %s, actions %s, output:\n%s" % (self.code, self.actions, self.out[-3000:])


def run_unit(name, redis, only=None, control=False, timeout=180):
    """Runs the cmocka program `name` against redis; only: a cmocka name pattern."""
    path = os.path.join(os.path.dirname(itest.LABDECK), name)
    check(os.path.exists(path), "%s is built beside labdeck (meson -Dtests=true)" % path)
    env = dict(os.environ, LABDECK_TEST_REDIS_URL=redis.url, LC_ALL="C.UTF-8",
               FIXTURES=os.path.join(ROOT, "tests", "fixtures"))
    env.pop("LABDECK_TEST_REDIS_CONTROL", None)
    if only:
        env["LABDECK_TEST_FILTER"] = only
    if control:
        env["LABDECK_TEST_REDIS_CONTROL"] = "1"
    p = subprocess.Popen([path], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(timeout, p.kill)
    watchdog.start()
    lines, actions = [], []
    try:
        for line in p.stdout:
            lines.append(line)
            if line.startswith("@@ stop redis"):
                redis.stop()
                actions.append("stopped")
                p.stdin.write("stopped\n")
                p.stdin.flush()
            elif line.startswith("@@ start redis"):
                redis.start()
                actions.append("started")
                p.stdin.write("started\n")
                p.stdin.flush()
        p.wait()
    finally:
        watchdog.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
        if redis.proc is None or redis.proc.poll() is not None:
            redis.start()  # leave it running for whoever comes next
    return Ran(p.returncode, "".join(lines), actions)


def passed(r, names):
    """Checks the program passed and that each named test ran (was not skipped)."""
    check(r.code == 0, "exit 0", r)
    check("FAILED" not in r.out, "no failed test", r)
    for n in names:
        check(re.search(r"^\[       OK \] %s$" % re.escape(n), r.out, re.M),
              "test %s ran and passed" % n, r)
    check("AddressSanitizer" not in r.out and "runtime error:" not in r.out
          and "LeakSanitizer" not in r.out, "no sanitizer report", r)


@test_alone
def sessions_in_redis():
    # load/save/list/rename/delete in Redis (one JSON value per session, names in a set, the
    # configured database), AUTH with [redis] password and in the URL, a refused SELECT,
    # a host name looked up without blocking.
    r = run_unit("test_session", services.redis(), only="redis_*")
    passed(r, ["redis_lifecycle", "redis_by_name", "redis_bad_db", "redis_auth"])
    check(re.search(r"^\[  SKIPPED \] redis_goes_away$", r.out, re.M),
          "the kill test waits for its own run", r)


@test_alone
def redis_killed_mid_session():
    # The server is killed after a save: the next save fails with "redis: connection refused at
    # 127.0.0.1:PORT; session kept in memory", the session in memory is whole, a load fails
    # rather than starting an empty session; once the server is back the next save reconnects
    # and everything typed meanwhile is stored.
    redis = services.redis()
    r = run_unit("test_session", redis, only="redis_goes_away", control=True)
    check(r.actions == ["stopped", "started"], "redis was stopped, then started again", r)
    passed(r, ["redis_goes_away"])
    # And the server the program left behind is usable by the next test.
    r = run_unit("test_session", redis, only="redis_lifecycle")
    passed(r, ["redis_lifecycle"])


@test_alone
def cache_in_redis():
    # Answers: a hit is marked cached with text, thinking and token counts; SET ... EX cache_ttl;
    # other parameters miss; cache_ttl = 0 reads and writes nothing; a broken value is a miss.
    # Embeddings: batch lookup in one MGET, vectors bit for bit, 4 bytes per float, with the TTL.
    r = run_unit("test_llm_cache", services.redis())
    passed(r, ["keys", "off", "unreachable", "redis_answers", "redis_embeddings"])
    check("SKIPPED" not in r.out, "nothing skipped", r)


@test_alone
def chat_turn_cache_in_redis():
    # The whole pipeline against real Redis: the second identical question (condensing
    # included) is answered from the cache, no model asked again.
    r = run_unit("test_chat_turn", services.redis(), only="test_cached_repeat")
    passed(r, ["test_cached_repeat"])
