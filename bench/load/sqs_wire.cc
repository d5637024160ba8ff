#include "sqs_wire.h"

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace ferry::bench {

namespace json = boost::json;

std::string form_encode(std::string_view s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}

std::string json_quote(std::string_view s) { return json::serialize(json::string_view(s)); }

void add_form_param(std::string& body, std::string_view name, std::string_view value) {
  if (!body.empty()) body.push_back('&');
  body.append(name);
  body.push_back('=');
  body.append(form_encode(value));
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

std::string quote(std::string_view s) { return json_quote(s); }

void add_param(std::string& body, std::string_view name, std::string_view value) {
  add_form_param(body, name, value);
}

// Parses into out's storage (see Scratch).
bool parse_json(const Response& res, json::value* out, std::string* error) {
  boost::system::error_code ec;
  *out = json::parse(res.body(), ec, out->storage());
  if (ec || !out->is_object()) {
    *error = "unparsable JSON answer: " + res.body().substr(0, 200);
    return false;
  }
  return true;
}

// Memory for one answer's DOM: a stack buffer, then bigger blocks, all freed at once. The
// hot answers (ReceiveMessage, batch results) were a malloc and a free per string and object,
// a sixth of the client's CPU in the cycle scenario. Declare it before the value it backs.
class Scratch {
 public:
  json::storage_ptr storage() { return &resource_; }

 private:
  unsigned char buffer_[16384];
  json::monotonic_resource resource_{buffer_, sizeof buffer_};
};

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

void SqsWire::finish(Request& req, std::string_view action, std::string body) const {
  if (protocol_ == Protocol::kJson) {
    req.set("X-Amz-Target", "AmazonSQS." + std::string(action));
  } else {
    std::string form_body = "Action=" + std::string(action) + "&Version=2012-11-05";
    if (!body.empty()) form_body += "&" + body;
    body = std::move(form_body);
  }
  req.body() = std::move(body);
  req.prepare_payload();
}

void SqsWire::create_queue(Request& req, std::string_view name, bool fifo) const {
  std::string body;
  if (protocol_ == Protocol::kJson) {
    body = "{\"QueueName\":" + quote(name);
    if (fifo) body += ",\"Attributes\":{\"FifoQueue\":\"true\"}";
    body += "}";
  } else {
    add_param(body, "QueueName", name);
    if (fifo) body += "&Attribute.1.Name=FifoQueue&Attribute.1.Value=true";
  }
  finish(req, "CreateQueue", std::move(body));
}

void SqsWire::delete_queue(Request& req, std::string_view queue_url) const {
  std::string body;
  if (protocol_ == Protocol::kJson) {
    body = "{\"QueueUrl\":" + quote(queue_url) + "}";
  } else {
    add_param(body, "QueueUrl", queue_url);
  }
  finish(req, "DeleteQueue", std::move(body));
}

void SqsWire::queue_depth(Request& req, std::string_view queue_url) const {
  std::string body;
  if (protocol_ == Protocol::kJson) {
    body = "{\"QueueUrl\":" + quote(queue_url) +
           ",\"AttributeNames\":[\"ApproximateNumberOfMessages\","
           "\"ApproximateNumberOfMessagesNotVisible\"]}";
  } else {
    add_param(body, "QueueUrl", queue_url);
    body +=
        "&AttributeName.1=ApproximateNumberOfMessages"
        "&AttributeName.2=ApproximateNumberOfMessagesNotVisible";
  }
  finish(req, "GetQueueAttributes", std::move(body));
}

void SqsWire::queue_arn(Request& req, std::string_view queue_url) const {
  std::string body;
  if (protocol_ == Protocol::kJson) {
    body = "{\"QueueUrl\":" + quote(queue_url) + ",\"AttributeNames\":[\"QueueArn\"]}";
  } else {
    add_param(body, "QueueUrl", queue_url);
    body += "&AttributeName.1=QueueArn";
  }
  finish(req, "GetQueueAttributes", std::move(body));
}

void SqsWire::send(Request& req, std::string_view queue_url, std::string_view message,
                   const FifoIds* fifo) const {
  std::string body;
  if (protocol_ == Protocol::kJson) {
    body.reserve(message.size() + queue_url.size() + 64);
    body = "{\"QueueUrl\":" + quote(queue_url) + ",\"MessageBody\":" + quote(message);
    if (fifo) {
      body += ",\"MessageGroupId\":" + quote(fifo->group) +
              ",\"MessageDeduplicationId\":" + quote(fifo->dedup);
    }
    body += "}";
  } else {
    add_param(body, "QueueUrl", queue_url);
    add_param(body, "MessageBody", message);
    if (fifo) {
      add_param(body, "MessageGroupId", fifo->group);
      add_param(body, "MessageDeduplicationId", fifo->dedup);
    }
  }
  finish(req, "SendMessage", std::move(body));
}

void SqsWire::send_batch(Request& req, std::string_view queue_url,
                         const std::vector<std::string>& messages,
                         const std::vector<FifoIds>* fifo) const {
  std::string body;
  if (protocol_ == Protocol::kJson) {
    body = "{\"QueueUrl\":" + quote(queue_url) + ",\"Entries\":[";
    for (size_t i = 0; i < messages.size(); ++i) {
      if (i) body += ",";
      body += "{\"Id\":\"m" + std::to_string(i) + "\",\"MessageBody\":" + quote(messages[i]);
      if (fifo) {
        body += ",\"MessageGroupId\":" + quote((*fifo)[i].group) +
                ",\"MessageDeduplicationId\":" + quote((*fifo)[i].dedup);
      }
      body += "}";
    }
    body += "]}";
  } else {
    add_param(body, "QueueUrl", queue_url);
    for (size_t i = 0; i < messages.size(); ++i) {
      std::string prefix = "SendMessageBatchRequestEntry." + std::to_string(i + 1) + ".";
      add_param(body, prefix + "Id", "m" + std::to_string(i));
      add_param(body, prefix + "MessageBody", messages[i]);
      if (fifo) {
        add_param(body, prefix + "MessageGroupId", (*fifo)[i].group);
        add_param(body, prefix + "MessageDeduplicationId", (*fifo)[i].dedup);
      }
    }
  }
  finish(req, "SendMessageBatch", std::move(body));
}

void SqsWire::receive(Request& req, std::string_view queue_url, int max, int wait_seconds) const {
  std::string body;
  if (protocol_ == Protocol::kJson) {
    body = "{\"QueueUrl\":" + quote(queue_url) + ",\"MaxNumberOfMessages\":" + std::to_string(max) +
           ",\"WaitTimeSeconds\":" + std::to_string(wait_seconds) + "}";
  } else {
    add_param(body, "QueueUrl", queue_url);
    add_param(body, "MaxNumberOfMessages", std::to_string(max));
    add_param(body, "WaitTimeSeconds", std::to_string(wait_seconds));
  }
  finish(req, "ReceiveMessage", std::move(body));
}

void SqsWire::delete_batch(Request& req, std::string_view queue_url,
                           const std::vector<ReceivedMessage>& messages) const {
  std::string body;
  if (protocol_ == Protocol::kJson) {
    body = "{\"QueueUrl\":" + quote(queue_url) + ",\"Entries\":[";
    for (size_t i = 0; i < messages.size(); ++i) {
      if (i) body += ",";
      body += "{\"Id\":\"d" + std::to_string(i) +
              "\",\"ReceiptHandle\":" + quote(messages[i].receipt_handle) + "}";
    }
    body += "]}";
  } else {
    add_param(body, "QueueUrl", queue_url);
    for (size_t i = 0; i < messages.size(); ++i) {
      std::string prefix = "DeleteMessageBatchRequestEntry." + std::to_string(i + 1) + ".";
      add_param(body, prefix + "Id", "d" + std::to_string(i));
      add_param(body, prefix + "ReceiptHandle", messages[i].receipt_handle);
    }
  }
  finish(req, "DeleteMessageBatch", std::move(body));
}

bool SqsWire::parse_queue_url(const Response& res, std::string* url, std::string* error) const {
  if (protocol_ == Protocol::kJson) {
    Scratch scratch;
    json::value v(scratch.storage());
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
    Scratch scratch;
    json::value v(scratch.storage());
    if (!parse_json(res, &v, error)) return false;
    if (auto* f = v.as_object().if_contains("Failed"); f && f->is_array()) {
      *failed = f->as_array().size();
      if (*failed > 0) *error = "batch entry failed: " + json::serialize(f->as_array()[0]);
    }
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
  out->clear();
  if (protocol_ == Protocol::kJson) {
    Scratch scratch;
    json::value v(scratch.storage());
    if (!parse_json(res, &v, error)) return false;
    auto* messages = v.as_object().if_contains("Messages");
    if (!messages) return true;
    if (!messages->is_array()) {
      *error = "Messages is not a list";
      return false;
    }
    for (const auto& m : messages->as_array()) {
      const auto* obj = m.if_object();
      const json::value* handle = obj ? obj->if_contains("ReceiptHandle") : nullptr;
      const json::value* body = obj ? obj->if_contains("Body") : nullptr;
      if (!handle || !handle->is_string() || !body || !body->is_string()) {
        *error = "message without ReceiptHandle or Body";
        return false;
      }
      out->push_back({std::string(handle->as_string()), std::string(body->as_string())});
    }
    return true;
  }
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
    Scratch scratch;
    json::value v(scratch.storage());
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
    Scratch scratch;
    json::value v(scratch.storage());
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
