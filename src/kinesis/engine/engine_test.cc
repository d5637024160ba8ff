#include "kinesis/engine/engine.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "base/crypto.h"
#include "storage/memory_store.h"

namespace ferry::kinesis {
namespace {

constexpr char kAcct[] = "000000000000";

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() { reopen(); }
  void reopen() {
    engine_ = std::make_unique<Engine>(store_, clock_);
    ASSERT_TRUE(engine_->recover().ok());
  }
  void create(const std::string& name, int shards) {
    bool synced = false;
    auto r = engine_->create_stream(kAcct, name, shards, StreamMode::kProvisioned, {},
                                    [&](bool ok) { synced = ok; });
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(synced);
  }
  PutOutput put(const std::string& name, const std::string& key, const std::string& data) {
    bool synced = false;
    auto r =
        engine_->put_record(kAcct, name, {key, data, std::nullopt}, [&](bool ok) { synced = ok; });
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(synced);
    return r.value();
  }
  std::string iterator(const std::string& name, const std::string& shard, IteratorType type,
                       const std::string& seq = {}, std::optional<int64_t> ts = {}) {
    auto r = engine_->get_shard_iterator(kAcct, name, shard, type, seq, ts);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : std::string();
  }

  base::FakeClock clock_;
  storage::MemoryStore store_;
  std::unique_ptr<Engine> engine_;
};

TEST(HashKey, EvenSplitMatchesAws) {
  EXPECT_EQ(hash_key_string(even_split_start(1, 2)), "170141183460469231731687303715884105728");
  EXPECT_EQ(hash_key_string(even_split_start(1, 3)), "113427455640312821154458202477256070485");
  EXPECT_EQ(hash_key_string(kMaxHashKey), "340282366920938463463374607431768211455");
  EXPECT_EQ(parse_hash_key("340282366920938463463374607431768211455"), kMaxHashKey);
  EXPECT_FALSE(parse_hash_key("340282366920938463463374607431768211456"));
  EXPECT_FALSE(parse_hash_key("-1"));
  EXPECT_FALSE(parse_hash_key(""));
}

TEST(HashKey, SequenceRoundTrip) {
  auto s = format_sequence(12345, 7, 99);
  EXPECT_EQ(s.size(), 56u);
  EXPECT_EQ(s,
            "49"
            "00000000000000012345"
            "000007"
            "0000000099"
            "000000000000000000");
  EXPECT_EQ(format_sequence(UINT64_MAX, 999999, 9999999999ULL).substr(0, 38),
            "49"
            "18446744073709551615"
            "999999"
            "9999999999");
  auto p = parse_sequence(s);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->counter, 12345u);
  EXPECT_EQ(p->shard_index, 7u);
  EXPECT_EQ(p->incarnation, 99u);
  EXPECT_LT(format_sequence(9, 0, 1), format_sequence(10, 0, 1));
  EXPECT_FALSE(parse_sequence("123"));
}

