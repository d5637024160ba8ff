#include "sqs/engine/engine.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cassert>
#include <cctype>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <unordered_map>

#include "base/crypto.h"
#include "base/log.h"
#include "base/md5_multi.h"
#include "sqs/engine/attributes.h"
#include "sqs/engine/md5.h"
#include "sqs/engine/message_codec.h"
#include "sqs/engine/queue.h"

namespace ferry::sqs {

namespace json = boost::json;

namespace {

using storage::Durability;
using storage::WriteBatch;
using storage::WriteCallback;

// Sequence numbers (and queue incarnations, drawn from the same counter) are reserved in the
// store a block at a time, so they are never reused after a restart.
constexpr uint64_t kSeqBlock = 1 << 20;
constexpr int64_t kPurgeIntervalMs = 60'000;
// FIFO deduplication interval and ReceiveRequestAttemptId lifetime.
constexpr int64_t kDedupWindowMs = 300'000;
constexpr int64_t kAttemptWindowMs = 300'000;
// A queue name can be reused this long after DeleteQueue.
constexpr int64_t kRecentlyDeletedMs = 60'000;

base::Unexpected<Error> queue_does_not_exist() {
  return error(Errc::kQueueDoesNotExist, "The specified queue does not exist.");
}

base::Unexpected<Error> invalid_receipt_handle(std::string_view handle) {
  return error(Errc::kReceiptHandleIsInvalid, "The input receipt handle \"" + std::string(handle) +
                                                  "\" is not a valid receipt handle.");
}

// Runs a write's `done` only after the engine has released its locks, even when the store
// calls back inline (MemoryStore does): a callback that re-enters the engine must not find
// the queue's mutex held by its own thread.
class DeferredDone {
 public:
  explicit DeferredDone(WriteCallback done) : state_(std::make_shared<State>()) {
    state_->done = std::move(done);
  }
  // The callback to hand to Store::write().
  WriteCallback callback() {
    return [s = state_](bool ok) {
      s->ok = ok;
      if (s->phase.exchange(kCompleted) == kReleased && s->done) s->done(ok);
    };
  }
  // Call once the locks are released. Runs `done` now if the store already completed.
  void release() {
    if (state_->phase.exchange(kReleased) == kCompleted && state_->done) state_->done(state_->ok);
  }

 private:
  enum Phase { kHeld, kCompleted, kReleased };
  struct State {
    std::atomic<int> phase{kHeld};
    bool ok = false;
    WriteCallback done;
  };
  std::shared_ptr<State> state_;
};

void fire(std::vector<std::function<void()>>& wakes) {
  for (auto& wake : wakes) wake();
}

// Moves every watcher out of q; call with q.mu held and fire() them after unlocking.
std::vector<std::function<void()>> take_watchers(Queue& q) {
  std::vector<std::function<void()>> wakes;
  wakes.reserve(q.watchers.size());
  for (auto& [token, wake] : q.watchers) wakes.push_back(std::move(wake));
  q.watchers.clear();
  q.watched = false;
  return wakes;
}

bool attribute_selected(const std::string& name, const std::vector<std::string>& selectors) {
  for (const std::string& s : selectors) {
    if (s == "All" || s == ".*" || s == "*" || s == name) return true;
    // "prefix.*" selects names starting with "prefix" ("Hel.*" selects "Hello" and "Help.Me").
    if (s.size() > 2 && s.ends_with(".*") &&
        name.compare(0, s.size() - 2, s, 0, s.size() - 2) == 0) {
      return true;
    }
  }
  return false;
}

// What a receive knows about a message besides its payload.
struct ReceiveView {
  uint32_t receive_count;
  int64_t first_receive_ms;
  uint64_t seq;
  bool fifo;
};

// Fills `out` (receipt handle already set) from a decoded payload, selecting the attributes
// the request asked for.
// Takes `p`'s strings: each receive decodes its own copy of the record.
void fill_received(codec::Payload&& p, const ReceiveView& view, const std::string& sender,
                   const ReceiveRequest& req, ReceivedMessage* out) {
  out->message_id = std::move(p.message_id);
  out->md5_of_body = std::move(p.md5_of_body);
  out->body = std::move(p.body);
  const auto& names = req.attribute_names;
  const bool all = std::find(names.begin(), names.end(), "All") != names.end();
  auto want = [&](std::string_view name) {
    return all || std::find(names.begin(), names.end(), name) != names.end();
  };
  if (want("SenderId")) out->attributes["SenderId"] = sender;
  if (want("SentTimestamp")) out->attributes["SentTimestamp"] = std::to_string(p.sent_ms);
  if (want("ApproximateReceiveCount")) {
    out->attributes["ApproximateReceiveCount"] = std::to_string(view.receive_count);
  }
  if (want("ApproximateFirstReceiveTimestamp")) {
    out->attributes["ApproximateFirstReceiveTimestamp"] = std::to_string(view.first_receive_ms);
  }
  if (auto it = p.system_attributes.find("AWSTraceHeader");
      it != p.system_attributes.end() && want("AWSTraceHeader")) {
    out->attributes["AWSTraceHeader"] = it->second.string_value;
  }
  if (!p.message_group_id.empty() && want("MessageGroupId")) {
    out->attributes["MessageGroupId"] = p.message_group_id;
  }
  if (view.fifo) {
    if (!p.deduplication_id.empty() && want("MessageDeduplicationId")) {
      out->attributes["MessageDeduplicationId"] = p.deduplication_id;
    }
    if (want("SequenceNumber"))
      out->attributes["SequenceNumber"] = codec::sequence_number(view.seq);
  }
  if (!p.dead_letter_source_arn.empty() && want("DeadLetterQueueSourceArn")) {
    out->attributes["DeadLetterQueueSourceArn"] = p.dead_letter_source_arn;
  }
  for (auto& [name, value] : p.message_attributes) {
    if (attribute_selected(name, req.message_attribute_names)) {
      out->message_attributes[name] = std::move(value);
    }
  }
  out->md5_of_message_attributes = md5_of_message_attributes(out->message_attributes);
}

// A message taken out of a queue by a receive, on its way to the dead-letter queue.
struct MovedMessage {
  uint64_t seq;
  std::unique_ptr<std::string> payload;  // null: read it from the store
  codec::MessageState state;
};

// A read-ahead reads up to this many payloads, and only starts while the body cache has this
// much room.
constexpr size_t kReadAheadMessages = 256;
constexpr int64_t kReadAheadRoom = 256 << 10;

// A received message whose payload start_receive() left for finish_receive() to read.
struct Fetch {
  size_t index;  // in the answer
  uint64_t seq;
  ReceiveView view;
};

// The queue settings a send depends on, copied out of the queue's lock.
struct SendLimits {
  int delay_seconds;
  int maximum_message_size;
  bool fifo;
  bool content_based_deduplication;
  bool dedup_per_group;
};

// A send request that passed validation, encoded and ready to be indexed.
struct PreparedSend {
  std::string payload;
  int64_t sent_ms;
  int64_t visible_at_ms;
  std::string group;      // FIFO: the message group
  std::string dedup_key;  // FIFO: the deduplication scope key
};

// A send to one queue between validation (outside the queue's lock) and indexing (under it).
struct SendPlan {
  std::shared_ptr<Queue> q;
  SendLimits limits;
  std::vector<Result<SendResult>> results;  // per request, in request order
  std::vector<std::optional<PreparedSend>> prepared;
  size_t accepted = 0;
  uint64_t last_seq = 0;  // of the messages apply_send() added, 0 if none
};

// The callback for a send's write: once it is durable, the queues' new messages may be served
// (MessageIndex::set_synced) and their long polls woken; then `done`. A failed write releases
// them too, as before: a store that fails a write fails every later one.
WriteCallback after_sync(std::vector<std::pair<std::shared_ptr<Queue>, uint64_t>> sent,
                         WriteCallback done) {
  return [sent = std::move(sent), done = std::move(done)](bool ok) {
    std::vector<std::function<void()>> wakes;
    for (const auto& [q, last_seq] : sent) {
      q->messages.set_synced(last_seq);
      if (!q->watched) continue;
      std::lock_guard lock(q->mu);
      if (q->watchers.empty() || !q->messages.receivable()) continue;
      for (auto& wake : take_watchers(*q)) wakes.push_back(std::move(wake));
    }
    fire(wakes);
    if (done) done(ok);
  };
}

}  // namespace

struct Engine::Impl {
  Impl(storage::Store& s, const base::Clock& c, EngineOptions o)
      : store(s), clock(c), options(std::move(o)) {}

  storage::Store& store;
  const base::Clock& clock;
  const EngineOptions options;
  std::string secret;  // authenticates receipt handles; immutable after construction

  std::atomic<int64_t> cache_bytes{0};
  std::atomic<uint64_t> next_seq{1};
  std::atomic<uint64_t> reserved_seq{0};
  std::mutex seq_mu;  // serializes reservations
  std::atomic<uint64_t> next_watch_token{1};

  // Lock order: dir_mu before any Queue::mu; never take dir_mu while holding a Queue::mu.
  mutable std::shared_mutex dir_mu;
  std::map<QueueId, std::shared_ptr<Queue>> queues;

  void load_meta();
  uint64_t allocate_seqs(uint64_t n);
  void reserve_seqs(uint64_t needed);
  std::shared_ptr<Queue> find(const QueueId& id) const;
  // For RedrivePolicy checks; call with dir_mu held (shared or not).
  std::optional<DeadLetterTargetInfo> target_info(const QueueId& id) const;
  void set_config(Queue& q, QueueConfig config);
  // Queue names deleted in the last minute (QueueDeletedRecently); guarded by dir_mu.
  std::map<QueueId, int64_t> recently_deleted;
  std::string arn(const QueueId& id) const {
    return "arn:aws:sqs:" + options.region + ":" + id.account + ":" + id.name;
  }
  bool try_cache(size_t bytes);
  // Whether to cache a message new to q (sent or moved in): only while every message ahead of
  // it is cached. With a backlog beyond the cache, the room is for the messages receives take
  // next (Engine::read_ahead), not for the newest.
  bool try_cache_new(const Queue& q, size_t bytes) {
    return !q.messages.has_uncached() && try_cache(bytes);
  }
  // Expires, promotes and compacts q's messages; appends store deletes for expired ones.
  void maintain(Queue& q, int64_t now, WriteBatch& batch);
  void write_lazy(WriteBatch& batch);
  // Appends the deletes of a message leaving q for good. Its payload was put once, so it goes
  // with a single delete: a message sent and deleted within one memtable leaves nothing on disk.
  static void erase(const Queue& q, const MessageMeta& m, WriteBatch& batch) {
    batch.single_del(codec::payload_key(q.incarnation, m.seq));
    if (m.state_stored) batch.del(codec::state_key(q.incarnation, m.seq));
  }
  // Appends the write of m's receive state.
  static void save_state(const Queue& q, MessageMeta& m, WriteBatch& batch) {
    batch.put(codec::state_key(q.incarnation, m.seq),
              codec::encode_state(
                  {m.visible_at_ms, m.receive_count, m.first_receive_ms(), m.last_receive_ms()}));
    m.state_stored = true;
    m.state_unsaved = false;
  }
  // Validates and encodes `requests` for queue `id` (taking its lock briefly for its limits).
  Result<SendPlan> plan_send(const QueueId& id, std::vector<SendRequest>& requests, int64_t now);
  // Call with plan.q->mu held. Indexes the accepted messages and adds their writes to `batch`;
  // they are served once that batch is durable (write it with after_sync()).
  Result<base::Ok> apply_send(SendPlan& plan, int64_t now, WriteBatch& batch);
  // md5_of_body: the body's MD5 (hex) if already computed, else empty.
  Result<PreparedSend> prepare(const SendLimits& limits, SendRequest& req, int64_t now,
                               std::string md5_of_body, SendResult* result);
  void move_messages(const std::shared_ptr<Queue>& source, const std::shared_ptr<Queue>& target,
                     std::vector<MovedMessage> moved);
  // redrive: the message leaves a dead-letter queue, so it no longer names a source.
  bool insert_moved(Queue& target, const std::string& source_arn, uint64_t source_incarnation,
                    MovedMessage& m, const std::string& payload, bool redrive = false);

