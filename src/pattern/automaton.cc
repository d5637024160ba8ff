#include "pattern/automaton.h"

#include <emmintrin.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <map>
#include <unordered_map>

namespace ferry::pattern::internal {

namespace {

constexpr uint32_t kNone = UINT32_MAX;
constexpr int kMaxEventDepth = 256;       // deeper interesting nesting is treated as malformed
constexpr std::size_t kMaxFamily = 256;   // bound on the array-consistency search state
constexpr std::size_t kLinearRanges = 8;  // more numeric ranges on a path: use the index

struct Hit {
  uint32_t conj;
  uint32_t bit;
};
struct Span {
  uint32_t begin = 0, end = 0;
};

inline uint64_t mix(uint64_t h) {
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ull;
  h ^= h >> 32;
  return h;
}

struct SvHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xff51afd7ed558ccdull);
    const char* p = s.data();
    std::size_t n = s.size();
    while (n >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
      h ^= h >> 29;
      p += 8;
      n -= 8;
    }
    if (n) {
      uint64_t w = 0;
      std::memcpy(&w, p, n);
      h = (h ^ w) * 0x94d049bb133111ebull;
    }
    return mix(h);
  }
};
struct SvEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
};
using StrMap = std::unordered_map<std::string, uint32_t, SvHash, SvEq>;

// Immutable string -> slot table: open addressing over cells that keep the full hash, keys in
// one arena; a lookup usually touches one cell and one key.
class StrTable {
 public:
  bool empty() const { return cells_.empty(); }
  void build(const StrMap& m) {
    if (m.empty()) return;
    std::size_t n = 8;
    while (n < 2 * m.size()) n *= 2;
    cells_.assign(n, Cell{});
    mask_ = n - 1;
    for (const auto& [k, slot] : m) {
      uint64_t h = SvHash{}(k);
      std::size_t i = h & mask_;
      while (cells_[i].slot != kNone) i = (i + 1) & mask_;
      cells_[i] =
          Cell{h, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(k.size()), slot};
      arena_ += k;
    }
  }
  uint32_t find(std::string_view k) const {
    uint64_t h = SvHash{}(k);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Cell& c = cells_[i];
      if (c.slot == kNone) return kNone;
      if (c.hash == h && c.len == k.size() &&
          std::memcmp(arena_.data() + c.off, k.data(), c.len) == 0)
        return c.slot;
    }
  }

 private:
  struct Cell {
    uint64_t hash = 0;
    uint32_t off = 0, len = 0;
    uint32_t slot = kNone;
  };
  std::vector<Cell> cells_;
  std::string arena_;
  std::size_t mask_ = 0;
};

// A byte trie whose nodes carry hit slots; walking a value visits every node on its path.
struct Trie {
  struct Node {
    uint32_t slot = kNone;
    uint32_t dense = kNone;  // index into `dense` (256 children) for nodes with many children
    std::vector<std::pair<unsigned char, uint32_t>> next;  // sorted by byte
  };
  std::vector<Node> nodes;
  std::vector<std::array<uint32_t, 256>> dense;
  bool empty() const { return nodes.empty(); }

  void build_dense() {
    for (auto& n : nodes) {
      if (n.next.size() <= 6) continue;
      n.dense = static_cast<uint32_t>(dense.size());
      dense.emplace_back();
      dense.back().fill(kNone);
      for (const auto& [c, to] : n.next) dense.back()[c] = to;
    }
  }

  uint32_t insert(std::string_view key, bool reversed) {
    if (nodes.empty()) nodes.emplace_back();
    uint32_t n = 0;
    for (std::size_t i = 0; i < key.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(reversed ? key[key.size() - 1 - i] : key[i]);
      auto& nx = nodes[n].next;
      auto it = std::lower_bound(nx.begin(), nx.end(), c,
                                 [](const auto& e, unsigned char b) { return e.first < b; });
      if (it != nx.end() && it->first == c) {
        n = it->second;
      } else {
        uint32_t id = static_cast<uint32_t>(nodes.size());
        nx.insert(it, {c, id});
        nodes.emplace_back();
        n = id;
      }
    }
    return n;
  }

  template <class F>
  void walk(std::string_view s, bool reversed, F&& f) const {
    uint32_t n = 0;
    if (nodes[0].slot != kNone) f(nodes[0].slot);
    for (std::size_t i = 0; i < s.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(reversed ? s[s.size() - 1 - i] : s[i]);
      const Node& nd = nodes[n];
      uint32_t to = kNone;
      if (nd.dense != kNone) {
        to = dense[nd.dense][c];
      } else {
        for (const auto& e : nd.next) {
          if (e.first == c) {
            to = e.second;
            break;
          }
          if (e.first > c) break;
        }
      }
      if (to == kNone) return;
      n = to;
      if (nodes[n].slot != kNone) f(nodes[n].slot);
    }
  }
};

