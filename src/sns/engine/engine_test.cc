#include "sns/engine/engine.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/json.hpp>

#include "base/clock.h"
#include "base/crypto.h"
#include "storage/memory_store.h"

namespace ferry::sns {
namespace {

constexpr char kAccount[] = "123456789012";
const std::string kTopicArn = "arn:aws:sns:us-east-1:123456789012:t";

class SnsEngineTest : public ::testing::Test {
 protected:
  SnsEngineTest() : sqs_(store_, clock_) { restart(); }

  void restart() {
    engine_.reset();
    EngineOptions options = options_;
    options.retry_jitter = 0;  // exact retry times
    engine_ = std::make_unique<Engine>(store_, clock_, sqs_, options);
    engine_->recover();
  }
  Engine& engine() { return *engine_; }

  std::string create_topic(const std::string& name = "t", const AttributeMap& attrs = {},
                           const TagMap& tags = {}) {
    bool done = false;
    auto r = engine().create_topic(kAccount, name, attrs, tags, [&](bool ok) { done = ok; });
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    EXPECT_TRUE(done);
    return r.ok() ? *r : "";
  }
  std::string queue(const std::string& name) {
    bool done = false;
    sqs::AttributeMap attrs;
    if (name.size() > 5 && name.substr(name.size() - 5) == ".fifo") attrs["FifoQueue"] = "true";
    auto r = sqs_.create_queue({kAccount, name}, attrs, {}, [&](bool ok) { done = ok; });
    EXPECT_TRUE(r.ok());
    return "arn:aws:sqs:us-east-1:123456789012:" + name;
  }
  std::string subscribe(const std::string& topic, const std::string& queue_arn,
                        const AttributeMap& attrs = {}) {
    bool done = false;
    auto r = engine().subscribe(kAccount, topic, "sqs", queue_arn, attrs, false,
                                [&](bool ok) { done = ok; });
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    EXPECT_TRUE(done);
    return r.ok() ? *r : "";
  }
  Result<PublishResult> publish(PublishRequest req) {
    bool done = false;
    auto r = engine().publish(std::move(req), [&](bool ok) { done = ok; });
    if (r.ok()) {
      EXPECT_TRUE(done);
    }
    return r;
  }
  // An http subscription of kTopicArn with an optional DeliveryPolicy, not yet confirmed.
  std::string subscribe_http(const std::string& endpoint, const std::string& delivery_policy) {
    AttributeMap attrs;
    if (!delivery_policy.empty()) attrs["DeliveryPolicy"] = delivery_policy;
    auto arn = engine().subscribe(kAccount, kTopicArn, "http", endpoint, attrs, true, [](bool) {});
    EXPECT_TRUE(arn.ok());
    return arn.ok() ? *arn : "";
  }
  // Confirms every pending http subscription through the token of its confirmation.
  void confirm_pending_http() {
    for (const auto& d : engine().take_due_deliveries(10)) {
      auto token = boost::json::parse(d.body).as_object().at("Token").as_string();
      ASSERT_TRUE(engine().confirm_subscription(kTopicArn, std::string(token), [](bool) {}).ok());
      engine().delivery_succeeded(d.id);
    }
  }
  std::vector<sqs::ReceivedMessage> receive(const std::string& name) {
    sqs::ReceiveRequest req;
    req.max_messages = 10;
    req.message_attribute_names = {"All"};
    auto r = sqs_.receive_messages({kAccount, name}, req);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<sqs::ReceivedMessage>{};
  }

  // Runs an engine call taking a durability callback; expects success and the callback.
  template <class Call>
  auto sync(Call&& call) {
    bool done = false;
    auto r = call([&](bool ok) { done = ok; });
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    EXPECT_TRUE(done);
    return r;
  }
  std::string subscribe_as(const std::string& topic, const std::string& protocol,
                           const std::string& endpoint) {
    auto r = sync([&](auto done) {
      return engine().subscribe(kAccount, topic, protocol, endpoint, {}, true, done);
    });
    return r.ok() ? *r : "";
  }
  // The FIFO topics' deduplication records in the store.
  std::vector<std::string> dedup_keys() {
    std::vector<std::string> keys;
    store_.scan("sns/d/", [&](std::string_view key, std::string_view) {
      keys.emplace_back(key);
      return true;
    });
    return keys;
  }

  EngineOptions options_;
  base::FakeClock clock_;
  storage::MemoryStore store_;
  sqs::Engine sqs_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(SnsEngineTest, CreateTopicIsIdempotentAndValidates) {
  EXPECT_EQ(create_topic(), kTopicArn);
  EXPECT_EQ(create_topic(), kTopicArn);
  auto noop = [](bool) {};
  auto diff = engine().create_topic(kAccount, "t", {{"DisplayName", "x"}}, {}, noop);
  ASSERT_FALSE(diff.ok());
  EXPECT_EQ(diff.error().message,
            "Invalid parameter: Attributes Reason: Topic already exists with different attributes");
  auto bad = engine().create_topic(kAccount, "a b", {}, {}, noop);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "Invalid parameter: Topic Name");
  auto fifo_name = engine().create_topic(kAccount, "f", {{"FifoTopic", "true"}}, {}, noop);
  ASSERT_FALSE(fifo_name.ok());
  EXPECT_EQ(fifo_name.error().code, Errc::kInvalidParameter);
  auto unknown = engine().create_topic(kAccount, "u", {{"Foo", "1"}}, {}, noop);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "Invalid parameter: AttributeName");
  auto cbd =
      engine().create_topic(kAccount, "u", {{"ContentBasedDeduplication", "true"}}, {}, noop);
  ASSERT_FALSE(cbd.ok());
}

TEST_F(SnsEngineTest, TopicAttributesCountSubscriptions) {
  create_topic();
  subscribe(kTopicArn, queue("q"));
  bool done = false;
  auto pending = engine().subscribe(kAccount, kTopicArn, "http", "http://example.com/", {}, false,
                                    [&](bool ok) { done = ok; });
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, "pending confirmation");
  auto attrs = engine().get_topic_attributes(kTopicArn);
  ASSERT_TRUE(attrs.ok());
  EXPECT_EQ(attrs->at("SubscriptionsConfirmed"), "1");
  EXPECT_EQ(attrs->at("SubscriptionsPending"), "1");
  EXPECT_EQ(attrs->at("Owner"), kAccount);
  EXPECT_NE(attrs->at("Policy").find("__default_policy_ID"), std::string::npos);
  auto missing = engine().get_topic_attributes(kTopicArn + "x");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_EQ(missing.error().message, "Topic does not exist");
}