  // Message move tasks; guarded by tasks_mu, which is taken without any other lock held.
  enum class TaskStatus { kRunning, kCompleted, kCancelled, kFailed };
  struct MoveTask {
    std::string id;
    QueueId source;
    std::string source_arn;
    std::optional<QueueId> destination;
    std::string destination_arn;
    int rate = 0;  // MaxNumberOfMessagesPerSecond; 0 if not given
    TaskStatus status = TaskStatus::kRunning;
    int64_t started_ms = 0;
    int64_t to_move = 0;
    int64_t moved = 0;
    std::string failure;
  };
  std::mutex tasks_mu;
  std::map<std::string, MoveTask> tasks;
  void load_tasks();
  void persist_task(const MoveTask& t, Durability durability, WriteCallback done);
  enum class MoveOutcome { kMoved, kEmpty, kFailed };
  MoveOutcome move_one(const MoveTask& t, std::string* failure);
};

void Engine::Impl::load_meta() {
  if (auto s = store.get(codec::kSecretKey); s && s->size() == 32) {
    secret = *s;
  } else {
    secret.resize(32);
    base::random_bytes(reinterpret_cast<uint8_t*>(secret.data()), secret.size());
    WriteBatch b;
    b.put(std::string(codec::kSecretKey), secret);
    store.write(std::move(b), Durability::kSync, nullptr);
  }
  uint64_t reserved = 0;
  if (auto s = store.get(codec::kSeqKey); s && s->size() == 8) reserved = codec::get_u64_be(*s);
  next_seq = std::max<uint64_t>(reserved, 1);
  reserved_seq = reserved;
}

uint64_t Engine::Impl::allocate_seqs(uint64_t n) {
  const uint64_t first = next_seq.fetch_add(n);
  if (first + n > reserved_seq.load(std::memory_order_acquire)) reserve_seqs(first + n);
  return first;
}

void Engine::Impl::reserve_seqs(uint64_t needed) {
  std::lock_guard lock(seq_mu);
  if (needed <= reserved_seq.load()) return;
  const uint64_t reserved = needed + kSeqBlock;
  std::string value;
  codec::put_u64_be(value, reserved);
  WriteBatch b;
  b.put(std::string(codec::kSeqKey), std::move(value));
  // Issued before any write that uses these numbers, and the store keeps write order.
  store.write(std::move(b), Durability::kSync, nullptr);
  reserved_seq.store(reserved, std::memory_order_release);
}

std::shared_ptr<Queue> Engine::Impl::find(const QueueId& id) const {
  std::shared_lock lock(dir_mu);
  auto it = queues.find(id);
  return it == queues.end() ? nullptr : it->second;
}

std::optional<DeadLetterTargetInfo> Engine::Impl::target_info(const QueueId& id) const {
  auto it = queues.find(id);
  if (it == queues.end()) return std::nullopt;
  Queue& t = *it->second;
  std::lock_guard lock(t.allow_mu);
  return DeadLetterTargetInfo{t.fifo, t.redrive_allow};
}

// Call with q.mu held.
void Engine::Impl::set_config(Queue& q, QueueConfig config) {
  {
    std::lock_guard lock(q.allow_mu);
    q.redrive_allow = config.redrive_allow_policy;
  }
  q.config = std::move(config);
}

bool Engine::Impl::try_cache(size_t bytes) {
  const int64_t n = cache_cost(bytes);
  if (cache_bytes.fetch_add(n) + n > static_cast<int64_t>(options.body_cache_bytes)) {
    cache_bytes.fetch_sub(n);
    return false;
  }
  return true;
}

void Engine::Impl::maintain(Queue& q, int64_t now, WriteBatch& batch) {
  const int64_t cutoff = now - int64_t{q.config.message_retention_period} * 1000;
  q.messages.expire(cutoff, [&](const MessageMeta& m) { erase(q, m, batch); });
  q.messages.maintain(now);
  // The deduplication window ends 5 minutes after the send, however the message fared.
  while (!q.dedup_order.empty() && q.dedup_order.front().first + kDedupWindowMs <= now) {
    auto& [sent, key] = q.dedup_order.front();
    if (auto it = q.dedup.find(key); it != q.dedup.end() && it->second.sent_ms == sent) {
      q.dedup.erase(it);
      batch.del(codec::dedup_key(q.incarnation, key));
    }
    q.dedup_order.pop_front();
  }
  while (!q.attempt_order.empty() && q.attempt_order.front().first + kAttemptWindowMs <= now) {
    auto& [at, id] = q.attempt_order.front();
    if (auto it = q.attempts.find(id); it != q.attempts.end() && it->second.at_ms == at) {
      q.attempts.erase(it);
    }
    q.attempt_order.pop_front();
  }
}

void Engine::Impl::write_lazy(WriteBatch& batch) {
  if (!batch.empty()) store.write(std::move(batch), Durability::kLazy, nullptr);
}

Result<PreparedSend> Engine::Impl::prepare(const SendLimits& limits, SendRequest& req, int64_t now,
                                           std::string md5_of_body, SendResult* result) {
  if (limits.fifo) {
    // Only the queue's delay applies to FIFO messages; an explicit 0 is accepted.
    if (req.delay_seconds && *req.delay_seconds != 0) {
      return error(Errc::kInvalidParameterValue,
                   "Value " + std::to_string(*req.delay_seconds) +
                       " for parameter DelaySeconds is invalid. Reason: The request include "
                       "parameter that is not valid for this queue type.");
    }
    if (req.message_group_id.empty()) {
      return error(Errc::kMissingParameter,
                   "The request must contain the parameter MessageGroupId.");
    }
    if (!req.deduplication_id.empty()) {
      if (auto r = validate_fifo_token(req.deduplication_id, "MessageDeduplicationId"); !r) {
        return base::fail(r.error());
      }
    } else if (!limits.content_based_deduplication) {
      return error(Errc::kInvalidParameterValue,
                   "The queue should either have ContentBasedDeduplication enabled or "
                   "MessageDeduplicationId provided explicitly");
    }
  } else if (!req.deduplication_id.empty()) {
    return error(Errc::kInvalidParameterValue,
                 "Value " + req.deduplication_id +
                     " for parameter MessageDeduplicationId is invalid. Reason: The request "
                     "include parameter that is not valid for this queue type.");
  }
  if (req.delay_seconds && (*req.delay_seconds < 0 || *req.delay_seconds > kMaxDelaySeconds)) {
    return error(Errc::kInvalidParameterValue,
                 "Value " + std::to_string(*req.delay_seconds) +
                     " for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 "
                     "and <= 900.");
  }
  if (req.checked_md5_of_body.empty()) {
    if (auto r = validate_body(req.body); !r) return base::fail(r.error());
  }
  auto attribute_bytes = validate_message_attributes(req.message_attributes);
  if (!attribute_bytes) return base::fail(attribute_bytes.error());
  if (auto r = validate_system_attributes(req.system_attributes); !r) return base::fail(r.error());
  if (!req.message_group_id.empty()) {
    if (auto r = validate_message_group_id(req.message_group_id); !r) {
      return base::fail(r.error());
    }
  }
  if (req.body.size() + *attribute_bytes > static_cast<size_t>(limits.maximum_message_size)) {
    return error(Errc::kInvalidParameterValue,
                 "One or more parameters are invalid. Reason: Message must be shorter than " +
                     std::to_string(limits.maximum_message_size) + " bytes.");
  }
  const int delay =
      limits.fifo ? limits.delay_seconds : req.delay_seconds.value_or(limits.delay_seconds);
  PreparedSend prepared;
  if (limits.fifo) {
    if (req.deduplication_id.empty()) req.deduplication_id = base::sha256_hex(req.body);
    prepared.group = req.message_group_id;
    prepared.dedup_key = limits.dedup_per_group ? req.message_group_id + "\n" + req.deduplication_id
                                                : req.deduplication_id;
  }
  codec::Payload p;
  p.message_id = base::uuid4();
  if (!req.checked_md5_of_body.empty()) {
    p.md5_of_body = std::move(req.checked_md5_of_body);
  } else if (!md5_of_body.empty()) {
    p.md5_of_body = std::move(md5_of_body);
  } else {
    p.md5_of_body = base::md5_hex(req.body);
  }
  p.sent_ms = now;
  p.first_visible_ms = now + int64_t{delay} * 1000;
  p.body = std::move(req.body);
  p.message_attributes = std::move(req.message_attributes);
  p.system_attributes = std::move(req.system_attributes);
  p.message_group_id = std::move(req.message_group_id);
  p.deduplication_id = std::move(req.deduplication_id);
  result->message_id = p.message_id;
  result->md5_of_body = p.md5_of_body;
  if (req.attribute_md5s_wanted) {
    result->md5_of_message_attributes = md5_of_message_attributes(p.message_attributes);
    result->md5_of_message_system_attributes = md5_of_message_attributes(p.system_attributes);
  }
  prepared.payload = codec::encode_payload(p);
  prepared.sent_ms = p.sent_ms;
  prepared.visible_at_ms = p.first_visible_ms;
  return prepared;
}

// Delivers messages a receive took out of `source` to `target` (its dead-letter queue); if
// the target is gone, back to `source`. Each message's new keys and the deletion of its old
// ones go in one batch, so a crash leaves it in exactly one of the two queues.
void Engine::Impl::move_messages(const std::shared_ptr<Queue>& source,
                                 const std::shared_ptr<Queue>& target,
                                 std::vector<MovedMessage> moved) {
  std::vector<std::function<void()>> wakes;
  for (MovedMessage& m : moved) {
    std::string payload;
    if (m.payload) {
      payload = std::move(*m.payload);
    } else if (auto s = store.get(codec::payload_key(source->incarnation, m.seq))) {
      payload = std::move(*s);
    } else {
      continue;  // purged or deleted meanwhile
    }
    for (Queue* q : {target.get(), source.get()}) {
      std::unique_lock lock(q->mu);
      if (insert_moved(*q, source->arn, source->incarnation, m, payload)) {
        auto w = take_watchers(*q);
        lock.unlock();
        for (auto& wake : w) wakes.push_back(std::move(wake));
        break;
      }
    }
  }
  fire(wakes);
}

// Call with target.mu held. False if the target was deleted.
bool Engine::Impl::insert_moved(Queue& target, const std::string& source_arn,
                                uint64_t source_incarnation, MovedMessage& m,
                                const std::string& payload, bool redrive) {
  if (target.deleted) return false;
  codec::Payload p;
  if (!codec::decode_payload(payload, &p)) return true;  // corrupt: drop, as a read would
  const int64_t now = clock.now_ms();
  WriteBatch batch;
  maintain(target, now, batch);
  std::string encoded = payload;
  codec::MessageState state = m.state;
  if (redrive && target.incarnation != source_incarnation) {
    // Developer Guide: "All redriven messages are considered new messages and are assigned a
    // new messageID and enqueueTime" (and so a fresh retention period and receive count).
    p.dead_letter_source_arn.clear();
    p.message_id = base::uuid4();
    p.sent_ms = p.first_visible_ms = now;
    state = codec::MessageState{};
    encoded = codec::encode_payload(p);
  } else if (target.incarnation != source_incarnation) {
    p.dead_letter_source_arn = source_arn;
    // "When a message is moved from a FIFO queue to a FIFO DLQ, the original message's
    // deduplication ID will be replaced with the original message's ID."
    if (target.fifo) p.deduplication_id = p.message_id;
    encoded = codec::encode_payload(p);
  }
  MessageMeta meta;
  meta.seq = allocate_seqs(1);
  meta.sent_ms = p.sent_ms;  // a dead-lettered message keeps counting from its original send
  meta.visible_at_ms = now;
  meta.receive_count = state.receive_count;
  if (state.first_receive_ms != 0)
    meta.first_receive_offset = meta.to_offset(state.first_receive_ms);
  if (state.last_receive_ms != 0) meta.last_receive_offset = meta.to_offset(state.last_receive_ms);
  meta.status = MessageStatus::kVisible;
  meta.state_stored = true;
  state.visible_at_ms = now;
  batch.del(codec::payload_key(source_incarnation, m.seq));
  batch.del(codec::state_key(source_incarnation, m.seq));
  batch.put(codec::payload_key(target.incarnation, meta.seq), encoded);
  batch.put(codec::state_key(target.incarnation, meta.seq), codec::encode_state(state));
  if (try_cache_new(target, encoded.size())) {
    meta.payload = std::make_unique<std::string>(std::move(encoded));
  }
  target.messages.add(std::move(meta), target.fifo ? p.message_group_id : std::string());
  // Lazy like the receive that triggered it: if lost, the message is still in the source.
  store.write(std::move(batch), Durability::kLazy, nullptr);
  return true;
}

Engine::Engine(storage::Store& store, const base::Clock& clock, EngineOptions options)
    : impl_(std::make_unique<Impl>(store, clock, std::move(options))) {
  impl_->load_meta();
}

Engine::~Engine() = default;

void Engine::save_receive_state() {
  Impl& d = *impl_;
  std::vector<std::shared_ptr<Queue>> queues;
  {
    std::shared_lock lock(d.dir_mu);
    for (const auto& [id, q] : d.queues) queues.push_back(q);
  }
  for (const auto& q : queues) {
    std::lock_guard lock(q->mu);
    if (q->deleted) continue;
    WriteBatch batch;
    q->messages.for_each([&](MessageMeta& m) {
      if (m.state_unsaved) d.save_state(*q, m, batch);
    });
    d.write_lazy(batch);
  }
}

void Engine::recover() {
  Impl& d = *impl_;
  std::unique_lock dir(d.dir_mu);
  d.queues.clear();
  std::unordered_map<uint64_t, std::shared_ptr<Queue>> by_incarnation;
  uint64_t max_seq = 0;
  size_t unreadable = 0;
  d.store.scan(codec::kQueuePrefix, [&](std::string_view key, std::string_view value) {
    QueueRecord r;
    if (!decode_queue_record(value, &r)) {
      // Left in place (a newer version may read it); its messages are kept too, below.
      spdlog::error("sqs: skipping unreadable queue record {}", key);
      ++unreadable;
      return true;
    }
    auto q = std::make_shared<Queue>(r.id, d.arn(r.id), r.incarnation, d.cache_bytes);
    // Validated when set; the dead-letter target may simply not be loaded yet.
    AttributeContext context{d.options.region, r.id.account, nullptr, q->arn, true};
    QueueConfig base;
    if (auto f = r.attributes.find("FifoQueue"); f != r.attributes.end() && f->second == "true") {
      base.fifo = true;
      q->fifo = true;
      q->messages.enable_groups();
    }
    if (auto config = apply_queue_attributes(base, r.attributes, context)) {
      d.set_config(*q, std::move(*config));
    } else {
      spdlog::error("sqs: queue {}: stored attributes rejected ({}); using defaults", r.id.name,
                    config.error().message);
    }
    q->tags = std::move(r.tags);
    q->created_s = r.created_s;
    q->modified_s = r.modified_s;
    q->last_purge_ms = r.last_purge_ms;
    max_seq = std::max(max_seq, r.incarnation);
    by_incarnation[r.incarnation] = q;
    d.queues[r.id] = std::move(q);
    return true;
  });

  const int64_t now = d.clock.now_ms();
  std::vector<uint64_t> orphans;  // incarnations with messages but no queue
  Queue* current = nullptr;
  uint64_t current_incarnation = 0;
  std::optional<MessageMeta> pending;
  std::string pending_group;
  auto flush = [&] {
    if (!pending || !current) return;
    MessageMeta& m = *pending;
    if (m.visible_at_ms > now) {
      m.status = m.receive_count > 0 ? MessageStatus::kInflight : MessageStatus::kDelayed;
    } else {
      m.status = MessageStatus::kVisible;
    }
    // An in-flight FIFO message locks its group again, as before the restart.
    current->messages.add(std::move(m), pending_group);
    pending.reset();
  };
  d.store.scan(codec::kMessagePrefix, [&](std::string_view key, std::string_view value) {
    uint64_t incarnation, seq;
    char kind;
    if (!codec::parse_message_key(key, &incarnation, &seq, &kind)) return true;
    max_seq = std::max(max_seq, seq);
    if (incarnation != current_incarnation || !current) {
      flush();
      current_incarnation = incarnation;
      auto it = by_incarnation.find(incarnation);
      current = it == by_incarnation.end() ? nullptr : it->second.get();
      if (!current) {
        if (orphans.empty() || orphans.back() != incarnation) orphans.push_back(incarnation);
        return true;
      }
    }
    if (!current) return true;
    if (kind == 'p') {
      flush();
      MessageMeta m;
      m.seq = seq;
      if (current->fifo) {
        codec::Payload p;
        if (!codec::decode_payload(value, &p)) return true;
        m.sent_ms = p.sent_ms;
        m.visible_at_ms = p.first_visible_ms;
        pending_group = std::move(p.message_group_id);
      } else if (!codec::peek_payload_times(value, &m.sent_ms, &m.visible_at_ms)) {
        return true;
      }
      if (d.try_cache(value.size())) m.payload = std::make_unique<std::string>(value);
      pending = std::move(m);
    } else if (pending && pending->seq == seq) {
      codec::MessageState s;
      if (codec::decode_state(value, &s)) {
        pending->visible_at_ms = s.visible_at_ms;
        pending->receive_count = s.receive_count;
        pending->state_stored = true;
        if (s.first_receive_ms)
          pending->first_receive_offset = pending->to_offset(s.first_receive_ms);
        if (s.last_receive_ms) pending->last_receive_offset = pending->to_offset(s.last_receive_ms);
      }
    }
    return true;
  });
  flush();

  // FIFO deduplication windows still open.
  WriteBatch cleanup;
  d.store.scan(codec::kDedupPrefix, [&](std::string_view key, std::string_view value) {
    uint64_t incarnation;
    std::string scope_key;
    codec::DedupRecord rec;
    if (!codec::parse_dedup_key(key, &incarnation, &scope_key)) return true;
    auto it = by_incarnation.find(incarnation);
    if (it == by_incarnation.end() || !codec::decode_dedup(value, &rec) ||
        rec.sent_ms + kDedupWindowMs <= now) {
      if (it != by_incarnation.end() || unreadable == 0) cleanup.del(std::string(key));
      return true;
    }
    Queue& q = *it->second;
    max_seq = std::max(max_seq, rec.seq);
    q.dedup_order.emplace_back(rec.sent_ms, scope_key);
    q.dedup[scope_key] = {rec.sent_ms, rec.seq, std::move(rec.message_id)};
    return true;
  });
  for (auto& [inc, q] : by_incarnation) {
    std::sort(q->dedup_order.begin(), q->dedup_order.end());
  }

  // Sequence numbers must stay above everything seen, even if the reservation was lost.
  if (max_seq + 1 > d.next_seq.load()) d.next_seq = max_seq + 1;
  d.reserve_seqs(d.next_seq.load() + 1);
  // Messages of no queue are leftovers (delete_queue removes record and messages in one
  // batch, so there should be none); they are kept if some queue record could not be read.
  for (uint64_t inc : orphans) {
    if (unreadable > 0) break;
    cleanup.delete_range(codec::message_prefix(inc), codec::message_prefix(inc + 1));
  }
  d.write_lazy(cleanup);
  d.load_tasks();
  size_t messages = 0;
  for (auto& [id, q] : d.queues) messages += q->messages.size();
  spdlog::info("sqs: recovered {} queues, {} messages", d.queues.size(), messages);
}

// Queues ----------------------------------------------------------------------------------

Result<base::Ok> Engine::create_queue(const QueueId& id, const AttributeMap& attributes,
                                      const TagMap& tags, storage::WriteCallback done) {
  Impl& d = *impl_;
  bool fifo = false;
  if (auto r = validate_queue_name(id.name, attributes, &fifo); !r) return base::fail(r.error());
  if (auto r = validate_tags(tags); !r) return base::fail(r.error());
  if (tags.size() > static_cast<size_t>(kMaxTagsPerQueue)) {
    return error(Errc::kInvalidParameterValue, "Too many tags added for queue " + id.name + ".");
  }
  DeferredDone deferred(std::move(done));
  {
    std::unique_lock dir(d.dir_mu);
    AttributeContext context{d.options.region, id.account,
                             [&](const QueueId& q) { return d.target_info(q); }, d.arn(id), true};
    if (auto it = d.queues.find(id); it != d.queues.end()) {
      Queue& q = *it->second;
      std::lock_guard lock(q.mu);
      if (q.fifo != fifo) {
        return error(Errc::kQueueNameExists,
                     "A queue already exists with the same name and a different value for "
                     "attribute FifoQueue");
      }
      auto proposed = apply_queue_attributes(q.config, attributes, context);
      if (!proposed) return base::fail(proposed.error());
      // As AWS: only attributes named in the request are compared with the queue's.
      const AttributeMap current = settable_attributes(q.config);
      const AttributeMap wanted = settable_attributes(*proposed);
      std::string differing;
      for (const auto& [name, value] : attributes) {
        auto a = current.find(name), b = wanted.find(name);
        const std::string& x = a == current.end() ? std::string() : a->second;
        const std::string& y = b == wanted.end() ? std::string() : b->second;
        if (x != y) {
          differing = name;
          break;
        }
      }
      if (differing.empty() && current != wanted) {
        for (const auto& [name, value] : wanted) {
          if (auto a = current.find(name); a == current.end() || a->second != value) {
            differing = name;
            break;
          }
        }
      }
      if (!differing.empty()) {
        return error(Errc::kQueueNameExists,
                     "A queue already exists with the same name and a different value for "
                     "attribute " +
                         differing);
      }
      // Nothing to write, but the queue's own creation may not be durable yet: an empty
      // synced write completes after it.
      d.store.write(WriteBatch{}, Durability::kSync, deferred.callback());
    } else {
      if (auto gone = d.recently_deleted.find(id); gone != d.recently_deleted.end()) {
        if (d.clock.now_ms() - gone->second < kRecentlyDeletedMs) {
          return error(Errc::kQueueDeletedRecently,
                       "You must wait 60 seconds after deleting a queue before you can create "
                       "another with the same name.");
        }
        d.recently_deleted.erase(gone);
      }
      QueueConfig base;
      base.fifo = fifo;
      auto config = apply_queue_attributes(base, attributes, context);
      if (!config) return base::fail(config.error());
      auto q = std::make_shared<Queue>(id, d.arn(id), d.allocate_seqs(1), d.cache_bytes);
      q->fifo = fifo;
      if (fifo) q->messages.enable_groups();
      std::lock_guard lock(q->mu);
      d.set_config(*q, std::move(*config));
      q->tags = tags;
      q->created_s = q->modified_s = d.clock.now_ms() / 1000;
      WriteBatch batch;
      batch.put(codec::queue_key(id), encode_queue_record(*q));
      d.store.write(std::move(batch), Durability::kSync, deferred.callback());
      d.queues.emplace(id, std::move(q));
    }
  }
  deferred.release();
  return base::Ok{};
}

Result<base::Ok> Engine::delete_queue(const QueueId& id, storage::WriteCallback done) {
  Impl& d = *impl_;
  DeferredDone deferred(std::move(done));
  std::vector<std::function<void()>> wakes;
  {
    std::unique_lock dir(d.dir_mu);
    auto it = d.queues.find(id);
    if (it == d.queues.end()) return queue_does_not_exist();
    std::shared_ptr<Queue> q = std::move(it->second);
    d.queues.erase(it);
    std::lock_guard lock(q->mu);
    q->deleted = true;
    q->messages.clear();
    wakes = take_watchers(*q);
    q->dedup.clear();
    q->dedup_order.clear();
    q->attempts.clear();
    q->attempt_order.clear();
    const int64_t now = d.clock.now_ms();
    // Forget names deleted long ago, so the map stays small.
    std::erase_if(d.recently_deleted,
                  [&](const auto& e) { return now - e.second >= kRecentlyDeletedMs; });
    d.recently_deleted[id] = now;
    WriteBatch batch;
    batch.del(codec::queue_key(id));
    batch.delete_range(codec::message_prefix(q->incarnation),
                       codec::message_prefix(q->incarnation + 1));
    batch.delete_range(codec::dedup_prefix(q->incarnation),
                       codec::dedup_prefix(q->incarnation + 1));
    d.store.write(std::move(batch), Durability::kSync, deferred.callback());
  }
  deferred.release();
  fire(wakes);
  return base::Ok{};
}

bool Engine::queue_exists(const QueueId& id) const { return impl_->find(id) != nullptr; }

std::vector<std::string> Engine::list_queues(const std::string& account,
                                             const std::string& prefix) const {
  const Impl& d = *impl_;
  std::vector<std::string> names;
  std::shared_lock lock(d.dir_mu);
  for (auto it = d.queues.lower_bound(QueueId{account, prefix});
       it != d.queues.end() && it->first.account == account && it->first.name.starts_with(prefix);
       ++it) {
    names.push_back(it->first.name);
  }
  return names;
}

Result<AttributeMap> Engine::get_queue_attributes(const QueueId& id,
                                                  const std::vector<std::string>& names) const {
  Impl& d = *impl_;
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
  for (const std::string& name : names) {
    if (!is_gettable_attribute(name, q->fifo)) {
      return error(Errc::kInvalidAttributeName, "Unknown Attribute " + name + ".");
    }
  }
  AttributeMap all;
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    WriteBatch expired;
    d.maintain(*q, d.clock.now_ms(), expired);
    d.write_lazy(expired);
    all = settable_attributes(q->config);
    all["QueueArn"] = q->arn;
    all["ApproximateNumberOfMessages"] = std::to_string(q->messages.visible());
    all["ApproximateNumberOfMessagesNotVisible"] = std::to_string(q->messages.inflight());
    all["ApproximateNumberOfMessagesDelayed"] = std::to_string(q->messages.delayed());
    all["CreatedTimestamp"] = std::to_string(q->created_s);
    all["LastModifiedTimestamp"] = std::to_string(q->modified_s);
  }
  if (std::find(names.begin(), names.end(), "All") != names.end()) return all;
  AttributeMap selected;
  for (const std::string& name : names) {
    if (auto it = all.find(name); it != all.end()) selected.insert(*it);
  }
  return selected;
}

