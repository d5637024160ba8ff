// Dead-letter queues (RedriveAllowPolicy, ListDeadLetterSourceQueues), permissions and message
// move tasks.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "base/clock.h"
#include "sqs/engine/engine.h"
#include "storage/memory_store.h"

namespace ferry::sqs {
namespace {

namespace json = boost::json;

constexpr char kAccount[] = "123456789012";
constexpr char kArnPrefix[] = "arn:aws:sqs:us-east-1:123456789012:";

std::string arn(const std::string& name) { return kArnPrefix + name; }

std::string redrive(const std::string& dlq, int max_receives) {
  return R"({"deadLetterTargetArn":")" + arn(dlq) + R"(","maxReceiveCount":)" +
         std::to_string(max_receives) + "}";
}

class RedriveTest : public ::testing::Test {
 protected:
  RedriveTest() { engine_ = std::make_unique<Engine>(store_, clock_); }

  void restart() {
    engine_.reset();
    engine_ = std::make_unique<Engine>(store_, clock_);
    engine_->recover();
  }

  Engine& engine() { return *engine_; }
  static QueueId id(const std::string& name) { return {kAccount, name}; }

  void create(const std::string& name, const AttributeMap& attrs = {}) {
    auto r = engine().create_queue(id(name), attrs, {}, nullptr);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  std::string send(const std::string& queue, const std::string& body) {
    SendRequest req;
    req.body = body;
    auto r = engine().send_message(id(queue), std::move(req), nullptr);
    EXPECT_TRUE(r.ok());
    if (r.ok()) sent_ids_.insert(r->message_id);
    return r.ok() ? r->message_id : "";
  }

  std::vector<ReceivedMessage> receive(const std::string& queue, int visibility = 0) {
    ReceiveRequest req;
    req.max_messages = 10;
    req.visibility_timeout = visibility;
    req.attribute_names = {"All"};
    auto r = engine().receive_messages(id(queue), req);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<ReceivedMessage>{};
  }

  // Sends n messages to src and lets each reach its dead-letter queue (maxReceiveCount 1).
  void fill_dead_letter_queue(const std::string& src, int n) {
    for (int i = 0; i < n; ++i) send(src, "m" + std::to_string(i));
    ASSERT_EQ(receive(src).size(), static_cast<size_t>(n));
    EXPECT_TRUE(receive(src).empty());  // this receive moves them
  }

  std::string attr(const std::string& queue, const std::string& name) {
    auto r = engine().get_queue_attributes(id(queue), {name});
    if (!r.ok() || !r->contains(name)) return "<absent>";
    return r->at(name);
  }

  MoveTaskInfo latest_task(const std::string& source) {
    auto r = engine().list_message_move_tasks(kAccount, arn(source), 1);
    EXPECT_TRUE(r.ok() && !r->empty());
    return r.ok() && !r->empty() ? r->front() : MoveTaskInfo{};
  }

  storage::MemoryStore store_;
  base::FakeClock clock_;
  std::unique_ptr<Engine> engine_;
  std::set<std::string> sent_ids_;
};

TEST_F(RedriveTest, RedriveAllowPolicyIsEnforced) {
  create("closed", {{"RedriveAllowPolicy", R"({"redrivePermission":"denyAll"})"}});
  create("picky", {{"RedriveAllowPolicy", R"({"redrivePermission":"byQueue","sourceQueueArns":[")" +
                                              arn("allowed") + R"("]})"}});
  auto denied =
      engine().create_queue(id("src"), {{"RedrivePolicy", redrive("closed", 3)}}, {}, nullptr);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, Errc::kInvalidParameterValue);
  EXPECT_NE(denied.error().message.find("RedriveAllowPolicy"), std::string::npos);
  EXPECT_FALSE(engine()
                   .create_queue(id("other"), {{"RedrivePolicy", redrive("picky", 3)}}, {}, nullptr)
                   .ok());
  create("allowed", {{"RedrivePolicy", redrive("picky", 3)}});
}

TEST_F(RedriveTest, ListDeadLetterSourceQueues) {
  create("dlq");
  create("b-src", {{"RedrivePolicy", redrive("dlq", 3)}});
  create("a-src", {{"RedrivePolicy", redrive("dlq", 3)}});
  create("unrelated");
  EXPECT_EQ(engine().list_dead_letter_source_queues(id("dlq")).value(),
            (std::vector<std::string>{"a-src", "b-src"}));
  ASSERT_TRUE(engine().set_queue_attributes(id("b-src"), {{"RedrivePolicy", ""}}, nullptr).ok());
  EXPECT_EQ(engine().list_dead_letter_source_queues(id("dlq")).value(),
            std::vector<std::string>{"a-src"});
  EXPECT_EQ(engine().list_dead_letter_source_queues(id("nope")).error().code,
            Errc::kQueueDoesNotExist);
}

TEST_F(RedriveTest, DeletingADeadLetterQueueLeavesSourcesAlone) {
  create("dlq");
  create("src", {{"RedrivePolicy", redrive("dlq", 1)}});
  send("src", "x");
  ASSERT_TRUE(engine().delete_queue(id("dlq"), nullptr).ok());
  EXPECT_EQ(attr("src", "RedrivePolicy"), redrive("dlq", 1));
  // Without its dead-letter queue the message stays where it is.
  EXPECT_EQ(receive("src").size(), 1u);
  EXPECT_EQ(receive("src").size(), 1u);
}

TEST_F(RedriveTest, PermissionsEditThePolicyAsAwsDoes) {
  create("q");
  ASSERT_TRUE(
      engine().add_permission(id("q"), "one", {"111122223333"}, {"SendMessage"}, nullptr).ok());
  ASSERT_TRUE(engine()
                  .add_permission(id("q"), "two", {"111122223333", "444455556666"},
                                  {"ReceiveMessage", "DeleteMessage"}, nullptr)
                  .ok());
  const json::value policy = json::parse(attr("q", "Policy"));
  const json::value expected = json::parse(R"({
    "Version": "2012-10-17",
    "Id": "arn:aws:sqs:us-east-1:123456789012:q/SQSDefaultPolicy",
    "Statement": [
      {"Sid": "one", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
       "Action": "SQS:SendMessage", "Resource": "arn:aws:sqs:us-east-1:123456789012:q"},
      {"Sid": "two", "Effect": "Allow",
       "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]},
       "Action": ["SQS:ReceiveMessage", "SQS:DeleteMessage"],
       "Resource": "arn:aws:sqs:us-east-1:123456789012:q"}]})");
  EXPECT_EQ(policy, expected);
  EXPECT_EQ(
      engine().add_permission(id("q"), "one", {"1"}, {"SendMessage"}, nullptr).error().message,
      "Value one for parameter Label is invalid. Reason: Already exists.");
  EXPECT_EQ(engine().add_permission(id("q"), "x", {"1"}, {"CreateQueue"}, nullptr).error().code,
            Errc::kInvalidParameterValue);
  EXPECT_EQ(engine()
                .add_permission(
                    id("q"), "x", {"1"},
                    {"SendMessage", "ReceiveMessage", "DeleteMessage", "PurgeQueue", "GetQueueUrl",
                     "GetQueueAttributes", "ChangeMessageVisibility", "ListQueueTags"},
                    nullptr)
                .error()
                .code,
            Errc::kOverLimit);
  EXPECT_EQ(engine().add_permission(id("q"), "bad label", {"1"}, {"*"}, nullptr).error().code,
            Errc::kInvalidParameterValue);

