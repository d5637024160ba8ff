"""Shared helpers for the boto3 end-to-end tests of SQS standard queues.

Every expectation in these tests comes from AWS's documentation (the SQS API Reference and
Developer Guide) or from responses AWS itself returned (recorded by other projects' AWS-validated
tests); none is taken from Ferry. boto3 speaks the AWS JSON 1.0 protocol to SQS: an error answer
carries ``__type`` (the model's shape name, e.g. ``com.amazonaws.sqs#QueueDoesNotExist``) and the
header ``x-amzn-query-error: <query code>;Sender``. botocore exposes the query code as
``Error.Code`` and the shape name as ``Error.QueryErrorCode``, and picks the exception class from
the shape name -- so asserting both checks the header and the body.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import struct
import threading
import time
import unittest
import urllib.parse
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from harness import ferry_server

# Query-protocol error code (what x-amzn-query-error and Error.Code carry) -> JSON shape name
# (what __type names and botocore reports as Error.QueryErrorCode). From the SQS API Reference's
# error lists and from AWS's own JSON answers.
SHAPE_OF = {
    "AWS.SimpleQueueService.NonExistentQueue": "QueueDoesNotExist",
    "QueueAlreadyExists": "QueueNameExists",
    "AWS.SimpleQueueService.QueueDeletedRecently": "QueueDeletedRecently",
    "InvalidParameterValue": "InvalidParameterValueException",
    "MissingParameter": "MissingRequiredParameterException",
    "InvalidAttributeName": "InvalidAttributeName",
    "InvalidAttributeValue": "InvalidAttributeValue",
    "InvalidMessageContents": "InvalidMessageContents",
    "ReceiptHandleIsInvalid": "ReceiptHandleIsInvalid",
    "AWS.SimpleQueueService.MessageNotInflight": "MessageNotInflight",
    "AWS.SimpleQueueService.TooManyEntriesInBatchRequest": "TooManyEntriesInBatchRequest",
    "AWS.SimpleQueueService.EmptyBatchRequest": "EmptyBatchRequest",
    "AWS.SimpleQueueService.BatchEntryIdsNotDistinct": "BatchEntryIdsNotDistinct",
    "AWS.SimpleQueueService.InvalidBatchEntryId": "InvalidBatchEntryId",
    "AWS.SimpleQueueService.BatchRequestTooLong": "BatchRequestTooLong",
    "AWS.SimpleQueueService.PurgeQueueInProgress": "PurgeQueueInProgress",
}

# HTTP status AWS documents for each error (400 unless listed).
STATUS_OF = {"AWS.SimpleQueueService.PurgeQueueInProgress": 403, "OverLimit": 403}

NONEXISTENT_QUEUE_MESSAGE = "The specified queue does not exist."  # SQS Developer Guide, JSON API
BATCH_ID_MESSAGE = ("A batch entry id can only contain alphanumeric characters, hyphens and "
                    "underscores. It can be at most 80 letters long.")

DEFAULT_MAX_MESSAGE_SIZE = 1_048_576  # 1 MiB, API Reference (raised from 256 KiB in 2025)


# --------------------------------------------------------------------------------- checksums
def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_of_body(body: str) -> str:
    return md5_hex(body.encode("utf-8"))


def md5_of_attributes(attrs: dict) -> str | None:
    """MD5OfMessageAttributes as the SQS Developer Guide defines it.

    Sort the attributes by name; for each, append the 4-byte big-endian length and UTF-8 bytes of
    the name and of the data type, one transport byte (1 for a string value -- String and Number
    types --, 2 for a binary value) and the length-prefixed value bytes; MD5 the result.
    The same encoding gives MD5OfMessageSystemAttributes over the system attributes.
    """
    if not attrs:
        return None
    buf = bytearray()

    def put(b: bytes) -> None:
        buf.extend(struct.pack(">I", len(b)))
        buf.extend(b)

    for name in sorted(attrs, key=lambda n: n.encode("utf-8")):
        a = attrs[name]
        put(name.encode("utf-8"))
        put(a["DataType"].encode("utf-8"))
        if "BinaryValue" in a and a.get("BinaryValue") is not None:
            buf.append(2)
            v = a["BinaryValue"]
            put(v if isinstance(v, (bytes, bytearray)) else bytes(v))
        else:
            buf.append(1)
            put(a["StringValue"].encode("utf-8"))
    return md5_hex(bytes(buf))


def attributes_size(attrs: dict) -> int:
    """Bytes an attribute map adds to a message's size: name + data type + value of each."""
    n = 0
    for name, a in (attrs or {}).items():
        n += len(name.encode("utf-8")) + len(a["DataType"].encode("utf-8"))
        if a.get("BinaryValue") is not None:
            n += len(a["BinaryValue"])
        else:
            n += len(a["StringValue"].encode("utf-8"))
    return n


