"""SNS email and email-json subscriptions delivered over SMTP to a real relay: Debian's aiosmtpd
(python3-aiosmtpd) on loopback, storing every mail in a Maildir. Checks AWS's confirmation mail
(subject "AWS Notification - Subscription Confirmation", SubscribeURL link), confirming through
the link and through ConfirmSubscription, email (message text, default subject "AWS Notification
Message", the MessageStructure "email" key) and email-json (the JSON envelope) notifications,
and that mail sent while the relay is down arrives once it is up (retried 10 s later, SNS's
policy for customer-managed endpoints).

SecureRelayTest runs aiosmtpd as a relay that requires STARTTLS (or implicit TLS) and AUTH, with
a certificate signed by a CA the test makes with the openssl command: the mails arrive with the
configured credentials; a wrong password or an untrusted certificate gets no mail through, and
the attempt is retried.
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


# An aiosmtpd relay that requires TLS and AUTH; every AUTH attempt is appended to a JSON-lines
# log. argv: port maildir cert key mode(starttls|tls) user password authlog
SECURE_RELAY = r"""
import json, signal, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

port, maildir, cert, key, mode, user, password, authlog = sys.argv[1:9]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)


def authenticator(server, session, envelope, mechanism, data):
    if not isinstance(data, LoginPassword):
        return AuthResult(success=False, handled=False)
    ok = data.login == user.encode() and data.password == password.encode()
    with open(authlog, "a") as f:
        f.write(json.dumps({
            "mechanism": mechanism, "login": data.login.decode(),
            "password": data.password.decode(), "ok": ok,
            "tls": server.transport.get_extra_info("ssl_object") is not None}) + "\n")
    return AuthResult(success=ok, handled=False)


common = dict(hostname="127.0.0.1", port=int(port), authenticator=authenticator,
              auth_required=True)
if mode == "starttls":
    controller = Controller(Mailbox(maildir), tls_context=ctx, require_starttls=True,
                            auth_require_tls=True, **common)
else:  # implicit TLS from the first byte; only AUTH LOGIN offered
    controller = Controller(Mailbox(maildir), ssl_context=ctx, auth_require_tls=False,
                            auth_exclude_mechanism=["PLAIN"], **common)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
controller.start()
try:
    while True:
        time.sleep(3600)
finally:
    controller.stop()
