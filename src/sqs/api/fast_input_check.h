#pragma once
// Test support for fast_input.h (its unit test and its fuzzer): whatever decode_fast_input
// accepts, the router's generic parse and validation must accept too, with the same members.
#include <string>
#include <string_view>

#include "aws/json_input.h"
#include "aws/json_validate.h"
#include "aws/model.h"
#include "sqs/api/fast_input.h"

namespace ferry::sqs {

// Empty if decode_fast_input declines `body`, or takes from it what the generic parse does;
// otherwise what differs.
inline std::string fast_input_disagreement(FastAction action, std::string_view body) {
  FastInput fast;
  if (!decode_fast_input(action, body, &fast)) return {};
  const auto& model = aws::ServiceModel::get("sqs");
  auto parsed = aws::parse_json_input(model, *model.operation(fast_action_name(action)), body);
  if (!parsed) return "the generic parse rejects what the fast one took: " + parsed.error().message;
  const boost::json::object& input = parsed.value();
  if (fast.queue_url != aws::get_string_view(input, "QueueUrl")) return "QueueUrl differs";
  const std::string_view value_name =
      action == FastAction::kDeleteMessageBatch ? "ReceiptHandle" : "MessageBody";
  auto same = [&](const FastEntry& e, const boost::json::object& o, bool batch) {
    return (!batch || e.id == aws::get_string_view(o, "Id")) &&
           e.value == aws::get_string_view(o, value_name) &&
           e.group_id == aws::get_string_view(o, "MessageGroupId") &&
           e.deduplication_id == aws::get_string_view(o, "MessageDeduplicationId");
  };
  if (action == FastAction::kSendMessage) {
    if (fast.entries.size() != 1 || !same(fast.entries[0], input, false)) return "members differ";
    return {};
  }
  const boost::json::value* entries = aws::member(input, "Entries");
  if (entries == nullptr || !entries->is_array() ||
      entries->as_array().size() != fast.entries.size()) {
    return "Entries differ";
  }
  for (size_t i = 0; i < fast.entries.size(); ++i) {
    const boost::json::value& e = entries->as_array()[i];
    if (!e.is_object() || !same(fast.entries[i], e.as_object(), true)) {
      return "entry " + std::to_string(i) + " differs";
    }
  }
  return {};
}

}  // namespace ferry::sqs
