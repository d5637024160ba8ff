#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/crypto.h"
#include "base/md5_multi.h"
#include "base/siphash.h"

namespace ferry::base {
namespace {

// --- SipHash-2-4 -------------------------------------------------------------------------------

// The reference test vectors (vectors.h of the SipHash reference implementation): key bytes
// 00..0f, message bytes 00..(n-1); outputs as little-endian bytes.
constexpr std::array<uint8_t, 16> kSipKey = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

std::string sip_message(size_t n) {
  std::string m(n, '\0');
  for (size_t i = 0; i < n; ++i) m[i] = static_cast<char>(i);
  return m;
}

struct Sip64Vector {
  size_t n;
  std::array<uint8_t, 8> out;
};

constexpr Sip64Vector kSip64[] = {
    {0, {0x31, 0x0e, 0x0e, 0xdd, 0x47, 0xdb, 0x6f, 0x72}},
    {1, {0xfd, 0x67, 0xdc, 0x93, 0xc5, 0x39, 0xf8, 0x74}},
    {2, {0x5a, 0x4f, 0xa9, 0xd9, 0x09, 0x80, 0x6c, 0x0d}},
    {7, {0x37, 0xd1, 0x01, 0x8b, 0xf5, 0x00, 0x02, 0xab}},
    {8, {0x62, 0x24, 0x93, 0x9a, 0x79, 0xf5, 0xf5, 0x93}},
    {9, {0xb0, 0xe4, 0xa9, 0x0b, 0xdf, 0x82, 0x00, 0x9e}},
    {15, {0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1}},
    {16, {0xdb, 0x9b, 0xc2, 0x57, 0x7f, 0xcc, 0x2a, 0x3f}},
    {31, {0x42, 0xc3, 0x41, 0xd8, 0xfa, 0x92, 0xd8, 0x32}},
    {32, {0xce, 0x7c, 0xf2, 0x72, 0x2f, 0x51, 0x27, 0x71}},
    {63, {0x72, 0x45, 0x06, 0xeb, 0x4c, 0x32, 0x8a, 0x95}},
};

struct Sip128Vector {
  size_t n;
  std::array<uint8_t, 16> out;
};

constexpr Sip128Vector kSip128[] = {
    {0,
     {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02,
      0x93}},
    {1,
     {0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44, 0x34, 0x76, 0x59, 0x11, 0x9b, 0x22, 0xfc,
      0x45}},
    {7,
     {0xa1, 0xf1, 0xeb, 0xbe, 0xd8, 0xdb, 0xc1, 0x53, 0xc0, 0xb8, 0x4a, 0xa6, 0x1f, 0xf0, 0x82,
      0x39}},
    {8,
     {0x3b, 0x62, 0xa9, 0xba, 0x62, 0x58, 0xf5, 0x61, 0x0f, 0x83, 0xe2, 0x64, 0xf3, 0x14, 0x97,
      0xb4}},
    {15,
     {0x54, 0x93, 0xe9, 0x99, 0x33, 0xb0, 0xa8, 0x11, 0x7e, 0x08, 0xec, 0x0f, 0x97, 0xcf, 0xc3,
      0xd9}},
    {16,
     {0x6e, 0xe2, 0xa4, 0xca, 0x67, 0xb0, 0x54, 0xbb, 0xfd, 0x33, 0x15, 0xbf, 0x85, 0x23, 0x05,
      0x77}},
    {63,
     {0x51, 0x50, 0xd1, 0x77, 0x2f, 0x50, 0x83, 0x4a, 0x50, 0x3e, 0x06, 0x9a, 0x97, 0x3f, 0xbd,
      0x7c}},
};

uint64_t le64(const std::array<uint8_t, 8>& b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[static_cast<size_t>(i)];
  return v;
}

TEST(SipHash, ReferenceVectors64) {
  for (const auto& v : kSip64) {
    EXPECT_EQ(siphash24(kSipKey, sip_message(v.n)), le64(v.out)) << "n=" << v.n;
  }
}

TEST(SipHash, ReferenceVectors128) {
  for (const auto& v : kSip128) {
    EXPECT_EQ(siphash24_128(kSipKey, sip_message(v.n)), v.out) << "n=" << v.n;
  }
}

TEST(SipHash, KeyAndMessageMatter) {
  std::array<uint8_t, 16> other = kSipKey;
  other[15] ^= 1;
  const std::string m = "receipt-handle-0123456789abcdef";
  EXPECT_NE(siphash24(kSipKey, m), siphash24(other, m));
  EXPECT_NE(siphash24(kSipKey, m), siphash24(kSipKey, m.substr(1)));
  EXPECT_NE(siphash24_128(kSipKey, m), siphash24_128(other, m));
  // Unaligned views hash like the same bytes anywhere else.
  const std::string padded = "x" + m;
  EXPECT_EQ(siphash24(kSipKey, std::string_view(padded).substr(1)), siphash24(kSipKey, m));
  EXPECT_EQ(siphash24(kSipKey, std::string_view()), le64(kSip64[0].out));
}

// --- Multi-buffer MD5 --------------------------------------------------------------------------

std::string random_bytes_string(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& c : s) c = static_cast<char>(byte(rng));
  return s;
}

// md5_many over `inputs` by every kernel this CPU runs, checked input by input against
// OpenSSL's MD5.
void expect_matches_openssl(const std::vector<std::string_view>& inputs) {
  for (Md5Kernel kernel :
       {Md5Kernel::kBest, Md5Kernel::kAvx512, Md5Kernel::kAvx2, Md5Kernel::kOpenSsl}) {
    if (!md5_kernel_supported(kernel)) continue;
    std::vector<std::array<uint8_t, 16>> got(inputs.size());
    md5_many_with(kernel, inputs.data(), inputs.size(), got.data());
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(to_hex(got[i]), md5_hex(inputs[i]))
          << "kernel " << static_cast<int>(kernel) << ", input " << i << " of " << inputs.size()
          << ", length " << inputs[i].size();
    }
  }
}

