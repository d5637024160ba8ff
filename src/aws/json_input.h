#pragma once
// Readers for the JSON-shaped request input every service handler receives. The router has
// already checked member types against the service model, so a reader that meets an unexpected
// type treats the member as absent instead of failing.
#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::aws {

// The member's value, or nullptr when it is absent or null.
inline const boost::json::value* member(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

inline bool has(const boost::json::object& o, std::string_view key) {
  return member(o, key) != nullptr;
}

// A view of the string member inside the document (valid while it lives), empty if absent.
inline std::string_view get_string_view(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = member(o, key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

inline std::string get_string(const boost::json::object& o, std::string_view key) {
  return std::string(get_string_view(o, key));
}

inline std::optional<int64_t> get_int(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = member(o, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(std::min<uint64_t>(v->as_uint64(), INT64_MAX));
  if (v->is_double()) return static_cast<int64_t>(v->as_double());
  return std::nullopt;
}

inline std::vector<std::string> get_string_list(const boost::json::object& o,
                                                std::string_view key) {
  std::vector<std::string> out;
  if (const boost::json::value* v = member(o, key); v != nullptr && v->is_array()) {
    for (const auto& e : v->as_array()) {
      if (e.is_string()) out.emplace_back(e.as_string());
    }
  }
  return out;
}

inline std::map<std::string, std::string> get_string_map(const boost::json::object& o,
                                                         std::string_view key) {
  std::map<std::string, std::string> out;
  if (const boost::json::value* v = member(o, key); v != nullptr && v->is_object()) {
    for (const auto& [k, e] : v->as_object()) {
      if (e.is_string()) out[std::string(k)] = std::string(e.as_string());
    }
  }
  return out;
}

}  // namespace ferry::aws