"""


def make_certificates(directory: str):
    """A test CA and a relay certificate it signs for 127.0.0.1 and localhost; returns the paths
    (ca.pem, relay.pem, relay.key)."""
    def path(name):
        return os.path.join(directory, name)

    with open(path("ca.cnf"), "w") as f:
        f.write("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = Ferry test CA\n"
                "[ext]\nbasicConstraints = critical, CA:TRUE\n"
                "keyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n")
    with open(path("relay.ext"), "w") as f:
        f.write("basicConstraints = CA:FALSE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    for cmd in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"),
             "-out", path("ca.pem"), "-days", "2", "-config", path("ca.cnf"),
             "-extensions", "ext"],
            ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", path("relay.key"),
             "-out", path("relay.csr"), "-subj", "/CN=ferry-test-relay"],
            ["x509", "-req", "-in", path("relay.csr"), "-CA", path("ca.pem"),
             "-CAkey", path("ca.key"), "-set_serial", "1", "-days", "2",
             "-out", path("relay.pem"), "-extfile", path("relay.ext")]):
        subprocess.run(["openssl", *cmd], check=True, capture_output=True, timeout=60)
    return path("ca.pem"), path("relay.pem"), path("relay.key")


class SecureSmtpRelay(SmtpRelay):
    """SmtpRelay running SECURE_RELAY: TLS (mode "starttls" or "tls") and AUTH required."""

    def __init__(self, mode: str, cert: str, key: str, user: str, password: str):
        super().__init__()
        self.args = [mode, user, password]
        self.cert, self.key = cert, key
        self.authlog = os.path.join(self.dir, "auth.jsonl")
        self.script = os.path.join(self.dir, "relay.py")
        with open(self.script, "w") as f:
            f.write(SECURE_RELAY)

    def start(self):
        log = open(os.path.join(self.dir, "smtpd.log"), "ab")
        mode, user, password = self.args
        self.proc = subprocess.Popen(
            [SMTPD_PYTHON, self.script, str(self.port), self.maildir, self.cert, self.key, mode,
             user, password, self.authlog],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 30
        while True:  # ready once it accepts connections (the greeting may need a handshake)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the aiosmtpd relay did not start: " + self.log())
            time.sleep(0.05)  # readiness polling, bounded by the deadline

    def log(self) -> str:
        with open(os.path.join(self.dir, "smtpd.log"), "rb") as f:
            return f.read().decode(errors="replace")[-3000:]

    def auth_attempts(self):
        if not os.path.exists(self.authlog):
            return []
        with open(self.authlog) as f:
            return [json.loads(line) for line in f if line.strip()]


def stats(server) -> dict:
    with urllib.request.urlopen(server.endpoint + "/_ferry/sns/stats", timeout=5) as r:
        return json.loads(r.read())


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.1)  # polling a counter or a log, bounded by the deadline


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


@unittest.skipIf(ferry_server.target() != "ferry", "needs a Ferry process with --smtp-relay")
@unittest.skipUnless(_have_aiosmtpd(), "python3-aiosmtpd is not installed")
@unittest.skipUnless(shutil.which("openssl"), "the openssl command is not installed")
class SecureRelayTest(unittest.TestCase):
    USER = "ferry-sns"
    PASSWORD = "correct horse: battery staple"

    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix="ferry-smtp-ca-")
        cls.ca, cert, key = make_certificates(cls.certs)
        cls.relay = SecureSmtpRelay("starttls", cert, key, cls.USER, cls.PASSWORD)
        cls.relays = [cls.relay]
        try:
            cls.relay.start()
            cls.implicit = SecureSmtpRelay("tls", cert, key, cls.USER, cls.PASSWORD)
            cls.relays.append(cls.implicit)
            cls.implicit.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for relay in cls.relays:
            relay.close()
        shutil.rmtree(cls.certs, ignore_errors=True)

    def ferry(self, relay, *args):
        server = ferry_server.FerryServer(
            extra_args=["--smtp-relay", f"127.0.0.1:{relay.port}", "--smtp-from",
                        "sns@ferry.test", *args])
        server.start()
        self.addCleanup(server.stop)
        return server, server.client("sns")

    def test_starttls_and_auth_plain_deliver_confirmation_and_notification(self):
        server, sns = self.ferry(self.relay, "--smtp-tls", "starttls", "--smtp-ca-file", self.ca,
                                 "--smtp-user", self.USER, "--smtp-password", self.PASSWORD)
        topic = sns.create_topic(Name=unique("tls"))["TopicArn"]
        addr = unique("secure") + "@example.com"
        sub = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=addr,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
        conf = self.relay.wait(to(addr))
        self.assertEqual(conf["Subject"], "AWS Notification - Subscription Confirmation")
        url = re.search(r"(http://\S+Action=ConfirmSubscription\S+)", body_of(conf)).group(1)
        with urllib.request.urlopen(url, timeout=10) as resp:
            self.assertEqual(resp.status, 200)
        attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        self.assertEqual(attrs["PendingConfirmation"], "false")
        sns.publish(TopicArn=topic, Subject="over TLS", Message="sealed and signed")
        note = self.relay.wait(lambda m: to(addr)(m) and m["Subject"] == "over TLS")
        self.assertTrue(body_of(note).startswith("sealed and signed\n"))

        attempts = self.relay.auth_attempts()
        self.assertGreaterEqual(len(attempts), 2)  # one connection per mail
        for a in attempts:
            self.assertEqual((a["login"], a["password"], a["mechanism"], a["tls"], a["ok"]),
                             (self.USER, self.PASSWORD, "PLAIN", True, True))
        self.assertEqual(stats(server)["retried"], 0)

    def test_implicit_tls_and_auth_login(self):
        _, sns = self.ferry(self.implicit, "--smtp-tls", "tls", "--smtp-ca-file", self.ca,
                            "--smtp-user", self.USER, "--smtp-password", self.PASSWORD)
        topic = sns.create_topic(Name=unique("smtps"))["TopicArn"]
        addr = unique("smtps") + "@example.com"
        sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint=addr)
        conf = self.implicit.wait(to(addr))
        self.assertEqual(json.loads(body_of(conf))["Type"], "SubscriptionConfirmation")
        attempts = self.implicit.auth_attempts()
        self.assertTrue(attempts)
        for a in attempts:
            self.assertEqual((a["login"], a["password"], a["mechanism"], a["tls"]),
                             (self.USER, self.PASSWORD, "LOGIN", True))

    def test_wrong_password_sends_nothing_and_is_retried(self):
        user = unique("wrong")
        server, sns = self.ferry(self.relay, "--smtp-tls", "starttls", "--smtp-ca-file", self.ca,
                                 "--smtp-user", user, "--smtp-password", "not it")
        topic = sns.create_topic(Name=unique("badpw"))["TopicArn"]
        addr = unique("badpw") + "@example.com"
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=addr)
        mine = lambda: [a for a in self.relay.auth_attempts() if a["login"] == user]  # noqa: E731
        # The first attempt is refused (535) and counted; the retry comes 10 s (±10%) later.
        wait_for(lambda: stats(server)["retried"] >= 1 and len(mine()) >= 1, 30,
                 "no failed attempt was recorded")
        wait_for(lambda: stats(server)["retried"] >= 2 and len(mine()) >= 2, 40,
                 "the delivery was not retried")
        for a in mine():
            self.assertEqual((a["password"], a["tls"], a["ok"]), ("not it", True, False))
        self.assertEqual(stats(server)["delivered"], 0)
        self.assertFalse([m for m in self.relay.messages() if m["To"] == addr])

    def test_untrusted_certificate_sends_nothing_and_is_retried(self):
        user = unique("untrusting")
        server, sns = self.ferry(self.relay, "--smtp-tls", "starttls", "--smtp-user", user,
                                 "--smtp-password", self.PASSWORD)  # no --smtp-ca-file
        topic = sns.create_topic(Name=unique("untrusted"))["TopicArn"]
        addr = unique("untrusted") + "@example.com"
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=addr)
        wait_for(lambda: stats(server)["retried"] >= 1, 30, "no failed attempt was recorded")
        wait_for(lambda: "certificate verify failed" in server.log_tail(), 10,
                 "the refused certificate was not logged")
        self.assertEqual(stats(server)["delivered"], 0)
        # The credentials never left: the handshake failed before AUTH.
        self.assertFalse([a for a in self.relay.auth_attempts() if a["login"] == user])
        self.assertFalse([m for m in self.relay.messages() if m["To"] == addr])


if __name__ == "__main__":
    unittest.main()
