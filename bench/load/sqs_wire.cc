#include "sqs_wire.h"

#include <algorithm>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <charconv>
#include <cstring>

namespace ferry::bench {

namespace json = boost::json;

namespace {

// Percent-encodes s onto out (everything but RFC 3986 unreserved characters).
void append_form_encoded(std::string& out, std::string_view s) {
  size_t n = boost::urls::encoded_size(s, boost::urls::unreserved_chars);
  if (n == s.size()) {
    out.append(s);
    return;
  }
  size_t at = out.size();
  out.resize(at + n);
  boost::urls::encode(out.data() + at, n, s, boost::urls::unreserved_chars);
}

// Whether s holds a character Boost.JSON escapes ('"', '\\', controls), eight bytes at a
// time: every request's queue URL and every receipt handle goes through here.
bool needs_json_escape(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
  // A byte below n (n <= 128) in v: exact as a whole, though not per byte.
  auto has_less = [](uint64_t v, uint64_t n) { return (v - kOnes * n) & ~v & kHighs; };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, s.data() + i, 8);
    if (has_less(v, 0x20) | has_less(v ^ (kOnes * '"'), 1) | has_less(v ^ (kOnes * '\\'), 1))
      return true;
  }
  for (; i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) < 0x20 || s[i] == '"' || s[i] == '\\') return true;
  }
  return false;
}

}  // namespace

void append_json_quoted(std::string& out, std::string_view s) {
  if (needs_json_escape(s)) {
    out.append(json::serialize(json::string_view(s.data(), s.size())));
    return;
  }
  out.push_back('"');
  out.append(s);
  out.push_back('"');
}

std::string json_quote(std::string_view s) {
  std::string out;
  append_json_quoted(out, s);
  return out;
}

void add_form_param(std::string& body, std::string_view name, std::string_view value) {
  if (!body.empty()) body.push_back('&');
  body.append(name);
  body.push_back('=');
  append_form_encoded(body, value);
}

bool xml_element(std::string_view doc, std::string_view tag, size_t* pos, std::string_view* out) {
  std::string open = "<" + std::string(tag) + ">";
  std::string close = "</" + std::string(tag) + ">";
  size_t a = doc.find(open, *pos);
  if (a == std::string_view::npos) return false;
  a += open.size();
  size_t b = doc.find(close, a);
  if (b == std::string_view::npos) return false;
  *out = doc.substr(a, b - a);
  *pos = b + close.size();
  return true;
}

