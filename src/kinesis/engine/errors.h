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

using Error = base::CodedError<Errc>;
template <class T>
using Result = base::Result<T, Error>;
using base::error;

}  // namespace ferry::kinesis
