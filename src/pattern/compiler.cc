// Pattern JSON -> Program: validation with AWS's messages, then $or and mixed exists:false
// expanded into alternatives (disjunctive normal form).
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>

#include "pattern/ast.h"

namespace ferry::pattern::internal {

namespace json = boost::json;

NumberSpec number_spec(Dialect dialect) {
  if (dialect == Dialect::kEventBridge) return {5e9, 1e6};
  return {1e9, 1e5};
}

namespace {

using Alternatives = std::vector<Conjunction>;

// An error on its way out; `reason` is AWS's text without the dialect's prefix.
struct Failure {
  std::string reason;
  bool bare = false;  // SNS: the message is not prefixed by "FilterPolicy: "
};

class Compiler {
 public:
  explicit Compiler(Dialect dialect) : dialect_(dialect), spec_(number_spec(dialect)) {}

  bool top(const json::object& root, Alternatives& out) {
    if (root.empty()) {
      if (sns()) {  // SNS treats "{}" as "no filtering"
        out.emplace_back();
        return true;
      }
      return fail("Empty objects are not allowed");
    }
    std::vector<std::string> path;
    if (!object(root, path, 1, out)) return false;
    if (sns()) return sns_limits(root, out);
    return true;
  }

  const Failure& failure() const { return failure_; }

 private:
  bool sns() const { return dialect_ != Dialect::kEventBridge; }

  bool fail(std::string reason, bool bare = false) {
    failure_ = Failure{std::move(reason), bare};
    return false;
  }

  static bool is_or(std::string_view key, const json::value& v) {
    if (key != "$or" || !v.is_array() || v.get_array().empty()) return false;
    for (const auto& e : v.get_array())
      if (!e.is_object()) return false;
    return true;
  }

  bool product(Alternatives& acc, const Alternatives& with) {
    if (acc.size() * with.size() > static_cast<std::size_t>(kMaxAlternatives))
      return fail("Pattern is too complex: more than " + std::to_string(kMaxAlternatives) +
                  " alternatives after expanding $or and exists");
    Alternatives next;
    next.reserve(acc.size() * with.size());
    for (const auto& a : acc) {
      for (const auto& b : with) {
        Conjunction c = a;
        c.constraints.insert(c.constraints.end(), b.constraints.begin(), b.constraints.end());
        next.push_back(std::move(c));
      }
    }
    acc = std::move(next);
    return true;
  }

  // The alternatives of one object of the pattern at `path` (depth 1 = top level).
  bool object(const json::object& o, std::vector<std::string>& path, int depth, Alternatives& out) {
    Alternatives acc(1);
    for (const auto& kv : o) {
      std::string_view key = kv.key();
      const json::value& v = kv.value();
      if (is_or(key, v)) {
        Alternatives any;
        for (const auto& e : v.get_array()) {
          const auto& eo = e.get_object();
          if (eo.empty()) return fail("Empty objects are not allowed");
          Alternatives sub;
          if (!object(eo, path, depth, sub)) return false;
          any.insert(any.end(), sub.begin(), sub.end());
          if (any.size() > static_cast<std::size_t>(kMaxAlternatives))
            return product(acc, any);  // reports the error
        }
        if (!product(acc, any)) return false;
        continue;
      }
      if (v.is_object()) {
        if (dialect_ == Dialect::kSnsAttributes)
          return fail("Filter policy scope MessageAttributes does not support nested filter policy",
                      true);
        if (v.get_object().empty()) return fail("Empty objects are not allowed");
        path.emplace_back(key);
        Alternatives sub;
        bool ok = object(v.get_object(), path, depth + 1, sub);
        path.pop_back();
        if (!ok || !product(acc, sub)) return false;
        continue;
      }
      if (!v.is_array()) return fail("\"" + std::string(key) + "\" must be an object or an array");
      const auto& arr = v.get_array();
      if (arr.empty()) return fail("Empty arrays are not allowed");
      Constraint positive;
      positive.path = path;
      positive.path.emplace_back(key);
      bool absent = false;
      for (const auto& m : arr) {
        Predicate p;
        bool is_absent = false;
        if (!match_value(m, p, is_absent)) return false;
        if (is_absent)
          absent = true;
        else
          positive.any_of.push_back(std::move(p));
      }
      Alternatives variants;
      if (!positive.any_of.empty()) variants.push_back(Conjunction{{positive}});
      if (absent) {
        Constraint a;
        a.path = std::move(positive.path);
        a.absent = true;
        variants.push_back(Conjunction{{std::move(a)}});
      }
      if (!product(acc, variants)) return false;
    }
    for (const auto& c : acc) {
      int n = 0;
      for (const auto& k : c.constraints) n += k.absent ? 0 : 1;
      if (n > kMaxFields)
        return fail("Pattern has more than " + std::to_string(kMaxFields) +
                    " fields in one alternative");
    }
    out = std::move(acc);
    return true;
  }

