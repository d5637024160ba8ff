"""SendMessage and SendMessageBatch: bodies, attributes, checksums, limits and errors."""

from harness import ferry_server
from python.sqs_support import (BATCH_ID_MESSAGE, DEFAULT_MAX_MESSAGE_SIZE, SqsTestCase,
                                attributes_size, md5_of_attributes, md5_of_body, unique_name)


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


def s(value: str, data_type: str = "String") -> dict:
    return {"DataType": data_type, "StringValue": value}


def b(value: bytes, data_type: str = "Binary") -> dict:
    return {"DataType": data_type, "BinaryValue": value}


TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

# Bodies AWS accepts: the allowed set is #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
# #x10000-#x10FFFF (API Reference, SendMessage).
VALID_BODIES = [
    "message",
    '{"json": [1, 2.5, "three"], "nested": {"ok": true}}',
    "<xml attr=\"1\">&amp; &lt;tag&gt; &quot;</xml>",
    '"&quot;&quot;\r',
    "tab\tnewline\ncarriage\r\n end",
    "ünïcödé ✓ 日本語 עברית",
    "emoji 😀 and astral \U0001f680 \U0010fffd",
    "edges \ud7ff \ue000 \ufffd \U00010000",
    " leading and trailing spaces ",
    "x" * 65536,
]

INVALID_BODIES = ["\x00", "nul\x00inside", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\ufffe",
                  "\uffff", "bad\x1bescape"]


