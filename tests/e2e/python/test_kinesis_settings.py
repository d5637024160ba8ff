"""Kinesis settings with boto3: UpdateMaxRecordSize (and the record size limit it moves),
UpdateStreamWarmThroughput, Update/DescribeAccountSettings, their errors, and their survival
across a restart of the server."""

import datetime
import unittest
import uuid

from botocore.exceptions import ClientError

from harness import ferry_server

MIB = 1024 * 1024


def name(prefix="set"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class SettingsTestCase(unittest.TestCase):
    def setUp(self):
        self.server = ferry_server.FerryServer()
        self.server.start()
        self.addCleanup(self.server.stop)
        self.k = self.server.client("kinesis")
        # Without botocore's own checks, so that the server's answers to bad values are seen.
        self.raw = self.server.client("kinesis", parameter_validation=False)

    def create(self, on_demand=False, **kw):
        n = name()
        if on_demand:
            self.k.create_stream(StreamName=n, StreamModeDetails={"StreamMode": "ON_DEMAND"}, **kw)
        else:
            self.k.create_stream(StreamName=n, ShardCount=1, **kw)
        return n, self.summary(n)["StreamARN"]

    def summary(self, n):
        return self.k.describe_stream_summary(StreamName=n)["StreamDescriptionSummary"]

    def assertError(self, code, fn, *args, **kwargs):
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.response["Error"]["Code"], code,
                         cm.exception.response["Error"])
        return cm.exception.response["Error"].get("Message", "")

    def restart(self):
        if not self.server.can_control:
            self.skipTest("needs a server this harness can restart")
        self.server.stop(cleanup=False)
        self.server.start()
        self.k = self.server.client("kinesis")


