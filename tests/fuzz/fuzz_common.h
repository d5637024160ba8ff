#pragma once
// Shared by the fuzz targets: the first input byte picks the service model and operation, the
// rest is the request body. 0-127: SQS, 128-255: SNS; operation = byte % (number of operations),
// in alphabetical order (ServiceModel::operation_names()).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "aws/model.h"

namespace ferry::fuzz {

struct Target {
  const aws::ServiceModel* model;
  const aws::Operation* op;
  std::string_view body;
};

inline Target pick(const uint8_t* data, size_t size) {
  const auto& model = aws::ServiceModel::get(data[0] < 128 ? "sqs" : "sns");
  const auto& names = model.operation_names();
  const aws::Operation* op = model.operation(names[(data[0] & 0x7f) % names.size()]);
  return {&model, op, std::string_view(reinterpret_cast<const char*>(data + 1), size - 1)};
}

}  // namespace ferry::fuzz
