#include "aws/model.h"

#include <gtest/gtest.h>

namespace ferry::aws {
namespace {

TEST(ServiceModel, SqsMetadata) {
  const ServiceModel& sqs = ServiceModel::get("sqs");
  EXPECT_EQ(sqs.service(), "sqs");
  EXPECT_EQ(sqs.api_version(), "2012-11-05");
  EXPECT_EQ(sqs.xml_namespace(), "http://queue.amazonaws.com/doc/2012-11-05/");
  EXPECT_EQ(sqs.target_prefix(), "AmazonSQS");
  EXPECT_EQ(sqs.json_version(), "1.0");
  EXPECT_TRUE(sqs.aws_query_compatible());
  EXPECT_EQ(&sqs, &ServiceModel::get("sqs"));  // parsed once
  EXPECT_EQ(ServiceModel::find("nope"), nullptr);
}

TEST(ServiceModel, SqsOperations) {
  const ServiceModel& sqs = ServiceModel::get("sqs");
  EXPECT_EQ(sqs.operation_names().size(), 23u);
  for (const auto& name : sqs.operation_names()) {
    const Operation* op = sqs.operation(name);
    ASSERT_NE(op, nullptr) << name;
    EXPECT_NE(op->input, nullptr) << name;
    if (op->output != nullptr) {
      EXPECT_EQ(op->result_wrapper, name + "Result");
    }
  }
  const Operation* send = sqs.operation("SendMessage");
  ASSERT_NE(send, nullptr);
  EXPECT_EQ(send->input->name, "SendMessageRequest");
  EXPECT_EQ(send->output->name, "SendMessageResult");
  EXPECT_EQ(sqs.operation("DeleteQueue")->output, nullptr);
  EXPECT_EQ(sqs.operation("Nope"), nullptr);
  // New in the 2023 model, absent from the Query-era one: still gets a Query result wrapper.
  EXPECT_EQ(sqs.operation("ListMessageMoveTasks")->result_wrapper, "ListMessageMoveTasksResult");
}

TEST(ServiceModel, SqsQueryNamesFromTheOldModel) {
  const ServiceModel& sqs = ServiceModel::get("sqs");
  const Shape* receive = sqs.shape("ReceiveMessageRequest");
  ASSERT_NE(receive, nullptr);
  EXPECT_EQ(receive->find_member("AttributeNames")->query_name(), "AttributeName");
  EXPECT_EQ(receive->find_member("MessageAttributeNames")->query_name(), "MessageAttributeName");
  // AWS's Smithy model names the 2024 member like its predecessor.
  EXPECT_EQ(receive->find_member("MessageSystemAttributeNames")->query_name(), "AttributeName");
  EXPECT_TRUE(receive->find_member("QueueUrl")->required);
  EXPECT_FALSE(receive->find_member("WaitTimeSeconds")->required);
  EXPECT_EQ(receive->find_member("WaitTimeSeconds")->shape->type, ShapeType::kInteger);

  const Shape* message = sqs.shape("Message");
  const MemberRef* attrs = message->find_member("Attributes");
  EXPECT_EQ(attrs->query_name(), "Attribute");
  EXPECT_TRUE(attrs->is_flattened());
  EXPECT_EQ(attrs->shape->key.location_name, "Name");
  EXPECT_EQ(attrs->shape->value.location_name, "Value");

  const Shape* create = sqs.shape("CreateQueueRequest");
  EXPECT_EQ(create->find_member("tags")->query_name(), "Tag");
  EXPECT_EQ(sqs.shape("SendMessageBatchRequest")->find_member("Entries")->query_name(),
            "SendMessageBatchRequestEntry");
  EXPECT_EQ(sqs.shape("ListMessageMoveTasksResult")->find_member("Results")->query_name(),
            "ListMessageMoveTasksResultEntry");
}

TEST(ServiceModel, SqsErrors) {
  const ServiceModel& sqs = ServiceModel::get("sqs");
  const ErrorShape* missing = sqs.error_by_name("QueueDoesNotExist");
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->code, "AWS.SimpleQueueService.NonExistentQueue");
  EXPECT_EQ(missing->http_status, 400);
  EXPECT_TRUE(missing->sender_fault);

