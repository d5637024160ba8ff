#include "aws/event_stream.h"

#include <boost/crc.hpp>

namespace ferry::aws {

namespace {

// boost::crc_32_type is zlib's CRC-32 (the one the format uses).
uint32_t crc32(std::string_view bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t get_u32(std::string_view in, size_t pos) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[pos + i]);
  return v;
}

uint16_t get_u16(std::string_view in, size_t pos) {
  return static_cast<uint16_t>((static_cast<unsigned char>(in[pos]) << 8) |
                               static_cast<unsigned char>(in[pos + 1]));
}

constexpr size_t kPreludeBytes = 12;
constexpr size_t kCrcBytes = 4;

}  // namespace

std::string_view EventMessage::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

std::string encode_event_message(const EventHeaders& headers, std::string_view payload) {
  std::string encoded_headers;
  for (const auto& [name, value] : headers) {
    encoded_headers.push_back(static_cast<char>(name.size()));
    encoded_headers += name;
    encoded_headers.push_back(7);  // string
    encoded_headers.push_back(static_cast<char>((value.size() >> 8) & 0xff));
    encoded_headers.push_back(static_cast<char>(value.size() & 0xff));
    encoded_headers += value;
  }
  auto total =
      static_cast<uint32_t>(kPreludeBytes + encoded_headers.size() + payload.size() + kCrcBytes);
  std::string out;
  out.reserve(total);
  put_u32(out, total);
  put_u32(out, static_cast<uint32_t>(encoded_headers.size()));
  put_u32(out, crc32(out));
  out += encoded_headers;
  out += payload;
  put_u32(out, crc32(out));
  return out;
}

std::string encode_event(std::string_view event_type, std::string_view content_type,
                         std::string_view payload) {
  return encode_event_message({{":event-type", std::string(event_type)},
                               {":content-type", std::string(content_type)},
                               {":message-type", "event"}},
                              payload);
}

std::string encode_exception(std::string_view exception_type, std::string_view content_type,
                             std::string_view payload) {
  return encode_event_message({{":exception-type", std::string(exception_type)},
                               {":content-type", std::string(content_type)},
                               {":message-type", "exception"}},
                              payload);
}

DecodeResult decode_event_message(std::string_view in) {
  DecodeResult r;
  if (in.size() < kPreludeBytes) return r;
  uint32_t total = get_u32(in, 0);
  uint32_t headers_len = get_u32(in, 4);
  if (get_u32(in, 8) != crc32(in.substr(0, 8)) || total < kPreludeBytes + kCrcBytes ||
      total > kMaxEventMessageBytes || headers_len > total - kPreludeBytes - kCrcBytes) {
    r.status = DecodeStatus::kMalformed;
    return r;
  }
  if (in.size() < total) return r;
  if (get_u32(in, total - kCrcBytes) != crc32(in.substr(0, total - kCrcBytes))) {
    r.status = DecodeStatus::kMalformed;
    return r;
  }
  std::string_view h = in.substr(kPreludeBytes, headers_len);
  size_t pos = 0;
  auto malformed = [&r] {
    r.status = DecodeStatus::kMalformed;
    r.message = {};
    return r;
  };
  while (pos < h.size()) {
    size_t name_len = static_cast<unsigned char>(h[pos++]);
    if (name_len == 0 || pos + name_len + 1 > h.size()) return malformed();
    std::string name(h.substr(pos, name_len));
    pos += name_len;
    auto type = static_cast<unsigned char>(h[pos++]);
    size_t value_len = 0;
    switch (type) {
      case 0:  // true
      case 1:  // false
        value_len = 0;
        break;
      case 2:  // byte
        value_len = 1;
        break;
      case 3:  // int16
        value_len = 2;
        break;
      case 4:  // int32
        value_len = 4;
        break;
      case 5:  // int64
      case 8:  // timestamp
        value_len = 8;
        break;
      case 9:  // uuid
        value_len = 16;
        break;
      case 6:  // bytes
      case 7:  // string
        if (pos + 2 > h.size()) return malformed();
        value_len = get_u16(h, pos);
        pos += 2;
        break;
      default:
        return malformed();
    }
    if (pos + value_len > h.size()) return malformed();
    std::string value = type == 0   ? "true"
                        : type == 1 ? "false"
                                    : std::string(h.substr(pos, value_len));
    pos += value_len;
    r.message.headers.emplace_back(std::move(name), std::move(value));
  }
  r.message.payload = std::string(
      in.substr(kPreludeBytes + headers_len, total - kPreludeBytes - headers_len - kCrcBytes));
  r.status = DecodeStatus::kOk;
  r.consumed = total;
  return r;
}

}  // namespace ferry::aws
