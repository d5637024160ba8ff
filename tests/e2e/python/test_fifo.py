"""FIFO queues with boto3: creation and attributes, send validation, deduplication, sequence
numbers, message groups, ReceiveRequestAttemptId, and a kill -9 test of the FIFO state.

Expectations come from the SQS API Reference and Developer Guide ("FIFO queue logic",
"Exactly-once processing", "Using the receive request attempt ID") and from AWS's own error
answers.
"""

import hashlib
import threading
import time
import unittest

from botocore.exceptions import (ClientError, ConnectionClosedError, EndpointConnectionError,
                                 ReadTimeoutError)

from harness import ferry_server
from python.sqs_support import SqsTestCase, unique_name


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


def fifo_name(tag: str = "f") -> str:
    return unique_name(tag) + ".fifo"


def as_number(sequence_number: str) -> int:
    return int(sequence_number)


class FifoTestCase(SqsTestCase):
    def create_fifo(self, tag: str = "f", **attributes) -> str:
        attrs = {"FifoQueue": "true"}
        attrs.update({k: str(v) for k, v in attributes.items()})
        return self.create_queue(name=fifo_name(tag), attributes=attrs)

    def send(self, url: str, body: str, group: str, dedup: str | None = None, **kw) -> dict:
        kwargs = {"QueueUrl": url, "MessageBody": body, "MessageGroupId": group}
        if dedup is not None:
            kwargs["MessageDeduplicationId"] = dedup
        kwargs.update(kw)
        return self.sqs.send_message(**kwargs)

    def receive(self, url: str, n: int = 10, **kw) -> list:
        kw.setdefault("MessageSystemAttributeNames", ["All"])
        return self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, **kw).get(
            "Messages", [])


class CreateFifoQueueTest(FifoTestCase):
    def test_attributes_of_a_new_fifo_queue(self):
        url = self.create_fifo()
        attrs = self.attributes(url)
        self.assertEqual(attrs["FifoQueue"], "true")
        self.assertEqual(attrs["ContentBasedDeduplication"], "false")
        self.assertEqual(attrs["DeduplicationScope"], "queue")
        self.assertEqual(attrs["FifoThroughputLimit"], "perQueue")
        self.assertTrue(attrs["QueueArn"].endswith(".fifo"))

    def test_high_throughput_attributes(self):
        url = self.create_fifo(DeduplicationScope="messageGroup",
                               FifoThroughputLimit="perMessageGroupId",
                               ContentBasedDeduplication="true")
        attrs = self.attributes(url, "DeduplicationScope", "FifoThroughputLimit",
                                "ContentBasedDeduplication")
        self.assertEqual(attrs, {"DeduplicationScope": "messageGroup",
                                 "FifoThroughputLimit": "perMessageGroupId",
                                 "ContentBasedDeduplication": "true"})
        self.expect_error(lambda: self.sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"DeduplicationScope": "bogus"}),
            "InvalidAttributeValue", message="Invalid value for the parameter DeduplicationScope.")

    def test_name_rules(self):
        fifo_message = ("The name of a FIFO queue can only include alphanumeric characters, "
                        "hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in "
                        "length.")
        self.expect_error(lambda: self.sqs.create_queue(QueueName=unique_name("nofifo"),
                                                        Attributes={"FifoQueue": "true"}),
                          "InvalidParameterValue", message=fifo_message)
        self.expect_error(lambda: self.sqs.create_queue(QueueName="x" * 76 + ".fifo",
                                                        Attributes={"FifoQueue": "true"}),
                          "InvalidParameterValue", message=fifo_message)
        url = self.create_queue(name="y" * 75 + ".fifo", attributes={"FifoQueue": "true"})
        self.assertTrue(url.endswith(".fifo"))

    def test_fifo_attributes_on_a_standard_queue(self):
        url = self.create_queue("std")
        for name, value in (("ContentBasedDeduplication", "true"),
                            ("DeduplicationScope", "queue")):
            with self.subTest(name=name):
                self.expect_error(lambda: self.sqs.set_queue_attributes(
                    QueueUrl=url, Attributes={name: value}),
                    "InvalidAttributeName", message=f"Unknown Attribute {name}.")


