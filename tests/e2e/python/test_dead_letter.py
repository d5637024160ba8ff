"""Dead-letter queues with boto3: moves after maxReceiveCount, RedriveAllowPolicy enforcement,
FIFO dead-letter queues, ListDeadLetterSourceQueues, and what deleting queues does.

Expectations come from the SQS Developer Guide ("Using dead-letter queues", "Configure a
dead-letter queue redrive") and API Reference (RedrivePolicy, RedriveAllowPolicy,
ListDeadLetterSourceQueues), and AWS's answer for a DLQ of the wrong type.
"""

import json

from harness import ferry_server
from python.sqs_support import SqsTestCase, unique_name


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


def redrive(arn: str, count: int) -> str:
    return json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": count})


class DeadLetterTest(SqsTestCase):
    def test_moves_after_exactly_max_receive_count_receives(self):
        dlq = self.create_queue("dlq")
        src = self.create_queue("src", attributes={"RedrivePolicy": redrive(self.arn_of(dlq), 2),
                                                   "VisibilityTimeout": "0"})
        sent = self.sqs.send_message(QueueUrl=src, MessageBody="poison")
        sent_at = None
        for n in (1, 2):
            got = self.sqs.receive_message(QueueUrl=src, MessageSystemAttributeNames=["All"])
            msg = got["Messages"][0]
            self.assertEqual(msg["Attributes"]["ApproximateReceiveCount"], str(n))
            sent_at = msg["Attributes"]["SentTimestamp"]
        self.assert_empty(src)  # the third receive moves it instead
        moved = self.receive_exactly(dlq, 1, MessageSystemAttributeNames=["All"])[0]
        self.assertEqual(moved["MessageId"], sent["MessageId"])
        self.assertEqual(moved["Attributes"]["SentTimestamp"], sent_at)
        self.assertEqual(moved["Attributes"]["DeadLetterQueueSourceArn"], self.arn_of(src))

    def test_dead_letter_queue_of_another_type(self):
        fifo_dlq = self.create_queue(name=unique_name("fdlq") + ".fifo",
                                     attributes={"FifoQueue": "true"})
        policy = redrive(self.arn_of(fifo_dlq), 3)
        self.expect_error(
            lambda: self.create_queue("src", attributes={"RedrivePolicy": policy}),
            "InvalidParameterValue",
            message=f"Value {policy} for parameter RedrivePolicy is invalid. Reason: "
                    "Dead-letter queue must be same type of queue as the source..")

    def test_fifo_dead_letter_queue(self):
        dlq = self.create_queue(name=unique_name("fdlq") + ".fifo",
                                attributes={"FifoQueue": "true"})
        src = self.create_queue(name=unique_name("fsrc") + ".fifo", attributes={
            "FifoQueue": "true", "RedrivePolicy": redrive(self.arn_of(dlq), 1),
            "VisibilityTimeout": "0"})
        for body in ("first", "second"):
            self.sqs.send_message(QueueUrl=src, MessageBody=body, MessageGroupId="g",
                                  MessageDeduplicationId=body)
        got = self.sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=1)["Messages"]
        self.assertEqual(got[0]["Body"], "first")
        # The next receive moves "first" and delivers "second": the group keeps moving.
        got = self.sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=1)["Messages"]
        self.assertEqual(got[0]["Body"], "second")
        dead = self.receive_exactly(dlq, 1, MessageSystemAttributeNames=["All"])[0]
        self.assertEqual(dead["Body"], "first")
        self.assertEqual(dead["Attributes"]["MessageGroupId"], "g")
        # Developer Guide: the deduplication ID becomes the original message's ID.
        self.assertEqual(dead["Attributes"]["MessageDeduplicationId"], dead["MessageId"])


class RedriveAllowPolicyEnforcementTest(SqsTestCase):
    def test_deny_all(self):
        dlq = self.create_queue("closed", attributes={
            "RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})})
        src = self.create_queue("src")
        self.expect_error(lambda: self.sqs.set_queue_attributes(
            QueueUrl=src, Attributes={"RedrivePolicy": redrive(self.arn_of(dlq), 3)}),
            "InvalidParameterValue", message_contains="RedrivePolicy")
        self.assertNotIn("RedrivePolicy", self.attributes(src))

    def test_by_queue(self):
        allowed = unique_name("allowed")
        arn = f"arn:aws:sqs:us-east-1:{self.arn_of(self.create_queue('probe')).split(':')[4]}:"
        dlq = self.create_queue("picky", attributes={"RedriveAllowPolicy": json.dumps(
            {"redrivePermission": "byQueue", "sourceQueueArns": [arn + allowed]})})
        self.create_queue(name=allowed,
                          attributes={"RedrivePolicy": redrive(self.arn_of(dlq), 3)})
        self.expect_error(
            lambda: self.create_queue("other",
                                      attributes={"RedrivePolicy": redrive(self.arn_of(dlq), 3)}),
            "InvalidParameterValue", message_contains="RedrivePolicy")


class ListDeadLetterSourceQueuesTest(SqsTestCase):
    def test_lists_pages_and_errors(self):
        dlq = self.create_queue("dlq")
        self.assertEqual(self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"], [])
        policy = redrive(self.arn_of(dlq), 5)
        sources = sorted(self.create_queue("src", attributes={"RedrivePolicy": policy})
                         for _ in range(3))
        self.assertEqual(sorted(self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)
                                ["queueUrls"]), sources)
        seen, token = [], None
        while True:
            kwargs = {"QueueUrl": dlq, "MaxResults": 2}
            if token:
                kwargs["NextToken"] = token
            page = self.sqs.list_dead_letter_source_queues(**kwargs)
            self.assertLessEqual(len(page["queueUrls"]), 2)
            seen += page["queueUrls"]
            token = page.get("NextToken")
            if not token:
                break
        self.assertEqual(sorted(seen), sources)
        self.expect_error(lambda: self.sqs.list_dead_letter_source_queues(
            QueueUrl=dlq, MaxResults=1001), "InvalidParameterValue")
        self.expect_error(lambda: self.sqs.list_dead_letter_source_queues(
            QueueUrl=dlq + "-missing"), "AWS.SimpleQueueService.NonExistentQueue")


class QueueDeletionTest(SqsTestCase):
    def test_deleting_a_dead_letter_queue_keeps_the_sources_policy(self):
        name = unique_name("dlq")
        dlq = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        policy = redrive(self.arn_of(dlq), 1)
        src = self.create_queue("src", attributes={"RedrivePolicy": policy})
        self.sqs.delete_queue(QueueUrl=dlq)
        self.assertEqual(json.loads(self.attributes(src, "RedrivePolicy")["RedrivePolicy"]),
                         json.loads(policy))
        # Messages stay in the source while the dead-letter queue is missing.
        self.sqs.send_message(QueueUrl=src, MessageBody="x")
        for _ in range(2):
            self.receive_exactly(src, 1, VisibilityTimeout=0)
