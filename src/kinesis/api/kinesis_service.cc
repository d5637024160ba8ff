#include "kinesis/api/kinesis_service.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <charconv>
#include <optional>
#include <set>
#include <tuple>

#include "aws/await.h"
#include "aws/cbor.h"
#include "aws/event_stream.h"
#include "aws/json_input.h"
#include "aws/model.h"
#include "base/buffer_pool.h"
#include "base/crypto.h"
#include "base/json_text.h"

namespace ferry::kinesis {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using aws::ActionResult;
using aws::AwsError;
using aws::AwsRequest;

namespace {

using aws::get_int;
using aws::get_string;
using aws::get_string_list;
using aws::get_string_map;
using aws::has;
using aws::member;

// The largest record any stream takes (UpdateMaxRecordSize's maximum, 10240 KiB); the engine
// checks each stream's own maximum and PutRecords' total.
constexpr size_t kMaxRecordBytes = 10 * 1024 * 1024;
constexpr int kMinRecordKiB = 1024;
constexpr int kMaxRecordKiB = 10240;
constexpr int64_t kNextTokenTtlMs = 300'000;

// Kinesis errors carry the bare shape name as __type.
AwsError make_error(std::string code, std::string message, int status = 400) {
  std::string type = code;
  return AwsError{std::move(code), std::move(message), status, status < 500, {}, std::move(type)};
}

AwsError to_aws(const Error& e) {
  switch (e.code) {
    case Errc::kResourceNotFound:
      return make_error("ResourceNotFoundException", e.message);
    case Errc::kResourceInUse:
      return make_error("ResourceInUseException", e.message);
    case Errc::kInvalidArgument:
      return make_error("InvalidArgumentException", e.message);
    case Errc::kLimitExceeded:
      return make_error("LimitExceededException", e.message);
    case Errc::kExpiredIterator:
      return make_error("ExpiredIteratorException", e.message);
    case Errc::kExpiredNextToken:
      return make_error("ExpiredNextTokenException", e.message);
    case Errc::kValidation:
      return make_error("ValidationException", e.message);
    case Errc::kThroughputExceeded:
      return make_error("ProvisionedThroughputExceededException", e.message);
    case Errc::kInternal:
      return make_error("InternalFailureException", e.message, 500);
  }
  return make_error("InternalFailureException", e.message, 500);
}

base::Unexpected<AwsError> fail(const Error& e) { return {to_aws(e)}; }
base::Unexpected<AwsError> fail(AwsError e) { return {std::move(e)}; }
base::Unexpected<AwsError> invalid(std::string message) {
  return {make_error("InvalidArgumentException", std::move(message))};
}
base::Unexpected<AwsError> validation(const std::string& value, const std::string& field,
                                      const std::string& constraint) {
  return {make_error("ValidationException", "1 validation error detected: Value '" + value +
                                                "' at '" + field +
                                                "' failed to satisfy constraint: " + constraint)};
}

// Timestamps arrive as epoch seconds (JSON number, possibly fractional).
std::optional<int64_t> get_time_ms(const json::object& o, std::string_view key) {
  const json::value* v = member(o, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_double()) return static_cast<int64_t>(v->as_double() * 1000.0);
  if (auto i = get_int(o, key)) return *i * 1000;
  return std::nullopt;
}
double seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

template <class T, class Call>
awaitable<Result<T>> durably(Call&& call) {
  std::optional<Result<T>> result;
  bool ok = co_await aws::wait_for_callback([&](std::function<void(bool)> done) {
    result.emplace(call(done));
    if (!result->ok()) done(true);  // the engine never calls done on failure
  });
  if (result->ok() && !ok) co_return error(Errc::kInternal, "storage write failed");
  co_return std::move(*result);
}

struct StreamRef {
  std::string account;
  std::string name;
};

bool valid_stream_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// StreamName or StreamARN (AWS accepts either wherever both are members).
base::Result<StreamRef, AwsError> stream_of(const AwsRequest& r,
                                            const char* arn_member = "StreamARN") {
  std::string name = get_string(r.input, "StreamName");
  std::string arn = get_string(r.input, arn_member);
  if (!arn.empty()) {
    auto parsed = Engine::parse_stream_arn(arn);
    if (!parsed) {
      return validation(arn, "streamARN",
                        "Member must satisfy regular expression pattern: "
                        "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+");
    }
    if (!name.empty() && name != parsed->second) {
      return invalid("StreamARN " + arn + " and StreamName " + name + " do not match.");
    }
    return StreamRef{parsed->first, parsed->second};
  }
  if (name.empty()) return invalid("Either StreamName or StreamARN should be provided.");
  if (!valid_stream_name(name)) {
    return validation(name, "streamName",
                      "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
  }
  return StreamRef{r.caller.account, name};
}

// A consumer ARN: <stream ARN>/consumer/<name>:<creation seconds>.
std::optional<std::pair<std::string, std::string>> split_consumer_arn(const std::string& arn) {
  auto pos = arn.find("/consumer/");
  if (pos == std::string::npos) return std::nullopt;
  std::string rest = arn.substr(pos + 10);
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  return std::make_pair(arn.substr(0, pos), rest.substr(0, colon));
}

json::object stream_mode(StreamMode mode) { return json::object{{"StreamMode", to_string(mode)}}; }

json::array monitoring_json(const StreamInfo& s) {
  json::array metrics;
  for (const auto& m : s.shard_level_metrics) metrics.emplace_back(m);
  return json::array{json::object{{"ShardLevelMetrics", std::move(metrics)}}};
}

json::object shard_json(const StreamInfo& s, const ShardInfo& sh) {
  json::object o;
  o["ShardId"] = sh.id;
  if (sh.parent) o["ParentShardId"] = s.shard_id(*sh.parent);
  if (sh.adjacent_parent) o["AdjacentParentShardId"] = s.shard_id(*sh.adjacent_parent);
  o["HashKeyRange"] = json::object{{"StartingHashKey", hash_key_string(sh.start)},
                                   {"EndingHashKey", hash_key_string(sh.end)}};
  json::object range{{"StartingSequenceNumber", s.starting_sequence(sh)}};
  if (auto end = s.ending_sequence(sh)) range["EndingSequenceNumber"] = *end;
  o["SequenceNumberRange"] = std::move(range);
  return o;
}

json::object consumer_json(const ConsumerInfo& c) {
  return json::object{{"ConsumerName", c.name},
                      {"ConsumerARN", c.arn},
                      {"ConsumerStatus", "ACTIVE"},
                      {"ConsumerCreationTimestamp", seconds(c.created_ms)}};
}

json::array tag_list(const std::map<std::string, std::string>& tags) {
  json::array out;
  for (const auto& [k, v] : tags) out.push_back(json::object{{"Key", k}, {"Value", v}});
  return out;
}

std::string encode_token(const json::object& o) { return base::base64_encode(json::serialize(o)); }
std::optional<json::object> decode_token(const std::string& token) {
  auto raw = base::base64_decode(token);
  if (!raw) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(*raw, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

base::Result<std::optional<int>, AwsError> limit_of(const json::object& in, const char* member,
                                                    const char* field, int max) {
  auto v = get_int(in, member);
  if (!v) return std::optional<int>();
  if (*v < 1) {
    return validation(std::to_string(*v), field,
                      "Member must have value greater than or equal to 1");
  }
  if (*v > max) {
    return validation(std::to_string(*v), field,
                      "Member must have value less than or equal to " + std::to_string(max));
  }
  return std::optional<int>(static_cast<int>(*v));
}

// An optional integer member within [min, max], named `field` in AWS's validation message.
base::Result<std::optional<int>, AwsError> ranged(const json::object& in, const char* member,
                                                  const char* field, int64_t min, int64_t max) {
  auto v = get_int(in, member);
  if (!v) return std::optional<int>();
  if (*v < min) {
    return validation(std::to_string(*v), field,
                      "Member must have value greater than or equal to " + std::to_string(min));
  }
  if (*v > max) {
    return validation(std::to_string(*v), field,
                      "Member must have value less than or equal to " + std::to_string(max));
  }
  return std::optional<int>(static_cast<int>(*v));
}

json::object warm_json(const WarmThroughput& w) {
  return json::object{{"TargetMiBps", w.target_mibps}, {"CurrentMiBps", w.current_mibps}};
}

json::object commitment_json(const AccountSettings& a) {
  json::object o{{"Status", to_string(a.status)}};
  if (a.started_ms) o["StartedAt"] = seconds(*a.started_ms);
  if (a.ended_ms) o["EndedAt"] = seconds(*a.ended_ms);
  if (a.earliest_end_ms) o["EarliestAllowedEndAt"] = seconds(*a.earliest_end_ms);
  return o;
}

}  // namespace

const aws::ServiceModel& KinesisService::model() const {
  static const aws::ServiceModel& model = aws::ServiceModel::get("kinesis");  // get() locks
  return model;
}

const std::map<std::string, KinesisService::Handler, std::less<>>& KinesisService::handlers() {
  static const std::map<std::string, Handler, std::less<>> kHandlers = {
      {"CreateStream", &KinesisService::create_stream},
      {"DeleteStream", &KinesisService::delete_stream},
      {"DescribeStream", &KinesisService::describe_stream},
      {"DescribeStreamSummary", &KinesisService::describe_stream_summary},
      {"ListStreams", &KinesisService::list_streams},
      {"ListShards", &KinesisService::list_shards},
      {"PutRecord", &KinesisService::put_record},
      {"PutRecords", &KinesisService::put_records},
      {"GetShardIterator", &KinesisService::get_shard_iterator},
      {"GetRecords", &KinesisService::get_records},
      {"IncreaseStreamRetentionPeriod", &KinesisService::increase_retention},
      {"DecreaseStreamRetentionPeriod", &KinesisService::decrease_retention},
      {"AddTagsToStream", &KinesisService::add_tags_to_stream},
      {"ListTagsForStream", &KinesisService::list_tags_for_stream},
      {"RemoveTagsFromStream", &KinesisService::remove_tags_from_stream},
      {"TagResource", &KinesisService::tag_resource},
      {"UntagResource", &KinesisService::untag_resource},
      {"ListTagsForResource", &KinesisService::list_tags_for_resource},
      {"SplitShard", &KinesisService::split_shard},
      {"MergeShards", &KinesisService::merge_shards},
      {"UpdateShardCount", &KinesisService::update_shard_count},
      {"UpdateStreamMode", &KinesisService::update_stream_mode},
      {"RegisterStreamConsumer", &KinesisService::register_consumer},
      {"DeregisterStreamConsumer", &KinesisService::deregister_consumer},
      {"DescribeStreamConsumer", &KinesisService::describe_consumer},
      {"ListStreamConsumers", &KinesisService::list_consumers},
      {"StartStreamEncryption", &KinesisService::start_encryption},
      {"StopStreamEncryption", &KinesisService::stop_encryption},
      {"EnableEnhancedMonitoring", &KinesisService::enable_monitoring},
      {"DisableEnhancedMonitoring", &KinesisService::disable_monitoring},
      {"DescribeLimits", &KinesisService::describe_limits},
      {"PutResourcePolicy", &KinesisService::put_resource_policy},
      {"GetResourcePolicy", &KinesisService::get_resource_policy},
      {"DeleteResourcePolicy", &KinesisService::delete_resource_policy},
      {"SubscribeToShard", &KinesisService::subscribe_to_shard},
      {"UpdateMaxRecordSize", &KinesisService::update_max_record_size},
      {"UpdateStreamWarmThroughput", &KinesisService::update_stream_warm_throughput},
      {"UpdateAccountSettings", &KinesisService::update_account_settings},
      {"DescribeAccountSettings", &KinesisService::describe_account_settings},
  };
  return kHandlers;
}

awaitable<ActionResult> KinesisService::handle(AwsRequest& request) {
  const auto& table = handlers();
  auto it = table.find(request.action);
  if (it == table.end()) {
    co_return fail(
        make_error("InvalidArgumentException", request.action + " is not supported by Ferry yet."));
  }
  co_return co_await (this->*(it->second))(request);
}

// --- streams ---

awaitable<ActionResult> KinesisService::create_stream(AwsRequest& r) {
  std::string name = get_string(r.input, "StreamName");
  if (!valid_stream_name(name)) {
    co_return validation(name, "streamName",
                         "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
  }
  std::string mode_text;
  if (const json::value* d = member(r.input, "StreamModeDetails"); d && d->is_object()) {
    mode_text = get_string(d->as_object(), "StreamMode");
  }
  auto count = get_int(r.input, "ShardCount");
  StreamMode mode = StreamMode::kProvisioned;
  if (mode_text == "ON_DEMAND") {
    mode = StreamMode::kOnDemand;
    if (count) co_return invalid("ShardCount should not be specified for ON_DEMAND streams.");
  } else if (!mode_text.empty() && mode_text != "PROVISIONED") {
    co_return validation(mode_text, "streamModeDetails.streamMode",
                         "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]");
  } else if (!count) {
    if (mode_text.empty()) {
      mode = StreamMode::kOnDemand;
    } else {
      co_return invalid("ShardCount is required for PROVISIONED streams.");
    }
  }
  if (count && *count < 1) {
    co_return validation(std::to_string(*count), "shardCount",
                         "Member must have value greater than or equal to 1");
  }
  StreamOptions extra;
  auto max_record =
      ranged(r.input, "MaxRecordSizeInKiB", "maxRecordSizeInKiB", kMinRecordKiB, kMaxRecordKiB);
  if (!max_record) co_return fail(max_record.error());
  extra.max_record_kib = *max_record;
  auto warm = ranged(r.input, "WarmThroughputMiBps", "warmThroughputMiBps", 0, INT32_MAX);
  if (!warm) co_return fail(warm.error());
  extra.warm_throughput_mibps = *warm;
  auto tags = get_string_map(r.input, "Tags");
  std::optional<int> shards;
  if (count) shards = static_cast<int>(std::min<int64_t>(*count, 1'000'000));
  auto result = co_await durably<base::Ok>([&](auto done) {
    return engine_.create_stream(r.caller.account, name, shards, mode, tags, done, extra);
  });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::delete_stream(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  bool enforce = false;
  if (const json::value* v = member(r.input, "EnforceConsumerDeletion"); v && v->is_bool()) {
    enforce = v->as_bool();
  }
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.delete_stream(s->account, s->name, enforce, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::describe_stream(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  auto limit = limit_of(r.input, "Limit", "limit", 10000);
  if (!limit) co_return fail(limit.error());
  auto info = engine_.describe(s->account, s->name);
  if (!info) co_return fail(info.error());
  const StreamInfo& st = info.value();
  std::string after = get_string(r.input, "ExclusiveStartShardId");
  json::array shards;
  bool more = false;
  for (const auto& sh : st.shards) {
    if (!after.empty() && sh.id <= after) continue;
    if (shards.size() >= static_cast<size_t>(limit->value_or(100))) {
      more = true;
      break;
    }
    shards.push_back(shard_json(st, sh));
  }
  json::object d;
  d["StreamName"] = st.name;
  d["StreamARN"] = st.arn;
  d["StreamStatus"] = st.status;
  d["StreamModeDetails"] = stream_mode(st.mode);
  d["Shards"] = std::move(shards);
  d["HasMoreShards"] = more;
  d["RetentionPeriodHours"] = st.retention_hours;
  d["StreamCreationTimestamp"] = seconds(st.created_ms);
  d["EnhancedMonitoring"] = monitoring_json(st);
  d["EncryptionType"] = st.encryption_type;
  if (!st.key_id.empty()) d["KeyId"] = st.key_id;
  co_return json::object{{"StreamDescription", std::move(d)}};
}

awaitable<ActionResult> KinesisService::describe_stream_summary(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  auto info = engine_.describe(s->account, s->name);
  if (!info) co_return fail(info.error());
  const StreamInfo& st = info.value();
  json::object d;
  d["StreamName"] = st.name;
  d["StreamARN"] = st.arn;
  d["StreamStatus"] = st.status;
  d["StreamModeDetails"] = stream_mode(st.mode);
  d["RetentionPeriodHours"] = st.retention_hours;
  d["StreamCreationTimestamp"] = seconds(st.created_ms);
  d["EnhancedMonitoring"] = monitoring_json(st);
  d["EncryptionType"] = st.encryption_type;
  if (!st.key_id.empty()) d["KeyId"] = st.key_id;
  d["OpenShardCount"] = st.open_shards();
  d["ConsumerCount"] = st.consumers.size();
  if (st.mode == StreamMode::kOnDemand && st.warm_target_mibps) {
    d["WarmThroughput"] = warm_json({*st.warm_target_mibps, st.warm_current_mibps});
  }
  d["MaxRecordSizeInKiB"] = st.max_record_kib;
  co_return json::object{{"StreamDescriptionSummary", std::move(d)}};
}

awaitable<ActionResult> KinesisService::list_streams(AwsRequest& r) {
  auto limit = limit_of(r.input, "Limit", "limit", 10000);
  if (!limit) co_return fail(limit.error());
  std::string after = get_string(r.input, "ExclusiveStartStreamName");
  if (std::string token = get_string(r.input, "NextToken"); !token.empty()) {
    auto t = decode_token(token);
    if (!t || !t->contains("after")) co_return invalid("Invalid NextToken.");
    after = std::string((*t)["after"].as_string());
  }
  json::array names, summaries;
  bool more = false;
  std::string last;
  for (const auto& st : engine_.list_streams(r.caller.account)) {
    if (!after.empty() && st.name <= after) continue;
    if (names.size() >= static_cast<size_t>(limit->value_or(100))) {
      more = true;
      break;
    }
    names.emplace_back(st.name);
    summaries.push_back(json::object{{"StreamName", st.name},
                                     {"StreamARN", st.arn},
                                     {"StreamStatus", st.status},
                                     {"StreamModeDetails", stream_mode(st.mode)},
                                     {"StreamCreationTimestamp", seconds(st.created_ms)}});
    last = st.name;
  }
  json::object out{{"StreamNames", std::move(names)},
                   {"HasMoreStreams", more},
                   {"StreamSummaries", std::move(summaries)}};
  if (more) out["NextToken"] = encode_token(json::object{{"after", last}});
  co_return out;
}

awaitable<ActionResult> KinesisService::list_shards(AwsRequest& r) {
  std::string token = get_string(r.input, "NextToken");
  auto limit = limit_of(r.input, "MaxResults", "maxResults", 10000);
  if (!limit) co_return fail(limit.error());
  StreamRef ref;
  std::string after = get_string(r.input, "ExclusiveStartShardId");
  json::object filter;
  if (const json::value* f = member(r.input, "ShardFilter"); f && f->is_object()) {
    filter = f->as_object();
  }
  if (!token.empty()) {
    if (has(r.input, "StreamName") || has(r.input, "StreamARN")) {
      co_return invalid("NextToken and StreamName cannot be provided together.");
    }
    auto t = decode_token(token);
    if (!t || !t->contains("n") || !t->contains("e")) co_return invalid("Invalid NextToken.");
    if (get_int(*t, "e").value_or(0) < engine_.now_ms()) {
      co_return fail(make_error("ExpiredNextTokenException", "The token has expired."));
    }
    ref = {get_string(*t, "a"), get_string(*t, "n")};
    after = get_string(*t, "l");
    if (const json::value* f = member(*t, "f"); f && f->is_object()) filter = f->as_object();
  } else {
    auto s = stream_of(r);
    if (!s) co_return fail(s.error());
    ref = *s;
  }
  auto info = engine_.describe(ref.account, ref.name);
  if (!info) co_return fail(info.error());
  const StreamInfo& st = info.value();
  std::string type = get_string(filter, "Type");
  int64_t now = engine_.now_ms();
  std::optional<int64_t> at_ms = get_time_ms(filter, "Timestamp");
  if (type == "AFTER_SHARD_ID") {
    std::string id = get_string(filter, "ShardId");
    if (id.empty()) co_return invalid("ShardId is required for the AFTER_SHARD_ID filter.");
    after = std::max(after, id);
  } else if ((type == "AT_TIMESTAMP" || type == "FROM_TIMESTAMP") && !at_ms) {
    co_return invalid("Timestamp is required for the " + type + " filter.");
  }
  int64_t horizon = now - static_cast<int64_t>(st.retention_hours) * 3'600'000;
  auto keep = [&](const ShardInfo& sh) {
    if (type == "AT_LATEST") return sh.open();
    if (type == "AT_TRIM_HORIZON" || type == "AT_TIMESTAMP") {
      int64_t t = type == "AT_TRIM_HORIZON" ? horizon : *at_ms;
      if (t < st.created_ms) return !sh.parent.has_value() && sh.created_ms == st.created_ms;
      return sh.created_ms <= t && (!sh.closed_ms || *sh.closed_ms > t);
    }
    if (type == "FROM_TIMESTAMP") return !sh.closed_ms || *sh.closed_ms > *at_ms;
    return true;  // FROM_TRIM_HORIZON, AFTER_SHARD_ID, none: every retained shard
  };
  json::array shards;
  bool more = false;
  std::string last;
  for (const auto& sh : st.shards) {
    if (!after.empty() && sh.id <= after) continue;
    if (!keep(sh)) continue;
    if (shards.size() >= static_cast<size_t>(limit->value_or(1000))) {
      more = true;
      break;
    }
    shards.push_back(shard_json(st, sh));
    last = sh.id;
  }
  json::object out{{"Shards", std::move(shards)}};
  if (more) {
    out["NextToken"] = encode_token(json::object{{"a", ref.account},
                                                 {"n", ref.name},
                                                 {"l", last},
                                                 {"f", filter},
                                                 {"e", now + kNextTokenTtlMs}});
  }
  co_return out;
}

// --- records ---

awaitable<ActionResult> KinesisService::put_record(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  PutInput in;
  in.partition_key = get_string(r.input, "PartitionKey");
  auto data = base::base64_decode(get_string(r.input, "Data"));
  if (!data) co_return invalid("Data is not valid base64.");
  in.data = std::move(*data);
  if (in.data.size() > kMaxRecordBytes) {
    co_return validation("java.nio.HeapByteBuffer", "data",
                         "Member must have length less than or equal to 10485760");
  }
  if (in.partition_key.empty() || in.partition_key.size() > 256) {
    co_return validation(in.partition_key, "partitionKey",
                         in.partition_key.empty()
                             ? "Member must have length greater than or equal to 1"
                             : "Member must have length less than or equal to 256");
  }
  if (has(r.input, "ExplicitHashKey"))
    in.explicit_hash_key = get_string(r.input, "ExplicitHashKey");
  auto result = co_await durably<PutOutput>(
      [&](auto done) { return engine_.put_record(s->account, s->name, in, done); });
  if (!result) co_return fail(result.error());
  auto info = engine_.describe(s->account, s->name);
  json::object out{{"ShardId", result->shard_id}, {"SequenceNumber", result->sequence_number}};
  if (info) out["EncryptionType"] = info->encryption_type;
  co_return out;
}

awaitable<ActionResult> KinesisService::put_records(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  const json::value* v = member(r.input, "Records");
  static const json::array kEmpty;
  const json::array& records = v && v->is_array() ? v->as_array() : kEmpty;
  if (records.empty()) {
    co_return validation("[]", "records", "Member must have length greater than or equal to 1");
  }
  if (records.size() > 500) {
    co_return validation("[...]", "records", "Member must have length less than or equal to 500");
  }
  std::vector<PutInput> inputs;
  for (size_t i = 0; i < records.size(); ++i) {
    if (!records[i].is_object()) co_return invalid("Records must be structures.");
    const auto& o = records[i].as_object();
    PutInput in;
    in.partition_key = get_string(o, "PartitionKey");
    auto data = base::base64_decode(get_string(o, "Data"));
    if (!data) co_return invalid("Data is not valid base64.");
    in.data = std::move(*data);
    std::string field = "records." + std::to_string(i + 1) + ".member.";
    if (in.data.size() > kMaxRecordBytes) {
      co_return validation("java.nio.HeapByteBuffer", field + "data",
                           "Member must have length less than or equal to 10485760");
    }
    if (in.partition_key.empty() || in.partition_key.size() > 256) {
      co_return validation(in.partition_key, field + "partitionKey",
                           in.partition_key.empty()
                               ? "Member must have length greater than or equal to 1"
                               : "Member must have length less than or equal to 256");
    }
    if (has(o, "ExplicitHashKey")) in.explicit_hash_key = get_string(o, "ExplicitHashKey");
    inputs.push_back(std::move(in));
  }
  auto result = co_await durably<std::vector<PutOutput>>(
      [&](auto done) { return engine_.put_records(s->account, s->name, inputs, done); });
  if (!result) co_return fail(result.error());
  auto info = engine_.describe(s->account, s->name);
  json::array out_records;
  int failed = 0;
  for (const auto& p : result.value()) {
    if (!p.error_code.empty()) {
      ++failed;
      out_records.push_back(
          json::object{{"ErrorCode", p.error_code}, {"ErrorMessage", p.error_message}});
      continue;
    }
    out_records.push_back(
        json::object{{"SequenceNumber", p.sequence_number}, {"ShardId", p.shard_id}});
  }
  json::object out{{"FailedRecordCount", failed}, {"Records", std::move(out_records)}};
  if (info) out["EncryptionType"] = info->encryption_type;
  co_return out;
}

namespace {

// ShardIteratorType (GetShardIterator) and StartingPosition.Type (SubscribeToShard).
std::optional<IteratorType> iterator_type_of(std::string_view text) {
  static const std::map<std::string, IteratorType, std::less<>> kTypes = {
      {"AT_SEQUENCE_NUMBER", IteratorType::kAtSequence},
      {"AFTER_SEQUENCE_NUMBER", IteratorType::kAfterSequence},
      {"AT_TIMESTAMP", IteratorType::kAtTimestamp},
      {"TRIM_HORIZON", IteratorType::kTrimHorizon},
      {"LATEST", IteratorType::kLatest}};
  auto it = kTypes.find(text);
  if (it == kTypes.end()) return std::nullopt;
  return it->second;
}

}  // namespace

awaitable<ActionResult> KinesisService::get_shard_iterator(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  std::string type_text = get_string(r.input, "ShardIteratorType");
  auto type = iterator_type_of(type_text);
  if (!type) {
    co_return validation(type_text, "shardIteratorType",
                         "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, "
                         "AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]");
  }
  std::string seq = get_string(r.input, "StartingSequenceNumber");
  auto ts = get_time_ms(r.input, "Timestamp");
  if ((*type == IteratorType::kAtSequence || *type == IteratorType::kAfterSequence) &&
      seq.empty()) {
    co_return invalid("The StartingSequenceNumber parameter is required for the " + type_text +
                      " ShardIteratorType.");
  }
  if (*type == IteratorType::kAtTimestamp && !ts) {
    co_return invalid(
        "The Timestamp parameter is required for the AT_TIMESTAMP "
        "ShardIteratorType.");
  }
  auto it = engine_.get_shard_iterator(s->account, s->name, get_string(r.input, "ShardId"), *type,
                                       seq, ts);
  if (!it) co_return fail(it.error());
  co_return json::object{{"ShardIterator", it.value()}};
}

namespace {

json::array child_shards_json(const std::vector<ChildShard>& children) {
  json::array out;
  for (const auto& c : children) {
    json::array parents;
    for (const auto& p : c.parent_shards) parents.emplace_back(p);
    out.push_back(
        json::object{{"ShardId", c.shard_id},
                     {"ParentShards", std::move(parents)},
                     {"HashKeyRange", json::object{{"StartingHashKey", hash_key_string(c.start)},
                                                   {"EndingHashKey", hash_key_string(c.end)}}}});
  }
  return out;
}

// Epoch milliseconds as JSON seconds with three decimals ("1763758291.234"), into `out` (at least
// 24 chars); returns the length. snprintf was 2.5% of a reader's server time.
size_t epoch_seconds_text(int64_t ms, char* out) {
  char* end = std::to_chars(out, out + 20, ms / 1000).ptr;
  auto frac = static_cast<int>(ms % 1000);
  end[0] = '.';
  end[1] = static_cast<char>('0' + frac / 100);
  end[2] = static_cast<char>('0' + frac / 10 % 10);
  end[3] = static_cast<char>('0' + frac % 10);
  return static_cast<size_t>(end + 4 - out);
}

// `"Records":[...]` written straight into a body: answers carry up to 10 MiB of record data, and
// building and serialising a DOM of them was most of a reader's server time.
void append_records_json(std::string& body, const std::vector<ReadRecord>& records,
                         const std::string& encryption_type) {
  size_t size = body.size() + 64;
  for (const auto& rec : records) {
    size += 4 * ((rec.data.size() + 2) / 3) + rec.partition_key.size() + 160;
  }
  if (body.capacity() < size) {
    std::string bigger = base::take_buffer(size);
    bigger += body;
    body.swap(bigger);
  }
  body += "\"Records\":[";
  char stamp[32];
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& rec = records[i];
    body += i == 0 ? "{\"SequenceNumber\":\"" : ",{\"SequenceNumber\":\"";
    body += rec.sequence_number;
    body += "\",\"ApproximateArrivalTimestamp\":";
    body.append(stamp, epoch_seconds_text(rec.arrival_ms, stamp));
    body += ",\"Data\":\"";
    base::base64_encode_append(body, rec.data);
    body += "\",\"PartitionKey\":";
    base::append_json_string(body, rec.partition_key);
    if (!encryption_type.empty() && encryption_type != "NONE") {
      body += ",\"EncryptionType\":";
      base::append_json_string(body, encryption_type);
    }
    body += '}';
  }
  body += ']';
}

std::string get_records_json(const GetRecordsOutput& out) {
  std::string body = "{";
  append_records_json(body, out.records, out.encryption_type);
  body += ",\"MillisBehindLatest\":";
  body += std::to_string(out.millis_behind_latest);
  if (out.next_iterator) {
    body += ",\"NextShardIterator\":";
    base::append_json_string(body, *out.next_iterator);
  }
  if (!out.next_iterator || !out.child_shards.empty()) {
    body += ",\"ChildShards\":";
    body += json::serialize(child_shards_json(out.child_shards));
  }
  body += '}';
  return body;
}

}  // namespace

awaitable<ActionResult> KinesisService::get_records(AwsRequest& r) {
  auto limit = limit_of(r.input, "Limit", "limit", 10000);
  if (!limit) co_return fail(limit.error());
  auto out = co_await aws::run_on(disk_work_, [&] {
    return engine_.get_records(get_string(r.input, "ShardIterator"), limit->value_or(10000));
  });
  if (!out) co_return fail(out.error());
  if (r.protocol != aws::Protocol::kCbor11) {
    r.json_body = get_records_json(*out);
    co_return json::object();
  }
  json::array records;
  for (const auto& rec : out->records) {
    json::object o{{"SequenceNumber", rec.sequence_number},
                   {"ApproximateArrivalTimestamp", seconds(rec.arrival_ms)},
                   {"Data", base::base64_encode(rec.data)},
                   {"PartitionKey", rec.partition_key}};
    if (out->encryption_type != "NONE") o["EncryptionType"] = out->encryption_type;
    records.push_back(std::move(o));
  }
  json::object result{{"Records", std::move(records)},
                      {"MillisBehindLatest", out->millis_behind_latest}};
  if (out->next_iterator) result["NextShardIterator"] = *out->next_iterator;
  if (!out->next_iterator || !out->child_shards.empty()) {
    result["ChildShards"] = child_shards_json(out->child_shards);
  }
  co_return result;
}

// --- retention and tags ---

awaitable<ActionResult> KinesisService::retention(AwsRequest& r, bool increase) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  int hours = static_cast<int>(std::clamp<int64_t>(
      get_int(r.input, "RetentionPeriodHours").value_or(0), INT32_MIN, INT32_MAX));
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.set_retention(s->account, s->name, hours, increase, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}
awaitable<ActionResult> KinesisService::increase_retention(AwsRequest& r) {
  return retention(r, true);
}
awaitable<ActionResult> KinesisService::decrease_retention(AwsRequest& r) {
  return retention(r, false);
}

awaitable<ActionResult> KinesisService::add_tags_to_stream(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  auto tags = get_string_map(r.input, "Tags");
  if (tags.empty() || tags.size() > 10) {
    co_return validation("{...}", "tags",
                         tags.empty() ? "Member must have length greater than or equal to 1"
                                      : "Member must have length less than or equal to 10");
  }
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.add_tags(s->account, s->name, tags, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::list_tags_for_stream(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  auto limit = limit_of(r.input, "Limit", "limit", 50);
  if (!limit) co_return fail(limit.error());
  auto info = engine_.describe(s->account, s->name);
  if (!info) co_return fail(info.error());
  std::string after = get_string(r.input, "ExclusiveStartTagKey");
  json::array tags;
  bool more = false;
  for (const auto& [k, v] : info->tags) {
    if (!after.empty() && k <= after) continue;
    if (tags.size() >= static_cast<size_t>(limit->value_or(50))) {
      more = true;
      break;
    }
    tags.push_back(json::object{{"Key", k}, {"Value", v}});
  }
  co_return json::object{{"Tags", std::move(tags)}, {"HasMoreTags", more}};
}

awaitable<ActionResult> KinesisService::remove_tags_from_stream(AwsRequest& r) {
  return remove_tags(r, "StreamARN");
}

// RemoveTagsFromStream and UntagResource differ only in the member that may name the stream.
awaitable<ActionResult> KinesisService::remove_tags(AwsRequest& r, const char* arn_member) {
  auto s = stream_of(r, arn_member);
  if (!s) co_return fail(s.error());
  auto keys = get_string_list(r.input, "TagKeys");
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.remove_tags(s->account, s->name, keys, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::tag_resource(AwsRequest& r) {
  auto s = stream_of(r, "ResourceARN");
  if (!s) co_return fail(s.error());
  auto tags = get_string_map(r.input, "Tags");
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.add_tags(s->account, s->name, tags, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::untag_resource(AwsRequest& r) {
  return remove_tags(r, "ResourceARN");
}

awaitable<ActionResult> KinesisService::list_tags_for_resource(AwsRequest& r) {
  auto s = stream_of(r, "ResourceARN");
  if (!s) co_return fail(s.error());
  auto info = engine_.describe(s->account, s->name);
  if (!info) co_return fail(info.error());
  co_return json::object{{"Tags", tag_list(info->tags)}};
}

// --- resharding ---

awaitable<ActionResult> KinesisService::split_shard(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  std::string shard = get_string(r.input, "ShardToSplit");
  std::string start = get_string(r.input, "NewStartingHashKey");
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.split_shard(s->account, s->name, shard, start, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::merge_shards(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  std::string a = get_string(r.input, "ShardToMerge");
  std::string b = get_string(r.input, "AdjacentShardToMerge");
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.merge_shards(s->account, s->name, a, b, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::update_shard_count(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  std::string scaling = get_string(r.input, "ScalingType");
  if (scaling != "UNIFORM_SCALING") {
    co_return validation(scaling, "scalingType",
                         "Member must satisfy enum value set: [UNIFORM_SCALING]");
  }
  auto target64 = get_int(r.input, "TargetShardCount").value_or(0);
  if (target64 < 1) {
    co_return validation(std::to_string(target64), "targetShardCount",
                         "Member must have value greater than or equal to 1");
  }
  int target = static_cast<int>(std::min<int64_t>(target64, 1'000'000));
  auto result = co_await durably<int>(
      [&](auto done) { return engine_.update_shard_count(s->account, s->name, target, done); });
  if (!result) co_return fail(result.error());
  co_return json::object{{"StreamName", s->name},
                         {"CurrentShardCount", result.value()},
                         {"TargetShardCount", target},
                         {"StreamARN", engine_.stream_arn(s->account, s->name)}};
}

awaitable<ActionResult> KinesisService::update_stream_mode(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  std::string mode_text;
  if (const json::value* d = member(r.input, "StreamModeDetails"); d && d->is_object()) {
    mode_text = get_string(d->as_object(), "StreamMode");
  }
  if (mode_text != "ON_DEMAND" && mode_text != "PROVISIONED") {
    co_return validation(mode_text, "streamModeDetails.streamMode",
                         "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]");
  }
  StreamMode mode = mode_text == "ON_DEMAND" ? StreamMode::kOnDemand : StreamMode::kProvisioned;
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.update_stream_mode(s->account, s->name, mode, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

// --- consumers ---

awaitable<ActionResult> KinesisService::register_consumer(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  std::string name = get_string(r.input, "ConsumerName");
  if (!valid_stream_name(name)) {
    co_return validation(name, "consumerName",
                         "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
  }
  auto result = co_await durably<ConsumerInfo>(
      [&](auto done) { return engine_.register_consumer(s->account, s->name, name, done); });
  if (!result) co_return fail(result.error());
  json::object c = consumer_json(result.value());
  c["ConsumerStatus"] = "CREATING";
  co_return json::object{{"Consumer", std::move(c)}};
}

// The consumer named by ConsumerARN, or by StreamARN and ConsumerName.
static base::Result<std::tuple<StreamRef, std::string>, AwsError> consumer_of(const AwsRequest& r) {
  std::string carn = get_string(r.input, "ConsumerARN");
  if (!carn.empty()) {
    auto split = split_consumer_arn(carn);
    auto stream = split ? Engine::parse_stream_arn(split->first) : std::nullopt;
    if (!stream) {
      return validation(carn, "consumerARN",
                        "Member must satisfy regular expression pattern: "
                        "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/"
                        "consumer\\/[a-zA-Z0-9_.-]+:[0-9]+");
    }
    return std::make_tuple(StreamRef{stream->first, stream->second}, split->second);
  }
  std::string sarn = get_string(r.input, "StreamARN");
  std::string name = get_string(r.input, "ConsumerName");
  if (sarn.empty() || name.empty()) {
    return invalid("Either ConsumerARN or both StreamARN and ConsumerName must be provided.");
  }
  auto stream = Engine::parse_stream_arn(sarn);
  if (!stream) {
    return validation(sarn, "streamARN",
                      "Member must satisfy regular expression pattern: "
                      "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+");
  }
  return std::make_tuple(StreamRef{stream->first, stream->second}, name);
}

awaitable<ActionResult> KinesisService::deregister_consumer(AwsRequest& r) {
  auto c = consumer_of(r);
  if (!c) co_return fail(c.error());
  auto& [s, name] = c.value();
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.deregister_consumer(s.account, s.name, name, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::describe_consumer(AwsRequest& r) {
  auto c = consumer_of(r);
  if (!c) co_return fail(c.error());
  auto& [s, name] = c.value();
  auto info = engine_.describe(s.account, s.name);
  if (!info) co_return fail(info.error());
  for (const auto& consumer : info->consumers) {
    if (consumer.name != name) continue;
    json::object d = consumer_json(consumer);
    d["StreamARN"] = info->arn;
    co_return json::object{{"ConsumerDescription", std::move(d)}};
  }
  co_return fail(make_error("ResourceNotFoundException",
                            "Consumer " + name + " under stream " + info->arn + " not found."));
}

awaitable<ActionResult> KinesisService::list_consumers(AwsRequest& r) {
  std::string sarn = get_string(r.input, "StreamARN");
  auto stream = Engine::parse_stream_arn(sarn);
  if (!stream) {
    co_return validation(sarn, "streamARN",
                         "Member must satisfy regular expression pattern: "
                         "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+");
  }
  auto limit = limit_of(r.input, "MaxResults", "maxResults", 10000);
  if (!limit) co_return fail(limit.error());
  auto info = engine_.describe(stream->first, stream->second);
  if (!info) co_return fail(info.error());
  std::string after;
  if (std::string token = get_string(r.input, "NextToken"); !token.empty()) {
    auto t = decode_token(token);
    if (!t) co_return invalid("Invalid NextToken.");
    after = get_string(*t, "after");
  }
  json::array consumers;
  bool more = false;
  std::string last;
  auto sorted = info->consumers;
  std::sort(sorted.begin(), sorted.end(),
            [](const ConsumerInfo& a, const ConsumerInfo& b) { return a.name < b.name; });
  for (const auto& c : sorted) {
    if (!after.empty() && c.name <= after) continue;
    if (consumers.size() >= static_cast<size_t>(limit->value_or(100))) {
      more = true;
      break;
    }
    consumers.push_back(consumer_json(c));
    last = c.name;
  }
  json::object out{{"Consumers", std::move(consumers)}};
  if (more) out["NextToken"] = encode_token(json::object{{"after", last}});
  co_return out;
}

// --- encryption, monitoring, limits, policies ---

awaitable<ActionResult> KinesisService::start_encryption(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  std::string type = get_string(r.input, "EncryptionType");
  if (type != "KMS") {
    co_return invalid("EncryptionType " + type + " is not supported; use KMS.");
  }
  std::string key = get_string(r.input, "KeyId");
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.set_encryption(s->account, s->name, "KMS", key, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::stop_encryption(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.set_encryption(s->account, s->name, "NONE", {}, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::monitoring(AwsRequest& r, bool enable) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  auto metrics = get_string_list(r.input, "ShardLevelMetrics");
  static const std::set<std::string, std::less<>> kKnown = {"IncomingBytes",
                                                            "IncomingRecords",
                                                            "OutgoingBytes",
                                                            "OutgoingRecords",
                                                            "WriteProvisionedThroughputExceeded",
                                                            "ReadProvisionedThroughputExceeded",
                                                            "IteratorAgeMilliseconds",
                                                            "ALL"};
  if (metrics.empty()) {
    co_return validation("[]", "shardLevelMetrics",
                         "Member must have length greater than or equal to 1");
  }
  for (const auto& m : metrics) {
    if (!kKnown.count(m)) {
      co_return validation("[" + m + "]", "shardLevelMetrics",
                           "Member must satisfy constraint: [Member must satisfy enum value set: "
                           "[IncomingBytes, OutgoingRecords, IteratorAgeMilliseconds, "
                           "IncomingRecords, ReadProvisionedThroughputExceeded, "
                           "WriteProvisionedThroughputExceeded, OutgoingBytes, ALL]]");
    }
  }
  auto before = co_await durably<std::vector<std::string>>([&](auto done) {
    return engine_.set_monitoring(s->account, s->name, metrics, enable, done);
  });
  if (!before) co_return fail(before.error());
  auto info = engine_.describe(s->account, s->name);
  json::array current, desired;
  for (const auto& m : before.value()) current.emplace_back(m);
  if (info) {
    for (const auto& m : info->shard_level_metrics) desired.emplace_back(m);
  }
  co_return json::object{{"StreamName", s->name},
                         {"StreamARN", engine_.stream_arn(s->account, s->name)},
                         {"CurrentShardLevelMetrics", std::move(current)},
                         {"DesiredShardLevelMetrics", std::move(desired)}};
}
awaitable<ActionResult> KinesisService::enable_monitoring(AwsRequest& r) {
  return monitoring(r, true);
}
awaitable<ActionResult> KinesisService::disable_monitoring(AwsRequest& r) {
  return monitoring(r, false);
}

awaitable<ActionResult> KinesisService::describe_limits(AwsRequest& r) {
  auto c = engine_.counts(r.caller.account);
  co_return json::object{{"ShardLimit", engine_.options().shard_limit},
                         {"OpenShardCount", c.open_shards},
                         {"OnDemandStreamCount", c.on_demand_streams},
                         {"OnDemandStreamCountLimit", engine_.options().on_demand_stream_limit}};
}

awaitable<ActionResult> KinesisService::put_resource_policy(AwsRequest& r) {
  auto s = stream_of(r, "ResourceARN");
  if (!s) co_return fail(s.error());
  std::string policy = get_string(r.input, "Policy");
  boost::system::error_code ec;
  auto parsed = json::parse(policy, ec);
  if (ec || !parsed.is_object()) co_return invalid("Policy is not a valid JSON document.");
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.set_policy(s->account, s->name, policy, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::get_resource_policy(AwsRequest& r) {
  auto s = stream_of(r, "ResourceARN");
  if (!s) co_return fail(s.error());
  auto info = engine_.describe(s->account, s->name);
  if (!info) co_return fail(info.error());
  co_return json::object{{"Policy", info->policy.empty() ? "{}" : info->policy}};
}

awaitable<ActionResult> KinesisService::delete_resource_policy(AwsRequest& r) {
  auto s = stream_of(r, "ResourceARN");
  if (!s) co_return fail(s.error());
  auto info = engine_.describe(s->account, s->name);
  if (!info) co_return fail(info.error());
  if (info->policy.empty()) {
    co_return fail(make_error("ResourceNotFoundException",
                              "No resource policy found for resource ARN " + info->arn + "."));
  }
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.set_policy(s->account, s->name, {}, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

// --- record size, warm throughput, account settings ---

awaitable<ActionResult> KinesisService::update_max_record_size(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  auto kib =
      ranged(r.input, "MaxRecordSizeInKiB", "maxRecordSizeInKiB", kMinRecordKiB, kMaxRecordKiB);
  if (!kib) co_return fail(kib.error());
  if (!*kib) {
    co_return validation("null", "maxRecordSizeInKiB", "Member must not be null");
  }
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.set_max_record_size(s->account, s->name, **kib, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> KinesisService::update_stream_warm_throughput(AwsRequest& r) {
  auto s = stream_of(r);
  if (!s) co_return fail(s.error());
  auto mibps = ranged(r.input, "WarmThroughputMiBps", "warmThroughputMiBps", 0, INT32_MAX);
  if (!mibps) co_return fail(mibps.error());
  if (!*mibps) {
    co_return validation("null", "warmThroughputMiBps", "Member must not be null");
  }
  auto result = co_await durably<WarmThroughput>(
      [&](auto done) { return engine_.set_warm_throughput(s->account, s->name, **mibps, done); });
  if (!result) co_return fail(result.error());
  co_return json::object{{"StreamARN", engine_.stream_arn(s->account, s->name)},
                         {"StreamName", s->name},
                         {"WarmThroughput", warm_json(*result)}};
}

awaitable<ActionResult> KinesisService::update_account_settings(AwsRequest& r) {
  std::string status;
  if (const json::value* c = member(r.input, "MinimumThroughputBillingCommitment");
      c && c->is_object()) {
    status = get_string(c->as_object(), "Status");
  }
  if (status != "ENABLED" && status != "DISABLED") {
    co_return validation(status, "minimumThroughputBillingCommitment.status",
                         "Member must satisfy enum value set: [ENABLED, DISABLED]");
  }
  auto result = co_await durably<AccountSettings>([&](auto done) {
    return engine_.update_account_settings(r.caller.account, status == "ENABLED", done);
  });
  if (!result) co_return fail(result.error());
  co_return json::object{{"MinimumThroughputBillingCommitment", commitment_json(*result)}};
}

awaitable<ActionResult> KinesisService::describe_account_settings(AwsRequest& r) {
  co_return json::object{{"MinimumThroughputBillingCommitment",
                          commitment_json(engine_.account_settings(r.caller.account))}};
}

// --- enhanced fan-out ---

// One SubscribeToShard stream: woken (posted onto its strand) by the engine, ended at shutdown.
struct KinesisService::Subscription {
  explicit Subscription(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;  // its wait is cancelled to wake the stream
  bool pending = false;      // woken since the last read
  bool stopped = false;      // server shutdown
  void wake() {
    pending = true;
    timer.cancel();
  }
};

KinesisService::~KinesisService() = default;

void KinesisService::stop_subscriptions() {
  std::lock_guard lock(subs_mu_);
  stopping_ = true;
  for (const auto& sub : subs_) {
    asio::post(sub->timer.get_executor(), [sub] {
      sub->stopped = true;
      sub->wake();
    });
  }
}

namespace {

constexpr auto kHeartbeat = std::chrono::seconds(5);  // an event at least this often

std::string subscribe_event_payload(const Engine::SubscriptionEvent& e) {
  std::string body = "{";
  append_records_json(body, e.records, "");
  body += ",\"MillisBehindLatest\":";
  body += std::to_string(e.millis_behind_latest);
  if (e.continuation) {
    body += ",\"ContinuationSequenceNumber\":";
    base::append_json_string(body, *e.continuation);
  }
  if (e.shard_ended) {
    body += ",\"ChildShards\":";
    body += json::serialize(child_shards_json(e.child_shards));
  }
  body += '}';
  return body;
}

// The same event for CBOR clients (the Java SDK's default): the model's SubscribeToShardEvent
// in CBOR, Data as byte strings and timestamps in epoch milliseconds, as their other answers.
std::string subscribe_event_cbor(const aws::ServiceModel& model,
                                 const Engine::SubscriptionEvent& e) {
  json::array records;
  for (const auto& rec : e.records) {
    records.push_back(json::object{{"SequenceNumber", rec.sequence_number},
                                   {"ApproximateArrivalTimestamp", seconds(rec.arrival_ms)},
                                   {"Data", base::base64_encode(rec.data)},
                                   {"PartitionKey", rec.partition_key}});
  }
  json::object event{{"Records", std::move(records)},
                     {"MillisBehindLatest", e.millis_behind_latest}};
  if (e.continuation) event["ContinuationSequenceNumber"] = *e.continuation;
  if (e.shard_ended) event["ChildShards"] = child_shards_json(e.child_shards);
  static const aws::Shape* const kShape = model.shape("SubscribeToShardEvent");
  return aws::encode_cbor_shape(kShape, event);
}

// The event-stream messages of a subscription, JSON or CBOR as the request was. Built outside
// the coroutine: g++ 12 destroys the temporaries of a conditional expression inside a co_await
// expression twice.
constexpr std::string_view kCborType = "application/x-amz-cbor-1.1";

std::string event_frame(const aws::ServiceModel& model, bool cbor,
                        const Engine::SubscriptionEvent& e) {
  if (cbor) {
    return aws::encode_event("SubscribeToShardEvent", kCborType, subscribe_event_cbor(model, e));
  }
  return aws::encode_event("SubscribeToShardEvent", "application/json", subscribe_event_payload(e));
}

std::string exception_frame(bool cbor, const std::string& type, const std::string& message) {
  json::value body = json::object{{"message", message}};
  if (cbor) return aws::encode_exception(type, kCborType, aws::cbor_encode(body));
  return aws::encode_exception(type, "application/json", json::serialize(body));
}

// Ends the engine's subscription when the stream (or a reply never streamed) is gone.
struct Unsubscribe {
  Unsubscribe(Engine& e, uint64_t subscription) : engine(e), id(subscription) {}
  Unsubscribe(const Unsubscribe&) = delete;
  Unsubscribe& operator=(const Unsubscribe&) = delete;
  ~Unsubscribe() { engine.unsubscribe(id); }
  Engine& engine;
  uint64_t id;
};

}  // namespace

awaitable<ActionResult> KinesisService::subscribe_to_shard(AwsRequest& r) {
  std::string carn = get_string(r.input, "ConsumerARN");
  auto split = split_consumer_arn(carn);
  if (!split || !Engine::parse_stream_arn(split->first)) {
    co_return validation(carn, "consumerARN",
                         "Member must satisfy regular expression pattern: "
                         "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/"
                         "consumer\\/[a-zA-Z0-9_.-]+:[0-9]+");
  }
  Engine::SubscribeInput in;
  in.consumer_arn = carn;
  in.shard_id = get_string(r.input, "ShardId");
  json::object start;
  if (const json::value* v = member(r.input, "StartingPosition"); v && v->is_object()) {
    start = v->as_object();
  }
  std::string type_text = get_string(start, "Type");
  auto type = iterator_type_of(type_text);
  if (!type) {
    co_return validation(type_text, "startingPosition.type",
                         "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, "
                         "AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]");
  }
  in.type = *type;
  in.sequence_number = get_string(start, "SequenceNumber");
  in.timestamp_ms = get_time_ms(start, "Timestamp");
  if ((in.type == IteratorType::kAtSequence || in.type == IteratorType::kAfterSequence) &&
      in.sequence_number.empty()) {
    co_return invalid("The SequenceNumber parameter is required for the " + type_text +
                      " StartingPosition type.");
  }
  if (in.type == IteratorType::kAtTimestamp && !in.timestamp_ms) {
    co_return invalid(
        "The Timestamp parameter is required for the AT_TIMESTAMP StartingPosition type.");
  }

  auto executor = co_await asio::this_coro::executor;
  auto sub = std::make_shared<Subscription>(executor);
  {
    std::lock_guard lock(subs_mu_);
    if (stopping_) {
      co_return fail(make_error("InternalFailureException", "The server is shutting down.", 500));
    }
  }
  auto subscribed = engine_.subscribe(
      in, [sub] { asio::post(sub->timer.get_executor(), [sub] { sub->wake(); }); });
  if (!subscribed) co_return fail(subscribed.error());
  {
    std::lock_guard lock(subs_mu_);
    subs_.insert(sub);
  }
  auto guard = std::make_shared<Unsubscribe>(engine_, subscribed->id);
  int64_t expires_ms = subscribed->expires_ms;
  bool cbor = r.protocol == aws::Protocol::kCbor11;
  r.event_stream = [this, sub, guard, expires_ms, cbor](http::BodyWriter& w) -> awaitable<void> {
    w.on_cancel([sub] { sub->wake(); });
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(std::max<int64_t>(0, expires_ms - engine_.now_ms()));
    auto next_heartbeat = std::chrono::steady_clock::now();  // the first event goes out at once
    while (!w.cancelled() && !sub->stopped) {
      sub->pending = false;
      auto event =
          co_await aws::run_on(disk_work_, [&] { return engine_.read_subscription(guard->id); });
      if (!event) {
        co_await w.write(exception_frame(cbor, to_aws(event.error()).code, event.error().message));
        break;
      }
      auto now = std::chrono::steady_clock::now();
      if (!event->records.empty() || event->shard_ended || now >= next_heartbeat) {
        if (!co_await w.write(event_frame(model(), cbor, *event))) {
          break;
        }
        next_heartbeat = std::chrono::steady_clock::now() + kHeartbeat;
      }
      if (event->shard_ended || event->expired || now >= deadline) break;
      if (event->more || sub->pending) continue;
      auto wake_at = std::min(next_heartbeat, deadline);
      if (event->paced_ms > 0) {  // records are waiting for the read limit, not for puts
        wake_at = std::min(
            wake_at, std::chrono::steady_clock::now() + std::chrono::milliseconds(event->paced_ms));
      }
      sub->timer.expires_at(wake_at);
      co_await sub->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    std::lock_guard lock(subs_mu_);
    subs_.erase(sub);
  };
  co_return json::object();
}

}  // namespace ferry::kinesis
