#pragma once
// Delivers SNS messages to http and https endpoints: a driver coroutine takes due deliveries
// from the engine and posts each from its own coroutine, so a slow or dead endpoint never delays
// the others; results go back to the engine, which schedules retries.
//
// Owned by SnsService. The driver runs on its own strand; wake() may be called from any thread.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <memory>
#include <mutex>

#include "sns/engine/engine.h"

namespace ferry::sns {

class HttpDeliverer {
 public:
  explicit HttpDeliverer(Engine& engine);
  ~HttpDeliverer();

  // Starts the driver on `executor` (idempotent) and registers as the engine's listener.
  void start(boost::asio::any_io_executor executor);
  // Stops taking new deliveries; those in flight finish or are cut by the io_context stopping.
  void stop();

  struct State;

 private:
  Engine& engine_;
  std::shared_ptr<State> state_;  // shared with the coroutines, which may outlive a call
};

}  // namespace ferry::sns