  restart();  // the policy is persisted with the queue
  ASSERT_TRUE(engine().remove_permission(id("q"), "one", nullptr).ok());
  EXPECT_EQ(engine().remove_permission(id("q"), "one", nullptr).error().message,
            "Value one for parameter Label is invalid. Reason: can't find label on existing "
            "policy.");
  ASSERT_TRUE(engine().remove_permission(id("q"), "two", nullptr).ok());
  EXPECT_EQ(attr("q", "Policy"), "<absent>");  // the last statement takes the policy with it
  EXPECT_EQ(engine().remove_permission(id("q"), "two", nullptr).error().message,
            "Value two for parameter Label is invalid. Reason: can't find label.");
}

TEST_F(RedriveTest, MoveTaskValidation) {
  create("dlq");
  create("src", {{"RedrivePolicy", redrive("dlq", 1)}});
  auto start = [&](const std::string& source, const std::string& dest = {},
                   std::optional<int> rate = std::nullopt) {
    return engine().start_message_move_task(kAccount, source, dest, rate, nullptr);
  };
  EXPECT_EQ(start("nonsense").error().code, Errc::kInvalidParameterValue);
  EXPECT_EQ(start(arn("missing")).error().code, Errc::kResourceNotFound);
  EXPECT_EQ(start(arn("src")).error().message,
            "Source queue must be configured as a Dead Letter Queue.");
  EXPECT_EQ(start(arn("dlq"), arn("missing")).error().code, Errc::kResourceNotFound);
  EXPECT_EQ(start(arn("dlq"), {}, 501).error().code, Errc::kInvalidParameterValue);
  EXPECT_EQ(start(arn("dlq"), {}, 0).error().code, Errc::kInvalidParameterValue);
  EXPECT_EQ(engine().list_message_move_tasks(kAccount, arn("dlq"), 11).error().code,
            Errc::kInvalidParameterValue);
  EXPECT_TRUE(engine().list_message_move_tasks(kAccount, arn("dlq"), 10).value().empty());
  EXPECT_EQ(engine().cancel_message_move_task(kAccount, "garbage", nullptr).error().code,
            Errc::kInvalidParameterValue);

  fill_dead_letter_queue("src", 3);
  auto handle = start(arn("dlq"), {}, 1);
  ASSERT_TRUE(handle.ok());
  EXPECT_EQ(start(arn("dlq")).error().message,
            "There is already a task running. Only one active task is allowed for a source queue "
            "arn at a given time.");
  auto moved = engine().cancel_message_move_task(kAccount, *handle, nullptr);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 0);
  EXPECT_EQ(latest_task("dlq").status, "CANCELLED");
  EXPECT_TRUE(latest_task("dlq").task_handle.empty());
  EXPECT_FALSE(engine().cancel_message_move_task(kAccount, *handle, nullptr).ok());
  EXPECT_FALSE(engine().run_move_tasks().has_value());  // nothing running
}

