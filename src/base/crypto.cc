#include "base/crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <array>

#include "base/cpu.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <cassert>
#include <cstring>

namespace ferry::base {

namespace {

// OpenSSL 3 looks algorithms up by name on every implicit fetch (EVP_md5(), HMAC()); these are
// on the request path (message MD5s, receipt handles), so algorithms are fetched once and the
// contexts are reused per thread.
const EVP_MD* md5_algorithm() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return md;
}
const EVP_MD* sha256_algorithm() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct DigestContext {
  DigestContext() : ctx(EVP_MD_CTX_new()) {}
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
  EVP_MD_CTX* ctx;
};

template <size_t N>
std::array<uint8_t, N> digest(const EVP_MD* md, std::string_view data) {
  thread_local DigestContext context;
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  EVP_DigestInit_ex2(context.ctx, md, nullptr);
  EVP_DigestUpdate(context.ctx, data.data(), data.size());
  EVP_DigestFinal_ex(context.ctx, out.data(), &len);
  assert(len == N);
  return out;
}

// The last key's HMAC context, kept per thread: callers use one long-lived key (the receipt
// handle secret), and re-initialising with the same key skips the key schedule.
struct HmacContext {
  HmacContext() {
    static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    ctx = EVP_MAC_CTX_new(mac);
  }
  ~HmacContext() { EVP_MAC_CTX_free(ctx); }
  EVP_MAC_CTX* ctx;
  std::string key;
  bool keyed = false;
};

}  // namespace

std::array<uint8_t, 16> md5(std::string_view data) { return digest<16>(md5_algorithm(), data); }
std::string md5_hex(std::string_view data) { return to_hex(md5(data)); }
std::array<uint8_t, 32> sha256(std::string_view data) {
  return digest<32>(sha256_algorithm(), data);
}
std::string sha256_hex(std::string_view data) { return to_hex(sha256(data)); }

std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data) {
  thread_local HmacContext hmac;
  if (!hmac.keyed || hmac.key != key) {
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest_name, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC_init(hmac.ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params);
    hmac.key = std::string(key);
    hmac.keyed = true;
  } else {
    EVP_MAC_init(hmac.ctx, nullptr, 0, nullptr);  // same key: restart without re-keying
  }
  EVP_MAC_update(hmac.ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::array<uint8_t, 32> out{};
  size_t len = 0;
  EVP_MAC_final(hmac.ctx, out.data(), &len, out.size());
  assert(len == out.size());
  return out;
}

std::string to_hex(const uint8_t* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(n * 2, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[data[i] >> 4];
    s[2 * i + 1] = kDigits[data[i] & 15];
  }
  return s;
}

std::string base64_encode(std::string_view data) {
  std::string out;
  base64_encode_append(out, data);
  return out;
}

namespace {

constexpr char kBase64Digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The two digits of every 12-bit value: a 3-byte group is two lookups (GetRecords encodes up to
// 10 MiB per answer; this runs about twice as fast as OpenSSL's EVP_EncodeBlock).
constexpr std::array<std::array<char, 2>, 4096> kBase64Pairs = [] {
  std::array<std::array<char, 2>, 4096> t{};
  for (size_t i = 0; i < 4096; ++i) t[i] = {kBase64Digits[i >> 6], kBase64Digits[i & 63]};
  return t;
}();

}  // namespace

namespace {

#if defined(__x86_64__)
// 24 bytes to 32 digits per step with AVX2 (the widely published shuffle/multiply method):
// each 3-byte group is spread over a 32-bit lane, its four 6-bit fields are moved into place by
// two 16-bit multiplies, and a 16-entry table gives each field's offset to its ASCII digit.
// Returns how many input bytes it encoded (a multiple of 24; the rest is left to the caller).
__attribute__((target("avx2"))) size_t base64_encode_avx2(const uint8_t* in, size_t n, char* out) {
  const __m256i spread = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,  //
                                          1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
  const __m256i offsets =
      _mm256_setr_epi8(71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0,  //
                       71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0);
  size_t i = 0;
  // Each half loads 16 bytes and uses 12: the last step reads 4 bytes past its 24.
  for (; i + 28 <= n; i += 24, out += 32) {
    __m256i v = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i + 12)), 1);
    v = _mm256_shuffle_epi8(v, spread);
    __m256i hi = _mm256_mulhi_epu16(_mm256_and_si256(v, _mm256_set1_epi32(0x0fc0fc00)),
                                    _mm256_set1_epi32(0x04000040));
    __m256i lo = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi32(0x003f03f0)),
                                    _mm256_set1_epi32(0x01000010));
    __m256i fields = _mm256_or_si256(hi, lo);  // one 6-bit value per byte, in output order
    // Table index: 13 for 0-25 ('A'..), 0 for 26-51 ('a'..), 1-10 for 52-61 ('0'..), 11 '+', 12
    // '/'.
    __m256i index = _mm256_subs_epu8(fields, _mm256_set1_epi8(51));
    index = _mm256_or_si256(index, _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(26), fields),
                                                    _mm256_set1_epi8(13)));
    __m256i digits = _mm256_add_epi8(fields, _mm256_shuffle_epi8(offsets, index));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), digits);
  }
  return i;
}

