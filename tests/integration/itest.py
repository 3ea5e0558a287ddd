"""The integration test framework: run labdeck as a user would and check what it prints.

Test modules (tests/integration/test_*.py) register functions with @test (they get the shared
labsim `lab`), or @test_alone (they get nothing and start what they need themselves)."""
import json
import os
import subprocess
import time

LABDECK = None
TESTS = []
ALONE = []


def test(fn):
    TESTS.append(fn)
    return fn


def test_alone(fn):
    ALONE.append(fn)
    return fn


def test_alone_with_lab(*args, env=None):
    """A test that needs a labsim of its own, started with args (and env added to labsim's
    environment while it starts); the test gets that Lab and it is closed after."""
    from lab import Lab  # here: lab.py is the runner's, itest.py only the framework

    def wrap(fn):
        def alone():
            saved = {k: os.environ.get(k) for k in (env or {})}
            os.environ.update(env or {})
            try:
                lab = Lab(*args)
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            try:
                fn(lab)
            finally:
                lab.close()
        alone.__name__ = fn.__name__
        return test_alone(alone)
    return wrap


class Result:
    def __init__(self, proc, elapsed):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.elapsed = elapsed

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError("stdout is not JSON (%s): %r" % (e, self.out[:300]))

    def __repr__(self):
        return "exit %d, stdout %r, stderr %r" % (self.code, self.out[:400], self.err[:400])


def run(*args, config=None, env=None, timeout=60, stdin=None):
    cmd = [LABDECK]
    if config:
        cmd += ["--config", config]
    cmd += list(args)
    e = dict(os.environ)
    e.pop("KUBECONFIG", None)
    e.pop("LABDECK_CONFIG", None)
    e["LC_ALL"] = "C.UTF-8"
    if env:
        e.update(env)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout, input=stdin)
    return Result(p, time.monotonic() - t0)


def check(cond, what, result=None):
    if not cond:
        raise AssertionError(what + ("" if result is None else " -- %r" % (result,)))


def by_name(rows, key="name"):
    return {r[key]: r for r in rows}


def sanitizer_clean(r):
    check("ERROR: AddressSanitizer" not in r.err and "runtime error:" not in r.err
          and "LeakSanitizer" not in r.err, "sanitizer report", r)
