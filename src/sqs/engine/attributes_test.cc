#include "sqs/engine/attributes.h"

#include <gtest/gtest.h>

namespace ferry::sqs {
namespace {

AttributeContext context() {
  return {"us-east-1", "123456789012",
          [](const QueueId& q) -> std::optional<DeadLetterTargetInfo> {
            if (q.account != "123456789012") return std::nullopt;
            if (q.name == "dlq") return DeadLetterTargetInfo{};
            if (q.name == "dlq.fifo") return DeadLetterTargetInfo{true, {}};
            if (q.name == "closed")
              return DeadLetterTargetInfo{false, R"({"redrivePermission":"denyAll"})"};
            return std::nullopt;
          },
          "arn:aws:sqs:us-east-1:123456789012:src"};
}

Errc apply_error(const AttributeMap& attrs) {
  auto r = apply_queue_attributes(QueueConfig{}, attrs, context());
  EXPECT_FALSE(r.ok());
  return r.ok() ? Errc::kInternal : r.error().code;
}

TEST(QueueName, StandardNames) {
  EXPECT_TRUE(validate_queue_name("a", {}).ok());
  EXPECT_TRUE(validate_queue_name(std::string(80, 'x'), {}).ok());
  EXPECT_TRUE(validate_queue_name("My_queue-1", {}).ok());
  for (std::string bad : {std::string(), std::string(81, 'x'), std::string("a.b"),
                          std::string("a b"), std::string("q.fifo"), std::string("é")}) {
    auto r = validate_queue_name(bad, {});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::kInvalidParameterValue);
    EXPECT_EQ(r.error().message,
              "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in "
              "length");
  }
}

TEST(QueueName, Fifo) {
  bool fifo = false;
  auto r = validate_queue_name("q.fifo", {{"FifoQueue", "true"}}, &fifo);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(fifo);
  EXPECT_TRUE(validate_queue_name("q", {{"FifoQueue", "false"}}, &fifo).ok());
  EXPECT_FALSE(fifo);
  EXPECT_EQ(validate_queue_name("q", {{"FifoQueue", "maybe"}}).error().code,
            Errc::kInvalidAttributeValue);
  r = validate_queue_name("q", {{"FifoQueue", "true"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
            "underscores, must end with .fifo suffix and be 1 to 80 in length.");
  // ".fifo" counts toward the 80 characters.
  EXPECT_TRUE(validate_queue_name(std::string(75, 'x') + ".fifo", {{"FifoQueue", "true"}}).ok());
  EXPECT_TRUE(validate_queue_name(std::string(76, 'x') + ".fifo", {{"FifoQueue", "true"}})
                  .error()
                  .message.starts_with("The name"));
}

TEST(QueueAttributes, DefaultsMatchAws) {
  const AttributeMap a = settable_attributes(QueueConfig{});
  EXPECT_EQ(a.at("DelaySeconds"), "0");
  EXPECT_EQ(a.at("MaximumMessageSize"), "1048576");
  EXPECT_EQ(a.at("MessageRetentionPeriod"), "345600");
  EXPECT_EQ(a.at("ReceiveMessageWaitTimeSeconds"), "0");
  EXPECT_EQ(a.at("VisibilityTimeout"), "30");
  EXPECT_EQ(a.at("SqsManagedSseEnabled"), "true");
  EXPECT_FALSE(a.contains("Policy"));
  EXPECT_FALSE(a.contains("KmsMasterKeyId"));
  EXPECT_FALSE(a.contains("KmsDataKeyReusePeriodSeconds"));
  EXPECT_FALSE(a.contains("RedrivePolicy"));
}

TEST(QueueAttributes, IntegerBounds) {
  struct Case {
    const char* name;
    int lo, hi;
  };
  for (const Case& c :
       {Case{"DelaySeconds", 0, 900}, Case{"MaximumMessageSize", 1024, 1048576},
        Case{"MessageRetentionPeriod", 60, 1209600}, Case{"ReceiveMessageWaitTimeSeconds", 0, 20},
        Case{"VisibilityTimeout", 0, 43200}, Case{"KmsDataKeyReusePeriodSeconds", 60, 86400}}) {
    for (int ok : {c.lo, c.hi}) {
      auto r = apply_queue_attributes(QueueConfig{}, {{c.name, std::to_string(ok)}}, context());
      ASSERT_TRUE(r.ok()) << c.name << "=" << ok;
    }
    for (std::string bad : {std::to_string(c.lo - 1), std::to_string(c.hi + 1), std::string("x"),
                            std::string(""), std::string("1.5"), std::string(" 1")}) {
      auto r = apply_queue_attributes(QueueConfig{}, {{c.name, bad}}, context());
      ASSERT_FALSE(r.ok()) << c.name << "=" << bad;
      EXPECT_EQ(r.error().code, Errc::kInvalidAttributeValue);
      EXPECT_EQ(r.error().message, std::string("Invalid value for the parameter ") + c.name + ".");
    }
  }
  auto r = apply_queue_attributes(QueueConfig{}, {{"VisibilityTimeout", "45"}}, context());
  EXPECT_EQ(r->visibility_timeout, 45);
}

TEST(QueueAttributes, UnknownReadOnlyAndFifoOnlyNames) {
  for (const char* name :
       {"Bogus", "QueueArn", "ApproximateNumberOfMessages", "CreatedTimestamp", "FifoQueue",
        "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit", "All"}) {
    auto r = apply_queue_attributes(QueueConfig{}, {{name, "1"}}, context());
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.error().code, Errc::kInvalidAttributeName);
    EXPECT_EQ(r.error().message, std::string("Unknown Attribute ") + name + ".");
  }
}

TEST(QueueAttributes, PolicyMustBeJson) {
  EXPECT_EQ(apply_error({{"Policy", "{not json"}}), Errc::kInvalidAttributeValue);
  const std::string policy = R"({"Version": "2012-10-17", "Statement": []})";
  auto r = apply_queue_attributes(QueueConfig{}, {{"Policy", policy}}, context());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(settable_attributes(*r).at("Policy"), policy);  // verbatim
  r = apply_queue_attributes(*r, {{"Policy", ""}}, context());
  EXPECT_FALSE(settable_attributes(*r).contains("Policy"));
}

TEST(QueueAttributes, ServerSideEncryption) {
  auto r = apply_queue_attributes(QueueConfig{}, {{"KmsMasterKeyId", "alias/aws/sqs"}}, context());
  ASSERT_TRUE(r.ok());
  AttributeMap a = settable_attributes(*r);
  EXPECT_EQ(a.at("KmsMasterKeyId"), "alias/aws/sqs");
  EXPECT_EQ(a.at("KmsDataKeyReusePeriodSeconds"), "300");
  EXPECT_EQ(a.at("SqsManagedSseEnabled"), "false");
  r = apply_queue_attributes(*r, {{"SqsManagedSseEnabled", "true"}}, context());
  a = settable_attributes(*r);
  EXPECT_FALSE(a.contains("KmsMasterKeyId"));
  EXPECT_EQ(a.at("SqsManagedSseEnabled"), "true");
  EXPECT_EQ(apply_error({{"KmsMasterKeyId", "k"}, {"SqsManagedSseEnabled", "true"}}),
            Errc::kInvalidAttributeName);
  EXPECT_EQ(apply_error({{"SqsManagedSseEnabled", "yes"}}), Errc::kInvalidAttributeValue);
}

TEST(QueueAttributes, RedrivePolicy) {
  const std::string arn = "arn:aws:sqs:us-east-1:123456789012:dlq";
  auto r = apply_queue_attributes(
      QueueConfig{},
      {{"RedrivePolicy", R"({"deadLetterTargetArn":")" + arn + R"(","maxReceiveCount":"5"})"}},
      context());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(settable_attributes(*r).at("RedrivePolicy"),
            R"({"deadLetterTargetArn":")" + arn + R"(","maxReceiveCount":5})");
  EXPECT_EQ(r->max_receive_count, 5);
  EXPECT_EQ(r->dead_letter_target, (QueueId{"123456789012", "dlq"}));

  auto message = [&](const std::string& policy) {
    auto res = apply_queue_attributes(QueueConfig{}, {{"RedrivePolicy", policy}}, context());
    EXPECT_FALSE(res.ok()) << policy;
    if (res.ok()) return std::string();
    EXPECT_EQ(res.error().code, Errc::kInvalidParameterValue);
    return res.error().message;
  };
  EXPECT_EQ(message("nope"),
            "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid "
            "JSON map.");
  const std::string missing = R"({"maxReceiveCount":5})";
  EXPECT_EQ(message(missing), "Value " + missing +
                                  " for parameter RedrivePolicy is invalid. Reason: Redrive policy "
                                  "does not contain mandatory attribute: deadLetterTargetArn.");
  const std::string zero = R"({"deadLetterTargetArn":")" + arn + R"(","maxReceiveCount":0})";
  EXPECT_EQ(message(zero), "Value " + zero +
                               " for parameter RedrivePolicy is invalid. Reason: Invalid value for "
                               "maxReceiveCount: 0, valid values are from 1 to 1000 both "
                               "inclusive.");
  EXPECT_NE(message(R"({"deadLetterTargetArn":")" + arn + R"(","maxReceiveCount":1001})"), "");
  const std::string dummy = R"({"deadLetterTargetArn":"dummy","maxReceiveCount":42})";
  EXPECT_EQ(message(dummy), "Value " + dummy +
                                " for parameter RedrivePolicy is invalid. Reason: Invalid value "
                                "for deadLetterTargetArn.");
  EXPECT_TRUE(message(R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:nope",)"
                      R"("maxReceiveCount":3})")
                  .ends_with("Reason: Dead letter target does not exist."));
  EXPECT_TRUE(message(R"({"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:123456789012:dlq",)"
                      R"("maxReceiveCount":3})")
                  .ends_with("Reason: Dead letter target does not exist."));
  // Removing it.
  r = apply_queue_attributes(*r, {{"RedrivePolicy", ""}}, context());
  EXPECT_FALSE(r->dead_letter_target.has_value());
  EXPECT_FALSE(settable_attributes(*r).contains("RedrivePolicy"));
}

TEST(QueueAttributes, RedriveAllowPolicy) {
  for (const char* ok :
       {R"({"redrivePermission":"allowAll"})", R"({"redrivePermission":"denyAll"})",
        R"({"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:us-east-1:1:a"]})"}) {
    EXPECT_TRUE(apply_queue_attributes(QueueConfig{}, {{"RedriveAllowPolicy", ok}}, context()).ok())
        << ok;
  }
  std::string eleven = R"({"redrivePermission":"byQueue","sourceQueueArns":[)";
  for (int i = 0; i < 11; ++i)
    eleven += std::string(i ? "," : "") + "\"arn:aws:sqs:us-east-1:1:q" + std::to_string(i) + "\"";
  eleven += "]}";
  for (const std::string& bad :
       {std::string("x"), std::string(R"({"redrivePermission":"some"})"),
        std::string(R"({"redrivePermission":"byQueue"})"),
        std::string(
            R"({"redrivePermission":"allowAll","sourceQueueArns":["arn:aws:sqs:us-east-1:1:a"]})"),
        eleven}) {
    EXPECT_EQ(apply_error({{"RedriveAllowPolicy", bad}}), Errc::kInvalidParameterValue) << bad;
  }
}

TEST(QueueArn, Parses) {
  std::string region;
  auto q = parse_queue_arn("arn:aws:sqs:us-east-1:123:my-q", &region);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->account, "123");
  EXPECT_EQ(q->name, "my-q");
  EXPECT_EQ(region, "us-east-1");
  EXPECT_FALSE(parse_queue_arn("arn:aws:sns:us-east-1:123:t", &region));
  EXPECT_FALSE(parse_queue_arn("arn:aws:sqs:us-east-1:123", &region));
  EXPECT_FALSE(parse_queue_arn("arn:aws:sqs:us-east-1:123:a:b", &region));
}

TEST(Tags, Bounds) {
  EXPECT_TRUE(validate_tags({{std::string(128, 'k'), std::string(256, 'v')}, {"e", ""}}).ok());
  EXPECT_FALSE(validate_tags({{"", "v"}}).ok());
  EXPECT_FALSE(validate_tags({{std::string(129, 'k'), "v"}}).ok());
  EXPECT_FALSE(validate_tags({{"k", std::string(257, 'v')}}).ok());
  // Characters, not bytes.
  std::string accents;
  for (int i = 0; i < 128; ++i) accents += "é";
  EXPECT_TRUE(validate_tags({{accents, ""}}).ok());
}

TEST(MessageText, AllowedCharacters) {
  uint32_t bad = 0;
  EXPECT_TRUE(is_valid_message_text("plain text\t\r\n", &bad));
  EXPECT_TRUE(is_valid_message_text("é€😀 \xEE\x80\x80", &bad));  // U+E000 is allowed
  EXPECT_TRUE(is_valid_message_text("\xEF\xBF\xBD", &bad));      // U+FFFD
  EXPECT_TRUE(is_valid_message_text("\xF4\x8F\xBF\xBF", &bad));  // U+10FFFF
  EXPECT_FALSE(is_valid_message_text(std::string("a\0b", 3), &bad));
  EXPECT_EQ(bad, 0u);
  EXPECT_FALSE(is_valid_message_text("\x01", &bad));
  EXPECT_EQ(bad, 1u);
  EXPECT_FALSE(is_valid_message_text("\x1F", &bad));
  EXPECT_FALSE(is_valid_message_text("\xEF\xBF\xBE", &bad));  // U+FFFE
  EXPECT_EQ(bad, 0xFFFEu);
  EXPECT_FALSE(is_valid_message_text("\xEF\xBF\xBF", &bad));      // U+FFFF
  EXPECT_FALSE(is_valid_message_text("\xED\xA0\x80", &bad));      // a surrogate
  EXPECT_FALSE(is_valid_message_text("\xC0\xAF", &bad));          // overlong
  EXPECT_FALSE(is_valid_message_text("\xE2\x82", &bad));          // truncated
  EXPECT_FALSE(is_valid_message_text("\xF4\x90\x80\x80", &bad));  // above U+10FFFF
  EXPECT_FALSE(is_valid_message_text("\xFF", &bad));
  // Long texts go 32 bytes (AVX2) and eight bytes at a time: a bad or non-ASCII character
  // anywhere is still judged.
  std::string text(64, 'x');
  text[63] = '\x7F';  // DEL is allowed
  EXPECT_TRUE(is_valid_message_text(text, &bad));
  for (size_t at = 0; at < 80; ++at) {
    for (char c : {'\x00', '\x08', '\x1F'}) {
      std::string t(80, '~');
      t[at] = c;
      EXPECT_FALSE(is_valid_message_text(t, &bad)) << at;
      EXPECT_EQ(bad, static_cast<uint32_t>(c)) << at;
    }
    std::string t(80, ' ');
    t.replace(at, 1, "\t");
    EXPECT_TRUE(is_valid_message_text(t, &bad)) << at;
    t = std::string(80, 'a');
    t.replace(at, 1, "\xC3\xA9");  // é
    EXPECT_TRUE(is_valid_message_text(t, &bad)) << at;
  }
}

TEST(MessageBody, Validation) {
  EXPECT_TRUE(validate_body("x").ok());
  EXPECT_EQ(validate_body("").error().code, Errc::kInvalidParameterValue);
  auto r = validate_body("ok\x02");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidMessageContents);
  EXPECT_EQ(r.error().message,
            "Invalid binary character '#x2' was found in the message body, the set of allowed "
            "characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to "
            "#x10FFFF");
}

