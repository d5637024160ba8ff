#include "http/server.h"

#include <array>
#include <optional>

#include "base/buffer_pool.h"
#include "base/log.h"
#include "http/http2_session.h"

namespace ferry::http {

namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Server::Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  // True while a request is being handled: stop() must not cut such a connection.
  bool busy = false;
  // Set while a streamed response is being written: stop() cancels it.
  BodyWriter* streaming = nullptr;
  // Set while the connection speaks HTTP/2: stop() calls it (GOAWAY, cancel streams).
  std::function<void()> on_stop;
};

namespace {

// A request body read into a std::string by appending. Beast's string_body resizes the string
// (zero-filling it) before copying each piece in: a second pass over every body byte.
struct AppendStringBody {
  using value_type = std::string;

  static std::uint64_t size(const value_type& body) { return body.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(bhttp::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      ec = {};
      if (length) body_.reserve(static_cast<size_t>(*length));  // the parser enforces the limit
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      ec = {};
      std::size_t n = 0;
      for (auto it = boost::asio::buffer_sequence_begin(buffers);
           it != boost::asio::buffer_sequence_end(buffers); ++it) {
        const boost::asio::const_buffer piece = *it;
        body_.append(static_cast<const char*>(piece.data()), piece.size());
        n += piece.size();
      }
      return n;
    }

    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

// The status line and header block of `res`, as Beast's serializer would write them, into
// `out`. Writing it by hand costs a tenth of the serializer's buffer-sequence machinery, which
// was ~6% of a small request's instructions.
void append_head(const Response& res, std::string& out) {
  out.clear();
  out += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  const unsigned status = res.result_int();
  out += static_cast<char>('0' + status / 100 % 10);
  out += static_cast<char>('0' + status / 10 % 10);
  out += static_cast<char>('0' + status % 10);
  out += ' ';
  out += res.reason();
  out += "\r\n";
  bool has_length = false;
  for (const auto& field : res) {
    has_length |= field.name() == bhttp::field::content_length;
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  const bool bodiless = status < 200 || status == 204 || status == 304;  // RFC 9110 8.6
  if (!has_length && !res.chunked() && !bodiless) {
    out += "Content-Length: ";
    out += std::to_string(res.body().size());
    out += "\r\n";
  }
  out += "\r\n";
}

// An answer on the wire: its head and its body, less what was written.
using AnswerBuffers = beast::buffers_suffix<std::array<asio::const_buffer, 2>>;

// Writes as much of `rest` as the socket takes now, without blocking, consuming it. ec is set
// only by a real error; a full send buffer just stops early.
void write_without_blocking(tcp::socket& socket, AnswerBuffers& rest,
                            boost::system::error_code& ec) {
  if (!socket.non_blocking()) socket.non_blocking(true, ec);  // one ioctl per connection
  while (!ec && asio::buffer_size(rest) > 0) {
    const size_t n = socket.write_some(rest, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      ec = {};
      return;
    }
    rest.consume(n);
  }
}

// A streamed HTTP/1.1 body: one chunk per write.
class ChunkWriter final : public BodyWriter {
 public:
  ChunkWriter(beast::tcp_stream& stream, std::chrono::seconds timeout)
      : stream_(stream), timeout_(timeout) {}
  asio::awaitable<bool> write(std::string bytes) override {
    if (failed_ || bytes.empty()) co_return !failed_;
    stream_.expires_after(timeout_);
    auto [ec, n] =
        co_await asio::async_write(stream_, bhttp::make_chunk(asio::buffer(bytes)), use_tuple);
    stream_.expires_never();
    if (ec) {
      failed_ = true;
      cancel();
    }
    co_return !failed_;
  }
  void fail() {
    failed_ = true;
    cancel();
  }
  asio::awaitable<void> finish() {
    if (failed_) co_return;
    stream_.expires_after(timeout_);
    co_await asio::async_write(stream_, bhttp::make_chunk_last(), use_tuple);
    stream_.expires_never();
  }

 private:
  beast::tcp_stream& stream_;
  std::chrono::seconds timeout_;
  bool failed_ = false;
};

constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

}  // namespace

Response make_response(const Request& req, bhttp::status status, std::string content_type,
                       std::string body) {
  Response res{status, req.version()};
  res.set(bhttp::field::server, "ferry");
  if (!content_type.empty()) res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

namespace {

// Answers a request that will not be served; the caller then closes the connection.
asio::awaitable<void> refuse(beast::tcp_stream& stream, unsigned version, bhttp::status status,
                             std::string text) {
  Request request;
  request.version(version);
  auto res = make_response(request, status, "text/plain", std::move(text));
  res.keep_alive(false);
  co_await bhttp::async_write(stream, res, use_tuple);
}

}  // namespace

Server::Server(std::vector<asio::io_context*> contexts, ServerOptions options, Handler handler)
    : contexts_(std::move(contexts)),
      options_(std::move(options)),
      handler_(std::move(handler)),
      acceptor_(*contexts_.at(0)) {}

Server::~Server() = default;

bool Server::start(std::string* error) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options_.host, ec);
  if (ec) {
    *error = "invalid listen address '" + options_.host + "': " + ec.message();
    return false;
  }
  tcp::endpoint endpoint{address, options_.port};
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = "cannot listen on " + options_.host + ":" + std::to_string(options_.port) + ": " +
             ec.message();
    return false;
  }
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
  return true;
}

asio::awaitable<void> Server::accept_loop() {
  for (;;) {
    auto& context = *contexts_[next_context_++ % contexts_.size()];
    auto [ec, socket] = co_await acceptor_.async_accept(context, use_tuple);
    if (stopping_) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<Connection>(std::move(socket));
    {
      std::lock_guard lock(mu_);
      connections_.insert(conn);
    }
    ++active_;
    auto executor = conn->stream.get_executor();
    asio::co_spawn(executor, serve(conn), [this, conn](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("connection failed: {}", ex.what());
        }
      }
      connection_closed(conn);
    });
  }
}