// Numeric ranges of one path. Few: a list. Many: the elementary intervals between all the
// bounds, each with the slots of the ranges that cover it (built when the list grows).
struct RangeIndex {
  struct Entry {
    NumericRange range;
    uint32_t slot;
  };
  std::vector<Entry> list;
  // Index: points[i] are sorted distinct bounds; cell 2i+1 is the open interval after points[i],
  // cell 2i is the point itself, cell 0.. before the first (cell index computed in lookup).
  std::vector<int64_t> points;
  std::vector<uint32_t> cell_begin;  // into cell_slots; size cells+1
  std::vector<uint32_t> cell_slots;

  void build_index() {
    if (list.size() <= kLinearRanges) return;
    std::vector<int64_t> pts;
    for (const auto& e : list) {
      if (e.range.has_lo) pts.push_back(e.range.lo);
      if (e.range.has_hi) pts.push_back(e.range.hi);
    }
    std::sort(pts.begin(), pts.end());
    pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
    // cells: 0 = (-inf, p0), 1 = [p0], 2 = (p0, p1), 3 = [p1], ..., 2k = (p_{k-1}, +inf).
    // A range covers a contiguous run of cells; the index stores each cell's covering slots,
    // unless that would take too much memory (overlapping wide ranges), then the list stays.
    std::size_t cells = 2 * pts.size() + 1;
    auto cell_of_point = [&](int64_t v) {
      return 2 * static_cast<std::size_t>(std::lower_bound(pts.begin(), pts.end(), v) -
                                          pts.begin()) +
             1;
    };
    std::vector<std::pair<std::size_t, std::size_t>> runs;  // [first, last] cell per range
    std::size_t total = 0;
    for (const auto& e : list) {
      std::size_t first = 0, last = cells - 1;
      if (e.range.has_lo) first = cell_of_point(e.range.lo) + (e.range.lo_incl ? 0 : 1);
      if (e.range.has_hi) last = cell_of_point(e.range.hi) - (e.range.hi_incl ? 0 : 1);
      runs.emplace_back(first, last);
      if (last >= first) total += last - first + 1;
    }
    if (total > (std::size_t{1} << 22)) return;
    std::vector<uint32_t> count(cells + 1, 0);
    for (const auto& r : runs)
      for (std::size_t c = r.first; c <= r.second && r.second >= r.first; ++c) ++count[c + 1];
    for (std::size_t c = 0; c < cells; ++c) count[c + 1] += count[c];
    cell_begin = count;
    cell_slots.resize(total);
    std::vector<uint32_t> fill(count.begin(), count.end() - 1);
    for (std::size_t i = 0; i < list.size(); ++i)
      for (std::size_t c = runs[i].first; c <= runs[i].second && runs[i].second >= runs[i].first;
           ++c)
        cell_slots[fill[c]++] = list[i].slot;
    points = std::move(pts);
  }

  template <class F>
  void lookup(int64_t q, F&& f) const {
    if (points.empty()) {
      for (const auto& e : list)
        if (e.range.contains(q)) f(e.slot);
      return;
    }
    auto it = std::lower_bound(points.begin(), points.end(), q);
    std::size_t k = static_cast<std::size_t>(it - points.begin());
    std::size_t cell = (it != points.end() && *it == q) ? 2 * k + 1 : 2 * k;
    for (uint32_t i = cell_begin[cell]; i < cell_begin[cell + 1]; ++i) f(cell_slots[i]);
  }
};

struct Leaf {
  uint32_t exists_slot = kNone;
  std::vector<uint32_t> absent;      // alternatives with exists:false on this path
  StrMap exact_build, folded_build;  // while building
  StrTable exact, folded;
  Trie prefix, suffix, fprefix, fsuffix;
  std::unordered_map<int64_t, uint32_t> num;     // in-range numbers by quantised value
  std::unordered_map<double, uint32_t> num_out;  // out-of-range numbers by value
  uint32_t true_slot = kNone, false_slot = kNone, null_slot = kNone;
  RangeIndex ranges;
  std::vector<std::pair<Glob, uint32_t>> globs;
  std::vector<std::pair<Cidr, uint32_t>> cidrs;
  std::vector<std::pair<Predicate, uint32_t>> buts;  // anything-but, all forms
  bool need_fold = false;
};

struct PathNode {
  std::vector<std::pair<std::string, uint32_t>> children;  // sorted by key
  uint32_t leaf = kNone;
};

struct ConjInfo {
  uint32_t pattern;
  uint64_t required;
  bool multi;  // two or more positive fields: array consistency may need checking
};

