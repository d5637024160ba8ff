#include "storage/rocksdb/rocksdb_store.h"

#include <pthread.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cassert>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <optional>
#include <system_error>
#include <utility>

#include "base/log.h"
#include "storage/rocksdb/crc32c.h"
#include "storage/rocksdb/data_dir_fs.h"
#include "storage/rocksdb/run_memtable.h"

namespace ferry::storage {
namespace {

using OpKind = WriteBatch::Op::Kind;

// A delete_range whose end is not after its begin deletes nothing. RocksDB rejects it, and one
// rejected op would fail every batch of its group, so such ops are skipped everywhere.
bool empty_range(const WriteBatch::Op& op) {
  return op.kind == OpKind::kDeleteRange && !(op.key < op.value);
}

bool has_prefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// The smallest key greater than every key with the prefix, or nullopt if there is none (the
// prefix is empty or all 0xff).
std::optional<std::string> prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last != 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

rocksdb::Slice slice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view view(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

rocksdb::Options make_options(const RocksOptions& options) {
  rocksdb::Options o;
  // Memtable inserts come from the commit thread only (RunSkipList has one writer).
  o.memtable_factory = std::make_shared<RunSkipListFactory>(options.ordered_runs);
  o.allow_concurrent_memtable_write = false;
  o.create_if_missing = true;
  // Every write reaches the WAL file before Write() returns: a process crash loses nothing.
  o.manual_wal_flush = false;
  // Messages are short-lived: a modest memtable absorbs most put-then-delete pairs before flush.
  o.write_buffer_size = 32 << 20;
  o.max_write_buffer_number = 3;
  o.level_compaction_dynamic_level_bytes = true;
  // Only the bottommost level is compressed (open() falls back to none if LZ4 is not linked):
  // most messages live for seconds, and LZ4 on every flush and compaction was 12% of the
  // server's CPU under SendMessageBatch. A backlog that settles at the bottom is compressed.
  o.compression = rocksdb::kNoCompression;
  o.bottommost_compression = rocksdb::kLZ4Compression;
  // Obsolete files are not unlinked at once: DataDirFileSystem recycles WAL files and deletes
  // the rest in steps (data_dir_fs.h).
  // A WAL file is deleted only once every family with writes in it has flushed them. The
  // default family takes few writes (queue records) and would rarely fill its memtable, so the
  // WAL behind a backlog of messages was kept whole: a 1 GiB backlog left 1.1 GiB of WAL, all
  // read again at restart. Past this total, RocksDB flushes the families that hold the oldest.
  o.max_total_wal_size = options.max_wal_bytes;
  // Table files go to the device 1 MiB at a time while a flush or compaction writes them, each
  // range waited for before the next: one fsync of a whole 32 MiB file at its end queued the
  // WAL's syncs behind it (RocksDB's tuning guide recommends 1 MiB).
  o.bytes_per_sync = 1 << 20;
  o.strict_bytes_per_sync = true;
  o.keep_log_file_num = 5;  // RocksDB's own info LOG files
  o.max_log_file_size = 16 << 20;

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return o;
}

constexpr const char* kRecordsFamily = "records";
constexpr const char* kMessagesFamily = "messages";

// Records: values in blob files (key-value separation), no blob garbage collection (trimming
// is oldest-first by range delete, so whole blob files die together), bigger memtables.
rocksdb::ColumnFamilyOptions records_options(const rocksdb::Options& base) {
  rocksdb::ColumnFamilyOptions o(base);
  o.enable_blob_files = true;
  o.min_blob_size = 64;
  o.blob_file_size = 256 << 20;
  o.blob_compression_type = rocksdb::kNoCompression;
  o.enable_blob_garbage_collection = false;
  o.write_buffer_size = 64 << 20;
  return o;
}

// Messages: no compression on any level, so that a flushed file can be moved down unchanged.
rocksdb::ColumnFamilyOptions messages_options(const rocksdb::Options& base) {
  rocksdb::ColumnFamilyOptions o(base);
  o.compression = rocksdb::kNoCompression;
  o.bottommost_compression = rocksdb::kNoCompression;
  return o;
}

// Data directories written before a family existed hold its keys in the default family: moves
// them over once, in bounded batches.
rocksdb::Status migrate_keys(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* from,
                             rocksdb::ColumnFamilyHandle* to,
                             const std::vector<std::string>& prefixes) {
  for (const auto& prefix : prefixes) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), from));
    it->Seek(slice(prefix));
    if (!it->Valid() || !has_prefix(view(it->key()), prefix)) continue;
    spdlog::info("rocksdb: moving '{}' keys to the {} column family", prefix, to->GetName());
    rocksdb::WriteBatch batch;
    for (; it->Valid() && has_prefix(view(it->key()), prefix); it->Next()) {
      batch.Put(to, it->key(), it->value());
      if (batch.GetDataSize() > (16 << 20)) {
        if (auto s = db->Write(rocksdb::WriteOptions(), &batch); !s.ok()) return s;
        batch.Clear();
      }
    }
    if (!it->status().ok()) return it->status();
    auto end = prefix_end(prefix);
    if (end) batch.DeleteRange(from, slice(prefix), slice(*end));
    rocksdb::WriteOptions sync;
    sync.sync = true;
    if (auto s = db->Write(sync, &batch); !s.ok()) return s;
  }
  return rocksdb::Status::OK();
}

}  // namespace

