// Tests of the pattern engine: AWS's documented cases per operator and dialect, validation
// messages and limits, run-time add/remove under concurrent matching, and a property test
// against a small interpreter that evaluates patterns directly on a parsed event.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <cmath>
#include <random>
#include <thread>

#include "pattern/matcher.h"

namespace ferry::pattern {
namespace {

namespace json = boost::json;

constexpr Dialect kEB = Dialect::kEventBridge;
constexpr Dialect kBody = Dialect::kSnsBody;
constexpr Dialect kAttrs = Dialect::kSnsAttributes;

struct Case {
  const char* name;
  Dialect dialect;
  const char* pattern;
  const char* event;
  bool matches;
};

// ---- documented cases ------------------------------------------------------------------------

const Case kCases[] = {
    // Exact values, nesting, AND of fields, OR of values.
    {"exact", kEB, R"({"source":["aws.ec2"]})", R"({"source":"aws.ec2"})", true},
    {"exact-miss", kEB, R"({"source":["aws.ec2"]})", R"({"source":"aws.s3"})", false},
    {"exact-any-of", kEB, R"({"source":["aws.ec2","aws.fargate"]})", R"({"source":"aws.fargate"})",
     true},
    {"nested-and", kEB,
     R"({"source":["aws.ec2"],"detail-type":["EC2 Instance State-change Notification"],
         "detail":{"state":["terminated"]}})",
     R"({"version":"0","id":"6a7e8feb","detail-type":"EC2 Instance State-change Notification",
         "source":"aws.ec2","account":"111122223333","time":"2017-12-22T18:43:48Z",
         "region":"us-west-1","resources":["arn:aws:ec2:us-west-1:123456789012:instance/i-1"],
         "detail":{"instance-id":"i-1","state":"terminated"}})",
     true},
    {"nested-and-one-missing", kEB, R"({"source":["aws.ec2"],"detail":{"state":["terminated"]}})",
     R"({"source":"aws.ec2","detail":{"state":"running"}})", false},
    {"case-sensitive", kEB, R"({"source":["aws.ec2"]})", R"({"source":"AWS.EC2"})", false},
    {"unmentioned-fields-ignored", kEB, R"({"a":["x"]})",
     R"({"z":{"deep":[1,2,{"q":null}]},"a":"x"})", true},
    // Arrays in the event: any element.
    {"event-array", kEB,
     R"({"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                      "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]})",
     R"({"resources":["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56",
                      "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]})",
     true},
    {"event-array-miss", kEB, R"({"resources":["a"]})", R"({"resources":["b","c"]})", false},
    {"event-empty-array", kEB, R"({"resources":["a"]})", R"({"resources":[]})", false},
    {"event-nested-arrays", kEB, R"({"x":[3]})", R"({"x":[[1,2],[[3]]]})", true},
    {"array-of-objects", kEB, R"({"a":{"b":["x"]}})", R"({"a":[{"b":"y"},{"b":"x"}]})", true},
    // Array consistency: fields of one element are matched together.
    {"array-consistency-miss", kEB, R"({"a":{"b":[1],"c":[4]}})",
     R"({"a":[{"b":1,"c":2},{"b":3,"c":4}]})", false},
    {"array-consistency-hit", kEB, R"({"a":{"b":[1],"c":[4]}})",
     R"({"a":[{"b":1,"c":2},{"b":1,"c":4}]})", true},
    {"different-arrays-independent", kEB, R"({"a":{"b":[1]},"d":{"e":[2]}})",
     R"({"a":[{"b":0},{"b":1}],"d":[{"e":2}]})", true},
    {"nested-array-consistency", kEB, R"({"a":{"b":{"c":[1],"d":[2]}}})",
     R"({"a":[{"b":[{"c":1},{"d":2}]}]})", false},
    {"outer-element-shared", kEB, R"({"a":{"b":{"c":[1]},"e":[2]}})",
     R"({"a":[{"b":[{"c":0},{"c":1}],"e":2},{"b":[{"c":1}],"e":3}]})", true},
    // Null, empty string, missing.
    {"null", kEB, R"({"responseElements":[null]})", R"({"responseElements":null})", true},
    {"null-vs-missing", kEB, R"({"responseElements":[null]})", R"({"other":1})", false},
    {"null-vs-string", kEB, R"({"responseElements":[null]})", R"({"responseElements":"null"})",
     false},
    {"empty-string", kEB, R"({"LastName":[""]})", R"({"LastName":""})", true},
    {"empty-string-vs-missing", kEB, R"({"LastName":[""]})", R"({"FirstName":""})", false},
    {"bool", kEB, R"({"x":[true]})", R"({"x":true})", true},
    {"bool-vs-string", kEB, R"({"x":[true]})", R"({"x":"true"})", false},
    {"bool-false", kEB, R"({"x":[false]})", R"({"x":true})", false},
    // Numbers are compared as numbers.
    {"number-3-vs-3.0", kEB, R"({"x":[3]})", R"({"x":3.0})", true},
    {"number-3-vs-3e0", kEB, R"({"x":[300e-2]})", R"({"x":3e0})", true},
    {"number-vs-string", kEB, R"({"x":[3]})", R"({"x":"3"})", false},
    {"string-vs-number", kEB, R"({"x":["3"]})", R"({"x":3})", false},
    {"number-precision-6-decimals", kEB, R"({"x":[1.0000001]})", R"({"x":1})", true},
    {"number-precision-differs", kEB, R"({"x":[1.000001]})", R"({"x":1.000002})", false},
    {"number-out-of-range-exact", kEB, R"({"x":[1e12]})", R"({"x":1000000000000})", true},
    // prefix / suffix / equals-ignore-case and combinations.
    {"prefix", kEB, R"({"time":[{"prefix":"2017-10-02"}]})", R"({"time":"2017-10-02T18:43:48Z"})",
     true},
    {"prefix-miss", kEB, R"({"time":[{"prefix":"2017-10-02"}]})",
     R"({"time":"2017-10-03T18:43:48Z"})", false},
    {"prefix-not-number", kEB, R"({"n":[{"prefix":"1"}]})", R"({"n":10})", false},
    {"prefix-empty", kEB, R"({"n":[{"prefix":""}]})", R"({"n":"anything"})", true},
    {"prefix-ignore-case", kEB,
     R"({"detail":{"service":[{"prefix":{"equals-ignore-case":"EventB"}}]}})",
     R"({"detail":{"service":"eventbridge"}})", true},
    {"suffix", kEB, R"({"FileName":[{"suffix":".png"}]})", R"({"FileName":"image.png"})", true},
    {"suffix-miss", kEB, R"({"FileName":[{"suffix":".png"}]})", R"({"FileName":"image.PNG"})",
     false},
    {"suffix-ignore-case", kEB, R"({"FileName":[{"suffix":{"equals-ignore-case":".png"}}]})",
     R"({"FileName":"image.PNG"})", true},
    {"equals-ignore-case", kEB, R"({"Name":[{"equals-ignore-case":"alice"}]})",
     R"({"Name":"ALICE"})", true},
    {"equals-ignore-case-miss", kEB, R"({"Name":[{"equals-ignore-case":"alice"}]})",
     R"({"Name":"alicia"})", false},
    {"equals-ignore-case-unicode", kEB, R"({"x":[{"equals-ignore-case":"ÉCOLE Ωμέγα"}]})",
     R"({"x":"école ωμέγα"})", true},
    // wildcard.
    {"wildcard", kEB, R"({"EventBusArn":[{"wildcard":"arn:aws:events:us-east-1:*:event-bus/*"}]})",
     R"({"EventBusArn":"arn:aws:events:us-east-1:123456789012:event-bus/default"})", true},
    {"wildcard-miss", kEB,
     R"({"EventBusArn":[{"wildcard":"arn:aws:events:us-east-1:*:event-bus/*"}]})",
     R"({"EventBusArn":"arn:aws:events:us-west-2:123456789012:event-bus/default"})", false},
    {"wildcard-dir", kEB, R"({"FileName":[{"wildcard":"dir/*.png"}]})",
     R"({"FileName":"dir/a/b.png"})", true},
    {"wildcard-escaped-star", kEB, R"({"x":[{"wildcard":"a\\*b*"}]})", R"({"x":"a*bc"})", true},
    {"wildcard-escaped-star-miss", kEB, R"({"x":[{"wildcard":"a\\*b*"}]})", R"({"x":"axbc"})",
     false},
    {"wildcard-no-star", kEB, R"({"x":[{"wildcard":"abc"}]})", R"({"x":"abc"})", true},
    {"wildcard-star-only", kEB, R"({"x":[{"wildcard":"*"}]})", R"({"x":""})", true},
    // anything-but.
    {"anything-but", kEB, R"({"detail":{"state":[{"anything-but":"initializing"}]}})",
     R"({"detail":{"state":"running"}})", true},
    {"anything-but-miss", kEB, R"({"detail":{"state":[{"anything-but":"initializing"}]}})",
     R"({"detail":{"state":"initializing"}})", false},
    {"anything-but-missing-field", kEB, R"({"detail":{"state":[{"anything-but":"initializing"}]}})",
     R"({"detail":{}})", false},
    {"anything-but-number", kEB, R"({"x-limit":[{"anything-but":123}]})", R"({"x-limit":456})",
     true},
    {"anything-but-number-miss", kEB, R"({"x-limit":[{"anything-but":123}]})",
     R"({"x-limit":123.0})", false},
    {"anything-but-list", kEB, R"({"state":[{"anything-but":["stopped","overloaded"]}]})",
     R"({"state":"stopped"})", false},
    {"anything-but-list-hit", kEB, R"({"state":[{"anything-but":["stopped","overloaded"]}]})",
     R"({"state":"running"})", true},
    {"anything-but-numbers", kEB, R"({"x":[{"anything-but":[100,200,300]}]})", R"({"x":200})",
     false},
    {"anything-but-array-any-element", kEB, R"({"price":[{"anything-but":[100,500]}]})",
     R"({"price":[100,50]})", true},
    {"anything-but-array-all-excluded", kEB, R"({"price":[{"anything-but":[100,500]}]})",
     R"({"price":[100,500]})", false},
    {"anything-but-prefix", kEB, R"({"state":[{"anything-but":{"prefix":"init"}}]})",
     R"({"state":"initializing"})", false},
    {"anything-but-prefix-hit", kEB, R"({"state":[{"anything-but":{"prefix":"init"}}]})",
     R"({"state":"running"})", true},
    {"anything-but-suffix", kEB, R"({"FileName":[{"anything-but":{"suffix":".txt"}}]})",
     R"({"FileName":"notes.txt"})", false},
    {"anything-but-suffix-hit", kEB, R"({"FileName":[{"anything-but":{"suffix":".txt"}}]})",
     R"({"FileName":"image.png"})", true},
    {"anything-but-ignore-case", kEB,
     R"({"state":[{"anything-but":{"equals-ignore-case":"Stopped"}}]})", R"({"state":"STOPPED"})",
     false},
    {"anything-but-ignore-case-list", kEB,
     R"({"state":[{"anything-but":{"equals-ignore-case":["Stopped","overloaded"]}}]})",
     R"({"state":"Running"})", true},
    {"anything-but-wildcard", kEB, R"({"FilePath":[{"anything-but":{"wildcard":"*/lib/*"}}]})",
     R"({"FilePath":"/usr/lib/libc.so"})", false},
    {"anything-but-wildcard-hit", kEB, R"({"FilePath":[{"anything-but":{"wildcard":"*/lib/*"}}]})",
     R"({"FilePath":"/usr/bin/ls"})", true},
    // numeric.
    {"numeric", kEB,
     R"({"detail":{"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],
                   "x-limit":[{"numeric":["=",3.018e2]}]}})",
     R"({"detail":{"c-count":5,"d-count":7,"x-limit":301.8}})", true},
    {"numeric-upper-exclusive", kEB, R"({"x":[{"numeric":[">",0,"<",5]}]})", R"({"x":5})", false},
    {"numeric-lower-exclusive", kEB, R"({"x":[{"numeric":[">",0,"<",5]}]})", R"({"x":0})", false},
    {"numeric-ge", kEB, R"({"x":[{"numeric":[">=",0]}]})", R"({"x":0})", true},
    {"numeric-not-string", kEB, R"({"x":[{"numeric":[">",0]}]})", R"({"x":"5"})", false},
    {"numeric-negative", kEB, R"({"x":[{"numeric":["<",-122.41]}]})", R"({"x":-122.5})", true},
    {"numeric-out-of-range-event", kEB, R"({"x":[{"numeric":[">",0]}]})", R"({"x":6e9})", false},
    // cidr.
    {"cidr-v4", kEB, R"({"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/24"}]}})",
     R"({"detail":{"sourceIPAddress":"10.0.0.255"}})", true},
    {"cidr-v4-miss", kEB, R"({"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/24"}]}})",
     R"({"detail":{"sourceIPAddress":"10.0.1.1"}})", false},
    {"cidr-v6", kEB, R"({"ip":[{"cidr":"2001:db8::/64"}]})", R"({"ip":"2001:db8::1"})", true},
    {"cidr-v6-miss", kEB, R"({"ip":[{"cidr":"2001:db8::/64"}]})", R"({"ip":"2001:db9::1"})", false},
    {"cidr-not-ip", kEB, R"({"ip":[{"cidr":"10.0.0.0/8"}]})", R"({"ip":"hello"})", false},
    // exists.
    {"exists-true", kEB, R"({"detail":{"state":[{"exists":true}]}})", R"({"detail":{"state":"x"}})",
     true},
    {"exists-true-missing", kEB, R"({"detail":{"state":[{"exists":true}]}})", R"({"detail":{}})",
     false},
    {"exists-true-null", kEB, R"({"state":[{"exists":true}]})", R"({"state":null})", true},
    {"exists-false", kEB, R"({"detail":{"state":[{"exists":false}]}})", R"({"detail":{"c":1}})",
     true},
    {"exists-false-present", kEB, R"({"detail":{"state":[{"exists":false}]}})",
     R"({"detail":{"state":"x"}})", false},
    {"exists-leaf-only", kEB, R"({"detail":[{"exists":true}]})", R"({"detail":{"state":"x"}})",
     false},
    {"exists-false-intermediate", kEB, R"({"detail":[{"exists":false}]})", R"({"detail":{"a":1}})",
     true},
    {"exists-empty-array", kEB, R"({"x":[{"exists":true}]})", R"({"x":[]})", false},
    {"exists-false-empty-array", kEB, R"({"x":[{"exists":false}]})", R"({"x":[]})", true},
    {"exists-false-with-value", kEB, R"({"x":[{"exists":false},"a"]})", R"({"x":"a"})", true},
    {"exists-false-with-value-absent", kEB, R"({"x":[{"exists":false},"a"]})", R"({"y":"a"})",
     true},
    {"exists-false-with-value-other", kEB, R"({"x":[{"exists":false},"a"]})", R"({"x":"b"})",
     false},
    // $or.
    {"or-fields", kEB, R"({"$or":[{"Location":["New York"]},{"Day":["Monday"]}]})",
     R"({"Location":"Paris","Day":"Monday"})", true},
    {"or-miss", kEB, R"({"$or":[{"Location":["New York"]},{"Day":["Monday"]}]})",
     R"({"Location":"Paris","Day":"Sunday"})", false},
    {"or-nested", kEB,
     R"({"detail":{"$or":[{"c-count":[{"numeric":[">",0,"<=",5]}]},{"d-count":[{"numeric":["<",10]}]},
                          {"x-limit":[{"numeric":["=",3.018e2]}]}]}})",
     R"({"detail":{"x-limit":301.8}})", true},
    {"or-with-and", kEB,
     R"({"source":["aws.ec2"],"$or":[{"detail-type":["A"]},{"detail":{"x":["y"]}}]})",
     R"({"source":"aws.ec2","detail-type":"B","detail":{"x":"y"}})", true},
    {"or-with-and-miss", kEB,
     R"({"source":["aws.ec2"],"$or":[{"detail-type":["A"]},{"detail":{"x":["y"]}}]})",
     R"({"source":"aws.s3","detail-type":"A"})", false},
    {"or-as-field-name", kEB, R"({"$or":["x"]})", R"({"$or":"x"})", true},
    // Escapes and odd JSON in events.
    {"escaped-event-string", kEB, R"({"x":["a\"b/é"]})", R"({"x":"a\u0022b\/\u00e9"})", true},
    {"escaped-event-key", kEB, R"({"ab":["v"]})", R"({"a\u0062":"v"})", true},
    {"surrogate-pair", kEB, R"({"x":["😀"]})", R"({"x":"\ud83d\ude00"})", true},
    {"whitespace", kEB, R"({"a":{"b":[1]}})", " \n{ \"a\" : { \"b\" :\t1 } }\n", true},
    {"not-an-object", kEB, R"({"a":[{"exists":false}]})", R"([1,2])", false},
    {"malformed", kEB, R"({"a":["x"]})", R"({"a":"x)", false},
    {"truncated-after-match-in-later-key", kEB, R"({"a":["x"],"b":["y"]})", R"({"a":"x","b":)",
     false},

    // SNS MessageBody.
    {"sns-body", kBody,
     R"({"store":["example_corp"],"event":[{"anything-but":"order_cancelled"}],
         "customer_interests":["rugby","football","baseball"],
         "price_usd":[{"numeric":[">=",100]}]})",
     R"({"store":"example_corp","event":"order_placed","customer_interests":["soccer","rugby"],
         "price_usd":210.75})",
     true},
    {"sns-body-nested", kBody, R"({"customer":{"interests":["rugby"]}})",
     R"({"customer":{"interests":["hockey","rugby"]}})", true},
    {"sns-body-precision", kBody, R"({"x":[{"numeric":["=",1.000001]}]})", R"({"x":1.000002})",
     true},
    {"sns-body-empty-policy", kBody, R"({})", R"({"anything":1})", true},
    {"sns-body-not-json", kBody, R"({"a":["b"]})", R"(plain text)", false},
    {"sns-body-prefix", kBody, R"({"customer_interests":[{"prefix":"bas"}]})",
     R"({"customer_interests":["baseball"]})", true},
    {"sns-body-cidr", kBody, R"({"source_ip":[{"cidr":"10.0.0.0/24"}]})",
     R"({"source_ip":"10.0.0.10"})", true},
};

TEST(PatternCases, Documented) {
  for (const auto& c : kCases) {
    auto r = test_pattern(c.pattern, c.dialect, c.event);
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.error().message;
    EXPECT_EQ(r.value(), c.matches) << c.name;
  }
}

// SNS MessageAttributes.
struct AttrCase {
  const char* name;
  const char* policy;
  std::vector<Attribute> attrs;
  bool matches;
};

TEST(PatternCases, SnsAttributes) {
  const AttrCase cases[] = {
      {"string", R"({"store":["example_corp"]})", {{"store", "String", "example_corp"}}, true},
      {"string-miss", R"({"store":["example_corp"]})", {{"store", "String", "other"}}, false},
      {"string-array",
       R"({"customer_interests":["rugby"]})",
       {{"customer_interests", "String.Array", R"(["soccer", "rugby", "hockey"])"}},
       true},
      {"string-array-miss",
       R"({"customer_interests":["golf"]})",
       {{"customer_interests", "String.Array", R"(["soccer", "rugby"])"}},
       false},
      {"number-equal",
       R"({"price_usd":[{"numeric":["=",301.5]}]})",
       {{"price_usd", "Number", "3.015e2"}},
       true},
      {"number-exact-literal",
       R"({"price_usd":[301.5]})",
       {{"price_usd", "Number", "301.50"}},
       true},
      {"number-vs-string-type",
       R"({"price_usd":[301.5]})",
       {{"price_usd", "String", "301.5"}},
       false},
      {"number-range",
       R"({"price_usd":[{"numeric":[">",0,"<=",150]}]})",
       {{"price_usd", "Number", "150"}},
       true},
      {"anything-but-number",
       R"({"price":[{"anything-but":[100,500]}]})",
       {{"price", "Number", "101"}},
       true},
      {"anything-but-number-miss",
       R"({"price":[{"anything-but":[100,500]}]})",
       {{"price", "Number", "100"}},
       false},
      {"anything-but-number-array",
       R"({"price":[{"anything-but":[100,500]}]})",
       {{"price", "Number.Array", "[100, 50]"}},
       true},
      {"anything-but-prefix",
       R"({"event":[{"anything-but":{"prefix":"order-"}}]})",
       {{"event", "String", "order-cancelled"}},
       false},
      {"exists-false", R"({"store":[{"exists":false}]})", {{"event", "String", "x"}}, true},
      {"exists-true", R"({"store":[{"exists":true}]})", {{"store", "String", "x"}}, true},
      {"binary-ignored", R"({"data":[{"exists":true}]})", {{"data", "Binary", "AAEC"}}, false},
      {"binary-absent", R"({"data":[{"exists":false}]})", {{"data", "Binary", "AAEC"}}, true},
      {"custom-type-label", R"({"x":["v"]})", {{"x", "String.custom", "v"}}, true},
      {"prefix",
       R"({"customer_interests":[{"prefix":"bas"}]})",
       {{"customer_interests", "String", "basketball"}},
       true},
      {"suffix",
       R"({"customer_interests":[{"suffix":"ball"}]})",
       {{"customer_interests", "String", "baseball"}},
       true},
      {"equals-ignore-case",
       R"({"customer_interests":[{"equals-ignore-case":"RUGBY"}]})",
       {{"customer_interests", "String", "Rugby"}},
       true},
      {"cidr",
       R"({"source_ip":[{"cidr":"10.0.0.0/24"}]})",
       {{"source_ip", "String", "10.0.0.1"}},
       true},
      {"or", R"({"$or":[{"store":["a"]},{"event":["b"]}]})", {{"event", "String", "b"}}, true},
      {"and-both-required", R"({"store":["a"],"event":["b"]})", {{"event", "String", "b"}}, false},
      {"no-attributes", R"({"store":["a"]})", {}, false},
      {"empty-policy", R"({})", {}, true},
  };
  for (const auto& c : cases) {
    Matcher m;
    auto r = m.add("p", c.policy, kAttrs);
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.error().message;
    auto got = m.match_attributes(c.attrs);
    EXPECT_EQ(!got.empty(), c.matches) << c.name;
    // Attribute policies never take part in JSON matching.
    EXPECT_TRUE(m.match(R"({"store":"example_corp"})").empty()) << c.name;
  }
}

// ---- validation ---------------------------------------------------------------------------

struct Invalid {
  Dialect dialect;
  std::string pattern;
  std::string message;
};

TEST(PatternValidation, Messages) {
  const std::string eb = "Event pattern is not valid. Reason: ";
  const std::string sns = "FilterPolicy: ";
  std::string deep = "{\"a\":";
  for (int i = 0; i < 70; ++i) deep += "{\"a\":";
  deep += "[1]" + std::string(71, '}');
  std::string stars;
  for (int i = 0; i < 101; ++i) stars += "a*";
  const Invalid cases[] = {
      {kEB, R"({"a":"b"})", eb + R"("a" must be an object or an array)"},
      {kEB, R"({"a":1})", eb + R"("a" must be an object or an array)"},
      {kEB, R"({"a":[]})", eb + "Empty arrays are not allowed"},
      {kEB, R"({})", eb + "Empty objects are not allowed"},
      {kEB, R"({"a":{}})", eb + "Empty objects are not allowed"},
      {kEB, R"({"a":[{}]})", eb + "Empty objects are not allowed"},
      {kEB, R"({"a":[{"foo":1}]})", eb + "Unrecognized match type foo"},
      {kEB, R"({"a":[{"prefix":1}]})", eb + "prefix match pattern must be a string"},
      {kEB, R"({"a":[{"suffix":["x"]}]})", eb + "suffix match pattern must be a string"},
      {kEB, R"({"a":[{"equals-ignore-case":1}]})",
       eb + "equals-ignore-case match pattern must be a string"},
      {kEB, R"({"a":[{"prefix":"x","suffix":"y"}]})",
       eb + "Only one key allowed in match expression"},
      {kEB, R"({"a":[[1]]})", eb + "Match value must be String, number, true, false, or null"},
      {kEB, R"({"a":[{"exists":"yes"}]})",
       eb + "exists match pattern must be either true or false."},
      {kEB, R"({"a":[{"numeric":">"}]})", eb + "Value of numeric must be an array."},
      {kEB, R"({"a":[{"numeric":[]}]})", eb + "Invalid member in numeric match: ]"},
      {kEB, R"({"a":[{"numeric":[1]}]})", eb + "Invalid member in numeric match: 1"},
      {kEB, R"({"a":[{"numeric":["~",1]}]})", eb + "Unrecognized numeric range operator: ~"},
      {kEB, R"({"a":[{"numeric":[">"]}]})", eb + "Value of > must be numeric"},
      {kEB, R"({"a":[{"numeric":["=","5"]}]})", eb + "Value of equals must be numeric"},
      {kEB, R"({"a":[{"numeric":["=",5,"<",6]}]})", eb + "Too many elements in numeric expression"},
      {kEB, R"({"a":[{"numeric":[">",5,1]}]})", eb + "Bad value in numeric range: 1"},
      {kEB, R"({"a":[{"numeric":[">",1,">",2]}]})", eb + "Bad numeric range operator: >"},
      {kEB, R"({"a":[{"numeric":[">",1,"<"]}]})", eb + "Value of < must be numeric"},
      {kEB, R"({"a":[{"numeric":[">",5,"<",1]}]})", eb + "Bottom must be less than top"},
      {kEB, R"({"a":[{"numeric":[">",5,"<",5]}]})", eb + "Bottom must be less than top"},
      {kEB, R"({"a":[{"numeric":[">",1,"<",2,3]}]})",
       eb + "Too many terms in numeric range expression"},
      {kEB, R"({"a":[{"numeric":[">",6e9]}]})",
       eb + "Numeric values must be between -5.0E9 and 5.0E9, inclusive"},
      {kEB, R"({"a":[{"cidr":"10.0.0.0"}]})", eb + "Malformed CIDR, one '/' required"},
      {kEB, R"({"a":[{"cidr":"10.0.0.0/8/8"}]})", eb + "Malformed CIDR, one '/' required"},
      {kEB, R"({"a":[{"cidr":"10.0.0.0/x"}]})",
       eb + "Malformed CIDR, mask bits must be an integer"},
      {kEB, R"({"a":[{"cidr":"10.0.0.300/24"}]})", eb + "Nonstandard IP address: 10.0.0.300"},
      {kEB, R"({"a":[{"cidr":"10.0.0.0/33"}]})",
       eb + "Malformed CIDR, mask bits must be between 0 and 32"},
      {kEB, R"({"a":[{"cidr":1}]})", eb + "prefix match pattern must be a string"},
      {kEB, R"({"a":[{"wildcard":"a**b"}]})", eb + "Consecutive wildcard characters at pos 2"},
      {kEB, R"({"a":[{"wildcard":"a\\b"}]})",
       eb + "Invalid use of backslash escape character at pos 1"},
      {kEB, R"({"a":[{"wildcard":1}]})", eb + "wildcard match pattern must be a string"},
      {kEB, "{\"a\":[{\"wildcard\":\"" + stars + "\"}]}",
       eb +
           "Rule is too complex - try using fewer wildcard characters or fewer repeating character "
           "sequences after a wildcard character"},
      {kEB, R"({"a":[{"anything-but":{"foo":"x"}}]})",
       eb + "Unsupported anything-but pattern: foo"},
      {kEB, R"({"a":[{"anything-but":[true]}]})",
       eb + "Inside anything but list, start|null|boolean is not supported."},
      {kEB, R"({"a":[{"anything-but":null}]})",
       eb + "Value of anything-but must be an array or single string/number value."},
      {kEB, R"({"a":[{"anything-but":{"prefix":1}}]})",
       eb + "prefix match pattern must be a string"},
      {kEB, R"({"a":[{"prefix":{"foo":"x"}}]})", eb + "Unsupported prefix pattern: foo"},
      {kEB, R"({"a":["x"])", eb + "Invalid JSON: incomplete JSON"},
      {kEB, R"({"a":["x"]]})", eb + "Invalid JSON: syntax error"},
      {kEB, R"([1])", eb + "Event pattern must be a JSON object"},
      {kEB, deep, eb + "Pattern is nested too deeply (maximum depth 64)"},
      {kEB, "{\"a\":[\"" + std::string(300 * 1024, 'x') + "\"]}",
       eb + "Event pattern is larger than 262144 bytes"},
      // SNS.
      {kAttrs, R"({"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]})",
       sns + "Filter policy can not have more than 5 keys"},
      {kBody, R"({"a":{"b":["1"],"c":["1"],"d":["1"]},"e":{"f":["1"],"g":["1"],"h":["1"]}})",
       sns + "Filter policy can not have more than 5 keys"},
      {kAttrs, R"({"a":[1,2,3,4,5,6,7,8,9,10],"b":[1,2,3,4,5,6,7,8,9,10],"c":[1,2]})",
       sns + "Filter policy is too complex"},
      {kAttrs, R"({"a":{"b":["c"]}})",
       "Filter policy scope MessageAttributes does not support nested filter policy"},
      {kAttrs, R"({"a":[{"wildcard":"x*"}]})", sns + "Unrecognized match type wildcard"},
      {kAttrs, R"({"a":[{"numeric":[">",2e9]}]})",
       sns + "Numeric values must be between -1.0E9 and 1.0E9, inclusive"},
      {kAttrs, R"({"a":[{"anything-but":{"wildcard":"x*"}}]})",
       sns + "Unsupported anything-but pattern: wildcard"},
      {kAttrs, R"({"a":"b"})", sns + R"("a" must be an object or an array)"},
      {kAttrs, R"({"a":[)", sns + "failed to parse JSON. incomplete JSON"},
  };
  for (const auto& c : cases) {
    auto r = validate(c.pattern, c.dialect);
    ASSERT_FALSE(r.ok()) << c.pattern.substr(0, 200);
    EXPECT_EQ(r.error().code, Errc::kInvalidPattern);
    EXPECT_EQ(r.error().message, c.message) << c.pattern.substr(0, 200);
  }
}

TEST(PatternValidation, DocumentedLimitsAccepted) {
  // AWS's nested example: 4 values at depth 3 and 3 at depth 2: 4*3 * 3*2 = 72 <= 150.
  EXPECT_TRUE(validate(R"({"key_a":{"key_b":{"key_c":["1","2","3","4"]}},
                           "key_d":{"key_e":["1","2","3"]}})",
                       kBody)
                  .ok());
  // 3 x 1 x 2 = 6.
  EXPECT_TRUE(validate(R"({"key_a":["value_one","value_two","value_three"],"key_b":["value_one"],
                           "key_c":["value_one","value_two"]})",
                       kAttrs)
                  .ok());
  EXPECT_TRUE(validate(R"({"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"]})", kAttrs).ok());
  EXPECT_TRUE(validate(R"({"a":[{"numeric":[">",-5e9,"<=",5e9]}]})", kEB).ok());
  EXPECT_TRUE(validate(R"({"a":[{"wildcard":"*a*b*c\\*\\\\"}]})", kEB).ok());
  EXPECT_TRUE(validate(R"({})", kAttrs).ok());
}

TEST(PatternValidation, ExpansionIsBounded) {
  // 11 nested $or pairs would expand to 2048 alternatives.
  std::string p = "{";
  for (int i = 0; i < 11; ++i) {
    if (i) p += ",";
    p += "\"k" + std::to_string(i) + "\":{\"$or\":[{\"a\":[1]},{\"b\":[2]}]}";
  }
  p += "}";
  auto r = validate(p, kEB);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("too complex"), std::string::npos) << r.error().message;
}

// ---- the Matcher ---------------------------------------------------------------------------

TEST(MatcherTest, AddRemoveReplace) {
  Matcher m;
  ASSERT_TRUE(m.add("r1", R"({"source":["a"]})", kEB).ok());
  ASSERT_TRUE(m.add("r2", R"({"source":[{"prefix":""}]})", kEB).ok());
  auto dup = m.add("r1", R"({"source":["b"]})", kEB);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Errc::kDuplicateId);
  EXPECT_EQ(m.match(R"({"source":"a"})"), (std::vector<std::string>{"r1", "r2"}));
  ASSERT_TRUE(m.replace("r1", R"({"source":["b"]})", kEB).ok());
  EXPECT_EQ(m.match(R"({"source":"a"})"), (std::vector<std::string>{"r2"}));
  EXPECT_EQ(m.match(R"({"source":"b"})"), (std::vector<std::string>{"r1", "r2"}));
  EXPECT_FALSE(m.replace("r1", R"({"source":"b"})", kEB).ok());
  EXPECT_EQ(m.match(R"({"source":"b"})"), (std::vector<std::string>{"r1", "r2"}));
  EXPECT_TRUE(m.remove("r2"));
  EXPECT_FALSE(m.remove("r2"));
  EXPECT_EQ(m.match(R"({"source":"a"})"), std::vector<std::string>{});
  EXPECT_EQ(m.size(), 1u);
  EXPECT_TRUE(m.contains("r1"));

  std::vector<PatternSpec> batch = {{"x", R"({"n":[{"numeric":[">",1]}]})", kEB},
                                    {"y", R"({"n":[{"numeric":["<",1]}]})", kBody},
                                    {"z", R"({"n":["1"]})", kAttrs}};
  ASSERT_TRUE(m.add_all(batch).ok());
  EXPECT_EQ(m.match(R"({"n":2})"), (std::vector<std::string>{"x"}));
  EXPECT_EQ(m.match(R"({"n":0})"), (std::vector<std::string>{"y"}));
  std::vector<Attribute> attrs = {{"n", "String", "1"}};
  EXPECT_EQ(m.match_attributes(attrs), (std::vector<std::string>{"z"}));
  std::vector<PatternSpec> bad = {{"ok", R"({"a":[1]})", kEB}, {"x", R"({"a":[2]})", kEB}};
  EXPECT_FALSE(m.add_all(bad).ok());
  EXPECT_FALSE(m.contains("ok"));
}

TEST(MatcherTest, ManyPatternsShareStructure) {
  Matcher m;
  std::vector<PatternSpec> specs;
  for (int i = 0; i < 2000; ++i) {
    specs.push_back({"e" + std::to_string(i), "{\"k\":[\"v" + std::to_string(i) + "\"]}", kEB});
    specs.push_back({"n" + std::to_string(i),
                     "{\"n\":[{\"numeric\":[\">=\"," + std::to_string(i) + ",\"<\"," +
                         std::to_string(i + 10) + "]}]}",
                     kEB});
  }
  ASSERT_TRUE(m.add_all(specs).ok());
  EXPECT_EQ(m.match(R"({"k":"v1234"})"), std::vector<std::string>{"e1234"});
  auto got = m.match(R"({"n":100})");
  EXPECT_EQ(got.size(), 10u);  // [91,101) .. [100,110)
  got = m.match(R"({"n":100.5})");
  EXPECT_EQ(got.size(), 10u);
  got = m.match(R"({"n":-1})");
  EXPECT_TRUE(got.empty());
}

TEST(MatcherTest, ConcurrentMatchWithAddRemove) {
  Matcher m;
  ASSERT_TRUE(m.add("stable", R"({"kind":["x"]})", kEB).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> removed_gen{-1};  // generation whose pattern has been removed
  std::atomic<long> checks{0}, failures{0};
  auto reader = [&] {
    while (!stop.load()) {
      int g = removed_gen.load();
      auto got = m.match(R"({"kind":"x","gen":"g)" + std::to_string(g) + "\"}");
      bool stable = false;
      for (const auto& id : got) {
        if (id == "stable") stable = true;
        if (g >= 0 && id == "p" + std::to_string(g)) ++failures;  // matched after removal
      }
      if (!stable) ++failures;
      ++checks;
    }
  };
  std::thread t1(reader), t2(reader);
  for (int g = 0; g < 300; ++g) {
    std::string id = "p" + std::to_string(g);
    ASSERT_TRUE(m.add(id, "{\"gen\":[\"g" + std::to_string(g) + "\"]}", kEB).ok());
    long before = checks.load();
    while (checks.load() < before + 4) std::this_thread::yield();  // let readers see it
    ASSERT_TRUE(m.remove(id));
    removed_gen.store(g);
  }
  stop = true;
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(checks.load(), 0);
}

TEST(MatcherTest, MalformedEventsNeverCrash) {
  Matcher m;
  ASSERT_TRUE(m.add("a", R"({"a":{"b":[{"prefix":"x"}]},"c":[{"exists":false}]})", kEB).ok());
  const char* events[] = {"",
                          "{",
                          "}",
                          "{\"a\"",
                          "{\"a\":",
                          "{\"a\":{\"b\":\"x",
                          "{\"a\":[[[[",
                          "{\"a\":{\"b\":\"x\\",
                          "{\"a\":{\"b\":\"\\u12\"}}",
                          "nul",
                          "{\"a\":tru}",
                          "{\"a\":{\"b\":1e}}",
                          "\"str\"",
                          "{\"a\":{\"b\":\"xy\"}} trailing"};
  for (const char* e : events) EXPECT_TRUE(m.match(e).empty()) << e;
  std::string deep(100000, '[');
  EXPECT_TRUE(m.match("{\"a\":" + deep).empty());
  EXPECT_TRUE(m.match("{\"z\":" + deep).empty());
  EXPECT_EQ(m.match(R"({"a":{"b":"xy"}})"), std::vector<std::string>{"a"});
}

// ---- property test ---------------------------------------------------------------------------
// An interpreter that evaluates a pattern on a parsed event, written for clarity: it enumerates
// every way to pick one element of each array ("selections"); a pattern matches if, for some
// selection, every field condition holds on it. exists:false means the path has no leaf value
// anywhere in the event. Numbers compare with the dialect's precision (quantised).

struct Spec {
  double limit, scale;
};
Spec spec_of(Dialect d) { return d == kEB ? Spec{5e9, 1e6} : Spec{1e9, 1e5}; }

double num(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}
bool in_range(double v, Spec s) { return std::fabs(v) <= s.limit; }
long long quant(double v, Spec s) { return std::llround(v * s.scale); }
bool num_eq(double a, double b, Spec s) {
  if (in_range(a, s) != in_range(b, s)) return false;
  return in_range(a, s) ? quant(a, s) == quant(b, s) : a == b;
}
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
// Wildcard by recursion over the pattern text (escapes: \* and \\).
bool glob(std::string_view p, std::string_view s) {
  if (p.empty()) return s.empty();
  if (p[0] == '*') {
    for (std::size_t i = 0; i <= s.size(); ++i)
      if (glob(p.substr(1), s.substr(i))) return true;
    return false;
  }
  char want = p[0];
  std::size_t used = 1;
  if (want == '\\') {
    want = p[1];
    used = 2;
  }
  return !s.empty() && s[0] == want && glob(p.substr(used), s.substr(1));
}
bool ipv4(std::string_view s, uint32_t& out) {
  unsigned a, b, c, d;
  char tail;
  std::string t(s);
  if (std::sscanf(t.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4) return false;
  if (a > 255 || b > 255 || c > 255 || d > 255) return false;
  out = (a << 24) | (b << 16) | (c << 8) | d;
  return true;
}

// All array-free versions of `v`; a key whose value has no version disappears.
std::vector<json::value> selections(const json::value& v) {
  if (v.is_array()) {
    std::vector<json::value> out;
    for (const auto& e : v.get_array())
      for (auto& s : selections(e)) out.push_back(std::move(s));
    return out;
  }
  if (!v.is_object()) return {v};
  std::vector<json::value> out{json::object()};
  for (const auto& kv : v.get_object()) {
    auto opts = selections(kv.value());
    if (opts.empty()) continue;
    std::vector<json::value> next;
    for (const auto& partial : out)
      for (const auto& o : opts) {
        json::value n = partial;
        n.as_object()[kv.key()] = o;
        next.push_back(std::move(n));
      }
    out = std::move(next);
  }
  return out;
}

// Whether `v` has a leaf (non-object, non-array value) at `path`, looking into arrays.
bool has_leaf(const json::value& v, const std::vector<std::string>& path, std::size_t i) {
  if (v.is_array()) {
    for (const auto& e : v.get_array())
      if (has_leaf(e, path, i)) return true;
    return false;
  }
  if (i == path.size()) return !v.is_object();
  if (!v.is_object()) return false;
  auto* c = v.get_object().if_contains(path[i]);
  return c && has_leaf(*c, path, i + 1);
}

struct Interp {
  Dialect dialect;
  const json::value* event;

  bool value_matches(const json::value& m, const json::value* leaf,
                     const std::vector<std::string>& path) const {
    Spec sp = spec_of(dialect);
    if (m.is_object()) {
      const auto& [op, arg] = *m.get_object().begin();
      if (op == "exists") return arg.get_bool() ? leaf != nullptr : !has_leaf(*event, path, 0);
      if (!leaf) return false;
      const json::value& x = *leaf;
      std::string_view s = x.is_string() ? std::string_view(x.get_string()) : std::string_view();
      if (op == "prefix") {
        if (arg.is_object())
          return x.is_string() && lower(std::string(s))
                                      .starts_with(lower(std::string(
                                          arg.get_object().begin()->value().get_string())));
        return x.is_string() && s.starts_with(arg.get_string());
      }
      if (op == "suffix") {
        if (arg.is_object())
          return x.is_string() &&
                 lower(std::string(s))
                     .ends_with(lower(std::string(arg.get_object().begin()->value().get_string())));
        return x.is_string() && s.ends_with(arg.get_string());
      }
      if (op == "equals-ignore-case")
        return x.is_string() && lower(std::string(s)) == lower(std::string(arg.get_string()));
      if (op == "wildcard") return x.is_string() && glob(arg.get_string(), s);
      if (op == "cidr") {
        uint32_t ip, net;
        std::string c(arg.get_string());
        auto slash = c.find('/');
        int bits = std::stoi(c.substr(slash + 1));
        if (!x.is_string() || !ipv4(s, ip) || !ipv4(c.substr(0, slash), net)) return false;
        uint32_t mask = bits == 0 ? 0 : ~0u << (32 - bits);
        return (ip & mask) == (net & mask);
      }
      if (op == "numeric") {
        if (!x.is_number() || !in_range(num(x), sp)) return false;
        long long q = quant(num(x), sp);
        const auto& a = arg.get_array();
        for (std::size_t i = 0; i + 1 < a.size(); i += 2) {
          std::string_view o = a[i].get_string();
          long long b = quant(num(a[i + 1]), sp);
          bool ok = o == "="    ? q == b
                    : o == "<"  ? q < b
                    : o == "<=" ? q <= b
                    : o == ">"  ? q > b
                                : q >= b;
          if (!ok) return false;
        }
        return true;
      }
      if (op == "anything-but") {
        if (arg.is_object()) {
          const auto& [iop, iarg] = *arg.get_object().begin();
          if (!x.is_string()) return true;
          if (iop == "prefix") return !s.starts_with(iarg.get_string());
          if (iop == "suffix") return !s.ends_with(iarg.get_string());
          std::vector<std::string> list;
          if (iarg.is_string())
            list.emplace_back(iarg.get_string());
          else
            for (const auto& e : iarg.get_array()) list.emplace_back(e.get_string());
          for (const auto& t : list)
            if (iop == "wildcard" ? glob(t, s) : lower(t) == lower(std::string(s))) return false;
          return true;
        }
        std::vector<json::value> list;
        if (arg.is_array())
          list.assign(arg.get_array().begin(), arg.get_array().end());
        else
          list.push_back(arg);
        for (const auto& l : list)
          if (literal_eq(l, x)) return false;
        return true;
      }
      ADD_FAILURE() << "interpreter: unknown operator " << op;
      return false;
    }
    return leaf && literal_eq(m, *leaf);
  }

  bool literal_eq(const json::value& l, const json::value& x) const {
    if (l.is_number()) return x.is_number() && num_eq(num(l), num(x), spec_of(dialect));
    if (l.is_string()) return x.is_string() && l.get_string() == x.get_string();
    return !x.is_number() && !x.is_string() && l == x;  // true, false, null
  }

  static bool is_or(const json::string& k, const json::value& v) {
    if (k != "$or" || !v.is_array() || v.get_array().empty()) return false;
    for (const auto& e : v.get_array())
      if (!e.is_object()) return false;
    return true;
  }

  bool object(const json::object& pat, const json::value* sel,
              std::vector<std::string>& path) const {
    for (const auto& [k, v] : pat) {
      bool ok = false;
      if (is_or(k, v)) {
        for (const auto& alt : v.get_array()) ok = ok || object(alt.get_object(), sel, path);
      } else {
        const json::value* child = nullptr;
        if (sel && sel->is_object()) child = sel->get_object().if_contains(k);
        path.emplace_back(k);
        if (v.is_object()) {
          ok = object(v.get_object(), child, path);
        } else {
          const json::value* leaf = child && !child->is_object() ? child : nullptr;
          for (const auto& m : v.get_array()) ok = ok || value_matches(m, leaf, path);
        }
        path.pop_back();
      }
      if (!ok) return false;
    }
    return true;
  }

  bool matches(const json::object& pat) const {
    for (const auto& sel : selections(*event)) {
      std::vector<std::string> path;
      if (object(pat, &sel, path)) return true;
    }
    // With no selection at all (impossible for an object event) nothing matches.
    return false;
  }
};

class Gen {
 public:
  Gen(uint32_t seed, Dialect d) : rng_(seed), dialect_(d) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool coin(int percent) { return pick(100) < percent; }

  json::value scalar() {
    static const char* strs[] = {"",    "x",        "xy",       "Xy",  "yx", "abc",
                                 "ABC", "10.0.0.1", "10.1.2.3", "a*b", "xyz"};
    static const double nums[] = {0, 1, 1.0000001, 2.5, -3, 1e10, 100, 1.5};
    switch (pick(7)) {
      case 0:
      case 1:
      case 2:
        return json::value(strs[pick(11)]);
      case 3:
      case 4: {
        double d = nums[pick(8)];
        if (d == std::floor(d) && std::fabs(d) < 1e9 && coin(50))
          return json::value(static_cast<int64_t>(d));
        return json::value(d);
      }
      case 5:
        return json::value(coin(50));
      default:
        return json::value(nullptr);
    }
  }

  json::value event_value(int depth) {
    int r = pick(10);
    if (depth < 3 && r < 2) return event_object(depth + 1);
    if (depth < 3 && r < 4) {
      json::array a;
      int n = pick(4);
      for (int i = 0; i < n; ++i)
        a.push_back(coin(30) ? event_object(depth + 1) : event_value(depth + 1));
      return a;
    }
    return scalar();
  }

  json::object event_object(int depth) {
    json::object o;
    for (const char* k : {"a", "b", "c"})
      if (coin(60)) o[k] = event_value(depth);
    return o;
  }

  json::value match_value() {
    static const char* strs[] = {"", "x", "xy", "Xy", "abc", "10.0.0.1"};
    switch (pick(dialect_ == kEB ? 14 : 12)) {
      case 0:
        return scalar();
      case 1:
        return json::object{{"prefix", strs[pick(6)]}};
      case 2:
        return json::object{{"suffix", strs[pick(6)]}};
      case 3:
        return json::object{{"equals-ignore-case", strs[pick(6)]}};
      case 4:
        return json::object{
            {pick(2) ? "prefix" : "suffix", json::object{{"equals-ignore-case", strs[pick(6)]}}}};
      case 5: {
        static const char* ops[] = {"<", "<=", "=", ">", ">="};
        static const double bounds[] = {0, 1, 1.0000001, 2.5, -3, 100};
        if (coin(50)) return json::object{{"numeric", json::array{ops[pick(5)], bounds[pick(6)]}}};
        double lo = bounds[pick(6)], hi = lo + 1 + pick(100);
        return json::object{
            {"numeric", json::array{pick(2) ? ">" : ">=", lo, pick(2) ? "<" : "<=", hi}}};
      }
      case 6:
        return json::object{{"exists", coin(50)}};
      case 7: {
        json::value v;
        if (coin(50)) {
          v = json::value(strs[pick(6)]);
        } else if (coin(50)) {
          v = json::value(static_cast<int64_t>(pick(3)));
        } else {
          json::array a;
          int n = 1 + pick(3);
          bool strings = coin(50);
          for (int i = 0; i < n; ++i)
            a.push_back(strings ? json::value(strs[pick(6)]) : json::value(pick(3) * 1.0));
          v = a;
        }
        return json::object{{"anything-but", v}};
      }
      case 8:
        return json::object{
            {"anything-but", json::object{{pick(2) ? "prefix" : "suffix", strs[pick(6)]}}}};
      case 9:
        return json::object{{"anything-but", json::object{{"equals-ignore-case", strs[pick(6)]}}}};
      case 10:
        return json::object{{"cidr", pick(2) ? "10.0.0.0/8" : "10.0.0.0/24"}};
      case 11:
        return json::value(nullptr);
      case 12: {
        static const char* globs[] = {"*", "x*", "*y", "a*c", "*b*", "a\\*b", "x*y*z"};
        return json::object{{"wildcard", globs[pick(7)]}};
      }
      default: {
        static const char* globs[] = {"x*", "*c", "a\\*b"};
        return json::object{{"anything-but", json::object{{"wildcard", globs[pick(3)]}}}};
      }
    }
  }

  json::object pattern_object(int depth) {
    json::object o;
    while (o.empty()) {
      for (const char* k : {"a", "b", "c"}) {
        if (!coin(45)) continue;
        if (depth < 2 && coin(30)) {
          o[k] = pattern_object(depth + 1);
        } else {
          json::array a;
          int n = 1 + pick(3);
          for (int i = 0; i < n; ++i) a.push_back(match_value());
          o[k] = a;
        }
      }
      if (depth < 2 && coin(15)) {
        json::array alts;
        int n = 2 + pick(2);
        for (int i = 0; i < n; ++i) alts.push_back(pattern_object(depth + 1));
        o["$or"] = alts;
      }
    }
    return o;
  }

 private:
  std::mt19937 rng_;
  Dialect dialect_;
};

// Totals over a property run, to check that it exercises matches and array consistency.
struct PropertyStats {
  long events = 0, matches = 0;
};

void property_round(uint32_t seed, Dialect dialect, PropertyStats& stats) {
  Gen g(seed, dialect);
  Matcher m;
  std::vector<std::pair<std::string, json::object>> pats;
  for (int i = 0; i < 40; ++i) {
    json::object p = g.pattern_object(0);
    std::string text = json::serialize(p);
    if (!m.add("p" + std::to_string(100 + i), text, dialect).ok()) continue;  // e.g. SNS limits
    pats.emplace_back("p" + std::to_string(100 + i), std::move(p));
  }
  for (int e = 0; e < 150; ++e) {
    json::value ev = g.event_object(0);
    std::string text = json::serialize(ev);
    std::vector<std::string> want;
    Interp in{dialect, &ev};
    for (const auto& [id, p] : pats)
      if (in.matches(p)) want.push_back(id);
    auto got = m.match(text);
    ++stats.events;
    stats.matches += static_cast<long>(want.size());
    ASSERT_EQ(got, want) << "seed " << seed << " event " << text;
  }
}

TEST(PatternProperty, AgreesWithInterpreterEventBridge) {
  PropertyStats stats;
  for (uint32_t seed = 1; seed <= 60; ++seed) property_round(seed, kEB, stats);
  EXPECT_GT(stats.matches, stats.events);  // on average more than one pattern per event
}

TEST(PatternProperty, AgreesWithInterpreterSnsBody) {
  PropertyStats stats;
  for (uint32_t seed = 1000; seed <= 1030; ++seed) property_round(seed, kBody, stats);
  EXPECT_GT(stats.matches, stats.events);
}

TEST(PatternProperty, InterpreterSelfCheck) {
  // The interpreter itself on a few documented cases, so that agreement means something.
  auto ev = json::parse(R"({"a":[{"b":1,"c":2},{"b":3,"c":4}]})");
  Interp in{kEB, &ev};
  EXPECT_FALSE(in.matches(json::parse(R"({"a":{"b":[1],"c":[4]}})").get_object()));
  EXPECT_TRUE(in.matches(json::parse(R"({"a":{"b":[3],"c":[4]}})").get_object()));
  EXPECT_TRUE(glob("a\\*b*", "a*bc"));
  EXPECT_FALSE(glob("a\\*b*", "axbc"));
}

}  // namespace
}  // namespace ferry::pattern
