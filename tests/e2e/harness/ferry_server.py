"""Starts and stops the server the end-to-end tests talk to.

Three targets, chosen from the environment:

* ``FERRY_ENDPOINT=http://host:port`` -- use a server that is already running. The harness
  neither starts nor stops it, so kill9()/restart() are unavailable (``can_control`` is False).
* ``FERRY_TEST_TARGET=moto`` -- start moto's server (``python3 -m moto.server``), an SQS emulator
  used to develop these tests before Ferry existed. Where moto deviates from AWS the tests keep
  AWS's behaviour and fail against moto; each such test says so in a ``# moto differs:`` comment.
* otherwise -- start the Ferry binary from ``FERRY_BIN`` (default
  ``<repo>/build/release/src/server/ferry``) as
  ``ferry --port PORT --data-dir DIR --log-level warn`` on a free port with a fresh data directory, wait until ``GET /health`` answers 200, and on stop
  send SIGTERM and require exit code 0. ``FerryServer(port=0, log_level="info")`` passes
  ``--port 0`` instead and reads the port Ferry bound from its "listening on" log line.

Usage::

    with FerryServer() as server:
        sqs = server.client("sqs")
        ...
        server.kill9(); server.restart()   # durability tests, Ferry only
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_FERRY_BIN = REPO_ROOT / "build" / "release" / "src" / "server" / "ferry"
DEFAULT_REGION = "us-east-1"

# How long a freshly started server may take to answer its readiness probe.
STARTUP_DEADLINE_S = float(os.environ.get("FERRY_STARTUP_DEADLINE", "60"))
# How long a server may take to exit after SIGTERM.
SHUTDOWN_DEADLINE_S = float(os.environ.get("FERRY_SHUTDOWN_DEADLINE", "30"))


class ServerError(RuntimeError):
    pass


def target() -> str:
    """'endpoint', 'moto' or 'ferry'."""
    if os.environ.get("FERRY_ENDPOINT"):
        return "endpoint"
    t = os.environ.get("FERRY_TEST_TARGET", "ferry").strip().lower()
    if t not in ("ferry", "moto"):
        raise ServerError(f"FERRY_TEST_TARGET must be 'ferry' or 'moto', not {t!r}")
    return t


def is_moto() -> bool:
    return target() == "moto" or os.environ.get("FERRY_TEST_TARGET", "").lower() == "moto"


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago: bind to port 0 and let the kernel choose."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class FerryServer:
    """One server process (or an external endpoint) for a test module or suite."""

    def __init__(self, *, log_level: str = "warn", extra_args: list[str] | None = None,
                 port: int | None = None):
        """port=0 starts Ferry with ``--port 0`` and learns the port it bound from its
        "listening on host:port" log line (printed at log level info, so log_level must be
        info or lower); None (the default) picks a free port first and passes it."""
        self.kind = target()
        self.host = os.environ.get("FERRY_HOST", "127.0.0.1")
        self.log_level = log_level
        self.extra_args = list(extra_args or [])
        self.port: int | None = None
        self._port_from_log = port == 0
        if self._port_from_log and (self.kind != "ferry" or
                                    log_level not in ("trace", "debug", "info")):
            raise ServerError("port=0 needs a Ferry process and log_level 'info' or lower")
        if port:
            self.port = port
        self.data_dir: Path | None = None
        self._owns_data_dir = False
        self._work_dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._log_path: Path | None = None
        self._log_start = 0  # where the current run's part of the log begins
        self._log_file = None
        self._endpoint = os.environ.get("FERRY_ENDPOINT", "").rstrip("/") or None

    # ----------------------------------------------------------------------------- properties
    @property
    def endpoint(self) -> str:
        if self._endpoint:
            return self._endpoint
        if self.port is None:
            raise ServerError("server not started")
        return f"http://{self.host}:{self.port}"

    @property
    def can_control(self) -> bool:
        """True when this harness owns the process (it can kill and restart it)."""
        return self.kind != "endpoint"

    @property
    def is_moto(self) -> bool:
        return self.kind == "moto" or is_moto()

    # ----------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> "FerryServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "FerryServer":
        if self.kind == "endpoint":
            self._wait_ready(deadline=time.monotonic() + STARTUP_DEADLINE_S)
            return self
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix=f"ferry-e2e-{self.kind}-"))
        if self.data_dir is None:
            self.data_dir = self._work_dir / "data"
            self.data_dir.mkdir()
            self._owns_data_dir = True
        if self.port is None and not self._port_from_log:
            self.port = free_port(self.host)
        self._spawn()
        return self

    def _command(self) -> list[str]:
        if self.kind == "moto":
            return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]
        binary = Path(os.environ.get("FERRY_BIN", str(DEFAULT_FERRY_BIN)))
        if not binary.exists():
            raise ServerError(
                f"Ferry binary not found at {binary}; build it (scripts/build.sh release ferry), "
                "set FERRY_BIN, or run with FERRY_TEST_TARGET=moto / FERRY_ENDPOINT=..."
            )
        port = 0 if self.port is None else self.port
        return [str(binary), "--port", str(port), "--data-dir", str(self.data_dir),
                "--log-level", self.log_level, *self.extra_args]

    def _spawn(self) -> None:
        cmd = self._command()
        self._log_path = self._work_dir / "server.log"
        self._log_file = open(self._log_path, "ab")
        self._log_start = self._log_file.tell()
        self._log_file.write(f"\n=== starting: {' '.join(cmd)}\n".encode())
        self._log_file.flush()
        env = dict(os.environ)
        if self.kind == "moto":
            env.setdefault("MOTO_PORT", str(self.port))
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            self._wait_ready(deadline=time.monotonic() + STARTUP_DEADLINE_S)
        except Exception:
            self._terminate_quietly()
            raise

    def _probe(self) -> bool:
        """One readiness probe. Ferry: GET /health answers 200 with JSON. moto: any HTTP answer."""
        path = "/moto-api/" if self.kind == "moto" else "/health"
        try:
            with urllib.request.urlopen(self.endpoint + path, timeout=2) as r:
                body = r.read()
                if self.kind in ("ferry",) and r.status == 200:
                    json.loads(body or b"{}")  # the health answer is JSON
                return r.status == 200
        except urllib.error.HTTPError as e:
            # An external endpoint may not have /health (e.g. a foreign emulator): it answers.
            return self.kind == "endpoint" and e.code < 500
        except (OSError, ValueError):
            return False

    def _port_in_log(self) -> int | None:
        """The port of this run's "listening on host:port" line, once it is in the log."""
        with open(self._log_path, "rb") as f:
            f.seek(self._log_start)
            text = f.read().decode(errors="replace")
        m = re.search(r" listening on \S+:(\d+) \(", text)
        return int(m.group(1)) if m else None

    def _wait_ready(self, deadline: float) -> None:
        delay = 0.02
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerError(f"{self.kind} exited with code {self.proc.returncode} before "
                                  f"it was ready\n{self.log_tail()}")
            if self._port_from_log and self.port is None:
                self.port = self._port_in_log()
            port_known = self._endpoint is not None or self.port is not None
            if port_known and self._probe():
                return
            if time.monotonic() > deadline:
                where = self.endpoint if port_known else "(port not logged yet)"
                raise ServerError(f"{self.kind} at {where} not ready after "
                                  f"{STARTUP_DEADLINE_S:.0f}s\n{self.log_tail()}")
            time.sleep(delay)  # readiness polling with back-off, bounded by the deadline
            delay = min(delay * 2, 0.25)

    def stop(self, *, cleanup: bool = True) -> None:
        """SIGTERM, wait, and (for Ferry) require a clean exit with code 0.

        With cleanup=False the data directory is kept (restart() uses it)."""
        if self.proc is None:
            if cleanup:
                self._cleanup_dirs()
            return
        proc, self.proc = self.proc, None
        rc = None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=SHUTDOWN_DEADLINE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self._close_log()
                raise ServerError(f"{self.kind} did not exit within {SHUTDOWN_DEADLINE_S:.0f}s "
                                  f"of SIGTERM\n{self.log_tail()}")
        else:
            rc = proc.returncode
        self._close_log()
        if self.kind == "ferry" and rc != 0:
            raise ServerError(f"ferry exited with code {rc} after SIGTERM (want 0)\n"
                              f"{self.log_tail()}")
        if cleanup:
            self._cleanup_dirs()

    def kill9(self) -> None:
        """SIGKILL the server (no chance to flush anything) and reap it."""
        self._require_control("kill9")
        if self.proc is None:
            raise ServerError("server not running")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self._close_log()

    def restart(self) -> None:
        """Start again on the same port with the same data directory."""
        self._require_control("restart")
        if self.proc is not None:
            self.stop(cleanup=False)
        self._spawn_with_port_retry()

    def _spawn_with_port_retry(self) -> None:
        # The old socket may linger briefly; a server that fails to bind exits, so retry within
        # the startup deadline rather than sleeping a fixed time.
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while True:
            try:
                self._spawn()
                return
            except ServerError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _require_control(self, what: str) -> None:
        if not self.can_control:
            raise ServerError(f"{what}() needs a server this harness started "
                              "(unset FERRY_ENDPOINT)")

    def _terminate_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _cleanup_dirs(self) -> None:
        if self._work_dir is not None and self._owns_data_dir and \
                not os.environ.get("FERRY_KEEP_DATA"):
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
            self.data_dir = None

    def log_tail(self, lines: int = 40) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "(no server log)"
        text = self._log_path.read_text(errors="replace").splitlines()
        return "--- server log (tail) ---\n" + "\n".join(text[-lines:])

    # ----------------------------------------------------------------------------- clients
    def client(self, service: str = "sqs", *, access_key: str = "test",
               secret_key: str = "test", region: str = DEFAULT_REGION, **config_kwargs):
        import boto3
        from botocore.config import Config

        settings = {"retries": {"max_attempts": 1, "mode": "standard"},
                    "connect_timeout": 5, "read_timeout": 60}
        settings.update(config_kwargs)
        cfg = Config(**settings)
        return boto3.session.Session().client(
            service, endpoint_url=self.endpoint, region_name=region,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, config=cfg)

    def env(self) -> dict:
        """Environment for child processes (CLI, Node) that talk to this server."""
        e = dict(os.environ)
        e.update({"FERRY_ENDPOINT": self.endpoint, "AWS_ACCESS_KEY_ID": "test",
                  "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": DEFAULT_REGION,
                  "AWS_REGION": DEFAULT_REGION})
        return e


_module_servers: dict[str, FerryServer] = {}


def start_module_server(module_name: str, extra_args: list[str] | None = None) -> FerryServer:
    """For setUpModule(): one server per test module (or the external endpoint, which ignores
    extra_args)."""
    server = FerryServer(extra_args=extra_args).start()
    _module_servers[module_name] = server
    return server


def stop_module_server(module_name: str) -> None:
    """For tearDownModule(): stops the module's server; raises if Ferry did not exit cleanly."""
    server = _module_servers.pop(module_name, None)
    if server is not None:
        server.stop()


def module_server(module_name: str) -> FerryServer:
    return _module_servers[module_name]