std::unique_ptr<RocksStore> RocksStore::open(const RocksOptions& options, std::string* error) {
  auto fail = [&](std::string message) -> std::unique_ptr<RocksStore> {
    spdlog::error("rocksdb: cannot open '{}': {}", options.dir, message);
    if (error) *error = std::move(message);
    return nullptr;
  };
  if (options.dir.empty()) return fail("no data directory given");
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return fail("cannot create directory: " + ec.message());

  rocksdb::Options db_options = make_options(options);
  db_options.create_missing_column_families = true;
  Environment environment;
  environment.fs = std::make_shared<DataDirFileSystem>(
      rocksdb::FileSystem::Default(), options.dir,
      DataDirFileSystem::Options{.spare_bytes = options.wal_prewrite_bytes});
  environment.env = rocksdb::NewCompositeEnv(environment.fs);
  db_options.env = environment.env.get();
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  auto open_db = [&] {
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(db_options)},
        {kRecordsFamily, records_options(db_options)},
        {kMessagesFamily, messages_options(db_options)}};
    return rocksdb::DB::Open(rocksdb::DBOptions(db_options), options.dir, families, &handles, &db);
  };
  rocksdb::Status s = open_db();
  if ((s.IsInvalidArgument() || s.IsNotSupported()) &&
      db_options.bottommost_compression != rocksdb::kNoCompression) {
    // The codec is not linked into this librocksdb build: store blocks uncompressed.
    spdlog::warn("rocksdb: {}; opening '{}' without compression", s.ToString(), options.dir);
    db_options.bottommost_compression = rocksdb::kNoCompression;
    s = open_db();
  }
  if (!s.ok()) {
    delete db;
    return fail(s.ToString());
  }
  s = migrate_keys(db, handles[0], handles[1], options.record_prefixes);
  if (s.ok()) s = migrate_keys(db, handles[0], handles[2], options.message_prefixes);
  if (!s.ok()) {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
    return fail("moving keys to their column family: " + s.ToString());
  }
  spdlog::info("rocksdb: opened '{}' ({} sync, crc32c {})", options.dir,
               options.mode == SyncMode::kStrict ? "strict" : "relaxed", crc32c_implementation());
  return std::unique_ptr<RocksStore>(
      new RocksStore(options, std::move(environment), db, std::move(handles)));
}

RocksStore::Environment::Environment() = default;
RocksStore::Environment::Environment(Environment&&) noexcept = default;
RocksStore::Environment::~Environment() = default;

RocksStore::RocksStore(RocksOptions options, Environment environment, rocksdb::DB* db,
                       std::vector<rocksdb::ColumnFamilyHandle*> handles)
    : options_(std::move(options)),
      environment_(std::move(environment)),
      db_(db),
      default_cf_(handles[0]),
      records_cf_(handles[1]),
      messages_cf_(handles[2]) {
  // Named, so that top -H and perf tell them apart from the I/O threads.
  commit_thread_ = std::thread([this] { commit_loop(); });
  pthread_setname_np(commit_thread_.native_handle(), "ferry-commit");
  sync_thread_ = std::thread([this] { sync_loop(); });
  pthread_setname_np(sync_thread_.native_handle(), "ferry-wal-sync");
}

