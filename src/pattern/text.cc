#include "pattern/text.h"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <cstring>

namespace ferry::pattern::internal {

Number make_number(double value, const NumberSpec& spec) {
  Number n;
  n.value = value == 0 ? 0.0 : value;  // -0 == 0
  n.in_range = std::isfinite(value) && std::fabs(value) <= spec.limit;
  if (n.in_range) n.q = std::llround(value * spec.scale);
  return n;
}

std::optional<double> parse_json_number(std::string_view t) {
  // JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  std::size_t i = 0, n = t.size();
  auto digit = [&](std::size_t k) { return k < n && t[k] >= '0' && t[k] <= '9'; };
  if (i < n && t[i] == '-') ++i;
  if (!digit(i)) return std::nullopt;
  if (t[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < n && t[i] == '.') {
    ++i;
    if (!digit(i)) return std::nullopt;
    while (digit(i)) ++i;
  }
  if (i < n && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < n && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digit(i)) return std::nullopt;
    while (digit(i)) ++i;
  }
  if (i != n) return std::nullopt;
  double v = 0;
  auto r = std::from_chars(t.data(), t.data() + n, v);
  if (r.ec == std::errc::result_out_of_range) {
    // Overflow to infinity or underflow to zero: keep the sign, it only matters for ordering.
    bool neg = t[0] == '-';
    bool tiny = false;
    auto e = t.find_first_of("eE");
    if (e != std::string_view::npos && e + 1 < n && t[e + 1] == '-') tiny = true;
    v = tiny ? 0.0 : (neg ? -HUGE_VAL : HUGE_VAL);
    return v;
  }
  if (r.ec != std::errc() || r.ptr != t.data() + n) return std::nullopt;
  return v;
}

namespace {

// Lower-case mapping for the two-byte UTF-8 range (U+0080..U+07FF) that folding covers.
uint32_t lower_cp(uint32_t c) {
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x178) return 0xFF;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
    if (c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
    return (c & 1) ? c : c + 1;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 0x25;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 0x3F;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  if (c == 0x4C0) return 0x4CF;
  if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x4FF))
    return (c & 1) ? c : c + 1;
  if (c >= 0x4C1 && c <= 0x4CE) return (c & 1) ? c + 1 : c;
  return c;
}

}  // namespace

void fold_case_into(std::string_view s, std::string& out) {
  std::size_t n = s.size();
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : static_cast<char>(c));
      continue;
    }
    if ((c & 0xE0) == 0xC0 && i + 1 < n && (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80) {
      uint32_t cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      uint32_t lc = cp == 0x130 ? cp : lower_cp(cp);  // U+0130 would fold to two characters
      out.push_back(static_cast<char>(0xC0 | (lc >> 6)));
      out.push_back(static_cast<char>(0x80 | (lc & 0x3F)));
      ++i;
      continue;
    }
    out.push_back(static_cast<char>(c));
  }
}

std::string fold_case(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  fold_case_into(s, out);
  return out;
}

bool Glob::match(std::string_view s) const {
  if (parts.size() == 1) return s == parts[0];
  const std::string& first = parts.front();
  const std::string& last = parts.back();
  if (s.size() < first.size() + last.size()) return false;
  if (s.compare(0, first.size(), first) != 0) return false;
  if (s.compare(s.size() - last.size(), last.size(), last) != 0) return false;
  std::string_view mid = s.substr(first.size(), s.size() - first.size() - last.size());
  for (std::size_t i = 1; i + 1 < parts.size(); ++i) {
    if (parts[i].empty()) continue;
    auto pos = mid.find(parts[i]);
    if (pos == std::string_view::npos) return false;
    mid.remove_prefix(pos + parts[i].size());
  }
  return true;
}

std::optional<Glob> parse_glob(std::string_view text, std::string& error) {
  Glob g;
  g.parts.emplace_back();
  bool last_was_star = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 >= text.size() || (text[i + 1] != '*' && text[i + 1] != '\\')) {
        error = "Invalid use of backslash escape character at pos " + std::to_string(i);
        return std::nullopt;
      }
      g.parts.back().push_back(text[++i]);
      last_was_star = false;
    } else if (c == '*') {
      if (last_was_star) {
        error = "Consecutive wildcard characters at pos " + std::to_string(i);
        return std::nullopt;
      }
      g.parts.emplace_back();
      last_was_star = true;
    } else {
      g.parts.back().push_back(c);
      last_was_star = false;
    }
  }
  return g;
}

namespace {

bool parse_ip(std::string_view ip, bool& v6, uint8_t out[16]) {
  char buf[64];
  if (ip.empty() || ip.size() >= sizeof(buf)) return false;
  std::memcpy(buf, ip.data(), ip.size());
  buf[ip.size()] = 0;
  v6 = ip.find(':') != std::string_view::npos;
  std::memset(out, 0, 16);
  return inet_pton(v6 ? AF_INET6 : AF_INET, buf, out) == 1;
}

}  // namespace

std::optional<Cidr> parse_cidr(std::string_view text, std::string& error) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || text.find('/', slash + 1) != std::string_view::npos) {
    error = "Malformed CIDR, one '/' required";
    return std::nullopt;
  }
  std::string_view ip = text.substr(0, slash), mask = text.substr(slash + 1);
  int bits = 0;
  auto r = std::from_chars(mask.data(), mask.data() + mask.size(), bits);
  if (mask.empty() || r.ec != std::errc() || r.ptr != mask.data() + mask.size() || mask[0] == '-' ||
      mask[0] == '+') {
    error = "Malformed CIDR, mask bits must be an integer";
    return std::nullopt;
  }
  Cidr c;
  if (!parse_ip(ip, c.v6, c.addr)) {
    error = "Nonstandard IP address: " + std::string(ip);
    return std::nullopt;
  }
  if (bits < 0 || bits > (c.v6 ? 128 : 32)) {
    error = "Malformed CIDR, mask bits must be between 0 and " + std::to_string(c.v6 ? 128 : 32);
    return std::nullopt;
  }
  c.bits = bits;
  for (int b = bits; b < 128; ++b) c.addr[b / 8] &= static_cast<uint8_t>(~(0x80u >> (b % 8)));
  return c;
}

bool Cidr::contains(std::string_view ip) const {
  bool is_v6 = false;
  uint8_t a[16];
  if (!parse_ip(ip, is_v6, a) || is_v6 != v6) return false;
  int full = bits / 8;
  if (std::memcmp(a, addr, full) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  uint8_t m = static_cast<uint8_t>(0xFF00u >> rest);
  return (a[full] & m) == addr[full];
}

}  // namespace ferry::pattern::internal
