#pragma once
// The SQS wire protocols as a client speaks them: AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Action>`)
// and Query (form body in, XML out). Builds request bodies and picks answers apart; no I/O.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench.h"
#include "http_client.h"

namespace ferry::bench {

// Helpers the Query-protocol wires (SQS, SNS) share.
// Appends `&name=value` (value percent-encoded: everything but RFC 3986 unreserved characters)
// to a form body.
void add_form_param(std::string& body, std::string_view name, std::string_view value);
// XML text between <tag> and </tag> starting at *pos; advances *pos past it.
bool xml_element(std::string_view doc, std::string_view tag, size_t* pos, std::string_view* out);
std::string xml_unescape(std::string_view s);
// A JSON string literal.
std::string json_quote(std::string_view s);
// Appends json_quote(s) to out.
void append_json_quoted(std::string& out, std::string_view s);

struct ReceivedMessage {
  std::string receipt_handle;
  std::string body;
};

// A message body as make_body(size, intended, seq) makes it. The wire writes it straight into
// the request: it needs no escaping, so it is neither copied nor scanned on the way.
struct GeneratedBody {
  size_t size;
  Clock::time_point intended;
  uint64_t seq;
};

struct FifoIds {
  std::string group;
  std::string dedup;
};

class SqsWire {
 public:
  SqsWire(Protocol protocol, std::string host) : protocol_(protocol), host_(std::move(host)) {}

  // A request with the headers every call shares (a fixed, unsigned SigV4 credential).
  Request base_request() const;

  void create_queue(Request& req, std::string_view name, bool fifo) const;
  void delete_queue(Request& req, std::string_view queue_url) const;
  void queue_depth(Request& req, std::string_view queue_url) const;
  void queue_arn(Request& req, std::string_view queue_url) const;
  // fifo: may be null for a standard queue.
  void send(Request& req, std::string_view queue_url, const GeneratedBody& body,
            const FifoIds* fifo) const;
  void send_batch(Request& req, std::string_view queue_url, std::span<const GeneratedBody> bodies,
                  const std::vector<FifoIds>* fifo) const;
  void receive(Request& req, std::string_view queue_url, int max, int wait_seconds) const;
  void delete_batch(Request& req, std::string_view queue_url,
                    const std::vector<ReceivedMessage>& messages) const;

  // Answers. Each returns false (and says why in *error) when the answer is not what it expects.
  bool parse_queue_url(const Response& res, std::string* url, std::string* error) const;
  // Entries in the Failed list of a batch answer; the first one is described in *error.
  bool parse_batch_failures(const Response& res, size_t* failed, std::string* error) const;
  // The messages of a ReceiveMessage answer. Reuses the strings *out already holds.
  bool parse_messages(const Response& res, std::vector<ReceivedMessage>* out,
                      std::string* error) const;
  // ApproximateNumberOfMessages + ApproximateNumberOfMessagesNotVisible.
  bool parse_depth(const Response& res, int64_t* depth, std::string* error) const;
  bool parse_queue_arn(const Response& res, std::string* arn, std::string* error) const;

 private:
  // Empties req's body (keeping its capacity) and starts it, or the X-Amz-Target, for `action`.
  std::string& start(Request& req, std::string_view action) const;
  Protocol protocol_;
  std::string host_;
};

}  // namespace ferry::bench
