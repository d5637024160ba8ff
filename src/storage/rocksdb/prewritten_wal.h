#pragma once
// PrewrittenWalFileSystem: a rocksdb::FileSystem that hands RocksDB each new WAL file already
// written with zeros up to a fixed size, when it has one ready.
//
// Why: RocksDB appends to its WAL, so every synced write grows the file, and on ext4 an
// fdatasync after an append must allocate the new blocks and write the inode (the new size) as
// well as the data. Inside the file's size it writes the data blocks, and the inode only when
// something else dirtied its table block (a timestamp tick, a neighbouring file). A 4 KiB write
// and fdatasync on this project's virtio disk: p50 156-162 µs appending to a preallocated file,
// 105-107 µs overwriting a renamed prewritten one. Each device round trip is also a VM exit.
//
// How:
// - A background thread writes one spare file, `wal-spare` in the data directory, with zeros
//   and syncs it. It starts once the current WAL has taken 1 MiB of writes, so that an idle
//   data directory holds no spare.
// - Creating a WAL (`*.log` in the data directory) renames the spare to the WAL's name and opens
//   it without truncating it; RocksDB writes from offset 0. With no spare ready, the WAL is
//   created as usual.
// - Recovery is unchanged: RocksDB's log reader ends a log at the first zeroed record header,
//   as it does for the preallocated tail of an ordinary WAL. RocksDB trims a WAL to its written
//   size when it closes it. A WAL longer than file_bytes appends past the zeros as usual.
#include <rocksdb/file_system.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace ferry::storage {

class PrewrittenWalFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  // `dir` is the data directory (where RocksDB keeps its WAL); `file_bytes` the spare's size.
  PrewrittenWalFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target,
                          const std::string& dir, uint64_t file_bytes);
  ~PrewrittenWalFileSystem() override;

  static const char* kClassName() { return "FerryPrewrittenWal"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;

  // WAL files created, and how many of them from a spare.
  uint64_t wal_files() const;
  uint64_t prewritten_files() const;

 private:
  class CountingFile;
  bool is_wal(const std::string& fname) const;
  // Called by a WAL file once it is in use (see CountingFile).
  void want_spare();
  void spare_loop();
  bool write_spare();

  const std::string spare_path_;  // in the data directory
  const uint64_t file_bytes_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool spare_ready_ = false;
  bool spare_wanted_ = false;
  bool stop_ = false;
  uint64_t wal_files_ = 0;
  uint64_t prewritten_files_ = 0;
  std::thread thread_;
};

}  // namespace ferry::storage
