#pragma once
// WirePath: the Query parameter path of the value a codec is looking at
// ("SendMessageBatchRequestEntry.2.Id"), kept as a chain of stack nodes while walking a shape and
// rendered only when an error message needs it. Internal to src/aws.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::aws {

struct WirePath {
  const WirePath* parent = nullptr;  // null for the root (the empty path)
  std::string_view name;
  int64_t index = 0;  // a numeric segment when > 0

  // The returned node points at this one: it must not outlive it.
  WirePath child(std::string_view segment) const { return {this, segment, 0}; }
  WirePath child(int64_t i) const { return {this, {}, i}; }
  bool is_root() const { return parent == nullptr; }

  std::string str() const {
    std::vector<const WirePath*> chain;
    for (const WirePath* p = this; p != nullptr && p->parent != nullptr; p = p->parent) {
      chain.push_back(p);
    }
    std::string out;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      if (!out.empty()) out += '.';
      if ((*it)->index > 0) {
        out += std::to_string((*it)->index);
      } else {
        out.append((*it)->name);
      }
    }
    return out;
  }
};

}  // namespace ferry::aws
