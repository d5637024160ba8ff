#include "aws/query.h"

#include <gtest/gtest.h>

#include "aws/json_validate.h"

// Readable failures: gtest finds PrintTo by argument-dependent lookup.
namespace boost::json {
inline void PrintTo(const object& o, std::ostream* os) { *os << serialize(o); }
}  // namespace boost::json

namespace ferry::aws {
namespace {

namespace json = boost::json;

const ServiceModel& sqs() { return ServiceModel::get("sqs"); }
const ServiceModel& sns() { return ServiceModel::get("sns"); }

Result<json::object> decode(const ServiceModel& model, std::string_view op, std::string_view body) {
  auto params = parse_form(body);
  if (!params) return base::fail(params.error());
  const Operation* operation = model.operation(op);
  EXPECT_NE(operation, nullptr) << op;
  return decode_query(model, *operation, params.value());
}

json::object decoded(const ServiceModel& model, std::string_view op, std::string_view body) {
  auto r = decode(model, op, body);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().code + ": " + r.error().message);
  return r.ok() ? r.value() : json::object();
}

ProtocolError decode_error(const ServiceModel& model, std::string_view op, std::string_view body) {
  auto r = decode(model, op, body);
  EXPECT_FALSE(r.ok()) << json::serialize(r.ok() ? r.value() : json::object());
  return r.ok() ? ProtocolError{} : r.error();
}

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

std::string encode(const ServiceModel& model, std::string_view op, std::string_view output) {
  return encode_query_response(model, *model.operation(op), obj(output), "req-1");
}

// ---------------------------------------------------------------------------------------------
// parse_form

TEST(ParseForm, DecodesPairs) {
  auto r = parse_form("a=1&b=hello+world&c=%26%3D%2B%25&d=&e&f=x=y&g+h=%C3%BC");
  ASSERT_TRUE(r.ok());
  QueryParams expected{{"a", "1"}, {"b", "hello world"}, {"c", "&=+%"},      {"d", ""},
                       {"e", ""},  {"f", "x=y"},         {"g h", "\xc3\xbc"}};
  EXPECT_EQ(r.value(), expected);
}

TEST(ParseForm, SkipsEmptyPairs) {
  auto r = parse_form("&&a=1&&");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (QueryParams{{"a", "1"}}));
  EXPECT_TRUE(parse_form("").value().empty());
}

TEST(ParseForm, KeepsCharactersAUrlWouldEscape) {
  auto r = parse_form("a=[x]|{y} \"z\"");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value()[0].second, "[x]|{y} \"z\"");
}

TEST(ParseForm, RejectsMalformedEscapes) {
  for (std::string_view body : {"a=%zz", "a=%4", "a=50%", "%=1", "a=1&b=%G0", "a=%%41"}) {
    auto r = parse_form(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, "MalformedQueryString");
    EXPECT_EQ(r.error().http_status, 400);
  }
}

TEST(ParseForm, DecodesNul) {
  auto r = parse_form("a=%00b");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value()[0].second, std::string("\0b", 2));
}

// ---------------------------------------------------------------------------------------------
// decode_query: SQS, with bodies as the aws CLI v2 (Query protocol) sends them.

constexpr std::string_view kQueueUrl = "http%3A%2F%2F127.0.0.1%3A18766%2F000000000000%2Fq1";

std::string with_queue(std::string_view action, std::string_view rest) {
  return "Action=" + std::string(action) +
         "&Version=2012-11-05&QueueUrl=" + std::string(kQueueUrl) + (rest.empty() ? "" : "&") +
         std::string(rest);
}