std::string xml_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out.push_back('&');
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp")
      out.push_back('&');
    else if (ent == "lt")
      out.push_back('<');
    else if (ent == "gt")
      out.push_back('>');
    else if (ent == "quot")
      out.push_back('"');
    else if (ent == "apos")
      out.push_back('\'');
    else if (!ent.empty() && ent[0] == '#') {
      int base = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X') ? 16 : 10;
      auto code = std::stoul(std::string(ent.substr(base == 16 ? 2 : 1)), nullptr, base);
      if (code < 0x80) out.push_back(static_cast<char>(code));
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

namespace {

// Answers off the hot path (set-up, depth) as a DOM; false with the reason unless an object.
bool parse_json(const Response& res, json::value* out, std::string* error) {
  boost::system::error_code ec;
  *out = json::parse(res.body(), ec);
  if (ec || !out->is_object()) {
    *error = "unparsable JSON answer: " + res.body().substr(0, 200);
    return false;
  }
  return true;
}

// The hot answers (batch results, ReceiveMessage) go through Boost.JSON's SAX parser with this
// handler, which keeps only what the drivers use: building their DOM was a fifth of the client's
// CPU in the cycle scenario. It notes what it sees; the parse functions judge it.
class AnswerHandler {
 public:
  static constexpr size_t max_array_size = -1;
  static constexpr size_t max_object_size = -1;
  static constexpr size_t max_string_size = -1;
  static constexpr size_t max_key_size = -1;

  // messages: where the messages of a top-level "Messages" list go (null: not wanted); the
  // strings of the entries it already holds are reused.
  explicit AnswerHandler(std::vector<ReceivedMessage>* messages) : messages_(messages) {}

  bool root_is_object = false;
  size_t failed = 0;                // entries in the top-level "Failed" list
  bool messages_not_list = false;   // a top-level "Messages" that is not a list
  bool incomplete_message = false;  // a message without a string ReceiptHandle or Body
  size_t message_count = 0;         // complete messages, in (*messages)[0, message_count)

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    if (depth_ == 0) root_is_object = true;
    begin_value(Kind::kObject);
    ++depth_;
    return true;
  }
  bool on_object_end(size_t, json::error_code&) {
    --depth_;
    if (depth_ == 2 && message_) {
      if (has_handle_ && has_body_)
        ++message_count;
      else
        incomplete_message = true;
      message_ = nullptr;
    }
    return true;
  }
  bool on_array_begin(json::error_code&) {
    begin_value(Kind::kArray);
    ++depth_;
    return true;
  }
  bool on_array_end(size_t n, json::error_code&) {
    --depth_;
    if (depth_ == 1 && root_field_ == Field::kFailed) failed = n;
    return true;
  }
  // Strings and keys come in parts when the parser meets an escape; the parts are unescaped.
  bool on_string_part(json::string_view s, size_t, json::error_code&) {
    if (std::string* target = string_target()) target->append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, size_t, json::error_code&) {
    begin_value(Kind::kScalar);
    if (std::string* target = string_target()) {
      target->append(s.data(), s.size());
      (message_field_ == Field::kReceiptHandle ? has_handle_ : has_body_) = true;
    }
    return true;
  }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code&) {
    std::string_view key(s.data(), s.size());
    if (!key_.empty()) key = key_.append(key);
    if (depth_ == 1) {
      root_field_ = key == "Failed"     ? Field::kFailed
                    : key == "Messages" ? Field::kMessages
                                        : Field::kOther;
      // A repeated key: the last one counts, as in a DOM.
      if (root_field_ == Field::kFailed) failed = 0;
      if (root_field_ == Field::kMessages) {
        message_count = 0;
        messages_not_list = incomplete_message = false;
      }
    } else if (depth_ == 3 && message_) {
      message_field_ = key == "ReceiptHandle" ? Field::kReceiptHandle
                       : key == "Body"        ? Field::kBody
                                              : Field::kOther;
      if (message_field_ == Field::kReceiptHandle) {
        message_->receipt_handle.clear();
        has_handle_ = false;
      } else if (message_field_ == Field::kBody) {
        message_->body.clear();
        has_body_ = false;
      }
    }
    key_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, json::error_code&) { return scalar(); }
  bool on_uint64(uint64_t, json::string_view, json::error_code&) { return scalar(); }
  bool on_double(double, json::string_view, json::error_code&) { return scalar(); }
  bool on_bool(bool, json::error_code&) { return scalar(); }
  bool on_null(json::error_code&) { return scalar(); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  enum class Kind { kObject, kArray, kScalar };
  enum class Field { kOther, kFailed, kMessages, kReceiptHandle, kBody };

  bool scalar() {
    begin_value(Kind::kScalar);
    return true;
  }
  // A value starts at depth_ (the containers open around it).
  void begin_value(Kind kind) {
    if (!messages_ || root_field_ != Field::kMessages) return;
    if (depth_ == 1) {
      if (kind != Kind::kArray) messages_not_list = true;
    } else if (depth_ == 2) {  // an entry of the Messages list
      if (kind != Kind::kObject) {
        incomplete_message = true;
        return;
      }
      message_ = message_count < messages_->size() ? &(*messages_)[message_count]
                                                   : &messages_->emplace_back();
      message_->receipt_handle.clear();
      message_->body.clear();
      has_handle_ = has_body_ = false;
      message_field_ = Field::kOther;
    }
  }
  // The string a value directly inside the message being read goes to, if any.
  std::string* string_target() {
    if (depth_ != 3 || !message_) return nullptr;
    if (message_field_ == Field::kReceiptHandle) return &message_->receipt_handle;
    if (message_field_ == Field::kBody) return &message_->body;
    return nullptr;
  }

  std::vector<ReceivedMessage>* messages_;
  int depth_ = 0;
  Field root_field_ = Field::kOther;
  ReceivedMessage* message_ = nullptr;  // the Messages entry being read
  Field message_field_ = Field::kOther;
  bool has_handle_ = false, has_body_ = false;
  std::string key_;  // a key that came in parts
};

using AnswerParser = json::basic_parser<AnswerHandler>;

// Runs p over the answer; false (with the reason in *error) unless it is one JSON object.
bool parse_answer(const Response& res, AnswerParser& p, std::string* error) {
  const std::string& body = res.body();
  boost::system::error_code ec;
  size_t n = p.write_some(false, body.data(), body.size(), ec);
  if (!ec && n < body.size()) ec = json::error::extra_data;
  if (ec || !p.handler().root_is_object) {
    *error = "unparsable JSON answer: " + body.substr(0, 200);
    return false;
  }
  return true;
}

// The first entry of a batch answer's Failed list, as JSON. Rare, so a DOM.
std::string first_failure(const Response& res) {
  json::value v;
  std::string ignored;
  if (parse_json(res, &v, &ignored)) {
    const auto* f = v.as_object().if_contains("Failed");
    if (f && f->is_array() && !f->as_array().empty()) return json::serialize(f->as_array()[0]);
  }
  return "?";
}

void append_number(std::string& out, uint64_t n) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
}

