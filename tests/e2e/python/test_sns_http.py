"""SNS http subscriptions against an endpoint served by the test itself on loopback: the
SubscriptionConfirmation and its SubscribeURL, ConfirmSubscription, Notification posts with
AWS's headers (SNS Developer Guide, "Parsing message formats"), raw delivery, retries under a
DeliveryPolicy, the dead-letter queue, the throttle policy, and deliveries that survive kill -9.
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
    """A loopback HTTP server recording every POST as (path, headers, body, arrival time from
    time.time()); answers `status` (200 by default).

    With `ssl_context` (an ssl.SSLContext) it serves https: each connection is wrapped with the
    `ssl_context` of that moment (a test may swap it), and every handshake that fails, such as
    one the client aborts because it refused the certificate, is appended to
    `handshake_failures`."""

    def __init__(self, ssl_context=None):
        self.requests = []
        self.handshake_failures = []
        self.status = 200
        self.ssl_context = ssl_context
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with outer.cond:
                    outer.requests.append((self.path, dict(self.headers.items()), body, arrived))
                    status = outer.status
                    outer.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            # Ferry opens a connection per delivery, many at once: with socketserver's backlog
            # of 5 the kernel would drop the rest's SYNs, retried by the client a second later.
            request_queue_size = 128

            def get_request(self):
                sock, addr = super().get_request()
                context = outer.ssl_context
                if context is None:
                    return sock, addr
                sock.settimeout(15)
                try:
                    return context.wrap_socket(sock, server_side=True), addr
                except OSError as e:  # socketserver drops the connection quietly
                    sock.close()
                    with outer.cond:
                        outer.handshake_failures.append(str(e))
                        outer.cond.notify_all()
                    raise

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{self.port}"
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

    def wait_for_handshake_failures(self, count, timeout=15.0):
        """Waits until `count` handshakes have failed; returns how many have."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.handshake_failures) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return len(self.handshake_failures)

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

    def test_only_5xx_and_429_answers_are_retried(self):
        # AWS retries an http/s delivery after a 5xx or 429 answer; any other error answer is a
        # permanent failure: no retries, straight to the dead-letter queue.
        dlq_url = self.sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        policy = {"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1,
                                         "maxDelayTarget": 1, "backoffFunction": "linear"}}
        for status, attempts in ((404, 1), (403, 1), (429, 3)):
            with self.subTest(status=status):
                topic = self.sns.create_topic(Name=unique(f"s{status}"))["TopicArn"]
                path = f"/answers-{status}"
                self.endpoint.status = 200
                self.subscribe_and_confirm(topic, path, {
                    "DeliveryPolicy": json.dumps(policy),
                    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
                self.endpoint.status = status
                mid = self.sns.publish(TopicArn=topic, Message=f"answered {status}")["MessageId"]
                deadline = time.monotonic() + 20
                msgs = []
                while not msgs and time.monotonic() < deadline:
                    msgs = self.sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get(
                        "Messages", [])
                self.assertEqual(len(msgs), 1, "the message never reached the dead-letter queue")
                self.assertEqual(json.loads(msgs[0]["Body"])["MessageId"], mid)
                self.sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=msgs[0]["ReceiptHandle"])
                # Dead-lettered after its last attempt: no attempt can follow.
                self.assertEqual(len(self.endpoint.of_type("Notification", path)), attempts)

    def test_throttle_policy_paces_its_subscription_only(self):
        # throttlePolicy.maxReceivesPerSecond caps the deliveries to one subscription per second.
        # Ferry hands out at most `limit` of them in any one second (each one a second or more
        # after the one `limit` places before it), and a delivery arrives after it was handed
        # out. So, however the transport delays them, the i-th arrival (from 0) cannot come
        # before start + i // limit seconds, `start` preceding the publish (less 1 ms: the
        # engine's clock counts whole milliseconds): at most `limit` * k arrive in the first k
        # seconds. That is what is asserted. A maximum count per 1-second window of arrival
        # times would not be exact: the transport can bunch deliveries that were handed out a
        # second apart into one window.
        limit, count = 2, 8
        topic = self.sns.create_topic(Name=unique("throttle"))["TopicArn"]
        self.subscribe_and_confirm(topic, "/slow", {"DeliveryPolicy": json.dumps(
            {"throttlePolicy": {"maxReceivesPerSecond": limit}})})
        self.subscribe_and_confirm(topic, "/fast")
        start = time.time()
        result = self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": str(i), "Message": f"m{i}"} for i in range(count)])
        self.assertEqual(result.get("Failed", []), [])
        sent = {e["MessageId"] for e in result["Successful"]}
        self.assertEqual(len(sent), count)

        def arrivals(path):
            return sorted((r[3], json.loads(r[2])["MessageId"])
                          for r in self.endpoint.of_type("Notification", path))

        deadline = time.monotonic() + 30
        with self.endpoint.cond:
            while (len(arrivals("/slow")) < count or len(arrivals("/fast")) < count) and \
                    time.monotonic() < deadline:
                self.endpoint.cond.wait(deadline - time.monotonic())
            slow, fast = arrivals("/slow"), arrivals("/fast")
        self.assertEqual({m for _, m in slow}, sent, "throttled subscription: all 8 arrive")
        self.assertEqual({m for _, m in fast}, sent, "unthrottled subscription: all 8 arrive")
        self.assertEqual((len(slow), len(fast)), (count, count), "each message once")
        for i, (t, _) in enumerate(slow):
            self.assertGreaterEqual(
                t, start + i // limit - 0.001,
                f"delivery {i} arrived {t - start:.3f} s after the publish: more than {limit} "
                f"in a second (arrivals: {[round(a - start, 3) for a, _ in slow]})")
        # The unthrottled subscription is not held back: its copies were due at the publish,
        # while the throttled one's third cannot be handed out before start + 1 s.
        self.assertLess(fast[-1][0], slow[limit][0],
                        f"unthrottled arrivals {[round(a - start, 3) for a, _ in fast]}, "
                        f"throttled {[round(a - start, 3) for a, _ in slow]}")

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
