// The SQS driver (and the plain HTTP one, which sends the same requests to a server that answers
// 200 to everything): C++20 coroutines on Boost.Asio, one keep-alive connection per worker.
//
// Threads: `threads` io_contexts, each run by one thread; a worker coroutine and its Stats live on
// one io_context, so nothing but the latency scenario's shared ticket counter is shared.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <thread>

#include "bench.h"
#include "http_client.h"
#include "sqs_wire.h"

namespace ferry::bench {

namespace {

// One run of one scenario: sets up the queue, spawns the workers, merges their Stats. Owned by
// run_sqs(); its atomics are the only state the workers' threads share.
class SqsRun {
 public:
  SqsRun(const Options& o, const Endpoint& ep)
      : o_(o), ep_(ep), wire_(o.protocol, ep.host), raw_(o.target == "http") {}

  int run(Result* result);

 private:
  bool fifo() const { return o_.queue_type == QueueType::kFifo; }
  FifoIds fifo_ids(uint64_t worker, uint64_t seq) const {
    return {"g" + std::to_string((worker * 131 + seq) % 64),
            "w" + std::to_string(worker) + "-" + std::to_string(seq)};
  }
  // Runs one coroutine to completion on a private io_context (set-up and tear-down calls).
  bool once(const std::function<asio::awaitable<bool>(Connection&)>& fn);

  asio::awaitable<void> sender(int worker, Stats& st);
  asio::awaitable<void> batch_sender(int worker, Stats& st);
  asio::awaitable<void> latency_sender(int worker, Stats& st);
  asio::awaitable<void> consumer(int worker, Stats& st, bool measure_delivery);
  asio::awaitable<void> filler(int worker, Stats& st);

