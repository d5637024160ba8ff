#include "sns/engine/engine.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <shared_mutex>

#include "base/crypto.h"
#include "base/log.h"
#include "pattern/matcher.h"
#include "sns/engine/signer.h"
#include "sqs/engine/attributes.h"

namespace ferry::sns {

namespace json = boost::json;
using base::fail;

namespace {

constexpr char kTopicPrefix[] = "sns/t/";
constexpr char kSubscriptionPrefix[] = "sns/s/";
constexpr char kDeliveryPrefix[] = "sns/p/";
constexpr char kSmsPrefix[] = "sns/sms/";
constexpr char kOutboxPrefix[] = "sns/o/";
constexpr char kApplicationPrefix[] = "sns/a/";
constexpr char kEndpointPrefix[] = "sns/e/";
// sns/d/<topic arn>/<deduplication id>: a FIFO topic's deduplication window (topic ARNs have no
// '/', deduplication ids may).
constexpr char kDedupPrefix[] = "sns/d/";
constexpr char kDefaultSenderName[] = "AWS Notifications";
constexpr size_t kMaxMessageBytes = 256 * 1024;
constexpr int64_t kDedupWindowMs = 5 * 60 * 1000;
// Expired deduplication records only cost memory and storage (a publish never matches one):
// sweep() looks for them at most this often, however many publishes spread their expiries.
constexpr int64_t kSweepPeriodMs = 60 * 1000;
constexpr int64_t kNothingToSweep = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxTags = 50;

base::Unexpected<Error> invalid(const std::string& what) {
  return error(Errc::kInvalidParameter, "Invalid parameter: " + what);
}

struct Arn {
  std::string service, region, account, resource;
};

// arn:aws:<service>:<region>:<account>:<resource>; resource keeps any further ':' parts.
std::optional<Arn> parse_arn(std::string_view arn) {
  // Split in place: it runs for every SQS subscription of every publish.
  std::string_view parts[5];
  size_t pos = 0;
  for (auto& part : parts) {
    size_t colon = arn.find(':', pos);
    if (colon == std::string_view::npos) return std::nullopt;
    part = arn.substr(pos, colon - pos);
    pos = colon + 1;
  }
  if (parts[0] != "arn" || parts[1].empty()) return std::nullopt;
  if (parts[4].empty() || pos == arn.size()) return std::nullopt;  // account, resource
  return Arn{std::string(parts[2]), std::string(parts[3]), std::string(parts[4]),
             std::string(arn.substr(pos))};
}

bool valid_name_chars(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<bool> parse_bool(const std::string& v) {
  std::string l = lower(v);
  if (l == "true") return true;
  if (l == "false") return false;
  return std::nullopt;
}

// E.164 as SNS takes it for Publish: '+', then up to 15 digits, the first not 0.
bool valid_e164(std::string_view number) {
  if (number.size() < 3 || number.size() > 16 || number[0] != '+' || number[1] == '0') {
    return false;
  }
  return std::all_of(number.begin() + 1, number.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

bool is_json_object(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return !ec && v.is_object();
}

std::string iso8601(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>((ms % 1000 + 1000) % 1000));
  return buf;
}

json::object to_json(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

std::map<std::string, std::string> from_json(const json::object& o) {
  std::map<std::string, std::string> out;
  for (const auto& [k, e] : o) {
    if (e.is_string()) out[std::string(k)] = std::string(e.as_string());
  }
  return out;
}

std::map<std::string, std::string> from_json(const json::value* v) {
  return v != nullptr && v->is_object() ? from_json(v->as_object())
                                        : std::map<std::string, std::string>{};
}

std::string str(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

int64_t int64_of(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_int64() ? it->value().as_int64() : 0;
}

// Calls fn(id, record) for each record stored under `prefix`, in key order: id is the key after
// the prefix, record the stored JSON object, or null if the value is not one.
template <class Fn>
void scan_records(storage::Store& store, std::string_view prefix, Fn fn) {
  store.scan(prefix, [&](std::string_view key, std::string_view value) {
    boost::system::error_code ec;
    json::value v = json::parse(value, ec);
    fn(key.substr(prefix.size()), ec || !v.is_object() ? nullptr : &v.as_object());
    return true;
  });
}

const std::set<std::string>& topic_attribute_names() {
  static const std::set<std::string> names = {"DisplayName",    "Policy",
                                              "DeliveryPolicy", "FifoTopic",
                                              "KmsMasterKeyId", "SignatureVersion",
                                              "TracingConfig",  "ContentBasedDeduplication",
                                              "ArchivePolicy",  "FifoThroughputScope"};
  return names;
}

const std::set<std::string>& subscription_attribute_names() {
  static const std::set<std::string> names = {
      "DeliveryPolicy", "FilterPolicy",        "FilterPolicyScope", "RawMessageDelivery",
      "RedrivePolicy",  "SubscriptionRoleArn", "ReplayPolicy"};
  return names;
}

const std::string kDefaultEffectiveDeliveryPolicy =
    R"({"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,)"
    R"("numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,)"
    R"("backoffFunction":"linear"},"disableSubscriptionOverrides":false,)"
    R"("defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}})";

std::string default_policy(const std::string& arn, const std::string& account) {
  json::object statement;
  statement["Sid"] = "__default_statement_ID";
  statement["Effect"] = "Allow";
  statement["Principal"] = json::object{{"AWS", "*"}};
  statement["Action"] = json::array{"SNS:GetTopicAttributes",
                                    "SNS:SetTopicAttributes",
                                    "SNS:AddPermission",
                                    "SNS:RemovePermission",
                                    "SNS:DeleteTopic",
                                    "SNS:Subscribe",
                                    "SNS:ListSubscriptionsByTopic",
                                    "SNS:Publish"};
  statement["Resource"] = arn;
  statement["Condition"] =
      json::object{{"StringEquals", json::object{{"AWS:SourceOwner", account}}}};
  json::object policy;
  policy["Version"] = "2008-10-17";
  policy["Id"] = "__default_policy_ID";
  policy["Statement"] = json::array{std::move(statement)};
  return json::serialize(policy);
}

// Checks one topic attribute (name already known) for a topic of the given type.
Result<base::Ok> check_topic_attribute(const std::string& name, const std::string& value,
                                       bool fifo) {
  if (name == "Policy" && !is_json_object(value)) {
    return invalid("Policy Error: failed to parse the policy document");
  }
  if (name == "DeliveryPolicy" && !value.empty() && !is_json_object(value)) {
    return invalid("DeliveryPolicy: failed to parse JSON");
  }
  if (name == "ArchivePolicy") {
    if (!fifo) return invalid("ArchivePolicy: Not allowed for standard topics");
    if (!value.empty() && !is_json_object(value)) {
      return invalid("ArchivePolicy: failed to parse JSON");
    }
  }
  if (name == "SignatureVersion" && value != "1" && value != "2") {
    return invalid("SignatureVersion");
  }
  if (name == "TracingConfig" && value != "PassThrough" && value != "Active") {
    return invalid("TracingConfig");
  }
  if (name == "DisplayName" && value.size() > 100) return invalid("DisplayName");
  if (name == "ContentBasedDeduplication") {
    if (!parse_bool(value)) return invalid("ContentBasedDeduplication");
    if (!fifo) {
      return invalid(
          "ContentBasedDeduplication Reason: Content based deduplication can only be set for "
          "FIFO topics");
    }
  }
  if (name == "FifoThroughputScope") {
    if (!fifo) return invalid("FifoThroughputScope: Not allowed for standard topics");
    if (value != "Topic" && value != "MessageGroup") return invalid("FifoThroughputScope");
  }
  return base::Ok{};
}

struct PatternChoice {
  std::string policy;
  pattern::Dialect dialect;
};

std::optional<PatternChoice> pattern_of(const AttributeMap& attrs) {
  auto it = attrs.find("FilterPolicy");
  if (it == attrs.end() || it->second.empty()) return std::nullopt;
  auto scope = attrs.find("FilterPolicyScope");
  bool body = scope != attrs.end() && scope->second == "MessageBody";
  return PatternChoice{it->second,
                       body ? pattern::Dialect::kSnsBody : pattern::Dialect::kSnsAttributes};
}

// Validates subscription attributes as a whole (Subscribe, or the result of a
// SetSubscriptionAttributes). `prefix` is what AWS puts before the reason.
Result<base::Ok> check_subscription_attributes(const AttributeMap& attrs,
                                               const std::string& protocol,
                                               const std::string& prefix) {
  for (const auto& [name, value] : attrs) {
    if (name == "RawMessageDelivery") {
      if (!parse_bool(value)) {
        return error(Errc::kInvalidParameter, prefix + "RawMessageDelivery: Invalid value [" +
                                                  value + "]. Must be true or false.");
      }
      if (protocol != "sqs" && protocol != "http" && protocol != "https" &&
          protocol != "firehose") {
        return error(Errc::kInvalidParameter, "Invalid parameter: Delivery protocol [" + protocol +
                                                  "] does not support raw message delivery.");
      }
    } else if (name == "FilterPolicyScope") {
      if (value != "MessageAttributes" && value != "MessageBody") {
        return error(Errc::kInvalidParameter,
                     prefix + "FilterPolicyScope: Invalid value [" + value +
                         "]. Please use either MessageBody or MessageAttributes");
      }
    } else if (name == "RedrivePolicy") {
      boost::system::error_code ec;
      json::value v = json::parse(value, ec);
      auto* o = !ec ? v.if_object() : nullptr;
      auto target = o != nullptr ? str(*o, "deadLetterTargetArn") : std::string();
      auto arn = parse_arn(target);
      if (o == nullptr || !arn || arn->service != "sqs") {
        return error(Errc::kInvalidParameter,
                     prefix + "RedrivePolicy: deadLetterTargetArn is not a valid SQS queue ARN");
      }
    } else if (name == "DeliveryPolicy") {
      if (!is_json_object(value)) {
        return error(Errc::kInvalidParameter, prefix + "DeliveryPolicy: failed to parse JSON");
      }
    }
  }
  if (auto p = pattern_of(attrs)) {
    if (auto valid = pattern::validate(p->policy, p->dialect); !valid) {
      return error(Errc::kInvalidParameter, prefix + valid.error().message);
    }
  }
  return base::Ok{};
}

// Validates message attributes as SNS does for Publish.
Result<base::Ok> check_message_attributes(const MessageAttributes& attrs) {
  if (attrs.size() > 10) {
    return error(Errc::kInvalidParameter,
                 "Invalid parameter: MessageAttributes Reason: Number of message attributes [" +
                     std::to_string(attrs.size()) + "] exceeds the allowed maximum [10].");
  }
  for (const auto& [name, a] : attrs) {
    auto bad = [&](const std::string& why) {
      return error(Errc::kParameterValueInvalid, "The message attribute '" + name + "' " + why);
    };
    if (name.empty() || name.size() > 256) {
      return error(Errc::kParameterValueInvalid,
                   "The message attribute name '" + name + "' is invalid.");
    }
    std::string_view type = a.data_type;
    std::string_view base = type.substr(0, type.find('.'));
    if (base != "String" && base != "Number" && base != "Binary") {
      return bad(
          "has an invalid message attribute type, the set of supported type prefixes is Binary, "
          "Number, and String.");
    }
    if (base == "Binary") {
      if (a.binary_value.empty()) {
        return bad("must contain non-empty message attribute value for message attribute type '" +
                   a.data_type + "'.");
      }
      continue;
    }
    if (a.string_value.empty()) {
      return bad("must contain non-empty message attribute value for message attribute type '" +
                 a.data_type + "'.");
    }
    if (base == "Number") {
      char* end = nullptr;
      std::strtod(a.string_value.c_str(), &end);
      if (end == a.string_value.c_str() || *end != '\0') {
        return bad("has an invalid numeric value: " + a.string_value + ".");
      }
    }
    if (type == "String.Array") {
      boost::system::error_code ec;
      json::value v = json::parse(a.string_value, ec);
      if (ec || !v.is_array()) {
        return bad("has an invalid value for message attribute type 'String.Array'.");
      }
    }
  }
  return base::Ok{};
}

// Joins the durability callbacks of several writes into one.
struct Join {
  std::atomic<int> pending{1};  // one for the issuer, released by release()
  std::atomic<bool> ok{true};
  storage::WriteCallback done;

  static std::function<void(bool)> add(const std::shared_ptr<Join>& j) {
    j->pending.fetch_add(1);
    return [j](bool ok) { j->finish(ok); };
  }
  void finish(bool write_ok) {
    if (!write_ok) ok = false;
    if (pending.fetch_sub(1) == 1) done(ok.load());
  }
};

}  // namespace