  static bool is_number(const json::value& v) { return v.is_number(); }
  static double to_double(const json::value& v) {
    if (v.is_int64()) return static_cast<double>(v.get_int64());
    if (v.is_uint64()) return static_cast<double>(v.get_uint64());
    return v.get_double();
  }
  static std::string show(const json::value& v) {
    if (v.is_string()) return std::string(v.get_string());
    return json::serialize(v);
  }

  bool literal(const json::value& v, Literal& out) {
    switch (v.kind()) {
      case json::kind::string:
        out.type = Literal::Type::kString;
        out.text = std::string(v.get_string());
        return true;
      case json::kind::int64:
      case json::kind::uint64:
      case json::kind::double_:
        out.type = Literal::Type::kNumber;
        out.number = make_number(to_double(v), spec_);
        return true;
      case json::kind::bool_:
        out.type = v.get_bool() ? Literal::Type::kTrue : Literal::Type::kFalse;
        return true;
      case json::kind::null:
        out.type = Literal::Type::kNull;
        return true;
      default:
        return false;
    }
  }

  bool string_operand(const json::value& v, std::string_view op, std::string& out) {
    if (!v.is_string()) return fail(std::string(op) + " match pattern must be a string");
    out = std::string(v.get_string());
    return true;
  }

  bool glob(const std::string& text, Glob& out) {
    std::string why;
    auto g = parse_glob(text, why);
    if (!g) return fail(why);
    wildcard_stars_ += g->stars();
    if (wildcard_stars_ > kMaxWildcardComplexity)
      return fail(
          "Rule is too complex - try using fewer wildcard characters or fewer repeating "
          "character sequences after a wildcard character");
    out = std::move(*g);
    return true;
  }

  bool match_value(const json::value& v, Predicate& p, bool& absent) {
    if (!v.is_object()) {
      p.op = Op::kLiteral;
      if (!literal(v, p.literal))
        return fail("Match value must be String, number, true, false, or null");
      return true;
    }
    const auto& o = v.get_object();
    if (o.empty()) return fail("Empty objects are not allowed");
    if (o.size() != 1) return fail("Only one key allowed in match expression");
    std::string_view op = o.begin()->key();
    const json::value& arg = o.begin()->value();
    if (op == "prefix" || op == "suffix") {
      bool pre = op == "prefix";
      if (arg.is_object()) {
        const auto& io = arg.get_object();
        if (io.size() != 1 || io.begin()->key() != "equals-ignore-case")
          return fail("Unsupported " + std::string(op) +
                      " pattern: " + (io.empty() ? std::string() : std::string(io.begin()->key())));
        std::string t;
        if (!string_operand(io.begin()->value(), "equals-ignore-case", t)) return false;
        p.op = pre ? Op::kPrefixIgnoreCase : Op::kSuffixIgnoreCase;
        p.text = fold_case(t);
        return true;
      }
      p.op = pre ? Op::kPrefix : Op::kSuffix;
      return string_operand(arg, op, p.text);
    }
    if (op == "equals-ignore-case") {
      std::string t;
      if (!string_operand(arg, op, t)) return false;
      p.op = Op::kEqualsIgnoreCase;
      p.text = fold_case(t);
      return true;
    }
    if (op == "wildcard" && !sns()) {
      std::string t;
      if (!string_operand(arg, op, t)) return false;
      p.op = Op::kWildcard;
      return glob(t, p.glob);
    }
    if (op == "anything-but") return anything_but(arg, p);
    if (op == "numeric") return numeric(arg, p);
    if (op == "exists") {
      if (!arg.is_bool()) return fail("exists match pattern must be either true or false.");
      if (arg.get_bool())
        p.op = Op::kExists;
      else
        absent = true;
      return true;
    }
    if (op == "cidr") {
      // AWS reports a non-string cidr operand with the prefix message.
      if (!arg.is_string()) return fail("prefix match pattern must be a string");
      std::string why;
      auto c = parse_cidr(arg.get_string(), why);
      if (!c) return fail(why);
      p.op = Op::kCidr;
      p.cidr = *c;
      return true;
    }
    return fail("Unrecognized match type " + std::string(op));
  }