class SendMessageTest(SqsTestCase):
    def test_send_answers_id_and_body_md5(self):
        url = self.create_queue("send")
        resp = self.sqs.send_message(QueueUrl=url, MessageBody="message")
        self.assertTrue(resp["MessageId"])
        self.assertEqual(resp["MD5OfMessageBody"], "78e731027d8fd50ed642340b7c9a63b3")
        self.assertNotIn("MD5OfMessageAttributes", resp)
        self.assertNotIn("MD5OfMessageSystemAttributes", resp)
        self.assertNotIn("SequenceNumber", resp)  # FIFO only
        self.assertTrue(resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid"))

    def test_message_ids_are_unique(self):
        url = self.create_queue("ids")
        ids = {self.sqs.send_message(QueueUrl=url, MessageBody="same")["MessageId"]
               for _ in range(20)}
        self.assertEqual(len(ids), 20)

    def test_bodies_round_trip(self):
        url = self.create_queue("bodies")
        for body in VALID_BODIES:
            with self.subTest(body=body[:40]):
                sent = self.sqs.send_message(QueueUrl=url, MessageBody=body)
                self.assertEqual(sent["MD5OfMessageBody"], md5_of_body(body))
                msg = self.receive_exactly(url, 1)[0]
                self.assertEqual(msg["Body"], body)
                self.assertEqual(msg["MD5OfBody"], md5_of_body(body))
                self.assertEqual(msg["MessageId"], sent["MessageId"])
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])

    def test_invalid_characters(self):
        # moto differs: it accepts every character.
        url = self.create_queue("badchars")
        for body in INVALID_BODIES:
            with self.subTest(body=repr(body)):
                err = self.expect_error(lambda: self.sqs.send_message(QueueUrl=url,
                                                                      MessageBody=body),
                                        "InvalidMessageContents")
                self.assertIsInstance(err, self.sqs.exceptions.InvalidMessageContents)
        self.assert_empty(url)

    def test_attributes_of_every_type(self):
        url = self.create_queue("attrs")
        attrs = {
            "str": s("hello ✓"),
            "num": s("-12345.6789e10", "Number"),
            "int": s("42", "Number"),
            "bin": b(bytes(range(256))),
            "custom.str": s("typed", "String.custom_type"),
            "custom.num": s("3.14", "Number.float"),
            "custom.bin": b(b"\x89PNG\r\n\x1a\n", "Binary.png"),
            "Name-with_all.chars": s("v"),
        }
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="with attributes",
                                     MessageAttributes=attrs)
        self.assertEqual(sent["MD5OfMessageAttributes"], md5_of_attributes(attrs))
        msg = self.receive_exactly(url, 1, MessageAttributeNames=["All"])[0]
        self.assertEqual(msg["MessageAttributes"], attrs)
        self.assertEqual(msg["MD5OfMessageAttributes"], md5_of_attributes(attrs))

    def test_attribute_name_with_non_ascii_letters(self):
        # AWS accepted this name (recorded by an AWS-validated test). moto differs: it allows
        # only A-Z, a-z, 0-9, '_', '-' and '.'.
        url = self.create_queue("nonascii")
        attrs = {"attr.1øßä": s("Valida")}
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="test", MessageAttributes=attrs)
        self.assertEqual(sent["MD5OfMessageAttributes"], md5_of_attributes(attrs))
        msg = self.receive_exactly(url, 1, MessageAttributeNames=["All"])[0]
        self.assertEqual(msg["MessageAttributes"], attrs)

    def test_attribute_md5_matches_values_aws_computed(self):
        # MD5s AWS itself returned for these attributes (recorded against AWS).
        url = self.create_queue("md5")
        cases = [
            ({"Help.Me": s("Me"), "Hello": s("There"), "General": s("Kenobi")},
             "4c360f3fdafd970e05fae2f149d997f5"),
            ({"Foo": s("Bar")}, "ae7155c6026991b6d54b11589678bf9c"),
            ({"timestamp": s("1493147359900", "Number")}, None),
            ({"attr1": b(b"traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-"
                         b"2d2482211f6489da-01")}, "8cbe4db156db8a94db8b801b7addb984"),
        ]
        for attrs, aws_md5 in cases:
            with self.subTest(attrs=list(attrs)):
                sent = self.sqs.send_message(QueueUrl=url, MessageBody="test",
                                             MessageAttributes=attrs)
                self.assertEqual(sent["MD5OfMessageAttributes"], md5_of_attributes(attrs))
                if aws_md5:
                    self.assertEqual(sent["MD5OfMessageAttributes"], aws_md5)

    def test_aws_trace_header_system_attribute(self):
        # moto differs: it answers no MD5OfMessageSystemAttributes.
        url = self.create_queue("trace")
        user = {"timestamp": s("1493147359900", "Number")}
        plain = self.sqs.send_message(QueueUrl=url, MessageBody="test", MessageAttributes=user)
        traced = self.sqs.send_message(
            QueueUrl=url, MessageBody="test", MessageAttributes=user,
            MessageSystemAttributes={"AWSTraceHeader": s(TRACE_HEADER)})
        # System attributes do not change MD5OfMessageAttributes; they get their own MD5.
        self.assertEqual(traced["MD5OfMessageAttributes"], plain["MD5OfMessageAttributes"])
        self.assertNotIn("MD5OfMessageSystemAttributes", plain)
        self.assertEqual(traced["MD5OfMessageSystemAttributes"],
                         "5ae4d5d7636402d80f4eb6d213245a88")
        self.assertEqual(traced["MD5OfMessageSystemAttributes"],
                         md5_of_attributes({"AWSTraceHeader": s(TRACE_HEADER)}))
        msgs = self.receive_exactly(url, 2, MessageSystemAttributeNames=["AWSTraceHeader"])
        by_id = {m["MessageId"]: m for m in msgs}
        self.assertEqual(by_id[traced["MessageId"]]["Attributes"], {"AWSTraceHeader": TRACE_HEADER})
        self.assertNotIn("AWSTraceHeader", by_id[plain["MessageId"]].get("Attributes", {}))

    def test_invalid_attribute_names(self):
        # moto differs: it accepts AWS./Amazon. prefixes, edge dots and long names; its __type
        #   differs.
        # API Reference: alphanumerics, '_', '-', '.'; not starting with AWS. or Amazon. (any
        # case); no leading, trailing or doubled '.'; at most 256 characters.
        url = self.create_queue("badnames")
        for name in ["AWS.x", "aWs.x", "Amazon.x", "AMAZON.x", ".lead", "trail.", "dou..ble",
                     "bad!name", 'quote"name', "paren(name", "space name", "L" * 257]:
            with self.subTest(name=name):
                self.expect_error(lambda: self.sqs.send_message(
                    QueueUrl=url, MessageBody="x", MessageAttributes={name: s("v")}),
                    "InvalidParameterValue")

    def test_invalid_attribute_types_and_values(self):
        # moto differs: it checks little of this; its __type differs.
        url = self.create_queue("badtypes")
        bad = {
            "unknown type": {"a": s("v", "Invalid")},
            "type too long": {"a": s("v", "Number." + "L" * 256)},
            "number that is not": {"a": s("not-a-number", "Number")},
            "control character": {"a": s(f"Invalid-{chr(8)},{chr(11)}")},
            "eleven attributes": {f"a{i}": s("v") for i in range(11)},
        }
        for what, attrs in bad.items():
            with self.subTest(what=what):
                self.expect_error(lambda: self.sqs.send_message(
                    QueueUrl=url, MessageBody="x", MessageAttributes=attrs),
                    "InvalidParameterValue")

    def test_empty_string_attribute(self):
        # moto differs: it accepts an empty string value.
        url = self.create_queue("emptyattr")
        self.expect_error(
            lambda: self.sqs.send_message(QueueUrl=url, MessageBody="test", MessageAttributes={
                "ErrorDetails": s("")}),
            "InvalidParameterValue",
            message="Message (user) attribute 'ErrorDetails' must contain a non-empty value of "
                    "type 'String'.")

    def test_default_size_limit_is_one_mebibyte(self):
        # moto differs: it still enforces the old 256 KiB limit.
        url = self.create_queue("big")
        body = "a" * DEFAULT_MAX_MESSAGE_SIZE
        sent = self.sqs.send_message(QueueUrl=url, MessageBody=body)
        self.assertEqual(sent["MD5OfMessageBody"], md5_of_body(body))
        msg = self.receive_exactly(url, 1)[0]
        self.assertEqual(len(msg["Body"]), DEFAULT_MAX_MESSAGE_SIZE)
        self.expect_error(
            lambda: self.sqs.send_message(QueueUrl=url, MessageBody=body + "a"),
            "InvalidParameterValue",
            message="One or more parameters are invalid. Reason: Message must be shorter than "
                    f"{DEFAULT_MAX_MESSAGE_SIZE} bytes.")

    def test_queue_size_limit_counts_attributes(self):
        # moto differs: it does not count attributes in the size.
        url = self.create_queue("small", attributes={"MaximumMessageSize": "1024"})
        self.sqs.send_message(QueueUrl=url, MessageBody="a" * 1024)
        attrs = {"k": s("x")}
        body = "a" * (1024 - attributes_size(attrs))
        self.sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)
        self.expect_error(
            lambda: self.sqs.send_message(QueueUrl=url, MessageBody=body + "a",
                                          MessageAttributes=attrs),
            "InvalidParameterValue",
            message="One or more parameters are invalid. Reason: Message must be shorter than "
                    "1024 bytes.")
        # Multi-byte characters count in bytes.
        self.expect_error(
            lambda: self.sqs.send_message(QueueUrl=url, MessageBody="é" * 513),
            "InvalidParameterValue")

    def test_delay_seconds_out_of_range(self):
        # moto differs: its __type is InvalidParameterValue (AWS: InvalidParameterValueException).
        url = self.create_queue("baddelay")
        self.expect_error(lambda: self.sqs.send_message(QueueUrl=url, MessageBody="x",
                                                        DelaySeconds=901),
                          "InvalidParameterValue")

    def test_nonexistent_queue(self):
        url = self.create_queue("exists")
        missing = url.rsplit("/", 1)[0] + "/" + unique_name("never")
        self.expect_error(lambda: self.sqs.send_message(QueueUrl=missing, MessageBody="x"),
                          "AWS.SimpleQueueService.NonExistentQueue")


