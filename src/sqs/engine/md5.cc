#include "sqs/engine/md5.h"

#include <array>
#include <cstdint>

#include "base/crypto.h"

namespace ferry::sqs {

namespace {

void update_length_prefixed(base::Md5& md5, std::string_view data) {
  const auto n = static_cast<uint32_t>(data.size());
  const std::array<char, 4> len = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                                   static_cast<char>(n >> 8), static_cast<char>(n)};
  md5.update(std::string_view(len.data(), len.size()));
  md5.update(data);
}

}  // namespace

bool is_binary_type(std::string_view data_type) {
  return data_type.substr(0, 6) == "Binary" && (data_type.size() == 6 || data_type[6] == '.');
}

std::string_view attribute_value_bytes(const MessageAttributeValue& value) {
  return is_binary_type(value.data_type) ? std::string_view(value.binary_value)
                                         : std::string_view(value.string_value);
}

std::string md5_of_message_attributes(const MessageAttributes& attributes) {
  if (attributes.empty()) return {};
  base::Md5 md5;
  for (const auto& [name, value] : attributes) {  // std::map: already in name order
    update_length_prefixed(md5, name);
    update_length_prefixed(md5, value.data_type);
    const char transport = is_binary_type(value.data_type) ? 2 : 1;
    md5.update(std::string_view(&transport, 1));
    update_length_prefixed(md5, attribute_value_bytes(value));
  }
  return md5.finish_hex();
}

}  // namespace ferry::sqs
