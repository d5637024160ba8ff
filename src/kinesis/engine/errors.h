#pragma once
#include <string>

#include "base/result.h"

namespace ferry::kinesis {

// Engine-level failures; api/ maps each to the Kinesis error shape of the same name.
enum class Errc {
  kResourceNotFound,
  kResourceInUse,
  kInvalidArgument,
  kLimitExceeded,
  kExpiredIterator,
  kExpiredNextToken,
  kValidation,
  kThroughputExceeded,  // per-shard limits, when EngineOptions::enforce_throughput
  kInternal,            // storage failure
};

struct Error {
  Errc code;
  std::string message;
};

template <class T>
using Result = base::Result<T, Error>;

inline base::Unexpected<Error> error(Errc code, std::string message) {
  return {Error{code, std::move(message)}};
}

}  // namespace ferry::kinesis