  const Options& o_;
  const Endpoint& ep_;
  SqsWire wire_;
  bool raw_;
  std::string queue_url_;
  Window window_;
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int64_t> fill_left_{0};
  std::atomic<int> producers_left_{0};
  Clock::duration interval_{};
};

bool SqsRun::once(const std::function<asio::awaitable<bool>(Connection&)>& fn) {
  return run_once(ep_, fn);
}

asio::awaitable<void> SqsRun::sender(int worker, Stats& st) {
  Connection conn(co_await asio::this_coro::executor, ep_);
  Request req = wire_.base_request();
  Response res;
  std::string error;
  for (uint64_t seq = 0;; ++seq) {
    auto t0 = Clock::now();
    if (t0 >= window_.end) break;
    FifoIds ids;
    if (fifo()) ids = fifo_ids(worker, seq);
    wire_.send(req, queue_url_, {o_.message_size, t0, seq}, fifo() ? &ids : nullptr);
    bool ok = co_await conn.call(req, &res, &error);
    auto t1 = Clock::now();
    if (!window_.in(t0) || t1 >= window_.end) continue;
    if (!ok) {
      st.error(error);
      continue;
    }
    st.requests++;
    st.sent++;
    st.latency.record((t1 - t0).count());
  }
}

asio::awaitable<void> SqsRun::batch_sender(int worker, Stats& st) {
  Connection conn(co_await asio::this_coro::executor, ep_);
  Request req = wire_.base_request();
  Response res;
  std::string error;
  std::vector<GeneratedBody> bodies(o_.batch);
  std::vector<FifoIds> ids(o_.batch);
  for (uint64_t seq = 0;; ++seq) {
    auto t0 = Clock::now();
    if (t0 >= window_.end) break;
    for (int i = 0; i < o_.batch; ++i) {
      bodies[i] = {o_.message_size, t0, seq * o_.batch + i};
      if (fifo()) ids[i] = fifo_ids(worker, seq * o_.batch + i);
    }
    wire_.send_batch(req, queue_url_, bodies, fifo() ? &ids : nullptr);
    bool ok = co_await conn.call(req, &res, &error);
    size_t failed = 0;
    if (ok && !raw_) ok = wire_.parse_batch_failures(res, &failed, &error);
    auto t1 = Clock::now();
    if (!window_.in(t0) || t1 >= window_.end) continue;
    if (!ok) {
      st.error(error);
      continue;
    }
    if (failed > 0) st.error(error);
    st.requests++;
    st.sent += o_.batch - failed;
    st.latency.record((t1 - t0).count());
  }
  producers_left_--;
}

asio::awaitable<void> SqsRun::latency_sender(int worker, Stats& st) {
  Connection conn(co_await asio::this_coro::executor, ep_);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  Request req = wire_.base_request();
  Response res;
  std::string error;
  for (;;) {
    uint64_t seq = ticket_++;
    auto intended = window_.start + interval_ * static_cast<int64_t>(seq);
    if (intended >= window_.end) break;
    if (intended > Clock::now()) {
      timer.expires_at(intended);
      co_await timer.async_wait(kNoThrow);
    }
    FifoIds ids;
    if (fifo()) ids = fifo_ids(worker, seq);
    wire_.send(req, queue_url_, {o_.message_size, intended, seq}, fifo() ? &ids : nullptr);
    bool ok = co_await conn.call(req, &res, &error);
    auto t1 = Clock::now();
    if (!window_.in(intended)) continue;
    if (!ok) {
      st.error(error);
      continue;
    }
    st.requests++;
    st.sent++;
    // From the intended send time, so a stall counts for every request it delayed.
    st.latency.record((t1 - intended).count());
  }
  producers_left_--;
}

asio::awaitable<void> SqsRun::consumer(int, Stats& st, bool measure_delivery) {
  Connection receiver(co_await asio::this_coro::executor, ep_);
  Connection deleter(co_await asio::this_coro::executor, ep_);
  // The ReceiveMessage request never changes; one request per action keeps each one's
  // X-Amz-Target set once.
  Request receive_req = wire_.base_request();
  wire_.receive(receive_req, queue_url_, o_.batch, o_.wait_seconds);
  Request delete_req = wire_.base_request();
  Response res;
  std::string error;
  std::vector<ReceivedMessage> messages;
  auto timeout = std::chrono::seconds(o_.wait_seconds + 30);
  // Consumers stop at the end of the window, or once the producers are done and the queue has
  // been drained of what they sent in it.
  while (Clock::now() < window_.end) {
    bool ok = co_await receiver.call(receive_req, &res, &error, timeout);
    if (ok) ok = wire_.parse_messages(res, &messages, &error);
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
    if (counted) {
      st.received += messages.size();
      if (measure_delivery) {
        for (const auto& m : messages) {
          Clock::time_point sent;
          if (parse_body_time(m.body, &sent) && window_.in(sent)) {
            st.delivery.record((t1 - sent).count());
          }
        }
      }
    }
    wire_.delete_batch(delete_req, queue_url_, messages);
    ok = co_await deleter.call(delete_req, &res, &error);
    size_t failed = 0;
    if (ok) ok = wire_.parse_batch_failures(res, &failed, &error);
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

asio::awaitable<void> SqsRun::filler(int worker, Stats& st) {
  Connection conn(co_await asio::this_coro::executor, ep_);
  Request req = wire_.base_request();
  Response res;
  std::string error;
  std::vector<GeneratedBody> bodies;
  std::vector<FifoIds> ids;
  for (uint64_t seq = 0;; ++seq) {
    int64_t n = std::min<int64_t>(o_.batch, fill_left_.fetch_sub(o_.batch));
    if (n <= 0) break;
    auto t0 = Clock::now();
    bodies.resize(n);
    ids.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      bodies[i] = {o_.message_size, t0, seq * o_.batch + i};
      if (fifo()) ids[i] = fifo_ids(worker, seq * o_.batch + i);
    }
    // A batch of one is a SendMessage, so that `fill -b 1` measures single sends.
    if (o_.batch == 1) {
      wire_.send(req, queue_url_, bodies[0], fifo() ? &ids[0] : nullptr);
    } else {
      wire_.send_batch(req, queue_url_, bodies, fifo() ? &ids : nullptr);
    }
    size_t failed = 0;
    bool ok = co_await conn.call(req, &res, &error, std::chrono::seconds(60));
    if (ok && o_.batch != 1) ok = wire_.parse_batch_failures(res, &failed, &error);
    if (!ok || failed > 0) {
      st.error(error);
      fill_left_ += n - static_cast<int64_t>(ok ? failed : 0);  // try those again
      if (st.errors > 1000) break;
      continue;
    }
    st.requests++;
    st.sent += n;
    st.latency.record((Clock::now() - t0).count());
  }
}

int SqsRun::run(Result* result) {
  const std::string& s = o_.scenario;
  std::string error;
  // Set-up: a fresh queue unless one was named.
  std::string name = o_.queue;
  if (name.empty()) {
    name = "ferry-bench-" + s + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(Clock::now().time_since_epoch().count() % 100000);
  }
  if (fifo() && !name.ends_with(".fifo")) name += ".fifo";
  if (raw_) {
    queue_url_ = "http://" + ep_.host + "/000000000000/" + name;
  } else {
    bool ok = once([&](Connection& conn) -> asio::awaitable<bool> {
      Request req = wire_.base_request();
      Response res;
      wire_.create_queue(req, name, fifo());
      if (!co_await conn.call(req, &res, &error)) co_return false;
      co_return wire_.parse_queue_url(res, &queue_url_, &error);
    });
    if (!ok) {
      std::cerr << "ferry-bench: cannot create queue " << name << ": " << error << "\n";
      return 2;
    }
  }

  if (s == "depth") {
    int64_t depth = -1;
    bool ok = once([&](Connection& conn) -> asio::awaitable<bool> {
      Request req = wire_.base_request();
      Response res;
      wire_.queue_depth(req, queue_url_);
      if (!co_await conn.call(req, &res, &error)) co_return false;
      co_return wire_.parse_depth(res, &depth, &error);
    });
    if (!ok) {
      std::cerr << "ferry-bench: cannot read the queue depth: " << error << "\n";
      return 2;
    }
    result->queue_depth = depth;
    return 0;
  }

  int producers = o_.producers > 0 ? o_.producers : std::max(1, o_.connections / 2);
  int consumers = o_.consumers > 0 ? o_.consumers
                  : s == "latency" ? 4
                  : s == "drain"   ? o_.connections
                                   : std::max(1, o_.connections / 2);
  int workers = 0;
  if (s == "send" || s == "send-batch" || s == "fill")
    workers = o_.connections;
  else if (s == "latency")
    workers = o_.connections + consumers;
  else if (s == "cycle")
    workers = producers + consumers;
  else if (s == "drain")
    workers = consumers;
  if (s == "latency") {
    if (o_.rate <= 0) {
      std::cerr << "ferry-bench: the latency scenario needs --rate\n";
      return 2;
    }
    interval_ =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o_.rate));
  }
  fill_left_ = o_.count;

