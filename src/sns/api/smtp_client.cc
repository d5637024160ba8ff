#include "sns/api/smtp_client.h"

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <vector>

#include "base/crypto.h"
#include "base/log.h"
#include "sns/api/tls_verify.h"

namespace ferry::sns {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::awaitable;

namespace {

constexpr size_t kMaxReplyBytes = 64 * 1024;  // one reply, all its lines
constexpr size_t kMaxLineBytes = 998;         // RFC 5322 section 2.1.1

bool ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// A header value: as is when it is ASCII, else an RFC 2047 encoded word.
std::string header_text(std::string_view s) {
  std::string clean;
  for (char c : s) clean += (c == '\r' || c == '\n') ? ' ' : c;
  if (ascii(clean)) return clean;
  return "=?UTF-8?B?" + base::base64_encode(clean) + "?=";
}

std::string rfc5322_date(int64_t now_ms) {
  std::time_t secs = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

// Any line ending to CRLF.
std::string crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  return out;
}

bool has_long_line(std::string_view crlf_text) {
  size_t start = 0;
  while (start <= crlf_text.size()) {
    size_t end = crlf_text.find("\r\n", start);
    if (end == std::string_view::npos) end = crlf_text.size();
    if (end - start > kMaxLineBytes) return true;
    start = end + 2;
  }
  return false;
}

// Reads one (possibly multi-line) reply; returns its code, or 0 on a malformed reply; each line
// goes into *lines if given. Throws system_error on I/O errors and timeouts.
template <class Stream>
awaitable<int> read_reply(Stream& stream, std::string& buffer, std::chrono::milliseconds timeout,
                          std::string* text, std::vector<std::string>* lines = nullptr) {
  text->clear();
  while (true) {
    beast::get_lowest_layer(stream).expires_after(timeout);
    size_t n = co_await asio::async_read_until(stream, asio::dynamic_buffer(buffer, kMaxReplyBytes),
                                               "\r\n", asio::use_awaitable);
    std::string line = buffer.substr(0, n - 2);
    buffer.erase(0, n);
    if (text->size() + line.size() > kMaxReplyBytes) co_return 0;
    if (!text->empty()) *text += " | ";
    *text += line;
    if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
        !std::isdigit(static_cast<unsigned char>(line[1])) ||
        !std::isdigit(static_cast<unsigned char>(line[2]))) {
      co_return 0;
    }
    if (lines != nullptr) lines->push_back(line);
    if (line.size() == 3 || line[3] == ' ') co_return std::stoi(line.substr(0, 3));
    if (line[3] != '-') co_return 0;
  }
}

template <class Stream>
awaitable<void> write_all(Stream& stream, std::string_view data,
                          std::chrono::milliseconds timeout) {
  beast::get_lowest_layer(stream).expires_after(timeout);
  co_await asio::async_write(stream, asio::buffer(data.data(), data.size()), asio::use_awaitable);
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// One connection's state, shared by the steps of the dialogue.
struct Session {
  explicit Session(const SmtpOptions& o) : options(o) {}

  const SmtpOptions& options;
  std::string buffer;                   // read but not yet consumed
  std::string reply;                    // the last reply, its lines joined by " | "
  std::string step = "connect";         // named in failures
  std::vector<std::string> extensions;  // the last EHLO's, upper-cased: "STARTTLS", "AUTH PLAIN"
  bool loopback = false;                // the relay's address is a loopback one
  bool encrypted = false;

  std::string failed(int code) const {
    return "SMTP " + step + ": " + (code == 0 ? "malformed reply " : "") + reply;
  }
  bool offers(std::string_view keyword) const {
    for (const auto& e : extensions) {
      if (e == keyword ||
          (e.size() > keyword.size() && e.starts_with(keyword) && e[keyword.size()] == ' ')) {
        return true;
      }
    }
    return false;
  }
  // The mechanisms of "AUTH PLAIN LOGIN" (and of the pre-RFC form "AUTH=PLAIN LOGIN").
  std::vector<std::string> auth_mechanisms() const {
    std::vector<std::string> out;
    for (const auto& e : extensions) {
      if (e.size() < 5 || !e.starts_with("AUTH") || (e[4] != ' ' && e[4] != '=')) continue;
      size_t pos = 5;
      while (pos < e.size()) {
        size_t end = e.find(' ', pos);
        if (end == std::string::npos) end = e.size();
        if (end > pos) out.push_back(e.substr(pos, end - pos));
        pos = end + 1;
      }
    }
    return out;
  }
};

// Sends one command line (CRLF included) and reads the reply.
template <class Stream>
awaitable<int> command(Stream& stream, Session& s, const char* step, std::string line,
                       std::vector<std::string>* lines = nullptr) {
  s.step = step;
  co_await write_all(stream, line, s.options.timeout);
  co_return co_await read_reply(stream, s.buffer, s.options.timeout, &s.reply, lines);
}

// EHLO, or HELO if the relay refuses EHLO; records the extensions. "" on success.
template <class Stream>
awaitable<std::string> hello(Stream& stream, Session& s) {
  std::vector<std::string> lines;
  int code = co_await command(stream, s, "EHLO", "EHLO " + s.options.helo_name + "\r\n", &lines);
  s.extensions.clear();
  if (code / 100 == 2) {
    for (size_t i = 1; i < lines.size(); ++i) {
      if (lines[i].size() > 4) s.extensions.push_back(upper(lines[i].substr(4)));
    }
    co_return std::string();
  }
  if (code / 100 == 5) {  // an old relay: HELO
    code = co_await command(stream, s, "HELO", "HELO " + s.options.helo_name + "\r\n");
  }
  co_return code / 100 == 2 ? std::string() : s.failed(code);
}

// AUTH PLAIN, else AUTH LOGIN, when credentials are configured. "" on success.
template <class Stream>
awaitable<std::string> authenticate(Stream& stream, Session& s) {
  const SmtpOptions& o = s.options;
  if (o.user.empty()) co_return std::string();
  s.step = "AUTH";
  if (!s.encrypted && !s.loopback) {
    std::string why =
        "SMTP AUTH: refusing to send the credentials of --smtp-user over an "
        "unencrypted connection to " +
        o.host +
        ", which is not on loopback (the relay offers no STARTTLS, or --smtp-tls "
        "is none; use starttls or tls)";
    co_return why;  // logged by send_mail()
  }
  auto mechanisms = s.auth_mechanisms();
  auto offered = [&](std::string_view m) {
    return std::find(mechanisms.begin(), mechanisms.end(), m) != mechanisms.end();
  };
  int code;
  if (offered("PLAIN")) {  // RFC 4616: authzid NUL authcid NUL passwd, with the command
    std::string plain = std::string(1, '\0') + o.user + '\0' + o.password;
    code = co_await command(stream, s, "AUTH", "AUTH PLAIN " + base::base64_encode(plain) + "\r\n");
  } else if (offered("LOGIN")) {  // the relay asks for the user name, then the password
    code = co_await command(stream, s, "AUTH", "AUTH LOGIN\r\n");
    if (code == 334) {
      code = co_await command(stream, s, "AUTH", base::base64_encode(o.user) + "\r\n");
    }
    if (code == 334) {
      code = co_await command(stream, s, "AUTH", base::base64_encode(o.password) + "\r\n");
    }
  } else {
    std::string list;
    for (const auto& m : mechanisms) list += (list.empty() ? "" : " ") + m;
    co_return "SMTP AUTH: the relay offers neither AUTH PLAIN nor AUTH LOGIN (" +
        (list.empty() ? std::string("no AUTH at all") : "only " + list) + ")";
  }
  co_return code / 100 == 2 ? std::string() : s.failed(code);
}

// MAIL FROM, RCPT TO, DATA, the message, QUIT. "" once the relay took the message.
template <class Stream>
awaitable<std::string> transfer(Stream& stream, Session& s, const MailMessage& message) {
  int code = co_await command(stream, s, "MAIL FROM", "MAIL FROM:<" + message.from + ">\r\n");
  if (code / 100 != 2) co_return s.failed(code);
  code = co_await command(stream, s, "RCPT TO", "RCPT TO:<" + message.to + ">\r\n");
  if (code / 100 != 2) co_return s.failed(code);
  code = co_await command(stream, s, "DATA", "DATA\r\n");
  if (code / 100 != 3) co_return s.failed(code);
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  code = co_await command(stream, s, "message", dot_stuff(format_mail(message, now)));
  if (code / 100 != 2) co_return s.failed(code);

  // The message is accepted; a failing QUIT does not undo that.
  try {
    co_await command(stream, s, "QUIT", "QUIT\r\n");
  } catch (const boost::system::system_error&) {
  }
  boost::system::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  co_return std::string();
}

// A client context for TLS 1.2 or later that verifies the relay's certificate against the
// system's CAs and options.ca_file. "" on success.
std::string init_tls(const SmtpOptions& options, asio::ssl::context& ctx) {
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1);
  std::string error = configure_peer_verification(ctx, options.ca_file, "--smtp-ca-file");
  return error.empty() ? error : "SMTP TLS: " + error;
}

// The TLS handshake, the relay's certificate checked for options.host (a name or an address).
// "" on success.
awaitable<std::string> handshake(beast::ssl_stream<beast::tcp_stream>& stream, Session& s) {
  SSL* ssl = stream.native_handle();
  const std::string& host = s.options.host;
  if (auto e = expect_peer(ssl, host); !e.empty()) co_return "SMTP " + s.step + ": " + e;
  beast::get_lowest_layer(stream).expires_after(s.options.timeout);
  boost::system::error_code ec;
  co_await stream.async_handshake(asio::ssl::stream_base::client,
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    std::string why = "SMTP " + s.step + ": " + ec.message();
    std::string refused = refused_certificate(ssl, host);
    if (!refused.empty()) why += ": " + refused;
    co_return why;
  }
  s.encrypted = true;
  co_return std::string();
}

}  // namespace

