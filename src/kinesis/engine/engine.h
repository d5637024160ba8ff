#pragma once
// Kinesis Data Streams semantics as a plain C++ library: streams, shards and their hash key
// ranges, records with sequence numbers, shard iterators, retention, resharding, consumers and
// tags. No HTTP and no wire types; time comes from an injected Clock and every change persists
// through storage::Store.
//
// Owned by whoever links it (server/ or an embedding program). Every method is thread-safe (one
// engine mutex). Writes are issued to the store under that mutex, so the store sees them in the
// order the engine changed; `done` (the store's commit callback) may therefore run inline, under
// the mutex, with an in-memory store: it must not call back into the engine.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/buffer_pool.h"
#include "base/clock.h"
#include "kinesis/engine/errors.h"
#include "kinesis/engine/hash_key.h"
#include "storage/store.h"

namespace ferry::kinesis {

using Done = storage::WriteCallback;

struct EngineOptions {
  std::string region = "us-east-1";
  int on_demand_shards = 4;           // shards of a new ON_DEMAND stream
  int shard_limit = 20000;            // open shards per account (DescribeLimits ShardLimit)
  int on_demand_stream_limit = 50;    // ON_DEMAND streams per account
  int64_t reshard_delay_ms = 0;       // UPDATING lasts this long after a reshard
  int64_t create_delay_ms = 0;        // CREATING lasts this long after CreateStream
  int max_scalings_per_day = 10;      // UpdateShardCount calls per stream per rolling 24 h
  int max_shards_per_stream = 10000;  // UpdateShardCount does not scale above this
  int64_t iterator_ttl_ms = 300'000;  // shard iterators expire after 5 minutes
  int max_consumers = 20;             // registered consumers per stream
  // A minimum throughput billing commitment cannot end sooner than this after it started.
  int64_t commitment_min_ms = 24 * 3'600'000LL;
  int max_warm_throughput_mibps = 10240;  // UpdateStreamWarmThroughput: 10 GiB/s per stream

  // SubscribeToShard: a subscription lasts this long; a second one for the same consumer and
  // shard sooner than the takeover time after the first is ResourceInUseException.
  int64_t subscription_ms = 300'000;
  int64_t subscription_takeover_ms = 5'000;
  // Record data kept in memory across all streams (newest first); older data is read back from
  // the store by GetRecords.
  size_t record_cache_bytes = 256 * 1024 * 1024;
  // AWS's per-shard limits, off by default: writes of at most 1 MiB and 1,000 records per
  // second, at most 5 GetRecords calls and 2 MiB read per second
  // (ProvisionedThroughputExceededException beyond).
  bool enforce_throughput = false;
  // Streams (by name, in any account) whose limits are enforced when enforce_throughput is off.
  std::set<std::string> enforce_throughput_streams{};
  int64_t shard_write_bytes_per_s = 1024 * 1024;
  int64_t shard_write_records_per_s = 1000;
  int64_t shard_read_bytes_per_s = 2 * 1024 * 1024;
  int64_t shard_reads_per_s = 5;
  // SubscribeToShard reads per consumer and shard under the limits (enhanced fan-out); beyond
  // it events are paced, not failed.
  int64_t subscription_read_bytes_per_s = 2 * 1024 * 1024;
};

enum class StreamMode { kProvisioned, kOnDemand };
const char* to_string(StreamMode mode);

struct ShardInfo {
  uint32_t index = 0;
  std::string id;  // shardId-000000000000
  u128 start = 0, end = 0;
  std::optional<uint32_t> parent, adjacent_parent;
  uint64_t start_counter = 0;
  std::optional<uint64_t> end_counter;  // set once closed
  int64_t created_ms = 0;
  std::optional<int64_t> closed_ms;
  bool open() const { return !end_counter.has_value(); }
};

struct ConsumerInfo {
  std::string name;
  std::string arn;
  int64_t created_ms = 0;
};

// A copy of a stream's state, for Describe*/List* answers.
struct StreamInfo {
  std::string account;
  std::string name;
  std::string arn;
  uint64_t incarnation = 0;
  std::string status;  // CREATING, ACTIVE, UPDATING
  StreamMode mode = StreamMode::kProvisioned;
  int retention_hours = 24;
  int64_t created_ms = 0;
  std::string encryption_type = "NONE";
  std::string key_id;
  std::vector<std::string> shard_level_metrics;
  std::vector<ShardInfo> shards;  // every shard still retained, by index
  std::map<std::string, std::string> tags;
  std::vector<ConsumerInfo> consumers;
  std::string policy;         // resource policy JSON, empty if none
  int max_record_kib = 1024;  // PutRecord(s) refuse larger data (UpdateMaxRecordSize)
  // Warm throughput (on-demand streams): the target asked for, and what the stream is scaled
  // to, which reaches the target when the UPDATING that the request started ends.
  std::optional<int> warm_target_mibps;
  int warm_current_mibps = 0;

