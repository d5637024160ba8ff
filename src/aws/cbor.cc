#include "aws/cbor.h"

#include <cmath>
#include <cstring>

#include "aws/json_validate.h"
#include "aws/model.h"
#include "base/crypto.h"

namespace ferry::aws {

namespace json = boost::json;

namespace {

constexpr int kMaxDepth = 64;

ProtocolError serialization_error(std::string message) {
  return ProtocolError{kMalformedInput, std::move(message), 400, kSerializationExceptionType};
}

class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}

  Result<json::value> value(int depth) {
    if (depth > kMaxDepth) return base::fail(serialization_error("CBOR nested too deeply"));
    uint8_t initial;
    if (!byte(initial)) return truncated();
    int major = initial >> 5;
    int info = initial & 0x1f;
    if (major == 7) return simple(info);
    uint64_t arg = 0;
    bool indefinite = false;
    if (info == 31) {
      if (major == 0 || major == 1 || major == 6) return bad("invalid indefinite length");
      indefinite = true;
    } else if (!argument(info, arg)) {
      return truncated();
    }
    switch (major) {
      case 0:
        return json::value(arg);
      case 1: {
        if (arg > static_cast<uint64_t>(INT64_MAX)) return bad("negative integer out of range");
        return json::value(-1 - static_cast<int64_t>(arg));
      }
      case 2:
      case 3: {
        std::string s;
        if (indefinite) {
          for (;;) {
            uint8_t b;
            if (!peek(b)) return truncated();
            if (b == 0xff) {
              ++pos_;
              break;
            }
            if ((b >> 5) != major || (b & 0x1f) == 31) return bad("invalid string chunk");
            ++pos_;
            uint64_t n;
            if (!argument(b & 0x1f, n)) return truncated();
            if (!take(n, s)) return truncated();
          }
        } else if (!take(arg, s)) {
          return truncated();
        }
        if (major == 2) return json::value(base::base64_encode(s));
        return json::value(json::string(s));
      }
      case 4: {
        json::array a;
        for (uint64_t i = 0; indefinite || i < arg; ++i) {
          if (indefinite && at_break()) break;
          if (!indefinite && remaining() < arg - i) return truncated();
          auto v = value(depth + 1);
          if (!v) return v;
          a.push_back(std::move(v.value()));
        }
        return json::value(std::move(a));
      }
      case 5: {
        json::object o;
        for (uint64_t i = 0; indefinite || i < arg; ++i) {
          if (indefinite && at_break()) break;
          if (!indefinite && remaining() < (arg - i) * 2) return truncated();
          auto k = value(depth + 1);
          if (!k) return k;
          if (!k->is_string()) return bad("map keys must be text strings");
          auto v = value(depth + 1);
          if (!v) return v;
          o[k->as_string()] = std::move(v.value());
        }
        return json::value(std::move(o));
      }
      case 6:
        return value(depth + 1);  // tags (e.g. 1, epoch time) carry no meaning here
    }
    return bad("unknown major type");
  }

  bool done() const { return pos_ == in_.size(); }

