#pragma once
// The pattern engine's entry point: a set of SNS filter policies and/or EventBridge event
// patterns, each under an id, compiled together so that matching one event costs about the same
// with 10 patterns or 10,000.
//
// Ownership and threads: a Matcher is owned by its service (an SNS topic, an EventBridge bus).
// Every method is thread-safe. add/add_all/replace/remove serialise on a mutex, rebuild the
// compiled automaton and publish it as an immutable snapshot (atomic shared_ptr swap); match*
// never take that mutex, they load the current snapshot and run on the caller's thread. A pattern
// never matches in a match call that starts after its remove() (or replace()) has returned.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "pattern/errors.h"
#include "pattern/types.h"

namespace ferry::pattern {

namespace internal {
class Automaton;
struct Program;
}  // namespace internal

struct PatternSpec {
  std::string id;
  std::string json;
  Dialect dialect = Dialect::kEventBridge;
};

// Checks a pattern without keeping it (PutRule, Subscribe, SetSubscriptionAttributes).
Result<base::Ok> validate(std::string_view pattern_json, Dialect dialect);

// Whether one pattern matches one JSON event (TestEventPattern); an error if the pattern is
// invalid. For kSnsAttributes use a Matcher and match_attributes().
Result<bool> test_pattern(std::string_view pattern_json, Dialect dialect,
                          std::string_view event_json);

class Matcher {
 public:
  Matcher();
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  // Adds a pattern; kDuplicateId if `id` is present, kInvalidPattern with AWS's message if the
  // pattern is not valid in `dialect`.
  Result<base::Ok> add(std::string id, std::string_view pattern_json, Dialect dialect);
  // Adds several patterns with one rebuild; all or nothing.
  Result<base::Ok> add_all(std::span<const PatternSpec> patterns);
  // Adds or replaces the pattern under `id`. On error the old pattern stays.
  Result<base::Ok> replace(std::string id, std::string_view pattern_json, Dialect dialect);
  // Removes the pattern under `id`; false if there was none.
  bool remove(std::string_view id);

  std::size_t size() const;
  bool contains(std::string_view id) const;

  // Ids of the EventBridge and SNS MessageBody patterns that match a JSON event, each once,
  // in id order. An event that is not a JSON object matches nothing.
  std::vector<std::string> match(std::string_view event_json) const;
  // The same, reusing `out` (cleared first) to avoid allocations in a hot loop.
  void match(std::string_view event_json, std::vector<std::string>& out) const;

  // Ids of the SNS MessageAttributes patterns that match a message's attributes.
  std::vector<std::string> match_attributes(std::span<const Attribute> attributes) const;
  void match_attributes(std::span<const Attribute> attributes, std::vector<std::string>& out) const;

 private:
  struct Snapshot;
  struct Entry {
    std::shared_ptr<const internal::Program> program;
  };
  void publish_locked();

  mutable std::mutex write_mu_;
  std::map<std::string, Entry, std::less<>> patterns_;  // guarded by write_mu_
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

}  // namespace ferry::pattern