TEST_F(EngineTest, PlacementByMd5OfPartitionKey) {
  create("s", 4);
  auto info = engine_->describe(kAcct, "s").value();
  ASSERT_EQ(info.shards.size(), 4u);
  EXPECT_EQ(info.shards.back().end, kMaxHashKey);
  for (std::string key : {"a", "b", "hello", "partition-42", "zzz"}) {
    u128 h = partition_hash(key);
    auto out = put("s", key, "x");
    for (const auto& sh : info.shards) {
      if (h >= sh.start && h <= sh.end) {
        EXPECT_EQ(out.shard_id, sh.id) << key;
      }
    }
  }
  // MD5("a") = 0cc175b9c0f1b6a831c399e269772661 -> below 2^128/4 -> shard 0.
  EXPECT_EQ(put("s", "a", "x").shard_id, "shardId-000000000000");
  // Explicit hash key overrides.
  auto r = engine_->put_record(kAcct, "s", {"a", "x", "340282366920938463463374607431768211455"},
                               nullptr);
  EXPECT_EQ(r.value().shard_id, "shardId-000000000003");
  auto bad = engine_->put_record(kAcct, "s", {"a", "x", "340282366920938463463374607431768211456"},
                                 nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
}

TEST_F(EngineTest, SequenceNumbersIncreaseAndSurviveRestart) {
  create("s", 1);
  std::string last;
  for (int i = 0; i < 10; ++i) {
    auto out = put("s", "k", std::to_string(i));
    EXPECT_GT(out.sequence_number, last);
    last = out.sequence_number;
  }
  reopen();
  auto out = put("s", "k", "after");
  EXPECT_GT(out.sequence_number, last);
  auto recs =
      engine_->get_records(iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon), 10000)
          .value();
  ASSERT_EQ(recs.records.size(), 11u);
  EXPECT_EQ(recs.records[0].data, "0");
  EXPECT_EQ(recs.records[10].data, "after");
  EXPECT_EQ(recs.millis_behind_latest, 0);
}

TEST_F(EngineTest, IteratorTypes) {
  create("s", 1);
  std::string shard = "shardId-000000000000";
  auto a = put("s", "k", "a");
  clock_.advance_s(10);
  auto b = put("s", "k", "b");
  auto latest = iterator("s", shard, IteratorType::kLatest);
  auto c = put("s", "k", "c");
  auto data = [&](const std::string& it) {
    std::string out;
    for (const auto& r : engine_->get_records(it, 100).value().records) out += r.data;
    return out;
  };
  EXPECT_EQ(data(iterator("s", shard, IteratorType::kTrimHorizon)), "abc");
  EXPECT_EQ(data(latest), "c");
  EXPECT_EQ(data(iterator("s", shard, IteratorType::kAtSequence, b.sequence_number)), "bc");
  EXPECT_EQ(data(iterator("s", shard, IteratorType::kAfterSequence, b.sequence_number)), "c");
  EXPECT_EQ(data(iterator("s", shard, IteratorType::kAtTimestamp, {}, clock_.now_ms() - 5000)),
            "bc");
  auto bad = engine_->get_shard_iterator(kAcct, "s", shard, IteratorType::kAtSequence, "12", {});
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  auto missing = engine_->get_shard_iterator(kAcct, "s", "shardId-000000000009",
                                             IteratorType::kLatest, {}, {});
  EXPECT_EQ(missing.error().code, Errc::kResourceNotFound);
  (void)a;
}

TEST_F(EngineTest, GetRecordsLimitAndNextIterator) {
  create("s", 1);
  for (int i = 0; i < 5; ++i) put("s", "k", std::to_string(i));
  auto it = iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon);
  auto first = engine_->get_records(it, 2).value();
  ASSERT_EQ(first.records.size(), 2u);
  EXPECT_EQ(first.millis_behind_latest, 0);
  auto second = engine_->get_records(*first.next_iterator, 10).value();
  ASSERT_EQ(second.records.size(), 3u);
  EXPECT_EQ(second.records[0].data, "2");
  auto third = engine_->get_records(*second.next_iterator, 10).value();
  EXPECT_TRUE(third.records.empty());
  EXPECT_TRUE(third.next_iterator);
  EXPECT_EQ(engine_->get_records(it, 0).error().code, Errc::kInvalidArgument);
}

TEST_F(EngineTest, IteratorsExpireAfterFiveMinutesAndAreTamperProof) {
  create("s", 1);
  auto it = iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon);
  clock_.advance_ms(300'000);
  EXPECT_TRUE(engine_->get_records(it, 10).ok());
  clock_.advance_ms(1);
  auto expired = engine_->get_records(it, 10);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, Errc::kExpiredIterator);
  EXPECT_NE(expired.error().message.find("300000 milliseconds"), std::string::npos);

  auto fresh = iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon);
  auto raw = base::base64_decode(fresh).value();
  raw[16] ^= 1;  // move the position
  EXPECT_EQ(engine_->get_records(base::base64_encode(raw), 10).error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(engine_->get_records("garbage", 10).error().code, Errc::kInvalidArgument);
}

