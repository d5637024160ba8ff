"""SNS topics, subscriptions and fan-out to SQS, driven by boto3 (Query protocol).

Expectations come from the SNS API Reference and Developer Guide (message and JSON formats,
error codes) and from answers AWS returned as recorded in SDK issues; none is taken from Ferry.
"""

import json
import time
import unittest
import urllib.request
import uuid

from botocore.exceptions import ClientError

from harness import ferry_server


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


def unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


class SnsTestCase(unittest.TestCase):
    maxDiff = None

    @property
    def server(self) -> ferry_server.FerryServer:
        return ferry_server.module_server(type(self).__module__)

    def setUp(self):
        super().setUp()
        self.sns = self.server.client("sns")
        self.sqs = self.server.client("sqs")

    def topic(self, tag="t", fifo=False, attributes=None, tags=None) -> str:
        name = unique(tag) + (".fifo" if fifo else "")
        attrs = dict(attributes or {})
        if fifo:
            attrs["FifoTopic"] = "true"
        kwargs = {"Name": name}
        if attrs:
            kwargs["Attributes"] = attrs
        if tags:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        arn = self.sns.create_topic(**kwargs)["TopicArn"]
        self.addCleanup(self.sns.delete_topic, TopicArn=arn)
        return arn

    def queue(self, tag="q", fifo=False) -> tuple[str, str]:
        """Creates a queue; returns (url, arn)."""
        name = unique(tag) + (".fifo" if fifo else "")
        attrs = {"FifoQueue": "true"} if fifo else {}
        url = self.sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        self.addCleanup(self.sqs.delete_queue, QueueUrl=url)
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        return url, arn

    def subscribe_queue(self, topic_arn, queue_arn, **attributes) -> str:
        kwargs = {"TopicArn": topic_arn, "Protocol": "sqs", "Endpoint": queue_arn,
                  "ReturnSubscriptionArn": True}
        if attributes:
            kwargs["Attributes"] = attributes
        return self.sns.subscribe(**kwargs)["SubscriptionArn"]

    def receive(self, url, expect=1, wait_s=5.0) -> list:
        got, deadline = [], time.monotonic() + wait_s
        while len(got) < expect and time.monotonic() < deadline:
            resp = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=1, MessageAttributeNames=["All"])
            for m in resp.get("Messages", []):
                got.append(m)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def assert_error(self, ctx, code, status=400, message=None):
        err = ctx.exception.response["Error"]
        self.assertEqual(err["Code"], code)
        self.assertEqual(ctx.exception.response["ResponseMetadata"]["HTTPStatusCode"], status)
        if message is not None:
            self.assertEqual(err["Message"], message)


