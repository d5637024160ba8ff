// libFuzzer target: Query protocol decoding (parse_form + decode_query), then the properties
// that hold for anything it accepts: the result has the JSON types of the input shape (so
// validation can only report missing members) and it encodes as XML without trouble.
#include <cstdint>
#include <cstdlib>

#include "aws/json_validate.h"
#include "aws/query.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto target = ferry::fuzz::pick(data, size);
  auto params = ferry::aws::parse_form(target.body);
  if (!params) return 0;
  auto input = ferry::aws::decode_query(*target.model, *target.op, params.value());
  if (!input) return 0;
  auto valid = ferry::aws::validate_json_input(*target.model, *target.op, input.value());
  if (!valid && valid.error().code != ferry::aws::kMissingParameter) std::abort();
  (void)ferry::aws::encode_query_response(*target.model, *target.op, input.value(), "fuzz");
  return 0;
}
