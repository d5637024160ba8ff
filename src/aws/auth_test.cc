#include "aws/auth.h"

#include <gtest/gtest.h>

namespace ferry::aws {
namespace {

const Authenticator kAuth(AuthDefaults{"000000000000", "us-east-1"});

TEST(Auth, ReadsTheCredentialOfASigV4Header) {
  Caller c = kAuth.identify(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/eu-west-2/sqs/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=abc",
      {});
  EXPECT_EQ(c.access_key, "AKIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(c.account, "000000000000");
  EXPECT_EQ(c.region, "eu-west-2");
  EXPECT_EQ(c.service, "sqs");
}

TEST(Auth, FindsTheCredentialAnywhereInTheHeader) {
  // Not the form SDKs write, but one a hand-made client may: the credential is searched for.
  Caller c = kAuth.identify(
      "AWS4-HMAC-SHA256 SignedHeaders=host, Credential=123456789012/20260101/ap-south-1/sns/"
      "aws4_request,Signature=abc",
      {});
  EXPECT_EQ(c.access_key, "123456789012");
  EXPECT_EQ(c.account, "123456789012");  // twelve digits select the account
  EXPECT_EQ(c.region, "ap-south-1");
  EXPECT_EQ(c.service, "sns");
}

TEST(Auth, FallsBackToTheQueryCredential) {
  Caller c = kAuth.identify({}, "AKID/20260101/us-west-2/kinesis/aws4_request");
  EXPECT_EQ(c.access_key, "AKID");
  EXPECT_EQ(c.region, "us-west-2");
  EXPECT_EQ(c.service, "kinesis");
  EXPECT_EQ(c.account, "000000000000");
}

TEST(Auth, AnEmptyRegionKeepsTheDefault) {
  Caller c = kAuth.identify("AWS4-HMAC-SHA256 Credential=AKID/20260101//sqs/aws4_request", {});
  EXPECT_EQ(c.region, "us-east-1");
  EXPECT_EQ(c.service, "sqs");
}

TEST(Auth, WithoutAUsableCredentialTheCallerIsTheDefault) {
  for (std::string_view header :
       {"", "AWS4-HMAC-SHA256 Credential=", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1",
        "AWS4-HMAC-SHA256 Credential=/20260101/us-east-1/sqs/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sqs/aws5_request",
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sqs/aws4_request/x",
        "Basic dXNlcg=="}) {
    Caller c = kAuth.identify(header, {});
    EXPECT_EQ(c.access_key, "") << header;
    EXPECT_EQ(c.account, "000000000000") << header;
    EXPECT_EQ(c.region, "us-east-1") << header;
    EXPECT_EQ(c.service, "") << header;
  }
}

TEST(Auth, MoreThanTwelveDigitsIsNotAnAccount) {
  Caller c = kAuth.identify("AWS4-HMAC-SHA256 Credential=1234567890123/d/r/s/aws4_request", {});
  EXPECT_EQ(c.access_key, "1234567890123");
  EXPECT_EQ(c.account, "000000000000");
}

}  // namespace
}  // namespace ferry::aws
