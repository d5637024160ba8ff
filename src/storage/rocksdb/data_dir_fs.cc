#include "storage/rocksdb/data_dir_fs.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <vector>

#include "base/log.h"

namespace ferry::storage {

namespace {

// Without the trailing separator, so that a file's parent path compares equal.
std::string normal_dir(const std::string& dir) {
  std::string d = std::filesystem::path(dir).lexically_normal().string();
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d;
}

constexpr std::string_view kTrashSuffix = ".trash";

// Past its head start, a spare is written this many times as fast as the WAL fills.
constexpr uint64_t kSparePaceRatio = 2;

// RocksDB names a WAL <number>.log; its info log is LOG, so the suffix alone is not enough.
bool wal_name(const std::string& fname) {
  const std::string name = std::filesystem::path(fname).filename().string();
  constexpr std::string_view kSuffix = ".log";
  if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) return false;
  return std::all_of(name.begin(), name.end() - kSuffix.size(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

// Counts what RocksDB writes to a WAL, to ask for the next spare once this one is in use, and
// keeps a prewritten WAL's zeros when RocksDB closes it.
class DataDirFileSystem::WalFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  WalFile(std::unique_ptr<rocksdb::FSWritableFile> file, DataDirFileSystem* fs, bool prewritten,
          uint64_t serial)
      : FSWritableFileOwnerWrapper(std::move(file)),
        fs_(fs),
        prewritten_(prewritten),
        serial_(serial) {}

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
  // RocksDB's file trims what it preallocated when it closes; inside the spare's size nothing
  // is preallocated, so the zeros stay: the trim would free their blocks (a discard the WAL
  // syncs wait behind) that the file's recycling then writes again. The log reader stops at
  // them either way.
  void PrepareWrite(size_t offset, size_t len, const rocksdb::IOOptions& options,
                    rocksdb::IODebugContext* dbg) override {
    if (prewritten_ && offset + len <= fs_->options_.spare_bytes) return;
    target()->PrepareWrite(offset, len, options, dbg);
  }

 private:
  void count(size_t bytes) {
    if (fs_->options_.spare_bytes == 0) return;
    const uint64_t threshold = std::min<uint64_t>(fs_->options_.spare_bytes / 2, kInUseBytes);
    const uint64_t before = written_;
    written_ += bytes;
    // The spare's pace is told once per MiB, not per write (the commit thread calls this), and
    // before the spare is wanted, so that it starts with the WAL's size known.
    if ((before >> 20) != (written_ >> 20)) fs_->wal_written(serial_, written_);
    if (before < threshold && written_ >= threshold) fs_->want_spare();
  }

  // Past this, a WAL is taking writes, not just the few of an idle server's start.
  static constexpr uint64_t kInUseBytes = 1 << 20;

  DataDirFileSystem* fs_;
  const bool prewritten_;
  const uint64_t serial_;
  uint64_t written_ = 0;
};

DataDirFileSystem::DataDirFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target,
                                     const std::string& dir, Options options)
    : FileSystemWrapper(target),
      dir_(normal_dir(dir)),
      spare_path_(dir_ + "/wal-spare"),
      spare_tmp_path_(spare_path_ + ".tmp"),
      recycle_path_(dir_ + "/wal-recycle"),
      options_(options),
      delete_pause_(options_.delete_chunk_bytes * 1'000'000 /
                    std::max<uint64_t>(1, options_.delete_bytes_per_second)) {
  // A spare left by an earlier run is used if it is whole (it is renamed into place only once
  // written and synced); a partly written one is removed. A recycled WAL left waiting is used.
  std::error_code ec;
  const auto size = std::filesystem::file_size(spare_path_, ec);
  spare_ready_ = options_.spare_bytes > 0 && !ec && size == options_.spare_bytes;
  std::filesystem::remove(spare_tmp_path_, ec);
  if (!spare_ready_) std::filesystem::remove(spare_path_, ec);
  recycle_ready_ = std::filesystem::is_regular_file(recycle_path_, ec);
  if (recycle_ready_ && options_.spare_bytes == 0) {
    trash_.push_back(recycle_path_);
    recycle_ready_ = false;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string path = entry.path().string();
    if (path.ends_with(kTrashSuffix)) trash_.push_back(path);
  }
  thread_ = std::thread([this] { background_loop(); });
  pthread_setname_np(thread_.native_handle(), "ferry-files");
}

DataDirFileSystem::~DataDirFileSystem() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

DataDirFileSystem::Counts DataDirFileSystem::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

void DataDirFileSystem::wait_for_deletions_for_testing() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return trash_.empty(); });
}

