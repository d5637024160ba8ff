"""GetQueueAttributes and SetQueueAttributes (incl. counts, policies, dead-letter queues),
ListDeadLetterSourceQueues, AddPermission/RemovePermission and message move tasks."""

import json

from harness import ferry_server
from python.sqs_support import SqsTestCase, account_of, name_of, unique_name
from python.test_queues import OUT_OF_RANGE


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


SETTABLE = {
    "DelaySeconds": ["0", "900", "7"],
    "MaximumMessageSize": ["1024", "1048576", "65536"],
    "MessageRetentionPeriod": ["60", "1209600", "86400"],
    "ReceiveMessageWaitTimeSeconds": ["0", "20", "4"],
    "VisibilityTimeout": ["0", "43200", "60"],
}

READ_ONLY = ["QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp"]


def policy_for(queue_arn: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Id": f"{queue_arn}/SQSDefaultPolicy",
        "Statement": [{
            "Sid": "AllowSend",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:t"}},
        }],
    }


class GetQueueAttributesTest(SqsTestCase):
    def test_specific_names_return_only_those(self):
        url = self.create_queue("specific")
        attrs = self.attributes(url, "VisibilityTimeout", "QueueArn")
        self.assertEqual(set(attrs), {"VisibilityTimeout", "QueueArn"})
        self.assertEqual(attrs["QueueArn"],
                         f"arn:aws:sqs:us-east-1:{account_of(url)}:{name_of(url)}")

    def test_without_names_returns_nothing(self):
        # API Reference: "if you don't specify values for this parameter, the request returns
        # empty results".
        url = self.create_queue("nonames")
        resp = self.sqs.get_queue_attributes(QueueUrl=url)
        self.assertEqual(resp.get("Attributes", {}), {})

    def test_all_with_others(self):
        url = self.create_queue("allplus")
        attrs = self.attributes(url, "All", "VisibilityTimeout")
        self.assertIn("QueueArn", attrs)
        self.assertIn("MessageRetentionPeriod", attrs)

    def test_unknown_name(self):
        url = self.create_queue("unknownget")
        self.expect_error(lambda: self.attributes(url, "Foobar"), "InvalidAttributeName",
                          message="Unknown Attribute Foobar.")

    def test_nonexistent_queue(self):
        url = self.create_queue("exists")
        missing = url.rsplit("/", 1)[0] + "/" + unique_name("never")
        self.expect_error(lambda: self.attributes(missing, "All"),
                          "AWS.SimpleQueueService.NonExistentQueue")


class SetQueueAttributesTest(SqsTestCase):
    def test_each_settable_attribute(self):
        # moto differs: LastModifiedTimestamp/CreatedTimestamp have a fraction (AWS: whole seconds).
        url = self.create_queue("set")
        for attr, values in SETTABLE.items():
            for value in values:
                with self.subTest(attr=attr, value=value):
                    self.sqs.set_queue_attributes(QueueUrl=url, Attributes={attr: value})
                    self.assertEqual(self.attributes(url, attr), {attr: value})
        attrs = self.attributes(url, "CreatedTimestamp", "LastModifiedTimestamp")
        self.assertGreaterEqual(int(attrs["LastModifiedTimestamp"]),
                                int(attrs["CreatedTimestamp"]))

    def test_several_at_once(self):
        url = self.create_queue("setmany")
        wanted = {"DelaySeconds": "3", "VisibilityTimeout": "69", "MaximumMessageSize": "2048"}
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes=wanted)
        self.assertEqual(self.attributes(url, *wanted), wanted)

    def test_out_of_range_values(self):
        # moto differs: it does not check the ranges (and answers 500 to a non-number).
        url = self.create_queue("setrange")
        before = self.attributes(url)
        for attr, value in OUT_OF_RANGE:
            with self.subTest(attr=attr, value=value):
                self.expect_error(
                    lambda: self.sqs.set_queue_attributes(QueueUrl=url, Attributes={attr: value}),
                    "InvalidAttributeValue", message=f"Invalid value for the parameter {attr}.")
        after = self.attributes(url)
        for attr, _ in OUT_OF_RANGE:
            self.assertEqual(after[attr], before[attr], f"{attr} changed by a rejected request")

    def test_read_only_attributes(self):
        # moto differs: it accepts (and ignores) writes to read-only attributes.
        url = self.create_queue("readonly")
        for attr in READ_ONLY:
            with self.subTest(attr=attr):
                self.expect_error(
                    lambda: self.sqs.set_queue_attributes(QueueUrl=url, Attributes={attr: "1"}),
                    "InvalidAttributeName")

    def test_unknown_attribute(self):
        # moto differs: it accepts unknown attribute names.
        url = self.create_queue("setunknown")
        self.expect_error(
            lambda: self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Bogus": "1"}),
            "InvalidAttributeName", message="Unknown Attribute Bogus.")

    def test_fifo_attribute_on_standard_queue(self):
        # moto differs: it accepts FifoQueue on a standard queue.
        # AWS answers "Unknown Attribute FifoQueue." when a standard queue is made FIFO.
        url = self.create_queue("setfifo")
        self.expect_error(
            lambda: self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "true"}),
            "InvalidAttributeName", message="Unknown Attribute FifoQueue.")


