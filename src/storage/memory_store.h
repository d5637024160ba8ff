#pragma once
// An in-memory Store for unit tests: writes apply immediately and callbacks run inline.
#include <map>
#include <mutex>

#include "storage/store.h"

namespace ferry::storage {

class MemoryStore final : public Store {
 public:
  void write(WriteBatch batch, Durability, WriteCallback done) override {
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        if (done) done(false);
        return;
      }
      for (auto& op : batch.ops) {
        switch (op.kind) {
          case WriteBatch::Op::Kind::kPut:
            data_[op.key] = std::move(op.value);
            break;
          case WriteBatch::Op::Kind::kDelete:
          case WriteBatch::Op::Kind::kSingleDelete:
            data_.erase(op.key);
            break;
          case WriteBatch::Op::Kind::kDeleteRange:
            data_.erase(data_.lower_bound(op.key), data_.lower_bound(op.value));
            break;
        }
      }
      ++writes_;
    }
    if (done) done(true);
  }
  std::optional<std::string> get(std::string_view key) override {
    std::lock_guard lock(mu_);
    auto it = data_.find(std::string(key));
    if (it == data_.end()) return std::nullopt;
    return it->second;
  }
  void scan_from(std::string_view prefix, std::string_view from, const ScanFn& fn) override {
    std::lock_guard lock(mu_);
    for (auto it = data_.lower_bound(std::string(std::max(prefix, from))); it != data_.end();
         ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      if (!fn(it->first, it->second)) break;
    }
  }
  std::string describe() const override { return "memory"; }
  void close() override {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return data_.size();
  }
  size_t writes() {
    std::lock_guard lock(mu_);
    return writes_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string, std::less<>> data_;
  size_t writes_ = 0;
  bool closed_ = false;
};

}  // namespace ferry::storage