void expect_matches_openssl(const std::vector<std::string>& strings) {
  std::vector<std::string_view> views(strings.begin(), strings.end());
  expect_matches_openssl(views);
}

TEST(Md5Many, KnownAnswers) {
  const std::vector<std::string_view> in = {"", "abc", "message digest",
                                            "abcdefghijklmnopqrstuvwxyz"};
  EXPECT_EQ(md5_hex_many(in),
            (std::vector<std::string>{
                "d41d8cd98f00b204e9800998ecf8427e", "900150983cd24fb0d6963f7d28e17f72",
                "f96b697d7cb7938d525a2f31aaf161d0", "c3fcd3d76192e4007dfb496cca67e13b"}));
}

TEST(Md5Many, EmptyBatch) {
  EXPECT_TRUE(md5_hex_many({}).empty());
  md5_many(nullptr, 0, nullptr);
}

TEST(Md5Many, EveryCountFrom1To17) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<size_t> len(0, 5000);
  for (size_t n = 1; n <= 17; ++n) {
    std::vector<std::string> in;
    for (size_t i = 0; i < n; ++i) in.push_back(random_bytes_string(rng, len(rng)));
    expect_matches_openssl(in);
  }
}

TEST(Md5Many, PaddingBoundaries) {
  std::mt19937 rng(2);
  const size_t lengths[] = {0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129, 1023, 1024};
  // Every boundary length next to every other, in lanes of one pass.
  std::vector<std::string> in;
  for (size_t l : lengths) in.push_back(random_bytes_string(rng, l));
  expect_matches_openssl(in);
  // Each boundary length in all eight lanes at once.
  for (size_t l : lengths) {
    std::vector<std::string> same;
    for (int i = 0; i < 8; ++i) same.push_back(random_bytes_string(rng, l));
    expect_matches_openssl(same);
  }
}