class QueueCountsTest(SqsTestCase):
    def test_visible_in_flight_and_delayed_counts(self):
        url = self.create_queue("counts")
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"visible-{i}")
        self.sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=600)
        self.wait_for_counts(url, Messages=3, MessagesNotVisible=0, MessagesDelayed=1)

        received = self.receive_exactly(url, 2, VisibilityTimeout=600)
        self.wait_for_counts(url, Messages=1, MessagesNotVisible=2, MessagesDelayed=1)

        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])
        self.wait_for_counts(url, Messages=1, MessagesNotVisible=1, MessagesDelayed=1)

        self.sqs.change_message_visibility(QueueUrl=url, VisibilityTimeout=0,
                                           ReceiptHandle=received[1]["ReceiptHandle"])
        self.wait_for_counts(url, Messages=2, MessagesNotVisible=0, MessagesDelayed=1)


class PolicyTest(SqsTestCase):
    def test_policy_round_trip_and_removal(self):
        url = self.create_queue("policy")
        policy = policy_for(self.arn_of(url))
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        self.assertEqual(json.loads(self.attributes(url, "Policy")["Policy"]), policy)
        self.assertEqual(json.loads(self.attributes(url)["Policy"]), policy)
        # An empty policy removes it.
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
        self.assertNotIn("Policy", self.attributes(url))

    def test_policy_at_creation(self):
        name = unique_name("policycreate")
        # The ARN is known before the queue exists: arn:aws:sqs:<region>:<account>:<name>.
        probe = self.create_queue("probe")
        arn = f"arn:aws:sqs:us-east-1:{account_of(probe)}:{name}"
        url = self.create_queue(name=name, attributes={"Policy": json.dumps(policy_for(arn))})
        self.assertEqual(json.loads(self.attributes(url, "Policy")["Policy"]), policy_for(arn))

    def test_policy_that_is_not_json(self):
        # moto differs: it stores any string as the policy.
        url = self.create_queue("badpolicy")
        self.expect_error(
            lambda: self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": "{not"}),
            "InvalidAttributeValue", message_contains="Policy")

    def test_add_and_remove_permission(self):
        # moto differs: its __type is InvalidParameterValue (AWS: InvalidParameterValueException).
        url = self.create_queue("perm")
        acct = account_of(url)
        self.sqs.add_permission(QueueUrl=url, Label="crossaccountpermission",
                                AWSAccountIds=[acct], Actions=["ReceiveMessage"])
        policy = json.loads(self.attributes(url, "Policy")["Policy"])
        statements = policy["Statement"]
        self.assertEqual(len(statements), 1)
        st = statements[0]
        self.assertEqual(st["Sid"], "crossaccountpermission")
        self.assertEqual(st["Effect"], "Allow")
        self.assertEqual(st["Action"], "SQS:ReceiveMessage")
        self.assertEqual(st["Resource"], self.arn_of(url))
        self.assertEqual(st["Principal"], {"AWS": f"arn:aws:iam::{acct}:root"})
        # The same label again is rejected; a second label adds a statement.
        self.expect_error(
            lambda: self.sqs.add_permission(QueueUrl=url, Label="crossaccountpermission",
                                            AWSAccountIds=[acct], Actions=["SendMessage"]),
            "InvalidParameterValue",
            message="Value crossaccountpermission for parameter Label is invalid. "
                    "Reason: Already exists.")
        self.sqs.add_permission(QueueUrl=url, Label="second", AWSAccountIds=[acct],
                                Actions=["SendMessage"])
        sids = [s["Sid"] for s in json.loads(self.attributes(url, "Policy")["Policy"])
                ["Statement"]]
        self.assertEqual(sids, ["crossaccountpermission", "second"])
        self.sqs.remove_permission(QueueUrl=url, Label="crossaccountpermission")
        self.sqs.remove_permission(QueueUrl=url, Label="second")
        self.assertNotIn("Policy", self.attributes(url, "Policy"))
        self.expect_error(lambda: self.sqs.remove_permission(QueueUrl=url, Label="second"),
                          "InvalidParameterValue",
                          message="Value second for parameter Label is invalid. "
                                  "Reason: can't find label.")


class RedrivePolicyTest(SqsTestCase):
    def test_round_trip_and_list_sources(self):
        # moto differs: ListDeadLetterSourceQueues ignores MaxResults.
        dlq = self.create_queue("dlq")
        dlq_arn = self.arn_of(dlq)
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}
        src1 = self.create_queue("src", attributes={"RedrivePolicy": json.dumps(redrive)})
        src2 = self.create_queue("src")
        self.sqs.set_queue_attributes(QueueUrl=src2, Attributes={"RedrivePolicy":
                                                                 json.dumps(redrive)})
        for src in (src1, src2):
            got = json.loads(self.attributes(src, "RedrivePolicy")["RedrivePolicy"])
            self.assertEqual(got, redrive)  # maxReceiveCount comes back as a JSON number
        sources = self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
        self.assertEqual(sorted(sources), sorted([src1, src2]))
        # Paginated listing.
        page = self.sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=1)
        self.assertEqual(len(page["queueUrls"]), 1)
        self.assertIn("NextToken", page)
        rest = self.sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=1,
                                                       NextToken=page["NextToken"])
        self.assertEqual(sorted(page["queueUrls"] + rest["queueUrls"]), sorted([src1, src2]))
        # Removing the policy (empty string) removes the source.
        self.sqs.set_queue_attributes(QueueUrl=src2, Attributes={"RedrivePolicy": ""})
        self.assertNotIn("RedrivePolicy", self.attributes(src2))
        self.assertEqual(self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"],
                         [src1])

    def test_message_moves_to_dead_letter_queue(self):
        dlq = self.create_queue("dlq")
        redrive = {"deadLetterTargetArn": self.arn_of(dlq), "maxReceiveCount": 1}
        src = self.create_queue("src", attributes={"RedrivePolicy": json.dumps(redrive),
                                                   "VisibilityTimeout": "0"})
        sent = self.sqs.send_message(QueueUrl=src, MessageBody="poison",
                                     MessageAttributes={"k": {"DataType": "String",
                                                              "StringValue": "v"}})
        # The first receive delivers it (receive count 1 = maxReceiveCount); the next receive
        # attempt moves it to the dead-letter queue instead of delivering it again.
        first = self.receive_exactly(src, 1)
        self.assertEqual(first[0]["MessageId"], sent["MessageId"])
        self.assert_empty(src)

        def in_dlq():
            return self.sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1,
                                            MessageAttributeNames=["All"]).get("Messages")

        msg = self.wait_until(in_dlq, timeout=30, what="the message in the dead-letter queue")[0]
        self.assertEqual(msg["MessageId"], sent["MessageId"])  # the id is kept
        self.assertEqual(msg["Body"], "poison")
        self.assertEqual(msg["MessageAttributes"], {"k": {"DataType": "String",
                                                          "StringValue": "v"}})
        self.assert_empty(src, WaitTimeSeconds=1)

    def test_invalid_dead_letter_arn(self):
        # moto differs: it answers AWS.SimpleQueueService.NonExistentQueue.
        policy = json.dumps({"deadLetterTargetArn": "dummy", "maxReceiveCount": 42})
        self.expect_error(
            lambda: self.create_queue("baddlq", attributes={"RedrivePolicy": policy}),
            "InvalidParameterValue",
            message=f"Value {policy} for parameter RedrivePolicy is invalid. "
                    "Reason: Invalid value for deadLetterTargetArn.")

    def test_invalid_policies(self):
        # moto differs: it stores some invalid policies and answers 500 to others.
        dlq_arn = self.arn_of(self.create_queue("dlq"))
        url = self.create_queue("badredrive")
        bad = [
            json.dumps({"deadLetterTargetArn": dlq_arn}),                  # no maxReceiveCount
            json.dumps({"maxReceiveCount": 5}),                            # no target
            json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 0}),
            json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1001}),
            json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "invalid"}),
            "not json",
        ]
        for policy in bad:
            with self.subTest(policy=policy):
                self.expect_error(
                    lambda: self.sqs.set_queue_attributes(QueueUrl=url,
                                                          Attributes={"RedrivePolicy": policy}),
                    "InvalidParameterValue", message_contains="RedrivePolicy")
        self.assertNotIn("RedrivePolicy", self.attributes(url))


