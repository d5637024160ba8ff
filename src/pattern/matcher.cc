#include "pattern/matcher.h"

#include <algorithm>

#include "pattern/ast.h"
#include "pattern/automaton.h"

namespace ferry::pattern {

using internal::Automaton;
using internal::Program;

struct Matcher::Snapshot {
  std::vector<std::string> ids;  // index -> id, sorted
  std::vector<std::shared_ptr<const Program>> programs;
  std::unique_ptr<Automaton> json;   // EventBridge patterns
  std::unique_ptr<Automaton> body;   // SNS MessageBody policies
  std::unique_ptr<Automaton> attrs;  // SNS MessageAttributes policies
};

Result<base::Ok> validate(std::string_view pattern_json, Dialect dialect) {
  auto prog = internal::compile(pattern_json, dialect);
  if (!prog.ok()) return base::fail(prog.error());
  return base::Ok{};
}

Result<bool> test_pattern(std::string_view pattern_json, Dialect dialect,
                          std::string_view event_json) {
  auto prog = internal::compile(pattern_json, dialect);
  if (!prog.ok()) return base::fail(prog.error());
  auto a = Automaton::build({{0, &prog.value()}}, internal::number_spec(dialect));
  std::vector<uint32_t> out;
  a->match_json(event_json, out);
  return !out.empty();
}

Matcher::Matcher() { snapshot_.store(std::make_shared<const Snapshot>()); }
Matcher::~Matcher() = default;

void Matcher::publish_locked() {
  auto snap = std::make_shared<Snapshot>();
  std::vector<Automaton::Entry> eb, body, attrs;
  for (const auto& [id, e] : patterns_) {
    uint32_t index = static_cast<uint32_t>(snap->ids.size());
    snap->ids.push_back(id);
    snap->programs.push_back(e.program);
    switch (e.program->dialect) {
      case Dialect::kEventBridge:
        eb.push_back({index, e.program.get()});
        break;
      case Dialect::kSnsBody:
        body.push_back({index, e.program.get()});
        break;
      case Dialect::kSnsAttributes:
        attrs.push_back({index, e.program.get()});
        break;
    }
  }
  if (!eb.empty()) snap->json = Automaton::build(eb, internal::number_spec(Dialect::kEventBridge));
  if (!body.empty()) snap->body = Automaton::build(body, internal::number_spec(Dialect::kSnsBody));
  if (!attrs.empty())
    snap->attrs = Automaton::build(attrs, internal::number_spec(Dialect::kSnsAttributes));
  snapshot_.store(std::move(snap));
}

Result<base::Ok> Matcher::add(std::string id, std::string_view pattern_json, Dialect dialect) {
  auto prog = internal::compile(pattern_json, dialect);
  if (!prog.ok()) return base::fail(prog.error());
  std::lock_guard lock(write_mu_);
  if (patterns_.contains(id)) return error(Errc::kDuplicateId, "Pattern id already present: " + id);
  patterns_.emplace(std::move(id), Entry{std::make_shared<const Program>(std::move(prog.value()))});
  publish_locked();
  return base::Ok{};
}

Result<base::Ok> Matcher::add_all(std::span<const PatternSpec> patterns) {
  std::vector<std::shared_ptr<const Program>> progs;
  progs.reserve(patterns.size());
  for (const auto& p : patterns) {
    auto prog = internal::compile(p.json, p.dialect);
    if (!prog.ok()) return base::fail(prog.error());
    progs.push_back(std::make_shared<const Program>(std::move(prog.value())));
  }
  std::lock_guard lock(write_mu_);
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    bool dup = patterns_.contains(patterns[i].id);
    for (std::size_t j = 0; j < i && !dup; ++j) dup = patterns[j].id == patterns[i].id;
    if (dup) return error(Errc::kDuplicateId, "Pattern id already present: " + patterns[i].id);
  }
  for (std::size_t i = 0; i < patterns.size(); ++i)
    patterns_.emplace(patterns[i].id, Entry{std::move(progs[i])});
  publish_locked();
  return base::Ok{};
}

Result<base::Ok> Matcher::replace(std::string id, std::string_view pattern_json, Dialect dialect) {
  auto prog = internal::compile(pattern_json, dialect);
  if (!prog.ok()) return base::fail(prog.error());
  std::lock_guard lock(write_mu_);
  patterns_.insert_or_assign(std::move(id),
                             Entry{std::make_shared<const Program>(std::move(prog.value()))});
  publish_locked();
  return base::Ok{};
}

bool Matcher::remove(std::string_view id) {
  std::lock_guard lock(write_mu_);
  auto it = patterns_.find(id);
  if (it == patterns_.end()) return false;
  patterns_.erase(it);
  publish_locked();
  return true;
}

std::size_t Matcher::size() const {
  std::lock_guard lock(write_mu_);
  return patterns_.size();
}

bool Matcher::contains(std::string_view id) const {
  std::lock_guard lock(write_mu_);
  return patterns_.find(id) != patterns_.end();
}

namespace {
thread_local std::vector<uint32_t> tls_indices;
}  // namespace

void Matcher::match(std::string_view event_json, std::vector<std::string>& out) const {
  out.clear();
  std::shared_ptr<const Snapshot> snap = snapshot_.load();
  auto& idx = tls_indices;
  idx.clear();
  if (snap->json) snap->json->match_json(event_json, idx);
  if (snap->body) snap->body->match_json(event_json, idx);
  std::sort(idx.begin(), idx.end());
  for (uint32_t i : idx) out.push_back(snap->ids[i]);
}

std::vector<std::string> Matcher::match(std::string_view event_json) const {
  std::vector<std::string> out;
  match(event_json, out);
  return out;
}

void Matcher::match_attributes(std::span<const Attribute> attributes,
                               std::vector<std::string>& out) const {
  out.clear();
  std::shared_ptr<const Snapshot> snap = snapshot_.load();
  auto& idx = tls_indices;
  idx.clear();
  if (snap->attrs) snap->attrs->match_attributes(attributes, idx);
  std::sort(idx.begin(), idx.end());
  for (uint32_t i : idx) out.push_back(snap->ids[i]);
}

std::vector<std::string> Matcher::match_attributes(std::span<const Attribute> attributes) const {
  std::vector<std::string> out;
  match_attributes(attributes, out);
  return out;
}

}  // namespace ferry::pattern
