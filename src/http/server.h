#pragma once
// HTTP/1.1 server on Boost.Beast: one coroutine per connection with keep-alive, header and body
// size limits, read timeouts and graceful shutdown.
//
// Ownership and threads: the Server is owned by main() and outlives the io_context's threads.
// Every connection runs as a coroutine on its own strand of the io_context; the handler is
// invoked on that strand and may suspend (long polling, waiting for a durable commit).
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace ferry::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using Request = beast::http::request<beast::http::string_body>;
using Response = beast::http::response<beast::http::string_body>;

struct PeerInfo {
  std::string address;
};

using Handler = std::function<asio::awaitable<Response>(Request&, const PeerInfo&)>;

struct ServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 4566;
  uint32_t header_limit_bytes = 64 * 1024;
  uint64_t body_limit_bytes = 16 * 1024 * 1024;
  // Time allowed to receive one whole request once its first byte may arrive.
  std::chrono::seconds read_timeout{60};
  // Time a keep-alive connection may sit idle between requests.
  std::chrono::seconds idle_timeout{120};
};

class Server {
 public:
  Server(asio::io_context& io, ServerOptions options, Handler handler);
  ~Server();

  // Binds and starts accepting. Returns false and fills *error on failure.
  bool start(std::string* error);
  uint16_t port() const { return port_; }

  // Stops accepting and closes idle connections; a connection busy with a request finishes it,
  // answers with `Connection: close` and then closes. Call from any thread.
  void stop();
  // True once stop() was called and every connection has closed.
  bool drained() const { return stopping_ && active_ == 0; }
  // Called (on some io thread) when the server has drained after stop().
  void on_drained(std::function<void()> fn) { on_drained_ = std::move(fn); }

 private:
  struct Connection;
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<Connection> conn);
  void connection_closed(const std::shared_ptr<Connection>& conn);

  asio::io_context& io_;
  ServerOptions options_;
  Handler handler_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  std::mutex mu_;
  std::set<std::shared_ptr<Connection>> connections_;
  std::function<void()> on_drained_;
};

Response make_response(const Request& req, beast::http::status status, std::string content_type,
                       std::string body);

}  // namespace ferry::http
