// The disk's sync rate: append 4 KiB and fdatasync(), as a write-ahead log does, for the duration.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "bench.h"

namespace ferry::bench {

int run_fsync(const Options& o, Result* result) {
  std::string path = o.fsync_dir + "/ferry-bench-fsync-" + std::to_string(::getpid());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    std::cerr << "ferry-bench: cannot create " << path << ": " << std::strerror(errno) << "\n";
    return 2;
  }
  std::string block(4096, 'f');
  Window w = Window::from(o);
  Stats& st = result->stats;
  off_t offset = 0;
  for (;;) {
    auto t0 = Clock::now();
    if (t0 >= w.end) break;
    bool ok =
        ::pwrite(fd, block.data(), block.size(), offset) == static_cast<ssize_t>(block.size()) &&
        ::fdatasync(fd) == 0;
    auto t1 = Clock::now();
    offset += static_cast<off_t>(block.size());
    if (offset >= (64 << 20)) offset = 0;  // stay within 64 MiB
    if (!w.in(t0) || t1 >= w.end) continue;
    if (!ok) {
      st.error(std::string("write/fdatasync: ") + std::strerror(errno));
      continue;
    }
    st.requests++;
    st.latency.record((t1 - t0).count());
  }
  ::close(fd);
  ::unlink(path.c_str());
  result->measured_s = o.duration_s;
  return 0;
}

}  // namespace ferry::bench
