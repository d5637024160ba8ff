"""SNS SMS and mobile push with boto3: the platform application and endpoint actions (attributes,
validation, errors, NextToken pages), Publish to a PhoneNumber and to a platform endpoint ARN
(TargetArn), the EndpointDisabled error, and topic subscriptions with the sms, application,
lambda and firehose protocols. Ferry keeps SMS and push messages in an outbox
(GET /_ferry/sns/outbox) and POSTs them to the gateway given by --sns-gateway-url, here a small
HTTP server the test runs on loopback.
"""

import http.server
import json
import random
import threading
import time
import unittest
import urllib.parse
import urllib.request
import uuid

from botocore.exceptions import ClientError

from harness import ferry_server


def unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


def phone() -> str:
    return "+1555" + "".join(random.choice("0123456789") for _ in range(7))


class Gateway:
    """A loopback HTTP server recording every JSON POST."""

    def __init__(self):
        self.posts = []
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.cond:
                    outer.posts.append((dict(self.headers.items()), json.loads(body)))
                    outer.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/push"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait(self, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [body for _, body in self.posts if predicate(body)]
                if got:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no matching gateway POST within %.0fs" % timeout)
                self.cond.wait(left)


GATEWAY = None


def setUpModule():
    global GATEWAY
    if ferry_server.target() != "ferry":
        return
    GATEWAY = Gateway()
    server = ferry_server.FerryServer(extra_args=["--sns-gateway-url", GATEWAY.url])
    server.start()
    ferry_server._module_servers[__name__] = server


def tearDownModule():
    ferry_server.stop_module_server(__name__)
    if GATEWAY is not None:
        GATEWAY.close()


