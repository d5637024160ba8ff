// FIFO queues: deduplication, sequence numbers, message groups, receive attempts, recovery.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "base/clock.h"
#include "sqs/engine/engine.h"
#include "storage/memory_store.h"

namespace ferry::sqs {
namespace {

constexpr char kAccount[] = "123456789012";

class FifoTest : public ::testing::Test {
 protected:
  FifoTest() { engine_ = std::make_unique<Engine>(store_, clock_, options_); }

  void restart() {
    engine_.reset();
    engine_ = std::make_unique<Engine>(store_, clock_, options_);
    engine_->recover();
  }

  Engine& engine() { return *engine_; }
  static QueueId id(const std::string& name = "q.fifo") { return {kAccount, name}; }

  void create(const std::string& name = "q.fifo", AttributeMap attrs = {}) {
    attrs["FifoQueue"] = "true";
    bool done = false;
    auto r = engine().create_queue(id(name), attrs, {}, [&](bool ok) { done = ok; });
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(done);
  }

  Result<SendResult> try_send(const std::string& body, const std::string& group,
                              const std::string& dedup = {}, const std::string& queue = "q.fifo") {
    SendRequest req;
    req.body = body;
    req.message_group_id = group;
    req.deduplication_id = dedup;
    return engine().send_message(id(queue), std::move(req), [](bool) {});
  }

  SendResult send(const std::string& body, const std::string& group, std::string dedup = {},
                  const std::string& queue = "q.fifo") {
    if (dedup.empty()) dedup = body;
    auto r = try_send(body, group, dedup, queue);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : SendResult{};
  }

  std::vector<ReceivedMessage> receive(int max = 10, std::optional<int> visibility = std::nullopt,
                                       const std::string& attempt = {},
                                       const std::string& queue = "q.fifo") {
    ReceiveRequest req;
    req.max_messages = max;
    req.visibility_timeout = visibility;
    req.attribute_names = {"All"};
    req.receive_request_attempt_id = attempt;
    auto r = engine().receive_messages(id(queue), req);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : std::vector<ReceivedMessage>{};
  }

  static std::vector<std::string> bodies(const std::vector<ReceivedMessage>& ms) {
    std::vector<std::string> out;
    for (const auto& m : ms) out.push_back(m.body);
    return out;
  }

