#pragma once
// A small SMTP client (RFC 5321) for SNS's email and email-json deliveries: one connection per
// message to a relay, EHLO (HELO if the relay refuses EHLO), STARTTLS (RFC 3207) or implicit TLS
// (RFC 8314) with the relay's certificate verified, AUTH PLAIN or LOGIN (RFC 4954), MAIL FROM,
// RCPT TO, DATA with dot-stuffing, QUIT.
//
// Stateless functions; send_mail() runs on the caller's executor as a coroutine, every read and
// write bounded by a timeout and every reply by a size limit.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace boost::asio::ssl {
class context;
}

namespace ferry::sns {

struct MailMessage {
  std::string from;       // address, e.g. no-reply@sns.amazonaws.com
  std::string from_name;  // display name, e.g. the topic's DisplayName
  std::string to;
  std::string subject;
  std::string body;        // UTF-8 text; any line ending
  std::string message_id;  // used in the Message-ID header
};

// How the connection to the relay is encrypted.
enum class SmtpTls {
  kAuto,      // STARTTLS when a relay that is not on loopback offers it, else plain
  kStartTls,  // STARTTLS required: a relay that does not offer it fails the delivery
  kImplicit,  // TLS from the first byte (SMTPS, usually port 465)
  kNone,      // never
};

struct SmtpOptions {
  std::string host;
  std::string port = "25";
  std::chrono::milliseconds timeout{30'000};  // per read or write
  std::string helo_name = "ferry.localhost";
  SmtpTls tls = SmtpTls::kAuto;
  // The relay's certificate is verified (chain and host name) against the system's trusted CAs
  // and those in this PEM file, if set.
  std::string ca_file;
  // With a user, AUTH PLAIN (else LOGIN) from those the relay offers. Credentials are only sent
  // over TLS or to a relay on loopback.
  std::string user;
  std::string password;
  // The TLS client context made from tls and ca_file by prepare_smtp_tls(), shared by every
  // message; without it each send_mail() makes its own.
  std::shared_ptr<boost::asio::ssl::context> tls_context;
};

// Parses "host:port" (or "host", port 25; "[v6]:port"). False if malformed.
bool parse_relay(std::string_view relay, SmtpOptions* options);

// Parses "auto", "starttls", "tls" or "none". False if it is none of them.
bool parse_smtp_tls(std::string_view mode, SmtpTls* tls);

// Makes options->tls_context (unless tls is kNone): "" if the TLS settings load (the system's
// trusted CAs, options->ca_file), else why not, which send_mail() would otherwise only report
// per message.
std::string prepare_smtp_tls(SmtpOptions* options);

// The RFC 5322 message (headers and body) with CRLF line endings, not yet dot-stuffed: UTF-8
// subjects as RFC 2047 encoded words, non-ASCII or long-lined bodies in base64.
std::string format_mail(const MailMessage& m, int64_t now_ms);

// Doubles a '.' that starts a line (RFC 5321 section 4.5.2) and appends the <CRLF>.<CRLF> end.
std::string dot_stuff(std::string_view crlf_text);

// Sends one message; returns "" on success (250 after the data), else why it failed (a
// connection error, a timeout, a TLS or certificate error, STARTTLS or AUTH required but not
// offered, or the relay's 4xx/5xx reply, e.g. 535 for rejected credentials).
boost::asio::awaitable<std::string> send_mail(SmtpOptions options, MailMessage message);

}  // namespace ferry::sns
