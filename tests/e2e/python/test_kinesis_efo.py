"""Kinesis enhanced fan-out with boto3: SubscribeToShard over HTTP/1.1, whose answer boto3 reads
as an AWS event stream (application/vnd.amazon.eventstream, CRC-checked messages).

Also prints the latency from PutRecord's answer to the record's arrival at a subscriber
(p50/p99 over a few hundred records) as information, not as an assertion."""

import os
import queue
import shutil
import statistics
import subprocess
import threading
import time
import unittest
import uuid

from botocore.exceptions import ClientError, EventStreamError

from harness import ferry_server

SERVER = None


def setUpModule():
    global SERVER
    SERVER = ferry_server.FerryServer()
    SERVER.start()


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()


class Reader(threading.Thread):
    """Reads one subscription's events into a queue: ("event", dict, arrival time),
    ("error", code) or ("end",)."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.events = queue.Queue()

    def run(self):
        try:
            for event in self.stream:
                self.events.put(("event", event.get("SubscribeToShardEvent"), time.monotonic()))
        except EventStreamError as e:
            self.events.put(("error", e.response["Error"]["Code"]))
        except Exception as e:  # noqa: BLE001 - reported to the test
            self.events.put(("exception", repr(e)))
        self.events.put(("end",))

    def next(self, timeout=15):
        return self.events.get(timeout=timeout)

    def records(self, count, timeout=15):
        """The next `count` records (with their arrival times) and the last event seen."""
        out, last = [], None
        deadline = time.monotonic() + timeout
        while len(out) < count:
            kind, *rest = self.next(max(0.1, deadline - time.monotonic()))
            if kind != "event":
                raise AssertionError(f"stream ended early: {kind} {rest}")
            event, at = rest
            last = event
            out.extend((r, at) for r in event["Records"])
        return out, last


class EnhancedFanOut(unittest.TestCase):
    def setUp(self):
        self.k = SERVER.client("kinesis", read_timeout=30)
        self.k2 = SERVER.client("kinesis")  # for puts from another thread
        self.stream = f"efo-{uuid.uuid4().hex[:12]}"
        self.k.create_stream(StreamName=self.stream, ShardCount=1)
        self.addCleanup(self._delete)
        desc = self.k.describe_stream_summary(StreamName=self.stream)["StreamDescriptionSummary"]
        self.arn = desc["StreamARN"]
        consumer = self.k.register_stream_consumer(StreamARN=self.arn, ConsumerName="app")
        self.consumer = consumer["Consumer"]["ConsumerARN"]
        self.shard = self.k.list_shards(StreamName=self.stream)["Shards"][0]["ShardId"]

    def _delete(self):
        try:
            self.k.delete_stream(StreamName=self.stream, EnforceConsumerDeletion=True)
        except ClientError:
            pass

    def subscribe(self, client=None, **position):
        position = position or {"Type": "LATEST"}
        res = (client or self.k).subscribe_to_shard(ConsumerARN=self.consumer, ShardId=self.shard,
                                                    StartingPosition=position)
        reader = Reader(res["EventStream"])
        reader.start()
        self.addCleanup(res["EventStream"].close)
        return reader

    def put(self, data, key="k"):
        return self.k2.put_record(StreamName=self.stream, Data=data, PartitionKey=key)

    def test_records_put_from_another_thread_arrive(self):
        reader = self.subscribe()
        first = reader.next()
        self.assertEqual(first[0], "event")
        self.assertEqual(first[1]["Records"], [])  # the first event comes at once
        self.assertIn("ContinuationSequenceNumber", first[1])
        self.assertEqual(first[1]["MillisBehindLatest"], 0)

        sent = []
        writer = threading.Thread(
            target=lambda: sent.extend(self.put(f"r{i}".encode())["SequenceNumber"]
                                       for i in range(20)))
        writer.start()
        writer.join()
        got, last = reader.records(20)
        self.assertEqual([r["Data"] for r, _ in got], [f"r{i}".encode() for i in range(20)])
        self.assertEqual([r["SequenceNumber"] for r, _ in got], sent)
        self.assertEqual(got[0][0]["PartitionKey"], "k")
        self.assertIn("ApproximateArrivalTimestamp", got[0][0])
        self.assertEqual(last["ContinuationSequenceNumber"], sent[-1])

    def test_starting_positions_and_continuation(self):
        seqs = [self.put(f"{i}".encode())["SequenceNumber"] for i in range(3)]
        reader = self.subscribe(Type="TRIM_HORIZON")
        got, last = reader.records(3)
        self.assertEqual([r["Data"] for r, _ in got], [b"0", b"1", b"2"])
        self.assertEqual(last["ContinuationSequenceNumber"], seqs[2])

        # A new subscription (5 s later, else ResourceInUseException) resumes after it.
        time.sleep(5.1)
        self.put(b"3")
        resumed = self.subscribe(Type="AFTER_SEQUENCE_NUMBER",
                                 SequenceNumber=last["ContinuationSequenceNumber"])
        got, _ = resumed.records(1)
        self.assertEqual(got[0][0]["Data"], b"3")

        time.sleep(5.1)
        at = self.subscribe(Type="AT_SEQUENCE_NUMBER", SequenceNumber=seqs[1])
        got, _ = at.records(3)
        self.assertEqual([r["Data"] for r, _ in got], [b"1", b"2", b"3"])

    def test_second_subscription_within_five_seconds_is_refused_then_takes_over(self):
        first = self.subscribe()
        self.assertEqual(first.next()[0], "event")
        with self.assertRaises(ClientError) as cm:
            self.k2.subscribe_to_shard(ConsumerARN=self.consumer, ShardId=self.shard,
                                       StartingPosition={"Type": "LATEST"})
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceInUseException")

        time.sleep(5.1)
        second = self.subscribe(client=self.k2)
        self.assertEqual(second.next()[0], "event")
        # The old stream ends with a ResourceInUseException event.
        while True:
            kind, *rest = first.next()
            if kind != "event":
                break
        self.assertEqual((kind, *rest), ("error", "ResourceInUseException"))
        self.put(b"after takeover")
        got, _ = second.records(1)
        self.assertEqual(got[0][0]["Data"], b"after takeover")

    def test_end_of_a_closed_shard_sends_child_shards(self):
        reader = self.subscribe(Type="TRIM_HORIZON")
        self.put(b"before split")
        got, _ = reader.records(1)
        self.assertEqual(got[0][0]["Data"], b"before split")
        self.k2.split_shard(StreamName=self.stream, ShardToSplit=self.shard,
                            NewStartingHashKey=str(2**127))
        while True:
            kind, *rest = reader.next()
            self.assertEqual(kind, "event", rest)
            event = rest[0]
            if event.get("ChildShards"):
                break
        self.assertNotIn("ContinuationSequenceNumber", event)
        self.assertEqual(sorted(c["ShardId"] for c in event["ChildShards"]),
                         ["shardId-000000000001", "shardId-000000000002"])
        for c in event["ChildShards"]:
            self.assertEqual(c["ParentShards"], [self.shard])
        self.assertEqual(reader.next(), ("end",))

    def test_errors(self):
        with self.assertRaises(ClientError) as cm:
            self.k.subscribe_to_shard(ConsumerARN=self.consumer + "0", ShardId=self.shard,
                                      StartingPosition={"Type": "LATEST"})
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFoundException")
        with self.assertRaises(ClientError) as cm:
            self.k.subscribe_to_shard(ConsumerARN=self.consumer, ShardId="shardId-000000000042",
                                      StartingPosition={"Type": "LATEST"})
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFoundException")
        with self.assertRaises(ClientError) as cm:
            self.k.subscribe_to_shard(ConsumerARN=self.consumer, ShardId=self.shard,
                                      StartingPosition={"Type": "AT_SEQUENCE_NUMBER"})
        self.assertEqual(cm.exception.response["Error"]["Code"], "InvalidArgumentException")

    @unittest.skipIf(shutil.which("curl") is None, "needs curl")
    def test_http2_with_curl_prior_knowledge_and_upgrade(self):
        # Every action is served over HTTP/2 too, whether the client starts with the HTTP/2
        # preface or asks for `Upgrade: h2c` on an HTTP/1.1 request.
        for flag in ("--http2-prior-knowledge", "--http2"):
            out = subprocess.run(
                ["curl", "-sv", flag, "-XPOST", SERVER.endpoint + "/",
                 "-H", "X-Amz-Target: Kinesis_20131202.DescribeStreamSummary",
                 "-H", "Content-Type: application/x-amz-json-1.1",
                 "-d", '{"StreamName": "%s"}' % self.stream],
                capture_output=True, text=True, timeout=30)
            self.assertIn("< HTTP/2 200", out.stderr, flag)
            self.assertIn(f'"StreamName":"{self.stream}"', out.stdout, flag)

    @unittest.skipIf(ferry_server.target() != "ferry", "starts its own server")
    def test_shutdown_ends_the_subscription(self):
        own = ferry_server.FerryServer()
        own.start()
        try:
            k = own.client("kinesis")
            k.create_stream(StreamName="s", ShardCount=1)
            arn = k.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
            consumer = k.register_stream_consumer(StreamARN=arn, ConsumerName="c")
            res = k.subscribe_to_shard(ConsumerARN=consumer["Consumer"]["ConsumerARN"],
                                       ShardId="shardId-000000000000",
                                       StartingPosition={"Type": "LATEST"})
            reader = Reader(res["EventStream"])
            reader.start()
            self.assertEqual(reader.next()[0], "event")
            started = time.monotonic()
            own.stop()  # SIGTERM; fails unless ferry exits 0 in time
            self.assertLess(time.monotonic() - started, 10)
            while True:
                kind, *_ = reader.next()
                if kind != "event":
                    break
            self.assertEqual(kind, "end")  # a clean end of the event stream
        finally:
            own.stop()

    @unittest.skipIf(ferry_server.target() != "ferry", "starts its own server")
    def test_reads_are_paced_under_the_throughput_limits(self):
        # --kinesis-throughput-limits: at most 2 MiB/s per consumer and shard, as AWS's
        # enhanced fan-out; records beyond wait rather than fail the subscription.
        own = ferry_server.FerryServer(extra_args=["--kinesis-throughput-limits", "paced"])
        own.start()
        self.addCleanup(own.stop)
        k = own.client("kinesis", read_timeout=30)
        k.create_stream(StreamName="paced", ShardCount=1)
        arn = k.describe_stream_summary(StreamName="paced")["StreamDescriptionSummary"]["StreamARN"]
        consumer = k.register_stream_consumer(StreamARN=arn, ConsumerName="c")
        record = 256 * 1024 - 1  # with its 1-byte key, 256 KiB: 16 records are 4 MiB
        sent = 0
        while sent < 16:  # writes are limited too (1 MiB/s per shard): retry until taken
            try:
                k.put_record(StreamName="paced", Data=bytes([sent]) * record, PartitionKey="k")
                sent += 1
            except ClientError as e:
                self.assertEqual(e.response["Error"]["Code"],
                                 "ProvisionedThroughputExceededException")
                time.sleep(0.1)
        time.sleep(1.1)  # a fresh second for the reader
        res = k.subscribe_to_shard(ConsumerARN=consumer["Consumer"]["ConsumerARN"],
                                   ShardId="shardId-000000000000",
                                   StartingPosition={"Type": "TRIM_HORIZON"})
        self.addCleanup(res["EventStream"].close)
        reader = Reader(res["EventStream"])
        reader.start()
        started = time.monotonic()
        got, _ = reader.records(16, timeout=20)
        elapsed = time.monotonic() - started
        self.assertEqual([r["Data"][0] for r, _ in got], list(range(16)))
        # 2 MiB at once, the other 2 MiB (less one record read into debt) at 2 MiB/s.
        self.assertGreater(elapsed, 0.7)
        arrivals = [at for _, at in got]
        self.assertLess(arrivals[7] - started, 0.7)

    def test_latency_from_put_answer_to_arrival(self):
        reader = self.subscribe()
        self.assertEqual(reader.next()[0], "event")
        n = int(os.environ.get("FERRY_EFO_LATENCY_RECORDS", "300"))
        from_request, from_answer = [], []
        for i in range(n):
            sent = time.monotonic()
            self.put(f"{i}".encode())
            answered = time.monotonic()
            got, _ = reader.records(1)  # one at a time: no queueing behind other records
            from_request.append((got[0][1] - sent) * 1000)
            from_answer.append((got[0][1] - answered) * 1000)

        def summary(values):
            values = sorted(values)
            p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
            return f"p50 {statistics.median(values):.2f} ms, p99 {p99:.2f} ms"

        # The event is sent when the put's commit is durable, as the put's answer is, so it often
        # reaches the subscriber first (negative "after the answer").
        print(f"\nSubscribeToShard latency over HTTP/1.1 (boto3, {n} records): PutRecord sent -> "
              f"event read {summary(from_request)}; PutRecord answer -> event read "
              f"{summary(from_answer)}")

if __name__ == "__main__":
    unittest.main()