Result<base::Ok> Engine::set_queue_attributes(const QueueId& id, const AttributeMap& attributes,
                                              storage::WriteCallback done) {
  Impl& d = *impl_;
  DeferredDone deferred(std::move(done));
  {
    // Shared directory lock held throughout: the RedrivePolicy check looks other queues up.
    std::shared_lock dir(d.dir_mu);
    auto it = d.queues.find(id);
    if (it == d.queues.end()) return queue_does_not_exist();
    Queue& q = *it->second;
    AttributeContext context{d.options.region, id.account,
                             [&](const QueueId& other) { return d.target_info(other); }, q.arn,
                             false};
    std::lock_guard lock(q.mu);
    auto config = apply_queue_attributes(q.config, attributes, context);
    if (!config) return base::fail(config.error());
    d.set_config(q, std::move(*config));
    q.modified_s = d.clock.now_ms() / 1000;
    WriteBatch batch;
    batch.put(codec::queue_key(id), encode_queue_record(q));
    d.store.write(std::move(batch), Durability::kSync, deferred.callback());
  }
  deferred.release();
  return base::Ok{};
}

Result<base::Ok> Engine::tag_queue(const QueueId& id, const TagMap& tags,
                                   storage::WriteCallback done) {
  Impl& d = *impl_;
  if (auto r = validate_tags(tags); !r) return base::fail(r.error());
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
  DeferredDone deferred(std::move(done));
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    TagMap merged = q->tags;
    for (const auto& [k, v] : tags) merged[k] = v;
    if (merged.size() > static_cast<size_t>(kMaxTagsPerQueue)) {
      return error(Errc::kInvalidParameterValue, "Too many tags added for queue " + id.name + ".");
    }
    q->tags = std::move(merged);
    WriteBatch batch;
    batch.put(codec::queue_key(id), encode_queue_record(*q));
    d.store.write(std::move(batch), Durability::kSync, deferred.callback());
  }
  deferred.release();
  return base::Ok{};
}

