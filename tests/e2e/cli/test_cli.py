"""The aws CLI against an SQS endpoint: v2 from Debian (/usr/bin/aws, Query protocol) for a full
lifecycle and error cases, and v1 on the machine's Python (JSON protocol) for a short lifecycle.

Exit codes (AWS CLI user guide, "Return codes"): v2 answers 254 when the service returned an
error; v1 answers 255 for any failed command. The error code appears in stderr as
``An error occurred (<code>) when calling the <Operation> operation: <message>``.
"""

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import unittest
import uuid

from harness import ferry_server

AWS_V2 = os.environ.get("FERRY_AWS_V2", "/usr/bin/aws")
# v1 is installed with the machine's Python (pip's awscli); prefer it over pyenv's slower shim.
V1_CANDIDATES = [os.environ.get("FERRY_AWS_V1", ""),
                 os.path.join(os.path.dirname(sys.executable), "aws"),
                 "/root/.pyenv/shims/aws", shutil.which("aws") or ""]


def _version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
        return (out.stdout or out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _find_v1() -> str | None:
    for c in V1_CANDIDATES:
        if c and os.path.exists(c) and _version(c).startswith("aws-cli/1."):
            return c
    return None


HAVE_V2 = os.path.exists(AWS_V2) and _version(AWS_V2).startswith("aws-cli/2.")
AWS_V1 = _find_v1()


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


def unique(tag: str) -> str:
    return f"e2e-cli-{tag}-{uuid.uuid4().hex[:10]}"


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest()


def md5_of_attributes(attrs: dict) -> str:
    """The SQS Developer Guide's MD5OfMessageAttributes (binary values here are base64 text,
    as the CLI shows them)."""
    buf = bytearray()

    def put(b: bytes):
        buf.extend(struct.pack(">I", len(b)) + b)

    for name in sorted(attrs, key=lambda n: n.encode()):
        a = attrs[name]
        put(name.encode())
        put(a["DataType"].encode())
        if "BinaryValue" in a:
            buf.append(2)
            put(base64.b64decode(a["BinaryValue"]))
        else:
            buf.append(1)
            put(a["StringValue"].encode())
    return hashlib.md5(bytes(buf)).hexdigest()


class CliTestCase(unittest.TestCase):
    CLI: str = ""
    SERVICE_ERROR_RC = 254

    @property
    def endpoint(self) -> str:
        return ferry_server.module_server(__name__).endpoint

    @staticmethod
    def cli_env() -> dict:
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="", AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        env.pop("AWS_PROFILE", None)
        return env

    def run_cli(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [self.CLI, "--endpoint-url", self.endpoint, "--output", "json", "sqs", *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.cli_env(),
                              timeout=120)

    def _delete(self, url: str) -> None:
        self.run_cli("delete-queue", "--queue-url", url)  # cleanup: the result does not matter

    def aws(self, *args: str, expect_rc: int = 0):
        """Runs `aws sqs ...`; returns (parsed JSON stdout or None, stderr)."""
        p = self.run_cli(*args)
        self.assertEqual(p.returncode, expect_rc,
                         f"{' '.join(args[:1])} exited {p.returncode}\nstdout: {p.stdout}\n"
                         f"stderr: {p.stderr}")
        out = json.loads(p.stdout) if p.stdout.strip() else None
        return out, p.stderr

    def expect_service_error(self, code: str, operation: str, *args: str) -> str:
        _, err = self.aws(*args, expect_rc=self.SERVICE_ERROR_RC)
        self.assertIn(f"An error occurred ({code}) when calling the {operation} operation", err)
        return err

    def receive_n(self, url: str, n: int, *extra: str) -> list:
        got, deadline = [], time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            out, _ = self.aws("receive-message", "--queue-url", url, "--wait-time-seconds", "2",
                              "--max-number-of-messages", str(min(10, n - len(got))), *extra)
            got.extend((out or {}).get("Messages", []))
        self.assertEqual(len(got), n, "messages received")
        return got


@unittest.skipUnless(HAVE_V2, f"aws CLI v2 not found at {AWS_V2}")
class AwsCliV2Test(CliTestCase):
    CLI = AWS_V2
    SERVICE_ERROR_RC = 254

    def test_full_lifecycle(self):
        name = unique("life")
        out, _ = self.aws("create-queue", "--queue-name", name, "--attributes",
                          "VisibilityTimeout=45,DelaySeconds=0,MaximumMessageSize=2048",
                          "--tags", "team=ferry,env=e2e")
        url = out["QueueUrl"]
        self.addCleanup(self._delete, url)
        self.assertTrue(url.endswith("/" + name))

        out, _ = self.aws("get-queue-url", "--queue-name", name)
        self.assertEqual(out["QueueUrl"], url)
        out, _ = self.aws("list-queues", "--queue-name-prefix", name)
        self.assertEqual(out["QueueUrls"], [url])

        out, _ = self.aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
        self.assertEqual(out["Attributes"]["VisibilityTimeout"], "45")
        self.assertEqual(out["Attributes"]["MaximumMessageSize"], "2048")
        self.assertTrue(out["Attributes"]["QueueArn"].endswith(":" + name))
        self.aws("set-queue-attributes", "--queue-url", url, "--attributes",
                 "VisibilityTimeout=60,ReceiveMessageWaitTimeSeconds=1")
        out, _ = self.aws("get-queue-attributes", "--queue-url", url, "--attribute-names",
                          "VisibilityTimeout", "ReceiveMessageWaitTimeSeconds")
        self.assertEqual(out["Attributes"], {"VisibilityTimeout": "60",
                                             "ReceiveMessageWaitTimeSeconds": "1"})

        attrs = {"kind": {"DataType": "String", "StringValue": "order ✓"},
                 "amount": {"DataType": "Number", "StringValue": "12.50"},
                 "blob": {"DataType": "Binary",
                          "BinaryValue": base64.b64encode(b"\x00\x01binary\xff").decode()}}
        body = "hello from the CLI <&> ✓"
        out, _ = self.aws("send-message", "--queue-url", url, "--message-body", body,
                          "--message-attributes", json.dumps(attrs))
        self.assertEqual(out["MD5OfMessageBody"], md5_of_body(body))
        self.assertEqual(out["MD5OfMessageAttributes"], md5_of_attributes(attrs))
        single_id = out["MessageId"]

        entries = [{"Id": f"e{i}", "MessageBody": f"batch-{i}"} for i in range(3)]
        entries[0]["MessageAttributes"] = {"n": {"DataType": "Number", "StringValue": "1"}}
        out, _ = self.aws("send-message-batch", "--queue-url", url, "--entries",
                          json.dumps(entries))
        self.assertEqual(sorted(r["Id"] for r in out["Successful"]), ["e0", "e1", "e2"])
        self.assertFalse(out.get("Failed"))

        msgs = self.receive_n(url, 4, "--attribute-names", "All",
                              "--message-attribute-names", "All")
        by_body = {m["Body"]: m for m in msgs}
        self.assertEqual(set(by_body), {body, "batch-0", "batch-1", "batch-2"})
        single = by_body[body]
        self.assertEqual(single["MessageId"], single_id)
        self.assertEqual(single["MessageAttributes"], attrs)
        self.assertEqual(single["MD5OfMessageAttributes"], md5_of_attributes(attrs))
        self.assertEqual(single["Attributes"]["ApproximateReceiveCount"], "1")
        self.assertIn("SentTimestamp", single["Attributes"])

        # Make one visible again and receive it a second time.
        self.aws("change-message-visibility", "--queue-url", url, "--receipt-handle",
                 single["ReceiptHandle"], "--visibility-timeout", "0")
        again = self.receive_n(url, 1, "--attribute-names", "ApproximateReceiveCount")[0]
        self.assertEqual(again["MessageId"], single_id)
        self.assertEqual(again["Attributes"]["ApproximateReceiveCount"], "2")

        self.aws("delete-message", "--queue-url", url, "--receipt-handle",
                 again["ReceiptHandle"])
        rest = [by_body[f"batch-{i}"] for i in range(3)]
        out, _ = self.aws("change-message-visibility-batch", "--queue-url", url, "--entries",
                          json.dumps([{"Id": f"v{i}", "ReceiptHandle": m["ReceiptHandle"],
                                       "VisibilityTimeout": 120} for i, m in enumerate(rest)]))
        self.assertEqual(len(out["Successful"]), 3)
        out, _ = self.aws("delete-message-batch", "--queue-url", url, "--entries",
                          json.dumps([{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]}
                                      for i, m in enumerate(rest)]))
        self.assertEqual(sorted(r["Id"] for r in out["Successful"]), ["d0", "d1", "d2"])
        out, _ = self.aws("receive-message", "--queue-url", url, "--wait-time-seconds", "1")
        self.assertFalse((out or {}).get("Messages"))

        self.aws("tag-queue", "--queue-url", url, "--tags", "extra=1")
        self.aws("untag-queue", "--queue-url", url, "--tag-keys", "env")
        out, _ = self.aws("list-queue-tags", "--queue-url", url)
        self.assertEqual(out["Tags"], {"team": "ferry", "extra": "1"})

        for i in range(2):
            self.aws("send-message", "--queue-url", url, "--message-body", f"purge-{i}")
        self.aws("purge-queue", "--queue-url", url)
        out, _ = self.aws("receive-message", "--queue-url", url, "--wait-time-seconds", "1")
        self.assertFalse((out or {}).get("Messages"))

        self.aws("delete-queue", "--queue-url", url)
        deadline = time.monotonic() + 65  # AWS: deletion takes up to 60 seconds
        while True:
            rc = self.run_cli("get-queue-url", "--queue-name", name).returncode
            if rc == self.SERVICE_ERROR_RC or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(rc, self.SERVICE_ERROR_RC, "queue still there after delete-queue")

    def test_nonexistent_queue(self):
        err = self.expect_service_error("AWS.SimpleQueueService.NonExistentQueue", "GetQueueUrl",
                                        "get-queue-url", "--queue-name", unique("missing"))
        # The Query protocol's message (recorded from AWS).
        self.assertIn("The specified queue does not exist for this wsdl version.", err)
        missing_url = f"{self.endpoint}/000000000000/{unique('missing')}"
        self.expect_service_error("AWS.SimpleQueueService.NonExistentQueue", "SendMessage",
                                  "send-message", "--queue-url", missing_url,
                                  "--message-body", "x")

    def test_invalid_attribute_value(self):
        # moto differs: it does not check the VisibilityTimeout range.
        out, _ = self.aws("create-queue", "--queue-name", unique("badattr"))
        url = out["QueueUrl"]
        self.addCleanup(self._delete, url)
        err = self.expect_service_error("InvalidAttributeValue", "SetQueueAttributes",
                                        "set-queue-attributes", "--queue-url", url,
                                        "--attributes", "VisibilityTimeout=99999")
        self.assertIn("Invalid value for the parameter VisibilityTimeout.", err)
        self.expect_service_error("InvalidAttributeName", "GetQueueAttributes",
                                  "get-queue-attributes", "--queue-url", url,
                                  "--attribute-names", "Foobar")

    def test_other_errors(self):
        # moto differs: it accepts the invalid character in a message body.
        name = unique("errs")
        out, _ = self.aws("create-queue", "--queue-name", name, "--attributes", "DelaySeconds=1")
        url = out["QueueUrl"]
        self.addCleanup(self._delete, url)
        self.expect_service_error("QueueAlreadyExists", "CreateQueue", "create-queue",
                                  "--queue-name", name, "--attributes", "DelaySeconds=2")
        self.expect_service_error("InvalidParameterValue", "ReceiveMessage", "receive-message",
                                  "--queue-url", url, "--max-number-of-messages", "11")
        self.expect_service_error("ReceiptHandleIsInvalid", "DeleteMessage", "delete-message",
                                  "--queue-url", url, "--receipt-handle", "garbage")
        self.expect_service_error(
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "SendMessageBatch",
            "send-message-batch", "--queue-url", url, "--entries",
            json.dumps([{"Id": str(i), "MessageBody": "x"} for i in range(11)]))
        self.expect_service_error("InvalidMessageContents", "SendMessage", "send-message",
                                  "--queue-url", url, "--message-body", "bad \x01 char")
        self.aws("purge-queue", "--queue-url", url)
        self.expect_service_error("AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueue",
                                  "purge-queue", "--queue-url", url)


@unittest.skipUnless(AWS_V1, "aws CLI v1 not found")
class AwsCliV1Test(CliTestCase):
    CLI = AWS_V1 or ""
    SERVICE_ERROR_RC = 255

    def test_short_lifecycle(self):
        name = unique("v1")
        out, _ = self.aws("create-queue", "--queue-name", name, "--attributes",
                          "VisibilityTimeout=30", "--tags", "cli=v1")
        url = out["QueueUrl"]
        self.assertTrue(url.endswith("/" + name))
        out, _ = self.aws("list-queue-tags", "--queue-url", url)
        self.assertEqual(out["Tags"], {"cli": "v1"})
        attrs = {"k": {"DataType": "String", "StringValue": "v"}}
        out, _ = self.aws("send-message", "--queue-url", url, "--message-body", "from v1",
                          "--message-attributes", json.dumps(attrs))
        self.assertEqual(out["MD5OfMessageBody"], md5_of_body("from v1"))
        self.assertEqual(out["MD5OfMessageAttributes"], md5_of_attributes(attrs))
        msg = self.receive_n(url, 1, "--message-attribute-names", "All")[0]
        self.assertEqual(msg["Body"], "from v1")
        self.assertEqual(msg["MessageAttributes"], attrs)
        self.aws("delete-message", "--queue-url", url, "--receipt-handle", msg["ReceiptHandle"])
        out, _ = self.aws("get-queue-attributes", "--queue-url", url, "--attribute-names",
                          "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        self.assertEqual(out["Attributes"], {"ApproximateNumberOfMessages": "0",
                                             "ApproximateNumberOfMessagesNotVisible": "0"})
        self.aws("delete-queue", "--queue-url", url)

    def test_nonexistent_queue(self):
        err = self.expect_service_error("AWS.SimpleQueueService.NonExistentQueue", "GetQueueUrl",
                                        "get-queue-url", "--queue-name", unique("missing"))
        self.assertIn("The specified queue does not exist.", err)
