#include "aws/router.h"

#include <boost/url/parse.hpp>
#include <chrono>

#include "aws/cbor.h"
#include "aws/event_stream.h"
#include "aws/json_validate.h"
#include "aws/model.h"
#include "aws/query.h"
#include "base/crypto.h"
#include "base/log.h"

namespace ferry::aws {

namespace bhttp = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kJson10 = "application/x-amz-json-1.0";
constexpr std::string_view kJson11 = "application/x-amz-json-1.1";
constexpr std::string_view kCbor11 = "application/x-amz-cbor-1.1";

std::string json_type(const Service* service, const AwsError& e) {
  if (!e.json_type.empty()) return e.json_type;
  if (service == nullptr) return e.code;
  return std::string(service->error_namespace()) + "#" + e.code;
}

// A service whose errors follow Coral's JSON conventions (Kinesis), not the Query protocol's
// (SQS is awsQueryCompatible; SNS is Query-native).
bool json_native(const Service* service) {
  return service != nullptr && !service->model().aws_query_compatible() &&
         service->model().protocol() != "query";
}

// JSON-native services spell the member "Message" in Coral's SerializationException; every
// other error uses "message".
std::string_view message_key(const Service* service, const AwsError& e) {
  return json_native(service) && e.json_type == kSerializationExceptionType ? "Message" : "message";
}

http::Response finish(const http::Request& req, http::Response res, const std::string& request_id) {
  res.set("x-amzn-RequestId", request_id);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

http::Response encode_error(const http::Request& req, Protocol protocol, const Service* service,
                            const AwsError& e, const std::string& request_id) {
  http::Response res{static_cast<bhttp::status>(e.http_status), req.version()};
  res.set(bhttp::field::server, "ferry");
  if (protocol == Protocol::kQuery) {
    res.set(bhttp::field::content_type, "text/xml");
    const char* type = e.sender_fault ? "Sender" : "Receiver";
    res.body() =
        service != nullptr
            ? encode_query_error(service->model(), type, e.wire_query_code(), e.message, request_id)
            : encode_query_error(type, e.wire_query_code(), e.message, request_id);
  } else if (protocol == Protocol::kCbor11) {
    res.set(bhttp::field::content_type, kCbor11);
    json::object body;
    body["__type"] = json_type(service, e);
    if (!e.message.empty()) body[message_key(service, e)] = e.message;
    res.body() = cbor_encode(body);
  } else {
    res.set(bhttp::field::content_type, protocol == Protocol::kJson11 ? kJson11 : kJson10);
    // awsQueryCompatible services (SQS), and Query-native ones answering JSON, also carry the Query
    // error code in a header, which the SDKs prefer over __type.
    if (service != nullptr && !json_native(service) && e.code != "UnknownOperationException") {
      res.set("x-amzn-query-error",
              e.wire_query_code() + (e.sender_fault ? ";Sender" : ";Receiver"));
    }
    json::object body;
    body["__type"] = json_type(service, e);
    if (!e.message.empty()) body[message_key(service, e)] = e.message;
    res.body() = json::serialize(body);
  }
  return finish(req, std::move(res), request_id);
}

// Splits "a=b&c=d" query strings and form bodies alike.
// The headers the router reads, found in one walk over the request's fields: each lookup by
// name descends Beast's case-insensitive tree of them (~450 instructions).
struct RoutingHeaders {
  std::string_view host;
  std::string_view content_type;
  std::string_view authorization;
  std::string_view amz_target;
};

RoutingHeaders routing_headers(const http::Request& req) {
  RoutingHeaders h;
  auto first = [](std::string_view& slot, std::string_view value) {
    if (slot.data() == nullptr) slot = value;  // as req[name]: the first of repeated fields
  };
  for (const auto& f : req) {
    switch (f.name()) {
      case bhttp::field::host:
        first(h.host, f.value());
        break;
      case bhttp::field::content_type:
        first(h.content_type, f.value());
        break;
      case bhttp::field::authorization:
        first(h.authorization, f.value());
        break;
      case bhttp::field::unknown:
        if (boost::beast::iequals(f.name_string(), "X-Amz-Target")) first(h.amz_target, f.value());
        break;
      default:
        break;
    }
  }
  return h;
}

base::Result<std::vector<std::pair<std::string, std::string>>, ProtocolError> form_params(
    const http::Request& req, std::string_view content_type) {
  std::vector<std::pair<std::string, std::string>> params;
  std::string_view target = req.target();
  if (auto q = target.find('?'); q != std::string_view::npos) {
    auto parsed = parse_form(target.substr(q + 1));
    if (!parsed) return base::fail(parsed.error());
    params = std::move(parsed.value());
  }
  if (!req.body().empty() &&
      (content_type.empty() ||
       content_type.find("application/x-www-form-urlencoded") != std::string_view::npos)) {
    auto parsed = parse_form(req.body());
    if (!parsed) return base::fail(parsed.error());
    for (auto& p : parsed.value()) params.push_back(std::move(p));
  }
  return params;
}

std::string_view param(const std::vector<std::pair<std::string, std::string>>& params,
                       std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return {};
}

AwsError from_protocol(const ProtocolError& e) {
  return AwsError{e.code, e.message, e.http_status, e.http_status < 500, {}, e.json_type};
}

// An event-stream answer: 200 with application/vnd.amazon.eventstream, the action's result as
// the initial-response event (a JSON payload, or CBOR for CBOR clients, as the service's own
// events are), then the events the service writes.
http::Reply event_stream_reply(const http::Request& req, AwsRequest& request,
                               const Operation& operation, const json::object& initial) {
  http::Response head{bhttp::status::ok, req.version()};
  head.set(bhttp::field::server, "ferry");
  head.set(bhttp::field::content_type, "application/vnd.amazon.eventstream");
  head.set("x-amzn-RequestId", request.request_id);
  std::string first =
      request.protocol == Protocol::kCbor11
          ? encode_event("initial-response", kCbor11, encode_cbor_output(operation, initial))
          : encode_event("initial-response", "application/json", json::serialize(initial));
  http::BodyProducer events = std::move(request.event_stream);
  return http::Reply(std::move(head),
                     [first = std::move(first), events = std::move(events)](
                         http::BodyWriter& writer) -> boost::asio::awaitable<void> {
                       if (co_await writer.write(first)) co_await events(writer);
                     });
}

}  // namespace

void Router::add(std::string name, Service& service) {
  services_.push_back({std::move(name), &service});
}

void Router::add_json_target(std::string prefix, Service& service) {
  json_targets_.push_back({std::move(prefix), &service});
}

Service* Router::by_target_prefix(std::string_view prefix) const {
  for (const auto& e : services_) {
    if (e.service->model().target_prefix() == prefix) return e.service;
  }
  for (const auto& e : json_targets_) {
    if (e.name == prefix) return e.service;
  }
  return nullptr;
}

Service* Router::for_query(const Caller& caller, std::string_view version, std::string_view path,
                           std::string_view action) const {
  for (const auto& e : services_) {
    if (!caller.service.empty() && e.name == caller.service) return e.service;
  }
  for (const auto& e : services_) {
    if (!version.empty() && e.service->model().api_version() == version) return e.service;
  }
  // /<12-digit account>/<queue name> addresses an SQS queue.
  if (path.size() > 14 && path[0] == '/' && path[13] == '/') {
    for (const auto& e : services_) {
      if (e.name == "sqs") return e.service;
    }
  }
  for (const auto& e : services_) {
    if (e.service->model().operation(action) != nullptr) return e.service;
  }
  return services_.empty() ? nullptr : services_.front().service;
}

boost::asio::awaitable<http::Reply> Router::route(http::Request& req) {
  auto started = std::chrono::steady_clock::now();
  AwsRequest request;
  request.request_id = base::uuid4();
  const RoutingHeaders headers = routing_headers(req);
  request.host = std::string(headers.host);
  std::string_view target_path = req.target();
  request.path = std::string(target_path.substr(0, target_path.find('?')));

  Service* service = nullptr;
  const Operation* operation = nullptr;
  std::string_view target = headers.amz_target;
  std::vector<std::pair<std::string, std::string>> params;

  auto fail_with = [&](AwsError e) -> http::Response {
    spdlog::debug("{} {} {} -> {} {}", request.request_id,
                  request.action.empty() ? "-" : request.action, request.path, e.http_status,
                  e.wire_query_code());
    return encode_error(req, request.protocol, service, e, request.request_id);
  };

  if (!target.empty()) {
    std::string_view content_type = headers.content_type;
    if (content_type.find("cbor") != std::string_view::npos) {
      request.protocol = Protocol::kCbor11;
    } else if (content_type.find("1.1") != std::string_view::npos) {
      request.protocol = Protocol::kJson11;
    } else {
      request.protocol = Protocol::kJson10;
    }
    auto dot = target.find('.');
    std::string_view prefix = target.substr(0, dot);
    request.action = dot == std::string_view::npos ? "" : std::string(target.substr(dot + 1));
    service = by_target_prefix(prefix);
    request.caller = auth_.identify(headers.authorization, {});
    if (service == nullptr) {
      co_return fail_with(AwsError{"UnknownOperationException",
                                   "",
                                   400,
                                   true,
                                   {},
                                   "com.amazon.coral.service#UnknownOperationException"});
    }
    operation = service->model().operation(request.action);
    if (operation == nullptr) {
      co_return fail_with(AwsError{"UnknownOperationException",
                                   "",
                                   400,
                                   true,
                                   {},
                                   "com.amazon.coral.service#UnknownOperationException"});
    }
    // A service may decode a hot action's body itself; every other body is parsed and
    // validated here.
    if (request.protocol == Protocol::kCbor11 || !service->decode_json_fast(request, req.body())) {
      auto input = request.protocol == Protocol::kCbor11
                       ? decode_cbor_input(service->model(), *operation, req.body())
                       : parse_json_input(service->model(), *operation, req.body());
      if (!input) {
        const ProtocolError& e = input.error();
        // JSON-native services (Kinesis) report a missing member as Coral's validation error;
        // Query-compatible ones (SQS) as MissingParameter.
        if (!e.missing_member.empty() && json_native(service)) {
          co_return fail_with(
              AwsError{"ValidationException",
                       "1 validation error detected: Value null at '" + e.missing_member +
                           "' failed to satisfy constraint: Member must not be null",
                       400,
                       true,
                       {},
                       {}});
        }
        co_return fail_with(from_protocol(e));
      }
      request.input = std::move(input.value());
    }
  } else {
    request.protocol = Protocol::kQuery;
    auto parsed = form_params(req, headers.content_type);
    if (!parsed) co_return fail_with(from_protocol(parsed.error()));
    params = std::move(parsed.value());
    request.action = std::string(param(params, "Action"));
    request.caller = auth_.identify(headers.authorization, param(params, "X-Amz-Credential"));
    service = for_query(request.caller, param(params, "Version"), request.path, request.action);
    if (service == nullptr) {
      co_return fail_with(
          AwsError{"InvalidAction", "No service handles this request.", 400, true, {}, {}});
    }
    if (request.action.empty()) {
      co_return fail_with(AwsError{"MissingAction", "Missing Action", 400, true, {}, {}});
    }
    operation = service->model().operation(request.action);
    if (operation == nullptr) {
      co_return fail_with(
          AwsError{"InvalidAction",
                   "The action " + request.action + " is not valid for this endpoint.",
                   400,
                   true,
                   {},
                   {}});
    }
    auto decoded = decode_query(service->model(), *operation, params);
    if (!decoded) co_return fail_with(from_protocol(decoded.error()));
    request.input = std::move(decoded.value());
    service->adopt_query_path(request);
    if (auto valid = validate_json_input(service->model(), *operation, request.input); !valid) {
      co_return fail_with(from_protocol(valid.error()));
    }
  }

  ActionResult result = co_await service->handle(request);
  if (!result.ok()) co_return fail_with(result.error());
  if (request.event_stream) {
    co_return event_stream_reply(req, request, *operation, result.value());
  }

  http::Response res{bhttp::status::ok, req.version()};
  res.set(bhttp::field::server, "ferry");
  if (request.protocol == Protocol::kQuery) {
    res.set(bhttp::field::content_type, "text/xml");
    res.body() =
        encode_query_response(service->model(), *operation, result.value(), request.request_id);
  } else if (request.protocol == Protocol::kCbor11) {
    res.set(bhttp::field::content_type, kCbor11);
    res.body() = encode_cbor_output(*operation, result.value());
  } else {
    res.set(bhttp::field::content_type, request.protocol == Protocol::kJson11 ? kJson11 : kJson10);
    res.body() =
        request.json_body.empty() ? json::serialize(result.value()) : std::move(request.json_body);
  }
  if (spdlog::should_log(spdlog::level::debug)) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    spdlog::debug("{} {} {} -> 200 {}us", request.request_id, request.action, request.path, us);
  }
  co_return finish(req, std::move(res), request.request_id);
}

}  // namespace ferry::aws
