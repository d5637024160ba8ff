#include "storage/rocksdb/rocksdb_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ferry::storage {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

class RocksStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "ferry-rocks-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<RocksStore> open(SyncMode mode = SyncMode::kStrict, int interval_ms = 100) {
    RocksOptions options;
    options.dir = dir_;
    options.mode = mode;
    options.relaxed_sync_interval_ms = interval_ms;
    std::string error;
    auto store = RocksStore::open(options, &error);
    EXPECT_NE(store, nullptr) << error;
    return store;
  }
  // With WAL spares of spare_bytes (small, so that a test fills them quickly).
  RocksOptions with_spares(uint64_t spare_bytes) const {
    RocksOptions options;
    options.dir = dir_;
    options.wal_prewrite_bytes = spare_bytes;
    return options;
  }

  std::string dir_;
};

// Writes and waits for the callback; returns its ok.
bool write_and_wait(Store& store, WriteBatch batch, Durability durability = Durability::kSync) {
  auto done = std::make_shared<std::promise<bool>>();
  auto result = done->get_future();
  store.write(std::move(batch), durability, [done](bool ok) { done->set_value(ok); });
  return result.get();
}

bool put(Store& store, std::string key, std::string value) {
  WriteBatch batch;
  batch.put(std::move(key), std::move(value));
  return write_and_wait(store, std::move(batch));
}

Pairs scan_all(Store& store, std::string_view prefix, std::string_view from = {}) {
  Pairs out;
  store.scan_from(prefix, from.empty() ? prefix : from,
                  [&](std::string_view k, std::string_view v) {
                    out.emplace_back(k, v);
                    return true;
                  });
  return out;
}

TEST_F(RocksStoreTest, PutGetDelete) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->describe(), "rocksdb:" + dir_);
  EXPECT_EQ(store->get("a"), std::nullopt);

  WriteBatch batch;
  batch.put("a", "1");
  batch.put("b", "2");
  batch.put("c", std::string("\0bin\xff", 5));
  ASSERT_TRUE(write_and_wait(*store, std::move(batch)));
  EXPECT_EQ(store->get("a"), "1");
  EXPECT_EQ(store->get("b"), "2");
  EXPECT_EQ(store->get("c"), std::string("\0bin\xff", 5));

  WriteBatch del;
  del.del("a");
  del.del("missing");
  ASSERT_TRUE(write_and_wait(*store, std::move(del)));
  EXPECT_EQ(store->get("a"), std::nullopt);
  EXPECT_EQ(store->get("b"), "2");
}

TEST_F(RocksStoreTest, DeleteRange) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (const char* k : {"k1", "k2", "k3", "k4", "k5"}) batch.put(k, k);
  ASSERT_TRUE(write_and_wait(*store, std::move(batch)));

  WriteBatch range;
  range.delete_range("k2", "k4");
  range.delete_range("k5", "k1");  // inverted: deletes nothing, fails nothing
  ASSERT_TRUE(write_and_wait(*store, std::move(range)));
  EXPECT_EQ(store->get("k1"), "k1");
  EXPECT_EQ(store->get("k2"), std::nullopt);
  EXPECT_EQ(store->get("k3"), std::nullopt);
  EXPECT_EQ(store->get("k4"), "k4");
  EXPECT_EQ(scan_all(*store, "k"), (Pairs{{"k1", "k1"}, {"k4", "k4"}, {"k5", "k5"}}));
}

TEST_F(RocksStoreTest, InterleavedWritesToOneKeyApplyInOrder) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  std::latch all(300);
  for (int i = 0; i < 300; ++i) {
    WriteBatch batch;
    switch (i % 3) {
      case 0:
        batch.put("key", "v" + std::to_string(i));
        break;
      case 1:
        batch.del("key");
        break;
      case 2:
        batch.delete_range("ka", "kz");
        break;
    }
    if (i % 3 != 0) batch.put("key", "w" + std::to_string(i));
    store->write(std::move(batch), i % 2 ? Durability::kSync : Durability::kLazy, [&](bool ok) {
      EXPECT_TRUE(ok);
      all.count_down();
    });
    // Read-your-writes holds at every step, applied or not.
    EXPECT_EQ(store->get("key"), (i % 3 ? "w" : "v") + std::to_string(i));
  }
  all.wait();
  EXPECT_EQ(store->get("key"), "w299");
  store->close();
  store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->get("key"), "w299");
}

