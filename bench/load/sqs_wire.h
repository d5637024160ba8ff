#pragma once
// The SQS wire protocols as a client speaks them: AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Action>`)
// and Query (form body in, XML out). Builds request bodies and picks answers apart; no I/O.
#include <boost/beast/http.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench.h"

namespace ferry::bench {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct ReceivedMessage {
  std::string receipt_handle;
  std::string body;
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
  // fifo: may be null for a standard queue.
  void send(Request& req, std::string_view queue_url, std::string_view body,
            const FifoIds* fifo) const;
  void send_batch(Request& req, std::string_view queue_url, const std::vector<std::string>& bodies,
                  const std::vector<FifoIds>* fifo) const;
  void receive(Request& req, std::string_view queue_url, int max, int wait_seconds) const;
  void delete_batch(Request& req, std::string_view queue_url,
                    const std::vector<ReceivedMessage>& messages) const;

  // Answers. Each returns false (and says why in *error) when the answer is not what it expects.
  bool parse_queue_url(const Response& res, std::string* url, std::string* error) const;
  // Entries in the Failed list of a batch answer.
  bool parse_batch_failures(const Response& res, size_t* failed, std::string* error) const;
  bool parse_messages(const Response& res, std::vector<ReceivedMessage>* out,
                      std::string* error) const;
  // ApproximateNumberOfMessages + ApproximateNumberOfMessagesNotVisible.
  bool parse_depth(const Response& res, int64_t* depth, std::string* error) const;

 private:
  void finish(Request& req, std::string_view action, std::string body) const;
  Protocol protocol_;
  std::string host_;
};

}  // namespace ferry::bench