TEST_F(SnsEngineTest, EnvelopedAndRawDeliveryWithFilters) {
  create_topic();
  subscribe(kTopicArn, queue("all"));
  subscribe(kTopicArn, queue("raw"), {{"RawMessageDelivery", "true"}});
  subscribe(kTopicArn, queue("red"), {{"FilterPolicy", R"({"color":["red"]})"}});
  subscribe(kTopicArn, queue("body"),
            {{"FilterPolicy", R"({"size":[{"numeric":[">",10]}]})"},
             {"FilterPolicyScope", "MessageBody"}});
  PublishRequest req;
  req.topic_arn = kTopicArn;
  req.message = R"({"size":20})";
  req.subject = "hello";
  req.message_attributes["color"] = {"String", "blue", ""};
  auto r = publish(req);
  ASSERT_TRUE(r.ok()) << r.error().message;

  auto all = receive("all");
  ASSERT_EQ(all.size(), 1u);
  auto env = boost::json::parse(all[0].body).as_object();
  EXPECT_EQ(env.at("Type").as_string(), "Notification");
  EXPECT_EQ(env.at("MessageId").as_string(), r->message_id);
  EXPECT_EQ(env.at("TopicArn").as_string(), kTopicArn);
  EXPECT_EQ(env.at("Subject").as_string(), "hello");
  EXPECT_EQ(env.at("Message").as_string(), req.message);
  EXPECT_EQ(env.at("Timestamp").as_string(), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(env.at("MessageAttributes").at("color").at("Value").as_string(), "blue");

  auto raw = receive("raw");
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_EQ(raw[0].body, req.message);
  EXPECT_EQ(raw[0].message_attributes.at("color").string_value, "blue");
  EXPECT_TRUE(receive("red").empty());
  EXPECT_EQ(receive("body").size(), 1u);

  req.message_attributes["color"] = {"String", "red", ""};
  req.message = R"({"size":5})";
  ASSERT_TRUE(publish(req).ok());
  EXPECT_EQ(receive("red").size(), 1u);
  EXPECT_TRUE(receive("body").empty());
}

TEST_F(SnsEngineTest, MessageStructureJson) {
  create_topic();
  subscribe(kTopicArn, queue("q"), {{"RawMessageDelivery", "true"}});
  PublishRequest req;
  req.topic_arn = kTopicArn;
  req.message_structure = "json";
  req.message = R"({"default":"d","sqs":"s"})";
  ASSERT_TRUE(publish(req).ok());
  auto got = receive("q");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "s");
  req.message = R"({"sqs":"s"})";
  auto r = publish(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "Invalid parameter: Message Structure - No default entry in JSON message body");
  req.message = "not json";
  r = publish(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "Invalid parameter: Message Structure - JSON message body failed to parse");
}

TEST_F(SnsEngineTest, FifoTopicDeduplicatesAndOrders) {
  std::string arn = create_topic("t.fifo", {{"FifoTopic", "true"}});
  subscribe(arn, queue("q.fifo"), {{"RawMessageDelivery", "true"}});
  auto noop = [](bool) {};
  auto standard_queue = engine().subscribe(kAccount, arn, "sqs", queue("std"), {}, false, noop);
  ASSERT_FALSE(standard_queue.ok());

  PublishRequest req;
  req.topic_arn = arn;
  req.message = "m";
  auto r = publish(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "Invalid parameter: The MessageGroupId parameter is required for FIFO topics");
  req.message_group_id = "g";
  r = publish(req);
  ASSERT_FALSE(r.ok());
  std::vector<std::string> seqs;
  for (int i = 0; i < 5; ++i) {
    req.message = "m" + std::to_string(i);
    req.deduplication_id = "d" + std::to_string(i);
    auto ok = publish(req);
    ASSERT_TRUE(ok.ok());
    seqs.push_back(ok->sequence_number);
  }
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  req.deduplication_id = "d0";
  auto dup = publish(req);
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup->sequence_number, seqs[0]);
  auto got = receive("q.fifo");
  ASSERT_EQ(got.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got[i].body, "m" + std::to_string(i));
  clock_.advance_s(301);
  req.deduplication_id = "d0";
  auto fresh = publish(req);
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->message_id, dup->message_id);
}