TEST(DecodeQuery, SendMessage) {
  auto input = decoded(
      sqs(), "SendMessage",
      with_queue(
          "SendMessage",
          "MessageBody=hello+world+%26+%3Cfriends%3E+%C3%BCn%C3%AFcode&DelaySeconds=3&"
          "MessageAttribute.1.Name=k&MessageAttribute.1.Value.DataType=String&"
          "MessageAttribute.1.Value.StringValue=v&MessageAttribute.2.Name=bin&"
          "MessageAttribute.2.Value.DataType=Binary&MessageAttribute.2.Value.BinaryValue=AAEC&"
          "MessageAttribute.3.Name=n&MessageAttribute.3.Value.DataType=Number&"
          "MessageAttribute.3.Value.StringValue=42&"
          "MessageSystemAttribute.1.Name=AWSTraceHeader&"
          "MessageSystemAttribute.1.Value.DataType=String&"
          "MessageSystemAttribute.1.Value.StringValue=Root%3D1-abc"));
  EXPECT_EQ(input, obj(R"({
    "QueueUrl": "http://127.0.0.1:18766/000000000000/q1",
    "MessageBody": "hello world & <friends> \u00fcn\u00efcode",
    "DelaySeconds": 3,
    "MessageAttributes": {
      "k": {"DataType": "String", "StringValue": "v"},
      "bin": {"DataType": "Binary", "BinaryValue": "AAEC"},
      "n": {"DataType": "Number", "StringValue": "42"}},
    "MessageSystemAttributes": {
      "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}}})"));
  EXPECT_TRUE(input.at("DelaySeconds").is_int64());
}

TEST(DecodeQuery, SendMessageBatch) {
  auto input = decoded(
      sqs(), "SendMessageBatch",
      with_queue(
          "SendMessageBatch",
          "SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=one&"
          "SendMessageBatchRequestEntry.1.DelaySeconds=1&"
          "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k&"
          "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String&"
          "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v&"
          "SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=two&"
          "SendMessageBatchRequestEntry.2.MessageGroupId=g&"
          "SendMessageBatchRequestEntry.2.MessageDeduplicationId=d"));
  EXPECT_EQ(input, obj(R"({
    "QueueUrl": "http://127.0.0.1:18766/000000000000/q1",
    "Entries": [
      {"Id": "a", "MessageBody": "one", "DelaySeconds": 1,
       "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
      {"Id": "b", "MessageBody": "two", "MessageGroupId": "g", "MessageDeduplicationId": "d"}]})"));
}

TEST(DecodeQuery, SparseUnorderedIndicesAreOrderedByValue) {
  auto input = decoded(sqs(), "SendMessageBatch",
                       with_queue("SendMessageBatch",
                                  "SendMessageBatchRequestEntry.10.Id=c&"
                                  "SendMessageBatchRequestEntry.10.MessageBody=3&"
                                  "SendMessageBatchRequestEntry.2.Id=a&"
                                  "SendMessageBatchRequestEntry.2.MessageBody=1&"
                                  "SendMessageBatchRequestEntry.7.MessageBody=2&"
                                  "SendMessageBatchRequestEntry.7.Id=b"));
  EXPECT_EQ(input.at("Entries"), json::parse(R"([{"Id":"a","MessageBody":"1"},
      {"Id":"b","MessageBody":"2"},{"Id":"c","MessageBody":"3"}])"));
}

TEST(DecodeQuery, ReceiveMessage) {
  auto input = decoded(sqs(), "ReceiveMessage",
                       with_queue("ReceiveMessage",
                                  "AttributeName.1=All&MessageAttributeName.1=k&"
                                  "MessageAttributeName.2=bin&MaxNumberOfMessages=10&"
                                  "VisibilityTimeout=60&WaitTimeSeconds=20&"
                                  "ReceiveRequestAttemptId=r-1"));
  EXPECT_EQ(input, obj(R"({
    "QueueUrl": "http://127.0.0.1:18766/000000000000/q1",
    "AttributeNames": ["All"], "MessageAttributeNames": ["k", "bin"],
    "MaxNumberOfMessages": 10, "VisibilityTimeout": 60, "WaitTimeSeconds": 20,
    "ReceiveRequestAttemptId": "r-1"})"));
}

TEST(DecodeQuery, MessageSystemAttributeNamesShareTheAttributeNameWireName) {
  // AWS's model gives the 2024 member MessageSystemAttributeNames the Query name of the
  // deprecated AttributeNames (AttributeName.N): AttributeName.N fills AttributeNames, the
  // first of the two in the model, and handlers read both. MessageSystemAttributeName.N is not
  // a Query name of anything and is ignored like any unknown parameter.
  auto input = decoded(sqs(), "ReceiveMessage",
                       with_queue("ReceiveMessage",
                                  "AttributeName.1=SentTimestamp&AttributeName.2=SenderId&"
                                  "MessageSystemAttributeName.1=All"));
  EXPECT_EQ(input.at("AttributeNames"), json::parse(R"(["SentTimestamp","SenderId"])"));
  EXPECT_FALSE(input.contains("MessageSystemAttributeNames"));
}

TEST(DecodeQuery, CreateQueue) {
  auto input = decoded(sqs(), "CreateQueue",
                       "Action=CreateQueue&Version=2012-11-05&QueueName=q1&"
                       "Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=30&"
                       "Attribute.2.Name=DelaySeconds&Attribute.2.Value=5&Tag.1.Key=env&"
                       "Tag.1.Value=dev&Tag.2.Key=team&Tag.2.Value=core");
  EXPECT_EQ(input, obj(R"({"QueueName": "q1",
    "Attributes": {"VisibilityTimeout": "30", "DelaySeconds": "5"},
    "tags": {"env": "dev", "team": "core"}})"));
}

TEST(DecodeQuery, SetQueueAttributesKeepsJsonValues) {
  auto input = decoded(
      sqs(), "SetQueueAttributes",
      with_queue(
          "SetQueueAttributes",
          "Attribute.1.Name=RedrivePolicy&Attribute.1.Value=%7B%22deadLetterTargetArn%22%3A%22"
          "arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Adlq%22%2C%22maxReceiveCount%22%3A%225%22%"
          "7D"));
  EXPECT_EQ(
      input.at("Attributes").at("RedrivePolicy"),
      R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"5"})");
}

TEST(DecodeQuery, TagAndUntagQueue) {
  EXPECT_EQ(decoded(sqs(), "TagQueue",
                    with_queue("TagQueue", "Tag.1.Key=a&Tag.1.Value=1&Tag.2.Key=b&Tag.2.Value=2")),
            obj(R"({"QueueUrl":"http://127.0.0.1:18766/000000000000/q1",
                    "Tags":{"a":"1","b":"2"}})"));
  EXPECT_EQ(decoded(sqs(), "UntagQueue", with_queue("UntagQueue", "TagKey.1=a&TagKey.2=b")),
            obj(R"({"QueueUrl":"http://127.0.0.1:18766/000000000000/q1","TagKeys":["a","b"]})"));
}

TEST(DecodeQuery, DeleteMessageBatch) {
  auto input = decoded(sqs(), "DeleteMessageBatch",
                       with_queue("DeleteMessageBatch",
                                  "DeleteMessageBatchRequestEntry.1.Id=a&"
                                  "DeleteMessageBatchRequestEntry.1.ReceiptHandle=rh-1&"
                                  "DeleteMessageBatchRequestEntry.2.Id=b&"
                                  "DeleteMessageBatchRequestEntry.2.ReceiptHandle=rh%2B2%2F%3D"));
  EXPECT_EQ(input.at("Entries"), json::parse(R"([{"Id":"a","ReceiptHandle":"rh-1"},
      {"Id":"b","ReceiptHandle":"rh+2/="}])"));
}

TEST(DecodeQuery, ChangeMessageVisibilityBatch) {
  auto input =
      decoded(sqs(), "ChangeMessageVisibilityBatch",
              with_queue("ChangeMessageVisibilityBatch",
                         "ChangeMessageVisibilityBatchRequestEntry.1.Id=a&"
                         "ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=rh-1&"
                         "ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=10&"
                         "ChangeMessageVisibilityBatchRequestEntry.2.Id=b&"
                         "ChangeMessageVisibilityBatchRequestEntry.2.ReceiptHandle=rh-2&"
                         "ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout=0"));
  EXPECT_EQ(input.at("Entries"), json::parse(R"([
      {"Id":"a","ReceiptHandle":"rh-1","VisibilityTimeout":10},
      {"Id":"b","ReceiptHandle":"rh-2","VisibilityTimeout":0}])"));
}

TEST(DecodeQuery, AddPermissionFlattenedStringLists) {
  auto input = decoded(sqs(), "AddPermission",
                       with_queue("AddPermission",
                                  "Label=l&AWSAccountId.1=111122223333&ActionName.1=SendMessage&"
                                  "ActionName.2=ReceiveMessage"));
  EXPECT_EQ(input.at("AWSAccountIds"), json::parse(R"(["111122223333"])"));
  EXPECT_EQ(input.at("Actions"), json::parse(R"(["SendMessage","ReceiveMessage"])"));
}

TEST(DecodeQuery, IgnoresUnknownAndAuthParameters) {
  auto input =
      decoded(sqs(), "ListQueues",
              "Action=ListQueues&Version=2012-11-05&QueueNamePrefix=q&MaxResults=5&"
              "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Date=20240101T"
              "000000Z&X-Amz-Signature=abc&X-Amz-SignedHeaders=host&Unknown=1&"
              "Unknown.1.Deep=2&QueueNamePrefixX=z&AWSAccessKeyId=AKIA");
  EXPECT_EQ(input, obj(R"({"QueueNamePrefix":"q","MaxResults":5})"));
}

TEST(DecodeQuery, FirstOfRepeatedParametersWins) {
  auto input = decoded(sqs(), "GetQueueUrl", "QueueName=first&QueueName=second");
  EXPECT_EQ(input.at("QueueName"), "first");
}

TEST(DecodeQuery, EmptyListMarker) {
  // botocore serializes an empty list as "<member name>=".
  auto input =
      decoded(sqs(), "GetQueueAttributes", with_queue("GetQueueAttributes", "AttributeNames="));
  EXPECT_EQ(input.at("AttributeNames"), json::array());
}

TEST(DecodeQuery, OperationWithoutParameters) {
  EXPECT_EQ(decoded(sqs(), "ListQueues", "Action=ListQueues&Version=2012-11-05"), json::object());
}

TEST(DecodeQuery, ValuesThatDoNotConvert) {
  for (std::string_view bad :
       {"MaxNumberOfMessages=abc", "MaxNumberOfMessages=", "MaxNumberOfMessages=1.5",
        "MaxNumberOfMessages=0x10", "WaitTimeSeconds=2147483648", "VisibilityTimeout=1%202"}) {
    ProtocolError e = decode_error(sqs(), "ReceiveMessage", with_queue("ReceiveMessage", bad));
    EXPECT_EQ(e.code, "MalformedInput") << bad;
    EXPECT_EQ(e.http_status, 400);
    EXPECT_EQ(e.json_type, "com.amazon.coral.service#SerializationException");
    EXPECT_NE(e.message.find(bad.substr(0, bad.find('='))), std::string::npos) << e.message;
  }
  EXPECT_EQ(decode_error(sqs(), "ReceiveMessage", with_queue("ReceiveMessage", "WaitTimeSeconds=x"))
                .message,
            "Value x for parameter WaitTimeSeconds is not a valid integer.");
  // Signs and the full 32-bit range are integers.
  auto input = decoded(
      sqs(), "ChangeMessageVisibility",
      with_queue("ChangeMessageVisibility", "ReceiptHandle=r&VisibilityTimeout=%2B2147483647"));
  EXPECT_EQ(input.at("VisibilityTimeout"), 2147483647);
  input = decoded(sqs(), "ChangeMessageVisibility",
                  with_queue("ChangeMessageVisibility", "ReceiptHandle=r&VisibilityTimeout=-5"));
  EXPECT_EQ(input.at("VisibilityTimeout"), -5);
}

TEST(DecodeQuery, BinaryValuesStayBase64AndMustBeBase64) {
  auto input = decoded(sqs(), "SendMessage",
                       with_queue("SendMessage",
                                  "MessageBody=x&MessageAttribute.1.Name=b&"
                                  "MessageAttribute.1.Value.DataType=Binary&"
                                  "MessageAttribute.1.Value.BinaryValue=AAECAw%3D%3D"));
  EXPECT_EQ(input.at("MessageAttributes").at("b").at("BinaryValue"), "AAECAw==");
  ProtocolError e = decode_error(sqs(), "SendMessage",
                                 with_queue("SendMessage",
                                            "MessageBody=x&MessageAttribute.1.Name=b&"
                                            "MessageAttribute.1.Value.DataType=Binary&"
                                            "MessageAttribute.1.Value.BinaryValue=%21%21"));
  EXPECT_EQ(e.code, "MalformedInput");
}

TEST(DecodeQuery, StringListValues) {
  auto input = decoded(sqs(), "SendMessage",
                       with_queue("SendMessage",
                                  "MessageBody=x&MessageAttribute.1.Name=l&"
                                  "MessageAttribute.1.Value.DataType=String&"
                                  "MessageAttribute.1.Value.StringListValue.1=a&"
                                  "MessageAttribute.1.Value.StringListValue.2=b"));
  EXPECT_EQ(input.at("MessageAttributes").at("l").at("StringListValues"),
            json::parse(R"(["a","b"])"));
}

TEST(DecodeQuery, MalformedIndices) {
  struct Case {
    std::string_view param;
    std::string_view message;
  };
  for (const Case& c :
       {Case{"AttributeName.0=All", "0 is not a valid index"},
        Case{"AttributeName.01=All", "Value found where not expected"},
        Case{"AttributeName.x=All", "Start of list found where not expected"},
        Case{"AttributeName.member.1=All", "Start of list found where not expected"},
        Case{"AttributeName.=All", "Start of list found where not expected"},
        Case{"AttributeName.99999999999=All", "Index 99999999999 is illegal"},
        Case{"AttributeName=All", "Value found where not expected"},
        Case{"QueueUrl.x=1", "Start of list found where not expected"}}) {
    ProtocolError e = decode_error(sqs(), "ReceiveMessage", "QueueUrl=q&" + std::string(c.param));
    EXPECT_EQ(e.code, "MalformedInput") << c.param;
    EXPECT_EQ(e.message, c.message) << c.param;
  }
}

TEST(DecodeQuery, MapEntryWithoutNameOrValue) {
  ProtocolError e = decode_error(sqs(), "SetQueueAttributes",
                                 with_queue("SetQueueAttributes", "Attribute.1.Value=30"));
  EXPECT_EQ(e.code, "MissingParameter");
  EXPECT_EQ(e.message, "The request must contain the parameter Attribute.Name.");
  e = decode_error(sqs(), "SetQueueAttributes",
                   with_queue("SetQueueAttributes", "Attribute.1.Name=DelaySeconds"));
  EXPECT_EQ(e.message, "The request must contain the parameter Attribute.Value.");
}

TEST(DecodeQuery, MissingRequiredMembersAreLeftToValidation) {
  const Operation& op = *sqs().operation("SendMessageBatch");
  auto input = decode(sqs(), "SendMessageBatch",
                      with_queue("SendMessageBatch",
                                 "SendMessageBatchRequestEntry.1.Id=a&"
                                 "SendMessageBatchRequestEntry.1.MessageBody=x&"
                                 "SendMessageBatchRequestEntry.2.MessageBody=y"));
  ASSERT_TRUE(input.ok());
  auto valid = validate_json_input(sqs(), op, input.value());
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.error().code, "MissingParameter");
  EXPECT_EQ(valid.error().message,
            "The request must contain the parameter SendMessageBatchRequestEntry.2.Id.");

  auto attr = decode(sqs(), "SendMessage",
                     with_queue("SendMessage",
                                "MessageBody=x&MessageAttribute.1.Name=k&"
                                "MessageAttribute.1.Value.StringValue=v"));
  ASSERT_TRUE(attr.ok());
  valid = validate_json_input(sqs(), *sqs().operation("SendMessage"), attr.value());
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.error().message,
            "The request must contain the parameter MessageAttribute.1.Value.DataType.");
}

// ---------------------------------------------------------------------------------------------
// decode_query: SNS (Query-native; non-flattened maps and lists).

TEST(DecodeQuery, SnsPublish) {
  auto input =
      decoded(sns(), "Publish",
              "Action=Publish&Version=2010-03-31&"
              "TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At&Message=hi&Subject=s&"
              "MessageAttributes.entry.1.Name=k&"
              "MessageAttributes.entry.1.Value.DataType=String&"
              "MessageAttributes.entry.1.Value.StringValue=v&"
              "MessageAttributes.entry.2.Name=b&"
              "MessageAttributes.entry.2.Value.DataType=Binary&"
              "MessageAttributes.entry.2.Value.BinaryValue=AAEC");
  EXPECT_EQ(input, obj(R"({"TopicArn":"arn:aws:sns:us-east-1:000000000000:t","Message":"hi",
    "Subject":"s","MessageAttributes":{"k":{"DataType":"String","StringValue":"v"},
    "b":{"DataType":"Binary","BinaryValue":"AAEC"}}})"));
}

TEST(DecodeQuery, SnsSubscribe) {
  auto input = decoded(sns(), "Subscribe",
                       "Action=Subscribe&Version=2010-03-31&"
                       "TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At&Protocol=sqs&"
                       "Attributes.entry.1.key=RawMessageDelivery&Attributes.entry.1.value=true&"
                       "Attributes.entry.2.key=FilterPolicy&"
                       "Attributes.entry.2.value=%7B%22a%22%3A%5B%22b%22%5D%7D&"
                       "ReturnSubscriptionArn=true&"
                       "Endpoint=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Aq1");
  EXPECT_EQ(input, obj(R"({"TopicArn":"arn:aws:sns:us-east-1:000000000000:t","Protocol":"sqs",
    "Attributes":{"RawMessageDelivery":"true","FilterPolicy":"{\"a\":[\"b\"]}"},
    "ReturnSubscriptionArn":true,"Endpoint":"arn:aws:sqs:us-east-1:000000000000:q1"})"));
  EXPECT_EQ(decoded(sns(), "Subscribe", "TopicArn=t&Protocol=sqs&ReturnSubscriptionArn=FALSE")
                .at("ReturnSubscriptionArn"),
            false);
  EXPECT_EQ(
      decode_error(sns(), "Subscribe", "TopicArn=t&Protocol=sqs&ReturnSubscriptionArn=yes").code,
      "MalformedInput");
}

TEST(DecodeQuery, SnsCreateTopicTagsList) {
  auto input = decoded(sns(), "CreateTopic",
                       "Action=CreateTopic&Version=2010-03-31&Name=t&Tags.member.1.Key=k&"
                       "Tags.member.1.Value=v&Tags.member.2.Key=k2&Tags.member.2.Value=");
  EXPECT_EQ(input, obj(R"({"Name":"t","Tags":[{"Key":"k","Value":"v"},{"Key":"k2","Value":""}]})"));
}

// ---------------------------------------------------------------------------------------------
// Timestamps, longs and doubles, on a model of our own (SQS and SNS inputs have none).

const ServiceModel& scalars() {
  static auto model = ServiceModel::parse("test", R"({
    "metadata": {"apiVersion": "2020-01-01", "protocol": "query", "xmlNamespace": "urn:test"},
    "operations": {"Op": {"name": "Op", "input": {"shape": "In"},
                          "output": {"shape": "In", "resultWrapper": "OpResult"}}},
    "shapes": {
      "In": {"type": "structure", "members": {
        "When": {"shape": "T"}, "Big": {"shape": "L"}, "Ratio": {"shape": "D"},
        "Data": {"shape": "B"}}},
      "T": {"type": "timestamp"}, "L": {"type": "long"}, "D": {"type": "double"},
      "B": {"type": "blob"}}})");
  EXPECT_TRUE(model.ok());
  return *model.value();
}