struct Subscription {
  std::string arn;
  std::string topic_arn;
  std::string owner;
  std::string protocol;
  std::string endpoint;
  bool confirmed = false;
  std::string token;  // the confirmation token of an http/https subscription
  AttributeMap attributes;
  // Derived from the fields above by derive(), which runs whenever they are set: every publish
  // reads these for every subscription.
  bool raw_delivery = false;
  std::optional<sqs::QueueId> queue;  // sqs: the queue the endpoint ARN names, if it parses

  void derive() {
    auto it = attributes.find("RawMessageDelivery");
    raw_delivery = it != attributes.end() && parse_bool(it->second).value_or(false);
    queue.reset();
    if (protocol == "sqs") {
      if (auto arn = parse_arn(endpoint)) queue = sqs::QueueId{arn->account, arn->resource};
    }
  }
  bool raw() const { return raw_delivery; }
  bool has_filter() const { return pattern_of(attributes).has_value(); }
};

struct Topic {
  std::string arn;
  std::string account;
  std::string name;
  bool fifo = false;
  AttributeMap attributes;  // as the user set them
  TagMap tags;
  std::set<std::string> subscriptions;  // ARNs
  pattern::Matcher matcher;             // filter policies by subscription ARN

  std::mutex publish_mu;  // orders publishes; guards the fields below
  int64_t last_sequence = 0;
  struct Dedup {
    PublishResult result;
    int64_t expires_ms;
  };
  std::map<std::string, Dedup> dedup;
  std::deque<std::pair<int64_t, std::string>> dedup_order;  // (expiry, id), oldest first

  // The store key of a deduplication record, and the range holding all of the topic's.
  std::string dedup_key(const std::string& id) const { return kDedupPrefix + arn + "/" + id; }
  std::string dedup_begin() const { return kDedupPrefix + arn + "/"; }
  std::string dedup_end() const { return kDedupPrefix + arn + "0"; }  // '0' follows '/'
  // Forgets the ids whose window ended by `now`, deleting their records in `batch`.
  void evict_dedup(int64_t now, storage::WriteBatch& batch) {
    while (!dedup_order.empty() && dedup_order.front().first <= now) {
      auto it = dedup.find(dedup_order.front().second);
      if (it != dedup.end() && it->second.expires_ms <= now) {
        batch.del(dedup_key(it->first));
        dedup.erase(it);
      }
      dedup_order.pop_front();
    }
  }

  bool content_based_dedup() const {
    auto it = attributes.find("ContentBasedDeduplication");
    return it != attributes.end() && parse_bool(it->second).value_or(false);
  }
};

struct Engine::Impl {
  storage::Store& store;
  const base::Clock& clock;
  sqs::Engine& sqs;
  EngineOptions options;

  mutable std::shared_mutex mu;  // guards the maps and each topic's non-publish fields
  std::map<std::string, std::unique_ptr<Topic>> topics;  // by ARN
  std::map<std::string, Subscription> subscriptions;     // by ARN
  std::map<std::string, AttributeMap> sms_attributes;    // by account
  struct Application {
    std::string account, name, platform;
    AttributeMap attributes;  // as set, credentials included
  };
  struct PushEndpoint {
    std::string application_arn;
    AttributeMap attributes;  // Token, Enabled, CustomUserData
  };
  std::map<std::string, Application> applications;  // by ARN
  std::map<std::string, PushEndpoint> endpoints;    // by ARN

  // When sweep() is next due; kNothingToSweep while no deduplication record exists. A publish
  // lowers it to its record's expiry (a compare-exchange: publishes hold no engine-wide lock),
  // so that no record expires before it unnoticed.
  std::atomic<int64_t> next_sweep_ms{0};  // 0: not known yet, due now
  std::mutex sweep_mu;                    // one sweep() at a time; taken before mu
  // Lowers next_sweep_ms to `at`; true if it did.
  bool schedule_sweep(int64_t at) {
    int64_t current = next_sweep_ms.load();
    while (at < current) {
      if (next_sweep_ms.compare_exchange_weak(current, at)) return true;
    }
    return false;
  }

  Impl(storage::Store& s, const base::Clock& c, sqs::Engine& q, EngineOptions o)
      : store(s), clock(c), sqs(q), options(std::move(o)), signer(Signer::load_or_create(s)) {}

  std::string topic_record(const Topic& t) const {
    json::object o;
    o["account"] = t.account;
    o["name"] = t.name;
    o["attributes"] = to_json(t.attributes);
    o["tags"] = to_json(t.tags);
    return json::serialize(o);
  }
  std::string subscription_record(const Subscription& s) const {
    json::object o;
    o["topic"] = s.topic_arn;
    o["owner"] = s.owner;
    o["protocol"] = s.protocol;
    o["endpoint"] = s.endpoint;
    o["confirmed"] = s.confirmed;
    if (!s.token.empty()) o["token"] = s.token;
    o["attributes"] = to_json(s.attributes);
    return json::serialize(o);
  }
  void save_topic(const Topic& t, storage::WriteCallback done) {
    storage::WriteBatch b;
    b.put(kTopicPrefix + t.arn, topic_record(t));
    store.write(std::move(b), storage::Durability::kSync, std::move(done));
  }
  void save_subscription(const Subscription& s, storage::WriteCallback done) {
    storage::WriteBatch b;
    b.put(kSubscriptionPrefix + s.arn, subscription_record(s));
    store.write(std::move(b), storage::Durability::kSync, std::move(done));
  }

  Result<Topic*> find_topic(const std::string& arn, Errc missing = Errc::kNotFound) const {
    auto parsed = parse_arn(arn);
    if (!parsed || parsed->service != "sns") {
      if (missing == Errc::kResourceNotFound) {
        return invalid("ResourceArn");
      }
      return invalid("TopicArn");
    }
    auto it = topics.find(arn);
    if (it == topics.end()) {
      return error(missing,
                   missing == Errc::kNotFound ? "Topic does not exist" : "Resource does not exist");
    }
    return it->second.get();
  }

  Result<Subscription*> find_subscription(const std::string& arn) {
    auto parsed = parse_arn(arn);
    if (!parsed || parsed->service != "sns" || parsed->resource.find(':') == std::string::npos) {
      return invalid("SubscriptionArn");
    }
    auto it = subscriptions.find(arn);
    if (it == subscriptions.end()) return error(Errc::kNotFound, "Subscription does not exist");
    return &it->second;
  }

  void index_filter(Topic& t, const Subscription& s) {
    if (auto p = pattern_of(s.attributes)) {
      auto added = t.matcher.replace(s.arn, p->policy, p->dialect);
      (void)added;  // validated before it was stored
    } else {
      t.matcher.remove(s.arn);
    }
  }

  void erase_subscription(Topic* t, const std::string& arn) {
    if (t != nullptr) {
      t->subscriptions.erase(arn);
      t->matcher.remove(arn);
    }
    subscriptions.erase(arn);
  }

  std::string signature_version(const Topic& t) const {
    auto sv = t.attributes.find("SignatureVersion");
    return sv != t.attributes.end() ? sv->second : "1";
  }

  // The signature of a Notification over the documented fields, in their documented order.
  std::string sign_notification(const Topic& t, const std::string& message_id,
                                const std::string& subject, const std::string& message,
                                const std::string& timestamp) const {
    std::string text = "Message\n" + message + "\nMessageId\n" + message_id + "\n";
    if (!subject.empty()) text += "Subject\n" + subject + "\n";
    text += "Timestamp\n" + timestamp + "\nTopicArn\n" + t.arn + "\nType\nNotification\n";
    return signer->sign(text, signature_version(t));
  }

  std::string envelope(const Topic& t, const Subscription& s, const std::string& message_id,
                       const std::string& sequence, const PublishRequest& req,
                       const std::string& message, const std::string& timestamp,
                       const std::string& signature) const {
    json::object o;
    o["Type"] = "Notification";
    o["MessageId"] = message_id;
    if (!sequence.empty()) o["SequenceNumber"] = sequence;
    o["TopicArn"] = t.arn;
    if (!req.subject.empty()) o["Subject"] = req.subject;
    o["Message"] = message;
    o["Timestamp"] = timestamp;
    o["SignatureVersion"] = signature_version(t);
    o["Signature"] = signature;
    o["SigningCertURL"] = options.base_url + options.signing_cert_path;
    o["UnsubscribeURL"] = unsubscribe_url(s);
    if (!req.message_attributes.empty()) o["MessageAttributes"] = attributes_json(req);
    return json::serialize(o);
  }
  static json::object attributes_json(const PublishRequest& req) {
    json::object attrs;
    for (const auto& [name, a] : req.message_attributes) {
      bool binary = a.data_type.rfind("Binary", 0) == 0;
      attrs[name] =
          json::object{{"Type", a.data_type},
                       {"Value", binary ? base::base64_encode(a.binary_value) : a.string_value}};
    }
    return attrs;
  }

  std::string subscribe_url(const Topic& t, const Subscription& s) const {
    return options.base_url + "/?Action=ConfirmSubscription&Version=2010-03-31&TopicArn=" + t.arn +
           "&Token=" + s.token;
  }
  std::string unsubscribe_url(const Subscription& s) const {
    return options.base_url + "/?Action=Unsubscribe&Version=2010-03-31&SubscriptionArn=" + s.arn;
  }
  std::string sender_name(const Topic& t) const {
    auto it = t.attributes.find("DisplayName");
    return it != t.attributes.end() && !it->second.empty() ? it->second : kDefaultSenderName;
  }
  // The text of the confirmation mail of an email subscription (AWS's wording).
  std::string email_confirmation(const Topic& t, const Subscription& s) const {
    return "You have chosen to subscribe to the topic: \n" + t.arn +
           "\n\nTo confirm this subscription, click or visit the link below (If this was in "
           "error no action is necessary): \nConfirm subscription: " +
           subscribe_url(t, s) +
           "\n\nPlease do not reply directly to this email. If you wish to remove yourself from "
           "receiving all future SNS subscription confirmation requests please send an email to "
           "sns-opt-out\n";
  }
  // The text of an email notification: the message and AWS's unsubscribe footer.
  std::string email_text(const Subscription& s, const std::string& message) const {
    return message +
           "\n\n--\nIf you wish to stop receiving notifications from this topic, please click "
           "or visit the link below to unsubscribe:\n" +
           unsubscribe_url(s) +
           "\n\nPlease do not reply directly to this email. If you have any questions or "
           "comments regarding this email, please contact us at https://aws.amazon.com/support\n";
  }

  std::string confirmation(const Topic& t, const Subscription& s, int64_t now) const {
    std::string id = base::uuid4();
    std::string message = "You have chosen to subscribe to the topic " + t.arn +
                          ".\nTo confirm the subscription, visit the SubscribeURL included in "
                          "this message.";
    std::string url = subscribe_url(t, s);
    std::string timestamp = iso8601(now);
    std::string text = "Message\n" + message + "\nMessageId\n" + id + "\nSubscribeURL\n" + url +
                       "\nTimestamp\n" + timestamp + "\nToken\n" + s.token + "\nTopicArn\n" +
                       t.arn + "\nType\nSubscriptionConfirmation\n";
    json::object o;
    o["Type"] = "SubscriptionConfirmation";
    o["MessageId"] = id;
    o["Token"] = s.token;
    o["TopicArn"] = t.arn;
    o["Message"] = message;
    o["SubscribeURL"] = url;
    o["Timestamp"] = timestamp;
    o["SignatureVersion"] = signature_version(t);
    o["Signature"] = signer->sign(text, signature_version(t));
    o["SigningCertURL"] = options.base_url + options.signing_cert_path;
    return json::serialize(o);
  }

