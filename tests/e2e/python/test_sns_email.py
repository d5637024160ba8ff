"""SNS email and email-json subscriptions delivered over SMTP to a real relay: Debian's aiosmtpd
(python3-aiosmtpd) on loopback, storing every mail in a Maildir. Checks AWS's confirmation mail
(subject "AWS Notification - Subscription Confirmation", SubscribeURL link), confirming through
the link and through ConfirmSubscription, email (message text, default subject "AWS Notification
Message", the MessageStructure "email" key) and email-json (the JSON envelope) notifications,
and that mail sent while the relay is down arrives once it is up (retried 10 s later, SNS's
policy for customer-managed endpoints).
"""

import email
import email.policy
import json
import mailbox
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request
import uuid

from harness import ferry_server

# Debian's python3-aiosmtpd lives in /usr/bin/python3's dist-packages.
SMTPD_PYTHON = os.environ.get("FERRY_SMTPD_PYTHON", "/usr/bin/python3")


def _have_aiosmtpd() -> bool:
    try:
        return subprocess.run([SMTPD_PYTHON, "-c", "import aiosmtpd"], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


class SmtpRelay:
    """aiosmtpd with the Mailbox handler on a loopback port; stop() and start() again keep the
    port and the Maildir."""

    def __init__(self, port=None):
        self.port = port or ferry_server.free_port()
        self.dir = tempfile.mkdtemp(prefix="ferry-smtp-")
        self.maildir = os.path.join(self.dir, "mail")
        self.proc = None

    def start(self):
        log = open(os.path.join(self.dir, "smtpd.log"), "ab")
        self.proc = subprocess.Popen(
            [SMTPD_PYTHON, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Mailbox", self.maildir],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 30
        while True:  # ready when it answers with its 220 greeting
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    if s.recv(512).startswith(b"220"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("aiosmtpd did not start")
            time.sleep(0.05)  # readiness polling, bounded by the deadline

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def messages(self):
        if not os.path.isdir(self.maildir):
            return []
        box = mailbox.Maildir(self.maildir, factory=None, create=False)
        out = []
        for key in box.keys():
            with box.get_file(key) as f:
                out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return out

    def wait(self, predicate, timeout=60.0):
        """Polls the Maildir until a message satisfies predicate; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages():
                if predicate(m):
                    return m
            if time.monotonic() > deadline:
                raise AssertionError("no matching mail arrived within %.0fs" % timeout)
            time.sleep(0.1)  # polling an external process's Maildir, bounded by the deadline


def body_of(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def to(addr):
    return lambda m: m["To"] == addr


@unittest.skipIf(ferry_server.target() != "ferry", "needs a Ferry process with --smtp-relay")
@unittest.skipUnless(_have_aiosmtpd(), "python3-aiosmtpd is not installed")
class EmailTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.relay = SmtpRelay()
        cls.relay.start()
        cls.server = ferry_server.FerryServer(
            extra_args=["--smtp-relay", f"127.0.0.1:{cls.relay.port}",
                        "--smtp-from", "sns@ferry.test"])
        try:
            cls.server.start()
        except Exception:
            cls.relay.close()
            raise
        cls.sns = cls.server.client("sns")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.relay.close()

    def subscribe(self, topic, protocol, addr):
        sub = self.sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=addr,
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
        conf = self.relay.wait(to(addr))
        self.assertEqual(conf["Subject"], "AWS Notification - Subscription Confirmation")
        return sub, conf

    def test_email_confirmation_link_and_notifications(self):
        topic = self.sns.create_topic(Name=unique("mail"),
                                      Attributes={"DisplayName": "Ops"})["TopicArn"]
        addr = unique("ops") + "@example.com"
        sub, conf = self.subscribe(topic, "email", addr)
        self.assertIn("sns@ferry.test", conf["From"])
        self.assertIn("Ops", conf["From"])
        text = body_of(conf)
        self.assertIn("You have chosen to subscribe to the topic: \n" + topic, text)
        self.assertIn("To confirm this subscription, click or visit the link below", text)
        url = re.search(r"(http://\S+Action=ConfirmSubscription\S+)", text).group(1)
        attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["PendingConfirmation"], "true")
        # Nothing is mailed before the subscription is confirmed.
        self.sns.publish(TopicArn=topic, Message="too early")

        with urllib.request.urlopen(url, timeout=10) as resp:
            self.assertEqual(resp.status, 200)
            self.assertIn(sub, resp.read().decode())
        attrs = self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["PendingConfirmation"], "false")

        self.sns.publish(TopicArn=topic, Message="disk almost full\n.\nsecond line")
        note = self.relay.wait(lambda m: to(addr)(m) and "disk almost" in body_of(m))
        self.assertEqual(note["Subject"], "AWS Notification Message")
        body = body_of(note)
        self.assertTrue(body.startswith("disk almost full\n.\nsecond line\n"), body)  # dot-stuffed
        self.assertIn("Action=Unsubscribe", body)
        self.assertIn(sub, body)

        self.sns.publish(TopicArn=topic, Subject="Alarm: CPU", MessageStructure="json",
                         Message=json.dumps({"default": "generic", "email": "for mail, héhé"}))
        note = self.relay.wait(lambda m: to(addr)(m) and m["Subject"] == "Alarm: CPU")
        self.assertTrue(body_of(note).startswith("for mail, héhé\n"))
        texts = [body_of(m) for m in self.relay.messages() if m["To"] == addr]
        self.assertFalse(any("too early" in t for t in texts))

    def test_email_json_confirm_action_and_envelope(self):
        topic = self.sns.create_topic(Name=unique("mailjson"))["TopicArn"]
        addr = unique("dev") + "@example.com"
        sub, conf = self.subscribe(topic, "email-json", addr)
        doc = json.loads(body_of(conf))
        self.assertEqual(doc["Type"], "SubscriptionConfirmation")
        self.assertEqual(doc["TopicArn"], topic)
        self.assertIn("Action=ConfirmSubscription", doc["SubscribeURL"])
        confirmed = self.sns.confirm_subscription(TopicArn=topic, Token=doc["Token"])
        self.assertEqual(confirmed["SubscriptionArn"], sub)

        big = "x" * 3000  # one long line: the envelope is longer than SMTP's 998 octets
        mid = self.sns.publish(TopicArn=topic, Message=big, Subject="json please",
                               MessageAttributes={"k": {"DataType": "String",
                                                        "StringValue": "v"}})["MessageId"]
        note = self.relay.wait(lambda m: to(addr)(m) and m["Subject"] == "json please")
        env = json.loads(body_of(note))
        self.assertEqual(env["Type"], "Notification")
        self.assertEqual(env["MessageId"], mid)
        self.assertEqual(env["Message"], big)
        self.assertEqual(env["MessageAttributes"]["k"], {"Type": "String", "Value": "v"})
        self.assertTrue(env["Signature"])


@unittest.skipIf(ferry_server.target() != "ferry", "needs a Ferry process with --smtp-relay")
@unittest.skipUnless(_have_aiosmtpd(), "python3-aiosmtpd is not installed")
class RelayDownTest(unittest.TestCase):
    def test_mail_sent_while_the_relay_is_down_arrives_later(self):
        relay = SmtpRelay()  # not started: connections are refused
        self.addCleanup(relay.close)
        server = ferry_server.FerryServer(
            extra_args=["--smtp-relay", f"127.0.0.1:{relay.port}"])
        server.start()
        self.addCleanup(server.stop)
        sns = server.client("sns")
        topic = sns.create_topic(Name=unique("down"))["TopicArn"]
        addr = unique("late") + "@example.com"
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=addr)
        # The first attempt fails at once (refused); wait until Ferry counted the retry.
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(server.endpoint + "/_ferry/sns/stats", timeout=5) as r:
                if json.loads(r.read())["retried"] >= 1:
                    break
            self.assertLess(time.monotonic(), deadline, "no failed attempt was recorded")
            time.sleep(0.1)  # polling a counter, bounded by the deadline
        relay.start()
        conf = relay.wait(to(addr), timeout=60)  # the retry comes 10 s (±10%) later
        self.assertEqual(conf["Subject"], "AWS Notification - Subscription Confirmation")


if __name__ == "__main__":
    unittest.main()
