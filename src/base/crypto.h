#pragma once
// Hashes, HMAC, base64 and random ids (OpenSSL underneath).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::base {

std::array<uint8_t, 16> md5(std::string_view data);
std::string md5_hex(std::string_view data);
std::array<uint8_t, 32> sha256(std::string_view data);
std::string sha256_hex(std::string_view data);
std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data);

std::string to_hex(const uint8_t* data, size_t n);
template <size_t N>
std::string to_hex(const std::array<uint8_t, N>& a) {
  return to_hex(a.data(), N);
}

std::string base64_encode(std::string_view data);
// Appends the base64 of `data` to `out` (no intermediate string).
void base64_encode_append(std::string& out, std::string_view data);
// Strict standard base64 (with padding); nullopt on any invalid character or length.
std::optional<std::string> base64_decode(std::string_view text);
// Whether base64_decode(text) would succeed, without decoding.
bool base64_valid(std::string_view text);

// Incremental MD5 for digests built from several pieces without concatenating them.
class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;
  void update(std::string_view data);
  std::array<uint8_t, 16> finish();
  std::string finish_hex();

 private:
  void* ctx_;
};

// Cryptographically random bytes.
void random_bytes(uint8_t* out, size_t n);
// Random RFC 4122 version-4 UUID, lower-case with dashes.
std::string uuid4();

}  // namespace ferry::base
