#pragma once
// Bridges callback-style completions (a store commit, an engine wake-up) into coroutines.
#include <boost/asio.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

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

// co_await run_on(executor, fn): runs fn() on `executor` and resumes the coroutine on its own
// executor with fn's result; runs fn() inline if `executor` is unset. For work that may wait
// for the disk (reads of data no longer in memory), which must not stall an I/O thread.
template <class Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&>> run_on(
    const std::optional<boost::asio::any_io_executor>& executor, Fn fn) {
  using T = std::invoke_result_t<Fn&>;
  if (!executor) co_return fn();
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> result;
  co_await wait_for_callback([&](std::function<void(bool)> done) {
    boost::asio::post(*executor, [&result, &fn, done = std::move(done)] {
      if constexpr (std::is_void_v<T>) {
        fn();
        result.emplace(true);
      } else {
        result.emplace(fn());
      }
      done(true);
    });
  });
  if constexpr (!std::is_void_v<T>) co_return std::move(*result);
}

}  // namespace ferry::aws
