#pragma once
// Errors of the pattern engine, as values.
#include <string>

#include "base/result.h"

namespace ferry::pattern {

enum class Errc {
  kInvalidPattern,  // malformed, unsupported or over a limit; `message` says which, as AWS does
  kDuplicateId,     // add() with an id that is already present
};

// `message` is AWS's text for the pattern's dialect:
//   EventBridge: "Event pattern is not valid. Reason: ..." (InvalidEventPatternException);
//   SNS: "FilterPolicy: ..." or "Filter policy scope ..."; the SNS API prepends
//        "Invalid parameter: " (or "Invalid parameter: Attributes Reason: " on Subscribe).
using Error = base::CodedError<Errc>;
template <class T>
using Result = base::Result<T, Error>;
using base::error;

}  // namespace ferry::pattern
