// RocksDB's CRC32C with the CPU's crc32 instruction.
//
// Debian builds RocksDB portable (without -msse4.2), and its util/crc32c.cc then settles on a
// table-driven CRC at about four instructions per byte. RocksDB checksums every WAL record, SST
// block and blob record with it: it was 9% of the server's instructions under SendMessageBatch,
// besides what flushes and compactions spent on it. This file defines the three functions of that
// RocksDB source file. Ferry links RocksDB statically, and rocksdb_store.cc refers to
// crc32c_implementation() below, so the linker takes this object before it reaches RocksDB's
// archive and never pulls RocksDB's member in. The values are the same CRC32C (Castagnoli): data
// directories stay readable either way.
#include "storage/rocksdb/crc32c.h"

#include <cstring>

#include "base/cpu.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace ferry::storage {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78;  // Castagnoli, bit-reflected

struct Table {
  uint32_t t[256];
  constexpr Table() : t() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (kPolynomial & (0u - (c & 1)));
      t[i] = c;
    }
  }
};
constexpr Table kTable;

// The CRC register after `data`, from `state` (no pre- or post-inversion).
uint32_t update_table(uint32_t state, const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    state = kTable.t[(state ^ static_cast<uint8_t>(data[i])) & 0xff] ^ (state >> 8);
  }
  return state;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t update_sse42(uint32_t state, const char* data,
                                                        size_t n) {
  uint64_t s = state;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    s = _mm_crc32_u64(s, word);
  }
  auto s32 = static_cast<uint32_t>(s);
  for (; i < n; ++i) s32 = _mm_crc32_u8(s32, static_cast<uint8_t>(data[i]));
  return s32;
}

#endif

// GF(2) 32x32 matrices over the CRC register: the register after n zero bytes is a linear
// function of the register before (the zlib method of combining CRCs).
uint32_t gf2_times(const uint32_t* matrix, uint32_t vec) {
  uint32_t sum = 0;
  for (int i = 0; vec != 0; ++i, vec >>= 1) {
    if (vec & 1) sum ^= matrix[i];
  }
  return sum;
}

void gf2_square(uint32_t* square, const uint32_t* matrix) {
  for (int i = 0; i < 32; ++i) square[i] = gf2_times(matrix, matrix[i]);
}

// zeros[k]: the operator for 2^k zero bytes. RocksDB combines a CRC for every WAL record, so
// these are computed once rather than squared up on each call.
struct ZeroOperators {
  uint32_t zeros[64][32];
  ZeroOperators() {
    uint32_t bit[32], two[32], four[32];
    bit[0] = kPolynomial;  // one zero bit
    for (int i = 1; i < 32; ++i) bit[i] = 1u << (i - 1);
    gf2_square(two, bit);
    gf2_square(four, two);
    gf2_square(zeros[0], four);  // eight bits: one byte
    for (int k = 1; k < 64; ++k) gf2_square(zeros[k], zeros[k - 1]);
  }
};

// The register after `n` zero bytes from `state`.
uint32_t advance_over_zeros(uint32_t state, size_t n) {
  static const ZeroOperators ops;
  for (int k = 0; n != 0; ++k, n >>= 1) {
    if (n & 1) state = gf2_times(ops.zeros[k], state);
  }
  return state;
}

}  // namespace

const char* crc32c_implementation() {
#if defined(__x86_64__)
  if (base::cpu_has_sse42()) return "sse4.2";
#endif
  return "table";
}

}  // namespace ferry::storage

namespace rocksdb::crc32c {

uint32_t Extend(uint32_t crc, const char* data, size_t n) {
  const uint32_t state = ~crc;
#if defined(__x86_64__)
  if (ferry::base::cpu_has_sse42()) return ~ferry::storage::update_sse42(state, data, n);
#endif
  return ~ferry::storage::update_table(state, data, n);
}

// crc(A + B) from crc(A), crc(B) and B's length: crc(A) carried over |B| zero bytes, plus crc(B)
// (the pre- and post-inversions cancel out).
uint32_t Crc32cCombine(uint32_t crc1, uint32_t crc2, size_t crc2len) {
  return ferry::storage::advance_over_zeros(crc1, crc2len) ^ crc2;
}

std::string IsFastCrc32Supported() {
  return std::string("Ferry's CRC32C: ") + ferry::storage::crc32c_implementation();
}

}  // namespace rocksdb::crc32c
