#include "aws/auth.h"

#include <algorithm>
#include <cctype>

namespace ferry::aws {

bool parse_credential(std::string_view text, Credential* out) {
  // Every SDK writes the algorithm, one space, then the credential: no search needed (searching
  // a whole header for "Credential=" cost as much as the rest of identify()).
  static constexpr std::string_view kSigV4 = "AWS4-HMAC-SHA256 Credential=";
  std::string_view cred = text;
  size_t pos = text.starts_with(kSigV4) ? kSigV4.size() - 11 : text.find("Credential=");
  if (pos != std::string_view::npos) {
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
  out->access_key = parts[0];
  out->date = parts[1];
  out->region = parts[2];
  out->service = parts[3];
  return true;
}

Caller Authenticator::identify(std::string_view authorization,
                               std::string_view query_credential) const {
  Credential cred;
  if (!parse_credential(authorization, &cred) && !parse_credential(query_credential, &cred)) {
    return Caller{{}, defaults_.account, defaults_.region, {}};
  }
  bool twelve_digits =
      cred.access_key.size() == 12 && std::all_of(cred.access_key.begin(), cred.access_key.end(),
                                                  [](unsigned char c) { return std::isdigit(c); });
  return Caller{std::string(cred.access_key),
                twelve_digits ? std::string(cred.access_key) : defaults_.account,
                cred.region.empty() ? defaults_.region : std::string(cred.region),
                std::string(cred.service)};
}

}  // namespace ferry::aws