bool parse_relay(std::string_view relay, SmtpOptions* options) {
  std::string host, port = "25";
  if (!relay.empty() && relay.front() == '[') {
    size_t close = relay.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(relay.substr(1, close - 1));
    std::string_view rest = relay.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = std::string(rest.substr(1));
    }
  } else {
    size_t colon = relay.rfind(':');
    host = std::string(relay.substr(0, colon));
    if (colon != std::string_view::npos) port = std::string(relay.substr(colon + 1));
  }
  if (host.empty() || port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  if (std::stoi(port) < 1 || std::stoi(port) > 65535) return false;
  options->host = std::move(host);
  options->port = std::move(port);
  return true;
}

std::string format_mail(const MailMessage& m, int64_t now_ms) {
  std::string name;
  for (char c : m.from_name) {
    if (c != '"' && c != '\\' && c != '\r' && c != '\n') name += c;
  }
  std::string out;
  out += "From: ";
  out += name.empty() ? "" : (ascii(name) ? "\"" + name + "\"" : header_text(name)) + " ";
  out += "<" + m.from + ">\r\n";
  out += "To: " + header_text(m.to) + "\r\n";
  out += "Subject: " + header_text(m.subject) + "\r\n";
  out += "Date: " + rfc5322_date(now_ms) + "\r\n";
  std::string domain = m.from.substr(m.from.find('@') + 1);
  out += "Message-ID: <" + (m.message_id.empty() ? base::uuid4() : m.message_id) + "@" +
         (domain.empty() ? "localhost" : domain) + ">\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=UTF-8\r\n";
  std::string body = crlf(m.body);
  if (ascii(body) && !has_long_line(body)) {
    out += "Content-Transfer-Encoding: 7bit\r\n\r\n";
    out += body;
  } else {
    out += "Content-Transfer-Encoding: base64\r\n\r\n";
    std::string encoded = base::base64_encode(m.body);
    for (size_t i = 0; i < encoded.size(); i += 76) {
      out += encoded.substr(i, 76);
      out += "\r\n";
    }
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

std::string dot_stuff(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  bool line_start = true;
  for (size_t i = 0; i < text.size(); ++i) {
    if (line_start && text[i] == '.') out += '.';
    out += text[i];
    line_start = text[i] == '\n';
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  out += ".\r\n";
  return out;
}

bool parse_smtp_tls(std::string_view mode, SmtpTls* tls) {
  if (mode == "auto") {
    *tls = SmtpTls::kAuto;
  } else if (mode == "starttls") {
    *tls = SmtpTls::kStartTls;
  } else if (mode == "tls") {
    *tls = SmtpTls::kImplicit;
  } else if (mode == "none") {
    *tls = SmtpTls::kNone;
  } else {
    return false;
  }
  return true;
}

std::string prepare_smtp_tls(SmtpOptions* options) {
  options->tls_context.reset();
  if (options->tls == SmtpTls::kNone) return {};
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  if (auto error = init_tls(*options, *ctx); !error.empty()) return error;
  options->tls_context = std::move(ctx);
  return {};
}

namespace {

awaitable<std::string> attempt(const SmtpOptions& options, const MailMessage& message) {
  auto ex = co_await asio::this_coro::executor;
  Session s(options);
  try {
    std::shared_ptr<asio::ssl::context> ctx = options.tls_context;
    if (!ctx && options.tls != SmtpTls::kNone) {
      SmtpOptions prepared = options;
      if (auto e = prepare_smtp_tls(&prepared); !e.empty()) co_return e;
      ctx = prepared.tls_context;
    }
    asio::ip::tcp::resolver resolver(ex);
    auto endpoints =
        co_await resolver.async_resolve(options.host, options.port, asio::use_awaitable);
    beast::tcp_stream tcp(ex);
    tcp.expires_after(options.timeout);
    auto connected = co_await tcp.async_connect(endpoints, asio::use_awaitable);
    s.loopback = connected.address().is_loopback();

    if (options.tls == SmtpTls::kImplicit) {
      beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp), *ctx);
      s.step = "TLS handshake";
      if (auto e = co_await handshake(tls, s); !e.empty()) co_return e;
      s.step = "greeting";
      int code = co_await read_reply(tls, s.buffer, options.timeout, &s.reply);
      if (code / 100 != 2) co_return s.failed(code);
      if (auto e = co_await hello(tls, s); !e.empty()) co_return e;
      if (auto e = co_await authenticate(tls, s); !e.empty()) co_return e;
      co_return co_await transfer(tls, s, message);
    }

    s.step = "greeting";
    int code = co_await read_reply(tcp, s.buffer, options.timeout, &s.reply);
    if (code / 100 != 2) co_return s.failed(code);
    if (auto e = co_await hello(tcp, s); !e.empty()) co_return e;
    bool offered = s.offers("STARTTLS");
    if (options.tls == SmtpTls::kStartTls && !offered) {
      co_return "SMTP STARTTLS: required (--smtp-tls starttls), but the relay does not offer it";
    }
    // On loopback, TLS protects nothing: auto mode does not ask for it there.
    bool upgrade = options.tls == SmtpTls::kStartTls ||
                   (options.tls == SmtpTls::kAuto && offered && !s.loopback);
    if (!upgrade) {
      if (auto e = co_await authenticate(tcp, s); !e.empty()) co_return e;
      co_return co_await transfer(tcp, s, message);
    }
    code = co_await command(tcp, s, "STARTTLS", "STARTTLS\r\n");
    if (code / 100 != 2) co_return s.failed(code);
    if (!s.buffer.empty()) {  // injected before the handshake (RFC 3207 section 5)
      co_return "SMTP STARTTLS: the relay sent data before the TLS handshake";
    }
    beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp), *ctx);
    s.step = "STARTTLS handshake";
    if (auto e = co_await handshake(tls, s); !e.empty()) co_return e;
    if (auto e = co_await hello(tls, s); !e.empty()) co_return e;  // forgets the plain EHLO
    if (auto e = co_await authenticate(tls, s); !e.empty()) co_return e;
    co_return co_await transfer(tls, s, message);
  } catch (const boost::system::system_error& e) {
    co_return "SMTP " + s.step + ": " + e.code().message();
  }
}

}  // namespace

awaitable<std::string> send_mail(SmtpOptions options, MailMessage message) {
  std::string failure = co_await attempt(options, message);
  // Failures are retried quietly (delivery.cc logs them at debug); a TLS or AUTH one usually
  // means a setting is wrong, so the first of each kind is a warning.
  static std::atomic<bool> tls_logged{false}, auth_logged{false};
  if (failure.starts_with("SMTP AUTH:") && !auth_logged.exchange(true)) {
    spdlog::warn("sns: mail to {} failed (retried; logged once): {}", options.host, failure);
  } else if ((failure.starts_with("SMTP TLS") || failure.starts_with("SMTP STARTTLS")) &&
             !tls_logged.exchange(true)) {
    spdlog::warn("sns: mail to {} failed (retried; logged once): {}", options.host, failure);
  }
  co_return failure;
}

}  // namespace ferry::sns