std::string attr_error(const std::string& name, MessageAttributeValue v) {
  auto r = validate_message_attributes({{name, std::move(v)}});
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code, Errc::kInvalidParameterValue);
  return r.error().message;
}

TEST(MessageAttributes, Names) {
  const MessageAttributeValue v{"String", "v", ""};
  EXPECT_EQ(attr_error("Foo_Bar-1.2", v), "");
  EXPECT_EQ(attr_error("AWSfoo", v), "");
  EXPECT_EQ(attr_error(std::string(255, 'a'), v), "");
  EXPECT_EQ(attr_error(std::string(256, 'a'), v),
            "Message (user) attribute names must be shorter than 256 Bytes");
  EXPECT_EQ(attr_error("a b", v),
            "Message (user) attributes name can only contain upper and lower score characters, "
            "digits, periods, hyphens and underscores. ");
  for (const char* reserved : {"AWS.x", "aws.x", "AmAzOn.x", ".x", "x."}) {
    EXPECT_TRUE(attr_error(reserved, v)
                    .starts_with("You can't use message attribute names "
                                 "beginning with 'AWS.' or 'Amazon.'."))
        << reserved;
  }
  EXPECT_TRUE(attr_error("a..b", v).find("successive") != std::string::npos);
  EXPECT_NE(attr_error("", v), "");
}

