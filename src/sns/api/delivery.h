#pragma once
// Makes the engine's pending deliveries: http/https posts, email and email-json mails through the
// configured SMTP relay, and sms/application posts to the configured gateway. A driver coroutine
// takes due deliveries from the engine and makes each from its own coroutine, so a slow or dead
// endpoint never delays the others; results go back to the engine, which schedules retries.
// https endpoints must present a certificate that chains to the system's trust store (or to
// DeliveryOptions::https_ca_file) and names their host, as on AWS; otherwise the attempt fails.
//
// Owned by SnsService. The driver runs on its own strand; wake() may be called from any thread.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <memory>
#include <mutex>
#include <string>

#include "sns/api/smtp_client.h"
#include "sns/engine/engine.h"

namespace ferry::sns {

struct DeliveryOptions {
  std::string smtp_relay;  // "host:port"; empty: email deliveries fail (and are retried)
  std::string smtp_from = "no-reply@sns.amazonaws.com";
  // PEM file of extra certificate authorities trusted for https endpoints, besides the system's
  // trust store; empty: the system's only.
  std::string https_ca_file;
  // The relay's TLS mode, CA file and credentials (its host and port come from smtp_relay).
  SmtpOptions smtp;
  // The TLS client context for https endpoints, made by prepare_delivery_tls(); without it the
  // deliverer makes its own when it starts.
  std::shared_ptr<boost::asio::ssl::context> https_tls;
};

// Makes the TLS contexts deliveries use, once: options->https_tls, and options->smtp's when a
// relay or its CA file is set (each loads the system's trust store, ~30 ms). "" on success, else
// why not (a CA file that does not load), which deliveries would otherwise only log.
std::string prepare_delivery_tls(DeliveryOptions* options);

class HttpDeliverer {
 public:
  explicit HttpDeliverer(Engine& engine, DeliveryOptions options = {});
  ~HttpDeliverer();

  // Starts the driver on `executor` (idempotent) and registers as the engine's listener.
  void start(boost::asio::any_io_executor executor);
  // Stops taking new deliveries; those in flight finish or are cut by the io_context stopping.
  void stop();

  struct State;

 private:
  Engine& engine_;
  DeliveryOptions options_;
  std::shared_ptr<State> state_;  // shared with the coroutines, which may outlive a call
};

}  // namespace ferry::sns
