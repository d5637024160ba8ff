"""The wire protocol itself, with hand-made HTTP requests (signed with SigV4 like an SDK).

The SQS Developer Guide ("Interpreting Amazon SQS JSON API responses") documents the JSON
protocol's answers: a success carries ``x-amzn-RequestId`` and ``Content-Type:
application/x-amz-json-1.0``; an error also carries ``x-amzn-query-error: <code>;Sender`` and a
body ``{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "..."}``.
"""

import http.client
import json
import urllib.parse
import xml.etree.ElementTree as ET

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import ferry_server
from python.sqs_support import (NONEXISTENT_QUEUE_MESSAGE, SqsTestCase, error_type, md5_of_body,
                                name_of, unique_name)


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


JSON_CT = "application/x-amz-json-1.0"


class JsonProtocolTest(SqsTestCase):
    def test_success_headers(self):
        status, headers, body = self.raw_json("AmazonSQS.ListQueues", b"{}")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers.get("x-amzn-requestid"))
        self.assertEqual(headers.get("content-type", "").split(";")[0].strip(), JSON_CT)
        json.loads(body or b"{}")

    def test_request_ids_differ(self):
        ids = {self.sqs.list_queues()["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
               for _ in range(5)}
        self.assertEqual(len(ids), 5)

    def test_documented_error_shape(self):
        body = json.dumps({"QueueName": unique_name("missing")}).encode()
        status, headers, data = self.raw_json("AmazonSQS.GetQueueUrl", body)
        self.assertEqual(status, 400)
        self.assertEqual(headers.get("x-amzn-query-error"),
                         "AWS.SimpleQueueService.NonExistentQueue;Sender")
        self.assertTrue(headers.get("x-amzn-requestid"))
        self.assertEqual(headers.get("content-type", "").split(";")[0].strip(), JSON_CT)
        doc = json.loads(data)
        self.assertEqual(doc["__type"], "com.amazonaws.sqs#QueueDoesNotExist")
        self.assertEqual(doc["message"], NONEXISTENT_QUEUE_MESSAGE)

    def test_create_and_send_by_hand(self):
        name = unique_name("raw")
        status, _, data = self.raw_json("AmazonSQS.CreateQueue", json.dumps({
            "QueueName": name, "Attributes": {"VisibilityTimeout": "40"},
            "tags": {"QueueType": "Production"}}).encode())
        self.assertEqual(status, 200, data)
        url = json.loads(data)["QueueUrl"]
        self.addCleanup(self._delete_quietly, self.sqs, url)
        self.assertEqual(name_of(url), name)
        status, _, data = self.raw_json("AmazonSQS.SendMessage", json.dumps({
            "QueueUrl": url, "MessageBody": "by hand"}).encode())
        self.assertEqual(status, 200, data)
        doc = json.loads(data)
        self.assertEqual(doc["MD5OfMessageBody"], md5_of_body("by hand"))
        self.assertTrue(doc["MessageId"])

    def test_missing_required_parameter(self):
        # moto differs: it answers 500.
        url = self.create_queue("missing")
        status, headers, data = self.raw_json("AmazonSQS.SendMessage",
                                              json.dumps({"QueueUrl": url}).encode())
        self.assertEqual(status, 400, data)
        self.assertEqual(headers.get("x-amzn-query-error"), "MissingParameter;Sender")
        self.assertEqual(error_type(data), "MissingRequiredParameterException")
        self.assertEqual(json.loads(data).get("message"),
                         "The request must contain the parameter MessageBody.")

    def test_unknown_action(self):
        # The JSON protocol names the operation in X-Amz-Target. AWS's JSON services answer an
        # unknown one with UnknownOperationException (HTTP 400), the coral framework's error
        # (the Query protocol's equivalent is InvalidAction, tested below).
        # moto differs: it does not route the request to SQS at all.
        status, headers, data = self.raw_json("AmazonSQS.Bogus", b"{}")
        self.assertEqual(status, 400, data)
        self.assertTrue(headers.get("x-amzn-requestid"))
        self.assertEqual(error_type(data), "UnknownOperationException")

    def test_malformed_json(self):
        # A body that is not JSON: the coral framework's SerializationException (HTTP 400).
        # moto differs: it answers 500.
        for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
            with self.subTest(body=body):
                status, headers, data = self.raw_json("AmazonSQS.ListQueues", body)
                self.assertEqual(status, 400, data)
                self.assertTrue(headers.get("x-amzn-requestid"))
                self.assertEqual(error_type(data), "SerializationException")

    def test_wrong_type_for_a_member(self):
        # moto differs: it answers 500.
        url = self.create_queue("types")
        status, _, data = self.raw_json("AmazonSQS.ReceiveMessage", json.dumps({
            "QueueUrl": url, "MaxNumberOfMessages": {"not": "a number"}}).encode())
        self.assertEqual(status, 400, data)
        self.assertIn("__type", json.loads(data))


class QueryProtocolTest(SqsTestCase):
    """The older Query protocol (form body, XML answer) that the aws CLI v2 still speaks."""

    NS = {"sqs": "http://queue.amazonaws.com/doc/2012-11-05/"}

    def query(self, params: dict, url: str | None = None):
        url = url or self.server.endpoint + "/"
        body = urllib.parse.urlencode(dict(params, Version="2012-11-05")).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        req = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(Credentials("test", "test"), "sqs", "us-east-1").add_auth(req)
        p = urllib.parse.urlparse(url)
        conn = http.client.HTTPConnection(p.hostname, p.port, timeout=30)
        try:
            conn.request("POST", p.path or "/", body=body, headers=dict(req.headers.items()))
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
        finally:
            conn.close()

    def test_get_queue_attributes_xml(self):
        url = self.create_queue("query")
        status, headers, text = self.query({"Action": "GetQueueAttributes", "QueueUrl": url,
                                            "AttributeName.1": "All"})
        self.assertEqual(status, 200, text)
        root = ET.fromstring(text)
        self.assertTrue(root.tag.endswith("GetQueueAttributesResponse"))
        attrs = {a.find("sqs:Name", self.NS).text: a.find("sqs:Value", self.NS).text
                 for a in root.iter("{%s}Attribute" % self.NS["sqs"])}
        self.assertEqual(attrs["VisibilityTimeout"], "30")
        self.assertTrue(attrs["QueueArn"].startswith("arn:aws:sqs:"))
        request_id = root.find("sqs:ResponseMetadata/sqs:RequestId", self.NS)
        self.assertIsNotNone(request_id)
        self.assertTrue(request_id.text)

    def test_invalid_action(self):
        # moto differs: it answers 500.
        url = self.create_queue("queryaction")
        status, _, text = self.query({"Action": "FooBar", "QueueUrl": url})
        self.assertEqual(status, 400, text)
        self.assertIn("<Code>InvalidAction</Code>", text)
        self.assertIn("<Type>Sender</Type>", text)
        self.assertIn("<Message>The action FooBar is not valid for this endpoint.</Message>", text)

    def test_nonexistent_queue(self):
        status, _, text = self.query({"Action": "GetQueueUrl",
                                      "QueueName": unique_name("missing")})
        self.assertEqual(status, 400, text)
        self.assertIn("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>", text)
        self.assertIn("<Message>The specified queue does not exist for this wsdl version."
                      "</Message>", text)
