#pragma once
// A small SMTP client (RFC 5321) for SNS's email and email-json deliveries: one connection per
// message to a relay, EHLO (HELO if the relay refuses EHLO), MAIL FROM, RCPT TO, DATA with
// dot-stuffing, QUIT. No TLS or authentication: the relay is trusted (loopback or a local MTA).
//
// Stateless functions; send_mail() runs on the caller's executor as a coroutine, every read and
// write bounded by a timeout and every reply by a size limit.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace ferry::sns {

struct MailMessage {
  std::string from;       // address, e.g. no-reply@sns.amazonaws.com
  std::string from_name;  // display name, e.g. the topic's DisplayName
  std::string to;
  std::string subject;
  std::string body;        // UTF-8 text; any line ending
  std::string message_id;  // used in the Message-ID header
};

struct SmtpOptions {
  std::string host;
  std::string port = "25";
  std::chrono::milliseconds timeout{30'000};  // per read or write
  std::string helo_name = "ferry.localhost";
};

// Parses "host:port" (or "host", port 25; "[v6]:port"). False if malformed.
bool parse_relay(std::string_view relay, SmtpOptions* options);

// The RFC 5322 message (headers and body) with CRLF line endings, not yet dot-stuffed: UTF-8
// subjects as RFC 2047 encoded words, non-ASCII or long-lined bodies in base64.
std::string format_mail(const MailMessage& m, int64_t now_ms);

// Doubles a '.' that starts a line (RFC 5321 section 4.5.2) and appends the <CRLF>.<CRLF> end.
std::string dot_stuff(std::string_view crlf_text);

// Sends one message; returns "" on success (250 after the data), else why it failed (a
// connection error, a timeout, or the relay's 4xx/5xx reply).
boost::asio::awaitable<std::string> send_mail(SmtpOptions options, MailMessage message);

}  // namespace ferry::sns
