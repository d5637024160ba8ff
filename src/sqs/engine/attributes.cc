#include "sqs/engine/attributes.h"

#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cstring>
#include <string_view>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/cpu.h"
#include "sqs/engine/md5.h"

namespace ferry::sqs {

namespace json = boost::json;

namespace {

constexpr std::string_view kFifoNameError =
    "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
    "underscores, must end with .fifo suffix and be 1 to 80 in length.";
constexpr std::string_view kNameError =
    "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length";
constexpr std::string_view kAllowedCharacters =
    "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF";

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

bool valid_plain_name(std::string_view name, size_t max_len) {
  if (name.empty() || name.size() > max_len) return false;
  for (char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

base::Unexpected<Error> unknown_attribute(std::string_view name) {
  return error(Errc::kInvalidAttributeName, "Unknown Attribute " + std::string(name) + ".");
}

base::Unexpected<Error> invalid_attribute_value(std::string_view name) {
  return error(Errc::kInvalidAttributeValue,
               "Invalid value for the parameter " + std::string(name) + ".");
}

// Strict decimal integer: digits only, optional leading minus, no spaces.
std::optional<int64_t> parse_int(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

Result<int> int_attribute(std::string_view name, std::string_view value, int lo, int hi) {
  auto v = parse_int(value);
  if (!v || *v < lo || *v > hi) return invalid_attribute_value(name);
  return static_cast<int>(*v);
}

Result<bool> bool_attribute(std::string_view name, std::string_view value) {
  if (iequals(value, "true")) return true;
  if (iequals(value, "false")) return false;
  return invalid_attribute_value(name);
}

base::Unexpected<Error> redrive_error(std::string_view policy, std::string_view reason) {
  return error(Errc::kInvalidParameterValue,
               "Value " + std::string(policy) +
                   " for parameter RedrivePolicy is invalid. Reason: " + std::string(reason));
}

Result<base::Ok> apply_redrive_policy(QueueConfig& config, std::string_view value,
                                      const AttributeContext& context) {
  if (value.empty()) {
    config.redrive_policy.clear();
    config.dead_letter_target.reset();
    config.max_receive_count = 0;
    return base::Ok{};
  }
  boost::system::error_code ec;
  json::value parsed = json::parse(value, ec);
  if (ec || !parsed.is_object()) {
    return error(Errc::kInvalidParameterValue,
                 "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a "
                 "valid JSON map.");
  }
  const json::object& obj = parsed.as_object();
  for (const char* key : {"deadLetterTargetArn", "maxReceiveCount"}) {
    if (!obj.contains(key)) {
      return redrive_error(
          value, std::string("Redrive policy does not contain mandatory attribute: ") + key + ".");
    }
  }
  // maxReceiveCount may be a JSON number or a numeric string.
  const json::value& count_value = obj.at("maxReceiveCount");
  std::optional<int64_t> count;
  std::string count_text;
  if (count_value.is_int64()) {
    count = count_value.as_int64();
  } else if (count_value.is_uint64()) {
    count = count_value.as_uint64() > 1000 ? 1001 : static_cast<int64_t>(count_value.as_uint64());
  } else if (count_value.is_string()) {
    count_text = std::string(count_value.as_string());
    count = parse_int(count_text);
  }
  if (count_text.empty()) count_text = json::serialize(count_value);
  if (!count || *count < 1 || *count > 1000) {
    return redrive_error(value, "Invalid value for maxReceiveCount: " + count_text +
                                    ", valid values are from 1 to 1000 both inclusive.");
  }
  const json::value& arn_value = obj.at("deadLetterTargetArn");
  std::string region;
  std::optional<QueueId> target;
  if (arn_value.is_string()) target = parse_queue_arn(arn_value.as_string(), &region);
  if (!target) return redrive_error(value, "Invalid value for deadLetterTargetArn.");
  if (target->account != context.account) {
    return redrive_error(value, "Dead-letter target owner should be same as the source.");
  }
  if (region != context.region) return redrive_error(value, "Dead letter target does not exist.");
  if (context.lookup) {
    auto info = context.lookup(*target);
    if (!info) return redrive_error(value, "Dead letter target does not exist.");
    // AWS's message, double period included.
    if (info->fifo != config.fifo) {
      return redrive_error(value, "Dead-letter queue must be same type of queue as the source..");
    }
    if (!redrive_allowed(info->redrive_allow_policy, context.queue_arn)) {
      return redrive_error(value, "Queue " + context.queue_arn +
                                      " is not allowed to use the dead-letter queue by its "
                                      "RedriveAllowPolicy.");
    }
  }
  json::object normalized;
  normalized["deadLetterTargetArn"] = arn_value.as_string();
  normalized["maxReceiveCount"] = *count;
  config.redrive_policy = json::serialize(normalized);
  config.dead_letter_target = std::move(target);
  config.max_receive_count = static_cast<int>(*count);
  return base::Ok{};
}

base::Unexpected<Error> redrive_allow_error(std::string_view policy, std::string_view reason) {
  return error(Errc::kInvalidParameterValue,
               "Value " + std::string(policy) +
                   " for parameter RedriveAllowPolicy is invalid. Reason: " + std::string(reason));
}

Result<base::Ok> apply_redrive_allow_policy(QueueConfig& config, std::string_view value) {
  if (value.empty()) {
    config.redrive_allow_policy.clear();
    return base::Ok{};
  }
  boost::system::error_code ec;
  json::value parsed = json::parse(value, ec);
  if (ec || !parsed.is_object()) {
    return redrive_allow_error(value, "Amazon SQS can't parse the redrive allow policy as JSON.");
  }
  const json::object& obj = parsed.as_object();
  const json::value* permission = obj.if_contains("redrivePermission");
  if (!permission || !permission->is_string()) {
    return redrive_allow_error(
        value, "Redrive allow policy does not contain mandatory attribute: redrivePermission.");
  }
  const std::string_view perm = permission->as_string();
  if (perm != "allowAll" && perm != "denyAll" && perm != "byQueue") {
    return redrive_allow_error(
        value,
        "Invalid value for redrivePermission. Valid values are allowAll, denyAll and "
        "byQueue.");
  }
  const json::value* sources = obj.if_contains("sourceQueueArns");
  json::object normalized;
  normalized["redrivePermission"] = perm;
  if (perm == "byQueue") {
    if (!sources || !sources->is_array() || sources->as_array().empty()) {
      return redrive_allow_error(
          value,
          "Redrive permission byQueue requires at least one source queue ARN in "
          "sourceQueueArns.");
    }
    if (sources->as_array().size() > 10) {
      return redrive_allow_error(value, "sourceQueueArns can contain at most 10 queue ARNs.");
    }
    for (const json::value& arn : sources->as_array()) {
      std::string region;
      if (!arn.is_string() || !parse_queue_arn(arn.as_string(), &region)) {
        return redrive_allow_error(value, "Invalid value for sourceQueueArns.");
      }
    }
    normalized["sourceQueueArns"] = sources->as_array();
  } else if (sources) {
    return redrive_allow_error(
        value, "sourceQueueArns can be specified only when redrivePermission is byQueue.");
  }
  config.redrive_allow_policy = json::serialize(normalized);
  return base::Ok{};
}

// Decodes one UTF-8 code point at s[i]; returns its length, or 0 if malformed (overlong forms,
// surrogates and values above U+10FFFF are malformed).
size_t decode_utf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len;
  uint32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, min = 0x80, *cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min = 0x800, *cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, *cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (b & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
  return len;
}

std::string hex_code_point(uint32_t cp) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[cp & 15]);
    cp >>= 4;
  } while (cp != 0);
  return "#x" + out;
}

// Validates an SQS Number: up to 38 significant digits, within -10^128..10^126.
enum class NumberCheck { kOk, kNotANumber, kTooPrecise, kOutOfRange };

NumberCheck check_number(std::string_view s) {
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  std::string digits;  // integer and fraction digits, without the point
  int64_t int_digits = 0;
  bool seen_point = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
      if (!seen_point) ++int_digits;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (digits.empty()) return NumberCheck::kNotANumber;
  int64_t exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) exp_negative = s[i++] == '-';
    if (i >= s.size()) return NumberCheck::kNotANumber;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (exponent < 1'000'000) exponent = exponent * 10 + (s[i] - '0');
    }
    if (exp_negative) exponent = -exponent;
  }
  if (i != s.size()) return NumberCheck::kNotANumber;
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return NumberCheck::kOk;  // zero
  const size_t last = digits.find_last_not_of('0');
  const std::string_view significant(digits.data() + first, last - first + 1);
  if (significant.size() > 38) return NumberCheck::kTooPrecise;
  // Decimal exponent of the most significant digit.
  const int64_t magnitude = int_digits - static_cast<int64_t>(first) - 1 + exponent;
  const int64_t bound = negative ? 128 : 126;
  if (magnitude > bound || (magnitude == bound && significant != "1")) {
    return NumberCheck::kOutOfRange;
  }
  return NumberCheck::kOk;
}

