"""SNS message signatures checked the way SNS consumers check them: fetch the certificate at
SigningCertURL, rebuild the string to sign from the documented fields, verify with OpenSSL.

String to sign (SNS Developer Guide, "Verifying the signatures of Amazon SNS messages"): for a
Notification, the lines "Message", its value, "MessageId", its value, "Subject" and its value
(only if present), "Timestamp", "TopicArn", "Type" and their values, each followed by a newline.
SignatureVersion 1 signs with SHA1withRSA, 2 with SHA256withRSA."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request
import uuid
from pathlib import Path

from harness import ferry_server


def setUpModule():
    ferry_server.start_module_server(__name__)


def tearDownModule():
    ferry_server.stop_module_server(__name__)


def string_to_sign(body: dict) -> bytes:
    keys = ["Message", "MessageId"]
    if "Subject" in body:
        keys.append("Subject")
    keys += ["Timestamp", "TopicArn", "Type"]
    return "".join(f"{k}\n{body[k]}\n" for k in keys).encode()


def openssl_verifies(cert_pem: bytes, digest: str, data: bytes, signature: bytes) -> bool:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "cert.pem").write_bytes(cert_pem)
        (d / "data").write_bytes(data)
        (d / "sig").write_bytes(signature)
        pub = subprocess.run(["openssl", "x509", "-in", d / "cert.pem", "-pubkey", "-noout"],
                             capture_output=True, check=True).stdout
        (d / "pub.pem").write_bytes(pub)
        result = subprocess.run(["openssl", "dgst", f"-{digest}", "-verify", d / "pub.pem",
                                 "-signature", d / "sig", d / "data"], capture_output=True)
        return result.returncode == 0


@unittest.skipIf(shutil.which("openssl") is None, "needs the openssl command")
class SignatureTest(unittest.TestCase):
    def setUp(self):
        server = ferry_server.module_server(__name__)
        self.sns = server.client("sns")
        self.sqs = server.client("sqs")

    def envelope(self, signature_version: str, subject: str | None) -> dict:
        name = f"sig-{uuid.uuid4().hex[:10]}"
        topic = self.sns.create_topic(
            Name=name, Attributes={"SignatureVersion": signature_version})["TopicArn"]
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        kwargs = {"TopicArn": topic, "Message": "signed ✓ body\nwith two lines"}
        if subject:
            kwargs["Subject"] = subject
        self.sns.publish(**kwargs)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
            if got:
                return json.loads(got[0]["Body"])
        self.fail("the notification never reached the queue")

    def check(self, signature_version: str, digest: str, subject: str | None):
        body = self.envelope(signature_version, subject)
        self.assertEqual(body["SignatureVersion"], signature_version)
        with urllib.request.urlopen(body["SigningCertURL"], timeout=10) as r:
            cert = r.read()
        self.assertIn(b"BEGIN CERTIFICATE", cert)
        signature = base64.b64decode(body["Signature"])
        self.assertTrue(openssl_verifies(cert, digest, string_to_sign(body), signature))
        tampered = dict(body, Message=body["Message"] + "!")
        self.assertFalse(openssl_verifies(cert, digest, string_to_sign(tampered), signature))

    def test_signature_version_1_with_subject(self):
        self.check("1", "sha1", "a subject")

    def test_signature_version_2_without_subject(self):
        self.check("2", "sha256", None)


if __name__ == "__main__":
    unittest.main()
