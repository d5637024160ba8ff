#include "sns/api/delivery.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <mutex>
#include <set>

#include "base/clock.h"
#include "base/log.h"
#include "sns/api/smtp_client.h"
#include "sns/api/tls_verify.h"

namespace ferry::sns {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::awaitable;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(15);
constexpr size_t kMaxTakenAtOnce = 64;
constexpr char kCaFileOption[] = "--sns-https-ca-file";  // named when its file does not load

}  // namespace

std::string prepare_delivery_tls(DeliveryOptions* options) {
  // AWS delivers only to https endpoints whose certificate chains to a trusted authority and
  // names the endpoint's host.
  auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  if (auto error = configure_peer_verification(*tls, options->https_ca_file, kCaFileOption);
      !error.empty()) {
    return error;
  }
  options->https_tls = std::move(tls);
  // Without a relay no mail is sent; a CA file named for it is still checked.
  if (options->smtp_relay.empty() && options->smtp.ca_file.empty()) {
    options->smtp.tls_context.reset();
    return {};
  }
  return prepare_smtp_tls(&options->smtp);
}

struct HttpDeliverer::State {
  Engine& engine;
  DeliveryOptions options;
  SmtpOptions smtp;
  bool smtp_ok = false;                          // the relay parsed
  std::atomic<bool> smtp_missing_logged{false};  // "no relay" is logged once
  asio::strand<asio::any_io_executor> strand;
  asio::steady_timer timer;
  std::atomic<bool> stopping{false};
  bool wake_pending = false;                // on the strand
  std::shared_ptr<asio::ssl::context> tls;  // for https endpoints
  std::mutex tls_logged_mu;
  std::set<std::string> tls_logged;  // subscriptions whose refused certificate was logged

  State(Engine& e, DeliveryOptions o, asio::any_io_executor ex)
      : engine(e), options(std::move(o)), strand(asio::make_strand(ex)), timer(strand) {
    smtp = options.smtp;  // TLS and credentials; parse_relay() sets the host and port
    if (!options.smtp_relay.empty()) {
      smtp_ok = parse_relay(options.smtp_relay, &smtp);
      if (!smtp_ok) spdlog::error("sns: --smtp-relay '{}' is not host:port", options.smtp_relay);
    }
    tls = options.https_tls;
    if (!tls) {  // not prepared by the caller
      if (auto error = prepare_delivery_tls(&options); !error.empty()) {
        spdlog::error("sns: {}", error);
      }
      tls = options.https_tls;
      smtp.tls_context = options.smtp.tls_context;
    }
  }

  // Logs a refused endpoint certificate once per subscription (each attempt fails the same way).
  void log_refused_certificate(const Delivery& d, const std::string& why) {
    const std::string& key = d.subscription_arn.empty() ? d.endpoint : d.subscription_arn;
    {
      std::lock_guard lock(tls_logged_mu);
      if (!tls_logged.insert(key).second) return;
    }
    spdlog::warn(
        "sns: https deliveries of {} fail and are retried per its delivery policy: {} (logged "
        "once per subscription; --sns-https-ca-file adds trusted certificate authorities)",
        key, why);
  }

  static void wake(const std::shared_ptr<State>& s) {
    asio::post(s->strand, [s] {
      s->wake_pending = true;
      s->timer.cancel();
    });
  }
};

namespace {

// How an attempt went: an empty failure is a success.
struct Attempt {
  Attempt(std::string why = {}) : failure(std::move(why)) {}
  Attempt(const char* why) : failure(why) {}
  Attempt(std::string why, bool permanent_failure)
      : failure(std::move(why)), permanent(permanent_failure) {}
  std::string failure;
  bool permanent = false;  // not to be retried
};

// Posts one delivery. An http/s endpoint's answer other than 2xx, 429 or 5xx is a permanent
// failure, as on AWS; the gateway (sms, application) is retried after any failure.
template <class Stream>
awaitable<Attempt> exchange(Stream& stream, const Delivery& d, const std::string& host,
                            const std::string& target) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, target.empty() ? "/" : target, 11};
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "Amazon Simple Notification Service Agent");
  bool gateway = d.protocol == "sms" || d.protocol == "application";
  req.set(bhttp::field::content_type, gateway ? "application/json" : "text/plain; charset=UTF-8");
  req.set("x-amz-sns-message-type", d.message_type);
  req.set("x-amz-sns-message-id", d.message_id);
  req.set("x-amz-sns-topic-arn", d.topic_arn);
  if (d.message_type == "Notification" && !d.subscription_arn.empty()) {
    req.set("x-amz-sns-subscription-arn", d.subscription_arn);
  }
  if (d.raw) req.set("x-amz-sns-rawdelivery", "true");
  req.body() = d.body;
  req.prepare_payload();
  co_await bhttp::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024);
  co_await bhttp::async_read(stream, buffer, parser, asio::use_awaitable);
  unsigned status = parser.get().result_int();
  if (status >= 200 && status < 300) co_return Attempt();
  const bool retryable = status == 429 || status >= 500 || gateway;
  co_return Attempt("HTTP " + std::to_string(status), !retryable);
}

