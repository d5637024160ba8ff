#include "sqs/engine/queue.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cassert>
#include <functional>

namespace ferry::sqs {

namespace json = boost::json;

uint32_t MessageMeta::to_offset(int64_t ms) const {
  const int64_t offset = std::clamp<int64_t>(ms - sent_ms, 0, UINT32_MAX - 1);
  return static_cast<uint32_t>(offset + 1);
}

MessageMeta* MessageIndex::find(uint64_t seq) {
  if (messages_.empty() || seq < messages_.front().seq) return nullptr;
  // Sequence numbers rise by at least one per message, so the message is no further than
  // seq - first from the front; while nothing else used the counter in between (one busy
  // queue), exactly there.
  const uint64_t bound = seq - messages_.front().seq;
  if (bound < messages_.size() && messages_[bound].seq == seq) {
    MessageMeta& m = messages_[bound];
    return m.status == MessageStatus::kDead ? nullptr : &m;
  }
  auto end = bound < messages_.size() ? messages_.begin() + static_cast<ptrdiff_t>(bound)
                                      : messages_.end();
  auto it = std::lower_bound(messages_.begin(), end, seq,
                             [](const MessageMeta& m, uint64_t s) { return m.seq < s; });
  if (it == end || it->seq != seq || it->status == MessageStatus::kDead) {
    return nullptr;
  }
  return &*it;
}

namespace {
// Visible or delayed: a receive will want its payload, sooner or later.
bool waiting(MessageStatus s) {
  return s == MessageStatus::kVisible || s == MessageStatus::kDelayed;
}
}  // namespace

std::vector<uint64_t> MessageIndex::uncached_after(uint64_t after, size_t limit, size_t scan,
                                                   uint64_t* scanned_to) {
  std::vector<uint64_t> out;
  auto it = std::upper_bound(messages_.begin(), messages_.end(), after,
                             [](uint64_t s, const MessageMeta& m) { return s < m.seq; });
  for (; it != messages_.end() && scan > 0 && out.size() < limit; ++it, --scan) {
    if (scanned_to != nullptr) *scanned_to = it->seq;
    if (!it->payload && waiting(it->status)) out.push_back(it->seq);
  }
  return out;
}

void MessageIndex::count(MessageStatus s, int delta) {
  switch (s) {
    case MessageStatus::kVisible:
      visible_n_ += delta;
      break;
    case MessageStatus::kDelayed:
      delayed_n_ += delta;
      break;
    case MessageStatus::kInflight:
      inflight_n_ += delta;
      break;
    case MessageStatus::kDead:
      break;
  }
}

MessageMeta& MessageIndex::add(MessageMeta meta, std::string_view group) {
  assert(messages_.empty() || messages_.back().seq < meta.seq);
  assert(meta.status != MessageStatus::kDead);
  const MessageStatus status = meta.status;
  meta.status = MessageStatus::kDead;  // set_status() below counts it in
  MessageMeta& m = messages_.emplace_back(std::move(meta));
  ++live_;
  if (grouped_) {
    auto [it, added] = group_ids_.try_emplace(std::string(group), next_group_);
    if (added) {
      Group& g = groups_[next_group_++];
      g.name = std::string(group);
    }
    Group& g = groups_[it->second];
    g.seqs.push_back(m.seq);
    ++g.live;
    group_of_[m.seq] = it->second;
  }
  set_status(m, status);
  if (status != MessageStatus::kVisible) {
    timers_.push_back({m.visible_at_ms, m.seq});
    std::push_heap(timers_.begin(), timers_.end(), std::greater<>());
  }
  return m;
}

void MessageIndex::set_status(MessageMeta& m, MessageStatus to) {
  const MessageStatus from = m.status;
  count(from, -1);
  m.status = to;
  count(to, +1);
  if (!m.payload) uncached_waiting_ += size_t{waiting(to)} - size_t{waiting(from)};
  if (!grouped_) {
    if (to == MessageStatus::kVisible) note_visible(m);
    return;
  }
  auto it = group_of_.find(m.seq);
  if (it == group_of_.end()) return;
  const uint64_t id = it->second;
  Group& g = groups_[id];
  if (from == MessageStatus::kInflight) --g.inflight;
  if (to == MessageStatus::kInflight) ++g.inflight;
  if (to == MessageStatus::kDead) {
    group_of_.erase(it);
    if (--g.live == 0) {
      group_ids_.erase(g.name);
      groups_.erase(id);
      return;
    }
  }
  trim(g);
  // Readiness changes only when the last in-flight message leaves or the first one changes.
  if (g.inflight == 0 && (from == MessageStatus::kInflight || to == MessageStatus::kDead ||
                          (to == MessageStatus::kVisible && g.seqs.front() == m.seq))) {
    push_ready(id);
  }
}

void MessageIndex::note_visible(MessageMeta& m) {
  visible_.push_back(m.seq);
  std::push_heap(visible_.begin(), visible_.end(), std::greater<>());
}

void MessageIndex::trim(Group& g) {
  while (!g.seqs.empty() && find(g.seqs.front()) == nullptr) g.seqs.pop_front();
}

void MessageIndex::push_ready(uint64_t group) {
  auto it = groups_.find(group);
  if (it == groups_.end() || it->second.seqs.empty()) return;
  ready_.push_back({static_cast<int64_t>(it->second.seqs.front()), group});
  std::push_heap(ready_.begin(), ready_.end(), std::greater<>());
}

uint64_t MessageIndex::front_ready_group() {
  while (!ready_.empty()) {
    const Timer entry = ready_.front();
    auto drop = [&] {
      std::pop_heap(ready_.begin(), ready_.end(), std::greater<>());
      ready_.pop_back();
    };
    auto it = groups_.find(entry.seq);
    if (it == groups_.end()) {
      drop();
      continue;
    }
    Group& g = it->second;
    trim(g);
    MessageMeta* head = g.inflight > 0 || g.seqs.empty() ? nullptr : find(g.seqs.front());
    if (head == nullptr || head->status != MessageStatus::kVisible) {
      drop();
      continue;
    }
    if (head->seq > static_cast<uint64_t>(entry.at)) {
      // The group's first message changed since this entry: queue it in its new place.
      drop();
      push_ready(entry.seq);
      continue;
    }
    // Ready once durable; the groups after it wait too (for as long as a sync takes).
    return awaits_sync(*head) ? 0 : entry.seq;
  }
  return 0;
}

uint64_t MessageIndex::pop_ready_group() {
  const uint64_t group = front_ready_group();
  if (group != 0) {
    std::pop_heap(ready_.begin(), ready_.end(), std::greater<>());
    ready_.pop_back();
  }
  return group;
}

std::vector<uint64_t> MessageIndex::group_messages(uint64_t group, size_t limit) {
  std::vector<uint64_t> out;
  auto it = groups_.find(group);
  if (it == groups_.end()) return out;
  for (uint64_t seq : it->second.seqs) {
    if (out.size() >= limit) break;
    if (find(seq) != nullptr) out.push_back(seq);
  }
  return out;
}

bool MessageIndex::receivable() {
  return grouped_ ? front_ready_group() != 0 : front_visible() != nullptr;
}

uint64_t MessageIndex::group_of(uint64_t seq) const {
  auto it = group_of_.find(seq);
  return it == group_of_.end() ? 0 : it->second;
}

bool MessageIndex::timer_valid(const Timer& t) {
  MessageMeta* m = find(t.seq);
  return m && (m->status == MessageStatus::kDelayed || m->status == MessageStatus::kInflight) &&
         m->visible_at_ms == t.at;
}

void MessageIndex::maintain(int64_t now_ms) {
  while (!messages_.empty() && messages_.front().status == MessageStatus::kDead) {
    messages_.pop_front();
    --dead_;
  }
  while (!timers_.empty() && timers_.front().at <= now_ms) {
    std::pop_heap(timers_.begin(), timers_.end(), std::greater<>());
    const Timer t = timers_.back();
    timers_.pop_back();
    if (!timer_valid(t)) continue;
    set_status(*find(t.seq), MessageStatus::kVisible);
  }
  compact();
}

void MessageIndex::compact() {
  // Amortized O(1): each rebuild is linear in what it keeps and runs only once the stale part
  // is at least as large.
  constexpr size_t kSlack = 1024;
  if (dead_ > live_ + kSlack) {
    std::erase_if(messages_, [](const MessageMeta& m) { return m.status == MessageStatus::kDead; });
    dead_ = 0;
  }
  if (visible_.size() > 2 * visible_n_ + kSlack) {
    std::erase_if(visible_, [this](uint64_t seq) {
      MessageMeta* m = find(seq);
      return !m || m->status != MessageStatus::kVisible;
    });
    std::make_heap(visible_.begin(), visible_.end(), std::greater<>());
  }
  if (returned_.size() > 2 * visible_n_ + kSlack) {
    std::erase_if(returned_, [this](uint64_t seq) {
      MessageMeta* m = find(seq);
      return !m || m->status != MessageStatus::kVisible;
    });
  }
  if (timers_.size() > 2 * (inflight_n_ + delayed_n_) + kSlack) {
    std::erase_if(timers_, [this](const Timer& t) { return !timer_valid(t); });
    std::make_heap(timers_.begin(), timers_.end(), std::greater<>());
  }
  if (ready_.size() > 2 * groups_.size() + kSlack) {
    ready_.clear();
    for (auto& [id, g] : groups_) {
      trim(g);
      if (g.inflight == 0 && !g.seqs.empty()) {
        ready_.push_back({static_cast<int64_t>(g.seqs.front()), id});
      }
    }
    std::make_heap(ready_.begin(), ready_.end(), std::greater<>());
  }
}

MessageMeta* MessageIndex::front_visible() {
  assert(!grouped_);
  while (!visible_.empty()) {
    MessageMeta* m = find(visible_.front());  // the lowest seq
    if (m && m->status == MessageStatus::kVisible) {
      if (!awaits_sync(*m)) return m;
      break;  // nothing sent after it goes first; returned messages were synced long ago
    }
    std::pop_heap(visible_.begin(), visible_.end(), std::greater<>());  // a stale entry
    visible_.pop_back();
  }
  while (!returned_.empty()) {
    MessageMeta* m = find(returned_.front());
    if (m && m->status == MessageStatus::kVisible) return m;
    returned_.pop_front();  // a stale entry
  }
  return nullptr;
}

MessageMeta* MessageIndex::pop_visible() {
  MessageMeta* m = front_visible();
  if (m == nullptr) return nullptr;
  if (!visible_.empty() && visible_.front() == m->seq) {
    std::pop_heap(visible_.begin(), visible_.end(), std::greater<>());
    visible_.pop_back();
  } else {
    returned_.pop_front();
  }
  return m;
}

void MessageIndex::push_returned(MessageMeta& m) {
  assert(m.status == MessageStatus::kVisible);
  if (grouped_) {
    push_visible(m);
    return;
  }
  returned_.push_back(m.seq);
}

void MessageIndex::push_visible(MessageMeta& m) {
  assert(m.status == MessageStatus::kVisible);
  if (grouped_) {
    if (uint64_t g = group_of(m.seq)) push_ready(g);
    return;
  }
  note_visible(m);
}

void MessageIndex::set_invisible(MessageMeta& m, int64_t until_ms, MessageStatus status) {
  assert(status == MessageStatus::kDelayed || status == MessageStatus::kInflight);
  set_status(m, status);
  m.visible_at_ms = until_ms;
  timers_.push_back({until_ms, m.seq});
  std::push_heap(timers_.begin(), timers_.end(), std::greater<>());
}

void MessageIndex::set_visible(MessageMeta& m, int64_t now_ms) {
  assert(m.status == MessageStatus::kDelayed || m.status == MessageStatus::kInflight);
  m.visible_at_ms = now_ms;
  set_status(m, MessageStatus::kVisible);
}

void MessageIndex::remove(MessageMeta& m) {
  assert(m.status != MessageStatus::kDead);
  --live_;
  ++dead_;
  set_status(m, MessageStatus::kDead);
  if (m.payload) {
    cache_bytes_ -= cache_cost(m.payload->size());
    m.payload.reset();
  }
}

void MessageIndex::cache_payload(MessageMeta& m, std::unique_ptr<std::string> payload) {
  assert(!m.payload && payload);
  m.payload = std::move(payload);
  if (waiting(m.status)) --uncached_waiting_;
}

std::unique_ptr<std::string> MessageIndex::take_payload(MessageMeta& m) {
  if (!m.payload) return nullptr;
  cache_bytes_ -= cache_cost(m.payload->size());
  if (waiting(m.status)) ++uncached_waiting_;
  return std::move(m.payload);
}

std::optional<int64_t> MessageIndex::next_visibility_change() {
  while (!timers_.empty() && !timer_valid(timers_.front())) {
    std::pop_heap(timers_.begin(), timers_.end(), std::greater<>());
    timers_.pop_back();
  }
  if (timers_.empty()) return std::nullopt;
  return timers_.front().at;
}

void MessageIndex::clear() {
  int64_t freed = 0;
  for (auto& m : messages_) {
    if (m.payload) freed += cache_cost(m.payload->size());
  }
  cache_bytes_ -= freed;
  uncached_waiting_ = 0;
  // Swap with empties so the memory is returned, not just the size reset.
  std::deque<MessageMeta>().swap(messages_);
  std::vector<uint64_t>().swap(visible_);
  std::deque<uint64_t>().swap(returned_);
  std::vector<Timer>().swap(timers_);
  std::vector<Timer>().swap(ready_);
  groups_.clear();
  group_ids_.clear();
  group_of_.clear();
  live_ = dead_ = visible_n_ = inflight_n_ = delayed_n_ = 0;
}

std::string encode_queue_record(const Queue& q) {
  json::object o;
  o["account"] = q.id.account;
  o["name"] = q.id.name;
  o["incarnation"] = q.incarnation;
  o["created"] = q.created_s;
  o["modified"] = q.modified_s;
  if (q.last_purge_ms != kNeverPurged) o["last_purge_ms"] = q.last_purge_ms;
  json::object attrs;
  for (const auto& [k, v] : settable_attributes(q.config)) attrs[k] = v;
  o["attributes"] = std::move(attrs);
  json::object tags;
  for (const auto& [k, v] : q.tags) tags[k] = v;
  o["tags"] = std::move(tags);
  return json::serialize(o);
}

bool decode_queue_record(std::string_view data, QueueRecord* r) {
  boost::system::error_code ec;
  json::value v = json::parse(data, ec);
  if (ec || !v.is_object()) return false;
  const json::object& o = v.as_object();
  auto str = [&](std::string_view k, std::string* out) {
    const json::value* x = o.if_contains(k);
    if (!x || !x->is_string()) return false;
    *out = std::string(x->as_string());
    return true;
  };
  auto num = [&](std::string_view k, int64_t* out) {
    const json::value* x = o.if_contains(k);
    if (!x) return false;
    if (x->is_int64())
      *out = x->as_int64();
    else if (x->is_uint64())
      *out = static_cast<int64_t>(x->as_uint64());
    else
      return false;
    return true;
  };
  auto map = [&](std::string_view k, std::map<std::string, std::string>* out) {
    const json::value* x = o.if_contains(k);
    if (!x || !x->is_object()) return false;
    for (const auto& [key, val] : x->as_object()) {
      if (!val.is_string()) return false;
      (*out)[std::string(key)] = std::string(val.as_string());
    }
    return true;
  };
  int64_t incarnation = 0;
  if (!str("account", &r->id.account) || !str("name", &r->id.name) ||
      !num("incarnation", &incarnation) || !num("created", &r->created_s) ||
      !num("modified", &r->modified_s) || !map("attributes", &r->attributes) ||
      !map("tags", &r->tags)) {
    return false;
  }
  r->incarnation = static_cast<uint64_t>(incarnation);
  if (!num("last_purge_ms", &r->last_purge_ms)) r->last_purge_ms = kNeverPurged;
  return true;
}

}  // namespace ferry::sqs