class MaxRecordSizeTest(SettingsTestCase):
    def test_update_moves_the_put_limit(self):
        n, arn = self.create()
        self.assertEqual(self.summary(n)["MaxRecordSizeInKiB"], 1024)
        self.assertError("ValidationException", self.k.put_record, StreamName=n,
                         Data=b"x" * (MIB + 1), PartitionKey="k")
        self.k.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=2048)
        self.assertEqual(self.summary(n)["MaxRecordSizeInKiB"], 2048)
        r = self.k.put_record(StreamName=n, Data=b"y" * (2 * MIB), PartitionKey="k")
        msg = self.assertError("ValidationException", self.k.put_record, StreamName=n,
                               Data=b"x" * (2 * MIB + 1), PartitionKey="k")
        self.assertIn("2097152", msg)
        self.assertError("ValidationException", self.k.put_records, StreamName=n,
                         Records=[{"Data": b"x" * (2 * MIB + 1), "PartitionKey": "k"}])
        it = self.k.get_shard_iterator(StreamName=n, ShardId=r["ShardId"],
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        got = self.k.get_records(ShardIterator=it)["Records"]
        self.assertEqual([len(x["Data"]) for x in got], [2 * MIB])

        self.restart()
        self.assertEqual(self.summary(n)["MaxRecordSizeInKiB"], 2048)
        self.k.put_record(StreamName=n, Data=b"z" * (2 * MIB), PartitionKey="k")

    def test_create_stream_with_max_record_size(self):
        n, _ = self.create(MaxRecordSizeInKiB=10240)
        self.assertEqual(self.summary(n)["MaxRecordSizeInKiB"], 10240)
        self.k.put_record(StreamName=n, Data=b"x" * (10 * MIB), PartitionKey="k")
        msg = self.assertError("ValidationException", self.raw.create_stream, StreamName=name(),
                               ShardCount=1, MaxRecordSizeInKiB=10241)
        self.assertEqual(msg, "1 validation error detected: Value '10241' at 'maxRecordSizeInKiB' "
                              "failed to satisfy constraint: Member must have value less than or "
                              "equal to 10240")

    def test_errors(self):
        _, arn = self.create()
        for bad, bound in ((1023, "greater than or equal to 1024"),
                           (10241, "less than or equal to 10240")):
            msg = self.assertError("ValidationException", self.raw.update_max_record_size,
                                   StreamARN=arn, MaxRecordSizeInKiB=bad)
            self.assertEqual(msg, f"1 validation error detected: Value '{bad}' at "
                                  f"'maxRecordSizeInKiB' failed to satisfy constraint: "
                                  f"Member must have value {bound}")
        self.assertError("ResourceNotFoundException", self.k.update_max_record_size,
                         StreamARN=arn.replace(":stream/", ":stream/nope-"),
                         MaxRecordSizeInKiB=2048)
        self.assertError("ValidationException", self.raw.update_max_record_size,
                         StreamARN="not-an-arn", MaxRecordSizeInKiB=2048)


class AccountSettingsAndWarmThroughputTest(SettingsTestCase):
    def commitment(self):
        return self.k.describe_account_settings()["MinimumThroughputBillingCommitment"]

    def test_commitment_and_warm_throughput_survive_restart(self):
        self.assertEqual(self.commitment(), {"Status": "DISABLED"})
        od, od_arn = self.create(on_demand=True)
        prov, _ = self.create()
        msg = self.assertError("InvalidArgumentException", self.k.update_stream_warm_throughput,
                               StreamARN=od_arn, WarmThroughputMiBps=100)
        self.assertIn("MinimumThroughputBillingCommitment", msg)

        before = datetime.datetime.now(datetime.timezone.utc)
        on = self.k.update_account_settings(
            MinimumThroughputBillingCommitment={"Status": "ENABLED"})
        c = on["MinimumThroughputBillingCommitment"]
        self.assertEqual(c["Status"], "ENABLED")
        self.assertGreater(c["StartedAt"], before - datetime.timedelta(minutes=1))
        self.assertEqual(c["EarliestAllowedEndAt"] - c["StartedAt"], datetime.timedelta(days=1))
        self.assertNotIn("EndedAt", c)
        self.assertEqual(self.commitment(), c)

        self.assertError("InvalidArgumentException", self.k.update_stream_warm_throughput,
                         StreamName=prov, WarmThroughputMiBps=100)
        out = self.k.update_stream_warm_throughput(StreamARN=od_arn, WarmThroughputMiBps=100)
        self.assertEqual(out["StreamName"], od)
        self.assertEqual(out["StreamARN"], od_arn)
        self.assertEqual(out["WarmThroughput"], {"TargetMiBps": 100, "CurrentMiBps": 0})
        self.assertEqual(self.summary(od)["WarmThroughput"],
                         {"TargetMiBps": 100, "CurrentMiBps": 100})
        self.assertNotIn("WarmThroughput", self.summary(prov))

        # Within its first day a commitment cannot end: disabling schedules the end.
        off = self.k.update_account_settings(
            MinimumThroughputBillingCommitment={"Status": "DISABLED"})
        c = off["MinimumThroughputBillingCommitment"]
        self.assertEqual(c["Status"], "ENABLED_UNTIL_EARLIEST_ALLOWED_END")
        self.assertEqual(c["EndedAt"], c["EarliestAllowedEndAt"])

        self.restart()
        self.assertEqual(self.commitment(), c)
        self.assertEqual(self.summary(od)["WarmThroughput"],
                         {"TargetMiBps": 100, "CurrentMiBps": 100})
        again = self.k.update_account_settings(
            MinimumThroughputBillingCommitment={"Status": "ENABLED"})
        self.assertEqual(again["MinimumThroughputBillingCommitment"]["Status"], "ENABLED")

    def test_create_stream_with_warm_throughput(self):
        self.assertError("InvalidArgumentException", self.k.create_stream, StreamName=name(),
                         StreamModeDetails={"StreamMode": "ON_DEMAND"}, WarmThroughputMiBps=10)
        self.k.update_account_settings(MinimumThroughputBillingCommitment={"Status": "ENABLED"})
        n, _ = self.create(on_demand=True, WarmThroughputMiBps=10)
        self.assertEqual(self.summary(n)["WarmThroughput"], {"TargetMiBps": 10, "CurrentMiBps": 10})
        self.assertError("InvalidArgumentException", self.k.create_stream, StreamName=name(),
                         ShardCount=1, WarmThroughputMiBps=10)

    def test_errors(self):
        msg = self.assertError("ValidationException", self.raw.update_account_settings,
                               MinimumThroughputBillingCommitment={"Status": "MAYBE"})
        self.assertEqual(msg, "1 validation error detected: Value 'MAYBE' at "
                              "'minimumThroughputBillingCommitment.status' failed to satisfy "
                              "constraint: Member must satisfy enum value set: [ENABLED, DISABLED]")
        self.k.update_account_settings(MinimumThroughputBillingCommitment={"Status": "ENABLED"})
        n, arn = self.create(on_demand=True)
        msg = self.assertError("ValidationException", self.raw.update_stream_warm_throughput,
                               StreamARN=arn, WarmThroughputMiBps=-1)
        self.assertEqual(msg, "1 validation error detected: Value '-1' at 'warmThroughputMiBps' "
                              "failed to satisfy constraint: Member must have value greater "
                              "than or equal to 0")
        self.assertError("LimitExceededException", self.k.update_stream_warm_throughput,
                         StreamARN=arn, WarmThroughputMiBps=10241)
        self.assertError("ResourceNotFoundException", self.k.update_stream_warm_throughput,
                         StreamName="nope-" + n, WarmThroughputMiBps=10)
        self.assertError("InvalidArgumentException", self.k.update_stream_warm_throughput,
                         WarmThroughputMiBps=10)


if __name__ == "__main__":
    unittest.main()
