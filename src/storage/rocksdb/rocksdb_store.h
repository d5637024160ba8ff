#pragma once
// RocksStore: the embedded durable Store, RocksDB in a data directory, with a group-commit
// pipeline.
//
// Ownership and threads. The server (or a test) owns the RocksStore through a unique_ptr. The
// store owns a commit thread and a sync thread (SyncMode::kStrict: the WAL syncs of the groups
// the commit thread wrote; kRelaxed: a background sync every interval).
// - write() may be called from any thread. It never touches disk: it appends the batch to a
//   pending queue and to an in-memory overlay (so reads see it at once), then wakes the commit
//   thread.
// - The commit thread takes every pending batch at once, merges them in order into one
//   rocksdb::WriteBatch and writes it to the WAL and the memtable without a sync. In strict mode
//   a group holding a kSync batch then goes to the sync thread, which syncs the WAL once for
//   every group written before the sync began and runs their callbacks, while the commit thread
//   writes the next group: writing and syncing overlap. Concurrent writers therefore share one
//   fsync. A group without kSync batches calls back from the commit thread, unless groups before
//   it still wait for their sync: callbacks always run in write() order.
// - Callbacks run on the commit or the sync thread, one at a time. They must be quick, must not
//   throw, must not block on another write's callback, and must not call close(). A write()
//   made after close() calls its callback with ok=false on the calling thread, before write()
//   returns.
// - get() and scan() may be called from any thread; they read the overlay (queued writes) over
//   RocksDB, so they see every write issued before them (read-your-writes). A scan's view is
//   consistent as of its start. scan() calls fn on the calling thread without holding any lock:
//   fn may call get(), scan() and write().
// - close() (also run by the destructor) drains and syncs the queue, joins the threads and closes
//   the database. Reads made after close() find nothing.
#include <atomic>
#include <boost/unordered/unordered_flat_map.hpp>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/store.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Env;
}  // namespace rocksdb

namespace ferry::storage {

class DataDirFileSystem;

enum class SyncMode {
  // kSync writes call back after their batch is fsynced.
  kStrict,
  // kSync writes call back once written to the WAL (in the OS page cache); a background thread
  // syncs the WAL every relaxed_sync_interval_ms. A machine crash may lose that window; a process
  // crash loses nothing.
  kRelaxed,
};

struct RocksOptions {
  std::string dir;  // created if missing
  SyncMode mode = SyncMode::kStrict;
  int relaxed_sync_interval_ms = 100;
  size_t block_cache_bytes = 64 << 20;
  // The WAL's total size past which RocksDB flushes the families holding its oldest file. Without
  // it, a family with few writes (the default one: queue records) keeps every WAL file alive.
  uint64_t max_wal_bytes = uint64_t{256} << 20;
  // Each WAL file is handed to RocksDB already written with zeros up to this size, so that a
  // synced write overwrites and does not append (see data_dir_fs.h). 0 appends as RocksDB
  // does by default. A memtable switch starts a new WAL file: SQS's 32 MiB memtables leave WAL
  // files of about 32 MiB; what goes past the zeros is appended.
  uint64_t wal_prewrite_bytes = uint64_t{36} << 20;
  // Keys under these prefixes live in a second column family ("records") whose values go to
  // RocksDB blob files: append-mostly data with a long life and trimmed oldest-first (Kinesis
  // records). Compaction then moves only keys, never the values, and a trimmed range frees
  // whole blob files without rewriting live data. A scan must not span both families.
  std::vector<std::string> record_prefixes = {"kinesis/r/"};
  // Keys under these prefixes live in a third column family ("messages"), uncompressed: SQS
  // messages, appended in key order per queue and mostly deleted within a memtable. Alone in
  // their family, a backlog's flushed files do not overlap what is already on disk, so RocksDB
  // moves them down the levels instead of rewriting them (a trivial move needs the same
  // compression on both levels). Among the default family's keys, every flush overlapped the
  // queue records and was merged into the bottom level again. A scan must not span families.
  std::vector<std::string> message_prefixes = {"sqs/m/"};
  // Keys written mostly in order within a run (a queue's messages, a shard's record chunks):
  // a key of exactly key_size bytes that starts with `prefix` belongs to the run named by its
  // first run_size bytes. The memtable (RunSkipList, run_memtable.h) keeps an insert position
  // per run and kind (put or delete), so an insert next to the previous one of its run and kind
  // skips the search from the top.
  struct OrderedRun {
    std::string prefix;
    size_t run_size;
    size_t key_size;
  };
  std::vector<OrderedRun> ordered_runs = {
      {"sqs/m/", 6 + 8, 6 + 8 + 8 + 1},           // incarnation; seq and kind
      {"kinesis/r/", 10 + 8 + 4, 10 + 8 + 4 + 8}  // incarnation and shard; counter
  };
};

class RocksStore final : public Store {
 public:
  // Opens (creating if needed) the database in options.dir. Returns nullptr and fills *error on
  // failure (error may be null).
  static std::unique_ptr<RocksStore> open(const RocksOptions& options, std::string* error);

  ~RocksStore() override;
  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;

  void write(WriteBatch batch, Durability durability, WriteCallback done) override;
  std::optional<std::string> get(std::string_view key) override;
  bool get_into(std::string_view key, std::string& value) override;
  void scan_from(std::string_view prefix, std::string_view from, const ScanFn& fn) override;
  std::string describe() const override;
  void close() override;

