"""SNS over AWS JSON 1.0, as SDKs generated from a JSON-protocol SNS model speak it.

No SNS model with the JSON protocol ships yet, so the client here is boto3 driven by the
machine's own SNS model with its metadata switched to AWS JSON 1.0 (awsQueryCompatible, like
SQS's since 2023): the request and answer shapes, the signing and the error parsing are
botocore's own. Both target prefixes in use are covered: the Smithy service name
(AmazonSimpleNotificationService) and SNS_20100331.
"""

import gzip
import json
import os
import tempfile
import unittest
import uuid

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import ferry_server


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


def json_sns_model_dir(target_prefix: str) -> str:
    """A botocore data directory whose sns model speaks AWS JSON 1.0 under target_prefix."""
    source = os.path.join(os.path.dirname(botocore.__file__), "data", "sns", "2010-03-31")
    path = os.path.join(source, "service-2.json.gz")
    if os.path.exists(path):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            model = json.load(f)
    else:
        with open(os.path.join(source, "service-2.json"), encoding="utf-8") as f:
            model = json.load(f)
    meta = model["metadata"]
    meta["protocol"] = "json"
    meta["protocols"] = ["json"]
    meta["jsonVersion"] = "1.0"
    meta["targetPrefix"] = target_prefix
    meta["awsQueryCompatible"] = {}
    root = tempfile.mkdtemp(prefix="ferry-sns-json-")
    target = os.path.join(root, "sns", "2010-03-31")
    os.makedirs(target)
    with open(os.path.join(target, "service-2.json"), "w", encoding="utf-8") as f:
        json.dump(model, f)
    return root


def unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


class SnsJsonProtocolTest(unittest.TestCase):
    target_prefix = "AmazonSimpleNotificationService"

    @classmethod
    def setUpClass(cls):
        server = ferry_server.module_server(__name__)
        session = boto3.session.Session()
        session._session.get_component("data_loader").search_paths.insert(
            0, json_sns_model_dir(cls.target_prefix))
        cfg = Config(retries={"max_attempts": 1, "mode": "standard"})
        cls.sns = session.client("sns", endpoint_url=server.endpoint, region_name="us-east-1",
                                 aws_access_key_id="test", aws_secret_access_key="test",
                                 config=cfg)
        cls.sqs = server.client("sqs")
        cls.requests = []
        cls.sns.meta.events.register(
            "before-send.sns",
            lambda request, **_: cls.requests.append(dict(request.headers)))

    def test_requests_are_json(self):
        self.sns.list_topics()
        headers = self.requests[-1]
        target = headers["X-Amz-Target"]
        target = target.decode() if isinstance(target, bytes) else target
        self.assertEqual(target, f"{self.target_prefix}.ListTopics")
        content_type = headers["Content-Type"]
        content_type = content_type.decode() if isinstance(content_type, bytes) else content_type
        self.assertEqual(content_type, "application/x-amz-json-1.0")

    def test_topic_subscription_publish_round_trip(self):
        name = unique("json")
        arn = self.sns.create_topic(Name=name, Attributes={"DisplayName": "json topic"},
                                    Tags=[{"Key": "team", "Value": "ferry"}])["TopicArn"]
        self.addCleanup(self.sns.delete_topic, TopicArn=arn)
        self.assertTrue(arn.endswith(":" + name))
        attrs = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(attrs["DisplayName"], "json topic")
        self.assertEqual(self.sns.list_tags_for_resource(ResourceArn=arn)["Tags"],
                         [{"Key": "team", "Value": "ferry"}])

        url = self.sqs.create_queue(QueueName=unique("jsonq"))["QueueUrl"]
        self.addCleanup(self.sqs.delete_queue, QueueUrl=url)
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sub = self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn,
                                 Attributes={"RawMessageDelivery": "true",
                                             "FilterPolicy": json.dumps({"kind": ["order"]})},
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
        listed = self.sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        self.assertEqual([s["SubscriptionArn"] for s in listed], [sub])

        self.sns.publish(TopicArn=arn, Message="skipped",
                         MessageAttributes={"kind": {"DataType": "String",
                                                     "StringValue": "refund"}})
        published = self.sns.publish(
            TopicArn=arn, Message="hello over json",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}})
        self.assertIn("MessageId", published)
        got = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5,
                                       MessageAttributeNames=["All"])["Messages"]
        self.assertEqual([m["Body"] for m in got], ["hello over json"])
        self.assertEqual(got[0]["MessageAttributes"]["kind"]["StringValue"], "order")

    def test_publish_batch_and_batch_errors(self):
        arn = self.sns.create_topic(Name=unique("jsonb"))["TopicArn"]
        self.addCleanup(self.sns.delete_topic, TopicArn=arn)
        out = self.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
            {"Id": "a", "Message": "one"}, {"Id": "b", "Message": "two"}])
        self.assertEqual(sorted(e["Id"] for e in out["Successful"]), ["a", "b"])
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
                {"Id": "a", "Message": "one"}, {"Id": "a", "Message": "two"}])
        self.assertEqual(ctx.exception.response["Error"]["Code"], "BatchEntryIdsNotDistinct")

    def test_errors_carry_query_codes(self):
        missing = "arn:aws:sns:us-east-1:000000000000:" + unique("missing")
        with self.assertRaises(ClientError) as ctx:
            self.sns.get_topic_attributes(TopicArn=missing)
        self.assertEqual(ctx.exception.response["Error"]["Code"], "NotFound")
        self.assertEqual(ctx.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        with self.assertRaises(ClientError) as ctx:
            self.sns.create_topic(Name="not valid!")
        self.assertEqual(ctx.exception.response["Error"]["Code"], "InvalidParameter")
        self.assertEqual(ctx.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)


class SnsJsonVersionedPrefixTest(SnsJsonProtocolTest):
    target_prefix = "SNS_20100331"

if __name__ == "__main__":
    unittest.main()