#endif

}  // namespace

void base64_encode_append(std::string& out, std::string_view data) {
  size_t at = out.size();
  out.resize(at + 4 * ((data.size() + 2) / 3));
  char* o = out.data() + at;
  const auto* in = reinterpret_cast<const uint8_t*>(data.data());
  size_t i = 0;
#if defined(__x86_64__)
  if (data.size() >= 28 && cpu_has_avx2()) {
    i = base64_encode_avx2(in, data.size(), o);
    o += i / 3 * 4;
  }
#endif
  for (; i + 3 <= data.size(); i += 3, o += 4) {
    uint32_t n = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    std::memcpy(o, kBase64Pairs[n >> 12].data(), 2);
    std::memcpy(o + 2, kBase64Pairs[n & 0xfff].data(), 2);
  }
  if (i < data.size()) {
    uint32_t n = uint32_t{in[i]} << 16;
    if (i + 1 < data.size()) n |= uint32_t{in[i + 1]} << 8;
    o[0] = kBase64Digits[(n >> 18) & 63];
    o[1] = kBase64Digits[(n >> 12) & 63];
    o[2] = i + 1 < data.size() ? kBase64Digits[(n >> 6) & 63] : '=';
    o[3] = '=';
  }
}

namespace {

// Base64 digit values; 0x80 marks every byte that is not a digit ('=' included).
constexpr std::array<uint8_t, 256> kBase64Values = [] {
  std::array<uint8_t, 256> t{};
  t.fill(0x80);
  const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(digits[i])] = i;
  return t;
}();

}  // namespace

namespace {

#if defined(__x86_64__)
// AVX2 base64 decoding (the widely published nibble-lookup method): a character is a digit
// unless the table of its low nibble and the table of its high nibble share a bit; its 6-bit
// value is itself plus an offset looked up by its high nibble ('/' shares '+''s nibble and is
// told apart by a compare). The classes: 0x01 '+' '/' row, 0x02 digits, 0x04 'A'-'O' and
// 'a'-'o' rows, 0x08 'P'-'Z' and 'p'-'z' rows, 0x10 rows with no digit at all.
__attribute__((target("avx2"))) inline __m256i base64_values_avx2(__m256i in, __m256i* bad) {
  const __m256i by_low =
      _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B,
                       0x1B, 0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                       0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
  const __m256i by_high =
      _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10,
                       0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10,
                       0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
  const __m256i offsets =
      _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,  //
                       0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  __m256i high = _mm256_and_si256(_mm256_srli_epi32(in, 4), nibble);
  __m256i low = _mm256_and_si256(in, nibble);
  *bad = _mm256_and_si256(_mm256_shuffle_epi8(by_low, low), _mm256_shuffle_epi8(by_high, high));
  __m256i slash = _mm256_cmpeq_epi8(in, _mm256_set1_epi8('/'));
  return _mm256_add_epi8(in, _mm256_shuffle_epi8(offsets, _mm256_add_epi8(slash, high)));
}

// Decodes whole 32-character blocks of in[0, n) (no padding in them) into out, 24 bytes each.
// Returns the characters consumed; *ok is false if a block held a non-digit.
__attribute__((target("avx2"))) size_t base64_decode_avx2(const uint8_t* in, size_t n, uint8_t* out,
                                                          bool* ok) {
  const __m256i pack = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,  //
                                        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
  size_t i = 0;
  for (; i + 32 <= n; i += 32, out += 24) {
    __m256i bad;
    __m256i v =
        base64_values_avx2(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)), &bad);
    if (!_mm256_testz_si256(bad, bad)) {
      *ok = false;
      return i;
    }
    // Pairs of 6-bit values into 12 bits, pairs of those into 24, then 3 bytes per 32-bit lane.
    __m256i merged = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
    __m256i joined = _mm256_madd_epi16(merged, _mm256_set1_epi32(0x00011000));
    __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(joined, pack),
                                                _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(bytes));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 16), _mm256_extracti128_si256(bytes, 1));
  }
  *ok = true;
  return i;
}