  std::string shard_id(uint32_t index) const;
  std::string starting_sequence(const ShardInfo& s) const;
  std::optional<std::string> ending_sequence(const ShardInfo& s) const;
  size_t open_shards() const;
};

// What CreateStream may set besides its shards and mode; absent members keep the defaults.
struct StreamOptions {
  std::optional<int> max_record_kib;
  std::optional<int> warm_throughput_mibps;
};

// An account's minimum throughput billing commitment (Update/DescribeAccountSettings).
enum class Commitment { kDisabled, kEnabled, kEnabledUntilEarliestAllowedEnd };
const char* to_string(Commitment status);

struct AccountSettings {
  Commitment status = Commitment::kDisabled;
  std::optional<int64_t> started_ms, ended_ms, earliest_end_ms;
};

struct WarmThroughput {
  int target_mibps = 0;
  int current_mibps = 0;
};

struct PutInput {
  std::string partition_key;
  std::string data;
  std::optional<std::string> explicit_hash_key;  // decimal text
};

struct PutOutput {
  std::string sequence_number;
  std::string shard_id;
  // PutRecords only: a record refused by the throughput limits (nothing else fails one record).
  std::string error_code;
  std::string error_message;
};

struct Record {
  uint64_t counter = 0;
  int64_t arrival_ms = 0;
  std::string partition_key;
  std::string data;     // empty unless cached
  uint32_t size = 0;    // bytes of data
  bool cached = true;   // data is in memory; else read back from the store
  uint64_t chunk = 0;   // the stored chunk holding it: the counter of the chunk's first record
  uint32_t offset = 0;  // where its data starts in the chunk's value
};

struct ReadRecord {
  std::string sequence_number;
  int64_t arrival_ms = 0;
  std::string partition_key;
  std::string_view data;  // into the buffers of the page (GetRecordsOutput, SubscriptionEvent)
};

// What a page's record data points into: stored chunks as read, and copies of cached records.
// Heap strings so that moving a page never moves one (and never dangles a view); pooled because
// they are big and read again and again (base/buffer_pool.h).
using PageBuffers = std::vector<base::PooledBuffer>;
// Where the data of records[index] of a page is, chosen under the engine's lock: in a string of
// cached data copied then (chunk unset), or in a stored chunk, read after the lock is released.
struct PageData {
  size_t index;
  std::optional<uint64_t> chunk;
  uint32_t offset, size;
};

struct ChildShard {
  std::string shard_id;
  std::vector<std::string> parent_shards;
  u128 start = 0, end = 0;
};

struct GetRecordsOutput {
  std::vector<ReadRecord> records;
  PageBuffers buffers;
  std::optional<std::string> next_iterator;  // absent at the end of a closed shard
  int64_t millis_behind_latest = 0;
  std::vector<ChildShard> child_shards;  // set at the end of a closed shard
  std::string encryption_type;
};

enum class IteratorType { kAtSequence, kAfterSequence, kAtTimestamp, kTrimHorizon, kLatest };

class Engine {
 public:
  Engine(storage::Store& store, const base::Clock& clock, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Rebuilds every stream and record from the store. Call once before serving.
  Result<base::Ok> recover();

  const EngineOptions& options() const { return options_; }
  int64_t now_ms() const { return clock_.now_ms(); }
  std::string stream_arn(const std::string& account, const std::string& name) const;
  // "arn:aws:kinesis:<region>:<account>:stream/<name>" -> (account, name).
  static std::optional<std::pair<std::string, std::string>> parse_stream_arn(std::string_view arn);

  Result<base::Ok> create_stream(const std::string& account, const std::string& name,
                                 std::optional<int> shard_count, StreamMode mode,
                                 const std::map<std::string, std::string>& tags, Done done,
                                 const StreamOptions& extra = {});
  Result<base::Ok> delete_stream(const std::string& account, const std::string& name,
                                 bool enforce_consumer_deletion, Done done);
  Result<StreamInfo> describe(const std::string& account, const std::string& name);
  std::vector<StreamInfo> list_streams(const std::string& account);

  Result<PutOutput> put_record(const std::string& account, const std::string& name,
                               const PutInput& input, Done done);
  Result<std::vector<PutOutput>> put_records(const std::string& account, const std::string& name,
                                             const std::vector<PutInput>& inputs, Done done);

  Result<std::string> get_shard_iterator(const std::string& account, const std::string& name,
                                         const std::string& shard_id, IteratorType type,
                                         const std::string& sequence_number,
                                         std::optional<int64_t> timestamp_ms);
  Result<GetRecordsOutput> get_records(const std::string& iterator, int limit);

  Result<base::Ok> set_retention(const std::string& account, const std::string& name, int hours,
                                 bool increase, Done done);
  Result<base::Ok> add_tags(const std::string& account, const std::string& name,
                            const std::map<std::string, std::string>& tags, Done done);
  Result<base::Ok> remove_tags(const std::string& account, const std::string& name,
                               const std::vector<std::string>& keys, Done done);

  Result<base::Ok> split_shard(const std::string& account, const std::string& name,
                               const std::string& shard_id, const std::string& new_start,
                               Done done);
  Result<base::Ok> merge_shards(const std::string& account, const std::string& name,
                                const std::string& shard_id, const std::string& adjacent_id,
                                Done done);
  // Returns the open shard count before the update.
  Result<int> update_shard_count(const std::string& account, const std::string& name, int target,
                                 Done done);
  Result<base::Ok> update_stream_mode(const std::string& account, const std::string& name,
                                      StreamMode mode, Done done);

  Result<ConsumerInfo> register_consumer(const std::string& account, const std::string& name,
                                         const std::string& consumer, Done done);
  Result<base::Ok> deregister_consumer(const std::string& account, const std::string& name,
                                       const std::string& consumer, Done done);

  Result<base::Ok> set_encryption(const std::string& account, const std::string& name,
                                  const std::string& type, const std::string& key_id, Done done);
  // Returns the metrics before the change.
  Result<std::vector<std::string>> set_monitoring(const std::string& account,
                                                  const std::string& name,
                                                  const std::vector<std::string>& metrics,
                                                  bool enable, Done done);
  Result<base::Ok> set_policy(const std::string& account, const std::string& name,
                              const std::string& policy, Done done);
  // UpdateMaxRecordSize: `kib` already checked to be in 1024..10240.
  Result<base::Ok> set_max_record_size(const std::string& account, const std::string& name, int kib,
                                       Done done);
  // UpdateStreamWarmThroughput: on-demand streams of accounts with a billing commitment only.
  // Returns the new target with the throughput the stream had before.
  Result<WarmThroughput> set_warm_throughput(const std::string& account, const std::string& name,
                                             int mibps, Done done);

  // Account settings; an account that never set them has its commitment DISABLED.
  AccountSettings account_settings(const std::string& account);
  // Enabling starts a commitment (or cancels a pending end); disabling ends it at once, or at
  // its earliest allowed end if that is still ahead (ENABLED_UNTIL_EARLIEST_ALLOWED_END).
  Result<AccountSettings> update_account_settings(const std::string& account, bool enable,
                                                  Done done);

  // Streams and open shards of an account, for DescribeLimits.
  struct Counts {
    int open_shards = 0;
    int on_demand_streams = 0;
  };
  Counts counts(const std::string& account);

  // --- enhanced fan-out (SubscribeToShard) ---
  // A subscription of a registered consumer to one shard: the API reads it whenever `wake` says
  // something may have changed. `wake` is called from any thread (the store's callback thread
  // after a put is durable, or under the engine mutex when a shard closes or a subscription is
  // taken over): it must only post.
  struct SubscribeInput {
    std::string consumer_arn;
    std::string shard_id;
    IteratorType type = IteratorType::kLatest;
    std::string sequence_number;
    std::optional<int64_t> timestamp_ms;
  };
  struct Subscription {
    uint64_t id = 0;
    int64_t expires_ms = 0;  // subscribe time + EngineOptions::subscription_ms
  };
  struct SubscriptionEvent {
    std::vector<ReadRecord> records;
    PageBuffers buffers;
    std::optional<std::string> continuation;  // absent at the end of a closed shard
    int64_t millis_behind_latest = 0;
    std::vector<ChildShard> child_shards;  // set at the end of a closed shard
    bool shard_ended = false;              // the subscription is over: the shard is closed
    bool expired = false;                  // the subscription is over: its time is up
    bool more = false;                     // more records can be read at once
    // Under the throughput limits: records wait, and can be read after this many milliseconds.
    int64_t paced_ms = 0;
  };
  // ResourceNotFound: no such consumer (the ARN must match, creation time included) or shard.
  // ResourceInUse: the same consumer and shard were subscribed less than
  // EngineOptions::subscription_takeover_ms ago; later, the new subscription takes over and the
  // old one's next read fails with ResourceInUse.
  Result<Subscription> subscribe(const SubscribeInput& input, std::function<void()> wake);
  // The records after the subscription's position (at most 10,000 and about 2 MiB), advancing it.
  // Under the throughput limits, at most subscription_read_bytes_per_s on average (a token
  // bucket of one second's worth; a record larger than what is left is read into debt).
  Result<SubscriptionEvent> read_subscription(uint64_t id);
  void unsubscribe(uint64_t id);

  struct Stream;

 private:
  Stream* find(const std::string& account, const std::string& name);
  Result<Stream*> need(const std::string& account, const std::string& name);
  Result<Stream*> need_active(const std::string& account, const std::string& name);
  // A stream that takes records and iterators: not CREATING (AWS answers not found then).
  Result<Stream*> need_created(const std::string& account, const std::string& name);
  bool throttled(const Stream& s) const;
  StreamInfo info(const Stream& s) const;
  std::string status(const Stream& s) const;
  void persist(const Stream& s, storage::WriteBatch& batch) const;
  // Applies `change` to an ACTIVE stream's record under the mutex and persists it.
  Result<base::Ok> change_active(const std::string& account, const std::string& name, Done done,
                                 const std::function<void(StreamInfo&)>& change);
  // The commitment as of now: a pending end that has passed is DISABLED.
  AccountSettings settled(const AccountSettings& a) const;
  bool committed(const std::string& account) const;
  Result<base::Ok> check_warm(const Stream& s, int mibps) const;
  Result<base::Ok> check_size(const Stream& s, const PutInput& input,
                              const std::string& field) const;
  uint64_t next_counter(storage::WriteBatch& batch);
  void trim(Stream& s);
  // The records one write puts into each shard (by shard index), becoming one stored chunk each.
  struct ChunkDraft {
    uint64_t first = 0;  // counter of its first record: the chunk's key
    std::string value;
  };
  using ChunkDrafts = std::map<uint32_t, ChunkDraft>;
  Result<PutOutput> place(Stream& s, const PutInput& input, ChunkDrafts& drafts,
                          storage::WriteBatch& batch);
  void put_chunks(uint64_t incarnation, ChunkDrafts& drafts, storage::WriteBatch& batch);
  // Points the page's records at their data, reading each stored chunk once; called without
  // mu_ so that long reads never hold up writers. Records whose chunk was trimmed meanwhile
  // are dropped from the page.
  Result<base::Ok> read_page(uint64_t incarnation, uint32_t shard,
                             const std::vector<PageData>& where, std::string cached,
                             std::vector<ReadRecord>& records, PageBuffers& buffers);
  // The new shard's index.
  uint32_t add_shard(Stream& s, u128 start, u128 end, std::optional<uint32_t> parent,
                     std::optional<uint32_t> adjacent, storage::WriteBatch& batch);
  void close_shard(Stream& s, uint32_t index);
  void reshape_uniformly(Stream& s, int target, storage::WriteBatch& batch);
  std::string make_iterator(uint64_t incarnation, uint32_t shard, uint64_t position) const;
  Result<base::Ok> commit(storage::WriteBatch batch, Done done);
  void cache_added(uint64_t incarnation, uint32_t shard, const Record& r);
  void uncache(const Record& r);
  void evict();

  storage::Store& store_;
  const base::Clock& clock_;
  EngineOptions options_;
  std::mutex mu_;
  std::string secret_;
  uint64_t counter_ = 1;   // next counter value to hand out
  uint64_t reserved_ = 0;  // counter values below this may have been used
  std::map<std::string, std::unique_ptr<Stream>> streams_;  // "<account>/<name>"
  std::map<uint64_t, Stream*> by_incarnation_;
  std::map<std::string, AccountSettings> accounts_;  // by account; absent: never set
  struct CacheEntry {
    uint64_t incarnation;
    uint32_t shard;
    uint64_t counter;
  };
  size_t cached_bytes_ = 0;
  std::deque<CacheEntry> cache_order_;  // cached records, oldest first (may hold stale entries)

  // Enhanced fan-out: subscriptions under their own mutex (taken after mu_, never before it),
  // because put completions wake them from the store's callback thread, possibly under mu_.
  struct Subscriber {
    std::string consumer_arn;
    uint64_t incarnation = 0;
    uint32_t shard = 0;
    uint64_t position = 0;  // next counter to read
    int64_t started_ms = 0;
    int64_t expires_ms = 0;
    bool taken_over = false;
    // What it may read now under the throughput limits, in thousandths of a byte so that every
    // millisecond adds a whole number (rate bytes/s = rate thousandths/ms); may be negative.
    int64_t credit = 0;
    int64_t refilled_ms = 0;
    std::function<void()> wake;
  };
  Done wake_after(uint64_t incarnation, std::vector<uint32_t> shards, Done done);
  void wake_subscribers(uint64_t incarnation, const std::vector<uint32_t>& shards);
  std::mutex sub_mu_;
  uint64_t next_subscription_ = 1;
  std::map<uint64_t, Subscriber> subscribers_;
};

}  // namespace ferry::kinesis
