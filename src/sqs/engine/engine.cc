#include "sqs/engine/engine.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "base/crypto.h"
#include "base/log.h"
#include "sqs/engine/attributes.h"
#include "sqs/engine/md5.h"
#include "sqs/engine/message_codec.h"
#include "sqs/engine/queue.h"

namespace ferry::sqs {

namespace {

using storage::Durability;
using storage::WriteBatch;
using storage::WriteCallback;

// Sequence numbers (and queue incarnations, drawn from the same counter) are reserved in the
// store a block at a time, so they are never reused after a restart.
constexpr uint64_t kSeqBlock = 1 << 20;
constexpr int64_t kPurgeIntervalMs = 60'000;

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
  return wakes;
}

bool attribute_selected(const std::string& name, const std::vector<std::string>& selectors) {
  for (const std::string& s : selectors) {
    if (s == "All" || s == ".*" || s == name) return true;
    // "prefix.*" selects names starting with "prefix.".
    if (s.size() > 2 && s.ends_with(".*") &&
        name.compare(0, s.size() - 1, s, 0, s.size() - 1) == 0) {
      return true;
    }
  }
  return false;
}

// What a receive knows about a message besides its payload.
struct ReceiveView {
  uint32_t receive_count;
  int64_t first_receive_ms;
};

// Fills `out` (receipt handle already set) from a decoded payload, selecting the attributes
// the request asked for.
void fill_received(const codec::Payload& p, const ReceiveView& view, const std::string& sender,
                   const ReceiveRequest& req, ReceivedMessage* out) {
  out->message_id = p.message_id;
  out->md5_of_body = p.md5_of_body;
  out->body = p.body;
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
  if (!p.dead_letter_source_arn.empty() && want("DeadLetterQueueSourceArn")) {
    out->attributes["DeadLetterQueueSourceArn"] = p.dead_letter_source_arn;
  }
  for (const auto& [name, value] : p.message_attributes) {
    if (attribute_selected(name, req.message_attribute_names)) {
      out->message_attributes[name] = value;
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

// The queue settings a send depends on, copied out of the queue's lock.
struct SendLimits {
  int delay_seconds;
  int maximum_message_size;
};

// A send request that passed validation, encoded and ready to be indexed.
struct PreparedSend {
  std::string payload;
  int64_t sent_ms;
  int64_t visible_at_ms;
};

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
  std::string arn(const QueueId& id) const {
    return "arn:aws:sqs:" + options.region + ":" + id.account + ":" + id.name;
  }
  bool try_cache(size_t bytes);
  // Expires, promotes and compacts q's messages; appends store deletes for expired ones.
  void maintain(Queue& q, int64_t now, WriteBatch& batch);
  void write_lazy(WriteBatch& batch);
  Result<PreparedSend> prepare(const SendLimits& limits, SendRequest& req, int64_t now,
                               SendResult* result);
  void move_messages(const std::shared_ptr<Queue>& source, const std::shared_ptr<Queue>& target,
                     std::vector<MovedMessage> moved);
  bool insert_moved(Queue& target, const std::string& source_arn, uint64_t source_incarnation,
                    MovedMessage& m, const std::string& payload);
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
  q.messages.expire(cutoff, [&](uint64_t seq) {
    batch.del(codec::payload_key(q.incarnation, seq));
    batch.del(codec::state_key(q.incarnation, seq));
  });
  q.messages.maintain(now);
}

void Engine::Impl::write_lazy(WriteBatch& batch) {
  if (!batch.empty()) store.write(std::move(batch), Durability::kLazy, nullptr);
}

Result<PreparedSend> Engine::Impl::prepare(const SendLimits& limits, SendRequest& req, int64_t now,
                                           SendResult* result) {
  if (!req.deduplication_id.empty()) {
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
  if (auto r = validate_body(req.body); !r) return base::fail(r.error());
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
  const int delay = req.delay_seconds.value_or(limits.delay_seconds);
  codec::Payload p;
  p.message_id = base::uuid4();
  p.md5_of_body = base::md5_hex(req.body);
  p.sent_ms = now;
  p.first_visible_ms = now + int64_t{delay} * 1000;
  p.body = std::move(req.body);
  p.message_attributes = std::move(req.message_attributes);
  p.system_attributes = std::move(req.system_attributes);
  p.message_group_id = std::move(req.message_group_id);
  result->message_id = p.message_id;
  result->md5_of_body = p.md5_of_body;
  result->md5_of_message_attributes = md5_of_message_attributes(p.message_attributes);
  result->md5_of_message_system_attributes = md5_of_message_attributes(p.system_attributes);
  return PreparedSend{codec::encode_payload(p), p.sent_ms, p.first_visible_ms};
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
                                const std::string& payload) {
  if (target.deleted) return false;
  codec::Payload p;
  if (!codec::decode_payload(payload, &p)) return true;  // corrupt: drop, as a read would
  const int64_t now = clock.now_ms();
  WriteBatch batch;
  maintain(target, now, batch);
  std::string encoded = payload;
  if (target.incarnation != source_incarnation) {
    p.dead_letter_source_arn = source_arn;
    encoded = codec::encode_payload(p);
  }
  MessageMeta meta;
  meta.seq = allocate_seqs(1);
  meta.sent_ms = p.sent_ms;  // retention keeps counting from the original send
  meta.visible_at_ms = now;
  meta.receive_count = m.state.receive_count;
  if (m.state.first_receive_ms != 0)
    meta.first_receive_offset = meta.to_offset(m.state.first_receive_ms);
  if (m.state.last_receive_ms != 0)
    meta.last_receive_offset = meta.to_offset(m.state.last_receive_ms);
  meta.status = MessageStatus::kVisible;
  codec::MessageState state = m.state;
  state.visible_at_ms = now;
  batch.del(codec::payload_key(source_incarnation, m.seq));
  batch.del(codec::state_key(source_incarnation, m.seq));
  batch.put(codec::payload_key(target.incarnation, meta.seq), encoded);
  batch.put(codec::state_key(target.incarnation, meta.seq), codec::encode_state(state));
  if (try_cache(encoded.size())) meta.payload = std::make_unique<std::string>(std::move(encoded));
  target.messages.add(std::move(meta));
  // Lazy like the receive that triggered it: if lost, the message is still in the source.
  store.write(std::move(batch), Durability::kLazy, nullptr);
  return true;
}

Engine::Engine(storage::Store& store, const base::Clock& clock, EngineOptions options)
    : impl_(std::make_unique<Impl>(store, clock, std::move(options))) {
  impl_->load_meta();
}

Engine::~Engine() = default;

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
    AttributeContext context{d.options.region, r.id.account, nullptr};
    if (auto config = apply_queue_attributes(QueueConfig{}, r.attributes, context)) {
      q->config = std::move(*config);
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
  auto flush = [&] {
    if (!pending || !current) return;
    MessageMeta& m = *pending;
    if (m.visible_at_ms > now) {
      m.status = m.receive_count > 0 ? MessageStatus::kInflight : MessageStatus::kDelayed;
    } else {
      m.status = MessageStatus::kVisible;
    }
    current->messages.add(std::move(m));
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
      if (!codec::peek_payload_times(value, &m.sent_ms, &m.visible_at_ms)) return true;
      if (d.try_cache(value.size())) m.payload = std::make_unique<std::string>(value);
      pending = std::move(m);
    } else if (pending && pending->seq == seq) {
      codec::MessageState s;
      if (codec::decode_state(value, &s)) {
        pending->visible_at_ms = s.visible_at_ms;
        pending->receive_count = s.receive_count;
        if (s.first_receive_ms)
          pending->first_receive_offset = pending->to_offset(s.first_receive_ms);
        if (s.last_receive_ms) pending->last_receive_offset = pending->to_offset(s.last_receive_ms);
      }
    }
    return true;
  });
  flush();

  // Sequence numbers must stay above everything seen, even if the reservation was lost.
  if (max_seq + 1 > d.next_seq.load()) d.next_seq = max_seq + 1;
  d.reserve_seqs(d.next_seq.load() + 1);
  // Messages of no queue are leftovers (delete_queue removes record and messages in one
  // batch, so there should be none); they are kept if some queue record could not be read.
  WriteBatch cleanup;
  for (uint64_t inc : orphans) {
    if (unreadable > 0) break;
    cleanup.delete_range(codec::message_prefix(inc), codec::message_prefix(inc + 1));
  }
  d.write_lazy(cleanup);
  size_t messages = 0;
  for (auto& [id, q] : d.queues) messages += q->messages.size();
  spdlog::info("sqs: recovered {} queues, {} messages", d.queues.size(), messages);
}

// Queues ----------------------------------------------------------------------------------

Result<base::Ok> Engine::create_queue(const QueueId& id, const AttributeMap& attributes,
                                      const TagMap& tags, storage::WriteCallback done) {
  Impl& d = *impl_;
  if (auto r = validate_queue_name(id.name, attributes); !r) return base::fail(r.error());
  if (auto r = validate_tags(tags); !r) return base::fail(r.error());
  if (tags.size() > static_cast<size_t>(kMaxTagsPerQueue)) {
    return error(Errc::kInvalidParameterValue, "Too many tags added for queue " + id.name + ".");
  }
  DeferredDone deferred(std::move(done));
  {
    std::unique_lock dir(d.dir_mu);
    AttributeContext context{d.options.region, id.account,
                             [&](const QueueId& q) { return d.queues.count(q) > 0; }};
    if (auto it = d.queues.find(id); it != d.queues.end()) {
      Queue& q = *it->second;
      std::lock_guard lock(q.mu);
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
      auto config = apply_queue_attributes(QueueConfig{}, attributes, context);
      if (!config) return base::fail(config.error());
      auto q = std::make_shared<Queue>(id, d.arn(id), d.allocate_seqs(1), d.cache_bytes);
      std::lock_guard lock(q->mu);
      q->config = std::move(*config);
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
    WriteBatch batch;
    batch.del(codec::queue_key(id));
    batch.delete_range(codec::message_prefix(q->incarnation),
                       codec::message_prefix(q->incarnation + 1));
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
  for (const std::string& name : names) {
    if (!is_gettable_attribute(name)) {
      return error(Errc::kInvalidAttributeName, "Unknown Attribute " + name + ".");
    }
  }
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
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
                             [&](const QueueId& other) { return d.queues.count(other) > 0; }};
    std::lock_guard lock(q.mu);
    auto config = apply_queue_attributes(q.config, attributes, context);
    if (!config) return base::fail(config.error());
    q.config = std::move(*config);
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

// Messages --------------------------------------------------------------------------------

Result<SendResult> Engine::send_message(const QueueId& id, SendRequest request,
                                        storage::WriteCallback done) {
  std::vector<SendRequest> batch;
  batch.push_back(std::move(request));
  auto results = send_messages(id, std::move(batch), std::move(done));
  if (!results) return base::fail(results.error());
  return std::move(results->front());
}

Result<std::vector<Result<SendResult>>> Engine::send_messages(const QueueId& id,
                                                              std::vector<SendRequest> requests,
                                                              storage::WriteCallback done) {
  Impl& d = *impl_;
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
  SendLimits limits;
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    limits = {q->config.delay_seconds, q->config.maximum_message_size};
  }
  // Validation, hashing and encoding happen outside the queue's lock.
  const int64_t now = d.clock.now_ms();
  std::vector<Result<SendResult>> results;
  std::vector<std::optional<PreparedSend>> prepared;
  results.reserve(requests.size());
  prepared.reserve(requests.size());
  size_t accepted = 0;
  for (SendRequest& req : requests) {
    SendResult result;
    auto p = d.prepare(limits, req, now, &result);
    if (p) {
      results.emplace_back(std::move(result));
      prepared.emplace_back(std::move(*p));
      ++accepted;
    } else {
      results.emplace_back(base::fail(p.error()));
      prepared.emplace_back(std::nullopt);
    }
  }
  if (accepted == 0) return results;

  DeferredDone deferred(std::move(done));
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    WriteBatch batch;
    d.maintain(*q, now, batch);
    uint64_t seq = d.allocate_seqs(accepted);
    bool visible_now = false;
    for (auto& p : prepared) {
      if (!p) continue;
      MessageMeta m;
      m.seq = seq++;
      m.sent_ms = p->sent_ms;
      m.visible_at_ms = p->visible_at_ms;
      m.status = p->visible_at_ms > now ? MessageStatus::kDelayed : MessageStatus::kVisible;
      visible_now |= m.status == MessageStatus::kVisible;
      if (d.try_cache(p->payload.size())) m.payload = std::make_unique<std::string>(p->payload);
      batch.put(codec::payload_key(q->incarnation, m.seq), std::move(p->payload));
      q->messages.add(std::move(m));
    }
    d.store.write(std::move(batch), Durability::kSync, deferred.callback());
    if (visible_now) wakes = take_watchers(*q);
  }
  deferred.release();
  fire(wakes);
  return results;
}

Result<std::vector<ReceivedMessage>> Engine::receive_messages(const QueueId& id,
                                                              const ReceiveRequest& request) {
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
  struct Fetch {
    size_t index;
    uint64_t seq;
    ReceiveView view;
  };
  std::vector<Fetch> fetches;
  std::vector<codec::ReceiptHandle> handles;  // parallel to out
  std::vector<MovedMessage> moved;
  {
    std::lock_guard lock(q->mu);
    if (q->deleted) return queue_does_not_exist();
    const int64_t now = d.clock.now_ms();
    WriteBatch batch;
    d.maintain(*q, now, batch);
    MessageIndex& index = q->messages;
    const size_t limit = static_cast<size_t>(std::max(d.options.max_inflight_standard, 0));
    if (index.inflight() >= limit) {
      d.write_lazy(batch);
      return error(Errc::kOverLimit, "The maximum number of in flight messages (" +
                                         std::to_string(limit) + ") for queue " + id.name +
                                         " has been reached.");
    }
    const size_t wanted =
        std::min(static_cast<size_t>(request.max_messages), limit - index.inflight());
    const int timeout = request.visibility_timeout.value_or(q->config.visibility_timeout);
    const int64_t retention_cutoff = now - int64_t{q->config.message_retention_period} * 1000;
    const int max_receives = dlq ? q->config.max_receive_count : 0;
    std::vector<MessageMeta*> requeue;  // received with a zero timeout: visible again after
    while (out.size() < wanted) {
      MessageMeta* m = index.pop_visible();
      if (!m) break;
      if (m->sent_ms <= retention_cutoff) {  // moved in from another queue, now expired
        batch.del(codec::payload_key(q->incarnation, m->seq));
        batch.del(codec::state_key(q->incarnation, m->seq));
        index.remove(*m);
        continue;
      }
      if (max_receives > 0 && m->receive_count >= static_cast<uint32_t>(max_receives)) {
        moved.push_back(
            MovedMessage{m->seq, std::move(m->payload),
                         codec::MessageState{m->visible_at_ms, m->receive_count,
                                             m->first_receive_ms(), m->last_receive_ms()}});
        if (moved.back().payload) d.cache_bytes -= cache_cost(moved.back().payload->size());
        index.remove(*m);  // its keys are deleted by the move's batch
        continue;
      }
      ++m->receive_count;
      if (m->first_receive_offset == 0) m->first_receive_offset = m->to_offset(now);
      m->last_receive_offset = m->to_offset(now);
      if (timeout > 0) {
        index.set_invisible(*m, now + int64_t{timeout} * 1000, MessageStatus::kInflight);
      } else {
        m->visible_at_ms = now;
        requeue.push_back(m);
      }
      batch.put(codec::state_key(q->incarnation, m->seq),
                codec::encode_state({m->visible_at_ms, m->receive_count, m->first_receive_ms(),
                                     m->last_receive_ms()}));
      ReceivedMessage& r = out.emplace_back();
      handles.push_back({q->incarnation, m->seq, m->receive_count});
      const ReceiveView view{m->receive_count, m->first_receive_ms()};
      codec::Payload p;
      if (m->payload && codec::decode_payload(*m->payload, &p)) {
        fill_received(p, view, id.account, request, &r);
      } else {
        fetches.push_back({out.size() - 1, m->seq, view});
      }
    }
    for (MessageMeta* m : requeue) index.push_visible(*m);
    d.write_lazy(batch);
  }
  // Handles (an HMAC each) are made, and payloads that are not cached are read, without
  // holding the queue's lock.
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].receipt_handle = codec::encode_receipt_handle(handles[i], d.secret);
  }
  if (!fetches.empty()) {
    std::vector<bool> gone(out.size(), false);
    for (const Fetch& f : fetches) {
      codec::Payload p;
      auto data = d.store.get(codec::payload_key(q->incarnation, f.seq));
      if (data && codec::decode_payload(*data, &p)) {
        fill_received(p, f.view, id.account, request, &out[f.index]);
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
  if (!moved.empty()) d.move_messages(q, dlq, std::move(moved));
  return out;
}

Result<base::Ok> Engine::delete_message(const QueueId& id, const std::string& receipt_handle) {
  Impl& d = *impl_;
  auto h = codec::decode_receipt_handle(receipt_handle, d.secret);
  if (!h) return invalid_receipt_handle(receipt_handle);
  auto q = d.find(id);
  if (!q) return queue_does_not_exist();
  std::lock_guard lock(q->mu);
  if (q->deleted) return queue_does_not_exist();
  if (h->incarnation != q->incarnation) return invalid_receipt_handle(receipt_handle);
  // A message already gone is not an error, and neither is an older handle of a message
  // received again since: AWS deletes it all the same on standard queues.
  if (MessageMeta* m = q->messages.find(h->seq)) {
    q->messages.remove(*m);
    WriteBatch batch;
    batch.del(codec::payload_key(q->incarnation, h->seq));
    batch.del(codec::state_key(q->incarnation, h->seq));
    d.store.write(std::move(batch), Durability::kLazy, nullptr);
  }
  return base::Ok{};
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
    batch.put(codec::state_key(q->incarnation, m->seq),
              codec::encode_state({m->visible_at_ms, m->receive_count, m->first_receive_ms(),
                                   m->last_receive_ms()}));
    d.write_lazy(batch);
  }
  fire(wakes);
  return base::Ok{};
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
    // at once instead of waiting for the next one.
    if (q->messages.visible() == 0) {
      q->watchers.emplace(token, std::move(wake));
      return token;
    }
  }
  wake();
  return token;
}

void Engine::unwatch(const QueueId& id, uint64_t token) {
  auto q = impl_->find(id);
  if (!q) return;
  std::lock_guard lock(q->mu);
  q->watchers.erase(token);
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