  // A string, or (for equals-ignore-case and wildcard) a non-empty list of strings.
  bool string_list(const json::value& v, std::string_view op, std::vector<std::string>& out) {
    if (v.is_string()) {
      out.emplace_back(v.get_string());
      return true;
    }
    if (v.is_array() && !v.get_array().empty()) {
      for (const auto& e : v.get_array()) {
        if (!e.is_string())
          return fail("Inside anything-but/" + std::string(op) + " list, only strings are allowed");
        out.emplace_back(e.get_string());
      }
      return true;
    }
    return fail(std::string(op) + " match pattern must be a string or a list of strings");
  }

  bool anything_but(const json::value& arg, Predicate& p) {
    if (arg.is_string() || arg.is_number()) {
      p.op = Op::kAnythingBut;
      p.literals.emplace_back();
      literal(arg, p.literals.back());
      return true;
    }
    if (arg.is_array()) {
      const auto& a = arg.get_array();
      if (a.empty()) return fail("Empty arrays are not allowed");
      p.op = Op::kAnythingBut;
      for (const auto& e : a) {
        if (!e.is_string() && !e.is_number())
          return fail("Inside anything but list, start|null|boolean is not supported.");
        p.literals.emplace_back();
        literal(e, p.literals.back());
      }
      return true;
    }
    if (arg.is_object()) {
      const auto& o = arg.get_object();
      if (o.size() != 1)
        return fail(o.empty() ? "Empty objects are not allowed"
                              : "Only one key allowed in match expression");
      std::string_view op = o.begin()->key();
      const json::value& v = o.begin()->value();
      if (op == "prefix" || op == "suffix") {
        p.op = op == "prefix" ? Op::kAnythingButPrefix : Op::kAnythingButSuffix;
        return string_operand(v, op, p.text);
      }
      if (op == "equals-ignore-case") {
        p.op = Op::kAnythingButIgnoreCase;
        if (!string_list(v, op, p.texts)) return false;
        for (auto& t : p.texts) t = fold_case(t);
        return true;
      }
      if (op == "wildcard" && !sns()) {
        p.op = Op::kAnythingButWildcard;
        std::vector<std::string> texts;
        if (!string_list(v, op, texts)) return false;
        for (const auto& t : texts) {
          p.globs.emplace_back();
          if (!glob(t, p.globs.back())) return false;
        }
        return true;
      }
      return fail("Unsupported anything-but pattern: " + std::string(op));
    }
    return fail("Value of anything-but must be an array or single string/number value.");
  }

  std::string limit_text() const {
    return sns() ? "Numeric values must be between -1.0E9 and 1.0E9, inclusive"
                 : "Numeric values must be between -5.0E9 and 5.0E9, inclusive";
  }

  bool numeric(const json::value& arg, Predicate& p) {
    if (!arg.is_array()) return fail("Value of numeric must be an array.");
    const auto& a = arg.get_array();
    if (a.empty()) return fail("Invalid member in numeric match: ]");
    p.op = Op::kNumeric;
    NumericRange& r = p.range;
    auto op_name = [](std::string_view op) {
      return op == "=" ? std::string("equals") : std::string(op);
    };
    if (!a[0].is_string()) return fail("Invalid member in numeric match: " + show(a[0]));
    std::string_view op1 = a[0].get_string();
    if (op1 != "<" && op1 != "<=" && op1 != "=" && op1 != ">" && op1 != ">=")
      return fail("Unrecognized numeric range operator: " + std::string(op1));
    if (a.size() < 2 || !is_number(a[1]))
      return fail("Value of " + op_name(op1) + " must be numeric");
    double v1 = to_double(a[1]);
    Number n1 = make_number(v1, spec_);
    if (!n1.in_range) return fail(limit_text());
    if (op1 == "=") {
      r.has_lo = r.has_hi = r.lo_incl = r.hi_incl = true;
      r.lo = r.hi = n1.q;
    } else if (op1 == "<" || op1 == "<=") {
      r.has_hi = true;
      r.hi_incl = op1 == "<=";
      r.hi = n1.q;
    } else {
      r.has_lo = true;
      r.lo_incl = op1 == ">=";
      r.lo = n1.q;
    }
    if (a.size() == 2) return true;
    if (op1 != ">" && op1 != ">=") return fail("Too many elements in numeric expression");
    if (!a[2].is_string()) return fail("Bad value in numeric range: " + show(a[2]));
    std::string_view op2 = a[2].get_string();
    if (op2 != "<" && op2 != "<=") return fail("Bad numeric range operator: " + std::string(op2));
    if (a.size() < 4 || !is_number(a[3]))
      return fail("Value of " + op_name(op2) + " must be numeric");
    double v2 = to_double(a[3]);
    Number n2 = make_number(v2, spec_);
    if (!n2.in_range) return fail(limit_text());
    if (v2 <= v1) return fail("Bottom must be less than top");
    if (a.size() > 4) return fail("Too many terms in numeric range expression");
    r.has_hi = true;
    r.hi_incl = op2 == "<=";
    r.hi = n2.q;
    return true;
  }

