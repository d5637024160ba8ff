#include "aws/event_stream.h"

#include <gtest/gtest.h>

#include <boost/crc.hpp>

namespace ferry::aws {
namespace {

std::string hex(std::string_view bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

TEST(EventStream, EmptyMessageMatchesTheFormatsVector) {
  // 16 bytes: total 16, headers 0, prelude CRC, message CRC (zlib CRC-32).
  EXPECT_EQ(hex(encode_event_message({}, "")), "000000100000000005c248eb7d98c8ff");
}

TEST(EventStream, InitialResponseMatchesBotocoresFraming) {
  // Built independently with Python's zlib and struct, as botocore parses it.
  EXPECT_EQ(hex(encode_event("initial-response", "application/json", "{}")),
            "00000068000000564e6817240b3a6576656e742d74797065070010696e697469616c2d726573706f6e7365"
            "0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d"
            "747970650700056576656e747b7dd591c62b");
}

TEST(EventStream, RoundTrip) {
  std::string a = encode_event("SubscribeToShardEvent", "application/json", R"({"Records":[]})");
  std::string b =
      encode_exception("ResourceInUseException", "application/json", R"({"message":"taken over"})");
  std::string both = a + b;
  auto first = decode_event_message(both);
  ASSERT_EQ(first.status, DecodeStatus::kOk);
  EXPECT_EQ(first.consumed, a.size());
  EXPECT_EQ(first.message.header(":event-type"), "SubscribeToShardEvent");
  EXPECT_EQ(first.message.header(":message-type"), "event");
  EXPECT_EQ(first.message.header(":content-type"), "application/json");
  EXPECT_EQ(first.message.payload, R"({"Records":[]})");
  auto second = decode_event_message(std::string_view(both).substr(first.consumed));
  ASSERT_EQ(second.status, DecodeStatus::kOk);
  EXPECT_EQ(second.message.header(":exception-type"), "ResourceInUseException");
  EXPECT_EQ(second.message.header(":message-type"), "exception");
  EXPECT_EQ(second.message.payload, R"({"message":"taken over"})");
}

TEST(EventStream, PartialInputNeedsMore) {
  std::string a = encode_event("SubscribeToShardEvent", "application/json", "{}");
  for (size_t n = 0; n < a.size(); ++n) {
    EXPECT_EQ(decode_event_message(std::string_view(a).substr(0, n)).status,
              DecodeStatus::kNeedMore)
        << n;
  }
}

TEST(EventStream, CorruptionIsDetected) {
  std::string a = encode_event("SubscribeToShardEvent", "application/json", "{\"x\":1}");
  for (size_t i = 0; i < a.size(); ++i) {
    std::string b = a;
    b[i] ^= 0x01;
    auto r = decode_event_message(b);
    // A flipped length may make the decoder wait for more bytes; it must never accept.
    EXPECT_NE(r.status, DecodeStatus::kOk) << i;
  }
}

TEST(EventStream, OtherHeaderTypesDecode) {
  // One header of each other type, framed by hand.
  std::string headers;
  auto add = [&](std::string name, char type, std::string value) {
    headers.push_back(static_cast<char>(name.size()));
    headers += name;
    headers.push_back(type);
    headers += value;
  };
  add("t", 0, "");
  add("b", 2, std::string(1, 'x'));
  add("i", 4, std::string(4, '\0'));
  add("u", 9, std::string(16, 'u'));
  add("s", 6, std::string("\x00\x02hi", 4));
  std::string msg;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) msg.push_back(static_cast<char>((v >> s) & 0xff));
  };
  auto crc = [](std::string_view bytes) {
    boost::crc_32_type c;
    c.process_bytes(bytes.data(), bytes.size());
    return c.checksum();
  };
  put(static_cast<uint32_t>(12 + headers.size() + 4));
  put(static_cast<uint32_t>(headers.size()));
  put(crc(msg));
  msg += headers;
  put(crc(msg));
  auto r = decode_event_message(msg);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  ASSERT_EQ(r.message.headers.size(), 5u);
  EXPECT_EQ(r.message.header("t"), "true");
  EXPECT_EQ(r.message.header("b"), "x");
  EXPECT_EQ(r.message.header("u"), std::string(16, 'u'));
  EXPECT_EQ(r.message.header("s"), "hi");
  EXPECT_TRUE(r.message.payload.empty());
}

}  // namespace
}  // namespace ferry::aws