TEST_F(SnsEngineTest, FifoDeduplicationWindowSurvivesARestart) {
  std::string arn = create_topic("t.fifo", {{"FifoTopic", "true"}});
  subscribe(arn, queue("q.fifo"), {{"RawMessageDelivery", "true"}});
  subscribe_as(arn, "sms", "+15550000001");  // the outbox shows what each publish delivered
  PublishRequest req;
  req.topic_arn = arn;
  req.message = "m";
  req.message_group_id = "g";
  req.deduplication_id = "a/b";  // ids may hold '/'
  auto first = publish(req);
  ASSERT_TRUE(first.ok());
  req.deduplication_id = "other";
  clock_.advance_s(60);
  auto other = publish(req);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(dedup_keys(),
            (std::vector<std::string>{"sns/d/" + arn + "/a/b", "sns/d/" + arn + "/other"}));
  ASSERT_EQ(receive("q.fifo").size(), 2u);

  restart();
  clock_.advance_s(200);  // 260 s after the first publish: still in its window
  req.deduplication_id = "a/b";
  size_t writes = store_.writes();
  auto dup = publish(req);
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup->message_id, first->message_id);
  EXPECT_EQ(dup->sequence_number, first->sequence_number);
  EXPECT_EQ(store_.writes(), writes);  // nothing delivered, nothing written
  EXPECT_EQ(engine().outbox("", "").size(), 2u);

  clock_.advance_s(41);  // 301 s: the first window is over, the second one is not
  auto fresh = publish(req);
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->message_id, first->message_id);
  EXPECT_GT(fresh->sequence_number, other->sequence_number);
  EXPECT_EQ(engine().outbox("", "").size(), 3u);
  req.deduplication_id = "other";
  auto dup_other = publish(req);
  ASSERT_TRUE(dup_other.ok());
  EXPECT_EQ(dup_other->message_id, other->message_id);

  // Expired records go when the window evicts them, or at recovery.
  clock_.advance_s(250);  // "other" expired, "a/b" (renewed at 301 s) not
  restart();
  EXPECT_EQ(dedup_keys(), std::vector<std::string>{"sns/d/" + arn + "/a/b"});
  req.deduplication_id = "a/b";
  auto dup_fresh = publish(req);
  ASSERT_TRUE(dup_fresh.ok());
  EXPECT_EQ(dup_fresh->message_id, fresh->message_id);
  clock_.advance_s(60);
  req.deduplication_id = "third";
  ASSERT_TRUE(publish(req).ok());
  EXPECT_EQ(dedup_keys(), std::vector<std::string>{"sns/d/" + arn + "/third"});

  EXPECT_TRUE(sync([&](auto done) { return engine().delete_topic(arn, done); }).ok());
  EXPECT_TRUE(dedup_keys().empty());
}