  // SNS: at most 5 keys (leaf fields) per alternative, and at most 150 combinations, counted as
  // AWS documents it: the product, over the keys, of the number of values times the key's depth,
  // with the alternatives of $or summed.
  bool sns_limits(const json::object& root, const Alternatives& alts) {
    for (const auto& c : alts) {
      std::vector<const std::vector<std::string>*> paths;
      for (const auto& k : c.constraints) {
        bool seen = false;
        for (auto* q : paths) seen = seen || *q == k.path;
        if (!seen) paths.push_back(&k.path);
      }
      if (paths.size() > 5) return fail("Filter policy can not have more than 5 keys");
    }
    if (combinations(root, 1) > 150) return fail("Filter policy is too complex");
    return true;
  }

  static uint64_t combinations(const json::object& o, uint64_t depth) {
    constexpr uint64_t kCap = 1u << 30;
    uint64_t c = 1;
    for (const auto& kv : o) {
      uint64_t f = 1;
      if (is_or(kv.key(), kv.value())) {
        f = 0;
        for (const auto& e : kv.value().get_array())
          f = std::min(kCap, f + combinations(e.get_object(), depth));
      } else if (kv.value().is_object()) {
        f = combinations(kv.value().get_object(), depth + 1);
      } else if (kv.value().is_array()) {
        f = kv.value().get_array().size() * depth;
      }
      c = std::min(kCap, c * std::max<uint64_t>(f, 1));
    }
    return c;
  }

  Dialect dialect_;
  NumberSpec spec_;
  Failure failure_;
  int wildcard_stars_ = 0;
};

std::string wrap(Dialect dialect, const Failure& f) {
  if (dialect == Dialect::kEventBridge) return "Event pattern is not valid. Reason: " + f.reason;
  return f.bare ? f.reason : "FilterPolicy: " + f.reason;
}

}  // namespace

Result<Program> compile(std::string_view text, Dialect dialect) {
  bool eb = dialect == Dialect::kEventBridge;
  if (text.size() > kMaxPatternBytes) {
    return error(Errc::kInvalidPattern,
                 wrap(dialect, {eb ? "Event pattern is larger than 262144 bytes"
                                   : "Filter policy is larger than 256 KB"}));
  }
  json::parse_options opts;
  opts.max_depth = kMaxPatternDepth;
  boost::system::error_code ec;
  json::monotonic_resource mr;
  json::value v = json::parse(text, ec, &mr, opts);
  if (ec) {
    std::string why = ec == json::error::too_deep
                          ? "Pattern is nested too deeply (maximum depth " +
                                std::to_string(kMaxPatternDepth) + ")"
                          : (eb ? "Invalid JSON: " : "failed to parse JSON. ") + ec.message();
    return error(Errc::kInvalidPattern, wrap(dialect, {why}));
  }
  if (!v.is_object()) {
    return error(Errc::kInvalidPattern,
                 wrap(dialect, {eb ? "Event pattern must be a JSON object"
                                   : "Filter policy must be a JSON object"}));
  }
  Compiler c(dialect);
  Program prog;
  prog.dialect = dialect;
  if (!c.top(v.get_object(), prog.alternatives))
    return error(Errc::kInvalidPattern, wrap(dialect, c.failure()));
  return prog;
}

}  // namespace ferry::pattern::internal