awaitable<Attempt> post(std::shared_ptr<HttpDeliverer::State> state, const Delivery& d) {
  auto url = boost::urls::parse_uri(d.endpoint);
  if (!url) co_return "invalid endpoint URL";
  bool tls = url->scheme() == "https";
  std::string host = url->host_address();  // without an IPv6 address's brackets
  std::string port = url->has_port() ? std::string(url->port()) : (tls ? "443" : "80");
  std::string target = std::string(url->encoded_target());
  std::string host_header(url->encoded_host_and_port());
  auto ex = co_await asio::this_coro::executor;
  try {
    asio::ip::tcp::resolver resolver(ex);
    auto endpoints = co_await resolver.async_resolve(host, port, asio::use_awaitable);
    beast::tcp_stream tcp(ex);
    tcp.expires_after(kRequestTimeout);
    co_await tcp.async_connect(endpoints, asio::use_awaitable);
    if (!tls) co_return co_await exchange(tcp, d, host_header, target);
    if (!state->tls) co_return "no TLS context for https endpoints (see the start-up log)";
    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), *state->tls);
    if (auto e = expect_peer(stream.native_handle(), host); !e.empty()) co_return e;
    boost::system::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::client,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      std::string refused = refused_certificate(stream.native_handle(), host);
      if (refused.empty()) co_return "TLS handshake failed: " + ec.message();
      std::string why = "certificate of " + host + " refused: " + refused;
      state->log_refused_certificate(d, why);
      co_return why;
    }
    co_return co_await exchange(stream, d, host_header, target);
  } catch (const boost::system::system_error& e) {  // I/O errors end here, off the request path
    co_return e.code().message();
  }
}

awaitable<Attempt> mail(std::shared_ptr<HttpDeliverer::State> state, const Delivery& d) {
  if (!state->smtp_ok) {
    std::string why = state->options.smtp_relay.empty()
                          ? "no SMTP relay configured (--smtp-relay)"
                          : "invalid SMTP relay '" + state->options.smtp_relay + "'";
    if (!state->smtp_missing_logged.exchange(true)) {
      spdlog::warn("sns: email deliveries fail and are retried: {}", why);
    }
    co_return why;
  }
  MailMessage m;
  m.from = state->options.smtp_from;
  m.from_name = d.sender_name;
  m.to = d.endpoint;
  m.subject = d.subject;
  m.body = d.body;
  m.message_id = d.message_id;
  co_return co_await send_mail(state->smtp, std::move(m));
}

awaitable<void> deliver(std::shared_ptr<HttpDeliverer::State> state, Delivery d) {
  bool email = d.protocol == "email" || d.protocol == "email-json";
  Attempt attempt;
  if (email) {  // not a conditional expression: GCC 12 miscompiles co_await inside one
    attempt = co_await mail(state, d);
  } else {
    attempt = co_await post(state, d);
  }
  if (attempt.failure.empty()) {
    state->engine.delivery_succeeded(d.id);
  } else {
    spdlog::debug("sns delivery {} to {} failed (attempt {}{}): {}", d.message_id, d.endpoint,
                  d.attempts + 1, attempt.permanent ? ", permanently" : "", attempt.failure);
    state->engine.delivery_failed(d.id, attempt.failure, attempt.permanent);
  }
  HttpDeliverer::State::wake(state);
}

awaitable<void> drive(std::shared_ptr<HttpDeliverer::State> state) {
  while (!state->stopping) {
    state->wake_pending = false;
    // The engine's housekeeping shares this loop (and its wake-ups) rather than a timer of its
    // own: expired FIFO deduplication records of topics that get no more publishes.
    auto sweep = state->engine.sweep();
    auto due = state->engine.take_due_deliveries(kMaxTakenAtOnce);
    for (auto& d : due) {
      asio::co_spawn(state->strand.get_inner_executor(), deliver(state, std::move(d)),
                     asio::detached);
    }
    if (due.size() == kMaxTakenAtOnce) continue;
    auto next = state->engine.next_delivery_ms();
    if (sweep && (!next || *sweep < *next)) next = sweep;
    int64_t wait_ms = 3'600'000;
    if (next) {
      wait_ms = std::max<int64_t>(0, *next - base::SystemClock::instance().now_ms());
    }
    if (wait_ms == 0 || state->wake_pending) continue;
    state->timer.expires_after(std::chrono::milliseconds(wait_ms));
    boost::system::error_code ec;
    co_await state->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace

HttpDeliverer::HttpDeliverer(Engine& engine, DeliveryOptions options)
    : engine_(engine), options_(std::move(options)) {}

HttpDeliverer::~HttpDeliverer() {
  engine_.set_delivery_listener(nullptr);
  stop();
}

void HttpDeliverer::start(asio::any_io_executor executor) {
  if (state_) return;
  state_ = std::make_shared<State>(engine_, options_, executor);
  std::weak_ptr<State> weak = state_;
  engine_.set_delivery_listener([weak] {
    if (auto s = weak.lock()) State::wake(s);
  });
  asio::co_spawn(state_->strand, drive(state_), asio::detached);
}

void HttpDeliverer::stop() {
  if (!state_) return;
  state_->stopping = true;
  State::wake(state_);
}

}  // namespace ferry::sns