Result<base::Ok> Engine::untag_queue(const QueueId& id, const std::vector<std::string>& keys,
                                     storage::WriteCallback done) {
  Impl& d = *impl_;
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
  DeferredDone deferred(std::move(done));
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    for (const std::string& k : keys) q->tags.erase(k);
    WriteBatch batch;
    batch.put(codec::queue_key(id), encode_queue_record(*q));
    d.store.write(std::move(batch), Durability::kSync, deferred.callback());
  }
  deferred.release();
  return base::Ok{};
}

Result<TagMap> Engine::list_queue_tags(const QueueId& id) const {
  auto q = impl_->find(id);
  if (!q) return queue_does_not_exist();
  std::lock_guard lock(q->mu);
  if (q->deleted) return queue_does_not_exist();
  return q->tags;
}

Result<base::Ok> Engine::purge_queue(const QueueId& id, storage::WriteCallback done) {
  Impl& d = *impl_;
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
  DeferredDone deferred(std::move(done));
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    const int64_t now = d.clock.now_ms();
    if (now - q->last_purge_ms < kPurgeIntervalMs) {
      return error(Errc::kPurgeQueueInProgress,
                   "Only one PurgeQueue operation on " + id.name + " is allowed every 60 seconds.");
    }
    q->last_purge_ms = now;
    // Every message of the queue so far was indexed under this lock: all go.
    q->messages.clear();
    WriteBatch batch;
    batch.delete_range(codec::message_prefix(q->incarnation),
                       codec::message_prefix(q->incarnation + 1));
    batch.put(codec::queue_key(id), encode_queue_record(*q));
    d.store.write(std::move(batch), Durability::kSync, deferred.callback());
  }
  deferred.release();
  return base::Ok{};
}

std::string Engine::queue_arn(const QueueId& id) const { return impl_->arn(id); }

Result<std::vector<std::string>> Engine::list_dead_letter_source_queues(const QueueId& id) const {
  const Impl& d = *impl_;
  std::vector<std::shared_ptr<Queue>> candidates;
  {
    std::shared_lock lock(d.dir_mu);
    if (!d.queues.contains(id)) return queue_does_not_exist();
    for (auto it = d.queues.lower_bound(QueueId{id.account, ""});
         it != d.queues.end() && it->first.account == id.account; ++it) {
      candidates.push_back(it->second);
    }
  }
  std::vector<std::string> names;
  for (const auto& q : candidates) {
    std::lock_guard lock(q->mu);
    if (!q->deleted && q->config.dead_letter_target == id) names.push_back(q->id.name);
  }
  return names;
}

namespace {

// AddPermission accepts the actions a queue can share; the owner-only ones get their own reason.
constexpr std::string_view kShareableActions[] = {"*",
                                                  "SendMessage",
                                                  "ReceiveMessage",
                                                  "DeleteMessage",
                                                  "ChangeMessageVisibility",
                                                  "GetQueueAttributes",
                                                  "GetQueueUrl",
                                                  "ListDeadLetterSourceQueues",
                                                  "PurgeQueue",
                                                  "ListQueueTags",
                                                  "ListMessageMoveTasks",
                                                  "StartMessageMoveTask",
                                                  "CancelMessageMoveTask"};
constexpr std::string_view kOwnerActions[] = {
    "AddPermission", "RemovePermission", "SetQueueAttributes", "DeleteQueue",
    "CreateQueue",   "TagQueue",         "UntagQueue",         "ListQueues"};
constexpr size_t kMaxPermissionActions = 7;

bool one_of(std::string_view v, std::span<const std::string_view> set) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

// The queue's policy document, or AWS's default one to add statements to.
json::object policy_document(const Queue& q) {
  if (!q.config.policy.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(q.config.policy, ec);
    if (!ec && v.is_object()) {
      json::object o = std::move(v.as_object());
      json::value& st = o["Statement"];
      if (st.is_object()) st = json::array{std::move(st)};
      if (!st.is_array()) st = json::array{};
      return o;
    }
  }
  json::object o;
  o["Version"] = "2012-10-17";
  o["Id"] = q.arn + "/SQSDefaultPolicy";
  o["Statement"] = json::array{};
  return o;
}

// One value as itself, several as a list, as AWS writes Principal.AWS and Action.
json::value one_or_list(const std::vector<std::string>& values) {
  if (values.size() == 1) return json::value(values.front());
  json::array a;
  for (const auto& v : values) a.emplace_back(v);
  return a;
}

}  // namespace

