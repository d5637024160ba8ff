#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace ferry::bench {

namespace {
constexpr size_t kBuckets = 256 + 64 * 128;
}

Histogram::Histogram() : counts_(kBuckets, 0) {}

size_t Histogram::index_of(uint64_t value) {
  if (value < static_cast<uint64_t>(kLinear)) return value;
  int msb = 63 - std::countl_zero(value);
  int shift = msb - kSubBits;  // value >> shift is in [128, 256)
  return kLinear + static_cast<size_t>(shift - 1) * (1u << kSubBits) +
         ((value >> shift) - (1u << kSubBits));
}

int64_t Histogram::value_of(size_t index) {
  if (index < static_cast<size_t>(kLinear)) return static_cast<int64_t>(index);
  size_t rel = index - kLinear;
  int shift = static_cast<int>(rel >> kSubBits) + 1;
  uint64_t sub = (rel & ((1u << kSubBits) - 1)) + (1u << kSubBits);
  // The middle of the bucket.
  return static_cast<int64_t>((sub << shift) + ((1ull << shift) >> 1));
}

void Histogram::record(int64_t value_ns) {
  uint64_t v = value_ns < 0 ? 0 : static_cast<uint64_t>(value_ns);
  counts_[std::min(index_of(v), kBuckets - 1)]++;
  count_++;
  sum_ += v;
  max_ = std::max<int64_t>(max_, static_cast<int64_t>(v));
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

int64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(value_of(i), max_);
  }
  return max_;
}

}  // namespace ferry::bench
