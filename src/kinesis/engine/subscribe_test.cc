// Enhanced fan-out in the engine: Engine::subscribe / read_subscription / unsubscribe, with a
// fake clock and the in-memory store (whose commits complete inline, so wake-ups are immediate).
#include <gtest/gtest.h>

#include "kinesis/engine/engine.h"
#include "storage/memory_store.h"

namespace ferry::kinesis {
namespace {

constexpr char kAcct[] = "000000000000";
constexpr char kShard0[] = "shardId-000000000000";

class SubscribeTest : public ::testing::Test {
 protected:
  SubscribeTest() : engine_(store_, clock_) {
    EXPECT_TRUE(engine_.recover().ok());
    EXPECT_TRUE(engine_.create_stream(kAcct, "s", 1, StreamMode::kProvisioned, {}, nullptr).ok());
    auto c = engine_.register_consumer(kAcct, "s", "app", nullptr);
    EXPECT_TRUE(c.ok());
    consumer_ = c.value().arn;
  }
  PutOutput put(const std::string& data, const std::string& key = "k") {
    auto r = engine_.put_record(kAcct, "s", {key, data, std::nullopt}, nullptr);
    EXPECT_TRUE(r.ok());
    return r.value();
  }
  Result<Engine::Subscription> subscribe(IteratorType type, const std::string& seq = {},
                                         std::optional<int64_t> ts = {},
                                         const std::string& shard = kShard0) {
    return engine_.subscribe({consumer_, shard, type, seq, ts}, [this] { ++wakes_; });
  }
  Engine::SubscriptionEvent read(uint64_t id) {
    auto r = engine_.read_subscription(id);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r.value()) : Engine::SubscriptionEvent{};
  }

