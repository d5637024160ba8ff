#pragma once
// SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF"), 64- and 128-bit output.
//
// It authenticates SQS receipt handles: the inputs are short (~30 bytes) and the key is the
// server's long-lived handle secret, where HMAC-SHA256 through OpenSSL's EVP costs ~6k
// instructions a call and SipHash a few hundred. Not a general-purpose MAC for long messages.
#include <array>
#include <cstdint>
#include <string_view>

namespace ferry::base {

// SipHash-2-4 of `data` under the 128-bit `key` (read as two little-endian 64-bit words).
uint64_t siphash24(const std::array<uint8_t, 16>& key, std::string_view data);

// The 128-bit output variant; the bytes are the two 64-bit halves, little-endian, as in the
// reference implementation's test vectors.
std::array<uint8_t, 16> siphash24_128(const std::array<uint8_t, 16>& key, std::string_view data);

}  // namespace ferry::base
