"""Durability of SNS: an acknowledged Publish has reached every subscribed local queue, even if
the server is killed with SIGKILL right after; topics and subscriptions survive too; a FIFO
topic's 5-minute deduplication window survives a restart.

Runs only against a Ferry process this harness can kill (not FERRY_ENDPOINT, not moto).
"""

import json
import sys
import threading
import time
import unittest
import uuid

from botocore.exceptions import (ClientError, ConnectionClosedError, EndpointConnectionError,
                                 ReadTimeoutError)

from harness import ferry_server

CONNECTION_LOST = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError,
                   ConnectionError, OSError)


def unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


@unittest.skipIf(ferry_server.target() != "ferry", "needs a Ferry process to kill -9")
class SnsKillNineTest(unittest.TestCase):
    def setUp(self):
        self.server = ferry_server.FerryServer()
        self.server.start()
        self.addCleanup(self.server.stop)

    def drain(self, sqs, url, expected, deadline_s=60):
        seen, empty = set(), 0
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       VisibilityTimeout=600).get("Messages", [])
            if not msgs:
                empty += 1
                if expected <= seen or empty >= 3:
                    break
                continue
            empty = 0
            for m in msgs:
                seen.add(json.loads(m["Body"])["MessageId"])
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
        return seen

    def test_acknowledged_publishes_survive_kill_9(self):
        sns, sqs = self.server.client("sns"), self.server.client("sqs")
        topic = sns.create_topic(Name=unique("durable"))["TopicArn"]
        urls = []
        for i in range(3):
            url = sqs.create_queue(QueueName=unique(f"fan{i}"))["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
            urls.append(url)

        acked, lock, stop, unexpected = set(), threading.Lock(), threading.Event(), []

        def publisher(worker):
            client = self.server.client("sns", read_timeout=10, connect_timeout=2)
            n = 0
            while not stop.is_set():
                try:
                    mid = client.publish(TopicArn=topic, Message=f"w{worker}-{n}")["MessageId"]
                except CONNECTION_LOST:
                    return
                except ClientError as e:
                    if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) < 500:
                        unexpected.append(e)
                    return
                with lock:
                    acked.add(mid)
                n += 1

        threads = [threading.Thread(target=publisher, args=(w,), daemon=True) for w in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while True:
            with lock:
                if len(acked) >= 200:
                    break
            if time.monotonic() > deadline:
                self.fail(f"too few publishes acknowledged: {unexpected}")
            time.sleep(0.05)
        self.server.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        self.assertEqual(unexpected, [])
        with lock:
            acknowledged = set(acked)

        self.server.restart()
        sns, sqs = self.server.client("sns"), self.server.client("sqs")
        self.assertIn(topic, [t["TopicArn"] for t in sns.list_topics()["Topics"]])
        self.assertEqual(len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]), 3)
        for url in urls:
            seen = self.drain(sqs, url, acknowledged)
            missing = acknowledged - seen
            print(f"\n[sns durability] {url.rsplit('/', 1)[-1]}: acknowledged "
                  f"{len(acknowledged)}, lost {len(missing)}", file=sys.stderr)
            self.assertEqual(missing, set())
        # Publishing still works after the restart.
        sns.publish(TopicArn=topic, Message="after")
        self.assertEqual(len(self.drain(sqs, urls[0], set(), deadline_s=5)), 1)


@unittest.skipIf(ferry_server.target() != "ferry", "needs a Ferry process to restart")
class SnsFifoDedupRestartTest(unittest.TestCase):
    def setUp(self):
        self.server = ferry_server.FerryServer()
        self.server.start()
        self.addCleanup(self.server.stop)

    def subscribed_fifo_queue(self, sns, sqs, topic):
        url = sqs.create_queue(QueueName=unique("dedup") + ".fifo",
                               Attributes={"FifoQueue": "true"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        return url

    def test_deduplication_window_survives_a_restart(self):
        sns, sqs = self.server.client("sns"), self.server.client("sqs")
        topic = sns.create_topic(Name=unique("dedup") + ".fifo",
                                 Attributes={"FifoTopic": "true"})["TopicArn"]
        url = self.subscribed_fifo_queue(sns, sqs, topic)
        first = sns.publish(TopicArn=topic, Message="once", MessageGroupId="g",
                            MessageDeduplicationId="restart-1")

        self.server.kill9()  # the acknowledged publish and its deduplication record are synced
        self.server.restart()
        sns, sqs = self.server.client("sns"), self.server.client("sqs")
        again = sns.publish(TopicArn=topic, Message="once more", MessageGroupId="g",
                            MessageDeduplicationId="restart-1")
        self.assertEqual(again["MessageId"], first["MessageId"])
        self.assertEqual(again["SequenceNumber"], first["SequenceNumber"])

        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                                  VisibilityTimeout=60).get("Messages", [])
        self.assertEqual(len(got), 1)
        self.assertEqual(json.loads(got[0]["Body"])["MessageId"], first["MessageId"])
        self.assertEqual(json.loads(got[0]["Body"])["Message"], "once")
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        self.assertEqual(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                             WaitTimeSeconds=1).get("Messages", []), [])

        # Another id is a new message, numbered after the first.
        other = sns.publish(TopicArn=topic, Message="new", MessageGroupId="g",
                            MessageDeduplicationId="restart-2")
        self.assertNotEqual(other["MessageId"], first["MessageId"])
        self.assertGreater(int(other["SequenceNumber"]), int(first["SequenceNumber"]))


if __name__ == "__main__":
    unittest.main()