TEST_F(EngineTest, RetentionTrimsExpiredRecords) {
  create("s", 1);
  put("s", "k", "old");
  clock_.advance_s(23 * 3600);
  put("s", "k", "new");
  clock_.advance_s(3600 + 1);
  auto recs =
      engine_->get_records(iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon), 100)
          .value();
  ASSERT_EQ(recs.records.size(), 1u);
  EXPECT_EQ(recs.records[0].data, "new");
  reopen();  // the trim reached the store
  recs =
      engine_->get_records(iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon), 100)
          .value();
  ASSERT_EQ(recs.records.size(), 1u);

  EXPECT_TRUE(engine_->set_retention(kAcct, "s", 48, true, nullptr).ok());
  EXPECT_EQ(engine_->set_retention(kAcct, "s", 24, true, nullptr).error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(engine_->set_retention(kAcct, "s", 72, false, nullptr).error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(engine_->set_retention(kAcct, "s", 23, false, nullptr).error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(engine_->set_retention(kAcct, "s", 8761, true, nullptr).error().code,
            Errc::kInvalidArgument);
  EXPECT_TRUE(engine_->set_retention(kAcct, "s", 24, false, nullptr).ok());
  clock_.advance_s(24 * 3600 + 1);
  recs =
      engine_->get_records(iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon), 100)
          .value();
  EXPECT_TRUE(recs.records.empty());
}

TEST_F(EngineTest, RecoveryRestoresStreamsTagsAndRecords) {
  create("s", 2);
  ASSERT_TRUE(engine_->add_tags(kAcct, "s", {{"team", "a"}}, nullptr).ok());
  std::vector<PutOutput> puts;
  for (int i = 0; i < 20; ++i) puts.push_back(put("s", "key" + std::to_string(i), "d"));
  reopen();
  auto info = engine_->describe(kAcct, "s").value();
  EXPECT_EQ(info.shards.size(), 2u);
  EXPECT_EQ(info.tags.at("team"), "a");
  size_t total = 0;
  for (const auto& sh : info.shards) {
    total += engine_->get_records(iterator("s", sh.id, IteratorType::kTrimHorizon), 100)
                 .value()
                 .records.size();
  }
  EXPECT_EQ(total, 20u);
  ASSERT_TRUE(engine_->delete_stream(kAcct, "s", false, nullptr).ok());
  reopen();
  EXPECT_EQ(engine_->describe(kAcct, "s").error().code, Errc::kResourceNotFound);
  create("s", 1);  // a new incarnation sees none of the old records
  EXPECT_TRUE(
      engine_->get_records(iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon), 100)
          .value()
          .records.empty());
}

