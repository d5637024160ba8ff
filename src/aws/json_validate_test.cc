#include "aws/json_validate.h"

#include <gtest/gtest.h>

// Readable failures: gtest finds PrintTo by argument-dependent lookup.
namespace boost::json {
inline void PrintTo(const object& o, std::ostream* os) { *os << serialize(o); }
}  // namespace boost::json

namespace ferry::aws {
namespace {

namespace json = boost::json;

const ServiceModel& sqs() { return ServiceModel::get("sqs"); }

Result<base::Ok> validate(std::string_view op, std::string_view body) {
  return validate_json_input(sqs(), *sqs().operation(op), json::parse(body));
}

ProtocolError error(std::string_view op, std::string_view body) {
  auto r = validate(op, body);
  EXPECT_FALSE(r.ok()) << op << " " << body;
  return r.ok() ? ProtocolError{} : r.error();
}

// Bodies as boto3 (JSON protocol) sends them.
TEST(ValidateJsonInput, AcceptsSdkBodies) {
  struct Case {
    std::string_view op;
    std::string_view body;
  };
  for (
      const Case& c : {
          Case{
              "CreateQueue",
              R"({"QueueName":"q1","Attributes":{"VisibilityTimeout":"30"},"tags":{"env":"dev"}})"},
          Case{"SendMessage",
               R"({"QueueUrl":"http://h/0/q","MessageBody":"hi","DelaySeconds":3,
                    "MessageAttributes":{"k":{"DataType":"String","StringValue":"v"},
                                         "b":{"DataType":"Binary","BinaryValue":"AAEC"}},
                    "MessageSystemAttributes":{"AWSTraceHeader":{"DataType":"String",
                                                                 "StringValue":"Root=1"}}})"},
          Case{"SendMessageBatch",
               R"({"QueueUrl":"u","Entries":[{"Id":"a","MessageBody":"one","DelaySeconds":1},
                    {"Id":"b","MessageBody":"two","MessageGroupId":"g"}]})"},
          Case{"ReceiveMessage",
               R"({"QueueUrl":"u","MessageSystemAttributeNames":["All"],
                    "MessageAttributeNames":["All"],"MaxNumberOfMessages":10,
                    "WaitTimeSeconds":20,"VisibilityTimeout":30})"},
          Case{"DeleteMessageBatch",
               R"({"QueueUrl":"u","Entries":[{"Id":"a","ReceiptHandle":"r"}]})"},
          Case{
              "ChangeMessageVisibilityBatch",
              R"({"QueueUrl":"u","Entries":[{"Id":"a","ReceiptHandle":"r","VisibilityTimeout":5}]})"},
          Case{"TagQueue", R"({"QueueUrl":"u","Tags":{"a":"1"}})"},
          Case{"UntagQueue", R"({"QueueUrl":"u","TagKeys":["a","b"]})"},
          Case{"ListQueues", R"({})"},
          Case{"ListQueues", R"({"QueueNamePrefix":"q","MaxResults":10})"},
          Case{"StartMessageMoveTask", R"({"SourceArn":"arn","MaxNumberOfMessagesPerSecond":10})"},
      }) {
    auto r = validate(c.op, c.body);
    EXPECT_TRUE(r.ok()) << c.op << ": " << (r.ok() ? "" : r.error().message);
  }
}

TEST(ValidateJsonInput, IgnoresUnknownMembersAndNulls) {
  EXPECT_TRUE(validate("ListQueues", R"({"Nope":[1,{}],"QueueNamePrefix":null})").ok());
  EXPECT_TRUE(validate("ReceiveMessage", R"({"QueueUrl":"u","AttributeNames":[null,"All"]})").ok());
}

TEST(ValidateJsonInput, WrongTypes) {
  struct Case {
    std::string_view op;
    std::string_view body;
    std::string_view message;
  };
  for (const Case& c : {
           Case{"GetQueueUrl", R"({"QueueName":5})",
                "NUMBER_VALUE can not be converted to a String"},
           Case{"GetQueueUrl", R"({"QueueName":true})",
                "TRUE_VALUE can not be converted to a String"},
           Case{"GetQueueUrl", R"({"QueueName":false})",
                "FALSE_VALUE can not be converted to a String"},
           Case{"GetQueueUrl", R"({"QueueName":["q"]})", "Start of list found where not expected"},
           Case{"GetQueueUrl", R"({"QueueName":{}})",
                "Start of structure or map found where not expected."},
           Case{"ReceiveMessage", R"({"QueueUrl":"u","MaxNumberOfMessages":"10"})",
                "STRING_VALUE can not be converted to an Integer"},
           Case{"ReceiveMessage", R"({"QueueUrl":"u","MaxNumberOfMessages":1.5})",
                "NUMBER_VALUE can not be converted to an Integer"},
           Case{"ReceiveMessage", R"({"QueueUrl":"u","MaxNumberOfMessages":4294967296})",
                "NUMBER_VALUE can not be converted to an Integer"},
           Case{"ReceiveMessage", R"({"QueueUrl":"u","AttributeNames":"All"})",
                "Expected list or null"},
           Case{"ReceiveMessage", R"({"QueueUrl":"u","AttributeNames":{"a":"All"}})",
                "Start of structure or map found where not expected."},
           Case{"ReceiveMessage", R"({"QueueUrl":"u","AttributeNames":[1]})",
                "NUMBER_VALUE can not be converted to a String"},
           Case{"CreateQueue", R"({"QueueName":"q","Attributes":"x"})", "Expected map or null"},
           Case{"CreateQueue", R"({"QueueName":"q","Attributes":[]})",
                "Start of list found where not expected"},
           Case{"CreateQueue", R"({"QueueName":"q","Attributes":{"DelaySeconds":0}})",
                "NUMBER_VALUE can not be converted to a String"},
           Case{"SendMessageBatch", R"({"QueueUrl":"u","Entries":[{"Id":"a","MessageBody":"x",
                                       "DelaySeconds":[]}]})",
                "Start of list found where not expected"},
           Case{"SendMessageBatch", R"({"QueueUrl":"u","Entries":["x"]})", "Expected null"},
           Case{"SendMessageBatch", R"({"QueueUrl":"u","Entries":[[]]})",
                "Start of list found where not expected"},
           Case{"SendMessage", R"({"QueueUrl":"u","MessageBody":"x",
                                  "MessageAttributes":{"k":{"DataType":"String","StringValue":{}}}})",
                "Start of structure or map found where not expected."},
           Case{"SendMessage", R"({"QueueUrl":"u","MessageBody":"x",
                                  "MessageAttributes":{"k":{"DataType":"Binary","BinaryValue":"!!"}}})",
                "Base64 encoded value is invalid"},
       }) {
    ProtocolError e = error(c.op, c.body);
    EXPECT_EQ(e.code, "MalformedInput") << c.body;
    EXPECT_EQ(e.json_type, "com.amazon.coral.service#SerializationException");
    EXPECT_EQ(e.http_status, 400);
    EXPECT_EQ(e.message, c.message) << c.body;
  }
}