# --------------------------------------------------------------------------------- names
def unique_name(tag: str = "q") -> str:
    """A queue name no other test (or earlier run against the same endpoint) uses."""
    return f"e2e-{tag}-{uuid.uuid4().hex[:12]}"


def account_of(queue_url: str) -> str:
    return urllib.parse.urlparse(queue_url).path.strip("/").split("/")[0]


def name_of(queue_url: str) -> str:
    return urllib.parse.urlparse(queue_url).path.rstrip("/").split("/")[-1]


# --------------------------------------------------------------------------------- test base
class SqsTestCase(unittest.TestCase):
    """Base class: ``self.server`` is the module's server, ``self.sqs`` a boto3 client."""

    maxDiff = None

    @property
    def server(self) -> ferry_server.FerryServer:
        return ferry_server.module_server(type(self).__module__)

    def setUp(self) -> None:
        super().setUp()
        self.sqs = self.server.client("sqs")

    # -- queues
    def create_queue(self, tag: str = "q", *, name: str | None = None,
                     attributes: dict | None = None, tags: dict | None = None,
                     client=None) -> str:
        """Creates a queue with a unique name and deletes it when the test ends."""
        client = client or self.sqs
        kwargs = {"QueueName": name or unique_name(tag)}
        if attributes:
            kwargs["Attributes"] = attributes
        if tags:
            kwargs["tags"] = tags
        url = client.create_queue(**kwargs)["QueueUrl"]
        self.addCleanup(self._delete_quietly, client, url)
        return url

    @staticmethod
    def _delete_quietly(client, url: str) -> None:
        try:
            client.delete_queue(QueueUrl=url)
        except ClientError:
            pass

    def attributes(self, url: str, *names: str) -> dict:
        resp = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"])
        return resp.get("Attributes", {})

    def arn_of(self, url: str) -> str:
        return self.attributes(url, "QueueArn")["QueueArn"]

    # -- errors
    def expect_error(self, fn, code: str, *, status: int | None = None,
                     message: str | None = None, message_contains: str | None = None,
                     shape: str | None = None) -> ClientError:
        """Calls fn() and asserts it fails the way AWS documents.

        code: the query-compatible error code (Error.Code, from x-amzn-query-error).
        shape: the JSON error shape (Error.QueryErrorCode, from __type); default from SHAPE_OF.
        """
        with self.assertRaises(ClientError) as cm:
            fn()
        err = cm.exception
        resp = err.response
        e = resp.get("Error", {})
        meta = resp.get("ResponseMetadata", {})
        headers = {k.lower(): v for k, v in meta.get("HTTPHeaders", {}).items()}
        want_status = status if status is not None else STATUS_OF.get(code, 400)
        self.assertEqual(e.get("Code"), code, f"error code; full error: {resp}")
        want_shape = shape if shape is not None else SHAPE_OF.get(code)
        if want_shape is not None:
            self.assertEqual(e.get("QueryErrorCode"), want_shape,
                             f"__type shape of the JSON error; full error: {resp}")
        self.assertEqual(meta.get("HTTPStatusCode"), want_status, f"HTTP status; {resp}")
        self.assertEqual(headers.get("x-amzn-query-error"), f"{code};Sender",
                         "x-amzn-query-error header")
        self.assertTrue(headers.get("x-amzn-requestid"), "x-amzn-RequestId header on an error")
        if message is not None:
            self.assertEqual(e.get("Message"), message, "error message")
        if message_contains is not None:
            self.assertIn(message_contains, e.get("Message", ""), "error message")
        return err

    # -- waiting on conditions (never a fixed sleep)
    def wait_until(self, predicate, *, timeout: float = 30.0, what: str = "condition"):
        """Polls predicate() until it returns a truthy value; fails after timeout seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = predicate()
            if last:
                return last
            if time.monotonic() > deadline:
                self.fail(f"timed out after {timeout}s waiting for {what}; last value {last!r}")
            time.sleep(0.05)

    def wait_for_counts(self, url: str, *, timeout: float = 65.0, **want: int) -> dict:
        """Waits until the Approximate* counters equal want (AWS: they converge within ~1 min)."""
        names = [f"ApproximateNumberOf{k}" if not k.startswith("Approximate") else k for k in want]
        wanted = {n: str(v) for n, v in zip(names, want.values())}
        last = {}

        def check_and_keep():
            nonlocal last
            last = self.attributes(url, *names)
            return last == wanted

        deadline = time.monotonic() + timeout
        while not check_and_keep():
            if time.monotonic() > deadline:
                self.fail(f"queue counters never reached {wanted}; last {last}")
            time.sleep(0.05)
        return last

    def receive_exactly(self, url: str, count: int, *, timeout: float = 20.0, **kwargs) -> list:
        """Receives until `count` messages arrived (long polling), and returns them."""
        got: list = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            if time.monotonic() > deadline:
                self.fail(f"received {len(got)} of {count} messages")
            resp = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2,
                                            MaxNumberOfMessages=min(10, count - len(got)),
                                            **kwargs)
            got.extend(resp.get("Messages", []))
        return got

    def receive_in_background(self, url: str, **kwargs) -> "Background":
        """Starts ReceiveMessage on its own client in a thread and returns once the request is on
        its way to the server. The result is (response, seconds the call took)."""
        client = self.server.client("sqs")
        on_the_wire = threading.Event()
        client.meta.events.register("before-send.sqs.ReceiveMessage",
                                    lambda **_: on_the_wire.set())

        def call():
            start = time.monotonic()
            resp = client.receive_message(QueueUrl=url, **kwargs)
            return resp, time.monotonic() - start

        bg = Background(call).start()
        if not on_the_wire.wait(30):
            self.fail("the background ReceiveMessage was never sent")
        return bg

    def assert_empty(self, url: str, **kwargs) -> None:
        resp = self.sqs.receive_message(QueueUrl=url, **kwargs)
        self.assertEqual(resp.get("Messages", []), [], "expected no message")

    # -- raw protocol access
    def raw_json(self, target: str | None, body: bytes, *, content_type: str =
                 "application/x-amz-json-1.0", sign: bool = True):
        """POSTs a hand-made AWS JSON 1.0 request (signed with SigV4 like an SDK would).

        Returns (status, headers with lower-case names, body bytes)."""
        url = self.server.endpoint + "/"
        headers = {"Content-Type": content_type}
        if target is not None:
            headers["X-Amz-Target"] = target
        req = AWSRequest(method="POST", url=url, data=body, headers=headers)
        if sign:
            SigV4Auth(Credentials("test", "test"), "sqs", ferry_server.DEFAULT_REGION) \
                .add_auth(req)
        parsed = urllib.parse.urlparse(url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        try:
            conn.request("POST", parsed.path or "/", body=body, headers=dict(req.headers.items()))
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()


def error_type(body: bytes) -> str:
    """The error name from a JSON error body's __type (the part after '#')."""
    doc = json.loads(body.decode("utf-8"))
    t = doc.get("__type", "")
    return t.rsplit("#", 1)[-1]


class Background:
    """Runs fn in a thread and keeps its result or exception."""

    def __init__(self, fn, *args, **kwargs):
        self.result = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True)

    def _run(self, fn, args, kwargs):
        try:
            self.result = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - reported by join()
            self.error = e
        finally:
            self.done.set()

    def start(self) -> "Background":
        self._thread.start()
        return self

    def join(self, timeout: float):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"background call still running after {timeout}s")
        if self.error is not None:
            raise self.error
        return self.result
