#pragma once
// One queue's in-memory state: configuration, tags, and the index of its messages.
// Owned by Engine (std::shared_ptr, so a request in progress keeps a queue alive while
// delete_queue drops it from the directory). Every field below `mu` is guarded by `mu`; any
// thread may take it.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sqs/engine/attributes.h"
#include "sqs/engine/engine.h"

namespace ferry::sqs {

enum class MessageStatus : uint8_t { kVisible, kDelayed, kInflight, kDead };

// What a cached payload costs against EngineOptions::body_cache_bytes: its bytes plus the
// string object and allocator overhead.
inline int64_t cache_cost(size_t payload_bytes) { return static_cast<int64_t>(payload_bytes) + 64; }

// Per-message metadata, kept small: a backlog of millions of messages lives in memory as
// these, while bodies may stay in the store.
struct MessageMeta {
  uint64_t seq = 0;
  int64_t sent_ms = 0;
  int64_t visible_at_ms = 0;  // when a delayed or in-flight message becomes visible
  uint32_t receive_count = 0;
  // Receive times as milliseconds after sent_ms, plus one (0 = never received): a message
  // lives at most 14 days, well within 32 bits.
  uint32_t first_receive_offset = 0;
  uint32_t last_receive_offset = 0;
  MessageStatus status = MessageStatus::kVisible;
  // Whether the store holds a state record for it (so that removing it deletes that too).
  bool state_stored = false;
  // Whether a receive changed its state without writing it (see Engine::save_receive_state).
  bool state_unsaved = false;
  // Sent, and served only once the send's write is durable (MessageIndex::set_synced).
  bool awaits_sync = false;
  std::unique_ptr<std::string> payload;  // the encoded payload while cached, else null

  int64_t first_receive_ms() const { return from_offset(first_receive_offset); }
  int64_t last_receive_ms() const { return from_offset(last_receive_offset); }
  uint32_t to_offset(int64_t ms) const;
  int64_t from_offset(uint32_t offset) const { return offset == 0 ? 0 : sent_ms + offset - 1; }
};
static_assert(sizeof(MessageMeta) == 48, "per-message memory is a budget");

// The messages of one queue, indexed for SQS's operations. Not thread-safe: the owning
// Queue's mutex guards it.
//
// Messages are held in send (sequence) order in a deque, found by binary search; deleted ones
// become tombstones that are dropped from the front and compacted away when they outnumber
// live ones. Visible messages are found through a min-heap of sequence numbers (oldest first)
// and, after it, a list of those a zero-timeout receive returned (push_returned); delayed and
// in-flight ones through a min-heap of (visible_at, seq). All three are lazy: an entry is
// ignored if its message is gone or has moved on, and they are rebuilt when stale entries
// dominate.
//
// FIFO queues (grouped()) also index messages by message group: each group keeps its live
// messages in order and counts those in flight. A group is ready when none is in flight and
// its first live message is visible; ready groups are found through a lazy min-heap of
// (first seq, group), pushed whenever a group may have become ready and checked when popped.
// The visible heap is not kept for grouped indexes: receives go through the groups.
//
// A sent message is served only once its write is durable: the store shows a write to reads
// before it is synced, and a message received then and lost in a crash would have been
// delivered although its sender was never answered (and, FIFO, sent again under a new id).
// Writes to a queue are synced in send order, so one watermark per queue says which sent
// messages are durable (set_synced). A message not yet durable stops a receive where it
// stands: none after it in its queue (standard) or its group (FIFO) is served first.
//
// Pointers returned by find()/pop_visible() stay valid until the next maintain() or clear().
class MessageIndex {
 public:
  // cache_bytes: the engine-wide count of cached payload bytes, decremented as cached
  // messages leave.
  explicit MessageIndex(std::atomic<int64_t>& cache_bytes) : cache_bytes_(cache_bytes) {}
  ~MessageIndex() { clear(); }
  MessageIndex(const MessageIndex&) = delete;
  MessageIndex& operator=(const MessageIndex&) = delete;

  // Makes this a FIFO index; call before the first add().
  void enable_groups() { grouped_ = true; }
  bool grouped() const { return grouped_; }