RocksStore::~RocksStore() { close(); }

std::string RocksStore::describe() const { return "rocksdb:" + options_.dir; }

// ---- writes ----------------------------------------------------------------------------------

void RocksStore::overlay_put(const std::string& key, OverlayEntry entry) {
  // The map's key views the newest write's key: the older write may be freed first.
  auto [it, inserted] = overlay_.try_emplace(std::string_view(key), entry);
  if (inserted) return;
  overlay_.erase(it);
  overlay_.emplace(std::string_view(key), entry);
}

void RocksStore::write(WriteBatch batch, Durability durability, WriteCallback done) {
  auto pending = std::make_unique<Pending>(Pending{0, std::move(batch), durability, nullptr});
  {
    std::lock_guard lock(mu_);
    if (!closed_) {
      pending->done = std::move(done);
      pending->seq = next_seq_++;
      const uint64_t seq = pending->seq;
      for (const WriteBatch::Op& op : pending->batch.ops) {
        switch (op.kind) {
          case OpKind::kPut:
            overlay_put(op.key, OverlayEntry{seq, &op.value});
            break;
          case OpKind::kDelete:
          case OpKind::kSingleDelete:
            overlay_put(op.key, OverlayEntry{seq, nullptr});
            break;
          case OpKind::kDeleteRange:
            if (empty_range(op)) break;
            // Queued writes inside the range leave the overlay: the range, queued in ranges_,
            // hides them as it hides the keys already on disk. (Every entry is older than it.)
            boost::unordered::erase_if(overlay_, [&](const auto& entry) {
              return op.key <= entry.first && entry.first < op.value;
            });
            ranges_.push_back(PendingRange{seq, &op.key, &op.value});
            break;
        }
      }
      queue_.push_back(std::move(pending));
    }
  }
  if (pending) {  // refused: the store is closed
    if (done) done(false);
    return;
  }
  commit_cv_.notify_one();
}

void RocksStore::call_back(const std::vector<std::unique_ptr<Pending>>& group, bool ok) {
  for (const auto& pending : group) {
    if (pending->done) pending->done(ok);
  }
}

void RocksStore::commit_loop() {
  std::vector<std::unique_ptr<Pending>> group;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      commit_cv_.wait(lock, [&] { return stopping_ || (!paused_ && !queue_.empty()); });
      if (queue_.empty()) return;  // stopping, and everything is drained
      group.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
    }
    const bool ok = apply(group);
    retire(group);
    if (options_.mode == SyncMode::kStrict) {
      const bool want_sync = std::any_of(group.begin(), group.end(), [](const auto& pending) {
        return pending->durability == Durability::kSync;
      });
      bool handed_over = false;
      {
        std::lock_guard lock(sync_mu_);
        // Behind groups that wait for their sync, even a lazy group waits: callbacks keep the
        // order of the writes.
        if (want_sync || !written_.empty() || syncing_) {
          written_.push_back(Written{std::move(group), ok, want_sync});
          handed_over = true;
        }
      }
      if (handed_over) {
        sync_cv_.notify_one();
        group.clear();
        continue;
      }
    }
    call_back(group, ok);
    group.clear();
  }
}