  // --- deliveries (guarded by dmu; lock order: mu, then a topic's publish_mu, then dmu) ---
  static std::string delivery_key(uint64_t id) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
    return kDeliveryPrefix + std::string(buf);
  }
  static std::string delivery_record(const Delivery& d) {
    json::object o;
    o["protocol"] = d.protocol;
    if (!d.subject.empty()) o["subject"] = d.subject;
    if (!d.sender_name.empty()) o["sender"] = d.sender_name;
    o["sub"] = d.subscription_arn;
    o["topic"] = d.topic_arn;
    o["endpoint"] = d.endpoint;
    o["type"] = d.message_type;
    o["id"] = d.message_id;
    o["body"] = d.body;
    o["raw"] = d.raw;
    o["attempts"] = d.attempts;
    o["due"] = d.due_ms;
    return json::serialize(o);
  }
  // Queues a delivery (dmu held); adds its record to `batch`.
  void queue_delivery_locked(Delivery d, storage::WriteBatch& batch) {
    d.id = next_delivery_id++;
    batch.put(delivery_key(d.id), delivery_record(d));
    due.insert({d.due_ms, d.id});
    deliveries[d.id] = std::move(d);
  }
  void wake_listener() {
    std::function<void()> wake;
    {
      std::lock_guard lock(dmu);
      wake = listener;
    }
    if (wake) wake();
  }

  // --- outbox (guarded by dmu) ---
  static std::string outbox_key(uint64_t seq) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(seq));
    return kOutboxPrefix + std::string(buf);
  }
  static std::string outbox_record(const OutboxEntry& e) {
    json::object o;
    o["ts"] = e.timestamp_ms;
    o["protocol"] = e.protocol;
    o["destination"] = e.destination;
    o["message"] = e.message;
    o["subject"] = e.subject;
    o["id"] = e.message_id;
    o["topic"] = e.topic_arn;
    o["sub"] = e.subscription_arn;
    o["attributes"] = e.attributes_json;
    return json::serialize(o);
  }
  // The JSON the SMS and mobile push gateway receives.
  static std::string gateway_body(const OutboxEntry& e) {
    json::object o;
    o["Protocol"] = e.protocol;
    o["Destination"] = e.destination;
    o["Message"] = e.message;
    if (!e.subject.empty()) o["Subject"] = e.subject;
    o["MessageId"] = e.message_id;
    o["Timestamp"] = iso8601(e.timestamp_ms);
    if (!e.topic_arn.empty()) o["TopicArn"] = e.topic_arn;
    if (!e.subscription_arn.empty()) o["SubscriptionArn"] = e.subscription_arn;
    boost::system::error_code ec;
    json::value attrs = json::parse(e.attributes_json, ec);
    o["MessageAttributes"] = !ec && attrs.is_object() ? attrs : json::object();
    return json::serialize(o);
  }
  // Adds an entry to the outbox (dmu held), dropping the oldest beyond the limit, and queues
  // its gateway delivery if a gateway is configured. Returns whether a delivery was queued.
  bool add_outbox_locked(OutboxEntry e, storage::WriteBatch& batch) {
    e.seq = next_outbox_seq++;
    batch.put(outbox_key(e.seq), outbox_record(e));
    stats.outboxed++;
    bool queued = false;
    if (!options.gateway_url.empty()) {
      Delivery d;
      d.protocol = e.protocol;
      d.subscription_arn = e.subscription_arn;
      d.topic_arn = e.topic_arn;
      d.endpoint = options.gateway_url;
      d.message_type = "Notification";
      d.message_id = e.message_id;
      d.body = gateway_body(e);
      d.due_ms = e.timestamp_ms;
      queue_delivery_locked(std::move(d), batch);
      queued = true;
    }
    outbox.push_back(std::move(e));
    while (outbox.size() > std::max<size_t>(options.outbox_limit, 1)) {
      batch.del(outbox_key(outbox.front().seq));
      outbox.pop_front();
    }
    return queued;
  }
  std::deque<OutboxEntry> outbox;  // oldest first
  uint64_t next_outbox_seq = 1;
  std::set<std::string> undeliverable_logged;  // subscription ARNs already logged

  mutable std::mutex dmu;
  std::map<uint64_t, Delivery> deliveries;     // every pending one, in flight or not
  std::set<std::pair<int64_t, uint64_t>> due;  // (due_ms, id) of those not in flight
  // When the http/s notifications handed out per subscription in the last second were handed
  // out, oldest first (throttlePolicy); by subscription ARN.
  std::map<std::string, std::deque<int64_t>> throttles;
  uint64_t next_delivery_id = 1;
  std::function<void()> listener;
  DeliveryStats stats;
  std::unique_ptr<Signer> signer;
};

Engine::Engine(storage::Store& store, const base::Clock& clock, sqs::Engine& sqs,
               EngineOptions options)
    : impl_(std::make_unique<Impl>(store, clock, sqs, std::move(options))) {}

Engine::~Engine() = default;

void Engine::recover() {
  std::unique_lock lock(impl_->mu);
  storage::Store& store = impl_->store;
  scan_records(store, kTopicPrefix, [&](std::string_view arn, const json::object* o) {
    if (o == nullptr) return;
    auto t = std::make_unique<Topic>();
    t->arn = std::string(arn);
    t->account = str(*o, "account");
    t->name = str(*o, "name");
    t->attributes = from_json(o->if_contains("attributes"));
    t->tags = from_json(o->if_contains("tags"));
    t->fifo = ends_with(t->name, ".fifo");
    impl_->topics[t->arn] = std::move(t);
  });
  // FIFO topics' deduplication windows: the records still in their window; the others (expired,
  // or left by a topic deleted without them) are deleted.
  int64_t now = impl_->clock.now_ms();
  storage::WriteBatch stale;
  std::vector<Topic*> fifo_topics;
  scan_records(store, kDedupPrefix, [&](std::string_view rest, const json::object* o) {
    size_t slash = rest.find('/');
    auto t = slash == std::string_view::npos
                 ? impl_->topics.end()
                 : impl_->topics.find(std::string(rest.substr(0, slash)));
    int64_t expires = o == nullptr ? 0 : int64_of(*o, "expires");
    if (t == impl_->topics.end() || !t->second->fifo || expires <= now) {
      stale.del(kDedupPrefix + std::string(rest));
      return;
    }
    Topic& topic = *t->second;
    std::string id(rest.substr(slash + 1));
    PublishResult result{str(*o, "id"), str(*o, "seq")};
    topic.last_sequence = std::max<int64_t>(
        topic.last_sequence, std::strtoll(result.sequence_number.c_str(), nullptr, 10));
    if (topic.dedup.empty()) fifo_topics.push_back(&topic);
    topic.dedup_order.emplace_back(expires, id);
    topic.dedup[std::move(id)] = {std::move(result), expires};
  });
  for (Topic* topic : fifo_topics) {  // scanned in id order; evicted in expiry order
    std::sort(topic->dedup_order.begin(), topic->dedup_order.end());
  }
  if (!stale.empty()) store.write(std::move(stale), storage::Durability::kLazy, {});
  scan_records(store, kSmsPrefix, [&](std::string_view account, const json::object* o) {
    if (o != nullptr) impl_->sms_attributes[std::string(account)] = from_json(*o);
  });
  std::map<Topic*, std::vector<pattern::PatternSpec>> patterns;
  scan_records(store, kSubscriptionPrefix, [&](std::string_view arn, const json::object* record) {
    if (record == nullptr) return;
    const auto& o = *record;
    Subscription s;
    s.arn = std::string(arn);
    s.topic_arn = str(o, "topic");
    s.owner = str(o, "owner");
    s.protocol = str(o, "protocol");
    s.endpoint = str(o, "endpoint");
    auto c = o.find("confirmed");
    s.confirmed = c != o.end() && c->value().is_bool() && c->value().as_bool();
    s.token = str(o, "token");
    s.attributes = from_json(o.if_contains("attributes"));
    s.derive();
    auto t = impl_->topics.find(s.topic_arn);
    if (t == impl_->topics.end()) return;  // its topic's deletion was not finished
    t->second->subscriptions.insert(s.arn);
    if (auto p = pattern_of(s.attributes)) {
      patterns[t->second.get()].push_back({s.arn, p->policy, p->dialect});
    }
    impl_->subscriptions[s.arn] = std::move(s);
  });
  for (auto& [topic, specs] : patterns) {
    auto added = topic->matcher.add_all(specs);
    (void)added;
  }
  std::lock_guard dlock(impl_->dmu);
  scan_records(store, kDeliveryPrefix, [&](std::string_view hex, const json::object* record) {
    uint64_t id = std::strtoull(std::string(hex).c_str(), nullptr, 16);
    impl_->next_delivery_id = std::max(impl_->next_delivery_id, id + 1);
    if (record == nullptr) return;
    const auto& o = *record;
    Delivery d;
    d.id = id;
    d.protocol = str(o, "protocol");
    d.subject = str(o, "subject");
    d.sender_name = str(o, "sender");
    d.subscription_arn = str(o, "sub");
    d.topic_arn = str(o, "topic");
    d.endpoint = str(o, "endpoint");
    d.message_type = str(o, "type");
    d.message_id = str(o, "id");
    d.body = str(o, "body");
    d.raw = o.contains("raw") && o.at("raw").is_bool() && o.at("raw").as_bool();
    d.attempts = static_cast<int>(int64_of(o, "attempts"));
    d.due_ms = int64_of(o, "due");
    if (d.protocol.empty()) d.protocol = d.endpoint.rfind("https:", 0) == 0 ? "https" : "http";
    impl_->due.insert({d.due_ms, d.id});
    impl_->deliveries[d.id] = std::move(d);
  });
  scan_records(store, kOutboxPrefix, [&](std::string_view hex, const json::object* record) {
    uint64_t seq = std::strtoull(std::string(hex).c_str(), nullptr, 16);
    impl_->next_outbox_seq = std::max(impl_->next_outbox_seq, seq + 1);
    if (record == nullptr) return;
    const auto& o = *record;
    OutboxEntry e;
    e.seq = seq;
    e.timestamp_ms = int64_of(o, "ts");
    e.protocol = str(o, "protocol");
    e.destination = str(o, "destination");
    e.message = str(o, "message");
    e.subject = str(o, "subject");
    e.message_id = str(o, "id");
    e.topic_arn = str(o, "topic");
    e.subscription_arn = str(o, "sub");
    e.attributes_json = str(o, "attributes");
    impl_->outbox.push_back(std::move(e));  // the scan is in key (= sequence) order
  });
  scan_records(store, kApplicationPrefix, [&](std::string_view arn, const json::object* o) {
    if (o == nullptr) return;
    impl_->applications[std::string(arn)] = {str(*o, "account"), str(*o, "name"),
                                             str(*o, "platform"),
                                             from_json(o->if_contains("attributes"))};
  });
  scan_records(store, kEndpointPrefix, [&](std::string_view arn, const json::object* o) {
    if (o == nullptr) return;
    Impl::PushEndpoint e{str(*o, "application"), from_json(o->if_contains("attributes"))};
    if (!impl_->applications.count(e.application_arn)) return;  // deleted with its app
    impl_->endpoints[std::string(arn)] = std::move(e);
  });
}

// --- topics ---------------------------------------------------------------------------------

Result<std::string> Engine::create_topic(const std::string& account, const std::string& name,
                                         const AttributeMap& attributes, const TagMap& tags,
                                         storage::WriteCallback done) {
  auto fifo_attr = attributes.find("FifoTopic");
  bool fifo = false;
  if (fifo_attr != attributes.end()) {
    auto b = parse_bool(fifo_attr->second);
    if (!b) return invalid("FifoTopic");
    fifo = *b;
  }
  bool fifo_name = ends_with(name, ".fifo");
  std::string_view base = fifo_name ? std::string_view(name).substr(0, name.size() - 5) : name;
  if (fifo) {
    if (!fifo_name || base.empty() || name.size() > 256 || !valid_name_chars(base)) {
      return invalid(
          "Fifo Topic names must end with .fifo and must be made up of only uppercase and "
          "lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 "
          "and 256 characters long.");
    }
  } else if (name.empty() || name.size() > 256 || !valid_name_chars(name)) {
    return invalid("Topic Name");
  }
  for (const auto& [k, v] : attributes) {
    if (!topic_attribute_names().count(k)) return invalid("AttributeName");
    if (auto ok = check_topic_attribute(k, v, fifo); !ok) return fail(ok.error());
  }
  if (tags.size() > kMaxTags) {
    return error(Errc::kTagLimitExceeded,
                 "Could not complete request: tag quota of per resource exceeded");
  }
  std::string arn = "arn:aws:sns:" + impl_->options.region + ":" + account + ":" + name;

  std::unique_lock lock(impl_->mu);
  if (auto it = impl_->topics.find(arn); it != impl_->topics.end()) {
    const Topic& t = *it->second;
    for (const auto& [k, v] : attributes) {
      auto cur = t.attributes.find(k);
      if (k == "FifoTopic") continue;
      if (cur == t.attributes.end() ? !v.empty() : cur->second != v) {
        return invalid("Attributes Reason: Topic already exists with different attributes");
      }
    }
    if (!tags.empty() && tags != t.tags) {
      return invalid("Tags Reason: Topic already exists with different tags");
    }
    lock.unlock();
    done(true);
    return arn;
  }
  auto t = std::make_unique<Topic>();
  t->arn = arn;
  t->account = account;
  t->name = name;
  t->fifo = fifo;
  t->attributes = attributes;
  if (fifo)
    t->attributes["FifoTopic"] = "true";
  else
    t->attributes.erase("FifoTopic");
  t->tags = tags;
  impl_->save_topic(*t, std::move(done));
  impl_->topics[arn] = std::move(t);
  return arn;
}

