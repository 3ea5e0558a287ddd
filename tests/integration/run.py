#!/usr/bin/env python3
"""Integration tests: the labdeck binary against labsim (and, for the modules that need them,
Redis, PostgreSQL/pgvector and sshd) over real sockets on loopback.

Runs every tests/integration/test_*.py module (or those --modules names, less those --skip
names; --part I/N takes every N-th test: scripts/test runs shares side by side). Prints one line per test and ends with
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
    ap.add_argument("--modules", help="only these modules (comma-separated, as test_x or x)")
    ap.add_argument("--skip", help="not these modules (comma-separated, as test_x or x)")
    ap.add_argument("--part", default="1/1", metavar="I/N",
                    help="only the I-th of N interleaved shares of the tests (scripts/test runs "
                         "shares side by side: the tests mostly wait on sockets)")
    args = ap.parse_args()
    part, parts = (int(x) for x in args.part.split("/"))
    itest.LABDECK = os.path.abspath(args.labdeck)

    def names(arg):
        return {("test_" + m if not m.startswith("test_") else m) for m in arg.split(",") if m} if arg else set()
    only, skip = names(args.modules), names(args.skip)
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        mod = os.path.basename(path)[:-3]
        if (only and mod not in only) or mod in skip:
            continue
        importlib.import_module(mod)
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
        every = [(fn, True) for fn in itest.TESTS] + [(fn, False) for fn in itest.ALONE]
        every = [(fn, shared) for fn, shared in every if not args.k or args.k in fn.__name__]
        mine = [x for i, x in enumerate(every) if i % parts == part - 1]
        if any(shared for _, shared in mine):
            lab = Lab()
        for fn, shared in mine:
            if shared:
                one(fn.__name__, fn, lab)
        for fn, shared in mine:
            if not shared:
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
