"""ReceiveMessage: counts, long polling, visibility, delays and attribute selection."""

import time

from harness import ferry_server
from python.sqs_support import SqsTestCase, md5_of_attributes, unique_name


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


def s(value: str, data_type: str = "String") -> dict:
    return {"DataType": data_type, "StringValue": value}


FIFO_ONLY = {"MessageGroupId", "MessageDeduplicationId", "SequenceNumber"}
STANDARD_SYSTEM = {"SenderId", "SentTimestamp", "ApproximateReceiveCount",
                   "ApproximateFirstReceiveTimestamp"}


class ReceiveBasicsTest(SqsTestCase):
    def test_empty_queue(self):
        url = self.create_queue("empty")
        resp = self.sqs.receive_message(QueueUrl=url)
        self.assertEqual(resp.get("Messages", []), [])
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)

    def test_message_fields(self):
        url = self.create_queue("fields")
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="hello")
        msg = self.receive_exactly(url, 1)[0]
        self.assertEqual(msg["MessageId"], sent["MessageId"])
        self.assertEqual(msg["Body"], "hello")
        self.assertEqual(msg["MD5OfBody"], sent["MD5OfMessageBody"])
        self.assertTrue(msg["ReceiptHandle"])
        self.assertNotIn("Attributes", msg)          # none asked for
        self.assertNotIn("MessageAttributes", msg)   # none sent

    def test_max_number_of_messages_bounds(self):
        # moto differs: its __type is InvalidParameterValue (AWS: InvalidParameterValueException)
        #   and its reason starts in lower case.
        url = self.create_queue("maxbounds")
        for n in (0, 11):
            with self.subTest(MaxNumberOfMessages=n):
                self.expect_error(
                    lambda: self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n),
                    "InvalidParameterValue",
                    message=f"Value {n} for parameter MaxNumberOfMessages is invalid. "
                            "Reason: Must be between 1 and 10, if provided.")

    def test_wait_time_seconds_bounds(self):
        # moto differs: its __type is InvalidParameterValue (AWS: InvalidParameterValueException).
        url = self.create_queue("waitbounds")
        self.expect_error(lambda: self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=21),
                          "InvalidParameterValue")

    def test_never_more_than_max_number_of_messages(self):
        url = self.create_queue("max")
        for i in range(0, 15, 5):
            self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "MessageBody": f"m{i + j}"} for j in range(5)])
        self.wait_for_counts(url, Messages=15)
        for n in (1, 3):
            resp = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n)
            self.assertLessEqual(len(resp.get("Messages", [])), n)
            for m in resp.get("Messages", []):
                self.sqs.change_message_visibility(QueueUrl=url, VisibilityTimeout=0,
                                                   ReceiptHandle=m["ReceiptHandle"])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 15 and time.monotonic() < deadline:
            resp = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=1)
            batch = resp.get("Messages", [])
            self.assertLessEqual(len(batch), 10)
            got.extend(batch)
        bodies = [m["Body"] for m in got]
        self.assertEqual(sorted(bodies), sorted(f"m{i}" for i in range(15)),
                         "each message exactly once while in flight")

    def test_nonexistent_queue(self):
        url = self.create_queue("exists")
        missing = url.rsplit("/", 1)[0] + "/" + unique_name("never")
        self.expect_error(lambda: self.sqs.receive_message(QueueUrl=missing),
                          "AWS.SimpleQueueService.NonExistentQueue")


