#include "aws/query.h"

#include <algorithm>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>

#include "aws/wire_path.h"
#include "base/crypto.h"
#include "base/xml.h"

namespace ferry::aws {

namespace json = boost::json;

namespace {

std::string_view name_or(std::string_view name, std::string_view fallback) {
  return name.empty() ? fallback : name;
}

// Deeper parameter names cannot match any shape; ignoring them bounds the parameter tree (and
// the recursion that walks and frees it).
constexpr size_t kMaxDepth = 32;
constexpr std::string_view kSqsNamespace = "http://queue.amazonaws.com/doc/2012-11-05/";

base::Unexpected<ProtocolError> malformed(std::string message) {
  return base::fail(
      ProtocolError{kMalformedInput, std::move(message), 400, kSerializationExceptionType});
}

base::Unexpected<ProtocolError> missing(std::string_view path) {
  return base::fail(ProtocolError{
      kMissingParameter, "The request must contain the parameter " + std::string(path) + ".", 400,
      kMissingParameterType});
}

// ---------------------------------------------------------------------------------------------
// Parameter tree: "A.1.B=x" becomes A -> 1 -> B (value x). Views point into the QueryParams.

struct Node {
  std::optional<std::string_view> value;
  std::map<std::string_view, Node, std::less<>> children;

  const Node* child(std::string_view name) const {
    auto it = children.find(name);
    return it == children.end() ? nullptr : &it->second;
  }
};

void insert(Node& root, std::string_view key, std::string_view value) {
  Node* node = &root;
  size_t depth = 0;
  for (size_t start = 0;;) {
    size_t dot = key.find('.', start);
    std::string_view segment = key.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (++depth > kMaxDepth) return;
    node = &node->children[segment];
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (!node->value) node->value = value;  // the first of repeated parameters wins
}

// ---------------------------------------------------------------------------------------------
// Scalars.

std::optional<int64_t> parse_int(std::string_view s, int64_t lo, int64_t hi) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+') return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+') return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

// Fixed-width decimal field of `n` digits at s[pos]; advances pos.
std::optional<int> digits(std::string_view s, size_t& pos, size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

// ISO 8601 date-time (YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), the zone optional and
// UTC by default) or epoch seconds, as epoch seconds.
std::optional<double> parse_timestamp(std::string_view s) {
  if (auto epoch = parse_double(s)) return epoch;
  size_t pos = 0;
  auto year = digits(s, pos, 4);
  if (!year || pos >= s.size() || s[pos++] != '-') return std::nullopt;
  auto month = digits(s, pos, 2);
  if (!month || pos >= s.size() || s[pos++] != '-') return std::nullopt;
  auto day = digits(s, pos, 2);
  if (!day || pos >= s.size() || (s[pos] != 'T' && s[pos] != 't')) return std::nullopt;
  ++pos;
  auto hour = digits(s, pos, 2);
  if (!hour || pos >= s.size() || s[pos++] != ':') return std::nullopt;
  auto minute = digits(s, pos, 2);
  if (!minute || pos >= s.size() || s[pos++] != ':') return std::nullopt;
  auto second = digits(s, pos, 2);
  if (!second) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 ||
      *second > 60) {
    return std::nullopt;
  }
  double fraction = 0;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    double scale = 0.1;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      fraction += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos++] == '-' ? -1 : 1;
    auto oh = digits(s, pos, 2);
    if (!oh) return std::nullopt;
    if (pos < s.size() && s[pos] == ':') ++pos;
    auto om = digits(s, pos, 2);
    if (!om || *oh > 23 || *om > 59) return std::nullopt;
    offset = sign * (*oh * 3600 + *om * 60);
  }
  if (pos != s.size()) return std::nullopt;
  int64_t days = days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
  int64_t secs = days * 86400 + *hour * 3600 + *minute * 60 + *second - offset;
  return static_cast<double>(secs) + fraction;
}

json::value epoch_value(double seconds) {
  double whole = 0;
  if (std::modf(seconds, &whole) == 0.0 && std::fabs(whole) < 9.0e15) {
    return json::value(static_cast<int64_t>(whole));
  }
  return json::value(seconds);
}

std::string format_double(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  if (ec != std::errc()) return "0";
  return std::string(buf, end);
}

// ISO 8601 in UTC with milliseconds when there are any: 2024-01-02T03:04:05Z, ...05.678Z.
std::string format_timestamp(double seconds) {
  if (!std::isfinite(seconds) || seconds < -62135596800.0 || seconds > 253402300799.0) {
    return format_double(seconds);
  }
  auto millis = static_cast<int64_t>(std::llround(seconds * 1000));
  int64_t secs = millis >= 0 ? millis / 1000 : (millis - 999) / 1000;
  auto ms = static_cast<int>(millis - secs * 1000);
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  auto sod = static_cast<int>(secs - days * 86400);
  int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char buf[40];
  int n = ms == 0
              ? std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02dZ",
                              static_cast<int>(y), m, d, sod / 3600, sod / 60 % 60, sod % 60)
              : std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                              static_cast<int>(y), m, d, sod / 3600, sod / 60 % 60, sod % 60, ms);
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

