#include "sns/api/smtp_client.h"

#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <net/if.h>

#include <boost/asio.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/crypto.h"

namespace ferry::sns {
namespace {

namespace asio = boost::asio;

TEST(SmtpClientTest, ParsesRelays) {
  SmtpOptions o;
  ASSERT_TRUE(parse_relay("mail.example.com:2525", &o));
  EXPECT_EQ(o.host, "mail.example.com");
  EXPECT_EQ(o.port, "2525");
  ASSERT_TRUE(parse_relay("relay", &o));
  EXPECT_EQ(o.port, "25");
  ASSERT_TRUE(parse_relay("[::1]:26", &o));
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, "26");
  EXPECT_FALSE(parse_relay("", &o));
  EXPECT_FALSE(parse_relay("host:", &o));
  EXPECT_FALSE(parse_relay("host:99999", &o));
  EXPECT_FALSE(parse_relay("host:x1", &o));
}

TEST(SmtpClientTest, DotStuffsAndTerminates) {
  EXPECT_EQ(dot_stuff("a\r\n.\r\n..b\r\n"), "a\r\n..\r\n...b\r\n.\r\n");
  EXPECT_EQ(dot_stuff(".start"), "..start\r\n.\r\n");
}

TEST(SmtpClientTest, FormatsHeadersAndEncodesBodies) {
  MailMessage m{"no-reply@sns.amazonaws.com", "Alerts", "ops@example.com", "Disk",
                "line 1\nline 2\n",           "id-1"};
  std::string text = format_mail(m, 0);
  EXPECT_NE(text.find("From: \"Alerts\" <no-reply@sns.amazonaws.com>\r\n"), std::string::npos);
  EXPECT_NE(text.find("To: ops@example.com\r\n"), std::string::npos);
  EXPECT_NE(text.find("Subject: Disk\r\n"), std::string::npos);
  EXPECT_NE(text.find("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"), std::string::npos);
  EXPECT_NE(text.find("Message-ID: <id-1@sns.amazonaws.com>\r\n"), std::string::npos);
  EXPECT_NE(text.find("Content-Transfer-Encoding: 7bit\r\n\r\nline 1\r\nline 2\r\n"),
            std::string::npos);

  m.subject = "Caf\xc3\xa9";
  m.body = "na\xc3\xafve";
  text = format_mail(m, 0);
  EXPECT_NE(text.find("Subject: =?UTF-8?B?Q2Fmw6k=?=\r\n"), std::string::npos);
  EXPECT_NE(text.find("Content-Transfer-Encoding: base64\r\n\r\nbmHDr3Zl\r\n"), std::string::npos);

  m.body = std::string(2000, 'x');  // longer than SMTP's 998-octet lines
  text = format_mail(m, 0);
  EXPECT_NE(text.find("Content-Transfer-Encoding: base64"), std::string::npos);
}

TEST(SmtpClientTest, ParsesTlsModes) {
  SmtpTls tls = SmtpTls::kNone;
  ASSERT_TRUE(parse_smtp_tls("auto", &tls));
  EXPECT_EQ(tls, SmtpTls::kAuto);
  ASSERT_TRUE(parse_smtp_tls("starttls", &tls));
  EXPECT_EQ(tls, SmtpTls::kStartTls);
  ASSERT_TRUE(parse_smtp_tls("tls", &tls));
  EXPECT_EQ(tls, SmtpTls::kImplicit);
  ASSERT_TRUE(parse_smtp_tls("none", &tls));
  EXPECT_EQ(tls, SmtpTls::kNone);
  EXPECT_FALSE(parse_smtp_tls("ssl", &tls));
}

// An IPv4 address of this machine that is not a loopback one, if there is one.
std::string non_loopback_address() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {};
  std::string found;
  for (ifaddrs* a = list; a != nullptr && found.empty(); a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_UP) == 0 || (a->ifa_flags & IFF_LOOPBACK) != 0) continue;
    auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    found = asio::ip::address_v4(ntohl(in->sin_addr.s_addr)).to_string();
  }
  freeifaddrs(list);
  return found;
}