@unittest.skipIf(ferry_server.target() != "ferry", "needs Ferry's outbox and gateway options")
class MobileTest(unittest.TestCase):
    def setUp(self):
        self.server = ferry_server.module_server(__name__)
        self.sns = self.server.client("sns")

    def outbox(self, **filters):
        query = urllib.parse.urlencode(filters, quote_via=urllib.parse.quote)
        url = self.server.endpoint + "/_ferry/sns/outbox" + ("?" + query if query else "")
        with urllib.request.urlopen(url, timeout=10) as r:
            self.assertEqual(r.headers["Content-Type"], "application/json")
            return json.loads(r.read())

    def error_code(self, call, **kwargs):
        with self.assertRaises(ClientError) as cm:
            call(**kwargs)
        return cm.exception.response["Error"]["Code"]

    def create_app(self, name=None, platform="GCM", **attrs):
        attrs.setdefault("PlatformCredential", "server-key")
        return self.sns.create_platform_application(
            Name=name or unique("app"), Platform=platform,
            Attributes=attrs)["PlatformApplicationArn"]

    def test_platform_applications(self):
        name = unique("app")
        arn = self.create_app(name)
        self.assertTrue(arn.endswith(f":app/GCM/{name}"), arn)
        self.assertEqual(self.create_app(name), arn)  # same name and attributes: same ARN
        attrs = self.sns.get_platform_application_attributes(
            PlatformApplicationArn=arn)["Attributes"]
        self.assertNotIn("PlatformCredential", attrs)
        self.assertEqual(attrs["Enabled"], "true")
        self.sns.set_platform_application_attributes(
            PlatformApplicationArn=arn, Attributes={"SuccessFeedbackSampleRate": "50"})
        attrs = self.sns.get_platform_application_attributes(
            PlatformApplicationArn=arn)["Attributes"]
        self.assertEqual(attrs["SuccessFeedbackSampleRate"], "50")

        self.assertEqual(self.error_code(self.sns.create_platform_application, Name=unique("a"),
                                         Platform="PIGEON",
                                         Attributes={"PlatformCredential": "k"}),
                         "InvalidParameter")
        self.assertEqual(self.error_code(self.sns.create_platform_application, Name=unique("a"),
                                         Platform="APNS",
                                         Attributes={"PlatformCredential": "k"}),
                         "InvalidParameter")  # APNS needs PlatformPrincipal
        self.assertEqual(self.error_code(self.sns.create_platform_application, Name="bad name",
                                         Platform="GCM",
                                         Attributes={"PlatformCredential": "k"}),
                         "InvalidParameter")
        apns = self.create_app(platform="APNS_SANDBOX", PlatformPrincipal="cert")
        self.assertIn(":app/APNS_SANDBOX/", apns)

        # Pages of 15 (ListPlatformApplications' page size on AWS).
        for _ in range(16):
            self.create_app()
        seen, token, pages = [], None, 0
        while True:
            kwargs = {"NextToken": token} if token else {}
            page = self.sns.list_platform_applications(**kwargs)
            pages += 1
            self.assertLessEqual(len(page["PlatformApplications"]), 15)
            seen += [a["PlatformApplicationArn"] for a in page["PlatformApplications"]]
            token = page.get("NextToken")
            if not token:
                break
        self.assertGreaterEqual(pages, 2)
        self.assertEqual(len(seen), len(set(seen)))
        self.assertIn(arn, seen)
        self.assertIn(apns, seen)

        self.sns.delete_platform_application(PlatformApplicationArn=arn)
        self.sns.delete_platform_application(PlatformApplicationArn=arn)  # not an error
        self.assertEqual(self.error_code(self.sns.get_platform_application_attributes,
                                         PlatformApplicationArn=arn), "NotFound")

    def test_endpoints_and_push(self):
        app = self.create_app()
        token = uuid.uuid4().hex
        ep = self.sns.create_platform_endpoint(PlatformApplicationArn=app, Token=token,
                                               CustomUserData="user-7")["EndpointArn"]
        self.assertIn(":endpoint/GCM/", ep)
        same = self.sns.create_platform_endpoint(PlatformApplicationArn=app, Token=token,
                                                 CustomUserData="user-7")["EndpointArn"]
        self.assertEqual(same, ep)
        self.assertEqual(self.error_code(self.sns.create_platform_endpoint,
                                         PlatformApplicationArn=app, Token=token,
                                         CustomUserData="someone-else"), "InvalidParameter")
        attrs = self.sns.get_endpoint_attributes(EndpointArn=ep)["Attributes"]
        self.assertEqual(attrs, {"Token": token, "Enabled": "true", "CustomUserData": "user-7"})
        other = self.sns.create_platform_endpoint(PlatformApplicationArn=app,
                                                  Token=uuid.uuid4().hex)["EndpointArn"]
        listed = self.sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)
        self.assertEqual(sorted(e["EndpointArn"] for e in listed["Endpoints"]),
                         sorted([ep, other]))

        mid = self.sns.publish(TargetArn=ep, MessageStructure="json", Message=json.dumps(
            {"default": "plain", "GCM": json.dumps({"notification": {"title": "hi"}})}))[
            "MessageId"]
        entries = self.outbox(endpoint=ep)["messages"]
        self.assertEqual(len(entries), 1)
        self.assertEqual(entries[0]["MessageId"], mid)
        self.assertEqual(entries[0]["Protocol"], "application")
        self.assertEqual(json.loads(entries[0]["Message"]), {"notification": {"title": "hi"}})
        (post,) = GATEWAY.wait(lambda b: b["MessageId"] == mid)
        self.assertEqual(post["Protocol"], "application")
        self.assertEqual(post["Destination"], ep)

        self.sns.set_endpoint_attributes(EndpointArn=ep, Attributes={"Enabled": "false"})
        with self.assertRaises(ClientError) as cm:
            self.sns.publish(TargetArn=ep, Message="nope")
        self.assertEqual(cm.exception.response["Error"]["Code"], "EndpointDisabled")
        self.assertEqual(cm.exception.response["Error"]["Message"], "Endpoint is disabled")
        self.assertEqual(self.error_code(self.sns.set_endpoint_attributes, EndpointArn=ep,
                                         Attributes={"Colour": "blue"}), "InvalidParameter")

        self.sns.delete_endpoint(EndpointArn=other)
        self.sns.delete_endpoint(EndpointArn=other)  # not an error
        self.assertEqual(self.error_code(self.sns.get_endpoint_attributes, EndpointArn=other),
                         "NotFound")
        self.assertEqual(self.error_code(self.sns.publish, TargetArn=other, Message="x"),
                         "InvalidParameter")
        self.sns.delete_platform_application(PlatformApplicationArn=app)
        self.assertEqual(self.error_code(self.sns.get_endpoint_attributes, EndpointArn=ep),
                         "NotFound")
        self.assertEqual(self.error_code(self.sns.list_endpoints_by_platform_application,
                                         PlatformApplicationArn=app), "NotFound")

    def test_sms_publish(self):
        number = phone()
        mid = self.sns.publish(PhoneNumber=number, Message="Your code is 1234",
                               MessageAttributes={"AWS.SNS.SMS.SMSType": {
                                   "DataType": "String", "StringValue": "Transactional"}})[
            "MessageId"]
        (entry,) = self.outbox(phone=number)["messages"]
        self.assertEqual(entry["MessageId"], mid)
        self.assertEqual(entry["PhoneNumber"], number)
        self.assertEqual(entry["Message"], "Your code is 1234")
        self.assertEqual(entry["MessageAttributes"]["AWS.SNS.SMS.SMSType"]["Value"],
                         "Transactional")
        (post,) = GATEWAY.wait(lambda b: b["MessageId"] == mid)
        self.assertEqual(post["Protocol"], "sms")
        self.assertEqual(post["Destination"], number)
        self.assertEqual(post["Message"], "Your code is 1234")

        for bad in ("5551234", "+0123", "+1-555-123", "+12345678901234567"):
            self.assertEqual(self.error_code(self.sns.publish, PhoneNumber=bad, Message="x"),
                             "InvalidParameter", bad)
        self.assertFalse(self.sns.check_if_phone_number_is_opted_out(
            phoneNumber=number)["isOptedOut"])
        self.assertEqual(self.sns.list_phone_numbers_opted_out()["phoneNumbers"], [])
        self.sns.opt_in_phone_number(phoneNumber=number)

    def test_topic_subscriptions_sms_application_lambda_firehose(self):
        topic = self.sns.create_topic(Name=unique("mobile"))["TopicArn"]
        app = self.create_app()
        ep = self.sns.create_platform_endpoint(PlatformApplicationArn=app,
                                               Token=uuid.uuid4().hex)["EndpointArn"]
        number = phone()
        subs = {}
        for protocol, endpoint in (
                ("sms", number), ("application", ep),
                ("lambda", "arn:aws:lambda:us-east-1:000000000000:function:f"),
                ("firehose", "arn:aws:firehose:us-east-1:000000000000:deliverystream/s")):
            kwargs = {"Attributes": {"SubscriptionRoleArn": "arn:aws:iam::000000000000:role/r"}} \
                if protocol == "firehose" else {}
            arn = self.sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint,
                                     **kwargs)["SubscriptionArn"]
            self.assertTrue(arn.startswith(topic + ":"), f"{protocol}: confirmed at once")
            attrs = self.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
            self.assertEqual(attrs["PendingConfirmation"], "false")
            subs[protocol] = arn
        before = self.outbox()["stats"]["undeliverable"]
        mid = self.sns.publish(TopicArn=topic, Message="to every device")["MessageId"]
        self.sns.publish(TopicArn=topic, Message="again")
        (sms,) = [e for e in self.outbox(phone=number)["messages"] if e["MessageId"] == mid]
        self.assertEqual(sms["TopicArn"], topic)
        self.assertEqual(sms["SubscriptionArn"], subs["sms"])
        pushes = self.outbox(endpoint=ep)["messages"]
        self.assertEqual([e["Message"] for e in pushes], ["to every device", "again"])
        GATEWAY.wait(lambda b: b["MessageId"] == mid and b["Destination"] == ep)
        with urllib.request.urlopen(self.server.endpoint + "/_ferry/sns/stats", timeout=10) as r:
            stats = json.loads(r.read())
        self.assertGreaterEqual(stats["undeliverable"], before + 4)  # 2 messages x 2 subs

    def test_outbox_delete_clears(self):
        number = phone()
        self.sns.publish(PhoneNumber=number, Message="soon gone")
        self.assertEqual(len(self.outbox(phone=number)["messages"]), 1)
        req = urllib.request.Request(self.server.endpoint + "/_ferry/sns/outbox",
                                     method="DELETE")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)
        self.assertEqual(self.outbox(phone=number)["messages"], [])


if __name__ == "__main__":
    unittest.main()