TEST(DecodeQuery, Timestamps) {
  auto when = [](std::string_view v) {
    return decoded(scalars(), "Op", "When=" + std::string(v)).at("When");
  };
  EXPECT_EQ(when("2024-01-02T03:04:05Z"), 1704164645);
  EXPECT_EQ(when("2024-01-02T03:04:05.500Z"), 1704164645.5);
  EXPECT_EQ(when("2024-01-02T03:04:05%2B01:00"), 1704161045);
  EXPECT_EQ(when("2024-01-02T03:04:05-0130"), 1704170045);
  EXPECT_EQ(when("1970-01-01T00:00:00"), 0);
  EXPECT_EQ(when("1704164645"), 1704164645);
  for (std::string_view bad :
       {"2024-13-02T03:04:05Z", "2024-01-02", "yesterday", "2024-01-02T03:04:05ZZ"}) {
    ProtocolError e = decode_error(scalars(), "Op", "When=" + std::string(bad));
    EXPECT_EQ(e.code, "MalformedInput") << bad;
    EXPECT_EQ(e.message, "timestamp must follow ISO8601");
  }
}

TEST(DecodeQuery, LongsAndDoubles) {
  auto input = decoded(scalars(), "Op", "Big=9223372036854775807&Ratio=-1.5e3");
  EXPECT_EQ(input.at("Big"), INT64_MAX);
  EXPECT_EQ(input.at("Ratio"), -1500.0);
  EXPECT_EQ(decode_error(scalars(), "Op", "Big=9223372036854775808").code, "MalformedInput");
  EXPECT_EQ(decode_error(scalars(), "Op", "Ratio=nan").code, "MalformedInput");
  EXPECT_EQ(decode_error(scalars(), "Op", "Ratio=inf").code, "MalformedInput");
}

