#pragma once
// AWS event-stream binary framing (application/vnd.amazon.eventstream), as SubscribeToShard
// answers with: each message is a prelude (total length, headers length, CRC32 of those 8 bytes),
// typed headers, a payload and a CRC32 of everything before it. All integers are big-endian.
//
// Pure functions, no state; usable from any thread.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::aws {

// Headers with string values (type 7), the only type AWS's services send in event streams.
using EventHeaders = std::vector<std::pair<std::string, std::string>>;

struct EventMessage {
  EventHeaders headers;
  std::string payload;
  // The value of a header, or empty.
  std::string_view header(std::string_view name) const;
};

// Largest message a decoder accepts (AWS's SDKs refuse above 16 MiB).
constexpr size_t kMaxEventMessageBytes = 16 * 1024 * 1024;

std::string encode_event_message(const EventHeaders& headers, std::string_view payload);

// :message-type event, :event-type <type>, :content-type <content_type>.
std::string encode_event(std::string_view event_type, std::string_view content_type,
                         std::string_view payload);
// :message-type exception, :exception-type <type>, :content-type <content_type>.
std::string encode_exception(std::string_view exception_type, std::string_view content_type,
                             std::string_view payload);

enum class DecodeStatus { kOk, kNeedMore, kMalformed };

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  EventMessage message;  // set when kOk
  size_t consumed = 0;   // bytes of `in` the message took, when kOk
};

// Decodes the first message of `in` (untrusted input: every length and CRC is checked; headers of
// every type are accepted and non-string values are kept as their raw bytes).
DecodeResult decode_event_message(std::string_view in);

}  // namespace ferry::aws
