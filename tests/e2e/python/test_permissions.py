"""AddPermission and RemovePermission with boto3: the Policy document they write (the shape AWS
generates: Version 2012-10-17, Id <queue arn>/SQSDefaultPolicy, one statement per label) and
their errors. Enforcement of policies comes with authentication; here they are stored only."""

import json

from harness import ferry_server
from python.sqs_support import SqsTestCase, account_of


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


class PermissionTest(SqsTestCase):
    def test_policy_document_shape(self):
        url = self.create_queue("perm")
        arn = self.arn_of(url)
        self.sqs.add_permission(QueueUrl=url, Label="one", AWSAccountIds=["111122223333"],
                                Actions=["SendMessage"])
        self.sqs.add_permission(QueueUrl=url, Label="two",
                                AWSAccountIds=["111122223333", "444455556666"],
                                Actions=["ReceiveMessage", "DeleteMessage"])
        policy = json.loads(self.attributes(url, "Policy")["Policy"])
        self.assertEqual(policy, {
            "Version": "2012-10-17",
            "Id": f"{arn}/SQSDefaultPolicy",
            "Statement": [
                {"Sid": "one", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                 "Action": "SQS:SendMessage", "Resource": arn},
                {"Sid": "two", "Effect": "Allow",
                 "Principal": {"AWS": ["arn:aws:iam::111122223333:root",
                                       "arn:aws:iam::444455556666:root"]},
                 "Action": ["SQS:ReceiveMessage", "SQS:DeleteMessage"], "Resource": arn},
            ]})

    def test_adds_to_a_policy_set_by_set_queue_attributes(self):
        url = self.create_queue("perm")
        own = {"Version": "2012-10-17", "Id": "mine", "Statement": [
            {"Sid": "existing", "Effect": "Deny", "Principal": "*", "Action": "SQS:*",
             "Resource": self.arn_of(url)}]}
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(own)})
        self.sqs.add_permission(QueueUrl=url, Label="added", AWSAccountIds=[account_of(url)],
                                Actions=["*"])
        policy = json.loads(self.attributes(url, "Policy")["Policy"])
        self.assertEqual(policy["Id"], "mine")
        self.assertEqual([s["Sid"] for s in policy["Statement"]], ["existing", "added"])
        self.assertEqual(policy["Statement"][1]["Action"], "SQS:*")
        self.sqs.remove_permission(QueueUrl=url, Label="added")
        self.assertEqual(json.loads(self.attributes(url, "Policy")["Policy"]), own)

    def test_errors(self):
        url = self.create_queue("perm")
        acct = account_of(url)
        self.expect_error(lambda: self.sqs.add_permission(
            QueueUrl=url, Label="x", AWSAccountIds=[acct], Actions=["CreateQueue"]),
            "InvalidParameterValue",
            message="Value SQS:CreateQueue for parameter ActionName is invalid. Reason: Only the "
                    "queue owner is allowed to invoke this action.")
        self.expect_error(lambda: self.sqs.add_permission(
            QueueUrl=url, Label="x", AWSAccountIds=[acct],
            Actions=["SendMessage", "ReceiveMessage", "DeleteMessage", "PurgeQueue",
                     "GetQueueUrl", "GetQueueAttributes", "ChangeMessageVisibility",
                     "ListQueueTags"]),
            "OverLimit", message="8 Actions were found, maximum allowed is 7.")
        self.expect_error(lambda: self.sqs.add_permission(
            QueueUrl=url, Label="bad label", AWSAccountIds=[acct], Actions=["SendMessage"]),
            "InvalidParameterValue", message_contains="parameter Label is invalid")
        self.expect_error(lambda: self.sqs.add_permission(
            QueueUrl=url + "-missing", Label="x", AWSAccountIds=[acct], Actions=["SendMessage"]),
            "AWS.SimpleQueueService.NonExistentQueue")
        self.expect_error(lambda: self.sqs.remove_permission(QueueUrl=url, Label="nothing"),
                          "InvalidParameterValue",
                          message="Value nothing for parameter Label is invalid. Reason: can't "
                                  "find label.")
        self.sqs.add_permission(QueueUrl=url, Label="kept", AWSAccountIds=[acct],
                                Actions=["SendMessage"])
        self.expect_error(lambda: self.sqs.remove_permission(QueueUrl=url, Label="nothing"),
                          "InvalidParameterValue",
                          message="Value nothing for parameter Label is invalid. Reason: can't "
                                  "find label on existing policy.")

    def test_policy_survives_a_restart(self):
        if not self.server.can_control or self.server.is_moto:
            self.skipTest("needs a Ferry process this harness can restart")
        url = self.create_queue("perm")
        self.sqs.add_permission(QueueUrl=url, Label="durable", AWSAccountIds=[account_of(url)],
                                Actions=["SendMessage"])
        before = self.attributes(url, "Policy")["Policy"]
        self.server.kill9()
        self.server.restart()
        self.sqs = self.server.client("sqs")
        self.assertEqual(self.attributes(url, "Policy")["Policy"], before)
