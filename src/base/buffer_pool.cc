#include "base/buffer_pool.h"

#include <algorithm>
#include <mutex>
#include <vector>

namespace ferry::base {

namespace {

constexpr size_t kMinPooled = 64 * 1024;
constexpr size_t kMaxStrings = 32;
constexpr size_t kMaxBytes = 64 << 20;

struct Pool {
  std::vector<std::string> strings;
  size_t bytes = 0;
};

// One pool for the process: a connection's requests hop between I/O threads, so per-thread
// pools kept being empty where the next request ran. Taken a few times per big answer only.
std::mutex mu;

Pool& pool() {
  static Pool p;
  return p;
}

std::string take_new(size_t capacity) {
  std::string out;
  out.reserve(capacity);
  return out;
}

}  // namespace

std::string take_buffer(size_t capacity) {
  std::string out;
  if (capacity >= kMinPooled) {
    std::lock_guard lock(mu);
    Pool& p = pool();
    // The smallest that is big enough; else a new one (kept after, in place of a smaller one).
    auto best = p.strings.end();
    for (auto it = p.strings.begin(); it != p.strings.end(); ++it) {
      if (it->capacity() >= capacity &&
          (best == p.strings.end() || it->capacity() < best->capacity())) {
        best = it;
      }
    }
    if (best == p.strings.end()) return take_new(capacity);
    p.bytes -= best->capacity();
    out = std::move(*best);
    p.strings.erase(best);
  }
  out.clear();
  out.reserve(capacity);
  return out;
}

void give_back_buffer(std::string&& s) {
  size_t cap = s.capacity();
  if (cap < kMinPooled || cap > kMaxBytes) return;
  std::lock_guard lock(mu);
  Pool& p = pool();
  // Full: smaller strings make room for a bigger one (a big answer's buffer is the costliest to
  // fault in again).
  while (!p.strings.empty() && (p.strings.size() >= kMaxStrings || p.bytes + cap > kMaxBytes)) {
    auto smallest =
        std::min_element(p.strings.begin(), p.strings.end(),
                         [](const auto& a, const auto& b) { return a.capacity() < b.capacity(); });
    if (smallest->capacity() >= cap) return;
    p.bytes -= smallest->capacity();
    p.strings.erase(smallest);
  }
  s.clear();
  p.bytes += cap;
  p.strings.push_back(std::move(s));
}

}  // namespace ferry::base
