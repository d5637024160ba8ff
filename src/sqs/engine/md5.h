#pragma once
// The MD5 digests SQS returns with messages, exactly as the AWS SDKs verify them.
#include <string>
#include <string_view>

#include "sqs/engine/engine.h"

namespace ferry::sqs {

// True for "Binary" and "Binary.<label>": such values travel as bytes (transport type 2).
bool is_binary_type(std::string_view data_type);

// The bytes an attribute contributes: binary_value for Binary types, string_value otherwise.
std::string_view attribute_value_bytes(const MessageAttributeValue& value);

// MD5OfMessageAttributes / MD5OfMessageSystemAttributes: for each attribute in name order,
// 4-byte big-endian length + name, length + data type, one transport byte (1 string/number,
// 2 binary), length + value; the hex MD5 of the concatenation. Empty string if `attributes` is.
std::string md5_of_message_attributes(const MessageAttributes& attributes);

}  // namespace ferry::sqs
