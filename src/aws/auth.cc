#include "aws/auth.h"

#include <algorithm>
#include <cctype>

namespace ferry::aws {

bool parse_credential(std::string_view text, Credential* out) {
  // Every SDK writes the algorithm, one space, then the credential: no search needed (searching
  // a whole header for "Credential=" cost as much as the rest of identify()).
  static constexpr std::string_view kSigV4 = "AWS4-HMAC-SHA256 Credential=";
  static constexpr std::string_view kKey = "Credential=";
  size_t begin = 0;
  if (text.starts_with(kSigV4)) {
    begin = kSigV4.size();
  } else if (size_t pos = text.find(kKey); pos != std::string_view::npos) {
    begin = pos + kKey.size();
  }
  // AKID/date/region/service/aws4_request, up to a comma or space: one pass over the bytes
  // (find_first_of looked each one up in its set).
  std::string_view parts[5];
  size_t n = 0, part_begin = begin, i = begin;
  for (; i < text.size() && text[i] != ',' && text[i] != ' '; ++i) {
    if (text[i] != '/') continue;
    if (n == 4) return false;
    parts[n++] = text.substr(part_begin, i - part_begin);
    part_begin = i + 1;
  }
  if (n != 4) return false;
  parts[4] = text.substr(part_begin, i - part_begin);
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