class TopicTest(SnsTestCase):
    def test_create_is_idempotent_and_listed(self):
        arn = self.topic()
        name = arn.rsplit(":", 1)[1]
        self.assertRegex(arn, r"^arn:aws:sns:us-east-1:\d{12}:" + name + "$")
        self.assertEqual(self.sns.create_topic(Name=name)["TopicArn"], arn)
        arns = []
        kwargs = {}
        while True:
            page = self.sns.list_topics(**kwargs)
            arns += [t["TopicArn"] for t in page["Topics"]]
            if "NextToken" not in page:
                break
            kwargs["NextToken"] = page["NextToken"]
        self.assertIn(arn, arns)

    def test_create_with_different_attributes_fails(self):
        arn = self.topic(attributes={"DisplayName": "one"})
        with self.assertRaises(ClientError) as ctx:
            self.sns.create_topic(Name=arn.rsplit(":", 1)[1], Attributes={"DisplayName": "two"})
        self.assert_error(ctx, "InvalidParameter", message=(
            "Invalid parameter: Attributes Reason: Topic already exists with different "
            "attributes"))

    def test_invalid_names(self):
        with self.assertRaises(ClientError) as ctx:
            self.sns.create_topic(Name="bad name")
        self.assert_error(ctx, "InvalidParameter", message="Invalid parameter: Topic Name")
        with self.assertRaises(ClientError) as ctx:
            self.sns.create_topic(Name=unique("x"), Attributes={"FifoTopic": "true"})
        self.assert_error(ctx, "InvalidParameter")

    def test_list_topics_pages(self):
        arns = {self.topic(f"page{i}") for i in range(105)}
        seen, kwargs, pages = set(), {}, 0
        while True:
            page = self.sns.list_topics(**kwargs)
            pages += 1
            self.assertLessEqual(len(page["Topics"]), 100)
            seen |= {t["TopicArn"] for t in page["Topics"]}
            if "NextToken" not in page:
                break
            kwargs["NextToken"] = page["NextToken"]
        self.assertGreaterEqual(pages, 2)
        self.assertTrue(arns <= seen)

    def test_attributes(self):
        arn = self.topic(attributes={"DisplayName": "Shown"})
        attrs = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(attrs["TopicArn"], arn)
        self.assertEqual(attrs["DisplayName"], "Shown")
        self.assertEqual(attrs["SubscriptionsConfirmed"], "0")
        self.assertEqual(attrs["SubscriptionsPending"], "0")
        self.assertEqual(attrs["SubscriptionsDeleted"], "0")
        policy = json.loads(attrs["Policy"])
        self.assertEqual(policy["Statement"][0]["Resource"], arn)
        self.assertIn("EffectiveDeliveryPolicy", attrs)
        self.assertNotIn("FifoTopic", attrs)
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName",
                                      AttributeValue="Other")
        attrs = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(attrs["DisplayName"], "Other")
        with self.assertRaises(ClientError) as ctx:
            self.sns.set_topic_attributes(TopicArn=arn, AttributeName="Bogus",
                                          AttributeValue="1")
        self.assert_error(ctx, "InvalidParameter", message="Invalid parameter: AttributeName")

    def test_fifo_attributes(self):
        arn = self.topic(fifo=True, attributes={"ContentBasedDeduplication": "true"})
        attrs = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(attrs["FifoTopic"], "true")
        self.assertEqual(attrs["ContentBasedDeduplication"], "true")

    def test_missing_topic(self):
        missing = "arn:aws:sns:us-east-1:000000000000:" + unique("nope")
        with self.assertRaises(ClientError) as ctx:
            self.sns.get_topic_attributes(TopicArn=missing)
        self.assert_error(ctx, "NotFound", 404, "Topic does not exist")
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish(TopicArn=missing, Message="m")
        self.assert_error(ctx, "NotFound", 404, "Topic does not exist")
        # DeleteTopic is idempotent.
        self.sns.delete_topic(TopicArn=missing)

    def test_tags(self):
        arn = self.topic(tags={"a": "1"})
        self.sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}])
        tags = self.sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
        self.assertEqual(sorted((t["Key"], t["Value"]) for t in tags), [("a", "1"), ("b", "2")])
        self.sns.untag_resource(ResourceArn=arn, TagKeys=["a"])
        tags = self.sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
        self.assertEqual(tags, [{"Key": "b", "Value": "2"}])
        with self.assertRaises(ClientError) as ctx:
            self.sns.list_tags_for_resource(ResourceArn=arn + "x")
        self.assert_error(ctx, "ResourceNotFound", 404)