class SendFifoTest(FifoTestCase):
    def test_group_id_is_required(self):
        url = self.create_fifo()
        self.expect_error(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x",
                                                        MessageDeduplicationId="d"),
                          "MissingParameter",
                          message="The request must contain the parameter MessageGroupId.")

    def test_dedup_id_or_content_based_deduplication_is_required(self):
        url = self.create_fifo()
        self.expect_error(lambda: self.send(url, "x", "g"), "InvalidParameterValue",
                          message="The queue should either have ContentBasedDeduplication "
                                  "enabled or MessageDeduplicationId provided explicitly")

    def test_per_message_delay_is_rejected(self):
        url = self.create_fifo(DelaySeconds=0)
        self.expect_error(lambda: self.send(url, "x", "g", "d", DelaySeconds=5),
                          "InvalidParameterValue",
                          message="Value 5 for parameter DelaySeconds is invalid. Reason: The "
                                  "request include parameter that is not valid for this queue "
                                  "type.")
        self.send(url, "x", "g", "d", DelaySeconds=0)  # zero is accepted

    def test_invalid_ids(self):
        url = self.create_fifo()
        self.expect_error(lambda: self.send(url, "x", "g", "d" * 129), "InvalidParameterValue",
                          message_contains="MessageDeduplicationId")
        self.expect_error(lambda: self.send(url, "x", "has space", "d"), "InvalidParameterValue",
                          message_contains="MessageGroupId")

    def test_sequence_numbers_and_duplicates(self):
        url = self.create_fifo()
        first = self.send(url, "one", "g", "d1")
        second = self.send(url, "two", "g", "d2")
        for r in (first, second):
            self.assertRegex(r["SequenceNumber"], r"^\d{20}$")
        self.assertGreater(as_number(second["SequenceNumber"]), as_number(first["SequenceNumber"]))
        # A duplicate succeeds and answers with the original message.
        dup = self.send(url, "one, again", "g", "d1")
        self.assertEqual(dup["MessageId"], first["MessageId"])
        self.assertEqual(dup["SequenceNumber"], first["SequenceNumber"])
        got = self.receive(url)
        self.assertEqual([m["Body"] for m in got], ["one", "two"])
        self.assertEqual(got[0]["Attributes"]["SequenceNumber"], first["SequenceNumber"])
        self.assertEqual(got[0]["Attributes"]["MessageDeduplicationId"], "d1")
        self.assertEqual(got[0]["Attributes"]["MessageGroupId"], "g")
        # The window holds after the message is deleted.
        for m in got:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual(self.send(url, "one", "g", "d1")["MessageId"], first["MessageId"])
        self.assert_empty(url)

    def test_content_based_deduplication(self):
        url = self.create_fifo(ContentBasedDeduplication="true")
        a = self.send(url, "same body", "g1")
        b = self.send(url, "same body", "g2")
        c = self.send(url, "other body", "g1")
        self.assertEqual(a["MessageId"], b["MessageId"])
        self.assertNotEqual(a["MessageId"], c["MessageId"])
        got = self.receive(url)
        self.assertEqual(got[0]["Attributes"]["MessageDeduplicationId"],
                         hashlib.sha256(b"same body").hexdigest())

    def test_deduplication_scope_message_group(self):
        url = self.create_fifo(DeduplicationScope="messageGroup")
        a = self.send(url, "a", "g1", "d")
        b = self.send(url, "b", "g2", "d")
        c = self.send(url, "c", "g1", "d")
        self.assertNotEqual(a["MessageId"], b["MessageId"])
        self.assertEqual(a["MessageId"], c["MessageId"])

    def test_batch(self):
        url = self.create_fifo()
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": "a", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
            {"Id": "b", "MessageBody": "b", "MessageGroupId": "g", "MessageDeduplicationId": "2"},
            {"Id": "c", "MessageBody": "c", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
            {"Id": "d", "MessageBody": "d", "MessageDeduplicationId": "3"},
        ])
        ok = {e["Id"]: e for e in resp["Successful"]}
        self.assertEqual(sorted(ok), ["a", "b", "c"])
        self.assertEqual(ok["c"]["MessageId"], ok["a"]["MessageId"])
        self.assertGreater(as_number(ok["b"]["SequenceNumber"]), as_number(ok["a"]["SequenceNumber"]))
        self.assertEqual([(f["Id"], f["Code"]) for f in resp["Failed"]], [("d", "MissingParameter")])
        self.assertEqual([m["Body"] for m in self.receive(url)], ["a", "b"])


