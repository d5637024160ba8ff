#include "storage/rocksdb/run_memtable.h"

#include <rocksdb/slice.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace ferry::storage {
namespace {

constexpr int kMaxHeight = 12;  // with a branching factor of 4: good up to ~16M entries

using Link = std::atomic<const char*>;
using rocksdb::KeyHandle;

// A node is its memtable entry (what RocksDB calls the key: varint32 length, internal key,
// value), preceded by its links: level i at node - (i + 1) links.
Link& link(const char* node, int level) {
  return reinterpret_cast<Link*>(const_cast<char*>(node))[-1 - level];
}

// The internal key of a memtable entry.
rocksdb::Slice internal_key(const char* entry) {
  uint32_t size = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(entry);
  for (int shift = 0;; shift += 7) {
    const uint32_t byte = *p++;
    size |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0 || shift == 28) break;
  }
  return rocksdb::Slice(reinterpret_cast<const char*>(p), size);
}

// RocksDB's internal key order over the bytewise comparator: user key ascending, then the
// 8-byte trailer (sequence << 8 | type, little-endian) descending.
int compare(const rocksdb::Slice& a, const rocksdb::Slice& b) {
  const size_t ua = a.size() - 8;
  const size_t ub = b.size() - 8;
  if (int c = std::memcmp(a.data(), b.data(), std::min(ua, ub)); c != 0) return c;
  if (ua != ub) return ua < ub ? -1 : 1;
  uint64_t ta = 0;
  uint64_t tb = 0;
  std::memcpy(&ta, a.data() + ua, 8);
  std::memcpy(&tb, b.data() + ub, 8);
  return ta > tb ? -1 : (ta < tb ? 1 : 0);
}

// Value types of deletions in RocksDB's internal keys (kTypeDeletion, kTypeSingleDeletion,
// kTypeDeletionWithTimestamp). Only the choice of finger depends on it.
bool is_deletion(const rocksdb::Slice& ikey) {
  const auto type = static_cast<unsigned char>(ikey.data()[ikey.size() - 8]);
  return type == 0x0 || type == 0x7 || type == 0x14;
}

const RocksOptions::OrderedRun* find_run(const std::vector<RocksOptions::OrderedRun>& runs,
                                         std::string_view user_key) {
  for (const auto& run : runs) {
    if (user_key.size() == run.key_size && user_key.starts_with(run.prefix)) return &run;
  }
  return nullptr;
}

class RunSkipList final : public rocksdb::MemTableRep {
 public:
  RunSkipList(rocksdb::Allocator* allocator, const std::vector<RocksOptions::OrderedRun>* runs)
      : MemTableRep(allocator), runs_(runs), head_links_(new Link[kMaxHeight]) {
    for (int i = 0; i < kMaxHeight; ++i) head_links_[i].store(nullptr, std::memory_order_relaxed);
    head_ = reinterpret_cast<const char*>(head_links_.get() + kMaxHeight);
    other_[0].fill(head_);
    other_[1].fill(head_);
    random_ ^= reinterpret_cast<uintptr_t>(this) ^
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }

  // The entry's links go in front of it; until the insert, level 0 holds the node's height.
  KeyHandle Allocate(const size_t len, char** buf) override {
    const int height = random_height();
    char* raw = nullptr;
    MemTableRep::Allocate(len + sizeof(Link) * height + alignof(Link) - 1, &raw);
    const uintptr_t aligned =
        (reinterpret_cast<uintptr_t>(raw) + alignof(Link) - 1) & ~uintptr_t{alignof(Link) - 1};
    char* node = reinterpret_cast<char*>(aligned) + sizeof(Link) * height;
    for (int i = 0; i < height; ++i) new (&link(node, i)) Link(nullptr);
    link(node, 0).store(reinterpret_cast<const char*>(static_cast<uintptr_t>(height)),
                        std::memory_order_relaxed);
    *buf = node;
    return node;
  }

  void Insert(KeyHandle handle) override { InsertKey(handle); }
  bool InsertKey(KeyHandle handle) override;
  void InsertWithHint(KeyHandle handle, void**) override { InsertKey(handle); }
  bool InsertKeyWithHint(KeyHandle handle, void**) override { return InsertKey(handle); }