  // The live message with this sequence number, or null.
  MessageMeta* find(uint64_t seq);
  // Whether a visible or delayed message has no cached payload (receives will read the store).
  bool has_uncached() const { return uncached_waiting_ > 0; }
  // Caches a payload read back from the store for m, which has none; the caller has counted it
  // against the cache budget.
  void cache_payload(MessageMeta& m, std::unique_ptr<std::string> payload);
  // Takes m's cached payload (null if none) out of the cache.
  std::unique_ptr<std::string> take_payload(MessageMeta& m);
  // Up to `limit` live messages after seq `after`, in send order, that are visible or delayed
  // and have no cached payload: what receives will want from the store next. Looks at no more
  // than `scan` messages; *scanned_to (if given) is set to the last one it looked at, if any.
  std::vector<uint64_t> uncached_after(uint64_t after, size_t limit, size_t scan,
                                       uint64_t* scanned_to = nullptr);
  // Adds a message whose seq exceeds every seq added before; its status must be kVisible,
  // kDelayed or kInflight. `group` is its message group (grouped indexes only).
  MessageMeta& add(MessageMeta meta, std::string_view group = {});

  // Grouped indexes: the ready group whose first message is oldest, taken off the ready heap
  // (push_ready() puts it back), or 0 if none.
  uint64_t pop_ready_group();
  void push_ready(uint64_t group);
  // Up to `limit` live messages of a group, in order.
  std::vector<uint64_t> group_messages(uint64_t group, size_t limit);
  // The group of a live message (grouped indexes), or 0.
  uint64_t group_of(uint64_t seq) const;
  size_t groups() const { return groups_.size(); }
  // Whether a receive would find a message now: one visible, and for a grouped index one in a
  // ready group; and durable.
  bool receivable();
  // Every sent message with a seq up to `seq` is durable. The one member that may be called
  // without the queue's mutex (by a send's sync callback, see Queue::watched).
  void set_synced(uint64_t seq) {
    uint64_t seen = synced_seq_.load();
    while (seen < seq && !synced_seq_.compare_exchange_weak(seen, seq)) {
    }
  }
  // Whether m may not be served yet.
  bool awaits_sync(const MessageMeta& m) const { return m.awaits_sync && m.seq > synced_seq_; }
  // Drops tombstones at the front, makes due messages visible, rebuilds stale structures.
  void maintain(int64_t now_ms);
  // The next visible message (lowest seq), taken off the visible heap, or null if there is
  // none or it awaits its sync. The caller must then call set_invisible(), remove() or
  // push_visible() on it.
  MessageMeta* pop_visible();
  void push_visible(MessageMeta& m);
  // Puts back a message that a receive with a zero visibility timeout took: behind every other
  // visible message (a standard queue's returned ones are served after the visible heap, in the
  // order they came back), so that repeated zero-timeout receives see the whole queue in turn
  // instead of the same oldest messages. Grouped indexes: as push_visible().
  void push_returned(MessageMeta& m);
  void set_invisible(MessageMeta& m, int64_t until_ms, MessageStatus status);
  // An invisible message becomes visible now.
  void set_visible(MessageMeta& m, int64_t now_ms);
  void remove(MessageMeta& m);
  // Calls fn(message) for each live message, in send order.
  template <class Fn>
  void for_each(Fn&& fn) {
    for (auto& m : messages_) {
      if (m.status != MessageStatus::kDead) fn(m);
    }
  }
  // Removes live messages sent at or before cutoff_ms, calling fn(message) for each first. Relies
  // on sent_ms growing with seq, which holds since both are taken under the queue's mutex.
  template <class Fn>
  void expire(int64_t cutoff_ms, Fn&& fn) {
    for (auto& m : messages_) {
      if (m.status == MessageStatus::kDead) continue;
      if (m.sent_ms > cutoff_ms) break;
      fn(m);
      remove(m);
    }
  }
  // The earliest time a delayed or in-flight message becomes visible.
  std::optional<int64_t> next_visibility_change();
  void clear();

  size_t visible() const { return visible_n_; }
  size_t inflight() const { return inflight_n_; }
  size_t delayed() const { return delayed_n_; }
  size_t size() const { return live_; }