TEST_F(EngineTest, SplitAndMergeKeepLineageAndOrder) {
  create("s", 1);
  put("s", "k", "before");
  ASSERT_TRUE(engine_
                  ->split_shard(kAcct, "s", "shardId-000000000000",
                                "170141183460469231731687303715884105728", nullptr)
                  .ok());
  auto info = engine_->describe(kAcct, "s").value();
  ASSERT_EQ(info.shards.size(), 3u);
  EXPECT_FALSE(info.shards[0].open());
  EXPECT_EQ(info.shards[1].parent, 0u);
  EXPECT_EQ(info.shards[2].parent, 0u);
  EXPECT_EQ(info.shards[1].end + 1, info.shards[2].start);
  auto after = put("s", "k", "after");
  EXPECT_NE(after.shard_id, "shardId-000000000000");
  // The parent ends with its records, then ChildShards and no next iterator.
  auto parent =
      engine_->get_records(iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon), 100)
          .value();
  ASSERT_EQ(parent.records.size(), 1u);
  EXPECT_FALSE(parent.next_iterator);
  ASSERT_EQ(parent.child_shards.size(), 2u);
  EXPECT_GT(after.sequence_number, parent.records[0].sequence_number);
  EXPECT_EQ(engine_->split_shard(kAcct, "s", "shardId-000000000000", "5", nullptr).error().code,
            Errc::kResourceInUse);
  EXPECT_EQ(engine_->split_shard(kAcct, "s", "shardId-000000000001", "0", nullptr).error().code,
            Errc::kInvalidArgument);
  ASSERT_TRUE(
      engine_->merge_shards(kAcct, "s", "shardId-000000000001", "shardId-000000000002", nullptr)
          .ok());
  info = engine_->describe(kAcct, "s").value();
  ASSERT_EQ(info.shards.size(), 4u);
  EXPECT_EQ(info.shards[3].parent, 1u);
  EXPECT_EQ(info.shards[3].adjacent_parent, 2u);
  EXPECT_EQ(info.shards[3].start, 0u);
  EXPECT_EQ(info.shards[3].end, kMaxHashKey);
  reopen();
  EXPECT_EQ(engine_->describe(kAcct, "s").value().shards.size(), 4u);
}

TEST_F(EngineTest, UpdateShardCountRulesAndUpdatingStatus) {
  engine_ = std::make_unique<Engine>(store_, clock_, EngineOptions{.reshard_delay_ms = 1000});
  ASSERT_TRUE(engine_->recover().ok());
  create("s", 2);
  EXPECT_EQ(engine_->update_shard_count(kAcct, "s", 5, nullptr).error().code, Errc::kLimitExceeded);
  ASSERT_TRUE(engine_->update_shard_count(kAcct, "s", 3, nullptr).ok());
  EXPECT_EQ(engine_->describe(kAcct, "s").value().status, "UPDATING");
  EXPECT_EQ(engine_->update_shard_count(kAcct, "s", 2, nullptr).error().code, Errc::kResourceInUse);
  clock_.advance_ms(1000);
  auto info = engine_->describe(kAcct, "s").value();
  EXPECT_EQ(info.status, "ACTIVE");
  EXPECT_EQ(info.open_shards(), 3u);
  EXPECT_EQ(engine_->update_shard_count(kAcct, "s", 1, nullptr).error().code, Errc::kLimitExceeded);
}

// Reads a stream the way the KCL does: a shard once all its parents are read to their end,
// each from TRIM_HORIZON to the end of a closed shard (or the tip of an open one). Returns the
// records' data in reading order.
std::vector<std::string> read_by_lineage(Engine& engine, const std::string& name) {
  auto info = engine.describe(kAcct, name).value();
  std::set<std::string> done;
  std::vector<std::string> out;
  for (bool progress = true; progress;) {
    progress = false;
    for (const auto& sh : info.shards) {
      if (done.contains(sh.id)) continue;
      if ((sh.parent && !done.contains(info.shard_id(*sh.parent))) ||
          (sh.adjacent_parent && !done.contains(info.shard_id(*sh.adjacent_parent)))) {
        continue;
      }
      auto it =
          engine.get_shard_iterator(kAcct, name, sh.id, IteratorType::kTrimHorizon, "", {}).value();
      for (;;) {
        auto page = engine.get_records(it, 10000).value();
        for (const auto& r : page.records) out.emplace_back(r.data);
        if (!page.next_iterator) {
          // The children named at the end are exactly the shards naming this one as a parent.
          std::set<std::string> named, expected;
          for (const auto& c : page.child_shards) named.insert(c.shard_id);
          for (const auto& other : info.shards) {
            if (other.parent == sh.index || other.adjacent_parent == sh.index) {
              expected.insert(other.id);
            }
          }
          EXPECT_EQ(named, expected) << sh.id;
          break;
        }
        if (page.records.empty()) break;  // tip of an open shard
        it = *page.next_iterator;
      }
      done.insert(sh.id);
      progress = true;
    }
  }
  EXPECT_EQ(done.size(), info.shards.size());
  return out;
}