bool DataDirFileSystem::in_dir(const std::string& fname) const {
  return normal_dir(std::filesystem::path(fname).parent_path().string()) == dir_;
}

rocksdb::IOStatus DataDirFileSystem::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  if (!in_dir(fname) || !wal_name(fname)) {
    return target()->NewWritableFile(fname, options, result, dbg);
  }
  bool take_spare = false;
  uint64_t serial = 0;
  {
    std::lock_guard lock(mu_);
    take_spare = spare_ready_;
    spare_ready_ = false;
    ++counts_.wal_files;
    serial = ++wal_serial_;
    wal_bytes_ = 0;
    spare_hurried_ = true;  // only a spare being written reads it; the next one clears it
  }
  cv_.notify_all();  // a hurried spare stops pacing
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s;
  if (take_spare) {
    // Renames the spare to fname and opens it for writing from offset 0, without truncation.
    s = target()->ReuseWritableFile(fname, spare_path_, options, &file, dbg);
    if (s.ok()) {
      std::lock_guard lock(mu_);
      ++counts_.prewritten;
    } else {
      spdlog::warn("rocksdb: cannot use the prewritten WAL file: {}", s.ToString());
      std::error_code ec;
      std::filesystem::remove(spare_path_, ec);
    }
  }
  const bool prewritten = file != nullptr;
  if (!file) s = target()->NewWritableFile(fname, options, &file, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<WalFile>(std::move(file), this, prewritten, serial);
  return s;
}

rocksdb::IOStatus DataDirFileSystem::DeleteFile(const std::string& fname,
                                                const rocksdb::IOOptions& options,
                                                rocksdb::IODebugContext* dbg) {
  if (!in_dir(fname)) return target()->DeleteFile(fname, options, dbg);
  if (options_.spare_bytes > 0 && wal_name(fname)) {
    std::lock_guard lock(mu_);
    if (!recycle_ready_ && std::rename(fname.c_str(), recycle_path_.c_str()) == 0) {
      recycle_ready_ = true;
      return rocksdb::IOStatus::OK();
    }
  }
  uint64_t size = 0;
  if (target()->GetFileSize(fname, options, &size, dbg).ok() &&
      size > options_.delete_chunk_bytes) {
    const std::string trash = fname + std::string(kTrashSuffix);
    if (std::rename(fname.c_str(), trash.c_str()) == 0) {
      {
        std::lock_guard lock(mu_);
        trash_.push_back(trash);
      }
      cv_.notify_all();
      return rocksdb::IOStatus::OK();
    }
  }
  return target()->DeleteFile(fname, options, dbg);
}

void DataDirFileSystem::want_spare() {
  {
    std::lock_guard lock(mu_);
    spare_wanted_ = true;
  }
  cv_.notify_all();
}

void DataDirFileSystem::wal_written(uint64_t serial, uint64_t total_bytes) {
  {
    std::lock_guard lock(mu_);
    if (serial != wal_serial_) return;  // an older WAL's last writes
    wal_bytes_ = total_bytes;
  }
  cv_.notify_all();
}

bool DataDirFileSystem::pace_spare(uint64_t written) {
  std::unique_lock lock(mu_);
  auto may_write = [&] {
    return stop_ || spare_hurried_ ||
           written < options_.spare_head_start_bytes + kSparePaceRatio * wal_bytes_;
  };
  while (!may_write()) {
    // Deletions go on while the spare waits for the WAL (which may be idle for long).
    if (!trash_.empty()) {
      delete_next(lock, may_write);
      continue;
    }
    spare_paused_at_ = written;
    cv_.notify_all();  // wait_for_spare_for_testing
    cv_.wait(lock, [&] { return may_write() || !trash_.empty(); });
    spare_paused_at_ = 0;
  }
  return !stop_;
}

uint64_t DataDirFileSystem::wait_for_spare_for_testing(uint64_t at_least) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return spare_ready_ || spare_paused_at_ >= at_least; });
  return spare_ready_ ? options_.spare_bytes : spare_paused_at_;
}