TEST(EncodeQuery, TimestampsAreIso8601) {
  EXPECT_EQ(encode(scalars(), "Op", R"({"When": 1704164645, "Big": 5, "Ratio": 0.25})"),
            "<?xml version=\"1.0\"?><OpResponse xmlns=\"urn:test\"><OpResult>"
            "<When>2024-01-02T03:04:05Z</When><Big>5</Big><Ratio>0.25</Ratio></OpResult>"
            "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></OpResponse>");
  EXPECT_NE(encode(scalars(), "Op", R"({"When": 1704164645.5})")
                .find("<When>2024-01-02T03:04:05.500Z</When>"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// encode_query_response

constexpr std::string_view kMeta =
    "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>";

TEST(EncodeQuery, ReceiveMessage) {
  std::string xml = encode(sqs(), "ReceiveMessage", R"({"Messages": [{
      "MessageId": "m-1", "ReceiptHandle": "rh", "MD5OfBody": "5d41402abc4b2a76b9719d911017c592",
      "Body": "a <b> & 'c'",
      "Attributes": {"SentTimestamp": "1700000000000", "ApproximateReceiveCount": "1"},
      "MD5OfMessageAttributes": "md5a",
      "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"},
                            "b": {"BinaryValue": "AAEC", "DataType": "Binary"}}}]})");
  EXPECT_EQ(xml,
            "<?xml version=\"1.0\"?><ReceiveMessageResponse "
            "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ReceiveMessageResult><Message>"
            "<MessageId>m-1</MessageId><ReceiptHandle>rh</ReceiptHandle>"
            "<MD5OfBody>5d41402abc4b2a76b9719d911017c592</MD5OfBody>"
            "<Body>a &lt;b&gt; &amp; &apos;c&apos;</Body>"
            "<Attribute><Name>SentTimestamp</Name><Value>1700000000000</Value></Attribute>"
            "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"
            "<MD5OfMessageAttributes>md5a</MD5OfMessageAttributes>"
            "<MessageAttribute><Name>k</Name><Value><StringValue>v</StringValue>"
            "<DataType>String</DataType></Value></MessageAttribute>"
            "<MessageAttribute><Name>b</Name><Value><BinaryValue>AAEC</BinaryValue>"
            "<DataType>Binary</DataType></Value></MessageAttribute>"
            "</Message></ReceiveMessageResult>" +
                std::string(kMeta) + "</ReceiveMessageResponse>");
}