class ReceiveFifoTest(FifoTestCase):
    def test_order_and_group_locks(self):
        url = self.create_fifo()
        for body in ("a1", "b1", "a2", "a3", "b2"):
            self.send(url, body, body[0], body)
        # As many messages of one group as possible, then the next group.
        first = self.receive(url, 2, VisibilityTimeout=60)
        self.assertEqual([m["Body"] for m in first], ["a1", "a2"])
        second = self.receive(url, 10, VisibilityTimeout=60)
        self.assertEqual([m["Body"] for m in second], ["b1", "b2"])
        self.assertEqual(self.receive(url), [])  # a3 waits while a1 and a2 are in flight
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
        self.assertEqual(self.receive(url), [])
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"])
        self.assertEqual([m["Body"] for m in self.receive(url)], ["a3"])

    def test_long_poll_wakes_when_the_group_unlocks(self):
        url = self.create_fifo()
        self.send(url, "a1", "a", "1")
        self.send(url, "a2", "a", "2")
        held = self.receive(url, 1, VisibilityTimeout=60)
        bg = self.receive_in_background(url, WaitTimeSeconds=10)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=held[0]["ReceiptHandle"])
        resp, seconds = bg.join(30)
        self.assertEqual([m["Body"] for m in resp["Messages"]], ["a2"])
        self.assertLess(seconds, 9)

    def test_receive_request_attempt_id(self):
        url = self.create_fifo()
        for body in ("a1", "a2"):
            self.send(url, body, "a", body)
        first = self.receive(url, 10, VisibilityTimeout=60, ReceiveRequestAttemptId="try-1")
        retry = self.receive(url, 10, VisibilityTimeout=60, ReceiveRequestAttemptId="try-1")
        self.assertEqual([(m["MessageId"], m["ReceiptHandle"]) for m in retry],
                         [(m["MessageId"], m["ReceiptHandle"]) for m in first])
        self.assertEqual(self.receive(url, 10, ReceiveRequestAttemptId="try-2"), [])
        self.expect_error(lambda: self.receive(url, 1, ReceiveRequestAttemptId="bad id"),
                          "InvalidParameterValue", message_contains="ReceiveRequestAttemptId")

    def test_delete_with_an_expired_receipt_handle(self):
        url = self.create_fifo()
        self.send(url, "a1", "a", "1")
        first = self.receive(url, 1, VisibilityTimeout=1)

        def redelivered():
            return self.receive(url, 1, VisibilityTimeout=60)

        again = self.wait_until(redelivered, timeout=10, what="the message to come back")
        self.assertEqual(again[0]["Attributes"]["ApproximateReceiveCount"], "2")
        self.expect_error(lambda: self.sqs.delete_message(
            QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"]),
            "InvalidParameterValue", message_contains="The receipt handle has expired.")
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])


CONNECTION_LOST = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError,
                   ConnectionError, OSError)