Result<base::Ok> Engine::delete_topic(const std::string& topic_arn, storage::WriteCallback done) {
  auto parsed = parse_arn(topic_arn);
  if (!parsed || parsed->service != "sns") return invalid("TopicArn");
  std::unique_lock lock(impl_->mu);
  auto it = impl_->topics.find(topic_arn);
  if (it == impl_->topics.end()) {
    lock.unlock();
    done(true);
    return base::Ok{};
  }
  // Publishes hold the shared lock, so none is in progress on this topic.
  std::unique_ptr<Topic> topic = std::move(it->second);
  storage::WriteBatch b;
  b.del(kTopicPrefix + topic_arn);
  if (topic->fifo) b.delete_range(topic->dedup_begin(), topic->dedup_end());
  for (const auto& s : topic->subscriptions) {
    b.del(kSubscriptionPrefix + s);
    impl_->subscriptions.erase(s);
  }
  impl_->topics.erase(it);
  impl_->store.write(std::move(b), storage::Durability::kSync, std::move(done));
  return base::Ok{};
}

Result<Page<std::string>> Engine::list_topics(const std::string& account,
                                              const std::string& next_token) const {
  std::shared_lock lock(impl_->mu);
  Page<std::string> page;
  auto it = next_token.empty() ? impl_->topics.begin() : impl_->topics.upper_bound(next_token);
  for (; it != impl_->topics.end(); ++it) {
    if (it->second->account != account) continue;
    if (page.items.size() == static_cast<size_t>(impl_->options.page_size)) {
      page.next_token = page.items.back();
      break;
    }
    page.items.push_back(it->first);
  }
  return page;
}

Result<AttributeMap> Engine::get_topic_attributes(const std::string& topic_arn) const {
  std::shared_lock lock(impl_->mu);
  auto t = impl_->find_topic(topic_arn);
  if (!t) return fail(t.error());
  const Topic& topic = **t;
  AttributeMap out = topic.attributes;
  out["TopicArn"] = topic.arn;
  out["Owner"] = topic.account;
  if (!out.count("Policy")) out["Policy"] = default_policy(topic.arn, topic.account);
  if (!out.count("DisplayName")) out["DisplayName"] = "";
  int confirmed = 0, pending = 0;
  for (const auto& arn : topic.subscriptions) {
    auto s = impl_->subscriptions.find(arn);
    if (s == impl_->subscriptions.end()) continue;
    (s->second.confirmed ? confirmed : pending)++;
  }
  out["SubscriptionsConfirmed"] = std::to_string(confirmed);
  out["SubscriptionsPending"] = std::to_string(pending);
  out["SubscriptionsDeleted"] = "0";
  auto dp = topic.attributes.find("DeliveryPolicy");
  out["EffectiveDeliveryPolicy"] = dp != topic.attributes.end() && !dp->second.empty()
                                       ? dp->second
                                       : kDefaultEffectiveDeliveryPolicy;
  if (topic.fifo && !out.count("ContentBasedDeduplication")) {
    out["ContentBasedDeduplication"] = "false";
  }
  return out;
}

Result<base::Ok> Engine::set_topic_attributes(const std::string& topic_arn, const std::string& name,
                                              const std::string& value,
                                              storage::WriteCallback done) {
  std::unique_lock lock(impl_->mu);
  auto t = impl_->find_topic(topic_arn);
  if (!t) return fail(t.error());
  Topic& topic = **t;
  if (!topic_attribute_names().count(name) || name == "FifoTopic") {
    return invalid("AttributeName");
  }
  if (!value.empty() || name != "Policy") {
    if (auto ok = check_topic_attribute(name, value, topic.fifo); !ok) return fail(ok.error());
  }
  if (value.empty() && name != "DisplayName") {
    topic.attributes.erase(name);
  } else {
    topic.attributes[name] = value;
  }
  impl_->save_topic(topic, std::move(done));
  return base::Ok{};
}

// --- permissions ----------------------------------------------------------------------------

namespace {
json::value one_or_list(const std::vector<std::string>& items) {
  if (items.size() == 1) return json::value(items[0]);
  json::array a;
  for (const auto& i : items) a.emplace_back(i);
  return a;
}
}  // namespace

Result<base::Ok> Engine::add_permission(const std::string& topic_arn, const std::string& label,
                                        const std::vector<std::string>& account_ids,
                                        const std::vector<std::string>& actions,
                                        storage::WriteCallback done) {
  if (label.empty() || label.size() > 100 || !valid_name_chars(label)) return invalid("Label");
  if (account_ids.empty()) return invalid("AWSAccountId");
  if (actions.empty()) return invalid("ActionName");
  std::unique_lock lock(impl_->mu);
  auto t = impl_->find_topic(topic_arn);
  if (!t) return fail(t.error());
  Topic& topic = **t;
  auto current = topic.attributes.find("Policy");
  boost::system::error_code ec;
  json::value policy =
      json::parse(current != topic.attributes.end() ? current->second
                                                    : default_policy(topic.arn, topic.account),
                  ec);
  if (ec || !policy.is_object()) return invalid("Policy");
  json::object& o = policy.as_object();
  if (!o["Statement"].is_array()) o["Statement"] = json::array();
  json::array& statements = o["Statement"].as_array();
  for (const auto& st : statements) {
    if (st.is_object() && str(st.as_object(), "Sid") == label) {
      return invalid("Statement already exists");
    }
  }
  std::vector<std::string> principals, names;
  for (const auto& a : account_ids) principals.push_back("arn:aws:iam::" + a + ":root");
  for (const auto& a : actions) names.push_back("SNS:" + a);
  json::object st;
  st["Sid"] = label;
  st["Effect"] = "Allow";
  st["Principal"] = json::object{{"AWS", one_or_list(principals)}};
  st["Action"] = one_or_list(names);
  st["Resource"] = topic.arn;
  statements.push_back(std::move(st));
  topic.attributes["Policy"] = json::serialize(policy);
  impl_->save_topic(topic, std::move(done));
  return base::Ok{};
}

Result<base::Ok> Engine::remove_permission(const std::string& topic_arn, const std::string& label,
                                           storage::WriteCallback done) {
  std::unique_lock lock(impl_->mu);
  auto t = impl_->find_topic(topic_arn);
  if (!t) return fail(t.error());
  Topic& topic = **t;
  auto current = topic.attributes.find("Policy");
  boost::system::error_code ec;
  json::value policy =
      json::parse(current != topic.attributes.end() ? current->second
                                                    : default_policy(topic.arn, topic.account),
                  ec);
  json::array* statements = nullptr;
  if (!ec && policy.is_object()) {
    if (auto* s = policy.as_object().if_contains("Statement")) statements = s->if_array();
  }
  if (statements == nullptr) {
    lock.unlock();
    done(true);
    return base::Ok{};
  }
  auto it = std::find_if(statements->begin(), statements->end(), [&](const json::value& st) {
    return st.is_object() && str(st.as_object(), "Sid") == label;
  });
  if (it == statements->end()) {
    lock.unlock();
    done(true);
    return base::Ok{};
  }
  statements->erase(it);
  topic.attributes["Policy"] = json::serialize(policy);
  impl_->save_topic(topic, std::move(done));
  return base::Ok{};
}

// --- SMS settings ---------------------------------------------------------------------------

Result<base::Ok> Engine::set_sms_attributes(const std::string& account,
                                            const AttributeMap& attributes,
                                            storage::WriteCallback done) {
  static const std::set<std::string> kNames = {"DefaultSMSType",
                                               "DefaultSenderID",
                                               "MonthlySpendLimit",
                                               "DeliveryStatusIAMRole",
                                               "DeliveryStatusSuccessSamplingRate",
                                               "UsageReportS3Bucket"};
  for (const auto& [k, v] : attributes) {
    if (!kNames.count(k)) return invalid(k);
    if (k == "DefaultSMSType" && v != "Promotional" && v != "Transactional") {
      return invalid("DefaultSMSType");
    }
    bool digits = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    if (k == "MonthlySpendLimit" && !digits) return invalid("MonthlySpendLimit");
    if (k == "DeliveryStatusSuccessSamplingRate" && (!digits || std::stoi(v) > 100)) {
      return invalid("DeliveryStatusSuccessSamplingRate");
    }
  }
  std::unique_lock lock(impl_->mu);
  AttributeMap& current = impl_->sms_attributes[account];
  for (const auto& [k, v] : attributes) current[k] = v;
  storage::WriteBatch b;
  b.put(kSmsPrefix + account, json::serialize(to_json(current)));
  impl_->store.write(std::move(b), storage::Durability::kSync, std::move(done));
  return base::Ok{};
}

AttributeMap Engine::get_sms_attributes(const std::string& account,
                                        const std::vector<std::string>& names) const {
  std::shared_lock lock(impl_->mu);
  auto it = impl_->sms_attributes.find(account);
  if (it == impl_->sms_attributes.end()) return {};
  if (names.empty()) return it->second;
  AttributeMap out;
  for (const auto& n : names) {
    if (auto v = it->second.find(n); v != it->second.end()) out[n] = v->second;
  }
  return out;
}

Result<bool> Engine::phone_number_opted_out(const std::string& phone_number) const {
  std::string_view digits = phone_number;
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  if (digits.empty() || digits.size() > 15 ||
      !std::all_of(digits.begin(), digits.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    return invalid("PhoneNumber Reason: input incorrectly formatted");
  }
  return false;
}

// --- tags -----------------------------------------------------------------------------------

Result<base::Ok> Engine::tag_resource(const std::string& arn, const TagMap& tags,
                                      storage::WriteCallback done) {
  std::unique_lock lock(impl_->mu);
  auto t = impl_->find_topic(arn, Errc::kResourceNotFound);
  if (!t) return fail(t.error());
  TagMap merged = (*t)->tags;
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 128 || v.size() > 256) {
      return error(Errc::kInvalidParameter, "Invalid parameter: Tags");
    }
    merged[k] = v;
  }
  if (merged.size() > kMaxTags) {
    return error(Errc::kTagLimitExceeded,
                 "Could not complete request: tag quota of per resource exceeded");
  }
  (*t)->tags = std::move(merged);
  impl_->save_topic(**t, std::move(done));
  return base::Ok{};
}

Result<base::Ok> Engine::untag_resource(const std::string& arn,
                                        const std::vector<std::string>& keys,
                                        storage::WriteCallback done) {
  std::unique_lock lock(impl_->mu);
  auto t = impl_->find_topic(arn, Errc::kResourceNotFound);
  if (!t) return fail(t.error());
  for (const auto& k : keys) (*t)->tags.erase(k);
  impl_->save_topic(**t, std::move(done));
  return base::Ok{};
}

Result<TagMap> Engine::list_tags(const std::string& arn) const {
  std::shared_lock lock(impl_->mu);
  auto t = impl_->find_topic(arn, Errc::kResourceNotFound);
  if (!t) return fail(t.error());
  return (*t)->tags;
}

// --- subscriptions --------------------------------------------------------------------------

