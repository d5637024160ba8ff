// The Kinesis driver (AWS JSON 1.1, `X-Amz-Target: Kinesis_20131202.<Action>`): the `stream`
// and `efo-latency` scenarios (issue 7).
//
// stream: a fresh stream of --shards shards; --connections producers send PutRecords of
// --records records of --message-size bytes with random partition keys for the window; then one
// TRIM_HORIZON reader per shard follows NextShardIterator with GetRecords (--limit) to the tip
// and the read rate is over that read phase. With --readers the readers run while the producers
// write (from the start; counted in the window) and stop at the tip once the producers are done.
// Without --readers, shard 0's reader runs alone first (read_mb_per_s_lone_reader), then the
// others together.
// Every record read back is counted: fewer than were acknowledged is an error.
//
// efo-latency: a one-shard stream, a registered consumer, one SubscribeToShard subscriber over
// HTTP/1.1 (AWS event-stream framing, CRCs checked) and open-loop PutRecord producers at --rate;
// latency from a record's intended send time to its arrival on the subscription (see EfoRun).
//
// Threads: stream runs `threads` io_contexts, each run by one thread; a worker's Stats live on
// its io_context; the atomics of each run class are the only shared state. efo-latency runs on
// one thread.
#include <array>
#include <atomic>
#include <boost/crc.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "bench.h"
#include "http_client.h"
#include "sqs_wire.h"

namespace ferry::bench {

namespace {

namespace json = boost::json;

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back(kAlphabet[n & 63]);
  }
  if (i < in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) n |= uint8_t(in[i + 1]) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// Bytes a base64 text decodes to.
uint64_t base64_decoded_size(std::string_view b64) {
  uint64_t n = b64.size() / 4 * 3;
  if (!b64.empty() && b64.back() == '=') n--;
  if (b64.size() > 1 && b64[b64.size() - 2] == '=') n--;
  return n;
}

uint64_t xorshift(uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

// Finds `"key"` followed by optional blanks and a colon in doc from pos; returns the position
// after the colon and blanks, or npos. Tolerates the separators of every JSON writer measured
// (`"k":v`, `"k": v`).
size_t json_value_at(std::string_view doc, std::string_view quoted_key, size_t pos) {
  for (;;) {
    size_t k = doc.find(quoted_key, pos);
    if (k == std::string_view::npos) return k;
    size_t p = k + quoted_key.size();
    while (p < doc.size() && (doc[p] == ' ' || doc[p] == '\n' || doc[p] == '\t')) ++p;
    if (p < doc.size() && doc[p] == ':') {
      ++p;
      while (p < doc.size() && (doc[p] == ' ' || doc[p] == '\n' || doc[p] == '\t')) ++p;
      return p;
    }
    pos = k + 1;
  }
}

// A JSON string value (without escapes: iterators, base64 data) at p, which is at its quote.
bool json_plain_string(std::string_view doc, size_t p, std::string_view* out) {
  if (p >= doc.size() || doc[p] != '"') return false;
  size_t end = doc.find('"', p + 1);
  if (end == std::string_view::npos) return false;
  *out = doc.substr(p + 1, end - p - 1);
  return true;
}

// What a reader needs from a GetRecords answer, picked out without building a DOM (answers are
// up to ~14 MB of JSON, and the client shares the machine with the server).
struct RecordsPage {
  uint64_t records = 0;
  uint64_t bytes = 0;
  std::string next_iterator;  // empty: the shard is closed and read to its end
  int64_t millis_behind = -1;
};

bool parse_records_page(std::string_view doc, RecordsPage* page, std::string* error) {
  *page = {};
  size_t p = 0;
  size_t after_records = 0;
  while ((p = json_value_at(doc, "\"Data\"", p)) != std::string_view::npos) {
    std::string_view data;
    if (!json_plain_string(doc, p, &data)) {
      *error = "unreadable Data in GetRecords answer";
      return false;
    }
    page->records++;
    page->bytes += base64_decoded_size(data);
    p += data.size() + 2;
    after_records = p;
  }
  // The other members usually follow the records: look there first, not through ~14 MB again.
  auto member = [&](std::string_view key) {
    size_t at = json_value_at(doc, key, after_records);
    return at != std::string_view::npos ? at : json_value_at(doc, key, 0);
  };
  p = member("\"NextShardIterator\"");
  if (p != std::string_view::npos && doc.substr(p, 4) != "null") {
    std::string_view it;
    if (!json_plain_string(doc, p, &it)) {
      *error = "unreadable NextShardIterator";
      return false;
    }
    page->next_iterator = std::string(it);
  }
  p = member("\"MillisBehindLatest\"");
  if (p != std::string_view::npos) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(doc.data() + p, doc.data() + doc.size(), v);
    if (ec == std::errc()) page->millis_behind = v;
  }
  if (page->records == 0 && doc.find("\"Records\"") == std::string_view::npos) {
    *error = "no Records in GetRecords answer: " + std::string(doc.substr(0, 200));
    return false;
  }
  return true;
}

// The Kinesis AWS JSON 1.1 protocol as a client speaks it. No I/O.
class KinesisWire {
 public:
  explicit KinesisWire(std::string host) : host_(std::move(host)) {}

