#pragma once
// ServiceModel: an AWS service model (operations, shapes, errors, protocol metadata), parsed once
// from the trimmed botocore JSON that tools/gen_aws_model.py writes to src/aws/models/ and that
// the build embeds into the binary. The wire codecs (query.h, json_validate.h) walk it.
//
// Models are immutable after construction; get() builds each one on first use (thread-safe) and
// keeps it for the life of the process, so references may be held anywhere, on any thread.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace ferry::aws {

enum class ShapeType {
  kStructure,
  kList,
  kMap,
  kString,
  kInteger,  // 32-bit
  kLong,     // 64-bit
  kFloat,
  kDouble,
  kBoolean,
  kBlob,       // base64 text on both wires
  kTimestamp,  // epoch seconds (JSON), ISO 8601 (Query)
};

std::string_view to_string(ShapeType type);

struct Shape;

// A use of a shape: a structure member, a list member, a map key or value, with the
// serialization traits the reference itself carries.
struct MemberRef {
  std::string name;  // structure member name (the JSON name); empty for list members, keys, values
  const Shape* shape = nullptr;
  std::string location_name;  // "locationName" on the reference; empty if none
  bool flattened = false;     // "flattened" on the reference
  bool required = false;      // structure members only

  // A list or map is flattened if the reference or the shape says so.
  bool is_flattened() const;
  // The locationName in effect: the reference's, else the target shape's (botocore merges a
  // shape's serialization traits into every reference to it); empty if neither has one.
  std::string_view location() const;
  // The name of this structure member in Query parameters and Query XML: the list member's
  // location() for a flattened list that has one, else the member's location(), else its name
  // (botocore's rule).
  std::string_view query_name() const;
};

struct ErrorShape {
  std::string name;  // shape name, e.g. "QueueDoesNotExist"
  std::string code;  // Query error code, e.g. "AWS.SimpleQueueService.NonExistentQueue"
  int http_status = 400;
  bool sender_fault = true;
};

struct Shape {
  std::string name;
  ShapeType type = ShapeType::kString;
  std::vector<MemberRef> members;  // structure members, in model order
  int required_count = 0;          // how many of them are required
  MemberRef member;                // list member
  MemberRef key;                   // map key
  MemberRef value;                 // map value
  bool flattened = false;
  std::string location_name;
  std::optional<double> min;
  std::optional<double> max;
  std::vector<std::string> enum_values;
  std::optional<ErrorShape> error;  // set for exception shapes

  const MemberRef* find_member(std::string_view member_name) const;
};

struct Operation {
  std::string name;
  const Shape* input = nullptr;   // null when the operation takes no input
  const Shape* output = nullptr;  // null when the operation answers nothing but metadata
  std::string result_wrapper;     // Query XML element wrapping the output, e.g. "SendMessageResult"
  std::vector<const ErrorShape*> errors;
};

class ServiceModel {
 public:
  // The embedded model of `service` ("sqs", "sns"); aborts on an unknown service or a broken
  // embedded model, both of which are build errors.
  static const ServiceModel& get(std::string_view service);
  // The embedded model of `service`, or null if none is embedded.
  static const ServiceModel* find(std::string_view service);
  // Parses a trimmed model; the error says what is wrong with it. For tests and tools.
  static base::Result<std::unique_ptr<ServiceModel>, std::string> parse(std::string_view service,
                                                                        std::string_view json);

  ServiceModel(const ServiceModel&) = delete;
  ServiceModel& operator=(const ServiceModel&) = delete;

  std::string_view service() const { return service_; }
  const Operation* operation(std::string_view name) const;
  const Shape* shape(std::string_view name) const;
  // By shape name ("QueueDoesNotExist") or by Query code
  // ("AWS.SimpleQueueService.NonExistentQueue").
  const ErrorShape* error_by_name(std::string_view name) const;
  const ErrorShape* error_by_code(std::string_view code) const;
  // Operation names in alphabetical order.
  const std::vector<std::string>& operation_names() const { return operation_names_; }

  std::string_view api_version() const { return api_version_; }
  std::string_view protocol() const { return protocol_; }  // botocore's "protocol"
  const std::vector<std::string>& protocols() const { return protocols_; }
  std::string_view json_version() const { return json_version_; }    // "1.0", "1.1" or empty
  std::string_view target_prefix() const { return target_prefix_; }  // X-Amz-Target prefix
  std::string_view xml_namespace() const { return xml_namespace_; }
  bool aws_query_compatible() const { return aws_query_compatible_; }

 private:
  ServiceModel() = default;

  std::string service_;
  std::string api_version_;
  std::string protocol_;
  std::vector<std::string> protocols_;
  std::string json_version_;
  std::string target_prefix_;
  std::string xml_namespace_;
  bool aws_query_compatible_ = false;
  std::map<std::string, std::unique_ptr<Shape>, std::less<>> shapes_;
  std::map<std::string, Operation, std::less<>> operations_;
  std::map<std::string, const ErrorShape*, std::less<>> errors_by_code_;
  std::vector<std::string> operation_names_;
};

}  // namespace ferry::aws
