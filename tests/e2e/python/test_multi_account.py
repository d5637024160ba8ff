"""Accounts are separate: a 12-digit access key id selects the account (as AWS's account of a
key would), queues of the same name in two accounts are two queues."""

import unittest

from harness import ferry_server
from python.sqs_support import SqsTestCase, account_of, name_of, unique_name


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"


# moto differs: its account comes from MOTO_ACCOUNT_ID (default 123456789012), not from the
# access key, so both clients land in one account.
@unittest.skipIf(ferry_server.is_moto(), "moto does not select the account by access key id")
class MultiAccountTest(SqsTestCase):
    def setUp(self):
        super().setUp()
        self.a = self.server.client("sqs", access_key=ACCOUNT_A)
        self.b = self.server.client("sqs", access_key=ACCOUNT_B)

    def test_same_name_in_two_accounts(self):
        name = unique_name("acct")
        url_a = self.create_queue(name=name, client=self.a)
        url_b = self.create_queue(name=name, client=self.b)
        self.assertNotEqual(url_a, url_b)
        self.assertEqual((account_of(url_a), name_of(url_a)), (ACCOUNT_A, name))
        self.assertEqual((account_of(url_b), name_of(url_b)), (ACCOUNT_B, name))
        self.assertEqual(self.a.get_queue_url(QueueName=name)["QueueUrl"], url_a)
        self.assertEqual(self.b.get_queue_url(QueueName=name)["QueueUrl"], url_b)
        arn_a = self.a.get_queue_attributes(QueueUrl=url_a, AttributeNames=["QueueArn"])
        self.assertEqual(arn_a["Attributes"]["QueueArn"],
                         f"arn:aws:sqs:us-east-1:{ACCOUNT_A}:{name}")

        self.a.send_message(QueueUrl=url_a, MessageBody="for A only")
        self.assertEqual(self.b.receive_message(QueueUrl=url_b, WaitTimeSeconds=1)
                         .get("Messages", []), [])
        got = self.a.receive_message(QueueUrl=url_a, WaitTimeSeconds=5)["Messages"]
        self.assertEqual([m["Body"] for m in got], ["for A only"])

    def test_listing_is_per_account(self):
        prefix = unique_name("acctlist")
        url_a = self.create_queue(name=f"{prefix}-a", client=self.a)
        url_b = self.create_queue(name=f"{prefix}-b", client=self.b)
        self.assertEqual(self.a.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []), [url_a])
        self.assertEqual(self.b.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []), [url_b])

    def test_queue_of_another_account_is_not_found_by_name(self):
        name = unique_name("acctonly")
        self.create_queue(name=name, client=self.a)
        with self.assertRaises(self.b.exceptions.QueueDoesNotExist):
            self.b.get_queue_url(QueueName=name)