TEST(EncodeQuery, ReceiveMessageWithoutMessages) {
  EXPECT_EQ(encode(sqs(), "ReceiveMessage", "{}"),
            "<?xml version=\"1.0\"?><ReceiveMessageResponse "
            "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ReceiveMessageResult>"
            "</ReceiveMessageResult>" +
                std::string(kMeta) + "</ReceiveMessageResponse>");
  EXPECT_EQ(encode(sqs(), "ReceiveMessage", R"({"Messages": []})"),
            encode(sqs(), "ReceiveMessage", "{}"));
}

TEST(EncodeQuery, GetQueueAttributes) {
  std::string xml = encode(sqs(), "GetQueueAttributes",
                           R"({"Attributes": {"VisibilityTimeout": "30", "DelaySeconds": "0"}})");
  EXPECT_EQ(xml,
            "<?xml version=\"1.0\"?><GetQueueAttributesResponse "
            "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><GetQueueAttributesResult>"
            "<Attribute><Name>VisibilityTimeout</Name><Value>30</Value></Attribute>"
            "<Attribute><Name>DelaySeconds</Name><Value>0</Value></Attribute>"
            "</GetQueueAttributesResult>" +
                std::string(kMeta) + "</GetQueueAttributesResponse>");
}

TEST(EncodeQuery, SendMessageBatch) {
  std::string xml = encode(sqs(), "SendMessageBatch", R"({
      "Failed": [{"Id": "b", "SenderFault": true, "Code": "InvalidParameterValue", "Message": "bad"}],
      "Successful": [{"Id": "a", "MessageId": "m-1", "MD5OfMessageBody": "md5",
                      "SequenceNumber": "1"}]})");
  EXPECT_EQ(xml,
            "<?xml version=\"1.0\"?><SendMessageBatchResponse "
            "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><SendMessageBatchResult>"
            "<SendMessageBatchResultEntry><Id>a</Id><MessageId>m-1</MessageId>"
            "<MD5OfMessageBody>md5</MD5OfMessageBody><SequenceNumber>1</SequenceNumber>"
            "</SendMessageBatchResultEntry>"
            "<BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault>"
            "<Code>InvalidParameterValue</Code><Message>bad</Message></BatchResultErrorEntry>"
            "</SendMessageBatchResult>" +
                std::string(kMeta) + "</SendMessageBatchResponse>");
}

