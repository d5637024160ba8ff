#pragma once
// The SQS engine: queues and messages with SQS's semantics, persisted through storage::Store.
// No HTTP or wire types here; api/ decodes requests into these structs and encodes the results.
//
// Threading: every public method is thread-safe and non-blocking (no disk sync, no waiting);
// each queue has its own mutex, the queue directory has another.
// Durability: a mutating method that takes `done` issues its store write(s) and, on success,
// calls `done(ok)` exactly once, after the write is on stable storage (possibly on the store's
// commit or sync thread, possibly before the method returns). On failure it returns the error and
// never calls `done`. Deletes, receives and visibility changes are written lazily (kLazy): after a
// crash a message may come back, never vanish.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "sqs/engine/errors.h"
#include "storage/store.h"

namespace ferry::sqs {

// Identifies a queue: its owner account and its name.
struct QueueId {
  std::string account;
  std::string name;
  auto operator<=>(const QueueId&) const = default;
};

// A message attribute as SQS stores it. binary_value holds decoded bytes.
struct MessageAttributeValue {
  std::string data_type;  // "String", "Number", "Binary", or one of those plus ".label"
  std::string string_value;
  std::string binary_value;
  bool operator==(const MessageAttributeValue&) const = default;
};
// Ordered by name: the MD5 of message attributes is computed over names in sorted order.
using MessageAttributes = std::map<std::string, MessageAttributeValue>;

// Queue attributes as strings, keyed by AWS's attribute name ("VisibilityTimeout", ...).
using AttributeMap = std::map<std::string, std::string>;
using TagMap = std::map<std::string, std::string>;

struct SendRequest {
  std::string body;
  std::optional<int> delay_seconds;  // 0-900; queue default if absent
  MessageAttributes message_attributes;
  MessageAttributes system_attributes;  // only AWSTraceHeader (String) is allowed
  std::string message_group_id;         // optional on standard queues (fair queues)
  std::string deduplication_id;         // rejected on standard queues
  // Set by a sender that checked the body (validate_body in attributes.h) and computed its MD5
  // once for many queues (SNS fan-out): the engine then skips both.
  std::string checked_md5_of_body;
  // False for a sender that ignores SendResult's attribute MD5s (SNS fan-out): they are then
  // left empty instead of computed for every queue.
  bool attribute_md5s_wanted = true;
};

struct SendResult {
  std::string message_id;
  std::string md5_of_body;
  std::string md5_of_message_attributes;         // empty if no message attributes
  std::string md5_of_message_system_attributes;  // empty if no system attributes
  std::string sequence_number;                   // FIFO only
};

struct ReceiveRequest {
  int max_messages = 1;                   // 1-10
  std::optional<int> visibility_timeout;  // 0-43200; queue default if absent
  // System attribute names to return: "All", "SentTimestamp", "ApproximateReceiveCount",
  // "ApproximateFirstReceiveTimestamp", "SenderId", "AWSTraceHeader", "MessageGroupId", ...
  std::vector<std::string> attribute_names;
  // Message attribute names: "All", ".*", exact names, or "prefix.*".
  std::vector<std::string> message_attribute_names;
  // FIFO only: a retry with the same id within 5 minutes returns the same messages and receipt
  // handles while none of them changed (ignored on standard queues).
  std::string receive_request_attempt_id;
};

struct ReceivedMessage {
  std::string message_id;
  std::string receipt_handle;
  std::string md5_of_body;
  std::string body;
  std::map<std::string, std::string> attributes;  // the selected system attributes
  MessageAttributes message_attributes;           // the selected message attributes
  std::string md5_of_message_attributes;          // over the selected ones; empty if none
};

// Payloads that receives of a queue will want from the store next: see Engine::read_ahead().
struct ReadAhead {
  QueueId queue;
  uint64_t after = 0;  // the messages after this sequence number
};

// A receive between Engine::start_receive() and Engine::finish_receive().
class PendingReceive {
 public:
  // Set when the messages after this receive's are not cached (a backlog beyond the body
  // cache, drained in send order): Engine::read_ahead() then brings them into memory, so that
  // the next receives need no store reads. It may wait for the disk; the answer need not wait.
  std::optional<ReadAhead> read_ahead;

