#pragma once
// RocksDB's CRC32C, computed with the CPU's crc32 instruction (see crc32c.cc).
#include <cstddef>
#include <cstdint>
#include <string>

namespace rocksdb::crc32c {
// The three functions of RocksDB's util/crc32c.cc, which this project defines in its place.
uint32_t Extend(uint32_t crc, const char* data, size_t n);
uint32_t Crc32cCombine(uint32_t crc1, uint32_t crc2, size_t crc2len);
std::string IsFastCrc32Supported();
}  // namespace rocksdb::crc32c

namespace ferry::storage {
// How RocksDB's checksums are computed here ("sse4.2" or "table"); RocksStore::open logs it.
// Referring to it also links crc32c.cc ahead of RocksDB's own member.
const char* crc32c_implementation();
}  // namespace ferry::storage
