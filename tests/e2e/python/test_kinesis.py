"""Kinesis Data Streams with boto3 (AWS JSON 1.1): every action Ferry serves and its errors."""

import base64
import datetime
import hashlib
import time
import unittest
import uuid

from botocore.exceptions import ClientError

from harness import ferry_server

SERVER = None


def setUpModule():
    global SERVER
    SERVER = ferry_server.FerryServer()
    SERVER.start()


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()


def name(prefix="s"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class KinesisTestCase(unittest.TestCase):
    def setUp(self):
        self.k = SERVER.client("kinesis")

    def create(self, shards=1, **kw):
        n = name()
        self.k.create_stream(StreamName=n, ShardCount=shards, **kw)
        self.addCleanup(self._delete, n)
        return n

    def _delete(self, n):
        try:
            self.k.delete_stream(StreamName=n, EnforceConsumerDeletion=True)
        except ClientError:
            pass

    def assertError(self, code, fn, *args, **kwargs):
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.response["Error"]["Code"], code,
                         cm.exception.response["Error"])
        return cm.exception.response["Error"].get("Message", "")

    def shard_ids(self, n):
        return [s["ShardId"] for s in self.k.list_shards(StreamName=n)["Shards"]]

    def read_all(self, n, shard_id, itype="TRIM_HORIZON", **kw):
        it = self.k.get_shard_iterator(StreamName=n, ShardId=shard_id, ShardIteratorType=itype,
                                       **kw)["ShardIterator"]
        return self.k.get_records(ShardIterator=it)["Records"]


class StreamLifecycleTest(KinesisTestCase):
    def test_create_describe_delete(self):
        n = self.create(shards=3)
        d = self.k.describe_stream(StreamName=n)["StreamDescription"]
        self.assertEqual(d["StreamStatus"], "ACTIVE")
        self.assertEqual(d["StreamModeDetails"]["StreamMode"], "PROVISIONED")
        self.assertEqual(d["RetentionPeriodHours"], 24)
        self.assertTrue(d["StreamARN"].endswith(f":stream/{n}"))
        self.assertIsInstance(d["StreamCreationTimestamp"], datetime.datetime)
        shards = d["Shards"]
        self.assertEqual(len(shards), 3)
        self.assertEqual(shards[0]["HashKeyRange"]["StartingHashKey"], "0")
        self.assertEqual(shards[1]["HashKeyRange"]["StartingHashKey"],
                         "113427455640312821154458202477256070485")
        self.assertEqual(shards[2]["HashKeyRange"]["EndingHashKey"], str(2**128 - 1))
        self.assertFalse(d["HasMoreShards"])
        summary = self.k.describe_stream_summary(StreamName=n)["StreamDescriptionSummary"]
        self.assertEqual(summary["OpenShardCount"], 3)
        self.assertEqual(summary["ConsumerCount"], 0)
        self.assertEqual(summary["EncryptionType"], "NONE")
        self.k.get_waiter("stream_exists").wait(StreamName=n)
        self.k.delete_stream(StreamName=n)
        self.assertError("ResourceNotFoundException", self.k.describe_stream, StreamName=n)

    def test_describe_paging(self):
        n = self.create(shards=5)
        d = self.k.describe_stream(StreamName=n, Limit=2)["StreamDescription"]
        self.assertEqual(len(d["Shards"]), 2)
        self.assertTrue(d["HasMoreShards"])
        d = self.k.describe_stream(StreamName=n, ExclusiveStartShardId=d["Shards"][-1]["ShardId"])
        self.assertEqual(len(d["StreamDescription"]["Shards"]), 3)

    def test_on_demand(self):
        n = name()
        self.k.create_stream(StreamName=n, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        self.addCleanup(self._delete, n)
        s = self.k.describe_stream_summary(StreamName=n)["StreamDescriptionSummary"]
        self.assertEqual(s["StreamModeDetails"]["StreamMode"], "ON_DEMAND")
        self.assertEqual(s["OpenShardCount"], 4)
        self.k.update_stream_mode(StreamARN=s["StreamARN"],
                                  StreamModeDetails={"StreamMode": "PROVISIONED"})
        s = self.k.describe_stream_summary(StreamName=n)["StreamDescriptionSummary"]
        self.assertEqual(s["StreamModeDetails"]["StreamMode"], "PROVISIONED")

    def test_errors(self):
        n = self.create()
        msg = self.assertError("ResourceInUseException", self.k.create_stream, StreamName=n,
                               ShardCount=1)
        self.assertIn("already exists", msg)
        msg = self.assertError("ResourceNotFoundException", self.k.describe_stream_summary,
                               StreamName="nope-" + n)
        self.assertIn("not found", msg)
        self.assertError("ValidationException", self.k.create_stream, StreamName="bad name!",
                         ShardCount=1)
        self.assertError("ResourceNotFoundException", self.k.delete_stream,
                         StreamName="nope-" + n)

    def test_stream_arn_accepted(self):
        n = self.create()
        arn = self.k.describe_stream_summary(StreamName=n)["StreamDescriptionSummary"]["StreamARN"]
        r = self.k.put_record(StreamARN=arn, Data=b"x", PartitionKey="k")
        self.assertEqual(r["ShardId"], "shardId-000000000000")
        self.assertEqual(self.k.list_shards(StreamARN=arn)["Shards"][0]["ShardId"],
                         "shardId-000000000000")
        self.assertEqual(
            self.k.describe_stream(StreamARN=arn)["StreamDescription"]["StreamName"], n)

    def test_list_streams_pagination(self):
        names = sorted(self.create() for _ in range(3))
        seen = []
        kwargs = {"Limit": 1}
        while True:
            page = self.k.list_streams(**kwargs)
            seen += page["StreamNames"]
            self.assertEqual(len(page["StreamSummaries"]), len(page["StreamNames"]))
            if not page["HasMoreStreams"]:
                break
            kwargs = {"Limit": 1, "NextToken": page["NextToken"]}
        for n in names:
            self.assertIn(n, seen)
        paginated = []
        for page in self.k.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 2}):
            paginated += page["StreamNames"]
        for n in names:
            self.assertIn(n, paginated)
        s = self.k.list_streams()["StreamSummaries"][0]
        self.assertEqual(s["StreamStatus"], "ACTIVE")

    def test_describe_limits(self):
        self.create(shards=2)
        limits = self.k.describe_limits()
        self.assertGreaterEqual(limits["OpenShardCount"], 2)
        self.assertGreater(limits["ShardLimit"], 0)
        self.assertEqual(limits["OnDemandStreamCountLimit"], 50)


