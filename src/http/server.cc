#include "http/server.h"

#include <optional>

#include "base/log.h"

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
};

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

Server::Server(asio::io_context& io, ServerOptions options, Handler handler)
    : io_(io), options_(std::move(options)), handler_(std::move(handler)), acceptor_(io) {}

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
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_), use_tuple);
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
  while (!stopping_) {
    bhttp::request_parser<bhttp::string_body> parser;
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
      if (status) {
        Request dummy;
        dummy.version(11);
        auto res = make_response(dummy, *status, "text/plain", "malformed HTTP request\n");
        res.keep_alive(false);
        co_await bhttp::async_write(stream, res, use_tuple);
      }
      break;
    }
    conn->busy = true;
    if (parser.get()[bhttp::field::expect] == "100-continue") {
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
      co_await bhttp::async_write(stream, cont, use_tuple);
    }
    stream.expires_after(options_.read_timeout);
    std::tie(ec, n) = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        auto res = make_response(parser.get(), bhttp::status::payload_too_large, "text/plain",
                                 "request body too large\n");
        res.keep_alive(false);
        co_await bhttp::async_write(stream, res, use_tuple);
      }
      break;
    }
    stream.expires_never();
    Request req = parser.release();
    Response res = co_await handler_(req, peer);
    if (stopping_) res.keep_alive(false);
    stream.expires_after(options_.read_timeout);
    std::tie(ec, n) = co_await bhttp::async_write(stream, res, use_tuple);
    conn->busy = false;
    if (ec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
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
      if (!conn->busy) conn->stream.socket().cancel(ignored);
    });
  }
  if (active_ == 0 && on_drained_) asio::post(io_, on_drained_);
}

}  // namespace ferry::http