struct ChainEntry {
  uint32_t array;
  uint32_t index;
};
struct ArrayHit {
  uint64_t bit;
  uint32_t next;
  uint32_t chain_begin;
  uint32_t chain_len;
};
struct Item {
  uint64_t bit;
  const ChainEntry* chain;
  uint32_t len;
};

// Per-thread working memory, reused across calls; `gen` stamps make resetting O(touched).
struct Scratch {
  uint32_t gen = 0;
  std::vector<uint32_t> stamp, vstamp, head, pstamp;
  std::vector<uint64_t> mask, free;
  std::vector<uint32_t> touched;
  std::vector<ArrayHit> ahits;
  std::vector<ChainEntry> chains, chain;
  std::vector<Item> items;
  std::string buf, fold;
  uint32_t leaf_chain = kNone;
  uint32_t next_array = 0;

  void begin(std::size_t nconj, std::size_t npat) {
    if (stamp.size() < nconj) {
      stamp.resize(nconj, 0);
      vstamp.resize(nconj, 0);
      head.resize(nconj, kNone);
      mask.resize(nconj, 0);
      free.resize(nconj, 0);
    }
    if (pstamp.size() < npat) pstamp.resize(npat, 0);
    if (++gen == 0) {
      std::fill(stamp.begin(), stamp.end(), 0);
      std::fill(vstamp.begin(), vstamp.end(), 0);
      std::fill(pstamp.begin(), pstamp.end(), 0);
      gen = 1;
    }
    touched.clear();
    ahits.clear();
    chains.clear();
    chain.clear();
    next_array = 0;
  }
};

thread_local Scratch tls_scratch;

bool literal_equals(const Literal& l, int kind, std::string_view s, const Number* n) {
  // kind: 0 string, 1 number, 2 true, 3 false, 4 null
  switch (l.type) {
    case Literal::Type::kString:
      return kind == 0 && l.text == s;
    case Literal::Type::kNumber:
      return kind == 1 && l.number == *n;
    case Literal::Type::kTrue:
      return kind == 2;
    case Literal::Type::kFalse:
      return kind == 3;
    case Literal::Type::kNull:
      return kind == 4;
  }
  return false;
}

}  // namespace

struct Automaton::Impl {
  NumberSpec spec{};
  std::vector<PathNode> nodes;
  std::vector<Leaf> leaves;
  std::vector<ConjInfo> conjs;
  std::vector<uint32_t> always;
  std::vector<Span> slots;
  std::vector<Hit> hits;
  uint32_t npatterns = 0;

  uint32_t find_child(uint32_t node, std::string_view key) const {
    const auto& ch = nodes[node].children;
    if (ch.size() <= 8) {
      for (const auto& c : ch)
        if (c.first.size() == key.size() && c.first == key) return c.second;
      return kNone;
    }
    auto it = std::lower_bound(ch.begin(), ch.end(), key,
                               [](const auto& e, std::string_view k) { return e.first < k; });
    if (it != ch.end() && it->first == key) return it->second;
    return kNone;
  }
};

namespace {

// ---- build ---------------------------------------------------------------------------------

class Builder {
 public:
  explicit Builder(Automaton::Impl& m) : m_(m) { m_.nodes.emplace_back(); }

  void add(uint32_t pattern, const Program& prog) {
    m_.npatterns = std::max(m_.npatterns, pattern + 1);
    for (const auto& alt : prog.alternatives) {
      uint32_t conj = static_cast<uint32_t>(m_.conjs.size());
      uint32_t bit = 0;
      for (const auto& c : alt.constraints) {
        Leaf& leaf = leaf_for(c.path);
        if (c.absent) {
          leaf.absent.push_back(conj);
          continue;
        }
        Hit h{conj, bit++};
        for (const auto& p : c.any_of) add_predicate(leaf, p, h);
      }
      uint64_t req = bit >= 64 ? ~0ull : ((1ull << bit) - 1);
      m_.conjs.push_back({pattern, req, bit >= 2});
      if (bit == 0) m_.always.push_back(conj);
    }
  }

  void finish() {
    m_.slots.resize(slot_hits_.size());
    for (std::size_t i = 0; i < slot_hits_.size(); ++i) {
      m_.slots[i].begin = static_cast<uint32_t>(m_.hits.size());
      m_.hits.insert(m_.hits.end(), slot_hits_[i].begin(), slot_hits_[i].end());
      m_.slots[i].end = static_cast<uint32_t>(m_.hits.size());
    }
    for (auto& n : m_.nodes)
      std::sort(n.children.begin(), n.children.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& l : m_.leaves) {
      l.ranges.build_index();
      l.exact.build(l.exact_build);
      l.folded.build(l.folded_build);
      StrMap().swap(l.exact_build);
      StrMap().swap(l.folded_build);
      for (Trie* t : {&l.prefix, &l.suffix, &l.fprefix, &l.fsuffix}) t->build_dense();
    }
  }

