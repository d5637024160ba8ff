#pragma once
// The HTTP side every AWS-protocol driver shares: resolving the endpoint, one keep-alive HTTP/1.1
// connection per worker coroutine (Boost.Beast), the fixed unsigned SigV4 credential, and running
// one set-up call to completion.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace ferry::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
inline constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

struct Endpoint {
  std::string host;  // for the Host header
  tcp::endpoint address;
};

// Parses and resolves an http:// endpoint URL.
bool resolve(const std::string& url, Endpoint* out, std::string* error);
// Resolves --endpoint (default http://127.0.0.1:4566); prints why and returns false if it can't.
bool resolve_endpoint(const std::string& endpoint, Endpoint* out);

// A SigV4 Authorization header for `service` (sqs, sns, kinesis) with a fixed key and a dummy
// signature: emulators that route by the credential scope (moto) see the right service, and none
// of the measured systems verifies signatures by default.
std::string authorization(std::string_view service);

// One keep-alive HTTP/1.1 connection; reconnects after an error. Owned by one worker coroutine
// and used only on its io_context's thread. Answers may be up to 128 MiB (GetRecords).
class Connection {
 public:
  Connection(asio::any_io_executor ex, const Endpoint& ep);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends req and reads the answer into *res. False on a transport error or a non-2xx status.
  // Only the status and the body of *res are set (its header fields are left out).
  asio::awaitable<bool> call(Request& req, Response* res, std::string* error,
                             std::chrono::seconds timeout = std::chrono::seconds(30));

 private:
  struct Deadline;
  void watch(std::chrono::seconds timeout);
  void reset();
  tcp::socket socket_;
  std::shared_ptr<Deadline> deadline_;
  beast::flat_buffer buffer_;
  std::string head_;  // the request head being written, reused
  const Endpoint& endpoint_;
  bool open_ = false;
};

// Runs one coroutine with its own connection to completion on a private io_context (set-up and
// tear-down calls). False if it returned false or threw.
bool run_once(const Endpoint& ep, const std::function<asio::awaitable<bool>(Connection&)>& fn);

// Sleeps on the calling coroutine's executor.
asio::awaitable<void> sleep_for(std::chrono::milliseconds d);

}  // namespace ferry::bench
