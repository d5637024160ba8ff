#include "base/siphash.h"

#include <bit>
#include <cstring>

namespace ferry::base {

namespace {

inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

inline void store_le64(uint8_t* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

struct SipState {
  uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }

  void compress(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }

  uint64_t finalize(uint8_t marker) {
    v2 ^= marker;
    round();
    round();
    round();
    round();
    return v0 ^ v1 ^ v2 ^ v3;
  }
};

// Initialises the state and absorbs every message word, the last one holding the length byte.
SipState absorb(const std::array<uint8_t, 16>& key, std::string_view data, bool wide) {
  const uint64_t k0 = load_le64(key.data());
  const uint64_t k1 = load_le64(key.data() + 8);
  SipState s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
             k1 ^ 0x7465646279746573ULL};
  if (wide) s.v1 ^= 0xee;
  const auto* in = reinterpret_cast<const uint8_t*>(data.data());
  const size_t n = data.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) s.compress(load_le64(in + i));
  uint8_t last[8] = {};
  if (n > i) std::memcpy(last, in + i, n - i);
  last[7] = static_cast<uint8_t>(n);  // the length mod 256 in the top byte
  s.compress(load_le64(last));
  return s;
}

}  // namespace

uint64_t siphash24(const std::array<uint8_t, 16>& key, std::string_view data) {
  SipState s = absorb(key, data, /*wide=*/false);
  return s.finalize(0xff);
}

std::array<uint8_t, 16> siphash24_128(const std::array<uint8_t, 16>& key, std::string_view data) {
  SipState s = absorb(key, data, /*wide=*/true);
  std::array<uint8_t, 16> out{};
  store_le64(out.data(), s.finalize(0xee));
  s.v1 ^= 0xdd;
  s.round();
  s.round();
  s.round();
  s.round();
  store_le64(out.data() + 8, s.v0 ^ s.v1 ^ s.v2 ^ s.v3);
  return out;
}

}  // namespace ferry::base
