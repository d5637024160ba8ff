"""CreateQueue, DeleteQueue, GetQueueUrl, ListQueues and queue tags, driven by boto3."""

import re
import time
import urllib.parse

from harness import ferry_server
from python.sqs_support import (NONEXISTENT_QUEUE_MESSAGE, SqsTestCase, account_of, name_of,
                                unique_name)


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


# Out-of-range values for each numeric queue attribute (API Reference, CreateQueue/Attributes).
OUT_OF_RANGE = [
    ("DelaySeconds", "-1"), ("DelaySeconds", "901"),
    ("MaximumMessageSize", "1023"), ("MaximumMessageSize", "1048577"),
    ("MessageRetentionPeriod", "59"), ("MessageRetentionPeriod", "1209601"),
    ("ReceiveMessageWaitTimeSeconds", "-1"), ("ReceiveMessageWaitTimeSeconds", "21"),
    ("VisibilityTimeout", "-1"), ("VisibilityTimeout", "43201"), ("VisibilityTimeout", "abc"),
]


class CreateQueueTest(SqsTestCase):
    def test_returns_url_naming_account_and_queue(self):
        name = unique_name("create")
        resp = self.sqs.create_queue(QueueName=name)
        self.addCleanup(self._delete_quietly, self.sqs, resp["QueueUrl"])
        url = resp["QueueUrl"]
        path = urllib.parse.urlparse(url).path
        self.assertRegex(path, r"^/\d{12}/" + re.escape(name) + "$")
        self.assertTrue(resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid"))

    def test_defaults_of_a_new_queue(self):
        # moto differs: its default MaximumMessageSize is 262144 (AWS raised it to 1 MiB in 2025),
        #   and its CreatedTimestamp/LastModifiedTimestamp have a fraction (AWS: whole seconds).
        url = self.create_queue("defaults")
        attrs = self.attributes(url)
        acct, name = account_of(url), name_of(url)
        self.assertEqual(attrs["QueueArn"], f"arn:aws:sqs:us-east-1:{acct}:{name}")
        expected = {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
            "ApproximateNumberOfMessagesDelayed": "0",
            "DelaySeconds": "0",
            "MaximumMessageSize": "1048576",
            "MessageRetentionPeriod": "345600",
            "ReceiveMessageWaitTimeSeconds": "0",
            "VisibilityTimeout": "30",
        }
        for key, value in expected.items():
            self.assertEqual(attrs.get(key), value, key)
        now = time.time()
        for key in ("CreatedTimestamp", "LastModifiedTimestamp"):
            self.assertRegex(attrs[key], r"^\d+$", f"{key} is whole seconds since the epoch")
            self.assertLess(abs(int(attrs[key]) - now), 600, f"{key} is about now")
        for key in ("FifoQueue", "ContentBasedDeduplication", "Policy", "RedrivePolicy"):
            self.assertNotIn(key, attrs, f"a standard queue without {key} does not report it")

    def test_with_attributes(self):
        wanted = {"DelaySeconds": "5", "MaximumMessageSize": "2048",
                  "MessageRetentionPeriod": "120", "ReceiveMessageWaitTimeSeconds": "3",
                  "VisibilityTimeout": "45"}
        url = self.create_queue("attrs", attributes=wanted)
        attrs = self.attributes(url, *wanted)
        self.assertEqual(attrs, wanted)

    def test_with_tags(self):
        tags = {"team": "ferry", "env": "e2e", "empty": ""}
        url = self.create_queue("tags", tags=tags)
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], tags)

    def test_is_idempotent_with_same_attributes(self):
        name = unique_name("idem")
        attributes = {"VisibilityTimeout": "69", "DelaySeconds": "1"}
        url = self.create_queue(name=name, attributes=attributes)
        self.assertEqual(self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"],
                         url)
        # Only the attributes given are compared: none, or a matching subset, also succeed.
        self.assertEqual(self.sqs.create_queue(QueueName=name)["QueueUrl"], url)
        self.assertEqual(self.sqs.create_queue(QueueName=name,
                                               Attributes={"DelaySeconds": "1"})["QueueUrl"], url)

    def test_different_attributes_are_QueueAlreadyExists(self):
        # moto differs: its message is "The specified queue already exists.".
        name = unique_name("exists")
        url = self.create_queue(name=name, attributes={"ReceiveMessageWaitTimeSeconds": "1",
                                                       "DelaySeconds": "1"})
        err = self.expect_error(
            lambda: self.sqs.create_queue(QueueName=name, Attributes={
                "ReceiveMessageWaitTimeSeconds": "1", "DelaySeconds": "2"}),
            "QueueAlreadyExists",
            message="A queue already exists with the same name and a different value for "
                    "attribute DelaySeconds")
        self.assertIsInstance(err, self.sqs.exceptions.QueueNameExists)
        # Once the queue has the new value, asking for it succeeds and the old value fails.
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "2"})
        self.assertEqual(self.sqs.create_queue(QueueName=name, Attributes={
            "ReceiveMessageWaitTimeSeconds": "1", "DelaySeconds": "2"})["QueueUrl"], url)
        self.expect_error(lambda: self.sqs.create_queue(QueueName=name, Attributes={
            "DelaySeconds": "1"}), "QueueAlreadyExists")

    def test_invalid_names(self):
        # moto differs: its __type is InvalidParameterValue (AWS: InvalidParameterValueException),
        #   and it accepts a standard queue named *.fifo.
        bad = ["has space", "a" * 81, "bad!char", "slash/name", "dot.name", "ünïcode",
               unique_name("std") + ".fifo"]  # .fifo only with FifoQueue=true
        for name in bad:
            with self.subTest(name=name):
                self.expect_error(lambda: self.sqs.create_queue(QueueName=name),
                                  "InvalidParameterValue")

    def test_name_limits_and_case(self):
        # 80 characters of every allowed kind is the longest valid name.
        name = ("Az09-_" + unique_name("max").replace("-", "_")).ljust(80, "x")[:80]
        url = self.create_queue(name=name)
        self.assertEqual(name_of(url), name)
        # Names are case-sensitive: another case is another queue.
        lower = self.create_queue(name=name.lower())
        self.assertNotEqual(lower, url)

    def test_out_of_range_attribute_values(self):
        # moto differs: it does not check the ranges (and answers 500 to a non-number).
        for attr, value in OUT_OF_RANGE:
            with self.subTest(attr=attr, value=value):
                self.expect_error(
                    lambda: self.sqs.create_queue(QueueName=unique_name("range"),
                                                  Attributes={attr: value}),
                    "InvalidAttributeValue", message=f"Invalid value for the parameter {attr}.")

    def test_unknown_attribute_name(self):
        # moto differs: it accepts unknown attribute names.
        self.expect_error(lambda: self.sqs.create_queue(QueueName=unique_name("unknown"),
                                                        Attributes={"Bogus": "1"}),
                          "InvalidAttributeName", message="Unknown Attribute Bogus.")

    def test_recreate_right_after_delete_is_QueueDeletedRecently(self):
        # API Reference: "If you delete a queue, you must wait at least 60 seconds before
        # creating a queue with the same name" (error QueueDeletedRecently).
        # moto differs: it lets the name be reused at once.
        name = unique_name("recent")
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.sqs.delete_queue(QueueUrl=url)
        self.expect_error(
            lambda: self.create_queue(name=name),
            "AWS.SimpleQueueService.QueueDeletedRecently",
            message="You must wait 60 seconds after deleting a queue before you can create "
                    "another with the same name.")


