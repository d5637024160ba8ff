#pragma once
// Who is calling: parsed from the SigV4 credential (Authorization header or X-Amz-Credential
// query parameter). Signatures are not verified yet; Authenticator is the seam for that.
#include <string>
#include <string_view>

namespace ferry::aws {

struct Caller {
  std::string access_key;
  std::string account;  // a 12-digit access key id selects that account, else the default
  std::string region;
  std::string service;  // the credential scope's service, e.g. "sqs"; empty if unsigned
};

// Views into the text parse_credential() was given.
struct Credential {
  std::string_view access_key;
  std::string_view date;
  std::string_view region;
  std::string_view service;
};

// Parses "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sqs/aws4_request, ..." (or the bare
// credential value of X-Amz-Credential). Returns false if there is no usable credential.
bool parse_credential(std::string_view text, Credential* out);

struct AuthDefaults {
  std::string account = "000000000000";
  std::string region = "us-east-1";
};

class Authenticator {
 public:
  explicit Authenticator(AuthDefaults defaults) : defaults_(std::move(defaults)) {}
  // authorization: the Authorization header (may be empty); query_credential: X-Amz-Credential.
  Caller identify(std::string_view authorization, std::string_view query_credential) const;
  const AuthDefaults& defaults() const { return defaults_; }

 private:
  AuthDefaults defaults_;
};

}  // namespace ferry::aws
