#include "sqs/api/fast_input.h"

#include <boost/json/basic_parser_impl.hpp>
#include <cstdint>
#include <utility>

namespace ferry::sqs {

namespace {

namespace json = boost::json;
using json::error_code;

// The members the decoder takes, as bits of the set an object has shown so far.
enum Member : uint8_t {
  kNone = 0,
  kQueueUrl = 1 << 0,
  kEntries = 1 << 1,
  kMessageBody = 1 << 2,
  kReceiptHandle = 1 << 3,
  kId = 1 << 4,
  kGroupId = 1 << 5,
  kDeduplicationId = 1 << 6,
};

constexpr std::pair<std::string_view, FastAction> kActions[] = {
    {"SendMessage", FastAction::kSendMessage},
    {"SendMessageBatch", FastAction::kSendMessageBatch},
    {"DeleteMessageBatch", FastAction::kDeleteMessageBatch},
};

Member member_named(std::string_view key) {
  if (key == "QueueUrl") return kQueueUrl;
  if (key == "Entries") return kEntries;
  if (key == "MessageBody") return kMessageBody;
  if (key == "ReceiptHandle") return kReceiptHandle;
  if (key == "Id") return kId;
  if (key == "MessageGroupId") return kGroupId;
  if (key == "MessageDeduplicationId") return kDeduplicationId;
  return kNone;
}

// Which members each action takes at the top level and in a batch entry, and which it needs.
struct Shape {
  uint8_t top_allowed;
  uint8_t top_required;
  uint8_t entry_allowed;
  uint8_t entry_required;
};

Shape shape_of(FastAction action) {
  switch (action) {
    case FastAction::kSendMessage:
      return {kQueueUrl | kMessageBody | kGroupId | kDeduplicationId, kQueueUrl | kMessageBody, 0,
              0};
    case FastAction::kSendMessageBatch:
      return {kQueueUrl | kEntries, kQueueUrl | kEntries,
              kId | kMessageBody | kGroupId | kDeduplicationId, kId | kMessageBody};
    case FastAction::kDeleteMessageBatch:
      return {kQueueUrl | kEntries, kQueueUrl | kEntries, kId | kReceiptHandle,
              kId | kReceiptHandle};
  }
  return {};
}

// SAX events to FastInput. Depth 1 is the top-level object, 2 the Entries list, 3 an entry.
// Any event the shape has no place for declines (returns false with an error set).
class Handler {
 public:
  static constexpr std::size_t max_array_size = -1;
  static constexpr std::size_t max_object_size = -1;
  static constexpr std::size_t max_string_size = -1;
  static constexpr std::size_t max_key_size = -1;

  Handler(FastAction action, FastInput* out)
      : single_(action == FastAction::kSendMessage), shape_(shape_of(action)), out_(out) {}

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }

  bool on_object_begin(error_code& ec) {
    if (depth_ == 0) {
      if (single_) out_->entries.emplace_back();
    } else if (depth_ == 2) {
      out_->entries.emplace_back();
      entry_seen_ = 0;
    } else {
      return decline(ec);
    }
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t, error_code& ec) {
    const bool entry = depth_ == 3;
    const uint8_t seen = entry ? entry_seen_ : top_seen_;
    const uint8_t required = entry ? shape_.entry_required : shape_.top_required;
    if ((seen & required) != required) return decline(ec);
    --depth_;
    return true;
  }
  bool on_array_begin(error_code& ec) {
    // A value follows its key, and of the keys taken only Entries leaves no string target.
    if (depth_ != 1 || target_ != nullptr) return decline(ec);
    depth_ = 2;
    return true;
  }
  bool on_array_end(std::size_t, error_code&) {
    depth_ = 1;  // the Entries list is the only array on_array_begin lets in
    return true;
  }

  bool on_key_part(json::string_view s, std::size_t, error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, error_code& ec) {
    Member m;
    if (key_.empty()) {
      m = member_named(std::string_view(s.data(), s.size()));
    } else {
      key_.append(s.data(), s.size());
      m = member_named(key_);
      key_.clear();
    }
    const bool entry = depth_ == 3;
    uint8_t& seen = entry ? entry_seen_ : top_seen_;
    const uint8_t allowed = entry ? shape_.entry_allowed : shape_.top_allowed;
    if ((allowed & m) == 0 || (seen & m) != 0) return decline(ec);
    seen |= m;
    target_ = field(m);
    return true;
  }

  bool on_string_part(json::string_view s, std::size_t, error_code& ec) {
    if (target_ == nullptr) return decline(ec);
    target_->append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, error_code& ec) {
    if (target_ == nullptr) return decline(ec);
    target_->append(s.data(), s.size());
    target_ = nullptr;
    return true;
  }

  bool on_number_part(json::string_view, error_code& ec) { return decline(ec); }
  bool on_int64(int64_t, json::string_view, error_code& ec) { return decline(ec); }
  bool on_uint64(uint64_t, json::string_view, error_code& ec) { return decline(ec); }
  bool on_double(double, json::string_view, error_code& ec) { return decline(ec); }
  bool on_bool(bool, error_code& ec) { return decline(ec); }
  bool on_null(error_code& ec) { return decline(ec); }
  bool on_comment_part(json::string_view, error_code& ec) { return decline(ec); }
  bool on_comment(json::string_view, error_code& ec) { return decline(ec); }

 private:
  static bool decline(error_code& ec) {
    ec = json::error::syntax;
    return false;
  }
  // Where a string member's value goes; null for Entries, whose value must be a list.
  std::string* field(Member m) {
    switch (m) {
      case kQueueUrl:
        return &out_->queue_url;
      case kMessageBody:
      case kReceiptHandle:
        return &out_->entries.back().value;
      case kId:
        return &out_->entries.back().id;
      case kGroupId:
        return &out_->entries.back().group_id;
      case kDeduplicationId:
        return &out_->entries.back().deduplication_id;
      default:
        return nullptr;
    }
  }

  const bool single_;
  const Shape shape_;
  FastInput* out_;
  int depth_ = 0;
  uint8_t top_seen_ = 0;
  uint8_t entry_seen_ = 0;
  std::string* target_ = nullptr;
  std::string key_;  // a key that arrives in parts (it had escapes)
};

}  // namespace

std::optional<FastAction> fast_action_named(std::string_view action) {
  for (const auto& [name, a] : kActions) {
    if (name == action) return a;
  }
  return std::nullopt;
}

std::string_view fast_action_name(FastAction action) {
  for (const auto& [name, a] : kActions) {
    if (a == action) return name;
  }
  return {};
}

bool decode_fast_input(FastAction action, std::string_view body, FastInput* out) {
  out->entries.reserve(action == FastAction::kSendMessage ? 1 : 10);  // AWS's most per batch
  json::basic_parser<Handler> parser(json::parse_options{}, action, out);
  error_code ec;
  const std::size_t n = parser.write_some(false, body.data(), body.size(), ec);
  return !ec && n == body.size();
}

}  // namespace ferry::sqs