  int nthreads = std::max(1, o_.threads);
  std::vector<std::unique_ptr<asio::io_context>> ios;
  // Each io_context is run by one thread, and only its own workers use it: without locking.
  for (int i = 0; i < nthreads; ++i) {
    ios.push_back(std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE));
  }
  std::vector<Stats> stats(workers);
  WorkerFailures failures;
  auto on_done = failures.handler();
  if (s == "fill") {
    // No time window: every message counts, and the run ends when the count is reached.
    window_.start = window_.begin = Clock::now();
    window_.end = Clock::time_point::max();
  } else {
    window_ = Window::from(o_);
  }
  producers_left_ = s == "cycle" ? producers : o_.connections;
  for (int w = 0; w < workers; ++w) {
    auto& io = *ios[w % nthreads];
    Stats& st = stats[w];
    if (s == "send")
      asio::co_spawn(io, sender(w, st), on_done);
    else if (s == "send-batch")
      asio::co_spawn(io, batch_sender(w, st), on_done);
    else if (s == "fill")
      asio::co_spawn(io, filler(w, st), on_done);
    else if (s == "cycle") {
      if (w < producers)
        asio::co_spawn(io, batch_sender(w, st), on_done);
      else
        asio::co_spawn(io, consumer(w, st, true), on_done);
    } else if (s == "latency") {
      if (w < o_.connections)
        asio::co_spawn(io, latency_sender(w, st), on_done);
      else
        asio::co_spawn(io, consumer(w, st, true), on_done);
    } else if (s == "drain") {
      asio::co_spawn(io, consumer(w, st, false), on_done);
    }
  }
  auto started = Clock::now();
  std::vector<std::thread> pool;
  for (int i = 1; i < nthreads; ++i) pool.emplace_back([&io = *ios[i]] { io.run(); });
  ios[0]->run();
  for (auto& t : pool) t.join();
  auto finished = Clock::now();

  for (const auto& st : stats) result->stats.merge(st);
  if (failures.count() > 0) result->stats.error("worker coroutine threw");
  result->measured_s =
      s == "fill" ? std::chrono::duration<double>(finished - started).count() : o_.duration_s;

  if (!raw_ && !o_.keep_queue && s != "fill") {
    once([&](Connection& conn) -> asio::awaitable<bool> {
      Request req = wire_.base_request();
      Response res;
      wire_.delete_queue(req, queue_url_);
      co_return co_await conn.call(req, &res, &error);
    });
  }
  return 0;
}

}  // namespace

int run_sqs(const Options& options, Result* result) {
  Endpoint ep;
  if (!resolve_endpoint(options.endpoint, &ep)) return 2;
  std::string error;
  static const char* kScenarios[] = {"send",  "send-batch", "cycle", "latency",
                                     "drain", "fill",       "depth"};
  if (std::find(std::begin(kScenarios), std::end(kScenarios), options.scenario) ==
      std::end(kScenarios)) {
    std::cerr << "ferry-bench: the " << options.target << " target has no scenario "
              << options.scenario << "\n";
    return 2;
  }
  if (options.target == "http" && options.scenario != "send" && options.scenario != "send-batch") {
    std::cerr << "ferry-bench: the http target runs only send and send-batch\n";
    return 2;
  }
  SqsRun run(options, ep);
  return run.run(result);
}

}  // namespace ferry::bench
