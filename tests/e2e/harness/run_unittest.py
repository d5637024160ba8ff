#!/usr/bin/env python3
"""Runs one unittest suite of tests/e2e and prints a machine-readable summary.

    python3 tests/e2e/harness/run_unittest.py python [-k PATTERN] [--summary-file F]

discovers tests/e2e/<suite>/test_*.py with tests/e2e as the top-level directory (so the suites
can import ``harness``), runs them verbosely, and ends with the line
``<suite>: N passed, N failed, N skipped``. Exit code 0 only if nothing failed.
"""
import argparse
import os
import sys
import unittest
from unittest.suite import _ErrorHolder

E2E = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("suite", help="folder under tests/e2e, e.g. python or cli")
    ap.add_argument("-k", dest="patterns", action="append", default=None,
                    help="only run tests whose name contains this (unittest -k)")
    ap.add_argument("--summary-file", help="also write 'passed failed skipped' here")
    args = ap.parse_args()

    sys.path.insert(0, E2E)
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in args.patterns]
    suite = loader.discover(os.path.join(E2E, args.suite), pattern="test_*.py", top_level_dir=E2E)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)

    # Count tests, not subtests: a test with three failing subtests is one failed test. An error
    # in setUpModule/tearDownModule (reported against a holder, not a test) counts as one failure.
    def test_id(t):
        return getattr(t, "test_case", t).id()

    failed_tests, holder_failures = set(), 0
    for t, _ in result.failures + result.errors:
        if isinstance(t, _ErrorHolder):
            holder_failures += 1
        else:
            failed_tests.add(test_id(t))
    failed_tests |= {test_id(t) for t in result.unexpectedSuccesses}
    skipped = len({test_id(t) for t, _ in result.skipped} - failed_tests)
    failed = len(failed_tests) + holder_failures
    passed = max(result.testsRun - len(failed_tests) - skipped - len(result.expectedFailures), 0)
    print(f"{args.suite}: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    if args.summary_file:
        with open(args.summary_file, "w") as f:
            f.write(f"{passed} {failed} {skipped}\n")
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
