"""Kinesis durability: every PutRecords answered 2xx is readable after kill -9, sequence numbers
are never reused after a restart, and streams with their configuration come back.

Runs only against a Ferry process this harness starts (not moto, not FERRY_ENDPOINT).
"""

import threading
import time
import unittest
import uuid

from botocore.exceptions import (ClientError, ConnectionClosedError, EndpointConnectionError,
                                 ReadTimeoutError)

from harness import ferry_server

CONNECTION_LOST = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError,
                   ConnectionError, OSError)


def _skip_reason():
    if ferry_server.target() != "ferry":
        return "needs a Ferry process this harness can kill -9"
    return None


@unittest.skipIf(_skip_reason(), _skip_reason() or "")
class KinesisKillNineTest(unittest.TestCase):
    def setUp(self):
        self.server = ferry_server.FerryServer()
        self.server.start()
        self.addCleanup(self.server.stop)

    def read_everything(self, k, name):
        seen = {}
        for shard in k.list_shards(StreamName=name)["Shards"]:
            it = k.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                      ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while it:
                r = k.get_records(ShardIterator=it, Limit=10000)
                for rec in r["Records"]:
                    seen[rec["SequenceNumber"]] = rec["Data"]
                if not r["Records"]:
                    break
                it = r.get("NextShardIterator")
        return seen

    def test_acknowledged_put_records_survive_kill9(self):
        k = self.server.client("kinesis")
        name = f"dur-{uuid.uuid4().hex[:10]}"
        k.create_stream(StreamName=name, ShardCount=3)
        k.add_tags_to_stream(StreamName=name, Tags={"keep": "me"})
        acked = {}
        lock = threading.Lock()
        stop = threading.Event()

        def producer(pid):
            client = self.server.client("kinesis")
            i = 0
            while not stop.is_set():
                entries = [{"Data": f"{pid}-{i}-{j}".encode(), "PartitionKey": f"{pid}-{j}"}
                           for j in range(50)]
                try:
                    r = client.put_records(StreamName=name, Records=entries)
                except (ClientError,) + CONNECTION_LOST:
                    return
                with lock:
                    for e, res in zip(entries, r["Records"]):
                        acked[res["SequenceNumber"]] = e["Data"]
                i += 1

        threads = [threading.Thread(target=producer, args=(p,)) for p in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if len(acked) >= 2000:
                    break
            time.sleep(0.05)
        self.server.kill9()
        stop.set()
        for t in threads:
            t.join()
        with lock:
            acked_copy = dict(acked)
        self.assertGreater(len(acked_copy), 0)
        self.server.restart()

        k = self.server.client("kinesis")
        seen = self.read_everything(k, name)
        missing = [s for s in acked_copy if seen.get(s) != acked_copy[s]]
        self.assertEqual(missing, [], f"{len(missing)} of {len(acked_copy)} acknowledged lost")
        tags = k.list_tags_for_stream(StreamName=name)["Tags"]
        self.assertEqual(tags, [{"Key": "keep", "Value": "me"}])

        # Sequence numbers are never reused after the crash.
        highest = max(int(s) for s in seen)
        r = k.put_record(StreamName=name, Data=b"after", PartitionKey="x")
        self.assertGreater(int(r["SequenceNumber"]), highest)

    def test_clean_restart_keeps_streams_and_shards(self):
        k = self.server.client("kinesis")
        name = f"dur-{uuid.uuid4().hex[:10]}"
        k.create_stream(StreamName=name, ShardCount=1)
        k.put_record(StreamName=name, Data=b"x", PartitionKey="k")
        k.split_shard(StreamName=name, ShardToSplit="shardId-000000000000",
                      NewStartingHashKey=str(2**127))
        k.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=72)
        self.server.stop(cleanup=False)
        self.server.start()
        k = self.server.client("kinesis")
        d = k.describe_stream(StreamName=name)["StreamDescription"]
        self.assertEqual(len(d["Shards"]), 3)
        self.assertEqual(d["RetentionPeriodHours"], 72)
        self.assertEqual(d["Shards"][2]["ParentShardId"], "shardId-000000000000")
        self.assertEqual(len(self.read_everything(k, name)), 1)


if __name__ == "__main__":
    unittest.main()
