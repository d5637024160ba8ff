// The SNS driver: the `fanout` scenario (issue 6). One topic, --subscriptions SQS queues
// subscribed to it (RawMessageDelivery, or the JSON envelope with --envelope; with --filter a
// filter policy on MessageAttributes that every message matches), publishers on --connections
// (SNS Query protocol, which every peer speaks) and consumers draining every queue (SQS JSON 1.0:
// ReceiveMessage long poll + DeleteMessageBatch).
//
// Deliveries are counted where they are received. After the window the publishers stop and the
// consumers drain (at most --drain seconds); then every queue's remaining depth is read, and a
// publish that reached neither a consumer nor the queue's backlog is a missing delivery (an
// error). Every message carries the same MessageAttribute with and without --filter, so the two
// runs differ only by the policies.
//
// Threads: `threads` io_contexts, each run by one thread; a worker's Stats live on its
// io_context; the counters below are the only shared state.
#include <atomic>
#include <boost/json.hpp>
#include <iostream>
#include <memory>
#include <thread>

#include "bench.h"
#include "http_client.h"
#include "sqs_wire.h"

namespace ferry::bench {

namespace {

namespace json = boost::json;

constexpr std::string_view kFilterAttribute = "bench-kind";
constexpr std::string_view kFilterValue = "fanout";

// The SNS Query protocol (form in, XML out), as a client speaks it. No I/O.
class SnsWire {
 public:
  explicit SnsWire(std::string host) : host_(std::move(host)) {}

  Request base_request() const {
    Request req{http::verb::post, "/", 11};
    req.set(http::field::host, host_);
    req.set(http::field::content_type, "application/x-www-form-urlencoded; charset=utf-8");
    req.set(http::field::authorization, authorization("sns"));
    req.set("X-Amz-Date", "20260101T000000Z");
    req.set(http::field::user_agent, "ferry-bench");
    req.keep_alive(true);
    return req;
  }

  void create_topic(Request& req, std::string_view name) const {
    std::string body;
    add_form_param(body, "Name", name);
    finish(req, "CreateTopic", std::move(body));
  }
  void delete_topic(Request& req, std::string_view arn) const {
    std::string body;
    add_form_param(body, "TopicArn", arn);
    finish(req, "DeleteTopic", std::move(body));
  }
  void subscribe(Request& req, std::string_view topic, std::string_view queue_arn, bool raw,
                 bool filter) const {
    std::string body;
    add_form_param(body, "TopicArn", topic);
    add_form_param(body, "Protocol", "sqs");
    add_form_param(body, "Endpoint", queue_arn);
    int n = 0;
    auto attribute = [&](std::string_view key, std::string_view value) {
      std::string prefix = "Attributes.entry." + std::to_string(++n) + ".";
      add_form_param(body, prefix + "key", key);
      add_form_param(body, prefix + "value", value);
    };
    if (raw) attribute("RawMessageDelivery", "true");
    if (filter) {
      attribute("FilterPolicy", "{\"" + std::string(kFilterAttribute) + "\":[\"" +
                                    std::string(kFilterValue) + "\"]}");
    }
    add_form_param(body, "ReturnSubscriptionArn", "true");
    finish(req, "Subscribe", std::move(body));
  }
  // Every message carries the attribute the filter policies match.
  void publish(Request& req, std::string_view topic, std::string_view message) const {
    std::string body;
    body.reserve(message.size() + topic.size() + 256);
    add_form_param(body, "TopicArn", topic);
    add_form_param(body, "Message", message);
    add_attribute(body, "MessageAttributes.entry.1.");
    finish(req, "Publish", std::move(body));
  }
  void publish_batch(Request& req, std::string_view topic,
                     const std::vector<std::string>& messages) const {
    std::string body;
    add_form_param(body, "TopicArn", topic);
    for (size_t i = 0; i < messages.size(); ++i) {
      std::string prefix = "PublishBatchRequestEntries.member." + std::to_string(i + 1) + ".";
      add_form_param(body, prefix + "Id", "m" + std::to_string(i));
      add_form_param(body, prefix + "Message", messages[i]);
      add_attribute(body, prefix + "MessageAttributes.entry.1.");
    }
    finish(req, "PublishBatch", std::move(body));
  }