TEST_F(SnsEngineTest, SweepDeletesExpiredDeduplicationRecordsOfTopicsWithoutPublishes) {
  std::string arn = create_topic("t.fifo", {{"FifoTopic", "true"}});
  const int64_t start = clock_.now_ms();
  PublishRequest req;
  req.topic_arn = arn;
  req.message = "m";
  req.message_group_id = "g";
  req.deduplication_id = "old";
  ASSERT_TRUE(publish(req).ok());
  EXPECT_EQ(engine().sweep(), start + 300'000);  // when "old"'s window ends
  clock_.advance_s(120);
  req.deduplication_id = "young";
  auto young = publish(req);
  ASSERT_TRUE(young.ok());

  // No more publishes. Up to the end of its window, "old" is kept.
  clock_.advance_s(179);
  EXPECT_EQ(engine().sweep(), start + 300'000);
  EXPECT_EQ(dedup_keys(),
            (std::vector<std::string>{"sns/d/" + arn + "/old", "sns/d/" + arn + "/young"}));
  // Then it goes from the store; "young", 180 s into its window, stays.
  clock_.advance_s(1);
  EXPECT_EQ(engine().sweep(), start + 420'000);
  EXPECT_EQ(dedup_keys(), std::vector<std::string>{"sns/d/" + arn + "/young"});
  auto dup = publish(req);
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup->message_id, young->message_id);

  clock_.advance_s(120);
  EXPECT_EQ(engine().sweep(), std::nullopt);
  EXPECT_TRUE(dedup_keys().empty());

  // With no record left the driver may sleep long: the next record wakes it, once.
  int wakes = 0;
  engine().set_delivery_listener([&] { ++wakes; });
  req.deduplication_id = "later";
  ASSERT_TRUE(publish(req).ok());
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(engine().sweep(), clock_.now_ms() + 300'000);
  clock_.advance_s(1);
  req.deduplication_id = "later still";
  ASSERT_TRUE(publish(req).ok());
  EXPECT_EQ(wakes, 1);
  engine().set_delivery_listener(nullptr);
}

TEST_F(SnsEngineTest, StandardTopicRejectsDedupIdAndValidatesAttributes) {
  create_topic();
  PublishRequest req;
  req.topic_arn = kTopicArn;
  req.message = "m";
  req.deduplication_id = "x";
  auto r = publish(req);
  ASSERT_FALSE(r.ok());
  req.deduplication_id.clear();
  req.message_attributes["n"] = {"Number", "abc", ""};
  r = publish(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kParameterValueInvalid);
  req.message_attributes["n"] = {"Foo", "1", ""};
  EXPECT_FALSE(publish(req).ok());
  req.message_attributes.clear();
  req.message.clear();
  r = publish(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "Invalid parameter: Empty message");
  req.message = "m";
  req.topic_arn = kTopicArn + "nope";
  r = publish(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kNotFound);
}

TEST_F(SnsEngineTest, SubscriptionsSurviveRestartWithFilters) {
  create_topic("t", {{"DisplayName", "D"}}, {{"k", "v"}});
  std::string sub = subscribe(kTopicArn, queue("red"), {{"FilterPolicy", R"({"c":["red"]})"}});
  restart();
  auto attrs = engine().get_subscription_attributes(sub);
  ASSERT_TRUE(attrs.ok());
  EXPECT_EQ(attrs->at("FilterPolicyScope"), "MessageAttributes");
  EXPECT_EQ(attrs->at("PendingConfirmation"), "false");
  EXPECT_EQ(engine().list_tags(kTopicArn)->at("k"), "v");
  EXPECT_EQ(engine().get_topic_attributes(kTopicArn)->at("DisplayName"), "D");
  PublishRequest req;
  req.topic_arn = kTopicArn;
  req.message = "m";
  req.message_attributes["c"] = {"String", "blue", ""};
  ASSERT_TRUE(publish(req).ok());
  EXPECT_TRUE(receive("red").empty());
  req.message_attributes["c"] = {"String", "red", ""};
  ASSERT_TRUE(publish(req).ok());
  EXPECT_EQ(receive("red").size(), 1u);
}

TEST_F(SnsEngineTest, SetSubscriptionAttributesValidatesFilterPolicy) {
  create_topic();
  std::string sub = subscribe(kTopicArn, queue("q"));
  auto noop = [](bool) {};
  auto bad = engine().set_subscription_attributes(sub, "FilterPolicy", "{\"a\":1}", noop);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.rfind("Invalid parameter: FilterPolicy: ", 0), 0u)
      << bad.error().message;
  auto raw = engine().set_subscription_attributes(sub, "RawMessageDelivery", "maybe", noop);
  ASSERT_FALSE(raw.ok());
  auto name = engine().set_subscription_attributes(sub, "Nope", "1", noop);
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.error().message, "Invalid parameter: AttributeName");
  bool done = false;
  ASSERT_TRUE(engine()
                  .set_subscription_attributes(sub, "FilterPolicy", R"({"a":["x"]})",
                                               [&](bool ok) { done = ok; })
                  .ok());
  EXPECT_TRUE(done);
  auto missing = engine().get_subscription_attributes(kTopicArn + ":nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
}

TEST_F(SnsEngineTest, ListsPageAndDeleteTopicRemovesSubscriptions) {
  for (int i = 0; i < 105; ++i) create_topic("t" + std::to_string(i));
  auto page = engine().list_topics(kAccount, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items.size(), 100u);
  ASSERT_FALSE(page->next_token.empty());
  auto rest = engine().list_topics(kAccount, page->next_token);
  EXPECT_EQ(rest->items.size(), 5u);
  EXPECT_TRUE(rest->next_token.empty());
  EXPECT_TRUE(engine().list_topics("999999999999", "")->items.empty());

  std::string arn = "arn:aws:sns:us-east-1:123456789012:t0";
  subscribe(arn, queue("q"));
  EXPECT_EQ(engine().list_subscriptions(kAccount, "")->items.size(), 1u);
  bool done = false;
  ASSERT_TRUE(engine().delete_topic(arn, [&](bool ok) { done = ok; }).ok());
  EXPECT_TRUE(done);
  EXPECT_TRUE(engine().list_subscriptions(kAccount, "")->items.empty());
  restart();
  EXPECT_TRUE(engine().list_subscriptions(kAccount, "")->items.empty());
  EXPECT_EQ(engine().list_topics(kAccount, "")->items.size(), 100u);
}

// Verifies an SNS message's Signature with the engine's certificate, building the string to
// sign from the message as AWS documents it.
bool verify(const std::string& cert_pem, const boost::json::object& m) {
  std::vector<std::string> keys =
      m.at("Type").as_string() == "Notification"
          ? std::vector<std::string>{"Message",   "MessageId", "Subject",
                                     "Timestamp", "TopicArn",  "Type"}
          : std::vector<std::string>{"Message", "MessageId", "SubscribeURL", "Timestamp",
                                     "Token",   "TopicArn",  "Type"};
  std::string text;
  for (const auto& k : keys) {
    if (!m.contains(k)) continue;
    text += k + "\n" + std::string(m.at(k).as_string()) + "\n";
  }
  auto sig = base::base64_decode(m.at("Signature").as_string());
  if (!sig) return false;
  BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return false;
  EVP_PKEY* key = X509_get_pubkey(cert);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const EVP_MD* md = m.at("SignatureVersion").as_string() == "2" ? EVP_sha256() : EVP_sha1();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                             reinterpret_cast<const unsigned char*>(text.data()), text.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  X509_free(cert);
  return ok;
}

TEST_F(SnsEngineTest, EnvelopeSignaturesVerifyWithBothVersions) {
  create_topic();
  subscribe(kTopicArn, queue("q"));
  for (std::string version : {"1", "2"}) {
    bool done = false;
    ASSERT_TRUE(engine()
                    .set_topic_attributes(kTopicArn, "SignatureVersion", version,
                                          [&](bool ok) { done = ok; })
                    .ok());
    PublishRequest req;
    req.topic_arn = kTopicArn;
    req.message = "signed " + version;
    req.subject = "s";
    ASSERT_TRUE(publish(req).ok());
    auto got = receive("q");
    ASSERT_EQ(got.size(), 1u);
    auto env = boost::json::parse(got[0].body).as_object();
    EXPECT_EQ(env.at("SignatureVersion").as_string(), version);
    EXPECT_TRUE(verify(engine().signing_certificate_pem(), env));
    env["Message"] = "tampered";
    EXPECT_FALSE(verify(engine().signing_certificate_pem(), env));
  }
  // The key survives a restart: old signatures still verify with the served certificate.
  std::string cert = engine().signing_certificate_pem();
  restart();
  EXPECT_EQ(engine().signing_certificate_pem(), cert);
}

TEST_F(SnsEngineTest, HttpSubscriptionConfirmsThenDeliversWithRetriesAndDeadLetter) {
  create_topic();
  std::string dlq = queue("dlq");
  bool done = false;
  int wakes = 0;
  engine().set_delivery_listener([&] { ++wakes; });
  auto arn = engine().subscribe(
      kAccount, kTopicArn, "http", "http://127.0.0.1:1/hook",
      {{"DeliveryPolicy",
        R"({"healthyRetryPolicy":{"numRetries":3,"minDelayTarget":1,"maxDelayTarget":4,)"
        R"("backoffFunction":"linear"}})"},
       {"RedrivePolicy", R"({"deadLetterTargetArn":")" + dlq + R"("})"}},
      true, [&](bool ok) { done = ok; });
  ASSERT_TRUE(arn.ok()) << arn.error().message;
  EXPECT_TRUE(done);
  EXPECT_EQ(wakes, 1);
  auto due = engine().take_due_deliveries(10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].message_type, "SubscriptionConfirmation");
  auto conf = boost::json::parse(due[0].body).as_object();
  EXPECT_TRUE(verify(engine().signing_certificate_pem(), conf));
  std::string token(conf.at("Token").as_string());
  EXPECT_NE(std::string(conf.at("SubscribeURL").as_string()).find(token), std::string::npos);
  engine().delivery_succeeded(due[0].id);

  // Nothing is delivered to a pending subscription.
  PublishRequest req;
  req.topic_arn = kTopicArn;
  req.message = "before";
  ASSERT_TRUE(publish(req).ok());
  EXPECT_TRUE(engine().take_due_deliveries(10).empty());
  auto bad = engine().confirm_subscription(kTopicArn, "nope", [](bool) {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "Invalid parameter: Token");
  auto confirmed = engine().confirm_subscription(kTopicArn, token, [](bool) {});
  ASSERT_TRUE(confirmed.ok());
  EXPECT_EQ(*confirmed, *arn);
  EXPECT_EQ(engine().get_subscription_attributes(*arn)->at("PendingConfirmation"), "false");

  req.message = "hello";
  auto published = publish(req);
  ASSERT_TRUE(published.ok());
  due = engine().take_due_deliveries(10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].message_type, "Notification");
  EXPECT_EQ(due[0].message_id, published->message_id);
  EXPECT_EQ(boost::json::parse(due[0].body).at("Message").as_string(), "hello");
  // In flight: not handed out twice.
  EXPECT_TRUE(engine().take_due_deliveries(10).empty());

  // Retries after 1 s, 2.5 s and 4 s (linear from minDelayTarget to maxDelayTarget).
  const int64_t expected_delays[] = {1000, 2500, 4000};
  uint64_t id = due[0].id;
  for (int64_t delay : expected_delays) {
    engine().delivery_failed(id, "HTTP 500");
    auto next = engine().next_delivery_ms();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(*next - clock_.now_ms(), delay);
    clock_.advance_ms(delay - 1);
    EXPECT_TRUE(engine().take_due_deliveries(10).empty());
    clock_.advance_ms(1);
    due = engine().take_due_deliveries(10);
    ASSERT_EQ(due.size(), 1u);
    id = due[0].id;
  }
  // The last attempt fails: the message goes to the dead-letter queue.
  engine().delivery_failed(id, "HTTP 500");
  EXPECT_FALSE(engine().next_delivery_ms().has_value());
  auto dead = receive("dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(boost::json::parse(dead[0].body).at("MessageId").as_string(), published->message_id);
  EXPECT_EQ(engine().delivery_stats().dead_lettered, 1u);

  // A permanent failure (an answer such as 404) is not retried: to the dead-letter queue at once.
  req.message = "refused";
  published = publish(req);
  ASSERT_TRUE(published.ok());
  due = engine().take_due_deliveries(10);
  ASSERT_EQ(due.size(), 1u);
  engine().delivery_failed(due[0].id, "HTTP 404", /*permanent=*/true);
  EXPECT_FALSE(engine().next_delivery_ms().has_value());
  dead = receive("dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(boost::json::parse(dead[0].body).at("MessageId").as_string(), published->message_id);
  EXPECT_EQ(engine().delivery_stats().dead_lettered, 2u);
  EXPECT_EQ(engine().delivery_stats().retried, 3u);  // the first message's three, no more
}

TEST_F(SnsEngineTest, ThrottlePolicyLimitsHttpNotificationsPerSecond) {
  create_topic();
  ASSERT_TRUE(
      engine()
          .set_topic_attributes(kTopicArn, "DeliveryPolicy",
                                R"({"http":{"defaultThrottlePolicy":{"maxReceivesPerSecond":5}}})",
                                [](bool) {})
          .ok());
  std::string slow =
      subscribe_http("http://127.0.0.1:1/slow", R"({"throttlePolicy":{"maxReceivesPerSecond":2}})");
  std::string topic_default = subscribe_http("http://127.0.0.1:1/default", "");
  confirm_pending_http();
  clock_.set_ms((clock_.now_ms() / 1000 + 1) * 1000);  // the start of a second
  for (int i = 0; i < 8; ++i) {
    PublishRequest req;
    req.topic_arn = kTopicArn;
    req.message = "m" + std::to_string(i);
    ASSERT_TRUE(publish(req).ok());
  }
  auto count = [](const std::vector<Delivery>& ds, const std::string& arn) {
    return std::count_if(ds.begin(), ds.end(),
                         [&](const Delivery& d) { return d.subscription_arn == arn; });
  };
  auto first = engine().take_due_deliveries(100);
  EXPECT_EQ(count(first, slow), 2);
  EXPECT_EQ(count(first, topic_default), 5);
  EXPECT_TRUE(engine().take_due_deliveries(100).empty());  // the rest wait for the next second
  EXPECT_EQ(engine().next_delivery_ms(), clock_.now_ms() + 1000);
  clock_.advance_ms(1000);
  auto second = engine().take_due_deliveries(100);
  EXPECT_EQ(count(second, slow), 2);
  EXPECT_EQ(count(second, topic_default), 3);
}

// maxReceivesPerSecond holds in any one second, whatever its phase: notifications handed out
// late in one second of the clock hold the next ones back until a second after them, past the
// second's boundary (counting per second of the clock let 2 * limit through around it).
TEST_F(SnsEngineTest, ThrottlePolicyHoldsInAnyOneSecond) {
  create_topic();
  std::string slow =
      subscribe_http("http://127.0.0.1:1/slow", R"({"throttlePolicy":{"maxReceivesPerSecond":2}})");
  std::string fast = subscribe_http("http://127.0.0.1:1/fast", "");
  confirm_pending_http();
  auto publish_n = [&](int n) {
    for (int i = 0; i < n; ++i) {
      PublishRequest req;
      req.topic_arn = kTopicArn;
      req.message = "m" + std::to_string(i);
      ASSERT_TRUE(publish(req).ok());
    }
  };
  auto take = [&](const std::string& arn) {
    auto due = engine().take_due_deliveries(100);
    for (const auto& d : due) engine().delivery_succeeded(d.id);
    return std::count_if(due.begin(), due.end(),
                         [&](const Delivery& d) { return d.subscription_arn == arn; });
  };

  clock_.set_ms((clock_.now_ms() / 1000 + 1) * 1000 + 900);  // late in a second of the clock
  const int64_t start = clock_.now_ms();
  publish_n(5);
  EXPECT_EQ(take(slow), 2);
  clock_.advance_ms(100);  // the next second of the clock, but not a second since those two
  EXPECT_EQ(take(slow), 0);
  EXPECT_EQ(engine().next_delivery_ms(), start + 1000);
  clock_.advance_ms(899);
  EXPECT_EQ(take(slow), 0);
  clock_.advance_ms(1);
  EXPECT_EQ(take(slow), 2);
  clock_.advance_ms(999);
  EXPECT_EQ(take(slow), 0);
  clock_.advance_ms(1);
  EXPECT_EQ(take(slow), 1);
  EXPECT_FALSE(engine().next_delivery_ms().has_value());

  // One handed out at t and one at t + 600 ms: a third waits for t + 1000, when the first has
  // left the second, not for t + 1600. The unthrottled subscription is never held back.
  clock_.advance_ms(5000);
  const int64_t t = clock_.now_ms();
  publish_n(1);
  EXPECT_EQ(take(slow), 1);
  clock_.advance_ms(600);
  publish_n(2);
  auto due = engine().take_due_deliveries(100);
  for (const auto& d : due) engine().delivery_succeeded(d.id);
  auto count = [&](const std::string& arn) {
    return std::count_if(due.begin(), due.end(),
                         [&](const Delivery& d) { return d.subscription_arn == arn; });
  };
  EXPECT_EQ(count(slow), 1);
  EXPECT_EQ(count(fast), 2);
  EXPECT_EQ(engine().next_delivery_ms(), t + 1000);
  clock_.set_ms(t + 1000);
  EXPECT_EQ(take(slow), 1);
}

TEST_F(SnsEngineTest, PendingHttpDeliveriesSurviveRestart) {
  create_topic();
  auto arn = engine().subscribe(kAccount, kTopicArn, "https", "https://example.com/x", {}, true,
                                [](bool) {});
  ASSERT_TRUE(arn.ok());
  auto conf = engine().take_due_deliveries(10);
  ASSERT_EQ(conf.size(), 1u);
  std::string token(boost::json::parse(conf[0].body).at("Token").as_string());
  engine().delivery_succeeded(conf[0].id);
  ASSERT_TRUE(engine().confirm_subscription(kTopicArn, token, [](bool) {}).ok());
  PublishRequest req;
  req.topic_arn = kTopicArn;
  req.message = "survives";
  ASSERT_TRUE(publish(req).ok());
  auto taken = engine().take_due_deliveries(10);
  ASSERT_EQ(taken.size(), 1u);
  engine().delivery_failed(taken[0].id, "connection refused");  // default policy: 20 s later
  restart();
  EXPECT_TRUE(engine().take_due_deliveries(10).empty());
  clock_.advance_s(20);
  auto again = engine().take_due_deliveries(10);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempts, 1);
  EXPECT_EQ(boost::json::parse(again[0].body).at("Message").as_string(), "survives");
  engine().delivery_succeeded(again[0].id);
  restart();
  clock_.advance_s(3600);
  EXPECT_TRUE(engine().take_due_deliveries(10).empty());
}

// Email: the confirmation mail, confirming with its token, the notification's subject and text,
// and AWS's fixed retry policy for customer-managed endpoints: 2 retries 10 s apart, 10 with
// exponential backoff from 10 s to 600 s, 38 600 s apart, then the message is dropped.
TEST_F(SnsEngineTest, EmailConfirmsAndRetriesOnTheCustomerManagedSchedule) {
  std::string topic = create_topic("t", {{"DisplayName", "Alerts"}});
  std::string sub = subscribe_as(topic, "email", "ops@example.com");
  auto conf = engine().take_due_deliveries(10);
  ASSERT_EQ(conf.size(), 1u);
  EXPECT_EQ(conf[0].protocol, "email");
  EXPECT_EQ(conf[0].endpoint, "ops@example.com");
  EXPECT_EQ(conf[0].message_type, "SubscriptionConfirmation");
  EXPECT_EQ(conf[0].subject, "AWS Notification - Subscription Confirmation");
  EXPECT_EQ(conf[0].sender_name, "Alerts");
  EXPECT_NE(conf[0].body.find("You have chosen to subscribe to the topic: \n" + topic),
            std::string::npos);
  size_t at = conf[0].body.find("Token=");
  ASSERT_NE(at, std::string::npos);
  std::string token = conf[0].body.substr(at + 6, 128);
  engine().delivery_succeeded(conf[0].id);

  // Pending: a publish delivers nothing yet.
  PublishRequest req;
  req.topic_arn = topic;
  req.message = "disk full";
  ASSERT_TRUE(publish(req).ok());
  EXPECT_TRUE(engine().take_due_deliveries(10).empty());
  (void)sync([&](auto done) { return engine().confirm_subscription(topic, token, done); });

  req.message = R"({"default":"generic","email":"for mail","email-json":"for json"})";
  req.message_structure = "json";
  ASSERT_TRUE(publish(req).ok());
  auto due = engine().take_due_deliveries(10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].subject, "AWS Notification Message");
  EXPECT_EQ(due[0].body.rfind("for mail\n\n--\n", 0), 0u) << due[0].body;
  EXPECT_NE(due[0].body.find("Action=Unsubscribe"), std::string::npos);
  uint64_t id = due[0].id;

  std::vector<int64_t> delays;
  for (int retry = 1; retry <= 50; ++retry) {
    engine().delivery_failed(id, "SMTP 451");
    auto next = engine().next_delivery_ms();
    ASSERT_TRUE(next.has_value());
    int64_t delay = *next - clock_.now_ms();
    delays.push_back(delay);
    clock_.advance_ms(delay);
    due = engine().take_due_deliveries(10);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].attempts, retry);
  }
  EXPECT_EQ(delays[0], 10'000);
  EXPECT_EQ(delays[1], 10'000);
  EXPECT_EQ(delays[2], 10'000);    // backoff starts at 10 s
  EXPECT_EQ(delays[11], 600'000);  // and ends at 600 s
  for (int i = 3; i < 12; ++i) EXPECT_GT(delays[i], delays[i - 1]) << i;
  for (int i = 12; i < 50; ++i) EXPECT_EQ(delays[i], 600'000) << i;
  engine().delivery_failed(id, "SMTP 451");  // the 51st attempt failed: policy exhausted
  EXPECT_FALSE(engine().next_delivery_ms().has_value());
  EXPECT_EQ(engine().delivery_stats().dropped, 1u);
  EXPECT_EQ(engine().delivery_stats().retried, 50u);
  (void)sub;
}

TEST_F(SnsEngineTest, EmailJsonGetsTheEnvelope) {
  std::string topic = create_topic();
  subscribe_as(topic, "email-json", "dev@example.com");
  auto conf = engine().take_due_deliveries(10);
  ASSERT_EQ(conf.size(), 1u);
  auto doc = boost::json::parse(conf[0].body).as_object();
  EXPECT_EQ(doc.at("Type").as_string(), "SubscriptionConfirmation");
  std::string token(doc.at("Token").as_string());
  (void)sync([&](auto done) { return engine().confirm_subscription(topic, token, done); });
  PublishRequest req;
  req.topic_arn = topic;
  req.message = "hello";
  req.subject = "Greeting";
  ASSERT_TRUE(publish(req).ok());
  auto due = engine().take_due_deliveries(10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].protocol, "email-json");
  EXPECT_EQ(due[0].subject, "Greeting");
  auto env = boost::json::parse(due[0].body).as_object();
  EXPECT_EQ(env.at("Message").as_string(), "hello");
  EXPECT_EQ(env.at("Type").as_string(), "Notification");
}

TEST_F(SnsEngineTest, PhonePublishesFillABoundedDurableOutbox) {
  options_.outbox_limit = 3;
  restart();
  PublishRequest bad;
  bad.phone_number = "12345";  // no '+'
  bad.message = "x";
  EXPECT_FALSE(publish(bad).ok());
  bad.phone_number = "+1234567890123456";  // 16 digits
  EXPECT_FALSE(publish(bad).ok());
  for (int i = 0; i < 5; ++i) {
    PublishRequest req;
    req.phone_number = i % 2 == 0 ? "+15550000001" : "+15550000002";
    req.message = "code " + std::to_string(i);
    ASSERT_TRUE(publish(req).ok());
  }
  auto all = engine().outbox("", "");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].message, "code 2");
  EXPECT_EQ(all[2].message, "code 4");
  EXPECT_EQ(engine().outbox("+15550000002", "").size(), 1u);
  EXPECT_TRUE(engine().take_due_deliveries(10).empty());  // no gateway configured
  restart();
  all = engine().outbox("", "");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].message, "code 2");
  PublishRequest req;
  req.phone_number = "+15550000003";
  req.message = "after restart";
  ASSERT_TRUE(publish(req).ok());
  all = engine().outbox("", "");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].message, "after restart");
  EXPECT_GT(all[2].seq, all[1].seq);
  bool cleared = false;
  engine().clear_outbox([&](bool ok) { cleared = ok; });
  EXPECT_TRUE(cleared);
  EXPECT_TRUE(engine().outbox("", "").empty());
  restart();
  EXPECT_TRUE(engine().outbox("", "").empty());
}