TEST_F(RocksStoreTest, ReadsSeeQueuedWritesBeforeTheyCommit) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  WriteBatch base;
  base.put("disk/a", "A");
  base.put("disk/b", "B");
  base.put("disk/c", "C");
  ASSERT_TRUE(write_and_wait(*store, std::move(base)));
  const uint64_t commits_before = store->commits();

  store->pause_commits_for_testing();
  std::atomic<int> done{0};
  auto count = [&](bool ok) {
    EXPECT_TRUE(ok);
    ++done;
  };
  WriteBatch b1;
  b1.put("new", "N");
  b1.del("disk/a");
  b1.put("disk/queued", "Q");  // queued, then hidden by the range below
  store->write(std::move(b1), Durability::kSync, count);
  EXPECT_EQ(store->get("disk/queued"), "Q");
  EXPECT_EQ(store->get("new"), "N");
  EXPECT_EQ(store->get("disk/a"), std::nullopt);
  EXPECT_EQ(store->get("disk/b"), "B");

  WriteBatch b2;
  b2.delete_range("disk/", "disk0");  // hides every disk/ key, on disk or queued
  store->write(std::move(b2), Durability::kLazy, count);
  EXPECT_EQ(store->get("disk/b"), std::nullopt);
  EXPECT_EQ(store->get("disk/c"), std::nullopt);
  EXPECT_EQ(store->get("disk/queued"), std::nullopt);
  EXPECT_EQ(store->get("new"), "N");

  WriteBatch b3;
  b3.put("disk/c", "C2");  // a put after the range wins over it
  b3.put("new", "N2");
  store->write(std::move(b3), Durability::kSync, count);
  EXPECT_EQ(store->get("disk/c"), "C2");
  EXPECT_EQ(store->get("new"), "N2");
  EXPECT_EQ(scan_all(*store, "disk/"), (Pairs{{"disk/c", "C2"}}));

  // Nothing has reached RocksDB yet.
  EXPECT_EQ(done.load(), 0);
  EXPECT_EQ(store->commits(), commits_before);

  store->resume_commits_for_testing();
  ASSERT_TRUE(put(*store, "barrier", "x"));
  EXPECT_EQ(done.load(), 3);
  EXPECT_EQ(store->get("disk/a"), std::nullopt);
  EXPECT_EQ(store->get("disk/b"), std::nullopt);
  EXPECT_EQ(store->get("disk/c"), "C2");
  EXPECT_EQ(store->get("disk/queued"), std::nullopt);
  EXPECT_EQ(store->get("new"), "N2");
  EXPECT_EQ(scan_all(*store, "disk/"), (Pairs{{"disk/c", "C2"}}));
}

TEST_F(RocksStoreTest, ScanMergesOverlayWithDisk) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  WriteBatch base;
  for (const char* k : {"p/1", "q/1", "q/3", "q/5", "q/7", "q/9", "r/1"}) base.put(k, "disk");
  ASSERT_TRUE(write_and_wait(*store, std::move(base)));

  store->pause_commits_for_testing();
  WriteBatch queued;
  queued.put("q/0", "new");            // before every disk key
  queued.put("q/4", "new");            // between disk keys
  queued.put("q/5", "changed");        // replaces a disk key
  queued.del("q/3");                   // hides a disk key
  queued.delete_range("q/6", "q/95");  // hides q/7 and q/9 ...
  queued.put("q/8", "new");            // ... but not a later put inside it
  queued.put("q/99", "new");           // after the range
  queued.put("qa", "other");           // outside the prefix
  store->write(std::move(queued), Durability::kSync, nullptr);

  const Pairs expected{{"q/0", "new"},     {"q/1", "disk"}, {"q/4", "new"},
                       {"q/5", "changed"}, {"q/8", "new"},  {"q/99", "new"}};
  EXPECT_EQ(scan_all(*store, "q/"), expected);

  // fn returning false stops the scan.
  Pairs first_two;
  store->scan("q/", [&](std::string_view k, std::string_view v) {
    first_two.emplace_back(k, v);
    return first_two.size() < 2;
  });
  EXPECT_EQ(first_two, (Pairs{{"q/0", "new"}, {"q/1", "disk"}}));

  // An empty prefix scans everything.
  EXPECT_EQ(scan_all(*store, "").size(), expected.size() + 3);  // p/1, qa, r/1

  // scan_from() starts inside the prefix, on the overlay and the disk alike: at a queued put
  // (q/4), at a disk key (q/1), between keys, and inside the queued delete range.
  const auto from = [&](size_t i) { return Pairs(expected.begin() + i, expected.end()); };
  EXPECT_EQ(scan_all(*store, "q/", "q/4"), from(2));
  EXPECT_EQ(scan_all(*store, "q/", "q/1"), from(1));
  EXPECT_EQ(scan_all(*store, "q/", "q/2"), from(2));
  EXPECT_EQ(scan_all(*store, "q/", "q/7"), from(4));
  EXPECT_TRUE(scan_all(*store, "q/", "q/999").empty());

  store->resume_commits_for_testing();
  ASSERT_TRUE(put(*store, "barrier", "x"));
  EXPECT_EQ(scan_all(*store, "q/"), expected);
  EXPECT_EQ(scan_all(*store, "q/", "q/2"), from(2));
  EXPECT_EQ(scan_all(*store, "q/", "q/7"), from(4));
}

