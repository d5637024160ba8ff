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
};

// Checks what start() would otherwise only log: that `options.https_ca_file`, if set, loads.
// Returns false and fills *error when it does not.
bool check_delivery_options(const DeliveryOptions& options, std::string* error);

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
