"""SNS https subscriptions against an https endpoint served by the test itself on loopback, with
a certificate authority and leaf certificates made here with the openssl command.

AWS delivers to an https endpoint only when its certificate chains to a trusted authority and
names the endpoint's host (SNS Developer Guide, "Fanout to HTTP/S endpoints"; SNI is sent).
Ferry trusts the system's store plus --sns-https-ca-file. With the test CA trusted, the
SubscriptionConfirmation and the Notification arrive signed; with an untrusted chain, a
self-signed certificate or one for another host name, the endpoint receives nothing: every
attempt fails at the handshake, is retried per the DeliveryPolicy, and the notification then goes
to the subscription's dead-letter queue. Ferry only (its options, a restart).
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request
import uuid
from pathlib import Path

from harness import ferry_server
from python.test_sns_http import Endpoint, header
from python.test_sns_signature import openssl_verifies, string_to_sign

CERTS: Path | None = None
SERVER = None
# Fails fast: the first attempt and 2 retries, 1 s apart.
FAST_RETRIES = json.dumps({"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1,
                                                  "maxDelayTarget": 1,
                                                  "backoffFunction": "linear"}})


def unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], cwd=CERTS, check=True, capture_output=True)


def make_certificates() -> None:
    """ca.pem (a CA), and leaf certificates with keys: good (localhost and 127.0.0.1, signed
    by the CA), wrong-host (wrong.example.test, signed by the CA), self-signed (localhost)."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Ferry e2e test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, san in (("good", "DNS:localhost,IP:127.0.0.1"),
                      ("wrong-host", "DNS:wrong.example.test")):
        (CERTS / f"{name}.ext").write_text(
            f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={san.split(',')[0][4:]}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    openssl("req", "-x509", *key, "-keyout", "self-signed.key", "-out", "self-signed.pem",
            "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")


def server_context(name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTS / f"{name}.pem", CERTS / f"{name}.key")
    return context


def setUpModule():
    global CERTS, SERVER
    if shutil.which("openssl") is None or ferry_server.target() != "ferry":
        return  # the tests skip
    CERTS = Path(tempfile.mkdtemp(prefix="ferry-e2e-certs-"))
    make_certificates()
    SERVER = ferry_server.FerryServer(extra_args=["--sns-https-ca-file", str(CERTS / "ca.pem")])
    SERVER.start()


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()
    if CERTS is not None:
        shutil.rmtree(CERTS, ignore_errors=True)


def confirmation_string_to_sign(body: dict) -> bytes:
    keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{k}\n{body[k]}\n" for k in keys).encode()


@unittest.skipIf(shutil.which("openssl") is None, "needs the openssl command")
@unittest.skipUnless(ferry_server.target() == "ferry", "needs Ferry's --sns-https-ca-file")
class HttpsSubscriptionTest(unittest.TestCase):
    def setUp(self):
        self.server = SERVER
        self.sns = SERVER.client("sns")
        self.sqs = SERVER.client("sqs")

    def endpoint(self, certificate: str) -> Endpoint:
        endpoint = Endpoint(server_context(certificate))
        self.addCleanup(endpoint.close)
        return endpoint

    def dead_letter_queue(self, sqs) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=unique("https-dlq"))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        return url, arn

    def subscribe(self, sns, topic, url, attributes=None) -> str:
        return sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=url,
                             Attributes=attributes or {},
                             ReturnSubscriptionArn=True)["SubscriptionArn"]

    def confirm(self, sns, endpoint, path) -> dict:
        """Waits for the SubscriptionConfirmation posted to `path`, checks its signature,
        confirms with its SubscribeURL; returns it."""
        confs = endpoint.wait(lambda r: r[0] == path and header(
            r, "x-amz-sns-message-type") == "SubscriptionConfirmation")
        self.assertEqual(len(confs), 1, "the confirmation never arrived over https")
        body = json.loads(confs[0][2])
        self.assertEqual(body["Type"], "SubscriptionConfirmation")
        with urllib.request.urlopen(body["SigningCertURL"], timeout=10) as r:
            cert = r.read()
        digest = {"1": "sha1", "2": "sha256"}[body["SignatureVersion"]]
        self.assertTrue(openssl_verifies(cert, digest, confirmation_string_to_sign(body),
                                         base64.b64decode(body["Signature"])))
        with urllib.request.urlopen(body["SubscribeURL"], timeout=10) as resp:
            self.assertEqual(resp.status, 200)
        return body

    def publish_and_expect_dead_letter(self, sns, sqs, topic, dlq_url, endpoint, attempts):
        """Publishes; the notification must reach the DLQ after `attempts` refused handshakes,
        and the endpoint must have received no request."""
        before = len(endpoint.handshake_failures)
        mid = sns.publish(TopicArn=topic, Message="never delivered")["MessageId"]
        deadline = time.monotonic() + 30
        msgs = []
        while not msgs and time.monotonic() < deadline:
            msgs = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual(len(msgs), 1, "the notification never reached the dead-letter queue")
        self.assertEqual(json.loads(msgs[0]["Body"])["MessageId"], mid)
        self.assertEqual(endpoint.wait_for_handshake_failures(before + attempts),
                         before + attempts)
        self.assertEqual(endpoint.of_type("Notification"), [])

    def test_trusted_endpoint_gets_signed_confirmation_and_notification(self):
        endpoint = self.endpoint("good")
        sni = []
        endpoint.ssl_context.sni_callback = lambda _sock, name, _ctx: sni.append(name)
        topic = self.sns.create_topic(Name=unique("https"))["TopicArn"]
        sub = self.subscribe(self.sns, topic, f"https://localhost:{endpoint.port}/hook")
        self.confirm(self.sns, endpoint, "/hook")
        self.assertEqual(sni, ["localhost"])
        attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["PendingConfirmation"], "false")

        mid = self.sns.publish(TopicArn=topic, Message="over TLS", Subject="s")["MessageId"]
        (req,) = endpoint.wait(lambda r: header(r, "x-amz-sns-message-type") == "Notification")
        self.assertEqual(req[0], "/hook")
        self.assertEqual(header(req, "x-amz-sns-subscription-arn"), sub)
        self.assertEqual(header(req, "Host"), f"localhost:{endpoint.port}")
        body = json.loads(req[2])
        self.assertEqual((body["MessageId"], body["Message"]), (mid, "over TLS"))
        with urllib.request.urlopen(body["SigningCertURL"], timeout=10) as r:
            cert = r.read()
        signature = base64.b64decode(body["Signature"])
        self.assertTrue(openssl_verifies(cert, "sha1", string_to_sign(body), signature))
        self.assertEqual(endpoint.handshake_failures, [])

    def test_certificate_for_an_address(self):
        # The endpoint named by its IP address: the certificate's IP entry matches, no SNI.
        endpoint = self.endpoint("good")
        sni = []
        endpoint.ssl_context.sni_callback = lambda _sock, name, _ctx: sni.append(name)
        topic = self.sns.create_topic(Name=unique("https-ip"))["TopicArn"]
        self.subscribe(self.sns, topic, f"https://127.0.0.1:{endpoint.port}/ip")
        self.confirm(self.sns, endpoint, "/ip")
        self.assertFalse(any(sni), sni)

    def test_wrong_host_name_receives_nothing(self):
        endpoint = self.endpoint("wrong-host")
        topic = self.sns.create_topic(Name=unique("https-host"))["TopicArn"]
        sub = self.subscribe(self.sns, topic, f"https://localhost:{endpoint.port}/x")
        self.assertGreaterEqual(endpoint.wait_for_handshake_failures(1), 1)
        self.assertEqual(endpoint.requests, [])
        attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["PendingConfirmation"], "true")

    def test_refused_certificates_send_notifications_to_the_dead_letter_queue(self):
        # Confirmed while the endpoint's certificate was good; then the endpoint presents one
        # for another host name, or a self-signed one: each attempt fails, then the DLQ.
        for certificate in ("wrong-host", "self-signed"):
            with self.subTest(certificate=certificate):
                endpoint = self.endpoint("good")
                topic = self.sns.create_topic(Name=unique("https-dlq"))["TopicArn"]
                dlq_url, dlq_arn = self.dead_letter_queue(self.sqs)
                self.subscribe(self.sns, topic, f"https://localhost:{endpoint.port}/d", {
                    "DeliveryPolicy": FAST_RETRIES,
                    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
                self.confirm(self.sns, endpoint, "/d")
                endpoint.ssl_context = server_context(certificate)
                self.publish_and_expect_dead_letter(self.sns, self.sqs, topic, dlq_url,
                                                    endpoint, attempts=3)

    def test_without_the_ca_file_the_endpoint_is_not_trusted(self):
        # A second server, trusting the test CA while the subscription is confirmed, then
        # restarted without --sns-https-ca-file: the same endpoint is refused.
        server = ferry_server.FerryServer(
            extra_args=["--sns-https-ca-file", str(CERTS / "ca.pem")])
        server.start()
        self.addCleanup(server.stop)
        sns, sqs = server.client("sns"), server.client("sqs")
        endpoint = self.endpoint("good")
        topic = sns.create_topic(Name=unique("https-noca"))["TopicArn"]
        dlq_url, dlq_arn = self.dead_letter_queue(sqs)
        self.subscribe(sns, topic, f"https://localhost:{endpoint.port}/n", {
            "DeliveryPolicy": FAST_RETRIES,
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
        self.confirm(sns, endpoint, "/n")

        server.extra_args = []
        server.restart()
        sns, sqs = server.client("sns"), server.client("sqs")
        self.publish_and_expect_dead_letter(sns, sqs, topic, dlq_url, endpoint, attempts=3)
        # The reason is logged once per subscription, however many attempts failed (the first
        # one logged it before the last one sent the notification to the DLQ).
        log = server.log_tail(lines=10_000)
        self.assertEqual(log.count("unable to get local issuer certificate"), 1, log)
        # A new subscription's confirmation does not arrive either.
        other = self.endpoint("good")
        sub = self.subscribe(sns, topic, f"https://localhost:{other.port}/c")
        self.assertGreaterEqual(other.wait_for_handshake_failures(1), 1)
        self.assertEqual(other.requests, [])
        attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["PendingConfirmation"], "true")


if __name__ == "__main__":
    unittest.main()
