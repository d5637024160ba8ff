#pragma once
// RunSkipList: the memtable representation RocksStore gives RocksDB instead of its own skip list.
//
// Why not RocksDB's: Debian 12 builds RocksDB without NDEBUG, so its InlineSkipList checks
// every insert with assertions that compare the new key against the whole search path (about
// 15 extra comparisons per insert, growing with the memtable); and its insert hints keep one
// position per prefix, which a queue's sends (appended at the end of its range) and deletes
// (taken from the front) share, so every other insert searches from the top.
//
// RunSkipList is a skip list for one writer (RocksDB serialises memtable inserts when
// allow_concurrent_memtable_write is false, which RocksStore sets) and any number of lock-free
// readers. Each insert starts from a "finger" (the last insert position) of its key's ordered
// run (RocksOptions::ordered_runs) and kind (put or delete), so a queue's appends and its
// deletes each land next to their previous one: O(log distance), usually two comparisons.
// Keys are ordered as RocksDB's InternalKeyComparator over the bytewise user comparator, which
// RocksStore uses; the representation must not be given another comparator.
#include <rocksdb/memtablerep.h>

#include <vector>

#include "storage/rocksdb/rocksdb_store.h"

namespace ferry::storage {

class RunSkipListFactory final : public rocksdb::MemTableRepFactory {
 public:
  explicit RunSkipListFactory(std::vector<RocksOptions::OrderedRun> runs)
      : runs_(std::move(runs)) {}

  static const char* kClassName() { return "ferry.RunSkipList"; }
  const char* Name() const override { return kClassName(); }

  using rocksdb::MemTableRepFactory::CreateMemTableRep;
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                          rocksdb::Allocator* allocator,
                                          const rocksdb::SliceTransform* prefix_extractor,
                                          rocksdb::Logger* logger) override;

 private:
  const std::vector<RocksOptions::OrderedRun> runs_;
};

}  // namespace ferry::storage
