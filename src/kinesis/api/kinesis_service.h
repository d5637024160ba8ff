#pragma once
// The Kinesis Data Streams API: one handler per action that decodes the JSON-shaped input (the
// router has already turned CBOR into that shape), calls the engine, waits for durability where
// the action writes, and encodes the JSON-shaped output.
//
// Owned by server/. handle() runs on the calling connection's strand; a SubscribeToShard
// stream runs on its connection's strand until it ends.
#include <boost/asio/any_io_executor.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "aws/service.h"
#include "kinesis/engine/engine.h"

namespace ferry::kinesis {

class KinesisService final : public aws::Service {
 public:
  // disk_work: where reads of records run (they may wait for the disk: records no longer in the
  // memtable are read from blob files), so that they never stall an I/O thread. Unset: inline.
  explicit KinesisService(Engine& engine,
                          std::optional<boost::asio::any_io_executor> disk_work = std::nullopt)
      : engine_(engine), disk_work_(std::move(disk_work)) {}
  ~KinesisService() override;

  // Ends every SubscribeToShard stream (server shutdown); later subscriptions are refused.
  // Call from any thread.
  void stop_subscriptions();

  const aws::ServiceModel& model() const override;
  std::string_view error_namespace() const override { return "com.amazonaws.kinesis"; }
  boost::asio::awaitable<aws::ActionResult> handle(aws::AwsRequest& request) override;

 private:
  using Handler = boost::asio::awaitable<aws::ActionResult> (KinesisService::*)(aws::AwsRequest&);
  static const std::map<std::string, Handler, std::less<>>& handlers();

#define FERRY_KINESIS_HANDLER(name) \
  boost::asio::awaitable<aws::ActionResult> name(aws::AwsRequest& r);
  FERRY_KINESIS_HANDLER(create_stream)
  FERRY_KINESIS_HANDLER(delete_stream)
  FERRY_KINESIS_HANDLER(describe_stream)
  FERRY_KINESIS_HANDLER(describe_stream_summary)
  FERRY_KINESIS_HANDLER(list_streams)
  FERRY_KINESIS_HANDLER(list_shards)
  FERRY_KINESIS_HANDLER(put_record)
  FERRY_KINESIS_HANDLER(put_records)
  FERRY_KINESIS_HANDLER(get_shard_iterator)
  FERRY_KINESIS_HANDLER(get_records)
  FERRY_KINESIS_HANDLER(increase_retention)
  FERRY_KINESIS_HANDLER(decrease_retention)
  FERRY_KINESIS_HANDLER(add_tags_to_stream)
  FERRY_KINESIS_HANDLER(list_tags_for_stream)
  FERRY_KINESIS_HANDLER(remove_tags_from_stream)
  FERRY_KINESIS_HANDLER(tag_resource)
  FERRY_KINESIS_HANDLER(untag_resource)
  FERRY_KINESIS_HANDLER(list_tags_for_resource)
  FERRY_KINESIS_HANDLER(split_shard)
  FERRY_KINESIS_HANDLER(merge_shards)
  FERRY_KINESIS_HANDLER(update_shard_count)
  FERRY_KINESIS_HANDLER(update_stream_mode)
  FERRY_KINESIS_HANDLER(register_consumer)
  FERRY_KINESIS_HANDLER(deregister_consumer)
  FERRY_KINESIS_HANDLER(describe_consumer)
  FERRY_KINESIS_HANDLER(list_consumers)
  FERRY_KINESIS_HANDLER(start_encryption)
  FERRY_KINESIS_HANDLER(stop_encryption)
  FERRY_KINESIS_HANDLER(enable_monitoring)
  FERRY_KINESIS_HANDLER(disable_monitoring)
  FERRY_KINESIS_HANDLER(describe_limits)
  FERRY_KINESIS_HANDLER(put_resource_policy)
  FERRY_KINESIS_HANDLER(get_resource_policy)
  FERRY_KINESIS_HANDLER(delete_resource_policy)
  FERRY_KINESIS_HANDLER(subscribe_to_shard)
  FERRY_KINESIS_HANDLER(update_max_record_size)
  FERRY_KINESIS_HANDLER(update_stream_warm_throughput)
  FERRY_KINESIS_HANDLER(update_account_settings)
  FERRY_KINESIS_HANDLER(describe_account_settings)
#undef FERRY_KINESIS_HANDLER

  boost::asio::awaitable<aws::ActionResult> retention(aws::AwsRequest& r, bool increase);
  boost::asio::awaitable<aws::ActionResult> remove_tags(aws::AwsRequest& r, const char* arn_member);
  boost::asio::awaitable<aws::ActionResult> monitoring(aws::AwsRequest& r, bool enable);

  Engine& engine_;
  std::optional<boost::asio::any_io_executor> disk_work_;
  // SubscribeToShard streams in progress, to end them at shutdown.
  struct Subscription;
  std::mutex subs_mu_;
  std::set<std::shared_ptr<Subscription>> subs_;
  bool stopping_ = false;
};

}  // namespace ferry::kinesis