Result<std::string> Engine::subscribe(const std::string& account, const std::string& topic_arn,
                                      const std::string& protocol, const std::string& endpoint,
                                      const AttributeMap& attributes, bool return_arn,
                                      storage::WriteCallback done) {
  static const std::set<std::string> kProtocols = {
      "sqs", "http", "https", "email", "email-json", "sms", "application", "lambda", "firehose"};
  if (!kProtocols.count(protocol)) {
    return invalid("Amazon SNS does not support this protocol string: " + protocol);
  }
  for (const auto& [k, v] : attributes) {
    if (!subscription_attribute_names().count(k)) {
      return invalid("Attributes Reason: Unknown attribute: " + k);
    }
  }
  std::unique_lock lock(impl_->mu);
  auto t = impl_->find_topic(topic_arn);
  if (!t) return fail(t.error());
  Topic& topic = **t;

  bool confirmed = true;
  if (protocol == "sqs" || protocol == "lambda" || protocol == "firehose" ||
      protocol == "application") {
    auto arn = parse_arn(endpoint);
    std::string service = protocol == "application" ? "sns" : protocol;
    if (!arn || arn->service != service) {
      return invalid(protocol == "sqs" ? "SQS endpoint ARN" : "Endpoint");
    }
    if (protocol == "sqs") {
      bool queue_fifo = ends_with(arn->resource, ".fifo");
      if (topic.fifo && !queue_fifo) {
        return invalid(
            "Invalid parameter: Endpoint Reason: FIFO SNS Topics currently only support FIFO "
            "SQS queues as endpoints");
      }
      if (!topic.fifo && queue_fifo) {
        return invalid("Invalid parameter: Endpoint Reason: Please use FIFO SNS topic");
      }
    }
  } else if (protocol == "http" || protocol == "https") {
    if (endpoint.rfind(protocol + "://", 0) != 0 || endpoint.size() <= protocol.size() + 3) {
      return invalid("Endpoint must match the specified protocol");
    }
    confirmed = false;
  } else if (protocol == "email" || protocol == "email-json") {
    auto at = endpoint.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == endpoint.size()) {
      return invalid("Email address");
    }
    confirmed = false;
  } else if (protocol == "sms") {
    if (endpoint.empty() || !std::all_of(endpoint.begin(), endpoint.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) || c == '+' || c == '-';
        })) {
      return invalid("SMS endpoint");
    }
  }
  if (auto ok = check_subscription_attributes(attributes, protocol,
                                              "Invalid parameter: Attributes Reason: ");
      !ok) {
    return fail(ok.error());
  }

  // Idempotent on (topic, protocol, endpoint).
  for (const auto& arn : topic.subscriptions) {
    const Subscription& s = impl_->subscriptions.at(arn);
    if (s.protocol != protocol || s.endpoint != endpoint) continue;
    for (const auto& [k, v] : attributes) {
      auto cur = s.attributes.find(k);
      if (cur == s.attributes.end() || cur->second != v) {
        return invalid("Attributes Reason: Subscription already exists with different attributes");
      }
    }
    std::string existing = s.confirmed || return_arn ? s.arn : "pending confirmation";
    lock.unlock();
    done(true);
    return existing;
  }

  Subscription s;
  s.arn = topic.arn + ":" + base::uuid4();
  s.topic_arn = topic.arn;
  s.owner = account;
  s.protocol = protocol;
  s.endpoint = endpoint;
  s.confirmed = confirmed;
  s.attributes = attributes;
  s.derive();
  topic.subscriptions.insert(s.arn);
  impl_->index_filter(topic, s);
  storage::WriteBatch batch;
  bool wake = false;
  if (!confirmed) {  // http, https, email, email-json
    uint8_t random[32];
    base::random_bytes(random, sizeof random);
    s.token = base::to_hex(random, sizeof random) + base::to_hex(random, sizeof random);
    Delivery d;
    d.protocol = protocol;
    d.subscription_arn = s.arn;
    d.topic_arn = topic.arn;
    d.endpoint = endpoint;
    d.message_type = "SubscriptionConfirmation";
    std::string json_body = impl_->confirmation(topic, s, impl_->clock.now_ms());
    d.message_id = json::parse(json_body).as_object().at("MessageId").as_string().c_str();
    d.body = protocol == "email" ? impl_->email_confirmation(topic, s) : std::move(json_body);
    if (protocol == "email" || protocol == "email-json") {
      d.subject = "AWS Notification - Subscription Confirmation";
      d.sender_name = impl_->sender_name(topic);
    }
    d.due_ms = impl_->clock.now_ms();
    std::lock_guard dlock(impl_->dmu);
    impl_->queue_delivery_locked(std::move(d), batch);
    wake = true;
  }
  batch.put(kSubscriptionPrefix + s.arn, impl_->subscription_record(s));
  impl_->store.write(std::move(batch), storage::Durability::kSync, std::move(done));
  std::string arn = s.arn;
  impl_->subscriptions[arn] = std::move(s);
  if (wake) impl_->wake_listener();
  return confirmed || return_arn ? arn : std::string("pending confirmation");
}

Result<std::string> Engine::confirm_subscription(const std::string& topic_arn,
                                                 const std::string& token,
                                                 storage::WriteCallback done) {
  std::unique_lock lock(impl_->mu);
  auto t = impl_->find_topic(topic_arn);
  if (!t) return fail(t.error());
  for (const auto& arn : (*t)->subscriptions) {
    Subscription& s = impl_->subscriptions.at(arn);
    if (s.token.empty() || s.token != token) continue;
    std::string found = arn;
    if (s.confirmed) {
      lock.unlock();
      done(true);
      return found;
    }
    s.confirmed = true;
    impl_->save_subscription(s, std::move(done));
    return found;
  }
  return invalid("Token");
}

Result<base::Ok> Engine::unsubscribe(const std::string& subscription_arn,
                                     storage::WriteCallback done) {
  std::unique_lock lock(impl_->mu);
  auto s = impl_->find_subscription(subscription_arn);
  if (!s) return fail(s.error());
  auto t = impl_->topics.find((*s)->topic_arn);
  impl_->erase_subscription(t == impl_->topics.end() ? nullptr : t->second.get(), subscription_arn);
  storage::WriteBatch b;
  b.del(kSubscriptionPrefix + subscription_arn);
  impl_->store.write(std::move(b), storage::Durability::kSync, std::move(done));
  return base::Ok{};
}

namespace {
SubscriptionInfo info_of(const Subscription& s) {
  return {s.confirmed ? s.arn : "PendingConfirmation", s.owner, s.protocol, s.endpoint,
          s.topic_arn};
}
}  // namespace

Result<Page<SubscriptionInfo>> Engine::list_subscriptions(const std::string& account,
                                                          const std::string& next_token) const {
  std::shared_lock lock(impl_->mu);
  Page<SubscriptionInfo> page;
  auto& subs = impl_->subscriptions;
  auto it = next_token.empty() ? subs.begin() : subs.upper_bound(next_token);
  std::string last;
  for (; it != subs.end(); ++it) {
    auto topic = parse_arn(it->second.topic_arn);
    if (!topic || topic->account != account) continue;
    if (page.items.size() == static_cast<size_t>(impl_->options.page_size)) {
      page.next_token = last;
      break;
    }
    page.items.push_back(info_of(it->second));
    last = it->first;
  }
  return page;
}

Result<Page<SubscriptionInfo>> Engine::list_subscriptions_by_topic(
    const std::string& topic_arn, const std::string& next_token) const {
  std::shared_lock lock(impl_->mu);
  auto t = impl_->find_topic(topic_arn);
  if (!t) return fail(t.error());
  const auto& arns = (*t)->subscriptions;
  Page<SubscriptionInfo> page;
  auto it = next_token.empty() ? arns.begin() : arns.upper_bound(next_token);
  std::string last;
  for (; it != arns.end(); ++it) {
    if (page.items.size() == static_cast<size_t>(impl_->options.page_size)) {
      page.next_token = last;
      break;
    }
    page.items.push_back(info_of(impl_->subscriptions.at(*it)));
    last = *it;
  }
  return page;
}

Result<AttributeMap> Engine::get_subscription_attributes(
    const std::string& subscription_arn) const {
  std::shared_lock lock(impl_->mu);
  auto s = const_cast<Impl&>(*impl_).find_subscription(subscription_arn);
  if (!s) return fail(s.error());
  const Subscription& sub = **s;
  AttributeMap out = sub.attributes;
  out["SubscriptionArn"] = sub.arn;
  out["TopicArn"] = sub.topic_arn;
  out["Owner"] = sub.owner;
  out["Protocol"] = sub.protocol;
  out["Endpoint"] = sub.endpoint;
  out["PendingConfirmation"] = sub.confirmed ? "false" : "true";
  out["ConfirmationWasAuthenticated"] = sub.confirmed ? "true" : "false";
  out["SubscriptionPrincipal"] = "arn:aws:iam::" + sub.owner + ":root";
  if (!out.count("RawMessageDelivery")) out["RawMessageDelivery"] = "false";
  if (out.count("FilterPolicy") && !out.count("FilterPolicyScope")) {
    out["FilterPolicyScope"] = "MessageAttributes";
  }
  if (sub.protocol == "http" || sub.protocol == "https") {
    auto dp = sub.attributes.find("DeliveryPolicy");
    out["EffectiveDeliveryPolicy"] =
        dp != sub.attributes.end() ? dp->second : kDefaultEffectiveDeliveryPolicy;
  }
  return out;
}

Result<base::Ok> Engine::set_subscription_attributes(const std::string& subscription_arn,
                                                     const std::string& name,
                                                     const std::string& value,
                                                     storage::WriteCallback done) {
  if (!subscription_attribute_names().count(name)) return invalid("AttributeName");
  std::unique_lock lock(impl_->mu);
  auto s = impl_->find_subscription(subscription_arn);
  if (!s) return fail(s.error());
  Subscription& sub = **s;
  AttributeMap next = sub.attributes;
  if (value.empty() && (name == "FilterPolicy" || name == "RedrivePolicy" ||
                        name == "DeliveryPolicy" || name == "FilterPolicyScope")) {
    next.erase(name);
  } else {
    next[name] = value;
  }
  if (name == "FilterPolicyScope" && !next.count("FilterPolicy") && !value.empty()) {
    return invalid(
        "Attributes Reason: FilterPolicyScope: Cannot set FilterPolicyScope without a "
        "FilterPolicy");
  }
  if (auto ok = check_subscription_attributes(next, sub.protocol, "Invalid parameter: "); !ok) {
    return fail(ok.error());
  }
  sub.attributes = std::move(next);
  sub.derive();
  auto t = impl_->topics.find(sub.topic_arn);
  if (t != impl_->topics.end()) impl_->index_filter(*t->second, sub);
  impl_->save_subscription(sub, std::move(done));
  return base::Ok{};
}

// --- publishing -----------------------------------------------------------------------------

