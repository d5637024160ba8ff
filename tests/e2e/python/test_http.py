"""The HTTP layer under the AWS protocols: keep-alive, request ids, malformed and oversized
requests. Limits are Ferry's (AWS's front ends have their own), so this module is Ferry only."""

from __future__ import annotations

import socket
import unittest

from harness.ferry_server import FerryServer, target

server: FerryServer | None = None


def setUpModule():
    global server
    if target() == "ferry":
        server = FerryServer().start()


def tearDownModule():
    if server is not None:
        server.stop()


def exchange(payload: bytes) -> bytes:
    """Sends raw bytes and reads until the server closes or answers one response."""
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(payload)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(body) >= length:
                    return data


@unittest.skipUnless(target() == "ferry", "Ferry's own HTTP limits")
class HttpTest(unittest.TestCase):
    def test_keep_alive_serves_several_requests_on_one_connection(self):
        request = (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        with socket.create_connection((server.host, server.port), timeout=10) as s:
            for _ in range(3):
                s.sendall(request)
                data = b""
                while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                    chunk = s.recv(65536)
                    self.assertTrue(chunk, "connection closed between keep-alive requests")
                    data += chunk
                self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:80])

    def test_garbage_gets_400(self):
        answer = exchange(b"THIS IS NOT HTTP\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:80])

    def test_oversized_header_gets_431(self):
        answer = exchange(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 +
                          b"\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 431"), answer[:80])

    def test_oversized_body_gets_413(self):
        size = 64 * 1024 * 1024
        head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
                b"X-Amz-Target: AmazonSQS.ListQueues\r\nContent-Length: " +
                str(size).encode() + b"\r\n\r\n")
        answer = exchange(head)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:80])

    def test_every_answer_has_a_request_id(self):
        answer = exchange(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0"
                          b"\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nContent-Length: 2\r\n\r\n{}")
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])
        self.assertIn(b"x-amzn-requestid:", answer.lower())

    def test_expect_100_continue_is_answered_before_the_body(self):
        body = b"{}"
        head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
                b"X-Amz-Target: AmazonSQS.ListQueues\r\nExpect: 100-continue\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        with socket.create_connection((server.host, server.port), timeout=10) as s:
            s.sendall(head)
            interim = b""
            while b"\r\n\r\n" not in interim:
                chunk = s.recv(65536)
                self.assertTrue(chunk, "closed before the interim answer")
                interim += chunk
            self.assertTrue(interim.startswith(b"HTTP/1.1 100"), interim[:80])
            s.sendall(body)
            final = interim.partition(b"\r\n\r\n")[2]
            while b"\r\n\r\n" not in final or not final.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                self.assertTrue(chunk, "closed before the final answer")
                final += chunk
            self.assertTrue(final.startswith(b"HTTP/1.1 200"), final[:80])
            self.assertIn(b"x-amzn-requestid:", final.lower())

    def test_expect_100_continue_with_the_body_sent_along_gets_the_answer(self):
        # The body is here already: an interim answer may come or not; the final one must.
        with socket.create_connection((server.host, server.port), timeout=10) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0"
                      b"\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nExpect: 100-continue\r\n"
                      b"Content-Length: 2\r\n\r\n{}")
            data = b""
            while True:
                final = data
                if final.startswith(b"HTTP/1.1 100") and b"\r\n\r\n" in final:
                    final = final.split(b"\r\n\r\n", 1)[1]
                if final.startswith(b"HTTP/1.1 2") and final.rstrip().endswith(b"}"):
                    break
                chunk = s.recv(65536)
                self.assertTrue(chunk, f"closed before the final answer: {data[:200]!r}")
                data += chunk
            self.assertIn(b"x-amzn-requestid:", final.lower())

if __name__ == "__main__":
    unittest.main()