class SendMessageBatchTest(SqsTestCase):
    def test_ten_entries(self):
        url = self.create_queue("batch")
        entries = []
        for i in range(10):
            e = {"Id": f"msg-{i}", "MessageBody": f"body-{i} ✓"}
            if i % 2:
                e["MessageAttributes"] = {"index": s(str(i), "Number"), "bin": b(bytes([i]) * 3)}
            entries.append(e)
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(resp.get("Failed", []), [])
        ok = {r["Id"]: r for r in resp["Successful"]}
        self.assertEqual(set(ok), {e["Id"] for e in entries})
        for e in entries:
            r = ok[e["Id"]]
            self.assertEqual(r["MD5OfMessageBody"], md5_of_body(e["MessageBody"]))
            if "MessageAttributes" in e:
                self.assertEqual(r["MD5OfMessageAttributes"],
                                 md5_of_attributes(e["MessageAttributes"]))
            else:
                self.assertNotIn("MD5OfMessageAttributes", r)
        self.assertEqual(len({r["MessageId"] for r in ok.values()}), 10)
        received = self.receive_exactly(url, 10, MessageAttributeNames=["All"])
        by_id = {m["MessageId"]: m for m in received}
        self.assertEqual(set(by_id), {r["MessageId"] for r in ok.values()})
        for e in entries:
            m = by_id[ok[e["Id"]]["MessageId"]]
            self.assertEqual(m["Body"], e["MessageBody"])
            self.assertEqual(m.get("MessageAttributes"), e.get("MessageAttributes"))

    def test_too_many_entries(self):
        url = self.create_queue("toomany")
        entries = [{"Id": str(i), "MessageBody": "x"} for i in range(11)]
        err = self.expect_error(lambda: self.sqs.send_message_batch(QueueUrl=url, Entries=entries),
                                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                                message="Maximum number of entries per request are 10. "
                                        "You have sent 11.")
        self.assertIsInstance(err, self.sqs.exceptions.TooManyEntriesInBatchRequest)
        self.assert_empty(url)

    def test_empty_batch(self):
        url = self.create_queue("emptybatch")
        self.expect_error(lambda: self.sqs.send_message_batch(QueueUrl=url, Entries=[]),
                          "AWS.SimpleQueueService.EmptyBatchRequest")

    def test_ids_not_distinct(self):
        url = self.create_queue("dupids")
        entries = [{"Id": "same", "MessageBody": "a"}, {"Id": "same", "MessageBody": "b"}]
        self.expect_error(lambda: self.sqs.send_message_batch(QueueUrl=url, Entries=entries),
                          "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        self.assert_empty(url)

    def test_invalid_ids(self):
        url = self.create_queue("badids")
        for bad in ["", "a" * 81, "bad:id", "has space", "dot.id"]:
            with self.subTest(id=bad):
                self.expect_error(
                    lambda: self.sqs.send_message_batch(QueueUrl=url, Entries=[
                        {"Id": "ok", "MessageBody": "x"}, {"Id": bad, "MessageBody": "y"}]),
                    "AWS.SimpleQueueService.InvalidBatchEntryId", message=BATCH_ID_MESSAGE)
        longest = ("Az09-_" * 14)[:80]
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": longest,
                                                                   "MessageBody": "x"}])
        self.assertEqual([r["Id"] for r in resp["Successful"]], [longest])

    def test_total_size_limit(self):
        # moto differs: it does not check the total size.
        # Each entry is within the limit; together they are one byte over it.
        url = self.create_queue("toolong")
        attrs = {"k": s("x")}
        first = "a" * (DEFAULT_MAX_MESSAGE_SIZE - attributes_size(attrs))
        entries = [{"Id": "1", "MessageBody": first, "MessageAttributes": attrs},
                   {"Id": "2", "MessageBody": "a"}]
        self.expect_error(
            lambda: self.sqs.send_message_batch(QueueUrl=url, Entries=entries),
            "AWS.SimpleQueueService.BatchRequestTooLong",
            message=f"Batch requests cannot be longer than {DEFAULT_MAX_MESSAGE_SIZE} bytes. "
                    f"You have sent {DEFAULT_MAX_MESSAGE_SIZE + 1} bytes.")
        self.assert_empty(url)

    def test_failed_entry_does_not_fail_the_others(self):
        # moto differs: it accepts the invalid character.
        url = self.create_queue("partial")
        entries = [{"Id": str(i), "MessageBody": str(i)} for i in range(9)]
        entries.append({"Id": "9", "MessageBody": "\x01"})
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(len(resp["Successful"]), 9)
        self.assertEqual(len(resp["Failed"]), 1)
        failed = resp["Failed"][0]
        self.assertEqual(failed["Id"], "9")
        self.assertEqual(failed["Code"], "InvalidMessageContents")
        self.assertIs(failed["SenderFault"], True)
        bodies = {m["Body"] for m in self.receive_exactly(url, 9)}
        self.assertEqual(bodies, {str(i) for i in range(9)})

    def test_batch_whose_every_entry_fails_is_answered(self):
        # Nothing is written, so nothing is synced: the answer must not wait for a sync (it
        # did, for ever, until session 9).
        url = self.create_queue("allfail")
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": "\x01"}, {"Id": "b", "MessageBody": "\x02"}])
        self.assertEqual(resp["Successful"], [])
        self.assertEqual([(f["Id"], f["Code"]) for f in resp["Failed"]],
                         [("a", "InvalidMessageContents"), ("b", "InvalidMessageContents")])
        fifo = self.create_queue(name=unique_name("allfail") + ".fifo",
                                 attributes={"FifoQueue": "true"})
        resp = self.sqs.send_message_batch(QueueUrl=fifo, Entries=[
            {"Id": "a", "MessageBody": "x", "MessageGroupId": "g"}])
        self.assertEqual(resp["Successful"], [])
        self.assertEqual(resp["Failed"][0]["Code"], "InvalidParameterValue")
        self.assert_empty(url)

    def test_entry_delay_seconds(self):
        url = self.create_queue("batchdelay")
        resp = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "now", "MessageBody": "now"},
            {"Id": "later", "MessageBody": "later", "DelaySeconds": 600}])
        self.assertEqual(len(resp["Successful"]), 2)
        self.wait_for_counts(url, Messages=1, MessagesDelayed=1)
        self.assertEqual([m["Body"] for m in self.receive_exactly(url, 1)], ["now"])
        self.assert_empty(url, WaitTimeSeconds=1)

    def test_nonexistent_queue(self):
        url = self.create_queue("exists")
        missing = url.rsplit("/", 1)[0] + "/" + unique_name("never")
        self.expect_error(lambda: self.sqs.send_message_batch(
            QueueUrl=missing, Entries=[{"Id": "1", "MessageBody": "x"}]),
            "AWS.SimpleQueueService.NonExistentQueue")
