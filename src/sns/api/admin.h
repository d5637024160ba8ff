#pragma once
// Ferry's own SNS admin routes, served by server/ next to /health:
//   GET    /_ferry/sns/outbox[?phone=<E.164>][&endpoint=<endpoint ARN>]  the SMS and mobile push
//          outbox, oldest first, with the delivery counters
//   DELETE /_ferry/sns/outbox                                             empties it
//   GET    /_ferry/sns/stats                                              the delivery counters
// Runs on the calling connection's strand; suspends only while a DELETE is being synced.
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "sns/engine/engine.h"

namespace ferry::sns {

struct AdminAnswer {
  int status = 200;
  std::string body;  // JSON
};

// nullopt when `target` is not one of the routes above.
boost::asio::awaitable<std::optional<AdminAnswer>> handle_admin(Engine& engine,
                                                                std::string_view method,
                                                                std::string_view target);

}  // namespace ferry::sns
