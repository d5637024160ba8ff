#pragma once
// MD5 of many independent messages at once.
//
// SQS SendMessageBatch answers MD5OfMessageBody for up to 10 messages per request (typically
// ~1 KiB each), and OpenSSL's MD5 costs ~10k instructions per 1 KiB message. MD5 is serial within
// a message, but independent messages can run side by side: with AVX2, eight messages share one
// pass, one per 32-bit lane (and up to 16 in two interleaved groups); with AVX-512, sixteen in
// one register. Without either, for a single message, or for a message much longer than the
// others, this is OpenSSL's MD5.
// Stateless and thread-safe.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::base {

// out[i] = MD5(inputs[i]) for i in [0, n), by the best kernel the CPU has.
void md5_many(const std::string_view* inputs, size_t n, std::array<uint8_t, 16>* out);

// The kernels md5_many chooses from; tests run each one the CPU supports.
enum class Md5Kernel { kBest, kAvx512, kAvx2, kOpenSsl };
bool md5_kernel_supported(Md5Kernel kernel);
// md5_many by the given kernel, which must be supported.
void md5_many_with(Md5Kernel kernel, const std::string_view* inputs, size_t n,
                   std::array<uint8_t, 16>* out);

// Lower-case hex MD5 of each input, in order.
std::vector<std::string> md5_hex_many(std::span<const std::string_view> inputs);

}  // namespace ferry::base
