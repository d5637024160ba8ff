#pragma once
// The AWS Query protocol, driven by the service model: form-encoded parameters in, XML out.
//
// Requests are decoded into, and responses encoded from, the shape the AWS JSON protocol uses
// (member names from the model, integers as numbers, blobs as base64 strings, timestamps as epoch
// seconds), so handlers see one shape whatever the client spoke.
//
// Stateless functions; safe on any thread. Untrusted input never throws (only allocation can).
#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/model.h"
#include "aws/protocol_error.h"

namespace ferry::aws {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Splits an application/x-www-form-urlencoded body (or URL query string) into decoded name/value
// pairs, in order: '&' separates pairs, the first '=' separates name and value (a pair without
// '=' has an empty value), '+' is a space and %XX escapes are decoded (Boost.URL). Empty pairs
// are skipped. A malformed escape is a MalformedQueryString error.
Result<QueryParams> parse_form(std::string_view body);

// Maps Query parameters to the JSON-protocol-shaped input of `op` by walking its input shape:
// structure members by locationName (or name); flattened lists as Name.N, others as
// Name.member.N; maps as Name.N.key/value (flattened) or Name.entry.N.key/value, with the key and
// value locationNames of the model (SQS: Attribute.N.Name / Attribute.N.Value). Indices are
// 1-based, may be sparse and unordered, and are ordered by value. Parameters the input shape does
// not name (Action, Version, X-Amz-*, anything else) are ignored; the first of repeated
// parameters wins. Scalars become the JSON type of their shape. Required members are not checked
// here: run validate_json_input() on the result.
// Errors: a value that does not convert, a malformed index, a value where a list or structure is
// expected and vice versa -> MalformedInput (HTTP 400); a map entry without key or value ->
// MissingParameter.
Result<boost::json::object> decode_query(const ServiceModel& model, const Operation& op,
                                         const QueryParams& params);

// <?xml version="1.0"?><{Op}Response xmlns="{ns}"><{wrapper}>...</{wrapper}><ResponseMetadata>
// <RequestId>..</RequestId></ResponseMetadata></{Op}Response>, the wrapper being the
// operation's resultWrapper (omitted with its content when the operation has no output shape).
// Members are written in model order with the model's locationName/flattened rules; members of
// `output` the model does not know, and null values, are skipped.
std::string encode_query_response(const ServiceModel& model, const Operation& op,
                                  const boost::json::object& output, std::string_view request_id);

// The Query error document of `model`'s service: <?xml version="1.0"?><ErrorResponse
// xmlns="{ns}"><Error><Type>{type}</Type><Code>..</Code><Message>..</Message>[<Detail/>]</Error>
// <RequestId>..</RequestId></ErrorResponse>. SQS writes an empty <Detail/>; SNS and the other
// Query services do not. `type` is "Sender" or "Receiver".
std::string encode_query_error(const ServiceModel& model, std::string_view type,
                               std::string_view code, std::string_view message,
                               std::string_view request_id);
// The same, shaped as SQS answers (SQS namespace and <Detail/>).
std::string encode_query_error(std::string_view type, std::string_view code,
                               std::string_view message, std::string_view request_id);

}  // namespace ferry::aws