class RecordsTest(KinesisTestCase):
    def test_put_get_and_placement(self):
        n = self.create(shards=4)
        ranges = {s["ShardId"]: (int(s["HashKeyRange"]["StartingHashKey"]),
                                 int(s["HashKeyRange"]["EndingHashKey"]))
                  for s in self.k.list_shards(StreamName=n)["Shards"]}
        for i in range(20):
            key = f"key-{i}"
            r = self.k.put_record(StreamName=n, Data=f"v{i}".encode(), PartitionKey=key)
            h = int(hashlib.md5(key.encode()).hexdigest(), 16)
            lo, hi = ranges[r["ShardId"]]
            self.assertTrue(lo <= h <= hi)
            self.assertEqual(len(r["SequenceNumber"]), 56)
        r = self.k.put_record(StreamName=n, Data=b"x", PartitionKey="a",
                              ExplicitHashKey=str(2**128 - 1))
        self.assertEqual(r["ShardId"], "shardId-000000000003")
        self.assertError("InvalidArgumentException", self.k.put_record, StreamName=n,
                         Data=b"x", PartitionKey="a", ExplicitHashKey=str(2**128))
        total = sum(len(self.read_all(n, s)) for s in ranges)
        self.assertEqual(total, 21)

    def test_sequence_numbers_increase_and_data_round_trips(self):
        n = self.create()
        seqs = []
        payloads = [bytes([i]) * (i + 1) for i in range(10)] + [b"\x00\xff binary"]
        for p in payloads:
            seqs.append(self.k.put_record(StreamName=n, Data=p, PartitionKey="k")["SequenceNumber"])
        self.assertEqual(seqs, sorted(seqs, key=int))
        self.assertEqual(len(set(seqs)), len(seqs))
        recs = self.read_all(n, "shardId-000000000000")
        self.assertEqual([r["Data"] for r in recs], payloads)
        self.assertEqual([r["SequenceNumber"] for r in recs], seqs)
        self.assertEqual(recs[0]["PartitionKey"], "k")
        self.assertIsInstance(recs[0]["ApproximateArrivalTimestamp"], datetime.datetime)

    def test_put_records_in_order(self):
        n = self.create(shards=2)
        entries = [{"Data": f"r{i}".encode(), "PartitionKey": f"p{i}"} for i in range(500)]
        r = self.k.put_records(StreamName=n, Records=entries)
        self.assertEqual(r["FailedRecordCount"], 0)
        self.assertEqual(len(r["Records"]), 500)
        by_shard = {}
        for i, rec in enumerate(r["Records"]):
            h = int(hashlib.md5(f"p{i}".encode()).hexdigest(), 16)
            self.assertEqual(rec["ShardId"],
                             "shardId-000000000000" if h < 2**127 else "shardId-000000000001")
            by_shard.setdefault(rec["ShardId"], []).append(rec["SequenceNumber"])
        for shard, seqs in by_shard.items():
            self.assertEqual(seqs, sorted(seqs, key=int))
            got = self.read_all(n, shard)
            self.assertEqual([x["SequenceNumber"] for x in got], seqs)
        self.assertError("ValidationException", self.k.put_records, StreamName=n,
                         Records=entries + [entries[0]])
        self.assertError("ResourceNotFoundException", self.k.put_records,
                         StreamName="nope-" + n, Records=entries[:1])

    def test_size_limits(self):
        n = self.create()
        mib = 1024 * 1024
        self.k.put_record(StreamName=n, Data=b"x" * mib, PartitionKey="k")
        self.assertError("ValidationException", self.k.put_record, StreamName=n,
                         Data=b"x" * (mib + 1), PartitionKey="k")
        self.assertError("ValidationException", self.k.put_record, StreamName=n,
                         Data=b"x", PartitionKey="k" * 257)
        big = [{"Data": b"y" * mib, "PartitionKey": str(i)} for i in range(5)]
        self.assertError("InvalidArgumentException", self.k.put_records, StreamName=n,
                         Records=big)
        r = self.k.put_records(StreamName=n, Records=big[:4])
        self.assertEqual(r["FailedRecordCount"], 0)
        it = self.k.get_shard_iterator(StreamName=n, ShardId="shardId-000000000000",
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        got = self.k.get_records(ShardIterator=it)["Records"]
        self.assertEqual([len(x["Data"]) for x in got], [mib] * 5)

    def test_iterator_types(self):
        n = self.create()
        shard = "shardId-000000000000"
        a = self.k.put_record(StreamName=n, Data=b"a", PartitionKey="k")["SequenceNumber"]
        # botocore sends whole epoch seconds: put b in the next second and ask for that one.
        now = time.time()
        time.sleep(int(now) + 1.05 - now)
        mid = datetime.datetime.fromtimestamp(int(time.time()), datetime.timezone.utc)
        b = self.k.put_record(StreamName=n, Data=b"b", PartitionKey="k")["SequenceNumber"]
        latest = self.k.get_shard_iterator(StreamName=n, ShardId=shard,
                                           ShardIteratorType="LATEST")["ShardIterator"]
        self.k.put_record(StreamName=n, Data=b"c", PartitionKey="k")

        def data(recs):
            return b"".join(r["Data"] for r in recs)

        self.assertEqual(data(self.read_all(n, shard)), b"abc")
        self.assertEqual(data(self.k.get_records(ShardIterator=latest)["Records"]), b"c")
        self.assertEqual(data(self.read_all(n, shard, "AT_SEQUENCE_NUMBER",
                                            StartingSequenceNumber=a)), b"abc")
        self.assertEqual(data(self.read_all(n, shard, "AFTER_SEQUENCE_NUMBER",
                                            StartingSequenceNumber=b)), b"c")
        self.assertEqual(data(self.read_all(n, shard, "AT_TIMESTAMP", Timestamp=mid)), b"bc")
        self.assertError("InvalidArgumentException", self.k.get_shard_iterator, StreamName=n,
                         ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER",
                         StartingSequenceNumber="123")
        self.assertError("InvalidArgumentException", self.k.get_shard_iterator, StreamName=n,
                         ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER")
        self.assertError("ResourceNotFoundException", self.k.get_shard_iterator, StreamName=n,
                         ShardId="shardId-000000000007", ShardIteratorType="LATEST")

    def test_get_records_limit_and_next_iterator(self):
        n = self.create()
        for i in range(5):
            self.k.put_record(StreamName=n, Data=str(i).encode(), PartitionKey="k")
        it = self.k.get_shard_iterator(StreamName=n, ShardId="shardId-000000000000",
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        r = self.k.get_records(ShardIterator=it, Limit=2)
        self.assertEqual([x["Data"] for x in r["Records"]], [b"0", b"1"])
        self.assertIn("MillisBehindLatest", r)
        r = self.k.get_records(ShardIterator=r["NextShardIterator"], Limit=10)
        self.assertEqual([x["Data"] for x in r["Records"]], [b"2", b"3", b"4"])
        self.assertEqual(r["MillisBehindLatest"], 0)
        r = self.k.get_records(ShardIterator=r["NextShardIterator"])
        self.assertEqual(r["Records"], [])
        self.assertIn("NextShardIterator", r)

    def test_bad_iterators(self):
        n = self.create()
        it = self.k.get_shard_iterator(StreamName=n, ShardId="shardId-000000000000",
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        raw = bytearray(base64.b64decode(it))
        raw[15] ^= 0x01
        self.assertError("InvalidArgumentException", self.k.get_records,
                         ShardIterator=base64.b64encode(bytes(raw)).decode())
        self.assertError("InvalidArgumentException", self.k.get_records,
                         ShardIterator="x" * 40)
        self.assertError("ValidationException", self.k.get_records, ShardIterator=it,
                         Limit=10001)


class ShardsTest(KinesisTestCase):
    def test_list_shards_paging_and_filters(self):
        n = self.create(shards=4)
        r = self.k.list_shards(StreamName=n, MaxResults=3)
        self.assertEqual(len(r["Shards"]), 3)
        r2 = self.k.list_shards(NextToken=r["NextToken"])
        self.assertEqual([s["ShardId"] for s in r2["Shards"]], ["shardId-000000000003"])
        self.assertNotIn("NextToken", r2)
        self.assertError("InvalidArgumentException", self.k.list_shards, StreamName=n,
                         NextToken=r["NextToken"])
        r = self.k.list_shards(StreamName=n, ExclusiveStartShardId="shardId-000000000001")
        self.assertEqual(len(r["Shards"]), 2)
        r = self.k.list_shards(StreamName=n, ShardFilter={"Type": "AFTER_SHARD_ID",
                                                          "ShardId": "shardId-000000000002"})
        self.assertEqual([s["ShardId"] for s in r["Shards"]], ["shardId-000000000003"])
        self.k.split_shard(StreamName=n, ShardToSplit="shardId-000000000000",
                           NewStartingHashKey=str(2**124))
        latest = self.k.list_shards(StreamName=n, ShardFilter={"Type": "AT_LATEST"})["Shards"]
        self.assertEqual(len(latest), 5)
        self.assertNotIn("shardId-000000000000", [s["ShardId"] for s in latest])
        horizon = self.k.list_shards(StreamName=n,
                                     ShardFilter={"Type": "AT_TRIM_HORIZON"})["Shards"]
        self.assertEqual([s["ShardId"] for s in horizon][:1], ["shardId-000000000000"])
        allof = self.k.list_shards(StreamName=n,
                                   ShardFilter={"Type": "FROM_TRIM_HORIZON"})["Shards"]
        self.assertEqual(len(allof), 6)

    def test_split_merge_and_child_shards(self):
        n = self.create()
        self.k.put_record(StreamName=n, Data=b"before", PartitionKey="k")
        parent_it = self.k.get_shard_iterator(StreamName=n, ShardId="shardId-000000000000",
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        self.k.split_shard(StreamName=n, ShardToSplit="shardId-000000000000",
                           NewStartingHashKey=str(2**127))
        shards = self.k.describe_stream(StreamName=n)["StreamDescription"]["Shards"]
        self.assertEqual(len(shards), 3)
        self.assertIn("EndingSequenceNumber", shards[0]["SequenceNumberRange"])
        self.assertEqual(shards[1]["ParentShardId"], "shardId-000000000000")
        self.assertEqual(shards[2]["HashKeyRange"]["StartingHashKey"], str(2**127))
        after = self.k.put_record(StreamName=n, Data=b"after", PartitionKey="k")
        r = self.k.get_records(ShardIterator=parent_it)
        self.assertEqual([x["Data"] for x in r["Records"]], [b"before"])
        self.assertNotIn("NextShardIterator", r)
        self.assertEqual(sorted(c["ShardId"] for c in r["ChildShards"]),
                         ["shardId-000000000001", "shardId-000000000002"])
        self.assertEqual([x["Data"] for x in self.read_all(n, after["ShardId"])], [b"after"])
        self.assertError("ResourceInUseException", self.k.split_shard, StreamName=n,
                         ShardToSplit="shardId-000000000000", NewStartingHashKey="5")
        self.assertError("InvalidArgumentException", self.k.split_shard, StreamName=n,
                         ShardToSplit="shardId-000000000001", NewStartingHashKey="0")
        self.k.merge_shards(StreamName=n, ShardToMerge="shardId-000000000001",
                            AdjacentShardToMerge="shardId-000000000002")
        shards = self.k.describe_stream(StreamName=n)["StreamDescription"]["Shards"]
        self.assertEqual(shards[3]["ParentShardId"], "shardId-000000000001")
        self.assertEqual(shards[3]["AdjacentParentShardId"], "shardId-000000000002")
        self.assertError("ResourceNotFoundException", self.k.merge_shards, StreamName=n,
                         ShardToMerge="shardId-000000000003",
                         AdjacentShardToMerge="shardId-000000000009")

    def test_update_shard_count(self):
        n = self.create(shards=2)
        r = self.k.update_shard_count(StreamName=n, TargetShardCount=4,
                                      ScalingType="UNIFORM_SCALING")
        self.assertEqual(r["CurrentShardCount"], 2)
        self.assertEqual(r["TargetShardCount"], 4)
        self.k.get_waiter("stream_exists").wait(StreamName=n)
        s = self.k.describe_stream_summary(StreamName=n)["StreamDescriptionSummary"]
        self.assertEqual(s["OpenShardCount"], 4)
        self.assertError("LimitExceededException", self.k.update_shard_count, StreamName=n,
                         TargetShardCount=9, ScalingType="UNIFORM_SCALING")
        self.assertError("LimitExceededException", self.k.update_shard_count, StreamName=n,
                         TargetShardCount=1, ScalingType="UNIFORM_SCALING")


class ConfigurationTest(KinesisTestCase):
    def test_retention(self):
        n = self.create()
        self.k.increase_stream_retention_period(StreamName=n, RetentionPeriodHours=48)
        self.assertEqual(self.k.describe_stream_summary(StreamName=n)
                         ["StreamDescriptionSummary"]["RetentionPeriodHours"], 48)
        msg = self.assertError("InvalidArgumentException",
                               self.k.increase_stream_retention_period, StreamName=n,
                               RetentionPeriodHours=24)
        self.assertIn("DecreaseRetentionPeriod", msg)
        self.assertError("InvalidArgumentException", self.k.decrease_stream_retention_period,
                         StreamName=n, RetentionPeriodHours=72)
        self.assertError("InvalidArgumentException", self.k.increase_stream_retention_period,
                         StreamName=n, RetentionPeriodHours=8761)
        self.k.decrease_stream_retention_period(StreamName=n, RetentionPeriodHours=24)

    def test_stream_tags(self):
        n = self.create()
        self.k.add_tags_to_stream(StreamName=n, Tags={"a": "1", "b": "2", "c": "3"})
        r = self.k.list_tags_for_stream(StreamName=n, Limit=2)
        self.assertEqual(r["Tags"], [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        self.assertTrue(r["HasMoreTags"])
        r = self.k.list_tags_for_stream(StreamName=n, ExclusiveStartTagKey="b")
        self.assertEqual(r["Tags"], [{"Key": "c", "Value": "3"}])
        self.assertFalse(r["HasMoreTags"])
        self.k.remove_tags_from_stream(StreamName=n, TagKeys=["a", "c"])
        self.assertEqual(self.k.list_tags_for_stream(StreamName=n)["Tags"],
                         [{"Key": "b", "Value": "2"}])
        self.assertError("ResourceNotFoundException", self.k.add_tags_to_stream,
                         StreamName="nope-" + n, Tags={"a": "1"})

    def test_resource_tags_and_policy(self):
        n = name()
        self.k.create_stream(StreamName=n, ShardCount=1, Tags={"x": "y"})
        self.addCleanup(self._delete, n)
        arn = self.k.describe_stream_summary(StreamName=n)["StreamDescriptionSummary"]["StreamARN"]
        self.assertEqual(self.k.list_tags_for_resource(ResourceARN=arn)["Tags"],
                         [{"Key": "x", "Value": "y"}])
        self.k.tag_resource(ResourceARN=arn, Tags={"z": "w"})
        self.k.untag_resource(ResourceARN=arn, TagKeys=["x"])
        self.assertEqual(self.k.list_tags_for_resource(ResourceARN=arn)["Tags"],
                         [{"Key": "z", "Value": "w"}])
        policy = '{"Version":"2012-10-17","Statement":[]}'
        self.k.put_resource_policy(ResourceARN=arn, Policy=policy)
        self.assertEqual(self.k.get_resource_policy(ResourceARN=arn)["Policy"], policy)
        self.k.delete_resource_policy(ResourceARN=arn)
        self.assertError("ResourceNotFoundException", self.k.delete_resource_policy,
                         ResourceARN=arn)

    def test_encryption_and_monitoring(self):
        n = self.create()
        self.k.start_stream_encryption(StreamName=n, EncryptionType="KMS",
                                       KeyId="alias/aws/kinesis")
        s = self.k.describe_stream_summary(StreamName=n)["StreamDescriptionSummary"]
        self.assertEqual(s["EncryptionType"], "KMS")
        self.assertEqual(s["KeyId"], "alias/aws/kinesis")
        r = self.k.put_record(StreamName=n, Data=b"x", PartitionKey="k")
        self.assertEqual(r["EncryptionType"], "KMS")
        self.k.stop_stream_encryption(StreamName=n, EncryptionType="KMS",
                                      KeyId="alias/aws/kinesis")
        r = self.k.enable_enhanced_monitoring(StreamName=n, ShardLevelMetrics=["IncomingBytes"])
        self.assertEqual(r["CurrentShardLevelMetrics"], [])
        self.assertEqual(r["DesiredShardLevelMetrics"], ["IncomingBytes"])
        r = self.k.enable_enhanced_monitoring(StreamName=n, ShardLevelMetrics=["ALL"])
        self.assertEqual(len(r["DesiredShardLevelMetrics"]), 7)
        r = self.k.disable_enhanced_monitoring(StreamName=n, ShardLevelMetrics=["ALL"])
        self.assertEqual(r["DesiredShardLevelMetrics"], [])

    def test_consumers(self):
        n = self.create()
        arn = self.k.describe_stream_summary(StreamName=n)["StreamDescriptionSummary"]["StreamARN"]
        c = self.k.register_stream_consumer(StreamARN=arn, ConsumerName="app")["Consumer"]
        self.assertTrue(c["ConsumerARN"].startswith(arn + "/consumer/app:"))
        self.assertError("ResourceInUseException", self.k.register_stream_consumer,
                         StreamARN=arn, ConsumerName="app")
        d = self.k.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]
        self.assertEqual(d["ConsumerStatus"], "ACTIVE")
        self.assertEqual(d["StreamARN"], arn)
        d = self.k.describe_stream_consumer(StreamARN=arn, ConsumerName="app")
        self.assertEqual(d["ConsumerDescription"]["ConsumerName"], "app")
        self.k.register_stream_consumer(StreamARN=arn, ConsumerName="app2")
        r = self.k.list_stream_consumers(StreamARN=arn, MaxResults=1)
        self.assertEqual(len(r["Consumers"]), 1)
        r = self.k.list_stream_consumers(StreamARN=arn, NextToken=r["NextToken"])
        self.assertEqual([x["ConsumerName"] for x in r["Consumers"]], ["app2"])
        self.assertEqual(self.k.describe_stream_summary(StreamName=n)
                         ["StreamDescriptionSummary"]["ConsumerCount"], 2)
        self.assertError("ResourceInUseException", self.k.delete_stream, StreamName=n)
        self.k.deregister_stream_consumer(ConsumerARN=c["ConsumerARN"])
        self.assertError("ResourceNotFoundException", self.k.describe_stream_consumer,
                         StreamARN=arn, ConsumerName="app")
        self.k.delete_stream(StreamName=n, EnforceConsumerDeletion=True)


if __name__ == "__main__":
    unittest.main()