  base::FakeClock clock_;
  storage::MemoryStore store_;
  Engine engine_;
  std::string consumer_;
  int wakes_ = 0;
};

TEST_F(SubscribeTest, LatestReceivesOnlyNewRecordsAndIsWokenByPuts) {
  put("before");
  auto sub = subscribe(IteratorType::kLatest);
  ASSERT_TRUE(sub.ok()) << sub.error().message;
  auto first = read(sub->id);
  EXPECT_TRUE(first.records.empty());
  ASSERT_TRUE(first.continuation.has_value());
  EXPECT_EQ(wakes_, 0);

  clock_.advance_ms(250);
  auto a = put("a");
  EXPECT_EQ(wakes_, 1);  // woken once the put's commit completed
  auto b = put("b");
  EXPECT_EQ(wakes_, 2);
  auto event = read(sub->id);
  ASSERT_EQ(event.records.size(), 2u);
  EXPECT_EQ(event.records[0].data, "a");
  EXPECT_EQ(event.records[0].sequence_number, a.sequence_number);
  EXPECT_EQ(event.records[1].data, "b");
  EXPECT_EQ(event.continuation, b.sequence_number);
  EXPECT_EQ(event.millis_behind_latest, 0);
  EXPECT_FALSE(event.more);
  EXPECT_TRUE(read(sub->id).records.empty());  // nothing twice
  engine_.unsubscribe(sub->id);
  put("c");
  EXPECT_EQ(wakes_, 2);  // no wake after unsubscribe
}

TEST_F(SubscribeTest, StartingPositions) {
  auto r1 = put("1");
  clock_.advance_ms(1000);
  int64_t t2 = clock_.now_ms();
  auto r2 = put("2");
  auto r3 = put("3");
  auto first_data = [&](IteratorType type, const std::string& seq, std::optional<int64_t> ts) {
    auto sub = subscribe(type, seq, ts);
    EXPECT_TRUE(sub.ok());
    auto e = read(sub->id);
    engine_.unsubscribe(sub->id);
    clock_.advance_ms(5000);  // past the takeover window, for the next subscribe
    std::string all;
    for (const auto& r : e.records) all += r.data;
    return all;
  };
  EXPECT_EQ(first_data(IteratorType::kTrimHorizon, "", {}), "123");
  EXPECT_EQ(first_data(IteratorType::kAtSequence, r2.sequence_number, {}), "23");
  EXPECT_EQ(first_data(IteratorType::kAfterSequence, r2.sequence_number, {}), "3");
  EXPECT_EQ(first_data(IteratorType::kAfterSequence, r3.sequence_number, {}), "");
  EXPECT_EQ(first_data(IteratorType::kAtTimestamp, "", t2), "23");
  EXPECT_EQ(first_data(IteratorType::kLatest, "", {}), "");
  (void)r1;
}

TEST_F(SubscribeTest, ContinuationResumesWhereTheLastEventEnded) {
  auto sub = subscribe(IteratorType::kTrimHorizon);
  ASSERT_TRUE(sub.ok());
  auto empty = read(sub->id);
  ASSERT_TRUE(empty.continuation.has_value());
  engine_.unsubscribe(sub->id);
  put("x");
  clock_.advance_ms(5000);
  // AFTER the continuation of an empty event (nothing read yet) still sees the first record.
  auto again = subscribe(IteratorType::kAfterSequence, *empty.continuation);
  ASSERT_TRUE(again.ok()) << again.error().message;
  auto e = read(again->id);
  ASSERT_EQ(e.records.size(), 1u);
  EXPECT_EQ(e.records[0].data, "x");
}

TEST_F(SubscribeTest, MillisBehindLatestAndBatching) {
  for (int i = 0; i < 3; ++i) put(std::string(1024 * 1024, 'x'));
  clock_.advance_ms(700);
  auto sub = subscribe(IteratorType::kTrimHorizon);
  ASSERT_TRUE(sub.ok());
  auto e = read(sub->id);
  EXPECT_EQ(e.records.size(), 1u);  // about 2 MiB per event
  EXPECT_TRUE(e.more);
  EXPECT_EQ(e.millis_behind_latest, 700);
  e = read(sub->id);
  EXPECT_EQ(e.records.size(), 1u);
  e = read(sub->id);
  EXPECT_EQ(e.records.size(), 1u);
  EXPECT_FALSE(e.more);
  EXPECT_EQ(e.millis_behind_latest, 0);
}

TEST_F(SubscribeTest, SecondSubscriptionWithinFiveSecondsIsRefusedLaterTakesOver) {
  auto first = subscribe(IteratorType::kLatest);
  ASSERT_TRUE(first.ok());
  clock_.advance_ms(4999);
  auto refused = subscribe(IteratorType::kLatest);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::kResourceInUse);
  clock_.advance_ms(1);
  int before = wakes_;
  auto second = subscribe(IteratorType::kLatest);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(wakes_, before + 1);  // the old one is woken to end
  auto old = engine_.read_subscription(first->id);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().code, Errc::kResourceInUse);
  put("new");
  EXPECT_EQ(read(second->id).records.size(), 1u);
}

