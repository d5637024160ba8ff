#pragma once
// CBOR (RFC 8949) for the application/x-amz-cbor-1.1 protocol (Kinesis; the Java SDK's
// default). Requests decode into the same JSON-shaped object the AWS JSON protocol produces and
// answers encode from it, driven by the service model:
//   - CBOR byte strings are blobs: they become base64 text in the JSON shape and back;
//   - timestamps are epoch milliseconds in CBOR (tag 1 is accepted and ignored) and epoch
//     seconds in the JSON shape.
// Stateless, safe on any thread, never throws on untrusted input.
#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "aws/protocol_error.h"

namespace ferry::aws {

class ServiceModel;
struct Operation;
struct Shape;

// Generic decoding: maps (text keys only), arrays, text, integers, floats, booleans, null;
// byte strings become base64 text. At most 64 levels deep; indefinite lengths are accepted.
Result<boost::json::value> cbor_decode(std::string_view bytes);
// Generic encoding (strings as text strings).
std::string cbor_encode(const boost::json::value& value);

// Decodes a request body for `op` (empty body: {}), converts timestamps to seconds, drops nulls
// and validates the result like parse_json_input.
Result<boost::json::object> decode_cbor_input(const ServiceModel& model, const Operation& op,
                                              std::string_view body);
// Encodes an answer of `op`: blobs as byte strings, timestamps as epoch milliseconds.
std::string encode_cbor_output(const Operation& op, const boost::json::object& output);
// The same for a value of any shape of the model, such as an event of an event stream
// (Kinesis's SubscribeToShardEvent); a null shape encodes generically.
std::string encode_cbor_shape(const Shape* shape, const boost::json::value& value);

}  // namespace ferry::aws