bool RocksStore::apply(const std::vector<std::unique_ptr<Pending>>& group) {
  // The group's operations in key order, so that each memtable insert lands next to the one
  // before in its run (see ordered_runs): a queue's sends append at the end of its range while
  // its deletes take from the front. Operations on one key keep their order (a stable sort);
  // operations on different keys commute, except across a range delete, so a group with one
  // keeps arrival order.
  std::vector<const WriteBatch::Op*> ops;
  bool has_range = false;
  size_t bytes = 12;  // WriteBatch's header: sequence number and count
  for (const auto& pending : group) {
    for (const WriteBatch::Op& op : pending->batch.ops) {
      has_range |= op.kind == OpKind::kDeleteRange;
      ops.push_back(&op);
      // Per record at most: a tag, a column family id and two length prefixes (varints).
      bytes += op.key.size() + op.value.size() + 16;
    }
  }
  // Reserved at its final size: grown by appends, the batch was copied over again and again
  // (a sixth of the commit thread's instructions under SendMessageBatch).
  rocksdb::WriteBatch merged(bytes);
  if (!has_range) {
    std::stable_sort(ops.begin(), ops.end(), [](const WriteBatch::Op* a, const WriteBatch::Op* b) {
      return a->key < b->key;
    });
  }
  for (const WriteBatch::Op* op_ptr : ops) {
    const WriteBatch::Op& op = *op_ptr;
    rocksdb::Status s;
    switch (op.kind) {
      case OpKind::kPut:
        s = merged.Put(family(op.key), slice(op.key), slice(op.value));
        break;
      case OpKind::kDelete:
        s = merged.Delete(family(op.key), slice(op.key));
        break;
      case OpKind::kSingleDelete:
        s = merged.SingleDelete(family(op.key), slice(op.key));
        break;
      case OpKind::kDeleteRange:
        // A range lies within one family: its begin names it.
        if (empty_range(op)) break;
        s = merged.DeleteRange(family(op.key), slice(op.key), slice(op.value));
        break;
    }
    if (!s.ok()) {
      spdlog::error("rocksdb: cannot build a write batch: {}", s.ToString());
      return false;
    }
  }
  // Nothing to write: a kSync barrier still waits for the sync of earlier lazy writes, which
  // the sync thread makes when dirty_ says there are some.
  if (merged.Count() == 0) return true;

  // Never synced here: the sync thread syncs the WAL (strict mode) while this thread writes the
  // next group.
  const rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), &merged);
  commits_.fetch_add(1, std::memory_order_relaxed);
  if (!s.ok()) {
    spdlog::error("rocksdb: write of {} batches failed: {}", group.size(), s.ToString());
    return false;
  }
  // Set before the group is handed to the sync thread, which clears it before its sync.
  dirty_ = true;
  return true;
}

void RocksStore::retire(const std::vector<std::unique_ptr<Pending>>& group) {
  if (group.empty()) return;
  const uint64_t last = group.back()->seq;
  std::lock_guard lock(mu_);
  // Every entry was made by a put or delete: its own op removes it here, unless a write still
  // in the queue (a seq after `last`) replaced it. A range made none (see write()).
  for (const auto& pending : group) {
    for (const WriteBatch::Op& op : pending->batch.ops) {
      if (op.kind == OpKind::kDeleteRange) continue;
      auto it = overlay_.find(std::string_view(op.key));
      if (it != overlay_.end() && it->second.seq <= last) overlay_.erase(it);
    }
  }
  while (!ranges_.empty() && ranges_.front().seq <= last) ranges_.pop_front();
}

