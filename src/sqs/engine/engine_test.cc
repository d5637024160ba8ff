#include "sqs/engine/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "base/clock.h"
#include "sqs/engine/queue.h"
#include "storage/memory_store.h"

namespace ferry::sqs {
namespace {

constexpr char kAccount[] = "123456789012";

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() { make_engine(); }

  void make_engine(EngineOptions options = {}) {
    engine_.reset();
    engine_ = std::make_unique<Engine>(store_, clock_, options);
  }
  // A second engine over the same store, as after a clean restart.
  void restart(EngineOptions options = {}) {
    engine_->save_receive_state();
    crash_and_restart(std::move(options));
  }
  // The same after a crash: what the engine kept in memory only is lost.
  void crash_and_restart(EngineOptions options = {}) {
    engine_.reset();
    engine_ = std::make_unique<Engine>(store_, clock_, options);
    engine_->recover();
  }

  Engine& engine() { return *engine_; }

  static QueueId id(const std::string& name = "q") { return {kAccount, name}; }

  void create(const std::string& name = "q", const AttributeMap& attrs = {},
              const TagMap& tags = {}) {
    bool done = false;
    auto r = engine().create_queue(id(name), attrs, tags, [&](bool ok) { done = ok; });
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(done);
  }

  SendResult send(const std::string& body, const std::string& queue = "q",
                  std::optional<int> delay = std::nullopt, MessageAttributes attrs = {}) {
    SendRequest req;
    req.body = body;
    req.delay_seconds = delay;
    req.message_attributes = std::move(attrs);
    bool done = false;
    auto r = engine().send_message(id(queue), std::move(req), [&](bool ok) { done = ok; });
    EXPECT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(done);
    return r.ok() ? *r : SendResult{};
  }

  Error send_error(SendRequest req, const std::string& queue = "q") {
    bool called = false;
    auto r = engine().send_message(id(queue), std::move(req), [&](bool) { called = true; });
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(called);
    return r.ok() ? Error{Errc::kInternal, "succeeded"} : r.error();
  }

  std::vector<ReceivedMessage> receive(int max = 10, std::optional<int> visibility = std::nullopt,
                                       const std::string& queue = "q",
                                       std::vector<std::string> attribute_names = {},
                                       std::vector<std::string> message_attribute_names = {}) {
    ReceiveRequest req;
    req.max_messages = max;
    req.visibility_timeout = visibility;
    req.attribute_names = std::move(attribute_names);
    req.message_attribute_names = std::move(message_attribute_names);
    auto r = engine().receive_messages(id(queue), req);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : std::vector<ReceivedMessage>{};
  }

  std::string attr(const std::string& name, const std::string& queue = "q") {
    auto r = engine().get_queue_attributes(id(queue), {name});
    EXPECT_TRUE(r.ok());
    if (!r.ok() || !r->contains(name)) return "<absent>";
    return r->at(name);
  }

  // (visible, in flight, delayed)
  std::tuple<int, int, int> counts(const std::string& queue = "q") {
    return {std::stoi(attr("ApproximateNumberOfMessages", queue)),
            std::stoi(attr("ApproximateNumberOfMessagesNotVisible", queue)),
            std::stoi(attr("ApproximateNumberOfMessagesDelayed", queue))};
  }

  size_t message_keys() {
    size_t n = 0;
    store_.scan("sqs/m/", [&](std::string_view, std::string_view) {
      ++n;
      return true;
    });
    return n;
  }