constexpr std::string_view kReadOnlyAttributes[] = {"ApproximateNumberOfMessages",
                                                    "ApproximateNumberOfMessagesNotVisible",
                                                    "ApproximateNumberOfMessagesDelayed",
                                                    "CreatedTimestamp",
                                                    "LastModifiedTimestamp",
                                                    "QueueArn"};

constexpr std::string_view kSettableAttributes[] = {"DelaySeconds",
                                                    "MaximumMessageSize",
                                                    "MessageRetentionPeriod",
                                                    "Policy",
                                                    "ReceiveMessageWaitTimeSeconds",
                                                    "VisibilityTimeout",
                                                    "RedrivePolicy",
                                                    "RedriveAllowPolicy",
                                                    "KmsMasterKeyId",
                                                    "KmsDataKeyReusePeriodSeconds",
                                                    "SqsManagedSseEnabled"};

}  // namespace

Result<base::Ok> validate_queue_name(std::string_view name, const AttributeMap& attributes,
                                     bool* fifo_out) {
  auto fifo = attributes.find("FifoQueue");
  const bool wants_fifo = fifo != attributes.end() && iequals(fifo->second, "true");
  if (fifo != attributes.end() && !wants_fifo && !iequals(fifo->second, "false")) {
    return invalid_attribute_value("FifoQueue");
  }
  if (fifo_out) *fifo_out = wants_fifo;
  constexpr std::string_view kSuffix = ".fifo";
  const bool fifo_name =
      name.size() > kSuffix.size() && name.substr(name.size() - kSuffix.size()) == kSuffix;
  if (wants_fifo) {
    if (!fifo_name ||
        !valid_plain_name(name.substr(0, name.size() - kSuffix.size()), 80 - kSuffix.size())) {
      return error(Errc::kInvalidParameterValue, std::string(kFifoNameError));
    }
    return base::Ok{};
  }
  if (!valid_plain_name(name, 80))
    return error(Errc::kInvalidParameterValue, std::string(kNameError));
  return base::Ok{};
}