  // The text of the first <tag> in the answer.
  static bool parse_element(const Response& res, std::string_view tag, std::string* out,
                            std::string* error) {
    size_t pos = 0;
    std::string_view text;
    if (!xml_element(res.body(), tag, &pos, &text)) {
      *error = "no " + std::string(tag) + " in " + res.body().substr(0, 200);
      return false;
    }
    *out = xml_unescape(text);
    return true;
  }
  // Entries in the Failed list of a PublishBatch answer.
  static size_t parse_batch_failures(const Response& res, std::string* error) {
    std::string_view doc = res.body();
    size_t pos = 0;
    std::string_view failed;
    if (!xml_element(doc, "Failed", &pos, &failed)) return 0;
    size_t n = 0, p = 0;
    std::string_view member;
    while (xml_element(failed, "member", &p, &member)) {
      if (n == 0) *error = "publish batch entry failed: " + std::string(member.substr(0, 200));
      ++n;
    }
    return n;
  }

 private:
  static void add_attribute(std::string& body, const std::string& prefix) {
    add_form_param(body, prefix + "Name", kFilterAttribute);
    add_form_param(body, prefix + "Value.DataType", "String");
    add_form_param(body, prefix + "Value.StringValue", kFilterValue);
  }
  void finish(Request& req, std::string_view action, std::string body) const {
    std::string form_body = "Action=" + std::string(action) + "&Version=2010-03-31";
    if (!body.empty()) form_body += "&" + body;
    req.body() = std::move(form_body);
    req.prepare_payload();
  }
  std::string host_;
};

// One fanout run: sets up the topic and queues, spawns publishers and consumers, drains, checks
// the count, tears down. Owned by run_sns().
class FanoutRun {
 public:
  FanoutRun(const Options& o, const Endpoint& ep)
      : o_(o), ep_(ep), sns_(ep.host), sqs_(Protocol::kJson, ep.host) {}

  int run(Result* result);

 private:
  bool setup(std::string* error);
  void teardown();
  asio::awaitable<void> publisher(Stats& st);
  asio::awaitable<void> consumer(size_t queue, Stats& st);
  bool draining_done(size_t queue) const {
    return publishers_left_.load() == 0 && queue_received_[queue].load() >= published_total_.load();
  }