  Request request(std::string_view action, std::string body) const {
    Request req{http::verb::post, "/", 11};
    req.set(http::field::host, host_);
    req.set(http::field::content_type, "application/x-amz-json-1.1");
    req.set(http::field::authorization, authorization("kinesis"));
    req.set("X-Amz-Date", "20260101T000000Z");
    req.set("X-Amz-Target", "Kinesis_20131202." + std::string(action));
    req.set(http::field::user_agent, "ferry-bench");
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
  }

 private:
  std::string host_;
};

bool parse_object(const Response& res, json::object* out, std::string* error) {
  boost::system::error_code ec;
  json::value v = json::parse(res.body(), ec);
  if (ec || !v.is_object()) {
    *error = "unparsable JSON answer: " + res.body().substr(0, 200);
    return false;
  }
  *out = std::move(v.as_object());
  return true;
}

// One stream run. Owned by run_kinesis().
class StreamRun {
 public:
  StreamRun(const Options& o, const Endpoint& ep) : o_(o), ep_(ep), wire_(ep.host) {}

  int run(Result* result);

 private:
  bool setup(std::string* error);
  void teardown();
  asio::awaitable<void> producer(int worker, Stats& st);
  asio::awaitable<void> reader(const std::string& shard, Stats& st);
  std::string put_records_body(uint64_t& rng) const;

