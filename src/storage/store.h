#pragma once
// The key-value interface the engines persist through. Keys are ordered byte strings.
//
// Ordering contract: writes are applied in the order write() was called. get() and scan() see
// every write issued before them, whether or not it has been committed to disk yet
// (read-your-writes), so an engine may serve data the moment it has issued the write.
//
// Durability contract: the `done` callback of a Durability::kSync write runs only once the
// batch is on stable storage (concurrent writes share one sync: group commit). kLazy writes are
// ordered with all others but may be lost in a crash; their callback may be omitted.
// Callbacks run on the store's commit thread: they must be quick and must not call back into
// the store synchronously with a kSync write that waits.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::storage {

struct WriteBatch {
  struct Op {
    enum class Kind { kPut, kDelete, kSingleDelete, kDeleteRange };
    Kind kind;
    std::string key;
    std::string value;  // kPut: the value; kDeleteRange: the exclusive end key
  };
  std::vector<Op> ops;

  void put(std::string key, std::string value) {
    ops.push_back({Op::Kind::kPut, std::move(key), std::move(value)});
  }
  void del(std::string key) { ops.push_back({Op::Kind::kDelete, std::move(key), {}}); }
  // Deletes a key that was put exactly once and never overwritten. Same effect as del(), but
  // the store may then drop the put and the delete together (RocksDB's SingleDelete: a
  // short-lived key leaves no tombstone to flush and compact). Deleting a key put twice, or
  // one that del() also deletes, is undefined.
  void single_del(std::string key) { ops.push_back({Op::Kind::kSingleDelete, std::move(key), {}}); }
  // Deletes every key in [begin, end).
  void delete_range(std::string begin, std::string end) {
    ops.push_back({Op::Kind::kDeleteRange, std::move(begin), std::move(end)});
  }
  bool empty() const { return ops.empty(); }
};

enum class Durability { kSync, kLazy };

// ok is false only if the store failed to write (disk full, I/O error); the data is then not
// durable and the caller must answer with an internal error.
using WriteCallback = std::function<void(bool ok)>;

class Store {
 public:
  virtual ~Store() = default;

  // Queues `batch` to be applied atomically. Never blocks on disk I/O.
  virtual void write(WriteBatch batch, Durability durability, WriteCallback done) = 0;

  virtual std::optional<std::string> get(std::string_view key) = 0;
  // get() into `value`, reusing its memory (big values read often: Kinesis record chunks).
  // False if the key is absent.
  virtual bool get_into(std::string_view key, std::string& value) {
    auto v = get(key);
    if (!v) return false;
    value.assign(*v);
    return true;
  }

  using ScanFn = std::function<bool(std::string_view key, std::string_view value)>;
  // Calls fn for each key with the prefix, in key order, until fn returns false.
  void scan(std::string_view prefix, const ScanFn& fn) { scan_from(prefix, prefix, fn); }
  // The same, from the first key at or after `from` (which starts with the prefix): a part of a
  // range read in one pass (message payloads read ahead in key order).
  virtual void scan_from(std::string_view prefix, std::string_view from, const ScanFn& fn) = 0;

  // Short description for /health, e.g. "rocksdb:/var/lib/ferry".
  virtual std::string describe() const = 0;

  // Finishes every queued write (syncing it) and calls its callback; later writes are refused
  // (their callbacks get ok=false). Idempotent.
  virtual void close() = 0;
};

}  // namespace ferry::storage