Result<base::Ok> Engine::add_permission(const QueueId& id, const std::string& label,
                                        const std::vector<std::string>& account_ids,
                                        const std::vector<std::string>& actions,
                                        storage::WriteCallback done) {
  Impl& d = *impl_;
  bool label_ok = !label.empty() && label.size() <= 80;
  for (char c : label) {
    label_ok = label_ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  }
  if (!label_ok) {
    return error(Errc::kInvalidParameterValue,
                 "Value " + label +
                     " for parameter Label is invalid. Reason: Can only include alphanumeric "
                     "characters, hyphens, or underscores. 1 to 80 in length");
  }
  if (account_ids.empty()) {
    return error(Errc::kInvalidParameterValue,
                 "Value [] for parameter PrincipalId is invalid. Reason: Unable to verify.");
  }
  if (actions.empty()) {
    return error(Errc::kMissingParameter, "The request must contain the parameter Actions.");
  }
  if (actions.size() > kMaxPermissionActions) {
    return error(Errc::kOverLimit,
                 std::to_string(actions.size()) + " Actions were found, maximum allowed is 7.");
  }
  for (const std::string& a : actions) {
    if (one_of(a, kOwnerActions)) {
      return error(Errc::kInvalidParameterValue,
                   "Value SQS:" + a +
                       " for parameter ActionName is invalid. Reason: Only the queue owner is "
                       "allowed to invoke this action.");
    }
    if (!one_of(a, kShareableActions)) {
      return error(Errc::kInvalidParameterValue,
                   "Value SQS:" + a +
                       " for parameter ActionName is invalid. Reason: Please refer to the "
                       "appropriate WSDL for a list of valid actions. ");
    }
  }
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
  DeferredDone deferred(std::move(done));
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    json::object policy = policy_document(*q);
    json::array& statements = policy["Statement"].as_array();
    for (const json::value& st : statements) {
      const json::value* sid = st.is_object() ? st.as_object().if_contains("Sid") : nullptr;
      if (sid && sid->is_string() && sid->as_string() == label) {
        return error(Errc::kInvalidParameterValue,
                     "Value " + label + " for parameter Label is invalid. Reason: Already exists.");
      }
    }
    std::vector<std::string> principals, qualified;
    for (const auto& account : account_ids)
      principals.push_back("arn:aws:iam::" + account + ":root");
    for (const auto& a : actions) qualified.push_back("SQS:" + a);
    json::object st;
    st["Sid"] = label;
    st["Effect"] = "Allow";
    st["Principal"] = json::object{{"AWS", one_or_list(principals)}};
    st["Action"] = one_or_list(qualified);
    st["Resource"] = q->arn;
    statements.push_back(std::move(st));
    QueueConfig config = q->config;
    config.policy = json::serialize(policy);
    d.set_config(*q, std::move(config));
    q->modified_s = d.clock.now_ms() / 1000;
    WriteBatch batch;
    batch.put(codec::queue_key(id), encode_queue_record(*q));
    d.store.write(std::move(batch), Durability::kSync, deferred.callback());
  }
  deferred.release();
  return base::Ok{};
}

Result<base::Ok> Engine::remove_permission(const QueueId& id, const std::string& label,
                                           storage::WriteCallback done) {
  Impl& d = *impl_;
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
  DeferredDone deferred(std::move(done));
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    if (q->config.policy.empty()) {
      return error(Errc::kInvalidParameterValue,
                   "Value " + label + " for parameter Label is invalid. Reason: can't find label.");
    }
    json::object policy = policy_document(*q);
    json::array& statements = policy["Statement"].as_array();
    const size_t before = statements.size();
    for (auto it = statements.begin(); it != statements.end();) {
      const json::value* sid = it->is_object() ? it->as_object().if_contains("Sid") : nullptr;
      it = sid && sid->is_string() && sid->as_string() == label ? statements.erase(it) : it + 1;
    }
    if (statements.size() == before) {
      return error(Errc::kInvalidParameterValue,
                   "Value " + label +
                       " for parameter Label is invalid. Reason: can't find label on existing "
                       "policy.");
    }
    QueueConfig config = q->config;
    config.policy = statements.empty() ? std::string() : json::serialize(policy);
    d.set_config(*q, std::move(config));
    q->modified_s = d.clock.now_ms() / 1000;
    WriteBatch batch;
    batch.put(codec::queue_key(id), encode_queue_record(*q));
    d.store.write(std::move(batch), Durability::kSync, deferred.callback());
  }
  deferred.release();
  return base::Ok{};
}

// Messages --------------------------------------------------------------------------------

Result<SendResult> Engine::send_message(const QueueId& id, SendRequest request,
                                        storage::WriteCallback done) {
  std::vector<SendRequest> batch;
  batch.push_back(std::move(request));
  auto results = send_messages(id, std::move(batch), std::move(done));
  if (!results) return base::fail(results.error());
  return std::move(results->front());
}

Result<SendPlan> Engine::Impl::plan_send(const QueueId& id, std::vector<SendRequest>& requests,
                                         int64_t now) {
  Impl& d = *this;
  SendPlan plan;
  plan.q = d.find(id);
  if (!plan.q) return queue_does_not_exist();
  {
    std::lock_guard lock(plan.q->mu);
    if (plan.q->deleted) return queue_does_not_exist();
    const QueueConfig& c = plan.q->config;
    plan.limits = {c.delay_seconds, c.maximum_message_size, c.fifo, c.content_based_deduplication,
                   c.dedup_per_group};
  }
  plan.results.reserve(requests.size());
  plan.prepared.reserve(requests.size());
  // A batch's bodies are hashed side by side (base/md5_multi.h); a body found invalid later
  // was hashed for nothing, which costs less than a second pass.
  std::vector<std::string> md5s(requests.size());
  if (requests.size() > 1) {
    std::vector<std::string_view> bodies;
    std::vector<size_t> at;
    for (size_t i = 0; i < requests.size(); ++i) {
      if (!requests[i].checked_md5_of_body.empty()) continue;
      bodies.push_back(requests[i].body);
      at.push_back(i);
    }
    auto hex = base::md5_hex_many(bodies);
    for (size_t i = 0; i < at.size(); ++i) md5s[at[i]] = std::move(hex[i]);
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    SendRequest& req = requests[i];
    SendResult result;
    auto p = d.prepare(plan.limits, req, now, std::move(md5s[i]), &result);
    if (p) {
      plan.results.emplace_back(std::move(result));
      plan.prepared.emplace_back(std::move(*p));
      ++plan.accepted;
    } else {
      plan.results.emplace_back(base::fail(p.error()));
      plan.prepared.emplace_back(std::nullopt);
    }
  }
  return plan;
}

Result<base::Ok> Engine::Impl::apply_send(SendPlan& plan, int64_t now, WriteBatch& batch) {
  Impl& d = *this;
  Queue* q = plan.q.get();
  if (q->deleted) return queue_does_not_exist();
  d.maintain(*q, now, batch);
  // The queue may have been recreated since limits were read: a FIFO send needs FIFO state.
  if (q->config.fifo != plan.limits.fifo) return queue_does_not_exist();
  const bool fifo = plan.limits.fifo;
  uint64_t seq = d.allocate_seqs(plan.accepted);
  for (size_t i = 0; i < plan.prepared.size(); ++i) {
    auto& p = plan.prepared[i];
    if (!p) continue;
    auto& result = plan.results[i];
    if (fifo) {
      // A duplicate within the window is accepted but not enqueued: it answers with the
      // message that was (the SDK checks the MD5 of the body it sent).
      if (auto it = q->dedup.find(p->dedup_key);
          it != q->dedup.end() && now < it->second.sent_ms + kDedupWindowMs) {
        result->message_id = it->second.message_id;
        result->sequence_number = codec::sequence_number(it->second.seq);
        continue;
      }
    }
    MessageMeta m;
    m.seq = seq++;
    m.sent_ms = p->sent_ms;
    m.visible_at_ms = p->visible_at_ms;
    m.status = p->visible_at_ms > now ? MessageStatus::kDelayed : MessageStatus::kVisible;
    m.awaits_sync = true;
    plan.last_seq = m.seq;
    if (d.try_cache_new(*q, p->payload.size())) {
      m.payload = std::make_unique<std::string>(p->payload);
    }
    batch.put(codec::payload_key(q->incarnation, m.seq), std::move(p->payload));
    if (fifo) {
      result->sequence_number = codec::sequence_number(m.seq);
      q->dedup[p->dedup_key] = {now, m.seq, result->message_id};
      q->dedup_order.emplace_back(now, p->dedup_key);
      // Synced with the message: after a crash the window still rejects its duplicates.
      batch.put(codec::dedup_key(q->incarnation, p->dedup_key),
                codec::encode_dedup({now, m.seq, result->message_id}));
    }
    q->messages.add(std::move(m), p->group);
  }
  return base::Ok{};
}

Result<std::vector<Result<SendResult>>> Engine::send_messages(const QueueId& id,
                                                              std::vector<SendRequest> requests,
                                                              storage::WriteCallback done) {
  Impl& d = *impl_;
  const int64_t now = d.clock.now_ms();
  auto plan = d.plan_send(id, requests, now);
  if (!plan) return base::fail(plan.error());
  if (plan->accepted == 0) return std::move(plan->results);

  std::optional<DeferredDone> deferred;
  {
    std::lock_guard lock(plan->q->mu);
    WriteBatch batch;
    if (auto applied = d.apply_send(*plan, now, batch); !applied) {
      return base::fail(applied.error());
    }
    deferred.emplace(after_sync({{plan->q, plan->last_seq}}, std::move(done)));
    // Even a batch of duplicates only (nothing to write) answers after a sync, so that the
    // originals it reports are durable.
    d.store.write(std::move(batch), Durability::kSync, deferred->callback());
  }
  deferred->release();
  return std::move(plan->results);
}

std::vector<Result<std::vector<Result<SendResult>>>> Engine::send_to_queues(
    std::vector<QueueSend> sends, WriteBatch also, storage::WriteCallback done) {
  Impl& d = *impl_;
  const int64_t now = d.clock.now_ms();
  std::vector<Result<std::vector<Result<SendResult>>>> out;
  std::vector<std::optional<SendPlan>> plans;
  out.reserve(sends.size());
  plans.reserve(sends.size());
  for (auto& send : sends) {
    auto plan = d.plan_send(send.queue, send.requests, now);
    if (plan) {
      plans.emplace_back(std::move(*plan));
      out.emplace_back(std::vector<Result<SendResult>>{});
    } else {
      plans.emplace_back(std::nullopt);
      out.emplace_back(base::fail(plan.error()));
    }
  }
  // Queue locks are taken in address order: no other path holds two queue locks at once, so
  // this order cannot deadlock. One queue named twice is locked once.
  std::vector<Queue*> queues;
  for (auto& plan : plans) {
    if (plan && plan->accepted > 0) queues.push_back(plan->q.get());
  }
  std::sort(queues.begin(), queues.end());
  queues.erase(std::unique(queues.begin(), queues.end()), queues.end());

  std::optional<DeferredDone> deferred;
  {
    std::vector<std::unique_lock<std::mutex>> locks;
    locks.reserve(queues.size());
    for (Queue* q : queues) locks.emplace_back(q->mu);
    WriteBatch batch = std::move(also);
    std::vector<std::pair<std::shared_ptr<Queue>, uint64_t>> sent;
    for (size_t i = 0; i < plans.size(); ++i) {
      auto& plan = plans[i];
      if (!plan) continue;
      if (plan->accepted > 0) {
        if (auto applied = d.apply_send(*plan, now, batch); !applied) {
          out[i] = base::fail(applied.error());
          continue;
        }
        if (plan->last_seq != 0) sent.emplace_back(plan->q, plan->last_seq);
      }
      out[i] = std::move(plan->results);
    }
    deferred.emplace(after_sync(std::move(sent), std::move(done)));
    d.store.write(std::move(batch), Durability::kSync, deferred->callback());
  }
  deferred->release();
  return out;
}

// What start_receive() leaves to finish_receive(): the work that reads the store.
struct PendingReceive::Work {
  std::shared_ptr<Queue> q;
  std::shared_ptr<Queue> dlq;
  std::string sender;      // the queue's account (SenderId)
  ReceiveRequest request;  // the attribute selection
  std::vector<Fetch> fetches;
  std::vector<MovedMessage> moved;
};