TEST_F(RocksStoreTest, ScanPrefixEndingInFF) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  const std::string prefix = "a\xff";
  WriteBatch batch;
  batch.put(prefix, "0");
  batch.put(prefix + "\xff", "1");
  batch.put("b", "out");
  ASSERT_TRUE(write_and_wait(*store, std::move(batch)));
  store->pause_commits_for_testing();
  WriteBatch queued;
  queued.put(prefix + "\x01", "2");
  store->write(std::move(queued), Durability::kLazy, nullptr);
  EXPECT_EQ(scan_all(*store, prefix),
            (Pairs{{prefix, "0"}, {prefix + "\x01", "2"}, {prefix + "\xff", "1"}}));
  store->resume_commits_for_testing();
}

TEST_F(RocksStoreTest, ScanCallbackMayUseTheStore) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(put(*store, "s/1", "1"));
  ASSERT_TRUE(put(*store, "s/2", "2"));
  std::latch written(2);
  store->scan("s/", [&](std::string_view k, std::string_view v) {
    EXPECT_EQ(store->get(k), std::string(v));
    WriteBatch batch;
    batch.put("t/" + std::string(v), "copied");
    store->write(std::move(batch), Durability::kSync, [&](bool ok) {
      EXPECT_TRUE(ok);
      written.count_down();
    });
    return true;
  });
  written.wait();
  EXPECT_EQ(scan_all(*store, "t/"), (Pairs{{"t/1", "copied"}, {"t/2", "copied"}}));
}

TEST_F(RocksStoreTest, CallbackMayWriteAgain) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  std::promise<bool> second;
  WriteBatch first;
  first.put("x", "1");
  store->write(std::move(first), Durability::kSync, [&](bool ok) {
    EXPECT_TRUE(ok);
    WriteBatch next;
    next.put("x", "2");
    store->write(std::move(next), Durability::kSync, [&](bool ok2) { second.set_value(ok2); });
  });
  EXPECT_TRUE(second.get_future().get());
  EXPECT_EQ(store->get("x"), "2");
}

TEST_F(RocksStoreTest, PersistsAcrossCloseAndReopen) {
  {
    auto store = open();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(put(*store, "m/1", "one"));
    ASSERT_TRUE(put(*store, "m/2", "two"));
    WriteBatch lazy;  // no callback: close() still writes and syncs it
    lazy.put("m/3", "three");
    lazy.del("m/1");
    store->write(std::move(lazy), Durability::kLazy, nullptr);
  }  // the destructor closes
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(scan_all(*store, "m/"), (Pairs{{"m/2", "two"}, {"m/3", "three"}}));
}

// A single_del hides its key at once, through the overlay and on disk, in the same batch as
// the put or in a later one, and across a reopen (the put and its SingleDelete meet in the
// flush of the memtable).
TEST_F(RocksStoreTest, SingleDeleteRemovesAKeyPutOnce) {
  {
    auto store = open();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(put(*store, "m/1", "one"));
    ASSERT_TRUE(put(*store, "m/2", "two"));
    WriteBatch both;
    both.put("m/3", "three");
    both.single_del("m/3");
    both.single_del("m/1");
    store->pause_commits_for_testing();
    store->write(std::move(both), Durability::kLazy, nullptr);
    EXPECT_EQ(store->get("m/1"), std::nullopt);  // queued, read through the overlay
    EXPECT_EQ(scan_all(*store, "m/"), (Pairs{{"m/2", "two"}}));
    store->resume_commits_for_testing();
    ASSERT_TRUE(put(*store, "m/4", "four"));
    EXPECT_EQ(store->get("m/1"), std::nullopt);  // committed
    EXPECT_EQ(store->get("m/3"), std::nullopt);
  }
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(scan_all(*store, "m/"), (Pairs{{"m/2", "two"}, {"m/4", "four"}}));
}

