#include "sqs/engine/message_codec.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstring>

#include "base/crypto.h"
#include "base/siphash.h"
#include "sqs/engine/md5.h"

namespace ferry::sqs::codec {

namespace {

// Version 2 appended deduplication_id; version 1 payloads are still read.
constexpr uint8_t kPayloadVersion = 2;
constexpr uint8_t kDedupVersion = 1;
constexpr uint8_t kStateVersion = 1;
// Version 1 handles carry a truncated HMAC-SHA256, version 2 a truncated SipHash-2-4-128 (some
// 20 times cheaper, and made for short inputs). Both are accepted; version 2 is issued.
constexpr uint8_t kHandleVersionHmac = 1;
constexpr uint8_t kHandleVersion = 2;
constexpr size_t kHandleBody = 1 + 8 + 8 + 4 + 4;  // version, incarnation, seq, generation, nonce
// 25 + 11 = 36 bytes: a multiple of 3, so the base64 text has no padding and no ignored bits.
constexpr size_t kHandleMac = 11;

void put_u32(std::string& out, uint32_t v) {
  char bytes[4];
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>(v >> (8 * i));
  out.append(bytes, sizeof bytes);
}
void put_u64(std::string& out, uint64_t v) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(v >> (8 * i));
  out.append(bytes, sizeof bytes);
}
void put_bytes(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Bounds-checked little-endian reader.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool u8(uint8_t* v) {
    if (data_.size() < 1) return false;
    *v = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool u32(uint32_t* v) {
    if (data_.size() < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v |= uint32_t{static_cast<uint8_t>(data_[i])} << (8 * i);
    data_.remove_prefix(4);
    return true;
  }
  bool u64(uint64_t* v) {
    if (data_.size() < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v |= uint64_t{static_cast<uint8_t>(data_[i])} << (8 * i);
    data_.remove_prefix(8);
    return true;
  }
  bool i64(int64_t* v) {
    uint64_t u;
    if (!u64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool bytes(std::string* s) {
    uint32_t n;
    if (!u32(&n) || data_.size() < n) return false;
    s->assign(data_.data(), n);
    data_.remove_prefix(n);
    return true;
  }
  bool done() const { return data_.empty(); }

 private:
  std::string_view data_;
};

size_t attributes_size(const MessageAttributes& attrs) {
  size_t n = 4;
  for (const auto& [name, v] : attrs) {
    n += 12 + name.size() + v.data_type.size() + attribute_value_bytes(v).size();
  }
  return n;
}

void put_attributes(std::string& out, const MessageAttributes& attrs) {
  put_u32(out, static_cast<uint32_t>(attrs.size()));
  for (const auto& [name, v] : attrs) {
    put_bytes(out, name);
    put_bytes(out, v.data_type);
    put_bytes(out, attribute_value_bytes(v));
  }
}

bool get_attributes(Reader& r, MessageAttributes* attrs) {
  uint32_t n;
  if (!r.u32(&n) || n > 64) return false;
  for (uint32_t i = 0; i < n; ++i) {
    std::string name, value;
    MessageAttributeValue v;
    if (!r.bytes(&name) || !r.bytes(&v.data_type) || !r.bytes(&value)) return false;
    (is_binary_type(v.data_type) ? v.binary_value : v.string_value) = std::move(value);
    (*attrs)[std::move(name)] = std::move(v);
  }
  return true;
}

// The MAC of a handle's body, by its version (its first byte).
std::array<uint8_t, 16> handle_mac(std::string_view body, std::string_view secret) {
  std::array<uint8_t, 16> mac;
  if (static_cast<uint8_t>(body[0]) == kHandleVersionHmac) {
    const auto hmac = base::hmac_sha256(secret, body);
    std::memcpy(mac.data(), hmac.data(), mac.size());
  } else {
    // The secret's first 128 bits key SipHash.
    std::array<uint8_t, 16> key{};
    std::memcpy(key.data(), secret.data(), std::min(secret.size(), key.size()));
    mac = base::siphash24_128(key, body);
  }
  return mac;
}

}  // namespace

namespace {
void store_u64_be(char* out, uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  std::memcpy(out, &v, sizeof v);
}
}  // namespace

void put_u64_be(std::string& out, uint64_t v) {
  char bytes[8];
  store_u64_be(bytes, v);
  out.append(bytes, sizeof bytes);
}

uint64_t get_u64_be(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string queue_key(const QueueId& id) {
  std::string k(kQueuePrefix);
  k.append(id.account).push_back('/');
  k.append(id.name);
  return k;
}

std::string message_prefix(uint64_t incarnation) {
  std::string k(kMessagePrefix);
  put_u64_be(k, incarnation);
  return k;
}

namespace {
// Allocated once at its full size (longer than a short string's inline buffer) and written in
// place: two or three keys per message, built by appends they cost ~300 instructions each.
std::string message_key(uint64_t incarnation, uint64_t seq, char kind) {
  std::string k(kMessagePrefix.size() + 17, '\0');
  char* out = k.data();
  std::memcpy(out, kMessagePrefix.data(), kMessagePrefix.size());
  out += kMessagePrefix.size();
  store_u64_be(out, incarnation);
  store_u64_be(out + 8, seq);
  out[16] = kind;
  return k;
}
}  // namespace

std::string payload_key(uint64_t incarnation, uint64_t seq) {
  return message_key(incarnation, seq, 'p');
}

std::string state_key(uint64_t incarnation, uint64_t seq) {
  return message_key(incarnation, seq, 's');
}

bool parse_message_key(std::string_view key, uint64_t* incarnation, uint64_t* seq, char* kind) {
  if (key.size() != kMessagePrefix.size() + 17 || !key.starts_with(kMessagePrefix)) return false;
  key.remove_prefix(kMessagePrefix.size());
  *incarnation = get_u64_be(key);
  *seq = get_u64_be(key.substr(8));
  *kind = key[16];
  return *kind == 'p' || *kind == 's';
}

std::string encode_payload(const Payload& p) {
  std::string out;
  // Its exact size: 1 + 2 * 8 + 6 * 4, the six byte strings and the two attribute maps.
  const size_t size = 41 + p.message_id.size() + p.md5_of_body.size() + p.body.size() +
                      attributes_size(p.message_attributes) + attributes_size(p.system_attributes) +
                      p.message_group_id.size() + p.dead_letter_source_arn.size() +
                      p.deduplication_id.size();
  out.reserve(size);
  out.push_back(static_cast<char>(kPayloadVersion));
  put_u64(out, static_cast<uint64_t>(p.sent_ms));
  put_u64(out, static_cast<uint64_t>(p.first_visible_ms));
  put_bytes(out, p.message_id);
  put_bytes(out, p.md5_of_body);
  put_bytes(out, p.body);
  put_attributes(out, p.message_attributes);
  put_attributes(out, p.system_attributes);
  put_bytes(out, p.message_group_id);
  put_bytes(out, p.dead_letter_source_arn);
  put_bytes(out, p.deduplication_id);
  assert(out.size() == size);
  return out;
}

bool decode_payload(std::string_view data, Payload* p) {
  Reader r(data);
  uint8_t version;
  if (!r.u8(&version) || (version != 1 && version != kPayloadVersion)) return false;
  if (!(r.i64(&p->sent_ms) && r.i64(&p->first_visible_ms) && r.bytes(&p->message_id) &&
        r.bytes(&p->md5_of_body) && r.bytes(&p->body) &&
        get_attributes(r, &p->message_attributes) && get_attributes(r, &p->system_attributes) &&
        r.bytes(&p->message_group_id) && r.bytes(&p->dead_letter_source_arn))) {
    return false;
  }
  if (version >= 2 && !r.bytes(&p->deduplication_id)) return false;
  return r.done();
}

bool peek_payload_times(std::string_view data, int64_t* sent_ms, int64_t* first_visible_ms) {
  Reader r(data);
  uint8_t version;
  return r.u8(&version) && (version == 1 || version == kPayloadVersion) && r.i64(sent_ms) &&
         r.i64(first_visible_ms);
}

std::string dedup_prefix(uint64_t incarnation) {
  std::string k(kDedupPrefix);
  put_u64_be(k, incarnation);
  return k;
}

std::string dedup_key(uint64_t incarnation, std::string_view scope_key) {
  std::string k = dedup_prefix(incarnation);
  k.append(scope_key);
  return k;
}

bool parse_dedup_key(std::string_view key, uint64_t* incarnation, std::string* scope_key) {
  if (key.size() <= kDedupPrefix.size() + 8 || !key.starts_with(kDedupPrefix)) return false;
  key.remove_prefix(kDedupPrefix.size());
  *incarnation = get_u64_be(key);
  scope_key->assign(key.substr(8));
  return true;
}

std::string encode_dedup(const DedupRecord& d) {
  std::string out;
  out.push_back(static_cast<char>(kDedupVersion));
  put_u64(out, static_cast<uint64_t>(d.sent_ms));
  put_u64(out, d.seq);
  put_bytes(out, d.message_id);
  return out;
}

bool decode_dedup(std::string_view data, DedupRecord* d) {
  Reader r(data);
  uint8_t version;
  return r.u8(&version) && version == kDedupVersion && r.i64(&d->sent_ms) && r.u64(&d->seq) &&
         r.bytes(&d->message_id) && r.done();
}

std::string task_key(std::string_view task_id) {
  std::string k(kTaskPrefix);
  k.append(task_id);
  return k;
}

std::string sequence_number(uint64_t seq) {
  unsigned __int128 v = (static_cast<unsigned __int128>(1) << 64) + seq;
  std::string digits;
  while (v != 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return {digits.rbegin(), digits.rend()};
}

std::string encode_state(const MessageState& s) {
  std::string out;
  out.reserve(29);
  out.push_back(static_cast<char>(kStateVersion));
  put_u64(out, static_cast<uint64_t>(s.visible_at_ms));
  put_u32(out, s.receive_count);
  put_u64(out, static_cast<uint64_t>(s.first_receive_ms));
  put_u64(out, static_cast<uint64_t>(s.last_receive_ms));
  return out;
}

bool decode_state(std::string_view data, MessageState* s) {
  Reader r(data);
  uint8_t version;
  return r.u8(&version) && version == kStateVersion && r.i64(&s->visible_at_ms) &&
         r.u32(&s->receive_count) && r.i64(&s->first_receive_ms) && r.i64(&s->last_receive_ms) &&
         r.done();
}

std::string encode_receipt_handle(const ReceiptHandle& h, std::string_view secret) {
  std::string raw;
  raw.reserve(kHandleBody + kHandleMac);
  raw.push_back(static_cast<char>(kHandleVersion));
  put_u64_be(raw, h.incarnation);
  put_u64_be(raw, h.seq);
  for (int i = 3; i >= 0; --i) raw.push_back(static_cast<char>(h.generation >> (8 * i)));
  uint8_t nonce[4];
  base::random_bytes(nonce, sizeof nonce);
  raw.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  raw.append(reinterpret_cast<const char*>(handle_mac(raw, secret).data()), kHandleMac);
  return base::base64_encode(raw);
}

std::optional<ReceiptHandle> decode_receipt_handle(std::string_view text, std::string_view secret) {
  if (text.size() != 4 * ((kHandleBody + kHandleMac + 2) / 3)) return std::nullopt;
  auto raw = base::base64_decode(text);
  if (!raw || raw->size() != kHandleBody + kHandleMac ||
      (static_cast<uint8_t>((*raw)[0]) != kHandleVersion &&
       static_cast<uint8_t>((*raw)[0]) != kHandleVersionHmac)) {
    return std::nullopt;
  }
  const std::string_view body(raw->data(), kHandleBody);
  const auto expected = handle_mac(body, secret);
  // Constant-time compare: the MAC is what makes handles unforgeable.
  unsigned diff = 0;
  for (size_t i = 0; i < kHandleMac; ++i)
    diff |= static_cast<uint8_t>(expected[i] ^ (*raw)[kHandleBody + i]);
  if (diff != 0) return std::nullopt;
  ReceiptHandle h;
  h.incarnation = get_u64_be(body.substr(1));
  h.seq = get_u64_be(body.substr(9));
  h.generation = 0;
  for (int i = 0; i < 4; ++i)
    h.generation = (h.generation << 8) | static_cast<uint8_t>(body[17 + i]);
  return h;
}

}  // namespace ferry::sqs::codec