class PermissionTest(SnsTestCase):
    def test_add_and_remove_permission(self):
        topic = self.topic()
        self.sns.add_permission(TopicArn=topic, Label="share", AWSAccountId=["111122223333"],
                                ActionName=["Publish", "Subscribe"])
        policy = json.loads(self.sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
        sids = [s["Sid"] for s in policy["Statement"]]
        self.assertEqual(sids, ["__default_statement_ID", "share"])
        share = policy["Statement"][1]
        self.assertEqual(share["Effect"], "Allow")
        self.assertEqual(share["Principal"], {"AWS": "arn:aws:iam::111122223333:root"})
        self.assertEqual(share["Action"], ["SNS:Publish", "SNS:Subscribe"])
        self.assertEqual(share["Resource"], topic)
        with self.assertRaises(ClientError) as ctx:
            self.sns.add_permission(TopicArn=topic, Label="share", AWSAccountId=["1"],
                                    ActionName=["Publish"])
        self.assert_error(ctx, "InvalidParameter")
        self.sns.remove_permission(TopicArn=topic, Label="share")
        policy = json.loads(self.sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
        self.assertEqual([s["Sid"] for s in policy["Statement"]], ["__default_statement_ID"])
        with self.assertRaises(ClientError) as ctx:
            self.sns.add_permission(TopicArn=topic + "x", Label="l", AWSAccountId=["1"],
                                    ActionName=["Publish"])
        self.assert_error(ctx, "NotFound", 404)


class SmsSettingsTest(SnsTestCase):
    def test_sms_attributes_and_opt_out(self):
        self.sns.set_sms_attributes(attributes={"DefaultSMSType": "Transactional",
                                                "DefaultSenderID": "Ferry"})
        got = self.sns.get_sms_attributes(attributes=["DefaultSMSType"])["attributes"]
        self.assertEqual(got, {"DefaultSMSType": "Transactional"})
        got = self.sns.get_sms_attributes()["attributes"]
        self.assertEqual(got["DefaultSenderID"], "Ferry")
        with self.assertRaises(ClientError) as ctx:
            self.sns.set_sms_attributes(attributes={"DefaultSMSType": "Loud"})
        self.assert_error(ctx, "InvalidParameter")
        self.assertFalse(
            self.sns.check_if_phone_number_is_opted_out(phoneNumber="+15555550100")["isOptedOut"])
        with self.assertRaises(ClientError) as ctx:
            self.sns.check_if_phone_number_is_opted_out(phoneNumber="not a number")
        self.assert_error(ctx, "InvalidParameter")
        self.assertEqual(self.sns.list_phone_numbers_opted_out()["phoneNumbers"], [])
        self.sns.opt_in_phone_number(phoneNumber="+15555550100")


class SubscriptionTest(SnsTestCase):
    def test_subscribe_list_unsubscribe(self):
        topic = self.topic()
        _, qarn = self.queue()
        sub = self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
        self.assertTrue(sub.startswith(topic + ":"))
        # Subscribe is idempotent.
        self.assertEqual(
            self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"],
            sub)
        by_topic = self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        self.assertEqual(len(by_topic), 1)
        self.assertEqual(by_topic[0]["SubscriptionArn"], sub)
        self.assertEqual(by_topic[0]["Protocol"], "sqs")
        self.assertEqual(by_topic[0]["Endpoint"], qarn)
        self.assertEqual(by_topic[0]["TopicArn"], topic)
        all_subs = self.sns.list_subscriptions()["Subscriptions"]
        self.assertIn(sub, [s["SubscriptionArn"] for s in all_subs])
        attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["PendingConfirmation"], "false")
        self.assertEqual(attrs["RawMessageDelivery"], "false")
        self.assertEqual(attrs["TopicArn"], topic)
        self.assertEqual(
            self.sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"],
            "1")
        self.sns.unsubscribe(SubscriptionArn=sub)
        self.assertEqual(self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"], [])
        with self.assertRaises(ClientError) as ctx:
            self.sns.get_subscription_attributes(SubscriptionArn=sub)
        self.assert_error(ctx, "NotFound", 404, "Subscription does not exist")

    def test_unsubscribe_url_from_the_envelope(self):
        topic = self.topic()
        url, qarn = self.queue()
        sub = self.subscribe_queue(topic, qarn)
        self.sns.publish(TopicArn=topic, Message="m")
        (msg,) = self.receive(url)
        unsubscribe_url = json.loads(msg["Body"])["UnsubscribeURL"]
        with urllib.request.urlopen(unsubscribe_url, timeout=10) as resp:
            self.assertEqual(resp.status, 200)
        with self.assertRaises(ClientError) as ctx:
            self.sns.get_subscription_attributes(SubscriptionArn=sub)
        self.assert_error(ctx, "NotFound", 404)

    def test_http_subscription_is_pending(self):
        topic = self.topic()
        resp = self.sns.subscribe(TopicArn=topic, Protocol="http",
                                  Endpoint="http://127.0.0.1:9/hook")
        self.assertEqual(resp["SubscriptionArn"], "pending confirmation")
        subs = self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        self.assertEqual(subs[0]["SubscriptionArn"], "PendingConfirmation")
        attrs = self.sns.get_topic_attributes(TopicArn=topic)["Attributes"]
        self.assertEqual(attrs["SubscriptionsPending"], "1")

    def test_subscribe_errors(self):
        topic = self.topic()
        with self.assertRaises(ClientError) as ctx:
            self.sns.subscribe(TopicArn=topic, Protocol="carrier-pigeon", Endpoint="x")
        self.assert_error(ctx, "InvalidParameter", message=(
            "Invalid parameter: Amazon SNS does not support this protocol string: "
            "carrier-pigeon"))
        with self.assertRaises(ClientError) as ctx:
            self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="not-an-arn")
        self.assert_error(ctx, "InvalidParameter", message="Invalid parameter: SQS endpoint ARN")
        _, qarn = self.queue()
        with self.assertRaises(ClientError) as ctx:
            self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                               Attributes={"FilterPolicy": '{"a": 1}'})
        err = ctx.exception.response["Error"]
        self.assertEqual(err["Code"], "InvalidParameter")
        self.assertTrue(err["Message"].startswith(
            "Invalid parameter: Attributes Reason: FilterPolicy: "), err["Message"])
        with self.assertRaises(ClientError) as ctx:
            self.sns.subscribe(TopicArn=topic + "x", Protocol="sqs", Endpoint=qarn)
        self.assert_error(ctx, "NotFound", 404)

    def test_set_subscription_attributes(self):
        topic = self.topic()
        _, qarn = self.queue()
        sub = self.subscribe_queue(topic, qarn)
        self.sns.set_subscription_attributes(SubscriptionArn=sub,
                                             AttributeName="RawMessageDelivery",
                                             AttributeValue="true")
        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                             AttributeValue='{"k": ["v"]}')
        attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["RawMessageDelivery"], "true")
        self.assertEqual(json.loads(attrs["FilterPolicy"]), {"k": ["v"]})
        self.assertEqual(attrs["FilterPolicyScope"], "MessageAttributes")
        with self.assertRaises(ClientError) as ctx:
            self.sns.set_subscription_attributes(SubscriptionArn=sub,
                                                 AttributeName="RawMessageDelivery",
                                                 AttributeValue="maybe")
        self.assert_error(ctx, "InvalidParameter")
        with self.assertRaises(ClientError) as ctx:
            self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="Nope",
                                                 AttributeValue="1")
        self.assert_error(ctx, "InvalidParameter", message="Invalid parameter: AttributeName")

    def test_delete_topic_removes_subscriptions(self):
        name = unique("gone")
        topic = self.sns.create_topic(Name=name)["TopicArn"]
        _, qarn = self.queue()
        sub = self.subscribe_queue(topic, qarn)
        self.sns.delete_topic(TopicArn=topic)
        self.assertNotIn(sub, [s["SubscriptionArn"]
                               for s in self.sns.list_subscriptions()["Subscriptions"]])