// Keys of an ordered run (RocksOptions::ordered_runs: "sqs/m/" + 8 + 8 + 1 bytes) get their own
// insert positions in the memtable. Puts, single deletes, deletes and range deletes, including
// ranges that begin exactly at a run key (RocksDB 7.8's own insert hints corrupted its
// range-delete table there), give the same answers as a plain map, before and after a reopen.
TEST_F(RocksStoreTest, OrderedRunKeysWithRangeDeletes) {
  auto key = [](uint64_t run, uint64_t seq, char kind = 'p') {
    std::string k = "sqs/m/";
    for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>(run >> (8 * i)));
    for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>(seq >> (8 * i)));
    k.push_back(kind);
    return k;
  };
  std::map<std::string, std::string> expected;
  {
    auto store = open();
    ASSERT_NE(store, nullptr);
    for (uint64_t round = 0; round < 20; ++round) {
      WriteBatch batch;
      for (uint64_t run = 1; run <= 3; ++run) {
        for (uint64_t i = 0; i < 50; ++i) {
          const uint64_t seq = round * 50 + i;
          batch.put(key(run, seq), "v" + std::to_string(seq));
          expected[key(run, seq)] = "v" + std::to_string(seq);
          if (seq >= 10 && seq % 3 == 0) {  // the oldest live ones go, as consumers delete
            batch.single_del(key(run, seq - 10));
            expected.erase(key(run, seq - 10));
          }
        }
      }
      if (round % 5 == 4) {  // a range beginning at a run key, and one at a run's start
        const std::string begin = key(2, round * 50), end = key(2, round * 50 + 25);
        batch.delete_range(begin, end);
        expected.erase(expected.lower_bound(begin), expected.lower_bound(end));
        const std::string run_start = key(3, 0).substr(0, 14);
        batch.delete_range(run_start, key(3, round * 10));
        expected.erase(expected.lower_bound(run_start), expected.lower_bound(key(3, round * 10)));
      }
      ASSERT_TRUE(write_and_wait(*store, std::move(batch), Durability::kLazy));
    }
    Pairs want(expected.begin(), expected.end());
    EXPECT_EQ(scan_all(*store, "sqs/m/"), want);
  }
  auto store = open();
  ASSERT_NE(store, nullptr);
  Pairs want(expected.begin(), expected.end());
  EXPECT_EQ(scan_all(*store, "sqs/m/"), want);
}

TEST_F(RocksStoreTest, ConcurrentWritersShareSyncs) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 8;
  constexpr int kWritesPerThread = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i) {
        WriteBatch batch;
        batch.put("g/" + std::to_string(t) + "/" + std::to_string(i), "v");
        // Like a request handler: each write waits for its own durability.
        if (!write_and_wait(*store, std::move(batch))) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  constexpr uint64_t kWrites = kThreads * kWritesPerThread;
  EXPECT_EQ(failures.load(), 0);
  // Every group held a kSync write; one sync covers every group written before it began.
  EXPECT_GE(store->syncs(), 1u);
  EXPECT_LE(store->syncs(), store->commits());
  EXPECT_LT(store->syncs(), kWrites);
  std::printf("%llu syncs for %llu writes\n", static_cast<unsigned long long>(store->syncs()),
              static_cast<unsigned long long>(kWrites));
  EXPECT_EQ(scan_all(*store, "g/").size(), kWrites);
}

TEST_F(RocksStoreTest, QueuedWritesCommitAsOneGroup) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  store->pause_commits_for_testing();
  std::latch all(50);
  for (int i = 0; i < 50; ++i) {
    WriteBatch batch;
    batch.put("k" + std::to_string(i), "v");
    store->write(std::move(batch), Durability::kSync, [&](bool ok) {
      EXPECT_TRUE(ok);
      all.count_down();
    });
  }
  store->resume_commits_for_testing();
  all.wait();
  EXPECT_EQ(store->commits(), 1u);
  EXPECT_EQ(store->syncs(), 1u);
}