  const Options& o_;
  const Endpoint& ep_;
  KinesisWire wire_;
  std::string stream_;
  std::vector<std::string> shards_;
  std::vector<std::string> pool_;  // base64 record data, picked at random
  Window window_;                  // the write window (and the read window with --readers)
  Clock::time_point read_deadline_;
  std::atomic<int> producers_left_{0};
  std::atomic<uint64_t> put_total_{0};   // records acknowledged, in or out of the window
  std::atomic<uint64_t> read_total_{0};  // records read, in or out of the window
  std::atomic<uint64_t> read_bytes_total_{0};
  std::atomic<uint64_t> get_records_calls_{0};
  std::mutex reader_mu_;
  std::vector<double> reader_mb_per_s_;  // each reader's own rate, over its own run
  double lone_reader_mb_per_s_ = 0;      // shard 0's reader, run alone after the writes
};

// Creates stream `name` with `shards` shards and waits until it is ACTIVE; its shard ids and ARN.
bool create_stream(const Endpoint& ep, const KinesisWire& wire, const std::string& name, int shards,
                   std::vector<std::string>* shard_ids, std::string* arn, std::string* error) {
  return run_once(ep, [&](Connection& conn) -> asio::awaitable<bool> {
    Response res;
    Request req =
        wire.request("CreateStream", "{\"StreamName\":" + json_quote(name) +
                                         ",\"ShardCount\":" + std::to_string(shards) + "}");
    if (!co_await conn.call(req, &res, error)) {
      *error = "CreateStream: " + *error;
      co_return false;
    }
    // Some emulators keep a new stream CREATING for a while (kinesalite, kinesis-mock: 500 ms).
    auto deadline = Clock::now() + std::chrono::seconds(30);
    for (;;) {
      req = wire.request("DescribeStream", "{\"StreamName\":" + json_quote(name) + "}");
      if (!co_await conn.call(req, &res, error)) {
        *error = "DescribeStream: " + *error;
        co_return false;
      }
      json::object o;
      if (!parse_object(res, &o, error)) co_return false;
      const auto* d = o.if_contains("StreamDescription");
      const json::object* desc = d ? d->if_object() : nullptr;
      const json::value* status = desc ? desc->if_contains("StreamStatus") : nullptr;
      if (status && status->is_string() && status->as_string() == "ACTIVE") {
        if (const json::value* a = desc->if_contains("StreamARN"); a && a->is_string())
          *arn = std::string(a->as_string());
        const json::value* list = desc->if_contains("Shards");
        if (list && list->is_array()) {
          for (const auto& s : list->as_array()) {
            const json::value* id = s.is_object() ? s.as_object().if_contains("ShardId") : nullptr;
            if (id && id->is_string()) shard_ids->emplace_back(id->as_string());
          }
        }
        break;
      }
      if (Clock::now() > deadline) {
        *error = "the stream did not become ACTIVE in 30 s";
        co_return false;
      }
      co_await sleep_for(std::chrono::milliseconds(100));
    }
    if (shard_ids->empty()) {
      *error = "DescribeStream listed no shards";
      co_return false;
    }
    co_return true;
  });
}

void delete_stream(const Endpoint& ep, const KinesisWire& wire, const std::string& name) {
  std::string error;
  run_once(ep, [&](Connection& conn) -> asio::awaitable<bool> {
    Response res;
    Request req = wire.request("DeleteStream", "{\"StreamName\":" + json_quote(name) +
                                                   ",\"EnforceConsumerDeletion\":true}");
    co_return co_await conn.call(req, &res, &error);
  });
}

std::string fresh_stream_name(std::string_view scenario) {
  return "ferry-bench-" + std::string(scenario) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(Clock::now().time_since_epoch().count() % 100000);
}

bool StreamRun::setup(std::string* error) {
  stream_ = fresh_stream_name("stream");
  std::string arn;
  return create_stream(ep_, wire_, stream_, o_.shards, &shards_, &arn, error);
}

void StreamRun::teardown() {
  if (!stream_.empty()) delete_stream(ep_, wire_, stream_);
}

std::string StreamRun::put_records_body(uint64_t& rng) const {
  std::string body;
  body.reserve(static_cast<size_t>(o_.records) * (pool_[0].size() + 64) + 128);
  body += "{\"StreamName\":";
  body += json_quote(stream_);
  body += ",\"Records\":[";
  char key[17];
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < o_.records; ++i) {
    uint64_t r = xorshift(rng);
    if (i) body.push_back(',');
    body += "{\"Data\":\"";
    body += pool_[r % pool_.size()];
    body += "\",\"PartitionKey\":\"";
    uint64_t k = xorshift(rng);
    for (int j = 0; j < 16; ++j) key[j] = kHex[(k >> (4 * j)) & 15];
    body.append(key, 16);
    body += "\"}";
  }
  body += "]}";
  return body;
}

asio::awaitable<void> StreamRun::producer(int worker, Stats& st) {
  Connection conn(co_await asio::this_coro::executor, ep_);
  Response res;
  std::string error;
  uint64_t rng =
      0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(worker + 1) * 0xBF58476D1CE4E5B9ull);
  for (;;) {
    Request req = wire_.request("PutRecords", put_records_body(rng));
    auto t0 = Clock::now();
    if (t0 >= window_.end) break;
    bool ok = co_await conn.call(req, &res, &error);
    uint64_t failed = 0;
    if (ok) {
      // FailedRecordCount without building a DOM of 500 entries; the first failure's code when
      // there is one.
      size_t p = json_value_at(res.body(), "\"FailedRecordCount\"", 0);
      if (p == std::string::npos) {
        ok = false;
        error = "no FailedRecordCount in " + res.body().substr(0, 200);
      } else {
        std::from_chars(res.body().data() + p, res.body().data() + res.body().size(), failed);
        if (failed > 0) {
          size_t e = json_value_at(res.body(), "\"ErrorCode\"", 0);
          std::string_view code;
          if (e != std::string::npos) json_plain_string(res.body(), e, &code);
          error = std::to_string(failed) + " of " + std::to_string(o_.records) +
                  " records failed: " + std::string(code);
        }
      }
    }
    auto t1 = Clock::now();
    uint64_t good = ok ? o_.records - failed : 0;
    put_total_ += good;
    // Throughput counts the calls answered inside the window (a PutRecords of 500 records may
    // take longer than the window on a slow system); latency only those also sent inside it.
    if (!window_.in(t1)) continue;
    if (!ok) {
      st.error(error);
      continue;
    }
    if (failed > 0) st.error(error);
    st.requests++;
    st.sent += good;
    st.bytes_sent += good * o_.message_size;
    if (window_.in(t0)) st.latency.record((t1 - t0).count());
  }
  producers_left_--;
}