class PublishTest(SnsTestCase):
    def test_envelope(self):
        topic = self.topic()
        url, qarn = self.queue()
        sub = self.subscribe_queue(topic, qarn)
        resp = self.sns.publish(TopicArn=topic, Message="hello", Subject="greeting",
                                MessageAttributes={
                                    "color": {"DataType": "String", "StringValue": "red"},
                                    "n": {"DataType": "Number", "StringValue": "3"},
                                    "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
        (msg,) = self.receive(url)
        body = json.loads(msg["Body"])
        self.assertEqual(body["Type"], "Notification")
        self.assertEqual(body["MessageId"], resp["MessageId"])
        self.assertEqual(body["TopicArn"], topic)
        self.assertEqual(body["Subject"], "greeting")
        self.assertEqual(body["Message"], "hello")
        self.assertRegex(body["Timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(body["SignatureVersion"], "1")
        for key in ("Signature", "SigningCertURL"):
            self.assertTrue(body[key])
        self.assertIn(sub, body["UnsubscribeURL"])
        self.assertEqual(body["MessageAttributes"]["color"], {"Type": "String", "Value": "red"})
        self.assertEqual(body["MessageAttributes"]["n"], {"Type": "Number", "Value": "3"})
        self.assertEqual(body["MessageAttributes"]["b"], {"Type": "Binary", "Value": "AAE="})
        self.assertEqual(list(body)[:3], ["Type", "MessageId", "TopicArn"])

    def test_raw_delivery(self):
        topic = self.topic()
        url, qarn = self.queue()
        self.subscribe_queue(topic, qarn, RawMessageDelivery="true")
        self.sns.publish(TopicArn=topic, Message="raw body", MessageAttributes={
            "color": {"DataType": "String", "StringValue": "red"}})
        (msg,) = self.receive(url)
        self.assertEqual(msg["Body"], "raw body")
        self.assertEqual(msg["MessageAttributes"]["color"],
                         {"DataType": "String", "StringValue": "red"})

    def test_target_arn_and_message_structure(self):
        topic = self.topic()
        url, qarn = self.queue()
        self.subscribe_queue(topic, qarn, RawMessageDelivery="true")
        self.sns.publish(TargetArn=topic, MessageStructure="json",
                         Message=json.dumps({"default": "dflt", "sqs": "for sqs"}))
        self.sns.publish(TargetArn=topic, MessageStructure="json",
                         Message=json.dumps({"default": "only default"}))
        bodies = sorted(m["Body"] for m in self.receive(url, expect=2))
        self.assertEqual(bodies, ["for sqs", "only default"])
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish(TopicArn=topic, MessageStructure="json",
                             Message=json.dumps({"sqs": "x"}))
        self.assert_error(ctx, "InvalidParameter", message=(
            "Invalid parameter: Message Structure - No default entry in JSON message body"))
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish(TopicArn=topic, MessageStructure="json", Message="{nope")
        self.assert_error(ctx, "InvalidParameter", message=(
            "Invalid parameter: Message Structure - JSON message body failed to parse"))

    def test_publish_errors(self):
        topic = self.topic()
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish(TopicArn=topic, Message="")
        self.assert_error(ctx, "InvalidParameter", message="Invalid parameter: Empty message")
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish(TopicArn=topic, Message="x" * (256 * 1024 + 1))
        self.assert_error(ctx, "InvalidParameter", message="Invalid parameter: Message too long")
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish(TopicArn=topic, Message="m", MessageDeduplicationId="d")
        self.assert_error(ctx, "InvalidParameter")
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish(TopicArn=topic, Message="m", MessageAttributes={
                "n": {"DataType": "Number", "StringValue": "abc"}})
        self.assert_error(ctx, "ParameterValueInvalid")
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish(TopicArn="not-an-arn", Message="m")
        self.assert_error(ctx, "InvalidParameter")

    def test_filter_policies_both_scopes(self):
        topic = self.topic()
        all_url, all_arn = self.queue("all")
        red_url, red_arn = self.queue("red")
        big_url, big_arn = self.queue("big")
        self.subscribe_queue(topic, all_arn, RawMessageDelivery="true")
        self.subscribe_queue(topic, red_arn, RawMessageDelivery="true",
                             FilterPolicy=json.dumps({"color": ["red"],
                                                      "n": [{"numeric": [">", 5]}]}))
        self.subscribe_queue(topic, big_arn, RawMessageDelivery="true",
                             FilterPolicy=json.dumps({"size": [{"prefix": "b"}]}),
                             FilterPolicyScope="MessageBody")
        cases = [
            ('{"size": "big"}', {"color": "red", "n": "7"}),
            ('{"size": "small"}', {"color": "red", "n": "2"}),
            ('{"size": "bigger"}', {"color": "blue", "n": "9"}),
        ]
        for body, attrs in cases:
            self.sns.publish(TopicArn=topic, Message=body, MessageAttributes={
                "color": {"DataType": "String", "StringValue": attrs["color"]},
                "n": {"DataType": "Number", "StringValue": attrs["n"]}})
        self.assertEqual(len(self.receive(all_url, expect=3)), 3)
        self.assertEqual([m["Body"] for m in self.receive(red_url, expect=2, wait_s=3)],
                         ['{"size": "big"}'])
        self.assertEqual(sorted(m["Body"] for m in self.receive(big_url, expect=3, wait_s=3)),
                         ['{"size": "big"}', '{"size": "bigger"}'])

    def test_publish_batch(self):
        topic = self.topic()
        url, qarn = self.queue()
        self.subscribe_queue(topic, qarn, RawMessageDelivery="true")
        resp = self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "a", "Message": "one"},
            {"Id": "b", "Message": "two", "MessageAttributes": {
                "k": {"DataType": "String", "StringValue": "v"}}},
            {"Id": "c", "Message": ""},
        ])
        self.assertEqual(sorted(s["Id"] for s in resp["Successful"]), ["a", "b"])
        self.assertEqual(len(resp["Failed"]), 1)
        self.assertEqual(resp["Failed"][0]["Id"], "c")
        self.assertEqual(resp["Failed"][0]["Code"], "InvalidParameter")
        self.assertTrue(resp["Failed"][0]["SenderFault"])
        self.assertEqual(sorted(m["Body"] for m in self.receive(url, expect=2)), ["one", "two"])
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
                {"Id": "a", "Message": "1"}, {"Id": "a", "Message": "2"}])
        self.assert_error(ctx, "BatchEntryIdsNotDistinct")
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
                {"Id": str(i), "Message": "m"} for i in range(11)])
        self.assert_error(ctx, "TooManyEntriesInBatchRequest")
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
                {"Id": "bad id!", "Message": "m"}])
        self.assert_error(ctx, "InvalidBatchEntryId")
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish_batch(TopicArn=topic + "x", PublishBatchRequestEntries=[
                {"Id": "a", "Message": "m"}])
        self.assert_error(ctx, "NotFound", 404)


