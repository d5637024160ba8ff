#include "sqs/api/fast_input.h"

#include <gtest/gtest.h>

#include "sqs/api/fast_input_check.h"

namespace ferry::sqs {
namespace {

bool decodes(FastAction action, std::string_view body) {
  FastInput input;
  return decode_fast_input(action, body, &input);
}

TEST(FastInput, TakesSendMessageBatchAsTheSdksSendIt) {
  FastInput in;
  ASSERT_TRUE(decode_fast_input(FastAction::kSendMessageBatch,
                                R"( {"QueueUrl":"http://h/0/q.fifo","Entries":[
            {"Id":"a","MessageBody":"x\"y\u00e9\n","MessageGroupId":"g","MessageDeduplicationId":"d"},
            {"MessageBody":"two","Id":"b"}]} )",
                                &in));
  EXPECT_EQ(in.queue_url, "http://h/0/q.fifo");
  ASSERT_EQ(in.entries.size(), 2u);
  EXPECT_EQ(in.entries[0].id, "a");
  EXPECT_EQ(in.entries[0].value, "x\"y\xc3\xa9\n");
  EXPECT_EQ(in.entries[0].group_id, "g");
  EXPECT_EQ(in.entries[0].deduplication_id, "d");
  EXPECT_EQ(in.entries[1].id, "b");
  EXPECT_EQ(in.entries[1].value, "two");
  EXPECT_EQ(in.entries[1].group_id, "");
}

TEST(FastInput, TakesSendMessageAndDeleteMessageBatch) {
  FastInput send;
  ASSERT_TRUE(
      decode_fast_input(FastAction::kSendMessage, R"({"MessageBody":"hi","QueueUrl":"u"})", &send));
  ASSERT_EQ(send.entries.size(), 1u);
  EXPECT_EQ(send.entries[0].value, "hi");
  EXPECT_EQ(send.queue_url, "u");

  FastInput del;
  ASSERT_TRUE(decode_fast_input(FastAction::kDeleteMessageBatch,
                                R"({"QueueUrl":"u","Entries":[{"Id":"0","ReceiptHandle":"r"}]})",
                                &del));
  ASSERT_EQ(del.entries.size(), 1u);
  EXPECT_EQ(del.entries[0].id, "0");
  EXPECT_EQ(del.entries[0].value, "r");
}

TEST(FastInput, NamesItsActions) {
  for (FastAction a :
       {FastAction::kSendMessage, FastAction::kSendMessageBatch, FastAction::kDeleteMessageBatch}) {
    EXPECT_EQ(fast_action_named(fast_action_name(a)), a);
  }
  EXPECT_EQ(fast_action_named("ReceiveMessage"), std::nullopt);
}

// A key with escapes arrives in parts.
TEST(FastInput, TakesEscapedKeys) {
  FastInput in;
  ASSERT_TRUE(decode_fast_input(FastAction::kSendMessage,
                                R"({"Queue\u0055rl":"u","MessageBody":"b"})", &in));
  EXPECT_EQ(in.queue_url, "u");
}

// The rules of the batch (empty, too many, ids) are the handler's, as for the generic parse.
TEST(FastInput, LeavesBatchRulesToTheHandler) {
  EXPECT_TRUE(decodes(FastAction::kSendMessageBatch, R"({"QueueUrl":"u","Entries":[]})"));
  EXPECT_TRUE(decodes(FastAction::kSendMessageBatch,
                      R"({"QueueUrl":"u","Entries":[{"Id":"a a","MessageBody":""}]})"));
}

// Everything but the plain shape goes to the generic parse, which gives the errors.
TEST(FastInput, DeclinesEverythingElse) {
  const FastAction batch = FastAction::kSendMessageBatch;
  for (std::string_view body : {
           R"()",
           R"([])",
           R"("x")",
           R"({"QueueUrl":"u"})",                                  // no Entries
           R"({"Entries":[]})",                                    // no QueueUrl
           R"({"QueueUrl":"u","Entries":[{"MessageBody":"b"}]})",  // no Id
           R"({"QueueUrl":"u","Entries":[{"Id":"a"}]})",           // no MessageBody
           R"({"QueueUrl":"u","QueueUrl":"v","Entries":[]})",      // repeated member
           R"({"QueueUrl":null,"Entries":[]})",                    // null
           R"({"QueueUrl":"u","Entries":[null]})",                 // null entry
           R"({"QueueUrl":"u","Entries":["a"]})",                  // entry not an object
           R"({"QueueUrl":"u","Entries":{}})",                     // Entries not a list
           R"({"QueueUrl":1,"Entries":[]})",                       // wrong type
           R"({"QueueUrl":"u","Entries":[],"Other":"x"})",         // unknown member
           R"({"QueueUrl":"u","Entries":[{"Id":"a","MessageBody":"b","DelaySeconds":1}]})",
           R"({"QueueUrl":"u","Entries":[{"Id":"a","MessageBody":"b","MessageAttributes":{}}]})",
           R"({"QueueUrl":"u","Entries":[{"Id":"a","MessageBody":"b","Entries":[]}]})",
           R"({"QueueUrl":"u","Entries":[[]]})",                              // nested list
           R"({"QueueUrl":"u","Entries":[]} x)",                              // trailing data
           R"({"QueueUrl":"u","Entries":[])",                                 // truncated
           "{\"QueueUrl\":\"\xff\",\"Entries\":[]}",                          // invalid UTF-8
           R"({"QueueUrl":"u","Entries":[{"Id":"a","ReceiptHandle":"r"}]})",  // other action's
       }) {
    EXPECT_FALSE(decodes(batch, body)) << body;
  }
  EXPECT_FALSE(decodes(FastAction::kSendMessage, R"({"QueueUrl":"u","Entries":[]})"));
  EXPECT_FALSE(decodes(FastAction::kSendMessage, R"({"QueueUrl":"u","MessageBody":true})"));
  EXPECT_FALSE(decodes(FastAction::kDeleteMessageBatch,
                       R"({"QueueUrl":"u","Entries":[{"Id":"a","MessageBody":"b"}]})"));
}

// What the fast decoder takes, the router's parse and validation take identically.
TEST(FastInput, AgreesWithTheGenericParse) {
  for (
      auto [action, body] : std::initializer_list<std::pair<FastAction, std::string_view>>{
          {FastAction::kSendMessage, R"({"QueueUrl":"u","MessageBody":"b\u0000c"})"},
          {FastAction::kSendMessage,
           R"({"QueueUrl":"u","MessageBody":"b","MessageGroupId":"g","MessageDeduplicationId":"d"})"},
          {FastAction::kSendMessageBatch,
           R"({"QueueUrl":"u","Entries":[{"Id":"a","MessageBody":"\ud83d\ude00"},{"Id":"b","MessageBody":"c"}]})"},
          {FastAction::kDeleteMessageBatch,
           R"({"QueueUrl":"u","Entries":[{"Id":"a","ReceiptHandle":"r1"},{"Id":"b","ReceiptHandle":"r2"}]})"},
      }) {
    ASSERT_TRUE(decodes(action, body)) << body;
    EXPECT_EQ(fast_input_disagreement(action, body), "") << body;
  }
}

}  // namespace
}  // namespace ferry::sqs
