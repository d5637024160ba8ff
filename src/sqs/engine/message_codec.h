#pragma once
// How SQS data is laid out in the store: keys, the binary message records, the JSON queue
// record, and receipt handles. Pure functions: no locks, no I/O.
//
// Key layout (all under "sqs/", so other services can share the store):
//   sqs/meta/seq                     -> 8-byte big-endian: every sequence number below it may
//                                       have been used (reserved in blocks; never reused)
//   sqs/meta/secret                  -> 32 random bytes that authenticate receipt handles
//   sqs/q/<account>/<name>           -> queue record (JSON: attributes, tags, timestamps,
//                                       incarnation, last purge)
//   sqs/m/<incarnation><seq>p        -> message payload (immutable after send)
//   sqs/m/<incarnation><seq>s        -> message state (visible_at, receive count, receive
//                                       times); written lazily on visibility change and on
//                                       receive where it matters, else at shutdown
//   sqs/d/<incarnation><scope key>   -> FIFO deduplication record (sent time, seq, message id),
//                                       written with the send, kept 5 minutes past it
//   sqs/t/<task id>                  -> message move task (JSON)
// <incarnation> and <seq> are 8-byte big-endian numbers, so one queue's messages are
// contiguous and in send order, and a recreated queue (new incarnation) never sees old ones.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sqs/engine/engine.h"

namespace ferry::sqs::codec {

inline constexpr std::string_view kSeqKey = "sqs/meta/seq";
inline constexpr std::string_view kSecretKey = "sqs/meta/secret";
inline constexpr std::string_view kQueuePrefix = "sqs/q/";
inline constexpr std::string_view kMessagePrefix = "sqs/m/";
inline constexpr std::string_view kDedupPrefix = "sqs/d/";
inline constexpr std::string_view kTaskPrefix = "sqs/t/";

std::string queue_key(const QueueId& id);
// Every key of one queue incarnation's messages starts with this.
std::string message_prefix(uint64_t incarnation);
std::string payload_key(uint64_t incarnation, uint64_t seq);
std::string state_key(uint64_t incarnation, uint64_t seq);
// Parses a message key; kind is 'p' or 's'.
bool parse_message_key(std::string_view key, uint64_t* incarnation, uint64_t* seq, char* kind);

// FIFO deduplication records. scope_key is the MessageDeduplicationId, prefixed with the
// MessageGroupId when the queue deduplicates per message group.
std::string dedup_prefix(uint64_t incarnation);
std::string dedup_key(uint64_t incarnation, std::string_view scope_key);
bool parse_dedup_key(std::string_view key, uint64_t* incarnation, std::string* scope_key);
struct DedupRecord {
  int64_t sent_ms = 0;
  uint64_t seq = 0;
  std::string message_id;
};
std::string encode_dedup(const DedupRecord& r);
bool decode_dedup(std::string_view data, DedupRecord* r);

std::string task_key(std::string_view task_id);

// A FIFO message's SequenceNumber: 2^64 + seq in decimal, so it is 128-bit, strictly increasing
// within a queue (seq is) and 20 digits long, the shape AWS's have.
std::string sequence_number(uint64_t seq);

void put_u64_be(std::string& out, uint64_t v);
uint64_t get_u64_be(std::string_view in);

// What a message carries from send to delete.
struct Payload {
  std::string message_id;
  std::string md5_of_body;  // hex
  int64_t sent_ms = 0;
  int64_t first_visible_ms = 0;  // sent_ms + delay
  std::string body;
  MessageAttributes message_attributes;
  MessageAttributes system_attributes;
  std::string message_group_id;
  std::string dead_letter_source_arn;  // set when moved to a dead-letter queue
  std::string deduplication_id;        // FIFO only
};
std::string encode_payload(const Payload& p);
bool decode_payload(std::string_view data, Payload* p);
// Reads only the fixed header (recovery does not need the rest).
bool peek_payload_times(std::string_view data, int64_t* sent_ms, int64_t* first_visible_ms);

// The mutable part of a message.
struct MessageState {
  int64_t visible_at_ms = 0;
  uint32_t receive_count = 0;
  int64_t first_receive_ms = 0;  // 0: never received
  int64_t last_receive_ms = 0;
};
std::string encode_state(const MessageState& s);
bool decode_state(std::string_view data, MessageState* s);

// A receipt handle names one receive of one message: the queue incarnation, the message
// sequence number, the receive count at that receive, a random nonce (so each handle is
// unique), and a MAC under the engine's secret (so forged or mangled handles are rejected).
struct ReceiptHandle {
  uint64_t incarnation = 0;
  uint64_t seq = 0;
  uint32_t generation = 0;
};
std::string encode_receipt_handle(const ReceiptHandle& h, std::string_view secret);
std::optional<ReceiptHandle> decode_receipt_handle(std::string_view text, std::string_view secret);

}  // namespace ferry::sqs::codec