asio::awaitable<void> StreamRun::reader(const std::string& shard, Stats& st) {
  Connection conn(co_await asio::this_coro::executor, ep_);
  Response res;
  std::string error;
  std::string iterator;
  for (int attempt = 0; iterator.empty(); ++attempt) {
    Request req = wire_.request("GetShardIterator", "{\"StreamName\":" + json_quote(stream_) +
                                                        ",\"ShardId\":" + json_quote(shard) +
                                                        ",\"ShardIteratorType\":\"TRIM_HORIZON\"}");
    json::object o;
    if (co_await conn.call(req, &res, &error) && parse_object(res, &o, &error)) {
      const json::value* it = o.if_contains("ShardIterator");
      if (it && it->is_string()) {
        iterator = std::string(it->as_string());
        break;
      }
      error = "no ShardIterator in " + res.body().substr(0, 200);
    }
    if (attempt >= 3 || Clock::now() > read_deadline_) {
      st.error("GetShardIterator: " + error);
      co_return;
    }
    co_await sleep_for(std::chrono::milliseconds(200));
  }
  RecordsPage page;
  auto started = Clock::now();
  uint64_t bytes = 0;
  while (Clock::now() < read_deadline_) {
    Request req = wire_.request("GetRecords", "{\"ShardIterator\":" + json_quote(iterator) +
                                                  ",\"Limit\":" + std::to_string(o_.limit) + "}");
    bool ok = co_await conn.call(req, &res, &error, std::chrono::seconds(60));
    if (ok) ok = parse_records_page(res.body(), &page, &error);
    auto t1 = Clock::now();
    // With --readers the window counts; after the writes, the whole read phase does (from the
    // shared totals), so the per-worker counts stay empty then.
    bool counted = o_.readers && window_.in(t1);
    if (!ok) {
      if (counted || !o_.readers) st.error("GetRecords: " + error);
      // A throttled or failed call: back off a little and retry with the same iterator.
      co_await sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    get_records_calls_++;
    bytes += page.bytes;
    read_total_ += page.records;
    read_bytes_total_ += page.bytes;
    if (counted) {
      st.receives++;
      st.received += page.records;
      st.bytes_received += page.bytes;
      if (page.records == 0) st.empty_receives++;
    }
    if (page.next_iterator.empty()) break;  // a closed shard, read to its end
    iterator = std::move(page.next_iterator);
    if (page.records == 0) {
      if (producers_left_.load() == 0 && page.millis_behind <= 0) break;  // at the tip
      co_await sleep_for(std::chrono::milliseconds(20));
    }
  }
  double secs = std::chrono::duration<double>(Clock::now() - started).count();
  if (secs > 0 && bytes > 0) {
    std::lock_guard lock(reader_mu_);
    reader_mb_per_s_.push_back(static_cast<double>(bytes) / 1e6 / secs);
  }
}

int StreamRun::run(Result* result) {
  std::string error;
  if (!setup(&error)) {
    std::cerr << "ferry-bench: stream set-up failed: " << error << "\n";
    teardown();
    return 2;
  }
  // 1024 distinct record payloads (make_body's filler), base64-encoded once.
  for (int i = 0; i < 1024; ++i)
    pool_.push_back(base64(make_body(o_.message_size, Clock::now(), static_cast<uint64_t>(i))));

  int nthreads = std::max(1, o_.threads);
  auto run_phase = [&](const std::function<void(asio::io_context&, int)>& spawn, int workers) {
    std::vector<std::unique_ptr<asio::io_context>> ios;
    for (int i = 0; i < nthreads; ++i) ios.push_back(std::make_unique<asio::io_context>(1));
    for (int w = 0; w < workers; ++w) spawn(*ios[w % nthreads], w);
    std::vector<std::thread> pool;
    for (int i = 1; i < nthreads; ++i) pool.emplace_back([&io = *ios[i]] { io.run(); });
    ios[0]->run();
    for (auto& t : pool) t.join();
  };
  WorkerFailures failures;
  auto on_done = failures.handler();
  const int producers = o_.connections;
  const int readers = static_cast<int>(shards_.size());
  std::vector<Stats> stats(producers + readers);
  auto bound = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };

  window_ = Window::from(o_);
  producers_left_ = producers;
  double read_s = 0;
  if (o_.readers) {
    read_deadline_ = window_.end + bound(std::max(10.0, o_.duration_s));
    run_phase(
        [&](asio::io_context& io, int w) {
          if (w < producers)
            asio::co_spawn(io, producer(w, stats[w]), on_done);
          else
            asio::co_spawn(io, reader(shards_[w - producers], stats[w]), on_done);
        },
        producers + readers);
    read_s = o_.duration_s;
  } else {
    run_phase(
        [&](asio::io_context& io, int w) { asio::co_spawn(io, producer(w, stats[w]), on_done); },
        producers);
    auto read_start = Clock::now();
    read_deadline_ = read_start + bound(std::max(30.0, 3 * o_.duration_s));
    // First shard 0's reader alone (the rate of one reader, the measure), then the other
    // shards' readers together.
    run_phase([&](asio::io_context& io,
                  int) { asio::co_spawn(io, reader(shards_[0], stats[producers]), on_done); },
              1);
    {
      std::lock_guard lock(reader_mu_);
      if (!reader_mb_per_s_.empty()) lone_reader_mb_per_s_ = reader_mb_per_s_.front();
    }
    run_phase(
        [&](asio::io_context& io, int w) {
          asio::co_spawn(io, reader(shards_[w + 1], stats[producers + w + 1]), on_done);
        },
        readers - 1);
    read_s = std::chrono::duration<double>(Clock::now() - read_start).count();
  }

  Stats& total = result->stats;
  for (const auto& st : stats) total.merge(st);
  if (failures.count() > 0) total.error("worker coroutine threw");
  result->measured_s = o_.duration_s;
  double secs = o_.duration_s > 0 ? o_.duration_s : 1;
  double rsecs = read_s > 0 ? read_s : 1;
  result->metric("put_mb_per_s", static_cast<double>(total.bytes_sent) / 1e6 / secs, "MB/s");
  result->metric("put_records_per_s", static_cast<double>(total.sent) / secs, "/s");
  double read_bytes =
      static_cast<double>(o_.readers ? total.bytes_received : read_bytes_total_.load());
  double read_records = static_cast<double>(o_.readers ? total.received : read_total_.load());
  result->metric("read_mb_per_s", read_bytes / 1e6 / rsecs, "MB/s");
  result->metric("read_records_per_s", read_records / rsecs, "/s");
  double per_reader = 0;
  for (double r : reader_mb_per_s_) per_reader += r;
  if (!reader_mb_per_s_.empty()) per_reader /= static_cast<double>(reader_mb_per_s_.size());
  result->metric("read_mb_per_s_per_reader", per_reader, "MB/s");
  if (!o_.readers) result->metric("read_mb_per_s_lone_reader", lone_reader_mb_per_s_, "MB/s");
  result->metric("read_s", read_s, "s");
  result->metric("shards", static_cast<double>(shards_.size()), "count");
  result->metric("records_put_total", static_cast<double>(put_total_.load()), "count");
  result->metric("records_read_total", static_cast<double>(read_total_.load()), "count");
  result->metric("get_records_calls", static_cast<double>(get_records_calls_.load()), "count");
  if (read_total_.load() < put_total_.load()) {
    total.error("read " + std::to_string(read_total_.load()) + " of " +
                std::to_string(put_total_.load()) + " acknowledged records" +
                (Clock::now() >= read_deadline_ ? " before the read deadline" : ""));
  }
  teardown();
  return 0;
}