 private:
  uint32_t new_slot() {
    slot_hits_.emplace_back();
    return static_cast<uint32_t>(slot_hits_.size() - 1);
  }
  void add_to(uint32_t& slot, Hit h) {
    if (slot == kNone) slot = new_slot();
    slot_hits_[slot].push_back(h);
  }
  void add_to(StrMap& t, const std::string& key, Hit h) {
    auto it = t.find(key);
    if (it == t.end()) it = t.emplace(key, new_slot()).first;
    slot_hits_[it->second].push_back(h);
  }
  void add_to(Trie& t, std::string_view key, bool reversed, Hit h) {
    uint32_t n = t.insert(key, reversed);
    add_to(t.nodes[n].slot, h);
  }

  Leaf& leaf_for(const std::vector<std::string>& path) {
    uint32_t n = 0;
    for (const auto& k : path) {
      uint32_t found = kNone;
      for (const auto& c : m_.nodes[n].children)
        if (c.first == k) found = c.second;
      if (found == kNone) {
        found = static_cast<uint32_t>(m_.nodes.size());
        m_.nodes[n].children.emplace_back(k, found);
        m_.nodes.emplace_back();
      }
      n = found;
    }
    if (m_.nodes[n].leaf == kNone) {
      m_.nodes[n].leaf = static_cast<uint32_t>(m_.leaves.size());
      m_.leaves.emplace_back();
    }
    return m_.leaves[m_.nodes[n].leaf];
  }

  void add_predicate(Leaf& leaf, const Predicate& p, Hit h) {
    switch (p.op) {
      case Op::kLiteral:
        switch (p.literal.type) {
          case Literal::Type::kString:
            add_to(leaf.exact_build, p.literal.text, h);
            break;
          case Literal::Type::kNumber: {
            const Number& n = p.literal.number;
            uint32_t& slot = n.in_range ? leaf.num.try_emplace(n.q, kNone).first->second
                                        : leaf.num_out.try_emplace(n.value, kNone).first->second;
            add_to(slot, h);
            break;
          }
          case Literal::Type::kTrue:
            add_to(leaf.true_slot, h);
            break;
          case Literal::Type::kFalse:
            add_to(leaf.false_slot, h);
            break;
          case Literal::Type::kNull:
            add_to(leaf.null_slot, h);
            break;
        }
        break;
      case Op::kPrefix:
        add_to(leaf.prefix, p.text, false, h);
        break;
      case Op::kSuffix:
        add_to(leaf.suffix, p.text, true, h);
        break;
      case Op::kEqualsIgnoreCase:
        leaf.need_fold = true;
        add_to(leaf.folded_build, p.text, h);
        break;
      case Op::kPrefixIgnoreCase:
        leaf.need_fold = true;
        add_to(leaf.fprefix, p.text, false, h);
        break;
      case Op::kSuffixIgnoreCase:
        leaf.need_fold = true;
        add_to(leaf.fsuffix, p.text, true, h);
        break;
      case Op::kWildcard: {
        auto it = std::find_if(leaf.globs.begin(), leaf.globs.end(),
                               [&](const auto& g) { return g.first.parts == p.glob.parts; });
        if (it == leaf.globs.end()) {
          leaf.globs.emplace_back(p.glob, new_slot());
          it = leaf.globs.end() - 1;
        }
        add_to(it->second, h);
        break;
      }
      case Op::kNumeric: {
        auto& list = leaf.ranges.list;
        auto same = [&](const RangeIndex::Entry& e) {
          const auto &a = e.range, &b = p.range;
          return a.has_lo == b.has_lo && a.has_hi == b.has_hi && a.lo_incl == b.lo_incl &&
                 a.hi_incl == b.hi_incl && a.lo == b.lo && a.hi == b.hi;
        };
        auto it = std::find_if(list.begin(), list.end(), same);
        if (it == list.end()) {
          list.push_back({p.range, new_slot()});
          it = list.end() - 1;
        }
        add_to(it->slot, h);
        break;
      }
      case Op::kCidr:
        leaf.cidrs.emplace_back(p.cidr, new_slot());
        add_to(leaf.cidrs.back().second, h);
        break;
      case Op::kExists:
        add_to(leaf.exists_slot, h);
        break;
      case Op::kAnythingBut:
      case Op::kAnythingButPrefix:
      case Op::kAnythingButSuffix:
      case Op::kAnythingButIgnoreCase:
      case Op::kAnythingButWildcard:
        if (p.op == Op::kAnythingButIgnoreCase) leaf.need_fold = true;
        leaf.buts.emplace_back(p, new_slot());
        add_to(leaf.buts.back().second, h);
        break;
    }
  }