TEST_F(RocksStoreTest, LazyAndSyncWritesKeepOneOrder) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  std::mutex mu;
  std::vector<int> order;
  auto record = [&](int n) {
    return [&, n](bool ok) {
      EXPECT_TRUE(ok);
      std::lock_guard lock(mu);
      order.push_back(n);
    };
  };

  // A group of lazy writes only is written without a sync.
  store->pause_commits_for_testing();
  std::latch lazy_group(3);
  auto write = [&](WriteBatch batch, Durability durability, int n, std::latch& group) {
    store->write(std::move(batch), durability, [&, n](bool ok) {
      record(n)(ok);
      group.count_down();
    });
  };
  WriteBatch l1;
  l1.put("k", "lazy1");
  write(std::move(l1), Durability::kLazy, 1, lazy_group);
  WriteBatch l2;
  l2.del("k");
  write(std::move(l2), Durability::kLazy, 2, lazy_group);
  WriteBatch l3;
  l3.put("k", "lazy3");
  write(std::move(l3), Durability::kLazy, 3, lazy_group);
  EXPECT_EQ(store->get("k"), "lazy3");
  store->resume_commits_for_testing();
  lazy_group.wait();
  EXPECT_EQ(store->commits(), 1u);
  EXPECT_EQ(store->syncs(), 0u);
  EXPECT_EQ(store->get("k"), "lazy3");

  // Mixed: a lazy delete after a synced put, a synced put after a lazy delete. One kSync write
  // makes the whole group synced.
  store->pause_commits_for_testing();
  std::latch mixed_group(4);
  WriteBatch s4;
  s4.put("k", "sync4");
  write(std::move(s4), Durability::kSync, 4, mixed_group);
  WriteBatch l5;
  l5.del("k");
  write(std::move(l5), Durability::kLazy, 5, mixed_group);
  EXPECT_EQ(store->get("k"), std::nullopt);
  WriteBatch s6;
  s6.put("j", "sync6");
  write(std::move(s6), Durability::kSync, 6, mixed_group);
  WriteBatch l7;
  l7.put("k", "lazy7");
  write(std::move(l7), Durability::kLazy, 7, mixed_group);
  EXPECT_EQ(store->get("k"), "lazy7");
  store->resume_commits_for_testing();
  mixed_group.wait();
  EXPECT_EQ(store->commits(), 2u);
  EXPECT_EQ(store->syncs(), 1u);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
  }
  store->close();
  store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->get("k"), "lazy7");
  EXPECT_EQ(store->get("j"), "sync6");
}

// The sync thread syncs the WAL for the groups the commit thread wrote, while the commit thread
// goes on writing: a group written meanwhile is covered by the next sync, and a lazy group
// behind one that waits for its sync calls back after it.
TEST_F(RocksStoreTest, WritesGoOnWhileAGroupWaitsForItsSync) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  std::mutex mu;
  std::vector<int> order;
  std::latch called(3);
  auto record = [&](int n) {
    return [&, n](bool ok) {
      EXPECT_TRUE(ok);
      {
        std::lock_guard lock(mu);
        order.push_back(n);
      }
      called.count_down();
    };
  };
  auto awaiting = [&](size_t groups) {
    // The commit thread hands each group over as soon as it is written.
    while (store->groups_awaiting_sync_for_testing() < groups) std::this_thread::yield();
  };
  store->pause_syncs_for_testing();
  WriteBatch first;
  first.put("a", "1");
  store->write(std::move(first), Durability::kSync, record(1));
  awaiting(1);
  WriteBatch lazy;
  lazy.put("b", "2");
  store->write(std::move(lazy), Durability::kLazy, record(2));
  awaiting(2);
  WriteBatch second;
  second.put("c", "3");
  store->write(std::move(second), Durability::kSync, record(3));
  awaiting(3);
  EXPECT_EQ(store->commits(), 3u);  // written while the first waited for its sync
  EXPECT_EQ(store->syncs(), 0u);
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(order.empty());  // the lazy group waits behind the first
  }
  EXPECT_EQ(store->get("b"), "2");
  store->resume_syncs_for_testing();
  called.wait();
  EXPECT_EQ(store->syncs(), 1u);  // one sync for all three
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  }
  store->close();
  store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->get("a"), "1");
  EXPECT_EQ(store->get("c"), "3");
}

TEST_F(RocksStoreTest, CloseDrainsQueueAndRefusesLaterWrites) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  store->pause_commits_for_testing();  // close() drains even a paused pipeline
  std::atomic<int> ok_count{0};
  for (int i = 0; i < 100; ++i) {
    WriteBatch batch;
    batch.put("c/" + std::to_string(1000 + i), std::to_string(i));
    store->write(std::move(batch), i % 2 ? Durability::kSync : Durability::kLazy,
                 [&](bool ok) { ok_count += ok; });
  }
  store->close();
  EXPECT_EQ(ok_count.load(), 100);
  EXPECT_GE(store->syncs(), 1u);

  bool called = false;
  bool result = true;
  WriteBatch late;
  late.put("late", "x");
  store->write(std::move(late), Durability::kSync, [&](bool ok) {
    called = true;
    result = ok;
  });
  EXPECT_TRUE(called);  // refused at once, on this thread
  EXPECT_FALSE(result);
  EXPECT_EQ(store->get("c/1000"), std::nullopt);  // reads after close find nothing
  store->close();                                 // idempotent

  store = open();
  ASSERT_NE(store, nullptr);
  const Pairs all = scan_all(*store, "c/");
  ASSERT_EQ(all.size(), 100u);
  EXPECT_EQ(all.front(), (std::pair<std::string, std::string>{"c/1000", "0"}));
  EXPECT_EQ(store->get("late"), std::nullopt);
}

