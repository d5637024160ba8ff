#pragma once
// The trimmed service models (src/aws/models/*.json), embedded by the build as byte arrays
// (see embed_models.cmake). Internal to src/aws: use ServiceModel::get().
#include <string_view>

namespace ferry::aws {

// The model JSON of `service` ("sqs", "sns"), or empty if none is embedded.
std::string_view embedded_model_json(std::string_view service);

}  // namespace ferry::aws