bool RocksStore::sync_wal() {
  const rocksdb::Status s = db_->SyncWAL();
  if (!s.ok()) {
    spdlog::error("rocksdb: WAL sync failed: {}", s.ToString());
    return false;
  }
  syncs_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void RocksStore::sync_loop() {
  if (options_.mode == SyncMode::kRelaxed) {
    relaxed_sync_loop();
    return;
  }
  std::vector<Written> taken;
  for (;;) {
    {
      std::unique_lock lock(sync_mu_);
      sync_cv_.wait(lock, [&] { return sync_stop_ || (!sync_paused_ && !written_.empty()); });
      if (written_.empty()) return;  // stopping, and every group is called back
      taken.swap(written_);
      syncing_ = true;
    }
    // One sync covers every group taken: each was written before it began. dirty_ is cleared
    // first, so a write that lands meanwhile sets it again for the next sync.
    const bool want_sync =
        std::any_of(taken.begin(), taken.end(), [](const Written& w) { return w.want_sync; });
    bool synced = true;
    if (want_sync && dirty_.exchange(false) && !sync_wal()) {
      dirty_ = true;
      synced = false;
    }
    for (const Written& w : taken) call_back(w.group, w.ok && (synced || !w.want_sync));
    taken.clear();
    std::lock_guard lock(sync_mu_);
    syncing_ = false;
  }
}

void RocksStore::relaxed_sync_loop() {
  const auto interval = std::chrono::milliseconds(std::max(1, options_.relaxed_sync_interval_ms));
  std::unique_lock lock(sync_mu_);
  for (;;) {
    // A timer, not synchronisation: the loop wakes every interval or when close() stops it.
    if (sync_cv_.wait_for(lock, interval, [&] { return sync_stop_; })) return;
    lock.unlock();
    if (dirty_.exchange(false) && !sync_wal()) dirty_ = true;
    lock.lock();
  }
}

namespace {

// Sets a test hook's pause flag under its mutex; a resume wakes the thread that waits on it.
void set_paused(std::mutex& mu, bool& paused, bool value, std::condition_variable& cv) {
  {
    std::lock_guard lock(mu);
    paused = value;
  }
  if (!value) cv.notify_one();
}

}  // namespace

void RocksStore::pause_commits_for_testing() { set_paused(mu_, paused_, true, commit_cv_); }
void RocksStore::resume_commits_for_testing() { set_paused(mu_, paused_, false, commit_cv_); }
void RocksStore::pause_syncs_for_testing() { set_paused(sync_mu_, sync_paused_, true, sync_cv_); }
void RocksStore::resume_syncs_for_testing() { set_paused(sync_mu_, sync_paused_, false, sync_cv_); }

size_t RocksStore::groups_awaiting_sync_for_testing() {
  std::lock_guard lock(sync_mu_);
  return written_.size();
}

// ---- reads -----------------------------------------------------------------------------------

bool RocksStore::enter_read() {
  readers_.fetch_add(1);
  if (reads_closed_.load()) {
    leave_read();
    return false;
  }
  return true;
}

void RocksStore::leave_read() {
  if (readers_.fetch_sub(1) == 1 && reads_closed_.load()) {
    std::lock_guard lock(readers_mu_);
    readers_cv_.notify_all();
  }
}

std::optional<std::string> RocksStore::get(std::string_view key) {
  std::string value;
  if (!get_into(key, value)) return std::nullopt;
  return value;
}

bool RocksStore::get_into(std::string_view key, std::string& value) {
  if (!enter_read()) return false;
  struct Leave {
    RocksStore* store;
    ~Leave() { store->leave_read(); }
  } leave{this};

  {
    std::lock_guard lock(mu_);
    if (auto it = overlay_.find(key); it != overlay_.end()) {
      if (it->second.value == nullptr) return false;
      value.assign(*it->second.value);
      return true;
    }
    for (const PendingRange& range : ranges_) {
      if (*range.begin <= key && key < *range.end) return false;
    }
  }
  // Not in the pipeline: whatever was written before this get() is in RocksDB by now, since the
  // commit thread retires overlay entries only after writing them.
  rocksdb::ReadOptions read_options;
  rocksdb::ColumnFamilyHandle* cf = family(key);
  // Record values (Kinesis chunks of up to ~1 MiB) skip the per-read checksum of their blob:
  // Debian's portable RocksDB computes CRC32C in software, which was 28% of a stream reader's
  // server time. They are checksummed when written (WAL, blob file) and at recovery.
  if (cf == records_cf_) read_options.verify_checksums = false;
  const rocksdb::Status s = db_->Get(read_options, cf, slice(key), &value);
  if (s.ok()) return true;
  if (!s.IsNotFound()) spdlog::error("rocksdb: get failed: {}", s.ToString());
  return false;
}

void RocksStore::scan_from(std::string_view prefix, std::string_view from, const ScanFn& fn) {
  if (!enter_read()) return;
  struct Leave {
    RocksStore* store;
    ~Leave() { store->leave_read(); }
  } leave{this};

  const std::optional<std::string> end = prefix_end(prefix);
  rocksdb::Slice upper_bound;
  rocksdb::ReadOptions read_options;
  if (end) {
    upper_bound = slice(*end);
    read_options.iterate_upper_bound = &upper_bound;
  }

  // Copy the overlay's part of the prefix and open the iterator under one lock: the commit thread
  // retires entries under the same lock only after writing them, so disk + overlay is one
  // consistent state. The overlay wins where both have a key.
  struct Entry {
    std::string key;
    std::optional<std::string> value;
  };
  std::vector<Entry> overlay;
  std::vector<std::pair<std::string, std::string>> ranges;
  std::unique_ptr<rocksdb::Iterator> it;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, entry] : overlay_) {
      if (!has_prefix(key, prefix) || key < from) continue;
      overlay.push_back({std::string(key),
                         entry.value ? std::optional<std::string>(*entry.value) : std::nullopt});
    }
    for (const PendingRange& range : ranges_) {
      if (*range.end > prefix && (!end || *range.begin < *end)) {
        ranges.emplace_back(*range.begin, *range.end);
      }
    }
    it.reset(db_->NewIterator(read_options, family(prefix)));
  }
  std::sort(overlay.begin(), overlay.end(),
            [](const Entry& a, const Entry& b) { return a.key < b.key; });

  // The end of a queued delete_range hiding `key`, if any.
  auto hidden_until = [&](std::string_view key) -> std::optional<std::string_view> {
    std::optional<std::string_view> until;
    for (const auto& [b, e] : ranges) {
      if (b <= key && key < e && (!until || *until < e)) until = e;
    }
    return until;
  };

  size_t next = 0;
  it->Seek(slice(std::max(prefix, from)));
  for (;;) {
    const bool disk = it->Valid() && has_prefix(view(it->key()), prefix);
    if (!disk && next == overlay.size()) break;
    if (next < overlay.size() && (!disk || overlay[next].key <= view(it->key()))) {
      const Entry& entry = overlay[next++];
      if (disk && entry.key == view(it->key())) it->Next();
      if (entry.value && !fn(entry.key, *entry.value)) return;
      continue;
    }
    if (auto until = hidden_until(view(it->key()))) {
      it->Seek(slice(*until));
      continue;
    }
    if (!fn(view(it->key()), view(it->value()))) return;
    it->Next();
  }
  if (!it->status().ok()) spdlog::error("rocksdb: scan failed: {}", it->status().ToString());
}