TEST_F(RocksStoreTest, RelaxedModeCallsBackBeforeSyncAndSyncsOnClose) {
  // An interval far beyond the test's length: only close() syncs.
  auto store = open(SyncMode::kRelaxed, 3'600'000);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(put(*store, "r", "1"));
  ASSERT_TRUE(put(*store, "r", "2"));
  EXPECT_EQ(store->syncs(), 0u);
  EXPECT_EQ(store->commits(), 2u);
  store->close();
  EXPECT_EQ(store->syncs(), 1u);
  store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->get("r"), "2");
}

TEST_F(RocksStoreTest, ReadsStayConsistentUnderConcurrentWrites) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  std::atomic<bool> stop{false};
  std::thread scanner([&] {
    while (!stop) {
      // Every key of one batch is written together: a scan sees both or neither.
      const Pairs pairs = scan_all(*store, "pair/");
      std::map<std::string, std::string> seen(pairs.begin(), pairs.end());
      for (const auto& [k, v] : pairs) {
        if (k.ends_with("/a")) {
          EXPECT_EQ(seen[k.substr(0, k.size() - 1) + "b"], v);
        }
      }
    }
  });
  std::latch all(500);
  for (int i = 0; i < 500; ++i) {
    WriteBatch batch;
    const std::string key = "pair/" + std::to_string(i % 20) + "/";
    batch.put(key + "a", std::to_string(i));
    batch.put(key + "b", std::to_string(i));
    store->write(std::move(batch), i % 4 ? Durability::kLazy : Durability::kSync, [&](bool ok) {
      EXPECT_TRUE(ok);
      all.count_down();
    });
    EXPECT_EQ(store->get(key + "a"), std::to_string(i));
  }
  all.wait();
  stop = true;
  scanner.join();
}