Result<QueueConfig> apply_queue_attributes(QueueConfig config, const AttributeMap& attributes,
                                           const AttributeContext& context) {
  std::optional<bool> sse_requested;
  bool kms_requested = false;
  for (const auto& [name, value] : attributes) {
    if (name == "DelaySeconds") {
      auto v = int_attribute(name, value, 0, kMaxDelaySeconds);
      if (!v) return base::fail(v.error());
      config.delay_seconds = *v;
    } else if (name == "MaximumMessageSize") {
      auto v = int_attribute(name, value, 1024, 1'048'576);
      if (!v) return base::fail(v.error());
      config.maximum_message_size = *v;
    } else if (name == "MessageRetentionPeriod") {
      auto v = int_attribute(name, value, 60, 1'209'600);
      if (!v) return base::fail(v.error());
      config.message_retention_period = *v;
    } else if (name == "ReceiveMessageWaitTimeSeconds") {
      auto v = int_attribute(name, value, 0, 20);
      if (!v) return base::fail(v.error());
      config.receive_message_wait_time_seconds = *v;
    } else if (name == "VisibilityTimeout") {
      auto v = int_attribute(name, value, 0, kMaxVisibilityTimeout);
      if (!v) return base::fail(v.error());
      config.visibility_timeout = *v;
    } else if (name == "KmsDataKeyReusePeriodSeconds") {
      auto v = int_attribute(name, value, 60, 86'400);
      if (!v) return base::fail(v.error());
      config.kms_data_key_reuse_period_seconds = *v;
    } else if (name == "SqsManagedSseEnabled") {
      auto v = bool_attribute(name, value);
      if (!v) return base::fail(v.error());
      config.sqs_managed_sse_enabled = *v;
      sse_requested = *v;
    } else if (name == "KmsMasterKeyId") {
      config.kms_master_key_id = value;
      kms_requested = !value.empty();
    } else if (name == "Policy") {
      if (!value.empty()) {
        boost::system::error_code ec;
        json::value parsed = json::parse(value, ec);
        if (ec || !parsed.is_object()) return invalid_attribute_value(name);
      }
      config.policy = value;
    } else if (name == "RedrivePolicy") {
      auto r = apply_redrive_policy(config, value, context);
      if (!r) return base::fail(r.error());
    } else if (name == "RedriveAllowPolicy") {
      auto r = apply_redrive_allow_policy(config, value);
      if (!r) return base::fail(r.error());
    } else if (name == "FifoQueue" && context.creating) {
      // Checked by validate_queue_name; SetQueueAttributes cannot change it.
    } else if (name == "ContentBasedDeduplication" && config.fifo) {
      auto v = bool_attribute(name, value);
      if (!v) return base::fail(v.error());
      config.content_based_deduplication = *v;
    } else if (name == "DeduplicationScope" && config.fifo) {
      if (value != "queue" && value != "messageGroup") return invalid_attribute_value(name);
      config.dedup_per_group = value == "messageGroup";
    } else if (name == "FifoThroughputLimit" && config.fifo) {
      if (value != "perQueue" && value != "perMessageGroupId") return invalid_attribute_value(name);
      config.throughput_per_group = value == "perMessageGroupId";
    } else {
      // Read-only, FIFO-only (on this standard queue) and unknown names alike.
      return unknown_attribute(name);
    }
  }
  // API Reference: "The perMessageGroupId value is allowed only when the value for
  // DeduplicationScope is messageGroup."
  if (config.throughput_per_group && !config.dedup_per_group) {
    return invalid_attribute_value("FifoThroughputLimit");
  }
  // Only one kind of server-side encryption at a time.
  if (kms_requested && sse_requested.value_or(false)) {
    return error(Errc::kInvalidAttributeName,
                 "You can use one type of server-side encryption (SSE) at one time. You can "
                 "either enable KMS SSE or SQS SSE.");
  }
  if (kms_requested) {
    config.sqs_managed_sse_enabled = false;
  } else if (sse_requested.value_or(false)) {
    config.kms_master_key_id.clear();
  }
  return config;
}

AttributeMap settable_attributes(const QueueConfig& c) {
  AttributeMap out;
  out["DelaySeconds"] = std::to_string(c.delay_seconds);
  out["MaximumMessageSize"] = std::to_string(c.maximum_message_size);
  out["MessageRetentionPeriod"] = std::to_string(c.message_retention_period);
  out["ReceiveMessageWaitTimeSeconds"] = std::to_string(c.receive_message_wait_time_seconds);
  out["VisibilityTimeout"] = std::to_string(c.visibility_timeout);
  out["SqsManagedSseEnabled"] = c.sqs_managed_sse_enabled ? "true" : "false";
  if (!c.policy.empty()) out["Policy"] = c.policy;
  if (!c.kms_master_key_id.empty()) {
    out["KmsMasterKeyId"] = c.kms_master_key_id;
    out["KmsDataKeyReusePeriodSeconds"] = std::to_string(c.kms_data_key_reuse_period_seconds);
  }
  if (!c.redrive_policy.empty()) out["RedrivePolicy"] = c.redrive_policy;
  if (!c.redrive_allow_policy.empty()) out["RedriveAllowPolicy"] = c.redrive_allow_policy;
  if (c.fifo) {
    out["FifoQueue"] = "true";
    out["ContentBasedDeduplication"] = c.content_based_deduplication ? "true" : "false";
    out["DeduplicationScope"] = c.dedup_per_group ? "messageGroup" : "queue";
    out["FifoThroughputLimit"] = c.throughput_per_group ? "perMessageGroupId" : "perQueue";
  }
  return out;
}

bool is_gettable_attribute(std::string_view name, bool fifo) {
  if (name == "All") return true;
  if (fifo && (name == "FifoQueue" || name == "ContentBasedDeduplication" ||
               name == "DeduplicationScope" || name == "FifoThroughputLimit")) {
    return true;
  }
  for (auto n : kReadOnlyAttributes) {
    if (n == name) return true;
  }
  for (auto n : kSettableAttributes) {
    if (n == name) return true;
  }
  return false;
}

std::optional<QueueId> parse_queue_arn(std::string_view arn, std::string* region) {
  // arn:<partition>:sqs:<region>:<account>:<name>
  std::string_view parts[6];
  size_t start = 0;
  for (int i = 0; i < 6; ++i) {
    const size_t end = i == 5 ? arn.size() : arn.find(':', start);
    if (end == std::string_view::npos) return std::nullopt;
    parts[i] = arn.substr(start, end - start);
    start = end + 1;
  }
  std::string_view name = parts[5];
  if (name.size() > 5 && name.ends_with(".fifo")) name.remove_suffix(5);
  if (parts[0] != "arn" || parts[1].empty() || parts[2] != "sqs" || parts[3].empty() ||
      parts[4].empty() || !valid_plain_name(name, 80 - (parts[5].size() - name.size()))) {
    return std::nullopt;
  }
  if (region) *region = std::string(parts[3]);
  return QueueId{std::string(parts[4]), std::string(parts[5])};
}

Result<base::Ok> validate_tags(const TagMap& tags) {
  auto chars = [](std::string_view s) {
    size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
  };
  for (const auto& [key, value] : tags) {
    if (key.empty() || chars(key) > 128) {
      return error(Errc::kInvalidParameterValue,
                   "Tag keys must be between 1 and 128 characters in length.");
    }
    if (chars(value) > 256) {
      return error(Errc::kInvalidParameterValue,
                   "Tag values must be at most 256 characters in length.");
    }
  }
  return base::Ok{};
}

namespace {

#if defined(__x86_64__)
// How many bytes from p are printable ASCII (0x20-0x7F), 32 at a time; stops at the first block
// holding another byte.
__attribute__((target("avx2"))) size_t printable_ascii_blocks_avx2(const char* p, size_t n) {
  const __m256i space = _mm256_set1_epi8(0x20);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    // Signed compare: bytes of 0x80 and above are negative, so they fail too.
    const __m256i below = _mm256_cmpgt_epi8(space, v);
    if (!_mm256_testz_si256(below, below)) break;
  }
  return i;
}

#endif

}  // namespace