TEST(MessageAttributes, TypesAndValues) {
  EXPECT_EQ(attr_error("a", {"String.json", "{}", ""}), "");
  EXPECT_EQ(attr_error("a", {"Number.java.lang.Long", "1", ""}), "");
  EXPECT_EQ(attr_error("a", {"Binary.gif", "", "\x01"}), "");
  EXPECT_EQ(attr_error("a", {"", "v", ""}),
            "The message attribute 'a' must contain non-empty message attribute type.");
  for (const char* bad_type : {"string", "Str", "int", "Strings"}) {
    EXPECT_EQ(attr_error("a", {bad_type, "v", ""}),
              "The message attribute 'a' has an invalid message attribute type, the set of "
              "supported type prefixes is Binary, Number, and String.")
        << bad_type;
  }
  EXPECT_EQ(attr_error("a", {"String." + std::string(249, 'x'), "v", ""}),
            "Message (user) attribute types must be shorter than 256 Bytes");
  EXPECT_EQ(attr_error("a", {"String", "", ""}),
            "Message (user) attribute 'a' must contain a non-empty value of type 'String'.");
  EXPECT_EQ(attr_error("a", {"Number", "", ""}),
            "Message (user) attribute 'a' must contain a non-empty value of type 'Number'.");
  EXPECT_EQ(attr_error("a", {"Binary", "text", ""}),
            "Message (user) attribute 'a' must contain a non-empty value of type 'Binary'.");
  EXPECT_NE(attr_error("a", {"String", "bad\x01", ""}), "");
  EXPECT_EQ(attr_error("a", {"Binary", "", std::string("\0\x01\xff", 3)}), "");  // any bytes
}

