#pragma once
// Routes an HTTP request to a service and action, decodes its wire protocol into an AwsRequest,
// and encodes the service's answer (or error) the way that protocol does.
//
// A request is routed by X-Amz-Target (JSON protocols), else by Action= (Query protocol, body or
// query string) with the service taken from the SigV4 credential scope, the Version parameter,
// a queue-URL path (/<account>/<queue>) or, last, whichever service has that action.
// Owned by server/; route() is called on connection strands concurrently.
#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "aws/auth.h"
#include "aws/service.h"
#include "http/server.h"

namespace ferry::aws {

class Router {
 public:
  explicit Router(const Authenticator& auth) : auth_(auth) {}
  // `name` is the SigV4 signing name ("sqs"); services are tried in registration order.
  void add(std::string name, Service& service);
  // Also routes X-Amz-Target `<prefix>.<Action>` (AWS JSON 1.0) to a Query-native service, for
  // SDKs that speak JSON to it; its errors then carry the Query code in x-amzn-query-error.
  void add_json_target(std::string prefix, Service& service);

  // A whole response, or for an event-stream action (SubscribeToShard) a streamed one.
  boost::asio::awaitable<http::Reply> route(http::Request& request);

 private:
  struct Entry {
    std::string name;
    Service* service;
  };
  Service* by_target_prefix(std::string_view prefix) const;
  Service* for_query(const Caller& caller, std::string_view version, std::string_view path,
                     std::string_view action) const;

  const Authenticator& auth_;
  std::vector<Entry> services_;
  std::vector<Entry> json_targets_;  // name: the X-Amz-Target prefix
};

}  // namespace ferry::aws
