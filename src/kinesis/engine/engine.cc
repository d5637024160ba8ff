#include "kinesis/engine/engine.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>
#include <ctime>
#include <set>

#include "base/crypto.h"

namespace ferry::kinesis {

namespace json = boost::json;

namespace {

constexpr std::string_view kSeqKey = "kinesis/meta/seq";
constexpr std::string_view kSecretKey = "kinesis/meta/secret";
constexpr std::string_view kStreamPrefix = "kinesis/s/";
constexpr std::string_view kRecordPrefix = "kinesis/r/";
constexpr std::string_view kAccountPrefix = "kinesis/a/";
constexpr uint64_t kReserveBlock = 1 << 20;
constexpr size_t kMaxGetBytes = 10 * 1024 * 1024;
constexpr size_t kMaxPutRecordsBytes = 5 * 1024 * 1024;
constexpr int64_t kHourMs = 3'600'000;

void put_be(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t get_be(std::string_view in, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(in[pos + i]);
  return v;
}

std::string record_key(uint64_t incarnation, uint32_t shard, uint64_t counter) {
  std::string k(kRecordPrefix);
  put_be(k, incarnation, 8);
  put_be(k, shard, 4);
  put_be(k, counter, 8);
  return k;
}
std::string shard_prefix(uint64_t incarnation, uint32_t shard) {
  std::string k(kRecordPrefix);
  put_be(k, incarnation, 8);
  put_be(k, shard, 4);
  return k;
}
std::string stream_prefix(uint64_t incarnation) {
  std::string k(kRecordPrefix);
  put_be(k, incarnation, 8);
  return k;
}

// A chunk is the records one write put into one shard, stored as one value under the record key
// of its first record: a page of GetRecords then costs one store read per chunk rather than one
// per record, and a PutRecords one store put per shard it touches. Layout: kChunkMagic, then per
// record its counter (8), arrival (8), partition key length (2), data size (4), key and data.
// Values written before chunks hold one record: arrival (8), key length (4), key, data; their
// first byte is the top of a millisecond clock, never kChunkMagic.
constexpr char kChunkMagic = '\xc1';
constexpr size_t kChunkEntryHeader = 22;
// What a chunk read asks the buffer pool for: a PutRecords of 500 records of 1 KiB makes chunks
// of 130 KiB to 530 KiB depending on the shards it spreads over.
constexpr size_t kChunkBufferHint = 128 * 1024;

void append_to_chunk(std::string& chunk, Record& r, std::string_view data) {
  if (chunk.empty()) chunk.push_back(kChunkMagic);
  put_be(chunk, r.counter, 8);
  put_be(chunk, static_cast<uint64_t>(r.arrival_ms), 8);
  put_be(chunk, r.partition_key.size(), 2);
  put_be(chunk, data.size(), 4);
  chunk += r.partition_key;
  r.offset = static_cast<uint32_t>(chunk.size());
  chunk += data;
}

// The records of a stored chunk (or single old-format record) under key counter `first`, data
// left in the value (Record::offset); nullopt if the value is malformed.
std::optional<std::vector<Record>> decode_chunk(std::string_view v, uint64_t first) {
  std::vector<Record> out;
  if (!v.empty() && v[0] == kChunkMagic) {
    for (size_t p = 1; p < v.size();) {
      if (v.size() - p < kChunkEntryHeader) return std::nullopt;
      Record r;
      r.counter = get_be(v, p, 8);
      r.arrival_ms = static_cast<int64_t>(get_be(v, p + 8, 8));
      uint64_t key_size = get_be(v, p + 16, 2);
      uint64_t size = get_be(v, p + 18, 4);
      p += kChunkEntryHeader;
      if (v.size() - p < key_size + size) return std::nullopt;
      r.partition_key = std::string(v.substr(p, key_size));
      r.chunk = first;
      r.offset = static_cast<uint32_t>(p + key_size);
      r.size = static_cast<uint32_t>(size);
      p += key_size + size;
      out.push_back(std::move(r));
    }
    return out;
  }
  if (v.size() < 12) return std::nullopt;
  Record r;
  r.counter = first;
  r.chunk = first;
  r.arrival_ms = static_cast<int64_t>(get_be(v, 0, 8));
  uint64_t n = get_be(v, 8, 4);
  if (v.size() < 12 + n) return std::nullopt;
  r.partition_key = std::string(v.substr(12, n));
  r.offset = static_cast<uint32_t>(12 + n);
  r.size = static_cast<uint32_t>(v.size() - 12 - n);
  out.push_back(std::move(r));
  return out;
}

// Adds r to a page: its metadata now, and where its data will be found (a copy appended to
// `cached`, or its chunk, read once the engine's mutex is released).
void add_to_page(const Record& r, uint64_t incarnation, uint32_t shard,
                 std::vector<ReadRecord>& records, std::vector<PageData>& where,
                 std::string& cached) {
  if (r.cached) {
    where.push_back({records.size(), std::nullopt, static_cast<uint32_t>(cached.size()), r.size});
    cached += r.data;
  } else {
    where.push_back({records.size(), r.chunk, r.offset, r.size});
  }
  records.push_back(
      {format_sequence(r.counter, shard, incarnation), r.arrival_ms, r.partition_key, {}});
}

std::string shard_name(uint32_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shardId-%012u", index);
  return buf;
}

// The shards split or merged from shard `index`, as GetRecords and SubscribeToShard report them
// at the end of a closed shard.
std::vector<ChildShard> children_of(const StreamInfo& meta, uint32_t index) {
  std::vector<ChildShard> out;
  for (const auto& child : meta.shards) {
    if (child.parent != index && child.adjacent_parent != index) continue;
    ChildShard c{child.id, {}, child.start, child.end};
    if (child.parent) c.parent_shards.push_back(shard_name(*child.parent));
    if (child.adjacent_parent) c.parent_shards.push_back(shard_name(*child.adjacent_parent));
    out.push_back(std::move(c));
  }
  return out;
}

// Readers of the JSON records the engine stores: a member that is missing (records written
// before it existed) or of another type reads as empty or 0.
std::string str_of(const json::object& o, const char* key) {
  auto* p = o.if_contains(key);
  return p && p->is_string() ? std::string(p->as_string()) : std::string();
}

int64_t num_of(const json::object& o, const char* key) {
  auto* p = o.if_contains(key);
  if (p && p->is_int64()) return p->as_int64();
  if (p && p->is_uint64()) return static_cast<int64_t>(p->as_uint64());
  return 0;
}

// A stored record, or nullopt if it is not a JSON object.
std::optional<json::object> parse_record(std::string_view value) {
  boost::system::error_code ec;
  json::value v = json::parse(value, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::optional<uint32_t> shard_index_of(std::string_view id) {
  if (id.size() != 20 || id.substr(0, 8) != "shardId-") return std::nullopt;
  uint64_t v = 0;
  for (char c : id.substr(8)) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

std::string time_text(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %d %H:%M:%S UTC %Y", &tm);
  return buf;
}

}  // namespace

const char* to_string(StreamMode mode) {
  return mode == StreamMode::kOnDemand ? "ON_DEMAND" : "PROVISIONED";
}

const char* to_string(Commitment status) {
  switch (status) {
    case Commitment::kEnabled:
      return "ENABLED";
    case Commitment::kEnabledUntilEarliestAllowedEnd:
      return "ENABLED_UNTIL_EARLIEST_ALLOWED_END";
    case Commitment::kDisabled:
      break;
  }
  return "DISABLED";
}

struct Engine::Stream {
  StreamInfo meta;  // shards kept in `meta.shards`, by index
  std::map<uint32_t, std::deque<Record>> records;
  int64_t updating_until_ms = 0;
  int64_t creating_until_ms = 0;
  std::vector<int64_t> scalings_ms;  // UpdateShardCount calls of the last 24 h, oldest first
  // Warm throughput before the last UpdateStreamWarmThroughput, reported as current until then.
  int warm_before_mibps = 0;
  int64_t warm_until_ms = 0;
  // Per-shard use in the current second, for the throughput limits (memory only).
  struct Usage {
    int64_t second = -1;
    int64_t write_bytes = 0, write_records = 0, read_bytes = 0, reads = 0;
  };
  std::map<uint32_t, Usage> usage;
  Usage& use(uint32_t shard, int64_t now_ms) {
    Usage& u = usage[shard];
    if (u.second != now_ms / 1000) u = Usage{now_ms / 1000, 0, 0, 0, 0};
    return u;
  }

  ShardInfo* shard(uint32_t index) {
    for (auto& s : meta.shards) {
      if (s.index == index) return &s;
    }
    return nullptr;
  }
  ShardInfo* shard(std::string_view id) {
    auto index = shard_index_of(id);
    return index ? shard(*index) : nullptr;
  }
  std::string who() const { return "stream " + meta.name + " under account " + meta.account; }
};

std::string StreamInfo::shard_id(uint32_t index) const { return shard_name(index); }
std::string StreamInfo::starting_sequence(const ShardInfo& s) const {
  return format_sequence(s.start_counter, s.index, incarnation);
}
std::optional<std::string> StreamInfo::ending_sequence(const ShardInfo& s) const {
  if (!s.end_counter) return std::nullopt;
  return format_sequence(*s.end_counter, s.index, incarnation);
}
size_t StreamInfo::open_shards() const {
  return static_cast<size_t>(
      std::count_if(shards.begin(), shards.end(), [](const ShardInfo& s) { return s.open(); }));
}

Engine::Engine(storage::Store& store, const base::Clock& clock, EngineOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}
Engine::~Engine() = default;

std::string Engine::stream_arn(const std::string& account, const std::string& name) const {
  return "arn:aws:kinesis:" + options_.region + ":" + account + ":stream/" + name;
}

std::optional<std::pair<std::string, std::string>> Engine::parse_stream_arn(std::string_view arn) {
  // arn:aws:kinesis:<region>:<account>:stream/<name>[/consumer/...]
  std::string_view rest = arn;
  std::string_view parts[5];
  for (auto& p : parts) {
    auto colon = rest.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    p = rest.substr(0, colon);
    rest.remove_prefix(colon + 1);
  }
  if (parts[0] != "arn" || parts[2] != "kinesis" || parts[4].empty()) return std::nullopt;
  if (rest.substr(0, 7) != "stream/") return std::nullopt;
  rest.remove_prefix(7);
  rest = rest.substr(0, rest.find('/'));
  if (rest.empty()) return std::nullopt;
  return std::make_pair(std::string(parts[4]), std::string(rest));
}

// --- persistence ---

void Engine::persist(const Stream& st, storage::WriteBatch& batch) const {
  const StreamInfo& s = st.meta;
  json::object o;
  o["name"] = s.name;
  o["account"] = s.account;
  o["incarnation"] = s.incarnation;
  o["mode"] = to_string(s.mode);
  o["retention"] = s.retention_hours;
  o["created"] = s.created_ms;
  o["encryption"] = s.encryption_type;
  o["key"] = s.key_id;
  o["policy"] = s.policy;
  o["updating_until"] = st.updating_until_ms;
  o["creating_until"] = st.creating_until_ms;
  o["max_record_kib"] = s.max_record_kib;
  if (s.warm_target_mibps) {
    o["warm_target"] = *s.warm_target_mibps;
    o["warm_before"] = st.warm_before_mibps;
    o["warm_until"] = st.warm_until_ms;
  }
  json::array scalings;
  for (int64_t t : st.scalings_ms) scalings.emplace_back(t);
  o["scalings"] = std::move(scalings);
  json::array metrics;
  for (const auto& m : s.shard_level_metrics) metrics.emplace_back(m);
  o["metrics"] = std::move(metrics);
  json::object tags;
  for (const auto& [k, v] : s.tags) tags[k] = v;
  o["tags"] = std::move(tags);
  json::array shards;
  for (const auto& sh : s.shards) {
    json::object j;
    j["i"] = sh.index;
    j["start"] = hash_key_string(sh.start);
    j["end"] = hash_key_string(sh.end);
    if (sh.parent) j["parent"] = *sh.parent;
    if (sh.adjacent_parent) j["adjacent"] = *sh.adjacent_parent;
    j["first"] = sh.start_counter;
    if (sh.end_counter) j["last"] = *sh.end_counter;
    j["created"] = sh.created_ms;
    if (sh.closed_ms) j["closed"] = *sh.closed_ms;
    shards.push_back(std::move(j));
  }
  o["shards"] = std::move(shards);
  json::array consumers;
  for (const auto& c : s.consumers) {
    consumers.push_back(json::object{{"name", c.name}, {"arn", c.arn}, {"created", c.created_ms}});
  }
  o["consumers"] = std::move(consumers);
  batch.put(std::string(kStreamPrefix) + s.account + "/" + s.name, json::serialize(o));
}

uint64_t Engine::next_counter(storage::WriteBatch& batch) {
  if (counter_ >= reserved_) {
    reserved_ = counter_ + kReserveBlock;
    std::string v;
    put_be(v, reserved_, 8);
    batch.put(std::string(kSeqKey), v);
  }
  return counter_++;
}

void Engine::cache_added(uint64_t incarnation, uint32_t shard, const Record& r) {
  cached_bytes_ += r.size;
  cache_order_.push_back({incarnation, shard, r.counter});
  evict();
}

void Engine::uncache(const Record& r) {
  if (r.cached) cached_bytes_ -= r.size;
}

// Drops entries of records trimmed or deleted since (they gather at the front, being the
// oldest), then the data of the oldest cached records while over the budget.
void Engine::evict() {
  while (!cache_order_.empty()) {
    const CacheEntry& e = cache_order_.front();
    Record* r = nullptr;
    if (auto it = by_incarnation_.find(e.incarnation); it != by_incarnation_.end()) {
      auto& dq = it->second->records[e.shard];
      auto pos = std::lower_bound(dq.begin(), dq.end(), e.counter,
                                  [](const Record& x, uint64_t c) { return x.counter < c; });
      if (pos != dq.end() && pos->counter == e.counter && pos->cached) r = &*pos;
    }
    if (r != nullptr) {
      if (cached_bytes_ <= options_.record_cache_bytes) break;
      cached_bytes_ -= r->size;
      r->cached = false;
      std::string().swap(r->data);
    }
    cache_order_.pop_front();
  }
}

Result<base::Ok> Engine::commit(storage::WriteBatch batch, Done done) {
  store_.write(std::move(batch), storage::Durability::kSync, std::move(done));
  return base::Ok{};
}

Result<base::Ok> Engine::recover() {
  std::lock_guard lock(mu_);
  if (auto seq = store_.get(kSeqKey); seq && seq->size() == 8) {
    reserved_ = get_be(*seq, 0, 8);
    counter_ = reserved_;
  }
  if (auto secret = store_.get(kSecretKey); secret && secret->size() == 32) {
    secret_ = *secret;
  } else {
    secret_.resize(32);
    base::random_bytes(reinterpret_cast<uint8_t*>(secret_.data()), secret_.size());
    storage::WriteBatch b;
    b.put(std::string(kSecretKey), secret_);
    store_.write(std::move(b), storage::Durability::kSync, nullptr);
  }
  bool broken = false;
  store_.scan(kStreamPrefix, [&](std::string_view, std::string_view value) {
    auto record = parse_record(value);
    if (!record) {
      broken = true;
      return false;
    }
    const json::object& o = *record;
    auto st = std::make_unique<Stream>();
    StreamInfo& s = st->meta;
    s.name = str_of(o, "name");
    s.account = str_of(o, "account");
    s.arn = stream_arn(s.account, s.name);
    s.incarnation = static_cast<uint64_t>(num_of(o, "incarnation"));
    s.mode = str_of(o, "mode") == "ON_DEMAND" ? StreamMode::kOnDemand : StreamMode::kProvisioned;
    s.retention_hours = static_cast<int>(num_of(o, "retention"));
    s.created_ms = num_of(o, "created");
    s.encryption_type = str_of(o, "encryption");
    s.key_id = str_of(o, "key");
    s.policy = str_of(o, "policy");
    st->updating_until_ms = num_of(o, "updating_until");
    st->creating_until_ms = num_of(o, "creating_until");
    // Records written before these settings existed have none: 1 MiB, no warm throughput.
    if (o.contains("max_record_kib"))
      s.max_record_kib = static_cast<int>(num_of(o, "max_record_kib"));
    if (o.contains("warm_target")) {
      s.warm_target_mibps = static_cast<int>(num_of(o, "warm_target"));
      st->warm_before_mibps = static_cast<int>(num_of(o, "warm_before"));
      st->warm_until_ms = num_of(o, "warm_until");
    }
    if (auto* a = o.if_contains("scalings"); a && a->is_array()) {
      for (const auto& e : a->as_array()) {
        if (e.is_int64()) st->scalings_ms.push_back(e.as_int64());
      }
    }
    if (auto* m = o.if_contains("metrics"); m && m->is_array()) {
      for (const auto& e : m->as_array()) s.shard_level_metrics.emplace_back(e.as_string());
    }
    if (auto* t = o.if_contains("tags"); t && t->is_object()) {
      for (const auto& [k, e] : t->as_object()) s.tags[std::string(k)] = e.as_string();
    }
    if (auto* a = o.if_contains("shards"); a && a->is_array()) {
      for (const auto& e : a->as_array()) {
        const auto& j = e.as_object();
        ShardInfo sh;
        sh.index = static_cast<uint32_t>(num_of(j, "i"));
        sh.id = shard_name(sh.index);
        sh.start = parse_hash_key(j.at("start").as_string()).value_or(0);
        sh.end = parse_hash_key(j.at("end").as_string()).value_or(0);
        if (j.contains("parent")) sh.parent = static_cast<uint32_t>(num_of(j, "parent"));
        if (j.contains("adjacent"))
          sh.adjacent_parent = static_cast<uint32_t>(num_of(j, "adjacent"));
        sh.start_counter = static_cast<uint64_t>(num_of(j, "first"));
        if (j.contains("last")) sh.end_counter = static_cast<uint64_t>(num_of(j, "last"));
        sh.created_ms = num_of(j, "created");
        if (j.contains("closed")) sh.closed_ms = num_of(j, "closed");
        st->records[sh.index];
        s.shards.push_back(sh);
      }
    }
    if (auto* a = o.if_contains("consumers"); a && a->is_array()) {
      for (const auto& e : a->as_array()) {
        const auto& j = e.as_object();
        s.consumers.push_back({std::string(j.at("name").as_string()),
                               std::string(j.at("arn").as_string()), num_of(j, "created")});
      }
    }
    by_incarnation_[s.incarnation] = st.get();
    streams_[s.account + "/" + s.name] = std::move(st);
    return true;
  });
  if (broken) return error(Errc::kInternal, "a stream record in the store is corrupt");
  store_.scan(kAccountPrefix, [&](std::string_view key, std::string_view value) {
    auto record = parse_record(value);
    if (!record) {
      broken = true;
      return false;
    }
    const json::object& o = *record;
    AccountSettings a;
    const std::string status = str_of(o, "status");
    for (Commitment c : {Commitment::kEnabled, Commitment::kEnabledUntilEarliestAllowedEnd}) {
      if (status == to_string(c)) a.status = c;
    }
    auto time = [&](const char* k) {
      return o.contains(k) ? std::optional<int64_t>(num_of(o, k)) : std::nullopt;
    };
    a.started_ms = time("started");
    a.ended_ms = time("ended");
    a.earliest_end_ms = time("earliest_end");
    accounts_[std::string(key.substr(kAccountPrefix.size()))] = a;
    return true;
  });
  if (broken) return error(Errc::kInternal, "an account record in the store is corrupt");
  std::vector<std::string> orphans;
  store_.scan(kRecordPrefix, [&](std::string_view key, std::string_view value) {
    if (key.size() != kRecordPrefix.size() + 20) return true;
    uint64_t inc = get_be(key, kRecordPrefix.size(), 8);
    auto shard = static_cast<uint32_t>(get_be(key, kRecordPrefix.size() + 8, 4));
    uint64_t counter = get_be(key, kRecordPrefix.size() + 12, 8);
    auto it = by_incarnation_.find(inc);
    if (it == by_incarnation_.end()) return true;
    auto chunk = decode_chunk(value, counter);
    if (!chunk) {
      broken = true;
      return false;
    }
    auto& dq = it->second->records[shard];
    for (auto& r : *chunk) {
      counter_ = std::max(counter_, r.counter + 1);
      r.cached = false;  // read back from the store when asked for
      dq.push_back(std::move(r));
    }
    return true;
  });
  if (broken) return error(Errc::kInternal, "a record chunk in the store is corrupt");
  for (auto& [key, st] : streams_) {
    for (auto& [idx, dq] : st->records) {
      std::sort(dq.begin(), dq.end(),
                [](const Record& a, const Record& b) { return a.counter < b.counter; });
    }
    counter_ = std::max(counter_, st->meta.incarnation + 1);
    for (const auto& sh : st->meta.shards) {
      counter_ = std::max(counter_, std::max(sh.start_counter, sh.end_counter.value_or(0)) + 1);
    }
  }
  return base::Ok{};
}

// --- lookups ---

Engine::Stream* Engine::find(const std::string& account, const std::string& name) {
  auto it = streams_.find(account + "/" + name);
  return it == streams_.end() ? nullptr : it->second.get();
}

Result<Engine::Stream*> Engine::need(const std::string& account, const std::string& name) {
  Stream* s = find(account, name);
  if (s == nullptr) {
    return error(Errc::kResourceNotFound,
                 "Stream " + name + " under account " + account + " not found.");
  }
  trim(*s);
  return s;
}

Result<Engine::Stream*> Engine::need_active(const std::string& account, const std::string& name) {
  auto s = need(account, name);
  if (!s) return s;
  if (status(**s) != "ACTIVE") {
    return error(Errc::kResourceInUse, "Stream " + name + " under account " + account +
                                           " not ACTIVE, instead in state " + status(**s));
  }
  return s;
}

Result<Engine::Stream*> Engine::need_created(const std::string& account, const std::string& name) {
  auto s = need(account, name);
  if (s && clock_.now_ms() < (*s)->creating_until_ms) {
    return error(Errc::kResourceNotFound,
                 "Stream " + name + " under account " + account + " not found.");
  }
  return s;
}

std::string Engine::status(const Stream& s) const {
  int64_t now = clock_.now_ms();
  if (now < s.creating_until_ms) return "CREATING";
  return now < s.updating_until_ms ? "UPDATING" : "ACTIVE";
}

bool Engine::throttled(const Stream& s) const {
  return options_.enforce_throughput || options_.enforce_throughput_streams.contains(s.meta.name);
}

StreamInfo Engine::info(const Stream& s) const {
  StreamInfo out = s.meta;
  out.status = status(s);
  out.warm_current_mibps = clock_.now_ms() < s.warm_until_ms ? s.warm_before_mibps
                                                             : s.meta.warm_target_mibps.value_or(0);
  return out;
}

void Engine::trim(Stream& s) {
  int64_t horizon = clock_.now_ms() - static_cast<int64_t>(s.meta.retention_hours) * kHourMs;
  storage::WriteBatch batch;
  for (auto& [index, dq] : s.records) {
    uint64_t last = 0;
    bool any = false;
    while (!dq.empty() && dq.front().arrival_ms < horizon) {
      last = dq.front().counter;
      any = true;
      uncache(dq.front());
      dq.pop_front();
    }
    if (any) {  // whole chunks only: the one holding the oldest record left stays
      batch.delete_range(
          shard_prefix(s.meta.incarnation, index),
          record_key(s.meta.incarnation, index, dq.empty() ? last + 1 : dq.front().chunk));
    }
  }
  // Closed shards leave the stream once their records are past retention.
  std::erase_if(s.meta.shards, [&](const ShardInfo& sh) {
    return sh.closed_ms && *sh.closed_ms < horizon && s.records[sh.index].empty();
  });
  if (!batch.empty()) store_.write(std::move(batch), storage::Durability::kLazy, nullptr);
}

// --- streams ---

uint32_t Engine::add_shard(Stream& s, u128 start, u128 end, std::optional<uint32_t> parent,
                           std::optional<uint32_t> adjacent, storage::WriteBatch& batch) {
  ShardInfo sh;
  sh.index = s.meta.shards.empty() ? 0 : s.meta.shards.back().index + 1;
  sh.id = shard_name(sh.index);
  sh.start = start;
  sh.end = end;
  sh.parent = parent;
  sh.adjacent_parent = adjacent;
  sh.start_counter = next_counter(batch);
  sh.created_ms = clock_.now_ms();
  s.records[sh.index];
  s.meta.shards.push_back(sh);
  return sh.index;
}

void Engine::close_shard(Stream& s, uint32_t index) {
  ShardInfo* sh = s.shard(index);
  if (sh == nullptr || !sh->open()) return;
  sh->end_counter = counter_;  // larger than every record it holds, never handed out to it
  sh->closed_ms = clock_.now_ms();
  wake_subscribers(s.meta.incarnation, {index});  // they send ChildShards and end
}

Result<base::Ok> Engine::create_stream(const std::string& account, const std::string& name,
                                       std::optional<int> shard_count, StreamMode mode,
                                       const std::map<std::string, std::string>& tags, Done done,
                                       const StreamOptions& extra) {
  std::lock_guard lock(mu_);
  if (find(account, name) != nullptr) {
    return error(Errc::kResourceInUse,
                 "Stream " + name + " under account " + account + " already exists.");
  }
  int n = shard_count.value_or(mode == StreamMode::kOnDemand ? options_.on_demand_shards : 1);
  Counts c;
  for (const auto& [k, st] : streams_) {
    if (st->meta.account != account) continue;
    c.open_shards += static_cast<int>(st->meta.open_shards());
    if (st->meta.mode == StreamMode::kOnDemand) ++c.on_demand_streams;
  }
  if (c.open_shards + n > options_.shard_limit) {
    return error(
        Errc::kLimitExceeded,
        "This request would exceed the shard limit for the account " + account +
            " in us-east-1. Current shard count for the account: " + std::to_string(c.open_shards) +
            ". Limit: " + std::to_string(options_.shard_limit) +
            ". Number of additional shards that would have resulted from this request: " +
            std::to_string(n) + ".");
  }
  if (mode == StreamMode::kOnDemand && c.on_demand_streams >= options_.on_demand_stream_limit) {
    return error(Errc::kLimitExceeded, "This request would exceed the on-demand stream limit.");
  }
  auto st = std::make_unique<Stream>();
  StreamInfo& s = st->meta;
  s.account = account;
  s.name = name;
  s.mode = mode;
  if (extra.warm_throughput_mibps) {
    if (auto ok = check_warm(*st, *extra.warm_throughput_mibps); !ok) return ok;
    s.warm_target_mibps = extra.warm_throughput_mibps;
  }
  s.max_record_kib = extra.max_record_kib.value_or(1024);
  storage::WriteBatch batch;
  s.arn = stream_arn(account, name);
  s.incarnation = next_counter(batch);
  s.created_ms = clock_.now_ms();
  s.tags = tags;
  st->creating_until_ms = s.created_ms + options_.create_delay_ms;
  st->warm_until_ms = st->creating_until_ms;
  for (int i = 0; i < n; ++i) {
    u128 start = even_split_start(static_cast<uint64_t>(i), static_cast<uint64_t>(n));
    u128 end = i + 1 == n
                   ? kMaxHashKey
                   : even_split_start(static_cast<uint64_t>(i + 1), static_cast<uint64_t>(n)) - 1;
    add_shard(*st, start, end, std::nullopt, std::nullopt, batch);
  }
  persist(*st, batch);
  by_incarnation_[s.incarnation] = st.get();
  streams_[account + "/" + name] = std::move(st);
  return commit(std::move(batch), std::move(done));
}

Result<base::Ok> Engine::delete_stream(const std::string& account, const std::string& name,
                                       bool enforce_consumer_deletion, Done done) {
  std::lock_guard lock(mu_);
  auto s = need(account, name);
  if (!s) return base::fail(s.error());
  Stream& st = **s;
  if (!st.meta.consumers.empty() && !enforce_consumer_deletion) {
    return error(Errc::kResourceInUse,
                 "Stream " + name + " under account " + account +
                     " has registered consumers. Use EnforceConsumerDeletion to delete it.");
  }
  storage::WriteBatch batch;
  batch.del(std::string(kStreamPrefix) + account + "/" + name);
  batch.delete_range(stream_prefix(st.meta.incarnation), stream_prefix(st.meta.incarnation + 1));
  for (const auto& [index, dq] : st.records) {
    for (const auto& r : dq) uncache(r);
  }
  by_incarnation_.erase(st.meta.incarnation);
  streams_.erase(account + "/" + name);
  return commit(std::move(batch), std::move(done));
}

Result<StreamInfo> Engine::describe(const std::string& account, const std::string& name) {
  std::lock_guard lock(mu_);
  auto s = need(account, name);
  if (!s) return base::fail(s.error());
  return info(**s);
}

std::vector<StreamInfo> Engine::list_streams(const std::string& account) {
  std::lock_guard lock(mu_);
  std::vector<StreamInfo> out;
  for (auto it = streams_.lower_bound(account + "/"); it != streams_.end(); ++it) {
    if (it->second->meta.account != account) break;
    StreamInfo i = info(*it->second);
    i.shards.clear();
    out.push_back(std::move(i));
  }
  return out;
}

Engine::Counts Engine::counts(const std::string& account) {
  std::lock_guard lock(mu_);
  Counts c;
  for (const auto& [k, st] : streams_) {
    if (st->meta.account != account) continue;
    c.open_shards += static_cast<int>(st->meta.open_shards());
    if (st->meta.mode == StreamMode::kOnDemand) ++c.on_demand_streams;
  }
  return c;
}

// --- records ---

Result<PutOutput> Engine::place(Stream& s, const PutInput& input, ChunkDrafts& drafts,
                                storage::WriteBatch& batch) {
  u128 hash;
  if (input.explicit_hash_key) {
    auto h = parse_hash_key(*input.explicit_hash_key);
    if (!h) {
      return error(Errc::kInvalidArgument,
                   "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
                   "Specified value was " +
                       *input.explicit_hash_key);
    }
    hash = *h;
  } else {
    hash = partition_hash(input.partition_key);
  }
  for (auto& sh : s.meta.shards) {
    if (!sh.open() || hash < sh.start || hash > sh.end) continue;
    if (throttled(s)) {
      auto& u = s.use(sh.index, clock_.now_ms());
      auto size = static_cast<int64_t>(input.data.size() + input.partition_key.size());
      if (u.write_records + 1 > options_.shard_write_records_per_s ||
          u.write_bytes + size > options_.shard_write_bytes_per_s) {
        return error(Errc::kThroughputExceeded,
                     "Rate exceeded for shard " + sh.id + " in " + s.who() + ".");
      }
      ++u.write_records;
      u.write_bytes += size;
    }
    Record r;
    r.counter = next_counter(batch);
    r.arrival_ms = clock_.now_ms();
    r.partition_key = input.partition_key;
    r.size = static_cast<uint32_t>(input.data.size());
    ChunkDraft& draft = drafts[sh.index];
    if (draft.value.empty()) draft.first = r.counter;
    r.chunk = draft.first;
    append_to_chunk(draft.value, r, input.data);
    r.data = input.data;
    PutOutput out{format_sequence(r.counter, sh.index, s.meta.incarnation), sh.id, {}, {}};
    s.records[sh.index].push_back(std::move(r));
    cache_added(s.meta.incarnation, sh.index, s.records[sh.index].back());
    return out;
  }
  return error(Errc::kInternal, "no open shard owns hash key " + hash_key_string(hash));
}

void Engine::put_chunks(uint64_t incarnation, ChunkDrafts& drafts, storage::WriteBatch& batch) {
  for (auto& [index, draft] : drafts) {
    batch.put(record_key(incarnation, index, draft.first), std::move(draft.value));
  }
}

Result<PutOutput> Engine::put_record(const std::string& account, const std::string& name,
                                     const PutInput& input, Done done) {
  std::lock_guard lock(mu_);
  auto s = need_created(account, name);
  if (!s) return base::fail(s.error());
  if (auto ok = check_size(**s, input, "data"); !ok) return base::fail(ok.error());
  storage::WriteBatch batch;
  ChunkDrafts drafts;
  auto out = place(**s, input, drafts, batch);
  if (!out) return out;
  put_chunks((*s)->meta.incarnation, drafts, batch);
  done = wake_after((*s)->meta.incarnation, {*shard_index_of(out->shard_id)}, std::move(done));
  commit(std::move(batch), std::move(done)).value();
  return out;
}

Result<std::vector<PutOutput>> Engine::put_records(const std::string& account,
                                                   const std::string& name,
                                                   const std::vector<PutInput>& inputs, Done done) {
  std::lock_guard lock(mu_);
  auto s = need_created(account, name);
  if (!s) return base::fail(s.error());
  size_t total = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& in = inputs[i];
    auto field = "records." + std::to_string(i + 1) + ".member.data";
    if (auto ok = check_size(**s, in, field); !ok) return base::fail(ok.error());
    total += in.data.size() + in.partition_key.size();
  }
  // 5 MiB per call, or one record of the stream's maximum if that is larger.
  size_t max_total =
      std::max<size_t>(kMaxPutRecordsBytes, static_cast<size_t>((*s)->meta.max_record_kib) * 1024);
  if (total > max_total) {
    return error(Errc::kInvalidArgument,
                 "Records size exceeds " + std::to_string(max_total / (1024 * 1024)) + " MB limit");
  }
  for (const auto& in : inputs) {
    if (in.explicit_hash_key && !parse_hash_key(*in.explicit_hash_key)) {
      return error(Errc::kInvalidArgument,
                   "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
                   "Specified value was " +
                       *in.explicit_hash_key);
    }
  }
  storage::WriteBatch batch;
  ChunkDrafts drafts;
  std::vector<PutOutput> out;
  out.reserve(inputs.size());
  for (const auto& in : inputs) {
    auto r = place(**s, in, drafts, batch);
    if (!r && r.error().code == Errc::kThroughputExceeded) {
      out.push_back({{}, {}, "ProvisionedThroughputExceededException", r.error().message});
      continue;
    }
    if (!r) return base::fail(r.error());  // cannot happen: checked above, shards cover the space
    out.push_back(std::move(r.value()));
  }
  put_chunks((*s)->meta.incarnation, drafts, batch);
  std::vector<uint32_t> touched;
  for (const auto& [index, draft] : drafts) touched.push_back(index);
  done = wake_after((*s)->meta.incarnation, std::move(touched), std::move(done));
  commit(std::move(batch), std::move(done)).value();
  return out;
}

// --- iterators ---

std::string Engine::make_iterator(uint64_t incarnation, uint32_t shard, uint64_t position) const {
  std::string raw;
  raw.push_back(1);
  put_be(raw, incarnation, 8);
  put_be(raw, shard, 4);
  put_be(raw, position, 8);
  put_be(raw, static_cast<uint64_t>(clock_.now_ms()), 8);
  auto mac = base::hmac_sha256(secret_, raw);
  raw.append(reinterpret_cast<const char*>(mac.data()), 16);
  return base::base64_encode(raw);
}

Result<std::string> Engine::get_shard_iterator(const std::string& account, const std::string& name,
                                               const std::string& shard_id, IteratorType type,
                                               const std::string& sequence_number,
                                               std::optional<int64_t> timestamp_ms) {
  std::lock_guard lock(mu_);
  auto s = need_created(account, name);
  if (!s) return base::fail(s.error());
  Stream& st = **s;
  ShardInfo* sh = st.shard(shard_id);
  if (sh == nullptr) {
    return error(Errc::kResourceNotFound,
                 "Shard " + shard_id + " in " + st.who() + " does not exist");
  }
  const auto& dq = st.records[sh->index];
  uint64_t position = 0;
  switch (type) {
    case IteratorType::kTrimHorizon:
      position = 0;
      break;
    case IteratorType::kLatest:
      position = sh->end_counter.value_or(counter_);
      break;
    case IteratorType::kAtTimestamp: {
      position = sh->end_counter.value_or(counter_);
      int64_t ts = timestamp_ms.value_or(0);
      if (ts > clock_.now_ms()) {
        return error(Errc::kInvalidArgument,
                     "The timestampInMillis parameter cannot be greater than the "
                     "currentTimeInMillis. timestampInMillis: " +
                         std::to_string(ts) +
                         ", currentTimeInMillis: " + std::to_string(clock_.now_ms()));
      }
      for (const auto& r : dq) {
        if (r.arrival_ms >= ts) {
          position = r.counter;
          break;
        }
      }
      break;
    }
    case IteratorType::kAtSequence:
    case IteratorType::kAfterSequence: {
      auto parts = parse_sequence(sequence_number);
      if (!parts || parts->incarnation != st.meta.incarnation % 10000000000ULL) {
        return error(Errc::kInvalidArgument, "StartingSequenceNumber " + sequence_number +
                                                 " used in GetShardIterator on shard " + shard_id +
                                                 " in " + st.who() + " is invalid.");
      }
      if (parts->shard_index != sh->index) {
        return error(Errc::kInvalidArgument, "Invalid StartingSequenceNumber. It encodes " +
                                                 shard_name(parts->shard_index) +
                                                 ", while it was used in a call to a shard with " +
                                                 shard_id);
      }
      if (parts->counter >= counter_ && parts->counter != sh->start_counter) {
        return error(Errc::kInvalidArgument,
                     "StartingSequenceNumber " + sequence_number +
                         " used in GetShardIterator on shard " + shard_id + " in " + st.who() +
                         " is invalid because it did not come from this stream.");
      }
      position = parts->counter + (type == IteratorType::kAfterSequence ? 1 : 0);
      break;
    }
  }
  return make_iterator(st.meta.incarnation, sh->index, position);
}

Result<GetRecordsOutput> Engine::get_records(const std::string& iterator, int limit) {
  std::unique_lock lock(mu_);
  auto raw = base::base64_decode(iterator);
  if (!raw || raw->size() != 45 || (*raw)[0] != 1) {
    return error(Errc::kInvalidArgument, "Invalid ShardIterator.");
  }
  auto mac = base::hmac_sha256(secret_, std::string_view(*raw).substr(0, 29));
  if (std::memcmp(mac.data(), raw->data() + 29, 16) != 0) {
    return error(Errc::kInvalidArgument, "Invalid ShardIterator.");
  }
  uint64_t inc = get_be(*raw, 1, 8);
  auto index = static_cast<uint32_t>(get_be(*raw, 9, 4));
  uint64_t position = get_be(*raw, 13, 8);
  auto issued = static_cast<int64_t>(get_be(*raw, 21, 8));
  int64_t now = clock_.now_ms();
  if (now - issued > options_.iterator_ttl_ms) {
    return error(Errc::kExpiredIterator,
                 "Iterator expired. The iterator was created at time " + time_text(issued) +
                     " while right now it is " + time_text(now) +
                     " which is further in the future than the tolerated delay of " +
                     std::to_string(options_.iterator_ttl_ms) + " milliseconds.");
  }
  if (limit < 1 || limit > 10000) {
    return error(Errc::kInvalidArgument,
                 "1 validation error detected: Value '" + std::to_string(limit) +
                     "' at 'limit' failed to satisfy constraint: Member must have value less "
                     "than or equal to 10000");
  }
  auto it = by_incarnation_.find(inc);
  if (it == by_incarnation_.end()) {
    return error(Errc::kResourceNotFound,
                 "Shard " + shard_name(index) + " in stream under account does not exist");
  }
  Stream& st = *it->second;
  trim(st);
  ShardInfo* sh = st.shard(index);
  if (sh == nullptr) {
    return error(Errc::kResourceNotFound,
                 "Shard " + shard_name(index) + " in " + st.who() + " does not exist");
  }
  Stream::Usage* usage = nullptr;
  if (throttled(st)) {
    usage = &st.use(index, now);
    if (usage->reads + 1 > options_.shard_reads_per_s ||
        usage->read_bytes >= options_.shard_read_bytes_per_s) {
      return error(Errc::kThroughputExceeded,
                   "Rate exceeded for Shard - " + shard_name(index) + " in " + st.who() + ".");
    }
    ++usage->reads;
  }
  const auto& dq = st.records[index];
  auto pos = std::lower_bound(dq.begin(), dq.end(), position,
                              [](const Record& r, uint64_t p) { return r.counter < p; });
  GetRecordsOutput out;
  out.encryption_type = st.meta.encryption_type;
  std::vector<PageData> where;
  std::string cached;
  size_t bytes = 0;
  uint64_t next = position;
  for (; pos != dq.end() && out.records.size() < static_cast<size_t>(limit); ++pos) {
    size_t size = pos->size + pos->partition_key.size();
    if (!out.records.empty() && bytes + size > kMaxGetBytes) break;
    bytes += size;
    add_to_page(*pos, inc, index, out.records, where, cached);
    next = pos->counter + 1;
  }
  if (usage != nullptr) usage->read_bytes += static_cast<int64_t>(bytes);
  if (pos != dq.end()) out.millis_behind_latest = std::max<int64_t>(0, now - pos->arrival_ms);
  if (!sh->open() && pos == dq.end()) {
    out.child_shards = children_of(st.meta, index);
  } else {
    out.next_iterator = make_iterator(inc, index, next);
  }
  lock.unlock();
  auto read = read_page(inc, index, where, std::move(cached), out.records, out.buffers);
  if (!read) return base::fail(read.error());
  return out;
}

Result<base::Ok> Engine::read_page(uint64_t incarnation, uint32_t shard,
                                   const std::vector<PageData>& where, std::string cached,
                                   std::vector<ReadRecord>& records, PageBuffers& buffers) {
  const std::string* held = nullptr;
  if (!cached.empty()) {
    buffers.push_back(base::take_pooled_buffer(0));
    *buffers.back() = std::move(cached);
    held = buffers.back().get();
  }
  std::optional<uint64_t> loaded;
  const std::string* chunk = nullptr;
  std::vector<size_t> gone;
  for (const auto& w : where) {
    const std::string* in = held;
    if (w.chunk) {
      if (loaded != w.chunk) {
        loaded = w.chunk;
        chunk = nullptr;
        auto value = base::take_pooled_buffer(kChunkBufferHint);
        if (store_.get_into(record_key(incarnation, shard, *w.chunk), *value)) {
          buffers.push_back(std::move(value));
          chunk = buffers.back().get();
        }
      }
      if (chunk == nullptr) {
        gone.push_back(w.index);  // trimmed or deleted since the page was chosen
        continue;
      }
      in = chunk;
    }
    if (w.size == 0) continue;
    if (in == nullptr || in->size() < w.offset || in->size() - w.offset < w.size) {
      return error(Errc::kInternal, "a record chunk in the store is corrupt");
    }
    records[w.index].data = std::string_view(*in).substr(w.offset, w.size);
  }
  for (auto it = gone.rbegin(); it != gone.rend(); ++it) {
    records.erase(records.begin() + static_cast<std::ptrdiff_t>(*it));
  }
  return base::Ok{};
}

// --- configuration ---

Result<base::Ok> Engine::set_retention(const std::string& account, const std::string& name,
                                       int hours, bool increase, Done done) {
  std::lock_guard lock(mu_);
  auto s = need(account, name);
  if (!s) return base::fail(s.error());
  Stream& st = **s;
  if (hours < 24) {
    return error(Errc::kInvalidArgument,
                 "Minimum allowed retention period is 24 hours. Requested retention period (" +
                     std::to_string(hours) + " hours) is too short.");
  }
  if (hours > 8760) {
    return error(Errc::kInvalidArgument,
                 "Maximum allowed retention period is 8760 hours. Requested retention period (" +
                     std::to_string(hours) + " hours) is too long.");
  }
  int current = st.meta.retention_hours;
  if (increase && hours < current) {
    return error(Errc::kInvalidArgument,
                 "Requested retention period (" + std::to_string(hours) + " hours) for stream " +
                     name + " can not be shorter than existing retention period (" +
                     std::to_string(current) + " hours). Use DecreaseRetentionPeriod API.");
  }
  if (!increase && hours > current) {
    return error(Errc::kInvalidArgument,
                 "Requested retention period (" + std::to_string(hours) + " hours) for stream " +
                     name + " can not be longer than existing retention period (" +
                     std::to_string(current) + " hours). Use IncreaseRetentionPeriod API.");
  }
  st.meta.retention_hours = hours;
  trim(st);
  storage::WriteBatch batch;
  persist(st, batch);
  return commit(std::move(batch), std::move(done));
}

Result<base::Ok> Engine::add_tags(const std::string& account, const std::string& name,
                                  const std::map<std::string, std::string>& tags, Done done) {
  std::lock_guard lock(mu_);
  auto s = need(account, name);
  if (!s) return base::fail(s.error());
  Stream& st = **s;
  auto merged = st.meta.tags;
  for (const auto& [k, v] : tags) merged[k] = v;
  if (merged.size() > 50) {
    return error(Errc::kLimitExceeded, "Failed to add tags to stream " + name + " under account " +
                                           account +
                                           " because a given stream cannot have more than 50 "
                                           "tags.");
  }
  st.meta.tags = std::move(merged);
  storage::WriteBatch batch;
  persist(st, batch);
  return commit(std::move(batch), std::move(done));
}

Result<base::Ok> Engine::remove_tags(const std::string& account, const std::string& name,
                                     const std::vector<std::string>& keys, Done done) {
  std::lock_guard lock(mu_);
  auto s = need(account, name);
  if (!s) return base::fail(s.error());
  for (const auto& k : keys) (*s)->meta.tags.erase(k);
  storage::WriteBatch batch;
  persist(**s, batch);
  return commit(std::move(batch), std::move(done));
}

// --- resharding ---

Result<base::Ok> Engine::split_shard(const std::string& account, const std::string& name,
                                     const std::string& shard_id, const std::string& new_start,
                                     Done done) {
  std::lock_guard lock(mu_);
  auto s = need_active(account, name);
  if (!s) return base::fail(s.error());
  Stream& st = **s;
  ShardInfo* sh = st.shard(shard_id);
  if (sh == nullptr) {
    return error(Errc::kResourceNotFound,
                 "Could not find shard " + shard_id + " in " + st.who() + ".");
  }
  if (!sh->open()) {
    return error(Errc::kResourceInUse, "Shard " + shard_id + " in " + st.who() +
                                           " has already been merged or split, and thus is not "
                                           "eligible for merging or splitting.");
  }
  auto h = parse_hash_key(new_start);
  if (!h || *h <= sh->start || *h > sh->end) {
    return error(Errc::kInvalidArgument,
                 "NewStartingHashKey " + new_start + " used in SplitShard() on shard " + shard_id +
                     " in " + st.who() +
                     " is not both greater than one plus the shard's StartingHashKey " +
                     hash_key_string(sh->start) + " and less than the shard's EndingHashKey " +
                     hash_key_string(sh->end) + ".");
  }
  if (static_cast<int>(st.meta.open_shards()) + 1 > options_.shard_limit) {
    return error(Errc::kLimitExceeded, "This request would exceed the shard limit.");
  }
  uint32_t parent = sh->index;
  u128 start = sh->start, end = sh->end;
  close_shard(st, parent);
  storage::WriteBatch batch;
  add_shard(st, start, *h - 1, parent, std::nullopt, batch);
  add_shard(st, *h, end, parent, std::nullopt, batch);
  st.updating_until_ms = clock_.now_ms() + options_.reshard_delay_ms;
  persist(st, batch);
  return commit(std::move(batch), std::move(done));
}

Result<base::Ok> Engine::merge_shards(const std::string& account, const std::string& name,
                                      const std::string& shard_id, const std::string& adjacent_id,
                                      Done done) {
  std::lock_guard lock(mu_);
  auto s = need_active(account, name);
  if (!s) return base::fail(s.error());
  Stream& st = **s;
  ShardInfo* a = st.shard(shard_id);
  ShardInfo* b = st.shard(adjacent_id);
  for (auto [p, id] : {std::pair{a, &shard_id}, std::pair{b, &adjacent_id}}) {
    if (p == nullptr) {
      return error(Errc::kResourceNotFound,
                   "Could not find shard " + *id + " in " + st.who() + ".");
    }
    if (!p->open()) {
      return error(Errc::kResourceInUse, "Shard " + *id + " in " + st.who() +
                                             " has already been merged or split, and thus is "
                                             "not eligible for merging or splitting.");
    }
  }
  bool adjacent = (a->end != kMaxHashKey && a->end + 1 == b->start) ||
                  (b->end != kMaxHashKey && b->end + 1 == a->start);
  if (!adjacent || a == b) {
    return error(Errc::kInvalidArgument, "Shards " + shard_id + " and " + adjacent_id + " in " +
                                             st.who() +
                                             " are not an adjacent pair of shards eligible for "
                                             "merging");
  }
  u128 start = std::min(a->start, b->start), end = std::max(a->end, b->end);
  uint32_t ia = a->index, ib = b->index;
  close_shard(st, ia);
  close_shard(st, ib);
  storage::WriteBatch batch;
  add_shard(st, start, end, ia, ib, batch);
  st.updating_until_ms = clock_.now_ms() + options_.reshard_delay_ms;
  persist(st, batch);
  return commit(std::move(batch), std::move(done));
}

Result<int> Engine::update_shard_count(const std::string& account, const std::string& name,
                                       int target, Done done) {
  std::lock_guard lock(mu_);
  auto s = need_active(account, name);
  if (!s) return base::fail(s.error());
  Stream& st = **s;
  if (st.meta.mode == StreamMode::kOnDemand) {
    return error(Errc::kValidation, "UpdateShardCount is not supported for stream " + st.meta.name +
                                        " under account " + account +
                                        " with the ON_DEMAND capacity mode.");
  }
  int open = static_cast<int>(st.meta.open_shards());
  if (target > 2 * open) {
    return error(Errc::kLimitExceeded,
                 "UpdateShardCount cannot scale up over double your current open shard count. "
                 "Current open shard count: " +
                     std::to_string(open) + " Target shard count: " + std::to_string(target));
  }
  if (target * 2 < open) {
    return error(Errc::kLimitExceeded,
                 "UpdateShardCount cannot scale down below half your current open shard count. "
                 "Current open shard count: " +
                     std::to_string(open) + " Target shard count: " + std::to_string(target));
  }
  if (target > options_.max_shards_per_stream && target > open) {
    return error(Errc::kLimitExceeded,
                 "UpdateShardCount cannot scale up to more than " +
                     std::to_string(options_.max_shards_per_stream) +
                     " shards in a stream. Current open shard count: " + std::to_string(open) +
                     " Target shard count: " + std::to_string(target));
  }
  int64_t now = clock_.now_ms();
  std::erase_if(st.scalings_ms, [&](int64_t t) { return t <= now - 24 * kHourMs; });
  if (static_cast<int>(st.scalings_ms.size()) >= options_.max_scalings_per_day) {
    return error(Errc::kLimitExceeded,
                 "Exceeded the limit of " + std::to_string(options_.max_scalings_per_day) +
                     " UpdateShardCount calls per rolling 24-hour period for " + st.who() + ".");
  }
  int account_open = 0;
  for (const auto& [k, other] : streams_) {
    if (other->meta.account == account) account_open += static_cast<int>(other->meta.open_shards());
  }
  if (target - open + account_open > options_.shard_limit) {
    return error(Errc::kLimitExceeded, "This request would exceed the shard limit.");
  }
  storage::WriteBatch batch;
  reshape_uniformly(st, target, batch);
  st.scalings_ms.push_back(now);
  st.updating_until_ms = now + options_.reshard_delay_ms;
  persist(st, batch);
  commit(std::move(batch), std::move(done)).value();
  return open;
}

// Reaches the even layout of `target` shards the way AWS does, by splits and merges of
// individual shards, so that every shard keeps at most two parents and a consumer following
// ChildShards sees each hash key's records in order. Phase 1 splits every open shard at each
// target boundary inside it; phase 2 merges, left to right, the pieces that fall in one target
// shard. Intermediate shards are created and closed at once: they hold no records.
void Engine::reshape_uniformly(Stream& st, int target, storage::WriteBatch& batch) {
  auto target_start = [&](int i) {
    return even_split_start(static_cast<uint64_t>(i), static_cast<uint64_t>(target));
  };
  struct Piece {
    uint32_t index;
    u128 start, end;
  };
  std::vector<Piece> open;
  for (const auto& sh : st.meta.shards) {
    if (sh.open()) open.push_back({sh.index, sh.start, sh.end});
  }
  std::sort(open.begin(), open.end(),
            [](const Piece& x, const Piece& y) { return x.start < y.start; });

  std::vector<Piece> pieces;
  for (Piece p : open) {
    for (int i = 1; i < target; ++i) {
      u128 cut = target_start(i);
      if (cut <= p.start || cut > p.end) continue;
      close_shard(st, p.index);
      uint32_t left = add_shard(st, p.start, cut - 1, p.index, std::nullopt, batch);
      uint32_t right = add_shard(st, cut, p.end, p.index, std::nullopt, batch);
      pieces.push_back({left, p.start, cut - 1});
      p = {right, cut, p.end};
    }
    pieces.push_back(p);
  }

  size_t next = 0;
  for (int i = 0; i < target; ++i) {
    u128 end = i + 1 == target ? kMaxHashKey : target_start(i + 1) - 1;
    Piece merged = pieces[next++];
    while (next < pieces.size() && pieces[next].end <= end) {
      const Piece& p = pieces[next++];
      close_shard(st, merged.index);
      close_shard(st, p.index);
      merged = {add_shard(st, merged.start, p.end, merged.index, p.index, batch), merged.start,
                p.end};
    }
  }
}

Result<base::Ok> Engine::change_active(const std::string& account, const std::string& name,
                                       Done done, const std::function<void(StreamInfo&)>& change) {
  std::lock_guard lock(mu_);
  auto s = need_active(account, name);
  if (!s) return base::fail(s.error());
  change((*s)->meta);
  storage::WriteBatch batch;
  persist(**s, batch);
  return commit(std::move(batch), std::move(done));
}

Result<base::Ok> Engine::update_stream_mode(const std::string& account, const std::string& name,
                                            StreamMode mode, Done done) {
  return change_active(account, name, std::move(done), [&](StreamInfo& m) { m.mode = mode; });
}

// --- consumers, encryption, monitoring, policy ---

Result<ConsumerInfo> Engine::register_consumer(const std::string& account, const std::string& name,
                                               const std::string& consumer, Done done) {
  std::lock_guard lock(mu_);
  auto s = need(account, name);
  if (!s) return base::fail(s.error());
  Stream& st = **s;
  for (const auto& c : st.meta.consumers) {
    if (c.name == consumer) {
      return error(Errc::kResourceInUse, "Consumer " + c.arn + " already exists.");
    }
  }
  if (static_cast<int>(st.meta.consumers.size()) >= options_.max_consumers) {
    return error(Errc::kLimitExceeded, "Consumer limit of " +
                                           std::to_string(options_.max_consumers) +
                                           " reached for " + st.meta.arn + ".");
  }
  int64_t now = clock_.now_ms();
  ConsumerInfo c{consumer, st.meta.arn + "/consumer/" + consumer + ":" + std::to_string(now / 1000),
                 now};
  st.meta.consumers.push_back(c);
  storage::WriteBatch batch;
  persist(st, batch);
  commit(std::move(batch), std::move(done)).value();
  return c;
}

Result<base::Ok> Engine::deregister_consumer(const std::string& account, const std::string& name,
                                             const std::string& consumer, Done done) {
  std::lock_guard lock(mu_);
  auto s = need(account, name);
  if (!s) return base::fail(s.error());
  Stream& st = **s;
  auto it = std::find_if(st.meta.consumers.begin(), st.meta.consumers.end(),
                         [&](const ConsumerInfo& c) { return c.name == consumer; });
  if (it == st.meta.consumers.end()) {
    return error(Errc::kResourceNotFound,
                 "Consumer " + consumer + " under stream " + st.meta.arn + " not found.");
  }
  st.meta.consumers.erase(it);
  storage::WriteBatch batch;
  persist(st, batch);
  return commit(std::move(batch), std::move(done));
}

Result<base::Ok> Engine::set_encryption(const std::string& account, const std::string& name,
                                        const std::string& type, const std::string& key_id,
                                        Done done) {
  return change_active(account, name, std::move(done), [&](StreamInfo& m) {
    m.encryption_type = type;
    m.key_id = type == "NONE" ? std::string() : key_id;
  });
}

Result<std::vector<std::string>> Engine::set_monitoring(const std::string& account,
                                                        const std::string& name,
                                                        const std::vector<std::string>& metrics,
                                                        bool enable, Done done) {
  static const std::vector<std::string> kAll = {"IncomingBytes",
                                                "IncomingRecords",
                                                "OutgoingBytes",
                                                "OutgoingRecords",
                                                "WriteProvisionedThroughputExceeded",
                                                "ReadProvisionedThroughputExceeded",
                                                "IteratorAgeMilliseconds"};
  std::lock_guard lock(mu_);
  auto s = need(account, name);
  if (!s) return base::fail(s.error());
  auto& current = (*s)->meta.shard_level_metrics;
  std::vector<std::string> before = current;
  std::set<std::string> set(current.begin(), current.end());
  for (const auto& m : metrics) {
    if (m == "ALL") {
      if (enable) {
        set.insert(kAll.begin(), kAll.end());
      } else {
        set.clear();
      }
    } else if (enable) {
      set.insert(m);
    } else {
      set.erase(m);
    }
  }
  current.clear();
  for (const auto& m : kAll) {
    if (set.count(m)) current.push_back(m);
  }
  storage::WriteBatch batch;
  persist(**s, batch);
  commit(std::move(batch), std::move(done)).value();
  return before;
}

Result<base::Ok> Engine::set_policy(const std::string& account, const std::string& name,
                                    const std::string& policy, Done done) {
  std::lock_guard lock(mu_);
  auto s = need(account, name);
  if (!s) return base::fail(s.error());
  (*s)->meta.policy = policy;
  storage::WriteBatch batch;
  persist(**s, batch);
  return commit(std::move(batch), std::move(done));
}

// --- record size, warm throughput, account settings ---

Result<base::Ok> Engine::check_size(const Stream& s, const PutInput& input,
                                    const std::string& field) const {
  auto max = static_cast<size_t>(s.meta.max_record_kib) * 1024;
  if (input.data.size() <= max) return base::Ok{};
  return error(Errc::kValidation,
               "1 validation error detected: Value 'java.nio.HeapByteBuffer' at '" + field +
                   "' failed to satisfy constraint: Member must have length "
                   "less than or equal to " +
                   std::to_string(max));
}

Result<base::Ok> Engine::set_max_record_size(const std::string& account, const std::string& name,
                                             int kib, Done done) {
  return change_active(account, name, std::move(done),
                       [&](StreamInfo& m) { m.max_record_kib = kib; });
}

AccountSettings Engine::settled(const AccountSettings& a) const {
  AccountSettings out = a;
  if (out.status == Commitment::kEnabledUntilEarliestAllowedEnd && out.earliest_end_ms &&
      clock_.now_ms() >= *out.earliest_end_ms) {
    out.status = Commitment::kDisabled;
    out.ended_ms = out.earliest_end_ms;
  }
  return out;
}

bool Engine::committed(const std::string& account) const {
  auto it = accounts_.find(account);
  return it != accounts_.end() && settled(it->second).status != Commitment::kDisabled;
}

// AWS scales warm throughput on on-demand streams of committed accounts only.
Result<base::Ok> Engine::check_warm(const Stream& s, int mibps) const {
  if (s.meta.mode != StreamMode::kOnDemand) {
    return error(Errc::kInvalidArgument,
                 "Warm throughput is not supported for " + s.who() +
                     " with the PROVISIONED capacity mode. Use the ON_DEMAND capacity mode.");
  }
  if (!committed(s.meta.account)) {
    return error(Errc::kInvalidArgument,
                 "Warm throughput requires MinimumThroughputBillingCommitment to be enabled for "
                 "account " +
                     s.meta.account + ".");
  }
  if (mibps > options_.max_warm_throughput_mibps) {
    return error(Errc::kLimitExceeded, "Requested warm throughput of " + std::to_string(mibps) +
                                           " MiBps for " + s.who() + " exceeds the limit of " +
                                           std::to_string(options_.max_warm_throughput_mibps) +
                                           " MiBps.");
  }
  return base::Ok{};
}

Result<WarmThroughput> Engine::set_warm_throughput(const std::string& account,
                                                   const std::string& name, int mibps, Done done) {
  std::lock_guard lock(mu_);
  auto s = need_active(account, name);
  if (!s) return base::fail(s.error());
  Stream& st = **s;
  if (auto ok = check_warm(st, mibps); !ok) return base::fail(ok.error());
  int64_t now = clock_.now_ms();
  int before = info(st).warm_current_mibps;
  st.meta.warm_target_mibps = mibps;
  st.warm_before_mibps = before;
  // Asynchronous at AWS: UPDATING for the configured update delay, then scaled to the target.
  st.updating_until_ms = now + options_.reshard_delay_ms;
  st.warm_until_ms = st.updating_until_ms;
  storage::WriteBatch batch;
  persist(st, batch);
  commit(std::move(batch), std::move(done)).value();
  return WarmThroughput{mibps, before};
}

AccountSettings Engine::account_settings(const std::string& account) {
  std::lock_guard lock(mu_);
  auto it = accounts_.find(account);
  return it == accounts_.end() ? AccountSettings{} : settled(it->second);
}

Result<AccountSettings> Engine::update_account_settings(const std::string& account, bool enable,
                                                        Done done) {
  std::lock_guard lock(mu_);
  AccountSettings a = accounts_.contains(account) ? settled(accounts_[account]) : AccountSettings{};
  int64_t now = clock_.now_ms();
  if (enable && a.status == Commitment::kDisabled) {
    a = AccountSettings{Commitment::kEnabled, now, std::nullopt, now + options_.commitment_min_ms};
  } else if (enable) {
    a.status = Commitment::kEnabled;  // cancels a pending end
    a.ended_ms.reset();
  } else if (a.status != Commitment::kDisabled) {
    if (a.earliest_end_ms && now < *a.earliest_end_ms) {
      a.status = Commitment::kEnabledUntilEarliestAllowedEnd;
      a.ended_ms = a.earliest_end_ms;
    } else {
      a.status = Commitment::kDisabled;
      a.ended_ms = now;
    }
  }
  accounts_[account] = a;
  json::object o{{"status", to_string(a.status)}};
  if (a.started_ms) o["started"] = *a.started_ms;
  if (a.ended_ms) o["ended"] = *a.ended_ms;
  if (a.earliest_end_ms) o["earliest_end"] = *a.earliest_end_ms;
  storage::WriteBatch batch;
  batch.put(std::string(kAccountPrefix) + account, json::serialize(o));
  commit(std::move(batch), std::move(done)).value();
  return a;
}

// --- enhanced fan-out (SubscribeToShard) ---

Done Engine::wake_after(uint64_t incarnation, std::vector<uint32_t> shards, Done done) {
  {
    std::lock_guard lock(sub_mu_);
    if (subscribers_.empty()) return done;
  }
  return [this, incarnation, shards = std::move(shards), done = std::move(done)](bool ok) {
    if (done) done(ok);
    if (ok) wake_subscribers(incarnation, shards);
  };
}

void Engine::wake_subscribers(uint64_t incarnation, const std::vector<uint32_t>& shards) {
  std::lock_guard lock(sub_mu_);
  for (auto& [id, sub] : subscribers_) {
    if (sub.incarnation != incarnation) continue;
    if (std::find(shards.begin(), shards.end(), sub.shard) != shards.end()) sub.wake();
  }
}

Result<Engine::Subscription> Engine::subscribe(const SubscribeInput& input,
                                               std::function<void()> wake) {
  auto slash = input.consumer_arn.find("/consumer/");
  auto stream = slash == std::string::npos
                    ? std::nullopt
                    : parse_stream_arn(std::string_view(input.consumer_arn).substr(0, slash));
  if (!stream) {
    return error(Errc::kInvalidArgument, "Invalid ConsumerARN " + input.consumer_arn + ".");
  }
  // The starting position, resolved as GetShardIterator does (it checks the shard and the
  // sequence number); the iterator's fields are read back below.
  auto iterator = get_shard_iterator(stream->first, stream->second, input.shard_id, input.type,
                                     input.sequence_number, input.timestamp_ms);
  if (!iterator) return base::fail(iterator.error());
  auto raw = base::base64_decode(iterator.value());
  if (!raw || raw->size() != 45) return error(Errc::kInternal, "bad iterator");
  uint64_t incarnation = get_be(*raw, 1, 8);
  auto shard = static_cast<uint32_t>(get_be(*raw, 9, 4));
  uint64_t position = get_be(*raw, 13, 8);

  std::lock_guard lock(mu_);
  auto it = by_incarnation_.find(incarnation);
  const Stream* st = it == by_incarnation_.end() ? nullptr : it->second;
  bool registered =
      st != nullptr && std::any_of(st->meta.consumers.begin(), st->meta.consumers.end(),
                                   [&](const auto& c) { return c.arn == input.consumer_arn; });
  if (!registered) {
    return error(Errc::kResourceNotFound, "Consumer " + input.consumer_arn + " not found.");
  }
  int64_t now = clock_.now_ms();
  std::lock_guard sub_lock(sub_mu_);
  for (auto& [id, sub] : subscribers_) {
    if (sub.taken_over || sub.consumer_arn != input.consumer_arn || sub.shard != shard ||
        sub.incarnation != incarnation) {
      continue;
    }
    if (now - sub.started_ms < options_.subscription_takeover_ms) {
      return error(Errc::kResourceInUse,
                   "Another active subscription exists for this consumer: " + input.consumer_arn +
                       " on shard " + input.shard_id + ".");
    }
    sub.taken_over = true;
    sub.wake();
  }
  uint64_t id = next_subscription_++;
  Subscriber& sub = subscribers_[id];
  sub.consumer_arn = input.consumer_arn;
  sub.incarnation = incarnation;
  sub.shard = shard;
  sub.position = position;
  sub.started_ms = now;
  sub.expires_ms = now + options_.subscription_ms;
  sub.credit = options_.subscription_read_bytes_per_s * 1000;
  sub.refilled_ms = now;
  sub.wake = std::move(wake);
  return Subscription{id, sub.expires_ms};
}

Result<Engine::SubscriptionEvent> Engine::read_subscription(uint64_t id) {
  constexpr size_t kMaxEventRecords = 10000;
  constexpr size_t kMaxEventBytes = 2 * 1024 * 1024;
  std::unique_lock lock(mu_);
  std::unique_lock sub_lock(sub_mu_);
  auto found = subscribers_.find(id);
  if (found == subscribers_.end()) return error(Errc::kInternal, "no such subscription");
  Subscriber& sub = found->second;
  if (sub.taken_over) {
    return error(Errc::kResourceInUse, "Another subscription for consumer " + sub.consumer_arn +
                                           " and " + shard_name(sub.shard) +
                                           " has taken over this one.");
  }
  auto it = by_incarnation_.find(sub.incarnation);
  Stream* st = it == by_incarnation_.end() ? nullptr : it->second;
  bool registered =
      st != nullptr && std::any_of(st->meta.consumers.begin(), st->meta.consumers.end(),
                                   [&](const auto& c) { return c.arn == sub.consumer_arn; });
  if (!registered) {
    return error(Errc::kResourceNotFound, "Consumer " + sub.consumer_arn + " not found.");
  }
  trim(*st);
  ShardInfo* sh = st->shard(sub.shard);
  if (sh == nullptr) {
    return error(Errc::kResourceNotFound,
                 "Shard " + shard_name(sub.shard) + " in " + st->who() + " does not exist");
  }
  int64_t now = clock_.now_ms();
  const auto& dq = st->records[sub.shard];
  auto pos = std::lower_bound(dq.begin(), dq.end(), sub.position,
                              [](const Record& r, uint64_t p) { return r.counter < p; });
  SubscriptionEvent out;
  std::vector<PageData> where;
  std::string cached;
  size_t bytes = 0;
  auto budget = static_cast<int64_t>(kMaxEventBytes);
  bool paced = throttled(*st);
  const int64_t rate = std::max<int64_t>(1, options_.subscription_read_bytes_per_s);
  if (paced) {  // a bucket of one second's worth, refilled at the rate
    sub.credit = std::min(rate * 1000, sub.credit + (now - sub.refilled_ms) * rate);
    sub.refilled_ms = now;
    budget = std::min(budget, sub.credit / 1000);
  }
  for (; pos != dq.end() && out.records.size() < kMaxEventRecords; ++pos) {
    auto size = static_cast<int64_t>(pos->size + pos->partition_key.size());
    // The first record goes out whenever some budget is left, however big it is.
    bool first = out.records.empty() && budget > 0;
    if (!first && static_cast<int64_t>(bytes) + size > budget) break;
    bytes += static_cast<size_t>(size);
    add_to_page(*pos, sub.incarnation, sub.shard, out.records, where, cached);
    sub.position = pos->counter + 1;
  }
  if (paced) sub.credit -= static_cast<int64_t>(bytes) * 1000;
  if (pos != dq.end()) {
    out.millis_behind_latest = std::max<int64_t>(0, now - pos->arrival_ms);
    out.more = true;
    if (paced && sub.credit < 1000) {  // wait until the bucket holds a byte again
      out.more = false;
      out.paced_ms = (1000 - sub.credit + rate - 1) / rate;
    }
  }
  if (!sh->open() && pos == dq.end() && out.records.empty()) {
    out.child_shards = children_of(st->meta, sub.shard);
    out.shard_ended = true;
    return out;
  }
  if (!sh->open() && pos == dq.end()) out.more = true;  // the next read sends ChildShards
  // Where a new subscription AFTER_SEQUENCE_NUMBER would resume, even when nothing was read.
  uint64_t last = sub.position > sh->start_counter ? sub.position - 1 : sh->start_counter;
  out.continuation = format_sequence(last, sub.shard, sub.incarnation);
  out.expired = now >= sub.expires_ms;
  uint64_t incarnation = sub.incarnation;
  uint32_t shard = sub.shard;
  sub_lock.unlock();
  lock.unlock();
  auto read = read_page(incarnation, shard, where, std::move(cached), out.records, out.buffers);
  if (!read) return base::fail(read.error());
  return out;
}

void Engine::unsubscribe(uint64_t id) {
  std::lock_guard lock(sub_mu_);
  subscribers_.erase(id);
}

}  // namespace ferry::kinesis