  Automaton::Impl& m_;
  std::vector<std::vector<Hit>> slot_hits_;
};

// ---- match ---------------------------------------------------------------------------------

class Run {
 public:
  Run(const Automaton::Impl& m, Scratch& s) : m_(m), s_(s) {
    s_.begin(m.conjs.size(), m.npatterns);
  }

  // JSON event -------------------------------------------------------------------------------
  bool scan(std::string_view event) {
    p_ = event.data();
    end_ = p_ + event.size();
    ws();
    if (p_ >= end_ || *p_ != '{') return false;
    if (!object(0, 0, true)) return false;
    if (done_) return true;
    ws();
    return p_ == end_;
  }

  // SNS message attributes -------------------------------------------------------------------
  void attributes(std::span<const Attribute> attrs) {
    for (const auto& a : attrs) {
      uint32_t child = m_.find_child(0, a.name);
      if (child == kNone) continue;
      uint32_t leaf = m_.nodes[child].leaf;
      if (leaf == kNone) continue;
      std::string_view t = a.data_type;
      if (t.starts_with("Binary")) continue;
      if (t == "String.Array" || t.starts_with("String.Array.") || t == "Number.Array") {
        p_ = a.value.data();
        end_ = p_ + a.value.size();
        ws();
        if (p_ < end_ && *p_ == '[') {
          const char* save = p_;
          if (array(child, 0)) continue;
          p_ = save;
        }
        on_string(m_.leaves[leaf], a.value);  // not an array: the text itself
        continue;
      }
      if (t.starts_with("Number")) {
        auto v = parse_json_number(trim(a.value));
        if (v) {
          on_number(m_.leaves[leaf], *v);
          continue;
        }
      }
      on_string(m_.leaves[leaf], a.value);
    }
  }

  void finish(std::vector<uint32_t>& out) {
    for (uint32_t c : s_.touched) check(c, out);
    for (uint32_t c : m_.always) check(c, out);
  }

 private:
  static std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  }

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  // p_ at '{'. `node` is the path trie node of this object. `tail`: once this object has shown
  // every key the trie expects in it, nothing after it in the event matters (it is the top-level
  // object, or the last one its enclosing objects were waiting for), so scanning stops there.
  bool object(uint32_t node, int depth, bool tail) {
    ++p_;
    ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    const PathNode& n = m_.nodes[node];
    std::size_t need = n.children.size(), seen = 0;
    for (;;) {
      ws();
      std::string_view key;
      if (p_ >= end_ || *p_ != '"' || !read_string(key)) return false;
      ws();
      if (p_ >= end_ || *p_ != ':') return false;
      ++p_;
      ws();
      if (p_ >= end_) return false;
      uint32_t child = m_.find_child(node, key);
      if (child == kNone) {
        if (!skip_value()) return false;
      } else {
        bool last = seen + 1 == need;
        if (!value(child, depth + 1, tail && last)) return false;
        if (done_) return true;
        if (++seen == need) {
          if (tail) {
            done_ = true;
            return true;
          }
          return skip_container(1);
        }
      }
      ws();
      if (p_ >= end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      return false;
    }
  }

  // p_ at '['.
  bool array(uint32_t node, int depth) {
    if (depth > kMaxEventDepth) return false;
    ++p_;
    ws();
    s_.chain.push_back({s_.next_array++, 0});
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      s_.chain.pop_back();
      return true;
    }
    for (uint32_t i = 0;; ++i) {
      s_.chain.back().index = i;
      ws();
      if (p_ >= end_ || !value(node, depth + 1, false)) return false;
      ws();
      if (p_ >= end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        break;
      }
      return false;
    }
    s_.chain.pop_back();
    return true;
  }

  // A value at an interesting path.
  bool value(uint32_t node, int depth, bool tail) {
    if (depth > kMaxEventDepth) return false;
    char c = *p_;
    const PathNode& n = m_.nodes[node];
    if (c == '{') {
      if (n.children.empty()) return skip_container(0);
      return object(node, depth, tail);
    }
    if (c == '[') return array(node, depth);
    if (n.leaf == kNone) return skip_value();
    const Leaf& leaf = m_.leaves[n.leaf];
    if (c == '"') {
      std::string_view s;
      if (!read_string(s)) return false;
      on_string(leaf, s);
      return true;
    }
    if (c == 't' || c == 'f' || c == 'n') {
      std::string_view lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
      if (static_cast<std::size_t>(end_ - p_) < lit.size() ||
          std::memcmp(p_, lit.data(), lit.size()) != 0)
        return false;
      p_ += lit.size();
      on_literal(leaf, c == 't' ? 2 : c == 'f' ? 3 : 4);
      return true;
    }
    const char* b = p_;
    while (p_ < end_ && is_number_char(*p_)) ++p_;
    auto v = parse_json_number(std::string_view(b, static_cast<std::size_t>(p_ - b)));
    if (!v) return false;
    on_number(leaf, *v);
    return true;
  }

