// libFuzzer target: JSON protocol input (Boost.JSON parse + validate_json_input, via
// parse_json_input), then the Query XML encoder on whatever object was accepted.
#include <boost/json.hpp>
#include <cstdint>

#include "aws/json_validate.h"
#include "aws/query.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto target = ferry::fuzz::pick(data, size);
  // The raw parse + validate path the router takes...
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(target.body, ec);
  if (!ec) (void)ferry::aws::validate_json_input(*target.model, *target.op, doc);
  // ...and the all-in-one one, whose result handlers see.
  auto input = ferry::aws::parse_json_input(*target.model, *target.op, target.body);
  if (!input) return 0;
  (void)ferry::aws::encode_query_response(*target.model, *target.op, input.value(), "fuzz");
  return 0;
}