  storage::MemoryStore store_;
  base::FakeClock clock_;
  std::unique_ptr<Engine> engine_;
};

using Counts = std::tuple<int, int, int>;

// Queues ------------------------------------------------------------------------------------

TEST_F(EngineTest, CreateQueueHasAwsDefaults) {
  create();
  EXPECT_TRUE(engine().queue_exists(id()));
  auto all = engine().get_queue_attributes(id(), {"All"});
  ASSERT_TRUE(all.ok());
  const AttributeMap expected = {
      {"QueueArn", "arn:aws:sqs:us-east-1:123456789012:q"},
      {"ApproximateNumberOfMessages", "0"},
      {"ApproximateNumberOfMessagesNotVisible", "0"},
      {"ApproximateNumberOfMessagesDelayed", "0"},
      {"CreatedTimestamp", "1700000000"},
      {"LastModifiedTimestamp", "1700000000"},
      {"VisibilityTimeout", "30"},
      {"MaximumMessageSize", "1048576"},
      {"MessageRetentionPeriod", "345600"},
      {"DelaySeconds", "0"},
      {"ReceiveMessageWaitTimeSeconds", "0"},
      {"SqsManagedSseEnabled", "true"},
  };
  EXPECT_EQ(*all, expected);
  EXPECT_EQ(engine().queue_arn(id("x")), "arn:aws:sqs:us-east-1:123456789012:x");
}

TEST_F(EngineTest, CreateQueueIsIdempotentForSameAttributes) {
  create("q", {{"VisibilityTimeout", "60"}, {"DelaySeconds", "5"}}, {{"team", "a"}});
  create("q", {{"VisibilityTimeout", "60"}}, {{"other", "ignored"}});
  create("q", {});  // attributes not named are not compared
  auto tags = engine().list_queue_tags(id());
  EXPECT_EQ(*tags, (TagMap{{"team", "a"}}));

  auto r = engine().create_queue(id(), {{"VisibilityTimeout", "60"}, {"DelaySeconds", "6"}}, {},
                                 [](bool) { FAIL() << "done must not be called"; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kQueueNameExists);
  EXPECT_EQ(r.error().message,
            "A queue already exists with the same name and a different value for attribute "
            "DelaySeconds");
  // Explicitly giving a default that the queue has is the same.
  create("q", {{"MaximumMessageSize", "1048576"}});
}

TEST_F(EngineTest, CreateQueueValidates) {
  auto bad = [&](const std::string& name, const AttributeMap& attrs, Errc code) {
    auto r = engine().create_queue(id(name), attrs, {}, nullptr);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.error().code, code) << name << ": " << r.error().message;
    EXPECT_FALSE(engine().queue_exists(id(name)));
  };
  bad("bad name", {}, Errc::kInvalidParameterValue);
  bad(std::string(81, 'a'), {}, Errc::kInvalidParameterValue);
  bad("q.fifo", {}, Errc::kInvalidParameterValue);  // .fifo only with FifoQueue=true
  bad("q", {{"FifoQueue", "true"}}, Errc::kInvalidParameterValue);
  bad("q", {{"FifoQueue", "maybe"}}, Errc::kInvalidAttributeValue);
  bad("q", {{"ContentBasedDeduplication", "true"}}, Errc::kInvalidAttributeName);
  bad("q", {{"VisibilityTimeout", "43201"}}, Errc::kInvalidAttributeValue);
  bad("q", {{"QueueArn", "x"}}, Errc::kInvalidAttributeName);
  TagMap many;
  for (int i = 0; i < 51; ++i) many["k" + std::to_string(i)] = "v";
  auto r = engine().create_queue(id(), {}, many, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidParameterValue);
}

TEST_F(EngineTest, ListQueuesByAccountAndPrefix) {
  create("beta");
  create("alpha");
  create("alps");
  ASSERT_TRUE(engine().create_queue({"999", "alpha"}, {}, {}, nullptr).ok());
  EXPECT_EQ(engine().list_queues(kAccount, ""),
            (std::vector<std::string>{"alpha", "alps", "beta"}));
  EXPECT_EQ(engine().list_queues(kAccount, "al"), (std::vector<std::string>{"alpha", "alps"}));
  EXPECT_EQ(engine().list_queues(kAccount, "z"), std::vector<std::string>{});
  EXPECT_EQ(engine().list_queues("999", ""), std::vector<std::string>{"alpha"});
}

TEST_F(EngineTest, GetQueueAttributesSelectsAndRejectsUnknownNames) {
  create("q", {{"DelaySeconds", "3"}});
  auto r = engine().get_queue_attributes(id(), {"DelaySeconds", "QueueArn"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (AttributeMap{{"DelaySeconds", "3"},
                              {"QueueArn", "arn:aws:sqs:us-east-1:123456789012:q"}}));
  EXPECT_TRUE(engine().get_queue_attributes(id(), {})->empty());
  EXPECT_TRUE(engine().get_queue_attributes(id(), {"Policy"})->empty());  // not set
  for (const char* name : {"Bogus", "FifoQueue", "ContentBasedDeduplication"}) {
    auto e = engine().get_queue_attributes(id(), {name});
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().code, Errc::kInvalidAttributeName);
    EXPECT_EQ(e.error().message, std::string("Unknown Attribute ") + name + ".");
  }
  EXPECT_EQ(engine().get_queue_attributes(id("missing"), {"All"}).error().code,
            Errc::kQueueDoesNotExist);
}

TEST_F(EngineTest, SetQueueAttributesUpdatesAndValidates) {
  create();
  clock_.advance_s(100);
  bool done = false;
  ASSERT_TRUE(engine()
                  .set_queue_attributes(id(), {{"VisibilityTimeout", "45"}, {"Policy", "{}"}},
                                        [&](bool ok) { done = ok; })
                  .ok());
  EXPECT_TRUE(done);
  EXPECT_EQ(attr("VisibilityTimeout"), "45");
  EXPECT_EQ(attr("Policy"), "{}");
  EXPECT_EQ(attr("LastModifiedTimestamp"), "1700000100");
  EXPECT_EQ(attr("CreatedTimestamp"), "1700000000");
  auto r = engine().set_queue_attributes(id(), {{"MessageRetentionPeriod", "59"}}, nullptr);
  EXPECT_EQ(r.error().code, Errc::kInvalidAttributeValue);
  EXPECT_EQ(r.error().message, "Invalid value for the parameter MessageRetentionPeriod.");
  r = engine().set_queue_attributes(id(), {{"ApproximateNumberOfMessages", "1"}}, nullptr);
  EXPECT_EQ(r.error().code, Errc::kInvalidAttributeName);
  EXPECT_EQ(engine().set_queue_attributes(id("nope"), {}, nullptr).error().code,
            Errc::kQueueDoesNotExist);
}

TEST_F(EngineTest, RedrivePolicyTargetMustExist) {
  create();
  const std::string policy =
      R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":3})";
  auto r = engine().set_queue_attributes(id(), {{"RedrivePolicy", policy}}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidParameterValue);
  EXPECT_TRUE(r.error().message.ends_with("Reason: Dead letter target does not exist."));
  create("dlq");
  ASSERT_TRUE(engine().set_queue_attributes(id(), {{"RedrivePolicy", policy}}, nullptr).ok());
  EXPECT_EQ(attr("RedrivePolicy"), policy);
}

TEST_F(EngineTest, Tags) {
  create("q", {}, {{"a", "1"}});
  bool done = false;
  ASSERT_TRUE(engine().tag_queue(id(), {{"b", "2"}, {"a", "3"}}, [&](bool ok) { done = ok; }).ok());
  EXPECT_TRUE(done);
  EXPECT_EQ(engine().list_queue_tags(id()).value(), (TagMap{{"a", "3"}, {"b", "2"}}));
  ASSERT_TRUE(engine().untag_queue(id(), {"a", "absent"}, nullptr).ok());
  EXPECT_EQ(engine().list_queue_tags(id()).value(), (TagMap{{"b", "2"}}));
  TagMap more;
  for (int i = 0; i < 49; ++i) more["k" + std::to_string(i)] = "v";
  ASSERT_TRUE(engine().tag_queue(id(), more, nullptr).ok());  // 50 in all
  auto r = engine().tag_queue(id(), {{"one-too-many", "v"}}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidParameterValue);
  EXPECT_EQ(engine().list_queue_tags(id())->size(), 50u);
  EXPECT_EQ(engine().tag_queue(id(), {{std::string(129, 'k'), "v"}}, nullptr).error().code,
            Errc::kInvalidParameterValue);
  EXPECT_EQ(engine().list_queue_tags(id("nope")).error().code, Errc::kQueueDoesNotExist);
}

TEST_F(EngineTest, DeleteQueueRemovesEverythingAndRecreatedQueueStartsEmpty) {
  create();
  send("one");
  send("two");
  auto got = receive(1);
  ASSERT_EQ(got.size(), 1u);
  int wakes = 0;
  ASSERT_TRUE(engine().create_queue(id("other"), {}, {}, nullptr).ok());
  // A watcher on an empty queue: deletion must wake it.
  ASSERT_TRUE(engine().watch(id("other"), [&] { ++wakes; }).ok());
  bool done = false;
  ASSERT_TRUE(engine().delete_queue(id("other"), [&](bool ok) { done = ok; }).ok());
  EXPECT_TRUE(done);
  EXPECT_EQ(wakes, 1);
  ASSERT_TRUE(engine().delete_queue(id(), nullptr).ok());
  EXPECT_FALSE(engine().queue_exists(id()));
  EXPECT_EQ(engine().delete_queue(id(), nullptr).error().code, Errc::kQueueDoesNotExist);
  EXPECT_EQ(engine().receive_messages(id(), {}).error().code, Errc::kQueueDoesNotExist);
  EXPECT_EQ(message_keys(), 0u);
  EXPECT_FALSE(store_.get("sqs/q/123456789012/q").has_value());

  // The name can be reused 60 seconds after the deletion.
  clock_.advance_ms(59'999);
  auto recent = engine().create_queue(id(), {}, {}, nullptr);
  ASSERT_FALSE(recent.ok());
  EXPECT_EQ(recent.error().code, Errc::kQueueDeletedRecently);
  EXPECT_EQ(recent.error().message,
            "You must wait 60 seconds after deleting a queue before you can create another with "
            "the same name.");
  clock_.advance_ms(1);
  create();
  EXPECT_EQ(counts(), Counts(0, 0, 0));
  EXPECT_TRUE(receive().empty());
  // A handle from the old incarnation is not valid for the new queue.
  auto r = engine().delete_message(id(), got[0].receipt_handle);
  EXPECT_EQ(r.error().code, Errc::kReceiptHandleIsInvalid);
}

// Messages ----------------------------------------------------------------------------------

TEST_F(EngineTest, SendReceiveDelete) {
  create();
  MessageAttributes attrs;
  attrs["Foo"] = {"String", "Bar", ""};
  SendResult s = send("hello", "q", std::nullopt, attrs);
  EXPECT_TRUE(std::regex_match(
      s.message_id,
      std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  EXPECT_EQ(s.md5_of_body, "5d41402abc4b2a76b9719d911017c592");
  EXPECT_EQ(s.md5_of_message_attributes, "ae7155c6026991b6d54b11589678bf9c");
  EXPECT_EQ(s.md5_of_message_system_attributes, "");
  EXPECT_EQ(s.sequence_number, "");
  EXPECT_EQ(counts(), Counts(1, 0, 0));

  auto got = receive(10, std::nullopt, "q", {}, {"All"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, s.message_id);
  EXPECT_EQ(got[0].body, "hello");
  EXPECT_EQ(got[0].md5_of_body, s.md5_of_body);
  EXPECT_EQ(got[0].message_attributes, attrs);
  EXPECT_EQ(got[0].md5_of_message_attributes, "ae7155c6026991b6d54b11589678bf9c");
  EXPECT_TRUE(got[0].attributes.empty());
  EXPECT_EQ(counts(), Counts(0, 1, 0));
  EXPECT_TRUE(receive().empty());

  ASSERT_TRUE(engine().delete_message(id(), got[0].receipt_handle).ok());
  EXPECT_EQ(counts(), Counts(0, 0, 0));
  EXPECT_EQ(message_keys(), 0u);
  // Deleting again is fine, as on AWS.
  EXPECT_TRUE(engine().delete_message(id(), got[0].receipt_handle).ok());
}

TEST_F(EngineTest, ReceiveReturnsOldestFirstUpToMax) {
  create();
  for (int i = 0; i < 15; ++i) send("m" + std::to_string(i));
  auto first = receive(10);
  ASSERT_EQ(first.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(first[i].body, "m" + std::to_string(i));
  auto rest = receive(10);
  ASSERT_EQ(rest.size(), 5u);
  EXPECT_EQ(rest[0].body, "m10");
}

TEST_F(EngineTest, VisibilityTimeoutExpires) {
  create("q", {{"VisibilityTimeout", "30"}});
  send("x");
  auto a = receive(1, std::nullopt, "q", {"ApproximateReceiveCount"});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].attributes.at("ApproximateReceiveCount"), "1");
  clock_.advance_ms(29'999);
  EXPECT_TRUE(receive().empty());
  EXPECT_EQ(counts(), Counts(0, 1, 0));
  clock_.advance_ms(1);
  EXPECT_EQ(counts(), Counts(1, 0, 0));
  auto b = receive(1, 5, "q", {"ApproximateReceiveCount"});
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].attributes.at("ApproximateReceiveCount"), "2");
  EXPECT_NE(a[0].receipt_handle, b[0].receipt_handle);
  clock_.advance_s(5);  // the per-receive timeout (5 s) applied, not the queue's
  EXPECT_EQ(receive().size(), 1u);
}

TEST_F(EngineTest, ZeroVisibilityTimeoutLeavesMessageVisible) {
  create();
  send("x");
  auto a = receive(10, 0);
  ASSERT_EQ(a.size(), 1u);  // returned once per receive, not twice
  EXPECT_EQ(counts(), Counts(1, 0, 0));
  auto b = receive(10, 0, "q", {"ApproximateReceiveCount"});
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].attributes.at("ApproximateReceiveCount"), "2");
}

TEST_F(EngineTest, QueueDelayAndPerMessageDelay) {
  create("q", {{"DelaySeconds", "10"}});
  send("queue-delay");
  send("no-delay", "q", 0);
  send("long-delay", "q", 20);
  EXPECT_EQ(counts(), Counts(1, 0, 2));
  auto got = receive();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "no-delay");
  EXPECT_EQ(*engine().next_visibility_change(id()), clock_.now_ms() + 10'000);
  clock_.advance_s(10);
  got = receive();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "queue-delay");
  // Changing the queue's delay is not retroactive on a standard queue.
  ASSERT_TRUE(engine().set_queue_attributes(id(), {{"DelaySeconds", "0"}}, nullptr).ok());
  EXPECT_EQ(counts(), Counts(0, 2, 1));
  clock_.advance_s(10);
  got = receive();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "long-delay");
}