  void remove(const ReceivedMessage& m, const std::string& queue = "q.fifo") {
    auto r = engine().delete_message(id(queue), m.receipt_handle);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  std::string attr(const std::string& name, const std::string& queue = "q.fifo") {
    auto r = engine().get_queue_attributes(id(queue), {name});
    if (!r.ok() || !r->contains(name)) return "<absent>";
    return r->at(name);
  }

  storage::MemoryStore store_;
  base::FakeClock clock_;
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
};

// SequenceNumbers compare as numbers: by length, then lexically.
bool less_numeric(const std::string& a, const std::string& b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

TEST_F(FifoTest, CreateAndAttributes) {
  create("q.fifo");
  EXPECT_EQ(attr("FifoQueue"), "true");
  EXPECT_EQ(attr("ContentBasedDeduplication"), "false");
  EXPECT_EQ(attr("DeduplicationScope"), "queue");
  EXPECT_EQ(attr("FifoThroughputLimit"), "perQueue");
  // Idempotent with the same attributes; a standard queue of the same name is another queue.
  create("q.fifo");
  EXPECT_EQ(engine().create_queue(id(), {}, {}, nullptr).error().code,
            Errc::kInvalidParameterValue);  // a .fifo name needs FifoQueue=true
  EXPECT_EQ(engine().create_queue(id("plain"), {{"FifoQueue", "true"}}, {}, nullptr).error().code,
            Errc::kInvalidParameterValue);

  ASSERT_TRUE(engine()
                  .set_queue_attributes(id(),
                                        {{"ContentBasedDeduplication", "true"},
                                         {"DeduplicationScope", "messageGroup"},
                                         {"FifoThroughputLimit", "perMessageGroupId"}},
                                        nullptr)
                  .ok());
  EXPECT_EQ(attr("ContentBasedDeduplication"), "true");
  EXPECT_EQ(attr("FifoThroughputLimit"), "perMessageGroupId");
  // perMessageGroupId needs DeduplicationScope messageGroup.
  auto bad = engine().set_queue_attributes(id(), {{"DeduplicationScope", "queue"}}, nullptr);
  EXPECT_EQ(bad.error().code, Errc::kInvalidAttributeValue);
  EXPECT_EQ(engine().set_queue_attributes(id(), {{"FifoQueue", "true"}}, nullptr).error().code,
            Errc::kInvalidAttributeName);
  EXPECT_EQ(
      engine().set_queue_attributes(id(), {{"DeduplicationScope", "x"}}, nullptr).error().code,
      Errc::kInvalidAttributeValue);
}

TEST_F(FifoTest, SendValidation) {
  create();
  auto r = try_send("b", "");
  EXPECT_EQ(r.error().code, Errc::kMissingParameter);
  EXPECT_EQ(r.error().message, "The request must contain the parameter MessageGroupId.");
  r = try_send("b", "g");
  EXPECT_EQ(r.error().code, Errc::kInvalidParameterValue);
  EXPECT_EQ(r.error().message,
            "The queue should either have ContentBasedDeduplication enabled or "
            "MessageDeduplicationId provided explicitly");
  SendRequest delayed;
  delayed.body = "b";
  delayed.message_group_id = "g";
  delayed.deduplication_id = "d";
  delayed.delay_seconds = 5;
  r = engine().send_message(id(), delayed, nullptr);
  EXPECT_EQ(r.error().message,
            "Value 5 for parameter DelaySeconds is invalid. Reason: The request include "
            "parameter that is not valid for this queue type.");
  delayed.delay_seconds = 0;  // explicitly zero is fine
  EXPECT_TRUE(engine().send_message(id(), delayed, nullptr).ok());
  EXPECT_EQ(try_send("b", "g", std::string(129, 'd')).error().code, Errc::kInvalidParameterValue);
  EXPECT_EQ(try_send("b", "g g", "d2").error().code, Errc::kInvalidParameterValue);
}

TEST_F(FifoTest, DeduplicationWindowEdges) {
  create();
  const SendResult first = send("one", "g", "d");
  EXPECT_EQ(first.sequence_number.size(), 20u);
  clock_.advance_ms(300'000 - 1);
  // Within 5 minutes: accepted, not enqueued, answered with the original's id and number.
  const SendResult dup = send("other body", "g", "d");
  EXPECT_EQ(dup.message_id, first.message_id);
  EXPECT_EQ(dup.sequence_number, first.sequence_number);
  EXPECT_NE(dup.md5_of_body, first.md5_of_body);  // of the body this request sent
  EXPECT_EQ(attr("ApproximateNumberOfMessages"), "1");
  // Deleting the message does not end the window.
  auto got = receive();
  ASSERT_EQ(got.size(), 1u);
  remove(got[0]);
  EXPECT_EQ(send("one", "g", "d").message_id, first.message_id);
  EXPECT_TRUE(receive().empty());
  // Exactly 5 minutes after the send the id is new again.
  clock_.advance_ms(1);
  const SendResult again = send("one", "g", "d");
  EXPECT_NE(again.message_id, first.message_id);
  EXPECT_TRUE(less_numeric(first.sequence_number, again.sequence_number));
  EXPECT_EQ(bodies(receive()), std::vector<std::string>{"one"});
}

TEST_F(FifoTest, DuplicatesInOneBatch) {
  create();
  std::vector<SendRequest> batch(3);
  for (int i = 0; i < 3; ++i) {
    batch[i].body = "b" + std::to_string(i);
    batch[i].message_group_id = "g";
    batch[i].deduplication_id = i == 2 ? "d0" : "d" + std::to_string(i);
  }
  auto r = engine().send_messages(id(), batch, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[2]->message_id, (*r)[0]->message_id);
  EXPECT_EQ((*r)[2]->sequence_number, (*r)[0]->sequence_number);
  EXPECT_TRUE(less_numeric((*r)[0]->sequence_number, (*r)[1]->sequence_number));
  EXPECT_EQ(bodies(receive()), (std::vector<std::string>{"b0", "b1"}));
}

TEST_F(FifoTest, ContentBasedDeduplicationAndScope) {
  create("q.fifo", {{"ContentBasedDeduplication", "true"}});
  send("same", "g1", "<cbd>");
  auto one = try_send("same", "g1");
  auto two = try_send("same", "g2");  // scope queue: a duplicate whatever the group
  auto three = try_send("different", "g1");
  ASSERT_TRUE(one.ok() && two.ok() && three.ok());
  EXPECT_EQ(one->message_id, two->message_id);
  EXPECT_NE(one->message_id, three->message_id);
  auto got = receive();
  ASSERT_EQ(got.size(), 3u);  // "same" with id <cbd>, "same" by hash, "different"
  EXPECT_EQ(got[1].attributes.at("MessageDeduplicationId"),
            "0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5");  // SHA-256

  create("scoped.fifo", {{"DeduplicationScope", "messageGroup"}});
  auto x = try_send("x", "g1", "d", "scoped.fifo");
  auto y = try_send("y", "g2", "d", "scoped.fifo");
  auto z = try_send("z", "g1", "d", "scoped.fifo");
  ASSERT_TRUE(x.ok() && y.ok() && z.ok());
  EXPECT_NE(x->message_id, y->message_id);
  EXPECT_EQ(x->message_id, z->message_id);
}

TEST_F(FifoTest, SequenceNumbersIncreaseAndAreReturnedOnReceive) {
  create();
  std::vector<std::string> seqs;
  for (int i = 0; i < 5; ++i) seqs.push_back(send("m" + std::to_string(i), "g").sequence_number);
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_TRUE(less_numeric(seqs[i - 1], seqs[i]));
  auto got = receive();
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].attributes.at("SequenceNumber"), seqs[i]);
    EXPECT_EQ(got[i].attributes.at("MessageGroupId"), "g");
    EXPECT_EQ(got[i].attributes.at("MessageDeduplicationId"), "m" + std::to_string(i));
  }
}

TEST_F(FifoTest, GroupsAreLockedWhileAMessageIsInFlight) {
  create();
  for (const char* b : {"a1", "b1", "a2", "a3", "b2"}) send(b, std::string(1, b[0]));
  // As many of the oldest group as possible, then the next group.
  auto first = receive(2, 30);
  EXPECT_EQ(bodies(first), (std::vector<std::string>{"a1", "a2"}));
  auto second = receive(10, 30);
  EXPECT_EQ(bodies(second), (std::vector<std::string>{"b1", "b2"}));  // a3 waits for a1, a2
  EXPECT_TRUE(receive().empty());
  remove(first[0]);
  EXPECT_TRUE(receive().empty());  // a2 still in flight
  remove(first[1]);
  EXPECT_EQ(bodies(receive(10, 30)), std::vector<std::string>{"a3"});
}

TEST_F(FifoTest, ExpiredVisibilityRedeliversInOrder) {
  create();
  send("a1", "a");
  send("a2", "a");
  auto got = receive(1, 10);
  ASSERT_EQ(bodies(got), std::vector<std::string>{"a1"});
  clock_.advance_s(9);
  EXPECT_TRUE(receive().empty());
  clock_.advance_s(1);
  auto again = receive(1, 10);
  ASSERT_EQ(bodies(again), std::vector<std::string>{"a1"});
  EXPECT_EQ(again[0].attributes.at("ApproximateReceiveCount"), "2");
  // The first receive's handle has expired on a FIFO queue.
  auto stale = engine().delete_message(id(), got[0].receipt_handle);
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(stale.error().message.ends_with("Reason: The receipt handle has expired."));
  remove(again[0]);
  EXPECT_EQ(bodies(receive()), std::vector<std::string>{"a2"});
}

TEST_F(FifoTest, ChangeVisibilityToZeroUnlocksTheGroup) {
  create();
  send("a1", "a");
  send("a2", "a");
  auto got = receive(1, 60);
  ASSERT_TRUE(engine().change_message_visibility(id(), got[0].receipt_handle, 0).ok());
  EXPECT_EQ(bodies(receive()), (std::vector<std::string>{"a1", "a2"}));
}

TEST_F(FifoTest, ConcurrentConsumersKeepEachGroupInOrder) {
  create();
  constexpr int kGroups = 8, kPerGroup = 50;
  for (int i = 0; i < kPerGroup; ++i) {
    for (int g = 0; g < kGroups; ++g)
      send(std::to_string(g) + ":" + std::to_string(i), std::to_string(g));
  }
  std::mutex mu;
  std::map<std::string, int> next;  // group -> next index expected
  std::set<std::string> held;       // groups a consumer is processing
  std::atomic<int> done{0};
  std::atomic<bool> failed{false};
  auto consumer = [&] {
    while (done < kGroups * kPerGroup && !failed) {
      ReceiveRequest req;
      req.max_messages = 3;
      req.visibility_timeout = 300;
      req.attribute_names = {"MessageGroupId"};
      auto got = engine().receive_messages(id(), req);
      if (!got.ok()) {
        failed = true;
        return;
      }
      std::map<std::string, std::vector<const ReceivedMessage*>> by_group;
      for (const auto& m : *got) by_group[m.attributes.at("MessageGroupId")].push_back(&m);
      for (auto& [group, ms] : by_group) {
        {
          std::lock_guard lock(mu);
          if (!held.insert(group).second) failed = true;  // two consumers in one group
          for (const auto* m : ms) {
            if (m->body != group + ":" + std::to_string(next[group]++)) failed = true;
          }
          // Released before the deletes: the group stays locked in the engine until then.
          held.erase(group);
        }
        for (const auto* m : ms) {
          if (!engine().delete_message(id(), m->receipt_handle).ok()) failed = true;
          ++done;
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(consumer);
  for (auto& t : threads) t.join();
  EXPECT_FALSE(failed);
  EXPECT_EQ(done, kGroups * kPerGroup);
  for (int g = 0; g < kGroups; ++g) EXPECT_EQ(next[std::to_string(g)], kPerGroup);
}

TEST_F(FifoTest, ReceiveRequestAttemptIdReturnsTheSameMessages) {
  create();
  for (const char* b : {"a1", "a2", "b1"}) send(b, std::string(1, b[0]));
  auto first = receive(2, 30, "attempt-1");
  ASSERT_EQ(bodies(first), (std::vector<std::string>{"a1", "a2"}));
  clock_.advance_s(20);
  auto retry = receive(2, 30, "attempt-1");
  ASSERT_EQ(retry.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(retry[i].message_id, first[i].message_id);
    EXPECT_EQ(retry[i].receipt_handle, first[i].receipt_handle);
  }
  // The retry restarted the visibility timeout: 29 s later a1 is still in flight.
  clock_.advance_s(29);
  EXPECT_EQ(bodies(receive(10, 30)), std::vector<std::string>{"b1"});
  // Once a message of the attempt changed, the id starts a new receive.
  remove(first[0]);
  remove(first[1]);
  EXPECT_TRUE(receive(2, 30, "attempt-1").empty());
  // Attempt ids are per queue and expire after 5 minutes.
  send("a3", "a");
  auto fresh = receive(1, 1, "attempt-2");
  ASSERT_EQ(bodies(fresh), std::vector<std::string>{"a3"});
  clock_.advance_ms(300'000);
  auto later = receive(1, 1, "attempt-2");
  ASSERT_EQ(later.size(), 1u);
  EXPECT_NE(later[0].receipt_handle, fresh[0].receipt_handle);
}

TEST_F(FifoTest, InflightLimitReturnsNothingWithoutError) {
  options_.max_inflight_fifo = 2;
  engine_ = std::make_unique<Engine>(store_, clock_, options_);
  create();
  for (const char* g : {"a", "b", "c"}) send(g, g);
  EXPECT_EQ(receive(10, 30).size(), 2u);
  EXPECT_TRUE(receive(10, 30).empty());
}

TEST_F(FifoTest, WatchIgnoresLockedGroupsAndWakesOnDelete) {
  create();
  send("a1", "a");
  send("a2", "a");
  auto got = receive(1, 30);
  int woke = 0;
  ASSERT_TRUE(engine().watch(id(), [&] { ++woke; }).ok());
  EXPECT_EQ(woke, 0);  // a2 is visible but its group is locked
  remove(got[0]);
  EXPECT_EQ(woke, 1);
}

TEST_F(FifoTest, StateSurvivesRestart) {
  create();
  const SendResult a1 = send("a1", "a", "d1");
  send("a2", "a", "d2");
  send("b1", "b", "d3");
  auto got = receive(1, 60);
  ASSERT_EQ(bodies(got), std::vector<std::string>{"a1"});
  restart();
  // The window still holds, the group is still locked, and numbers keep increasing.
  EXPECT_EQ(send("a1 again", "a", "d1").message_id, a1.message_id);
  EXPECT_EQ(bodies(receive(10, 60)), std::vector<std::string>{"b1"});
  const SendResult c1 = send("c1", "c", "d4");
  EXPECT_TRUE(less_numeric(a1.sequence_number, c1.sequence_number));
  remove(got[0]);  // handles stay valid across a restart
  EXPECT_EQ(bodies(receive(10, 60)), (std::vector<std::string>{"a2", "c1"}));
  // After the window the dedup records are gone from the store as well.
  clock_.advance_ms(300'000);
  send("x", "x", "dx");
  size_t records = 0;
  store_.scan("sqs/d/", [&](std::string_view, std::string_view) {
    ++records;
    return true;
  });
  EXPECT_EQ(records, 1u);
  restart();
  EXPECT_NE(send("a1", "a", "d1").message_id, a1.message_id);
}

TEST_F(FifoTest, DeadLetterQueueMustBeFifoAndKeepsTheGroupMoving) {
  create("dlq.fifo");
  ASSERT_TRUE(engine().create_queue(id("std-dlq"), {}, {}, nullptr).ok());
  auto bad = engine().create_queue(
      id("src.fifo"),
      {{"FifoQueue", "true"},
       {"RedrivePolicy",
        R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:std-dlq","maxReceiveCount":1})"}},
      {}, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.error().message.ends_with(
      "Reason: Dead-letter queue must be same type of queue as the source.."));
  create(
      "src.fifo",
      {{"RedrivePolicy",
        R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq.fifo","maxReceiveCount":2})"}});
  send("a1", "a", "", "src.fifo");
  send("a2", "a", "", "src.fifo");
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(bodies(receive(1, 5, "", "src.fifo")), std::vector<std::string>{"a1"});
    clock_.advance_s(5);
  }
  // The third receive moves a1 (received exactly maxReceiveCount times) and delivers a2.
  EXPECT_EQ(bodies(receive(1, 5, "", "src.fifo")), std::vector<std::string>{"a2"});
  auto dead = receive(10, 30, "", "dlq.fifo");
  ASSERT_EQ(bodies(dead), std::vector<std::string>{"a1"});
  EXPECT_EQ(dead[0].attributes.at("MessageGroupId"), "a");
  EXPECT_EQ(dead[0].attributes.at("DeadLetterQueueSourceArn"),
            "arn:aws:sqs:us-east-1:123456789012:src.fifo");
}

}  // namespace
}  // namespace ferry::sqs
