#include <charconv>
#include <cstring>
#include <iostream>

#include "bench.h"

namespace ferry::bench {

void WorkerFailures::record(std::exception_ptr e) {
  if (!e) return;
  count_++;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::cerr << "ferry-bench: worker failed: " << ex.what() << "\n";
  } catch (...) {
    std::cerr << "ferry-bench: worker failed\n";
  }
}

void Stats::merge(const Stats& o) {
  requests += o.requests;
  sent += o.sent;
  received += o.received;
  deleted += o.deleted;
  receives += o.receives;
  empty_receives += o.empty_receives;
  errors += o.errors;
  bytes_sent += o.bytes_sent;
  bytes_received += o.bytes_received;
  if (first_error.empty()) first_error = o.first_error;
  latency.merge(o.latency);
  delivery.merge(o.delivery);
}

Window Window::from(const Options& o) {
  Window w;
  w.start = Clock::now();
  w.begin = w.start +
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup_s));
  w.end = w.begin +
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  return w;
}

void append_body(std::string& out, size_t size, Clock::time_point intended, uint64_t seq) {
  // Pseudo-random filler that needs no escaping in JSON, XML or forms, built once. Each message
  // takes it from its own offset so that a store's compression sees bodies about as
  // compressible as real payloads (base64-like text), not one repeated string.
  static constexpr size_t kFillerSize = 1 << 20;
  static constexpr size_t kMaxFill = 262144;
  static const std::string kFiller = [] {
    static constexpr char kChars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    std::string s(kFillerSize + kMaxFill, ' ');
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (char& c : s) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      c = kChars[x & 63];
    }
    return s;
  }();
  // "t<ticks>s<seq>.", with to_chars: std::to_string's temporaries cost more than the filler.
  size_t at = out.size();
  char digits[24];
  out.push_back('t');
  out.append(
      digits,
      std::to_chars(digits, digits + sizeof digits, intended.time_since_epoch().count()).ptr);
  out.push_back('s');
  out.append(digits, std::to_chars(digits, digits + sizeof digits, seq).ptr);
  out.push_back('.');
  size_t head_size = out.size() - at;
  if (size > head_size) {
    uint64_t mix = seq * 0x9E3779B1ull + static_cast<uint64_t>(intended.time_since_epoch().count());
    out.append(kFiller, mix % kFillerSize, std::min<size_t>(size - head_size, kMaxFill));
  }
}

std::string make_body(size_t size, Clock::time_point intended, uint64_t seq) {
  std::string body;
  body.reserve(size + 48);
  append_body(body, size, intended, seq);
  return body;
}

bool parse_body_time(std::string_view body, Clock::time_point* out) {
  if (body.size() < 2 || body[0] != 't') return false;
  int64_t ticks = 0;
  auto [end, ec] = std::from_chars(body.data() + 1, body.data() + body.size(), ticks);
  if (ec != std::errc() || end == body.data() + body.size() || *end != 's') return false;
  *out = Clock::time_point(Clock::duration(ticks));
  return true;
}

}  // namespace ferry::bench