// Decodes base64 (standard alphabet, padded); false on a character outside it.
bool unbase64(std::string_view in, std::string* out) {
  static const auto kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(a[i])] = static_cast<int8_t>(i);
    return t;
  }();
  out->clear();
  out->reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int8_t v = kTable[static_cast<uint8_t>(c)];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

uint32_t be32(const char* p) {
  return (uint32_t(uint8_t(p[0])) << 24) | (uint32_t(uint8_t(p[1])) << 16) |
         (uint32_t(uint8_t(p[2])) << 8) | uint32_t(uint8_t(p[3]));
}

uint32_t crc32(const char* p, size_t n) {
  boost::crc_32_type crc;
  crc.process_bytes(p, n);
  return crc.checksum();
}

// One message of the AWS event-stream framing: a 12-byte prelude (total length, headers length,
// CRC32 of those 8 bytes), headers, payload, and a CRC32 of everything before it.
struct EventMessage {
  std::map<std::string, std::string> headers;  // string-valued headers (:message-type, ...)
  std::string_view payload;
};

// Takes one whole message from the front of buf. 0: not complete yet; -1: malformed (*error).
int64_t parse_event_message(std::string_view buf, EventMessage* m, std::string* error) {
  if (buf.size() < 12) return 0;
  uint32_t total = be32(buf.data()), headers_len = be32(buf.data() + 4);
  if (total < 16 || headers_len > total - 16 || total > (16u << 20)) {
    *error = "event stream: bad prelude (total " + std::to_string(total) + ")";
    return -1;
  }
  if (crc32(buf.data(), 8) != be32(buf.data() + 8)) {
    *error = "event stream: prelude CRC mismatch";
    return -1;
  }
  if (buf.size() < total) return 0;
  if (crc32(buf.data(), total - 4) != be32(buf.data() + total - 4)) {
    *error = "event stream: message CRC mismatch";
    return -1;
  }
  m->headers.clear();
  std::string_view h = buf.substr(12, headers_len);
  size_t p = 0;
  while (p < h.size()) {
    size_t name_len = uint8_t(h[p++]);
    if (p + name_len + 1 > h.size()) break;
    std::string name(h.substr(p, name_len));
    p += name_len;
    uint8_t type = uint8_t(h[p++]);
    static constexpr int kFixed[] = {0, 0, 1, 2, 4, 8, -1, -1, 8, 16};
    if (type > 9) {
      *error = "event stream: unknown header type " + std::to_string(type);
      return -1;
    }
    if (kFixed[type] >= 0) {
      p += static_cast<size_t>(kFixed[type]);
      continue;
    }
    if (p + 2 > h.size()) break;
    size_t len = (size_t(uint8_t(h[p])) << 8) | uint8_t(h[p + 1]);
    p += 2;
    if (type == 7) m->headers[name] = std::string(h.substr(p, len));
    p += len;
  }
  m->payload = buf.substr(12 + headers_len, total - 16 - headers_len);
  return total;
}

