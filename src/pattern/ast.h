#pragma once
// The compiled form of one pattern: validated, normalised, in disjunctive normal form.
// Produced by compile() (compiler.cc), consumed by Automaton::build() (automaton.cc).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pattern/errors.h"
#include "pattern/text.h"
#include "pattern/types.h"

namespace ferry::pattern {

namespace internal {

// A JSON literal in a pattern.
struct Literal {
  enum class Type : uint8_t { kString, kNumber, kTrue, kFalse, kNull };
  Type type = Type::kNull;
  std::string text;  // kString
  Number number;     // kNumber
};

enum class Op : uint8_t {
  kLiteral,                // exact match on `literal`
  kPrefix,                 // text
  kSuffix,                 // text
  kEqualsIgnoreCase,       // text (folded)
  kPrefixIgnoreCase,       // text (folded)
  kSuffixIgnoreCase,       // text (folded)
  kWildcard,               // glob
  kNumeric,                // range
  kCidr,                   // cidr
  kExists,                 // exists: true (exists: false is Constraint::absent)
  kAnythingBut,            // literals: matches a value equal to none of them
  kAnythingButPrefix,      // text
  kAnythingButSuffix,      // text
  kAnythingButIgnoreCase,  // texts (folded)
  kAnythingButWildcard,    // globs
};

struct Predicate {
  Op op = Op::kLiteral;
  Literal literal;
  std::string text;
  std::vector<std::string> texts;
  std::vector<Literal> literals;
  Glob glob;
  std::vector<Glob> globs;
  NumericRange range;
  Cidr cidr;
};

// One field of a conjunction: the leaf values at `path` must satisfy one of `any_of`, or, if
// `absent`, there must be no leaf value at `path` anywhere in the event.
struct Constraint {
  std::vector<std::string> path;
  bool absent = false;
  std::vector<Predicate> any_of;
};

struct Conjunction {
  std::vector<Constraint> constraints;  // at most kMaxFields positive ones
};

// A pattern matches an event if any of its alternatives does.
struct Program {
  Dialect dialect = Dialect::kEventBridge;
  std::vector<Conjunction> alternatives;
};

inline constexpr int kMaxFields = 64;          // positive constraints per alternative
inline constexpr int kMaxAlternatives = 1024;  // after expanding $or and mixed exists:false
inline constexpr int kMaxPatternDepth = 64;    // JSON nesting of a pattern
inline constexpr std::size_t kMaxPatternBytes = 256 * 1024;
inline constexpr int kMaxWildcardComplexity = 100;  // '*' per field in one pattern

NumberSpec number_spec(Dialect dialect);

// Parses and validates `json`; errors carry AWS's message for the dialect.
Result<Program> compile(std::string_view json, Dialect dialect);

}  // namespace internal
}  // namespace ferry::pattern
