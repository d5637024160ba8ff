// libFuzzer target: the CBOR protocol (application/x-amz-cbor-1.1). The first input byte picks a
// Kinesis operation (byte % number of operations, alphabetical order), the rest is the request
// body: generic decode, re-encode and decode again (must round-trip), then the model-driven
// decode the router uses and the answer encoder on whatever was accepted.
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "aws/cbor.h"
#include "aws/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& model = ferry::aws::ServiceModel::get("kinesis");
  const auto& names = model.operation_names();
  const ferry::aws::Operation* op = model.operation(names[data[0] % names.size()]);
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  auto generic = ferry::aws::cbor_decode(body);
  if (generic) {
    auto again = ferry::aws::cbor_decode(ferry::aws::cbor_encode(generic.value()));
    if (!again) std::abort();
    // Compared as text: NaN never compares equal to itself.
    if (boost::json::serialize(again.value()) != boost::json::serialize(generic.value())) {
      std::abort();
    }
  }
  auto input = ferry::aws::decode_cbor_input(model, *op, body);
  if (!input) return 0;
  if (op->output != nullptr) (void)ferry::aws::encode_cbor_output(*op, input.value());
  return 0;
}
