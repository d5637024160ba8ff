// The RabbitMQ driver through rabbitmq-c: a durable queue, persistent messages (delivery mode 2)
// and publisher confirms, so an acknowledged publish is on disk like a 2xx SendMessage on Ferry.
// rabbitmq-c is blocking, so each connection is a thread of its own with its own Stats.
//
// Scenarios map one to one onto the SQS ones: send (publish one, wait for its confirm),
// send-batch (publish `batch`, wait for their confirms), cycle (producers as send-batch; consumers
// with a prefetch window acking every `batch` deliveries at once), latency (open-loop publishes).
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <atomic>
#include <boost/url/parse.hpp>
#include <iostream>
#include <thread>

#include "bench.h"

namespace ferry::bench {

namespace {

struct AmqpTarget {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";
};

std::string reply_text(const amqp_rpc_reply_t& r, const char* what) {
  std::string text = what;
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return text + ": ok";
    case AMQP_RESPONSE_NONE:
      return text + ": missing RPC reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return text + ": " + amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
        return text + ": connection closed: " +
               std::string(static_cast<char*>(m->reply_text.bytes), m->reply_text.len);
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
        return text + ": channel closed: " +
               std::string(static_cast<char*>(m->reply_text.bytes), m->reply_text.len);
      }
      return text + ": server exception";
  }
  return text;
}

// One AMQP connection with channel 1 open. Owned and used by one thread.
class AmqpConnection {
 public:
  ~AmqpConnection() {
    if (conn_) {
      if (open_) {
        amqp_channel_close(conn_, 1, AMQP_REPLY_SUCCESS);
        amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
      }
      amqp_destroy_connection(conn_);
    }
  }

  bool open(const AmqpTarget& t, std::string* error) {
    conn_ = amqp_new_connection();
    amqp_socket_t* socket = amqp_tcp_socket_new(conn_);
    if (!socket) {
      *error = "cannot create a socket";
      return false;
    }
    if (int rc = amqp_socket_open(socket, t.host.c_str(), t.port); rc != AMQP_STATUS_OK) {
      *error = std::string("connect: ") + amqp_error_string2(rc);
      return false;
    }
    auto r = amqp_login(conn_, t.vhost.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                        t.user.c_str(), t.password.c_str());
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
      *error = reply_text(r, "login");
      return false;
    }
    amqp_channel_open(conn_, 1);
    if (!ok("channel.open", error)) return false;
    open_ = true;
    return true;
  }

  bool ok(const char* what, std::string* error) {
    auto r = amqp_get_rpc_reply(conn_);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) return true;
    *error = reply_text(r, what);
    return false;
  }

  bool declare(const std::string& queue, std::string* error) {
    amqp_queue_declare(conn_, 1, amqp_cstring_bytes(queue.c_str()), 0, /*durable=*/1, 0, 0,
                       amqp_empty_table);
    return ok("queue.declare", error);
  }

  bool remove(const std::string& queue, std::string* error) {
    amqp_queue_delete(conn_, 1, amqp_cstring_bytes(queue.c_str()), 0, 0);
    return ok("queue.delete", error);
  }

  bool confirm_select(std::string* error) {
    amqp_confirm_select(conn_, 1);
    return ok("confirm.select", error);
  }

  bool publish(const std::string& queue, const std::string& body, std::string* error) {
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 2;  // persistent
    amqp_bytes_t bytes{body.size(), const_cast<char*>(body.data())};
    int rc = amqp_basic_publish(conn_, 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0, 0,
                                &props, bytes);
    if (rc != AMQP_STATUS_OK) {
      *error = std::string("publish: ") + amqp_error_string2(rc);
      return false;
    }
    published_++;
    return true;
  }

  // Waits until every publish so far is confirmed. False on a nack, a closed channel or a time-out.
  bool wait_confirms(std::string* error) {
    while (confirmed_ < published_) {
      amqp_frame_t frame;
      timeval timeout{30, 0};
      int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &timeout);
      if (rc != AMQP_STATUS_OK) {
        *error = std::string("waiting for confirms: ") + amqp_error_string2(rc);
        return false;
      }
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
          auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
          confirmed_ = ack->multiple ? ack->delivery_tag : confirmed_ + 1;
          break;
        }
        case AMQP_BASIC_NACK_METHOD:
          *error = "publish nacked by the broker";
          return false;
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
          *error = "closed by the broker while waiting for confirms";
          open_ = false;
          return false;
        default:
          break;
      }
    }
    amqp_maybe_release_buffers(conn_);
    return true;
  }

  bool consume(const std::string& queue, int prefetch, std::string* error) {
    amqp_basic_qos(conn_, 1, 0, static_cast<uint16_t>(prefetch), 0);
    if (!ok("basic.qos", error)) return false;
    amqp_basic_consume(conn_, 1, amqp_cstring_bytes(queue.c_str()), amqp_empty_bytes, 0,
                       /*no_ack=*/0, 0, amqp_empty_table);
    return ok("basic.consume", error);
  }

  // 1: got a message (body and tag filled), 0: nothing within the timeout, -1: error.
  int next(std::string* body, uint64_t* tag, std::string* error) {
    amqp_maybe_release_buffers(conn_);
    amqp_envelope_t envelope;
    timeval timeout{0, 200 * 1000};
    auto r = amqp_consume_message(conn_, &envelope, &timeout, 0);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
      return 0;
    }
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
      *error = reply_text(r, "consume");
      return -1;
    }
    body->assign(static_cast<char*>(envelope.message.body.bytes), envelope.message.body.len);
    *tag = envelope.delivery_tag;
    amqp_destroy_envelope(&envelope);
    return 1;
  }

  bool ack(uint64_t tag, bool multiple, std::string* error) {
    if (int rc = amqp_basic_ack(conn_, 1, tag, multiple ? 1 : 0); rc != AMQP_STATUS_OK) {
      *error = std::string("ack: ") + amqp_error_string2(rc);
      return false;
    }
    return true;
  }

 private:
  amqp_connection_state_t conn_ = nullptr;
  bool open_ = false;
  uint64_t published_ = 0;
  uint64_t confirmed_ = 0;
};

