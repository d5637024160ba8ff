// Fuzzes event scanning and matching: arbitrary bytes as a JSON event against patterns that use
// every operator, and as the value of SNS attributes. Nothing may crash or hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pattern/matcher.h"

using ferry::pattern::Attribute;
using ferry::pattern::Dialect;
using ferry::pattern::Matcher;

namespace {

Matcher& matcher() {
  static Matcher* m = [] {
    auto* m = new Matcher;
    const char* eb[] = {
        R"({"a":["x",1,true,null,""]})",
        R"({"a":[{"prefix":"x"},{"suffix":"y"},{"equals-ignore-case":"XY"}]})",
        R"({"a":[{"prefix":{"equals-ignore-case":"x"}},{"suffix":{"equals-ignore-case":"Y"}}]})",
        R"({"a":[{"wildcard":"*x*y\\*"}],"b":{"c":[{"exists":true}]}})",
        R"({"a":[{"anything-but":["x",1]}],"b":[{"exists":false}]})",
        R"({"a":[{"anything-but":{"prefix":"x"}}],"c":[{"anything-but":{"suffix":"y"}}]})",
        R"({"a":[{"anything-but":{"equals-ignore-case":["X"]}}]})",
        R"({"a":[{"anything-but":{"wildcard":"x*"}}]})",
        R"({"b":{"c":[{"numeric":[">",0,"<=",5]}],"d":[{"cidr":"10.0.0.0/8"}]}})",
        R"({"b":{"c":[{"cidr":"2001:db8::/32"}],"d":[1]},"$or":[{"a":["x"]},{"e":[{"exists":true}]}]})",
    };
    int i = 0;
    for (const char* p : eb) {
      (void)m->add("eb" + std::to_string(i++), p, Dialect::kEventBridge);
      (void)m->add("sb" + std::to_string(i++), p, Dialect::kSnsBody);
    }
    (void)m->add("sa1", R"({"a":["x",{"numeric":[">",1]}],"b":[{"exists":false}]})",
                 Dialect::kSnsAttributes);
    (void)m->add("sa2", R"({"a":[{"prefix":"x"}],"c":[{"anything-but":[1]}]})",
                 Dialect::kSnsAttributes);
    return m;
  }();
  return *m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Matcher& m = matcher();
  (void)m.match(text);
  Attribute attrs[] = {{"a", "String.Array", text}, {"b", "Number", text}, {"c", "String", text}};
  (void)m.match_attributes(attrs);
  return 0;
}
