"""The aws CLI v2 from Debian (/usr/bin/aws, Query protocol) against SNS: a short lifecycle of a
topic with an SQS subscription, and the error exit code (254, AWS CLI user guide "Return codes").
"""

import json
import os
import subprocess
import time
import unittest
import uuid

from harness import ferry_server

AWS_V2 = os.environ.get("FERRY_AWS_V2", "/usr/bin/aws")


def _is_v2() -> bool:
    try:
        out = subprocess.run([AWS_V2, "--version"], capture_output=True, text=True, timeout=60)
        return (out.stdout or out.stderr).startswith("aws-cli/2.")
    except (OSError, subprocess.TimeoutExpired):
        return False


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


@unittest.skipUnless(_is_v2(), f"aws CLI v2 not found at {AWS_V2}")
class CliSnsTest(unittest.TestCase):
    def aws(self, service, *args, expect_rc=0):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="", AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        env.pop("AWS_PROFILE", None)
        cmd = [AWS_V2, "--endpoint-url", ferry_server.module_server(__name__).endpoint,
               "--output", "json", service, *args]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(p.returncode, expect_rc, f"{args[0]}: {p.stdout}\n{p.stderr}")
        return (json.loads(p.stdout) if p.stdout.strip() else None), p.stderr

    def test_lifecycle(self):
        name = f"cli-{uuid.uuid4().hex[:10]}"
        topic = self.aws("sns", "create-topic", "--name", name,
                         "--tags", "Key=team,Value=ferry")[0]["TopicArn"]
        self.assertTrue(topic.endswith(":" + name))
        topics = self.aws("sns", "list-topics")[0]["Topics"]
        self.assertIn({"TopicArn": topic}, topics)
        url = self.aws("sqs", "create-queue", "--queue-name", name)[0]["QueueUrl"]
        qarn = self.aws("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names",
                        "QueueArn")[0]["Attributes"]["QueueArn"]
        sub = self.aws("sns", "subscribe", "--topic-arn", topic, "--protocol", "sqs",
                       "--notification-endpoint", qarn, "--attributes",
                       '{"RawMessageDelivery":"true"}')[0]["SubscriptionArn"]
        self.assertTrue(sub.startswith(topic + ":"))
        attrs = self.aws("sns", "get-subscription-attributes", "--subscription-arn",
                         sub)[0]["Attributes"]
        self.assertEqual(attrs["RawMessageDelivery"], "true")
        mid = self.aws("sns", "publish", "--topic-arn", topic, "--message", "from the cli",
                       "--message-attributes",
                       '{"k":{"DataType":"String","StringValue":"v"}}')[0]["MessageId"]
        self.assertTrue(mid)
        msgs = []
        deadline = time.monotonic() + 10
        while not msgs and time.monotonic() < deadline:
            out = self.aws("sqs", "receive-message", "--queue-url", url,
                           "--message-attribute-names", "All", "--wait-time-seconds", "1")[0]
            msgs = (out or {}).get("Messages", [])
        self.assertEqual(msgs[0]["Body"], "from the cli")
        self.assertEqual(msgs[0]["MessageAttributes"]["k"]["StringValue"], "v")
        tags = self.aws("sns", "list-tags-for-resource", "--resource-arn", topic)[0]["Tags"]
        self.assertEqual(tags, [{"Key": "team", "Value": "ferry"}])
        self.aws("sns", "unsubscribe", "--subscription-arn", sub)
        self.aws("sns", "delete-topic", "--topic-arn", topic)
        self.aws("sqs", "delete-queue", "--queue-url", url)
        _, err = self.aws("sns", "get-topic-attributes", "--topic-arn", topic, expect_rc=254)
        self.assertIn("An error occurred (NotFound) when calling the GetTopicAttributes "
                      "operation: Topic does not exist", err)

    def test_platform_application_and_endpoint(self):
        name = f"cli-{uuid.uuid4().hex[:10]}"
        app = self.aws("sns", "create-platform-application", "--name", name, "--platform", "GCM",
                       "--attributes", "PlatformCredential=server-key")[0]["PlatformApplicationArn"]
        self.assertTrue(app.endswith(f":app/GCM/{name}"), app)
        apps = self.aws("sns", "list-platform-applications")[0]["PlatformApplications"]
        self.assertIn(app, [a["PlatformApplicationArn"] for a in apps])
        ep = self.aws("sns", "create-platform-endpoint", "--platform-application-arn", app,
                      "--token", "device-token")[0]["EndpointArn"]
        attrs = self.aws("sns", "get-endpoint-attributes", "--endpoint-arn", ep)[0]["Attributes"]
        self.assertEqual(attrs["Enabled"], "true")
        self.assertTrue(self.aws("sns", "publish", "--target-arn", ep, "--message",
                                 "hello device")[0]["MessageId"])
        self.aws("sns", "delete-platform-application", "--platform-application-arn", app)
        _, err = self.aws("sns", "get-endpoint-attributes", "--endpoint-arn", ep, expect_rc=254)
        self.assertIn("(NotFound)", err)


if __name__ == "__main__":
    unittest.main()