TEST(Md5Many, EqualAndDifferentLengths) {
  std::mt19937 rng(3);
  std::vector<std::string> equal;
  for (int i = 0; i < 10; ++i) equal.push_back(random_bytes_string(rng, 1024));
  expect_matches_openssl(equal);
  std::vector<std::string> different;
  for (size_t i = 0; i < 10; ++i) different.push_back(random_bytes_string(rng, 37 + 211 * i));
  expect_matches_openssl(different);
  // One long message among short ones, and the reverse.
  std::vector<std::string> mixed = {random_bytes_string(rng, 5000)};
  for (int i = 0; i < 9; ++i) mixed.push_back(random_bytes_string(rng, 10));
  expect_matches_openssl(mixed);
  std::vector<std::string> mostly_long = {random_bytes_string(rng, 3)};
  for (int i = 0; i < 9; ++i) mostly_long.push_back(random_bytes_string(rng, 4000 + i));
  expect_matches_openssl(mostly_long);
}

TEST(Md5Many, TwoInterleavedGroups) {
  // 9 to 16 inputs of similar length share one pass of two interleaved groups of 8 lanes.
  std::mt19937 rng(7);
  for (size_t n = 9; n <= 16; ++n) {
    std::vector<std::string> in;
    for (size_t i = 0; i < n; ++i) in.push_back(random_bytes_string(rng, 1000 + 7 * i));
    expect_matches_openssl(in);
  }
  // Lanes ending at different blocks in both groups, including the empty message.
  std::vector<std::string> in;
  for (size_t i = 0; i < 16; ++i) in.push_back(random_bytes_string(rng, 64 * i + i % 3));
  in.push_back(random_bytes_string(rng, 960));
  in.push_back("");
  expect_matches_openssl(in);
}

TEST(Md5Many, ExtremeBytes) {
  std::vector<std::string> in;
  for (size_t l : {1, 64, 100, 1000}) {
    in.push_back(std::string(l, '\0'));
    in.push_back(std::string(l, '\xff'));
    std::string alternating(l, '\0');
    for (size_t i = 0; i < l; i += 2) alternating[i] = '\xff';
    in.push_back(alternating);
  }
  expect_matches_openssl(in);
}

TEST(Md5Many, UnalignedViewsIntoOneBuffer) {
  std::mt19937 rng(4);
  const std::string buffer = random_bytes_string(rng, 20000);
  std::uniform_int_distribution<size_t> len(0, 1500);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string_view> in;
    size_t at = 1;
    for (int i = 0; i < 12; ++i) {
      const size_t l = len(rng);
      in.push_back(std::string_view(buffer).substr(at, l));
      at += l / 2 * 2 + 3;  // odd offsets, overlapping views
      at %= buffer.size() - 1600;
      at |= 1;
    }
    expect_matches_openssl(in);
  }
}

TEST(Md5Many, RandomBatches) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<size_t> count(1, 40);
  std::uniform_int_distribution<size_t> len(0, 5000);
  for (int round = 0; round < 30; ++round) {
    std::vector<std::string> in;
    const size_t n = count(rng);
    for (size_t i = 0; i < n; ++i) in.push_back(random_bytes_string(rng, len(rng)));
    expect_matches_openssl(in);
  }
}

TEST(Md5Many, HexMatchesSingle) {
  std::mt19937 rng(6);
  std::vector<std::string> strings;
  for (int i = 0; i < 9; ++i) strings.push_back(random_bytes_string(rng, 300 * i));
  std::vector<std::string_view> views(strings.begin(), strings.end());
  const auto hex = md5_hex_many(views);
  ASSERT_EQ(hex.size(), views.size());
  for (size_t i = 0; i < views.size(); ++i) EXPECT_EQ(hex[i], md5_hex(views[i]));
}

}  // namespace
}  // namespace ferry::base
