// Per-stream record size and warm throughput, and the account's billing commitment: their
// rules, their errors and their persistence across restarts.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "kinesis/engine/engine.h"
#include "storage/memory_store.h"

namespace ferry::kinesis {
namespace {

constexpr char kAcct[] = "000000000000";
constexpr int64_t kDayMs = 24 * 3'600'000LL;

class SettingsTest : public ::testing::Test {
 protected:
  SettingsTest() { reopen(); }
  void reopen(EngineOptions options = {}) {
    engine_ = std::make_unique<Engine>(store_, clock_, options);
    ASSERT_TRUE(engine_->recover().ok());
  }
  void create(const std::string& name, StreamMode mode, const StreamOptions& extra = {}) {
    std::optional<int> shards;
    if (mode == StreamMode::kProvisioned) shards = 1;
    auto r = engine_->create_stream(kAcct, name, shards, mode, {}, nullptr, extra);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  Result<PutOutput> put(const std::string& name, size_t size) {
    return engine_->put_record(kAcct, name, {"k", std::string(size, 'x'), std::nullopt}, nullptr);
  }
  void enable(bool on) { ASSERT_TRUE(engine_->update_account_settings(kAcct, on, nullptr).ok()); }

  base::FakeClock clock_;
  storage::MemoryStore store_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(SettingsTest, MaxRecordSizeBoundsPutsAndSurvivesRestart) {
  constexpr size_t kMiB = 1024 * 1024;
  create("s", StreamMode::kProvisioned);
  EXPECT_EQ(engine_->describe(kAcct, "s").value().max_record_kib, 1024);
  EXPECT_TRUE(put("s", kMiB).ok());
  auto over = put("s", kMiB + 1);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Errc::kValidation);
  EXPECT_NE(over.error().message.find("less than or equal to 1048576"), std::string::npos);

  ASSERT_TRUE(engine_->set_max_record_size(kAcct, "s", 3072, nullptr).ok());
  EXPECT_TRUE(put("s", 3 * kMiB).ok());
  EXPECT_EQ(put("s", 3 * kMiB + 1).error().code, Errc::kValidation);
  // PutRecords: each record against the stream's maximum, the call against 5 MiB or one record.
  std::vector<PutInput> two(2, PutInput{"k", std::string(3 * kMiB, 'y'), std::nullopt});
  auto batch = engine_->put_records(kAcct, "s", two, nullptr);
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(engine_->put_records(kAcct, "s", {two[0]}, nullptr).ok());
  two[1].data += "z";
  batch = engine_->put_records(kAcct, "s", two, nullptr);
  ASSERT_FALSE(batch.ok());
  EXPECT_NE(batch.error().message.find("records.2.member.data"), std::string::npos);

  EXPECT_EQ(engine_->set_max_record_size(kAcct, "nope", 2048, nullptr).error().code,
            Errc::kResourceNotFound);
  reopen();
  EXPECT_EQ(engine_->describe(kAcct, "s").value().max_record_kib, 3072);
  EXPECT_TRUE(put("s", 3 * kMiB).ok());
}

TEST_F(SettingsTest, CreateStreamTakesAMaxRecordSize) {
  create("s", StreamMode::kProvisioned, {.max_record_kib = 10240, .warm_throughput_mibps = {}});
  EXPECT_EQ(engine_->describe(kAcct, "s").value().max_record_kib, 10240);
  EXPECT_TRUE(put("s", 10 * 1024 * 1024).ok());
}

TEST_F(SettingsTest, StreamRecordsWithoutTheNewFieldsStillLoad) {
  create("s", StreamMode::kOnDemand);
  // Rewrite the stored record as a version without the new fields wrote it.
  std::string key = "kinesis/s/" + std::string(kAcct) + "/s";
  auto value = boost::json::parse(store_.get(key).value()).as_object();
  ASSERT_TRUE(value.contains("max_record_kib"));
  value.erase("max_record_kib");
  storage::WriteBatch b;
  b.put(key, boost::json::serialize(value));
  store_.write(std::move(b), storage::Durability::kSync, nullptr);
  reopen();
  auto info = engine_->describe(kAcct, "s").value();
  EXPECT_EQ(info.max_record_kib, 1024);
  EXPECT_FALSE(info.warm_target_mibps);
  EXPECT_EQ(engine_->account_settings(kAcct).status, Commitment::kDisabled);
}

TEST_F(SettingsTest, BillingCommitmentLifecycle) {
  auto a = engine_->account_settings(kAcct);
  EXPECT_EQ(a.status, Commitment::kDisabled);
  EXPECT_FALSE(a.started_ms);

  int64_t start = clock_.now_ms();
  auto on = engine_->update_account_settings(kAcct, true, nullptr).value();
  EXPECT_EQ(on.status, Commitment::kEnabled);
  EXPECT_EQ(on.started_ms, start);
  EXPECT_EQ(on.earliest_end_ms, start + kDayMs);
  EXPECT_FALSE(on.ended_ms);

  // Disabling within the first 24 hours only schedules the end.
  clock_.advance_ms(1000);
  auto pending = engine_->update_account_settings(kAcct, false, nullptr).value();
  EXPECT_EQ(pending.status, Commitment::kEnabledUntilEarliestAllowedEnd);
  EXPECT_EQ(pending.ended_ms, start + kDayMs);
  // Enabling again cancels it and keeps the commitment's start.
  auto again = engine_->update_account_settings(kAcct, true, nullptr).value();
  EXPECT_EQ(again.status, Commitment::kEnabled);
  EXPECT_EQ(again.started_ms, start);
  EXPECT_FALSE(again.ended_ms);

  enable(false);
  reopen();  // the pending end survives a restart
  EXPECT_EQ(engine_->account_settings(kAcct).status, Commitment::kEnabledUntilEarliestAllowedEnd);
  clock_.advance_ms(kDayMs);
  auto ended = engine_->account_settings(kAcct);
  EXPECT_EQ(ended.status, Commitment::kDisabled);
  EXPECT_EQ(ended.ended_ms, start + kDayMs);
  EXPECT_EQ(engine_->account_settings("111111111111").status, Commitment::kDisabled);

  // After the first day a commitment ends at once.
  enable(true);
  clock_.advance_ms(kDayMs);
  auto off = engine_->update_account_settings(kAcct, false, nullptr).value();
  EXPECT_EQ(off.status, Commitment::kDisabled);
  EXPECT_EQ(off.ended_ms, clock_.now_ms());
}

TEST_F(SettingsTest, WarmThroughputRules) {
  create("prov", StreamMode::kProvisioned);
  create("od", StreamMode::kOnDemand);
  EXPECT_EQ(engine_->set_warm_throughput(kAcct, "od", 100, nullptr).error().code,
            Errc::kInvalidArgument);  // no billing commitment
  enable(true);
  EXPECT_EQ(engine_->set_warm_throughput(kAcct, "prov", 100, nullptr).error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(engine_->set_warm_throughput(kAcct, "nope", 100, nullptr).error().code,
            Errc::kResourceNotFound);
  EXPECT_EQ(engine_->set_warm_throughput(kAcct, "od", 10241, nullptr).error().code,
            Errc::kLimitExceeded);
  auto w = engine_->set_warm_throughput(kAcct, "od", 100, nullptr).value();
  EXPECT_EQ(w.target_mibps, 100);
  EXPECT_EQ(w.current_mibps, 0);
  auto info = engine_->describe(kAcct, "od").value();
  EXPECT_EQ(info.warm_target_mibps, 100);
  EXPECT_EQ(info.warm_current_mibps, 100);

  // The stream is UPDATING for the update delay, at its old throughput meanwhile.
  reopen({.reshard_delay_ms = 1000});
  w = engine_->set_warm_throughput(kAcct, "od", 200, nullptr).value();
  EXPECT_EQ(w.current_mibps, 100);
  info = engine_->describe(kAcct, "od").value();
  EXPECT_EQ(info.status, "UPDATING");
  EXPECT_EQ(info.warm_current_mibps, 100);
  EXPECT_EQ(engine_->set_warm_throughput(kAcct, "od", 300, nullptr).error().code,
            Errc::kResourceInUse);
  clock_.advance_ms(1000);
  reopen();
  info = engine_->describe(kAcct, "od").value();
  EXPECT_EQ(info.status, "ACTIVE");
  EXPECT_EQ(info.warm_target_mibps, 200);
  EXPECT_EQ(info.warm_current_mibps, 200);
}

TEST_F(SettingsTest, CreateStreamTakesAWarmThroughput) {
  auto r = engine_->create_stream(kAcct, "od", std::nullopt, StreamMode::kOnDemand, {}, nullptr,
                                  {.max_record_kib = {}, .warm_throughput_mibps = 50});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  EXPECT_FALSE(engine_->describe(kAcct, "od").ok());  // nothing created
  enable(true);
  r = engine_->create_stream(kAcct, "prov", 1, StreamMode::kProvisioned, {}, nullptr,
                             {.max_record_kib = {}, .warm_throughput_mibps = 50});
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  create("od", StreamMode::kOnDemand, {.max_record_kib = {}, .warm_throughput_mibps = 50});
  auto info = engine_->describe(kAcct, "od").value();
  EXPECT_EQ(info.warm_target_mibps, 50);
  EXPECT_EQ(info.warm_current_mibps, 50);
}

}  // namespace
}  // namespace ferry::kinesis
