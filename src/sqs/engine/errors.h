#pragma once
#include <string>

#include "base/result.h"

namespace ferry::sqs {

// Engine-level failures. api/ maps each to AWS's error code, HTTP status and __type.
enum class Errc {
  kQueueDoesNotExist,
  kQueueNameExists,         // CreateQueue with the same name and different attributes
  kInvalidAttributeName,    // unknown queue or message attribute name
  kInvalidAttributeValue,   // a queue attribute value out of range or malformed
  kInvalidParameterValue,   // a request parameter out of range or malformed
  kInvalidMessageContents,  // body contains characters outside SQS's allowed set
  kReceiptHandleIsInvalid,
  kMessageNotInflight,
  kOverLimit,
  kPurgeQueueInProgress,
  kUnsupportedOperation,
  kMissingParameter,      // a parameter the queue type requires (MessageGroupId on FIFO)
  kQueueDeletedRecently,  // CreateQueue within 60 s of deleting a queue of that name
  kResourceNotFound,      // message move tasks: a source, destination or task that is not there
  kInternal,              // storage failure
};

using Error = base::CodedError<Errc>;
template <class T>
using Result = base::Result<T, Error>;
using base::error;

}  // namespace ferry::sqs
