// ferry-bench: load generator for Ferry and its peers. See bench/README.md.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>
#include <map>

#include "bench.h"

namespace ferry::bench {
namespace {

// target -> driver. A new target or a driver with new scenarios goes here. `http` sends the SQS
// requests to a server that answers 200 to anything; `sns` runs fanout; `kinesis` runs stream
// and efo-latency.
const std::map<std::string, Driver>& drivers() {
  static const std::map<std::string, Driver> kDrivers = {
      {"sqs", run_sqs},     {"http", run_sqs}, {"amqp", run_amqp},
      {"fsync", run_fsync}, {"sns", run_sns},  {"kinesis", run_kinesis},
  };
  return kDrivers;
}

double ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

boost::json::object percentiles(const Histogram& h) {
  boost::json::object o;
  o["count"] = h.count();
  o["p50"] = ms(h.percentile(50));
  o["p90"] = ms(h.percentile(90));
  o["p99"] = ms(h.percentile(99));
  o["p999"] = ms(h.percentile(99.9));
  o["max"] = ms(h.max());
  o["mean"] = h.mean() / 1e6;
  return o;
}

void report(const Options& o, const Result& r) {
  const Stats& st = r.stats;
  double secs = r.measured_s > 0 ? r.measured_s : 1;
  boost::json::object j;
  j["system"] = o.label.empty() ? o.target : o.label;
  j["target"] = o.target;
  j["scenario"] = o.scenario;
  // SNS is always driven over Query (every peer speaks it), Kinesis over JSON 1.1.
  j["protocol"] = o.target == "sns" || o.protocol == Protocol::kQuery ? "query" : "json";
  j["queue_type"] = o.queue_type == QueueType::kFifo ? "fifo" : "standard";
  j["message_size"] = o.message_size;
  j["connections"] = o.connections;
  j["producers"] = o.producers;
  j["consumers"] = o.consumers;
  j["batch"] = o.batch;
  j["duration_s"] = secs;
  j["rate"] = o.rate;
  j["requests"] = st.requests;
  j["requests_per_s"] = static_cast<double>(st.requests) / secs;
  j["sent_per_s"] = static_cast<double>(st.sent) / secs;
  j["received_per_s"] = static_cast<double>(st.received) / secs;
  j["deleted_per_s"] = static_cast<double>(st.deleted) / secs;
  j["receives"] = st.receives;
  j["empty_receives"] = st.empty_receives;
  j["messages_per_receive"] =
      st.receives ? static_cast<double>(st.received) / static_cast<double>(st.receives) : 0.0;
  j["errors"] = st.errors;
  if (!st.first_error.empty()) j["first_error"] = st.first_error;
  j["latency_ms"] = percentiles(st.latency);
  if (st.delivery.count() > 0) j["delivery_ms"] = percentiles(st.delivery);
  if (r.queue_depth >= 0) j["queue_depth"] = r.queue_depth;
  if (st.bytes_sent) j["bytes_sent"] = st.bytes_sent;
  if (st.bytes_received) j["bytes_received"] = st.bytes_received;
  for (const auto& m : r.metrics) j[m.name] = m.value;

  if (!o.json_only) {
    std::printf(
        "%s %s/%s  size=%zu conns=%d duration=%.1fs%s\n", j["system"].as_string().c_str(),
        o.target.c_str(), o.scenario.c_str(), o.message_size, o.connections, secs,
        o.rate > 0 ? (" rate=" + std::to_string(static_cast<int64_t>(o.rate))).c_str() : "");
    if (r.queue_depth >= 0)
      std::printf("  queue depth        %lld\n", static_cast<long long>(r.queue_depth));
    std::printf("  %-18s %12.0f/s\n", "requests", static_cast<double>(st.requests) / secs);
    if (st.sent)
      std::printf("  %-18s %12.0f/s\n", "messages sent", static_cast<double>(st.sent) / secs);
    if (st.received)
      std::printf("  %-18s %12.0f/s\n", "messages received",
                  static_cast<double>(st.received) / secs);
    if (st.deleted)
      std::printf("  %-18s %12.0f/s\n", "messages deleted", static_cast<double>(st.deleted) / secs);
    if (st.receives)
      std::printf("  %-18s %12.1f (%llu empty receives)\n", "messages/receive",
                  static_cast<double>(st.received) / static_cast<double>(st.receives),
                  static_cast<unsigned long long>(st.empty_receives));
    for (const auto& m : r.metrics) {
      if (m.unit == "count")
        std::printf("  %-26s %12.0f\n", m.name.c_str(), m.value);
      else
        std::printf("  %-26s %12.1f %s\n", m.name.c_str(), m.value, m.unit.c_str());
    }
    std::printf("  %-18s %12llu%s%s\n", "errors", static_cast<unsigned long long>(st.errors),
                st.first_error.empty() ? "" : "  first: ", st.first_error.substr(0, 160).c_str());
    auto row = [](const char* name, const Histogram& h) {
      if (h.count() == 0) return;
      std::printf("  %-18s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms\n", name,
                  ms(h.percentile(50)), ms(h.percentile(90)), ms(h.percentile(99)),
                  ms(h.percentile(99.9)), ms(h.max()));
    };
    row(o.scenario == "latency" ? "send latency*" : "request latency", st.latency);
    row("delivery latency*", st.delivery);
    if (o.scenario == "latency" || st.delivery.count() > 0)
      std::printf("  * measured from the intended send time (no coordinated omission)\n");
  }
  std::printf("%s\n", boost::json::serialize(j).c_str());
  std::fflush(stdout);
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  // As in the server (src/server/main.cc): GetRecords pages of ~14 MB are allocated per call;
  // keep them on the heap instead of paying their page faults every time.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  using namespace ferry::bench;
  Options o;
  CLI::App app{"ferry-bench: load generator for Ferry and its peers (see bench/README.md)"};
  auto* target_opt =
      app.add_option("--target", o.target,
                     "sqs | http (nginx ceiling) | amqp (RabbitMQ) | fsync | sns | kinesis")
          ->check(CLI::IsMember({"sqs", "http", "amqp", "fsync", "sns", "kinesis"}));
  app.add_option("-s,--scenario", o.scenario,
                 "send | send-batch | cycle | latency | drain | fill | depth (drain, fill and "
                 "depth: sqs only) | "
                 "fanout (sns) | stream, efo-latency (kinesis)");
  app.add_option("-e,--endpoint", o.endpoint,
                 "http://127.0.0.1:4566 (sqs, http) or amqp://guest:guest@127.0.0.1:5672/");
  std::string protocol = "json", queue_type = "standard";
  app.add_option("--protocol", protocol, "json (AWS JSON 1.0) | query")
      ->check(CLI::IsMember({"json", "query"}));
  app.add_option("--queue-type", queue_type, "standard | fifo")
      ->check(CLI::IsMember({"standard", "fifo"}));
  app.add_option("-q,--queue", o.queue, "queue name (default: a fresh one per run)");
  app.add_flag("--keep-queue", o.keep_queue, "don't delete the queue at the end");
  app.add_option("-m,--message-size", o.message_size, "bytes per message")
      ->check(CLI::Range(24, 262144));
  app.add_option("-c,--connections", o.connections, "senders (send, send-batch, latency, fill)")
      ->check(CLI::Range(1, 4096));
  app.add_option("-p,--producers", o.producers, "cycle: producers (default connections/2)");
  app.add_option("--consumers", o.consumers,
                 "cycle, latency: consumers (default connections/2; latency 4)");
  app.add_option("-b,--batch", o.batch, "messages per batch")->check(CLI::Range(1, 10));
  app.add_option("-d,--duration", o.duration_s, "measured seconds");
  app.add_option("-w,--warmup", o.warmup_s, "seconds before measuring");
  app.add_option("-r,--rate", o.rate, "latency: sends per second, open loop");
  app.add_option("-n,--count", o.count, "fill: messages to leave in the queue");
  app.add_option("--wait", o.wait_seconds, "long-poll WaitTimeSeconds")->check(CLI::Range(0, 20));
  app.add_option("-t,--threads", o.threads, "client I/O threads (sqs, http)")
      ->check(CLI::Range(1, 64));
  app.add_option("--prefetch", o.prefetch, "amqp consumers' prefetch window")
      ->check(CLI::Range(1, 65535));
  app.add_option("--label", o.label, "the system's name in the report");
  app.add_option("--fsync-dir", o.fsync_dir, "fsync: directory on the disk to measure");
  app.add_flag("--json", o.json_only, "print only the JSON line");
  app.add_option("--subscriptions", o.subscriptions, "fanout: SQS queues subscribed to the topic")
      ->check(CLI::Range(1, 100));
  app.add_flag("--envelope", o.envelope,
               "fanout: deliver the JSON envelope (default: RawMessageDelivery=true)");
  app.add_flag("--filter", o.filter,
               "fanout: a filter policy on every subscription that every message matches");
  app.add_option("--publish-batch", o.publish_batch,
                 "fanout: messages per publish (1: Publish; 2-10: PublishBatch)")
      ->check(CLI::Range(1, 10));
  app.add_option(
      "--drain", o.drain_s,
      "fanout: seconds consumers may drain after the window (default max(10, duration))");
  app.add_option("--shards", o.shards, "stream: shards")->check(CLI::Range(1, 500));
  app.add_option("--records", o.records, "stream: records per PutRecords")
      ->check(CLI::Range(1, 500));
  app.add_option("--limit", o.limit, "stream: GetRecords Limit")->check(CLI::Range(1, 10000));
  app.add_flag("--readers", o.readers,
               "stream: TRIM_HORIZON readers run while the producers write (default: after)");
  CLI11_PARSE(app, argc, argv);
  // The SNS and Kinesis scenarios imply their target.
  if (target_opt->count() == 0) {
    if (o.scenario == "fanout") o.target = "sns";
    if (o.scenario == "stream" || o.scenario == "efo-latency") o.target = "kinesis";
  }
  o.protocol = protocol == "query" ? Protocol::kQuery : Protocol::kJson;
  o.queue_type = queue_type == "fifo" ? QueueType::kFifo : QueueType::kStandard;
  if (o.scenario == "fill" && o.count <= 0) {
    std::cerr << "ferry-bench: fill needs --count\n";
    return 2;
  }

  Result result;
  int rc = drivers().at(o.target)(o, &result);
  if (rc != 0) return rc;
  report(o, result);
  const Stats& st = result.stats;
  bool idle = o.scenario != "depth" && st.requests == 0 && st.deleted == 0;
  return st.errors > 0 || idle ? 3 : 0;
}
