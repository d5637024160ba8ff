#pragma once
// The SNS API: one handler per action that decodes the JSON-shaped input (the router turns the
// Query protocol into it), calls the engine, waits for durability where the action writes, and
// encodes the JSON-shaped output.
//
// Owned by server/. handle() runs on the calling connection's strand and suspends only while a
// write is being synced.
#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "aws/service.h"
#include "sns/api/delivery.h"
#include "sns/engine/engine.h"

namespace ferry::sns {

class SnsService final : public aws::Service {
 public:
  explicit SnsService(Engine& engine, DeliveryOptions delivery = {});
  ~SnsService() override;

  const aws::ServiceModel& model() const override;
  std::string_view error_namespace() const override { return "com.amazonaws.sns"; }
  boost::asio::awaitable<aws::ActionResult> handle(aws::AwsRequest& request) override;

  // Starts the http/https delivery driver on `executor` (idempotent); handle() starts it on the
  // first request if nobody did, so deliveries recovered at start-up resume.
  void start_background(boost::asio::any_io_executor executor);
  // Stops taking new http/https deliveries (shutdown).
  void stop_deliveries();

 private:
  using Handler = boost::asio::awaitable<aws::ActionResult> (SnsService::*)(aws::AwsRequest&);
  static const std::map<std::string, Handler, std::less<>>& handlers();

  boost::asio::awaitable<aws::ActionResult> create_topic(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> delete_topic(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> list_topics(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> get_topic_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> set_topic_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> subscribe(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> confirm_subscription(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> unsubscribe(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> list_subscriptions(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> list_subscriptions_by_topic(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> get_subscription_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> set_subscription_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> publish(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> publish_batch(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> add_permission(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> remove_permission(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> set_sms_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> get_sms_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> check_if_phone_number_is_opted_out(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> list_phone_numbers_opted_out(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> opt_in_phone_number(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> create_platform_application(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> get_platform_application_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> set_platform_application_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> list_platform_applications(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> delete_platform_application(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> create_platform_endpoint(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> get_endpoint_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> set_endpoint_attributes(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> list_endpoints_by_platform_application(
      aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> delete_endpoint(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> tag_resource(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> untag_resource(aws::AwsRequest& r);
  boost::asio::awaitable<aws::ActionResult> list_tags_for_resource(aws::AwsRequest& r);

  Engine& engine_;
  std::mutex start_mu_;
  std::atomic<bool> started_{false};
  HttpDeliverer deliverer_;
};

}  // namespace ferry::sns
