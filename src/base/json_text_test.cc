#include "base/json_text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>
#include <string>

namespace ferry::base {
namespace {

std::string as_json(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(JsonText, EscapesLikeBoostJson) {
  EXPECT_EQ(as_json(""), "\"\"");
  EXPECT_EQ(as_json("plain text, longer than eight bytes"),
            "\"plain text, longer than eight bytes\"");
  EXPECT_EQ(as_json("a\"b\\c\nd\te\x01\x1f\x7f"), "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f\x7f\"");
  // Every byte value at each position of two 32-byte blocks, 8-byte blocks and a tail.
  std::mt19937 rng(7);
  for (int c = 0; c < 256; ++c) {
    for (size_t len = 1; len <= 75; ++len) {  // 32-byte blocks, 8-byte blocks, tails
      for (size_t at = 0; at < len; ++at) {
        std::string s(len, 'x');
        s[at] = static_cast<char>(c);
        ASSERT_EQ(as_json(s), boost::json::serialize(boost::json::string(s)))
            << "byte " << c << " at " << at << " of " << len;
      }
    }
  }
  // Random UTF-8 text with escapes mixed in.
  const std::string pieces[] = {
      "a", "\"", "\\", "\n", "\x02", "\xc3\xa9", "\xe2\x82\xac", "\t", "z", "\xf0\x9f\x98\x80",
      "/", " "};
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    const size_t n = rng() % 40;
    for (size_t i = 0; i < n; ++i) s += pieces[rng() % std::size(pieces)];
    std::string out = "prefix";
    append_json_string(out, s);
    ASSERT_EQ(out, "prefix" + boost::json::serialize(boost::json::string(s))) << s;
  }
}

}  // namespace
}  // namespace ferry::base