TEST(MessageAttributes, Numbers) {
  auto number = [](const std::string& value) { return attr_error("n", {"Number", value, ""}); };
  for (const std::string& ok : std::vector<std::string>{
           "0", "42", "-42", "+42", "3.14159", "007", "42.", ".5", "1e5", "1.5e-10",
           std::string(38, '9'), "1" + std::string(126, '0'), "-1" + std::string(128, '0'),
           "0.000000000000000000000000000000000000000000000001", "1" + std::string(60, '0'),
           "12345678901234567890123456789012345678000"}) {
    EXPECT_EQ(number(ok), "") << ok;
  }
  for (const std::string nan :
       {"abc", "-", ".", "1.2.3", "42abc", "4 2", "1,000", "0x1f", "1e", "Inf", "NaN", "e5"}) {
    EXPECT_EQ(number(nan), "Can't cast the value of message (user) attribute 'n' to a number.")
        << nan;
  }
  EXPECT_TRUE(number(std::string(39, '9')).find("38 digits") != std::string::npos);
  for (const std::string& out :
       std::vector<std::string>{"2" + std::string(126, '0'), "1" + std::string(127, '0'),
                                "-2" + std::string(128, '0'), "1e999999999", "1.1e126"}) {
    EXPECT_TRUE(number(out).ends_with("should be in range (-10**128..10**126).")) << out;
  }
}