class LongPollingTest(SqsTestCase):
    def test_returns_as_soon_as_a_message_arrives(self):
        url = self.create_queue("longpoll")
        poll = self.receive_in_background(url, WaitTimeSeconds=20)
        self.sqs.send_message(QueueUrl=url, MessageBody="wake up")
        resp, took = poll.join(60)
        self.assertEqual([m["Body"] for m in resp.get("Messages", [])], ["wake up"])
        self.assertLess(took, 20, "the receive waited out its WaitTimeSeconds instead of "
                                  "returning when the message arrived")

    def test_queue_attribute_sets_the_default_wait(self):
        url = self.create_queue("queuewait", attributes={"ReceiveMessageWaitTimeSeconds": "20"})
        poll = self.receive_in_background(url)  # no WaitTimeSeconds: the queue's 20 s apply
        self.sqs.send_message(QueueUrl=url, MessageBody="via queue default")
        resp, took = poll.join(60)
        self.assertEqual([m["Body"] for m in resp.get("Messages", [])], ["via queue default"])
        self.assertLess(took, 20)

    def test_waits_when_nothing_arrives(self):
        url = self.create_queue("longempty")
        start = time.monotonic()
        resp = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
        took = time.monotonic() - start
        self.assertEqual(resp.get("Messages", []), [])
        self.assertGreaterEqual(took, 0.9, "a long poll on an empty queue returned at once")

    def test_one_message_goes_to_one_of_two_waiting_receivers(self):
        url = self.create_queue("twopollers")
        a = self.receive_in_background(url, WaitTimeSeconds=20)
        b = self.receive_in_background(url, WaitTimeSeconds=20)
        self.sqs.send_message(QueueUrl=url, MessageBody="first")
        self.wait_until(lambda: a.done.is_set() or b.done.is_set(), timeout=30,
                        what="a waiting receiver to get the first message")
        first, second = (a, b) if a.done.is_set() else (b, a)
        resp, took = first.join(1)
        self.assertEqual([m["Body"] for m in resp.get("Messages", [])], ["first"])
        self.assertLess(took, 20)
        self.sqs.send_message(QueueUrl=url, MessageBody="second")
        resp, took = second.join(60)
        self.assertEqual([m["Body"] for m in resp.get("Messages", [])], ["second"])
        self.assertLess(took, 20)

    def test_does_not_block_when_messages_are_there(self):
        url = self.create_queue("noblock")
        self.sqs.send_message(QueueUrl=url, MessageBody="one")
        self.sqs.send_message(QueueUrl=url, MessageBody="two")
        self.wait_for_counts(url, Messages=2)
        start = time.monotonic()
        resp = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, WaitTimeSeconds=20)
        self.assertGreaterEqual(len(resp.get("Messages", [])), 1)
        self.assertLess(time.monotonic() - start, 20,
                        "waited for more messages although some were available")


class VisibilityOnReceiveTest(SqsTestCase):
    def test_visibility_timeout_parameter(self):
        url = self.create_queue("vis")
        self.sqs.send_message(QueueUrl=url, MessageBody="again")
        first = self.receive_exactly(url, 1, VisibilityTimeout=2, AttributeNames=["All"])[0]
        self.assert_empty(url)  # hidden while in flight
        # Visible again once the timeout passes: a long poll picks it up.
        again = self.receive_exactly(url, 1, AttributeNames=["All"])[0]
        self.assertEqual(again["MessageId"], first["MessageId"])
        self.assertNotEqual(again["ReceiptHandle"], first["ReceiptHandle"])
        self.assertEqual(first["Attributes"]["ApproximateReceiveCount"], "1")
        self.assertEqual(again["Attributes"]["ApproximateReceiveCount"], "2")
        self.assertEqual(again["Attributes"]["ApproximateFirstReceiveTimestamp"],
                         first["Attributes"]["ApproximateFirstReceiveTimestamp"])

    def test_queue_visibility_timeout_applies(self):
        url = self.create_queue("queuevis", attributes={"VisibilityTimeout": "2"})
        self.sqs.send_message(QueueUrl=url, MessageBody="queue default")
        first = self.receive_exactly(url, 1)[0]
        self.assert_empty(url)
        again = self.receive_exactly(url, 1)[0]
        self.assertEqual(again["MessageId"], first["MessageId"])

    def test_zero_visibility_timeout(self):
        url = self.create_queue("zerovis")
        self.sqs.send_message(QueueUrl=url, MessageBody="zero")
        counts = []
        for _ in range(3):
            m = self.receive_exactly(url, 1, VisibilityTimeout=0, AttributeNames=["All"])[0]
            counts.append(m["Attributes"]["ApproximateReceiveCount"])
        self.assertEqual(counts, ["1", "2", "3"])
        # A receive with the default timeout (30 s) hides it.
        self.receive_exactly(url, 1)
        self.assert_empty(url)

    def test_zero_visibility_receives_see_the_whole_queue(self):
        # Messages received with VisibilityTimeout=0 stay visible; receiving that way again and
        # again (peeking) reaches every message of the queue, not the same ten each time. AWS
        # promises no order on standard queues; it only must not keep the rest out of reach.
        url = self.create_queue("peek")
        bodies = {f"peek {i}" for i in range(25)}
        for body in sorted(bodies):
            self.sqs.send_message(QueueUrl=url, MessageBody=body)
        seen = set()
        for _ in range(20):
            resp = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                            VisibilityTimeout=0)
            seen.update(m["Body"] for m in resp.get("Messages", []))
            if seen == bodies:
                break
        self.assertEqual(seen, bodies)
        self.wait_for_counts(url, ApproximateNumberOfMessages=25,
                             ApproximateNumberOfMessagesNotVisible=0)