 private:
  struct Timer {
    int64_t at;
    uint64_t seq;
    bool operator>(const Timer& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  struct Group {
    std::deque<uint64_t> seqs;  // live messages in order; dead ones are dropped lazily
    uint32_t live = 0;
    uint32_t inflight = 0;
    std::string name;
  };
  void count(MessageStatus s, int delta);
  // Every status change of a live message goes through here (counts, groups, heaps).
  void set_status(MessageMeta& m, MessageStatus to);
  void note_visible(MessageMeta& m);
  // The visible message at the top of the visible heap (dropping stale entries above it) if
  // it does not await its sync, else the first of the returned ones, else null.
  MessageMeta* front_visible();
  // Grouped: the ready group at the top of the ready heap (dropping or requeueing stale entries
  // above it), left there, or 0 if none or its first message awaits its sync.
  uint64_t front_ready_group();
  void trim(Group& g);
  bool timer_valid(const Timer& t);
  void compact();

  bool grouped_ = false;
  std::unordered_map<uint64_t, Group> groups_;           // by group number
  std::unordered_map<std::string, uint64_t> group_ids_;  // name -> group number
  std::unordered_map<uint64_t, uint64_t> group_of_;      // message seq -> group number
  std::vector<Timer> ready_;  // min-heap (std::greater) of (first seq, group number)
  uint64_t next_group_ = 1;

  std::atomic<int64_t>& cache_bytes_;
  std::deque<MessageMeta> messages_;
  std::vector<uint64_t> visible_;  // min-heap (std::greater)
  std::deque<uint64_t> returned_;  // push_returned(), in order; lazy like the heaps
  std::vector<Timer> timers_;      // min-heap (std::greater)
  size_t live_ = 0, dead_ = 0;
  std::atomic<uint64_t> synced_seq_{0};
  size_t visible_n_ = 0, inflight_n_ = 0, delayed_n_ = 0;
  size_t uncached_waiting_ = 0;  // visible or delayed messages without a cached payload
};

inline constexpr int64_t kNeverPurged = std::numeric_limits<int64_t>::min() / 2;

struct Queue {
  Queue(QueueId queue_id, std::string queue_arn, uint64_t queue_incarnation,
        std::atomic<int64_t>& cache_bytes)
      : id(std::move(queue_id)),
        arn(std::move(queue_arn)),
        incarnation(queue_incarnation),
        messages(cache_bytes) {}

  const QueueId id;
  const std::string arn;
  // Unique across the store's lifetime: keys of this queue's messages start with it.
  const uint64_t incarnation;

  // Set before the queue is published in the directory, read-only after.
  bool fifo = false;
  // A copy of config.redrive_allow_policy for other queues' RedrivePolicy checks, under its
  // own leaf mutex (nothing else is locked while holding it): those checks run while the
  // checking queue's mu is held, and two queue mutexes are never held together.
  std::mutex allow_mu;
  std::string redrive_allow;

  std::mutex mu;
  bool deleted = false;
  QueueConfig config;
  TagMap tags;
  int64_t created_s = 0;
  int64_t modified_s = 0;
  int64_t last_purge_ms = kNeverPurged;
  MessageIndex messages;
  std::map<uint64_t, std::function<void()>> watchers;  // token -> wake
  // Set (under mu) before watch() checks for a receivable message, and kept while `watchers`
  // is not empty. A send's sync callback reads it after advancing the watermark, without the
  // lock (which the store's callback thread would otherwise contend for on every send): one of the
  // two sees the other's write, so a long poll that found only unsynced messages is woken.
  std::atomic<bool> watched{false};
  // Set while a read-ahead fills this queue's payloads into the body cache (one at a time).
  std::atomic<bool> reading_ahead{false};
  // The highest sequence number a read-ahead got to: receives before it need no new one.
  std::atomic<uint64_t> read_ahead_until{0};

  // FIFO only. Deduplication window: scope key (see codec::dedup_key) -> the message it
  // admitted; dedup_order lists (sent time, key) in send order for expiry.
  struct Dedup {
    int64_t sent_ms;
    uint64_t seq;
    std::string message_id;
  };
  std::unordered_map<std::string, Dedup> dedup;
  std::deque<std::pair<int64_t, std::string>> dedup_order;
  // FIFO only. ReceiveRequestAttemptId -> what that receive returned, kept 5 minutes.
  struct Attempt {
    int64_t at_ms;
    std::vector<std::pair<uint64_t, uint32_t>> messages;  // (seq, receive count)
    std::vector<std::string> handles;
  };
  std::unordered_map<std::string, Attempt> attempts;
  std::deque<std::pair<int64_t, std::string>> attempt_order;
};

// The queue record persisted under codec::queue_key().
struct QueueRecord {
  QueueId id;
  uint64_t incarnation = 0;
  AttributeMap attributes;  // settable attributes, as settable_attributes() gives them
  TagMap tags;
  int64_t created_s = 0;
  int64_t modified_s = 0;
  int64_t last_purge_ms = kNeverPurged;
};
// Call with q.mu held.
std::string encode_queue_record(const Queue& q);
bool decode_queue_record(std::string_view data, QueueRecord* record);

}  // namespace ferry::sqs