// ---------------------------------------------------------------------------------------------
// Decoding.

Result<json::value> decode(const MemberRef& ref, const Node& node, const WirePath& path);

Result<json::value> decode_scalar(const Shape& shape, const Node& node, const WirePath& path) {
  if (!node.children.empty()) return malformed("Start of list found where not expected");
  std::string_view v = node.value.value_or(std::string_view());
  switch (shape.type) {
    case ShapeType::kString:
      return json::value(json::string(v));
    case ShapeType::kInteger:
    case ShapeType::kLong: {
      bool is_long = shape.type == ShapeType::kLong;
      auto n = is_long ? parse_int(v, std::numeric_limits<int64_t>::min(),
                                   std::numeric_limits<int64_t>::max())
                       : parse_int(v, std::numeric_limits<int32_t>::min(),
                                   std::numeric_limits<int32_t>::max());
      if (!n) {
        return malformed("Value " + std::string(v) + " for parameter " + path.str() +
                         " is not a valid " + (is_long ? "long" : "integer") + ".");
      }
      return json::value(*n);
    }
    case ShapeType::kFloat:
    case ShapeType::kDouble: {
      auto d = parse_double(v);
      if (!d) {
        return malformed("Value " + std::string(v) + " for parameter " + path.str() +
                         " is not a valid number.");
      }
      return json::value(*d);
    }
    case ShapeType::kBoolean:
      if (iequals(v, "true")) return json::value(true);
      if (iequals(v, "false")) return json::value(false);
      return malformed("Value " + std::string(v) + " for parameter " + path.str() +
                       " is not a valid boolean.");
    case ShapeType::kBlob:
      if (!base::base64_decode(v)) {
        return malformed("Value for parameter " + path.str() + " is not valid base64.");
      }
      return json::value(json::string(v));
    case ShapeType::kTimestamp: {
      auto t = parse_timestamp(v);
      if (!t) return malformed("timestamp must follow ISO8601");
      return epoch_value(*t);
    }
    default:
      break;
  }
  return malformed("Unexpected shape for parameter " + path.str());
}

// The children of a list or map node in index order. Indices are positive decimal integers
// without leading zeros (what AWS's Query front end enforces).
Result<std::vector<std::pair<int64_t, const Node*>>> indexed(const Node& node) {
  std::vector<std::pair<int64_t, const Node*>> items;
  items.reserve(node.children.size());
  for (const auto& [name, child] : node.children) {
    bool numeric = !name.empty() && std::all_of(name.begin(), name.end(),
                                                [](char c) { return c >= '0' && c <= '9'; });
    if (!numeric) return malformed("Start of list found where not expected");
    if (name == "0") return malformed("0 is not a valid index");
    if (name.front() == '0') return malformed("Value found where not expected");
    auto index = parse_int(name, 1, std::numeric_limits<int32_t>::max());
    if (!index) return malformed("Index " + std::string(name) + " is illegal");
    items.emplace_back(*index, &child);
  }
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return items;
}

// A node that should hold a list or map but carries a plain value: the empty marker botocore
// sends for an empty list ("Name="), else a value where a list was expected.
Result<base::Ok> check_container_value(const Node& node) {
  if (node.value && !node.value->empty()) return malformed("Value found where not expected");
  return base::Ok{};
}

Result<json::value> decode_list(const Shape& shape, const MemberRef& ref, const Node& node,
                                const WirePath& path) {
  if (auto ok = check_container_value(node); !ok) return base::fail(ok.error());
  json::array out;
  const Node* items_node = &node;
  std::string_view member_name = name_or(shape.member.location(), "member");
  WirePath items_path = ref.is_flattened() ? path : path.child(member_name);
  if (!ref.is_flattened()) {
    items_node = node.child(member_name);
    if (items_node == nullptr) return json::value(std::move(out));
    if (auto ok = check_container_value(*items_node); !ok) return base::fail(ok.error());
  }
  auto items = indexed(*items_node);
  if (!items) return base::fail(items.error());
  out.reserve(items->size());
  for (const auto& [index, child] : *items) {
    auto v = decode(shape.member, *child, items_path.child(index));
    if (!v) return v;
    out.push_back(std::move(v.value()));
  }
  return json::value(std::move(out));
}