TEST_F(EngineTest, RetentionPeriodExpiresMessages) {
  create("q", {{"MessageRetentionPeriod", "60"}});
  send("old");
  send("inflight");
  auto got = receive(1, 600);
  ASSERT_EQ(got.size(), 1u);  // "old" is now in flight for 10 minutes
  clock_.advance_s(30);
  send("young");
  clock_.advance_s(30);  // "old" and the other first one are 60 s old: gone
  EXPECT_EQ(counts(), Counts(1, 0, 0));
  got = receive();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "young");
  EXPECT_EQ(message_keys(), 1u);  // young's payload; its receive state is in memory
  // A message in flight expires as well.
  clock_.advance_s(30);
  EXPECT_EQ(counts(), Counts(0, 0, 0));
  EXPECT_EQ(message_keys(), 0u);
}

TEST_F(EngineTest, ChangeMessageVisibility) {
  create();
  send("x");
  auto got = receive(1, 30);
  ASSERT_EQ(got.size(), 1u);
  const std::string handle = got[0].receipt_handle;
  // Extend: counts from now.
  clock_.advance_s(20);
  ASSERT_TRUE(engine().change_message_visibility(id(), handle, 60).ok());
  EXPECT_EQ(*engine().next_visibility_change(id()), clock_.now_ms() + 60'000);
  clock_.advance_s(59);
  EXPECT_TRUE(receive().empty());
  // To zero: visible at once.
  ASSERT_TRUE(engine().change_message_visibility(id(), handle, 0).ok());
  EXPECT_EQ(counts(), Counts(1, 0, 0));
  // Not in flight any more.
  auto r = engine().change_message_visibility(id(), handle, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMessageNotInflight);
  EXPECT_EQ(r.error().message, "The specified message isn't in flight.");
  // Received again: the old handle can no longer change visibility.
  auto again = receive(1, 30);
  ASSERT_EQ(again.size(), 1u);
  r = engine().change_message_visibility(id(), handle, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidParameterValue);
  EXPECT_EQ(r.error().message,
            "Value " + handle +
                " for parameter ReceiptHandle is invalid. Reason: Message does not exist or is "
                "not available for visibility timeout change.");
  EXPECT_TRUE(engine().change_message_visibility(id(), again[0].receipt_handle, 10).ok());
  // Gone.
  ASSERT_TRUE(engine().delete_message(id(), again[0].receipt_handle).ok());
  EXPECT_EQ(engine().change_message_visibility(id(), again[0].receipt_handle, 10).error().code,
            Errc::kInvalidParameterValue);
  EXPECT_EQ(engine().change_message_visibility(id(), "garbage", 10).error().code,
            Errc::kReceiptHandleIsInvalid);
}

TEST_F(EngineTest, ChangeVisibilityTwelveHourLimit) {
  create();
  send("x");
  auto got = receive(1, 30);
  ASSERT_EQ(got.size(), 1u);
  const std::string h = got[0].receipt_handle;
  auto r = engine().change_message_visibility(id(), h, 43'201);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidParameterValue);
  EXPECT_EQ(r.error().message,
            "Value 43201 for parameter VisibilityTimeout is invalid. Reason: Total "
            "VisibilityTimeout for the message is beyond the limit [43200 seconds]");
  EXPECT_EQ(engine().change_message_visibility(id(), h, -1).error().code,
            Errc::kInvalidParameterValue);
  clock_.advance_s(20);
  // 12 hours from the receive: 20 s have passed, so at most 43180 s more.
  EXPECT_EQ(engine().change_message_visibility(id(), h, 43'181).error().code,
            Errc::kInvalidParameterValue);
  ASSERT_TRUE(engine().change_message_visibility(id(), h, 43'180).ok());
  clock_.advance_s(43'179);
  EXPECT_EQ(engine().change_message_visibility(id(), h, 2).error().code,
            Errc::kInvalidParameterValue);
  EXPECT_TRUE(engine().change_message_visibility(id(), h, 1).ok());
}

TEST_F(EngineTest, PurgeQueue) {
  create("q", {{"DelaySeconds", "0"}});
  send("visible");
  send("inflight");
  send("delayed", "q", 100);
  ASSERT_EQ(receive(1).size(), 1u);
  EXPECT_EQ(counts(), Counts(1, 1, 1));
  bool done = false;
  ASSERT_TRUE(engine().purge_queue(id(), [&](bool ok) { done = ok; }).ok());
  EXPECT_TRUE(done);
  EXPECT_EQ(counts(), Counts(0, 0, 0));
  EXPECT_EQ(message_keys(), 0u);
  send("after");
  clock_.advance_s(59);
  auto r = engine().purge_queue(id(), nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kPurgeQueueInProgress);
  EXPECT_EQ(r.error().message, "Only one PurgeQueue operation on q is allowed every 60 seconds.");
  auto got = receive();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "after");
  clock_.advance_s(1);
  EXPECT_TRUE(engine().purge_queue(id(), nullptr).ok());
  // Another queue's purge is independent.
  create("other");
  EXPECT_TRUE(engine().purge_queue(id("other"), nullptr).ok());
}

TEST_F(EngineTest, ReceiptHandles) {
  create();
  send("x");
  std::set<std::string> handles;
  for (int i = 0; i < 5; ++i) {
    auto got = receive(1, 0);
    ASSERT_EQ(got.size(), 1u);
    handles.insert(got[0].receipt_handle);
  }
  EXPECT_EQ(handles.size(), 5u);  // a new handle for each receive
  for (const std::string& bad :
       std::vector<std::string>{"", "bogus", "AAAA", std::string(48, 'A')}) {
    auto r = engine().delete_message(id(), bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kReceiptHandleIsInvalid);
    EXPECT_EQ(r.error().message,
              "The input receipt handle \"" + bad + "\" is not a valid receipt handle.");
  }
  // A handle belongs to its queue.
  create("other");
  EXPECT_EQ(engine().delete_message(id("other"), *handles.begin()).error().code,
            Errc::kReceiptHandleIsInvalid);
  // An older handle of a message received again since still deletes it (AWS standard queues).
  ASSERT_TRUE(engine().delete_message(id(), *handles.begin()).ok());
  EXPECT_EQ(counts(), Counts(0, 0, 0));
  EXPECT_TRUE(engine().delete_message(id(), *handles.rbegin()).ok());
}

TEST_F(EngineTest, MessageAttributeSelection) {
  create();
  MessageAttributes attrs;
  attrs["General"] = {"String", "Kenobi", ""};
  attrs["Hello"] = {"String", "There", ""};
  attrs["Help.Me"] = {"String", "Me", ""};
  send("msg", "q", std::nullopt, attrs);
  auto select = [&](std::vector<std::string> names) {
    auto got = receive(1, 0, "q", {}, std::move(names));
    EXPECT_EQ(got.size(), 1u);
    return got.empty() ? ReceivedMessage{} : got[0];
  };
  ReceivedMessage m = select({});
  EXPECT_TRUE(m.message_attributes.empty());
  EXPECT_EQ(m.md5_of_message_attributes, "");
  for (const char* all : {"All", ".*", "*"}) {
    m = select({all});
    EXPECT_EQ(m.message_attributes, attrs);
    EXPECT_EQ(m.md5_of_message_attributes, "4c360f3fdafd970e05fae2f149d997f5");
  }
  m = select({"Hello", "General"});
  EXPECT_EQ(m.message_attributes.size(), 2u);
  EXPECT_EQ(m.md5_of_message_attributes, "fca026605781cb4126a1e9044df24232");
  m = select({"Hello", "Nope"});
  EXPECT_EQ(m.md5_of_message_attributes, "a311262e065454b75da111d535b8dacd");
  m = select({"Help.*"});
  EXPECT_EQ(m.message_attributes.size(), 1u);
  EXPECT_TRUE(m.message_attributes.contains("Help.Me"));
  m = select({"Hel.*"});  // a prefix, not a dotted namespace
  EXPECT_EQ(m.message_attributes.size(), 2u);
  EXPECT_EQ(m.md5_of_message_attributes, "83fee93c1bcd8b9a5a923ffacdc636c7");
  m = select({"Nope"});
  EXPECT_TRUE(m.message_attributes.empty());
}

TEST_F(EngineTest, SystemAttributes) {
  create();
  SendRequest req;
  req.body = "x";
  req.system_attributes["AWSTraceHeader"] = {
      "String", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", ""};
  req.message_group_id = "group-7";
  auto s = engine().send_message(id(), std::move(req), nullptr);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->md5_of_message_system_attributes, "5ae4d5d7636402d80f4eb6d213245a88");
  const int64_t sent = clock_.now_ms();
  clock_.advance_ms(1234);
  auto got = receive(1, 0, "q", {"All"});
  ASSERT_EQ(got.size(), 1u);
  const std::map<std::string, std::string> expected = {
      {"SenderId", kAccount},
      {"SentTimestamp", std::to_string(sent)},
      {"ApproximateReceiveCount", "1"},
      {"ApproximateFirstReceiveTimestamp", std::to_string(sent + 1234)},
      {"AWSTraceHeader",
       "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
      {"MessageGroupId", "group-7"}};
  EXPECT_EQ(got[0].attributes, expected);
  clock_.advance_ms(1000);
  got = receive(1, 0, "q", {"ApproximateFirstReceiveTimestamp", "SentTimestamp"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].attributes,
            (std::map<std::string, std::string>{
                {"ApproximateFirstReceiveTimestamp", std::to_string(sent + 1234)},
                {"SentTimestamp", std::to_string(sent)}}));
}

TEST_F(EngineTest, SendValidation) {
  create("q", {{"MaximumMessageSize", "1024"}});
  SendRequest req;
  req.body = "";
  EXPECT_EQ(send_error(req).code, Errc::kInvalidParameterValue);
  req.body = "bad\x01";
  EXPECT_EQ(send_error(req).code, Errc::kInvalidMessageContents);
  req.body = "\xC3";
  EXPECT_EQ(send_error(req).code, Errc::kInvalidMessageContents);
  req.body = std::string(1025, 'x');
  Error e = send_error(req);
  EXPECT_EQ(e.code, Errc::kInvalidParameterValue);
  EXPECT_EQ(e.message,
            "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.");
  send(std::string(1024, 'x'));  // exactly the maximum is fine
  // Attributes count toward the size: name (1) + type (6) + value (1).
  req.body = std::string(1016, 'x');
  req.message_attributes["a"] = {"String", "v", ""};
  send(req.body, "q", std::nullopt, req.message_attributes);
  req.body = std::string(1017, 'x');
  EXPECT_EQ(send_error(req).code, Errc::kInvalidParameterValue);
  req = SendRequest{};
  req.body = "x";
  req.deduplication_id = "d";
  e = send_error(req);
  EXPECT_EQ(e.code, Errc::kInvalidParameterValue);
  EXPECT_EQ(e.message,
            "Value d for parameter MessageDeduplicationId is invalid. Reason: The request "
            "include parameter that is not valid for this queue type.");
  req = SendRequest{};
  req.body = "x";
  req.delay_seconds = 901;
  e = send_error(req);
  EXPECT_EQ(e.message,
            "Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 "
            "and <= 900.");
  req.delay_seconds = -1;
  EXPECT_EQ(send_error(req).code, Errc::kInvalidParameterValue);
  req.delay_seconds = 900;
  EXPECT_TRUE(engine().send_message(id(), req, nullptr).ok());
  req = SendRequest{};
  req.body = "x";
  req.message_attributes["AWS.x"] = {"String", "v", ""};
  EXPECT_EQ(send_error(req).code, Errc::kInvalidParameterValue);
  req.message_attributes.clear();
  req.system_attributes["Other"] = {"String", "v", ""};
  EXPECT_EQ(send_error(req).code, Errc::kInvalidParameterValue);
  req.system_attributes.clear();
  req.message_group_id = "bad group";
  EXPECT_EQ(send_error(req).code, Errc::kInvalidParameterValue);
  EXPECT_EQ(send_error(req, "missing").code, Errc::kQueueDoesNotExist);
}

TEST_F(EngineTest, ReceiveValidation) {
  create();
  for (int bad : {0, 11, -1}) {
    ReceiveRequest req;
    req.max_messages = bad;
    auto r = engine().receive_messages(id(), req);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kInvalidParameterValue);
    EXPECT_EQ(r.error().message, "Value " + std::to_string(bad) +
                                     " for parameter MaxNumberOfMessages is invalid. Reason: "
                                     "Must be between 1 and 10, if provided.");
  }
  ReceiveRequest req;
  req.visibility_timeout = 43'201;
  EXPECT_EQ(engine().receive_messages(id(), req).error().code, Errc::kInvalidParameterValue);
  req.visibility_timeout = 43'200;
  EXPECT_TRUE(engine().receive_messages(id(), req).ok());
}

TEST_F(EngineTest, SendBatchIsOneWrite) {
  create();
  std::vector<SendRequest> reqs(4);
  reqs[0].body = "a";
  reqs[1].body = "";  // fails
  reqs[2].body = "c";
  reqs[2].delay_seconds = 5;
  reqs[3].body = "d";
  const size_t writes = store_.writes();
  int calls = 0;
  auto r = engine().send_messages(id(), std::move(reqs), [&](bool ok) { calls += ok; });
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 4u);
  EXPECT_TRUE((*r)[0].ok());
  EXPECT_FALSE((*r)[1].ok());
  EXPECT_TRUE((*r)[2].ok());
  EXPECT_TRUE((*r)[3].ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(store_.writes(), writes + 1);
  EXPECT_EQ(counts(), Counts(2, 0, 1));
  // Nothing accepted: no write, no callback.
  std::vector<SendRequest> bad(2);
  auto none = engine().send_messages(id(), std::move(bad), [&](bool) { ++calls; });
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE((*none)[0].ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(store_.writes(), writes + 1);
  EXPECT_EQ(engine().send_messages(id("missing"), {}, nullptr).error().code,
            Errc::kQueueDoesNotExist);
}

TEST_F(EngineTest, InflightLimit) {
  EngineOptions options;
  options.max_inflight_standard = 3;
  make_engine(options);
  create();
  for (int i = 0; i < 5; ++i) send("m" + std::to_string(i));
  EXPECT_EQ(receive(10).size(), 3u);
  ReceiveRequest req;
  auto r = engine().receive_messages(id(), req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kOverLimit);
  clock_.advance_s(30);  // all three become visible again
  auto got = receive(2);
  ASSERT_EQ(got.size(), 2u);
  ASSERT_TRUE(engine().delete_message(id(), got[0].receipt_handle).ok());
  EXPECT_EQ(receive(10).size(), 2u);
  EXPECT_EQ(engine().receive_messages(id(), req).error().code, Errc::kOverLimit);
}

// Long polling --------------------------------------------------------------------------------

// A store that applies writes at once (reads see them) but holds their callbacks until
// sync(), as RocksStore does until the WAL is synced.
class UnsyncedStore final : public storage::Store {
 public:
  void write(storage::WriteBatch batch, storage::Durability durability,
             storage::WriteCallback done) override {
    inner_.write(std::move(batch), durability, nullptr);
    if (done) held_.push_back(std::move(done));
  }
  std::optional<std::string> get(std::string_view key) override { return inner_.get(key); }
  void scan_from(std::string_view prefix, std::string_view from, const ScanFn& fn) override {
    inner_.scan_from(prefix, from, fn);
  }
  std::string describe() const override { return "unsynced"; }
  void close() override { inner_.close(); }
  // Runs the held callbacks, in write order.
  void sync() {
    auto held = std::move(held_);
    held_.clear();
    for (auto& done : held) done(true);
  }

 private:
  storage::MemoryStore inner_;
  std::vector<storage::WriteCallback> held_;
};

SendRequest request(std::string body, std::string group = {}, std::string dedup = {}) {
  SendRequest r;
  r.body = std::move(body);
  r.message_group_id = std::move(group);
  r.deduplication_id = std::move(dedup);
  return r;
}

TEST(EngineSync, ASentMessageIsServedOnlyOnceDurable) {
  UnsyncedStore store;
  base::FakeClock clock(1'700'000'000'000);
  Engine engine(store, clock, EngineOptions{});
  const QueueId standard{"123456789012", "q"}, fifo{"123456789012", "q.fifo"};
  ASSERT_TRUE(engine.create_queue(standard, {}, {}, nullptr).ok());
  ASSERT_TRUE(engine.create_queue(fifo, {{"FifoQueue", "true"}}, {}, nullptr).ok());
  store.sync();
  ReceiveRequest receive;
  receive.max_messages = 10;

  for (const QueueId& q : {standard, fifo}) {
    SCOPED_TRACE(q.name);
    const bool is_fifo = q == fifo;
    int wakes = 0;
    ASSERT_TRUE(engine.watch(q, [&] { ++wakes; }).ok());
    bool answered = false;
    auto sent = engine.send_message(q, request("first", is_fifo ? "g" : "", is_fifo ? "d1" : ""),
                                    [&](bool ok) { answered = ok; });
    ASSERT_TRUE(sent.ok()) << sent.error().message;
    // Written, not yet durable: the sender has no answer, and no receiver gets it.
    EXPECT_FALSE(answered);
    EXPECT_EQ(wakes, 0);
    EXPECT_TRUE(engine.receive_messages(q, receive)->empty());
    int early = 0;
    ASSERT_TRUE(engine.watch(q, [&] { ++early; }).ok());
    EXPECT_EQ(early, 0);  // a long poll keeps waiting

    store.sync();
    EXPECT_TRUE(answered);
    EXPECT_EQ(wakes, 1);  // woken by the sync
    EXPECT_EQ(early, 1);
    auto got = engine.receive_messages(q, receive);
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ((*got)[0].body, "first");
    EXPECT_EQ((*got)[0].message_id, sent->message_id);
  }

  // Durable messages ahead of an unsynced one are served; it and those after it wait.
  for (const QueueId& q : {standard, fifo}) {
    SCOPED_TRACE(q.name);
    const bool is_fifo = q == fifo;
    ASSERT_TRUE(
        engine.send_message(q, request("a", is_fifo ? "g2" : "", is_fifo ? "a" : ""), nullptr)
            .ok());
    store.sync();
    ASSERT_TRUE(
        engine.send_message(q, request("b", is_fifo ? "g2" : "", is_fifo ? "b" : ""), nullptr)
            .ok());
    auto got = engine.receive_messages(q, receive);
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ((*got)[0].body, "a");
    store.sync();
    ASSERT_TRUE(engine.delete_message(q, (*got)[0].receipt_handle).ok());
    got = engine.receive_messages(q, receive);
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ((*got)[0].body, "b");
  }
}

TEST_F(EngineTest, WatchWakesOnSendVisibilityChangeAndDeletion) {
  create();
  int wakes = 0;
  auto token = engine().watch(id(), [&] { ++wakes; });
  ASSERT_TRUE(token.ok());
  send("delayed", "q", 10);  // not receivable yet: no wake
  EXPECT_EQ(wakes, 0);
  EXPECT_EQ(*engine().next_visibility_change(id()), clock_.now_ms() + 10'000);
  send("now");
  EXPECT_EQ(wakes, 1);
  send("again");  // watchers fire once
  EXPECT_EQ(wakes, 1);

  // Watching a queue with visible messages wakes at once.
  int immediate = 0;
  ASSERT_TRUE(engine().watch(id(), [&] { ++immediate; }).ok());
  EXPECT_EQ(immediate, 1);

  auto got = receive(10, 30);
  ASSERT_EQ(got.size(), 2u);
  int by_visibility = 0;
  ASSERT_TRUE(engine().watch(id(), [&] { ++by_visibility; }).ok());
  ASSERT_TRUE(engine().change_message_visibility(id(), got[0].receipt_handle, 15).ok());
  EXPECT_EQ(by_visibility, 0);
  ASSERT_TRUE(engine().change_message_visibility(id(), got[0].receipt_handle, 0).ok());
  EXPECT_EQ(by_visibility, 1);

  ASSERT_EQ(receive().size(), 1u);
  int unwatched = 0;
  auto t = engine().watch(id(), [&] { ++unwatched; });
  ASSERT_TRUE(t.ok());
  engine().unwatch(id(), *t);
  send("x");
  EXPECT_EQ(unwatched, 0);

  EXPECT_EQ(engine().watch(id("missing"), [] {}).error().code, Errc::kQueueDoesNotExist);
  engine().unwatch(id("missing"), 1);  // harmless
}

TEST_F(EngineTest, NextVisibilityChange) {
  create();
  EXPECT_FALSE(engine().next_visibility_change(id()).has_value());
  send("a");
  send("b");
  const int64_t t0 = clock_.now_ms();
  auto got = receive(1, 30);
  clock_.advance_s(5);
  auto got2 = receive(1, 10);
  EXPECT_EQ(*engine().next_visibility_change(id()), t0 + 15'000);
  ASSERT_TRUE(engine().delete_message(id(), got2[0].receipt_handle).ok());
  EXPECT_EQ(*engine().next_visibility_change(id()), t0 + 30'000);
  clock_.advance_s(25);
  EXPECT_FALSE(engine().next_visibility_change(id()).has_value());  // visible now
  EXPECT_FALSE(engine().next_visibility_change(id("missing")).has_value());
}

// Dead-letter queues ----------------------------------------------------------------------------

TEST_F(EngineTest, MessagesMoveToDeadLetterQueueAfterMaxReceiveCount) {
  create("dlq");
  create(
      "q",
      {{"RedrivePolicy",
        R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":2})"}});
  const SendResult s = send("poison");
  const int64_t sent = clock_.now_ms();
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(receive(1, 10).size(), 1u);
    clock_.advance_s(10);
  }
  int woke = 0;
  ASSERT_TRUE(engine().watch(id("dlq"), [&] { ++woke; }).ok());
  EXPECT_TRUE(receive().empty());  // the third receive moves it
  EXPECT_EQ(woke, 1);
  EXPECT_EQ(counts(), Counts(0, 0, 0));
  EXPECT_EQ(counts("dlq"), Counts(1, 0, 0));
  auto got = receive(1, 30, "dlq", {"All"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, s.message_id);
  EXPECT_EQ(got[0].body, "poison");
  EXPECT_EQ(got[0].attributes.at("SentTimestamp"), std::to_string(sent));
  EXPECT_EQ(got[0].attributes.at("DeadLetterQueueSourceArn"),
            "arn:aws:sqs:us-east-1:123456789012:q");
  EXPECT_EQ(got[0].attributes.at("ApproximateReceiveCount"), "3");
  ASSERT_TRUE(engine().delete_message(id("dlq"), got[0].receipt_handle).ok());
  EXPECT_EQ(message_keys(), 0u);
}

TEST_F(EngineTest, DeadLetterMoveSurvivesUncachedBodies) {
  EngineOptions options;
  options.body_cache_bytes = 0;
  make_engine(options);
  create("dlq");
  create(
      "q",
      {{"RedrivePolicy",
        R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":1})"}});
  send("body");
  ASSERT_EQ(receive(1, 0).size(), 1u);
  EXPECT_TRUE(receive().empty());
  auto got = receive(1, 30, "dlq");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "body");
}

TEST_F(EngineTest, ZeroTimeoutReceivesTakeTurns) {
  create("q");
  for (int i = 0; i < 25; ++i) send("m" + std::to_string(i));
  auto bodies = [](const std::vector<ReceivedMessage>& got) {
    std::vector<std::string> out;
    for (const auto& m : got) out.push_back(m.body);
    return out;
  };
  auto range = [](int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i) out.push_back("m" + std::to_string(i));
    return out;
  };
  // Returned messages go behind the visible ones, in the order they came back.
  EXPECT_EQ(bodies(receive(10, 0)), range(0, 10));
  EXPECT_EQ(bodies(receive(10, 0)), range(10, 20));
  auto third = range(20, 25);
  for (auto& b : range(0, 5)) third.push_back(b);
  EXPECT_EQ(bodies(receive(10, 0)), third);
  // A message whose visibility timeout ran out goes back by age, ahead of the returned ones.
  auto held = receive(1, 5);  // m5, the front of the returned ones, in flight for 5 s
  ASSERT_EQ(bodies(held), range(5, 6));
  clock_.advance_s(6);
  EXPECT_EQ(bodies(receive(3, 0)), (std::vector<std::string>{"m5", "m6", "m7"}));
  EXPECT_EQ(attr("ApproximateNumberOfMessages"), "25");
}

TEST_F(EngineTest, StartReceiveLeavesUncachedBodiesToFinishReceive) {
  EngineOptions options;
  options.body_cache_bytes = 0;
  make_engine(options);
  create("q");
  MessageAttributes attrs;
  attrs["k"] = {"String", "v", ""};
  send("first", "q", std::nullopt, attrs);
  send("second");
  send("third");
  ReceiveRequest req;
  req.max_messages = 10;
  req.attribute_names = {"ApproximateReceiveCount"};
  req.message_attribute_names = {"All"};
  auto started = engine().start_receive(id(), req);
  ASSERT_TRUE(started.ok());
  EXPECT_TRUE(started->reads_store());
  // start_receive() has taken them already: a receive in between finds none visible.
  ReceiveRequest again = req;
  again.max_messages = 1;
  auto other = engine().receive_messages(id(), again);  // nothing visible: all are in flight
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());
  std::vector<ReceivedMessage> early = engine().finish_receive(std::move(*started));
  ASSERT_EQ(early.size(), 3u);
  EXPECT_EQ(early[0].body, "first");
  EXPECT_EQ(early[0].message_attributes.at("k").string_value, "v");
  EXPECT_EQ(early[0].attributes.at("ApproximateReceiveCount"), "1");
  EXPECT_EQ(early[2].body, "third");

  // A message deleted between the two steps is dropped from the answer.
  ASSERT_TRUE(engine().change_message_visibility(id(), early[1].receipt_handle, 0).ok());
  auto restarted = engine().start_receive(id(), req);
  ASSERT_TRUE(restarted.ok());
  ASSERT_TRUE(restarted->reads_store());
  ASSERT_TRUE(engine().delete_message(id(), early[1].receipt_handle).ok());
  EXPECT_TRUE(engine().finish_receive(std::move(*restarted)).empty());

  // With the bodies cached, start_receive() answers alone.
  make_engine();
  create("cached");
  send("hot", "cached");
  ReceiveRequest one;
  auto hot = engine().start_receive(id("cached"), one);
  ASSERT_TRUE(hot.ok());
  EXPECT_FALSE(hot->reads_store());
  auto done = engine().finish_receive(std::move(*hot));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].body, "hot");
}

TEST_F(EngineTest, ReadAheadBringsTheNextPayloadsIntoTheCache) {
  EngineOptions options;
  options.body_cache_bytes = 1 << 20;  // about 950 of the 2,000 bodies below
  make_engine(options);
  create("q");
  const std::string body(1000, 'b');
  for (int i = 0; i < 2000; ++i) send(body + std::to_string(i));
  // One consumer drains the queue, running each read-ahead a receive asks for right after it
  // (as the API does on a disk thread): no receive has to read the store itself, and every
  // body comes back in order.
  ReceiveRequest req;
  req.max_messages = 10;
  int received = 0, cold = 0, read_aheads = 0;
  while (received < 2000) {
    auto started = engine().start_receive(id(), req);
    ASSERT_TRUE(started.ok());
    if (started->reads_store()) ++cold;
    std::optional<ReadAhead> ahead = started->read_ahead;
    auto got = engine().finish_receive(std::move(*started));
    ASSERT_FALSE(got.empty()) << "at message " << received;
    for (auto& m : got) {
      EXPECT_EQ(m.body, body + std::to_string(received++));
      ASSERT_TRUE(engine().delete_message(id(), m.receipt_handle).ok());
    }
    if (ahead) {
      engine().read_ahead(*ahead);
      ++read_aheads;
    }
  }
  EXPECT_EQ(cold, 0);
  EXPECT_GE(read_aheads, 4);  // 1,050 bodies, at most 256 each
  EXPECT_EQ(message_keys(), 0u);
  EXPECT_TRUE(receive().empty());
}

TEST(MessageIndexTest, CountsWaitingMessagesWithoutACachedPayload) {
  std::atomic<int64_t> cache_bytes{0};
  MessageIndex index(cache_bytes);
  EXPECT_FALSE(index.has_uncached());
  MessageMeta cached;
  cached.seq = 1;
  cached.payload = std::make_unique<std::string>("p");
  cache_bytes += cache_cost(1);
  index.add(std::move(cached));
  EXPECT_FALSE(index.has_uncached());
  MessageMeta bare;
  bare.seq = 2;
  MessageMeta& m = index.add(std::move(bare));
  EXPECT_TRUE(index.has_uncached());
  EXPECT_EQ(index.uncached_after(0, 10, 10), std::vector<uint64_t>{2});
  index.set_invisible(m, 1000, MessageStatus::kInflight);  // in flight: not waiting
  EXPECT_FALSE(index.has_uncached());
  EXPECT_TRUE(index.uncached_after(0, 10, 10).empty());
  index.set_visible(m, 1000);
  EXPECT_TRUE(index.has_uncached());
  cache_bytes += cache_cost(1);
  index.cache_payload(m, std::make_unique<std::string>("q"));
  EXPECT_FALSE(index.has_uncached());
  MessageMeta& first = *index.find(1);
  auto taken = index.take_payload(first);
  ASSERT_TRUE(taken);
  EXPECT_EQ(*taken, "p");
  EXPECT_TRUE(index.has_uncached());
  EXPECT_EQ(cache_bytes.load(), cache_cost(1));
  index.remove(first);
  EXPECT_FALSE(index.has_uncached());
  index.remove(*index.find(2));
  EXPECT_EQ(cache_bytes.load(), 0);
  EXPECT_FALSE(index.has_uncached());
}

// Persistence ---------------------------------------------------------------------------------

TEST_F(EngineTest, RecoveryRestoresQueuesAndMessages) {
  create("q", {{"VisibilityTimeout", "40"}, {"DelaySeconds", "0"}}, {{"team", "blue"}});
  create("gone");
  create("dlq");
  ASSERT_TRUE(
      engine()
          .set_queue_attributes(
              id(),
              {{"RedrivePolicy",
                R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":5})"}},
              nullptr)
          .ok());
  const int64_t t0 = clock_.now_ms();
  MessageAttributes attrs;
  attrs["k"] = {"Number", "12.5", ""};
  const SendResult first = send("first", "q", std::nullopt, attrs);
  send("deleted");
  send("delayed", "q", 100);
  send("doomed", "gone");
  clock_.advance_s(1);
  auto got = receive(2, 60);  // first and deleted, in flight for 60 s
  ASSERT_EQ(got.size(), 2u);
  ASSERT_TRUE(engine().delete_message(id(), got[1].receipt_handle).ok());
  ASSERT_TRUE(engine().delete_queue(id("gone"), nullptr).ok());
  ASSERT_TRUE(engine().purge_queue(id("dlq"), nullptr).ok());
  const auto before = engine().get_queue_attributes(id(), {"All"});

  restart();
  EXPECT_EQ(engine().list_queues(kAccount, ""), (std::vector<std::string>{"dlq", "q"}));
  auto after = engine().get_queue_attributes(id(), {"All"});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after.value(), before.value());
  EXPECT_EQ(engine().list_queue_tags(id()).value(), (TagMap{{"team", "blue"}}));
  EXPECT_EQ(counts(), Counts(0, 1, 1));
  // The purge's 60 s rule survives a restart too.
  EXPECT_EQ(engine().purge_queue(id("dlq"), nullptr).error().code, Errc::kPurgeQueueInProgress);

  clock_.advance_s(60);  // first's visibility timeout ends
  auto again = receive(10, std::nullopt, "q", {"All"}, {"All"});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].message_id, first.message_id);
  EXPECT_EQ(again[0].body, "first");
  EXPECT_EQ(again[0].message_attributes, attrs);
  EXPECT_EQ(again[0].md5_of_message_attributes, first.md5_of_message_attributes);
  EXPECT_EQ(again[0].attributes.at("SentTimestamp"), std::to_string(t0));
  EXPECT_EQ(again[0].attributes.at("ApproximateReceiveCount"), "2");
  EXPECT_EQ(again[0].attributes.at("ApproximateFirstReceiveTimestamp"), std::to_string(t0 + 1000));
  // The handle given before the restart still deletes.
  ASSERT_TRUE(engine().delete_message(id(), got[0].receipt_handle).ok());
  clock_.advance_s(100);
  auto delayed = receive();
  ASSERT_EQ(delayed.size(), 1u);
  EXPECT_EQ(delayed[0].body, "delayed");

  // New messages never reuse a sequence number, even across restarts.
  send("new");
  restart();
  EXPECT_EQ(counts(), Counts(1, 1, 0));
  // The redrive policy was reloaded.
  EXPECT_NE(attr("RedrivePolicy"), "<absent>");
  EXPECT_FALSE(engine().queue_exists(id("gone")));
}

TEST_F(EngineTest, SequenceNumbersAreNeverReusedAcrossRestarts) {
  create();
  send("a");
  auto got = receive(1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(engine().delete_message(id(), got[0].receipt_handle).ok());
  restart();
  send("b");
  // Had "b" reused "a"'s sequence number, a's old handle would delete it.
  ASSERT_TRUE(engine().delete_message(id(), got[0].receipt_handle).ok());
  EXPECT_EQ(counts(), Counts(1, 0, 0));
  restart();  // twice, without sending in between
  send("c");
  EXPECT_EQ(counts(), Counts(2, 0, 0));
  auto all = receive(10);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_NE(all[0].message_id, all[1].message_id);
}

// A standard queue without a redrive policy keeps receive state in memory until shutdown. A
// clean restart finds a received message still in flight with its receive count; a crash makes
// it visible again with the count it had before (a redelivery, never a loss).
TEST_F(EngineTest, ReceiveStateIsSavedAtShutdownUnlessARedriveNeedsItSooner) {
  create("dlq");
  create(
      "redriven",
      {{"RedrivePolicy",
        R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":5})"}});
  create("q");
  for (const char* queue : {"q", "redriven"}) {
    send("a", queue);
    ASSERT_EQ(receive(1, 60, queue).size(), 1u);
  }
  EXPECT_EQ(message_keys(), 3u);  // two payloads and the redriven queue's state

  restart();
  EXPECT_EQ(counts("q"), Counts(0, 1, 0));
  EXPECT_EQ(counts("redriven"), Counts(0, 1, 0));
  clock_.advance_s(60);
  auto got = receive(1, 60, "q", {"All"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].attributes.at("ApproximateReceiveCount"), "2");
  ASSERT_EQ(receive(1, 60, "redriven").size(), 1u);

  crash_and_restart();
  EXPECT_EQ(counts("q"), Counts(1, 0, 0));  // the second receive's state was not saved
  EXPECT_EQ(counts("redriven"), Counts(0, 1, 0));
  got = receive(1, 60, "q", {"All"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].attributes.at("ApproximateReceiveCount"), "2");
  ASSERT_TRUE(engine().delete_message(id("q"), got[0].receipt_handle).ok());
  EXPECT_EQ(counts("q"), Counts(0, 0, 0));
  EXPECT_EQ(message_keys(), 2u);  // the redriven queue's payload and state
}

TEST_F(EngineTest, RecoveryWithoutBodyCacheReadsBodiesFromTheStore) {
  EngineOptions options;
  options.body_cache_bytes = 0;
  make_engine(options);
  create();
  for (int i = 0; i < 20; ++i) send("m" + std::to_string(i));
  auto got = receive(10);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got[3].body, "m3");
  restart(options);
  got = receive(10);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got[0].body, "m10");
}