class DeleteQueueTest(SqsTestCase):
    def _gone(self, url: str) -> bool:
        try:
            self.sqs.get_queue_url(QueueName=name_of(url))
            return False
        except self.sqs.exceptions.QueueDoesNotExist:
            return True

    def test_delete_removes_queue_and_messages(self):
        url = self.sqs.create_queue(QueueName=unique_name("del"))["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody="gone with the queue")
        resp = self.sqs.delete_queue(QueueUrl=url)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)
        # AWS: deletion can take up to 60 seconds to be seen everywhere.
        self.wait_until(lambda: self._gone(url), timeout=65, what="queue to disappear")
        self.assertNotIn(url, self.sqs.list_queues(QueueNamePrefix=name_of(url))
                         .get("QueueUrls", []))
        self.expect_error(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x"),
                          "AWS.SimpleQueueService.NonExistentQueue")

    def test_delete_nonexistent_queue(self):
        url = self.create_queue("exists")
        missing = url.rsplit("/", 1)[0] + "/" + unique_name("never")
        self.expect_error(lambda: self.sqs.delete_queue(QueueUrl=missing),
                          "AWS.SimpleQueueService.NonExistentQueue",
                          message=NONEXISTENT_QUEUE_MESSAGE)


class GetQueueUrlTest(SqsTestCase):
    def test_returns_the_created_url(self):
        name = unique_name("url")
        url = self.create_queue(name=name)
        self.assertEqual(self.sqs.get_queue_url(QueueName=name)["QueueUrl"], url)

    def test_with_own_account_id(self):
        name = unique_name("owner")
        url = self.create_queue(name=name)
        resp = self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account_of(url))
        self.assertEqual(resp["QueueUrl"], url)

    def test_nonexistent_queue(self):
        err = self.expect_error(lambda: self.sqs.get_queue_url(QueueName=unique_name("none")),
                                "AWS.SimpleQueueService.NonExistentQueue",
                                message=NONEXISTENT_QUEUE_MESSAGE)
        self.assertIsInstance(err, self.sqs.exceptions.QueueDoesNotExist)

    def test_names_are_case_sensitive(self):
        name = unique_name("case")
        self.create_queue(name=name)
        self.expect_error(lambda: self.sqs.get_queue_url(QueueName=name.upper()),
                          "AWS.SimpleQueueService.NonExistentQueue")

    def test_queue_of_another_account_that_does_not_exist(self):
        # moto differs: it ignores QueueOwnerAWSAccountId.
        name = unique_name("other")
        url = self.create_queue(name=name)
        other = "999999999999" if account_of(url) != "999999999999" else "888888888888"
        self.expect_error(lambda: self.sqs.get_queue_url(QueueName=name,
                                                         QueueOwnerAWSAccountId=other),
                          "AWS.SimpleQueueService.NonExistentQueue")