void DataDirFileSystem::delete_next(std::unique_lock<std::mutex>& lock,
                                    const std::function<bool()>& cut_short) {
  const std::string path = trash_.front();
  lock.unlock();
  const bool gone = delete_step(path);
  lock.lock();
  if (gone) {
    trash_.pop_front();
    ++counts_.paced_deletions;
    cv_.notify_all();  // wait_for_deletions_for_testing
  }
  // A timer, not synchronisation: it spaces the device's discards.
  cv_.wait_for(lock, delete_pause_, [&] { return stop_ || cut_short(); });
}

void DataDirFileSystem::background_loop() {
  std::unique_lock lock(mu_);
  auto spare_due = [&] { return spare_wanted_ && !spare_ready_; };
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || spare_due() || !trash_.empty(); });
    if (stop_) break;
    if (spare_due()) {
      spare_wanted_ = false;
      // Moved aside under the lock: a WAL deleted meanwhile may take recycle_path_ again.
      bool reuse =
          recycle_ready_ && std::rename(recycle_path_.c_str(), spare_tmp_path_.c_str()) == 0;
      recycle_ready_ = false;
      spare_hurried_ = false;
      lock.unlock();
      // On failure the next WAL is appended to as usual, and asks again once in use.
      const bool ok = write_spare(reuse);
      lock.lock();
      spare_ready_ = ok;
      if (ok && reuse) ++counts_.recycled;
      cv_.notify_all();  // wait_for_spare_for_testing
      continue;
    }
    delete_next(lock, spare_due);
  }
  // Closing: what still waits is unlinked at once.
  for (const std::string& path : trash_) ::unlink(path.c_str());
  trash_.clear();
  cv_.notify_all();
}

bool DataDirFileSystem::delete_step(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > options_.delete_chunk_bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      const bool ok =
          ::ftruncate(fd, static_cast<off_t>(size - options_.delete_chunk_bytes)) == 0 &&
          ::fdatasync(fd) == 0;
      ::close(fd);
      if (ok) return false;
    }
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("rocksdb: cannot delete '{}': {}", path, std::strerror(errno));
  }
  return true;
}

bool DataDirFileSystem::write_spare(bool reuse) {
  // Written through the page cache, so that RocksDB's partial-page writes into it find the pages
  // there and need no read from the device. Each chunk goes to the device and is waited for
  // before the next is written: one fdatasync of the whole file queued tens of MiB ahead of the
  // WAL's own syncs, which then waited 20-40 ms behind it.
  const std::string& tmp = spare_tmp_path_;
  const int fd = reuse ? ::open(tmp.c_str(), O_WRONLY | O_CLOEXEC)
                       : ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    spdlog::warn("rocksdb: cannot open '{}': {}; WAL files are appended", tmp,
                 std::strerror(errno));
    return false;
  }
  bool ok = true;
  if (reuse) {
    // A WAL that grew past the spare's size gives its tail back (rare: one discard).
    struct stat st {};
    ok = ::fstat(fd, &st) == 0 && (static_cast<uint64_t>(st.st_size) <= options_.spare_bytes ||
                                   ::ftruncate(fd, static_cast<off_t>(options_.spare_bytes)) == 0);
  }
  static const std::vector<char> zeros(256 << 10, 0);
  uint64_t written = 0;
  bool sync_chunks = true;
  bool closing = false;
  while (ok && written < options_.spare_bytes) {
    if (!pace_spare(written)) {
      closing = true;  // the spare is given up; the next start removes it
      ok = false;
      break;
    }
    const size_t chunk =
        static_cast<size_t>(std::min<uint64_t>(zeros.size(), options_.spare_bytes - written));
    const ssize_t n = ::write(fd, zeros.data(), chunk);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (!ok) break;
    // A file system without sync_file_range (EINVAL, ENOSYS, ESPIPE) gets one fdatasync below.
    if (sync_chunks && ::sync_file_range(fd, static_cast<off_t>(written), n,
                                         SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                             SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
      sync_chunks = false;
      ok = errno == EINVAL || errno == ENOSYS || errno == ESPIPE;
    }
    written += static_cast<uint64_t>(n);
  }
  // The data is on the device; this writes the file's block map and size.
  ok = ok && ::fdatasync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (ok && std::rename(tmp.c_str(), spare_path_.c_str()) == 0) return true;
  if (closing) return false;
  spdlog::warn("rocksdb: cannot write '{}': {}; WAL files are appended", tmp,
               std::strerror(ok ? errno : error));
  ::unlink(tmp.c_str());
  return false;
}

}  // namespace ferry::storage
