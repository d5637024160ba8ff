// libFuzzer target: the SAX decoder of SQS's hot JSON bodies (src/sqs/api/fast_input.h), checked
// against the generic parse and validation it bypasses: what it takes, they must take too, with
// the same members.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "sqs/api/fast_input_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // First byte: the action (0 SendMessage, 1 SendMessageBatch, 2 DeleteMessageBatch); the rest
  // is the body.
  const auto action = static_cast<ferry::sqs::FastAction>(data[0] % 3);
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  if (std::string why = ferry::sqs::fast_input_disagreement(action, body); !why.empty()) {
    std::fprintf(stderr, "fast input disagrees with the generic parse: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