TEST_F(EngineTest, UpdateShardCountSplitsAndMergesIntoAnEvenLayout) {
  const std::vector<std::pair<int, int>> changes = {{1, 2}, {2, 3}, {3, 5}, {5, 3}, {4, 3},
                                                    {3, 2}, {2, 1}, {4, 7}, {7, 4}, {6, 6}};
  for (auto [from, to] : changes) {
    SCOPED_TRACE(std::to_string(from) + " -> " + std::to_string(to));
    std::string name = "s" + std::to_string(from) + "-" + std::to_string(to);
    create(name, from);
    // Each key gets a numbered record before and after the change.
    for (int round = 0; round < 2; ++round) {
      for (int k = 0; k < 40; ++k) {
        put(name, "key" + std::to_string(k), std::to_string(k) + ":" + std::to_string(round));
      }
      if (round == 0) {
        auto r = engine_->update_shard_count(kAcct, name, to, nullptr);
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_EQ(r.value(), from);
      }
    }
    auto info = engine_->describe(kAcct, name).value();
    std::vector<ShardInfo> open;
    for (const auto& sh : info.shards) {
      if (sh.open()) open.push_back(sh);
      // A split's children partition their parent; a merge's child is its two parents.
      if (sh.parent && !sh.adjacent_parent) {
        const ShardInfo* p = nullptr;
        for (const auto& x : info.shards) {
          if (x.index == *sh.parent) p = &x;
        }
        ASSERT_NE(p, nullptr);
        EXPECT_TRUE(sh.start >= p->start && sh.end <= p->end);
      }
    }
    std::sort(open.begin(), open.end(),
              [](const ShardInfo& a, const ShardInfo& b) { return a.start < b.start; });
    ASSERT_EQ(open.size(), static_cast<size_t>(to));
    for (int i = 0; i < to; ++i) {
      EXPECT_EQ(open[i].start, even_split_start(i, to));
      EXPECT_EQ(open[i].end, i + 1 == to ? kMaxHashKey : even_split_start(i + 1, to) - 1);
    }
    // Following the lineage reads every record once, each key's records in order.
    auto read = read_by_lineage(*engine_, name);
    EXPECT_EQ(read.size(), 80u);
    std::map<std::string, int> last_round;
    std::set<std::string> seen;
    for (const auto& data : read) {
      EXPECT_TRUE(seen.insert(data).second) << "read twice: " << data;
      auto key = data.substr(0, data.find(':'));
      int round = std::stoi(data.substr(data.find(':') + 1));
      auto [it, fresh] = last_round.emplace(key, round);
      if (!fresh) {
        EXPECT_LT(it->second, round) << key;
        it->second = round;
      }
    }
  }
}

TEST_F(EngineTest, UpdateShardCountIsLimitedPerRolling24Hours) {
  create("s", 1);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(engine_->update_shard_count(kAcct, "s", i % 2 == 0 ? 2 : 1, nullptr).ok()) << i;
    clock_.advance_ms(60'000);
  }
  auto over = engine_->update_shard_count(kAcct, "s", 2, nullptr);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Errc::kLimitExceeded);
  reopen();  // the count survives a restart
  EXPECT_EQ(engine_->update_shard_count(kAcct, "s", 2, nullptr).error().code, Errc::kLimitExceeded);
  clock_.advance_ms(24 * 3'600'000 - 10 * 60'000 + 1);  // the first call leaves the window
  EXPECT_TRUE(engine_->update_shard_count(kAcct, "s", 2, nullptr).ok());
}

