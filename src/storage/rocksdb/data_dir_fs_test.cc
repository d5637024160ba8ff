#include "storage/rocksdb/data_dir_fs.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace ferry::storage {
namespace {

namespace fs = std::filesystem;

class DataDirFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/ferry-data-dir-fs-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::shared_ptr<DataDirFileSystem> make(uint64_t spare_bytes,
                                          uint64_t head_start_bytes = 4 << 20) {
    DataDirFileSystem::Options options;
    options.spare_bytes = spare_bytes;
    options.spare_head_start_bytes = head_start_bytes;
    options.delete_chunk_bytes = 64 << 10;
    return std::make_shared<DataDirFileSystem>(rocksdb::FileSystem::Default(), dir_, options);
  }
  std::string file(const std::string& name, size_t bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << std::string(bytes, 'x');
    return path;
  }
  std::unique_ptr<rocksdb::FSWritableFile> new_wal(DataDirFileSystem& data_dir,
                                                   const std::string& name) {
    std::unique_ptr<rocksdb::FSWritableFile> wal;
    EXPECT_TRUE(
        data_dir.NewWritableFile(dir_ + "/" + name, rocksdb::FileOptions(), &wal, nullptr).ok());
    return wal;
  }
  void append_mib(rocksdb::FSWritableFile& wal) {
    const std::string record(64 << 10, 'r');
    for (int i = 0; i < 16; ++i) {
      ASSERT_TRUE(wal.Append(record, rocksdb::IOOptions(), nullptr).ok());
    }
  }
  rocksdb::IOStatus remove(DataDirFileSystem& data_dir, const std::string& path) {
    return data_dir.DeleteFile(path, rocksdb::IOOptions(), nullptr);
  }

  std::string dir_;
};

TEST_F(DataDirFileSystemTest, LargeFilesAreDeletedInStepsAndSmallOnesAtOnce) {
  auto data_dir = make(0);
  const std::string table = file("000012.sst", 1 << 20);
  const std::string small = file("000013.sst", 4 << 10);
  ASSERT_TRUE(remove(*data_dir, table).ok());
  ASSERT_TRUE(remove(*data_dir, small).ok());
  EXPECT_FALSE(fs::exists(table));
  EXPECT_FALSE(fs::exists(small));
  data_dir->wait_for_deletions_for_testing();
  EXPECT_FALSE(fs::exists(table + ".trash"));
  EXPECT_EQ(data_dir->counts().paced_deletions, 1u);  // the small file went at once
  // Without spares, an obsolete WAL is deleted like any other file.
  const std::string wal = file("000007.log", 1 << 20);
  ASSERT_TRUE(remove(*data_dir, wal).ok());
  data_dir->wait_for_deletions_for_testing();
  EXPECT_EQ(data_dir->counts().paced_deletions, 2u);
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(DataDirFileSystemTest, AnObsoleteWalWaitsToBeRecycledOneAtATime) {
  auto data_dir = make(256 << 10);
  const std::string first = file("000007.log", 1 << 20);
  const std::string second = file("000008.log", 1 << 20);
  ASSERT_TRUE(remove(*data_dir, first).ok());
  ASSERT_TRUE(remove(*data_dir, second).ok());
  EXPECT_FALSE(fs::exists(first));
  EXPECT_FALSE(fs::exists(second));
  EXPECT_EQ(fs::file_size(dir_ + "/wal-recycle"), 1u << 20);  // the first: its blocks kept
  data_dir->wait_for_deletions_for_testing();
  EXPECT_EQ(data_dir->counts().paced_deletions, 1u);  // the second
  // A file outside the data directory is not the store's to recycle or pace.
  const std::string outside_dir = dir_ + "/elsewhere";
  fs::create_directory(outside_dir);
  const std::string outside = file("elsewhere/000009.log", 1 << 20);
  ASSERT_TRUE(remove(*data_dir, outside).ok());
  EXPECT_FALSE(fs::exists(outside));
  EXPECT_EQ(data_dir->counts().paced_deletions, 1u);
}

TEST_F(DataDirFileSystemTest, ASpareKeepsPaceWithTheWalUnlessANewWalNeedsIt) {
  constexpr uint64_t kMiB = 1 << 20;
  auto data_dir = make(4 * kMiB, kMiB);
  auto first = new_wal(*data_dir, "000005.log");
  append_mib(*first);  // in use: the spare is wanted, and may run 1 MiB + 2 x 1 MiB
  EXPECT_EQ(data_dir->wait_for_spare_for_testing(1), 3 * kMiB);
  EXPECT_FALSE(fs::exists(dir_ + "/wal-spare"));
  EXPECT_EQ(fs::file_size(dir_ + "/wal-spare.tmp"), 3 * kMiB);
  // Deletions go on while the spare waits.
  ASSERT_TRUE(remove(*data_dir, file("000004.sst", kMiB)).ok());
  data_dir->wait_for_deletions_for_testing();
  EXPECT_EQ(data_dir->counts().paced_deletions, 1u);
  EXPECT_EQ(data_dir->wait_for_spare_for_testing(1), 3 * kMiB);
  append_mib(*first);  // 1 MiB + 2 x 2 MiB: past the spare's size
  EXPECT_EQ(data_dir->wait_for_spare_for_testing(4 * kMiB), 4 * kMiB);
  EXPECT_EQ(fs::file_size(dir_ + "/wal-spare"), 4 * kMiB);

  auto second = new_wal(*data_dir, "000006.log");  // takes the spare
  EXPECT_EQ(data_dir->counts().prewritten, 1u);
  append_mib(*second);
  EXPECT_EQ(data_dir->wait_for_spare_for_testing(1), 3 * kMiB);
  // A WAL that finds no spare ready hurries the one being written.
  auto third = new_wal(*data_dir, "000007.log");
  EXPECT_EQ(data_dir->wait_for_spare_for_testing(4 * kMiB), 4 * kMiB);
  EXPECT_EQ(data_dir->counts().prewritten, 1u);
  EXPECT_EQ(data_dir->counts().wal_files, 3u);
}

TEST_F(DataDirFileSystemTest, TrashAndRecycledWalsOfAnEarlierRunAreTakenUp) {
  const std::string trash = file("000012.sst.trash", 1 << 20);
  file("wal-recycle", 1 << 20);
  file("wal-spare.tmp", 1 << 20);  // a spare whose writing was cut short
  {
    auto data_dir = make(256 << 10);
    data_dir->wait_for_deletions_for_testing();
    EXPECT_FALSE(fs::exists(trash));
    EXPECT_FALSE(fs::exists(dir_ + "/wal-spare.tmp"));
    EXPECT_TRUE(fs::exists(dir_ + "/wal-recycle"));  // kept for the next spare
  }
  // Without spares there is nothing to recycle it into.
  auto data_dir = make(0);
  data_dir->wait_for_deletions_for_testing();
  EXPECT_TRUE(fs::is_empty(dir_));
}

}  // namespace
}  // namespace ferry::storage
