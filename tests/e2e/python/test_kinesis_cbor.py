"""Kinesis over CBOR (application/x-amz-cbor-1.1, the Java SDK's default), encoded and decoded
by an independent CBOR library: Debian's python3-cbor2.

What the Java SDK does on the wire, per AWS's Kinesis documentation and SDK behaviour: the body
is a CBOR map with the JSON protocol's member names, blobs are CBOR byte strings (not base64),
timestamps are epoch milliseconds, and errors carry __type and message.
"""

import http.client
import json
import sys
import time
import unittest
import urllib.error
import urllib.request
import uuid

try:
    import cbor2
except ImportError:  # Debian's package lives outside a pyenv interpreter's path
    sys.path.append("/usr/lib/python3/dist-packages")
    import cbor2

from botocore.eventstream import EventStreamBuffer

from harness import ferry_server

SERVER = None


def setUpModule():
    global SERVER
    SERVER = ferry_server.FerryServer()
    SERVER.start()


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()


def call(action, body):
    """POSTs a CBOR request; returns (status, decoded body, content type)."""
    request = urllib.request.Request(
        SERVER.endpoint + "/", data=cbor2.dumps(body), method="POST",
        headers={"Content-Type": "application/x-amz-cbor-1.1",
                 "Accept": "application/x-amz-cbor-1.1",
                 "X-Amz-Target": f"Kinesis_20131202.{action}",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261121/us-east-1/kinesis/"
                                  "aws4_request, SignedHeaders=host, Signature=0"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, cbor2.loads(response.read()), response.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        return e.code, cbor2.loads(e.read()), e.headers["Content-Type"]


class CborRoundTripTest(unittest.TestCase):
    def test_put_and_get_records(self):
        name = f"cbor-{uuid.uuid4().hex[:12]}"
        status, _, content_type = call("CreateStream", {"StreamName": name, "ShardCount": 1})
        self.assertEqual(status, 200)
        self.assertEqual(content_type, "application/x-amz-cbor-1.1")
        self.addCleanup(call, "DeleteStream", {"StreamName": name})

        payload = bytes(range(256)) * 4  # every byte value, as a CBOR byte string
        before_ms = int(time.time() * 1000)
        status, put, _ = call("PutRecord", {"StreamName": name, "Data": payload,
                                            "PartitionKey": "pk"})
        self.assertEqual(status, 200)
        self.assertEqual(put["ShardId"], "shardId-000000000000")
        status, batch, _ = call("PutRecords", {"StreamName": name, "Records": [
            {"Data": b"second", "PartitionKey": "pk"}, {"Data": b"", "PartitionKey": "pk"}]})
        self.assertEqual(status, 200, batch)
        self.assertEqual(batch["FailedRecordCount"], 0)

        status, it, _ = call("GetShardIterator", {"StreamName": name,
                                                  "ShardId": "shardId-000000000000",
                                                  "ShardIteratorType": "TRIM_HORIZON"})
        self.assertEqual(status, 200)
        status, got, _ = call("GetRecords", {"ShardIterator": it["ShardIterator"]})
        self.assertEqual(status, 200)
        records = got["Records"]
        self.assertEqual([r["Data"] for r in records], [payload, b"second", b""])
        self.assertIsInstance(records[0]["Data"], bytes)
        self.assertEqual(records[0]["SequenceNumber"], put["SequenceNumber"])
        # Timestamps are epoch milliseconds in CBOR, not seconds.
        arrival = records[0]["ApproximateArrivalTimestamp"]
        arrival_ms = arrival.timestamp() * 1000 if hasattr(arrival, "timestamp") else arrival
        self.assertGreaterEqual(arrival_ms, before_ms - 1000)
        self.assertLess(arrival_ms, before_ms + 60_000)

        # AT_TIMESTAMP takes an epoch-milliseconds timestamp too.
        status, it, _ = call("GetShardIterator", {
            "StreamName": name, "ShardId": "shardId-000000000000",
            "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": before_ms - 1000})
        self.assertEqual(status, 200, it)
        status, got, _ = call("GetRecords", {"ShardIterator": it["ShardIterator"]})
        self.assertEqual(len(got["Records"]), 3)

        status, summary, _ = call("DescribeStreamSummary", {"StreamName": name})
        created = summary["StreamDescriptionSummary"]["StreamCreationTimestamp"]
        created_ms = created.timestamp() * 1000 if hasattr(created, "timestamp") else created
        self.assertGreater(created_ms, before_ms - 3_600_000)

    def test_errors(self):
        status, body, content_type = call("DescribeStream", {"StreamName": "no-such-stream"})
        self.assertEqual(status, 400)
        self.assertEqual(content_type, "application/x-amz-cbor-1.1")
        self.assertTrue(body["__type"].endswith("ResourceNotFoundException"), body)
        self.assertIn("no-such-stream", body["message"])
        status, body, _ = call("PutRecord", {"StreamName": "x", "PartitionKey": "k"})
        self.assertEqual(status, 400)
        self.assertTrue(body["__type"].endswith("ValidationException"), body)


class CborSubscribeToShardTest(unittest.TestCase):
    """SubscribeToShard with a CBOR request over HTTP/1.1: the event stream's frames are parsed
    by botocore's event-stream decoder (CRC-checked) and their payloads by cbor2."""

    def subscribe(self, body):
        """Yields the decoded messages of the event stream the server answers with."""
        host, port = SERVER.endpoint.removeprefix("http://").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=15)
        self.addCleanup(conn.close)
        conn.request("POST", "/", body=cbor2.dumps(body), headers={
            "Content-Type": "application/x-amz-cbor-1.1",
            "Accept": "application/x-amz-cbor-1.1",
            "X-Amz-Target": "Kinesis_20131202.SubscribeToShard",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261121/us-east-1/kinesis/"
                             "aws4_request, SignedHeaders=host, Signature=0"})
        response = conn.getresponse()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Content-Type"], "application/vnd.amazon.eventstream")
        buffer = EventStreamBuffer()
        while True:
            chunk = response.read1(65536)
            if not chunk:
                return
            buffer.add_data(chunk)
            for message in buffer:
                yield message

    def test_events_are_cbor(self):
        name = f"cbor-efo-{uuid.uuid4().hex[:12]}"
        self.assertEqual(call("CreateStream", {"StreamName": name, "ShardCount": 1})[0], 200)
        self.addCleanup(call, "DeleteStream", {"StreamName": name,
                                               "EnforceConsumerDeletion": True})
        _, summary, _ = call("DescribeStreamSummary", {"StreamName": name})
        arn = summary["StreamDescriptionSummary"]["StreamARN"]
        status, consumer, _ = call("RegisterStreamConsumer", {"StreamARN": arn,
                                                              "ConsumerName": "java"})
        self.assertEqual(status, 200, consumer)
        payload = bytes(range(256))
        before_ms = int(time.time() * 1000)
        seqs = [call("PutRecord", {"StreamName": name, "Data": data, "PartitionKey": "pk"})[1]
                ["SequenceNumber"] for data in (payload, b"")]

        messages = self.subscribe({"ConsumerARN": consumer["Consumer"]["ConsumerARN"],
                                   "ShardId": "shardId-000000000000",
                                   "StartingPosition": {"Type": "TRIM_HORIZON"}})
        initial = next(messages)
        self.assertEqual(initial.headers[":event-type"], "initial-response")
        self.assertEqual(initial.headers[":content-type"], "application/x-amz-cbor-1.1")
        self.assertEqual(cbor2.loads(initial.payload), {})

        event = next(messages)
        self.assertEqual(event.headers[":message-type"], "event")
        self.assertEqual(event.headers[":event-type"], "SubscribeToShardEvent")
        self.assertEqual(event.headers[":content-type"], "application/x-amz-cbor-1.1")
        body = cbor2.loads(event.payload)
        records = body["Records"]
        self.assertEqual([r["Data"] for r in records], [payload, b""])
        self.assertIsInstance(records[0]["Data"], bytes)  # a byte string, not base64 text
        self.assertEqual([r["SequenceNumber"] for r in records], seqs)
        self.assertEqual(records[0]["PartitionKey"], "pk")
        arrival = records[0]["ApproximateArrivalTimestamp"]
        self.assertIsInstance(arrival, int)  # epoch milliseconds
        self.assertGreaterEqual(arrival, before_ms - 1000)
        self.assertLess(arrival, before_ms + 60_000)
        self.assertEqual(body["ContinuationSequenceNumber"], seqs[-1])
        self.assertEqual(body["MillisBehindLatest"], 0)

        # Records put while subscribed arrive in CBOR too.
        call("PutRecord", {"StreamName": name, "Data": b"later", "PartitionKey": "pk"})
        while True:
            body = cbor2.loads(next(messages).payload)
            if body["Records"]:
                break
        self.assertEqual([r["Data"] for r in body["Records"]], [b"later"])


class JsonWireTest(unittest.TestCase):
    """What the SDKs parse on errors of Kinesis's JSON 1.1 protocol."""

    def post(self, action, body: bytes):
        request = urllib.request.Request(
            SERVER.endpoint + "/", data=body, method="POST",
            headers={"Content-Type": "application/x-amz-json-1.1",
                     "X-Amz-Target": f"Kinesis_20131202.{action}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_serialization_exception_has_capitalised_message(self):
        status, body = self.post("DescribeStream", b'{"StreamName": 5}')
        self.assertEqual(status, 400)
        self.assertTrue(body["__type"].endswith("SerializationException"), body)
        self.assertIn("Message", body)
        self.assertNotIn("message", body)

    def test_missing_member_is_a_validation_exception(self):
        status, body = self.post("PutRecord", b'{"StreamName": "s", "PartitionKey": "k"}')
        self.assertEqual(status, 400)
        self.assertTrue(body["__type"].endswith("ValidationException"), body)
        self.assertEqual(body["message"], "1 validation error detected: Value null at 'data' "
                                          "failed to satisfy constraint: Member must not be null")


if __name__ == "__main__":
    unittest.main()