  PendingReceive();
  ~PendingReceive();
  PendingReceive(PendingReceive&&) noexcept;
  PendingReceive& operator=(PendingReceive&&) noexcept;
  // True if finish_receive() reads the store; false if the messages are complete already.
  bool reads_store() const { return work_ != nullptr; }

 private:
  friend class Engine;
  struct Work;
  std::vector<ReceivedMessage> messages_;
  std::unique_ptr<Work> work_;
};

struct EngineOptions {
  std::string region = "us-east-1";
  int max_inflight_standard = 120'000;
  // FIFO queues: beyond it receives return nothing (AWS answers no error for FIFO).
  int max_inflight_fifo = 20'000;
  // Bytes of message bodies kept in memory across all queues; beyond it bodies are read back
  // from the store on receive.
  // 64 MiB: with ~60 bytes of index per message, a backlog of a million 1 KiB messages then
  // stays near 125 MB of engine memory.
  size_t body_cache_bytes = 64u << 20;
};

// A message move task as ListMessageMoveTasks reports it.
struct MoveTaskInfo {
  std::string task_handle;  // only while RUNNING
  std::string status;       // RUNNING, COMPLETED, CANCELLED or FAILED
  std::string source_arn;
  std::string destination_arn;  // empty: back to each message's source queue
  std::optional<int> max_messages_per_second;
  int64_t moved = 0;
  int64_t to_move = 0;
  int64_t started_ms = 0;
  std::string failure_reason;  // only if FAILED
};

class Engine {
 public:
  Engine(storage::Store& store, const base::Clock& clock, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Rebuilds every queue and its indexes from the store. Call once, before serving.
  void recover();
  // Writes the receive state (receive count and times, visibility) that receives of queues
  // without a redrive policy kept in memory only, so that a clean restart finds every message
  // as it was. Call at shutdown, once no request runs any more, before closing the store.
  void save_receive_state();

  // Queues --------------------------------------------------------------------------------
  // Validates the name (1-80 of [A-Za-z0-9_-], ".fifo" suffix for FIFO) and every attribute.
  // Idempotent: an existing queue with equal attributes succeeds (tags are then ignored);
  // different attributes fail with kQueueNameExists.
  Result<base::Ok> create_queue(const QueueId& id, const AttributeMap& attributes,
                                const TagMap& tags, storage::WriteCallback done);
  Result<base::Ok> delete_queue(const QueueId& id, storage::WriteCallback done);
  bool queue_exists(const QueueId& id) const;
  // Names of the account's queues that start with prefix, sorted.
  std::vector<std::string> list_queues(const std::string& account, const std::string& prefix) const;
  // names may contain "All"; unknown names fail with kInvalidAttributeName. Empty -> none.
  Result<AttributeMap> get_queue_attributes(const QueueId& id,
                                            const std::vector<std::string>& names) const;
  Result<base::Ok> set_queue_attributes(const QueueId& id, const AttributeMap& attributes,
                                        storage::WriteCallback done);
  Result<base::Ok> tag_queue(const QueueId& id, const TagMap& tags, storage::WriteCallback done);
  Result<base::Ok> untag_queue(const QueueId& id, const std::vector<std::string>& keys,
                               storage::WriteCallback done);
  Result<TagMap> list_queue_tags(const QueueId& id) const;
  // kPurgeQueueInProgress within 60 s of the previous purge.
  Result<base::Ok> purge_queue(const QueueId& id, storage::WriteCallback done);
  std::string queue_arn(const QueueId& id) const;
  // Names of the queues (of the dead-letter queue's account) whose RedrivePolicy targets it,
  // sorted.
  Result<std::vector<std::string>> list_dead_letter_source_queues(const QueueId& id) const;

  // Permissions: statements of the queue's Policy, as AWS's AddPermission writes them
  // ({"Version","Id":"<arn>/SQSDefaultPolicy","Statement":[{"Sid":label,"Effect":"Allow",
  // "Principal":{"AWS":...},"Action":...,"Resource":arn}]}). Actions are given without the
  // "SQS:" prefix. Removing the last statement removes the Policy.
  Result<base::Ok> add_permission(const QueueId& id, const std::string& label,
                                  const std::vector<std::string>& account_ids,
                                  const std::vector<std::string>& actions,
                                  storage::WriteCallback done);
  Result<base::Ok> remove_permission(const QueueId& id, const std::string& label,
                                     storage::WriteCallback done);

  // Messages ------------------------------------------------------------------------------
  Result<SendResult> send_message(const QueueId& id, SendRequest request,
                                  storage::WriteCallback done);
  // One store write for the whole batch. Per-entry results in request order; `done` is called
  // once if at least one entry succeeded. Fails as a whole only if the queue does not exist.
  Result<std::vector<Result<SendResult>>> send_messages(const QueueId& id,
                                                        std::vector<SendRequest> requests,
                                                        storage::WriteCallback done);
  // Sends to several queues and writes `also` in one atomic store write (SNS fan-out: a
  // publish and every delivery it makes are durable together or not at all). Results per
  // send, in order: a queue that does not exist fails alone. `done` runs once, after the write.
  struct QueueSend {
    QueueId queue;
    std::vector<SendRequest> requests;
  };
  std::vector<Result<std::vector<Result<SendResult>>>> send_to_queues(std::vector<QueueSend> sends,
                                                                      storage::WriteBatch also,
                                                                      storage::WriteCallback done);
  // Never waits for a message: returns what is receivable now (possibly nothing). May read
  // the store (payloads not cached in memory), which can wait for the disk; a caller that must
  // not block splits it into start_receive() and finish_receive().
  Result<std::vector<ReceivedMessage>> receive_messages(const QueueId& id,
                                                        const ReceiveRequest& request);
  // The two steps of receive_messages(). start_receive() picks the messages under the queue's
  // lock from memory alone, never reading the store. If it leaves work that needs the store
  // (payloads beyond EngineOptions::body_cache_bytes, messages bound for a dead-letter queue),
  // finish_receive() does it, and that may wait for the disk: the server runs it off its I/O
  // threads. finish_receive() drops a message deleted or purged in between.
  Result<PendingReceive> start_receive(const QueueId& id, const ReceiveRequest& request);
  std::vector<ReceivedMessage> finish_receive(PendingReceive pending);
  // Reads the payloads of the next visible or delayed messages after ahead.after (up to 256)
  // into the body cache, while it has room. Reads the store (waits for the disk); a second
  // read-ahead of the same queue while one runs returns at once.
  void read_ahead(const ReadAhead& ahead);
  Result<base::Ok> delete_message(const QueueId& id, const std::string& receipt_handle);
  // DeleteMessageBatch: one result per handle, in order, and one store write for them all.
  std::vector<Result<base::Ok>> delete_messages(const QueueId& id,
                                                const std::vector<std::string>& handles);
  Result<base::Ok> change_message_visibility(const QueueId& id, const std::string& receipt_handle,
                                             int visibility_timeout);

  // Message move tasks -------------------------------------------------------------------
  // Starts moving the messages of a dead-letter queue (account: the caller's) to destination
  // (empty: each message's original source queue) at up to max_per_second (default 500).
  // Returns the task handle. Tasks are persisted; running ones resume after recover().
  Result<std::string> start_message_move_task(const std::string& account,
                                              const std::string& source_arn,
                                              const std::string& destination_arn,
                                              std::optional<int> max_per_second,
                                              storage::WriteCallback done);
  // The most recent tasks of a source queue, newest first (max_results 1-10).
  Result<std::vector<MoveTaskInfo>> list_message_move_tasks(const std::string& account,
                                                            const std::string& source_arn,
                                                            int max_results) const;
  // Cancels a running task; returns the number of messages it moved.
  Result<int64_t> cancel_message_move_task(const std::string& account,
                                           const std::string& task_handle,
                                           storage::WriteCallback done);
  // Moves what the running tasks may move by now (each at its rate, from its start). Returns
  // when to call again (ms since epoch, engine clock), or nullopt when no task is running.
  // Something above the engine (api/) calls it periodically.
  std::optional<int64_t> run_move_tasks();

  // Long polling --------------------------------------------------------------------------
  // Calls `wake` once (from any thread) when a message may have become receivable in the queue
  // (a send, a visibility change to 0, a queue deletion). Returns a token for unwatch().
  Result<uint64_t> watch(const QueueId& id, std::function<void()> wake);
  void unwatch(const QueueId& id, uint64_t token);
  // The earliest time (ms since epoch) a delayed or in-flight message becomes visible.
  std::optional<int64_t> next_visibility_change(const QueueId& id) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::sqs