TEST_F(EngineTest, RecoveryDropsOrphanedMessages) {
  create();
  send("x");
  // Simulate leftovers of a queue whose record is gone.
  std::string orphan = "sqs/m/";
  orphan.append(7, '\0').push_back('\x7f');
  orphan.append(8, '\x01').push_back('p');
  storage::WriteBatch b;
  b.put(orphan, "junk");
  store_.write(std::move(b), storage::Durability::kSync, nullptr);
  restart();
  EXPECT_FALSE(store_.get(orphan).has_value());
  EXPECT_EQ(counts(), Counts(1, 0, 0));
}

TEST_F(EngineTest, DoneCallbackMayReenterTheEngine) {
  create();
  // MemoryStore runs callbacks inline; the engine must not hold the queue's lock then.
  int nested = 0;
  SendRequest req;
  req.body = "outer";
  auto r = engine().send_message(id(), std::move(req), [&](bool) {
    SendRequest inner;
    inner.body = "inner";
    nested += engine().send_message(id(), std::move(inner), nullptr).ok();
    nested += engine().get_queue_attributes(id(), {"All"}).ok();
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(nested, 2);
  ASSERT_TRUE(
      engine()
          .set_queue_attributes(id(), {{"DelaySeconds", "1"}},
                                [&](bool) { nested += engine().purge_queue(id(), nullptr).ok(); })
          .ok());
  EXPECT_EQ(nested, 3);
}

TEST_F(EngineTest, StoreFailureIsReported) {
  create();
  store_.close();
  bool called = false, ok = true;
  SendRequest req;
  req.body = "x";
  ASSERT_TRUE(engine()
                  .send_message(id(), std::move(req),
                                [&](bool o) {
                                  called = true;
                                  ok = o;
                                })
                  .ok());
  EXPECT_TRUE(called);
  EXPECT_FALSE(ok);
}

// Concurrency -----------------------------------------------------------------------------------

TEST_F(EngineTest, ConcurrentProducersAndConsumersLoseNothing) {
  create();
  create("second");
  constexpr int kProducers = 4, kPerProducer = 1500, kConsumers = 4;
  constexpr int kTotal = kProducers * kPerProducer;
  std::mutex mu;
  std::set<std::string> seen;
  std::atomic<int> deleted{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; i += 5) {
        std::vector<SendRequest> batch(5);
        for (int k = 0; k < 5; ++k) batch[k].body = std::to_string(p) + ":" + std::to_string(i + k);
        auto r = engine().send_messages(id(), std::move(batch), nullptr);
        ASSERT_TRUE(r.ok());
        // Unrelated traffic on another queue and the directory.
        SendRequest other;
        other.body = "noise";
        ASSERT_TRUE(engine().send_message(id("second"), std::move(other), nullptr).ok());
        (void)engine().list_queues(kAccount, "");
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      ReceiveRequest req;
      req.max_messages = 10;
      while (deleted.load() < kTotal) {
        auto r = engine().receive_messages(id(), req);
        ASSERT_TRUE(r.ok());
        for (const ReceivedMessage& m : *r) {
          {
            std::lock_guard lock(mu);
            EXPECT_TRUE(seen.insert(m.body).second) << "received twice: " << m.body;
          }
          ASSERT_TRUE(engine().delete_message(id(), m.receipt_handle).ok());
          ++deleted;
        }
        if (r->empty()) std::this_thread::yield();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kTotal));
  EXPECT_EQ(counts(), Counts(0, 0, 0));
  EXPECT_EQ(std::get<0>(counts("second")), kTotal / 5);
}

}  // namespace
}  // namespace ferry::sqs