Result<PublishResult> Engine::publish(PublishRequest req, storage::WriteCallback done) {
  std::optional<Arn> parsed;
  if (!req.phone_number.empty()) {
    if (!req.topic_arn.empty()) {
      return invalid(
          "PhoneNumber Reason: Only one of PhoneNumber, TopicArn or TargetArn can be provided");
    }
    if (!valid_e164(req.phone_number)) {
      return invalid("PhoneNumber Reason: " + req.phone_number + " is not valid to publish to");
    }
  } else {
    if (req.topic_arn.empty()) {
      return invalid("TopicArn or TargetArn Reason: no value for required parameter");
    }
    parsed = parse_arn(req.topic_arn);
    if (!parsed || parsed->service != "sns") return invalid("TopicArn");
  }
  if (req.message.empty()) return invalid("Empty message");
  size_t size = req.message.size();
  for (const auto& [name, a] : req.message_attributes) {
    size += name.size() + a.data_type.size() + a.string_value.size() + a.binary_value.size();
  }
  if (size > kMaxMessageBytes) return invalid("Message too long");
  if (!req.subject.empty()) {
    bool ok = req.subject.size() <= 100 &&
              std::all_of(req.subject.begin(), req.subject.end(), [](char c) {
                return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
              });
    if (!ok) return invalid("Subject");
  }
  std::string sqs_message = req.message;
  std::map<std::string, std::string> per_protocol;  // MessageStructure=json
  if (!req.message_structure.empty()) {
    if (req.message_structure != "json") return invalid("MessageStructure");
    boost::system::error_code ec;
    json::value v = json::parse(req.message, ec);
    if (ec || !v.is_object()) {
      return invalid("Message Structure - JSON message body failed to parse");
    }
    const auto& o = v.as_object();
    auto d = o.find("default");
    if (d == o.end() || !d->value().is_string()) {
      return invalid("Message Structure - No default entry in JSON message body");
    }
    for (const auto& [k, e] : o) {
      if (e.is_string()) per_protocol[std::string(k)] = std::string(e.as_string());
    }
    sqs_message = per_protocol.count("sqs") ? per_protocol["sqs"] : per_protocol["default"];
  }
  if (auto ok = check_message_attributes(req.message_attributes); !ok) return fail(ok.error());
  // The message a protocol (or mobile platform) gets: its MessageStructure=json key, else default.
  auto message_for = [&](const std::string& key) -> std::string {
    if (per_protocol.empty()) return req.message;
    auto it = per_protocol.find(key);
    return it != per_protocol.end() ? it->second : per_protocol["default"];
  };
  auto outbox_entry = [&](const std::string& protocol, const std::string& destination,
                          const std::string& message, const std::string& message_id, int64_t now) {
    OutboxEntry e;
    e.timestamp_ms = now;
    e.protocol = protocol;
    e.destination = destination;
    e.message = message;
    e.subject = req.subject;
    e.message_id = message_id;
    e.attributes_json = json::serialize(Impl::attributes_json(req));
    return e;
  };

  std::shared_lock lock(impl_->mu);
  bool to_endpoint = parsed && parsed->resource.rfind("endpoint/", 0) == 0;
  if (!req.phone_number.empty() || to_endpoint) {  // one SMS, or one mobile push
    std::string protocol = to_endpoint ? "application" : "sms";
    std::string message = message_for("sms");
    if (to_endpoint) {
      auto ep = impl_->endpoints.find(req.topic_arn);
      if (ep == impl_->endpoints.end()) {
        return invalid("TargetArn Reason: No endpoint found for the target arn specified");
      }
      auto enabled = ep->second.attributes.find("Enabled");
      if (enabled != ep->second.attributes.end() && lower(enabled->second) == "false") {
        return error(Errc::kEndpointDisabled, "Endpoint is disabled");
      }
      message = message_for(impl_->applications.at(ep->second.application_arn).platform);
    }
    PublishResult result;
    result.message_id = base::uuid4();
    int64_t now = impl_->clock.now_ms();
    storage::WriteBatch batch;
    bool queued;
    {
      std::lock_guard dlock(impl_->dmu);
      queued = impl_->add_outbox_locked(
          outbox_entry(protocol, to_endpoint ? req.topic_arn : req.phone_number, message,
                       result.message_id, now),
          batch);
    }
    impl_->store.write(std::move(batch), storage::Durability::kSync, std::move(done));
    if (queued) impl_->wake_listener();
    return result;
  }
  auto t = impl_->find_topic(req.topic_arn);
  if (!t) return fail(t.error());
  Topic& topic = **t;
  if (topic.fifo) {
    if (req.message_group_id.empty()) {
      return invalid("The MessageGroupId parameter is required for FIFO topics");
    }
    if (req.deduplication_id.empty()) {
      if (!topic.content_based_dedup()) {
        return invalid(
            "The topic should either have ContentBasedDeduplication enabled or "
            "MessageDeduplicationId provided explicitly");
      }
      req.deduplication_id = base::sha256_hex(req.message);
    }
  } else if (!req.deduplication_id.empty()) {
    return invalid(
        "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter "
        "that is not valid for this topic type");
  }

  std::lock_guard publishing(topic.publish_mu);
  int64_t now = impl_->clock.now_ms();
  // Written with the publish: the expired deduplication records it evicts, its own record (a
  // FIFO topic's window survives a restart), its deliveries.
  storage::WriteBatch batch;
  if (topic.fifo) {
    topic.evict_dedup(now, batch);
    if (auto it = topic.dedup.find(req.deduplication_id); it != topic.dedup.end()) {
      if (!batch.empty()) impl_->store.write(std::move(batch), storage::Durability::kLazy, {});
      done(true);
      return it->second.result;
    }
  }
  PublishResult result;
  result.message_id = base::uuid4();
  bool sweep_sooner = false;
  if (topic.fifo) {
    topic.last_sequence = std::max(topic.last_sequence + 1, now * 1000);
    char buf[24];
    std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(topic.last_sequence));
    result.sequence_number = buf;
    topic.dedup[req.deduplication_id] = {result, now + kDedupWindowMs};
    topic.dedup_order.emplace_back(now + kDedupWindowMs, req.deduplication_id);
    json::object record;
    record["id"] = result.message_id;
    record["seq"] = result.sequence_number;
    record["expires"] = now + kDedupWindowMs;
    batch.put(topic.dedup_key(req.deduplication_id), json::serialize(record));
    // Wakes the driver if it knew of no record, so that it does not sleep past this one's end.
    sweep_sooner = impl_->schedule_sweep(now + kDedupWindowMs);
  }

  // Which subscriptions get it: those without a filter policy, and those whose policy matches.
  std::set<std::string> matched;
  {
    std::vector<pattern::Attribute> attrs;
    for (const auto& [name, a] : req.message_attributes) {
      attrs.push_back({name, a.data_type, a.string_value});
    }
    for (auto& id : topic.matcher.match_attributes(attrs)) matched.insert(std::move(id));
    for (auto& id : topic.matcher.match(sqs_message)) matched.insert(std::move(id));
  }

  auto join = std::make_shared<Join>();
  join->done = std::move(done);
  std::string timestamp = iso8601(now);
  std::map<std::string, std::string> signatures;  // by message text: one RSA signature each
  auto body_for = [&](const Subscription& s, const std::string& message) {
    if (s.raw()) return message;
    auto sig = signatures.find(message);
    if (sig == signatures.end()) {
      sig = signatures
                .emplace(message, impl_->sign_notification(topic, result.message_id, req.subject,
                                                           message, timestamp))
                .first;
    }
    return impl_->envelope(topic, s, result.message_id, result.sequence_number, req, message,
                           timestamp, sig->second);
  };
  std::vector<sqs::Engine::QueueSend> sends;  // to local queues, written with everything else
  std::optional<std::string> raw_md5;         // of sqs_message, if valid for SQS (else "")
  std::vector<Delivery> http_deliveries;
  std::vector<OutboxEntry> outboxed;
  std::vector<std::string> undeliverable;
  for (const auto& arn : topic.subscriptions) {
    const Subscription& s = impl_->subscriptions.at(arn);
    if (!s.confirmed) continue;
    if (s.has_filter() && !matched.count(arn)) continue;
    if (s.queue) {  // sqs, the common case first
      sqs::SendRequest send;
      send.attribute_md5s_wanted = false;
      if (s.raw()) {
        // Every raw delivery carries the same body: check it and hash it once per publish.
        if (!raw_md5) {
          raw_md5 = sqs::validate_body(sqs_message) ? base::md5_hex(sqs_message) : std::string();
        }
        send.body = sqs_message;
        send.checked_md5_of_body = *raw_md5;
        for (const auto& [name, a] : req.message_attributes) {
          send.message_attributes[name] = {a.data_type, a.string_value, a.binary_value};
        }
      } else {
        send.body = body_for(s, sqs_message);
      }
      if (ends_with(s.queue->name, ".fifo")) {
        send.message_group_id = req.message_group_id;
        send.deduplication_id = req.deduplication_id;
      } else if (topic.fifo) {
        continue;
      }
      // A queue that does not exist, or refuses the message, loses this delivery, as on AWS
      // (where it would count as a failed delivery).
      sends.push_back({*s.queue, {}});
      sends.back().requests.push_back(std::move(send));
      continue;
    }
    if (s.protocol == "email" || s.protocol == "email-json") {
      std::string message = message_for(s.protocol);
      Delivery d;
      d.protocol = s.protocol;
      d.subscription_arn = s.arn;
      d.topic_arn = topic.arn;
      d.endpoint = s.endpoint;
      d.message_type = "Notification";
      d.message_id = result.message_id;
      d.body = s.protocol == "email" ? impl_->email_text(s, message) : body_for(s, message);
      d.subject = req.subject.empty() ? "AWS Notification Message" : req.subject;
      d.sender_name = impl_->sender_name(topic);
      d.due_ms = now;
      http_deliveries.push_back(std::move(d));
      continue;
    }
    if (s.protocol == "sms" || s.protocol == "application") {
      std::string message = message_for("sms");
      if (s.protocol == "application") {
        auto ep = impl_->endpoints.find(s.endpoint);
        if (ep == impl_->endpoints.end()) continue;  // deleted endpoint: nothing to push to
        auto enabled = ep->second.attributes.find("Enabled");
        if (enabled != ep->second.attributes.end() && lower(enabled->second) == "false") continue;
        message = message_for(impl_->applications.at(ep->second.application_arn).platform);
      }
      OutboxEntry e = outbox_entry(s.protocol, s.endpoint, message, result.message_id, now);
      e.topic_arn = topic.arn;
      e.subscription_arn = s.arn;
      outboxed.push_back(std::move(e));
      continue;
    }
    if (s.protocol == "lambda" || s.protocol == "firehose") {
      undeliverable.push_back(s.arn);
      continue;
    }
    if (s.protocol == "http" || s.protocol == "https") {
      std::string message = req.message;
      if (!per_protocol.empty()) {
        message =
            per_protocol.count(s.protocol) ? per_protocol[s.protocol] : per_protocol["default"];
      }
      Delivery d;
      d.protocol = s.protocol;
      d.subscription_arn = s.arn;
      d.topic_arn = topic.arn;
      d.endpoint = s.endpoint;
      d.message_type = "Notification";
      d.message_id = result.message_id;
      d.body = body_for(s, message);
      d.raw = s.raw();
      d.due_ms = now;
      http_deliveries.push_back(std::move(d));
      continue;
    }
    // Anything else (an sqs endpoint that names no queue, other protocols): see README.
  }
  if (!undeliverable.empty()) {
    std::lock_guard dlock(impl_->dmu);
    impl_->stats.undeliverable += undeliverable.size();
    for (const auto& arn : undeliverable) {
      if (impl_->undeliverable_logged.insert(arn).second) {
        spdlog::warn(
            "sns: subscription {} ({}) cannot be delivered by Ferry; its messages are counted "
            "as undeliverable (logged once per subscription)",
            arn, impl_->subscriptions.at(arn).protocol);
      }
    }
  }
  // One atomic write: the deliveries to local queues, the pending http/email deliveries, the
  // outbox entries and the deduplication record are durable together, or (on a failed write)
  // none is acknowledged.
  if (!sends.empty() || !http_deliveries.empty() || !outboxed.empty() || !batch.empty()) {
    bool wake = !http_deliveries.empty() || sweep_sooner;
    {
      std::lock_guard dlock(impl_->dmu);
      for (auto& d : http_deliveries) impl_->queue_delivery_locked(std::move(d), batch);
      for (auto& e : outboxed) wake |= impl_->add_outbox_locked(std::move(e), batch);
    }
    impl_->sqs.send_to_queues(std::move(sends), std::move(batch), Join::add(join));
    if (wake) impl_->wake_listener();
  }
  join->finish(true);  // done may run here, under the locks: it must not re-enter the engine
  return result;
}

// --- HTTP(S) deliveries -----------------------------------------------------------------------

namespace {

// One phase-structured retry policy as AWS's DeliveryPolicy describes it.
struct RetryPolicy {
  int min_delay_s = 20;
  int max_delay_s = 20;
  int num_retries = 3;
  int no_delay_retries = 0;
  int min_delay_retries = 0;
  int max_delay_retries = 0;
  std::string backoff = "linear";
};

int int_of(const json::object& o, std::string_view key, int fallback) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  if (it->value().is_int64()) return static_cast<int>(it->value().as_int64());
  if (it->value().is_uint64()) return static_cast<int>(it->value().as_uint64());
  if (it->value().is_double()) return static_cast<int>(it->value().as_double());
  return fallback;
}

void apply_policy(const json::object& p, RetryPolicy& r) {
  r.min_delay_s = int_of(p, "minDelayTarget", r.min_delay_s);
  r.max_delay_s = int_of(p, "maxDelayTarget", r.max_delay_s);
  r.num_retries = int_of(p, "numRetries", r.num_retries);
  r.no_delay_retries = int_of(p, "numNoDelayRetries", r.no_delay_retries);
  r.min_delay_retries = int_of(p, "numMinDelayRetries", r.min_delay_retries);
  r.max_delay_retries = int_of(p, "numMaxDelayRetries", r.max_delay_retries);
  if (auto b = str(p, "backoffFunction"); !b.empty()) r.backoff = b;
}

const json::object* path_object(const json::value& v,
                                std::initializer_list<std::string_view> path) {
  const json::value* cur = &v;
  for (auto key : path) {
    if (!cur->is_object()) return nullptr;
    cur = cur->as_object().if_contains(key);
    if (cur == nullptr) return nullptr;
  }
  return cur->if_object();
}

// The DeliveryPolicy attribute of a topic or subscription, parsed; nullopt if absent or not JSON.
std::optional<json::value> delivery_policy(const AttributeMap* attributes) {
  if (attributes == nullptr) return std::nullopt;
  auto it = attributes->find("DeliveryPolicy");
  if (it == attributes->end()) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(it->second, ec);
  if (ec) return std::nullopt;
  return v;
}