  static bool is_number_char(char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
  }

  // p_ at '"'; on return p_ is after the closing quote and `out` holds the unescaped text.
  bool read_string(std::string_view& out) {
    const char* start = ++p_;
    const char* q = start;
    while (q < end_) {
      char c = *q;
      if (c == '"') {
        out = std::string_view(start, static_cast<std::size_t>(q - start));
        p_ = q + 1;
        return true;
      }
      if (c == '\\') break;
      ++q;
    }
    if (q >= end_) return false;
    std::string& b = s_.buf;
    b.assign(start, q);
    while (q < end_) {
      char c = *q;
      if (c == '"') {
        out = b;
        p_ = q + 1;
        return true;
      }
      if (c != '\\') {
        b.push_back(c);
        ++q;
        continue;
      }
      if (++q >= end_) return false;
      switch (*q) {
        case '"':
          b.push_back('"');
          break;
        case '\\':
          b.push_back('\\');
          break;
        case '/':
          b.push_back('/');
          break;
        case 'b':
          b.push_back('\b');
          break;
        case 'f':
          b.push_back('\f');
          break;
        case 'n':
          b.push_back('\n');
          break;
        case 'r':
          b.push_back('\r');
          break;
        case 't':
          b.push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!hex4(q + 1, cp)) return false;
          q += 4;
          if (cp >= 0xD800 && cp <= 0xDBFF && end_ - q >= 7 && q[1] == '\\' && q[2] == 'u') {
            uint32_t lo;
            if (hex4(q + 3, lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              q += 6;
            }
          }
          utf8(cp, b);
          break;
        }
        default:
          return false;
      }
      ++q;
    }
    return false;
  }

  bool hex4(const char* q, uint32_t& out) const {
    if (end_ - q < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = q[i];
      uint32_t d;
      if (c >= '0' && c <= '9')
        d = static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        d = static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = static_cast<uint32_t>(c - 'A' + 10);
      else
        return false;
      out = out * 16 + d;
    }
    return true;
  }

  static void utf8(uint32_t cp, std::string& b) {
    if (cp < 0x80) {
      b.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      b.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      b.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      b.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      b.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      b.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      b.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      b.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      b.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      b.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // p_ at '"'.
  bool skip_string() {
    const char* start = p_ + 1;
    const char* q = start;
    for (;;) {
      q = static_cast<const char*>(std::memchr(q, '"', static_cast<std::size_t>(end_ - q)));
      if (q == nullptr) return false;
      const char* b = q;
      while (b > start && b[-1] == '\\') --b;
      if (((q - b) & 1) == 0) {
        p_ = q + 1;
        return true;
      }
      ++q;
    }
  }

  bool skip_scalar() {
    const char* b = p_;
    while (p_ < end_ && (is_number_char(*p_) || (*p_ >= 'a' && *p_ <= 'z'))) ++p_;
    return p_ > b;
  }

  bool skip_value() {
    char c = *p_;
    if (c == '"') return skip_string();
    if (c == '{' || c == '[') return skip_container(0);
    return skip_scalar();
  }

  // Bits set where the 64 bytes at q equal c.
  static uint64_t eq64(const char* q, char c) {
    const __m128i v = _mm_set1_epi8(c);
    uint64_t m = 0;
    for (int i = 0; i < 4; ++i) {
      __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16 * i));
      m |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, v))))
           << (16 * i);
    }
    return m;
  }

  // Skips to the end of the container that is `depth` levels open (0: p_ at its opening).
  // 64 bytes at a time: string interiors are found from the parity of the quotes before each
  // byte (prefix XOR), brackets outside strings change the depth. Blocks with a backslash, and
  // the tail, go byte by byte.
  bool skip_container(int depth) {
    const char* q = p_;
    bool in_str = false, esc = false;
    auto bytewise = [&](const char* b, const char* e) -> const char* {
      for (const char* r = b; r < e; ++r) {
        char c = *r;
        if (in_str) {
          if (esc)
            esc = false;
          else if (c == '\\')
            esc = true;
          else if (c == '"')
            in_str = false;
        } else if (c == '"') {
          in_str = true;
        } else if (c == '{' || c == '[') {
          ++depth;
        } else if (c == '}' || c == ']') {
          if (--depth <= 0) return r;
        }
      }
      return nullptr;
    };
    while (end_ - q >= 64) {
      uint64_t bs = eq64(q, '\\');
      if (bs != 0 || esc) {
        if (const char* r = bytewise(q, q + 64)) {
          p_ = r + 1;
          return depth == 0;
        }
        q += 64;
        continue;
      }
      uint64_t quote = eq64(q, '"');
      uint64_t inside = quote;
      inside ^= inside << 1;
      inside ^= inside << 2;
      inside ^= inside << 4;
      inside ^= inside << 8;
      inside ^= inside << 16;
      inside ^= inside << 32;
      if (in_str) inside = ~inside;
      in_str = (inside >> 63) != 0;
      uint64_t open = (eq64(q, '{') | eq64(q, '[')) & ~inside;
      uint64_t close = (eq64(q, '}') | eq64(q, ']')) & ~inside;
      for (uint64_t bits = open | close; bits; bits &= bits - 1) {
        int i = std::countr_zero(bits);
        if ((open >> i) & 1) {
          ++depth;
        } else if (--depth <= 0) {
          p_ = q + i + 1;
          return depth == 0;
        }
      }
      q += 64;
    }
    if (const char* r = bytewise(q, end_)) {
      p_ = r + 1;
      return depth == 0;
    }
    return false;
  }

  // ---- values reaching a leaf ----

  void emit(uint32_t slot) {
    const Span& sp = m_.slots[slot];
    for (uint32_t i = sp.begin; i < sp.end; ++i) sat(m_.hits[i]);
  }

  void sat(Hit h) {
    uint32_t c = h.conj;
    if (s_.stamp[c] != s_.gen) {
      s_.stamp[c] = s_.gen;
      s_.mask[c] = 0;
      s_.free[c] = 0;
      s_.head[c] = kNone;
      s_.touched.push_back(c);
    }
    uint64_t b = 1ull << h.bit;
    s_.mask[c] |= b;
    if (s_.chain.empty()) {
      s_.free[c] |= b;
    } else if (m_.conjs[c].multi && !(s_.free[c] & b)) {
      if (s_.leaf_chain == kNone) {
        s_.leaf_chain = static_cast<uint32_t>(s_.chains.size());
        s_.chains.insert(s_.chains.end(), s_.chain.begin(), s_.chain.end());
      }
      s_.ahits.push_back({b, s_.head[c], s_.leaf_chain, static_cast<uint32_t>(s_.chain.size())});
      s_.head[c] = static_cast<uint32_t>(s_.ahits.size() - 1);
    }
  }

  void presence(const Leaf& leaf) {
    s_.leaf_chain = kNone;
    for (uint32_t c : leaf.absent) s_.vstamp[c] = s_.gen;
    if (leaf.exists_slot != kNone) emit(leaf.exists_slot);
  }

  void on_string(const Leaf& leaf, std::string_view s) {
    presence(leaf);
    if (!leaf.exact.empty()) {
      uint32_t slot = leaf.exact.find(s);
      if (slot != kNone) emit(slot);
    }
    auto em = [this](uint32_t slot) { emit(slot); };
    if (!leaf.prefix.empty()) leaf.prefix.walk(s, false, em);
    if (!leaf.suffix.empty()) leaf.suffix.walk(s, true, em);
    std::string_view folded;
    if (leaf.need_fold) {
      s_.fold.clear();
      fold_case_into(s, s_.fold);
      folded = s_.fold;
      if (!leaf.folded.empty()) {
        uint32_t slot = leaf.folded.find(folded);
        if (slot != kNone) emit(slot);
      }
      if (!leaf.fprefix.empty()) leaf.fprefix.walk(folded, false, em);
      if (!leaf.fsuffix.empty()) leaf.fsuffix.walk(folded, true, em);
    }
    for (const auto& g : leaf.globs)
      if (g.first.match(s)) emit(g.second);
    for (const auto& c : leaf.cidrs)
      if (c.first.contains(s)) emit(c.second);
    for (const auto& b : leaf.buts)
      if (but(b.first, 0, s, folded, nullptr)) emit(b.second);
  }

  void on_number(const Leaf& leaf, double v) {
    presence(leaf);
    Number n = make_number(v, m_.spec);
    if (n.in_range) {
      if (!leaf.num.empty()) {
        auto it = leaf.num.find(n.q);
        if (it != leaf.num.end()) emit(it->second);
      }
      leaf.ranges.lookup(n.q, [this](uint32_t slot) { emit(slot); });
    } else if (!leaf.num_out.empty()) {
      auto it = leaf.num_out.find(n.value);
      if (it != leaf.num_out.end()) emit(it->second);
    }
    for (const auto& b : leaf.buts)
      if (but(b.first, 1, {}, {}, &n)) emit(b.second);
  }

  void on_literal(const Leaf& leaf, int kind) {
    presence(leaf);
    uint32_t slot = kind == 2 ? leaf.true_slot : kind == 3 ? leaf.false_slot : leaf.null_slot;
    if (slot != kNone) emit(slot);
    for (const auto& b : leaf.buts)
      if (but(b.first, kind, {}, {}, nullptr)) emit(b.second);
  }

  // Whether an anything-but predicate accepts a value (kind as in literal_equals).
  static bool but(const Predicate& p, int kind, std::string_view s, std::string_view folded,
                  const Number* n) {
    switch (p.op) {
      case Op::kAnythingBut:
        for (const auto& l : p.literals)
          if (literal_equals(l, kind, s, n)) return false;
        return true;
      case Op::kAnythingButPrefix:
        return !(kind == 0 && s.starts_with(p.text));
      case Op::kAnythingButSuffix:
        return !(kind == 0 && s.ends_with(p.text));
      case Op::kAnythingButIgnoreCase:
        if (kind != 0) return true;
        for (const auto& t : p.texts)
          if (t == folded) return false;
        return true;
      case Op::kAnythingButWildcard:
        if (kind != 0) return true;
        for (const auto& g : p.globs)
          if (g.match(s)) return false;
        return true;
      default:
        return false;
    }
  }

  // ---- deciding ----

  void check(uint32_t c, std::vector<uint32_t>& out) {
    const ConjInfo& info = m_.conjs[c];
    if (s_.pstamp[info.pattern] == s_.gen) return;
    if (s_.vstamp[c] == s_.gen) return;
    bool touched = s_.stamp[c] == s_.gen;
    uint64_t mask = touched ? s_.mask[c] : 0;
    if ((mask & info.required) != info.required) return;
    if (touched && info.multi && s_.head[c] != kNone && !consistent(c, info.required)) return;
    s_.pstamp[info.pattern] = s_.gen;
    out.push_back(info.pattern);
  }

  // Whether one element can be chosen in every array so that the fields satisfied only inside
  // arrays are all satisfied together.
  bool consistent(uint32_t c, uint64_t required) {
    uint64_t need = required & ~s_.free[c];
    if (std::popcount(need) <= 1) return true;
    auto& items = s_.items;
    items.clear();
    for (uint32_t i = s_.head[c]; i != kNone; i = s_.ahits[i].next) {
      const ArrayHit& a = s_.ahits[i];
      if (a.bit & need) items.push_back({a.bit, &s_.chains[a.chain_begin], a.chain_len});
    }
    std::reverse(items.begin(), items.end());  // document order
    for (uint64_t m : solve(0, items.size(), 0))
      if ((m & need) == need) return true;
    return false;
  }

  static void add_maximal(std::vector<uint64_t>& fam, uint64_t m) {
    for (uint64_t x : fam)
      if ((x | m) == x) return;
    std::erase_if(fam, [m](uint64_t x) { return (x | m) == m; });
    if (fam.size() < kMaxFamily) fam.push_back(m);
  }

  // The maximal sets of fields satisfiable together by items [lo, hi), which share the first
  // `depth` chain entries.
  std::vector<uint64_t> solve(std::size_t lo, std::size_t hi, uint32_t depth) {
    const auto& it = s_.items;
    std::vector<uint64_t> fam{0};
    uint64_t free = 0;
    std::size_t i = lo;
    while (i < hi) {
      if (it[i].len == depth) {
        free |= it[i].bit;
        ++i;
        continue;
      }
      uint32_t arr = it[i].chain[depth].array;
      std::vector<uint64_t> any;
      std::size_t j = i;
      while (j < hi && it[j].len > depth && it[j].chain[depth].array == arr) {
        uint32_t idx = it[j].chain[depth].index;
        std::size_t k = j;
        while (k < hi && it[k].len > depth && it[k].chain[depth].array == arr &&
               it[k].chain[depth].index == idx)
          ++k;
        for (uint64_t m : solve(j, k, depth + 1)) add_maximal(any, m);
        j = k;
      }
      std::vector<uint64_t> next;
      for (uint64_t a : fam)
        for (uint64_t b : any) add_maximal(next, a | b);
      fam = std::move(next);
      i = j;
    }
    for (auto& m : fam) m |= free;
    return fam;
  }

  const Automaton::Impl& m_;
  Scratch& s_;
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  bool done_ = false;
};

}  // namespace

Automaton::Automaton(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Automaton::~Automaton() = default;

std::unique_ptr<Automaton> Automaton::build(const std::vector<Entry>& entries, NumberSpec spec) {
  auto impl = std::make_unique<Impl>();
  impl->spec = spec;
  Builder b(*impl);
  for (const auto& e : entries) b.add(e.pattern, *e.program);
  b.finish();
  return std::unique_ptr<Automaton>(new Automaton(std::move(impl)));
}

void Automaton::match_json(std::string_view event, std::vector<uint32_t>& out) const {
  Run run(*impl_, tls_scratch);
  if (!run.scan(event)) return;
  run.finish(out);
}

void Automaton::match_attributes(std::span<const Attribute> attrs,
                                 std::vector<uint32_t>& out) const {
  Run run(*impl_, tls_scratch);
  run.attributes(attrs);
  run.finish(out);
}

}  // namespace ferry::pattern::internal