TEST_F(RedriveTest, MoveTaskHonoursItsRateAndRedrivesToTheSources) {
  create("dlq");
  create("src", {{"RedrivePolicy", redrive("dlq", 1)}});
  fill_dead_letter_queue("src", 5);
  ASSERT_EQ(attr("dlq", "ApproximateNumberOfMessages"), "5");
  auto handle = engine().start_message_move_task(kAccount, arn("dlq"), {}, 2, nullptr);
  ASSERT_TRUE(handle.ok());
  MoveTaskInfo t = latest_task("dlq");
  EXPECT_EQ(t.status, "RUNNING");
  EXPECT_EQ(t.task_handle, *handle);
  EXPECT_EQ(t.to_move, 5);
  EXPECT_EQ(t.max_messages_per_second, 2);

  // At 2 messages a second: one at once, then one every 500 ms.
  auto next = engine().run_move_tasks();
  EXPECT_EQ(latest_task("dlq").moved, 1);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, clock_.now_ms() + 500);
  engine().run_move_tasks();  // not yet due
  EXPECT_EQ(latest_task("dlq").moved, 1);
  clock_.advance_ms(1000);
  engine().run_move_tasks();
  EXPECT_EQ(latest_task("dlq").moved, 3);
  clock_.advance_ms(999);
  engine().run_move_tasks();
  EXPECT_EQ(latest_task("dlq").moved, 4);
  clock_.advance_ms(1);
  engine().run_move_tasks();
  t = latest_task("dlq");
  EXPECT_EQ(t.moved, 5);
  EXPECT_EQ(t.status, "COMPLETED");
  EXPECT_TRUE(t.task_handle.empty());
  EXPECT_FALSE(engine().run_move_tasks().has_value());

  // Back in the source as new messages: new ids, send times and receive counts, and no longer
  // naming a dead-letter source.
  EXPECT_EQ(attr("dlq", "ApproximateNumberOfMessages"), "0");
  auto back = receive("src", 30);
  ASSERT_EQ(back.size(), 5u);
  for (const auto& m : back) {
    EXPECT_FALSE(m.attributes.contains("DeadLetterQueueSourceArn"));
    EXPECT_FALSE(sent_ids_.contains(m.message_id));
    EXPECT_EQ(m.attributes.at("ApproximateReceiveCount"), "1");
  }
  // The last one moved just now: its retention counts from the move.
  EXPECT_EQ(back.back().attributes.at("SentTimestamp"), std::to_string(clock_.now_ms()));
}

TEST_F(RedriveTest, MoveTaskToADestinationAndAcrossRestart) {
  create("dlq");
  create("src", {{"RedrivePolicy", redrive("dlq", 1)}});
  create("elsewhere");
  fill_dead_letter_queue("src", 4);
  ASSERT_TRUE(
      engine().start_message_move_task(kAccount, arn("dlq"), arn("elsewhere"), 1, nullptr).ok());
  engine().run_move_tasks();
  EXPECT_EQ(latest_task("dlq").moved, 1);
  restart();  // the task resumes where it was
  MoveTaskInfo t = latest_task("dlq");
  EXPECT_EQ(t.status, "RUNNING");
  EXPECT_EQ(t.destination_arn, arn("elsewhere"));
  clock_.advance_s(10);
  // A task that fell behind catches up at most a second's worth (here 1) per call.
  for (int i = 0; i < 3; ++i) engine().run_move_tasks();
  t = latest_task("dlq");
  EXPECT_EQ(t.status, "COMPLETED");
  EXPECT_EQ(t.moved, 4);
  EXPECT_EQ(attr("elsewhere", "ApproximateNumberOfMessages"), "4");
  EXPECT_EQ(attr("src", "ApproximateNumberOfMessages"), "0");
}

TEST_F(RedriveTest, MoveTaskFailsWhenTheSourceQueueIsGone) {
  create("dlq");
  create("src", {{"RedrivePolicy", redrive("dlq", 1)}});
  create("src2", {{"RedrivePolicy", redrive("dlq", 1)}});
  fill_dead_letter_queue("src", 1);
  ASSERT_TRUE(engine().delete_queue(id("src"), nullptr).ok());
  ASSERT_TRUE(
      engine().start_message_move_task(kAccount, arn("dlq"), {}, std::nullopt, nullptr).ok());
  engine().run_move_tasks();
  MoveTaskInfo t = latest_task("dlq");
  EXPECT_EQ(t.status, "FAILED");
  EXPECT_EQ(t.failure_reason, "AWS.SimpleQueueService.NonExistentQueue");
  EXPECT_EQ(attr("dlq", "ApproximateNumberOfMessages"), "1");  // nothing lost
}

}  // namespace
}  // namespace ferry::sqs
