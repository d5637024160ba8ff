#include "sqs/engine/message_codec.h"

#include <gtest/gtest.h>

#include <set>

#include "base/crypto.h"
#include "sqs/engine/md5.h"

namespace ferry::sqs {
namespace {

MessageAttributes string_attrs(std::initializer_list<std::pair<std::string, std::string>> kv) {
  MessageAttributes out;
  for (const auto& [k, v] : kv) out[k] = MessageAttributeValue{"String", v, ""};
  return out;
}

// Expected digests were recorded from real SQS responses (LocalStack's AWS-validated
// snapshots) and cross-checked with an independent Python implementation.
TEST(Md5, MessageAttributesMatchAws) {
  EXPECT_EQ(md5_of_message_attributes({}), "");
  EXPECT_EQ(md5_of_message_attributes(string_attrs({{"Foo", "Bar"}})),
            "ae7155c6026991b6d54b11589678bf9c");
  EXPECT_EQ(md5_of_message_attributes(
                string_attrs({{"General", "Kenobi"}, {"Hello", "There"}, {"Help.Me", "Me"}})),
            "4c360f3fdafd970e05fae2f149d997f5");
  EXPECT_EQ(md5_of_message_attributes(string_attrs({{"General", "Kenobi"}, {"Hello", "There"}})),
            "fca026605781cb4126a1e9044df24232");
  MessageAttributes binary;
  binary["attr1"] = {"Binary", "",
                     "traceparent\x1e"
                     "00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01"};
  EXPECT_EQ(md5_of_message_attributes(binary), "8cbe4db156db8a94db8b801b7addb984");
}

TEST(Md5, CustomTypesAndSystemAttributes) {
  MessageAttributes mixed;
  mixed["n"] = {"Number.int", "42", ""};
  mixed["s"] = {"String.json", "{}", ""};
  mixed["b"] = {"Binary.gif", "", std::string("\x00\x01\xff", 3)};
  EXPECT_EQ(md5_of_message_attributes(mixed), "fd822417d0e99617cba4afd8646e1498");
  EXPECT_EQ(md5_of_message_attributes(string_attrs(
                {{"AWSTraceHeader",
                  "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}})),
            "5ae4d5d7636402d80f4eb6d213245a88");
}

TEST(Md5, BinaryTypeDetection) {
  EXPECT_TRUE(is_binary_type("Binary"));
  EXPECT_TRUE(is_binary_type("Binary.png"));
  EXPECT_FALSE(is_binary_type("BinaryX"));
  EXPECT_FALSE(is_binary_type("String"));
}

TEST(Codec, PayloadRoundTrips) {
  codec::Payload p;
  p.message_id = "0f6bd0a4-1c3e-4a5b-9bd2-6c1a0d5f9e11";
  p.md5_of_body = "5d41402abc4b2a76b9719d911017c592";
  p.sent_ms = 1'700'000'000'123;
  p.first_visible_ms = 1'700'000'005'123;
  p.body = std::string("hello\0world", 11);
  p.message_attributes["a"] = {"String", "x", ""};
  p.message_attributes["b"] = {"Binary", "", std::string("\0\1", 2)};
  p.system_attributes["AWSTraceHeader"] = {"String", "Root=1", ""};
  p.message_group_id = "g";
  p.dead_letter_source_arn = "arn:aws:sqs:us-east-1:1:q";
  const std::string data = codec::encode_payload(p);
  codec::Payload q;
  ASSERT_TRUE(codec::decode_payload(data, &q));
  EXPECT_EQ(q.message_id, p.message_id);
  EXPECT_EQ(q.md5_of_body, p.md5_of_body);
  EXPECT_EQ(q.sent_ms, p.sent_ms);
  EXPECT_EQ(q.first_visible_ms, p.first_visible_ms);
  EXPECT_EQ(q.body, p.body);
  EXPECT_EQ(q.message_attributes, p.message_attributes);
  EXPECT_EQ(q.system_attributes, p.system_attributes);
  EXPECT_EQ(q.message_group_id, "g");
  EXPECT_EQ(q.dead_letter_source_arn, p.dead_letter_source_arn);
  int64_t sent = 0, visible = 0;
  ASSERT_TRUE(codec::peek_payload_times(data, &sent, &visible));
  EXPECT_EQ(sent, p.sent_ms);
  EXPECT_EQ(visible, p.first_visible_ms);
  // Truncations and trailing garbage are rejected, never crash.
  for (size_t n = 0; n < data.size(); ++n) {
    EXPECT_FALSE(codec::decode_payload(std::string_view(data).substr(0, n), &q)) << n;
  }
  EXPECT_FALSE(codec::decode_payload(data + "x", &q));
}

TEST(Codec, StateRoundTrips) {
  codec::MessageState s{1'700'000'030'000, 3, 1'700'000'000'500, 1'700'000'020'000};
  codec::MessageState t;
  ASSERT_TRUE(codec::decode_state(codec::encode_state(s), &t));
  EXPECT_EQ(t.visible_at_ms, s.visible_at_ms);
  EXPECT_EQ(t.receive_count, 3u);
  EXPECT_EQ(t.first_receive_ms, s.first_receive_ms);
  EXPECT_EQ(t.last_receive_ms, s.last_receive_ms);
  EXPECT_FALSE(codec::decode_state("", &t));
}

TEST(Codec, MessageKeysSortBySeqWithinAQueue) {
  const std::string a = codec::payload_key(7, 255), b = codec::state_key(7, 255),
                    c = codec::payload_key(7, 256), d = codec::payload_key(8, 1);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(c, d);
  EXPECT_TRUE(c.starts_with(codec::message_prefix(7)));
  EXPECT_LT(c, codec::message_prefix(8));
  uint64_t inc, seq;
  char kind;
  ASSERT_TRUE(codec::parse_message_key(b, &inc, &seq, &kind));
  EXPECT_EQ(inc, 7u);
  EXPECT_EQ(seq, 255u);
  EXPECT_EQ(kind, 's');
  EXPECT_FALSE(codec::parse_message_key("sqs/m/short", &inc, &seq, &kind));
}

TEST(Codec, ReceiptHandlesAreUniqueAuthenticatedAndOpaque) {
  const std::string secret(32, 'k');
  const codec::ReceiptHandle h{42, 1'000'000'007, 3};
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(codec::encode_receipt_handle(h, secret));
  EXPECT_EQ(seen.size(), 100u);
  const std::string text = *seen.begin();
  auto d = codec::decode_receipt_handle(text, secret);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->incarnation, 42u);
  EXPECT_EQ(d->seq, 1'000'000'007u);
  EXPECT_EQ(d->generation, 3u);
  EXPECT_FALSE(codec::decode_receipt_handle(text, std::string(32, 'x')));
  EXPECT_FALSE(codec::decode_receipt_handle("", secret));
  EXPECT_FALSE(codec::decode_receipt_handle("not a handle", secret));
  EXPECT_FALSE(codec::decode_receipt_handle(text.substr(1), secret));
  for (size_t i = 0; i < text.size(); ++i) {  // any altered character is caught
    std::string t = text;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(codec::decode_receipt_handle(t, secret)) << i;
  }
}

// Handles issued before SipHash (version 1, HMAC-SHA256) still decode after an upgrade; a
// version-1 body under the other MAC does not.
TEST(Codec, HmacReceiptHandlesOfVersionOneStillDecode) {
  const std::string secret(32, 'k');
  std::string raw(1, '\x01');
  codec::put_u64_be(raw, 42);
  codec::put_u64_be(raw, 7);
  raw += std::string("\0\0\0\x03", 4) + "nonc";
  const auto hmac = base::hmac_sha256(secret, raw);
  const std::string v1 = raw + std::string(reinterpret_cast<const char*>(hmac.data()), 11);
  auto d = codec::decode_receipt_handle(base::base64_encode(v1), secret);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->incarnation, 42u);
  EXPECT_EQ(d->seq, 7u);
  EXPECT_EQ(d->generation, 3u);

  auto v2 = base::base64_decode(codec::encode_receipt_handle({42, 7, 3}, secret));
  ASSERT_TRUE(v2);
  EXPECT_EQ((*v2)[0], '\x02');
  (*v2)[0] = '\x01';
  EXPECT_FALSE(codec::decode_receipt_handle(base::base64_encode(*v2), secret));
}

}  // namespace
}  // namespace ferry::sqs
