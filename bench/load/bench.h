#pragma once
// ferry-bench: what every driver shares. A driver (SQS over HTTP, AMQP, the fsync probe) runs one
// scenario with the Options and fills a Result; main() prints it as a table and one JSON line.
//
// Adding a scenario: write a driver function with the signature of `Driver`, and register it
// under its target's name in `drivers()` (main.cc). Figures a driver has beyond the shared Stats
// go into Result::metrics, which the report prints and puts in the JSON line.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "histogram.h"

namespace ferry::bench {

using Clock = std::chrono::steady_clock;

enum class Protocol { kJson, kQuery };
enum class QueueType { kStandard, kFifo };

struct Options {
  std::string target = "sqs";  // sqs | http | amqp | fsync | sns | kinesis
  std::string scenario = "send";
  std::string endpoint;  // default depends on the target
  Protocol protocol = Protocol::kJson;
  QueueType queue_type = QueueType::kStandard;
  std::string queue;        // default: a fresh name per run
  bool keep_queue = false;  // leave the queue (and its messages) behind
  size_t message_size = 1024;
  int connections = 32;  // send, send-batch, latency senders
  int producers = 0;     // cycle; 0: half of connections
  int consumers = 0;     // cycle, latency receivers; 0: half of connections (latency: 4)
  int batch = 10;
  double duration_s = 10;
  double warmup_s = 1;
  double rate = 0;    // latency: requests per second (open loop)
  int64_t count = 0;  // fill: messages to leave in the queue
  int wait_seconds = 1;
  int threads = 1;  // client I/O threads (SQS/HTTP); AMQP uses a thread per connection
  int prefetch = 100;
  std::string label;  // the system's name in the report
  std::string fsync_dir = ".";
  bool json_only = false;
  // sns fanout
  int subscriptions = 10;
  bool envelope = false;  // the JSON envelope instead of RawMessageDelivery
  bool filter = false;    // a filter policy (MessageAttributes) on every subscription
  int publish_batch = 1;  // 1: Publish; more: PublishBatch of that many
  double drain_s = 0;     // after the window, consumers drain for at most this (0: 10 s or more)
  // kinesis stream
  int shards = 4;
  int records = 500;     // records per PutRecords
  int limit = 10000;     // GetRecords Limit
  bool readers = false;  // read while writing instead of after
};

// What one worker counts. Only events inside the measured window are counted.
struct Stats {
  uint64_t requests = 0;  // requests (or publishes/batches) answered successfully
  uint64_t sent = 0;      // messages acknowledged by the system
  uint64_t received = 0;  // messages received by consumers
  uint64_t deleted = 0;   // messages deleted/acked by consumers
  uint64_t receives = 0;  // receive calls answered (empty or not)
  uint64_t empty_receives = 0;
  uint64_t errors = 0;
  uint64_t bytes_sent = 0;      // payload bytes acknowledged (stream: record data)
  uint64_t bytes_received = 0;  // payload bytes received (stream: record data read)
  std::string first_error;
  Histogram latency;   // request latency (latency scenario: from the intended send time)
  Histogram delivery;  // from the intended send time to the consumer receiving the message

  void error(std::string what) {
    errors++;
    if (first_error.empty()) first_error = std::move(what);
  }
  void merge(const Stats& o);
};

struct Result {
  Stats stats;
  double measured_s = 0;
  int64_t queue_depth = -1;  // depth scenario
  std::string note;
  // Driver-specific figures, in the order they are printed: name, value, unit (for the table).
  struct Metric {
    std::string name;
    double value;
    std::string unit;
  };
  std::vector<Metric> metrics;
  void metric(std::string name, double value, std::string unit = "") {
    metrics.push_back({std::move(name), value, std::move(unit)});
  }
};

// The measured window: [begin, end) after the warm-up.
struct Window {
  Clock::time_point start, begin, end;
  static Window from(const Options& o);
  bool in(Clock::time_point t) const { return t >= begin && t < end; }
};

using Driver = std::function<int(const Options&, Result*)>;

int run_sqs(const Options& options, Result* result);
int run_amqp(const Options& options, Result* result);
int run_fsync(const Options& options, Result* result);
int run_sns(const Options& options, Result* result);
int run_kinesis(const Options& options, Result* result);

// A message body of `size` bytes (at least 24) that starts with the send time, so a consumer can
// tell the delivery latency; the rest is filler that needs no escaping in JSON, XML or forms.
std::string make_body(size_t size, Clock::time_point intended, uint64_t seq);
// Appends make_body(size, intended, seq) to out, without a string of its own.
void append_body(std::string& out, size_t size, Clock::time_point intended, uint64_t seq);
// The send time from a body made by make_body(), or false.
bool parse_body_time(std::string_view body, Clock::time_point* out);

// Counts (and reports on stderr) the worker coroutines that ended by throwing; handler() is the
// completion handler to give asio::co_spawn. Thread-safe.
class WorkerFailures {
 public:
  auto handler() {
    return [this](std::exception_ptr e) { record(e); };
  }
  int count() const { return count_.load(); }

 private:
  void record(std::exception_ptr e);
  std::atomic<int> count_{0};
};

}  // namespace ferry::bench