TEST_F(EngineTest, StreamsAreCreatingForTheConfiguredDelay) {
  engine_ = std::make_unique<Engine>(store_, clock_, EngineOptions{.create_delay_ms = 500});
  ASSERT_TRUE(engine_->recover().ok());
  create("s", 1);
  EXPECT_EQ(engine_->describe(kAcct, "s").value().status, "CREATING");
  auto put_early = engine_->put_record(kAcct, "s", {"k", "x", std::nullopt}, nullptr);
  ASSERT_FALSE(put_early.ok());
  EXPECT_EQ(put_early.error().code, Errc::kResourceNotFound);
  EXPECT_EQ(engine_->update_shard_count(kAcct, "s", 2, nullptr).error().code, Errc::kResourceInUse);
  clock_.advance_ms(500);
  EXPECT_EQ(engine_->describe(kAcct, "s").value().status, "ACTIVE");
  put("s", "k", "x");
}

TEST_F(EngineTest, ThroughputLimitsForNamedStreamsOnly) {
  EngineOptions options;
  options.enforce_throughput_streams = {"limited"};
  options.shard_write_records_per_s = 2;
  engine_ = std::make_unique<Engine>(store_, clock_, options);
  ASSERT_TRUE(engine_->recover().ok());
  create("limited", 1);
  create("free", 1);
  clock_.set_ms((clock_.now_ms() / 1000 + 1) * 1000);
  for (int i = 0; i < 5; ++i) put("free", "k", "x");
  put("limited", "k", "x");
  put("limited", "k", "x");
  EXPECT_EQ(engine_->put_record(kAcct, "limited", {"k", "x", std::nullopt}, nullptr).error().code,
            Errc::kThroughputExceeded);
}

TEST_F(EngineTest, ConsumersAndDeleteEnforcement) {
  create("s", 1);
  auto c = engine_->register_consumer(kAcct, "s", "app", nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(engine_->register_consumer(kAcct, "s", "app", nullptr).error().code,
            Errc::kResourceInUse);
  EXPECT_EQ(engine_->delete_stream(kAcct, "s", false, nullptr).error().code, Errc::kResourceInUse);
  EXPECT_TRUE(engine_->delete_stream(kAcct, "s", true, nullptr).ok());
}

TEST_F(EngineTest, ThroughputLimitsWhenEnabled) {
  EngineOptions options;
  options.enforce_throughput = true;
  options.shard_write_records_per_s = 3;
  engine_ = std::make_unique<Engine>(store_, clock_, options);
  ASSERT_TRUE(engine_->recover().ok());
  create("s", 1);
  clock_.set_ms((clock_.now_ms() / 1000 + 1) * 1000);  // start of a second
  for (int i = 0; i < 3; ++i) put("s", "k", "x");
  auto over = engine_->put_record(kAcct, "s", {"k", "x", std::nullopt}, nullptr);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Errc::kThroughputExceeded);
  clock_.advance_ms(1000);
  auto batch = engine_->put_records(
      kAcct, "s", std::vector<PutInput>(5, PutInput{"k", "x", std::nullopt}), nullptr);
  ASSERT_TRUE(batch.ok());
  EXPECT_TRUE(batch.value()[2].error_code.empty());
  EXPECT_EQ(batch.value()[3].error_code, "ProvisionedThroughputExceededException");
  auto it = iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(engine_->get_records(it, 10).ok());
  EXPECT_EQ(engine_->get_records(it, 10).error().code, Errc::kThroughputExceeded);
  clock_.advance_ms(1000);
  auto all = engine_->get_records(it, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all.value().records.size(), 6u);
}

TEST_F(EngineTest, OldRecordDataIsReadBackFromTheStoreBeyondTheCache) {
  EngineOptions options;
  options.record_cache_bytes = 10;
  engine_ = std::make_unique<Engine>(store_, clock_, options);
  ASSERT_TRUE(engine_->recover().ok());
  create("s", 1);
  for (int i = 0; i < 20; ++i) put("s", "k", "0123456789-" + std::to_string(i));
  auto recs =
      engine_->get_records(iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon), 100)
          .value();
  ASSERT_EQ(recs.records.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(recs.records[i].data, "0123456789-" + std::to_string(i));
  ASSERT_TRUE(engine_->delete_stream(kAcct, "s", false, nullptr).ok());
  create("s", 1);
  put("s", "k", "x");
  reopen();
  EXPECT_EQ(
      engine_->get_records(iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon), 100)
          .value()
          .records.at(0)
          .data,
      "x");
}