// Appends `&<list>.<n>.<field>=` (a batch entry's form parameter; n counts from 1).
void add_entry_param(std::string& body, std::string_view list, size_t n, std::string_view field) {
  body.push_back('&');
  body.append(list);
  body.push_back('.');
  append_number(body, n);
  body.push_back('.');
  body.append(field);
  body.push_back('=');
}

}  // namespace

Request SqsWire::base_request() const {
  Request req{http::verb::post, "/", 11};
  req.set(http::field::host, host_);
  req.set(http::field::content_type, protocol_ == Protocol::kJson
                                         ? "application/x-amz-json-1.0"
                                         : "application/x-www-form-urlencoded; charset=utf-8");
  req.set(http::field::authorization, authorization("sqs"));
  req.set("X-Amz-Date", "20260101T000000Z");
  req.set(http::field::user_agent, "ferry-bench");
  req.keep_alive(true);
  return req;
}

// The body is built in place, appending to the request's own string: Connection::call() writes
// the Content-Length.
std::string& SqsWire::start(Request& req, std::string_view action) const {
  std::string& body = req.body();
  body.clear();
  if (protocol_ == Protocol::kJson) {
    // Set only when it changes (a worker sends one action after another): set() allocates.
    static constexpr std::string_view kPrefix = "AmazonSQS.";
    auto it = req.find("X-Amz-Target");
    std::string_view target = it == req.end()
                                  ? std::string_view()
                                  : std::string_view(it->value().data(), it->value().size());
    if (!target.starts_with(kPrefix) || target.substr(kPrefix.size()) != action) {
      req.set("X-Amz-Target", std::string(kPrefix).append(action));
    }
  } else {
    body.append("Action=").append(action).append("&Version=2012-11-05");
  }
  return body;
}

void SqsWire::create_queue(Request& req, std::string_view name, bool fifo) const {
  std::string& body = start(req, "CreateQueue");
  if (protocol_ == Protocol::kJson) {
    body.append("{\"QueueName\":");
    append_json_quoted(body, name);
    if (fifo) body.append(",\"Attributes\":{\"FifoQueue\":\"true\"}");
    body.push_back('}');
  } else {
    add_form_param(body, "QueueName", name);
    if (fifo) body.append("&Attribute.1.Name=FifoQueue&Attribute.1.Value=true");
  }
}

