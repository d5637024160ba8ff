"""Ferry's own surface (not AWS behaviour): --help, /health, the config file, option precedence
(flag > FERRY_* environment > file), and graceful shutdown during a long poll. Ferry only."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request
from pathlib import Path

from harness.ferry_server import DEFAULT_FERRY_BIN, FerryServer, target


def ferry_bin() -> str:
    return os.environ.get("FERRY_BIN", str(DEFAULT_FERRY_BIN))


@unittest.skipUnless(target() == "ferry", "exercises the ferry binary itself")
class ServerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="ferry-server-test-"))
        self.saved_env = dict(os.environ)

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.saved_env)

    def write_config(self, text: str) -> Path:
        path = self.tmp / "ferry.toml"
        path.write_text(text)
        return path

    def test_help_explains_every_option(self):
        out = subprocess.run([ferry_bin(), "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        for option in ("--config", "--host", "--port", "--data-dir", "--region", "--account-id",
                       "--log-level", "--durability", "--threads"):
            self.assertIn(option, out.stdout)
        self.assertIn("FERRY_PORT", out.stdout)

    def test_bad_option_fails_with_usage(self):
        out = subprocess.run([ferry_bin(), "--durability", "sometimes"], capture_output=True,
                             text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("durability", out.stdout + out.stderr)

    def test_health_reports_status_version_uptime_storage(self):
        with FerryServer() as server:
            with urllib.request.urlopen(server.endpoint + "/health", timeout=5) as r:
                self.assertEqual(r.status, 200)
                health = json.loads(r.read())
        self.assertEqual(health["status"], "ok")
        self.assertIn("version", health)
        self.assertIsInstance(health["uptime_seconds"], int)
        self.assertTrue(health["storage"].startswith("rocksdb:"), health)

    def test_config_file_declares_queues_with_attributes_and_tags(self):
        config = self.write_config(
            'account_id = "111122223333"\n'
            'region = "eu-west-1"\n'
            "[[sqs.queues]]\n"
            'name = "declared"\n'
            'attributes = { VisibilityTimeout = "45", DelaySeconds = 3 }\n'
            'tags = { team = "core" }\n'
            "[[sqs.queues]]\n"
            'name = "other-account"\n'
            'account = "444455556666"\n')
        with FerryServer(extra_args=["--config", str(config)]) as server:
            sqs = server.client("sqs")
            url = sqs.get_queue_url(QueueName="declared")["QueueUrl"]
            self.assertTrue(url.endswith("/111122223333/declared"), url)
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            self.assertEqual(attrs["VisibilityTimeout"], "45")
            self.assertEqual(attrs["DelaySeconds"], "3")
            self.assertEqual(attrs["QueueArn"], "arn:aws:sqs:eu-west-1:111122223333:declared")
            self.assertEqual(sqs.list_queue_tags(QueueUrl=url)["Tags"], {"team": "core"})
            other = sqs.get_queue_url(QueueName="other-account",
                                      QueueOwnerAWSAccountId="444455556666")["QueueUrl"]
            self.assertTrue(other.endswith("/444455556666/other-account"), other)

            # A restart with the same file keeps the queue and its messages.
            sqs.send_message(QueueUrl=url, MessageBody="kept", DelaySeconds=0)
            server.stop(cleanup=False)
            server.start()
            sqs = server.client("sqs")
            got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
            self.assertEqual(got[0]["Body"], "kept")

    def test_flag_beats_environment_beats_file(self):
        config = self.write_config('region = "eu-west-1"\naccount_id = "111122223333"\n'
                                   "[[sqs.queues]]\nname = \"q\"\n")
        os.environ["FERRY_REGION"] = "ap-south-1"
        with FerryServer(extra_args=["--config", str(config)]) as server:
            sqs = server.client("sqs")
            url = sqs.get_queue_url(QueueName="q")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            self.assertEqual(arn["Attributes"]["QueueArn"],
                             "arn:aws:sqs:ap-south-1:111122223333:q")
        with FerryServer(extra_args=["--config", str(config), "--region", "eu-central-1"]) as server:
            sqs = server.client("sqs")
            url = sqs.get_queue_url(QueueName="q")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            self.assertEqual(arn["Attributes"]["QueueArn"],
                             "arn:aws:sqs:eu-central-1:111122223333:q")

    def test_sigterm_ends_long_polls_and_exits_zero(self):
        server = FerryServer(log_level="debug").start()
        try:
            sqs = server.client("sqs")
            url = sqs.create_queue(QueueName="shutdown")["QueueUrl"]
            result: dict = {}

            def poll():
                result["answer"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)

            t = threading.Thread(target=poll)
            t.start()
            # The server logs (at debug level) when a long poll starts waiting.
            deadline = time.monotonic() + 20
            while "long poll on" not in server.log_tail(200):
                self.assertLess(time.monotonic(), deadline, "the long poll never started")
                time.sleep(0.05)
            # stop() sends SIGTERM and asserts exit code 0; the poll in flight must be answered.
            server.stop()
            t.join(timeout=30)
            self.assertFalse(t.is_alive(), "the long poll was not answered on shutdown")
            self.assertNotIn("Messages", result.get("answer", {"Messages": None}))
        finally:
            if server.proc is not None and server.proc.poll() is None:
                server.stop()


if __name__ == "__main__":
    unittest.main()
