"""The URLs Ferry hands out: --public-url sets the base of those in SNS messages
(SigningCertURL, UnsubscribeURL), so that endpoints on other machines can reach Ferry; without
it they name localhost and the port Ferry listens on, also with --port 0 (any free port).
Checked through an SQS subscription's JSON envelope, read with boto3. Ferry only (its options)."""

import json
import socket
import unittest
import urllib.request
import uuid
from urllib.parse import urlsplit

from harness import ferry_server

PUBLIC = "http://ferry.example.test:8080"
SERVER = None


def setUpModule():
    global SERVER
    SERVER = ferry_server.FerryServer(extra_args=["--public-url", PUBLIC + "/"])
    SERVER.start()


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()


def envelope_of_a_publish(server, message):
    """Subscribes a new queue to a new topic, publishes `message`; returns (subscription ARN,
    the envelope the queue received)."""
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name=f"pub-{uuid.uuid4().hex[:10]}")["TopicArn"]
    url = sqs.create_queue(QueueName=f"pub-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    sns.publish(TopicArn=topic, Message=message)
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Message"] == message, envelope
    return sub, envelope


class PublicUrlTest(unittest.TestCase):
    def test_envelope_urls_use_the_public_url(self):
        sub, envelope = envelope_of_a_publish(SERVER, "where am I")
        self.assertEqual(envelope["SigningCertURL"],
                         PUBLIC + "/SimpleNotificationService-ferry.pem")
        self.assertTrue(envelope["UnsubscribeURL"].startswith(PUBLIC + "/?"),
                        envelope["UnsubscribeURL"])
        self.assertIn(sub, envelope["UnsubscribeURL"].replace("%3A", ":"))


@unittest.skipUnless(ferry_server.target() == "ferry", "starts ferry with --port 0")
class PortZeroTest(unittest.TestCase):
    """--port 0: the URLs name the port the listener got, which the harness reads from the
    "listening on host:port" line."""

    @classmethod
    def setUpClass(cls):
        cls.server = ferry_server.FerryServer(port=0, log_level="info")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_urls_carry_the_bound_port(self):
        port = self.server.port
        self.assertNotEqual(port, 0)
        sub, envelope = envelope_of_a_publish(self.server, "which port")
        self.assertEqual(envelope["SigningCertURL"],
                         f"http://localhost:{port}/SimpleNotificationService-ferry.pem")
        self.assertTrue(envelope["UnsubscribeURL"].startswith(f"http://localhost:{port}/?"),
                        envelope["UnsubscribeURL"])
        self.assertIn(sub, envelope["UnsubscribeURL"].replace("%3A", ":"))
        with urllib.request.urlopen(envelope["SigningCertURL"], timeout=10) as r:
            self.assertEqual(r.status, 200)
            pem = r.read()
        self.assertTrue(pem.startswith(b"-----BEGIN CERTIFICATE-----"), pem[:40])

    def test_queue_url_carries_the_bound_port(self):
        sqs = self.server.client("sqs")
        url = sqs.create_queue(QueueName=f"port-{uuid.uuid4().hex[:10]}")["QueueUrl"]
        self.assertEqual(urlsplit(url).port, self.server.port)
        # Without a Host header (HTTP/1.0) the QueueUrl names localhost and the bound port.
        name = f"nohost-{uuid.uuid4().hex[:10]}"
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(f"GET /?Action=CreateQueue&QueueName={name}&Version=2012-11-05 "
                      "HTTP/1.0\r\n\r\n".encode())
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        self.assertIn(b" 200 ", answer.split(b"\r\n", 1)[0], answer)
        self.assertIn(f"<QueueUrl>http://localhost:{self.server.port}/".encode(), answer)


if __name__ == "__main__":
    unittest.main()