// Calls `apply` with the topic's http.<topic_key> object, then with the subscription's <sub_key>
// object unless the topic sets http.disableSubscriptionOverrides: the later one wins.
template <class Apply>
void resolve_policy(const AttributeMap* sub, const AttributeMap* topic, std::string_view topic_key,
                    std::string_view sub_key, Apply apply) {
  bool overrides = true;
  if (auto v = delivery_policy(topic)) {
    if (auto* p = path_object(*v, {"http", topic_key})) apply(*p);
    if (auto* h = path_object(*v, {"http"})) {
      auto d = h->find("disableSubscriptionOverrides");
      overrides = !(d != h->end() && d->value().is_bool() && d->value().as_bool());
    }
  }
  if (!overrides) return;
  if (auto v = delivery_policy(sub)) {
    if (auto* p = path_object(*v, {sub_key})) apply(*p);
  }
}

// The subscription's healthyRetryPolicy, else the topic's http defaultHealthyRetryPolicy, else
// AWS's default for http/s endpoints.
RetryPolicy retry_policy(const AttributeMap* sub, const AttributeMap* topic) {
  RetryPolicy r;
  resolve_policy(sub, topic, "defaultHealthyRetryPolicy", "healthyRetryPolicy",
                 [&](const json::object& p) { apply_policy(p, r); });
  return r;
}

// maxReceivesPerSecond of the subscription's throttlePolicy, else of the topic's http
// defaultThrottlePolicy; 0: unlimited.
int max_receives_per_second(const AttributeMap* sub, const AttributeMap* topic) {
  int limit = 0;
  resolve_policy(sub, topic, "defaultThrottlePolicy", "throttlePolicy",
                 [&](const json::object& p) { limit = int_of(p, "maxReceivesPerSecond", limit); });
  return std::max(limit, 0);
}

// AWS's fixed policy for customer-managed endpoints (email, email-json, sms, application): no
// immediate retries, 2 retries 10 s apart, 10 with exponential backoff from 10 s to 600 s,
// then 38 retries 600 s apart (SNS Developer Guide, "Amazon SNS message delivery retries").
RetryPolicy customer_managed_policy() {
  RetryPolicy r;
  r.min_delay_s = 10;
  r.max_delay_s = 600;
  r.num_retries = 50;
  r.no_delay_retries = 0;
  r.min_delay_retries = 2;
  r.max_delay_retries = 38;
  r.backoff = "exponential";
  return r;
}

bool customer_managed(const std::string& protocol) {
  return protocol == "email" || protocol == "email-json" || protocol == "sms" ||
         protocol == "application";
}

// Delay before retry number `retry` (1-based): no-delay phase, min-delay phase, backoff phase
// from minDelayTarget to maxDelayTarget, then max-delay phase.
int64_t retry_delay_ms(const RetryPolicy& p, int retry) {
  int backoff =
      std::max(0, p.num_retries - p.no_delay_retries - p.min_delay_retries - p.max_delay_retries);
  if (retry <= p.no_delay_retries) return 0;
  retry -= p.no_delay_retries;
  if (retry <= p.min_delay_retries) return p.min_delay_s * 1000LL;
  retry -= p.min_delay_retries;
  if (retry > backoff) return p.max_delay_s * 1000LL;
  double lo = p.min_delay_s, hi = std::max(p.max_delay_s, p.min_delay_s);
  double f = backoff <= 1 ? 1.0 : static_cast<double>(retry - 1) / (backoff - 1);
  double delay;
  if (p.backoff == "exponential" || p.backoff == "geometric") {
    delay = lo * std::pow(hi / std::max(lo, 1.0), f);
  } else {
    delay = lo + (hi - lo) * f;  // linear and arithmetic
  }
  return static_cast<int64_t>(delay * 1000);
}

}  // namespace

std::vector<Delivery> Engine::take_due_deliveries(size_t max) {
  std::shared_lock lock(impl_->mu);
  std::lock_guard dlock(impl_->dmu);
  std::vector<Delivery> out;
  int64_t now = impl_->clock.now_ms();
  storage::WriteBatch dropped;
  while (out.size() < max && !impl_->due.empty() && impl_->due.begin()->first <= now) {
    uint64_t id = impl_->due.begin()->second;
    impl_->due.erase(impl_->due.begin());
    auto it = impl_->deliveries.find(id);
    if (it == impl_->deliveries.end()) continue;
    auto sub = impl_->subscriptions.find(it->second.subscription_arn);
    // A delivery without a subscription is a gateway post of a direct Publish.
    bool live = it->second.subscription_arn.empty() ||
                (sub != impl_->subscriptions.end() &&
                 (sub->second.confirmed || it->second.message_type != "Notification"));
    if (!live) {  // unsubscribed, or its topic was deleted
      dropped.del(Impl::delivery_key(id));
      impl_->deliveries.erase(it);
      continue;
    }
    const Delivery& d = it->second;
    if ((d.protocol == "http" || d.protocol == "https") && d.message_type == "Notification") {
      auto topic = impl_->topics.find(d.topic_arn);
      int limit = max_receives_per_second(&sub->second.attributes, topic != impl_->topics.end()
                                                                       ? &topic->second->attributes
                                                                       : nullptr);
      if (limit > 0) {  // at most `limit` in any one second, whatever its phase
        auto& sent = impl_->throttles[d.subscription_arn];
        while (!sent.empty() && sent.front() <= now - 1000) sent.pop_front();
        if (sent.size() >= static_cast<size_t>(limit)) {
          // Due again when the `limit`-th latest leaves the second before it.
          impl_->due.emplace(sent[sent.size() - limit] + 1000, id);
          continue;
        }
        sent.push_back(now);
      }
    }
    out.push_back(d);
  }
  if (!dropped.empty()) {
    impl_->store.write(std::move(dropped), storage::Durability::kLazy, [](bool) {});
  }
  return out;
}

std::optional<int64_t> Engine::next_delivery_ms() const {
  std::lock_guard dlock(impl_->dmu);
  if (impl_->due.empty()) return std::nullopt;
  return impl_->due.begin()->first;
}

void Engine::delivery_succeeded(uint64_t id) {
  std::lock_guard dlock(impl_->dmu);
  if (impl_->deliveries.erase(id) == 0) return;
  impl_->stats.delivered++;
  storage::WriteBatch b;
  b.del(Impl::delivery_key(id));
  impl_->store.write(std::move(b), storage::Durability::kLazy, [](bool) {});
}

void Engine::delivery_failed(uint64_t id, const std::string& reason, bool permanent) {
  std::optional<sqs::QueueId> dlq;
  sqs::SendRequest dead;
  {
    std::shared_lock lock(impl_->mu);
    std::lock_guard dlock(impl_->dmu);
    auto it = impl_->deliveries.find(id);
    if (it == impl_->deliveries.end()) return;
    Delivery& d = it->second;
    auto sub = impl_->subscriptions.find(d.subscription_arn);
    auto topic = impl_->topics.find(d.topic_arn);
    RetryPolicy policy =
        customer_managed(d.protocol)
            ? customer_managed_policy()
            : retry_policy(sub != impl_->subscriptions.end() ? &sub->second.attributes : nullptr,
                           topic != impl_->topics.end() ? &topic->second->attributes : nullptr);
    d.attempts++;
    storage::WriteBatch b;
    if (!permanent && d.attempts <= policy.num_retries) {
      int64_t delay = retry_delay_ms(policy, d.attempts);
      if (impl_->options.retry_jitter > 0 && delay > 0) {
        uint32_t r = 0;
        base::random_bytes(reinterpret_cast<uint8_t*>(&r), sizeof r);
        double u = static_cast<double>(r) / 4294967295.0 * 2 - 1;  // [-1, 1]
        delay = static_cast<int64_t>(static_cast<double>(delay) *
                                     (1 + impl_->options.retry_jitter * u));
      }
      d.due_ms = impl_->clock.now_ms() + delay;
      impl_->due.insert({d.due_ms, d.id});
      impl_->stats.retried++;
      b.put(Impl::delivery_key(id), Impl::delivery_record(d));
    } else {
      if (d.message_type == "Notification" && sub != impl_->subscriptions.end()) {
        auto rp = sub->second.attributes.find("RedrivePolicy");
        if (rp != sub->second.attributes.end()) {
          boost::system::error_code ec;
          json::value v = json::parse(rp->second, ec);
          auto arn = !ec && v.is_object() ? parse_arn(str(v.as_object(), "deadLetterTargetArn"))
                                          : std::nullopt;
          if (arn) {
            dlq = sqs::QueueId{arn->account, arn->resource};
            dead.body = d.body;
            dead.message_attributes["ErrorCode"] = {"String", "EndpointUnavailable", ""};
            dead.message_attributes["ErrorMessage"] = {"String", reason.empty() ? "failed" : reason,
                                                       ""};
            dead.message_attributes["RequestID"] = {"String", d.message_id, ""};
          }
        }
      }
      (dlq ? impl_->stats.dead_lettered : impl_->stats.dropped)++;
      b.del(Impl::delivery_key(id));
      impl_->deliveries.erase(it);
    }
    impl_->store.write(std::move(b), storage::Durability::kLazy, [](bool) {});
  }
  if (dlq) {
    auto sent = impl_->sqs.send_message(*dlq, std::move(dead), [](bool) {});
    (void)sent;  // a dead-letter queue that is gone loses the message, as on AWS
  }
}

std::optional<int64_t> Engine::sweep() {
  std::lock_guard sweeping(impl_->sweep_mu);
  auto next_due = [this]() -> std::optional<int64_t> {
    int64_t due = impl_->next_sweep_ms.load();
    if (due == kNothingToSweep) return std::nullopt;
    return due;
  };
  int64_t now = impl_->clock.now_ms();
  if (now < impl_->next_sweep_ms.load()) return next_due();
  // From here on, publishes lower it themselves for the records they add.
  impl_->next_sweep_ms.store(kNothingToSweep);
  int64_t next = kNothingToSweep;
  {
    std::shared_lock lock(impl_->mu);
    for (auto& [arn, topic] : impl_->topics) {
      if (!topic->fifo) continue;
      std::lock_guard publishing(topic->publish_mu);
      storage::WriteBatch expired;
      topic->evict_dedup(now, expired);
      // Under publish_mu, so that a later publish of the same id writes its record after this.
      if (!expired.empty()) {
        impl_->store.write(std::move(expired), storage::Durability::kLazy, [](bool) {});
      }
      if (!topic->dedup_order.empty()) next = std::min(next, topic->dedup_order.front().first);
    }
  }
  if (next != kNothingToSweep) impl_->schedule_sweep(std::max(next, now + kSweepPeriodMs));
  return next_due();
}

void Engine::set_delivery_listener(std::function<void()> wake) {
  std::lock_guard dlock(impl_->dmu);
  impl_->listener = std::move(wake);
}

DeliveryStats Engine::delivery_stats() const {
  std::lock_guard dlock(impl_->dmu);
  return impl_->stats;
}

// --- mobile push ----------------------------------------------------------------------------

namespace {

const std::set<std::string>& platforms() {
  static const std::set<std::string> names = {
      "ADM",   "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX",
      "BAIDU", "GCM",  "MPNS",         "WNS"};
  return names;
}

const std::set<std::string>& application_attribute_names() {
  static const std::set<std::string> names = {
      "PlatformCredential",     "PlatformPrincipal",      "EventEndpointCreated",
      "EventEndpointDeleted",   "EventEndpointUpdated",   "EventDeliveryFailure",
      "SuccessFeedbackRoleArn", "FailureFeedbackRoleArn", "SuccessFeedbackSampleRate",
      "ApplePlatformTeamID",    "ApplePlatformBundleID",  "Enabled"};
  return names;
}

Result<base::Ok> check_application_attributes(const AttributeMap& attrs) {
  for (const auto& [k, v] : attrs) {
    if (!application_attribute_names().count(k)) {
      return invalid("Attributes Reason: Invalid attribute name: " + k);
    }
    if (k == "Enabled" && !parse_bool(v)) return invalid("Attributes Reason: Enabled");
    if (k == "SuccessFeedbackSampleRate") {
      bool digits = !v.empty() && v.size() <= 3 && std::all_of(v.begin(), v.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      });
      if (!digits || std::stoi(v) > 100) {
        return invalid("Attributes Reason: SuccessFeedbackSampleRate must be between 0 and 100");
      }
    }
    if (k.rfind("Event", 0) == 0 && !v.empty()) {
      auto arn = parse_arn(v);
      if (!arn || arn->service != "sns") return invalid("Attributes Reason: " + k + " is invalid");
    }
  }
  return base::Ok{};
}

