"""Receives whose payloads come from disk, with boto3.

The server runs with ``--message-cache-mib 0``: no message body is kept in memory, so every
receive, dead-letter move and move task reads the payload back from the store (on Ferry's disk
threads, not on the I/O thread that serves the request). What a client sees must not differ from
a receive served from memory: bodies, their MD5s, message and system attributes, FIFO order, long
polls and redrives, as the SQS API Reference and Developer Guide define them.
"""

import json
import threading

from harness import ferry_server
from python.sqs_support import SqsTestCase, md5_of_attributes, md5_of_body, unique_name


def setUpModule():
    ferry_server.start_module_server(__name__, ["--message-cache-mib", "0"])


def tearDownModule():
    ferry_server.stop_module_server(__name__)


ATTRIBUTES = {
    "colour": {"DataType": "String", "StringValue": "blau ü 🐟"},
    "count": {"DataType": "Number", "StringValue": "-12.5e3"},
    "raw": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
}


def drain_concurrently(test: SqsTestCase, url: str, consumers: int) -> list:
    """`consumers` threads, each with its own client, receive up to 10 messages at a time and
    delete them until a 1 s long poll comes back empty. Returns every message received; fails
    the test if a consumer raised."""
    received: list = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def consume():
        try:
            client = test.server.client("sqs")
            while True:
                resp = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                              WaitTimeSeconds=1)
                messages = resp.get("Messages", [])
                if not messages:
                    return
                with lock:
                    received.extend(messages)
                client.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]}
                    for k, m in enumerate(messages)])
        except BaseException as e:  # reported by the test thread
            failures.append(e)

    threads = [threading.Thread(target=consume) for _ in range(consumers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    test.assertEqual(failures, [])
    return received


class ColdReadTest(SqsTestCase):
    def test_bodies_and_attributes_come_back_from_disk(self):
        url = self.create_queue("cold")
        bodies = [f"message {i} " + "x" * (i * 97) for i in range(20)]
        bodies.append("ünïcødé 😀 " * 100)
        bodies.append("y" * 200_000)
        sent = {}
        for i in range(0, len(bodies), 10):
            resp = self.sqs.send_message_batch(QueueUrl=url, Entries=[{
                "Id": str(j), "MessageBody": bodies[j], "MessageAttributes": ATTRIBUTES,
                "MessageSystemAttributes": {"AWSTraceHeader": {
                    "DataType": "String", "StringValue": f"Root=1-5759e988-bd862e3fe1be46a99427{j:04d}"}},
            } for j in range(i, min(i + 10, len(bodies)))])
            self.assertEqual(resp.get("Failed", []), [])
            for entry in resp["Successful"]:
                sent[entry["MessageId"]] = int(entry["Id"])
        got = self.receive_exactly(url, len(bodies), MessageSystemAttributeNames=["All"],
                                   MessageAttributeNames=["All"])
        self.assertEqual(sorted(m["MessageId"] for m in got), sorted(sent))
        for m in got:
            j = sent[m["MessageId"]]
            self.assertEqual(m["Body"], bodies[j])
            self.assertEqual(m["MD5OfBody"], md5_of_body(bodies[j]))
            self.assertEqual(m["MessageAttributes"], ATTRIBUTES)
            self.assertEqual(m["MD5OfMessageAttributes"], md5_of_attributes(ATTRIBUTES))
            self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], "1")
            self.assertEqual(m["Attributes"]["AWSTraceHeader"],
                             f"Root=1-5759e988-bd862e3fe1be46a99427{j:04d}")
            self.assertIn("SentTimestamp", m["Attributes"])
        for i in range(0, len(got), 10):
            resp = self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]}
                for k, m in enumerate(got[i:i + 10])])
            self.assertEqual(resp.get("Failed", []), [])
        self.wait_for_counts(url, ApproximateNumberOfMessages=0,
                             ApproximateNumberOfMessagesNotVisible=0)

    def test_fifo_groups_keep_their_order(self):
        url = self.create_queue(name=unique_name("cold") + ".fifo",
                                attributes={"FifoQueue": "true"})
        for i in range(30):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"g{i % 3}-{i}",
                                  MessageGroupId=f"g{i % 3}", MessageDeduplicationId=f"d{i}")
        seen = {"g0": [], "g1": [], "g2": []}
        sequence = {"g0": 0, "g1": 0, "g2": 0}
        while sum(len(v) for v in seen.values()) < 30:
            resp = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=2, MessageSystemAttributeNames=["All"])
            messages = resp.get("Messages", [])
            self.assertTrue(messages, "a FIFO receive with messages left returned none")
            for m in messages:
                group = m["Attributes"]["MessageGroupId"]
                self.assertTrue(m["Body"].startswith(group + "-"))
                i = int(m["Body"].split("-")[1])
                self.assertEqual(m["Attributes"]["MessageDeduplicationId"], f"d{i}")
                number = int(m["Attributes"]["SequenceNumber"])
                self.assertGreater(number, sequence[group])
                sequence[group] = number
                seen[group].append(i)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        for g, order in seen.items():
            self.assertEqual(order, [i for i in range(30) if f"g{i % 3}" == g])

    def test_a_long_poll_gets_a_message_read_from_disk(self):
        url = self.create_queue("cold")
        bg = self.receive_in_background(url, WaitTimeSeconds=10, MessageAttributeNames=["All"])
        self.sqs.send_message(QueueUrl=url, MessageBody="late", MessageAttributes=ATTRIBUTES)
        resp, _ = bg.join(30)
        messages = resp.get("Messages", [])
        self.assertEqual([m["Body"] for m in messages], ["late"])
        self.assertEqual(messages[0]["MessageAttributes"], ATTRIBUTES)

    def test_dead_letter_moves_and_move_tasks_read_payloads_from_disk(self):
        dlq = self.create_queue("dlq")
        dlq_arn = self.arn_of(dlq)
        src = self.create_queue("src", attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}), "VisibilityTimeout": "0"})
        bodies = {f"poison {i} " + "z" * 3000 for i in range(12)}
        for body in sorted(bodies):
            self.sqs.send_message(QueueUrl=src, MessageBody=body, MessageAttributes=ATTRIBUTES)
        first = self.receive_exactly(src, len(bodies))
        self.assertEqual({m["Body"] for m in first}, bodies)
        self.assert_empty(src)  # this receive moves them all, reading each payload from disk
        moved = {m["Body"]: m for m in self.receive_exactly(
            dlq, len(bodies), MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])}
        self.assertEqual(set(moved), bodies)
        for m in moved.values():
            self.assertEqual(m["Attributes"]["DeadLetterQueueSourceArn"], self.arn_of(src))
            self.assertEqual(m["MessageAttributes"], ATTRIBUTES)

        for chunk in (list(moved.values())[:10], list(moved.values())[10:]):
            resp = self.sqs.change_message_visibility_batch(QueueUrl=dlq, Entries=[
                {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for k, m in enumerate(chunk)])
            self.assertEqual(resp.get("Failed", []), [])
        self.sqs.start_message_move_task(SourceArn=dlq_arn)

        def completed():
            tasks = self.sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
            return tasks and tasks[0]["Status"] == "COMPLETED"
        self.wait_until(completed, timeout=60, what="a completed move task")
        back = self.receive_exactly(src, len(bodies), MessageAttributeNames=["All"])
        self.assertEqual({m["Body"] for m in back}, bodies)
        for m in back:
            self.assertEqual(m["MessageAttributes"], ATTRIBUTES)

    def test_concurrent_receivers_get_every_message_once(self):
        url = self.create_queue("cold")
        total = 400
        for i in range(0, total, 10):
            self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "MessageBody": f"{j}:" + "p" * 900} for j in range(i, i + 10)])
        received = [m["Body"] for m in drain_concurrently(self, url, 8)]
        # The default visibility timeout (30 s) outlasts the test: each message comes once.
        self.assertEqual(sorted(received),
                         sorted(f"{j}:" + "p" * 900 for j in range(total)))
        self.assert_empty(url)


class ReadAheadTest(SqsTestCase):
    """A backlog beyond a 1 MiB body cache, drained by concurrent consumers while the server
    reads the next bodies into the cache ahead of them (Engine::read_ahead)."""

    @classmethod
    def setUpClass(cls):
        cls._server = ferry_server.FerryServer(extra_args=["--message-cache-mib", "1"]).start()

    @classmethod
    def tearDownClass(cls):
        cls._server.stop()

    @property
    def server(self) -> ferry_server.FerryServer:
        return self._server

    def test_a_backlog_beyond_the_cache_drains_whole_and_once(self):
        url = self.create_queue("ahead")
        total = 3000
        body = "r" * 1000
        for i in range(0, total, 10):
            resp = self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "MessageBody": f"{j:05d}{body}"} for j in range(i, i + 10)])
            self.assertEqual(resp.get("Failed", []), [])
        received = drain_concurrently(self, url, 4)
        for m in received:
            self.assertEqual(m["MD5OfBody"], md5_of_body(m["Body"]))
        self.assertEqual(sorted(m["Body"] for m in received),
                         [f"{j:05d}{body}" for j in range(total)])
        self.assert_empty(url)


if __name__ == "__main__":
    import unittest
    unittest.main()
