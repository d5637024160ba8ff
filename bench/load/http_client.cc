#include "http_client.h"

#include <array>
#include <boost/url/parse.hpp>
#include <iostream>

namespace ferry::bench {

bool resolve(const std::string& url, Endpoint* out, std::string* error) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    *error = "bad endpoint URL " + url;
    return false;
  }
  std::string host(parsed->host());
  std::string port = parsed->has_port() ? std::string(parsed->port()) : "80";
  asio::io_context io;
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) {
    *error = "cannot resolve " + host + ": " + ec.message();
    return false;
  }
  out->host = host + ":" + port;
  out->address = results.begin()->endpoint();
  return true;
}

bool resolve_endpoint(const std::string& endpoint, Endpoint* out) {
  std::string error;
  if (resolve(endpoint.empty() ? "http://127.0.0.1:4566" : endpoint, out, &error)) return true;
  std::cerr << "ferry-bench: " << error << "\n";
  return false;
}

std::string authorization(std::string_view service) {
  return "AWS4-HMAC-SHA256 Credential=AKIAFERRYBENCH/20260101/us-east-1/" + std::string(service) +
         "/aws4_request, SignedHeaders=content-type;host;x-amz-date, "
         "Signature=0000000000000000000000000000000000000000000000000000000000000000";
}

constexpr size_t kLargeBody = 256 * 1024;

asio::awaitable<bool> Connection::call(Request& req, Response* res, std::string* error,
                                       std::chrono::seconds timeout) {
  if (!open_) {
    stream_.expires_after(std::chrono::seconds(10));
    auto [ec] = co_await stream_.async_connect(endpoint_.address, kNoThrow);
    if (ec) {
      *error = "connect: " + ec.message();
      stream_.close();
      co_return false;
    }
    stream_.socket().set_option(tcp::no_delay(true));
    open_ = true;
  }
  stream_.expires_after(timeout);
  // The head is written by hand and sent with the body in one gather write: Beast's serializer
  // cost more instructions per request than the rest of the client's request path.
  head_.clear();
  head_.append(req.method_string()).append(" ").append(req.target()).append(" HTTP/1.1\r\n");
  for (const auto& field : req.base()) {
    head_.append(field.name_string()).append(": ").append(field.value()).append("\r\n");
  }
  if (req.find(http::field::content_length) == req.end()) {
    head_.append("Content-Length: ").append(std::to_string(req.body().size())).append("\r\n");
  }
  head_.append("\r\n");
  const std::array<asio::const_buffer, 2> request{asio::buffer(head_), asio::buffer(req.body())};
  auto [wec, wn] = co_await asio::async_write(stream_, request, kNoThrow);
  if (wec) {
    *error = "write: " + wec.message();
    reset();
    co_return false;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(128u << 20);
  auto [hec, hn] = co_await http::async_read_header(stream_, buffer_, parser, kNoThrow);
  boost::system::error_code rec = hec;
  auto length = parser.content_length();
  if (!rec && !parser.is_done() && !parser.chunked() && length && *length >= kLargeBody &&
      *length <= (128u << 20)) {
    // A large fixed-length body (a GetRecords page is ~14 MB) goes straight into the message:
    // Beast's parser would read it 64 KiB at a time, arming the stream's timer for each read
    // and copying every byte once more, which made the client the reader's bottleneck.
    std::string body(*length, '\0');
    size_t have = std::min<size_t>(buffer_.size(), body.size());
    asio::buffer_copy(asio::buffer(body), buffer_.data(), have);
    buffer_.consume(have);
    auto [bec, bn] = co_await asio::async_read(
        stream_, asio::buffer(body.data() + have, body.size() - have), kNoThrow);
    rec = bec;
    if (!rec) {
      *res = parser.release();
      res->body() = std::move(body);
    }
  } else if (!rec) {
    auto [bec, bn] = co_await http::async_read(stream_, buffer_, parser, kNoThrow);
    rec = bec;
    if (!rec) *res = parser.release();
  }
  if (rec) {
    *error = "read: " + rec.message();
    reset();
    co_return false;
  }
  if (!res->keep_alive()) reset();
  unsigned status = res->result_int();
  if (status < 200 || status >= 300) {
    *error = "HTTP " + std::to_string(status) + ": " + res->body().substr(0, 300);
    co_return false;
  }
  co_return true;
}

void Connection::reset() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  buffer_.clear();
  open_ = false;
}

bool run_once(const Endpoint& ep, const std::function<asio::awaitable<bool>(Connection&)>& fn) {
  asio::io_context io;
  Connection conn(io.get_executor(), ep);
  bool ok = false;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { ok = co_await fn(conn); },
      [&](std::exception_ptr e) {
        if (e) ok = false;
      });
  io.run();
  return ok;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(d);
  co_await timer.async_wait(kNoThrow);
}

}  // namespace ferry::bench
