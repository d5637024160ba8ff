#pragma once
// HTTP/1.1 server on Boost.Beast, and HTTP/2 over cleartext (h2c with prior knowledge, on the same
// port, see http2_session.h): one coroutine per connection with keep-alive, header and body size
// limits, read timeouts, streamed responses and graceful shutdown.
//
// Ownership and threads: the Server is owned by main() and outlives the io_contexts' threads.
// Every connection runs as a coroutine on one of the contexts it was given, each run by one
// thread, so it needs no strand; the handler is invoked there and may suspend (long polling,
// waiting for a durable commit).
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
#include <vector>

namespace ferry::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using Request = beast::http::request<beast::http::string_body>;
using Response = beast::http::response<beast::http::string_body>;

struct PeerInfo {
  std::string address;
};

// The body of a streamed response (AWS event streams), written piece by piece after the head:
// HTTP/1.1 chunks, or HTTP/2 DATA frames. Used on the connection's strand only, one write at a
// time.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  // Sends `bytes`; false once the peer has gone or the write failed or timed out (stop then).
  virtual asio::awaitable<bool> write(std::string bytes) = 0;
  // True once the stream should end: the server is shutting down or the peer went away.
  bool cancelled() const { return cancelled_; }
  // `fn` runs on the strand when the stream is cancelled, to wake a producer that waits.
  void on_cancel(std::function<void()> fn) { on_cancel_ = std::move(fn); }
  void cancel() {
    if (cancelled_) return;
    cancelled_ = true;
    if (on_cancel_) on_cancel_();
  }

 private:
  bool cancelled_ = false;
  std::function<void()> on_cancel_;
};

// Writes a streamed body; the response ends when it returns.
using BodyProducer = std::function<asio::awaitable<void>(BodyWriter&)>;

// What a handler answers: a whole response, or a head and a body producer.
struct Reply {
  Reply(Response r) : response(std::move(r)) {}  // NOLINT(google-explicit-constructor)
  Reply(Response head, BodyProducer producer)
      : response(std::move(head)), stream(std::move(producer)) {}
  Response response;
  // When set, `response` is only the head (its body is ignored) and `stream` writes the body:
  // HTTP/1.1 with chunked transfer encoding, then the connection closes; HTTP/2 as DATA frames.
  BodyProducer stream;
};

using Handler = std::function<asio::awaitable<Reply>(Request&, const PeerInfo&)>;

struct ServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 4566;
  uint32_t header_limit_bytes = 64 * 1024;
  uint64_t body_limit_bytes = 16 * 1024 * 1024;
  // Time allowed to receive one whole request once its first byte may arrive.
  std::chrono::seconds read_timeout{60};
  // Time a keep-alive connection may sit idle between requests.
  std::chrono::seconds idle_timeout{120};
  // Time one write of a response (or of a piece of a streamed one) may take.
  std::chrono::seconds write_timeout{60};
  // HTTP/2 (h2c): streams one connection may have open at once.
  uint32_t max_concurrent_streams = 100;
};

class Server {
 public:
  // `contexts`: one per I/O thread, each run by that thread alone; connections are handed out
  // to them in turn, and the first also runs the listener. A context run by one thread needs no
  // strand, whose mutex and shared_ptr copies (in every copy of its executor) were several
  // percent of a small request's CPU.
  Server(std::vector<asio::io_context*> contexts, ServerOptions options, Handler handler);
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
  asio::awaitable<void> stream_body(std::shared_ptr<Connection> conn, Reply& reply);
  asio::awaitable<void> serve_http2(std::shared_ptr<Connection> conn, PeerInfo peer,
                                    beast::flat_buffer& buffer, Request* upgraded);
  void connection_closed(const std::shared_ptr<Connection>& conn);

  const std::vector<asio::io_context*> contexts_;
  size_t next_context_ = 0;  // the accept loop's alone
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
