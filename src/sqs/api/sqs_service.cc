#include "sqs/api/sqs_service.h"

#include <algorithm>
#include <any>
#include <array>
#include <boost/asio.hpp>
#include <optional>

#include "aws/await.h"
#include "aws/json_input.h"
#include "aws/model.h"
#include "aws/protocol_error.h"
#include "base/crypto.h"
#include "base/json_text.h"
#include "base/log.h"
#include "sqs/api/fast_input.h"
#include "sqs/engine/attributes.h"

namespace ferry::sqs {

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
using aws::get_string_view;
using aws::has;
using aws::member;

constexpr size_t kMaxBatchEntries = 10;
constexpr size_t kMaxBatchBytes = 1024 * 1024;
constexpr int kMaxWaitSeconds = 20;

AwsError make_error(std::string code, std::string message, std::string query_code = {},
                    int status = 400) {
  // Two Query codes have JSON shapes of another name (AWS's __type for them).
  std::string json_type;
  if (code == "InvalidParameterValue") {
    query_code = code;
    code = "InvalidParameterValueException";
  } else if (code == "MissingParameter") {
    query_code = code;
    json_type = aws::kMissingParameterType;
  }
  return AwsError{std::move(code), std::move(message),    status,
                  status < 500,    std::move(query_code), std::move(json_type)};
}

// The wire identity of each engine error: JSON __type suffix, Query code and HTTP status, as in
// SQS's service model.
AwsError to_aws(const Error& e) {
  switch (e.code) {
    case Errc::kQueueDoesNotExist:
      return make_error("QueueDoesNotExist", e.message, "AWS.SimpleQueueService.NonExistentQueue");
    case Errc::kQueueNameExists:
      return make_error("QueueNameExists", e.message, "QueueAlreadyExists");
    case Errc::kInvalidAttributeName:
      return make_error("InvalidAttributeName", e.message);
    case Errc::kInvalidAttributeValue:
      return make_error("InvalidAttributeValue", e.message);
    case Errc::kInvalidParameterValue:
      return make_error("InvalidParameterValue", e.message);
    case Errc::kInvalidMessageContents:
      return make_error("InvalidMessageContents", e.message);
    case Errc::kReceiptHandleIsInvalid:
      return make_error("ReceiptHandleIsInvalid", e.message);
    case Errc::kMessageNotInflight:
      return make_error("MessageNotInflight", e.message,
                        "AWS.SimpleQueueService.MessageNotInflight");
    case Errc::kOverLimit:
      return make_error("OverLimit", e.message, {}, 403);
    case Errc::kPurgeQueueInProgress:
      return make_error("PurgeQueueInProgress", e.message,
                        "AWS.SimpleQueueService.PurgeQueueInProgress", 403);
    case Errc::kUnsupportedOperation:
      return make_error("UnsupportedOperation", e.message,
                        "AWS.SimpleQueueService.UnsupportedOperation");
    case Errc::kMissingParameter:
      return make_error("MissingParameter", e.message);
    case Errc::kQueueDeletedRecently:
      return make_error("QueueDeletedRecently", e.message,
                        "AWS.SimpleQueueService.QueueDeletedRecently");
    case Errc::kResourceNotFound:
      return make_error("ResourceNotFoundException", e.message, {}, 404);
    case Errc::kInternal:
      return make_error("InternalError", e.message, {}, 500);
  }
  return make_error("InternalError", e.message, {}, 500);
}

base::Unexpected<AwsError> fail(const Error& e) { return {to_aws(e)}; }
base::Unexpected<AwsError> fail(AwsError e) { return {std::move(e)}; }

// --- reading the JSON-shaped input (types were checked against the model by the router) ---

// Clamps to int so out-of-range values stay out of range for the engine's checks.
std::optional<int> get_int32(const json::object& o, std::string_view key) {
  auto v = get_int(o, key);
  if (!v) return std::nullopt;
  return static_cast<int>(std::clamp<int64_t>(*v, INT32_MIN, INT32_MAX));
}

base::Result<MessageAttributes, AwsError> get_message_attributes(const json::object& o,
                                                                 std::string_view key) {
  MessageAttributes out;
  const json::value* v = member(o, key);
  if (v == nullptr || !v->is_object()) return out;
  for (const auto& [name, value] : v->as_object()) {
    if (!value.is_object()) continue;
    const auto& attr = value.as_object();
    MessageAttributeValue mav;
    mav.data_type = get_string(attr, "DataType");
    mav.string_value = get_string(attr, "StringValue");
    if (has(attr, "BinaryValue")) {
      auto decoded = base::base64_decode(get_string(attr, "BinaryValue"));
      if (!decoded) {
        return fail(make_error(
            "InvalidParameterValue",
            "The message attribute '" + std::string(name) + "' has an invalid binary value."));
      }
      mav.binary_value = std::move(*decoded);
    }
    if (mav.data_type.empty()) {
      return fail(make_error("InvalidParameterValue",
                             "The message attribute '" + std::string(name) +
                                 "' must contain non-empty message attribute type."));
    }
    out.emplace(std::string(name), std::move(mav));
  }
  return out;
}

json::object encode_message_attributes(const MessageAttributes& attrs) {
  json::object out;
  for (const auto& [name, v] : attrs) {
    json::object a;
    a["DataType"] = v.data_type;
    if (v.data_type.rfind("Binary", 0) == 0) {
      a["BinaryValue"] = base::base64_encode(v.binary_value);
    } else {
      a["StringValue"] = v.string_value;
    }
    out[name] = std::move(a);
  }
  return out;
}

// Parses a queue URL ("http://host/<account>/<name>") or, as SQS also accepts, a bare path.
base::Result<QueueId, AwsError> parse_queue_url(std::string_view url, const AwsRequest& r) {
  std::string_view path = url;
  if (auto scheme = path.find("://"); scheme != std::string_view::npos) {
    path.remove_prefix(scheme + 3);
    auto slash = path.find('/');
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  auto slash = path.find('/');
  if (!path.empty() && slash == std::string_view::npos) {
    return QueueId{r.caller.account, std::string(path)};
  }
  if (path.empty() || path.find('/', slash + 1) != std::string_view::npos) {
    return fail(make_error("InvalidAddress",
                           "The address " + std::string(url) + " is not valid for this endpoint."));
  }
  return QueueId{std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}

// What decode_json_fast() took from the body, or null when the router parsed it into r.input.
FastInput* fast_input(AwsRequest& r) { return std::any_cast<FastInput>(&r.fast_input); }
const FastInput* fast_input(const AwsRequest& r) { return std::any_cast<FastInput>(&r.fast_input); }

base::Result<QueueId, AwsError> queue_of(const AwsRequest& r) {
  const FastInput* fast = fast_input(r);
  const std::string_view url =
      fast != nullptr ? std::string_view(fast->queue_url) : get_string_view(r.input, "QueueUrl");
  if (url.empty()) {
    return fail(make_error("MissingParameter", "The request must contain the parameter QueueUrl."));
  }
  return parse_queue_url(url, r);
}

// Runs an engine call that takes a durability callback and waits until its write is synced.
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

bool valid_batch_id(std::string_view id) {
  if (id.empty() || id.size() > 80) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

// The batch rules shared by every *Batch action, over its `count` entries' ids.
template <class IdAt>
base::Result<base::Ok, AwsError> check_batch(size_t count, IdAt&& id_at,
                                             std::string_view entry_name) {
  if (count == 0) {
    return fail(
        make_error("EmptyBatchRequest",
                   "There should be at least one " + std::string(entry_name) + " in the request.",
                   "AWS.SimpleQueueService.EmptyBatchRequest"));
  }
  if (count > kMaxBatchEntries) {
    return fail(make_error("TooManyEntriesInBatchRequest",
                           "Maximum number of entries per request are 10. You have sent " +
                               std::to_string(count) + ".",
                           "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"));
  }
  // At most kMaxBatchEntries ids: a linear search beats a set.
  std::array<std::string_view, kMaxBatchEntries> seen;
  size_t seen_count = 0;
  for (size_t i = 0; i < count; ++i) {
    const std::string_view id = id_at(i);
    if (!valid_batch_id(id)) {
      return fail(make_error("InvalidBatchEntryId",
                             "A batch entry id can only contain alphanumeric characters, "
                             "hyphens and underscores. It can be at most 80 letters long.",
                             "AWS.SimpleQueueService.InvalidBatchEntryId"));
    }
    if (std::find(seen.begin(), seen.begin() + seen_count, id) != seen.begin() + seen_count) {
      return fail(make_error("BatchEntryIdsNotDistinct", "Id " + std::string(id) + " repeated.",
                             "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"));
    }
    seen[seen_count++] = id;
  }
  return base::Ok{};
}

std::string_view entry_id(const json::value& entry) {
  return entry.is_object() ? get_string_view(entry.as_object(), "Id") : std::string_view();
}

// A batch's entries from the parsed input, checked by check_batch.
base::Result<const json::array*, AwsError> batch_entries(const json::object& input,
                                                         std::string_view entry_name) {
  static const json::array kEmpty;
  const json::value* v = member(input, "Entries");
  const json::array* entries = v != nullptr && v->is_array() ? &v->as_array() : &kEmpty;
  auto checked = check_batch(
      entries->size(), [&](size_t i) { return entry_id((*entries)[i]); }, entry_name);
  if (!checked) return fail(checked.error());
  return entries;
}

// The same for a batch decode_json_fast() took.
base::Result<base::Ok, AwsError> check_fast_batch(const FastInput& fast,
                                                  std::string_view entry_name) {
  return check_batch(
      fast.entries.size(), [&](size_t i) { return std::string_view(fast.entries[i].id); },
      entry_name);
}

json::object batch_failure(const std::string& id, const AwsError& e) {
  json::object f;
  f["Id"] = id;
  f["SenderFault"] = e.sender_fault;
  f["Code"] = e.wire_query_code();
  f["Message"] = e.message;
  return f;
}

// A batch's JSON answer, written as text: `append_successful(body)` appends the Successful
// entries, comma-separated.
template <class AppendSuccessful>
std::string batch_answer_json(AppendSuccessful&& append_successful, const json::array& failed) {
  std::string body = "{\"Successful\":[";
  append_successful(body);
  body += "],\"Failed\":";
  body += json::serialize(failed);
  body += '}';
  return body;
}

// The answer of a batch whose entries succeed or fail one by one: `apply` runs per entry. For
// the JSON protocol the answer is written as text into r.json_body (a DeleteMessageBatch's
// answer built as a DOM cost ~900 instructions per entry); the Query protocol gets the DOM.
// `id_at(i)` is entry i's Id, `apply(i)` runs entry i.
template <class IdAt, class Apply>
json::object batch_outcome(AwsRequest& r, size_t count, IdAt&& id_at, Apply&& apply) {
  json::array failed;
  std::vector<std::string_view> successful;
  successful.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string_view id = id_at(i);
    if (auto result = apply(i); result) {
      successful.push_back(id);
    } else {
      failed.push_back(batch_failure(std::string(id), to_aws(result.error())));
    }
  }
  if (r.protocol != aws::Protocol::kQuery) {
    r.json_body = batch_answer_json(
        [&](std::string& body) {
          for (size_t i = 0; i < successful.size(); ++i) {
            body += i == 0 ? "{\"Id\":" : ",{\"Id\":";
            base::append_json_string(body, successful[i]);
            body += '}';
          }
        },
        failed);
    return json::object();
  }
  json::array ok;
  for (const std::string_view entry_id : successful) {
    json::object s;
    s["Id"] = entry_id;
    ok.push_back(std::move(s));
  }
  json::object out;
  out["Successful"] = std::move(ok);
  out["Failed"] = std::move(failed);
  return out;
}

// ReceiveMessage's JSON answer, the same document as the DOM the Query protocol gets.
std::string receive_answer_json(const std::vector<ReceivedMessage>& received) {
  if (received.empty()) return "{}";
  size_t size = 16;
  for (const auto& m : received) size += m.body.size() + m.receipt_handle.size() + 160;
  std::string out;
  out.reserve(size);
  out += "{\"Messages\":[";
  for (size_t i = 0; i < received.size(); ++i) {
    const ReceivedMessage& m = received[i];
    if (i > 0) out += ',';
    out += "{\"MessageId\":";
    base::append_json_string(out, m.message_id);
    out += ",\"ReceiptHandle\":";
    base::append_json_string(out, m.receipt_handle);
    out += ",\"MD5OfBody\":";
    base::append_json_string(out, m.md5_of_body);
    out += ",\"Body\":";
    base::append_json_string(out, m.body);
    if (!m.attributes.empty()) {
      out += ",\"Attributes\":{";
      bool first = true;
      for (const auto& [k, v] : m.attributes) {
        if (!first) out += ',';
        first = false;
        base::append_json_string(out, k);
        out += ':';
        base::append_json_string(out, v);
      }
      out += '}';
    }
    if (!m.message_attributes.empty()) {
      out += ",\"MD5OfMessageAttributes\":";
      base::append_json_string(out, m.md5_of_message_attributes);
      out += ",\"MessageAttributes\":";
      out += json::serialize(encode_message_attributes(m.message_attributes));
    }
    out += '}';
  }
  out += "]}";
  return out;
}

AwsError missing_message_body() {
  return make_error("MissingParameter", "The request must contain the parameter MessageBody.");
}

base::Result<SendRequest, AwsError> send_request_of(const json::object& o) {
  SendRequest req;
  req.body = get_string(o, "MessageBody");
  if (req.body.empty()) return fail(missing_message_body());
  req.delay_seconds = get_int32(o, "DelaySeconds");
  auto attrs = get_message_attributes(o, "MessageAttributes");
  if (!attrs) return fail(attrs.error());
  req.message_attributes = std::move(attrs.value());
  auto sys = get_message_attributes(o, "MessageSystemAttributes");
  if (!sys) return fail(sys.error());
  req.system_attributes = std::move(sys.value());
  req.message_group_id = get_string(o, "MessageGroupId");
  req.deduplication_id = get_string(o, "MessageDeduplicationId");
  return req;
}

// The same from an entry decode_json_fast() took, whose strings it moves.
base::Result<SendRequest, AwsError> send_request_of(FastEntry& e) {
  if (e.value.empty()) return fail(missing_message_body());
  SendRequest req;
  req.body = std::move(e.value);
  req.message_group_id = std::move(e.group_id);
  req.deduplication_id = std::move(e.deduplication_id);
  return req;
}

size_t send_request_size(const SendRequest& r) {
  size_t n = r.body.size();
  for (const auto& [name, v] : r.message_attributes) {
    n += name.size() + v.data_type.size() + v.string_value.size() + v.binary_value.size();
  }
  return n;
}

// The members of a send's answer, in order; the optional ones only when set.
template <class Fn>
void for_each_send_result_member(const SendResult& s, Fn&& fn) {
  fn("MessageId", s.message_id);
  fn("MD5OfMessageBody", s.md5_of_body);
  if (!s.md5_of_message_attributes.empty()) {
    fn("MD5OfMessageAttributes", s.md5_of_message_attributes);
  }
  if (!s.md5_of_message_system_attributes.empty()) {
    fn("MD5OfMessageSystemAttributes", s.md5_of_message_system_attributes);
  }
  if (!s.sequence_number.empty()) fn("SequenceNumber", s.sequence_number);
}

void put_send_result(json::object& out, const SendResult& s) {
  for_each_send_result_member(
      s, [&](std::string_view name, const std::string& value) { out[name] = value; });
}

// One Successful entry of SendMessageBatch's JSON answer.
void append_send_result_json(std::string& out, std::string_view id, const SendResult& s) {
  out += "{\"Id\":";
  base::append_json_string(out, id);
  for_each_send_result_member(s, [&](std::string_view name, const std::string& value) {
    out += ",\"";
    out += name;
    out += "\":";
    base::append_json_string(out, value);
  });
  out += '}';
}

}  // namespace

// A long poll in progress: the engine's wake-up (any thread) and stop_long_polls() cancel its
// timer on the poll's own executor.
struct SqsService::Poller {
  explicit Poller(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  std::atomic<bool> woken{false};
  // Takes the shared_ptr so the posted cancel keeps the poller alive.
  static void wake(const std::shared_ptr<Poller>& p) {
    p->woken = true;
    asio::post(p->timer.get_executor(), [p] { p->timer.cancel(); });
  }
};

SqsService::SqsService(Engine& engine, ApiOptions options)
    : engine_(engine), options_(std::move(options)) {}

SqsService::~SqsService() = default;

const aws::ServiceModel& SqsService::model() const {
  static const aws::ServiceModel& model = aws::ServiceModel::get("sqs");  // get() locks
  return model;
}

void SqsService::stop_long_polls() {
  stopping_ = true;
  wake_driver();
  std::lock_guard lock(pollers_mu_);
  for (const auto& p : pollers_) Poller::wake(p);
}

const std::map<std::string, SqsService::Handler, std::less<>>& SqsService::handlers() {
  static const std::map<std::string, Handler, std::less<>> table = {
      {"CreateQueue", &SqsService::create_queue},
      {"DeleteQueue", &SqsService::delete_queue},
      {"GetQueueUrl", &SqsService::get_queue_url},
      {"ListQueues", &SqsService::list_queues},
      {"GetQueueAttributes", &SqsService::get_queue_attributes},
      {"SetQueueAttributes", &SqsService::set_queue_attributes},
      {"SendMessage", &SqsService::send_message},
      {"SendMessageBatch", &SqsService::send_message_batch},
      {"ReceiveMessage", &SqsService::receive_message},
      {"DeleteMessage", &SqsService::delete_message},
      {"DeleteMessageBatch", &SqsService::delete_message_batch},
      {"ChangeMessageVisibility", &SqsService::change_message_visibility},
      {"ChangeMessageVisibilityBatch", &SqsService::change_message_visibility_batch},
      {"PurgeQueue", &SqsService::purge_queue},
      {"TagQueue", &SqsService::tag_queue},
      {"UntagQueue", &SqsService::untag_queue},
      {"ListQueueTags", &SqsService::list_queue_tags},
      {"ListDeadLetterSourceQueues", &SqsService::list_dead_letter_source_queues},
      {"AddPermission", &SqsService::add_permission},
      {"RemovePermission", &SqsService::remove_permission},
      {"StartMessageMoveTask", &SqsService::start_message_move_task},
      {"ListMessageMoveTasks", &SqsService::list_message_move_tasks},
      {"CancelMessageMoveTask", &SqsService::cancel_message_move_task},
  };
  return table;
}

void SqsService::adopt_query_path(AwsRequest& r) const {
  // The Query protocol may address a queue by the request path instead of QueueUrl.
  if (!has(r.input, "QueueUrl") && r.path.size() > 1 &&
      std::count(r.path.begin(), r.path.end(), '/') == 2) {
    r.input["QueueUrl"] = r.path;
  }
}

bool SqsService::decode_json_fast(AwsRequest& r, std::string_view body) const {
  const std::optional<FastAction> action = fast_action_named(r.action);
  FastInput input;
  if (!action || !decode_fast_input(*action, body, &input)) return false;
  r.fast_input = std::move(input);
  return true;
}

awaitable<ActionResult> SqsService::handle(AwsRequest& r) {
  if (!driver_started_.load(std::memory_order_relaxed)) {
    start_background(co_await asio::this_coro::executor);
  }
  auto it = handlers().find(r.action);
  if (it == handlers().end()) {
    co_return fail(make_error("UnsupportedOperation",
                              "The action " + r.action + " is not supported by Ferry yet.",
                              "AWS.SimpleQueueService.UnsupportedOperation"));
  }
  auto result = co_await (this->*(it->second))(r);
  // The Query protocol words this one error differently (AWS's answer).
  if (!result && r.protocol == aws::Protocol::kQuery &&
      result.error().code == "QueueDoesNotExist") {
    AwsError e = result.error();
    e.message = "The specified queue does not exist for this wsdl version.";
    co_return fail(std::move(e));
  }
  co_return result;
}

std::string SqsService::queue_url(const AwsRequest& r, const QueueId& id) const {
  const std::string& host = r.host.empty() ? options_.default_host : r.host;
  return "http://" + host + "/" + id.account + "/" + id.name;
}

awaitable<ActionResult> SqsService::create_queue(AwsRequest& r) {
  QueueId id{r.caller.account, get_string(r.input, "QueueName")};
  auto attributes = get_string_map(r.input, "Attributes");
  auto tags = get_string_map(r.input, "tags");
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.create_queue(id, attributes, tags, done); });
  if (!result) co_return fail(result.error());
  json::object out;
  out["QueueUrl"] = queue_url(r, id);
  co_return out;
}

awaitable<ActionResult> SqsService::delete_queue(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  auto result =
      co_await durably<base::Ok>([&](auto done) { return engine_.delete_queue(*id, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> SqsService::get_queue_url(AwsRequest& r) {
  std::string account = get_string(r.input, "QueueOwnerAWSAccountId");
  QueueId id{account.empty() ? r.caller.account : account, get_string(r.input, "QueueName")};
  if (!engine_.queue_exists(id)) {
    co_return fail(Error{Errc::kQueueDoesNotExist, "The specified queue does not exist."});
  }
  json::object out;
  out["QueueUrl"] = queue_url(r, id);
  co_return out;
}

awaitable<ActionResult> SqsService::list_queues(AwsRequest& r) {
  auto max_results = get_int(r.input, "MaxResults");
  if (max_results && (*max_results < 1 || *max_results > 1000)) {
    co_return fail(make_error("InvalidParameterValue",
                              "Value " + std::to_string(*max_results) +
                                  " for parameter MaxResults is invalid. Reason: MaxResults must "
                                  "be an integer between 1 and 1000."));
  }
  std::string after;
  if (std::string token = get_string(r.input, "NextToken"); !token.empty()) {
    auto decoded = base::base64_decode(token);
    if (!decoded || decoded->rfind("q:", 0) != 0) {
      co_return fail(make_error("InvalidParameterValue", "Invalid NextToken value."));
    }
    after = decoded->substr(2);
  }
  auto names = engine_.list_queues(r.caller.account, get_string(r.input, "QueueNamePrefix"));
  size_t limit = max_results ? static_cast<size_t>(*max_results) : 1000;
  json::array urls;
  std::string last;
  bool more = false;
  for (const auto& name : names) {
    if (!after.empty() && name <= after) continue;
    if (urls.size() == limit) {
      more = true;
      break;
    }
    urls.push_back(json::value(queue_url(r, QueueId{r.caller.account, name})));
    last = name;
  }
  json::object out;
  if (!urls.empty()) out["QueueUrls"] = std::move(urls);
  if (more && max_results) out["NextToken"] = base::base64_encode("q:" + last);
  co_return out;
}

awaitable<ActionResult> SqsService::get_queue_attributes(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  auto attrs = engine_.get_queue_attributes(*id, get_string_list(r.input, "AttributeNames"));
  if (!attrs) co_return fail(attrs.error());
  json::object out;
  if (!attrs->empty()) {
    json::object a;
    for (const auto& [k, v] : *attrs) a[k] = v;
    out["Attributes"] = std::move(a);
  }
  co_return out;
}

awaitable<ActionResult> SqsService::set_queue_attributes(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  auto attributes = get_string_map(r.input, "Attributes");
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.set_queue_attributes(*id, attributes, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> SqsService::send_message(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  FastInput* fast = fast_input(r);
  auto request =
      fast != nullptr ? send_request_of(fast->entries.front()) : send_request_of(r.input);
  if (!request) co_return fail(request.error());
  auto result = co_await durably<SendResult>(
      [&](auto done) { return engine_.send_message(*id, std::move(request.value()), done); });
  if (!result) co_return fail(result.error());
  json::object out;
  put_send_result(out, *result);
  co_return out;
}

awaitable<ActionResult> SqsService::send_message_batch(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  // Entries that fail to decode are answered without reaching the engine.
  json::array failed;
  std::vector<SendRequest> requests;
  std::vector<std::string> ids;
  size_t total = 0;
  auto add = [&](std::string entry_id, base::Result<SendRequest, AwsError>&& req) {
    if (!req) {
      failed.push_back(batch_failure(entry_id, req.error()));
      return;
    }
    total += send_request_size(*req);
    ids.push_back(std::move(entry_id));
    requests.push_back(std::move(req.value()));
  };
  constexpr std::string_view kEntryName = "SendMessageBatchRequestEntry";
  if (FastInput* fast = fast_input(r)) {
    if (auto checked = check_fast_batch(*fast, kEntryName); !checked) {
      co_return fail(checked.error());
    }
    requests.reserve(fast->entries.size());
    ids.reserve(fast->entries.size());
    for (FastEntry& entry : fast->entries) {
      auto req = send_request_of(entry);
      add(std::move(entry.id), std::move(req));
    }
  } else {
    auto entries = batch_entries(r.input, kEntryName);
    if (!entries) co_return fail(entries.error());
    requests.reserve((*entries)->size());
    ids.reserve((*entries)->size());
    for (const auto& e : **entries) {
      const auto& entry = e.as_object();
      add(get_string(entry, "Id"), send_request_of(entry));
    }
  }
  if (total > kMaxBatchBytes) {
    co_return fail(make_error("BatchRequestTooLong",
                              "Batch requests cannot be longer than " +
                                  std::to_string(kMaxBatchBytes) + " bytes. You have sent " +
                                  std::to_string(total) + " bytes.",
                              "AWS.SimpleQueueService.BatchRequestTooLong"));
  }
  std::vector<Result<SendResult>> results;
  if (!requests.empty()) {
    auto sent = co_await durably<std::vector<Result<SendResult>>>([&](auto done) {
      auto sent = engine_.send_messages(*id, std::move(requests), done);
      // The engine calls `done` only once it has written an entry: when every entry
      // failed, nothing was written and nothing else would end the wait.
      if (sent && std::none_of(sent->begin(), sent->end(),
                               [](const Result<SendResult>& e) { return e.ok(); })) {
        done(true);
      }
      return sent;
    });
    if (!sent) co_return fail(sent.error());
    results = std::move(*sent);
  }
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) failed.push_back(batch_failure(ids[i], to_aws(results[i].error())));
  }
  if (r.protocol != aws::Protocol::kQuery) {
    // JSON: written directly, as ReceiveMessage's answer is.
    r.json_body = batch_answer_json(
        [&](std::string& body) {
          bool first = true;
          for (size_t i = 0; i < results.size(); ++i) {
            if (!results[i].ok()) continue;
            if (!first) body += ',';
            first = false;
            append_send_result_json(body, ids[i], results[i].value());
          }
        },
        failed);
    co_return json::object();
  }
  json::array successful;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) continue;
    json::object s;
    s["Id"] = ids[i];
    put_send_result(s, results[i].value());
    successful.push_back(std::move(s));
  }
  json::object out;
  out["Successful"] = std::move(successful);
  out["Failed"] = std::move(failed);
  co_return out;
}

awaitable<Result<std::vector<ReceivedMessage>>> SqsService::receive_now(
    const QueueId& id, const ReceiveRequest& request) {
  auto started = engine_.start_receive(id, request);
  if (!started) co_return base::fail(started.error());
  if (started->read_ahead && options_.disk_work) {
    // Not awaited: the answer does not wait for the payloads of later receives.
    asio::post(*options_.disk_work, [&engine = engine_, ahead = std::move(*started->read_ahead)] {
      engine.read_ahead(ahead);
    });
  }
  if (!started->reads_store()) co_return engine_.finish_receive(std::move(*started));
  co_return co_await aws::run_on(options_.disk_work,
                                 [&] { return engine_.finish_receive(std::move(*started)); });
}

awaitable<ActionResult> SqsService::receive_message(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  ReceiveRequest request;
  if (auto n = get_int32(r.input, "MaxNumberOfMessages")) request.max_messages = *n;
  request.visibility_timeout = get_int32(r.input, "VisibilityTimeout");
  request.attribute_names = get_string_list(r.input, "AttributeNames");
  for (auto& name : get_string_list(r.input, "MessageSystemAttributeNames")) {
    request.attribute_names.push_back(std::move(name));
  }
  request.message_attribute_names = get_string_list(r.input, "MessageAttributeNames");
  request.receive_request_attempt_id = get_string(r.input, "ReceiveRequestAttemptId");
  if (has(r.input, "ReceiveRequestAttemptId")) {
    if (auto v = validate_fifo_token(request.receive_request_attempt_id, "ReceiveRequestAttemptId");
        !v) {
      co_return fail(v.error());
    }
  }

  std::optional<int> wait = get_int32(r.input, "WaitTimeSeconds");
  if (wait && (*wait < 0 || *wait > kMaxWaitSeconds)) {
    co_return fail(make_error("InvalidParameterValue",
                              "Value " + std::to_string(*wait) +
                                  " for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 "
                                  "and <= 20, if provided."));
  }
  if (!wait) {
    auto attrs = engine_.get_queue_attributes(*id, {"ReceiveMessageWaitTimeSeconds"});
    if (!attrs) co_return fail(attrs.error());
    wait = std::atoi((*attrs)["ReceiveMessageWaitTimeSeconds"].c_str());
  }

  auto received = co_await receive_now(*id, request);
  if (received && received->empty() && *wait > 0 && !stopping_) {
    // Long poll: watch first, then look again, so a send between the two cannot be missed.
    auto executor = co_await asio::this_coro::executor;
    auto poller = std::make_shared<Poller>(executor);
    {
      std::lock_guard lock(pollers_mu_);
      pollers_.insert(poller);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(*wait);
    spdlog::debug("{} long poll on {}/{} for {}s", r.request_id, id->account, id->name, *wait);
    while (received && received->empty() && !stopping_) {
      poller->woken = false;
      auto token = engine_.watch(*id, [poller] { Poller::wake(poller); });
      if (!token) {
        received = base::Unexpected<Error>{token.error()};
        break;
      }
      received = co_await receive_now(*id, request);
      if (received && received->empty() && !poller->woken && !stopping_) {
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
          engine_.unwatch(*id, *token);
          break;
        }
        auto wake_at = deadline;
        if (auto next = engine_.next_visibility_change(*id)) {
          // Engine time is wall-clock ms; the timer runs on the steady clock.
          int64_t in_ms = *next - base::SystemClock::instance().now_ms();
          wake_at = std::min(wake_at, now + std::chrono::milliseconds(std::max<int64_t>(in_ms, 0)));
        }
        poller->timer.expires_at(wake_at);
        co_await poller->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        received = co_await receive_now(*id, request);
      }
      engine_.unwatch(*id, *token);
      if (std::chrono::steady_clock::now() >= deadline) break;
    }
    std::lock_guard lock(pollers_mu_);
    pollers_.erase(poller);
  }
  if (!received) co_return fail(received.error());
  if (r.protocol != aws::Protocol::kQuery) {
    // JSON: written directly; as a DOM and then serialized, the bodies were copied twice more.
    r.json_body = receive_answer_json(*received);
    co_return json::object();
  }

  json::object out;
  if (!received->empty()) {
    json::array messages;
    for (auto& m : *received) {
      json::object msg;
      msg["MessageId"] = m.message_id;
      msg["ReceiptHandle"] = m.receipt_handle;
      msg["MD5OfBody"] = m.md5_of_body;
      msg["Body"] = std::move(m.body);
      if (!m.attributes.empty()) {
        json::object a;
        for (const auto& [k, v] : m.attributes) a[k] = v;
        msg["Attributes"] = std::move(a);
      }
      if (!m.message_attributes.empty()) {
        msg["MD5OfMessageAttributes"] = m.md5_of_message_attributes;
        msg["MessageAttributes"] = encode_message_attributes(m.message_attributes);
      }
      messages.push_back(std::move(msg));
    }
    out["Messages"] = std::move(messages);
  }
  co_return out;
}

awaitable<ActionResult> SqsService::delete_message(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  auto result = engine_.delete_message(*id, get_string(r.input, "ReceiptHandle"));
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> SqsService::delete_message_batch(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  if (!engine_.queue_exists(*id)) {
    co_return fail(Error{Errc::kQueueDoesNotExist, "The specified queue does not exist."});
  }
  constexpr std::string_view kEntryName = "DeleteMessageBatchRequestEntry";
  std::vector<std::string> handles;
  std::vector<std::string_view> ids;
  if (FastInput* fast = fast_input(r)) {
    if (auto checked = check_fast_batch(*fast, kEntryName); !checked) {
      co_return fail(checked.error());
    }
    for (FastEntry& entry : fast->entries) {
      handles.push_back(std::move(entry.value));
      ids.push_back(entry.id);
    }
  } else {
    auto entries = batch_entries(r.input, kEntryName);
    if (!entries) co_return fail(entries.error());
    for (const auto& e : **entries) {
      handles.push_back(get_string(e.as_object(), "ReceiptHandle"));
      ids.push_back(entry_id(e));
    }
  }
  auto results = engine_.delete_messages(*id, handles);
  co_return batch_outcome(
      r, ids.size(), [&](size_t i) { return ids[i]; }, [&](size_t i) { return results[i]; });
}

awaitable<ActionResult> SqsService::change_message_visibility(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  auto timeout = get_int32(r.input, "VisibilityTimeout");
  if (!timeout) {
    co_return fail(make_error("MissingParameter",
                              "The request must contain the parameter VisibilityTimeout."));
  }
  auto result =
      engine_.change_message_visibility(*id, get_string(r.input, "ReceiptHandle"), *timeout);
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> SqsService::change_message_visibility_batch(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  if (!engine_.queue_exists(*id)) {
    co_return fail(Error{Errc::kQueueDoesNotExist, "The specified queue does not exist."});
  }
  auto entries = batch_entries(r.input, "ChangeMessageVisibilityBatchRequestEntry");
  if (!entries) co_return fail(entries.error());
  const json::array& list = **entries;
  co_return batch_outcome(
      r, list.size(), [&](size_t i) { return entry_id(list[i]); },
      [&](size_t i) {
        const json::object& entry = list[i].as_object();
        return engine_.change_message_visibility(*id, get_string(entry, "ReceiptHandle"),
                                                 get_int32(entry, "VisibilityTimeout").value_or(0));
      });
}

awaitable<ActionResult> SqsService::purge_queue(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  auto result =
      co_await durably<base::Ok>([&](auto done) { return engine_.purge_queue(*id, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> SqsService::tag_queue(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  auto tags = get_string_map(r.input, "Tags");
  auto result =
      co_await durably<base::Ok>([&](auto done) { return engine_.tag_queue(*id, tags, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> SqsService::untag_queue(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  auto keys = get_string_list(r.input, "TagKeys");
  auto result =
      co_await durably<base::Ok>([&](auto done) { return engine_.untag_queue(*id, keys, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> SqsService::list_queue_tags(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  auto tags = engine_.list_queue_tags(*id);
  if (!tags) co_return fail(tags.error());
  json::object out;
  if (!tags->empty()) {
    json::object t;
    for (const auto& [k, v] : *tags) t[k] = v;
    out["Tags"] = std::move(t);
  }
  co_return out;
}

namespace {

// ListQueues and ListDeadLetterSourceQueues: MaxResults 1-1000, NextToken an opaque cursor (the
// last name returned), a NextToken only when MaxResults was given and more remain.
struct Page {
  std::optional<int64_t> max_results;
  std::string after;
};

base::Result<Page, AwsError> page_of(const json::object& input) {
  Page page;
  page.max_results = get_int(input, "MaxResults");
  if (page.max_results && (*page.max_results < 1 || *page.max_results > 1000)) {
    return fail(make_error("InvalidParameterValue",
                           "Value " + std::to_string(*page.max_results) +
                               " for parameter MaxResults is invalid. Reason: MaxResults must "
                               "be an integer between 1 and 1000."));
  }
  if (std::string token = get_string(input, "NextToken"); !token.empty()) {
    auto decoded = base::base64_decode(token);
    if (!decoded || decoded->rfind("q:", 0) != 0) {
      return fail(make_error("InvalidParameterValue", "Invalid NextToken value."));
    }
    page.after = decoded->substr(2);
  }
  return page;
}

}  // namespace

awaitable<ActionResult> SqsService::list_dead_letter_source_queues(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  auto page = page_of(r.input);
  if (!page) co_return fail(page.error());
  auto names = engine_.list_dead_letter_source_queues(*id);
  if (!names) co_return fail(names.error());
  const size_t limit = page->max_results ? static_cast<size_t>(*page->max_results) : 1000;
  json::array urls;
  std::string last;
  bool more = false;
  for (const auto& name : *names) {
    if (!page->after.empty() && name <= page->after) continue;
    if (urls.size() == limit) {
      more = true;
      break;
    }
    urls.push_back(json::value(queue_url(r, QueueId{id->account, name})));
    last = name;
  }
  json::object out;
  out["queueUrls"] = std::move(urls);  // a required member: present even when empty
  if (more && page->max_results) out["NextToken"] = base::base64_encode("q:" + last);
  co_return out;
}

awaitable<ActionResult> SqsService::add_permission(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  const std::string label = get_string(r.input, "Label");
  if (label.empty()) {
    co_return fail(make_error("MissingParameter", "The request must contain the parameter Label."));
  }
  auto accounts = get_string_list(r.input, "AWSAccountIds");
  auto actions = get_string_list(r.input, "Actions");
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.add_permission(*id, label, accounts, actions, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

awaitable<ActionResult> SqsService::remove_permission(AwsRequest& r) {
  auto id = queue_of(r);
  if (!id) co_return fail(id.error());
  const std::string label = get_string(r.input, "Label");
  if (label.empty()) {
    co_return fail(make_error("MissingParameter", "The request must contain the parameter Label."));
  }
  auto result = co_await durably<base::Ok>(
      [&](auto done) { return engine_.remove_permission(*id, label, done); });
  if (!result) co_return fail(result.error());
  co_return json::object();
}

// --- message move tasks ---

void SqsService::start_background(asio::any_io_executor executor) {
  if (driver_started_.exchange(true)) return;
  auto timer = std::make_shared<asio::steady_timer>(executor);
  {
    std::lock_guard lock(driver_mu_);
    driver_timer_ = timer;
  }
  asio::co_spawn(executor, drive_move_tasks(timer), asio::detached);
}

void SqsService::wake_driver() {
  std::shared_ptr<asio::steady_timer> timer;
  {
    std::lock_guard lock(driver_mu_);
    timer = driver_timer_;
  }
  // The timer belongs to the driver's executor: cancel it there.
  if (timer) asio::post(timer->get_executor(), [timer] { timer->cancel(); });
}

awaitable<void> SqsService::drive_move_tasks(std::shared_ptr<asio::steady_timer> timer) {
  while (!stopping_) {
    auto next = co_await aws::run_on(options_.disk_work, [&] { return engine_.run_move_tasks(); });
    // Engine time is wall-clock ms; at least once a second, to pick up new tasks.
    int64_t wait_ms = 1000;
    if (next)
      wait_ms = std::clamp<int64_t>(*next - base::SystemClock::instance().now_ms(), 1, 1000);
    timer->expires_after(std::chrono::milliseconds(wait_ms));
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

awaitable<ActionResult> SqsService::start_message_move_task(AwsRequest& r) {
  const std::string source = get_string(r.input, "SourceArn");
  if (source.empty()) {
    co_return fail(
        make_error("MissingParameter", "The request must contain the parameter SourceArn."));
  }
  const std::string destination = get_string(r.input, "DestinationArn");
  auto rate = get_int32(r.input, "MaxNumberOfMessagesPerSecond");
  auto handle = co_await durably<std::string>([&](auto done) {
    return engine_.start_message_move_task(r.caller.account, source, destination, rate, done);
  });
  if (!handle) co_return fail(handle.error());
  wake_driver();
  json::object out;
  out["TaskHandle"] = *handle;
  co_return out;
}

awaitable<ActionResult> SqsService::list_message_move_tasks(AwsRequest& r) {
  const std::string source = get_string(r.input, "SourceArn");
  if (source.empty()) {
    co_return fail(
        make_error("MissingParameter", "The request must contain the parameter SourceArn."));
  }
  const int max_results = get_int32(r.input, "MaxResults").value_or(1);
  auto tasks = engine_.list_message_move_tasks(r.caller.account, source, max_results);
  if (!tasks) co_return fail(tasks.error());
  json::array results;
  for (const MoveTaskInfo& t : *tasks) {
    json::object e;
    if (!t.task_handle.empty()) e["TaskHandle"] = t.task_handle;
    e["Status"] = t.status;
    e["SourceArn"] = t.source_arn;
    if (!t.destination_arn.empty()) e["DestinationArn"] = t.destination_arn;
    if (t.max_messages_per_second) e["MaxNumberOfMessagesPerSecond"] = *t.max_messages_per_second;
    e["ApproximateNumberOfMessagesMoved"] = t.moved;
    e["ApproximateNumberOfMessagesToMove"] = t.to_move;
    if (!t.failure_reason.empty()) e["FailureReason"] = t.failure_reason;
    e["StartedTimestamp"] = t.started_ms;
    results.push_back(std::move(e));
  }
  json::object out;
  out["Results"] = std::move(results);
  co_return out;
}

awaitable<ActionResult> SqsService::cancel_message_move_task(AwsRequest& r) {
  const std::string handle = get_string(r.input, "TaskHandle");
  if (handle.empty()) {
    co_return fail(
        make_error("MissingParameter", "The request must contain the parameter TaskHandle."));
  }
  auto moved = co_await durably<int64_t>(
      [&](auto done) { return engine_.cancel_message_move_task(r.caller.account, handle, done); });
  if (!moved) co_return fail(moved.error());
  json::object out;
  out["ApproximateNumberOfMessagesMoved"] = *moved;
  co_return out;
}

}  // namespace ferry::sqs
