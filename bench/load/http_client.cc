#include "http_client.h"

#include <array>
#include <boost/url/parse.hpp>
#include <charconv>
#include <iostream>

#include "bench.h"

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
constexpr size_t kBodyLimit = 128u << 20;

namespace {

// Reads an answer's status and body into a Response, leaving its header fields out: the drivers
// use neither, and Beast's response_parser allocates each field, and a new body, per answer.
// The body string keeps its capacity from one answer to the next.
class AnswerParser : public http::basic_parser<false> {
 public:
  explicit AnswerParser(Response& res) : res_(res) {
    res_.body().clear();
    body_limit(kBodyLimit);
  }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int version, beast::error_code&) override {
    res_.result(static_cast<unsigned>(code));
    res_.version(version);
  }
  void on_field_impl(http::field, beast::string_view, beast::string_view,
                     beast::error_code&) override {}
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>& length, beast::error_code&) override {
    if (length) res_.body().reserve(*length);
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    res_.body().append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view body, beast::error_code&) override {
    res_.body().append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  Response& res_;
};

}  // namespace

// Calls time out with one timer per connection, armed about once per timeout rather than per
// call: a call only moves the deadline, and the timer, when it fires, closes the socket if the
// call in progress is past its deadline, or waits for that deadline. (beast::tcp_stream armed
// and cancelled a timer for every read and write, a tenth of the client's instructions.) Shared
// with the timer's handler, which may run after the Connection is gone.
struct Connection::Deadline {
  explicit Deadline(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  Clock::time_point at = Clock::time_point::max();      // of the call in progress, if any
  Clock::time_point expiry = Clock::time_point::max();  // of the timer's wait, if any
  tcp::socket* socket = nullptr;                        // null once the Connection is gone
  bool expired = false;  // closed the socket under the call in progress

  // Sets the call's deadline; the timer is armed again only if it would fire too late.
  static void set(const std::shared_ptr<Deadline>& d, Clock::time_point at) {
    d->at = at;
    if (at >= d->expiry) return;
    d->expiry = at;
    d->timer.expires_at(at);  // cancels the wait for a later expiry, if any
    d->timer.async_wait([d](boost::system::error_code ec) {
      // A wait cancelled (replaced, or the Connection gone), or one that completed before the
      // expiry moved: another wait is pending, or none is needed.
      if (ec || !d->socket || Clock::now() < d->expiry) return;
      d->expiry = Clock::time_point::max();
      if (d->at == Clock::time_point::max()) return;  // no call in progress
      if (Clock::now() < d->at) {
        set(d, d->at);  // a later call's deadline
        return;
      }
      d->expired = true;
      boost::system::error_code ignored;
      d->socket->close(ignored);
    });
  }
};

Connection::Connection(asio::any_io_executor ex, const Endpoint& ep)
    : socket_(ex), deadline_(std::make_shared<Deadline>(ex)), endpoint_(ep) {
  deadline_->socket = &socket_;
}

Connection::~Connection() {
  deadline_->socket = nullptr;
  deadline_->timer.cancel();
}

void Connection::watch(std::chrono::seconds timeout) {
  deadline_->expired = false;
  Deadline::set(deadline_, Clock::now() + timeout);
}

asio::awaitable<bool> Connection::call(Request& req, Response* res, std::string* error,
                                       std::chrono::seconds timeout) {
  // Ends the call's deadline however the call ends.
  struct Unwatch {
    Deadline& d;
    ~Unwatch() { d.at = Clock::time_point::max(); }
  } unwatch{*deadline_};
  // An error, or beast's timeout error if the deadline closed the socket.
  auto failure = [this](boost::system::error_code ec) {
    return deadline_->expired ? make_error_code(beast::error::timeout) : ec;
  };
  if (!open_) {
    watch(std::chrono::seconds(10));
    auto [ec] = co_await socket_.async_connect(endpoint_.address, kNoThrow);
    if (ec) {
      *error = "connect: " + failure(ec).message();
      reset();
      co_return false;
    }
    socket_.set_option(tcp::no_delay(true));
    open_ = true;
  }
  watch(timeout);
  // The head is written by hand and sent with the body in one gather write: Beast's serializer
  // cost more instructions per request than the rest of the client's request path.
  // The Content-Length is always the body's, so a wire need not call prepare_payload() (whose
  // set() allocates a field) for each request.
  head_.clear();
  head_.append(req.method_string()).append(" ").append(req.target()).append(" HTTP/1.1\r\n");
  for (const auto& field : req.base()) {
    if (field.name() == http::field::content_length) continue;
    head_.append(field.name_string()).append(": ").append(field.value()).append("\r\n");
  }
  char digits[24];
  head_.append("Content-Length: ")
      .append(digits, std::to_chars(digits, digits + sizeof digits, req.body().size()).ptr)
      .append("\r\n\r\n");
  const std::array<asio::const_buffer, 2> request{asio::buffer(head_), asio::buffer(req.body())};
  auto [wec, wn] = co_await asio::async_write(socket_, request, kNoThrow);
  if (wec) {
    *error = "write: " + failure(wec).message();
    reset();
    co_return false;
  }
  AnswerParser parser(*res);
  // Eager: an answer that arrives whole with its header (most do) is parsed by the header's
  // read, without a second read operation.
  parser.eager(true);
  auto [hec, hn] = co_await http::async_read_header(socket_, buffer_, parser, kNoThrow);
  boost::system::error_code rec = hec;
  auto length = rec ? boost::none : parser.content_length();
  if (!rec && !parser.is_done() && !parser.chunked() && length && *length >= kLargeBody &&
      *length <= kBodyLimit) {
    // A large fixed-length body (a GetRecords page is ~14 MB) goes straight into the message:
    // Beast's parser would read it 64 KiB at a time, copying every byte once more, which made
    // the client the reader's bottleneck.
    std::string& body = res->body();
    size_t have = body.size();  // parsed with the header
    body.resize(*length);
    size_t buffered = std::min<size_t>(buffer_.size(), body.size() - have);
    asio::buffer_copy(asio::buffer(body.data() + have, buffered), buffer_.data());
    buffer_.consume(buffered);
    have += buffered;
    auto [bec, bn] = co_await asio::async_read(
        socket_, asio::buffer(body.data() + have, body.size() - have), kNoThrow);
    rec = bec;
  } else if (!rec && !parser.is_done()) {
    auto [bec, bn] = co_await http::async_read(socket_, buffer_, parser, kNoThrow);
    rec = bec;
  }
  if (rec) {
    *error = "read: " + failure(rec).message();
    reset();
    co_return false;
  }
  if (!parser.keep_alive()) reset();
  unsigned status = res->result_int();
  if (status < 200 || status >= 300) {
    *error = "HTTP " + std::to_string(status) + ": " + res->body().substr(0, 300);
    co_return false;
  }
  co_return true;
}

void Connection::reset() {
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  buffer_.clear();
  open_ = false;
}

bool run_once(const Endpoint& ep, const std::function<asio::awaitable<bool>(Connection&)>& fn) {
  asio::io_context io;
  bool ok = false;
  // The connection lives in the coroutine, so that its deadline timer is gone when it returns.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Connection conn(co_await asio::this_coro::executor, ep);
        ok = co_await fn(conn);
      },
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