TEST_F(RocksStoreTest, OpenFailsCleanly) {
  const std::string file = dir_ + "/not-a-dir";
  { std::ofstream(file) << "x"; }
  RocksOptions options;
  options.dir = file + "/db";
  std::string error;
  EXPECT_EQ(RocksStore::open(options, &error), nullptr);
  EXPECT_FALSE(error.empty());

  options.dir.clear();
  EXPECT_EQ(RocksStore::open(options, nullptr), nullptr);

  // A second open of a directory in use fails on RocksDB's lock instead of corrupting it.
  auto store = open();
  ASSERT_NE(store, nullptr);
  options.dir = dir_;
  error.clear();
  EXPECT_EQ(RocksStore::open(options, &error), nullptr);
  EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace ferry::storage

namespace ferry::storage {
namespace {

// Record keys go to their own column family, whose values live in blob files; every Store
// operation works on them as on any key, and a trimmed range is gone after a reopen.
TEST_F(RocksStoreTest, RecordKeysLiveInBlobFiles) {
  auto store = open();
  const std::string value(1024, 'r');
  WriteBatch batch;
  for (int i = 0; i < 1000; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "kinesis/r/%06d", i);
    batch.put(key, value + std::to_string(i));
  }
  batch.put("sqs/q/other", "default family");
  ASSERT_TRUE(write_and_wait(*store, std::move(batch)));
  store->flush_records_for_testing();
  size_t blob_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    if (entry.path().extension() == ".blob") ++blob_files;
  }
  EXPECT_GE(blob_files, 1u);
  EXPECT_EQ(store->get("kinesis/r/000007"), value + "7");
  EXPECT_EQ(store->get("sqs/q/other"), "default family");

  WriteBatch trim;
  trim.delete_range("kinesis/r/", "kinesis/r/000500");
  ASSERT_TRUE(write_and_wait(*store, std::move(trim)));
  store->close();
  store = open();
  EXPECT_FALSE(store->get("kinesis/r/000499").has_value());
  Pairs records;
  store->scan("kinesis/r/", [&](std::string_view k, std::string_view v) {
    records.emplace_back(std::string(k), std::string(v));
    return true;
  });
  ASSERT_EQ(records.size(), 500u);
  EXPECT_EQ(records.front().first, "kinesis/r/000500");
  EXPECT_EQ(records.back().second, value + "999");
  EXPECT_EQ(store->get("sqs/q/other"), "default family");
}

// Writes 24 records of `body` (64 KiB: 1.5 MiB, and a WAL that has taken 1 MiB asks for a
// spare), numbered by `round`, then polls until the spare is written.
bool fill_until_spare(RocksStore& store, const std::filesystem::path& spare, uint64_t spare_bytes,
                      int round, const std::string& body) {
  for (int i = 0; i < 24; ++i) {
    WriteBatch batch;
    batch.put("kinesis/r/" + std::to_string(1000 + 100 * round + i), body);
    if (!write_and_wait(store, std::move(batch))) return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::error_code ec;
  while (std::filesystem::file_size(spare, ec) != spare_bytes &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::filesystem::file_size(spare, ec) == spare_bytes;
}

// The default family's few writes (queue records) must not keep the WAL behind a backlog of
// messages alive: past max_wal_bytes RocksDB flushes the families holding the oldest WAL file.
TEST_F(RocksStoreTest, QueueRecordsDoNotKeepTheWalOfMessagesAlive) {
  RocksOptions options;
  options.dir = dir_;
  options.max_wal_bytes = 1 << 20;
  options.wal_prewrite_bytes = 0;  // the live WAL's file size would count the spare's zeros
  std::string error;
  auto store = RocksStore::open(options, &error);
  ASSERT_NE(store, nullptr) << error;
  ASSERT_TRUE(put(*store, "sqs/q/000000000000/queue", "record"));
  const std::string body(64 << 10, 'm');
  for (int i = 0; i < 128; ++i) {  // 8 MiB of messages, far below a memtable's size
    WriteBatch batch;
    batch.put("sqs/m/" + std::to_string(100000 + i), body);
    ASSERT_TRUE(write_and_wait(*store, std::move(batch)));
  }
  // The flush runs in the background; the old WAL files go when it ends. Without the cap all
  // 8 MiB stay.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (store->wal_bytes_for_testing() >= (4u << 20) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_LT(store->wal_bytes_for_testing(), 4u << 20);
  EXPECT_EQ(store->get("sqs/q/000000000000/queue"), "record");
  EXPECT_EQ(store->get("sqs/m/100127"), body);
}

// A WAL file made from a prewritten spare holds zeros past what RocksDB wrote. A crash image
// with two such files alive, the older one still holding unflushed messages, must recover every
// synced write from both: RocksDB reads the zeros as the end of the older log and goes on to the
// next.
TEST_F(RocksStoreTest, WalFilesFromPrewrittenSparesRecoverAfterACrash) {
  constexpr uint64_t kSpareBytes = 2 << 20;
  const RocksOptions options = with_spares(kSpareBytes);
  std::string error;
  auto store = RocksStore::open(options, &error);
  ASSERT_NE(store, nullptr) << error;
  const std::filesystem::path spare = std::filesystem::path(dir_) / "wal-spare";
  const std::string body(64 << 10, 'r');
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(fill_until_spare(*store, spare, kSpareBytes, round, body));
    // A memtable switch starts the next WAL, from the spare. The messages written after it stay
    // unflushed, so the file stays alive through the next round.
    store->flush_records_for_testing();
    EXPECT_EQ(store->prewritten_wal_files_for_testing(), static_cast<uint64_t>(round + 1));
    EXPECT_FALSE(std::filesystem::exists(spare));
    for (int i = 0; i < 8; ++i) {
      const std::string n = std::to_string(2000 + 100 * round + i);
      ASSERT_TRUE(put(*store, "sqs/m/" + n, "message " + n));
    }
  }

  // Both files hold the spare's zeros past what RocksDB wrote: the live one, and the older one,
  // which RocksDB closed without trimming them (nothing in it was preallocated).
  const std::string image = dir_ + "/crash";
  std::filesystem::create_directory(image);
  std::vector<uint64_t> wal_sizes;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    if (!entry.is_regular_file()) continue;
    std::filesystem::copy_file(entry.path(),
                               std::filesystem::path(image) / entry.path().filename());
    if (entry.path().extension() == ".log") wal_sizes.push_back(entry.file_size());
  }
  ASSERT_EQ(wal_sizes, (std::vector<uint64_t>{kSpareBytes, kSpareBytes}));

  RocksOptions recovered_options = options;
  recovered_options.dir = image;
  auto recovered = RocksStore::open(recovered_options, &error);
  ASSERT_NE(recovered, nullptr) << error;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 24; ++i) {
      EXPECT_EQ(recovered->get("kinesis/r/" + std::to_string(1000 + 100 * round + i)), body);
    }
    for (int i = 0; i < 8; ++i) {
      const std::string n = std::to_string(2000 + 100 * round + i);
      EXPECT_EQ(recovered->get("sqs/m/" + n), "message " + n);
    }
  }
  // Writes after recovery land and survive a clean reopen.
  ASSERT_TRUE(put(*recovered, "sqs/m/3000", "after recovery"));
  recovered->close();
  recovered = RocksStore::open(recovered_options, &error);
  ASSERT_NE(recovered, nullptr) << error;
  EXPECT_EQ(recovered->get("sqs/m/3000"), "after recovery");
  EXPECT_EQ(recovered->get("sqs/m/2107"), "message 2107");
}

