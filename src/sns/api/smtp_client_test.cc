#include "sns/api/smtp_client.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <optional>
#include <string>
#include <vector>

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

// A scripted relay on loopback: answers each command with the next reply, records what it got.
class FakeRelay {
 public:
  explicit FakeRelay(std::vector<std::string> replies)
      : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}), replies_(std::move(replies)) {
    asio::co_spawn(io_, serve(), asio::detached);
  }
  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }

  // Runs the client against the relay until it finishes.
  std::string send(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    SmtpOptions o;
    o.host = "127.0.0.1";
    o.port = port();
    o.timeout = timeout;
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

}  // namespace
}  // namespace ferry::sns
