#pragma once
// The compiled matching structure for a set of patterns of one dialect. Immutable once built;
// match_* are const and safe to call from any number of threads at once (per-thread scratch).
//
// Design (see README.md):
// - A trie of the field paths that patterns mention. The event is scanned once, without building
//   a document: keys not in the trie are skipped with a fast skipper, and an object is left as
//   soon as every key the trie expects there has been seen (the top-level object: scanning stops).
// - Each path that carries conditions has a value matcher: hash tables for exact strings, numbers,
//   and case-folded strings; byte tries for prefixes and (reversed) suffixes; sorted interval
//   lists for numeric ranges; short lists for wildcards, CIDRs and anything-but. A value reaching
//   a matcher yields "hits": (alternative, field bit) pairs, precomputed per distinct operand.
// - Every pattern is a set of alternatives (its DNF); an alternative matches when all its field
//   bits are set, no exists:false path was seen, and, if several of its fields were satisfied only
//   inside arrays, some choice of one element per array satisfies all of them together.
// The cost of matching depends on the event and on how many alternatives it hits, not on how
// many patterns are loaded.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pattern/ast.h"

namespace ferry::pattern {

namespace internal {

class Automaton {
 public:
  struct Entry {
    uint32_t pattern;  // caller's index, reported by match
    const Program* program;
  };
  static std::unique_ptr<Automaton> build(const std::vector<Entry>& entries, NumberSpec spec);
  ~Automaton();

  // Appends the indices of matching patterns (each once) to `out`. Malformed input matches
  // nothing it has not already matched before the malformation was reached.
  void match_json(std::string_view event, std::vector<uint32_t>& out) const;
  void match_attributes(std::span<const Attribute> attrs, std::vector<uint32_t>& out) const;

  struct Impl;

 private:
  explicit Automaton(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace internal
}  // namespace ferry::pattern