class AmqpRun {
 public:
  AmqpRun(const Options& o, AmqpTarget t) : o_(o), t_(std::move(t)) {}
  int run(Result* result);

 private:
  void producer(int batch, Stats& st);
  void latency_producer(Stats& st);
  void consumer(Stats& st);

  const Options& o_;
  AmqpTarget t_;
  std::string queue_;
  Window window_;
  Clock::duration interval_{};
  std::atomic<uint64_t> ticket_{0};
};

void AmqpRun::producer(int batch, Stats& st) {
  AmqpConnection c;
  std::string error;
  if (!c.open(t_, &error) || !c.confirm_select(&error)) {
    st.error(error);
    return;
  }
  for (uint64_t seq = 0;; ++seq) {
    auto t0 = Clock::now();
    if (t0 >= window_.end) break;
    bool ok = true;
    for (int i = 0; i < batch && ok; ++i) {
      ok = c.publish(queue_, make_body(o_.message_size, t0, seq * batch + i), &error);
    }
    ok = ok && c.wait_confirms(&error);
    auto t1 = Clock::now();
    if (!ok) {
      st.error(error);
      return;  // the channel is unusable after an error
    }
    if (!window_.in(t0) || t1 >= window_.end) continue;
    st.requests++;
    st.sent += batch;
    st.latency.record((t1 - t0).count());
  }
}

void AmqpRun::latency_producer(Stats& st) {
  AmqpConnection c;
  std::string error;
  if (!c.open(t_, &error) || !c.confirm_select(&error)) {
    st.error(error);
    return;
  }
  for (;;) {
    uint64_t seq = ticket_++;
    auto intended = window_.start + interval_ * static_cast<int64_t>(seq);
    if (intended >= window_.end) break;
    std::this_thread::sleep_until(intended);
    bool ok = c.publish(queue_, make_body(o_.message_size, intended, seq), &error) &&
              c.wait_confirms(&error);
    auto t1 = Clock::now();
    if (!ok) {
      st.error(error);
      return;
    }
    if (!window_.in(intended)) continue;
    st.requests++;
    st.sent++;
    st.latency.record((t1 - intended).count());
  }
}