  bool Contains(const char* entry) const override {
    const rocksdb::Slice key = internal_key(entry);
    const char* n = find(key).at;
    return n != nullptr && compare(internal_key(n), key) == 0;
  }

  // Every node lives in the memtable's allocator, which RocksDB accounts for itself.
  size_t ApproximateMemoryUsage() override { return 0; }

  MemTableRep::Iterator* GetIterator(rocksdb::Arena* arena) override;

  const char* next(const char* node, int level) const {
    return link(node, level).load(std::memory_order_acquire);
  }
  const char* head() const { return head_; }

  // Where key falls: the last node before it (or head) and the first node at or after it (or
  // null), as one search saw them. Not `next(before)` read afterwards: a node inserted since,
  // between `before` and key, would then be taken for the first at or after key.
  struct Position {
    const char* before;
    const char* at;
  };
  Position find(const rocksdb::Slice& key) const {
    std::array<const char*, kMaxHeight> preds;
    std::array<const char*, kMaxHeight> succs;
    descend(head_, max_height_.load(std::memory_order_relaxed), key, preds.data(), succs.data());
    return {preds[0], succs[0]};
  }

  // The last node, or head.
  const char* find_last() const {
    const char* x = head_;
    int level = max_height_.load(std::memory_order_relaxed) - 1;
    while (true) {
      const char* n = next(x, level);
      if (n != nullptr) {
        x = n;
      } else if (level == 0) {
        return x;
      } else {
        --level;
      }
    }
  }

 private:
  // The last insert position of one run and kind, per level: a node of that level (or head).
  using Finger = std::array<const char*, kMaxHeight>;

  int random_height() {
    // xorshift64*: the writer is the only caller.
    random_ ^= random_ >> 12;
    random_ ^= random_ << 25;
    random_ ^= random_ >> 27;
    uint64_t bits = random_ * 0x2545F4914F6CDD1DULL;
    int height = 1;
    while (height < kMaxHeight && (bits & 3) == 0) {
      ++height;
      bits >>= 2;
    }
    return height;
  }

  Finger& finger_for(const rocksdb::Slice& key) {
    const bool deletion = is_deletion(key);
    const std::string_view user(key.data(), key.size() - 8);
    const RocksOptions::OrderedRun* run = find_run(*runs_, user);
    if (run == nullptr) return other_[deletion];
    // The view points into the node being inserted, which lives as long as this memtable.
    auto [it, inserted] = fingers_[deletion].try_emplace(user.substr(0, run->run_size));
    if (inserted) it->second.fill(head_);
    return it->second;
  }

  // From `node`, which is before key on every level below `level`, the last node before key and
  // the first at or after it on each of those levels.
  void descend(const char* node, int level, const rocksdb::Slice& key, const char** preds,
               const char** succs) const {
    for (int i = level - 1; i >= 0; --i) {
      const char* n = next(node, i);
      while (n != nullptr && compare(internal_key(n), key) < 0) {
        node = n;
        n = next(node, i);
      }
      preds[i] = node;
      succs[i] = n;
    }
  }

  // Whether the finger's node at `level` is before key and its successor after it.
  bool brackets(const Finger& finger, int level, const rocksdb::Slice& key,
                const char** successor) const {
    const char* prev = finger[level];
    if (prev != head_ && compare(internal_key(prev), key) >= 0) return false;
    const char* n = next(prev, level);
    if (n != nullptr && compare(key, internal_key(n)) >= 0) return false;
    *successor = n;
    return true;
  }

  const std::vector<RocksOptions::OrderedRun>* runs_;
  std::unique_ptr<Link[]> head_links_;
  const char* head_ = nullptr;
  std::atomic<int> max_height_{1};
  uint64_t random_ = 0x9E3779B97F4A7C15ULL;
  std::unordered_map<std::string_view, Finger> fingers_[2];  // [put, deletion]
  Finger other_[2];                                          // keys outside every run
  std::mutex iterators_mu_;
  std::vector<std::unique_ptr<unsigned char[]>> iterator_memory_;
};