PendingReceive::PendingReceive() = default;
PendingReceive::~PendingReceive() = default;
PendingReceive::PendingReceive(PendingReceive&&) noexcept = default;
PendingReceive& PendingReceive::operator=(PendingReceive&&) noexcept = default;

Result<std::vector<ReceivedMessage>> Engine::receive_messages(const QueueId& id,
                                                              const ReceiveRequest& request) {
  auto pending = start_receive(id, request);
  if (!pending) return base::fail(pending.error());
  return finish_receive(std::move(*pending));
}

Result<PendingReceive> Engine::start_receive(const QueueId& id, const ReceiveRequest& request) {
  Impl& d = *impl_;
  if (request.max_messages < 1 || request.max_messages > 10) {
    return error(Errc::kInvalidParameterValue,
                 "Value " + std::to_string(request.max_messages) +
                     " for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 "
                     "and 10, if provided.");
  }
  if (request.visibility_timeout &&
      (*request.visibility_timeout < 0 || *request.visibility_timeout > kMaxVisibilityTimeout)) {
    return error(Errc::kInvalidParameterValue,
                 "Value " + std::to_string(*request.visibility_timeout) +
                     " for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and "
                     "43200, if provided.");
  }
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
  // The dead-letter queue is looked up before taking q's lock (lock order).
  std::shared_ptr<Queue> dlq;
  {
    std::optional<QueueId> target;
    {
      std::lock_guard lock(q->mu);
      if (q->deleted) return queue_does_not_exist();
      target = q->config.dead_letter_target;
    }
    if (target) dlq = d.find(*target);
  }

  std::vector<ReceivedMessage> out;
  std::vector<Fetch> fetches;
  std::vector<codec::ReceiptHandle> handles;  // parallel to out
  std::vector<std::string> handle_texts;      // parallel to out when made under the lock
  std::vector<MovedMessage> moved;
  bool read_ahead = false;
  uint64_t last_seq = 0;  // the highest sequence number delivered
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    const int64_t now = d.clock.now_ms();
    WriteBatch batch;
    d.maintain(*q, now, batch);
    MessageIndex& index = q->messages;
    const bool fifo = q->config.fifo;
    const size_t limit = static_cast<size_t>(
        std::max(fifo ? d.options.max_inflight_fifo : d.options.max_inflight_standard, 0));
    if (index.inflight() >= limit && !fifo) {
      d.write_lazy(batch);
      return error(Errc::kOverLimit, "The maximum number of in flight messages (" +
                                         std::to_string(limit) + ") for queue " + id.name +
                                         " has been reached.");
    }
    const size_t wanted =
        index.inflight() >= limit
            ? 0
            : std::min(static_cast<size_t>(request.max_messages), limit - index.inflight());
    const int timeout = request.visibility_timeout.value_or(q->config.visibility_timeout);
    const int64_t retention_cutoff = now - int64_t{q->config.message_retention_period} * 1000;
    const int max_receives = dlq ? q->config.max_receive_count : 0;
    std::vector<MessageMeta*> requeue;  // received with a zero timeout: visible again after

    // The receive count decides a redrive and a FIFO message's state guards its group's
    // order, so these states are written at once. Other queues keep them in memory until
    // shutdown (save_receive_state): a crash then makes in-flight messages visible again with
    // their earlier counts, a redelivery that SQS's at-least-once delivery allows.
    const bool state_matters = fifo || max_receives > 0;
    // Adds m to the answer: its payload now if cached, else in finish_receive().
    auto answer = [&](MessageMeta& m) {
      if (state_matters) {
        d.save_state(*q, m, batch);
      } else {
        m.state_unsaved = true;
      }
      ReceivedMessage& r = out.emplace_back();
      last_seq = std::max(last_seq, m.seq);
      handles.push_back({q->incarnation, m.seq, m.receive_count});
      const ReceiveView view{m.receive_count, m.first_receive_ms(), m.seq, fifo};
      codec::Payload p;
      if (m.payload && codec::decode_payload(*m.payload, &p)) {
        fill_received(std::move(p), view, id.account, request, &r);
      } else {
        fetches.push_back({out.size() - 1, m.seq, view});
      }
    };
    auto deliver = [&](MessageMeta& m) {
      ++m.receive_count;
      if (m.first_receive_offset == 0) m.first_receive_offset = m.to_offset(now);
      m.last_receive_offset = m.to_offset(now);
      if (timeout > 0) {
        index.set_invisible(m, now + int64_t{timeout} * 1000, MessageStatus::kInflight);
      } else {
        m.visible_at_ms = now;
        requeue.push_back(&m);
      }
      answer(m);
    };
    // Takes m out of the queue instead of delivering it: expired (a message moved in from
    // another queue keeps its original send time) or bound for the dead-letter queue.
    auto skip = [&](MessageMeta& m) {
      if (m.sent_ms <= retention_cutoff) {
        d.erase(*q, m, batch);
        index.remove(m);
        return true;
      }
      if (max_receives > 0 && m.receive_count >= static_cast<uint32_t>(max_receives)) {
        moved.push_back(
            MovedMessage{m.seq, index.take_payload(m),
                         codec::MessageState{m.visible_at_ms, m.receive_count, m.first_receive_ms(),
                                             m.last_receive_ms()}});
        index.remove(m);  // its keys are deleted by the move's batch
        return true;
      }
      return false;
    };

    if (!fifo) {
      while (out.size() < wanted) {
        MessageMeta* m = index.pop_visible();
        if (!m) break;
        if (!skip(*m)) deliver(*m);
      }
    } else {
      const std::string& attempt_id = request.receive_request_attempt_id;
      bool retried = false;
      if (auto it = attempt_id.empty() ? q->attempts.end() : q->attempts.find(attempt_id);
          it != q->attempts.end()) {
        // A retry returns the same messages and handles while none of them was deleted,
        // received again or had its visibility changed; it restarts their visibility timeout.
        bool unchanged = true;
        for (auto [seq, count] : it->second.messages) {
          MessageMeta* m = index.find(seq);
          unchanged =
              unchanged && m && m->receive_count == count &&
              (m->status == MessageStatus::kInflight || m->status == MessageStatus::kVisible);
        }
        if (unchanged) {
          retried = true;
          for (auto [seq, count] : it->second.messages) {
            MessageMeta& m = *index.find(seq);
            if (timeout > 0) {
              index.set_invisible(m, now + int64_t{timeout} * 1000, MessageStatus::kInflight);
            } else if (m.status == MessageStatus::kInflight) {
              index.set_visible(m, now);
            }
            answer(m);
          }
          handle_texts = it->second.handles;
        } else {
          q->attempts.erase(it);
        }
      }
      if (!retried) {
        std::vector<uint64_t> served;
        while (out.size() < wanted) {
          const uint64_t group = index.pop_ready_group();
          if (group == 0) break;
          if (std::find(served.begin(), served.end(), group) != served.end()) continue;
          served.push_back(group);
          // As many messages of one group as possible, in order, then the next group.
          for (uint64_t seq : index.group_messages(group, wanted - out.size() + 64)) {
            if (out.size() >= wanted) break;
            MessageMeta* m = index.find(seq);
            if (!m) continue;
            // Nothing overtakes it.
            if (m->status != MessageStatus::kVisible || index.awaits_sync(*m)) break;
            if (!skip(*m)) deliver(*m);
          }
        }
        for (uint64_t group : served) index.push_ready(group);
        if (!attempt_id.empty() && !out.empty()) {
          Queue::Attempt& a = q->attempts[attempt_id];
          a.at_ms = now;
          for (const auto& h : handles) {
            a.messages.emplace_back(h.seq, h.generation);
            handle_texts.push_back(codec::encode_receipt_handle(h, d.secret));
          }
          a.handles = handle_texts;
          q->attempt_order.emplace_back(now, attempt_id);
        }
      }
    }
    for (MessageMeta* m : requeue) index.push_returned(*m);
    d.write_lazy(batch);
    // The next receives would read from the store: worth a read-ahead if the cache has room,
    // early enough (half a read-ahead before the last one's end) that it is done by the time
    // the receives get there.
    read_ahead =
        last_seq != 0 && index.has_uncached() &&
        q->read_ahead_until.load(std::memory_order_relaxed) < last_seq + kReadAheadMessages / 2 &&
        !q->reading_ahead.load(std::memory_order_relaxed) &&
        d.cache_bytes.load(std::memory_order_relaxed) + kReadAheadRoom <=
            static_cast<int64_t>(d.options.body_cache_bytes);
  }
  // Handles (an HMAC each) are made without holding the queue's lock.
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].receipt_handle = i < handle_texts.size()
                                ? handle_texts[i]
                                : codec::encode_receipt_handle(handles[i], d.secret);
  }
  PendingReceive pending;
  pending.messages_ = std::move(out);
  if (read_ahead) pending.read_ahead = ReadAhead{id, last_seq};
  if (!fetches.empty() || !moved.empty()) {
    pending.work_.reset(new PendingReceive::Work{std::move(q), std::move(dlq), id.account, request,
                                                 std::move(fetches), std::move(moved)});
  }
  return pending;
}

std::vector<ReceivedMessage> Engine::finish_receive(PendingReceive pending) {
  std::vector<ReceivedMessage> out = std::move(pending.messages_);
  if (!pending.work_) return out;
  Impl& d = *impl_;
  PendingReceive::Work& w = *pending.work_;
  if (!w.fetches.empty()) {
    std::vector<bool> gone(out.size(), false);
    for (const Fetch& f : w.fetches) {
      codec::Payload p;
      auto data = d.store.get(codec::payload_key(w.q->incarnation, f.seq));
      if (data && codec::decode_payload(*data, &p)) {
        fill_received(std::move(p), f.view, w.sender, w.request, &out[f.index]);
      } else {
        gone[f.index] = true;  // deleted or purged since it was picked
      }
    }
    size_t k = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (gone[i]) continue;
      if (k != i) out[k] = std::move(out[i]);  // self-move would empty the strings
      ++k;
    }
    out.resize(k);
  }
  if (!w.moved.empty()) d.move_messages(w.q, w.dlq, std::move(w.moved));
  return out;
}