TEST(MessageAttributes, CountAndSize) {
  MessageAttributes ten, eleven;
  for (int i = 0; i < 11; ++i) {
    (i < 10 ? ten : eleven)["a" + std::to_string(i)] = {"String", "v", ""};
    if (i < 10) eleven["a" + std::to_string(i)] = {"String", "v", ""};
  }
  auto r = validate_message_attributes(ten);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 10 * (2 + 6 + 1));  // name + "String" + value
  auto e = validate_message_attributes(eleven);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message,
            "Number of message attributes [11] exceeds the allowed maximum [10].");
}

TEST(SystemAttributes, OnlyAwsTraceHeaderString) {
  EXPECT_TRUE(validate_system_attributes({{"AWSTraceHeader", {"String", "Root=1-2-3", ""}}}).ok());
  EXPECT_FALSE(validate_system_attributes({{"Other", {"String", "x", ""}}}).ok());
  EXPECT_FALSE(validate_system_attributes({{"AWSTraceHeader", {"Binary", "", "x"}}}).ok());
  EXPECT_FALSE(validate_system_attributes({{"AWSTraceHeader", {"String", "", ""}}}).ok());
}

TEST(MessageGroupId, Characters) {
  EXPECT_TRUE(validate_message_group_id("group-1!{}").ok());
  EXPECT_TRUE(validate_message_group_id(std::string(128, 'g')).ok());
  EXPECT_FALSE(validate_message_group_id(std::string(129, 'g')).ok());
  EXPECT_FALSE(validate_message_group_id("with space").ok());
  EXPECT_FALSE(validate_message_group_id("é").ok());
}

}  // namespace
}  // namespace ferry::sqs
