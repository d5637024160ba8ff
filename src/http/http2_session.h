#pragma once
// One HTTP/2 connection over cleartext (h2c: prior knowledge or HTTP/1.1 `Upgrade: h2c`), served
// with nghttp2. Every
// request goes through the same Handler as HTTP/1.1; streamed replies become DATA frames.
//
// Ownership and threads: created by Server::serve for a connection whose first bytes are the
// HTTP/2 preface; shared (shared_ptr) between the connection's coroutine and one coroutine per
// request, because a request's handler may finish after the connection's read loop. Everything
// runs on the connection's strand.
//
// Limits: at most `max_concurrent_streams` open streams (SETTINGS), header lists of at most
// `header_limit_bytes` (the stream is reset beyond), bodies of at most `body_limit_bytes` (413),
// the connection closes after `idle_timeout` without open streams, and a write of the output
// waits at most `write_timeout`.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <chrono>
#include <map>
#include <memory>

#include "http/server.h"

struct nghttp2_session;

namespace ferry::http {

struct Http2Limits {
  uint32_t header_limit_bytes = 64 * 1024;
  uint64_t body_limit_bytes = 16 * 1024 * 1024;
  std::chrono::seconds idle_timeout{120};
  std::chrono::seconds write_timeout{60};
  uint32_t max_concurrent_streams = 100;
};

class Http2Session : public std::enable_shared_from_this<Http2Session> {
 public:
  Http2Session(beast::tcp_stream& stream, const Handler& handler, PeerInfo peer,
               Http2Limits limits);
  ~Http2Session();
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  // Serves the connection; `buffer` holds the bytes read so far (the preface at least). Returns
  // once the connection is over and every request's handler has finished.
  asio::awaitable<void> run(beast::flat_buffer& buffer);
  // HTTP/1.1 `Upgrade: h2c` (after the 101 went out, before run()): `req` becomes stream 1 and
  // its HTTP2-Settings header the client's settings. False if that header is invalid.
  bool upgrade(Request req);
  // Graceful shutdown: GOAWAY, no new streams; requests in flight finish, streamed replies are
  // cancelled (their producers end them).
  void stop();

  struct Stream;

 private:
  friend struct Callbacks;
  void kick();  // wakes the writer
  asio::awaitable<void> write_loop();
  asio::awaitable<void> handle(int32_t id);
  void request_done(int32_t id);

  beast::tcp_stream& stream_;
  const Handler& handler_;
  PeerInfo peer_;
  Http2Limits limits_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  int handlers_ = 0;  // request coroutines still running
  bool closed_ = false;
  bool stopping_ = false;
  asio::steady_timer write_signal_;
  asio::steady_timer done_signal_;  // handlers_ reached 0 / writer finished
  bool writer_running_ = false;
};

}  // namespace ferry::http