// A scripted relay (on loopback unless told otherwise): answers each command with the next
// reply, records what it got, and closes the connection after the last reply.
class FakeRelay {
 public:
  explicit FakeRelay(std::vector<std::string> replies, const std::string& address = "127.0.0.1")
      : acceptor_(io_, {asio::ip::make_address(address), 0}),
        address_(address),
        replies_(std::move(replies)) {
    asio::co_spawn(io_, serve(), asio::detached);
  }
  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }

  // Runs the client against the relay until it finishes.
  std::string send(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    SmtpOptions o;
    o.timeout = timeout;
    return send(o);
  }
  std::string send(SmtpOptions o) {
    o.host = address_;
    o.port = port();
    MailMessage m{"from@x.test", "", "to@y.test", "s", "hello\n.\n", "id"};
    std::optional<std::string> result;
    asio::co_spawn(io_, send_mail(o, m), [&](std::exception_ptr, std::string r) {
      result = std::move(r);
      io_.stop();
    });
    io_.run();
    return result.value_or("did not finish");
  }
  std::string received;

 private:
  asio::awaitable<void> serve() {
    auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
    std::string buf;
    size_t next = 0;
    bool in_data = false;
    try {
      co_await asio::async_write(socket, asio::buffer(replies_[next++]), asio::use_awaitable);
      while (next < replies_.size()) {
        size_t n = co_await asio::async_read_until(
            socket, asio::dynamic_buffer(buf), in_data ? "\r\n.\r\n" : "\r\n", asio::use_awaitable);
        std::string got = buf.substr(0, n);
        buf.erase(0, n);
        received += got;
        in_data = got == "DATA\r\n" && replies_[next].rfind("354", 0) == 0;
        if (replies_[next].empty()) {  // say nothing: the client must time out
          co_await asio::async_read_until(socket, asio::dynamic_buffer(buf), "never",
                                          asio::use_awaitable);
        }
        co_await asio::async_write(socket, asio::buffer(replies_[next++]), asio::use_awaitable);
      }
    } catch (const boost::system::system_error&) {
    }
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::string address_;
  std::vector<std::string> replies_;
};

TEST(SmtpClientTest, SendsTheDialogueWithDotStuffing) {
  FakeRelay relay({"220 hi\r\n", "250-relay\r\n250 8BITMIME\r\n", "250 ok\r\n", "250 ok\r\n",
                   "354 go\r\n", "250 queued\r\n", "221 bye\r\n"});
  EXPECT_EQ(relay.send(), "");
  EXPECT_NE(relay.received.find("EHLO "), std::string::npos);
  EXPECT_NE(relay.received.find("MAIL FROM:<from@x.test>\r\n"), std::string::npos);
  EXPECT_NE(relay.received.find("RCPT TO:<to@y.test>\r\n"), std::string::npos);
  EXPECT_NE(relay.received.find("\r\nhello\r\n..\r\n.\r\n"), std::string::npos);
  EXPECT_NE(relay.received.find("QUIT\r\n"), std::string::npos);
}

TEST(SmtpClientTest, FallsBackToHeloAndReportsTransientFailures) {
  FakeRelay relay(
      {"220 hi\r\n", "502 no EHLO\r\n", "250 hello\r\n", "250 ok\r\n", "451 try again later\r\n"});
  std::string failure = relay.send();
  EXPECT_NE(failure.find("RCPT TO"), std::string::npos) << failure;
  EXPECT_NE(failure.find("451 try again later"), std::string::npos) << failure;
  EXPECT_NE(relay.received.find("HELO "), std::string::npos);
}

TEST(SmtpClientTest, TimesOutOnASilentRelay) {
  FakeRelay relay({"220 hi\r\n", ""});
  std::string failure = relay.send(std::chrono::milliseconds(200));
  EXPECT_NE(failure.find("EHLO"), std::string::npos) << failure;
}

SmtpOptions with_credentials(SmtpTls tls = SmtpTls::kAuto) {
  SmtpOptions o;
  o.timeout = std::chrono::seconds(5);
  o.tls = tls;
  o.user = "ferry";
  o.password = "s3cret pass";
  return o;
}

TEST(SmtpClientTest, AuthenticatesWithPlainOnLoopbackWithoutTls) {
  // auto: a relay on loopback is not asked for STARTTLS, and may get credentials in clear.
  FakeRelay relay({"220 hi\r\n", "250-relay\r\n250-AUTH LOGIN PLAIN\r\n250 STARTTLS\r\n",
                   "235 2.7.0 Authentication successful\r\n", "250 ok\r\n", "250 ok\r\n",
                   "354 go\r\n", "250 queued\r\n", "221 bye\r\n"});
  EXPECT_EQ(relay.send(with_credentials()), "");
  std::string plain = base::base64_encode(std::string("\0ferry\0s3cret pass", 18));
  EXPECT_NE(relay.received.find("\r\nAUTH PLAIN " + plain + "\r\nMAIL FROM:<from@x.test>\r\n"),
            std::string::npos)
      << relay.received;
  EXPECT_EQ(relay.received.find("STARTTLS"), std::string::npos);
}

TEST(SmtpClientTest, AuthenticatesWithLoginWhenPlainIsNotOffered) {
  FakeRelay relay({"220 hi\r\n", "250-relay\r\n250 AUTH=LOGIN CRAM-MD5\r\n", "334 VXNlcm5hbWU6\r\n",
                   "334 UGFzc3dvcmQ6\r\n", "235 ok\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n",
                   "250 queued\r\n", "221 bye\r\n"});
  EXPECT_EQ(relay.send(with_credentials()), "");
  EXPECT_NE(relay.received.find("\r\nAUTH LOGIN\r\n" + base::base64_encode("ferry") + "\r\n" +
                                base::base64_encode("s3cret pass") + "\r\nMAIL FROM:"),
            std::string::npos)
      << relay.received;
}