void Server::connection_closed(const std::shared_ptr<Connection>& conn) {
  {
    std::lock_guard lock(mu_);
    connections_.erase(conn);
  }
  if (--active_ == 0 && stopping_ && on_drained_) on_drained_();
}

asio::awaitable<void> Server::serve(std::shared_ptr<Connection> conn) {
  auto& stream = conn->stream;
  beast::flat_buffer buffer;
  PeerInfo peer;
  {
    boost::system::error_code ec;
    auto ep = stream.socket().remote_endpoint(ec);
    if (!ec) peer.address = ep.address().to_string();
  }
  // HTTP/2 with prior knowledge starts with its connection preface; anything else is HTTP/1.1.
  stream.expires_after(options_.idle_timeout);
  while (buffer.size() < kHttp2Preface.size()) {
    std::string_view seen(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (seen != kHttp2Preface.substr(0, seen.size())) break;
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), use_tuple);
    if (ec) break;
    buffer.commit(n);
  }
  if (std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size())
          .starts_with(kHttp2Preface)) {
    co_await serve_http2(conn, peer, buffer, nullptr);
    co_return;
  }
  std::string head;  // an answer's status line and header block, reused
  while (!stopping_) {
    bhttp::request_parser<AppendStringBody> parser;
    parser.header_limit(options_.header_limit_bytes);
    parser.body_limit(options_.body_limit_bytes);

    stream.expires_after(options_.idle_timeout);
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, use_tuple);
    if (ec) {
      // A request that cannot be parsed gets an answer before the connection is dropped;
      // closed and timed-out connections are just dropped.
      std::optional<bhttp::status> status;
      if (ec == bhttp::error::header_limit) {
        status = bhttp::status::request_header_fields_too_large;
      } else if (ec == bhttp::error::body_limit) {  // a Content-Length over the limit
        status = bhttp::status::payload_too_large;
      } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
                 ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
        status = bhttp::status::bad_request;
      }
      if (status) co_await refuse(stream, 11, *status, "malformed HTTP request\n");
      break;
    }
    conn->busy = true;
    // The body usually came in with the header: parse what the buffer holds first, and read
    // (arming the timer, another trip through the scheduler) only if more is due.
    parser.eager(true);
    if (buffer.size() > 0) {
      buffer.consume(parser.put(buffer.data(), ec));
      if (ec == bhttp::error::need_more) ec = {};
    }
    if (!ec && !parser.is_done()) {
      // A client that asked to be told to go on waits for that before its body; one whose body
      // is here already need not be told (RFC 9110, 10.1.1), which spares most requests a
      // look-up among the fields.
      if (parser.get()[bhttp::field::expect] == "100-continue") {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
        co_await bhttp::async_write(stream, cont, use_tuple);
      }
      stream.expires_after(options_.read_timeout);
      std::tie(ec, n) = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
    }
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        co_await refuse(stream, parser.get().version(), bhttp::status::payload_too_large,
                        "request body too large\n");
      }
      break;
    }
    stream.expires_never();
    auto parsed = parser.release();
    Request req(std::move(parsed.base()), std::move(parsed.body()));
    // HTTP/1.1 `Upgrade: h2c`: 101, then this request is HTTP/2 stream 1.
    if (!stopping_ && beast::iequals(req[bhttp::field::upgrade], "h2c") &&
        req.find("HTTP2-Settings") != req.end()) {
      static constexpr std::string_view kSwitching =
          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
      stream.expires_after(options_.write_timeout);
      std::tie(ec, n) = co_await asio::async_write(stream, asio::buffer(kSwitching), use_tuple);
      if (ec) break;
      co_await serve_http2(conn, peer, buffer, &req);
      co_return;
    }
    Reply reply = co_await handler_(req, peer);
    Response& res = reply.response;
    if (stopping_) res.keep_alive(false);
    if (reply.stream) {
      co_await stream_body(conn, reply);
      conn->busy = false;
      break;
    }
    {
      // Most answers fit in the socket's send buffer: written at once, they skip the async
      // write's timer and trip through the scheduler, which finishes only what remains.
      append_head(res, head);
      AnswerBuffers rest(
          std::array<asio::const_buffer, 2>{asio::buffer(head), asio::buffer(res.body())});
      write_without_blocking(stream.socket(), rest, ec);
      if (!ec && asio::buffer_size(rest) > 0) {
        stream.expires_after(options_.write_timeout);
        std::tie(ec, n) = co_await asio::async_write(stream, rest, use_tuple);
      }
    }
    base::give_back_buffer(std::move(res.body()));  // big answers' memory serves the next one
    conn->busy = false;
    if (ec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
}

