#pragma once
// ProtocolError: a request that the wire codecs (Query form decoding, JSON input validation)
// refuse, in the terms AWS puts on the wire. Always the sender's fault.
#include <string>

#include "base/result.h"

namespace ferry::aws {

struct ProtocolError {
  // The Query protocol's error code: <Code> in the Query ErrorResponse, and the code in the
  // x-amzn-query-error header of awsQueryCompatible JSON services (e.g. "MissingParameter").
  std::string code;
  // Human-readable text; empty where AWS sends none (e.g. SerializationException for a body that
  // is not JSON), in which case the JSON answer carries no message member.
  std::string message;
  int http_status = 400;
  // The full JSON protocol __type (e.g. "com.amazon.coral.service#SerializationException");
  // empty means "<service error namespace>#<code>".
  std::string json_type;
  // A required member that is absent, as AWS's JSON-native services name it in their
  // ValidationException ("streamName"); empty for other errors.
  std::string missing_member{};
};

template <class T>
using Result = base::Result<T, ProtocolError>;

// Codes and __types the codecs use (see src/aws/README.md for where they come from).
inline constexpr const char* kMalformedInput = "MalformedInput";
inline constexpr const char* kMalformedQueryString = "MalformedQueryString";
inline constexpr const char* kMissingParameter = "MissingParameter";
inline constexpr const char* kSerializationExceptionType =
    "com.amazon.coral.service#SerializationException";
inline constexpr const char* kMissingParameterType =
    "com.amazon.coral.service#MissingRequiredParameterException";

}  // namespace ferry::aws