TEST(ValidateJsonInput, BodyMustBeAnObject) {
  EXPECT_EQ(error("ListQueues", "[]").message, "Start of list found where not expected");
  EXPECT_EQ(error("ListQueues", "5").message, "");
  EXPECT_EQ(error("ListQueues", "null").code, "MalformedInput");
}

TEST(ValidateJsonInput, MissingRequired) {
  struct Case {
    std::string_view op;
    std::string_view body;
    std::string_view parameter;
  };
  for (const Case& c : {
           Case{"CreateQueue", R"({})", "QueueName"},
           Case{"CreateQueue", R"({"QueueName":null})", "QueueName"},
           Case{"SendMessage", R"({"MessageBody":"x"})", "QueueUrl"},
           Case{"SendMessage", R"({"QueueUrl":"u"})", "MessageBody"},
           Case{"SendMessageBatch", R"({"QueueUrl":"u"})", "Entries"},
           Case{"SendMessageBatch",
                R"({"QueueUrl":"u","Entries":[{"Id":"a","MessageBody":"x"},{"MessageBody":"y"}]})",
                "SendMessageBatchRequestEntry.2.Id"},
           Case{"SendMessageBatch",
                R"({"QueueUrl":"u","Entries":[{"Id":"a","MessageBody":"x",
                    "MessageAttributes":{"k":{"DataType":"String"},"l":{"StringValue":"v"}}}]})",
                "SendMessageBatchRequestEntry.1.MessageAttribute.2.Value.DataType"},
           Case{"SendMessage", R"({"QueueUrl":"u","MessageBody":"x","MessageAttributes":{"k":{}}})",
                "MessageAttribute.1.Value.DataType"},
           Case{"DeleteMessageBatch", R"({"QueueUrl":"u","Entries":[{"Id":"a"}]})",
                "DeleteMessageBatchRequestEntry.1.ReceiptHandle"},
           Case{"ChangeMessageVisibility", R"({"QueueUrl":"u","ReceiptHandle":"r"})",
                "VisibilityTimeout"},
           Case{"UntagQueue", R"({"QueueUrl":"u"})", "TagKeys"},
       }) {
    ProtocolError e = error(c.op, c.body);
    EXPECT_EQ(e.code, "MissingParameter") << c.body;
    EXPECT_EQ(e.json_type, "com.amazon.coral.service#MissingRequiredParameterException");
    EXPECT_EQ(e.http_status, 400);
    EXPECT_EQ(e.message, "The request must contain the parameter " + std::string(c.parameter) + ".")
        << c.body;
  }
}

TEST(ValidateJsonInput, TypeErrorsComeBeforeMissingParameters) {
  EXPECT_EQ(error("SendMessage", R"({"MessageBody":5})").code, "MalformedInput");
}

TEST(ParseJsonInput, ParsesValidatesAndDropsNulls) {
  const Operation& op = *sqs().operation("ReceiveMessage");
  auto r = parse_json_input(
      sqs(), op, R"({"QueueUrl":"u","AttributeNames":["All",null],"WaitTimeSeconds":null})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), json::parse(R"({"QueueUrl":"u","AttributeNames":["All"]})").as_object());

  const Operation& list = *sqs().operation("ListQueues");
  EXPECT_TRUE(parse_json_input(sqs(), list, "").ok());
  EXPECT_TRUE(parse_json_input(sqs(), list, " \n").ok());
  auto bad = parse_json_input(sqs(), list, "{\"QueueNamePrefix\":");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "MalformedInput");
  EXPECT_EQ(bad.error().json_type, "com.amazon.coral.service#SerializationException");
  EXPECT_EQ(bad.error().message, "");
  EXPECT_FALSE(parse_json_input(sqs(), op, R"({"QueueUrl":5})").ok());
  EXPECT_EQ(parse_json_input(sqs(), op, "{}").error().code, "MissingParameter");
  // Nesting beyond Boost.JSON's default depth limit is refused, not recursed into.
  std::string deep(10000, '[');
  EXPECT_FALSE(parse_json_input(sqs(), list, deep).ok());
}

}  // namespace
}  // namespace ferry::aws