  const Options& o_;
  const Endpoint& ep_;
  SnsWire sns_;
  SqsWire sqs_;
  std::string topic_arn_;
  std::vector<std::string> queue_urls_;
  Window window_;
  Clock::time_point drain_deadline_;
  std::atomic<int> publishers_left_{0};
  std::atomic<uint64_t> published_total_{0};  // every acknowledged publish, in or out of window
  std::unique_ptr<std::atomic<uint64_t>[]> queue_received_;  // every delivery, per queue
};

bool FanoutRun::setup(std::string* error) {
  std::string base = "ferry-bench-fanout-" + std::to_string(::getpid()) + "-" +
                     std::to_string(Clock::now().time_since_epoch().count() % 100000);
  return run_once(ep_, [&](Connection& conn) -> asio::awaitable<bool> {
    Response res;
    Request req = sns_.base_request();
    sns_.create_topic(req, base);
    if (!co_await conn.call(req, &res, error)) co_return false;
    if (!SnsWire::parse_element(res, "TopicArn", &topic_arn_, error)) co_return false;
    for (int i = 0; i < o_.subscriptions; ++i) {
      Request q = sqs_.base_request();
      sqs_.create_queue(q, base + "-q" + std::to_string(i), false);
      std::string url, arn;
      if (!co_await conn.call(q, &res, error)) co_return false;
      if (!sqs_.parse_queue_url(res, &url, error)) co_return false;
      queue_urls_.push_back(url);
      q = sqs_.base_request();
      sqs_.queue_arn(q, url);
      if (!co_await conn.call(q, &res, error)) co_return false;
      if (!sqs_.parse_queue_arn(res, &arn, error)) co_return false;
      req = sns_.base_request();
      sns_.subscribe(req, topic_arn_, arn, !o_.envelope, o_.filter);
      if (!co_await conn.call(req, &res, error)) {
        *error = "Subscribe: " + *error;
        co_return false;
      }
    }
    co_return true;
  });
}

void FanoutRun::teardown() {
  std::string error;
  run_once(ep_, [&](Connection& conn) -> asio::awaitable<bool> {
    Response res;
    if (!topic_arn_.empty()) {
      Request req = sns_.base_request();
      sns_.delete_topic(req, topic_arn_);
      co_await conn.call(req, &res, &error);
    }
    for (const auto& url : queue_urls_) {
      Request req = sqs_.base_request();
      sqs_.delete_queue(req, url);
      co_await conn.call(req, &res, &error);
    }
    co_return true;
  });
}

asio::awaitable<void> FanoutRun::publisher(Stats& st) {
  Connection conn(co_await asio::this_coro::executor, ep_);
  Request req = sns_.base_request();
  Response res;
  std::string error;
  std::vector<std::string> bodies(o_.publish_batch);
  for (uint64_t seq = 0;; ++seq) {
    auto t0 = Clock::now();
    if (t0 >= window_.end) break;
    size_t failed = 0;
    if (o_.publish_batch == 1) {
      sns_.publish(req, topic_arn_, make_body(o_.message_size, t0, seq));
    } else {
      for (int i = 0; i < o_.publish_batch; ++i)
        bodies[i] = make_body(o_.message_size, t0, seq * o_.publish_batch + i);
      sns_.publish_batch(req, topic_arn_, bodies);
    }
    bool ok = co_await conn.call(req, &res, &error);
    if (ok && o_.publish_batch > 1) failed = SnsWire::parse_batch_failures(res, &error);
    auto t1 = Clock::now();
    if (ok) published_total_ += o_.publish_batch - failed;
    // Throughput counts the publishes answered inside the window (as deliveries are counted
    // when received inside it); latency only those also sent inside it.
    if (!window_.in(t1)) continue;
    if (!ok) {
      st.error(error);
      continue;
    }
    if (failed > 0) st.error(error);
    st.requests++;
    st.sent += o_.publish_batch - failed;
    st.bytes_sent += (o_.publish_batch - failed) * o_.message_size;
    if (window_.in(t0)) st.latency.record((t1 - t0).count());
  }
  publishers_left_--;
}

asio::awaitable<void> FanoutRun::consumer(size_t queue, Stats& st) {
  Connection receiver(co_await asio::this_coro::executor, ep_);
  Connection deleter(co_await asio::this_coro::executor, ep_);
  const std::string& url = queue_urls_[queue];
  Request req = sqs_.base_request();
  Response res;
  std::string error;
  std::vector<ReceivedMessage> messages;
  auto timeout = std::chrono::seconds(o_.wait_seconds + 30);
  while (!draining_done(queue) && Clock::now() < drain_deadline_) {
    sqs_.receive(req, url, 10, o_.wait_seconds);
    bool ok = co_await receiver.call(req, &res, &error, timeout);
    if (ok) ok = sqs_.parse_messages(res, &messages, &error);
    auto t1 = Clock::now();
    bool counted = window_.in(t1);
    if (!ok) {
      if (counted) st.error(error);
      continue;
    }
    if (counted) st.receives++;
    if (messages.empty()) {
      if (counted) st.empty_receives++;
      continue;
    }
    queue_received_[queue] += messages.size();
    if (counted) {
      st.received += messages.size();
      for (const auto& m : messages) {
        Clock::time_point sent;
        std::string_view body = m.body;
        std::string inner;
        if (o_.envelope) {
          // The published message is the envelope's "Message".
          boost::system::error_code ec;
          json::value v = json::parse(m.body, ec);
          const json::value* msg =
              !ec && v.is_object() ? v.as_object().if_contains("Message") : nullptr;
          if (msg && msg->is_string()) inner = std::string(msg->as_string());
          body = inner;
        }
        if (parse_body_time(body, &sent) && window_.in(sent)) {
          st.delivery.record((t1 - sent).count());
        }
      }
    }
    sqs_.delete_batch(req, url, messages);
    ok = co_await deleter.call(req, &res, &error);
    size_t failed = 0;
    if (ok) ok = sqs_.parse_batch_failures(res, &failed, &error);
    auto t2 = Clock::now();
    if (!window_.in(t1) || t2 >= window_.end) continue;
    if (!ok) {
      st.error(error);
      continue;
    }
    if (failed > 0) st.error(error);
    st.deleted += messages.size() - failed;
  }
}

int FanoutRun::run(Result* result) {
  std::string error;
  if (!setup(&error)) {
    std::cerr << "ferry-bench: fanout set-up failed: " << error << "\n";
    teardown();
    return 2;
  }
  const size_t queues = queue_urls_.size();
  queue_received_ = std::make_unique<std::atomic<uint64_t>[]>(queues);
  for (size_t q = 0; q < queues; ++q) queue_received_[q] = 0;
  // At least two consumers per queue, so that one's delete overlaps the other's receive.
  int consumers = o_.consumers > 0 ? std::max<int>(o_.consumers, static_cast<int>(queues))
                                   : static_cast<int>(queues) * 2;
  int publishers = o_.connections;

  int nthreads = std::max(1, o_.threads);
  std::vector<std::unique_ptr<asio::io_context>> ios;
  for (int i = 0; i < nthreads; ++i) ios.push_back(std::make_unique<asio::io_context>(1));
  std::vector<Stats> stats(publishers + consumers);
  WorkerFailures failures;
  auto on_done = failures.handler();
  window_ = Window::from(o_);
  double drain = o_.drain_s > 0 ? o_.drain_s : std::max(10.0, o_.duration_s);
  drain_deadline_ = window_.end + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(drain));
  publishers_left_ = publishers;
  for (int w = 0; w < publishers + consumers; ++w) {
    auto& io = *ios[w % nthreads];
    if (w < publishers)
      asio::co_spawn(io, publisher(stats[w]), on_done);
    else
      asio::co_spawn(io, consumer((w - publishers) % queues, stats[w]), on_done);
  }
  std::vector<std::thread> pool;
  for (int i = 1; i < nthreads; ++i) pool.emplace_back([&io = *ios[i]] { io.run(); });
  ios[0]->run();
  for (auto& t : pool) t.join();
  auto drained_at = Clock::now();

