#include "kinesis/engine/hash_key.h"

#include <cstdio>

#include "base/crypto.h"

namespace ferry::kinesis {

std::optional<u128> parse_hash_key(std::string_view text) {
  if (text.empty() || text.size() > 39) return std::nullopt;
  u128 v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    u128 digit = static_cast<u128>(c - '0');
    if (v > (kMaxHashKey - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

std::string hash_key_string(u128 v) {
  if (v == 0) return "0";
  std::string out;
  while (v > 0) {
    out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return out;
}

u128 partition_hash(std::string_view partition_key) {
  auto digest = base::md5(partition_key);
  u128 v = 0;
  for (uint8_t b : digest) v = (v << 8) | b;
  return v;
}

u128 even_split_start(uint64_t i, uint64_t n) {
  if (i == 0) return 0;
  // 2^128 = n*q + r; floor(i * 2^128 / n) = i*q + floor(i*r/n).
  u128 q = kMaxHashKey / n;
  u128 r = kMaxHashKey % n + 1;
  if (r == n) {
    ++q;
    r = 0;
  }
  return static_cast<u128>(i) * q + static_cast<u128>(i) * r / n;
}

std::string format_sequence(uint64_t counter, uint32_t shard_index, uint64_t incarnation) {
  // "49" + 20 digits of counter + 6 of shard + 10 of incarnation + 18 zeros, written right to
  // left (GetRecords formats one per record; snprintf showed in its profile).
  std::string out(56, '0');
  out[0] = '4';
  out[1] = '9';
  auto digits = [&](size_t end, uint64_t v, int width) {
    for (int i = 0; i < width && v != 0; ++i, v /= 10)
      out[end - 1 - i] = static_cast<char>('0' + v % 10);
  };
  digits(22, counter, 20);
  digits(28, shard_index % 1000000, 6);
  digits(38, incarnation % 10000000000ULL, 10);
  return out;
}

std::optional<SequenceParts> parse_sequence(std::string_view text) {
  if (text.size() != 56 || text.substr(0, 2) != "49") return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  auto number = [&](size_t pos, size_t len) {
    uint64_t v = 0;
    for (size_t i = pos; i < pos + len; ++i) v = v * 10 + static_cast<uint64_t>(text[i] - '0');
    return v;
  };
  if (text.substr(2, 1) > "1") return std::nullopt;  // beyond 2^64
  SequenceParts p;
  p.counter = number(2, 20);
  p.shard_index = static_cast<uint32_t>(number(22, 6));
  p.incarnation = number(28, 10);
  return p;
}

}  // namespace ferry::kinesis
