"""DeleteMessage(+Batch), ChangeMessageVisibility(+Batch) and PurgeQueue."""

from harness import ferry_server
from python.sqs_support import BATCH_ID_MESSAGE, SqsTestCase, name_of, unique_name


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


TOO_MANY = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


class DeleteMessageTest(SqsTestCase):
    def test_delete_removes_the_message(self):
        url = self.create_queue("del")
        self.sqs.send_message(QueueUrl=url, MessageBody="bye")
        msg = self.receive_exactly(url, 1, VisibilityTimeout=1)[0]
        resp = self.sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.wait_for_counts(url, Messages=0, MessagesNotVisible=0)
        # It does not come back after its visibility timeout would have ended.
        self.assert_empty(url, WaitTimeSeconds=2)

    def test_deleting_twice_is_not_an_error(self):
        url = self.create_queue("deltwice")
        self.sqs.send_message(QueueUrl=url, MessageBody="foo")
        handle = self.receive_exactly(url, 1)[0]["ReceiptHandle"]
        for _ in range(3):
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)

    def test_delete_with_handle_whose_visibility_expired(self):
        url = self.create_queue("delold")
        self.sqs.send_message(QueueUrl=url, MessageBody="test")
        handle = self.receive_exactly(url, 1, VisibilityTimeout=1)[0]["ReceiptHandle"]
        self.wait_for_counts(url, Messages=1, MessagesNotVisible=0)  # visible again
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
        self.wait_for_counts(url, Messages=0, MessagesNotVisible=0)

    def test_invalid_receipt_handle(self):
        # moto differs: its message is "The input receipt handle is invalid.".
        url = self.create_queue("badhandle")
        err = self.expect_error(
            lambda: self.sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage"),
            "ReceiptHandleIsInvalid",
            message='The input receipt handle "garbage" is not a valid receipt handle.')
        self.assertIsInstance(err, self.sqs.exceptions.ReceiptHandleIsInvalid)

    def test_nonexistent_queue(self):
        url = self.create_queue("exists")
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        handle = self.receive_exactly(url, 1)[0]["ReceiptHandle"]
        missing = url.rsplit("/", 1)[0] + "/" + unique_name("never")
        self.expect_error(lambda: self.sqs.delete_message(QueueUrl=missing, ReceiptHandle=handle),
                          "AWS.SimpleQueueService.NonExistentQueue")


class DeleteMessageBatchTest(SqsTestCase):
    def test_partial_failure(self):
        url = self.create_queue("delbatch")
        self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
        msgs = self.receive_exactly(url, 3)
        entries = [{"Id": f"ok{i}", "ReceiptHandle": m["ReceiptHandle"]}
                   for i, m in enumerate(msgs)]
        entries.append({"Id": "bad", "ReceiptHandle": "garbage"})
        resp = self.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(sorted(r["Id"] for r in resp["Successful"]), ["ok0", "ok1", "ok2"])
        self.assertEqual(len(resp["Failed"]), 1)
        failed = resp["Failed"][0]
        self.assertEqual(failed["Id"], "bad")
        self.assertEqual(failed["Code"], "ReceiptHandleIsInvalid")
        self.assertIs(failed["SenderFault"], True)
        self.wait_for_counts(url, Messages=0, MessagesNotVisible=0)

    def test_request_errors(self):
        # moto differs: it accepts more than 10 entries, and its __type differs.
        url = self.create_queue("delbatcherr")
        h = "handle"
        self.expect_error(lambda: self.sqs.delete_message_batch(QueueUrl=url, Entries=[]),
                          "AWS.SimpleQueueService.EmptyBatchRequest")
        self.expect_error(
            lambda: self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": f"{h}{i}"} for i in range(11)]),
            TOO_MANY, message="Maximum number of entries per request are 10. You have sent 11.")
        self.expect_error(
            lambda: self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": "a", "ReceiptHandle": h}, {"Id": "a", "ReceiptHandle": h}]),
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        for bad in ["", "testLongId" * 10, "invalid:id"]:
            with self.subTest(id=bad):
                self.expect_error(
                    lambda: self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": bad, "ReceiptHandle": "testHandle1"}]),
                    "AWS.SimpleQueueService.InvalidBatchEntryId", message=BATCH_ID_MESSAGE)


class ChangeMessageVisibilityTest(SqsTestCase):
    def test_zero_makes_it_visible_again(self):
        url = self.create_queue("cmv0")
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="test")["MessageId"]
        handle = self.receive_exactly(url, 1)[0]["ReceiptHandle"]
        self.assert_empty(url)
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle,
                                           VisibilityTimeout=0)
        again = self.sqs.receive_message(QueueUrl=url)["Messages"]
        self.assertEqual([m["MessageId"] for m in again], [sent])
        # The change applied once: this receive used the queue's 30 s again.
        self.assert_empty(url)

    def test_extend(self):
        url = self.create_queue("cmvext")
        self.sqs.send_message(QueueUrl=url, MessageBody="slow work")
        handle = self.receive_exactly(url, 1, VisibilityTimeout=1)[0]["ReceiptHandle"]
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle,
                                           VisibilityTimeout=60)
        # Without the extension it would reappear within a second.
        self.assert_empty(url, WaitTimeSeconds=3)
        self.wait_for_counts(url, Messages=0, MessagesNotVisible=1)

    def test_invalid_receipt_handle(self):
        url = self.create_queue("cmvbad")
        self.expect_error(lambda: self.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle="INVALID", VisibilityTimeout=60),
            "ReceiptHandleIsInvalid")

    def test_deleted_message(self):
        # moto differs: it answers ReceiptHandleIsInvalid.
        url = self.create_queue("cmvdel")
        self.sqs.send_message(QueueUrl=url, MessageBody="foo")
        handle = self.receive_exactly(url, 1)[0]["ReceiptHandle"]
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle,
                                           VisibilityTimeout=42)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
        self.expect_error(
            lambda: self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle,
                                                       VisibilityTimeout=42),
            "InvalidParameterValue",
            message=f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message "
                    "does not exist or is not available for visibility timeout change.")

    def test_message_not_in_flight(self):
        # moto differs: it accepts the change.
        # API Reference: MessageNotInflight, "The specified message isn't in flight."
        url = self.create_queue("cmvnotinflight")
        self.sqs.send_message(QueueUrl=url, MessageBody="back in the queue")
        handle = self.receive_exactly(url, 1, VisibilityTimeout=1)[0]["ReceiptHandle"]
        self.wait_for_counts(url, Messages=1, MessagesNotVisible=0)
        err = self.expect_error(
            lambda: self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle,
                                                       VisibilityTimeout=30),
            "AWS.SimpleQueueService.MessageNotInflight")
        self.assertIsInstance(err, self.sqs.exceptions.MessageNotInflight)

    def test_out_of_range(self):
        # moto differs: its __type is InvalidParameterValue (AWS: InvalidParameterValueException).
        url = self.create_queue("cmvrange")
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        handle = self.receive_exactly(url, 1)[0]["ReceiptHandle"]
        self.expect_error(lambda: self.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=43201),
            "InvalidParameterValue")


