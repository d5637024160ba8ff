#include "aws/auth.h"

#include <algorithm>
#include <cctype>

namespace ferry::aws {

bool parse_credential(std::string_view text, Credential* out) {
  std::string_view cred = text;
  if (auto pos = text.find("Credential="); pos != std::string_view::npos) {
    cred = text.substr(pos + 11);
    if (auto end = cred.find_first_of(", "); end != std::string_view::npos) {
      cred = cred.substr(0, end);
    }
  }
  // AKID/date/region/service/aws4_request
  std::string_view parts[5];
  for (int i = 0; i < 5; ++i) {
    auto slash = cred.find('/');
    if (i < 4 && slash == std::string_view::npos) return false;
    parts[i] = i < 4 ? cred.substr(0, slash) : cred;
    if (i < 4) cred.remove_prefix(slash + 1);
  }
  if (parts[0].empty() || parts[4] != "aws4_request") return false;
  out->access_key = std::string(parts[0]);
  out->date = std::string(parts[1]);
  out->region = std::string(parts[2]);
  out->service = std::string(parts[3]);
  return true;
}

Caller Authenticator::identify(std::string_view authorization,
                               std::string_view query_credential) const {
  Caller caller{{}, defaults_.account, defaults_.region, {}};
  Credential cred;
  if (parse_credential(authorization, &cred) || parse_credential(query_credential, &cred)) {
    caller.access_key = cred.access_key;
    if (!cred.region.empty()) caller.region = cred.region;
    caller.service = cred.service;
    bool twelve_digits = cred.access_key.size() == 12 &&
                         std::all_of(cred.access_key.begin(), cred.access_key.end(),
                                     [](unsigned char c) { return std::isdigit(c); });
    if (twelve_digits) caller.account = cred.access_key;
  }
  return caller;
}

}  // namespace ferry::aws