TEST(EncodeQuery, ListQueues) {
  std::string xml = encode(sqs(), "ListQueues",
                           R"({"QueueUrls": ["http://h/1/a", "http://h/1/b"], "NextToken": "t"})");
  EXPECT_EQ(xml,
            "<?xml version=\"1.0\"?><ListQueuesResponse "
            "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ListQueuesResult>"
            "<QueueUrl>http://h/1/a</QueueUrl><QueueUrl>http://h/1/b</QueueUrl>"
            "<NextToken>t</NextToken></ListQueuesResult>" +
                std::string(kMeta) + "</ListQueuesResponse>");
}

TEST(EncodeQuery, OperationWithoutOutput) {
  EXPECT_EQ(encode(sqs(), "DeleteQueue", "{}"),
            "<?xml version=\"1.0\"?><DeleteQueueResponse "
            "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">" +
                std::string(kMeta) + "</DeleteQueueResponse>");
}

TEST(EncodeQuery, SkipsUnknownMembersAndNulls) {
  EXPECT_EQ(encode(sqs(), "CreateQueue", R"({"QueueUrl": "u", "Extra": 1})"),
            encode(sqs(), "CreateQueue", R"({"QueueUrl": "u"})"));
  EXPECT_EQ(encode(sqs(), "ListQueues", R"({"QueueUrls": null, "NextToken": null})"),
            encode(sqs(), "ListQueues", "{}"));
}

TEST(EncodeQuery, ListMessageMoveTasks) {
  std::string xml = encode(sqs(), "ListMessageMoveTasks",
                           R"({"Results": [{"TaskHandle": "h", "Status": "RUNNING",
                               "ApproximateNumberOfMessagesMoved": 5, "StartedTimestamp": 1700000000000}]})");
  EXPECT_NE(xml.find("<ListMessageMoveTasksResult><ListMessageMoveTasksResultEntry><TaskHandle>h"
                     "</TaskHandle><Status>RUNNING</Status><ApproximateNumberOfMessagesMoved>5"
                     "</ApproximateNumberOfMessagesMoved><StartedTimestamp>1700000000000"
                     "</StartedTimestamp></ListMessageMoveTasksResultEntry>"),
            std::string::npos)
      << xml;
}

