"""Message move tasks (dead-letter queue redrive) with boto3: StartMessageMoveTask,
ListMessageMoveTasks, CancelMessageMoveTask, their errors, the rate limit and a restart.

From the API Reference and the Developer Guide ("Configure a dead-letter queue redrive"):
redriven messages are new messages (new MessageId and enqueue time); only one active task per
source queue; ListMessageMoveTasks returns the most recent tasks (default 1, at most 10).
"""

import base64
import json
import time

from harness import ferry_server
from python.sqs_support import SqsTestCase


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


class MoveTaskTestCase(SqsTestCase):
    def dead_letter_pair(self, messages: int):
        """A source queue whose messages all went to its dead-letter queue."""
        dlq = self.create_queue("dlq")
        dlq_arn = self.arn_of(dlq)
        src = self.create_queue("src", attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}), "VisibilityTimeout": "0"})
        for i in range(0, messages, 10):
            self.sqs.send_message_batch(QueueUrl=src, Entries=[
                {"Id": str(j), "MessageBody": f"m{j}"} for j in range(i, min(i + 10, messages))])
        self.receive_exactly(src, messages)  # with VisibilityTimeout 0 they stay visible
        self.assert_empty(src)              # and this receive moves them all
        self.wait_for_counts(dlq, Messages=messages)
        return src, dlq, dlq_arn

    def tasks(self, arn: str, **kw) -> list:
        return self.sqs.list_message_move_tasks(SourceArn=arn, **kw)["Results"]

    def wait_for_status(self, arn: str, status: str, timeout: float = 60) -> dict:
        def done():
            t = self.tasks(arn)
            return t[0] if t and t[0]["Status"] == status else None
        return self.wait_until(done, timeout=timeout, what=f"a {status} move task")