// Whether whole 32-character blocks of in[0, n) are all digits; *checked gets how many
// characters that covered.
__attribute__((target("avx2"))) bool base64_digits_avx2(const uint8_t* in, size_t n,
                                                        size_t* checked) {
  __m256i any_bad = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i bad;
    base64_values_avx2(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)), &bad);
    any_bad = _mm256_or_si256(any_bad, bad);
  }
  *checked = i;
  return _mm256_testz_si256(any_bad, any_bad);
}
#endif

}  // namespace

// One table-driven pass (AVX2 where the CPU has it); the profile of Kinesis PutRecords showed
// decoding as its top symbol. Padding only in the last quad: "xx==" or "xxx=".
std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  std::string out(text.size() / 4 * 3 - pad, '\0');
  const auto* in = reinterpret_cast<const uint8_t*>(text.data());
  auto* o = reinterpret_cast<uint8_t*>(out.data());
  const size_t full = text.size() / 4 - (pad != 0 ? 1 : 0);
  const auto& t = kBase64Values;
  size_t i = 0;
#if defined(__x86_64__)
  if (full >= 8 && cpu_has_avx2()) {
    bool ok = true;
    size_t used = base64_decode_avx2(in, full * 4, o, &ok);
    if (!ok) return std::nullopt;
    i = used / 4;
    in += used;
    o += used / 4 * 3;
  }
#endif
  for (; i < full; ++i, in += 4, o += 3) {
    const uint32_t a = t[in[0]], b = t[in[1]], c = t[in[2]], d = t[in[3]];
    if (((a | b | c | d) & 0x80) != 0) return std::nullopt;
    const uint32_t v = a << 18 | b << 12 | c << 6 | d;
    o[0] = static_cast<uint8_t>(v >> 16);
    o[1] = static_cast<uint8_t>(v >> 8);
    o[2] = static_cast<uint8_t>(v);
  }
  if (pad != 0) {
    const uint32_t a = t[in[0]], b = t[in[1]], c = pad == 1 ? t[in[2]] : 0;
    if (((a | b | c) & 0x80) != 0) return std::nullopt;
    const uint32_t v = a << 18 | b << 12 | c << 6;
    o[0] = static_cast<uint8_t>(v >> 16);
    if (pad == 1) o[1] = static_cast<uint8_t>(v >> 8);
  }
  return out;
}

bool base64_valid(std::string_view text) {
  if (text.size() % 4 != 0) return false;
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  size_t i = 0;
#if defined(__x86_64__)
  if (text.size() >= 32 && cpu_has_avx2() &&
      !base64_digits_avx2(reinterpret_cast<const uint8_t*>(text.data()), text.size() - pad, &i)) {
    return false;
  }
#endif
  uint8_t bad = 0;
  for (; i < text.size() - pad; ++i) bad |= kBase64Values[static_cast<uint8_t>(text[i])];
  return (bad & 0x80) == 0;
}

Md5::Md5() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex2(static_cast<EVP_MD_CTX*>(ctx_), md5_algorithm(), nullptr);
}
Md5::~Md5() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Md5::update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}
std::array<uint8_t, 16> Md5::finish() {
  std::array<uint8_t, 16> out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &len);
  return out;
}
std::string Md5::finish_hex() { return to_hex(finish()); }

void random_bytes(uint8_t* out, size_t n) {
  // One RAND_bytes call per 4 KiB instead of one per id: each call locks the DRBG.
  struct Pool {
    uint8_t bytes[4096];
    size_t used = sizeof bytes;
  };
  thread_local Pool pool;
  if (n > sizeof pool.bytes / 4) {
    int rc = RAND_bytes(out, static_cast<int>(n));
    assert(rc == 1);
    (void)rc;
    return;
  }
  if (sizeof pool.bytes - pool.used < n) {
    int rc = RAND_bytes(pool.bytes, sizeof pool.bytes);
    assert(rc == 1);
    (void)rc;
    pool.used = 0;
  }
  std::memcpy(out, pool.bytes + pool.used, n);
  std::memset(pool.bytes + pool.used, 0, n);  // handed-out bytes don't linger
  pool.used += n;
}

std::string uuid4() {
  uint8_t b[16];
  random_bytes(b, sizeof b);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  // Written in place: every message id is one (the substring joins were 3k instructions).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  size_t o = 0;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) ++o;  // past a dash
    out[o++] = kHex[b[i] >> 4];
    out[o++] = kHex[b[i] & 15];
  }
  return out;
}

}  // namespace ferry::base
