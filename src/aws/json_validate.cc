#include "aws/json_validate.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "aws/wire_path.h"
#include "base/crypto.h"

namespace ferry::aws {

namespace json = boost::json;

namespace {

std::string_view name_or(std::string_view name, std::string_view fallback) {
  return name.empty() ? fallback : name;
}

base::Unexpected<ProtocolError> serialization(std::string message) {
  return base::fail(
      ProtocolError{kMalformedInput, std::move(message), 400, kSerializationExceptionType});
}

std::string_view value_token(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return "STRING_VALUE";
    case json::kind::bool_:
      return v.get_bool() ? "TRUE_VALUE" : "FALSE_VALUE";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "NUMBER_VALUE";
    default:
      return "VALUE";
  }
}

std::string_view target_name(ShapeType t) {
  switch (t) {
    case ShapeType::kString:
      return "a String";
    case ShapeType::kInteger:
      return "an Integer";
    case ShapeType::kLong:
      return "a Long";
    case ShapeType::kFloat:
      return "a Float";
    case ShapeType::kDouble:
      return "a Double";
    case ShapeType::kBoolean:
      return "a Boolean";
    case ShapeType::kBlob:
      return "a ByteBuffer";
    case ShapeType::kTimestamp:
      return "a Date";
    default:
      return "a value";
  }
}

std::string cannot_convert(const json::value& v, ShapeType t) {
  return std::string(value_token(v)) + " can not be converted to " + std::string(target_name(t));
}

// What AWS's deserializer says when it meets a list or an object where it expects something
// else.
std::string unexpected_start(const json::value& v) {
  return v.is_array() ? "Start of list found where not expected"
                      : "Start of structure or map found where not expected.";
}

bool fits_integer(const json::value& v, int64_t lo, int64_t hi) {
  if (v.is_int64()) return v.get_int64() >= lo && v.get_int64() <= hi;
  if (v.is_uint64()) return v.get_uint64() <= static_cast<uint64_t>(hi);
  if (v.is_double()) {
    double d = v.get_double();
    return std::isfinite(d) && std::floor(d) == d && d >= static_cast<double>(lo) &&
           d <= static_cast<double>(hi);
  }
  return false;
}

// Whether `v` has the JSON type of `type`, a scalar shape (never for lists, maps and
// structures, which the walks below take apart).
bool scalar_fits(ShapeType type, const json::value& v) {
  switch (type) {
    case ShapeType::kString:
      return v.is_string();
    case ShapeType::kBlob:
      return v.is_string() && base::base64_valid(v.get_string());
    case ShapeType::kInteger:
      return fits_integer(v, std::numeric_limits<int32_t>::min(),
                          std::numeric_limits<int32_t>::max());
    case ShapeType::kLong:
      return fits_integer(v, std::numeric_limits<int64_t>::min(),
                          std::numeric_limits<int64_t>::max());
    case ShapeType::kFloat:
    case ShapeType::kDouble:
    case ShapeType::kTimestamp:
      return v.is_number();
    case ShapeType::kBoolean:
      return v.is_bool();
    default:
      return false;
  }
}

// The common case first: one walk over the members the input has, which answers only "valid"
// or "maybe not". On "maybe not" the two passes below find the error AWS reports first. `nulls`
// is set if a null member or list item was seen (strip_nulls has work to do).
bool quick_valid(const MemberRef& ref, const json::value& v, bool& nulls);

bool quick_valid_structure(const Shape& shape, const json::object& obj, bool& nulls) {
  int required_seen = 0;
  for (const auto& entry : obj) {
    if (entry.value().is_null()) {
      nulls = true;
      continue;
    }
    const MemberRef* m = shape.find_member(entry.key());
    if (m == nullptr) continue;
    if (!quick_valid(*m, entry.value(), nulls)) return false;
    if (m->required) ++required_seen;
  }
  return required_seen == shape.required_count;
}

bool quick_valid(const MemberRef& ref, const json::value& v, bool& nulls) {
  const Shape& shape = *ref.shape;
  switch (shape.type) {
    case ShapeType::kStructure:
      return v.is_object() && quick_valid_structure(shape, v.get_object(), nulls);
    case ShapeType::kList:
      if (!v.is_array()) return false;
      for (const auto& item : v.get_array()) {
        if (item.is_null()) {
          nulls = true;
        } else if (!quick_valid(shape.member, item, nulls)) {
          return false;
        }
      }
      return true;
    case ShapeType::kMap:
      if (!v.is_object()) return false;
      for (const auto& entry : v.get_object()) {
        if (entry.value().is_null()) {
          nulls = true;
        } else if (!quick_valid(shape.value, entry.value(), nulls)) {
          return false;
        }
      }
      return true;
    default:
      return scalar_fits(shape.type, v);
  }
}

// Pass 1: every present value has the JSON type of its shape.
Result<base::Ok> check_types(const MemberRef& ref, const json::value& v);

Result<base::Ok> check_structure_types(const Shape& shape, const json::object& obj) {
  for (const MemberRef& m : shape.members) {
    const json::value* v = obj.if_contains(m.name);
    if (v == nullptr || v->is_null()) continue;
    if (auto r = check_types(m, *v); !r) return r;
  }
  return base::Ok{};
}

Result<base::Ok> check_types(const MemberRef& ref, const json::value& v) {
  const Shape& shape = *ref.shape;
  switch (shape.type) {
    case ShapeType::kStructure:
      if (v.is_object()) return check_structure_types(shape, v.get_object());
      if (v.is_array()) return serialization(unexpected_start(v));
      return serialization("Expected null");
    case ShapeType::kList:
      if (v.is_array()) {
        for (const auto& item : v.get_array()) {
          if (item.is_null()) continue;
          if (auto r = check_types(shape.member, item); !r) return r;
        }
        return base::Ok{};
      }
      if (v.is_object()) return serialization(unexpected_start(v));
      return serialization("Expected list or null");
    case ShapeType::kMap:
      if (v.is_object()) {
        for (const auto& entry : v.get_object()) {
          if (entry.value().is_null()) continue;
          if (auto r = check_types(shape.value, entry.value()); !r) return r;
        }
        return base::Ok{};
      }
      if (v.is_array()) return serialization(unexpected_start(v));
      return serialization("Expected map or null");
    default:
      break;
  }
  if (v.is_array() || v.is_object()) return serialization(unexpected_start(v));
  if (scalar_fits(shape.type, v)) return base::Ok{};
  if (shape.type == ShapeType::kBlob && v.is_string()) {
    return serialization("Base64 encoded value is invalid");
  }
  return serialization(cannot_convert(v, shape.type));
}

// Pass 2: required members are present. Missing members are named by their Query path
// ("SendMessageBatchRequestEntry.2.Id"), except at the top level, where AWS names them as in
// JSON ("Entries").
Result<base::Ok> check_required(const MemberRef& ref, const json::value& v, const WirePath& path);

Result<base::Ok> check_structure_required(const Shape& shape, const json::object& obj,
                                          const WirePath& prefix) {
  for (const MemberRef& m : shape.members) {
    const json::value* v = obj.if_contains(m.name);
    WirePath path = prefix.child(m.query_name());
    if (v == nullptr || v->is_null()) {
      if (m.required) {
        std::string name = prefix.is_root() ? m.name : path.str();
        std::string coral = name;
        if (!coral.empty()) coral[0] = static_cast<char>(std::tolower(coral[0]));
        return base::fail(ProtocolError{kMissingParameter,
                                        "The request must contain the parameter " + name + ".", 400,
                                        kMissingParameterType, std::move(coral)});
      }
      continue;
    }
    if (auto r = check_required(m, *v, path); !r) return r;
  }
  return base::Ok{};
}

Result<base::Ok> check_required(const MemberRef& ref, const json::value& v, const WirePath& path) {
  const Shape& shape = *ref.shape;
  switch (shape.type) {
    case ShapeType::kStructure:
      return check_structure_required(shape, v.get_object(), path);
    case ShapeType::kList: {
      WirePath items =
          ref.is_flattened() ? path : path.child(name_or(shape.member.location(), "member"));
      int64_t index = 0;
      for (const auto& item : v.get_array()) {
        if (item.is_null()) continue;
        if (auto r = check_required(shape.member, item, items.child(++index)); !r) return r;
      }
      return base::Ok{};
    }
    case ShapeType::kMap: {
      WirePath entries = ref.is_flattened() ? path : path.child("entry");
      std::string_view value_name = name_or(shape.value.location(), "value");
      int64_t index = 0;
      for (const auto& entry : v.get_object()) {
        if (entry.value().is_null()) continue;
        WirePath entry_path = entries.child(++index);
        if (auto r = check_required(shape.value, entry.value(), entry_path.child(value_name)); !r) {
          return r;
        }
      }
      return base::Ok{};
    }
    default:
      return base::Ok{};
  }
}

void strip_nulls(json::value& v) {
  if (v.is_object()) {
    json::object& o = v.get_object();
    for (auto it = o.begin(); it != o.end();) {
      if (it->value().is_null()) {
        it = o.erase(it);
      } else {
        strip_nulls(it->value());
        ++it;
      }
    }
  } else if (v.is_array()) {
    json::array& a = v.get_array();
    for (auto it = a.begin(); it != a.end();) {
      if (it->is_null()) {
        it = a.erase(it);
      } else {
        strip_nulls(*it);
        ++it;
      }
    }
  }
}

Result<base::Ok> validate_structure(const Operation& op, const json::object& input, bool& nulls) {
  if (op.input == nullptr) return base::Ok{};
  if (quick_valid_structure(*op.input, input, nulls)) return base::Ok{};
  nulls = true;  // the quick walk may have stopped early
  if (auto r = check_structure_types(*op.input, input); !r) return r;
  return check_structure_required(*op.input, input, WirePath{});
}

}  // namespace

Result<base::Ok> validate_json_input(const ServiceModel& model, const Operation& op,
                                     const json::value& input) {
  if (!input.is_object()) {
    if (input.is_array()) return serialization(unexpected_start(input));
    return serialization("");
  }
  return validate_json_input(model, op, input.get_object());
}

Result<base::Ok> validate_json_input(const ServiceModel& /*model*/, const Operation& op,
                                     const json::object& input) {
  bool nulls = false;
  return validate_structure(op, input, nulls);
}

Result<json::object> parse_json_input(const ServiceModel& model, const Operation& op,
                                      std::string_view body) {
  json::value doc;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    doc = json::object();
  } else {
    boost::system::error_code ec;
    doc = json::parse(body, ec);  // nesting beyond parse_options::max_depth (32) is an error
    if (ec) return serialization("");
  }
  if (!doc.is_object()) return base::fail(validate_json_input(model, op, doc).error());
  // Nulls under members the model does not know stay: no handler reads those.
  bool nulls = op.input == nullptr;
  if (auto r = validate_structure(op, doc.get_object(), nulls); !r) return base::fail(r.error());
  if (nulls) strip_nulls(doc);
  return std::move(doc.get_object());
}

}  // namespace ferry::aws