uint64_t RocksStore::wal_bytes_for_testing() {
  rocksdb::VectorLogPtr files;
  if (!db_->GetSortedWalFiles(files).ok()) return 0;
  uint64_t bytes = 0;
  for (const auto& file : files) bytes += file->SizeFileBytes();
  return bytes;
}

uint64_t RocksStore::prewritten_wal_files_for_testing() const {
  return environment_.fs->counts().prewritten;
}

uint64_t RocksStore::recycled_wal_files_for_testing() const {
  return environment_.fs->counts().recycled;
}

void RocksStore::wait_for_deletions_for_testing() {
  environment_.fs->wait_for_deletions_for_testing();
}

void RocksStore::flush_records_for_testing() { db_->Flush(rocksdb::FlushOptions(), records_cf_); }

rocksdb::ColumnFamilyHandle* RocksStore::family(std::string_view key) const {
  for (const auto& prefix : options_.message_prefixes) {
    if (has_prefix(key, prefix)) return messages_cf_;
  }
  for (const auto& prefix : options_.record_prefixes) {
    if (has_prefix(key, prefix)) return records_cf_;
  }
  return default_cf_;
}

// ---- close -----------------------------------------------------------------------------------

void RocksStore::close() {
  std::lock_guard close_lock(close_mu_);
  if (db_closed_) return;
  // A callback runs on the commit or the sync thread, which close() joins.
  assert(std::this_thread::get_id() != commit_thread_.get_id() &&
         std::this_thread::get_id() != sync_thread_.get_id());

  {
    std::lock_guard lock(mu_);
    closed_ = true;
    stopping_ = true;
  }
  commit_cv_.notify_all();
  if (commit_thread_.joinable()) commit_thread_.join();
  if (sync_thread_.joinable()) {
    {
      std::lock_guard lock(sync_mu_);
      sync_stop_ = true;
    }
    sync_cv_.notify_all();
    sync_thread_.join();
  }
  if (dirty_.exchange(false)) sync_wal();

  reads_closed_ = true;
  {
    std::unique_lock lock(readers_mu_);
    readers_cv_.wait(lock, [&] { return readers_.load() == 0; });
  }
  // Open() handed out these handles; each must be destroyed before the database closes.
  db_->DestroyColumnFamilyHandle(messages_cf_);
  db_->DestroyColumnFamilyHandle(records_cf_);
  db_->DestroyColumnFamilyHandle(default_cf_);
  messages_cf_ = records_cf_ = default_cf_ = nullptr;
  const rocksdb::Status s = db_->Close();
  if (!s.ok()) spdlog::error("rocksdb: close of '{}' failed: {}", options_.dir, s.ToString());
  db_.reset();
  db_closed_ = true;
  const DataDirFileSystem::Counts counts = environment_.fs->counts();
  spdlog::info(
      "rocksdb: closed '{}' ({} of {} WAL files prewritten, {} of them recycled; {} files "
      "deleted in steps)",
      options_.dir, counts.prewritten, counts.wal_files, counts.recycled, counts.paced_deletions);
}

}  // namespace ferry::storage
