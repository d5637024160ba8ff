// Fuzzes the pattern compiler: the first byte picks the dialect, the rest is the pattern. A valid
// pattern is then loaded into a Matcher and run against a few events; nothing may crash or hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pattern/matcher.h"

using ferry::pattern::Attribute;
using ferry::pattern::Dialect;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  Dialect d = data[0] % 3 == 0   ? Dialect::kEventBridge
              : data[0] % 3 == 1 ? Dialect::kSnsBody
                                 : Dialect::kSnsAttributes;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  ferry::pattern::Matcher m;
  if (!m.add("p", text, d).ok()) return 0;
  static const char* kEvents[] = {
      R"({"a":"x","b":[1,2,{"c":"10.0.0.1"}],"detail":{"state":"running","n":3.5}})",
      R"({"a":[{"b":1,"c":2},{"b":3,"c":[4,[5]]}],"x":null,"y":true,"z":""})", R"({})"};
  for (const char* e : kEvents) (void)m.match(e);
  Attribute attrs[] = {
      {"a", "String", "x"}, {"b", "Number", "3"}, {"c", "String.Array", R"(["x", 1, null])"}};
  (void)m.match_attributes(attrs);
  (void)m.replace("p", text, d);
  (void)m.remove("p");
  return 0;
}