// efo-latency: one SubscribeToShard subscriber (HTTP/1.1; Ferry answers with a chunked body of
// event-stream messages) on a one-shard stream, and open-loop PutRecord producers at --rate
// (default 100/s) over --connections. The latency of a record is from its intended send time
// (carried in its data, as in the latency scenario: no coordinated omission) to its arrival in
// a SubscribeToShardEvent. Every record acknowledged inside the window must arrive.
class EfoRun {
 public:
  EfoRun(const Options& o, const Endpoint& ep) : o_(o), ep_(ep), wire_(ep.host) {}
  int run(Result* result);

 private:
  asio::awaitable<void> subscriber(Stats& st);
  asio::awaitable<void> producer(Stats& st);

  const Options& o_;
  const Endpoint& ep_;
  KinesisWire wire_;
  std::string stream_, stream_arn_, consumer_arn_;
  std::vector<std::string> shards_;
  Window window_;
  Clock::duration interval_{};
  std::atomic<bool> subscribed_{false};
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> ticket_{0};
  std::atomic<uint64_t> put_in_window_{0};
  std::atomic<uint64_t> arrived_in_window_{0};
  std::atomic<uint64_t> events_{0};
};

asio::awaitable<void> EfoRun::subscriber(Stats& st) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(std::chrono::seconds(10));
  auto [cec] = co_await stream.async_connect(ep_.address, kNoThrow);
  if (cec) {
    st.error("SubscribeToShard: connect: " + cec.message());
    failed_ = true;
    co_return;
  }
  stream.socket().set_option(tcp::no_delay(true));
  Request req =
      wire_.request("SubscribeToShard", "{\"ConsumerARN\":" + json_quote(consumer_arn_) +
                                            ",\"ShardId\":" + json_quote(shards_[0]) +
                                            ",\"StartingPosition\":{\"Type\":\"LATEST\"}}");
  auto [wec, wn] = co_await http::async_write(stream, req, kNoThrow);
  if (wec) {
    st.error("SubscribeToShard: write: " + wec.message());
    failed_ = true;
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, kNoThrow);
  if (hec || parser.get().result_int() != 200) {
    if (!hec) co_await http::async_read(stream, buffer, parser, kNoThrow);
    st.error("SubscribeToShard: " + (hec ? hec.message()
                                         : "HTTP " + std::to_string(parser.get().result_int()) +
                                               ": " + parser.get().body().substr(0, 300)));
    failed_ = true;
    co_return;
  }
  std::string data;
  EventMessage m;
  std::string error;
  while (!parser.is_done()) {
    // The subscription lasts until shortly after the window (records sent at its end arrive);
    // the window starts once the first event is in.
    stream.expires_at(window_.end + std::chrono::seconds(2));
    auto [rec, rn] = co_await http::async_read_some(stream, buffer, parser, kNoThrow);
    auto now = Clock::now();
    if (rec) {
      if (now < window_.end) st.error("SubscribeToShard: read: " + rec.message());
      break;
    }
    std::string& body = parser.get().body();
    size_t used = 0;
    for (;;) {
      int64_t n = parse_event_message(std::string_view(body).substr(used), &m, &error);
      if (n < 0) {
        st.error(error);
        co_return;
      }
      if (n == 0) break;
      used += static_cast<size_t>(n);
      if (m.headers[":message-type"] != "event") {
        st.error("SubscribeToShard: " + m.headers[":exception-type"] + " " +
                 std::string(m.payload.substr(0, 200)));
        continue;
      }
      events_++;
      subscribed_ = true;
      if (m.headers[":event-type"] != "SubscribeToShardEvent") continue;
      size_t p = 0;
      while ((p = json_value_at(m.payload, "\"Data\"", p)) != std::string_view::npos) {
        std::string_view b64;
        if (!json_plain_string(m.payload, p, &b64)) break;
        p += b64.size() + 2;
        Clock::time_point intended;
        if (!unbase64(b64, &data) || !parse_body_time(data, &intended)) {
          st.error("a record whose data is not ferry-bench's");
          continue;
        }
        if (!window_.in(intended)) continue;
        arrived_in_window_++;
        st.received++;
        st.delivery.record((now - intended).count());
      }
    }
    body.erase(0, used);
  }
}