// An obsolete WAL file is not unlinked: the next spare is written over it, so its blocks are
// never freed (on ext4 with `discard`, freeing them stalled the WAL's syncs). Every write
// survives a reopen.
TEST_F(RocksStoreTest, ObsoleteWalFilesBecomeTheNextSpares) {
  constexpr uint64_t kSpareBytes = 2 << 20;
  const RocksOptions options = with_spares(kSpareBytes);
  std::string error;
  auto store = RocksStore::open(options, &error);
  ASSERT_NE(store, nullptr) << error;
  const std::filesystem::path spare = std::filesystem::path(dir_) / "wal-spare";
  const std::string body(64 << 10, 'c');
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    // The spare is written over the WAL the last round's flush made obsolete, if RocksDB has
    // handed it over by then.
    ASSERT_TRUE(fill_until_spare(*store, spare, kSpareBytes, round, body));
    // Only the records family holds writes: its flush makes the WAL obsolete.
    store->flush_records_for_testing();
  }
  EXPECT_EQ(store->prewritten_wal_files_for_testing(), static_cast<uint64_t>(kRounds));
  // Each round's flush frees the WAL before it (RocksDB deletes it as the flush ends, a few
  // milliseconds before the next round wants a spare): rounds 1 to 3 write their spares over
  // one (3 in every run so far; one may lose that race).
  EXPECT_GE(store->recycled_wal_files_for_testing(), static_cast<uint64_t>(kRounds - 2));
  store->wait_for_deletions_for_testing();
  store->close();
  store = RocksStore::open(options, &error);
  ASSERT_NE(store, nullptr) << error;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < 24; ++i) {
      EXPECT_EQ(store->get("kinesis/r/" + std::to_string(1000 + 100 * round + i)), body);
    }
  }
}

// A data directory from before the records and messages families: their keys are moved over
// at open, and the default family keeps only its own.
TEST_F(RocksStoreTest, KeysOfAnOlderLayoutAreMigratedToTheirFamilies) {
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "kinesis/r/a", "old record").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "kinesis/s/x", "stream").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "sqs/m/1p", "old message").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "sqs/q/x", "queue").ok());
    ASSERT_TRUE(db->Close().ok());
  }
  auto store = open();
  EXPECT_EQ(store->get("kinesis/r/a"), "old record");
  EXPECT_EQ(store->get("kinesis/s/x"), "stream");
  EXPECT_EQ(store->get("sqs/m/1p"), "old message");
  EXPECT_EQ(store->get("sqs/q/x"), "queue");
  Pairs records;
  store->scan("kinesis/r/", [&](std::string_view k, std::string_view v) {
    records.emplace_back(std::string(k), std::string(v));
    return true;
  });
  EXPECT_EQ(records, (Pairs{{"kinesis/r/a", "old record"}}));
  Pairs messages;
  store->scan("sqs/m/", [&](std::string_view k, std::string_view v) {
    messages.emplace_back(std::string(k), std::string(v));
    return true;
  });
  EXPECT_EQ(messages, (Pairs{{"sqs/m/1p", "old message"}}));
  // A second open finds nothing left to move and the same data.
  store->close();
  store = open();
  EXPECT_EQ(store->get("kinesis/r/a"), "old record");
  EXPECT_EQ(store->get("sqs/m/1p"), "old message");
  store->close();

  // What is left in the default family.
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, {}}, {"records", {}}, {"messages", {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(
      rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir_, families, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  Pairs in_default;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[0]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    in_default.emplace_back(it->key().ToString(), it->value().ToString());
  }
  it.reset();
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  EXPECT_EQ(in_default, (Pairs{{"kinesis/s/x", "stream"}, {"sqs/q/x", "queue"}}));
}

}  // namespace
}  // namespace ferry::storage
