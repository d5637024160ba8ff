"""SNS http subscriptions against an endpoint served by the test itself on loopback: the
SubscriptionConfirmation and its SubscribeURL, ConfirmSubscription, Notification posts with
AWS's headers (SNS Developer Guide, "Parsing message formats"), raw delivery, retries under a
DeliveryPolicy, the dead-letter queue, and deliveries that survive kill -9.
"""

import http.server
import json
import threading
import time
import unittest
import urllib.request
import uuid

from harness import ferry_server


def unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


class Endpoint:
    """A loopback HTTP server recording every POST; answers `status` (200 by default)."""

    def __init__(self):
        self.requests = []
        self.status = 200
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with outer.cond:
                    outer.requests.append((self.path, dict(self.headers.items()), body))
                    status = outer.status
                    outer.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait(self, predicate, timeout=15.0):
        """Waits until predicate(requests) is true; returns the matching requests."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [r for r in self.requests if predicate(r)]
                if got:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.cond.wait(left)

    def of_type(self, message_type, path=None):
        return [r for r in self.requests
                if r[1].get("x-amz-sns-message-type") == message_type
                and (path is None or r[0] == path)]


def header(req, name):
    return {k.lower(): v for k, v in req[1].items()}.get(name.lower())


@unittest.skipIf(ferry_server.target() != "ferry", "needs a Ferry process (kill -9)")
class HttpSubscriptionTest(unittest.TestCase):
    def setUp(self):
        self.server = ferry_server.FerryServer()
        self.server.start()
        self.addCleanup(self.server.stop)
        self.endpoint = Endpoint()
        self.addCleanup(self.endpoint.close)
        self.sns = self.server.client("sns")
        self.sqs = self.server.client("sqs")

    def subscribe_and_confirm(self, topic, path, attributes=None, via_url=True):
        kwargs = {"TopicArn": topic, "Protocol": "http", "Endpoint": self.endpoint.url + path,
                  "ReturnSubscriptionArn": True}
        if attributes:
            kwargs["Attributes"] = attributes
        sub = self.sns.subscribe(**kwargs)["SubscriptionArn"]
        confs = self.endpoint.wait(
            lambda r: r[0] == path and header(r, "x-amz-sns-message-type") ==
            "SubscriptionConfirmation")
        self.assertEqual(len(confs), 1)
        body = json.loads(confs[0][2])
        self.assertEqual(body["Type"], "SubscriptionConfirmation")
        self.assertEqual(body["TopicArn"], topic)
        self.assertEqual(header(confs[0], "x-amz-sns-topic-arn"), topic)
        self.assertEqual(header(confs[0], "x-amz-sns-message-id"), body["MessageId"])
        for key in ("Token", "SubscribeURL", "Signature", "SigningCertURL", "Timestamp"):
            self.assertTrue(body[key], key)
        attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["PendingConfirmation"], "true")
        if via_url:
            with urllib.request.urlopen(body["SubscribeURL"], timeout=10) as resp:
                self.assertEqual(resp.status, 200)
                self.assertIn(sub, resp.read().decode())
        else:
            confirmed = self.sns.confirm_subscription(TopicArn=topic, Token=body["Token"])
            self.assertEqual(confirmed["SubscriptionArn"], sub)
        attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["PendingConfirmation"], "false")
        return sub

    def test_confirm_and_notify(self):
        topic = self.sns.create_topic(Name=unique("http"))["TopicArn"]
        sub = self.subscribe_and_confirm(topic, "/hook")
        mid = self.sns.publish(TopicArn=topic, Message="hi there", Subject="subj",
                               MessageAttributes={"k": {"DataType": "String",
                                                        "StringValue": "v"}})["MessageId"]
        (req,) = self.endpoint.wait(lambda r: header(r, "x-amz-sns-message-type") ==
                                    "Notification")
        self.assertEqual(req[0], "/hook")
        self.assertEqual(header(req, "x-amz-sns-message-id"), mid)
        self.assertEqual(header(req, "x-amz-sns-topic-arn"), topic)
        self.assertEqual(header(req, "x-amz-sns-subscription-arn"), sub)
        self.assertTrue(header(req, "Content-Type").startswith("text/plain"))
        body = json.loads(req[2])
        self.assertEqual(body["Type"], "Notification")
        self.assertEqual(body["MessageId"], mid)
        self.assertEqual(body["Message"], "hi there")
        self.assertEqual(body["Subject"], "subj")
        self.assertEqual(body["MessageAttributes"]["k"], {"Type": "String", "Value": "v"})
        self.assertIn(sub, body["UnsubscribeURL"])

    def test_confirm_subscription_action_and_raw_delivery(self):
        topic = self.sns.create_topic(Name=unique("raw"))["TopicArn"]
        self.subscribe_and_confirm(topic, "/raw", {"RawMessageDelivery": "true"}, via_url=False)
        self.sns.publish(TopicArn=topic, Message="just the message")
        (req,) = self.endpoint.wait(lambda r: r[0] == "/raw" and header(
            r, "x-amz-sns-message-type") == "Notification")
        self.assertEqual(req[2], "just the message")
        self.assertEqual(header(req, "x-amz-sns-rawdelivery"), "true")

    def test_retries_then_dead_letter_queue(self):
        topic = self.sns.create_topic(Name=unique("retry"))["TopicArn"]
        dlq_url = self.sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        policy = {"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1,
                                         "maxDelayTarget": 1, "backoffFunction": "linear"}}
        self.subscribe_and_confirm(topic, "/fail", {
            "DeliveryPolicy": json.dumps(policy),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
        self.endpoint.status = 500
        mid = self.sns.publish(TopicArn=topic, Message="doomed")["MessageId"]
        deadline = time.monotonic() + 20
        msgs = []
        while not msgs and time.monotonic() < deadline:
            msgs = self.sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1,
                                            MessageAttributeNames=["All"]).get("Messages", [])
        self.assertEqual(len(msgs), 1, "the message never reached the dead-letter queue")
        self.assertEqual(json.loads(msgs[0]["Body"])["MessageId"], mid)
        attempts = [r for r in self.endpoint.of_type("Notification", "/fail")]
        self.assertEqual(len(attempts), 3)  # the first attempt and numRetries=2 retries

    def test_deliveries_survive_kill_9_while_endpoint_is_down(self):
        topic = self.sns.create_topic(Name=unique("down"))["TopicArn"]
        policy = {"healthyRetryPolicy": {"numRetries": 100, "minDelayTarget": 1,
                                         "maxDelayTarget": 1}}
        self.subscribe_and_confirm(topic, "/down", {"DeliveryPolicy": json.dumps(policy)})
        self.endpoint.status = 503
        acked = {self.sns.publish(TopicArn=topic, Message=f"m{i}")["MessageId"]
                 for i in range(20)}
        self.server.kill9()
        with self.endpoint.cond:
            before = len(self.endpoint.requests)
            self.endpoint.status = 200
        self.server.restart()
        deadline = time.monotonic() + 30
        delivered = set()
        while time.monotonic() < deadline and not acked <= delivered:
            with self.endpoint.cond:
                delivered = {json.loads(r[2])["MessageId"]
                             for r in self.endpoint.requests[before:]
                             if r[0] == "/down" and header(r, "x-amz-sns-message-type") ==
                             "Notification"}
            time.sleep(0.2)
        # Only posts after the restart count: all 20 were posted again, this time answered 200.
        self.assertEqual(acked - delivered, set())


if __name__ == "__main__":
    unittest.main()
