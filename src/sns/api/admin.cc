#include "sns/api/admin.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "aws/await.h"

namespace ferry::sns {

namespace json = boost::json;

namespace {

json::object stats_json(const DeliveryStats& s) {
  return json::object{{"delivered", s.delivered},         {"retried", s.retried},
                      {"dead_lettered", s.dead_lettered}, {"dropped", s.dropped},
                      {"undeliverable", s.undeliverable}, {"outboxed", s.outboxed}};
}

json::object entry_json(const OutboxEntry& e) {
  json::object o;
  o["Sequence"] = e.seq;
  o["Timestamp"] = e.timestamp_ms;
  o["Protocol"] = e.protocol;
  o["Destination"] = e.destination;
  if (e.protocol == "sms") {
    o["PhoneNumber"] = e.destination;
  } else {
    o["EndpointArn"] = e.destination;
  }
  o["Message"] = e.message;
  if (!e.subject.empty()) o["Subject"] = e.subject;
  o["MessageId"] = e.message_id;
  if (!e.topic_arn.empty()) o["TopicArn"] = e.topic_arn;
  if (!e.subscription_arn.empty()) o["SubscriptionArn"] = e.subscription_arn;
  boost::system::error_code ec;
  json::value attrs = json::parse(e.attributes_json, ec);
  o["MessageAttributes"] = !ec && attrs.is_object() ? attrs : json::object();
  return o;
}

}  // namespace

boost::asio::awaitable<std::optional<AdminAnswer>> handle_admin(Engine& engine,
                                                                std::string_view method,
                                                                std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) co_return std::nullopt;
  std::string path = url->path();
  if (path == "/_ferry/sns/stats") {
    if (method != "GET") co_return AdminAnswer{405, R"({"error":"use GET"})"};
    co_return AdminAnswer{200, json::serialize(stats_json(engine.delivery_stats()))};
  }
  if (path != "/_ferry/sns/outbox") co_return std::nullopt;
  if (method == "DELETE") {
    bool ok = co_await aws::wait_for_callback(
        [&](std::function<void(bool)> done) { engine.clear_outbox(std::move(done)); });
    if (!ok) co_return AdminAnswer{500, R"({"error":"storage write failed"})"};
    co_return AdminAnswer{200, R"({"cleared":true})"};
  }
  if (method != "GET") co_return AdminAnswer{405, R"({"error":"use GET or DELETE"})"};
  std::string phone, endpoint;
  for (auto param : url->params()) {
    if (param.key == "phone") phone = param.value;
    if (param.key == "endpoint") endpoint = param.value;
  }
  if (!phone.empty() && phone[0] == ' ') phone[0] = '+';  // an unencoded '+' reads as a space
  json::array messages;
  for (const auto& e : engine.outbox(phone, endpoint)) messages.push_back(entry_json(e));
  json::object out;
  out["messages"] = std::move(messages);
  out["stats"] = stats_json(engine.delivery_stats());
  co_return AdminAnswer{200, json::serialize(out)};
}

}  // namespace ferry::sns
