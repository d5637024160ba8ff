#pragma once
// DataDirFileSystem: the rocksdb::FileSystem RocksDB sees for the data directory. It keeps
// RocksDB's own file writes and deletes from stalling the WAL's syncs:
//
// 1. Prewritten WAL files. RocksDB appends to its WAL, so every synced write grows the file, and
//    on ext4 an fdatasync after an append must allocate the new blocks and write the inode (the
//    new size) as well as the data. Inside the file's size it writes the data blocks, and the
//    inode only when something else dirtied its table block (a timestamp tick, a neighbouring
//    file). A 4 KiB write and fdatasync on this project's virtio disk: p50 156-162 µs appending
//    to a preallocated file, 105-107 µs overwriting a renamed prewritten one. So each new WAL
//    (`*.log` in the data directory) is, when one is ready, a spare file (`wal-spare`) already
//    written with zeros and synced, renamed to the WAL's name and opened without truncation;
//    RocksDB writes from offset 0. A background thread writes the next spare once the current
//    WAL has taken 1 MiB, so an idle data directory holds no spare, and paces it to the WAL: a
//    head start, then twice as many bytes as the WAL has taken, so that it is ready when the WAL
//    is about half full. Written at once, the 36 MiB (15 ms of CPU for the page cache on a quiet
//    host, up to 124 ms on a slow one) landed beside the memtable flush that starts each WAL and
//    delayed requests by 20-50 ms in bursts (docs/benchmarks.md, session 14). A new WAL that
//    finds no spare ready makes the one being written go at full speed. RocksDB's log reader ends a
//    log at the first zeroed record header, as it does for the preallocated tail of an ordinary
//    WAL, so recovery is unchanged; the trim RocksDB makes when it closes a WAL is skipped for a
//    prewritten one (the zeros stay, as after a crash).
//
// 2. Recycled WAL files. On ext4 mounted with `discard` (this project's VM), freeing a file's
//    blocks sends the device a discard, and the host's work on it stalls the WAL syncs that
//    follow: an unlinked 32 MiB WAL held the next sync for 15-25 ms, a deleted directory of a
//    few hundred MiB held syncs for 25-130 ms for seconds after. So an obsolete WAL is renamed
//    to `wal-recycle` (one at a time) and the next spare is written over it: its blocks are
//    overwritten, never freed. It is zeroed before use, because stale records with valid
//    checksums past the new log's end would be replayed.
//
// 3. Paced deletion. Other obsolete files larger than one chunk (table and blob files, WALs
//    when a recycled one is already waiting) are renamed to `<name>.trash` and the background
//    thread frees them one 2 MiB truncation and fdatasync at a time, at most 256 MiB/s, then
//    unlinks them. A spare that is wanted goes first. Trash left by a crash (or by RocksDB's
//    SstFileManager in earlier versions) is deleted the same way at start.
#include <rocksdb/file_system.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace ferry::storage {

class DataDirFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  struct Options {
    // The size of a prewritten WAL file; 0: WALs are appended as RocksDB does by default, and
    // none is recycled.
    uint64_t spare_bytes = 0;
    // How much of a spare is written before pacing to the WAL begins.
    uint64_t spare_head_start_bytes = 4 << 20;
    uint64_t delete_chunk_bytes = 2 << 20;
    uint64_t delete_bytes_per_second = uint64_t{256} << 20;
  };

  // `dir` is the data directory (where RocksDB keeps its WAL and tables).
  DataDirFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target, const std::string& dir,
                    Options options);
  ~DataDirFileSystem() override;

  static const char* kClassName() { return "FerryDataDir"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;

  struct Counts {
    uint64_t wal_files = 0;        // WAL files created
    uint64_t prewritten = 0;       // of them, from a spare
    uint64_t recycled = 0;         // spares written over an obsolete WAL
    uint64_t paced_deletions = 0;  // files deleted in steps
  };
  Counts counts() const;
  // Waits until no file waits for deletion (tests).
  void wait_for_deletions_for_testing();
  // Waits until the spare being written waits for the WAL with at least `at_least` bytes
  // written, or is ready; returns those bytes (the spare's size when ready). Tests.
  uint64_t wait_for_spare_for_testing(uint64_t at_least);

 private:
  class WalFile;
  bool in_dir(const std::string& fname) const;
  // Called by a WAL file once it is in use (see WalFile).
  void want_spare();
  // Called by the newest WAL file as it takes writes (see WalFile).
  void wal_written(uint64_t serial, uint64_t total_bytes);
  // Waits until the spare may have `written` bytes (see spare_head_start_bytes); false when the
  // file system closes.
  bool pace_spare(uint64_t written);
  void background_loop();
  // Writes the spare at spare_tmp_path_ (over the recycled WAL already moved there when
  // `reuse`), syncs it and renames it into place.
  bool write_spare(bool reuse);
  // Frees one chunk of a trash file, or unlinks it once it is no larger; true when it is gone.
  bool delete_step(const std::string& path);
  // Takes the oldest trash file one step, then pauses to space the steps unless `cut_short`
  // becomes true. Called with `lock` (on mu_) held; releases it meanwhile.
  void delete_next(std::unique_lock<std::mutex>& lock, const std::function<bool()>& cut_short);

  const std::string dir_;
  const std::string spare_path_;
  const std::string spare_tmp_path_;  // a spare being written
  const std::string recycle_path_;
  const Options options_;
  const std::chrono::microseconds delete_pause_;  // between two deletion steps

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool spare_ready_ = false;
  bool spare_wanted_ = false;
  bool recycle_ready_ = false;    // recycle_path_ holds an obsolete WAL
  bool spare_hurried_ = false;    // a WAL began since the spare being written was started
  uint64_t wal_bytes_ = 0;        // what the newest WAL has taken (told once per MiB)
  uint64_t wal_serial_ = 0;       // WAL files created, to tell the newest from older ones
  uint64_t spare_paused_at_ = 0;  // the spare's bytes while it waits for the WAL, else 0
  bool stop_ = false;
  std::deque<std::string> trash_;  // paths waiting for deletion, oldest first
  Counts counts_;
  std::thread thread_;
};

}  // namespace ferry::storage
