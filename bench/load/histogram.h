#pragma once
// Log-linear latency histogram (HdrHistogram's layout with 128 sub-buckets per power of two, so a
// reported value is within 0.8% of the recorded one). Values are nanoseconds.
//
// Ownership and threads: one per worker, touched only by that worker; merged after the run.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ferry::bench {

class Histogram {
 public:
  Histogram();
  void record(int64_t value_ns);
  void merge(const Histogram& other);
  // p in [0, 100]; 0 if empty.
  int64_t percentile(double p) const;
  uint64_t count() const { return count_; }
  int64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }

 private:
  static constexpr int kSubBits = 7;
  static constexpr int kLinear = 2 << kSubBits;  // values below this have their own bucket
  static size_t index_of(uint64_t value);
  static int64_t value_of(size_t index);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  int64_t max_ = 0;
  __int128 sum_ = 0;
};

}  // namespace ferry::bench