void Engine::read_ahead(const ReadAhead& ahead) {
  Impl& d = *impl_;
  auto q = d.find(ahead.queue);
  if (!q || q->reading_ahead.exchange(true)) return;
  std::vector<uint64_t> seqs;
  const uint64_t after = std::max(ahead.after, q->read_ahead_until.load());
  uint64_t scanned_to = after;
  {
    std::lock_guard lock(q->mu);
    if (!q->deleted)
      seqs = q->messages.uncached_after(after, kReadAheadMessages, 4 * kReadAheadMessages,
                                        &scanned_to);
  }
  // Read without the lock, in one pass over the keys (sequential reads where the payloads are
  // on disk, not one lookup each); a message received, deleted or purged meanwhile is skipped
  // below.
  std::vector<std::pair<uint64_t, std::string>> read;
  int64_t room = static_cast<int64_t>(d.options.body_cache_bytes) - d.cache_bytes.load();
  if (!seqs.empty()) {
    size_t next = 0;  // the first of seqs not yet passed
    d.store.scan_from(codec::message_prefix(q->incarnation),
                      codec::payload_key(q->incarnation, seqs.front()),
                      [&](std::string_view key, std::string_view value) {
                        uint64_t incarnation = 0, seq = 0;
                        char kind = 0;
                        if (!codec::parse_message_key(key, &incarnation, &seq, &kind)) return true;
                        while (next < seqs.size() && seqs[next] < seq) ++next;
                        if (next == seqs.size()) return false;
                        if (kind != 'p' || seqs[next] != seq) return true;
                        room -= cache_cost(value.size());
                        if (room < 0) return false;
                        read.emplace_back(seq, std::string(value));
                        return ++next < seqs.size();
                      });
  }
  size_t cached = 0;
  {
    std::lock_guard lock(q->mu);
    for (auto& [seq, payload] : read) {
      MessageMeta* m = q->messages.find(seq);
      if (!m || m->payload) continue;
      if (!d.try_cache(payload.size())) break;
      q->messages.cache_payload(*m, std::make_unique<std::string>(std::move(payload)));
      ++cached;
    }
  }
  // Past every message it looked at, or, if the cache filled up first, to the last one read.
  const uint64_t until = read.size() == seqs.size() ? scanned_to
                         : read.empty()             ? after
                                                    : read.back().first;
  q->read_ahead_until = until;  // not below it: `after` starts there; one read-ahead at a time
  spdlog::debug("sqs: read {} bodies ahead into the cache for {}/{}", cached, q->id.account,
                q->id.name);
  q->reading_ahead = false;
}

Result<base::Ok> Engine::delete_message(const QueueId& id, const std::string& receipt_handle) {
  return std::move(delete_messages(id, {receipt_handle}).front());
}

std::vector<Result<base::Ok>> Engine::delete_messages(const QueueId& id,
                                                      const std::vector<std::string>& handles) {
  Impl& d = *impl_;
  std::vector<Result<base::Ok>> out;
  out.reserve(handles.size());
  auto q = d.find(id);
  if (!q) {
    for (size_t i = 0; i < handles.size(); ++i) out.push_back(queue_does_not_exist());
    return out;
  }
  // Decoded (base64 and MAC) before the queue's lock is taken.
  std::vector<std::optional<codec::ReceiptHandle>> decoded;
  decoded.reserve(handles.size());
  for (const auto& text : handles) decoded.push_back(codec::decode_receipt_handle(text, d.secret));
  std::vector<std::function<void()>> wakes;
  WriteBatch batch;  // one store write for the whole DeleteMessageBatch
  {
    std::lock_guard lock(q->mu);
    for (size_t i = 0; i < handles.size(); ++i) {
      const std::string& receipt_handle = handles[i];
      const auto& h = decoded[i];
      if (!h) {
        out.push_back(invalid_receipt_handle(receipt_handle));
        continue;
      }
      if (q->deleted) {
        out.push_back(queue_does_not_exist());
        continue;
      }
      if (h->incarnation != q->incarnation) {
        out.push_back(invalid_receipt_handle(receipt_handle));
        continue;
      }
      // A message already gone is not an error, and neither is an older handle of a message
      // received again since: AWS deletes it all the same on standard queues. A FIFO queue
      // refuses a handle whose message is no longer in flight under it: the message may be in
      // another consumer's hands, and deleting it would break the group's order.
      if (MessageMeta* m = q->messages.find(h->seq)) {
        if (q->fifo &&
            (m->receive_count != h->generation || m->status != MessageStatus::kInflight ||
             m->visible_at_ms <= d.clock.now_ms())) {
          out.push_back(error(Errc::kInvalidParameterValue,
                              "Value " + receipt_handle +
                                  " for parameter ReceiptHandle is invalid. Reason: The receipt "
                                  "handle has expired."));
          continue;
        }
        d.erase(*q, *m, batch);
        q->messages.remove(*m);
      }
      out.push_back(base::Ok{});
    }
    d.write_lazy(batch);
    // Deleting a FIFO group's in-flight message may unlock the group for a long poll.
    if (q->fifo && !q->watchers.empty() && q->messages.receivable()) wakes = take_watchers(*q);
  }
  fire(wakes);
  return out;
}

Result<base::Ok> Engine::change_message_visibility(const QueueId& id,
                                                   const std::string& receipt_handle,
                                                   int visibility_timeout) {
  Impl& d = *impl_;
  auto h = codec::decode_receipt_handle(receipt_handle, d.secret);
  if (!h) return invalid_receipt_handle(receipt_handle);
  const std::string beyond_limit =
      "Value " + std::to_string(visibility_timeout) +
      " for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the "
      "message is beyond the limit [43200 seconds]";
  if (visibility_timeout < 0) {
    return error(Errc::kInvalidParameterValue,
                 "Value " + std::to_string(visibility_timeout) +
                     " for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and "
                     "43200, if provided.");
  }
  if (visibility_timeout > kMaxVisibilityTimeout) {
    return error(Errc::kInvalidParameterValue, beyond_limit);
  }
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    if (h->incarnation != q->incarnation) return invalid_receipt_handle(receipt_handle);
    const int64_t now = d.clock.now_ms();
    WriteBatch batch;
    d.maintain(*q, now, batch);
    MessageMeta* m = q->messages.find(h->seq);
    if (!m || m->receive_count != h->generation) {
      d.write_lazy(batch);
      return error(Errc::kInvalidParameterValue,
                   "Value " + receipt_handle +
                       " for parameter ReceiptHandle is invalid. Reason: Message does not exist "
                       "or is not available for visibility timeout change.");
    }
    if (m->status != MessageStatus::kInflight) {
      d.write_lazy(batch);
      return error(Errc::kMessageNotInflight, "The specified message isn't in flight.");
    }
    // The 12-hour maximum counts from the receive this handle came from.
    const int64_t until = now + int64_t{visibility_timeout} * 1000;
    if (until - m->last_receive_ms() > int64_t{kMaxVisibilityTimeout} * 1000) {
      d.write_lazy(batch);
      return error(Errc::kInvalidParameterValue, beyond_limit);
    }
    if (visibility_timeout == 0) {
      q->messages.set_visible(*m, now);
      wakes = take_watchers(*q);
    } else {
      q->messages.set_invisible(*m, until, MessageStatus::kInflight);
    }
    d.save_state(*q, *m, batch);
    d.write_lazy(batch);
  }
  fire(wakes);
  return base::Ok{};
}

// Message move tasks ----------------------------------------------------------------------

namespace {

constexpr int kDefaultMoveRate = 500;  // messages per second when the task names none
constexpr int kMaxMoveRate = 500;
constexpr size_t kTasksKeptPerSource = 10;
constexpr int64_t kIdleDriveMs = 1000;

const char* status_name(int s) {
  static constexpr const char* kNames[] = {"RUNNING", "COMPLETED", "CANCELLED", "FAILED"};
  return kNames[s];
}

std::string task_handle(const std::string& task_id, const std::string& source_arn) {
  json::object o;
  o["taskId"] = task_id;
  o["sourceArn"] = source_arn;
  return base::base64_encode(json::serialize(o));
}

base::Unexpected<Error> no_such_source() {
  return error(Errc::kResourceNotFound,
               "The resource that you specified for the SourceArn parameter doesn't exist.");
}

base::Unexpected<Error> arn_format_error(const char* param) {
  return error(Errc::kInvalidParameterValue,
               std::string("You must use this format to specify the ") + param +
                   ": arn:<partition>:<service>:<region>:<account-id>:<resource-id>");
}

base::Unexpected<Error> out_of_range(const char* param, int value, int low, int high) {
  return error(Errc::kInvalidParameterValue,
               "Value " + std::to_string(value) + " for parameter " + param +
                   " is invalid. Reason: You must enter a number that's between " +
                   std::to_string(low) + " and " + std::to_string(high) + ".");
}

}  // namespace

void Engine::Impl::persist_task(const MoveTask& t, Durability durability, WriteCallback done) {
  json::object o;
  o["id"] = t.id;
  o["source_account"] = t.source.account;
  o["source_name"] = t.source.name;
  o["source_arn"] = t.source_arn;
  if (t.destination) {
    o["destination_account"] = t.destination->account;
    o["destination_name"] = t.destination->name;
    o["destination_arn"] = t.destination_arn;
  }
  o["rate"] = t.rate;
  o["status"] = static_cast<int>(t.status);
  o["started_ms"] = t.started_ms;
  o["to_move"] = t.to_move;
  o["moved"] = t.moved;
  o["failure"] = t.failure;
  WriteBatch batch;
  batch.put(codec::task_key(t.id), json::serialize(o));
  store.write(std::move(batch), durability, std::move(done));
}

void Engine::Impl::load_tasks() {
  std::lock_guard lock(tasks_mu);
  tasks.clear();
  store.scan(codec::kTaskPrefix, [&](std::string_view, std::string_view value) {
    boost::system::error_code ec;
    json::value v = json::parse(value, ec);
    if (ec || !v.is_object()) return true;
    const json::object& o = v.as_object();
    auto str = [&](const char* k) {
      const json::value* x = o.if_contains(k);
      return x && x->is_string() ? std::string(x->as_string()) : std::string();
    };
    auto num = [&](const char* k) -> int64_t {
      const json::value* x = o.if_contains(k);
      return x && x->is_int64() ? x->as_int64() : 0;
    };
    MoveTask t;
    t.id = str("id");
    t.source = {str("source_account"), str("source_name")};
    t.source_arn = str("source_arn");
    if (!str("destination_name").empty()) {
      t.destination = QueueId{str("destination_account"), str("destination_name")};
      t.destination_arn = str("destination_arn");
    }
    t.rate = static_cast<int>(num("rate"));
    t.status = static_cast<TaskStatus>(std::clamp<int64_t>(num("status"), 0, 3));
    t.started_ms = num("started_ms");
    t.to_move = num("to_move");
    t.moved = num("moved");
    t.failure = str("failure");
    if (!t.id.empty()) tasks[t.id] = std::move(t);
    return true;
  });
}

// Takes the oldest receivable message out of the task's source queue and delivers it to the
// task's destination (or the message's source queue), in one store batch.
Engine::Impl::MoveOutcome Engine::Impl::move_one(const MoveTask& t, std::string* failure) {
  auto source = find(t.source);
  if (!source) {
    *failure = "AWS.SimpleQueueService.NonExistentQueue";
    return MoveOutcome::kFailed;
  }
  std::optional<MovedMessage> moved;
  std::string payload;
  QueueId target_id;
  {
    std::lock_guard lock(source->mu);
    if (source->deleted) {
      *failure = "AWS.SimpleQueueService.NonExistentQueue";
      return MoveOutcome::kFailed;
    }
    const int64_t now = clock.now_ms();
    WriteBatch batch;
    maintain(*source, now, batch);
    write_lazy(batch);
    MessageIndex& index = source->messages;
    MessageMeta* m = nullptr;
    uint64_t group = 0;
    if (index.grouped()) {
      group = index.pop_ready_group();
      if (group != 0) {
        auto head = index.group_messages(group, 1);
        if (!head.empty()) m = index.find(head.front());
      }
    } else {
      m = index.pop_visible();
    }
    if (m == nullptr) return MoveOutcome::kEmpty;
    auto put_back = [&] {
      if (group != 0) {
        index.push_ready(group);
      } else {
        index.push_visible(*m);
      }
    };
    if (m->payload) {
      payload = *m->payload;
    } else if (auto stored = store.get(codec::payload_key(source->incarnation, m->seq))) {
      payload = std::move(*stored);
    } else {
      put_back();
      *failure = "InternalError";
      return MoveOutcome::kFailed;
    }
    codec::Payload p;
    std::string region;
    std::optional<QueueId> target = t.destination;
    if (!target && codec::decode_payload(payload, &p) && !p.dead_letter_source_arn.empty()) {
      target = parse_queue_arn(p.dead_letter_source_arn, &region);
    }
    if (!target) {
      put_back();
      *failure = "CouldNotDetermineMessageSource";
      return MoveOutcome::kFailed;
    }
    target_id = *target;
    moved = MovedMessage{m->seq, nullptr,
                         codec::MessageState{m->visible_at_ms, m->receive_count,
                                             m->first_receive_ms(), m->last_receive_ms()}};
    index.remove(*m);  // its keys are deleted by the move's batch
  }
  auto target = find(target_id);
  std::vector<std::function<void()>> wakes;
  bool delivered = false;
  for (Queue* q : {target.get(), source.get()}) {
    if (q == nullptr) continue;
    std::unique_lock lock(q->mu);
    if (insert_moved(*q, source->arn, source->incarnation, *moved, payload, true)) {
      wakes = take_watchers(*q);
      delivered = q == target.get();
      break;
    }
  }
  fire(wakes);
  if (!delivered) {
    *failure = "AWS.SimpleQueueService.NonExistentQueue";
    return MoveOutcome::kFailed;
  }
  return MoveOutcome::kMoved;
}