  Stats& total = result->stats;
  for (const auto& st : stats) total.merge(st);
  if (failures.count() > 0) total.error("worker coroutine threw");
  result->measured_s = o_.duration_s;

  // Accounting: every acknowledged publish must be in every queue, received or still there.
  uint64_t published = published_total_.load();
  uint64_t expected = published * queues, delivered = 0, backlog = 0;
  for (size_t q = 0; q < queues; ++q) delivered += queue_received_[q].load();
  if (delivered < expected) {
    run_once(ep_, [&](Connection& conn) -> asio::awaitable<bool> {
      Response res;
      for (const auto& url : queue_urls_) {
        Request req = sqs_.base_request();
        sqs_.queue_depth(req, url);
        int64_t depth = 0;
        if (co_await conn.call(req, &res, &error) && sqs_.parse_depth(res, &depth, &error))
          backlog += static_cast<uint64_t>(std::max<int64_t>(0, depth));
      }
      co_return true;
    });
  }
  double secs = o_.duration_s > 0 ? o_.duration_s : 1;
  result->metric("publishes_per_s", static_cast<double>(total.sent) / secs, "/s");
  result->metric("deliveries_per_s", static_cast<double>(total.received) / secs, "/s");
  result->metric("expected_deliveries_per_s",
                 static_cast<double>(total.sent) * static_cast<double>(queues) / secs, "/s");
  result->metric("subscriptions", static_cast<double>(queues), "count");
  result->metric("published_total", static_cast<double>(published), "count");
  result->metric("delivered_total", static_cast<double>(delivered), "count");
  result->metric("undrained_backlog", static_cast<double>(backlog), "count");
  result->metric("drain_s",
                 std::max(0.0, std::chrono::duration<double>(drained_at - window_.end).count()),
                 "s");
  if (delivered + backlog < expected) {
    total.error("missing deliveries: " + std::to_string(expected - delivered - backlog) + " of " +
                std::to_string(expected) + " (" + std::to_string(published) + " publishes x " +
                std::to_string(queues) + " queues) neither received nor in the queues");
  }
  result->metric(
      "missing_deliveries",
      static_cast<double>(delivered + backlog < expected ? expected - delivered - backlog : 0),
      "count");
  teardown();
  return 0;
}

}  // namespace

int run_sns(const Options& options, Result* result) {
  if (options.scenario != "fanout") {
    std::cerr << "ferry-bench: the sns target has only the fanout scenario\n";
    return 2;
  }
  Endpoint ep;
  if (!resolve_endpoint(options.endpoint, &ep)) return 2;
  std::string error;
  FanoutRun run(options, ep);
  return run.run(result);
}

}  // namespace ferry::bench
