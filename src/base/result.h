#pragma once
// Result<T, E>: a value or an error, for the request path where exceptions are not used.
#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace ferry::base {

template <class E>
struct Unexpected {
  E error;
};
template <class E>
Unexpected<std::decay_t<E>> fail(E&& e) {
  return {std::forward<E>(e)};
}

template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  template <class G>
  Result(Unexpected<G> u) : v_(std::in_place_index<1>, E(std::move(u.error))) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const E& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  E&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, E> v_;
};

// Result of an operation that produces no value.
struct Ok {};

// A subsystem's error: a value of its own error enum, and the message that goes on the wire.
// Each subsystem declares `using Error = base::CodedError<Errc>` and `Result<T>` over it.
// Declared in a namespace of its own so that argument-dependent lookup on an Error does not pull
// in base::fail over a subsystem's own fail() overloads.
namespace coded {
template <class Code>
struct CodedError {
  Code code;
  std::string message;
};
}  // namespace coded
using coded::CodedError;

template <class Code>
Unexpected<CodedError<Code>> error(Code code, std::string message) {
  return {CodedError<Code>{code, std::move(message)}};
}

}  // namespace ferry::base