class FifoTest(SnsTestCase):
    def test_fifo_topic_to_fifo_queue_in_order(self):
        topic = self.topic(fifo=True)
        url, qarn = self.queue(fifo=True)
        self.subscribe_queue(topic, qarn, RawMessageDelivery="true")
        seqs = []
        for i in range(20):
            resp = self.sns.publish(TopicArn=topic, Message=f"m{i}", MessageGroupId="g",
                                    MessageDeduplicationId=f"d{i}")
            seqs.append(int(resp["SequenceNumber"]))
        self.assertEqual(seqs, sorted(seqs))
        dup = self.sns.publish(TopicArn=topic, Message="again", MessageGroupId="g",
                               MessageDeduplicationId="d0")
        self.assertEqual(int(dup["SequenceNumber"]), seqs[0])
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 20 and time.monotonic() < deadline:
            resp = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                            AttributeNames=["MessageGroupId"])
            for m in resp.get("Messages", []):
                got.append(m)
                self.assertEqual(m["Attributes"]["MessageGroupId"], "g")
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual([m["Body"] for m in got], [f"m{i}" for i in range(20)])

    def test_fifo_rules(self):
        topic = self.topic(fifo=True)
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish(TopicArn=topic, Message="m", MessageDeduplicationId="d")
        self.assert_error(ctx, "InvalidParameter", message=(
            "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"))
        with self.assertRaises(ClientError) as ctx:
            self.sns.publish(TopicArn=topic, Message="m", MessageGroupId="g")
        self.assert_error(ctx, "InvalidParameter", message=(
            "Invalid parameter: The topic should either have ContentBasedDeduplication enabled "
            "or MessageDeduplicationId provided explicitly"))
        _, standard_arn = self.queue()
        with self.assertRaises(ClientError) as ctx:
            self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=standard_arn)
        self.assert_error(ctx, "InvalidParameter")

    def test_content_based_deduplication(self):
        topic = self.topic(fifo=True, attributes={"ContentBasedDeduplication": "true"})
        url, qarn = self.queue(fifo=True)
        self.subscribe_queue(topic, qarn)
        first = self.sns.publish(TopicArn=topic, Message="same", MessageGroupId="g")
        second = self.sns.publish(TopicArn=topic, Message="same", MessageGroupId="g")
        self.assertEqual(first["MessageId"], second["MessageId"])
        (msg,) = self.receive(url, expect=2, wait_s=3)
        body = json.loads(msg["Body"])
        self.assertEqual(body["Message"], "same")
        self.assertEqual(body["SequenceNumber"], first["SequenceNumber"])


if __name__ == "__main__":
    unittest.main()
