#include "base/json_text.h"

#include <cstdint>
#include <cstring>

#include "base/cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ferry::base {

namespace {

bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

// Whether any of the 8 bytes in x is below 0x20, '"' or '\\' (SWAR "has a byte equal to / less
// than n" tests; bytes with the top bit set never count as below 0x20).
bool any_needs_escape(uint64_t x) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kTops = 0x8080808080808080ULL;
  auto has_zero = [](uint64_t v) { return (v - kOnes) & ~v & kTops; };
  const uint64_t below_space = (x - kOnes * 0x20) & ~x & kTops;
  return (below_space | has_zero(x ^ (kOnes * '"')) | has_zero(x ^ (kOnes * '\\'))) != 0;
}

#if defined(__x86_64__)
// Bytes from p that need no escape, 32 at a time; stops at the first block holding one.
__attribute__((target("avx2"))) size_t clean_blocks_avx2(const char* p, size_t n) {
  const __m256i space = _mm256_set1_epi8(0x20);
  const __m256i quote = _mm256_set1_epi8('"');
  const __m256i backslash = _mm256_set1_epi8('\\');
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    const __m256i printable = _mm256_cmpeq_epi8(_mm256_max_epu8(v, space), v);  // v >= 0x20
    const __m256i special =
        _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, backslash));
    if (static_cast<uint32_t>(_mm256_movemask_epi8(printable)) != 0xffffffffu ||
        _mm256_movemask_epi8(special) != 0) {
      break;
    }
  }
  return i;
}

#endif

// The length of the run of bytes from p that need no escape.
size_t clean_run(const char* p, size_t n) {
  size_t i = 0;
#if defined(__x86_64__)
  if (n >= 32 && cpu_has_avx2()) i = clean_blocks_avx2(p, n);
#endif
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    if (any_needs_escape(x)) break;
  }
  while (i < n && !needs_escape(static_cast<unsigned char>(p[i]))) ++i;
  return i;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  size_t i = 0;
  for (;;) {
    const size_t run = clean_run(s.data() + i, s.size() - i);
    out.append(s.data() + i, run);
    i += run;
    if (i >= s.size()) break;
    const auto c = static_cast<unsigned char>(s[i++]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out += '"';
}

}  // namespace ferry::base
