#pragma once
// Bridges callback-style completions (a store commit, an engine wake-up) into coroutines.
#include <boost/asio.hpp>
#include <functional>
#include <memory>

namespace ferry::aws {

// co_await wait_for_callback(fn): calls fn(cb) with a callback that may be invoked once, from any
// thread, even before fn returns; resumes the coroutine on its own executor with cb's bool.
template <class Initiate>
boost::asio::awaitable<bool> wait_for_callback(Initiate&& initiate) {
  auto token = boost::asio::use_awaitable;
  return boost::asio::async_initiate<decltype(token), void(bool)>(
      [&initiate](auto handler) {
        auto executor = boost::asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        std::function<void(bool)> cb = [executor, shared](bool ok) {
          boost::asio::post(executor, [shared, ok]() mutable { (*shared)(ok); });
        };
        initiate(std::move(cb));
      },
      token);
}

}  // namespace ferry::aws