TEST_F(SnsEngineTest, PlatformApplicationsAndEndpoints) {
  options_.gateway_url = "http://gateway.test/push";
  options_.platform_application_page_size = 2;
  restart();
  auto create_app = [&](const std::string& name, const std::string& platform,
                        const AttributeMap& attrs) {
    bool done = false;
    return engine().create_platform_application(kAccount, name, platform, attrs,
                                                [&](bool ok) { done = ok; });
  };
  EXPECT_FALSE(create_app("a", "NOPE", {{"PlatformCredential", "k"}}).ok());
  EXPECT_FALSE(create_app("a", "GCM", {}).ok());                              // no credential
  EXPECT_FALSE(create_app("a", "APNS", {{"PlatformCredential", "k"}}).ok());  // no principal
  EXPECT_FALSE(create_app("a b", "GCM", {{"PlatformCredential", "k"}}).ok());
  auto app = create_app("app1", "GCM", {{"PlatformCredential", "secret"}});
  ASSERT_TRUE(app.ok());
  EXPECT_EQ(*app, "arn:aws:sns:us-east-1:123456789012:app/GCM/app1");
  EXPECT_EQ(create_app("app1", "GCM", {{"PlatformCredential", "secret"}}).value(), *app);
  EXPECT_FALSE(create_app("app1", "GCM", {{"PlatformCredential", "other"}}).ok());
  ASSERT_TRUE(create_app("app2", "GCM", {{"PlatformCredential", "k"}}).ok());
  ASSERT_TRUE(
      create_app("app3", "APNS", {{"PlatformCredential", "k"}, {"PlatformPrincipal", "p"}}).ok());
  auto attrs = engine().get_platform_application_attributes(*app);
  ASSERT_TRUE(attrs.ok());
  EXPECT_FALSE(attrs->count("PlatformCredential"));
  EXPECT_EQ(attrs->at("Enabled"), "true");
  auto page = engine().list_platform_applications(kAccount, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items.size(), 2u);
  ASSERT_FALSE(page->next_token.empty());
  auto page2 = engine().list_platform_applications(kAccount, page->next_token);
  ASSERT_TRUE(page2.ok());
  EXPECT_EQ(page2->items.size(), 1u);
  EXPECT_TRUE(page2->next_token.empty());

  auto ep = sync([&](auto done) {
    return engine().create_platform_endpoint(*app, "device-1", "user 7", {}, done);
  });
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->rfind("arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app1/", 0), 0u);
  auto again = sync([&](auto done) {
    return engine().create_platform_endpoint(*app, "device-1", "user 7", {}, done);
  });
  EXPECT_EQ(*again, *ep);
  bool ignored = false;
  EXPECT_FALSE(engine()
                   .create_platform_endpoint(*app, "device-1", "someone else", {},
                                             [&](bool ok) { ignored = ok; })
                   .ok());
  auto eattrs = engine().get_endpoint_attributes(*ep);
  ASSERT_TRUE(eattrs.ok());
  EXPECT_EQ(eattrs->at("Token"), "device-1");
  EXPECT_EQ(eattrs->at("Enabled"), "true");
  EXPECT_EQ(eattrs->at("CustomUserData"), "user 7");

  PublishRequest req;
  req.topic_arn = *ep;
  req.message = R"({"default":"d","GCM":"{\"notification\":{\"title\":\"hi\"}}"})";
  req.message_structure = "json";
  auto published = publish(req);
  ASSERT_TRUE(published.ok());
  auto box = engine().outbox("", *ep);
  ASSERT_EQ(box.size(), 1u);
  EXPECT_EQ(box[0].protocol, "application");
  EXPECT_EQ(box[0].message, R"({"notification":{"title":"hi"}})");
  auto due = engine().take_due_deliveries(10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].endpoint, "http://gateway.test/push");
  auto body = boost::json::parse(due[0].body).as_object();
  EXPECT_EQ(body.at("Destination").as_string(), *ep);
  EXPECT_EQ(body.at("MessageId").as_string(), published->message_id);
  engine().delivery_succeeded(due[0].id);

  (void)sync([&](auto done) {
    return engine().set_endpoint_attributes(*ep, {{"Enabled", "false"}}, done);
  });
  req.message = "x";
  req.message_structure.clear();
  auto disabled = publish(req);
  ASSERT_FALSE(disabled.ok());
  EXPECT_EQ(disabled.error().code, Errc::kEndpointDisabled);
  EXPECT_FALSE(engine().set_endpoint_attributes(*ep, {{"Bogus", "1"}}, [](bool) {}).ok());

  // A topic subscription to a disabled endpoint is skipped; to a phone number it is outboxed.
  std::string topic = create_topic();
  subscribe_as(topic, "application", *ep);
  subscribe_as(topic, "sms", "+15550001111");
  subscribe_as(topic, "lambda", "arn:aws:lambda:us-east-1:123456789012:function:f");
  PublishRequest tp;
  tp.topic_arn = topic;
  tp.message = "to all";
  ASSERT_TRUE(publish(tp).ok());
  ASSERT_TRUE(publish(tp).ok());
  EXPECT_EQ(engine().outbox("+15550001111", "").size(), 2u);
  EXPECT_EQ(engine().outbox("", *ep).size(), 1u);
  EXPECT_EQ(engine().delivery_stats().undeliverable, 2u);

  restart();
  EXPECT_TRUE(engine().get_endpoint_attributes(*ep).ok());
  auto eps = engine().list_endpoints_by_platform_application(*app, "");
  ASSERT_TRUE(eps.ok());
  EXPECT_EQ(eps->items.size(), 1u);
  (void)sync([&](auto done) { return engine().delete_platform_application(*app, done); });
  EXPECT_EQ(engine().get_endpoint_attributes(*ep).error().code, Errc::kNotFound);
  EXPECT_EQ(engine().list_endpoints_by_platform_application(*app, "").error().code,
            Errc::kNotFound);
  (void)ignored;
}

}  // namespace
}  // namespace ferry::sns
