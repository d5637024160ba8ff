#pragma once
// The 128-bit hash key space records are placed in, and AWS-shaped sequence numbers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::kinesis {

using u128 = unsigned __int128;
constexpr u128 kMaxHashKey = ~static_cast<u128>(0);

// Decimal text of a hash key; nullopt unless 1 to 39 digits in [0, 2^128-1].
std::optional<u128> parse_hash_key(std::string_view text);
std::string hash_key_string(u128 v);
// The MD5 of a partition key read as a big-endian 128-bit number (AWS's placement).
u128 partition_hash(std::string_view partition_key);
// The first hash key of shard i when [0, 2^128-1] is split evenly into n shards.
u128 even_split_start(uint64_t i, uint64_t n);

// A sequence number is 56 decimal digits: "49", the 20-digit global counter value (strictly
// increasing, never reused), the 6-digit shard index, 10 digits of the stream's incarnation and
// 18 zeros. Equal length makes text order numeric order.
struct SequenceParts {
  uint64_t counter = 0;
  uint32_t shard_index = 0;
  uint64_t incarnation = 0;
};
std::string format_sequence(uint64_t counter, uint32_t shard_index, uint64_t incarnation);
std::optional<SequenceParts> parse_sequence(std::string_view text);

}  // namespace ferry::kinesis