TEST(SmtpClientTest, ReportsRejectedCredentialsAndMissingAuth) {
  FakeRelay rejected({"220 hi\r\n", "250-relay\r\n250 AUTH PLAIN\r\n",
                      "535 5.7.8 Authentication credentials invalid\r\n"});
  std::string failure = rejected.send(with_credentials());
  EXPECT_NE(failure.find("SMTP AUTH: 535 5.7.8"), std::string::npos) << failure;
  EXPECT_EQ(rejected.received.find("MAIL FROM"), std::string::npos);

  FakeRelay no_auth({"220 hi\r\n", "250-relay\r\n250 AUTH CRAM-MD5\r\n"});
  failure = no_auth.send(with_credentials());
  EXPECT_NE(failure.find("neither AUTH PLAIN nor AUTH LOGIN (only CRAM-MD5)"), std::string::npos)
      << failure;
  EXPECT_EQ(no_auth.received.find("MAIL FROM"), std::string::npos);
}

TEST(SmtpClientTest, FailsWhenStartTlsIsRequiredButNotOffered) {
  FakeRelay relay({"220 hi\r\n", "250-relay\r\n250 AUTH PLAIN\r\n", "250 ok\r\n"});
  std::string failure = relay.send(with_credentials(SmtpTls::kStartTls));
  EXPECT_NE(failure.find("STARTTLS"), std::string::npos) << failure;
  EXPECT_NE(failure.find("does not offer it"), std::string::npos) << failure;
  EXPECT_EQ(relay.received.find("AUTH"), std::string::npos);
  EXPECT_EQ(relay.received.find("MAIL FROM"), std::string::npos);
}

TEST(SmtpClientTest, StartTlsFailuresEndTheAttempt) {
  // Anything after the 220 and before the handshake could be an attacker's (RFC 3207).
  FakeRelay injected({"220 hi\r\n", "250-relay\r\n250 STARTTLS\r\n",
                      "220 go ahead\r\n250 injected\r\n", "250 ok\r\n"});
  std::string failure = injected.send(with_credentials(SmtpTls::kStartTls));
  EXPECT_NE(failure.find("before the TLS handshake"), std::string::npos) << failure;

  // A relay that says go ahead but does not speak TLS: the handshake fails.
  FakeRelay plain({"220 hi\r\n", "250-relay\r\n250 STARTTLS\r\n", "220 go ahead\r\n"});
  failure = plain.send(with_credentials(SmtpTls::kStartTls));
  EXPECT_NE(failure.find("SMTP STARTTLS handshake: "), std::string::npos) << failure;
  EXPECT_EQ(plain.received.find("AUTH"), std::string::npos);

  FakeRelay refused({"220 hi\r\n", "250-relay\r\n250 STARTTLS\r\n", "454 TLS not available\r\n"});
  failure = refused.send(with_credentials(SmtpTls::kStartTls));
  EXPECT_NE(failure.find("SMTP STARTTLS: 454 TLS not available"), std::string::npos) << failure;
}

TEST(SmtpClientTest, KeepsCredentialsOffUnencryptedConnectionsToOtherHosts) {
  std::string address = non_loopback_address();
  if (address.empty()) GTEST_SKIP() << "no non-loopback IPv4 address";
  FakeRelay relay({"220 hi\r\n", "250-relay\r\n250 AUTH PLAIN LOGIN\r\n", "250 ok\r\n"}, address);
  std::string failure = relay.send(with_credentials(SmtpTls::kNone));
  EXPECT_NE(failure.find("refusing to send the credentials"), std::string::npos) << failure;
  EXPECT_EQ(relay.received.find("AUTH"), std::string::npos);

  // auto asks a relay that is not on loopback for STARTTLS when it offers it.
  FakeRelay offers({"220 hi\r\n", "250-relay\r\n250 STARTTLS\r\n", "220 go ahead\r\n"}, address);
  failure = offers.send(with_credentials(SmtpTls::kAuto));
  EXPECT_NE(offers.received.find("STARTTLS\r\n"), std::string::npos) << offers.received;
  EXPECT_NE(failure.find("STARTTLS handshake"), std::string::npos) << failure;
}

TEST(SmtpClientTest, ImplicitTlsFailsAgainstAPlainRelay) {
  FakeRelay relay({"220 hi\r\n"});
  std::string failure = relay.send(with_credentials(SmtpTls::kImplicit));
  EXPECT_NE(failure.find("SMTP TLS handshake: "), std::string::npos) << failure;
}

TEST(SmtpClientTest, ReportsAMissingCaFile) {
  FakeRelay relay({"220 hi\r\n"});
  SmtpOptions o = with_credentials(SmtpTls::kStartTls);
  o.ca_file = "/nonexistent/ca.pem";
  std::string failure = relay.send(o);
  EXPECT_NE(failure.find("cannot load --smtp-ca-file /nonexistent/ca.pem"), std::string::npos)
      << failure;
}

}  // namespace
}  // namespace ferry::sns