namespace ferry::sqs {
namespace {

TEST_F(EngineTest, SendToQueuesWritesEveryQueueAndTheExtraInOneBatch) {
  create("a");
  create("b");
  create("f.fifo", {{"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}});
  auto request = [](const std::string& body, const std::string& group = {}) {
    SendRequest r;
    r.body = body;
    r.message_group_id = group;
    return r;
  };
  std::vector<Engine::QueueSend> sends;
  sends.push_back({id("a"), {}});
  sends.back().requests.push_back(request("to a"));
  sends.push_back({id("missing"), {}});
  sends.back().requests.push_back(request("lost"));
  sends.push_back({id("b"), {}});
  sends.back().requests.push_back(request(std::string(1100 * 1024, 'x')));  // too large
  sends.back().requests.push_back(request("to b"));
  sends.push_back({id("f.fifo"), {}});
  sends.back().requests.push_back(request("to f", "g"));
  storage::WriteBatch also;
  also.put("test/also", "with the messages");
  int calls = 0;
  bool ok = false;
  auto results = engine().send_to_queues(std::move(sends), std::move(also), [&](bool r) {
    ++calls;
    ok = r;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(ok);
  ASSERT_EQ(results.size(), 4u);
  ASSERT_TRUE(results[0].ok());
  EXPECT_TRUE(results[0]->at(0).ok());
  ASSERT_FALSE(results[1].ok());
  EXPECT_EQ(results[1].error().code, Errc::kQueueDoesNotExist);
  ASSERT_TRUE(results[2].ok());
  EXPECT_FALSE(results[2]->at(0).ok());
  EXPECT_TRUE(results[2]->at(1).ok());
  ASSERT_TRUE(results[3].ok());
  EXPECT_FALSE(results[3]->at(0)->sequence_number.empty());
  EXPECT_EQ(store_.get("test/also").value_or(""), "with the messages");

  auto body_of = [&](const std::string& q) {
    auto got = receive(10, std::nullopt, q);
    return got.size() == 1 ? got[0].body : std::to_string(got.size()) + " messages";
  };
  EXPECT_EQ(body_of("a"), "to a");
  EXPECT_EQ(body_of("b"), "to b");
  EXPECT_EQ(body_of("f.fifo"), "to f");
  // Everything survives a restart: it was one synced write.
  restart();
  clock_.advance_ms(31'000);
  EXPECT_EQ(body_of("a"), "to a");
  EXPECT_EQ(body_of("f.fifo"), "to f");
}

}  // namespace
}  // namespace ferry::sqs