std::vector<std::string> record_keys(storage::MemoryStore& store) {
  std::vector<std::string> keys;
  store.scan("kinesis/r/", [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  });
  return keys;
}

TEST_F(EngineTest, PutRecordsStoresOneChunkPerShardAndTrimsWholeChunks) {
  EngineOptions options;
  options.record_cache_bytes = 40;  // the newest few records stay cached, the rest are read back
  engine_ = std::make_unique<Engine>(store_, clock_, options);
  ASSERT_TRUE(engine_->recover().ok());
  create("s", 2);
  auto put_batch = [&](const std::string& tag) {
    std::vector<PutInput> in;
    for (int i = 0; i < 30; ++i)
      in.push_back({"k" + std::to_string(i), tag + std::to_string(i), {}});
    auto r = engine_->put_records(kAcct, "s", in, nullptr);
    EXPECT_TRUE(r.ok());
  };
  put_batch("old-");
  EXPECT_EQ(record_keys(store_).size(), 2u);  // 30 records, two shards: two stored chunks
  clock_.advance_s(23 * 3600);
  put_batch("new-");
  EXPECT_EQ(record_keys(store_).size(), 4u);
  auto read_all = [&] {
    std::multiset<std::string> seen;
    for (const char* shard : {"shardId-000000000000", "shardId-000000000001"}) {
      auto page = engine_->get_records(iterator("s", shard, IteratorType::kTrimHorizon), 100);
      EXPECT_TRUE(page.ok());
      for (const auto& r : page.value().records) seen.emplace(r.data);
    }
    return seen;
  };
  auto seen = read_all();
  ASSERT_EQ(seen.size(), 60u);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(seen.count("old-" + std::to_string(i)), 1u) << i;
    EXPECT_EQ(seen.count("new-" + std::to_string(i)), 1u) << i;
  }
  clock_.advance_s(3600 + 1);  // the first batch is past retention
  seen = read_all();
  ASSERT_EQ(seen.size(), 30u);
  EXPECT_EQ(seen.count("old-0"), 0u);
  EXPECT_EQ(record_keys(store_).size(), 2u);  // its chunks are gone from the store
  reopen();
  EXPECT_EQ(read_all(), seen);
}

TEST_F(EngineTest, RecordsStoredOnePerValueBeforeChunksAreStillRead) {
  create("s", 1);
  put("s", "key", "chunked");
  auto keys = record_keys(store_);
  ASSERT_EQ(keys.size(), 1u);
  // Rewrite the value in the layout of earlier versions: arrival (8), key length (4), key, data.
  std::string old;
  for (int i = 7; i >= 0; --i)
    old.push_back(static_cast<char>((clock_.now_ms() >> (8 * i)) & 0xff));
  old += std::string("\0\0\0\x03", 4) + "key" + "legacy";
  storage::WriteBatch batch;
  batch.put(keys[0], old);
  store_.write(std::move(batch), storage::Durability::kSync, nullptr);
  reopen();
  auto page =
      engine_->get_records(iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon), 100)
          .value();
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_EQ(page.records[0].data, "legacy");
  EXPECT_EQ(page.records[0].partition_key, "key");
  put("s", "key", "after");  // new records go into chunks beside it
  page =
      engine_->get_records(iterator("s", "shardId-000000000000", IteratorType::kTrimHorizon), 100)
          .value();
  ASSERT_EQ(page.records.size(), 2u);
  EXPECT_EQ(page.records[1].data, "after");
}

}  // namespace
}  // namespace ferry::kinesis