class ChangeMessageVisibilityBatchTest(SqsTestCase):
    def test_partial_failure(self):
        url = self.create_queue("cmvbatch")
        self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": f"m{i}"} for i in range(2)])
        msgs = self.receive_exactly(url, 2)
        self.assert_empty(url)
        entries = [{"Id": f"ok{i}", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                   for i, m in enumerate(msgs)]
        entries.append({"Id": "bad", "ReceiptHandle": "garbage", "VisibilityTimeout": 0})
        resp = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(sorted(r["Id"] for r in resp["Successful"]), ["ok0", "ok1"])
        self.assertEqual([(f["Id"], f["Code"], f["SenderFault"]) for f in resp["Failed"]],
                         [("bad", "ReceiptHandleIsInvalid", True)])
        self.assertEqual(sorted(m["Body"] for m in self.receive_exactly(url, 2)), ["m0", "m1"])

    def test_request_errors(self):
        # moto differs: it accepts an empty batch.
        url = self.create_queue("cmvbatcherr")
        e = {"ReceiptHandle": "h", "VisibilityTimeout": 1}
        self.expect_error(lambda: self.sqs.change_message_visibility_batch(QueueUrl=url,
                                                                           Entries=[]),
                          "AWS.SimpleQueueService.EmptyBatchRequest")
        self.expect_error(
            lambda: self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                dict(e, Id=str(i), ReceiptHandle=f"h{i}") for i in range(20)]),
            TOO_MANY, message="Maximum number of entries per request are 10. You have sent 20.")
        self.expect_error(
            lambda: self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                dict(e, Id="x"), dict(e, Id="x")]),
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        self.expect_error(
            lambda: self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                dict(e, Id="no:colons")]),
            "AWS.SimpleQueueService.InvalidBatchEntryId", message=BATCH_ID_MESSAGE)


class PurgeQueueTest(SqsTestCase):
    def test_purge_removes_visible_in_flight_and_delayed(self):
        url = self.create_queue("purge")
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"visible-{i}")
        for i in range(2):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"delayed-{i}", DelaySeconds=2)
        self.receive_exactly(url, 2, VisibilityTimeout=2)  # two in flight
        self.sqs.purge_queue(QueueUrl=url)
        self.wait_for_counts(url, Messages=0, MessagesNotVisible=0, MessagesDelayed=0)
        # Neither the in-flight nor the delayed ones come back.
        self.assert_empty(url, WaitTimeSeconds=4)
        # The queue keeps working.
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"after-{i}")
        self.assertEqual(sorted(m["Body"] for m in self.receive_exactly(url, 3)),
                         ["after-0", "after-1", "after-2"])

    def test_second_purge_within_60_seconds(self):
        # moto differs: it allows any number of purges.
        url = self.create_queue("purgetwice")
        self.sqs.purge_queue(QueueUrl=url)
        err = self.expect_error(
            lambda: self.sqs.purge_queue(QueueUrl=url),
            "AWS.SimpleQueueService.PurgeQueueInProgress",
            message=f"Only one PurgeQueue operation on {name_of(url)} is allowed every 60 "
                    "seconds.")
        self.assertIsInstance(err, self.sqs.exceptions.PurgeQueueInProgress)

    def test_nonexistent_queue(self):
        url = self.create_queue("exists")
        missing = url.rsplit("/", 1)[0] + "/" + unique_name("never")
        self.expect_error(lambda: self.sqs.purge_queue(QueueUrl=missing),
                          "AWS.SimpleQueueService.NonExistentQueue")