void SqsWire::delete_queue(Request& req, std::string_view queue_url) const {
  std::string& body = start(req, "DeleteQueue");
  if (protocol_ == Protocol::kJson) {
    body.append("{\"QueueUrl\":");
    append_json_quoted(body, queue_url);
    body.push_back('}');
  } else {
    add_form_param(body, "QueueUrl", queue_url);
  }
}

void SqsWire::queue_depth(Request& req, std::string_view queue_url) const {
  std::string& body = start(req, "GetQueueAttributes");
  if (protocol_ == Protocol::kJson) {
    body.append("{\"QueueUrl\":");
    append_json_quoted(body, queue_url);
    body.append(
        ",\"AttributeNames\":[\"ApproximateNumberOfMessages\","
        "\"ApproximateNumberOfMessagesNotVisible\"]}");
  } else {
    add_form_param(body, "QueueUrl", queue_url);
    body.append(
        "&AttributeName.1=ApproximateNumberOfMessages"
        "&AttributeName.2=ApproximateNumberOfMessagesNotVisible");
  }
}

void SqsWire::queue_arn(Request& req, std::string_view queue_url) const {
  std::string& body = start(req, "GetQueueAttributes");
  if (protocol_ == Protocol::kJson) {
    body.append("{\"QueueUrl\":");
    append_json_quoted(body, queue_url);
    body.append(",\"AttributeNames\":[\"QueueArn\"]}");
  } else {
    add_form_param(body, "QueueUrl", queue_url);
    body.append("&AttributeName.1=QueueArn");
  }
}

void SqsWire::send(Request& req, std::string_view queue_url, const GeneratedBody& message,
                   const FifoIds* fifo) const {
  std::string& body = start(req, "SendMessage");
  body.reserve(body.size() + message.size + queue_url.size() + 160);
  if (protocol_ == Protocol::kJson) {
    body.append("{\"QueueUrl\":");
    append_json_quoted(body, queue_url);
    body.append(",\"MessageBody\":\"");
    append_body(body, message.size, message.intended, message.seq);
    body.push_back('"');
    if (fifo) {
      body.append(",\"MessageGroupId\":");
      append_json_quoted(body, fifo->group);
      body.append(",\"MessageDeduplicationId\":");
      append_json_quoted(body, fifo->dedup);
    }
    body.push_back('}');
  } else {
    add_form_param(body, "QueueUrl", queue_url);
    body.append("&MessageBody=");
    append_body(body, message.size, message.intended, message.seq);
    if (fifo) {
      add_form_param(body, "MessageGroupId", fifo->group);
      add_form_param(body, "MessageDeduplicationId", fifo->dedup);
    }
  }
}

void SqsWire::send_batch(Request& req, std::string_view queue_url,
                         std::span<const GeneratedBody> messages,
                         const std::vector<FifoIds>* fifo) const {
  std::string& body = start(req, "SendMessageBatch");
  size_t size = queue_url.size() + 64;
  for (const auto& m : messages) size += m.size + 160;
  body.reserve(body.size() + size);
  if (protocol_ == Protocol::kJson) {
    body.append("{\"QueueUrl\":");
    append_json_quoted(body, queue_url);
    body.append(",\"Entries\":[");
    for (size_t i = 0; i < messages.size(); ++i) {
      if (i) body.push_back(',');
      body.append("{\"Id\":\"m");
      append_number(body, i);
      body.append("\",\"MessageBody\":\"");
      append_body(body, messages[i].size, messages[i].intended, messages[i].seq);
      body.push_back('"');
      if (fifo) {
        body.append(",\"MessageGroupId\":");
        append_json_quoted(body, (*fifo)[i].group);
        body.append(",\"MessageDeduplicationId\":");
        append_json_quoted(body, (*fifo)[i].dedup);
      }
      body.push_back('}');
    }
    body.append("]}");
  } else {
    static constexpr std::string_view kEntry = "SendMessageBatchRequestEntry";
    add_form_param(body, "QueueUrl", queue_url);
    for (size_t i = 0; i < messages.size(); ++i) {
      add_entry_param(body, kEntry, i + 1, "Id");
      body.push_back('m');
      append_number(body, i);
      add_entry_param(body, kEntry, i + 1, "MessageBody");
      append_body(body, messages[i].size, messages[i].intended, messages[i].seq);
      if (fifo) {
        add_entry_param(body, kEntry, i + 1, "MessageGroupId");
        append_form_encoded(body, (*fifo)[i].group);
        add_entry_param(body, kEntry, i + 1, "MessageDeduplicationId");
        append_form_encoded(body, (*fifo)[i].dedup);
      }
    }
  }
}

