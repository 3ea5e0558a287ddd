#!/usr/bin/env python3
"""Integration tests: the labdeck binary against labsim (and, for the modules that need them,
Redis, PostgreSQL/pgvector and sshd) over real sockets on loopback.

Runs every tests/integration/test_*.py module. Prints one line per test and ends with
"N passed, N failed".
"""
import argparse
import glob
import importlib
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import itest  # noqa: E402
from lab import Lab  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--labdeck", required=True)
    ap.add_argument("-k", help="only tests whose name contains this")
    args = ap.parse_args()
    itest.LABDECK = os.path.abspath(args.labdeck)
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        importlib.import_module(os.path.basename(path)[:-3])
    passed = failed = 0

    def one(name, fn, *a):
        nonlocal passed, failed
        t0 = time.monotonic()
        try:
            fn(*a)
            passed += 1
            print("ok %s (%.1f s)" % (name, time.monotonic() - t0), flush=True)
        except Exception as e:  # a failed check or a crash of the test itself
            failed += 1
            detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
            print("FAIL %s: %s" % (name, detail), flush=True)

    lab = None
    try:
        todo = [fn for fn in itest.TESTS if not args.k or args.k in fn.__name__]
        if todo:
            lab = Lab()
            for fn in todo:
                one(fn.__name__, fn, lab)
        for fn in itest.ALONE:
            if not args.k or args.k in fn.__name__:
                one(fn.__name__, fn)
    except Exception:
        failed += 1
        print("FAIL setup: %s" % traceback.format_exc(), flush=True)
    finally:
        if lab:
            lab.close()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
