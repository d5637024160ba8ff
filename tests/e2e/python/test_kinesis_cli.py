"""The aws CLI v2 from Debian (/usr/bin/aws, AWS JSON 1.1 for Kinesis): a short stream lifecycle.

Exit code 254 means the service answered with an error (AWS CLI user guide, "Return codes").
"""

import base64
import json
import os
import subprocess
import unittest
import uuid

from harness import ferry_server

AWS_V2 = os.environ.get("FERRY_AWS_V2", "/usr/bin/aws")
SERVER = None


def setUpModule():
    global SERVER
    SERVER = ferry_server.FerryServer()
    SERVER.start()


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()


@unittest.skipUnless(os.path.exists(AWS_V2), f"aws CLI v2 not found at {AWS_V2}")
class KinesisCliTest(unittest.TestCase):
    def aws(self, *args, expect_rc=0):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
        env.pop("AWS_PROFILE", None)
        p = subprocess.run([AWS_V2, "--endpoint-url", SERVER.endpoint, "--output", "json",
                            "kinesis", *args], capture_output=True, text=True, env=env,
                           timeout=120)
        self.assertEqual(p.returncode, expect_rc, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else p.stderr

    def test_lifecycle(self):
        name = f"cli-{uuid.uuid4().hex[:10]}"
        self.aws("create-stream", "--stream-name", name, "--shard-count", "2")
        self.aws("wait", "stream-exists", "--stream-name", name)
        summary = self.aws("describe-stream-summary", "--stream-name", name)
        self.assertEqual(summary["StreamDescriptionSummary"]["OpenShardCount"], 2)
        self.assertIn(name, self.aws("list-streams")["StreamNames"])
        # CLI v2 takes blob arguments as base64 by default.
        put = self.aws("put-record", "--stream-name", name, "--partition-key", "k",
                       "--data", base64.b64encode(b"hello cli").decode())
        it = self.aws("get-shard-iterator", "--stream-name", name, "--shard-id", put["ShardId"],
                      "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
        recs = self.aws("get-records", "--shard-iterator", it)["Records"]
        self.assertEqual(base64.b64decode(recs[0]["Data"]), b"hello cli")
        self.assertEqual(recs[0]["SequenceNumber"], put["SequenceNumber"])
        self.aws("add-tags-to-stream", "--stream-name", name, "--tags", "env=test")
        self.assertEqual(self.aws("list-tags-for-stream", "--stream-name", name)["Tags"],
                         [{"Key": "env", "Value": "test"}])
        self.aws("delete-stream", "--stream-name", name)
        err = self.aws("describe-stream", "--stream-name", name, expect_rc=254)
        self.assertIn("ResourceNotFoundException", err)


if __name__ == "__main__":
    unittest.main()