Result<base::Ok> check_endpoint_attributes(const AttributeMap& attrs) {
  for (const auto& [k, v] : attrs) {
    if (k != "CustomUserData" && k != "Enabled" && k != "Token") {
      return invalid("Attributes Reason: Invalid attribute name: " + k);
    }
    if (k == "Enabled" && !parse_bool(v)) {
      return invalid("Attributes Reason: Enabled must be true or false");
    }
    if (k == "Token" && v.empty()) return invalid("Attributes Reason: Token must not be empty");
    if (k == "CustomUserData" && v.size() > 2048) {
      return invalid("Attributes Reason: CustomUserData must be at most 2048 bytes");
    }
  }
  return base::Ok{};
}

// GetPlatformApplicationAttributes leaves the credentials out, as AWS does.
AttributeMap visible_application_attributes(const AttributeMap& attrs) {
  AttributeMap out = attrs;
  out.erase("PlatformCredential");
  out.erase("PlatformPrincipal");
  if (!out.count("Enabled")) out["Enabled"] = "true";
  return out;
}

std::string application_record(const std::string& account, const std::string& name,
                               const std::string& platform, const AttributeMap& attrs) {
  json::object o;
  o["account"] = account;
  o["name"] = name;
  o["platform"] = platform;
  o["attributes"] = to_json(attrs);
  return json::serialize(o);
}

std::string endpoint_record(const std::string& application_arn, const AttributeMap& attrs) {
  json::object o;
  o["application"] = application_arn;
  o["attributes"] = to_json(attrs);
  return json::serialize(o);
}

bool is_application_arn(const std::string& arn) {
  auto a = parse_arn(arn);
  return a && a->service == "sns" && a->resource.rfind("app/", 0) == 0;
}

bool is_endpoint_arn(const std::string& arn) {
  auto a = parse_arn(arn);
  return a && a->service == "sns" && a->resource.rfind("endpoint/", 0) == 0;
}

}  // namespace

Result<std::string> Engine::create_platform_application(const std::string& account,
                                                        const std::string& name,
                                                        const std::string& platform,
                                                        const AttributeMap& attributes,
                                                        storage::WriteCallback done) {
  if (name.empty() || name.size() > 256 || !std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      })) {
    return invalid(
        "Name Reason: must be between 1 and 256 characters long and contain only letters, "
        "numbers, hyphens, underscores and periods");
  }
  if (!platforms().count(platform)) {
    return invalid("Platform Reason: " + platform + " is not supported");
  }
  if (auto ok = check_application_attributes(attributes); !ok) return fail(ok.error());
  if (!attributes.count("PlatformCredential") || attributes.at("PlatformCredential").empty()) {
    return invalid("Attributes Reason: PlatformCredential attribute is required");
  }
  static const std::set<std::string> kNeedPrincipal = {
      "ADM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "BAIDU", "WNS"};
  if (kNeedPrincipal.count(platform) &&
      (!attributes.count("PlatformPrincipal") || attributes.at("PlatformPrincipal").empty())) {
    return invalid("Attributes Reason: PlatformPrincipal attribute is required for " + platform);
  }
  std::string arn =
      "arn:aws:sns:" + impl_->options.region + ":" + account + ":app/" + platform + "/" + name;
  std::unique_lock lock(impl_->mu);
  if (auto it = impl_->applications.find(arn); it != impl_->applications.end()) {
    if (it->second.attributes != attributes) {
      return invalid(
          "Name Reason: An application with the same name but different properties already "
          "exists");
    }
    lock.unlock();
    done(true);
    return arn;
  }
  impl_->applications[arn] = {account, name, platform, attributes};
  storage::WriteBatch b;
  b.put(kApplicationPrefix + arn, application_record(account, name, platform, attributes));
  impl_->store.write(std::move(b), storage::Durability::kSync, std::move(done));
  return arn;
}

Result<AttributeMap> Engine::get_platform_application_attributes(const std::string& arn) const {
  if (!is_application_arn(arn)) return invalid("PlatformApplicationArn");
  std::shared_lock lock(impl_->mu);
  auto it = impl_->applications.find(arn);
  if (it == impl_->applications.end()) {
    return error(Errc::kNotFound, "PlatformApplication does not exist");
  }
  return visible_application_attributes(it->second.attributes);
}

Result<base::Ok> Engine::set_platform_application_attributes(const std::string& arn,
                                                             const AttributeMap& attributes,
                                                             storage::WriteCallback done) {
  if (!is_application_arn(arn)) return invalid("PlatformApplicationArn");
  if (auto ok = check_application_attributes(attributes); !ok) return fail(ok.error());
  std::unique_lock lock(impl_->mu);
  auto it = impl_->applications.find(arn);
  if (it == impl_->applications.end()) {
    return error(Errc::kNotFound, "PlatformApplication does not exist");
  }
  auto& app = it->second;
  for (const auto& [k, v] : attributes) app.attributes[k] = v;
  storage::WriteBatch b;
  b.put(kApplicationPrefix + arn,
        application_record(app.account, app.name, app.platform, app.attributes));
  impl_->store.write(std::move(b), storage::Durability::kSync, std::move(done));
  return base::Ok{};
}

Result<Page<PlatformResource>> Engine::list_platform_applications(
    const std::string& account, const std::string& next_token) const {
  std::shared_lock lock(impl_->mu);
  Page<PlatformResource> page;
  auto& apps = impl_->applications;
  auto it = next_token.empty() ? apps.begin() : apps.upper_bound(next_token);
  for (; it != apps.end(); ++it) {
    if (it->second.account != account) continue;
    if (page.items.size() ==
        static_cast<size_t>(std::max(1, impl_->options.platform_application_page_size))) {
      page.next_token = page.items.back().arn;
      break;
    }
    page.items.push_back({it->first, visible_application_attributes(it->second.attributes)});
  }
  return page;
}

Result<base::Ok> Engine::delete_platform_application(const std::string& arn,
                                                     storage::WriteCallback done) {
  if (!is_application_arn(arn)) return invalid("PlatformApplicationArn");
  std::unique_lock lock(impl_->mu);
  storage::WriteBatch b;
  b.del(kApplicationPrefix + arn);
  for (auto it = impl_->endpoints.begin(); it != impl_->endpoints.end();) {
    if (it->second.application_arn == arn) {
      b.del(kEndpointPrefix + it->first);
      it = impl_->endpoints.erase(it);
    } else {
      ++it;
    }
  }
  impl_->applications.erase(arn);
  impl_->store.write(std::move(b), storage::Durability::kSync, std::move(done));
  return base::Ok{};
}

Result<std::string> Engine::create_platform_endpoint(const std::string& application_arn,
                                                     const std::string& token,
                                                     const std::string& custom_user_data,
                                                     const AttributeMap& attributes,
                                                     storage::WriteCallback done) {
  if (!is_application_arn(application_arn)) return invalid("PlatformApplicationArn");
  if (token.empty()) return invalid("Token Reason: Token must not be empty");
  if (auto ok = check_endpoint_attributes(attributes); !ok) return fail(ok.error());
  AttributeMap attrs = attributes;
  attrs["Token"] = token;
  if (!custom_user_data.empty()) attrs["CustomUserData"] = custom_user_data;
  if (!attrs.count("Enabled")) attrs["Enabled"] = "true";
  attrs["Enabled"] = lower(attrs["Enabled"]);
  std::unique_lock lock(impl_->mu);
  auto app = impl_->applications.find(application_arn);
  if (app == impl_->applications.end()) {
    return error(Errc::kNotFound, "PlatformApplication does not exist");
  }
  for (const auto& [arn, ep] : impl_->endpoints) {
    if (ep.application_arn != application_arn) continue;
    auto t = ep.attributes.find("Token");
    if (t == ep.attributes.end() || t->second != token) continue;
    if (ep.attributes != attrs) {
      return invalid("Token Reason: Endpoint " + arn +
                     " already exists with the same Token, but different attributes.");
    }
    std::string existing = arn;
    lock.unlock();
    done(true);
    return existing;
  }
  std::string arn = "arn:aws:sns:" + impl_->options.region + ":" + app->second.account +
                    ":endpoint/" + app->second.platform + "/" + app->second.name + "/" +
                    base::uuid4();
  impl_->endpoints[arn] = {application_arn, attrs};
  storage::WriteBatch b;
  b.put(kEndpointPrefix + arn, endpoint_record(application_arn, attrs));
  impl_->store.write(std::move(b), storage::Durability::kSync, std::move(done));
  return arn;
}

Result<AttributeMap> Engine::get_endpoint_attributes(const std::string& arn) const {
  if (!is_endpoint_arn(arn)) return invalid("EndpointArn");
  std::shared_lock lock(impl_->mu);
  auto it = impl_->endpoints.find(arn);
  if (it == impl_->endpoints.end()) return error(Errc::kNotFound, "Endpoint does not exist");
  return it->second.attributes;
}

Result<base::Ok> Engine::set_endpoint_attributes(const std::string& arn,
                                                 const AttributeMap& attributes,
                                                 storage::WriteCallback done) {
  if (!is_endpoint_arn(arn)) return invalid("EndpointArn");
  if (auto ok = check_endpoint_attributes(attributes); !ok) return fail(ok.error());
  std::unique_lock lock(impl_->mu);
  auto it = impl_->endpoints.find(arn);
  if (it == impl_->endpoints.end()) return error(Errc::kNotFound, "Endpoint does not exist");
  for (const auto& [k, v] : attributes) {
    it->second.attributes[k] = k == "Enabled" ? lower(v) : v;
  }
  storage::WriteBatch b;
  b.put(kEndpointPrefix + arn, endpoint_record(it->second.application_arn, it->second.attributes));
  impl_->store.write(std::move(b), storage::Durability::kSync, std::move(done));
  return base::Ok{};
}

Result<Page<PlatformResource>> Engine::list_endpoints_by_platform_application(
    const std::string& application_arn, const std::string& next_token) const {
  if (!is_application_arn(application_arn)) return invalid("PlatformApplicationArn");
  std::shared_lock lock(impl_->mu);
  if (!impl_->applications.count(application_arn)) {
    return error(Errc::kNotFound, "PlatformApplication does not exist");
  }
  Page<PlatformResource> page;
  auto& eps = impl_->endpoints;
  auto it = next_token.empty() ? eps.begin() : eps.upper_bound(next_token);
  for (; it != eps.end(); ++it) {
    if (it->second.application_arn != application_arn) continue;
    if (page.items.size() == static_cast<size_t>(std::max(1, impl_->options.endpoint_page_size))) {
      page.next_token = page.items.back().arn;
      break;
    }
    page.items.push_back({it->first, it->second.attributes});
  }
  return page;
}

Result<base::Ok> Engine::delete_endpoint(const std::string& arn, storage::WriteCallback done) {
  if (!is_endpoint_arn(arn)) return invalid("EndpointArn");
  std::unique_lock lock(impl_->mu);
  impl_->endpoints.erase(arn);
  storage::WriteBatch b;
  b.del(kEndpointPrefix + arn);
  impl_->store.write(std::move(b), storage::Durability::kSync, std::move(done));
  return base::Ok{};
}

// --- outbox ---------------------------------------------------------------------------------

std::vector<OutboxEntry> Engine::outbox(const std::string& phone_number,
                                        const std::string& endpoint_arn) const {
  std::lock_guard dlock(impl_->dmu);
  std::vector<OutboxEntry> out;
  for (const auto& e : impl_->outbox) {
    if (!phone_number.empty() && (e.protocol != "sms" || e.destination != phone_number)) continue;
    if (!endpoint_arn.empty() && (e.protocol != "application" || e.destination != endpoint_arn)) {
      continue;
    }
    out.push_back(e);
  }
  return out;
}

void Engine::clear_outbox(storage::WriteCallback done) {
  storage::WriteBatch b;
  {
    std::lock_guard dlock(impl_->dmu);
    for (const auto& e : impl_->outbox) b.del(Impl::outbox_key(e.seq));
    impl_->outbox.clear();
  }
  if (b.empty()) {
    done(true);
    return;
  }
  impl_->store.write(std::move(b), storage::Durability::kSync, std::move(done));
}

const std::string& Engine::signing_certificate_pem() const {
  return impl_->signer->certificate_pem();
}

}  // namespace ferry::sns
