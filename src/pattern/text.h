#pragma once
// Value-level primitives shared by the compiler and the automaton: numbers as AWS compares them,
// case folding, wildcard globs and CIDR blocks. Pure functions, no state.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::pattern::internal {

// AWS compares numbers with a fixed number of decimal places inside a range:
// EventBridge [-5e9, 5e9] with 6 decimals, SNS [-1e9, 1e9] with 5 decimals.
struct NumberSpec {
  double limit;  // |value| <= limit to take part in numeric comparisons
  double scale;  // 10^decimals
};

// A number as the engine compares it: in range, by its value rounded to the spec's decimals
// (so 3, 3.0 and 3.0000001 are equal for EventBridge); out of range, by its exact value.
struct Number {
  double value = 0;
  bool in_range = false;
  int64_t q = 0;  // round(value * scale), when in_range
  bool operator==(const Number& o) const {
    return in_range == o.in_range && (in_range ? q == o.q : value == o.value);
  }
};

Number make_number(double value, const NumberSpec& spec);

// Parses a JSON number token (whole view); nullopt if it is not one.
std::optional<double> parse_json_number(std::string_view token);

// numeric: [">", a, "<=", b] and friends, on quantised values. Only in-range numbers match.
struct NumericRange {
  bool has_lo = false, lo_incl = false, has_hi = false, hi_incl = false;
  int64_t lo = 0, hi = 0;
  bool contains(int64_t q) const {
    if (has_lo && (lo_incl ? q < lo : q <= lo)) return false;
    if (has_hi && (hi_incl ? q > hi : q >= hi)) return false;
    return true;
  }
};

// Case folding for equals-ignore-case: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
// (the two-byte UTF-8 ranges), one code point to one code point. Other bytes are kept.
std::string fold_case(std::string_view s);
// Appends the folded form of `s` to `out`.
void fold_case_into(std::string_view s, std::string& out);

// A wildcard pattern: '*' matches any run of characters (also none); "\*" is a literal star and
// "\\" a literal backslash.
struct Glob {
  std::vector<std::string> parts;  // literal text around the stars: stars + 1 entries
  int stars() const { return static_cast<int>(parts.size()) - 1; }
  bool match(std::string_view s) const;
};
// Parses wildcard syntax; on error returns nullopt and sets `error` to AWS's reason.
std::optional<Glob> parse_glob(std::string_view text, std::string& error);

// An IPv4 or IPv6 network.
struct Cidr {
  bool v6 = false;
  uint8_t addr[16] = {};
  int bits = 0;
  bool contains(std::string_view ip) const;
};
// Parses "a.b.c.d/n" or "x:y::z/n"; on error returns nullopt and sets `error` to AWS's reason.
std::optional<Cidr> parse_cidr(std::string_view text, std::string& error);

}  // namespace ferry::pattern::internal
