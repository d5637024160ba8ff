#pragma once
// The request bodies of SQS's hottest actions (SendMessage, SendMessageBatch,
// DeleteMessageBatch) over the JSON protocol, decoded without a DOM: Boost.JSON's SAX parser
// fills FastInput directly. Parsing into a DOM, validating it against the model and copying
// members out of it cost about a sixth of the server's instructions under SendMessageBatch.
//
// Only the plain shape the SDKs send is taken: the string members below, each at most once,
// every required one present, no nulls. Anything else (DelaySeconds, message attributes, an
// unknown or repeated member, a wrong type, a missing member, invalid JSON) declines, and the
// router parses and validates the body as for every other action, so errors keep one path.
//
// Stateless; safe on any thread; never throws on untrusted input.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::sqs {

enum class FastAction { kSendMessage, kSendMessageBatch, kDeleteMessageBatch };

// The action of that SQS name, if it is one of the above; and back.
std::optional<FastAction> fast_action_named(std::string_view action);
std::string_view fast_action_name(FastAction action);

struct FastEntry {
  std::string id;                // batch entry Id (empty for SendMessage)
  std::string value;             // MessageBody, or ReceiptHandle for DeleteMessageBatch
  std::string group_id;          // MessageGroupId
  std::string deduplication_id;  // MessageDeduplicationId
};

struct FastInput {
  std::string queue_url;
  std::vector<FastEntry> entries;  // SendMessage: exactly one
};

// True, with *out filled, if `body` is `action`'s input in the plain shape above.
bool decode_fast_input(FastAction action, std::string_view body, FastInput* out);

}  // namespace ferry::sqs