TEST_F(SubscribeTest, ExpiresAfterFiveMinutes) {
  auto sub = subscribe(IteratorType::kLatest);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(sub->expires_ms, clock_.now_ms() + 300'000);
  clock_.advance_ms(299'999);
  EXPECT_FALSE(read(sub->id).expired);
  clock_.advance_ms(1);
  EXPECT_TRUE(read(sub->id).expired);
}

TEST_F(SubscribeTest, EndOfClosedShardSendsChildShards) {
  auto sub = subscribe(IteratorType::kTrimHorizon);
  ASSERT_TRUE(sub.ok());
  put("last");
  int before = wakes_;
  ASSERT_TRUE(
      engine_.split_shard(kAcct, "s", kShard0, "170141183460469231731687303715884105728", nullptr)
          .ok());
  EXPECT_GT(wakes_, before);  // woken by the close
  auto e = read(sub->id);
  ASSERT_EQ(e.records.size(), 1u);
  EXPECT_TRUE(e.more);
  EXPECT_FALSE(e.shard_ended);
  e = read(sub->id);
  EXPECT_TRUE(e.records.empty());
  EXPECT_TRUE(e.shard_ended);
  EXPECT_FALSE(e.continuation.has_value());
  ASSERT_EQ(e.child_shards.size(), 2u);
  EXPECT_EQ(e.child_shards[0].parent_shards, std::vector<std::string>{kShard0});
}

TEST_F(SubscribeTest, Errors) {
  auto bad = engine_.subscribe({consumer_ + "x", kShard0, IteratorType::kLatest, {}, {}}, [] {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kResourceNotFound);
  auto no_shard = subscribe(IteratorType::kLatest, {}, {}, "shardId-000000000009");
  ASSERT_FALSE(no_shard.ok());
  EXPECT_EQ(no_shard.error().code, Errc::kResourceNotFound);
  auto bad_arn = engine_.subscribe({"nonsense", kShard0, IteratorType::kLatest, {}, {}}, [] {});
  ASSERT_FALSE(bad_arn.ok());
  EXPECT_EQ(bad_arn.error().code, Errc::kInvalidArgument);
  // A deregistered consumer's subscription fails at its next read.
  auto sub = subscribe(IteratorType::kLatest);
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(engine_.deregister_consumer(kAcct, "s", "app", nullptr).ok());
  auto gone = engine_.read_subscription(sub->id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::kResourceNotFound);
}

// Under the throughput limits a subscription reads at most 2 MiB per second on average: records
// beyond wait (paced_ms says how long), none is refused.
TEST(SubscribePacing, ReadsAtMostTwoMiBPerSecondPerConsumerAndShard) {
  constexpr size_t kRecord = 512 * 1024 - 1;  // with its 1-byte key, 512 KiB
  constexpr int64_t kMiB = 1024 * 1024;
  base::FakeClock clock;
  storage::MemoryStore store;
  EngineOptions options;
  options.enforce_throughput = true;
  options.shard_write_bytes_per_s = 64 * kMiB;  // the write limit is not under test
  Engine engine(store, clock, options);
  ASSERT_TRUE(engine.recover().ok());
  ASSERT_TRUE(engine.create_stream(kAcct, "s", 1, StreamMode::kProvisioned, {}, nullptr).ok());
  auto consumer = engine.register_consumer(kAcct, "s", "app", nullptr).value().arn;
  for (int i = 0; i < 12; ++i) {  // 6 MiB
    ASSERT_TRUE(
        engine.put_record(kAcct, "s", {"k", std::string(kRecord, 'x'), std::nullopt}, nullptr)
            .ok());
  }
  auto sub = engine.subscribe({consumer, kShard0, IteratorType::kTrimHorizon, {}, {}}, [] {});
  ASSERT_TRUE(sub.ok());

  // The first second's worth at once, then nothing until the bucket refills.
  auto first = engine.read_subscription(sub->id).value();
  EXPECT_EQ(first.records.size(), 4u);
  EXPECT_FALSE(first.more);
  EXPECT_EQ(first.paced_ms, 1);  // the bucket is empty: one millisecond adds ~2 KiB
  auto early = engine.read_subscription(sub->id).value();
  EXPECT_TRUE(early.records.empty());
  EXPECT_GT(early.paced_ms, 0);

  // Half a second later, half of it; a record never splits, the last may go into debt.
  clock.advance_ms(500);
  auto half = engine.read_subscription(sub->id).value();
  EXPECT_EQ(half.records.size(), 2u);
  EXPECT_GT(half.paced_ms, 0);

  // Over time the average stays at 2 MiB/s: of the remaining 3 MiB, the last record goes out as
  // soon as the bucket holds a byte again (into debt), so the rest takes (3 - 0.5) / 2 s.
  int64_t read = 6 * 512 * 1024;
  int64_t start = clock.now_ms();
  while (read < 12 * 512 * 1024) {
    auto e = engine.read_subscription(sub->id).value();
    for (const auto& r : e.records) read += static_cast<int64_t>(r.data.size() + 1);
    if (e.records.empty()) {
      ASSERT_GT(e.paced_ms, 0);
      clock.advance_ms(e.paced_ms);
    }
  }
  EXPECT_GE(clock.now_ms() - start, 1250);
  EXPECT_LE(clock.now_ms() - start, 1300);

  // Without the limits, all of it at once (up to the 2 MiB of one event).
  Engine free_engine(store, clock);
  ASSERT_TRUE(free_engine.recover().ok());
  auto free_sub =
      free_engine.subscribe({consumer, kShard0, IteratorType::kTrimHorizon, {}, {}}, [] {});
  ASSERT_TRUE(free_sub.ok());
  auto all = free_engine.read_subscription(free_sub->id).value();
  EXPECT_EQ(all.records.size(), 4u);
  EXPECT_TRUE(all.more);
  EXPECT_EQ(all.paced_ms, 0);
}

}  // namespace
}  // namespace ferry::kinesis