class RedriveAllowPolicyTest(SqsTestCase):
    def test_round_trip(self):
        # moto differs: it does not know RedriveAllowPolicy ("Unknown Attribute").
        dlq = self.create_queue("allowdlq")
        src_arn = self.arn_of(self.create_queue("allowsrc"))
        for policy in ({"redrivePermission": "allowAll"}, {"redrivePermission": "denyAll"},
                       {"redrivePermission": "byQueue", "sourceQueueArns": [src_arn]}):
            with self.subTest(policy=policy):
                self.sqs.set_queue_attributes(QueueUrl=dlq, Attributes={
                    "RedriveAllowPolicy": json.dumps(policy)})
                got = json.loads(self.attributes(dlq, "RedriveAllowPolicy")["RedriveAllowPolicy"])
                self.assertEqual(got, policy)

    def test_invalid_policies(self):
        # moto differs: it does not validate RedriveAllowPolicy.
        dlq = self.create_queue("allowbad")
        src_arn = self.arn_of(self.create_queue("allowsrc"))
        bad = [
            {"redrivePermission": "bogus"},
            {"redrivePermission": "byQueue"},                               # no sourceQueueArns
            {"redrivePermission": "byQueue", "sourceQueueArns": []},
            {"redrivePermission": "allowAll", "sourceQueueArns": [src_arn]},
            {"redrivePermission": "byQueue",
             "sourceQueueArns": [f"{src_arn}{i}" for i in range(11)]},     # more than 10
        ]
        for policy in bad:
            with self.subTest(policy=policy):
                self.expect_error(
                    lambda: self.sqs.set_queue_attributes(QueueUrl=dlq, Attributes={
                        "RedriveAllowPolicy": json.dumps(policy)}),
                    "InvalidParameterValue", message_contains="RedriveAllowPolicy")