bool is_valid_message_text(std::string_view text, uint32_t* bad) {
  size_t start = 0;
#if defined(__x86_64__)
  if (text.size() >= 32 && base::cpu_has_avx2())
    start = printable_ascii_blocks_avx2(text.data(), text.size());
#endif
  for (size_t i = start; i < text.size();) {
    // Eight bytes at a time while they are all printable ASCII (0x20-0x7F): no byte has its top
    // bit set, and none is below 0x20 (the classic "has a byte less than n" test).
    constexpr uint64_t kOnes = 0x0101010101010101ULL, kTops = 0x8080808080808080ULL;
    while (i + 8 <= text.size()) {
      uint64_t x;
      std::memcpy(&x, text.data() + i, 8);
      if (((x & kTops) | ((x - kOnes * 0x20) & ~x & kTops)) != 0) break;
      i += 8;
    }
    if (i >= text.size()) break;
    const auto b = static_cast<unsigned char>(text[i]);
    if (b >= 0x20 && b < 0x80) {  // fast path: printable ASCII
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const size_t len = decode_utf8(text, i, &cp);
    if (len == 0) {
      *bad = b;
      return false;
    }
    const bool allowed = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
                         (cp >= 0xE000 && cp <= 0xFFFD) || cp >= 0x10000;
    if (!allowed) {
      *bad = cp;
      return false;
    }
    i += len;
  }
  return true;
}

Result<base::Ok> validate_body(std::string_view body) {
  if (body.empty()) {
    // AWS answers MissingParameter; api/ reports an empty body as that before calling here.
    return error(Errc::kInvalidParameterValue,
                 "The request must contain the parameter MessageBody.");
  }
  uint32_t bad = 0;
  if (!is_valid_message_text(body, &bad)) {
    return error(Errc::kInvalidMessageContents,
                 "Invalid binary character '" + hex_code_point(bad) +
                     "' was found in the message body, the set of allowed characters is " +
                     std::string(kAllowedCharacters));
  }
  return base::Ok{};
}

Result<size_t> validate_message_attributes(const MessageAttributes& attributes) {
  if (attributes.size() > kMaxMessageAttributes) {
    return error(Errc::kInvalidParameterValue, "Number of message attributes [" +
                                                   std::to_string(attributes.size()) +
                                                   "] exceeds the allowed maximum [" +
                                                   std::to_string(kMaxMessageAttributes) + "].");
  }
  size_t size = 0;
  for (const auto& [name, value] : attributes) {
    const std::string quoted = "'" + name + "'";
    if (name.empty()) {
      return error(Errc::kInvalidParameterValue,
                   "The request must contain non-empty message attribute names.");
    }
    if (name.size() >= 256) {
      return error(Errc::kInvalidParameterValue,
                   "Message (user) attribute names must be shorter than 256 Bytes");
    }
    for (char c : name) {
      // Bytes of multi-byte UTF-8 characters are letters of other alphabets, which SQS accepts.
      if (!is_name_char(c) && c != '.' && static_cast<unsigned char>(c) < 0x80) {
        return error(Errc::kInvalidParameterValue,
                     "Message (user) attributes name can only contain upper and lower score "
                     "characters, digits, periods, hyphens and underscores. ");
      }
    }
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.starts_with("aws.") || lower.starts_with("amazon.") || name.front() == '.' ||
        name.back() == '.') {
      return error(Errc::kInvalidParameterValue,
                   "You can't use message attribute names beginning with 'AWS.' or 'Amazon.'. "
                   "These strings are reserved for internal use. Additionally, they cannot "
                   "start or end with '.'.");
    }
    if (name.find("..") != std::string::npos) {
      return error(Errc::kInvalidParameterValue, "Message (user) attribute name " + quoted +
                                                     " can not contain successive '.' characters.");
    }
    const std::string& type = value.data_type;
    if (type.empty()) {
      return error(
          Errc::kInvalidParameterValue,
          "The message attribute " + quoted + " must contain non-empty message attribute type.");
    }
    std::string_view base_type = std::string_view(type).substr(0, type.find('.'));
    if (base_type != "String" && base_type != "Number" && base_type != "Binary") {
      return error(Errc::kInvalidParameterValue,
                   "The message attribute " + quoted +
                       " has an invalid message attribute type, the set of supported type "
                       "prefixes is Binary, Number, and String.");
    }
    uint32_t bad = 0;
    if (type.size() >= 256) {
      return error(Errc::kInvalidParameterValue,
                   "Message (user) attribute types must be shorter than 256 Bytes");
    }
    if (!is_valid_message_text(type, &bad)) {
      return error(Errc::kInvalidParameterValue,
                   "Message (user) attribute " + quoted + " has an invalid data type.");
    }
    const std::string_view bytes = attribute_value_bytes(value);
    if (bytes.empty()) {
      return error(Errc::kInvalidParameterValue, "Message (user) attribute " + quoted +
                                                     " must contain a non-empty value of type '" +
                                                     std::string(base_type) + "'.");
    }
    if (base_type != "Binary" && !is_valid_message_text(bytes, &bad)) {
      return error(Errc::kInvalidParameterValue,
                   "Invalid binary character '" + hex_code_point(bad) +
                       "' was found in the value of message (user) attribute " + quoted +
                       ", the set of allowed characters is " + std::string(kAllowedCharacters));
    }
    if (base_type == "Number") {
      switch (check_number(bytes)) {
        case NumberCheck::kOk:
          break;
        case NumberCheck::kNotANumber:
          return error(
              Errc::kInvalidParameterValue,
              "Can't cast the value of message (user) attribute " + quoted + " to a number.");
        case NumberCheck::kTooPrecise:
          return error(Errc::kInvalidParameterValue, "Value of message (user) attribute " + quoted +
                                                         " has more than 38 digits of precision.");
        case NumberCheck::kOutOfRange:
          return error(Errc::kInvalidParameterValue,
                       "Value of message (user) attribute " + quoted +
                           " should be in range (-10**128..10**126).");
      }
    }
    size += name.size() + type.size() + bytes.size();
  }
  return size;
}