Result<json::value> decode_map(const Shape& shape, const MemberRef& ref, const Node& node,
                               const WirePath& path) {
  if (auto ok = check_container_value(node); !ok) return base::fail(ok.error());
  json::object out;
  const Node* entries_node = &node;
  WirePath entries_path = ref.is_flattened() ? path : path.child("entry");
  if (!ref.is_flattened()) {
    entries_node = node.child("entry");
    if (entries_node == nullptr) return json::value(std::move(out));
    if (auto ok = check_container_value(*entries_node); !ok) return base::fail(ok.error());
  }
  std::string_view key_name = name_or(shape.key.location(), "key");
  std::string_view value_name = name_or(shape.value.location(), "value");
  auto entries = indexed(*entries_node);
  if (!entries) return base::fail(entries.error());
  for (const auto& [index, entry] : *entries) {
    WirePath entry_path = entries_path.child(index);
    const Node* key = entry->child(key_name);
    if (key == nullptr || !key->value) return missing(path.child(key_name).str());
    if (!key->children.empty()) return malformed("Start of list found where not expected");
    const Node* value = entry->child(value_name);
    if (value == nullptr) return missing(path.child(value_name).str());
    auto v = decode(shape.value, *value, entry_path.child(value_name));
    if (!v) return v;
    json::string_view k(key->value->data(), key->value->size());
    if (!out.contains(k)) out.emplace(k, std::move(v.value()));  // the first entry for a key wins
  }
  return json::value(std::move(out));
}

Result<json::object> decode_structure(const Shape& shape, const Node& node, const WirePath& path) {
  json::object out;
  for (auto m_it = shape.members.begin(); m_it != shape.members.end(); ++m_it) {
    const MemberRef& m = *m_it;
    std::string_view wire = m.query_name();
    // Two members with one wire name (SQS ReceiveMessage: AttributeNames and its successor
    // MessageSystemAttributeNames are both AttributeName.N): the first in model order takes it.
    if (std::any_of(shape.members.begin(), m_it,
                    [&](const MemberRef& earlier) { return earlier.query_name() == wire; })) {
      continue;
    }
    const Node* child = node.child(wire);
    if (child == nullptr) {
      // botocore sends an empty list as "Name=" under the member's own name.
      if (m.shape->type == ShapeType::kList) {
        std::string_view own = name_or(m.location(), m.name);
        const Node* marker = node.child(own);
        if (marker != nullptr && marker->children.empty() && marker->value &&
            marker->value->empty()) {
          out.emplace(m.name, json::array());
        }
      }
      continue;
    }
    auto v = decode(m, *child, path.child(wire));
    if (!v) return base::fail(v.error());
    out.emplace(m.name, std::move(v.value()));
  }
  return out;
}

Result<json::value> decode(const MemberRef& ref, const Node& node, const WirePath& path) {
  const Shape& shape = *ref.shape;
  switch (shape.type) {
    case ShapeType::kStructure: {
      // A plain value where a structure is expected carries nothing; required members are
      // reported by validation.
      auto s = decode_structure(shape, node, path);
      if (!s) return base::fail(s.error());
      return json::value(std::move(s.value()));
    }
    case ShapeType::kList:
      return decode_list(shape, ref, node, path);
    case ShapeType::kMap:
      return decode_map(shape, ref, node, path);
    default:
      return decode_scalar(shape, node, path);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding.

void write(base::XmlWriter& w, const MemberRef& ref, const json::value& v, std::string_view name);

std::string scalar_text(const Shape& shape, const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return std::string(v.get_string());
    case json::kind::bool_:
      return v.get_bool() ? "true" : "false";
    case json::kind::int64:
      if (shape.type == ShapeType::kTimestamp)
        return format_timestamp(static_cast<double>(v.get_int64()));
      return std::to_string(v.get_int64());
    case json::kind::uint64:
      if (shape.type == ShapeType::kTimestamp)
        return format_timestamp(static_cast<double>(v.get_uint64()));
      return std::to_string(v.get_uint64());
    case json::kind::double_:
      if (shape.type == ShapeType::kTimestamp) return format_timestamp(v.get_double());
      return format_double(v.get_double());
    default:
      return {};
  }
}

void write_structure(base::XmlWriter& w, const Shape& shape, const json::object& obj) {
  for (const MemberRef& m : shape.members) {
    const json::value* v = obj.if_contains(m.name);
    if (v == nullptr || v->is_null()) continue;
    write(w, m, *v, m.query_name());
  }
}

void write(base::XmlWriter& w, const MemberRef& ref, const json::value& v, std::string_view name) {
  const Shape& shape = *ref.shape;
  switch (shape.type) {
    case ShapeType::kStructure:
      if (!v.is_object()) return;
      w.open(name);
      write_structure(w, shape, v.get_object());
      w.close();
      return;
    case ShapeType::kList: {
      if (!v.is_array()) return;
      if (ref.is_flattened()) {
        for (const auto& item : v.get_array()) {
          if (!item.is_null()) write(w, shape.member, item, name);
        }
        return;
      }
      std::string_view item_name = name_or(shape.member.location(), "member");
      w.open(name);
      for (const auto& item : v.get_array()) {
        if (!item.is_null()) write(w, shape.member, item, item_name);
      }
      w.close();
      return;
    }
    case ShapeType::kMap: {
      if (!v.is_object()) return;
      std::string_view key_name = name_or(shape.key.location(), "key");
      std::string_view value_name = name_or(shape.value.location(), "value");
      bool flattened = ref.is_flattened();
      if (!flattened) w.open(name);
      for (const auto& entry : v.get_object()) {
        if (entry.value().is_null()) continue;
        w.open(flattened ? name : std::string_view("entry"));
        w.leaf(key_name, entry.key());
        write(w, shape.value, entry.value(), value_name);
        w.close();
      }
      if (!flattened) w.close();
      return;
    }
    default:
      if (v.is_object() || v.is_array() || v.is_null()) return;
      w.leaf(name, scalar_text(shape, v));
      return;
  }
}

}  // namespace