asio::awaitable<void> EfoRun::producer(Stats& st) {
  Connection conn(co_await asio::this_coro::executor, ep_);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  Response res;
  std::string error;
  for (;;) {
    uint64_t seq = ticket_++;
    auto intended = window_.start + interval_ * static_cast<int64_t>(seq);
    if (intended >= window_.end || failed_) break;
    if (intended > Clock::now()) {
      timer.expires_at(intended);
      co_await timer.async_wait(kNoThrow);
    }
    Request req =
        wire_.request("PutRecord", "{\"StreamName\":" + json_quote(stream_) + ",\"Data\":\"" +
                                       base64(make_body(o_.message_size, intended, seq)) +
                                       "\",\"PartitionKey\":\"k" + std::to_string(seq) + "\"}");
    bool ok = co_await conn.call(req, &res, &error);
    auto t1 = Clock::now();
    if (!window_.in(intended)) continue;
    if (!ok) {
      st.error("PutRecord: " + error);
      continue;
    }
    put_in_window_++;
    st.requests++;
    st.sent++;
    st.latency.record((t1 - intended).count());
  }
}

int EfoRun::run(Result* result) {
  std::string error;
  stream_ = fresh_stream_name("efo");
  if (!create_stream(ep_, wire_, stream_, 1, &shards_, &stream_arn_, &error)) {
    std::cerr << "ferry-bench: efo-latency set-up failed: " << error << "\n";
    delete_stream(ep_, wire_, stream_);
    return 2;
  }
  bool ok = run_once(ep_, [&](Connection& conn) -> asio::awaitable<bool> {
    Response res;
    Request req =
        wire_.request("RegisterStreamConsumer", "{\"StreamARN\":" + json_quote(stream_arn_) +
                                                    ",\"ConsumerName\":\"ferry-bench\"}");
    json::object o;
    if (!co_await conn.call(req, &res, &error) || !parse_object(res, &o, &error)) {
      error = "RegisterStreamConsumer: " + error;
      co_return false;
    }
    const json::value* c = o.if_contains("Consumer");
    const json::value* arn =
        c && c->is_object() ? c->as_object().if_contains("ConsumerARN") : nullptr;
    if (!arn || !arn->is_string()) {
      error = "no ConsumerARN in " + res.body().substr(0, 200);
      co_return false;
    }
    consumer_arn_ = std::string(arn->as_string());
    // AWS keeps a new consumer CREATING for a few seconds.
    for (int i = 0; i < 300; ++i) {
      req = wire_.request("DescribeStreamConsumer",
                          "{\"ConsumerARN\":" + json_quote(consumer_arn_) + "}");
      if (!co_await conn.call(req, &res, &error)) co_return false;
      if (res.body().find("\"ACTIVE\"") != std::string::npos) co_return true;
      co_await sleep_for(std::chrono::milliseconds(100));
    }
    error = "the consumer did not become ACTIVE in 30 s";
    co_return false;
  });
  if (!ok) {
    std::cerr << "ferry-bench: efo-latency set-up failed: " << error << "\n";
    delete_stream(ep_, wire_, stream_);
    return 2;
  }
  double rate = o_.rate > 0 ? o_.rate : 100;
  interval_ = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1 / rate));

  asio::io_context io(1);
  Stats sub_stats;
  std::vector<Stats> stats(o_.connections);
  WorkerFailures failures;
  auto on_done = failures.handler();
  // The subscription first; the producers start once its first event has arrived (LATEST
  // delivers only what is written after that), and the window starts with them.
  window_.start = window_.begin = Clock::now();
  window_.end = Clock::now() + std::chrono::seconds(3600);
  asio::co_spawn(io, subscriber(sub_stats), on_done);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto give_up = Clock::now() + std::chrono::seconds(15);
        while (!subscribed_ && !failed_ && Clock::now() < give_up)
          co_await sleep_for(std::chrono::milliseconds(10));
        if (!subscribed_) {
          if (!failed_) sub_stats.error("SubscribeToShard: no event within 15 s");
          failed_ = true;
          co_return;
        }
        window_ = Window::from(o_);
        for (int w = 0; w < o_.connections; ++w) asio::co_spawn(io, producer(stats[w]), on_done);
      },
      on_done);
  io.run();

  Stats& total = result->stats;
  total.merge(sub_stats);
  for (const auto& st : stats) total.merge(st);
  if (failures.count() > 0) total.error("worker coroutine threw");
  result->measured_s = o_.duration_s;
  result->metric("rate", rate, "/s");
  result->metric("events", static_cast<double>(events_.load()), "count");
  result->metric("records_put_in_window", static_cast<double>(put_in_window_.load()), "count");
  result->metric("records_arrived", static_cast<double>(arrived_in_window_.load()), "count");
  if (!failed_ && arrived_in_window_.load() < put_in_window_.load()) {
    total.error(std::to_string(put_in_window_.load() - arrived_in_window_.load()) + " of " +
                std::to_string(put_in_window_.load()) +
                " records put in the window never arrived on the subscription");
  }
  delete_stream(ep_, wire_, stream_);
  if (failed_) {
    std::cerr << "ferry-bench: efo-latency: " << total.first_error.substr(0, 300) << "\n";
    return 2;
  }
  return 0;
}

}  // namespace

int run_kinesis(const Options& options, Result* result) {
  if (options.scenario != "stream" && options.scenario != "efo-latency") {
    std::cerr << "ferry-bench: the kinesis target has the stream and efo-latency scenarios\n";
    return 2;
  }
  Endpoint ep;
  if (!resolve_endpoint(options.endpoint, &ep)) return 2;
  std::string error;
  if (options.scenario == "efo-latency") {
    EfoRun run(options, ep);
    return run.run(result);
  }
  StreamRun run(options, ep);
  return run.run(result);
}

}  // namespace ferry::bench
