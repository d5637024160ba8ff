"""The aws CLI v2 (Query protocol) with a FIFO queue and with a dead-letter queue and its redrive.

Same conventions as test_cli.py: v2 exits 254 on a service error and prints
``An error occurred (<code>) when calling the <Operation> operation``.
"""

import json
import os
import subprocess
import time
import unittest

from cli.test_cli import AWS_V2, HAVE_V2, CliTestCase, unique
from harness import ferry_server


def _has_command(command: str) -> bool:
    if not HAVE_V2:
        return False
    p = subprocess.run([AWS_V2, "sqs", command, "help"], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, AWS_PAGER="", PAGER="cat"))
    return p.returncode == 0


HAVE_MOVE_TASKS = _has_command("start-message-move-task")


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


@unittest.skipUnless(HAVE_V2, f"aws CLI v2 not found at {AWS_V2}")
class CliFifoAndDeadLetterTest(CliTestCase):
    CLI = AWS_V2
    SERVICE_ERROR_RC = 254

    @property
    def endpoint(self) -> str:
        return ferry_server.module_server(__name__).endpoint

    def create(self, name: str, attributes: dict) -> str:
        out, _ = self.aws("create-queue", "--queue-name", name, "--attributes",
                          json.dumps(attributes))
        self.addCleanup(self._delete, out["QueueUrl"])
        return out["QueueUrl"]

    def arn(self, url: str) -> str:
        out, _ = self.aws("get-queue-attributes", "--queue-url", url, "--attribute-names",
                          "QueueArn")
        return out["Attributes"]["QueueArn"]

    def test_fifo(self):
        url = self.create(unique("fifo") + ".fifo", {"FifoQueue": "true"})
        out, _ = self.aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
        self.assertEqual(out["Attributes"]["FifoQueue"], "true")
        self.assertEqual(out["Attributes"]["ContentBasedDeduplication"], "false")

        sent = []
        for body, group in (("a1", "a"), ("b1", "b"), ("a2", "a")):
            out, _ = self.aws("send-message", "--queue-url", url, "--message-body", body,
                              "--message-group-id", group, "--message-deduplication-id", body)
            self.assertRegex(out["SequenceNumber"], r"^\d{20}$")
            sent.append(out)
        self.assertLess(int(sent[0]["SequenceNumber"]), int(sent[2]["SequenceNumber"]))
        dup, _ = self.aws("send-message", "--queue-url", url, "--message-body", "a1 again",
                          "--message-group-id", "a", "--message-deduplication-id", "a1")
        self.assertEqual(dup["MessageId"], sent[0]["MessageId"])
        self.assertEqual(dup["SequenceNumber"], sent[0]["SequenceNumber"])

        self.expect_service_error("MissingParameter", "SendMessage", "send-message",
                                  "--queue-url", url, "--message-body", "x",
                                  "--message-deduplication-id", "x")

        out, _ = self.aws("receive-message", "--queue-url", url, "--max-number-of-messages",
                          "10", "--visibility-timeout", "60", "--attribute-names", "All",
                          "--receive-request-attempt-id", "attempt-1")
        msgs = out["Messages"]
        self.assertEqual([m["Body"] for m in msgs], ["a1", "a2", "b1"])
        self.assertEqual(msgs[0]["Attributes"]["MessageGroupId"], "a")
        self.assertEqual(msgs[0]["Attributes"]["SequenceNumber"], sent[0]["SequenceNumber"])
        retry, _ = self.aws("receive-message", "--queue-url", url, "--max-number-of-messages",
                            "10", "--receive-request-attempt-id", "attempt-1")
        self.assertEqual([m["ReceiptHandle"] for m in retry["Messages"]],
                         [m["ReceiptHandle"] for m in msgs])
        for m in msgs:
            self.aws("delete-message", "--queue-url", url, "--receipt-handle", m["ReceiptHandle"])
        out, _ = self.aws("receive-message", "--queue-url", url)
        self.assertFalse((out or {}).get("Messages"))

    def test_dead_letter_queue_and_redrive(self):
        dlq = self.create(unique("dlq"), {})
        dlq_arn = self.arn(dlq)
        src = self.create(unique("src"), {"VisibilityTimeout": "0", "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})
        out, _ = self.aws("list-dead-letter-source-queues", "--queue-url", dlq)
        self.assertEqual(out["queueUrls"], [src])

        self.aws("send-message", "--queue-url", src, "--message-body", "poison")
        self.receive_n(src, 1)
        out, _ = self.aws("receive-message", "--queue-url", src)  # moves it
        self.assertFalse((out or {}).get("Messages"))
        moved = self.receive_n(dlq, 1, "--attribute-names", "All", "--visibility-timeout", "0")
        self.assertEqual(moved[0]["Attributes"]["DeadLetterQueueSourceArn"], self.arn(src))

        # Message move tasks came to the CLI in 2.13; Debian 12's is older.
        if not HAVE_MOVE_TASKS:
            return
        out, _ = self.aws("start-message-move-task", "--source-arn", dlq_arn)
        self.assertTrue(out["TaskHandle"])
        deadline = time.monotonic() + 30
        while True:
            out, _ = self.aws("list-message-move-tasks", "--source-arn", dlq_arn)
            if out["Results"][0]["Status"] == "COMPLETED" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(out["Results"][0]["Status"], "COMPLETED")
        self.assertEqual(out["Results"][0]["ApproximateNumberOfMessagesMoved"], 1)
        back = self.receive_n(src, 1)
        self.assertEqual(back[0]["Body"], "poison")

        self.expect_service_error("ResourceNotFoundException", "StartMessageMoveTask",
                                  "start-message-move-task", "--source-arn",
                                  dlq_arn + "-missing")
        self.expect_service_error("InvalidParameterValue", "StartMessageMoveTask",
                                  "start-message-move-task", "--source-arn", self.arn(src))

    def test_permissions(self):
        url = self.create(unique("perm"), {})
        acct = url.rstrip("/").split("/")[-2]
        self.aws("add-permission", "--queue-url", url, "--label", "send",
                 "--aws-account-ids", acct, "--actions", "SendMessage")
        out, _ = self.aws("get-queue-attributes", "--queue-url", url, "--attribute-names",
                          "Policy")
        policy = json.loads(out["Attributes"]["Policy"])
        self.assertEqual(policy["Statement"][0]["Sid"], "send")
        self.assertEqual(policy["Statement"][0]["Action"], "SQS:SendMessage")
        self.aws("remove-permission", "--queue-url", url, "--label", "send")
        self.expect_service_error("InvalidParameterValue", "RemovePermission",
                                  "remove-permission", "--queue-url", url, "--label", "send")