Result<base::Ok> validate_system_attributes(const MessageAttributes& attributes) {
  for (const auto& [name, value] : attributes) {
    if (name != "AWSTraceHeader") {
      return error(Errc::kInvalidParameterValue,
                   "Message system attribute name '" + name + "' is invalid.");
    }
    if (value.data_type != "String") {
      return error(Errc::kInvalidParameterValue,
                   "Message system attribute '" + name + "' must be of type 'String'.");
    }
    uint32_t bad = 0;
    if (value.string_value.empty()) {
      return error(Errc::kInvalidParameterValue,
                   "Message (system) attribute '" + name +
                       "' must contain a non-empty value of type 'String'.");
    }
    if (!is_valid_message_text(value.string_value, &bad)) {
      return error(Errc::kInvalidParameterValue,
                   "Invalid binary character '" + hex_code_point(bad) +
                       "' was found in the value of message (system) attribute '" + name + "'.");
    }
  }
  return base::Ok{};
}

Result<base::Ok> validate_message_group_id(std::string_view group_id) {
  return validate_fifo_token(group_id, "MessageGroupId");
}

Result<base::Ok> validate_fifo_token(std::string_view value, std::string_view parameter) {
  bool ok = !value.empty() && value.size() <= 128;
  for (char c : value) ok = ok && c >= 0x21 && c <= 0x7E;  // alphanumerics and punctuation
  if (!ok) {
    const std::string p(parameter);
    return error(Errc::kInvalidParameterValue,
                 "Value " + std::string(value) + " for parameter " + p +
                     " is invalid. Reason: " + p +
                     " can only include alphanumeric and punctuation characters. 1 to 128 in "
                     "length.");
  }
  return base::Ok{};
}

bool redrive_allowed(std::string_view redrive_allow_policy, std::string_view source_arn) {
  if (redrive_allow_policy.empty()) return true;
  boost::system::error_code ec;
  json::value parsed = json::parse(redrive_allow_policy, ec);
  if (ec || !parsed.is_object()) return true;
  const json::object& o = parsed.as_object();
  const json::value* perm = o.if_contains("redrivePermission");
  if (!perm || !perm->is_string() || perm->as_string() == "allowAll") return true;
  if (perm->as_string() == "denyAll") return false;
  if (const json::value* arns = o.if_contains("sourceQueueArns"); arns && arns->is_array()) {
    for (const json::value& a : arns->as_array()) {
      if (a.is_string() && a.as_string() == source_arn) return true;
    }
  }
  return false;
}

}  // namespace ferry::sqs