Result<std::string> Engine::start_message_move_task(const std::string& account,
                                                    const std::string& source_arn,
                                                    const std::string& destination_arn,
                                                    std::optional<int> max_per_second,
                                                    storage::WriteCallback done) {
  Impl& d = *impl_;
  if (max_per_second && (*max_per_second < 1 || *max_per_second > kMaxMoveRate)) {
    return out_of_range("MaxNumberOfMessagesPerSecond", *max_per_second, 1, kMaxMoveRate);
  }
  std::string region;
  auto source = parse_queue_arn(source_arn, &region);
  if (!source) return arn_format_error("SourceArn");
  if (region != d.options.region || source->account != account || !d.find(*source)) {
    return no_such_source();
  }
  std::optional<QueueId> destination;
  if (!destination_arn.empty()) {
    destination = parse_queue_arn(destination_arn, &region);
    if (!destination) return arn_format_error("DestinationArn");
    if (region != d.options.region || !d.find(*destination)) {
      return error(Errc::kResourceNotFound,
                   "The resource that you specified for the DestinationArn parameter doesn't "
                   "exist.");
    }
  }
  // Only dead-letter queues of other queues can be redriven.
  auto sources = list_dead_letter_source_queues(*source);
  if (!sources) return base::fail(sources.error());
  if (sources->empty()) {
    return error(Errc::kInvalidParameterValue,
                 "Source queue must be configured as a Dead Letter Queue.");
  }
  int64_t to_move = 0;
  if (auto q = d.find(*source)) {
    std::lock_guard lock(q->mu);
    to_move = static_cast<int64_t>(q->messages.visible());
  }
  Impl::MoveTask t;
  t.id = base::uuid4();
  t.source = *source;
  t.source_arn = source_arn;
  t.destination = destination;
  t.destination_arn = destination_arn;
  t.rate = max_per_second.value_or(0);
  t.started_ms = d.clock.now_ms();
  t.to_move = to_move;
  DeferredDone deferred(std::move(done));
  {
    std::lock_guard lock(d.tasks_mu);
    std::vector<std::string> of_source;
    for (const auto& [tid, other] : d.tasks) {
      if (other.source != *source) continue;
      if (other.status == Impl::TaskStatus::kRunning) {
        return error(Errc::kInvalidParameterValue,
                     "There is already a task running. Only one active task is allowed for a "
                     "source queue arn at a given time.");
      }
      of_source.push_back(tid);
    }
    // Keep the most recent ones only: ListMessageMoveTasks shows at most 10.
    std::sort(of_source.begin(), of_source.end(), [&](const auto& a, const auto& b) {
      return d.tasks[a].started_ms < d.tasks[b].started_ms;
    });
    WriteBatch drop;
    while (of_source.size() >= kTasksKeptPerSource) {
      drop.del(codec::task_key(of_source.front()));
      d.tasks.erase(of_source.front());
      of_source.erase(of_source.begin());
    }
    d.write_lazy(drop);
    d.persist_task(t, Durability::kSync, deferred.callback());
    d.tasks[t.id] = t;
  }
  deferred.release();
  return task_handle(t.id, t.source_arn);
}

Result<std::vector<MoveTaskInfo>> Engine::list_message_move_tasks(const std::string& account,
                                                                  const std::string& source_arn,
                                                                  int max_results) const {
  Impl& d = *impl_;
  if (max_results < 1 || max_results > 10) return out_of_range("MaxResults", max_results, 1, 10);
  std::string region;
  auto source = parse_queue_arn(source_arn, &region);
  if (!source) return arn_format_error("SourceArn");
  if (region != d.options.region || source->account != account || !d.find(*source)) {
    return no_such_source();
  }
  std::vector<MoveTaskInfo> out;
  std::lock_guard lock(d.tasks_mu);
  for (const auto& [tid, t] : d.tasks) {
    if (t.source != *source) continue;
    MoveTaskInfo info;
    info.status = status_name(static_cast<int>(t.status));
    if (t.status == Impl::TaskStatus::kRunning) info.task_handle = task_handle(t.id, t.source_arn);
    info.source_arn = t.source_arn;
    info.destination_arn = t.destination_arn;
    if (t.rate > 0) info.max_messages_per_second = t.rate;
    info.moved = t.moved;
    info.to_move = t.to_move;
    info.started_ms = t.started_ms;
    info.failure_reason = t.failure;
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.started_ms > b.started_ms; });
  if (out.size() > static_cast<size_t>(max_results)) out.resize(max_results);
  return out;
}

Result<int64_t> Engine::cancel_message_move_task(const std::string& account,
                                                 const std::string& handle,
                                                 storage::WriteCallback done) {
  Impl& d = *impl_;
  std::string task_id, source_arn;
  if (auto raw = base::base64_decode(handle)) {
    boost::system::error_code ec;
    json::value v = json::parse(*raw, ec);
    if (!ec && v.is_object()) {
      const json::object& o = v.as_object();
      if (const json::value* x = o.if_contains("taskId"); x && x->is_string()) {
        task_id = std::string(x->as_string());
      }
      if (const json::value* x = o.if_contains("sourceArn"); x && x->is_string()) {
        source_arn = std::string(x->as_string());
      }
    }
  }
  std::string region;
  auto source = parse_queue_arn(source_arn, &region);
  if (task_id.empty() || !source) {
    return error(Errc::kInvalidParameterValue, "Value for parameter TaskHandle is invalid.");
  }
  if (region != d.options.region || source->account != account || !d.find(*source)) {
    return no_such_source();
  }
  DeferredDone deferred(std::move(done));
  int64_t moved = 0;
  {
    std::lock_guard lock(d.tasks_mu);
    auto it = d.tasks.find(task_id);
    if (it == d.tasks.end() || it->second.source != *source) {
      return error(Errc::kResourceNotFound, "Task does not exist.");
    }
    Impl::MoveTask& t = it->second;
    if (t.status != Impl::TaskStatus::kRunning) {
      return error(Errc::kInvalidParameterValue, "Only active tasks can be cancelled.");
    }
    t.status = Impl::TaskStatus::kCancelled;
    moved = t.moved;
    d.persist_task(t, Durability::kSync, deferred.callback());
  }
  deferred.release();
  return moved;
}

std::optional<int64_t> Engine::run_move_tasks() {
  Impl& d = *impl_;
  std::vector<Impl::MoveTask> running;
  {
    std::lock_guard lock(d.tasks_mu);
    for (const auto& [tid, t] : d.tasks) {
      if (t.status == Impl::TaskStatus::kRunning) running.push_back(t);
    }
  }
  if (running.empty()) return std::nullopt;
  const int64_t now = d.clock.now_ms();
  int64_t next = now + kIdleDriveMs;
  for (Impl::MoveTask& t : running) {
    const int rate = t.rate > 0 ? t.rate : kDefaultMoveRate;
    // The rate holds from the task's start; at most a second's worth per call, so a task that
    // fell behind (a restart) catches up gently.
    const int64_t due = (now - t.started_ms) * rate / 1000 + 1;
    const int64_t allowed = std::min<int64_t>(due - t.moved, rate);
    int64_t moved = 0;
    std::string failure;
    Impl::TaskStatus status = Impl::TaskStatus::kRunning;
    for (int64_t i = 0; i < allowed; ++i) {
      if (t.moved + moved >= t.to_move) {
        status = Impl::TaskStatus::kCompleted;
        break;
      }
      auto outcome = d.move_one(t, &failure);
      if (outcome == Impl::MoveOutcome::kMoved) {
        ++moved;
      } else {
        status = outcome == Impl::MoveOutcome::kEmpty ? Impl::TaskStatus::kCompleted
                                                      : Impl::TaskStatus::kFailed;
        break;
      }
    }
    if (status == Impl::TaskStatus::kRunning && t.moved + moved >= t.to_move) {
      status = Impl::TaskStatus::kCompleted;
    }
    std::lock_guard lock(d.tasks_mu);
    auto it = d.tasks.find(t.id);
    if (it == d.tasks.end()) continue;
    Impl::MoveTask& live = it->second;
    live.moved += moved;
    // A cancel that came in meanwhile wins.
    if (live.status == Impl::TaskStatus::kRunning) {
      live.status = status;
      if (status == Impl::TaskStatus::kFailed) live.failure = failure;
    }
    if (moved > 0 || live.status != Impl::TaskStatus::kRunning) {
      d.persist_task(
          live, live.status == Impl::TaskStatus::kRunning ? Durability::kLazy : Durability::kSync,
          nullptr);
    }
    if (live.status == Impl::TaskStatus::kRunning) {
      // When the next message is due at this rate.
      const int64_t at = live.started_ms + (live.moved * 1000 + rate - 1) / rate;
      next = std::min(next, std::max(at, now + 1));
    }
  }
  return next;
}

// Long polling ----------------------------------------------------------------------------

Result<uint64_t> Engine::watch(const QueueId& id, std::function<void()> wake) {
  Impl& d = *impl_;
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
  const uint64_t token = d.next_watch_token++;
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    WriteBatch expired;
    d.maintain(*q, d.clock.now_ms(), expired);
    d.write_lazy(expired);
    // A message may have arrived between the caller's empty receive and this call: then wake
    // at once instead of waiting for the next one. `watched` first (see Queue::watched).
    q->watched = true;
    if (!q->messages.receivable()) {
      q->watchers.emplace(token, std::move(wake));
      return token;
    }
    q->watched = !q->watchers.empty();
  }
  wake();
  return token;
}

void Engine::unwatch(const QueueId& id, uint64_t token) {
  auto q = impl_->find(id);
  if (!q) return;
  std::lock_guard lock(q->mu);
  q->watchers.erase(token);
  q->watched = !q->watchers.empty();
}

std::optional<int64_t> Engine::next_visibility_change(const QueueId& id) const {
  Impl& d = *impl_;
  auto q = d.find(id);
  if (!q) return std::nullopt;
  std::lock_guard lock(q->mu);
  if (q->deleted) return std::nullopt;
  WriteBatch expired;
  d.maintain(*q, d.clock.now_ms(), expired);
  d.write_lazy(expired);
  return q->messages.next_visibility_change();
}

}  // namespace ferry::sqs
