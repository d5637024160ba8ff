#include "sns/api/sns_service.h"

#include <boost/asio.hpp>
#include <optional>
#include <set>

#include "aws/await.h"
#include "aws/json_input.h"
#include "aws/model.h"
#include "base/crypto.h"

namespace ferry::sns {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using aws::ActionResult;
using aws::AwsError;
using aws::AwsRequest;

namespace {

using aws::get_string;
using aws::get_string_list;
using aws::get_string_map;
using aws::member;

constexpr size_t kMaxBatchEntries = 10;
constexpr size_t kMaxBatchBytes = 256 * 1024;

AwsError make_error(std::string code, std::string message, int status = 400) {
  return AwsError{std::move(code), std::move(message), status, status < 500, {}, {}};
}

// The wire identity of each engine error: SNS's Query code and HTTP status (its model).
AwsError to_aws(const Error& e) {
  switch (e.code) {
    case Errc::kNotFound:
      return make_error("NotFound", e.message, 404);
    case Errc::kResourceNotFound:
      return make_error("ResourceNotFound", e.message, 404);
    case Errc::kInvalidParameter:
      return make_error("InvalidParameter", e.message);
    case Errc::kParameterValueInvalid:
      return make_error("ParameterValueInvalid", e.message);
    case Errc::kTagLimitExceeded:
      return make_error("TagLimitExceeded", e.message);
    case Errc::kEndpointDisabled:
      return make_error("EndpointDisabled", e.message);
    case Errc::kInternal:
      return make_error("InternalError", e.message, 500);
  }
  return make_error("InternalError", e.message, 500);
}

base::Unexpected<AwsError> fail(const Error& e) { return {to_aws(e)}; }
base::Unexpected<AwsError> fail(AwsError e) { return {std::move(e)}; }

bool get_bool(const json::object& o, std::string_view key) {
  const json::value* v = member(o, key);
  return v != nullptr && v->is_bool() && v->as_bool();
}

TagMap get_tags(const json::object& o, std::string_view key) {
  TagMap out;
  if (const json::value* v = member(o, key); v != nullptr && v->is_array()) {
    for (const auto& e : v->as_array()) {
      if (!e.is_object()) continue;
      out[get_string(e.as_object(), "Key")] = get_string(e.as_object(), "Value");
    }
  }
  return out;
}

base::Result<MessageAttributes, AwsError> get_message_attributes(const json::object& o) {
  MessageAttributes out;
  const json::value* v = member(o, "MessageAttributes");
  if (v == nullptr || !v->is_object()) return out;
  for (const auto& [name, value] : v->as_object()) {
    if (!value.is_object()) continue;
    const auto& attr = value.as_object();
    MessageAttribute a;
    a.data_type = get_string(attr, "DataType");
    a.string_value = get_string(attr, "StringValue");
    if (member(attr, "BinaryValue") != nullptr) {
      auto decoded = base::base64_decode(get_string(attr, "BinaryValue"));
      if (!decoded) {
        return fail(make_error(
            "ParameterValueInvalid",
            "The message attribute '" + std::string(name) + "' has an invalid binary value."));
      }
      a.binary_value = std::move(*decoded);
    }
    out.emplace(std::string(name), std::move(a));
  }
  return out;
}

// Runs an engine call that takes a durability callback and waits until its write is synced.
template <class T, class Call>
awaitable<Result<T>> durably(Call&& call) {
  std::optional<Result<T>> result;
  bool ok = co_await aws::wait_for_callback([&](std::function<void(bool)> done) {
    result.emplace(call(done));
    if (!result->ok()) done(true);  // the engine never calls done on failure
  });
  if (result->ok() && !ok) co_return error(Errc::kInternal, "storage write failed");
  co_return std::move(*result);
}

json::object attributes_out(const AttributeMap& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

json::array subscriptions_out(const std::vector<SubscriptionInfo>& subs) {
  json::array a;
  for (const auto& s : subs) {
    a.push_back(json::object{{"SubscriptionArn", s.subscription_arn},
                             {"Owner", s.owner},
                             {"Protocol", s.protocol},
                             {"Endpoint", s.endpoint},
                             {"TopicArn", s.topic_arn}});
  }
  return a;
}

PublishRequest publish_request_of(const json::object& o, std::string topic_arn,
                                  MessageAttributes attrs) {
  PublishRequest req;
  req.topic_arn = std::move(topic_arn);
  req.message = get_string(o, "Message");
  req.subject = get_string(o, "Subject");
  req.message_structure = get_string(o, "MessageStructure");
  req.message_attributes = std::move(attrs);
  req.message_group_id = get_string(o, "MessageGroupId");
  req.deduplication_id = get_string(o, "MessageDeduplicationId");
  return req;
}

bool valid_batch_id(std::string_view id) {
  if (id.empty() || id.size() > 80) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

}  // namespace

SnsService::SnsService(Engine& engine, DeliveryOptions delivery)
    : engine_(engine), deliverer_(engine, std::move(delivery)) {}
SnsService::~SnsService() = default;

const aws::ServiceModel& SnsService::model() const {
  static const aws::ServiceModel& model = aws::ServiceModel::get("sns");  // get() locks
  return model;
}

const std::map<std::string, SnsService::Handler, std::less<>>& SnsService::handlers() {
  static const std::map<std::string, Handler, std::less<>> table = {
      {"CreateTopic", &SnsService::create_topic},
      {"DeleteTopic", &SnsService::delete_topic},
      {"ListTopics", &SnsService::list_topics},
      {"GetTopicAttributes", &SnsService::get_topic_attributes},
      {"SetTopicAttributes", &SnsService::set_topic_attributes},
      {"Subscribe", &SnsService::subscribe},
      {"ConfirmSubscription", &SnsService::confirm_subscription},
      {"Unsubscribe", &SnsService::unsubscribe},
      {"ListSubscriptions", &SnsService::list_subscriptions},
      {"ListSubscriptionsByTopic", &SnsService::list_subscriptions_by_topic},
      {"GetSubscriptionAttributes", &SnsService::get_subscription_attributes},
      {"SetSubscriptionAttributes", &SnsService::set_subscription_attributes},
      {"Publish", &SnsService::publish},
      {"PublishBatch", &SnsService::publish_batch},
      {"AddPermission", &SnsService::add_permission},
      {"RemovePermission", &SnsService::remove_permission},
      {"SetSMSAttributes", &SnsService::set_sms_attributes},
      {"GetSMSAttributes", &SnsService::get_sms_attributes},
      {"CheckIfPhoneNumberIsOptedOut", &SnsService::check_if_phone_number_is_opted_out},
      {"ListPhoneNumbersOptedOut", &SnsService::list_phone_numbers_opted_out},
      {"OptInPhoneNumber", &SnsService::opt_in_phone_number},
      {"CreatePlatformApplication", &SnsService::create_platform_application},
      {"GetPlatformApplicationAttributes", &SnsService::get_platform_application_attributes},
      {"SetPlatformApplicationAttributes", &SnsService::set_platform_application_attributes},
      {"ListPlatformApplications", &SnsService::list_platform_applications},
      {"DeletePlatformApplication", &SnsService::delete_platform_application},
      {"CreatePlatformEndpoint", &SnsService::create_platform_endpoint},
      {"GetEndpointAttributes", &SnsService::get_endpoint_attributes},
      {"SetEndpointAttributes", &SnsService::set_endpoint_attributes},
      {"ListEndpointsByPlatformApplication", &SnsService::list_endpoints_by_platform_application},
      {"DeleteEndpoint", &SnsService::delete_endpoint},
      {"TagResource", &SnsService::tag_resource},
      {"UntagResource", &SnsService::untag_resource},
      {"ListTagsForResource", &SnsService::list_tags_for_resource},
  };
  return table;
}

void SnsService::start_background(asio::any_io_executor executor) {
  std::lock_guard lock(start_mu_);
  if (started_) return;
  deliverer_.start(executor);
  started_ = true;
}

void SnsService::stop_deliveries() {
  std::lock_guard lock(start_mu_);
  started_ = true;  // never start after a stop
  deliverer_.stop();
}

awaitable<ActionResult> SnsService::handle(AwsRequest& r) {
  if (!started_.load(std::memory_order_relaxed)) {
    start_background(co_await asio::this_coro::executor);
  }
  auto it = handlers().find(r.action);
  if (it == handlers().end()) {
    co_return fail(
        make_error("InvalidAction", "The action " + r.action + " is not supported by Ferry yet."));
  }
  co_return co_await (this->*(it->second))(r);
}

awaitable<ActionResult> SnsService::create_topic(AwsRequest& r) {
  std::string name = get_string(r.input, "Name");
  auto attributes = get_string_map(r.input, "Attributes");
  auto tags = get_tags(r.input, "Tags");
  auto arn = co_await durably<std::string>([&](auto done) {
    return engine_.create_topic(r.caller.account, name, attributes, tags, done);
  });
  if (!arn) co_return fail(arn.error());
  co_return json::object{{"TopicArn", *arn}};
}

awaitable<ActionResult> SnsService::delete_topic(AwsRequest& r) {
  std::string arn = get_string(r.input, "TopicArn");
  auto ok = co_await durably<base::Ok>([&](auto done) { return engine_.delete_topic(arn, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::list_topics(AwsRequest& r) {
  auto page = engine_.list_topics(r.caller.account, get_string(r.input, "NextToken"));
  if (!page) co_return fail(page.error());
  json::array topics;
  for (const auto& arn : page->items) topics.push_back(json::object{{"TopicArn", arn}});
  json::object out{{"Topics", std::move(topics)}};
  if (!page->next_token.empty()) out["NextToken"] = page->next_token;
  co_return out;
}

awaitable<ActionResult> SnsService::get_topic_attributes(AwsRequest& r) {
  auto attrs = engine_.get_topic_attributes(get_string(r.input, "TopicArn"));
  if (!attrs) co_return fail(attrs.error());
  co_return json::object{{"Attributes", attributes_out(*attrs)}};
}

awaitable<ActionResult> SnsService::set_topic_attributes(AwsRequest& r) {
  std::string arn = get_string(r.input, "TopicArn");
  std::string name = get_string(r.input, "AttributeName");
  std::string value = get_string(r.input, "AttributeValue");
  auto ok = co_await durably<base::Ok>(
      [&](auto done) { return engine_.set_topic_attributes(arn, name, value, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::subscribe(AwsRequest& r) {
  std::string topic = get_string(r.input, "TopicArn");
  std::string protocol = get_string(r.input, "Protocol");
  std::string endpoint = get_string(r.input, "Endpoint");
  auto attributes = get_string_map(r.input, "Attributes");
  bool return_arn = get_bool(r.input, "ReturnSubscriptionArn");
  auto arn = co_await durably<std::string>([&](auto done) {
    return engine_.subscribe(r.caller.account, topic, protocol, endpoint, attributes, return_arn,
                             done);
  });
  if (!arn) co_return fail(arn.error());
  co_return json::object{{"SubscriptionArn", *arn}};
}

awaitable<ActionResult> SnsService::confirm_subscription(AwsRequest& r) {
  std::string topic = get_string(r.input, "TopicArn");
  std::string token = get_string(r.input, "Token");
  auto arn = co_await durably<std::string>(
      [&](auto done) { return engine_.confirm_subscription(topic, token, done); });
  if (!arn) co_return fail(arn.error());
  co_return json::object{{"SubscriptionArn", *arn}};
}

awaitable<ActionResult> SnsService::unsubscribe(AwsRequest& r) {
  std::string arn = get_string(r.input, "SubscriptionArn");
  auto ok = co_await durably<base::Ok>([&](auto done) { return engine_.unsubscribe(arn, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::list_subscriptions(AwsRequest& r) {
  auto page = engine_.list_subscriptions(r.caller.account, get_string(r.input, "NextToken"));
  if (!page) co_return fail(page.error());
  json::object out{{"Subscriptions", subscriptions_out(page->items)}};
  if (!page->next_token.empty()) out["NextToken"] = page->next_token;
  co_return out;
}

awaitable<ActionResult> SnsService::list_subscriptions_by_topic(AwsRequest& r) {
  auto page = engine_.list_subscriptions_by_topic(get_string(r.input, "TopicArn"),
                                                  get_string(r.input, "NextToken"));
  if (!page) co_return fail(page.error());
  json::object out{{"Subscriptions", subscriptions_out(page->items)}};
  if (!page->next_token.empty()) out["NextToken"] = page->next_token;
  co_return out;
}

awaitable<ActionResult> SnsService::get_subscription_attributes(AwsRequest& r) {
  auto attrs = engine_.get_subscription_attributes(get_string(r.input, "SubscriptionArn"));
  if (!attrs) co_return fail(attrs.error());
  co_return json::object{{"Attributes", attributes_out(*attrs)}};
}

awaitable<ActionResult> SnsService::set_subscription_attributes(AwsRequest& r) {
  std::string arn = get_string(r.input, "SubscriptionArn");
  std::string name = get_string(r.input, "AttributeName");
  std::string value = get_string(r.input, "AttributeValue");
  auto ok = co_await durably<base::Ok>(
      [&](auto done) { return engine_.set_subscription_attributes(arn, name, value, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::publish(AwsRequest& r) {
  std::string topic = get_string(r.input, "TopicArn");
  std::string target = get_string(r.input, "TargetArn");
  std::string phone = get_string(r.input, "PhoneNumber");
  if (!topic.empty() && !target.empty()) {
    co_return fail(make_error("InvalidParameter",
                              "Invalid parameter: TopicArn Reason: Only one of TopicArn or "
                              "TargetArn should be provided"));
  }
  auto attrs = get_message_attributes(r.input);
  if (!attrs) co_return fail(attrs.error());
  PublishRequest req =
      publish_request_of(r.input, topic.empty() ? target : topic, std::move(*attrs));
  req.phone_number = phone;
  auto result = co_await durably<PublishResult>(
      [&](auto done) { return engine_.publish(std::move(req), done); });
  if (!result) co_return fail(result.error());
  json::object out{{"MessageId", result->message_id}};
  if (!result->sequence_number.empty()) out["SequenceNumber"] = result->sequence_number;
  co_return out;
}

awaitable<ActionResult> SnsService::publish_batch(AwsRequest& r) {
  std::string topic = get_string(r.input, "TopicArn");
  static const json::array kEmpty;
  const json::value* v = member(r.input, "PublishBatchRequestEntries");
  const json::array& entries = v != nullptr && v->is_array() ? v->as_array() : kEmpty;
  if (entries.empty()) {
    co_return fail(
        make_error("EmptyBatchRequest", "The batch request doesn't contain any entries"));
  }
  if (entries.size() > kMaxBatchEntries) {
    co_return fail(make_error("TooManyEntriesInBatchRequest",
                              "The batch request contains more entries than permissible."));
  }
  std::set<std::string> ids;
  size_t total = 0;
  for (const auto& e : entries) {
    const json::object& o = e.as_object();
    std::string id = get_string(o, "Id");
    if (!valid_batch_id(id)) {
      co_return fail(make_error("InvalidBatchEntryId",
                                "A batch entry id can only contain alphanumeric characters, "
                                "hyphens and underscores. It can be at most 80 letters long."));
    }
    if (!ids.insert(id).second) {
      co_return fail(make_error("BatchEntryIdsNotDistinct",
                                "Two or more batch entries in the request have the same Id."));
    }
    total += get_string(o, "Message").size();
  }
  if (total > kMaxBatchBytes) {
    co_return fail(make_error("BatchRequestTooLong",
                              "The length of all the messages put together is more than the "
                              "limit."));
  }
  if (auto t = engine_.get_topic_attributes(topic); !t) co_return fail(t.error());

  json::array successful, failed;
  for (const auto& e : entries) {
    const json::object& o = e.as_object();
    std::string id = get_string(o, "Id");
    auto attrs = get_message_attributes(o);
    std::optional<AwsError> err;
    if (!attrs) {
      err = attrs.error();
    } else {
      PublishRequest req = publish_request_of(o, topic, std::move(*attrs));
      auto result = co_await durably<PublishResult>(
          [&](auto done) { return engine_.publish(std::move(req), done); });
      if (result) {
        json::object s{{"Id", id}, {"MessageId", result->message_id}};
        if (!result->sequence_number.empty()) s["SequenceNumber"] = result->sequence_number;
        successful.push_back(std::move(s));
        continue;
      }
      err = to_aws(result.error());
    }
    failed.push_back(json::object{{"Id", id},
                                  {"Code", err->code},
                                  {"Message", err->message},
                                  {"SenderFault", err->sender_fault}});
  }
  co_return json::object{{"Successful", std::move(successful)}, {"Failed", std::move(failed)}};
}

awaitable<ActionResult> SnsService::add_permission(AwsRequest& r) {
  std::string arn = get_string(r.input, "TopicArn");
  std::string label = get_string(r.input, "Label");
  auto accounts = get_string_list(r.input, "AWSAccountId");
  auto actions = get_string_list(r.input, "ActionName");
  auto ok = co_await durably<base::Ok>(
      [&](auto done) { return engine_.add_permission(arn, label, accounts, actions, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::remove_permission(AwsRequest& r) {
  std::string arn = get_string(r.input, "TopicArn");
  std::string label = get_string(r.input, "Label");
  auto ok = co_await durably<base::Ok>(
      [&](auto done) { return engine_.remove_permission(arn, label, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::set_sms_attributes(AwsRequest& r) {
  auto attributes = get_string_map(r.input, "attributes");
  auto ok = co_await durably<base::Ok>(
      [&](auto done) { return engine_.set_sms_attributes(r.caller.account, attributes, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::get_sms_attributes(AwsRequest& r) {
  auto attrs = engine_.get_sms_attributes(r.caller.account, get_string_list(r.input, "attributes"));
  co_return json::object{{"attributes", attributes_out(attrs)}};
}

awaitable<ActionResult> SnsService::check_if_phone_number_is_opted_out(AwsRequest& r) {
  auto out = engine_.phone_number_opted_out(get_string(r.input, "phoneNumber"));
  if (!out) co_return fail(out.error());
  co_return json::object{{"isOptedOut", *out}};
}

awaitable<ActionResult> SnsService::list_phone_numbers_opted_out(AwsRequest&) {
  co_return json::object{{"phoneNumbers", json::array()}};
}

awaitable<ActionResult> SnsService::opt_in_phone_number(AwsRequest& r) {
  auto out = engine_.phone_number_opted_out(get_string(r.input, "phoneNumber"));
  if (!out) co_return fail(out.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::create_platform_application(AwsRequest& r) {
  std::string name = get_string(r.input, "Name");
  std::string platform = get_string(r.input, "Platform");
  auto attributes = get_string_map(r.input, "Attributes");
  auto arn = co_await durably<std::string>([&](auto done) {
    return engine_.create_platform_application(r.caller.account, name, platform, attributes, done);
  });
  if (!arn) co_return fail(arn.error());
  co_return json::object{{"PlatformApplicationArn", *arn}};
}

awaitable<ActionResult> SnsService::get_platform_application_attributes(AwsRequest& r) {
  auto attrs =
      engine_.get_platform_application_attributes(get_string(r.input, "PlatformApplicationArn"));
  if (!attrs) co_return fail(attrs.error());
  co_return json::object{{"Attributes", attributes_out(*attrs)}};
}

awaitable<ActionResult> SnsService::set_platform_application_attributes(AwsRequest& r) {
  std::string arn = get_string(r.input, "PlatformApplicationArn");
  auto attributes = get_string_map(r.input, "Attributes");
  auto ok = co_await durably<base::Ok>([&](auto done) {
    return engine_.set_platform_application_attributes(arn, attributes, done);
  });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::list_platform_applications(AwsRequest& r) {
  auto page =
      engine_.list_platform_applications(r.caller.account, get_string(r.input, "NextToken"));
  if (!page) co_return fail(page.error());
  json::array apps;
  for (const auto& a : page->items) {
    apps.push_back(json::object{{"PlatformApplicationArn", a.arn},
                                {"Attributes", attributes_out(a.attributes)}});
  }
  json::object out{{"PlatformApplications", std::move(apps)}};
  if (!page->next_token.empty()) out["NextToken"] = page->next_token;
  co_return out;
}

awaitable<ActionResult> SnsService::delete_platform_application(AwsRequest& r) {
  std::string arn = get_string(r.input, "PlatformApplicationArn");
  auto ok = co_await durably<base::Ok>(
      [&](auto done) { return engine_.delete_platform_application(arn, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::create_platform_endpoint(AwsRequest& r) {
  std::string app = get_string(r.input, "PlatformApplicationArn");
  std::string token = get_string(r.input, "Token");
  std::string user_data = get_string(r.input, "CustomUserData");
  auto attributes = get_string_map(r.input, "Attributes");
  auto arn = co_await durably<std::string>([&](auto done) {
    return engine_.create_platform_endpoint(app, token, user_data, attributes, done);
  });
  if (!arn) co_return fail(arn.error());
  co_return json::object{{"EndpointArn", *arn}};
}

awaitable<ActionResult> SnsService::get_endpoint_attributes(AwsRequest& r) {
  auto attrs = engine_.get_endpoint_attributes(get_string(r.input, "EndpointArn"));
  if (!attrs) co_return fail(attrs.error());
  co_return json::object{{"Attributes", attributes_out(*attrs)}};
}

awaitable<ActionResult> SnsService::set_endpoint_attributes(AwsRequest& r) {
  std::string arn = get_string(r.input, "EndpointArn");
  auto attributes = get_string_map(r.input, "Attributes");
  auto ok = co_await durably<base::Ok>(
      [&](auto done) { return engine_.set_endpoint_attributes(arn, attributes, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::list_endpoints_by_platform_application(AwsRequest& r) {
  auto page = engine_.list_endpoints_by_platform_application(
      get_string(r.input, "PlatformApplicationArn"), get_string(r.input, "NextToken"));
  if (!page) co_return fail(page.error());
  json::array eps;
  for (const auto& e : page->items) {
    eps.push_back(
        json::object{{"EndpointArn", e.arn}, {"Attributes", attributes_out(e.attributes)}});
  }
  json::object out{{"Endpoints", std::move(eps)}};
  if (!page->next_token.empty()) out["NextToken"] = page->next_token;
  co_return out;
}

awaitable<ActionResult> SnsService::delete_endpoint(AwsRequest& r) {
  std::string arn = get_string(r.input, "EndpointArn");
  auto ok =
      co_await durably<base::Ok>([&](auto done) { return engine_.delete_endpoint(arn, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::tag_resource(AwsRequest& r) {
  std::string arn = get_string(r.input, "ResourceArn");
  auto tags = get_tags(r.input, "Tags");
  auto ok =
      co_await durably<base::Ok>([&](auto done) { return engine_.tag_resource(arn, tags, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::untag_resource(AwsRequest& r) {
  std::string arn = get_string(r.input, "ResourceArn");
  auto keys = get_string_list(r.input, "TagKeys");
  auto ok = co_await durably<base::Ok>(
      [&](auto done) { return engine_.untag_resource(arn, keys, done); });
  if (!ok) co_return fail(ok.error());
  co_return json::object();
}

awaitable<ActionResult> SnsService::list_tags_for_resource(AwsRequest& r) {
  auto tags = engine_.list_tags(get_string(r.input, "ResourceArn"));
  if (!tags) co_return fail(tags.error());
  json::array out;
  for (const auto& [k, v] : *tags) out.push_back(json::object{{"Key", k}, {"Value", v}});
  co_return json::object{{"Tags", std::move(out)}};
}

}  // namespace ferry::sns
