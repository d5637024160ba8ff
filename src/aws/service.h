#pragma once
// What the router hands a service, and what a service answers: protocol-neutral requests and
// results. Inputs and outputs are JSON-protocol-shaped objects (member names from the service
// model); the router translates the Query protocol to and from that shape.
#include <any>
#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "aws/auth.h"
#include "base/result.h"
#include "http/server.h"

namespace ferry::aws {

class ServiceModel;

enum class Protocol { kJson10, kJson11, kQuery, kCbor11 };

struct AwsRequest {
  Protocol protocol = Protocol::kJson10;
  std::string action;
  boost::json::object input;
  Caller caller;
  std::string request_id;
  std::string host;  // Host header, used to build URLs such as QueueUrl
  std::string path;  // request path without query string (Query protocol may address a queue)
  // Set by an action that writes its own JSON answer (JSON protocols only, for answers too big
  // to build as a DOM cheaply); the router sends it instead of the result object.
  std::string json_body;
  // What the service's decode_json_fast() took from the body, in the service's own type; then
  // `input` stays empty. Empty when the router parsed the body.
  std::any fast_input;
  // Set by an action that answers with an event stream (SubscribeToShard): the router sends the
  // action's result as the `initial-response` event, then this writes the next events (AWS
  // event-stream messages, aws/event_stream.h) until the stream ends.
  http::BodyProducer event_stream;
};

// An error as AWS puts it on the wire.
struct AwsError {
  std::string code;  // JSON __type suffix and Query code when query_code is empty
  std::string message;
  int http_status = 400;
  bool sender_fault = true;
  std::string query_code;  // e.g. "AWS.SimpleQueueService.NonExistentQueue"
  std::string json_type;   // full JSON __type when it is not "<service namespace>#<code>"

  const std::string& wire_query_code() const { return query_code.empty() ? code : query_code; }
};

using ActionResult = base::Result<boost::json::object, AwsError>;

inline base::Unexpected<AwsError> aws_error(std::string code, std::string message,
                                            int http_status = 400) {
  return {AwsError{std::move(code), std::move(message), http_status, http_status < 500, {}, {}}};
}

// A service plugged into the router (SQS, later SNS, Kinesis, ...). Owned by server/; handle()
// runs on the connection's strand and may suspend.
class Service {
 public:
  virtual ~Service() = default;
  virtual const ServiceModel& model() const = 0;
  // Namespace of the JSON __type of errors, e.g. "com.amazonaws.sqs".
  virtual std::string_view error_namespace() const = 0;
  virtual boost::asio::awaitable<ActionResult> handle(AwsRequest& request) = 0;
  // Query requests may carry parameters in the path (SQS: POST /<account>/<queue>); called
  // after decoding, before validation.
  virtual void adopt_query_path(AwsRequest& /*request*/) const {}
  // JSON protocols: a service may decode a hot action's body itself, into request.fast_input,
  // skipping the parse into a DOM and its validation. False leaves the body to the router,
  // whose parse and validation then give every error.
  virtual bool decode_json_fast(AwsRequest& /*request*/, std::string_view /*body*/) const {
    return false;
  }
};

}  // namespace ferry::aws