Result<QueryParams> parse_form(std::string_view body) {
  QueryParams params;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  size_t start = 0;
  while (start <= body.size()) {
    size_t amp = body.find('&', start);
    std::string_view pair =
        body.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      std::string_view name = pair.substr(0, eq);
      std::string_view value =
          eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      // Most names and many values need no decoding: copy those (a Publish of a 1 KiB
      // message spent 25k instructions in percent-decoding otherwise).
      auto plain = [](std::string_view v) {
        return v.find('%') == std::string_view::npos && v.find('+') == std::string_view::npos;
      };
      auto decode = [&](std::string_view v) -> std::optional<std::string> {
        if (plain(v)) return std::string(v);
        auto pct = boost::urls::make_pct_string_view(v);
        if (pct.has_error()) return std::nullopt;
        return pct->decode(opts);
      };
      auto decoded_name = decode(name);
      auto decoded_value = decode(value);
      if (!decoded_name || !decoded_value) {
        return base::fail(ProtocolError{
            kMalformedQueryString, "The request contains a malformed percent-encoding.", 400, {}});
      }
      params.emplace_back(std::move(*decoded_name), std::move(*decoded_value));
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return params;
}

Result<json::object> decode_query(const ServiceModel& /*model*/, const Operation& op,
                                  const QueryParams& params) {
  if (op.input == nullptr) return json::object();
  const Shape& input = *op.input;
  // Only parameters under a top-level name of the input shape are worth a place in the tree.
  std::vector<std::string_view> roots;
  for (const MemberRef& m : input.members) {
    roots.push_back(m.query_name());
    roots.push_back(name_or(m.location(), m.name));
  }
  Node root;
  for (const auto& [name, value] : params) {
    std::string_view key = name;
    std::string_view head = key.substr(0, key.find('.'));
    if (std::find(roots.begin(), roots.end(), head) == roots.end()) continue;
    insert(root, key, value);
  }
  return decode_structure(input, root, WirePath{});
}

std::string encode_query_response(const ServiceModel& model, const Operation& op,
                                  const json::object& output, std::string_view request_id) {
  base::XmlWriter w;
  w.open(op.name + "Response", model.xml_namespace());
  if (op.output != nullptr) {
    w.open(op.result_wrapper.empty() ? op.name + "Result" : op.result_wrapper);
    write_structure(w, *op.output, output);
    w.close();
  }
  w.open("ResponseMetadata");
  w.leaf("RequestId", request_id);
  w.close();
  w.close();
  return w.take();
}

namespace {

std::string error_document(std::string_view ns, bool detail, std::string_view type,
                           std::string_view code, std::string_view message,
                           std::string_view request_id) {
  std::string out = "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"";
  base::xml_escape(out, ns);
  out += "\"><Error><Type>";
  base::xml_escape(out, type);
  out += "</Type><Code>";
  base::xml_escape(out, code);
  out += "</Code><Message>";
  base::xml_escape(out, message);
  out += "</Message>";
  if (detail) out += "<Detail/>";
  out += "</Error><RequestId>";
  base::xml_escape(out, request_id);
  out += "</RequestId></ErrorResponse>";
  return out;
}

}  // namespace

std::string encode_query_error(const ServiceModel& model, std::string_view type,
                               std::string_view code, std::string_view message,
                               std::string_view request_id) {
  return error_document(model.xml_namespace(), model.service() == "sqs", type, code, message,
                        request_id);
}

std::string encode_query_error(std::string_view type, std::string_view code,
                               std::string_view message, std::string_view request_id) {
  return error_document(kSqsNamespace, true, type, code, message, request_id);
}

}  // namespace ferry::aws
