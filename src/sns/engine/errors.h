#pragma once
#include <string>

#include "base/result.h"

namespace ferry::sns {

// Engine-level failures. api/ maps each to SNS's Query error code and HTTP status.
enum class Errc {
  kNotFound,               // topic or subscription (NotFound, 404)
  kResourceNotFound,       // tagging a resource that is not there (ResourceNotFound, 404)
  kInvalidParameter,       // InvalidParameter, with AWS's "Invalid parameter: ..." message
  kParameterValueInvalid,  // InvalidParameterValueException (message attributes)
  kTagLimitExceeded,
  kEndpointDisabled,  // Publish to a platform endpoint with Enabled=false (EndpointDisabled)
  kInternal,          // storage failure
};

using Error = base::CodedError<Errc>;
template <class T>
using Result = base::Result<T, Error>;
using base::error;

}  // namespace ferry::sns