void SqsWire::receive(Request& req, std::string_view queue_url, int max, int wait_seconds) const {
  std::string& body = start(req, "ReceiveMessage");
  std::string max_text = std::to_string(max), wait_text = std::to_string(wait_seconds);
  if (protocol_ == Protocol::kJson) {
    body.append("{\"QueueUrl\":");
    append_json_quoted(body, queue_url);
    body.append(",\"MaxNumberOfMessages\":").append(max_text);
    body.append(",\"WaitTimeSeconds\":").append(wait_text).append("}");
  } else {
    add_form_param(body, "QueueUrl", queue_url);
    add_form_param(body, "MaxNumberOfMessages", max_text);
    add_form_param(body, "WaitTimeSeconds", wait_text);
  }
}

void SqsWire::delete_batch(Request& req, std::string_view queue_url,
                           const std::vector<ReceivedMessage>& messages) const {
  std::string& body = start(req, "DeleteMessageBatch");
  if (protocol_ == Protocol::kJson) {
    body.append("{\"QueueUrl\":");
    append_json_quoted(body, queue_url);
    body.append(",\"Entries\":[");
    for (size_t i = 0; i < messages.size(); ++i) {
      if (i) body.push_back(',');
      body.append("{\"Id\":\"d");
      append_number(body, i);
      body.append("\",\"ReceiptHandle\":");
      append_json_quoted(body, messages[i].receipt_handle);
      body.push_back('}');
    }
    body.append("]}");
  } else {
    static constexpr std::string_view kEntry = "DeleteMessageBatchRequestEntry";
    add_form_param(body, "QueueUrl", queue_url);
    for (size_t i = 0; i < messages.size(); ++i) {
      add_entry_param(body, kEntry, i + 1, "Id");
      body.push_back('d');
      append_number(body, i);
      add_entry_param(body, kEntry, i + 1, "ReceiptHandle");
      append_form_encoded(body, messages[i].receipt_handle);
    }
  }
}

bool SqsWire::parse_queue_url(const Response& res, std::string* url, std::string* error) const {
  if (protocol_ == Protocol::kJson) {
    json::value v;
    if (!parse_json(res, &v, error)) return false;
    auto* u = v.as_object().if_contains("QueueUrl");
    if (!u || !u->is_string()) {
      *error = "no QueueUrl in " + res.body().substr(0, 200);
      return false;
    }
    *url = std::string(u->as_string());
    return true;
  }
  size_t pos = 0;
  std::string_view text;
  if (!xml_element(res.body(), "QueueUrl", &pos, &text)) {
    *error = "no QueueUrl in " + res.body().substr(0, 200);
    return false;
  }
  *url = xml_unescape(text);
  return true;
}

