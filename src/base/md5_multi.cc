#include "base/md5_multi.h"

#include <algorithm>
#include <cassert>
#include <climits>
#include <cstring>
#include <numeric>

#include "base/cpu.h"
#include "base/crypto.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ferry::base {

namespace {

#if defined(__x86_64__)

constexpr size_t kLanes = 8;
constexpr uint8_t kZeroBlock[64] = {};

// The 64 MD5 constants (floor(abs(sin(i + 1)) * 2^32)), each repeated for the 8 lanes so that a
// step adds it straight from memory.
struct alignas(32) Splat {
  uint32_t lane[kLanes];
};
constexpr uint32_t kMd5K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
constexpr std::array<Splat, 64> kMd5KSplat = [] {
  std::array<Splat, 64> t{};
  for (size_t i = 0; i < 64; ++i) {
    for (auto& l : t[i].lane) l = kMd5K[i];
  }
  return t;
}();

// Blocks MD5 runs over a message of `len` bytes: the data, 0x80, zeros, the 8-byte length.
size_t md5_blocks(size_t len) { return (len + 8) / 64 + 1; }

// One message's place in a pass: its whole blocks are read in place; the last one or
// two blocks (the remaining bytes and the padding) are built in `tail`.
struct Lane {
  const uint8_t* data = nullptr;
  size_t full = 0;   // whole 64-byte blocks read from `data`
  size_t total = 0;  // full + tail blocks
  alignas(32) uint8_t tail[128];

  void init(std::string_view in) {
    data = reinterpret_cast<const uint8_t*>(in.data());
    full = in.size() / 64;
    const size_t rem = in.size() % 64;
    const size_t tail_blocks = rem < 56 ? 1 : 2;
    total = full + tail_blocks;
    std::memset(tail, 0, sizeof tail);
    if (rem != 0) std::memcpy(tail, data + full * 64, rem);
    tail[rem] = 0x80;
    uint64_t bits = static_cast<uint64_t>(in.size()) * 8;
    uint8_t* at = tail + tail_blocks * 64 - 8;
    for (int i = 0; i < 8; ++i) at[i] = static_cast<uint8_t>(bits >> (8 * i));
  }

