#include "storage/rocksdb/prewritten_wal.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/log.h"

namespace ferry::storage {

// Counts what RocksDB writes to a WAL, to ask for the next spare once this one is in use.
class PrewrittenWalFileSystem::CountingFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  CountingFile(std::unique_ptr<rocksdb::FSWritableFile> file, PrewrittenWalFileSystem* fs)
      : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    count(data.size());
    return target()->Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    count(data.size());
    return target()->Append(data, options, info, dbg);
  }

 private:
  void count(size_t bytes) {
    const uint64_t threshold = std::min<uint64_t>(fs_->file_bytes_ / 2, kInUseBytes);
    const bool was_below = written_ < threshold;
    written_ += bytes;
    if (was_below && written_ >= threshold) fs_->want_spare();
  }

  // Past this, a WAL is taking writes, not just the few of an idle server's start.
  static constexpr uint64_t kInUseBytes = 1 << 20;

  PrewrittenWalFileSystem* fs_;
  uint64_t written_ = 0;
};

PrewrittenWalFileSystem::PrewrittenWalFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target,
                                                 const std::string& dir, uint64_t file_bytes)
    : FileSystemWrapper(target), spare_path_(dir + "/wal-spare"), file_bytes_(file_bytes) {
  // A spare left by an earlier run is used if it is whole (it is renamed into place only once
  // written and synced); a partly written one is removed.
  std::error_code ec;
  const auto size = std::filesystem::file_size(spare_path_, ec);
  spare_ready_ = !ec && size == file_bytes_;
  std::filesystem::remove(spare_path_ + ".tmp", ec);
  if (!spare_ready_) std::filesystem::remove(spare_path_, ec);
  thread_ = std::thread([this] { spare_loop(); });
  pthread_setname_np(thread_.native_handle(), "ferry-wal-spare");
}

PrewrittenWalFileSystem::~PrewrittenWalFileSystem() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t PrewrittenWalFileSystem::wal_files() const {
  std::lock_guard lock(mu_);
  return wal_files_;
}

uint64_t PrewrittenWalFileSystem::prewritten_files() const {
  std::lock_guard lock(mu_);
  return prewritten_files_;
}

bool PrewrittenWalFileSystem::is_wal(const std::string& fname) const {
  // RocksDB names a WAL <number>.log; its info log is LOG, so the suffix alone is not enough.
  const std::string name = std::filesystem::path(fname).filename().string();
  constexpr std::string_view kSuffix = ".log";
  if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) return false;
  return std::all_of(name.begin(), name.end() - kSuffix.size(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

rocksdb::IOStatus PrewrittenWalFileSystem::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  if (!is_wal(fname)) return target()->NewWritableFile(fname, options, result, dbg);
  bool take_spare = false;
  {
    std::lock_guard lock(mu_);
    take_spare = spare_ready_;
    spare_ready_ = false;
    ++wal_files_;
  }
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s;
  if (take_spare) {
    // Renames the spare to fname and opens it for writing from offset 0, without truncation.
    s = target()->ReuseWritableFile(fname, spare_path_, options, &file, dbg);
    if (s.ok()) {
      std::lock_guard lock(mu_);
      ++prewritten_files_;
    } else {
      spdlog::warn("rocksdb: cannot use the prewritten WAL file: {}", s.ToString());
      std::error_code ec;
      std::filesystem::remove(spare_path_, ec);
    }
  }
  if (!file) s = target()->NewWritableFile(fname, options, &file, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<CountingFile>(std::move(file), this);
  return s;
}

void PrewrittenWalFileSystem::want_spare() {
  {
    std::lock_guard lock(mu_);
    spare_wanted_ = true;
  }
  cv_.notify_all();
}

void PrewrittenWalFileSystem::spare_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || (spare_wanted_ && !spare_ready_); });
    if (stop_) return;
    spare_wanted_ = false;
    lock.unlock();
    // On failure the next WAL is appended to as usual, and asks again once in use.
    const bool ok = write_spare();
    lock.lock();
    spare_ready_ = ok;
  }
}

bool PrewrittenWalFileSystem::write_spare() {
  // Written through the page cache, so that RocksDB's partial-page writes into it find the pages
  // there and need no read from the device. Each chunk goes to the device and is waited for
  // before the next is written: one fdatasync of the whole file queued tens of MiB ahead of the
  // WAL's own syncs, which then waited 20-40 ms behind it.
  const std::string tmp = spare_path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    spdlog::warn("rocksdb: cannot create '{}': {}; WAL files are appended", tmp,
                 std::strerror(errno));
    return false;
  }
  static const std::vector<char> zeros(256 << 10, 0);
  uint64_t written = 0;
  bool ok = true;
  bool pace = true;
  while (ok && written < file_bytes_) {
    const size_t chunk =
        static_cast<size_t>(std::min<uint64_t>(zeros.size(), file_bytes_ - written));
    const ssize_t n = ::write(fd, zeros.data(), chunk);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (!ok) break;
    // A file system without sync_file_range (EINVAL, ENOSYS, ESPIPE) gets one fdatasync below.
    if (pace && ::sync_file_range(fd, static_cast<off_t>(written), n,
                                  SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                      SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
      pace = false;
      ok = errno == EINVAL || errno == ENOSYS || errno == ESPIPE;
    }
    written += static_cast<uint64_t>(n);
  }
  // The data is on the device; this writes the file's block map and size.
  ok = ok && ::fdatasync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (ok && std::rename(tmp.c_str(), spare_path_.c_str()) == 0) return true;
  spdlog::warn("rocksdb: cannot write '{}': {}; WAL files are appended", tmp,
               std::strerror(ok ? errno : error));
  ::unlink(tmp.c_str());
  return false;
}

}  // namespace ferry::storage