  const ErrorShape* exists = sqs.error_by_code("QueueAlreadyExists");
  ASSERT_NE(exists, nullptr);
  EXPECT_EQ(exists->name, "QueueNameExists");

  EXPECT_EQ(sqs.error_by_name("OverLimit")->http_status, 403);
  EXPECT_EQ(sqs.error_by_name("KmsThrottled")->code, "KMS.ThrottlingException");
  EXPECT_EQ(sqs.error_by_name("ReceiptHandleIsInvalid")->http_status, 404);
  EXPECT_EQ(sqs.error_by_name("InvalidAttributeName")->code, "InvalidAttributeName");
  EXPECT_EQ(sqs.error_by_name("InvalidAttributeName")->http_status, 400);
  EXPECT_EQ(sqs.error_by_name("Message"), nullptr);  // a shape, not an error

  const Operation* receive = sqs.operation("ReceiveMessage");
  bool lists_over_limit = false;
  for (const ErrorShape* e : receive->errors) lists_over_limit |= e->name == "OverLimit";
  EXPECT_TRUE(lists_over_limit);
}

TEST(ServiceModel, Sns) {
  const ServiceModel& sns = ServiceModel::get("sns");
  EXPECT_EQ(sns.xml_namespace(), "http://sns.amazonaws.com/doc/2010-03-31/");
  EXPECT_EQ(sns.protocol(), "query");
  EXPECT_FALSE(sns.aws_query_compatible());
  EXPECT_EQ(sns.operation("Publish")->result_wrapper, "PublishResult");
  EXPECT_EQ(sns.operation("DeleteTopic")->output, nullptr);
  const ErrorShape* internal = sns.error_by_name("InternalErrorException");
  ASSERT_NE(internal, nullptr);
  EXPECT_EQ(internal->code, "InternalError");
  EXPECT_EQ(internal->http_status, 500);
  EXPECT_FALSE(internal->sender_fault);
  EXPECT_EQ(sns.error_by_code("NotFound")->http_status, 404);
  const Shape* attrs = sns.shape("MessageAttributeMap");
  EXPECT_FALSE(attrs->flattened);
  EXPECT_EQ(attrs->key.location_name, "Name");
}

TEST(ServiceModel, ParseRejectsBrokenModels) {
  EXPECT_FALSE(ServiceModel::parse("x", "not json").ok());
  EXPECT_FALSE(ServiceModel::parse("x", "[]").ok());
  EXPECT_FALSE(ServiceModel::parse("x", R"({"metadata":{},"operations":{}})").ok());
  auto dangling = ServiceModel::parse(
      "x",
      R"({"metadata":{},"operations":{},"shapes":{"A":{"type":"list","member":{"shape":"B"}}}})");
  ASSERT_FALSE(dangling.ok());
  EXPECT_NE(dangling.error().find("unknown shape B"), std::string::npos);
  auto ok = ServiceModel::parse(
      "x",
      R"({"metadata":{"apiVersion":"1"},"operations":{"Op":{"name":"Op","input":{"shape":"In"}}},
          "shapes":{"In":{"type":"structure","required":["A"],"members":{"A":{"shape":"S"}}},
                    "S":{"type":"string","min":1,"max":5,"enum":["a","b"]}}})");
  ASSERT_TRUE(ok.ok()) << ok.error();
  const Shape* s = ok.value()->shape("S");
  EXPECT_EQ(*s->min, 1);
  EXPECT_EQ(*s->max, 5);
  EXPECT_EQ(s->enum_values.size(), 2u);
  EXPECT_TRUE(ok.value()->shape("In")->members[0].required);
}

}  // namespace
}  // namespace ferry::aws
