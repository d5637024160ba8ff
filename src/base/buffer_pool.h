#pragma once
// Big strings reused across requests. A multi-MB buffer allocated afresh per
// request (a GetRecords answer, the stored chunks it is read from) costs its page faults every
// time, because glibc hands such blocks back to the kernel when they are freed; the profile of
// a stream reader showed those faults as a quarter of its server time.
#include <memory>
#include <string>

namespace ferry::base {

// An empty string with at least `capacity` reserved, from the pool when it has one. Thread-safe.
std::string take_buffer(size_t capacity);

// Keeps `s`'s memory for a later take_buffer() if it is big (at least 64 KiB)
// and the pool has room (32 strings, 64 MiB); else frees it.
void give_back_buffer(std::string&& s);

// A heap string that goes back to the pool when dropped.
struct GiveBackBuffer {
  void operator()(std::string* s) const {
    give_back_buffer(std::move(*s));
    delete s;
  }
};
using PooledBuffer = std::unique_ptr<std::string, GiveBackBuffer>;

inline PooledBuffer take_pooled_buffer(size_t capacity) {
  return PooledBuffer(new std::string(take_buffer(capacity)));
}

}  // namespace ferry::base
