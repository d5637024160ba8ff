// RunSkipList under RocksDB: every read path (Get, forward and backward iteration, Seek,
// SeekForPrev, snapshots) agrees with a model while inserts arrive in order, out of order and
// interleaved across runs and kinds; the same after a flush and after WAL recovery; and readers
// running beside the writer see every write acknowledged before they looked.
#include "storage/rocksdb/run_memtable.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace ferry::storage {
namespace {

using Model = std::map<std::string, std::string>;

const std::vector<RocksOptions::OrderedRun> kRuns = {{"sqs/m/", 6 + 8, 6 + 8 + 8 + 1}};

std::string run_key(uint64_t run, uint64_t seq, char kind = 'p') {
  std::string k = "sqs/m/";
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>(run >> (8 * i)));
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>(seq >> (8 * i)));
  k.push_back(kind);
  return k;
}

class RunSkipListTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "ferry-rsl-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    open();
  }
  void TearDown() override {
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void open() {
    db_.reset();
    rocksdb::Options options;
    options.create_if_missing = true;
    options.memtable_factory = std::make_shared<RunSkipListFactory>(kRuns);
    options.allow_concurrent_memtable_write = false;
    options.write_buffer_size = 256 << 20;  // everything stays in the memtable until Flush()
    rocksdb::DB* db = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(options, dir_, &db);
    ASSERT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
  }

  std::optional<std::string> get(const std::string& key,
                                 const rocksdb::Snapshot* snapshot = nullptr) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    std::string value;
    const rocksdb::Status s = db_->Get(ro, key, &value);
    if (s.IsNotFound()) return std::nullopt;
    EXPECT_TRUE(s.ok()) << s.ToString();
    return value;
  }

  // Every read path against the model.
  void expect_matches(const Model& model, const std::vector<std::string>& universe,
                      std::mt19937_64& rng, const rocksdb::Snapshot* snapshot = nullptr) {
    for (const auto& key : universe) {
      auto it = model.find(key);
      const auto got = get(key, snapshot);
      if (it == model.end()) {
        EXPECT_FALSE(got.has_value()) << "deleted key found";
      } else {
        ASSERT_TRUE(got.has_value()) << "live key missing";
        EXPECT_EQ(*got, it->second);
      }
    }
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    std::unique_ptr<rocksdb::Iterator> iter(db_->NewIterator(ro));
    Model forward;
    for (iter->SeekToFirst(); iter->Valid(); iter->Next()) {
      forward.emplace(iter->key().ToString(), iter->value().ToString());
    }
    EXPECT_TRUE(iter->status().ok());
    EXPECT_EQ(forward, model);
    std::vector<std::string> backward;
    for (iter->SeekToLast(); iter->Valid(); iter->Prev())
      backward.push_back(iter->key().ToString());
    std::vector<std::string> expected;
    for (auto it = model.rbegin(); it != model.rend(); ++it) expected.push_back(it->first);
    EXPECT_EQ(backward, expected);
    for (int i = 0; i < 200; ++i) {
      const std::string& target = universe[rng() % universe.size()];
      iter->Seek(target);
      auto lower = model.lower_bound(target);
      ASSERT_EQ(iter->Valid(), lower != model.end());
      if (lower != model.end()) {
        EXPECT_EQ(iter->key().ToString(), lower->first);
      }
      iter->SeekForPrev(target);
      auto upper = model.upper_bound(target);
      ASSERT_EQ(iter->Valid(), upper != model.begin());
      if (upper != model.begin()) {
        EXPECT_EQ(iter->key().ToString(), std::prev(upper)->first);
      }
    }
  }

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
};

