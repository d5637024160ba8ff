#pragma once
// The SQS API: one handler per action that decodes the JSON-shaped input, calls the engine,
// waits for durability where the action writes, and encodes the JSON-shaped output.
//
// Owned by server/. handle() runs on the calling connection's strand; long polls suspend there.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <optional>
#include <set>

#include "aws/service.h"
#include "sqs/engine/engine.h"

namespace ferry::sqs {

struct ApiOptions {
  // Used for QueueUrl when a request carries no Host header.
  std::string default_host = "localhost:4566";
  // Where work that may wait for the disk runs (reading payloads no longer held in memory,
  // message move tasks), so that it never stalls the other connections of an I/O thread.
  // Unset: on the calling thread.
  std::optional<boost::asio::any_io_executor> disk_work;
};

class SqsService final : public aws::Service {
 public:
  SqsService(Engine& engine, ApiOptions options);
  ~SqsService() override;

  const aws::ServiceModel& model() const override;
  std::string_view error_namespace() const override { return "com.amazonaws.sqs"; }
  boost::asio::awaitable<aws::ActionResult> handle(aws::AwsRequest& request) override;
  bool decode_json_fast(aws::AwsRequest& request, std::string_view body) const override;
  void adopt_query_path(aws::AwsRequest& request) const override;

  // Ends every long poll now (they answer with what they have) and makes new ones return at once.
  // Also stops the message move task driver.
  void stop_long_polls();

  // Starts the driver of message move tasks (a timer on `executor` that calls
  // Engine::run_move_tasks()); idempotent. handle() starts it on the first request if nobody
  // did, so tasks recovered at start-up resume once the server is used.
  void start_background(boost::asio::any_io_executor executor);

  struct Poller;

 private:
  using Handler = boost::asio::awaitable<aws::ActionResult> (SqsService::*)(aws::AwsRequest&);
  static const std::map<std::string, Handler, std::less<>>& handlers();

  boost::asio::awaitable<aws::ActionResult> create_queue(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> delete_queue(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> get_queue_url(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> list_queues(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> get_queue_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> set_queue_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> send_message(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> send_message_batch(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> receive_message(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> delete_message(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> delete_message_batch(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> change_message_visibility(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> change_message_visibility_batch(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> purge_queue(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> tag_queue(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> untag_queue(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> list_queue_tags(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> list_dead_letter_source_queues(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> add_permission(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> remove_permission(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> start_message_move_task(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> list_message_move_tasks(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> cancel_message_move_task(aws::AwsRequest& r);
  // Engine::receive_messages(), with its reads of the store on options_.disk_work.
  boost::asio::awaitable<Result<std::vector<ReceivedMessage>>> receive_now(
      const QueueId& id, const ReceiveRequest& request);
  boost::asio::awaitable<void> drive_move_tasks(std::shared_ptr<boost::asio::steady_timer> timer);
  void wake_driver();

  std::string queue_url(const aws::AwsRequest& r, const QueueId& id) const;

  Engine& engine_;
  ApiOptions options_;
  std::atomic<bool> stopping_{false};
  std::mutex pollers_mu_;
  std::set<std::shared_ptr<Poller>> pollers_;
  std::atomic<bool> driver_started_{false};
  std::mutex driver_mu_;
  // Shared with the driver coroutine, which outlives nothing but may be woken from any thread.
  std::shared_ptr<boost::asio::steady_timer> driver_timer_;
};

}  // namespace ferry::sqs