bool SqsWire::parse_batch_failures(const Response& res, size_t* failed, std::string* error) const {
  *failed = 0;
  if (protocol_ == Protocol::kJson) {
    AnswerParser p(json::parse_options(), nullptr);
    if (!parse_answer(res, p, error)) return false;
    *failed = p.handler().failed;
    if (*failed > 0) *error = "batch entry failed: " + first_failure(res);
    return true;
  }
  std::string_view doc = res.body();
  size_t pos = 0;
  std::string_view text;
  while (xml_element(doc, "BatchResultErrorEntry", &pos, &text)) {
    if (*failed == 0) *error = "batch entry failed: " + std::string(text.substr(0, 200));
    ++*failed;
  }
  return true;
}

bool SqsWire::parse_messages(const Response& res, std::vector<ReceivedMessage>* out,
                             std::string* error) const {
  if (protocol_ == Protocol::kJson) {
    AnswerParser p(json::parse_options(), out);
    bool ok = parse_answer(res, p, error);
    const AnswerHandler& h = p.handler();
    if (ok && h.messages_not_list) {
      *error = "Messages is not a list";
      ok = false;
    } else if (ok && h.incomplete_message) {
      *error = "message without ReceiptHandle or Body";
      ok = false;
    }
    out->resize(ok ? h.message_count : 0);
    return ok;
  }
  out->clear();
  std::string_view doc = res.body();
  size_t pos = 0;
  std::string_view message;
  while (xml_element(doc, "Message", &pos, &message)) {
    size_t p = 0;
    std::string_view handle, body;
    if (!xml_element(message, "ReceiptHandle", &p, &handle)) {
      *error = "message without ReceiptHandle";
      return false;
    }
    p = 0;
    if (!xml_element(message, "Body", &p, &body)) {
      *error = "message without Body";
      return false;
    }
    out->push_back({xml_unescape(handle), xml_unescape(body)});
  }
  return true;
}

bool SqsWire::parse_depth(const Response& res, int64_t* depth, std::string* error) const {
  *depth = 0;
  auto add = [&](std::string_view value) {
    try {
      *depth += std::stoll(std::string(value));
      return true;
    } catch (const std::exception&) {
      *error = "bad attribute value " + std::string(value);
      return false;
    }
  };
  if (protocol_ == Protocol::kJson) {
    json::value v;
    if (!parse_json(res, &v, error)) return false;
    auto* attrs = v.as_object().if_contains("Attributes");
    if (!attrs || !attrs->is_object()) {
      *error = "no Attributes in " + res.body().substr(0, 200);
      return false;
    }
    for (const auto& [k, val] : attrs->as_object()) {
      if (val.is_string() && !add(val.as_string())) return false;
    }
    return true;
  }
  std::string_view doc = res.body();
  size_t pos = 0;
  std::string_view attr;
  while (xml_element(doc, "Attribute", &pos, &attr)) {
    size_t p = 0;
    std::string_view value;
    if (xml_element(attr, "Value", &p, &value) && !add(value)) return false;
  }
  return true;
}

bool SqsWire::parse_queue_arn(const Response& res, std::string* arn, std::string* error) const {
  if (protocol_ == Protocol::kJson) {
    json::value v;
    if (!parse_json(res, &v, error)) return false;
    const auto* attrs = v.as_object().if_contains("Attributes");
    const json::value* a =
        attrs && attrs->is_object() ? attrs->as_object().if_contains("QueueArn") : nullptr;
    if (!a || !a->is_string()) {
      *error = "no QueueArn in " + res.body().substr(0, 200);
      return false;
    }
    *arn = std::string(a->as_string());
    return true;
  }
  std::string_view doc = res.body();
  size_t pos = 0;
  std::string_view attr;
  while (xml_element(doc, "Attribute", &pos, &attr)) {
    size_t p = 0;
    std::string_view name, value;
    if (xml_element(attr, "Name", &p, &name) && name == "QueueArn" &&
        xml_element(attr, "Value", &p, &value)) {
      *arn = xml_unescape(value);
      return true;
    }
  }
  *error = "no QueueArn in " + res.body().substr(0, 200);
  return false;
}

}  // namespace ferry::bench