  // Block `b`; lanes past their end (or unused) read zeros and are masked off by the caller.
  const uint8_t* block(size_t b) const {
    if (b < full) return data + b * 64;
    if (b < total) return tail + (b - full) * 64;
    return kZeroBlock;
  }
};

// Words offset/4 .. offset/4+7 of each lane's block, transposed so that w[j] holds that word j of
// all 8 lanes. (Per-word 32-bit gathers instead of 8 loads and 24 shuffles measured ~20% slower.)
__attribute__((target("avx2"))) inline void load_transposed(const uint8_t* const* blocks,
                                                            size_t offset, __m256i* w) {
  __m256i r[8];
  for (size_t i = 0; i < 8; ++i) {
    r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[i] + offset));
  }
  // 32-bit pairs, then 64-bit pairs within each 128-bit half, then the halves across lanes 0-3
  // and 4-7.
  __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  w[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
  w[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  w[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
  w[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  w[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
  w[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  w[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
  w[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

// The MD5 step functions (RFC 1321) on 8 lanes; F and G in their xor forms (3 operations).
__attribute__((target("avx2"))) inline __m256i md5_f(__m256i x, __m256i y, __m256i z) {
  return _mm256_xor_si256(z, _mm256_and_si256(x, _mm256_xor_si256(y, z)));
}
__attribute__((target("avx2"))) inline __m256i md5_g(__m256i x, __m256i y, __m256i z) {
  return _mm256_xor_si256(y, _mm256_and_si256(z, _mm256_xor_si256(x, y)));
}
__attribute__((target("avx2"))) inline __m256i md5_h(__m256i x, __m256i y, __m256i z) {
  return _mm256_xor_si256(x, _mm256_xor_si256(y, z));
}
__attribute__((target("avx2"))) inline __m256i md5_i(__m256i x, __m256i y, __m256i z) {
  return _mm256_xor_si256(y, _mm256_or_si256(x, _mm256_xor_si256(z, _mm256_set1_epi32(-1))));
}

// a = b + rotl(a + fn(b, c, d) + M[w] + K[i], s), in each of the G interleaved groups.
#define FERRY_MD5_STEP(fn, a, b, c, d, w, i, s)                                                   \
  do {                                                                                            \
    const __m256i k_ = _mm256_load_si256(reinterpret_cast<const __m256i*>(&k_table[i]));          \
    _Pragma("GCC unroll 2") for (size_t g_ = 0; g_ < G; ++g_) {                                   \
      __m256i sum_ = _mm256_add_epi32(_mm256_add_epi32(a[g_], fn(b[g_], c[g_], d[g_])),           \
                                      _mm256_add_epi32(m[g_][w], k_));                            \
      a[g_] = _mm256_add_epi32(                                                                   \
          b[g_], _mm256_or_si256(_mm256_slli_epi32(sum_, s), _mm256_srli_epi32(sum_, 32 - (s)))); \
    }                                                                                             \
  } while (0)

// Runs MD5 over lanes[0, count) (2 <= count <= 8 * G) side by side and writes their digests.
// G groups of 8 lanes are interleaved step by step: one group's chain of dependent operations
// leaves most of the CPU's vector ports idle, and the second group fills them.
template <size_t G>
__attribute__((target("avx2"))) void md5_lanes_avx2(const Lane* lanes, size_t count,
                                                    std::array<uint8_t, 16>* const* out) {
  size_t blocks = 0;
  alignas(32) int32_t totals[G][kLanes] = {};
  for (size_t i = 0; i < count; ++i) {
    blocks = std::max(blocks, lanes[i].total);
    assert(lanes[i].total <= INT32_MAX);  // messages under 128 GiB
    totals[i / kLanes][i % kLanes] = static_cast<int32_t>(lanes[i].total);
  }
  __m256i total[G], a[G], b[G], c[G], d[G];
  for (size_t g = 0; g < G; ++g) {
    total[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(totals[g]));
    a[g] = _mm256_set1_epi32(0x67452301);
    b[g] = _mm256_set1_epi32(static_cast<int>(0xefcdab89));
    c[g] = _mm256_set1_epi32(static_cast<int>(0x98badcfe));
    d[g] = _mm256_set1_epi32(0x10325476);
  }
  const uint8_t* ptrs[kLanes];
  // Hidden from the optimiser: else GCC rebuilds each constant with a move and a broadcast (3
  // instructions) instead of adding it from the table.
  const Splat* k_table = kMd5KSplat.data();
  asm("" : "+r"(k_table));
  for (size_t blk = 0; blk < blocks; ++blk) {
    __m256i m[G][16];
    for (size_t g = 0; g < G; ++g) {
      for (size_t i = 0; i < kLanes; ++i) {
        const size_t lane = g * kLanes + i;
        ptrs[i] = lane < count ? lanes[lane].block(blk) : kZeroBlock;
      }
      load_transposed(ptrs, 0, m[g]);
      load_transposed(ptrs, 32, m[g] + 8);
    }
    __m256i a0[G], b0[G], c0[G], d0[G];
    for (size_t g = 0; g < G; ++g) {
      a0[g] = a[g];
      b0[g] = b[g];
      c0[g] = c[g];
      d0[g] = d[g];
    }

    FERRY_MD5_STEP(md5_f, a, b, c, d, 0, 0, 7);
    FERRY_MD5_STEP(md5_f, d, a, b, c, 1, 1, 12);
    FERRY_MD5_STEP(md5_f, c, d, a, b, 2, 2, 17);
    FERRY_MD5_STEP(md5_f, b, c, d, a, 3, 3, 22);
    FERRY_MD5_STEP(md5_f, a, b, c, d, 4, 4, 7);
    FERRY_MD5_STEP(md5_f, d, a, b, c, 5, 5, 12);
    FERRY_MD5_STEP(md5_f, c, d, a, b, 6, 6, 17);
    FERRY_MD5_STEP(md5_f, b, c, d, a, 7, 7, 22);
    FERRY_MD5_STEP(md5_f, a, b, c, d, 8, 8, 7);
    FERRY_MD5_STEP(md5_f, d, a, b, c, 9, 9, 12);
    FERRY_MD5_STEP(md5_f, c, d, a, b, 10, 10, 17);
    FERRY_MD5_STEP(md5_f, b, c, d, a, 11, 11, 22);
    FERRY_MD5_STEP(md5_f, a, b, c, d, 12, 12, 7);
    FERRY_MD5_STEP(md5_f, d, a, b, c, 13, 13, 12);
    FERRY_MD5_STEP(md5_f, c, d, a, b, 14, 14, 17);
    FERRY_MD5_STEP(md5_f, b, c, d, a, 15, 15, 22);

    FERRY_MD5_STEP(md5_g, a, b, c, d, 1, 16, 5);
    FERRY_MD5_STEP(md5_g, d, a, b, c, 6, 17, 9);
    FERRY_MD5_STEP(md5_g, c, d, a, b, 11, 18, 14);
    FERRY_MD5_STEP(md5_g, b, c, d, a, 0, 19, 20);
    FERRY_MD5_STEP(md5_g, a, b, c, d, 5, 20, 5);
    FERRY_MD5_STEP(md5_g, d, a, b, c, 10, 21, 9);
    FERRY_MD5_STEP(md5_g, c, d, a, b, 15, 22, 14);
    FERRY_MD5_STEP(md5_g, b, c, d, a, 4, 23, 20);
    FERRY_MD5_STEP(md5_g, a, b, c, d, 9, 24, 5);
    FERRY_MD5_STEP(md5_g, d, a, b, c, 14, 25, 9);
    FERRY_MD5_STEP(md5_g, c, d, a, b, 3, 26, 14);
    FERRY_MD5_STEP(md5_g, b, c, d, a, 8, 27, 20);
    FERRY_MD5_STEP(md5_g, a, b, c, d, 13, 28, 5);
    FERRY_MD5_STEP(md5_g, d, a, b, c, 2, 29, 9);
    FERRY_MD5_STEP(md5_g, c, d, a, b, 7, 30, 14);
    FERRY_MD5_STEP(md5_g, b, c, d, a, 12, 31, 20);

    FERRY_MD5_STEP(md5_h, a, b, c, d, 5, 32, 4);
    FERRY_MD5_STEP(md5_h, d, a, b, c, 8, 33, 11);
    FERRY_MD5_STEP(md5_h, c, d, a, b, 11, 34, 16);
    FERRY_MD5_STEP(md5_h, b, c, d, a, 14, 35, 23);
    FERRY_MD5_STEP(md5_h, a, b, c, d, 1, 36, 4);
    FERRY_MD5_STEP(md5_h, d, a, b, c, 4, 37, 11);
    FERRY_MD5_STEP(md5_h, c, d, a, b, 7, 38, 16);
    FERRY_MD5_STEP(md5_h, b, c, d, a, 10, 39, 23);
    FERRY_MD5_STEP(md5_h, a, b, c, d, 13, 40, 4);
    FERRY_MD5_STEP(md5_h, d, a, b, c, 0, 41, 11);
    FERRY_MD5_STEP(md5_h, c, d, a, b, 3, 42, 16);
    FERRY_MD5_STEP(md5_h, b, c, d, a, 6, 43, 23);
    FERRY_MD5_STEP(md5_h, a, b, c, d, 9, 44, 4);
    FERRY_MD5_STEP(md5_h, d, a, b, c, 12, 45, 11);
    FERRY_MD5_STEP(md5_h, c, d, a, b, 15, 46, 16);
    FERRY_MD5_STEP(md5_h, b, c, d, a, 2, 47, 23);

    FERRY_MD5_STEP(md5_i, a, b, c, d, 0, 48, 6);
    FERRY_MD5_STEP(md5_i, d, a, b, c, 7, 49, 10);
    FERRY_MD5_STEP(md5_i, c, d, a, b, 14, 50, 15);
    FERRY_MD5_STEP(md5_i, b, c, d, a, 5, 51, 21);
    FERRY_MD5_STEP(md5_i, a, b, c, d, 12, 52, 6);
    FERRY_MD5_STEP(md5_i, d, a, b, c, 3, 53, 10);
    FERRY_MD5_STEP(md5_i, c, d, a, b, 10, 54, 15);
    FERRY_MD5_STEP(md5_i, b, c, d, a, 1, 55, 21);
    FERRY_MD5_STEP(md5_i, a, b, c, d, 8, 56, 6);
    FERRY_MD5_STEP(md5_i, d, a, b, c, 15, 57, 10);
    FERRY_MD5_STEP(md5_i, c, d, a, b, 6, 58, 15);
    FERRY_MD5_STEP(md5_i, b, c, d, a, 13, 59, 21);
    FERRY_MD5_STEP(md5_i, a, b, c, d, 4, 60, 6);
    FERRY_MD5_STEP(md5_i, d, a, b, c, 11, 61, 10);
    FERRY_MD5_STEP(md5_i, c, d, a, b, 2, 62, 15);
    FERRY_MD5_STEP(md5_i, b, c, d, a, 9, 63, 21);

    // Lanes whose message has ended keep their state.
    const __m256i at = _mm256_set1_epi32(static_cast<int>(blk));
    for (size_t g = 0; g < G; ++g) {
      const __m256i live = _mm256_cmpgt_epi32(total[g], at);
      a[g] = _mm256_blendv_epi8(a0[g], _mm256_add_epi32(a[g], a0[g]), live);
      b[g] = _mm256_blendv_epi8(b0[g], _mm256_add_epi32(b[g], b0[g]), live);
      c[g] = _mm256_blendv_epi8(c0[g], _mm256_add_epi32(c[g], c0[g]), live);
      d[g] = _mm256_blendv_epi8(d0[g], _mm256_add_epi32(d[g], d0[g]), live);
    }
  }
  // The digest is a, b, c, d little-endian; x86 stores are little-endian.
  for (size_t g = 0; g < G; ++g) {
    alignas(32) uint32_t words[4][kLanes];
    _mm256_store_si256(reinterpret_cast<__m256i*>(words[0]), a[g]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(words[1]), b[g]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(words[2]), c[g]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(words[3]), d[g]);
    for (size_t i = 0; i < kLanes && g * kLanes + i < count; ++i) {
      for (size_t w = 0; w < 4; ++w) {
        std::memcpy(out[g * kLanes + i]->data() + 4 * w, &words[w][i], 4);
      }
    }
  }
}

#undef FERRY_MD5_STEP

// The same on AVX-512: 16 lanes in one register, each step function one ternary-logic
// instruction and each rotation one instruction (AVX2 takes three for each), so a pass over
// 16 messages costs about a third of the two interleaved AVX2 groups'.
__attribute__((target("avx512f"))) inline void load_transposed16(const uint8_t* const* blocks,
                                                                 __m512i* w) {
  __m512i r[16], a[16], b[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(blocks[i]);
  // After these, b[4q + k] holds in its 128-bit chunk c word 4c + k of lanes 4q .. 4q + 3.
  for (int i = 0; i < 16; i += 2) {
    a[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    a[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    b[i] = _mm512_unpacklo_epi64(a[i], a[i + 2]);
    b[i + 1] = _mm512_unpackhi_epi64(a[i], a[i + 2]);
    b[i + 2] = _mm512_unpacklo_epi64(a[i + 1], a[i + 3]);
    b[i + 3] = _mm512_unpackhi_epi64(a[i + 1], a[i + 3]);
  }
  // Word 4c + k of all 16 lanes: chunk c of b[k], b[4 + k], b[8 + k] and b[12 + k].
  for (int k = 0; k < 4; ++k) {
    const __m512i e0 = _mm512_shuffle_i32x4(b[k], b[4 + k], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i e1 = _mm512_shuffle_i32x4(b[k], b[4 + k], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i f0 = _mm512_shuffle_i32x4(b[8 + k], b[12 + k], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i f1 = _mm512_shuffle_i32x4(b[8 + k], b[12 + k], _MM_SHUFFLE(3, 2, 3, 2));
    w[k] = _mm512_shuffle_i32x4(e0, f0, _MM_SHUFFLE(2, 0, 2, 0));
    w[4 + k] = _mm512_shuffle_i32x4(e0, f0, _MM_SHUFFLE(3, 1, 3, 1));
    w[8 + k] = _mm512_shuffle_i32x4(e1, f1, _MM_SHUFFLE(2, 0, 2, 0));
    w[12 + k] = _mm512_shuffle_i32x4(e1, f1, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// F, G, H and I as truth tables over (x, y, z) for vpternlogd.
constexpr int kTernF = 0xca, kTernG = 0xe4, kTernH = 0x96, kTernI = 0x39;

#define FERRY_MD5_STEP16(fn, a, b, c, d, w, i, s)                                                  \
  a = _mm512_add_epi32(                                                                            \
      b,                                                                                           \
      _mm512_rol_epi32(                                                                            \
          _mm512_add_epi32(_mm512_add_epi32(a, _mm512_ternarylogic_epi32(b, c, d, fn)),            \
                           _mm512_add_epi32(m[w], _mm512_set1_epi32(static_cast<int>(kMd5K[i])))), \
          s))

// Runs MD5 over lanes[0, count) (2 <= count <= 16) side by side and writes their digests.
__attribute__((target("avx512f"))) void md5_lanes_avx512(const Lane* lanes, size_t count,
                                                         std::array<uint8_t, 16>* const* out) {
  size_t blocks = 0;
  alignas(64) int32_t totals[16] = {};
  for (size_t i = 0; i < count; ++i) {
    blocks = std::max(blocks, lanes[i].total);
    assert(lanes[i].total <= INT32_MAX);  // messages under 128 GiB
    totals[i] = static_cast<int32_t>(lanes[i].total);
  }
  const __m512i total = _mm512_load_si512(totals);
  __m512i a = _mm512_set1_epi32(0x67452301);
  __m512i b = _mm512_set1_epi32(static_cast<int>(0xefcdab89));
  __m512i c = _mm512_set1_epi32(static_cast<int>(0x98badcfe));
  __m512i d = _mm512_set1_epi32(0x10325476);
  const uint8_t* ptrs[16];
  for (size_t blk = 0; blk < blocks; ++blk) {
    for (size_t i = 0; i < 16; ++i) ptrs[i] = i < count ? lanes[i].block(blk) : kZeroBlock;
    __m512i m[16];
    load_transposed16(ptrs, m);
    const __m512i a0 = a, b0 = b, c0 = c, d0 = d;

    FERRY_MD5_STEP16(kTernF, a, b, c, d, 0, 0, 7);
    FERRY_MD5_STEP16(kTernF, d, a, b, c, 1, 1, 12);
    FERRY_MD5_STEP16(kTernF, c, d, a, b, 2, 2, 17);
    FERRY_MD5_STEP16(kTernF, b, c, d, a, 3, 3, 22);
    FERRY_MD5_STEP16(kTernF, a, b, c, d, 4, 4, 7);
    FERRY_MD5_STEP16(kTernF, d, a, b, c, 5, 5, 12);
    FERRY_MD5_STEP16(kTernF, c, d, a, b, 6, 6, 17);
    FERRY_MD5_STEP16(kTernF, b, c, d, a, 7, 7, 22);
    FERRY_MD5_STEP16(kTernF, a, b, c, d, 8, 8, 7);
    FERRY_MD5_STEP16(kTernF, d, a, b, c, 9, 9, 12);
    FERRY_MD5_STEP16(kTernF, c, d, a, b, 10, 10, 17);
    FERRY_MD5_STEP16(kTernF, b, c, d, a, 11, 11, 22);
    FERRY_MD5_STEP16(kTernF, a, b, c, d, 12, 12, 7);
    FERRY_MD5_STEP16(kTernF, d, a, b, c, 13, 13, 12);
    FERRY_MD5_STEP16(kTernF, c, d, a, b, 14, 14, 17);
    FERRY_MD5_STEP16(kTernF, b, c, d, a, 15, 15, 22);

    FERRY_MD5_STEP16(kTernG, a, b, c, d, 1, 16, 5);
    FERRY_MD5_STEP16(kTernG, d, a, b, c, 6, 17, 9);
    FERRY_MD5_STEP16(kTernG, c, d, a, b, 11, 18, 14);
    FERRY_MD5_STEP16(kTernG, b, c, d, a, 0, 19, 20);
    FERRY_MD5_STEP16(kTernG, a, b, c, d, 5, 20, 5);
    FERRY_MD5_STEP16(kTernG, d, a, b, c, 10, 21, 9);
    FERRY_MD5_STEP16(kTernG, c, d, a, b, 15, 22, 14);
    FERRY_MD5_STEP16(kTernG, b, c, d, a, 4, 23, 20);
    FERRY_MD5_STEP16(kTernG, a, b, c, d, 9, 24, 5);
    FERRY_MD5_STEP16(kTernG, d, a, b, c, 14, 25, 9);
    FERRY_MD5_STEP16(kTernG, c, d, a, b, 3, 26, 14);
    FERRY_MD5_STEP16(kTernG, b, c, d, a, 8, 27, 20);
    FERRY_MD5_STEP16(kTernG, a, b, c, d, 13, 28, 5);
    FERRY_MD5_STEP16(kTernG, d, a, b, c, 2, 29, 9);
    FERRY_MD5_STEP16(kTernG, c, d, a, b, 7, 30, 14);
    FERRY_MD5_STEP16(kTernG, b, c, d, a, 12, 31, 20);

    FERRY_MD5_STEP16(kTernH, a, b, c, d, 5, 32, 4);
    FERRY_MD5_STEP16(kTernH, d, a, b, c, 8, 33, 11);
    FERRY_MD5_STEP16(kTernH, c, d, a, b, 11, 34, 16);
    FERRY_MD5_STEP16(kTernH, b, c, d, a, 14, 35, 23);
    FERRY_MD5_STEP16(kTernH, a, b, c, d, 1, 36, 4);
    FERRY_MD5_STEP16(kTernH, d, a, b, c, 4, 37, 11);
    FERRY_MD5_STEP16(kTernH, c, d, a, b, 7, 38, 16);
    FERRY_MD5_STEP16(kTernH, b, c, d, a, 10, 39, 23);
    FERRY_MD5_STEP16(kTernH, a, b, c, d, 13, 40, 4);
    FERRY_MD5_STEP16(kTernH, d, a, b, c, 0, 41, 11);
    FERRY_MD5_STEP16(kTernH, c, d, a, b, 3, 42, 16);
    FERRY_MD5_STEP16(kTernH, b, c, d, a, 6, 43, 23);
    FERRY_MD5_STEP16(kTernH, a, b, c, d, 9, 44, 4);
    FERRY_MD5_STEP16(kTernH, d, a, b, c, 12, 45, 11);
    FERRY_MD5_STEP16(kTernH, c, d, a, b, 15, 46, 16);
    FERRY_MD5_STEP16(kTernH, b, c, d, a, 2, 47, 23);

    FERRY_MD5_STEP16(kTernI, a, b, c, d, 0, 48, 6);
    FERRY_MD5_STEP16(kTernI, d, a, b, c, 7, 49, 10);
    FERRY_MD5_STEP16(kTernI, c, d, a, b, 14, 50, 15);
    FERRY_MD5_STEP16(kTernI, b, c, d, a, 5, 51, 21);
    FERRY_MD5_STEP16(kTernI, a, b, c, d, 12, 52, 6);
    FERRY_MD5_STEP16(kTernI, d, a, b, c, 3, 53, 10);
    FERRY_MD5_STEP16(kTernI, c, d, a, b, 10, 54, 15);
    FERRY_MD5_STEP16(kTernI, b, c, d, a, 1, 55, 21);
    FERRY_MD5_STEP16(kTernI, a, b, c, d, 8, 56, 6);
    FERRY_MD5_STEP16(kTernI, d, a, b, c, 15, 57, 10);
    FERRY_MD5_STEP16(kTernI, c, d, a, b, 6, 58, 15);
    FERRY_MD5_STEP16(kTernI, b, c, d, a, 13, 59, 21);
    FERRY_MD5_STEP16(kTernI, a, b, c, d, 4, 60, 6);
    FERRY_MD5_STEP16(kTernI, d, a, b, c, 11, 61, 10);
    FERRY_MD5_STEP16(kTernI, c, d, a, b, 2, 62, 15);
    FERRY_MD5_STEP16(kTernI, b, c, d, a, 9, 63, 21);

    // Lanes whose message has ended keep their state.
    const __mmask16 live = _mm512_cmpgt_epi32_mask(total, _mm512_set1_epi32(static_cast<int>(blk)));
    a = _mm512_mask_add_epi32(a0, live, a, a0);
    b = _mm512_mask_add_epi32(b0, live, b, b0);
    c = _mm512_mask_add_epi32(c0, live, c, c0);
    d = _mm512_mask_add_epi32(d0, live, d, d0);
  }
  alignas(64) uint32_t words[4][16];
  _mm512_store_si512(words[0], a);
  _mm512_store_si512(words[1], b);
  _mm512_store_si512(words[2], c);
  _mm512_store_si512(words[3], d);
  for (size_t i = 0; i < count; ++i) {
    for (size_t w = 0; w < 4; ++w) std::memcpy(out[i]->data() + 4 * w, &words[w][i], 4);
  }
}

#undef FERRY_MD5_STEP16

#endif

}  // namespace

bool md5_kernel_supported(Md5Kernel kernel) {
  switch (kernel) {
    case Md5Kernel::kBest:
    case Md5Kernel::kOpenSsl:
      return true;
#if defined(__x86_64__)
    case Md5Kernel::kAvx2:
      return cpu_has_avx2();
    case Md5Kernel::kAvx512:
      return cpu_has_avx512f();
#else
    default:
      return false;
#endif
  }
  return false;
}

void md5_many(const std::string_view* inputs, size_t n, std::array<uint8_t, 16>* out) {
  md5_many_with(Md5Kernel::kBest, inputs, n, out);
}

void md5_many_with(Md5Kernel kernel, const std::string_view* inputs, size_t n,
                   std::array<uint8_t, 16>* out) {
#if defined(__x86_64__)
  if (kernel == Md5Kernel::kBest) {
    kernel = cpu_has_avx512f() ? Md5Kernel::kAvx512
             : cpu_has_avx2()  ? Md5Kernel::kAvx2
                               : Md5Kernel::kOpenSsl;
  }
  assert(md5_kernel_supported(kernel));
  if (n >= 2 && kernel != Md5Kernel::kOpenSsl) {
    // Longest first, then passes over up to 16 neighbours, so lanes in a pass have similar
    // lengths. A message more than twice as long as the next one would leave the other lanes
    // idle for most of the pass: it goes through OpenSSL on its own.
    size_t order_small[2 * kLanes];
    std::vector<size_t> order_big;
    size_t* order = order_small;
    if (n > std::size(order_small)) {
      order_big.resize(n);
      order = order_big.data();
    }
    std::iota(order, order + n, size_t{0});
    std::sort(order, order + n,
              [&](size_t x, size_t y) { return inputs[x].size() > inputs[y].size(); });
    Lane lanes[2 * kLanes];
    std::array<uint8_t, 16>* dest[2 * kLanes];
    size_t i = 0;
    while (i < n) {
      const size_t count = std::min(2 * kLanes, n - i);
      if (count < 2 ||
          md5_blocks(inputs[order[i]].size()) > 2 * md5_blocks(inputs[order[i + 1]].size())) {
        out[order[i]] = md5(inputs[order[i]]);
        ++i;
        continue;
      }
      for (size_t j = 0; j < count; ++j) {
        lanes[j].init(inputs[order[i + j]]);
        dest[j] = &out[order[i + j]];
      }
      if (kernel == Md5Kernel::kAvx512) {
        md5_lanes_avx512(lanes, count, dest);
      } else if (count > kLanes) {
        md5_lanes_avx2<2>(lanes, count, dest);
      } else {
        md5_lanes_avx2<1>(lanes, count, dest);
      }
      i += count;
    }
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) out[i] = md5(inputs[i]);
}

std::vector<std::string> md5_hex_many(std::span<const std::string_view> inputs) {
  std::vector<std::array<uint8_t, 16>> digests(inputs.size());
  md5_many(inputs.data(), inputs.size(), digests.data());
  std::vector<std::string> hex;
  hex.reserve(inputs.size());
  for (const auto& d : digests) hex.push_back(to_hex(d));
  return hex;
}

}  // namespace ferry::base