class MessageMoveTaskTest(SqsTestCase):
    def test_redrive_from_dead_letter_queue_back_to_source(self):
        # moto differs: StartMessageMoveTask answers 500.
        dlq = self.create_queue("movedlq")
        dlq_arn = self.arn_of(dlq)
        src = self.create_queue("movesrc", attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}), "VisibilityTimeout": "0"})
        sent = self.sqs.send_message(QueueUrl=src, MessageBody="redrive me")["MessageId"]
        self.receive_exactly(src, 1)
        self.assert_empty(src)  # the second receive attempt moves it to the dead-letter queue
        self.wait_for_counts(dlq, Messages=1)
        # Let the redriven message be received again without going straight back.
        self.sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 10})})
        handle = self.sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
        self.assertTrue(handle)

        def finished():
            tasks = self.sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
            return tasks[0] if tasks and tasks[0]["Status"] == "COMPLETED" else None

        task = self.wait_until(finished, timeout=60, what="the move task to complete")
        self.assertEqual(task["SourceArn"], dlq_arn)
        self.assertEqual(task["ApproximateNumberOfMessagesMoved"], 1)
        back = self.receive_exactly(src, 1)
        self.assertEqual(back[0]["Body"], "redrive me")
        # Redriven messages are new messages with a new MessageId (Developer Guide, DLQ redrive).
        self.assertNotEqual(back[0]["MessageId"], sent)