class ListQueuesTest(SqsTestCase):
    def test_prefix_filters(self):
        prefix = unique_name("list")
        a = [self.create_queue(name=f"{prefix}-a{i}") for i in range(2)]
        b = [self.create_queue(name=f"{prefix}-b{i}") for i in range(1)]
        self.assertEqual(sorted(self.sqs.list_queues(QueueNamePrefix=f"{prefix}-a")["QueueUrls"]),
                         sorted(a))
        self.assertEqual(sorted(self.sqs.list_queues(QueueNamePrefix=f"{prefix}-b")["QueueUrls"]),
                         sorted(b))
        self.assertEqual(sorted(self.sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"]),
                         sorted(a + b))

    def test_without_prefix_lists_our_queues(self):
        url = self.create_queue("all")
        urls = self.sqs.list_queues().get("QueueUrls", [])
        self.assertIn(url, urls)
        self.assertLessEqual(len(urls), 1000)

    def test_prefix_without_match(self):
        resp = self.sqs.list_queues(QueueNamePrefix=unique_name("nomatch"))
        self.assertEqual(resp.get("QueueUrls", []), [])
        self.assertNotIn("NextToken", resp)

    def test_pagination(self):
        # moto differs: it ignores MaxResults and never pages.
        prefix = unique_name("page")
        created = {self.create_queue(name=f"{prefix}-{i}") for i in range(5)}
        seen, pages, token = [], 0, None
        while True:
            kwargs = {"QueueNamePrefix": prefix, "MaxResults": 2}
            if token:
                kwargs["NextToken"] = token
            resp = self.sqs.list_queues(**kwargs)
            page = resp.get("QueueUrls", [])
            self.assertLessEqual(len(page), 2)
            seen.extend(page)
            pages += 1
            token = resp.get("NextToken")
            if not token:
                break
            self.assertLess(pages, 10, "pagination does not end")
        self.assertEqual(len(seen), len(set(seen)), "a queue listed twice")
        self.assertEqual(set(seen), created)
        self.assertGreaterEqual(pages, 3)

    def test_max_results_out_of_range(self):
        # moto differs: it does not check MaxResults.
        for value in (0, 1001):
            with self.subTest(MaxResults=value):
                self.expect_error(lambda: self.sqs.list_queues(MaxResults=value),
                                  "InvalidParameterValue")


class QueueTagsTest(SqsTestCase):
    def test_tag_list_untag(self):
        # moto differs: it answers "Tags": {} where AWS leaves Tags out.
        url = self.create_queue("tag")
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {}), {})
        tags = {"tag1": "value1", "tag2": "value2", "tag3": ""}
        self.sqs.tag_queue(QueueUrl=url, Tags=tags)
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], tags)
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["tag1", "tag3"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"tag2": "value2"})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["tag2"])
        self.assertNotIn("Tags", self.sqs.list_queue_tags(QueueUrl=url))

    def test_tag_overwrites_and_keys_are_case_sensitive(self):
        url = self.create_queue("tagcase")
        self.sqs.tag_queue(QueueUrl=url, Tags={"tag1": "value1", "tag2": "value2"})
        self.sqs.tag_queue(QueueUrl=url, Tags={"tag1": "VALUE1", "tag3": "value3",
                                               "Tag1": "other"})
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"],
                         {"tag1": "VALUE1", "tag2": "value2", "tag3": "value3", "Tag1": "other"})

    def test_untag_ignores_missing_keys(self):
        url = self.create_queue("untag")
        self.sqs.tag_queue(QueueUrl=url, Tags={"tag1": "value1", "tag2": "value2"})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["tag1", "no-such-tag"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"tag2": "value2"})

    def test_tags_of_nonexistent_queue(self):
        url = self.create_queue("tagmissing")
        missing = url.rsplit("/", 1)[0] + "/" + unique_name("never")
        code = "AWS.SimpleQueueService.NonExistentQueue"
        self.expect_error(lambda: self.sqs.tag_queue(QueueUrl=missing, Tags={"a": "b"}), code)
        self.expect_error(lambda: self.sqs.untag_queue(QueueUrl=missing, TagKeys=["a"]), code)
        self.expect_error(lambda: self.sqs.list_queue_tags(QueueUrl=missing), code)
