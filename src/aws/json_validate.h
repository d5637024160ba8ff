#pragma once
// Validation of JSON-protocol-shaped request input against the service model, with the errors
// AWS answers (awsQueryCompatible SQS; see src/aws/README.md for the sources):
//   - a member whose JSON type does not fit its shape -> SerializationException
//     (Query code MalformedInput), e.g. "NUMBER_VALUE can not be converted to a String",
//     "Start of list found where not expected";
//   - a required member that is absent (or null) -> MissingParameter,
//     "The request must contain the parameter QueueUrl." (nested members are named by their
//     Query path: "SendMessageBatchRequestEntry.2.Id").
// Type errors are reported before missing members, as AWS deserializes before it validates.
// Unknown members are ignored; null counts as absent. Lengths, ranges and enums are left to the
// handlers, whose messages are action-specific.
//
// Stateless functions; safe on any thread; never throw on untrusted input.
#include <boost/json.hpp>
#include <string_view>

#include "aws/model.h"
#include "aws/protocol_error.h"

namespace ferry::aws {

// Checks `input` (a parsed request body, or the output of decode_query) against the input shape
// of `op`. The body must be a JSON object.
Result<base::Ok> validate_json_input(const ServiceModel& model, const Operation& op,
                                     const boost::json::value& input);
// The same for an object (what decode_query returns), without copying it into a value.
Result<base::Ok> validate_json_input(const ServiceModel& model, const Operation& op,
                                     const boost::json::object& input);

// Parses a JSON-protocol request body and validates it. An empty body is {}. A body that is not
// JSON is a SerializationException without message; a JSON array "Start of list found where not
// expected". Null members and null list items are removed from the result, so handlers see
// absent members only.
Result<boost::json::object> parse_json_input(const ServiceModel& model, const Operation& op,
                                             std::string_view body);

}  // namespace ferry::aws