@unittest.skipIf(ferry_server.target() != "ferry", "needs a Ferry process this harness can kill")
class FifoKillNineTest(unittest.TestCase):
    """kill -9 while producers send with deduplication ids and consumers receive: after the
    restart no acknowledged id is admitted twice and every group's order holds."""

    GROUPS = 4

    def setUp(self):
        self.server = ferry_server.FerryServer()
        self.server.start()
        self.addCleanup(self.server.stop)

    def consume(self, url, deliveries, stop, lifetime):
        sqs = self.server.client("sqs", read_timeout=10, connect_timeout=2)
        while not stop.is_set():
            try:
                # Short: a message in flight at the crash may come back in flight (its state
                # survived) and lock its group until the timeout ends.
                resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1, VisibilityTimeout=5,
                                           MessageSystemAttributeNames=["MessageGroupId"])
                msgs = resp.get("Messages", [])
                for m in msgs:
                    group, index = m["Body"].split(":")
                    deliveries.append((lifetime, group, int(index), m["MessageId"]))
                if msgs:
                    sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(msgs)])
            except CONNECTION_LOST + (ClientError,):
                return

    def test_kill_9_keeps_deduplication_and_order(self):
        admin = self.server.client("sqs")
        url = admin.create_queue(QueueName=fifo_name("crash"),
                                 Attributes={"FifoQueue": "true"})["QueueUrl"]
        acked = {}       # dedup id -> MessageId
        attempted = {}   # group -> last index attempted
        deliveries = []  # (lifetime, group, index, MessageId)
        stop = threading.Event()

        def producer(group):
            sqs = self.server.client("sqs", read_timeout=10, connect_timeout=2)
            i = 0
            while not stop.is_set():
                attempted[group] = i
                try:
                    r = sqs.send_message(QueueUrl=url, MessageBody=f"{group}:{i}",
                                         MessageGroupId=group, MessageDeduplicationId=f"{group}-{i}")
                except CONNECTION_LOST + (ClientError,):
                    return
                acked[f"{group}-{i}"] = r["MessageId"]
                i += 1

        groups = [f"g{n}" for n in range(self.GROUPS)]
        threads = [threading.Thread(target=producer, args=(g,)) for g in groups]
        threads.append(threading.Thread(target=self.consume, args=(url, deliveries, stop, 0)))
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.server.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        self.assertGreaterEqual(len(acked), 50, "too little load before the crash")

        self.server.restart()
        sqs = self.server.client("sqs")
        # Producers retry what they sent: every acknowledged id is a duplicate of itself.
        for group in groups:
            for i in range(attempted.get(group, -1) + 1):
                r = sqs.send_message(QueueUrl=url, MessageBody=f"{group}:{i}",
                                     MessageGroupId=group, MessageDeduplicationId=f"{group}-{i}")
                if f"{group}-{i}" in acked:
                    self.assertEqual(r["MessageId"], acked[f"{group}-{i}"],
                                     f"{group}-{i} was admitted twice")
        stop2 = threading.Event()
        consumer = threading.Thread(target=self.consume, args=(url, deliveries, stop2, 1))
        consumer.start()
        total = sum(attempted.get(g, -1) + 1 for g in groups)

        def drained():
            delivered = {(g, i) for _, g, i, _ in deliveries}
            return len(delivered) >= total
        deadline = time.monotonic() + 90
        while not drained() and time.monotonic() < deadline:
            time.sleep(0.1)
        stop2.set()
        consumer.join(30)
        self.assertTrue(drained(), "not every message was delivered")
        # One MessageId per message, and in each lifetime each group in order.
        ids = {}
        for _, g, i, mid in deliveries:
            self.assertEqual(ids.setdefault((g, i), mid), mid, f"{g}:{i} has two ids")
        for lifetime in (0, 1):
            for group in groups:
                seq = [i for life, g, i, _ in deliveries if life == lifetime and g == group]
                self.assertEqual(seq, sorted(set(seq)), f"{group} out of order: {seq}")


if __name__ == "__main__":
    unittest.main()