  // Number of RocksDB writes the commit thread has made (one per group of batches).
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  // Number of fsyncs of the WAL (one may cover several commits).
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }

  // Test hooks: while paused, the commit thread leaves queued batches in the queue (close()
  // still drains them). Lets tests observe writes that are queued but not yet applied.
  void pause_commits_for_testing();
  // Total size of the WAL files RocksDB still needs.
  uint64_t wal_bytes_for_testing();
  // WAL files RocksDB was given already written (0 with wal_prewrite_bytes = 0).
  uint64_t prewritten_wal_files_for_testing() const;
  // Spares written over an obsolete WAL file.
  uint64_t recycled_wal_files_for_testing() const;
  // Waits until every obsolete file handed to the paced deletion is gone.
  void wait_for_deletions_for_testing();
  // Flushes the records family's memtable (to its SST and blob files).
  void flush_records_for_testing();
  void resume_commits_for_testing();
  // Test hooks (strict mode): while paused, the sync thread leaves written groups waiting for
  // their sync (close() still syncs them); how many groups wait.
  void pause_syncs_for_testing();
  void resume_syncs_for_testing();
  size_t groups_awaiting_sync_for_testing();

 private:
  // One write() call, owned by the queue until the commit thread has applied it. The overlay
  // points into `batch`, so a Pending is neither moved nor freed while the overlay refers to it.
  struct Pending {
    uint64_t seq;
    WriteBatch batch;
    Durability durability;
    WriteCallback done;
  };
  // The newest queued write to one key. value points at the op's value inside its Pending, or
  // is null for a delete (including a key hidden by a queued delete_range).
  struct OverlayEntry {
    uint64_t seq;
    const std::string* value;
  };
  // A queued delete_range, pointing at the op's strings inside its Pending.
  struct PendingRange {
    uint64_t seq;
    const std::string* begin;
    const std::string* end;
  };

  // The environment the database was opened with: its file system is a DataDirFileSystem.
  struct Environment {
    std::shared_ptr<DataDirFileSystem> fs;
    std::unique_ptr<rocksdb::Env> env;
    Environment();
    Environment(Environment&&) noexcept;
    ~Environment();
  };

  RocksStore(RocksOptions options, Environment environment, rocksdb::DB* db,
             std::vector<rocksdb::ColumnFamilyHandle*> handles);
  // The column family a key (or a scan's prefix) belongs to.
  rocksdb::ColumnFamilyHandle* family(std::string_view key) const;

  // A group the commit thread wrote, waiting (strict mode) for the WAL sync that covers it.
  struct Written {
    std::vector<std::unique_ptr<Pending>> group;
    bool ok;         // the write succeeded
    bool want_sync;  // it holds a kSync batch
  };

  void commit_loop();
  // Runs a group's callbacks in write() order.
  static void call_back(const std::vector<std::unique_ptr<Pending>>& group, bool ok);
  // kStrict: syncs the WAL for the written groups and calls them back. kRelaxed: syncs every
  // interval.
  void sync_loop();
  void relaxed_sync_loop();
  // Writes one group to RocksDB, without a sync; returns whether it succeeded.
  bool apply(const std::vector<std::unique_ptr<Pending>>& group);
  // Makes `entry` the overlay's entry for `key` (a key inside the entry's write). Under mu_.
  void overlay_put(const std::string& key, OverlayEntry entry);
  // Drops the overlay entries and ranges of an applied group, unless a newer write replaced them.
  void retire(const std::vector<std::unique_ptr<Pending>>& group);
  bool sync_wal();

  // Reader accounting, so that close() frees the DB only once no get() or scan() uses it.
  bool enter_read();
  void leave_read();

  const RocksOptions options_;
  Environment environment_;  // outlives db_
  std::unique_ptr<rocksdb::DB> db_;
  // Every handle is destroyed before db_ closes.
  rocksdb::ColumnFamilyHandle* default_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* records_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* messages_cf_ = nullptr;

  // Guards the queue, the overlay, the ranges and the flags below.
  std::mutex mu_;
  std::condition_variable commit_cv_;
  std::deque<std::unique_ptr<Pending>> queue_;
  // By key, viewing the key inside the newest queued write to it. Unordered: a scan (rare: at
  // start-up and in tests) sorts the few entries under its prefix.
  boost::unordered_flat_map<std::string_view, OverlayEntry, std::hash<std::string_view>> overlay_;
  std::deque<PendingRange> ranges_;  // in seq order
  uint64_t next_seq_ = 1;
  bool closed_ = false;    // write() refuses
  bool stopping_ = false;  // commit thread drains and exits
  bool paused_ = false;

  // The sync thread's: written_ (kStrict), whether it holds groups it has not yet called back,
  // and the stop flag.
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::vector<Written> written_;
  bool syncing_ = false;
  bool sync_stop_ = false;
  bool sync_paused_ = false;
  std::atomic<bool> dirty_{false};  // written to the WAL since the last sync

  // Readers in get()/scan(); close() waits for zero after setting reads_closed_.
  std::atomic<int> readers_{0};
  std::atomic<bool> reads_closed_{false};
  std::mutex readers_mu_;
  std::condition_variable readers_cv_;

  std::mutex close_mu_;  // serializes close()
  bool db_closed_ = false;

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> syncs_{0};

  std::thread commit_thread_;
  std::thread sync_thread_;
};

}  // namespace ferry::storage
