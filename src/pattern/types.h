#pragma once
// Public vocabulary of the pattern engine.
#include <string_view>

namespace ferry::pattern {

// Which language a pattern is written in and what it is matched against.
enum class Dialect {
  kEventBridge,    // EventBridge event pattern, matched against the whole event JSON
  kSnsAttributes,  // SNS filter policy, FilterPolicyScope=MessageAttributes (the default)
  kSnsBody,        // SNS filter policy, FilterPolicyScope=MessageBody
};

// One SNS message attribute. Binary attributes are ignored, as SNS does.
struct Attribute {
  std::string_view name;
  std::string_view data_type;  // "String", "String.Array", "Number", "Binary", optionally ".label"
  std::string_view value;      // for String.Array: the JSON array text
};

}  // namespace ferry::pattern
