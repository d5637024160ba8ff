#pragma once
// Validation of queue names, queue attributes, tags, message bodies and message attributes,
// with AWS's error codes and messages. Pure functions: no locks, no I/O.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "sqs/engine/engine.h"
#include "sqs/engine/errors.h"

namespace ferry::sqs {

inline constexpr int kMaxVisibilityTimeout = 43'200;
inline constexpr int kMaxDelaySeconds = 900;
inline constexpr int kMaxMessageAttributes = 10;
inline constexpr int kMaxTagsPerQueue = 50;

// A standard queue's settable attributes, parsed. Defaults are AWS's for a new queue.
struct QueueConfig {
  int delay_seconds = 0;
  int maximum_message_size = 1'048'576;
  int message_retention_period = 345'600;
  int receive_message_wait_time_seconds = 0;
  int visibility_timeout = 30;
  std::string policy;  // verbatim; empty if none
  std::string kms_master_key_id;
  int kms_data_key_reuse_period_seconds = 300;
  bool sqs_managed_sse_enabled = true;
  std::string redrive_policy;        // normalized JSON; empty if none
  std::string redrive_allow_policy;  // normalized JSON; empty if none
  // Parsed from redrive_policy.
  std::optional<QueueId> dead_letter_target;
  int max_receive_count = 0;
  // FIFO queues only. `fifo` is fixed at creation.
  bool fifo = false;
  bool content_based_deduplication = false;
  bool dedup_per_group = false;       // DeduplicationScope messageGroup (else queue)
  bool throughput_per_group = false;  // FifoThroughputLimit perMessageGroupId (else perQueue)
};

// What a RedrivePolicy check needs to know about its dead-letter target.
struct DeadLetterTargetInfo {
  bool fifo = false;
  std::string redrive_allow_policy;  // normalized JSON; empty if none (allowAll)
};

struct AttributeContext {
  std::string region;
  std::string account;  // owner of the queue being configured
  // Looks up the target of a RedrivePolicy (nullopt: no such queue); null skips the checks
  // against the target, as when reloading attributes that were validated before.
  std::function<std::optional<DeadLetterTargetInfo>(const QueueId&)> lookup;
  // The ARN of the queue being configured, checked against the target's RedriveAllowPolicy.
  std::string queue_arn;
  // CreateQueue (FifoQueue is accepted) rather than SetQueueAttributes.
  bool creating = false;
};

// Checks a CreateQueue name against its attributes; *fifo tells whether FifoQueue asks for a
// FIFO queue.
Result<base::Ok> validate_queue_name(std::string_view name, const AttributeMap& attributes,
                                     bool* fifo = nullptr);

// Applies `attributes` on top of `config`, validating every name and value.
Result<QueueConfig> apply_queue_attributes(QueueConfig config, const AttributeMap& attributes,
                                           const AttributeContext& context);

// The settable attributes with their current values, as GetQueueAttributes shows them
// (optional ones only when set).
AttributeMap settable_attributes(const QueueConfig& config);

// Whether GetQueueAttributes accepts `name` ("All" included); FIFO-only names only of a FIFO
// queue.
bool is_gettable_attribute(std::string_view name, bool fifo);

// Whether a RedriveAllowPolicy (normalized JSON; empty = allowAll) lets source_arn use its
// queue as a dead-letter queue.
bool redrive_allowed(std::string_view redrive_allow_policy, std::string_view source_arn);

// "arn:aws:sqs:<region>:<account>:<name>" -> the queue; nullopt if malformed.
std::optional<QueueId> parse_queue_arn(std::string_view arn, std::string* region);

// Tags: key 1-128 characters, value 0-256.
Result<base::Ok> validate_tags(const TagMap& tags);

// Messages ----------------------------------------------------------------------------------

// True if `text` is valid UTF-8 made only of the characters XML allows: #x9 | #xA | #xD |
// #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF. Otherwise sets *bad to the first offending
// code point (or byte, for malformed UTF-8).
bool is_valid_message_text(std::string_view text, uint32_t* bad);

Result<base::Ok> validate_body(std::string_view body);
// Returns the bytes the attributes add to the message size (names + types + values).
Result<size_t> validate_message_attributes(const MessageAttributes& attributes);
Result<base::Ok> validate_system_attributes(const MessageAttributes& attributes);
// MessageGroupId, MessageDeduplicationId, ReceiveRequestAttemptId: 1-128 characters of
// alphanumerics and punctuation.
Result<base::Ok> validate_message_group_id(std::string_view group_id);
Result<base::Ok> validate_fifo_token(std::string_view value, std::string_view parameter);

}  // namespace ferry::sqs
