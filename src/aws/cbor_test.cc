#include "aws/cbor.h"

#include <gtest/gtest.h>

#include "aws/model.h"

namespace ferry::aws {
namespace {

namespace json = boost::json;

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

TEST(Cbor, DecodesRfc8949Examples) {
  EXPECT_EQ(cbor_decode(bytes({0x00})).value(), json::value(0u));
  EXPECT_EQ(cbor_decode(bytes({0x18, 0x64})).value(), json::value(100u));
  EXPECT_EQ(cbor_decode(bytes({0x39, 0x03, 0xe7})).value(), json::value(-1000));
  EXPECT_EQ(cbor_decode(bytes({0xf9, 0x3c, 0x00})).value(), json::value(1.0));
  EXPECT_EQ(cbor_decode(bytes({0xfb, 0x3f, 0xf1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a})).value(),
            json::value(1.1));
  EXPECT_EQ(cbor_decode(bytes({0xf5})).value(), json::value(true));
  EXPECT_EQ(cbor_decode(bytes({0xf6})).value(), json::value(nullptr));
  EXPECT_EQ(cbor_decode(bytes({0x64, 0x49, 0x45, 0x54, 0x46})).value(), json::value("IETF"));
  EXPECT_EQ(cbor_decode(bytes({0x44, 0x01, 0x02, 0x03, 0x04})).value(), json::value("AQIDBA=="));
  // {_ "a": 1, "b": [_ 2, 3]}
  auto v = cbor_decode(bytes({0xbf, 0x61, 0x61, 0x01, 0x61, 0x62, 0x9f, 0x02, 0x03, 0xff, 0xff}));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(json::serialize(v.value()), R"({"a":1,"b":[2,3]})");
  // (_ h'0102', h'030405')
  EXPECT_EQ(cbor_decode(bytes({0x5f, 0x42, 0x01, 0x02, 0x43, 0x03, 0x04, 0x05, 0xff})).value(),
            json::value("AQIDBAU="));
  // Tag 1 is ignored.
  EXPECT_EQ(cbor_decode(bytes({0xc1, 0x1a, 0x51, 0x4b, 0x67, 0xb0})).value(),
            json::value(1363896240u));
}

TEST(Cbor, RefusesMalformedInput) {
  for (const auto& in : {bytes({}), bytes({0x18}), bytes({0x62, 0x61}), bytes({0xa1, 0x01, 0x02}),
                         bytes({0x9f, 0x01}), bytes({0x1f}), bytes({0x00, 0x00}),
                         bytes({0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
                         bytes({0x5f, 0x61, 0x61, 0xff})}) {
    auto r = cbor_decode(in);
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_EQ(r.error().json_type, kSerializationExceptionType);
    }
  }
  std::string deep(1000, static_cast<char>(0x81));
  deep.push_back(0);
  EXPECT_FALSE(cbor_decode(deep).ok());
}

TEST(Cbor, GenericRoundTrip) {
  json::value v = json::parse(
      R"({"s":"text","n":-5,"u":18446744073709551615,"d":0.5,"b":false,"z":null,"a":[1,{"k":"v"}]})");
  EXPECT_EQ(cbor_decode(cbor_encode(v)).value(), v);
}

TEST(Cbor, KinesisModelBlobsAndTimestamps) {
  const auto& model = ServiceModel::get("kinesis");
  const Operation* put = model.operation("PutRecord");
  ASSERT_NE(put, nullptr);
  // {"StreamName": "s", "Data": h'6869', "PartitionKey": "k"}
  std::string body = bytes({0xa3, 0x6a}) + "StreamName" + bytes({0x61}) + "s" + bytes({0x64}) +
                     "Data" + bytes({0x42, 0x68, 0x69}) + bytes({0x6c}) + "PartitionKey" +
                     bytes({0x61}) + "k";
  auto in = decode_cbor_input(model, *put, body);
  ASSERT_TRUE(in.ok()) << in.error().message;
  EXPECT_EQ(in->at("Data"), json::value("aGk="));

  const Operation* iter = model.operation("GetShardIterator");
  json::object shaped{{"StreamName", "s"},
                      {"ShardId", "shardId-000000000000"},
                      {"ShardIteratorType", "AT_TIMESTAMP"},
                      {"Timestamp", 1700000000123}};
  auto decoded = decode_cbor_input(model, *iter, cbor_encode(shaped));
  ASSERT_TRUE(decoded.ok());
  EXPECT_DOUBLE_EQ(decoded->at("Timestamp").as_double(), 1700000000.123);

  const Operation* get = model.operation("GetRecords");
  json::object out{{"Records", json::array{json::object{{"Data", "aGk="},
                                                        {"ApproximateArrivalTimestamp", 1.5},
                                                        {"PartitionKey", "k"},
                                                        {"SequenceNumber", "1"}}}},
                   {"MillisBehindLatest", 0}};
  auto back = cbor_decode(encode_cbor_output(*get, out)).value();
  const auto& rec = back.at("Records").at(0);
  EXPECT_EQ(rec.at("ApproximateArrivalTimestamp"), json::value(1500));
  EXPECT_EQ(rec.at("Data"), json::value("aGk="));  // a byte string on the wire

  // Missing required members are refused like the JSON protocol does.
  EXPECT_FALSE(decode_cbor_input(model, *put, cbor_encode(json::object{{"StreamName", "s"}})).ok());
  EXPECT_FALSE(decode_cbor_input(model, *put, bytes({0x81, 0x00})).ok());
}

TEST(Cbor, EncodesAValueByAnyShapeOfTheModel) {
  // Event-stream events are no operation's output: SubscribeToShardEvent by its shape.
  const auto& model = ServiceModel::get("kinesis");
  const Shape* event = model.shape("SubscribeToShardEvent");
  ASSERT_NE(event, nullptr);
  json::object e{{"Records", json::array{json::object{{"Data", "aGk="},
                                                      {"ApproximateArrivalTimestamp", 1.5}}}},
                 {"MillisBehindLatest", 0}};
  std::string wire = encode_cbor_shape(event, e);
  // The record's Data is a 2-byte byte string (0x42 'h' 'i'), its timestamp 1500 ms.
  EXPECT_NE(wire.find(bytes({0x42, 0x68, 0x69})), std::string::npos);
  auto back = cbor_decode(wire).value();
  EXPECT_EQ(back.at("Records").at(0).at("ApproximateArrivalTimestamp"), json::value(1500));
  EXPECT_EQ(encode_cbor_shape(nullptr, json::value("x")), cbor_encode(json::value("x")));
}

}  // namespace
}  // namespace ferry::aws
