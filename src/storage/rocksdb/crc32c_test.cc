#include "storage/rocksdb/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace ferry::storage {
namespace {

// Bit by bit, straight from the definition: the reference the fast paths are checked against.
uint32_t crc32c_bitwise(std::string_view data) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : data) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
  }
  return ~c;
}

uint32_t extend(uint32_t crc, std::string_view data) {
  return rocksdb::crc32c::Extend(crc, data.data(), data.size());
}

TEST(Crc32c, KnownValues) {
  EXPECT_EQ(extend(0, "123456789"), 0xe3069283u);
  // RFC 3720 (iSCSI), appendix B.4.
  EXPECT_EQ(extend(0, std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(extend(0, std::string(32, '\xff')), 0x62a8ab43u);
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  EXPECT_EQ(extend(0, ascending), 0x46dd794eu);
  EXPECT_EQ(extend(0, ""), 0u);
}

TEST(Crc32c, ExtendAndCombineMatchTheDefinition) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 300; ++round) {
    std::string a(rng() % 300, '\0'), b(round < 290 ? rng() % 300 : rng() % 100000, '\0');
    for (auto& c : a) c = static_cast<char>(rng());
    for (auto& c : b) c = static_cast<char>(rng());
    const uint32_t whole = crc32c_bitwise(a + b);
    ASSERT_EQ(extend(0, a), crc32c_bitwise(a)) << a.size();
    ASSERT_EQ(extend(extend(0, a), b), whole) << a.size() << "+" << b.size();
    ASSERT_EQ(rocksdb::crc32c::Crc32cCombine(extend(0, a), extend(0, b), b.size()), whole)
        << a.size() << "+" << b.size();
  }
}

// RocksDB calls these definitions, not its own: its portable build would report that it has
// no fast CRC.
TEST(Crc32c, RocksDbUsesThisImplementation) {
  EXPECT_EQ(rocksdb::crc32c::IsFastCrc32Supported(),
            std::string("Ferry's CRC32C: ") + crc32c_implementation());
}

}  // namespace
}  // namespace ferry::storage