TEST_F(RunSkipListTest, AgreesWithAModelInMemoryAfterFlushAndAfterRecovery) {
  std::mt19937_64 rng(42);
  Model model;
  std::vector<std::string> universe;
  for (uint64_t run = 1; run <= 3; ++run) {
    for (uint64_t seq = 0; seq < 600; ++seq) universe.push_back(run_key(run, seq));
  }
  for (int i = 0; i < 300; ++i) universe.push_back("other/" + std::to_string(rng() % 100000));
  // Keys only ever put once and then single-deleted (SingleDelete's contract), per run in
  // order, as a queue appends and consumes.
  uint64_t appended[4] = {0, 0, 0, 0};
  uint64_t consumed[4] = {0, 0, 0, 0};
  const rocksdb::Snapshot* snapshot = nullptr;
  Model at_snapshot;
  for (int round = 0; round < 400; ++round) {
    rocksdb::WriteBatch batch;
    for (int op = 0; op < 8; ++op) {
      const uint64_t run = 1 + rng() % 3;
      const int kind = static_cast<int>(rng() % 6);
      if (kind <= 1 && appended[run] < 300) {  // append to the run
        const std::string key = run_key(run, appended[run]++);
        const std::string value = "v" + std::to_string(rng());
        batch.Put(key, value);
        model[key] = value;
      } else if (kind == 2 && consumed[run] < appended[run]) {  // consume from its front
        const std::string key = run_key(run, consumed[run]++);
        batch.SingleDelete(key);
        model.erase(key);
      } else if (kind == 3) {  // overwrite or delete anywhere in the upper half of a run
        const std::string key = run_key(run, 300 + rng() % 300);
        if (rng() % 2) {
          const std::string value = "w" + std::to_string(rng());
          batch.Put(key, value);
          model[key] = value;
        } else {
          batch.Delete(key);
          model.erase(key);
        }
      } else {  // keys outside every run
        const std::string& key = universe[universe.size() - 1 - rng() % 300];
        if (rng() % 3) {
          batch.Put(key, "o" + std::to_string(rng()));
          model[key] = "o" + std::to_string(rng());
          batch.Put(key, model[key]);  // a second version in the same batch wins
        } else {
          batch.Delete(key);
          model.erase(key);
        }
      }
    }
    ASSERT_TRUE(db_->Write(rocksdb::WriteOptions(), &batch).ok());
    if (round == 200) {
      snapshot = db_->GetSnapshot();
      at_snapshot = model;
    }
  }
  expect_matches(model, universe, rng);
  expect_matches(at_snapshot, universe, rng, snapshot);
  db_->ReleaseSnapshot(snapshot);

  open();  // WAL recovery inserts everything into a fresh memtable
  expect_matches(model, universe, rng);
  ASSERT_TRUE(db_->Flush(rocksdb::FlushOptions()).ok());
  expect_matches(model, universe, rng);
}

TEST_F(RunSkipListTest, ReadersSeeEveryAcknowledgedWriteWhileTheWriterInserts) {
  constexpr uint64_t kCount = 20000;
  std::atomic<uint64_t> written{0};
  std::atomic<bool> failed{false};
  std::thread writer([&] {
    for (uint64_t seq = 0; seq < kCount; ++seq) {
      rocksdb::WriteBatch batch;
      batch.Put(run_key(1, seq), std::to_string(seq));
      batch.Put(run_key(2, kCount - seq), std::to_string(seq));  // descending in another run
      // Odd keys of run 1 are consumed ten writes later; readers look at even ones.
      if (seq >= 10 && (seq - 10) % 2 == 1) batch.SingleDelete(run_key(1, seq - 10));
      if (!db_->Write(rocksdb::WriteOptions(), &batch).ok()) failed = true;
      written.store(seq + 1, std::memory_order_release);
    }
  });
  std::vector<std::thread> readers;
  std::atomic<uint64_t> checks{0};
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(r);
      while (written.load(std::memory_order_acquire) < kCount) {
        const uint64_t done = written.load(std::memory_order_acquire);
        if (done == 0) continue;
        const uint64_t seq = (done - 1 - rng() % std::min<uint64_t>(done, 10)) & ~uint64_t{1};
        std::string value;
        if (!db_->Get(rocksdb::ReadOptions(), run_key(1, seq), &value).ok() ||
            value != std::to_string(seq)) {
          failed = true;
        }
        if (!db_->Get(rocksdb::ReadOptions(), run_key(2, kCount - seq), &value).ok()) {
          failed = true;
        }
        if (rng() % 64 == 0) {  // a scan sees keys in order, and at least what was written
          std::unique_ptr<rocksdb::Iterator> iter(db_->NewIterator(rocksdb::ReadOptions()));
          std::string last;
          uint64_t count = 0;
          for (iter->SeekToFirst(); iter->Valid(); iter->Next(), ++count) {
            if (!last.empty() && !(last < iter->key().ToString())) failed = true;
            last = iter->key().ToString();
          }
          if (count < done) failed = true;  // run 2 alone holds `done` keys
        }
        checks.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_FALSE(failed.load());
  EXPECT_GT(checks.load(), 0u);
  std::unique_ptr<rocksdb::Iterator> iter(db_->NewIterator(rocksdb::ReadOptions()));
  uint64_t count = 0;
  for (iter->SeekToFirst(); iter->Valid(); iter->Next()) ++count;
  EXPECT_EQ(count, kCount + kCount / 2 + 5);  // run 2; run 1's even keys and last five odd
}

}  // namespace
}  // namespace ferry::storage