// Hands the connection to an Http2Session until it is over; `upgraded` is the HTTP/1.1 request
// that asked for `Upgrade: h2c`, answered as stream 1.
asio::awaitable<void> Server::serve_http2(std::shared_ptr<Connection> conn, PeerInfo peer,
                                          beast::flat_buffer& buffer, Request* upgraded) {
  auto& stream = conn->stream;
  stream.expires_never();
  Http2Limits limits{options_.header_limit_bytes, options_.body_limit_bytes, options_.idle_timeout,
                     options_.write_timeout, options_.max_concurrent_streams};
  auto session = std::make_shared<Http2Session>(stream, handler_, std::move(peer), limits);
  bool ok = upgraded == nullptr || session->upgrade(std::move(*upgraded));
  if (ok) {
    conn->on_stop = [session] { session->stop(); };
    if (stopping_) session->stop();
    co_await session->run(buffer);
    conn->on_stop = nullptr;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
}

// Writes a streamed answer: the head with chunked transfer encoding, the producer's pieces as
// chunks, the last chunk. The connection then closes. While it streams, a read on the socket
// notices the peer leaving (or sending anything) and cancels the stream.
asio::awaitable<void> Server::stream_body(std::shared_ptr<Connection> conn, Reply& reply) {
  auto& stream = conn->stream;
  Response& res = reply.response;
  res.keep_alive(false);
  res.chunked(true);
  res.body().clear();
  bhttp::response_serializer<bhttp::string_body> head(res);
  stream.expires_after(options_.write_timeout);
  auto [ec, n] = co_await bhttp::async_write_header(stream, head, use_tuple);
  stream.expires_never();
  ChunkWriter writer(stream, options_.write_timeout);
  if (ec) {
    writer.fail();  // the producer still runs, to release what it holds
    co_await reply.stream(writer);
    co_return;
  }
  conn->streaming = &writer;
  if (stopping_) writer.cancel();
  struct Watch {
    std::array<char, 512> bytes;
    BodyWriter* writer;  // null once the stream is over
  };
  auto watch = std::make_shared<Watch>(Watch{{}, &writer});
  stream.socket().async_read_some(asio::buffer(watch->bytes),
                                  [watch](boost::system::error_code, size_t) {
                                    if (watch->writer != nullptr) watch->writer->cancel();
                                  });
  co_await reply.stream(writer);
  watch->writer = nullptr;
  conn->streaming = nullptr;
  co_await writer.finish();
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.socket().cancel(ignored);  // completes the watching read
}

void Server::stop() {
  if (stopping_.exchange(true)) return;
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  std::lock_guard lock(mu_);
  for (const auto& conn : connections_) {
    // Idle connections are waiting for a request that will not be served: cut them. Busy ones
    // finish their request and leave the loop because stopping_ is set.
    asio::post(conn->stream.get_executor(), [conn] {
      boost::system::error_code ignored;  // the socket may be closed already
      if (conn->on_stop) {
        conn->on_stop();
      } else if (conn->streaming != nullptr) {
        conn->streaming->cancel();
      } else if (!conn->busy) {
        conn->stream.socket().cancel(ignored);
      }
    });
  }
  if (active_ == 0 && on_drained_) asio::post(acceptor_.get_executor(), on_drained_);
}

}  // namespace ferry::http