class DelayTest(SqsTestCase):
    def test_message_delay(self):
        url = self.create_queue("delay")
        self.sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=3)
        self.assert_empty(url)
        resp = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15)
        self.assertEqual([m["Body"] for m in resp.get("Messages", [])], ["delayed"])

    def test_queue_delay_and_per_message_override(self):
        url = self.create_queue("queuedelay", attributes={"DelaySeconds": "3"})
        self.sqs.send_message(QueueUrl=url, MessageBody="queue delay")
        self.sqs.send_message(QueueUrl=url, MessageBody="no delay", DelaySeconds=0)
        first = self.receive_exactly(url, 1)
        self.assertEqual([m["Body"] for m in first], ["no delay"])
        resp = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15)
        self.assertEqual([m["Body"] for m in resp.get("Messages", [])], ["queue delay"])


class SystemAttributesTest(SqsTestCase):
    def setUp(self):
        super().setUp()
        self.url = self.create_queue("sysattrs", attributes={"VisibilityTimeout": "0"})
        self.sent_at = time.time()
        self.sent = self.sqs.send_message(QueueUrl=self.url, MessageBody="msg",
                                          MessageAttributes={"Foo": s("Bar")})

    def receive(self, **kwargs):
        return self.receive_exactly(self.url, 1, **kwargs)[0]

    def test_all(self):
        for kwargs in ({"AttributeNames": ["All"]}, {"MessageSystemAttributeNames": ["All"]}):
            with self.subTest(**kwargs):
                attrs = self.receive(**kwargs)["Attributes"]
                self.assertLessEqual(STANDARD_SYSTEM, set(attrs))
                self.assertFalse(FIFO_ONLY & set(attrs), "FIFO-only attributes on a standard queue")
                for key in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
                    self.assertRegex(attrs[key], r"^\d+$", f"{key} is epoch milliseconds")
                    self.assertLess(abs(int(attrs[key]) / 1000 - self.sent_at), 600)
                self.assertGreaterEqual(int(attrs["ApproximateFirstReceiveTimestamp"]),
                                        int(attrs["SentTimestamp"]))
                self.assertTrue(attrs["SenderId"])

    def test_specific(self):
        m = self.receive(MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"])
        self.assertEqual(set(m["Attributes"]), {"ApproximateReceiveCount", "SentTimestamp"})
        # A FIFO-only name asked of a standard queue is left out.
        m = self.receive(AttributeNames=["SenderId", "SequenceNumber"])
        self.assertEqual(set(m["Attributes"]), {"SenderId"})

    def test_system_and_message_attributes_together(self):
        m = self.receive(AttributeNames=["All"], MessageAttributeNames=["All"])
        self.assertEqual(m["MessageAttributes"], {"Foo": s("Bar")})
        self.assertEqual(m["MD5OfMessageAttributes"], "ae7155c6026991b6d54b11589678bf9c")
        self.assertIn("SentTimestamp", m["Attributes"])


class MessageAttributeNamesTest(SqsTestCase):
    ATTRS = {"Help.Me": s("Me"), "Hello": s("There"), "General": s("Kenobi")}

    def setUp(self):
        super().setUp()
        self.url = self.create_queue("attrnames", attributes={"VisibilityTimeout": "0"})
        self.sqs.send_message(QueueUrl=self.url, MessageBody="msg", MessageAttributes=self.ATTRS)

    def check(self, names, want_names, want_md5=None):
        msg = self.receive_exactly(self.url, 1, MessageAttributeNames=names)[0]
        got = msg.get("MessageAttributes", {})
        self.assertEqual(got, {n: self.ATTRS[n] for n in want_names})
        if want_names:
            # The MD5 covers the attributes returned, not all the message has.
            self.assertEqual(msg["MD5OfMessageAttributes"], md5_of_attributes(got))
            if want_md5:
                self.assertEqual(msg["MD5OfMessageAttributes"], want_md5)
        else:
            self.assertNotIn("MD5OfMessageAttributes", msg)

    def test_none_requested(self):
        self.check([], [])

    def test_all(self):
        # moto differs: it does not take "*" for all attributes.
        for names in (["All"], [".*"], ["*"]):
            with self.subTest(names=names):
                self.check(names, ["Help.Me", "Hello", "General"],
                           "4c360f3fdafd970e05fae2f149d997f5")

    def test_exact_names(self):
        self.check(["Hello", "General"], ["Hello", "General"], "fca026605781cb4126a1e9044df24232")
        self.check(["Foo", "Hello"], ["Hello"], "a311262e065454b75da111d535b8dacd")
        self.check(["Foo", "Help"], [])

    def test_prefix(self):
        self.check(["Hel.*"], ["Hello", "Help.Me"], "83fee93c1bcd8b9a5a923ffacdc636c7")
        self.check(["Help.*"], ["Help.Me"])

    def test_names_that_cannot_match(self):
        self.check(["AWS."], [])
        self.check(["..foo"], [])
