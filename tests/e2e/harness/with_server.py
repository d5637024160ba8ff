#!/usr/bin/env python3
"""Runs a command with a server started by the harness, its URL exported as FERRY_ENDPOINT.

    python3 tests/e2e/harness/with_server.py -- node --test tests/e2e/node/

The server is chosen as in ferry_server.py (FERRY_ENDPOINT, FERRY_TEST_TARGET=moto, or the Ferry
binary). Also exports AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY=test and AWS_REGION=us-east-1.
Exits with the command's exit code, or 1 if the server did not stop cleanly.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness.ferry_server import FerryServer, ServerError  # noqa: E402


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    server = FerryServer()
    try:
        server.start()
    except ServerError as e:
        print(f"with_server: {e}", file=sys.stderr)
        return 1
    rc = 1
    try:
        rc = subprocess.call(argv, env=server.env())
    finally:
        try:
            server.stop()
        except ServerError as e:
            print(f"with_server: {e}", file=sys.stderr)
            rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
