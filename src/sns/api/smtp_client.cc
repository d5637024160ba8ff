#include "sns/api/smtp_client.h"

#include <boost/asio.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "base/crypto.h"

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

// Reads one (possibly multi-line) reply; returns its code, or 0 on a malformed reply. Throws
// system_error on I/O errors and timeouts.
awaitable<int> read_reply(beast::tcp_stream& stream, std::string& buffer,
                          std::chrono::milliseconds timeout, std::string* text) {
  text->clear();
  while (true) {
    stream.expires_after(timeout);
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
    if (line.size() == 3 || line[3] == ' ') co_return std::stoi(line.substr(0, 3));
    if (line[3] != '-') co_return 0;
  }
}

awaitable<void> write_all(beast::tcp_stream& stream, std::string_view data,
                          std::chrono::milliseconds timeout) {
  stream.expires_after(timeout);
  co_await asio::async_write(stream, asio::buffer(data.data(), data.size()), asio::use_awaitable);
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

awaitable<std::string> send_mail(SmtpOptions options, MailMessage message) {
  auto ex = co_await asio::this_coro::executor;
  std::string step = "connect";
  try {
    asio::ip::tcp::resolver resolver(ex);
    auto endpoints =
        co_await resolver.async_resolve(options.host, options.port, asio::use_awaitable);
    beast::tcp_stream stream(ex);
    stream.expires_after(options.timeout);
    co_await stream.async_connect(endpoints, asio::use_awaitable);
    std::string buffer, reply;
    auto expect = [&](int code, int want_class) -> std::string {
      if (code / 100 == want_class) return {};
      return "SMTP " + step + ": " + (code == 0 ? "malformed reply " : "") + reply;
    };
    step = "greeting";
    int code = co_await read_reply(stream, buffer, options.timeout, &reply);
    if (auto e = expect(code, 2); !e.empty()) co_return e;

    step = "EHLO";
    co_await write_all(stream, "EHLO " + options.helo_name + "\r\n", options.timeout);
    code = co_await read_reply(stream, buffer, options.timeout, &reply);
    if (code / 100 == 5) {  // an old relay: HELO
      step = "HELO";
      co_await write_all(stream, "HELO " + options.helo_name + "\r\n", options.timeout);
      code = co_await read_reply(stream, buffer, options.timeout, &reply);
    }
    if (auto e = expect(code, 2); !e.empty()) co_return e;

    step = "MAIL FROM";
    co_await write_all(stream, "MAIL FROM:<" + message.from + ">\r\n", options.timeout);
    code = co_await read_reply(stream, buffer, options.timeout, &reply);
    if (auto e = expect(code, 2); !e.empty()) co_return e;

    step = "RCPT TO";
    co_await write_all(stream, "RCPT TO:<" + message.to + ">\r\n", options.timeout);
    code = co_await read_reply(stream, buffer, options.timeout, &reply);
    if (auto e = expect(code, 2); !e.empty()) co_return e;

    step = "DATA";
    co_await write_all(stream, "DATA\r\n", options.timeout);
    code = co_await read_reply(stream, buffer, options.timeout, &reply);
    if (auto e = expect(code, 3); !e.empty()) co_return e;

    step = "message";
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    co_await write_all(stream, dot_stuff(format_mail(message, now)), options.timeout);
    code = co_await read_reply(stream, buffer, options.timeout, &reply);
    if (auto e = expect(code, 2); !e.empty()) co_return e;

    // The message is accepted; a failing QUIT does not undo that.
    boost::system::error_code ignored;
    try {
      co_await write_all(stream, "QUIT\r\n", options.timeout);
      co_await read_reply(stream, buffer, options.timeout, &reply);
    } catch (const boost::system::system_error&) {
    }
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    co_return std::string();
  } catch (const boost::system::system_error& e) {
    co_return "SMTP " + step + ": " + e.code().message();
  }
}

}  // namespace ferry::sns