TEST(EncodeQuery, SnsListTopicsAndAttributes) {
  EXPECT_EQ(
      encode(sns(), "ListTopics",
             R"({"Topics": [{"TopicArn": "arn:1"}, {"TopicArn": "arn:2"}], "NextToken": "n"})"),
      "<?xml version=\"1.0\"?><ListTopicsResponse "
      "xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><ListTopicsResult><Topics>"
      "<member><TopicArn>arn:1</TopicArn></member><member><TopicArn>arn:2</TopicArn></member>"
      "</Topics><NextToken>n</NextToken></ListTopicsResult>" +
          std::string(kMeta) + "</ListTopicsResponse>");
  EXPECT_EQ(
      encode(sns(), "GetTopicAttributes", R"({"Attributes": {"Owner": "1", "Policy": "{}"}})"),
      "<?xml version=\"1.0\"?><GetTopicAttributesResponse "
      "xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><GetTopicAttributesResult>"
      "<Attributes><entry><key>Owner</key><value>1</value></entry>"
      "<entry><key>Policy</key><value>{}</value></entry></Attributes>"
      "</GetTopicAttributesResult>" +
          std::string(kMeta) + "</GetTopicAttributesResponse>");
  EXPECT_EQ(
      encode(sns(), "Publish", R"({"MessageId": "m"})"),
      "<?xml version=\"1.0\"?><PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
      "<PublishResult><MessageId>m</MessageId></PublishResult>" +
          std::string(kMeta) + "</PublishResponse>");
}

// ---------------------------------------------------------------------------------------------
// encode_query_error

TEST(EncodeQueryError, SqsShape) {
  EXPECT_EQ(
      encode_query_error("Sender", "AWS.SimpleQueueService.NonExistentQueue",
                         "The specified queue does not exist.", "req-1"),
      "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
      "<Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>"
      "<Message>The specified queue does not exist.</Message><Detail/></Error>"
      "<RequestId>req-1</RequestId></ErrorResponse>");
  EXPECT_EQ(encode_query_error(sqs(), "Sender", "A", "m", "r"),
            encode_query_error("Sender", "A", "m", "r"));
}

TEST(EncodeQueryError, SnsShapeAndEscaping) {
  EXPECT_EQ(
      encode_query_error(sns(), "Receiver", "InternalError", "a <b> & c", "req-2"),
      "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
      "<Error><Type>Receiver</Type><Code>InternalError</Code>"
      "<Message>a &lt;b&gt; &amp; c</Message></Error>"
      "<RequestId>req-2</RequestId></ErrorResponse>");
}

}  // namespace
}  // namespace ferry::aws
