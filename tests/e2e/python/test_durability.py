"""Durability: an acknowledged SendMessage survives kill -9 (DESIGN.md: "A 2xx answer to a write
means the data is on stable storage"; "after a crash a message may be delivered again, never
lost").

Needs a server this harness starts and can kill, so it runs only against the Ferry binary: it is
skipped with FERRY_TEST_TARGET=moto (moto keeps everything in memory) and with FERRY_ENDPOINT.
"""

import os
import sys
import threading
import time
import unittest

from botocore.exceptions import (ClientError, ConnectionClosedError, EndpointConnectionError,
                                 ReadTimeoutError)

from harness import ferry_server
from python.sqs_support import unique_name

SENDERS = int(os.environ.get("FERRY_DURABILITY_SENDERS", "4"))
MIN_ACKED_BEFORE_KILL = int(os.environ.get("FERRY_DURABILITY_MIN_ACKED", "300"))
MIN_LOAD_SECONDS = float(os.environ.get("FERRY_DURABILITY_LOAD_SECONDS", "2"))

CONNECTION_LOST = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError,
                   ConnectionError, OSError)


def _skip_reason():
    if ferry_server.target() != "ferry":
        return "needs a Ferry process this harness can kill -9 (not moto, not FERRY_ENDPOINT)"
    return None


@unittest.skipIf(_skip_reason(), _skip_reason() or "")
class KillNineTest(unittest.TestCase):
    def setUp(self):
        self.server = ferry_server.FerryServer()
        self.server.start()
        self.addCleanup(self.server.stop)

    def drain(self, url: str, expected: set, deadline_s: float = 120) -> tuple[set, int]:
        """Receives and deletes until every expected id was seen or the queue stays empty."""
        sqs = self.server.client("sqs")
        seen, deliveries, empty_rounds = set(), 0, 0
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       VisibilityTimeout=600)
            msgs = resp.get("Messages", [])
            if not msgs:
                empty_rounds += 1
                if expected <= seen or empty_rounds >= 3:
                    break
                continue
            empty_rounds = 0
            deliveries += len(msgs)
            seen.update(m["MessageId"] for m in msgs)
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
        return seen, deliveries

    def test_acknowledged_sends_survive_kill_9_under_load(self):
        admin = self.server.client("sqs")
        url = admin.create_queue(QueueName=unique_name("durable"))["QueueUrl"]

        acked: set[str] = set()
        lock = threading.Lock()
        stop = threading.Event()
        unexpected: list[BaseException] = []

        def sender(worker: int) -> None:
            sqs = self.server.client("sqs", read_timeout=10, connect_timeout=2)
            n = 0
            while not stop.is_set():
                try:
                    if n % 4 == 0:
                        resp = sqs.send_message_batch(QueueUrl=url, Entries=[
                            {"Id": str(i), "MessageBody": f"w{worker}-n{n}-b{i}"}
                            for i in range(10)])
                        ids = [r["MessageId"] for r in resp.get("Successful", [])]
                        if resp.get("Failed"):
                            unexpected.append(AssertionError(f"batch failed: {resp['Failed']}"))
                    else:
                        ids = [sqs.send_message(QueueUrl=url,
                                                MessageBody=f"w{worker}-n{n}")["MessageId"]]
                except CONNECTION_LOST:
                    return  # the server is gone: this request was never acknowledged
                except ClientError as e:
                    if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                        return  # shutting down under us; not acknowledged
                    unexpected.append(e)
                    return
                except Exception as e:  # noqa: BLE001 - reported by the test
                    unexpected.append(e)
                    return
                with lock:
                    acked.update(ids)
                n += 1

        threads = [threading.Thread(target=sender, args=(w,), daemon=True)
                   for w in range(SENDERS)]
        started = time.monotonic()
        for t in threads:
            t.start()

        # Kill mid-load: once enough sends were acknowledged and the load ran a while.
        deadline = started + 60
        while True:
            with lock:
                count = len(acked)
            if count >= MIN_ACKED_BEFORE_KILL and time.monotonic() - started >= MIN_LOAD_SECONDS:
                break
            if time.monotonic() > deadline or not any(t.is_alive() for t in threads):
                self.fail(f"only {count} sends acknowledged before the deadline; "
                          f"errors: {unexpected}\n{self.server.log_tail()}")
            time.sleep(0.05)
        self.assertTrue(all(t.is_alive() for t in threads), "senders stopped before the kill")
        self.server.kill9()
        stop.set()
        for t in threads:
            t.join(30)
            self.assertFalse(t.is_alive(), "a sender hung after the server died")
        self.assertEqual(unexpected, [])
        with lock:
            acknowledged = set(acked)

        self.server.restart()
        # The queue itself was acknowledged too.
        self.assertEqual(admin.get_queue_url(QueueName=url.rsplit("/", 1)[-1])["QueueUrl"], url)
        seen, deliveries = self.drain(url, acknowledged)
        missing = acknowledged - seen
        print(f"\n[durability] acknowledged {len(acknowledged)}, recovered {len(seen)} distinct "
              f"({deliveries} deliveries, {len(seen - acknowledged)} unacknowledged extras), "
              f"lost {len(missing)}", file=sys.stderr)
        self.assertEqual(missing, set(),
                         f"{len(missing)} acknowledged messages lost after kill -9, e.g. "
                         f"{sorted(missing)[:5]}")

    def test_state_survives_a_clean_restart(self):
        sqs = self.server.client("sqs")
        name = unique_name("restart")
        url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"},
                               tags={"k": "v"})["QueueUrl"]
        sent = {sqs.send_message(QueueUrl=url, MessageBody=f"m{i}",
                                 MessageAttributes={"i": {"DataType": "Number",
                                                          "StringValue": str(i)}})["MessageId"]
                for i in range(5)}
        deleted = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=deleted["ReceiptHandle"])
        # Received, not deleted: in flight across the restart, then back with its count.
        held = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1,
                                   VisibilityTimeout=15)["Messages"][0]

        self.server.stop(cleanup=False)  # SIGTERM; exit code 0 is required
        self.server.restart()

        self.assertEqual(sqs.get_queue_url(QueueName=name)["QueueUrl"], url)
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["VisibilityTimeout",
                                          "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        self.assertEqual(attrs["VisibilityTimeout"], "45")
        self.assertEqual(attrs["ApproximateNumberOfMessagesNotVisible"], "1")
        self.assertEqual(sqs.list_queue_tags(QueueUrl=url)["Tags"], {"k": "v"})
        rest = sent - {deleted["MessageId"], held["MessageId"]}
        seen, _ = self.drain(url, rest, deadline_s=30)
        # A clean shutdown loses nothing; a deleted message may only come back after a crash.
        self.assertEqual(seen, rest)
        back = []
        deadline = time.monotonic() + 40
        while not back and time.monotonic() < deadline:
            back = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20,
                                       AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        self.assertEqual([m["MessageId"] for m in back], [held["MessageId"]])
        self.assertEqual(back[0]["Attributes"]["ApproximateReceiveCount"], "2")