bool RunSkipList::InsertKey(KeyHandle handle) {
  const char* x = static_cast<const char*>(handle);
  const int height =
      static_cast<int>(reinterpret_cast<uintptr_t>(link(x, 0).load(std::memory_order_relaxed)));
  const rocksdb::Slice key = internal_key(x);
  Finger& finger = finger_for(key);

  int top = max_height_.load(std::memory_order_relaxed);
  if (height > top) {
    top = height;
    max_height_.store(height, std::memory_order_relaxed);
  }

  // The lowest level at or above height - 1 where the finger brackets the key; from there down,
  // a search finds the key's predecessor on every level it joins.
  std::array<const char*, kMaxHeight> preds;
  std::array<const char*, kMaxHeight> succs;
  int level = 0;
  const char* successor = nullptr;
  while (level < top && !brackets(finger, level, key, &successor)) ++level;
  if (level < height - 1) {
    level = height - 1;
    while (level < top && !brackets(finger, level, key, &successor)) ++level;
  }
  const char* node = head_;
  if (level < top) {
    node = finger[level];
    preds[level] = node;
    succs[level] = successor;
  } else {
    level = top;  // no level brackets: search from the head's top
  }
  descend(node, level, key, preds.data(), succs.data());
  if (succs[0] != nullptr && compare(internal_key(succs[0]), key) == 0) return false;

  for (int i = 0; i < height; ++i) {
    link(x, i).store(succs[i], std::memory_order_relaxed);
    link(preds[i], i).store(x, std::memory_order_release);  // readers see x complete
  }
  const int searched = std::min(level, top - 1);
  for (int i = 0; i <= searched; ++i) finger[i] = i < height ? x : preds[i];
  return true;
}

class Iter final : public rocksdb::MemTableRep::Iterator {
 public:
  explicit Iter(const RunSkipList* list) : list_(list) {}

  bool Valid() const override { return node_ != nullptr; }
  const char* key() const override { return node_; }
  void Next() override { node_ = list_->next(node_, 0); }
  void Prev() override { node_ = or_null(list_->find(internal_key(node_)).before); }
  void Seek(const rocksdb::Slice& ikey, const char* memtable_key) override {
    node_ = list_->find(target(ikey, memtable_key)).at;
  }
  void SeekForPrev(const rocksdb::Slice& ikey, const char* memtable_key) override {
    const rocksdb::Slice key = target(ikey, memtable_key);
    const auto [before, at] = list_->find(key);
    node_ = at != nullptr && compare(internal_key(at), key) == 0 ? at : or_null(before);
  }
  void SeekToFirst() override { node_ = list_->next(list_->head(), 0); }
  void SeekToLast() override { node_ = or_null(list_->find_last()); }

 private:
  static rocksdb::Slice target(const rocksdb::Slice& ikey, const char* memtable_key) {
    return memtable_key != nullptr ? internal_key(memtable_key) : ikey;
  }
  const char* or_null(const char* node) const { return node == list_->head() ? nullptr : node; }

  const RunSkipList* list_;
  const char* node_ = nullptr;
};

// With an arena, RocksDB destroys the iterator but does not free it: its memory stays with
// this memtable (iterators never outlive it). Scans and flushes ask for one, not point reads.
rocksdb::MemTableRep::Iterator* RunSkipList::GetIterator(rocksdb::Arena* arena) {
  if (arena == nullptr) return new Iter(this);
  auto memory = std::make_unique<unsigned char[]>(sizeof(Iter));
  auto* iter = new (memory.get()) Iter(this);
  std::lock_guard lock(iterators_mu_);
  iterator_memory_.push_back(std::move(memory));
  return iter;
}

}  // namespace

rocksdb::MemTableRep* RunSkipListFactory::CreateMemTableRep(
    const rocksdb::MemTableRep::KeyComparator&, rocksdb::Allocator* allocator,
    const rocksdb::SliceTransform*, rocksdb::Logger*) {
  return new RunSkipList(allocator, &runs_);
}

}  // namespace ferry::storage
