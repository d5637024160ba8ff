"""Kinesis stream states, UpdateShardCount and the opt-in throughput limits, with boto3.

The server runs with --kinesis-create-delay-ms and --kinesis-update-delay-ms so that streams go
through CREATING and UPDATING as on AWS (boto3's stream_exists waiter waits them out), and with
--kinesis-throughput-limits naming one stream. Expectations come from the Kinesis API reference
(UpdateShardCount's limits, ChildShards, stream states) and its developer guide (resharding:
parents are read to their end before their children).
"""

import unittest
import uuid

from botocore.exceptions import ClientError

from harness import ferry_server

THROTTLED = "throttled-stream"
SERVER = None


def setUpModule():
    global SERVER
    SERVER = ferry_server.FerryServer(extra_args=[
        "--kinesis-create-delay-ms", "300", "--kinesis-update-delay-ms", "300",
        "--kinesis-throughput-limits", THROTTLED])
    SERVER.start()


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()


def unique(prefix="scale"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class ScalingTestCase(unittest.TestCase):
    def setUp(self):
        self.k = SERVER.client("kinesis")

    def create(self, shards, name=None):
        name = name or unique()
        self.k.create_stream(StreamName=name, ShardCount=shards)
        self.addCleanup(self.k.delete_stream, StreamName=name, EnforceConsumerDeletion=True)
        self.wait_active(name)
        return name

    def wait_active(self, name):
        self.k.get_waiter("stream_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})

    def error_code(self, fn, **kwargs):
        with self.assertRaises(ClientError) as cm:
            fn(**kwargs)
        return cm.exception.response["Error"]["Code"]


class StatesTest(ScalingTestCase):
    def test_creating_then_active(self):
        name = unique("creating")
        self.k.create_stream(StreamName=name, ShardCount=1)
        self.addCleanup(self.k.delete_stream, StreamName=name)
        summary = self.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        self.assertEqual(summary["StreamStatus"], "CREATING")
        # A CREATING stream takes no records yet, as on AWS.
        self.assertEqual(self.error_code(self.k.put_record, StreamName=name, Data=b"x",
                                         PartitionKey="k"), "ResourceNotFoundException")
        self.wait_active(name)
        self.assertEqual(self.k.describe_stream(StreamName=name)["StreamDescription"]
                         ["StreamStatus"], "ACTIVE")
        self.k.put_record(StreamName=name, Data=b"x", PartitionKey="k")

    def test_updating_refuses_another_reshard_but_takes_records(self):
        name = self.create(2)
        out = self.k.update_shard_count(StreamName=name, TargetShardCount=3,
                                        ScalingType="UNIFORM_SCALING")
        self.assertEqual((out["CurrentShardCount"], out["TargetShardCount"]), (2, 3))
        summary = self.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        self.assertEqual(summary["StreamStatus"], "UPDATING")
        self.k.put_record(StreamName=name, Data=b"during", PartitionKey="k")
        self.assertEqual(self.error_code(self.k.update_shard_count, StreamName=name,
                                         TargetShardCount=2, ScalingType="UNIFORM_SCALING"),
                         "ResourceInUseException")
        self.wait_active(name)
        summary = self.k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        self.assertEqual(summary["OpenShardCount"], 3)


class UpdateShardCountTest(ScalingTestCase):
    def read_by_lineage(self, name):
        """Reads every shard once its parents are done, following ChildShards; returns data."""
        shards = {s["ShardId"]: s for s in self.k.list_shards(StreamName=name)["Shards"]}
        done, out = set(), []
        progress = True
        while progress:
            progress = False
            for sid, s in shards.items():
                parents = [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId"))
                           if p]
                if sid in done or any(p not in done for p in parents):
                    continue
                it = self.k.get_shard_iterator(StreamName=name, ShardId=sid,
                                               ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                while True:
                    page = self.k.get_records(ShardIterator=it, Limit=10000)
                    out.extend(r["Data"].decode() for r in page["Records"])
                    if "NextShardIterator" not in page:
                        children = {c["ShardId"] for c in page.get("ChildShards", [])}
                        expected = {c for c, x in shards.items()
                                    if sid in (x.get("ParentShardId"),
                                               x.get("AdjacentParentShardId"))}
                        self.assertEqual(children, expected, sid)
                        break
                    if not page["Records"]:
                        break
                    it = page["NextShardIterator"]
                done.add(sid)
                progress = True
        self.assertEqual(done, set(shards))
        return out

    def test_scaling_keeps_every_record_once_and_in_key_order(self):
        for start, target in ((3, 5), (5, 3)):
            with self.subTest(f"{start} -> {target}"):
                name = self.create(start)
                for rnd in range(2):
                    self.k.put_records(StreamName=name, Records=[
                        {"Data": f"{k}:{rnd}".encode(), "PartitionKey": f"key{k}"}
                        for k in range(60)])
                    if rnd == 0:
                        self.k.update_shard_count(StreamName=name, TargetShardCount=target,
                                                  ScalingType="UNIFORM_SCALING")
                        self.wait_active(name)
                shards = self.k.list_shards(StreamName=name)["Shards"]
                open_shards = sorted(
                    (int(s["HashKeyRange"]["StartingHashKey"]),
                     int(s["HashKeyRange"]["EndingHashKey"]))
                    for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"])
                self.assertEqual(len(open_shards), target)
                # An even layout: each open shard owns floor(i * 2^128 / n) onwards.
                self.assertEqual([lo for lo, _ in open_shards],
                                 [i * 2**128 // target for i in range(target)])
                self.assertEqual(open_shards[-1][1], 2**128 - 1)
                data = self.read_by_lineage(name)
                self.assertEqual(sorted(data), sorted(f"{k}:{r}" for k in range(60)
                                                      for r in range(2)))
                position = {d: i for i, d in enumerate(data)}
                for k in range(60):
                    self.assertLess(position[f"{k}:0"], position[f"{k}:1"], k)

    def test_limits(self):
        name = self.create(2)
        self.assertEqual(self.error_code(self.k.update_shard_count, StreamName=name,
                                         TargetShardCount=5, ScalingType="UNIFORM_SCALING"),
                         "LimitExceededException")
        # Ten scalings per rolling 24 hours, then LimitExceededException.
        for i in range(10):
            self.k.update_shard_count(StreamName=name, TargetShardCount=1 if i % 2 == 0 else 2,
                                      ScalingType="UNIFORM_SCALING")
            self.wait_active(name)
        self.assertEqual(self.error_code(self.k.update_shard_count, StreamName=name,
                                         TargetShardCount=2, ScalingType="UNIFORM_SCALING"),
                         "LimitExceededException")


class ThroughputLimitsTest(ScalingTestCase):
    def test_named_stream_is_throttled_others_are_not(self):
        throttled = self.create(1, name=THROTTLED)
        free = self.create(1)
        big = b"x" * (512 * 1024)
        # 1 MiB per second per shard: five half-MiB records in one call cannot all fit, even if
        # the call straddles a second.
        out = self.k.put_records(StreamName=throttled, Records=[
            {"Data": big, "PartitionKey": "k"} for _ in range(5)])
        self.assertGreaterEqual(out["FailedRecordCount"], 1)
        codes = {r.get("ErrorCode") for r in out["Records"] if "ErrorCode" in r}
        self.assertEqual(codes, {"ProvisionedThroughputExceededException"})
        out = self.k.put_records(StreamName=free, Records=[
            {"Data": big, "PartitionKey": "k"} for _ in range(3)])
        self.assertEqual(out["FailedRecordCount"], 0)


if __name__ == "__main__":
    unittest.main()