class MoveTaskTest(MoveTaskTestCase):
    def test_redrive_to_the_source_queue(self):
        src, dlq, dlq_arn = self.dead_letter_pair(3)
        sent_ids = {m["MessageId"] for m in self.sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])}
        handle = self.sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
        decoded = json.loads(base64.b64decode(handle))
        self.assertEqual(decoded["sourceArn"], dlq_arn)
        task = self.wait_for_status(dlq_arn, "COMPLETED")
        self.assertEqual(task["SourceArn"], dlq_arn)
        self.assertEqual(task["ApproximateNumberOfMessagesMoved"], 3)
        self.assertEqual(task["ApproximateNumberOfMessagesToMove"], 3)
        self.assertNotIn("TaskHandle", task)  # only running tasks have one
        self.assertNotIn("DestinationArn", task)
        self.assertIsInstance(task["StartedTimestamp"], int)
        back = self.receive_exactly(src, 3, MessageSystemAttributeNames=["All"])
        self.assertEqual(sorted(m["Body"] for m in back), ["m0", "m1", "m2"])
        for m in back:
            self.assertNotIn(m["MessageId"], sent_ids)  # redriven messages are new messages
            self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], "1")
            self.assertNotIn("DeadLetterQueueSourceArn", m["Attributes"])
        self.wait_for_counts(dlq, Messages=0)

    def test_redrive_to_a_destination_at_a_rate(self):
        _, dlq, dlq_arn = self.dead_letter_pair(6)
        dest = self.create_queue("dest")
        start = time.monotonic()
        self.sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=self.arn_of(dest),
                                         MaxNumberOfMessagesPerSecond=2)
        running = self.tasks(dlq_arn)[0]
        self.assertEqual(running["Status"], "RUNNING")
        self.assertTrue(running["TaskHandle"])
        self.assertEqual(running["MaxNumberOfMessagesPerSecond"], 2)
        self.assertEqual(running["DestinationArn"], self.arn_of(dest))
        task = self.wait_for_status(dlq_arn, "COMPLETED", timeout=30)
        # 6 messages at 2 a second: the first at once, the last 2.5 s later.
        self.assertGreaterEqual(time.monotonic() - start, 2.0)
        self.assertEqual(task["ApproximateNumberOfMessagesMoved"], 6)
        self.wait_for_counts(dest, Messages=6)

    def test_cancel_and_history(self):
        _, dlq, dlq_arn = self.dead_letter_pair(20)
        handle = self.sqs.start_message_move_task(SourceArn=dlq_arn,
                                                  MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
        self.expect_error(lambda: self.sqs.start_message_move_task(SourceArn=dlq_arn),
                          "InvalidParameterValue",
                          message="There is already a task running. Only one active task is "
                                  "allowed for a source queue arn at a given time.")
        moved = self.sqs.cancel_message_move_task(TaskHandle=handle)
        self.assertLess(moved["ApproximateNumberOfMessagesMoved"], 20)
        self.assertEqual(self.tasks(dlq_arn)[0]["Status"], "CANCELLED")
        self.sqs.start_message_move_task(SourceArn=dlq_arn)
        self.wait_for_status(dlq_arn, "COMPLETED")
        history = self.tasks(dlq_arn, MaxResults=10)
        self.assertEqual([t["Status"] for t in history], ["COMPLETED", "CANCELLED"])
        self.assertEqual(len(self.tasks(dlq_arn)), 1)  # MaxResults defaults to 1

    def test_errors(self):
        src, dlq, dlq_arn = self.dead_letter_pair(1)
        missing = dlq_arn + "-missing"
        self.expect_error(lambda: self.sqs.start_message_move_task(SourceArn=missing),
                          "ResourceNotFoundException", status=404,
                          message="The resource that you specified for the SourceArn parameter "
                                  "doesn't exist.", shape="ResourceNotFoundException")
        self.expect_error(lambda: self.sqs.start_message_move_task(SourceArn=self.arn_of(src)),
                          "InvalidParameterValue",
                          message="Source queue must be configured as a Dead Letter Queue.")
        self.expect_error(lambda: self.sqs.start_message_move_task(
            SourceArn=dlq_arn, DestinationArn=missing), "ResourceNotFoundException", status=404,
            shape="ResourceNotFoundException")
        self.expect_error(lambda: self.sqs.start_message_move_task(
            SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=501), "InvalidParameterValue")
        self.expect_error(lambda: self.sqs.start_message_move_task(SourceArn="not-an-arn"),
                          "InvalidParameterValue", message_contains="SourceArn")
        self.expect_error(lambda: self.sqs.list_message_move_tasks(SourceArn=missing),
                          "ResourceNotFoundException", status=404,
                          shape="ResourceNotFoundException")
        self.expect_error(lambda: self.sqs.list_message_move_tasks(SourceArn=dlq_arn,
                                                                   MaxResults=11),
                          "InvalidParameterValue")
        self.expect_error(lambda: self.sqs.cancel_message_move_task(TaskHandle="bogus"),
                          "InvalidParameterValue")


class MoveTaskRestartTest(MoveTaskTestCase):
    def test_a_running_task_survives_kill_9(self):
        if not self.server.can_control or self.server.is_moto:
            self.skipTest("needs a Ferry process this harness can restart")
        _, dlq, dlq_arn = self.dead_letter_pair(6)
        dest = self.create_queue("dest")
        self.sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=self.arn_of(dest),
                                         MaxNumberOfMessagesPerSecond=2)
        self.server.kill9()
        self.server.restart()
        self.sqs = self.server.client("sqs")
        # The next request starts the driver again; the task finishes after the restart.
        task = self.wait_for_status(dlq_arn, "COMPLETED", timeout=60)
        self.assertGreaterEqual(task["ApproximateNumberOfMessagesMoved"], 1)

        def all_moved():
            a = self.attributes(dest, "ApproximateNumberOfMessages")
            b = self.attributes(dlq, "ApproximateNumberOfMessages")
            return a["ApproximateNumberOfMessages"] == "6" and \
                b["ApproximateNumberOfMessages"] == "0"
        self.wait_until(all_moved, timeout=30, what="all six messages in the destination")