void AmqpRun::consumer(Stats& st) {
  AmqpConnection c;
  std::string error;
  if (!c.open(t_, &error) || !c.consume(queue_, o_.prefetch, &error)) {
    st.error(error);
    return;
  }
  std::string body;
  uint64_t tag = 0;
  int unacked = 0;
  uint64_t unacked_in_window = 0;
  while (Clock::now() < window_.end) {
    int got = c.next(&body, &tag, &error);
    if (got < 0) {
      st.error(error);
      return;
    }
    if (got == 0) continue;
    auto t1 = Clock::now();
    if (window_.in(t1)) {
      st.received++;
      unacked_in_window++;
      Clock::time_point sent;
      if (parse_body_time(body, &sent) && window_.in(sent)) st.delivery.record((t1 - sent).count());
    }
    if (++unacked >= o_.batch) {
      if (!c.ack(tag, true, &error)) {
        st.error(error);
        return;
      }
      if (Clock::now() < window_.end) st.deleted += unacked_in_window;
      unacked = 0;
      unacked_in_window = 0;
    }
  }
  if (unacked > 0) c.ack(tag, true, &error);
}

int AmqpRun::run(Result* result) {
  const std::string& s = o_.scenario;
  if (s != "send" && s != "send-batch" && s != "cycle" && s != "latency") {
    std::cerr << "ferry-bench: the amqp target has no scenario " << s << "\n";
    return 2;
  }
  if (s == "latency" && o_.rate <= 0) {
    std::cerr << "ferry-bench: the latency scenario needs --rate\n";
    return 2;
  }
  queue_ = o_.queue.empty() ? "ferry-bench-" + s + "-" + std::to_string(::getpid()) : o_.queue;
  std::string error;
  {
    AmqpConnection admin;
    if (!admin.open(t_, &error) || !admin.declare(queue_, &error)) {
      std::cerr << "ferry-bench: " << error << "\n";
      return 2;
    }
  }
  int producers = o_.producers > 0 ? o_.producers : std::max(1, o_.connections / 2);
  int consumers =
      o_.consumers > 0 ? o_.consumers : (s == "latency" ? 4 : std::max(1, o_.connections / 2));
  if (s == "send" || s == "send-batch") {
    producers = o_.connections;
    consumers = 0;
  } else if (s == "latency") {
    producers = o_.connections;
    interval_ =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o_.rate));
  }
  std::vector<Stats> stats(producers + consumers);
  window_ = Window::from(o_);
  std::vector<std::thread> threads;
  for (int i = 0; i < producers; ++i) {
    threads.emplace_back([this, &st = stats[i], &s] {
      if (s == "latency")
        latency_producer(st);
      else
        producer(s == "send" ? 1 : o_.batch, st);
    });
  }
  for (int i = 0; i < consumers; ++i) {
    threads.emplace_back([this, &st = stats[producers + i]] { consumer(st); });
  }
  for (auto& t : threads) t.join();
  for (const auto& st : stats) result->stats.merge(st);
  result->measured_s = o_.duration_s;
  if (!o_.keep_queue) {
    AmqpConnection admin;
    if (admin.open(t_, &error)) admin.remove(queue_, &error);
  }
  return 0;
}

}  // namespace

int run_amqp(const Options& options, Result* result) {
  AmqpTarget t;
  std::string url =
      options.endpoint.empty() ? "amqp://guest:guest@127.0.0.1:5672/" : options.endpoint;
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || parsed->scheme() != "amqp") {
    std::cerr << "ferry-bench: bad AMQP URL " << url << "\n";
    return 2;
  }
  t.host = std::string(parsed->host());
  if (parsed->has_port()) t.port = parsed->port_number();
  if (parsed->has_userinfo()) {
    t.user = std::string(parsed->user());
    t.password = std::string(parsed->password());
  }
  if (std::string path(parsed->path()); path.size() > 1) t.vhost = path.substr(1);
  AmqpRun run(options, t);
  return run.run(result);
}

}  // namespace ferry::bench