 private:
  Result<json::value> truncated() { return base::fail(serialization_error("truncated CBOR")); }
  Result<json::value> bad(const char* what) {
    return base::fail(serialization_error(std::string("malformed CBOR: ") + what));
  }
  size_t remaining() const { return in_.size() - pos_; }
  bool byte(uint8_t& b) {
    if (pos_ >= in_.size()) return false;
    b = static_cast<uint8_t>(in_[pos_++]);
    return true;
  }
  bool peek(uint8_t& b) const {
    if (pos_ >= in_.size()) return false;
    b = static_cast<uint8_t>(in_[pos_]);
    return true;
  }
  bool at_break() {
    uint8_t b;
    if (peek(b) && b == 0xff) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool argument(int info, uint64_t& out) {
    if (info < 24) {
      out = static_cast<uint64_t>(info);
      return true;
    }
    int n = info == 24 ? 1 : info == 25 ? 2 : info == 26 ? 4 : info == 27 ? 8 : 0;
    if (n == 0 || remaining() < static_cast<size_t>(n)) return false;
    out = 0;
    for (int i = 0; i < n; ++i) out = (out << 8) | static_cast<uint8_t>(in_[pos_++]);
    return true;
  }
  bool take(uint64_t n, std::string& out) {
    if (n > remaining()) return false;
    out.append(in_.substr(pos_, static_cast<size_t>(n)));
    pos_ += static_cast<size_t>(n);
    return true;
  }
  Result<json::value> simple(int info) {
    switch (info) {
      case 20:
        return json::value(false);
      case 21:
        return json::value(true);
      case 22:
      case 23:
        return json::value(nullptr);
      case 25: {
        uint64_t h;
        if (!argument(25, h)) return truncated();
        int exp = static_cast<int>((h >> 10) & 0x1f);
        double mant = static_cast<double>(h & 0x3ff);
        double v = exp == 0    ? std::ldexp(mant, -24)
                   : exp == 31 ? (mant == 0 ? INFINITY : NAN)
                               : std::ldexp(mant + 1024, exp - 25);
        return json::value((h & 0x8000) ? -v : v);
      }
      case 26: {
        uint64_t bits;
        if (!argument(26, bits)) return truncated();
        auto b32 = static_cast<uint32_t>(bits);
        float f;
        std::memcpy(&f, &b32, 4);
        return json::value(static_cast<double>(f));
      }
      case 27: {
        uint64_t bits;
        if (!argument(27, bits)) return truncated();
        double d;
        std::memcpy(&d, &bits, 8);
        return json::value(d);
      }
    }
    return bad("unsupported simple value");
  }

  std::string_view in_;
  size_t pos_ = 0;
};

void head(std::string& out, int major, uint64_t v) {
  auto m = static_cast<char>(major << 5);
  if (v < 24) {
    out.push_back(static_cast<char>(m | static_cast<char>(v)));
    return;
  }
  int n = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffULL ? 4 : 8;
  out.push_back(static_cast<char>(m | (n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27)));
  for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void encode_double(std::string& out, double d) {
  out.push_back(static_cast<char>(0xfb));
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

void encode_int(std::string& out, int64_t v) {
  if (v >= 0) {
    head(out, 0, static_cast<uint64_t>(v));
  } else {
    head(out, 1, static_cast<uint64_t>(-1 - v));
  }
}

double number_of(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  if (v.is_double()) return v.as_double();
  return 0;
}

// Encodes `v` as the model's `shape` says (shape may be null: generic).
void encode(std::string& out, const json::value& v, const Shape* shape) {
  if (shape != nullptr && v.is_string()) {
    if (shape->type == ShapeType::kBlob) {
      auto raw = base::base64_decode(v.as_string());
      std::string bytes = raw ? *raw : std::string();
      head(out, 2, bytes.size());
      out += bytes;
      return;
    }
  }
  if (shape != nullptr && shape->type == ShapeType::kTimestamp && v.is_number()) {
    encode_int(out, static_cast<int64_t>(std::llround(number_of(v) * 1000.0)));
    return;
  }
  switch (v.kind()) {
    case json::kind::null:
      out.push_back(static_cast<char>(0xf6));
      return;
    case json::kind::bool_:
      out.push_back(static_cast<char>(v.as_bool() ? 0xf5 : 0xf4));
      return;
    case json::kind::int64:
      encode_int(out, v.as_int64());
      return;
    case json::kind::uint64:
      head(out, 0, v.as_uint64());
      return;
    case json::kind::double_:
      encode_double(out, v.as_double());
      return;
    case json::kind::string: {
      const auto& s = v.as_string();
      head(out, 3, s.size());
      out.append(s.data(), s.size());
      return;
    }
    case json::kind::array: {
      const auto& a = v.as_array();
      head(out, 4, a.size());
      const Shape* item =
          shape != nullptr && shape->type == ShapeType::kList ? shape->member.shape : nullptr;
      for (const auto& e : a) encode(out, e, item);
      return;
    }
    case json::kind::object: {
      const auto& o = v.as_object();
      head(out, 5, o.size());
      for (const auto& [k, e] : o) {
        head(out, 3, k.size());
        out.append(k.data(), k.size());
        const Shape* sub = nullptr;
        if (shape != nullptr && shape->type == ShapeType::kStructure) {
          if (const MemberRef* m = shape->find_member(k)) sub = m->shape;
        } else if (shape != nullptr && shape->type == ShapeType::kMap) {
          sub = shape->value.shape;
        }
        encode(out, e, sub);
      }
      return;
    }
  }
}

// Converts a decoded request in place: timestamps (ms) to seconds, nulls dropped.
void adapt_input(json::value& v, const Shape* shape) {
  if (shape == nullptr) return;
  switch (shape->type) {
    case ShapeType::kTimestamp:
      if (v.is_number()) v = number_of(v) / 1000.0;
      return;
    case ShapeType::kStructure:
      if (!v.is_object()) return;
      for (auto it = v.as_object().begin(); it != v.as_object().end();) {
        if (it->value().is_null()) {
          it = v.as_object().erase(it);
          continue;
        }
        if (const MemberRef* m = shape->find_member(it->key())) adapt_input(it->value(), m->shape);
        ++it;
      }
      return;
    case ShapeType::kList:
      if (!v.is_array()) return;
      for (auto& e : v.as_array()) adapt_input(e, shape->member.shape);
      return;
    case ShapeType::kMap:
      if (!v.is_object()) return;
      for (auto& [k, e] : v.as_object()) adapt_input(e, shape->value.shape);
      return;
    default:
      return;
  }
}

}  // namespace

Result<json::value> cbor_decode(std::string_view bytes) {
  Decoder d(bytes);
  auto v = d.value(0);
  if (!v) return v;
  if (!d.done()) return base::fail(serialization_error("trailing bytes after the CBOR value"));
  return v;
}

std::string cbor_encode(const json::value& value) {
  std::string out;
  encode(out, value, nullptr);
  return out;
}

Result<json::object> decode_cbor_input(const ServiceModel& model, const Operation& op,
                                       std::string_view body) {
  if (body.empty()) return json::object();
  auto v = cbor_decode(body);
  if (!v) return base::fail(v.error());
  if (!v->is_object()) {
    return base::fail(serialization_error("Start of list found where not expected"));
  }
  adapt_input(v.value(), op.input);
  if (auto valid = validate_json_input(model, op, v.value()); !valid) {
    return base::fail(valid.error());
  }
  return std::move(v.value().as_object());
}

std::string encode_cbor_output(const Operation& op, const json::object& output) {
  std::string out;
  encode(out, json::value(output), op.output);
  return out;
}

std::string encode_cbor_shape(const Shape* shape, const json::value& value) {
  std::string out;
  encode(out, value, shape);
  return out;
}

}  // namespace ferry::aws
