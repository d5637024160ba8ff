// ferry: configuration, wiring, signals, and nothing else.
#include <pthread.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "aws/auth.h"
#include "aws/router.h"
#include "base/clock.h"
#include "base/log.h"
#include "http/server.h"
#include "kinesis/api/kinesis_service.h"
#include "kinesis/engine/engine.h"
#include "server/config.h"
#include "sns/api/admin.h"
#include "sns/api/smtp_client.h"
#include "sns/api/sns_service.h"
#include "sns/engine/engine.h"
#include "sqs/api/sqs_service.h"
#include "sqs/engine/engine.h"
#include "storage/rocksdb/rocksdb_store.h"

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using namespace ferry;

namespace {

// An io_context run by its own named threads until join() (or destruction), which lets them
// finish what was queued first.
class ContextThreads {
 public:
  ContextThreads(int n, const char* name) : context_(n), busy_(asio::make_work_guard(context_)) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this] { context_.run(); });
      pthread_setname_np(threads_.back().native_handle(), name);  // for top -H and perf
    }
  }
  ~ContextThreads() { join(); }
  ContextThreads(const ContextThreads&) = delete;
  ContextThreads& operator=(const ContextThreads&) = delete;
  asio::any_io_executor executor() { return context_.get_executor(); }
  void join() {
    busy_.reset();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  asio::io_context context_;
  asio::executor_work_guard<asio::io_context::executor_type> busy_;
  std::vector<std::thread> threads_;
};

// Creates the queues the config file declares, or brings existing ones to the declared state.
bool declare_queues(sqs::Engine& engine, const server::Config& config) {
  for (const auto& decl : config.queues) {
    sqs::QueueId id{decl.account.empty() ? config.account_id : decl.account, decl.name};
    std::promise<bool> synced;
    auto done = [&synced](bool ok) { synced.set_value(ok); };
    auto result = engine.queue_exists(id)
                      ? engine.set_queue_attributes(id, decl.attributes, done)
                      : engine.create_queue(id, decl.attributes, decl.tags, done);
    if (!result || !synced.get_future().get()) {
      spdlog::error("cannot declare queue {} from {}: {}", decl.name, config.config_file,
                    result ? "storage failure" : result.error().message);
      return false;
    }
    spdlog::info("declared queue {}/{}", id.account, id.name);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  server::Config config;
  if (int code = server::load_config(argc, argv, &config); code >= 0) return code;

  auto level = spdlog::level::from_str(config.log_level);
  if (level == spdlog::level::off && config.log_level != "off") {
    spdlog::error("unknown log level '{}'", config.log_level);
    return 2;
  }
  spdlog::set_level(level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  if (config.durability != "strict" && config.durability != "relaxed") {
    spdlog::error("durability must be strict or relaxed, not '{}'", config.durability);
    return 2;
  }

  auto started = std::chrono::steady_clock::now();
  std::error_code fs_error;
  std::filesystem::create_directories(config.data_dir, fs_error);
  storage::RocksOptions store_options;
  store_options.dir = config.data_dir;
  store_options.mode =
      config.durability == "relaxed" ? storage::SyncMode::kRelaxed : storage::SyncMode::kStrict;
  std::string error;
  auto store = storage::RocksStore::open(store_options, &error);
  if (!store) {
    spdlog::error("cannot open data directory {}: {}", config.data_dir, error);
    return 1;
  }

  sqs::EngineOptions engine_options;
  engine_options.region = config.region;
  engine_options.body_cache_bytes = static_cast<size_t>(config.message_cache_mib) << 20;
  sqs::Engine engine(*store, base::SystemClock::instance(), engine_options);
  engine.recover();
  if (!declare_queues(engine, config)) return 1;

  sns::DeliveryOptions delivery_options;
  delivery_options.smtp_relay = config.smtp_relay;
  delivery_options.smtp_from = config.smtp_from;
  delivery_options.https_ca_file = config.sns_https_ca_file;
  // The SMTP relay's TLS mode, CA file and credentials (next to smtp_relay and smtp_from).
  if (!sns::parse_smtp_tls(config.smtp_tls, &delivery_options.smtp.tls)) {
    spdlog::error("sns: smtp_tls must be auto, starttls, tls or none, not '{}'", config.smtp_tls);
    return 2;
  }
  delivery_options.smtp.ca_file = config.smtp_ca_file;
  delivery_options.smtp.user = config.smtp_user;
  delivery_options.smtp.password = config.smtp_password;
  if (auto tls_error = sns::prepare_delivery_tls(&delivery_options); !tls_error.empty()) {
    spdlog::error("sns: {}", tls_error);
    return 2;
  }

  // The listener binds before the services are made, so that with --port 0 the URLs they hand
  // out carry the port it got. Nothing is served before io.run(), once `serve` is set.
  // One context per I/O thread, each run by that thread alone (see http::Server): `io` (the
  // main thread's) also runs the listener, signals and the services' background work.
  int threads = config.threads > 0
                    ? config.threads
                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  asio::io_context io(1);
  std::vector<std::unique_ptr<asio::io_context>> workers;
  std::vector<asio::io_context*> contexts{&io};
  for (int i = 1; i < threads; ++i) {
    contexts.push_back(workers.emplace_back(std::make_unique<asio::io_context>(1)).get());
  }
  http::Handler serve;
  http::ServerOptions server_options;
  server_options.host = config.host;
  server_options.port = static_cast<uint16_t>(config.port);
  http::Server server(
      contexts, server_options,
      [&serve](http::Request& req, const http::PeerInfo& peer) { return serve(req, peer); });
  if (!server.start(&error)) {
    spdlog::error("{}", error);
    return 1;
  }
  std::string local_host = "localhost:" + std::to_string(server.port());

  aws::Authenticator auth(aws::AuthDefaults{config.account_id, config.region});
  aws::Router router(auth);
  // Work that may wait for the disk (reads of message payloads no longer in memory) runs on
  // its own threads, so that a read never stalls the other connections of an I/O thread. Four,
  // so that several reads can be outstanding at the device at once.
  ContextThreads disk_work(4, "ferry-disk");
  sqs::ApiOptions sqs_api_options{local_host, disk_work.executor()};
  sqs::SqsService sqs_service(engine, sqs_api_options);
  router.add("sqs", sqs_service);
  sqs_service.start_background(io.get_executor());  // resumes message move tasks
  boost::json::array services{"sqs"};
  sns::EngineOptions sns_options;
  sns_options.region = config.region;
  sns_options.base_url = config.public_url.empty() ? "http://" + local_host : config.public_url;
  while (sns_options.base_url.ends_with('/')) sns_options.base_url.pop_back();
  sns_options.gateway_url = config.sns_gateway_url;
  sns::Engine sns_engine(*store, base::SystemClock::instance(), engine, sns_options);
  sns_engine.recover();
  sns::SnsService sns_service(sns_engine, delivery_options);
  router.add("sns", sns_service);
  // SNS is Query-native; accept AWS JSON 1.0 under its Smithy service name and the versioned
  // prefix that other emulators' users send.
  router.add_json_target("AmazonSimpleNotificationService", sns_service);
  router.add_json_target("SNS_20100331", sns_service);
  sns_service.start_background(io.get_executor());  // resumes http/https deliveries
  services.push_back("sns");
  kinesis::EngineOptions kinesis_options;
  kinesis_options.region = config.region;
  kinesis_options.create_delay_ms = config.kinesis_create_delay_ms;
  kinesis_options.reshard_delay_ms = config.kinesis_update_delay_ms;
  for (const auto& name : config.kinesis_throughput_limits) {
    if (name == "all") {
      kinesis_options.enforce_throughput = true;
    } else if (!name.empty()) {
      kinesis_options.enforce_throughput_streams.insert(name);
    }
  }
  kinesis::Engine kinesis_engine(*store, base::SystemClock::instance(), kinesis_options);
  if (auto recovered = kinesis_engine.recover(); !recovered) {
    spdlog::error("kinesis: {}", recovered.error().message);
    return 1;
  }
  kinesis::KinesisService kinesis_service(kinesis_engine, disk_work.executor());
  router.add("kinesis", kinesis_service);
  services.push_back("kinesis");

  std::string storage_description = store->describe();
  serve = [&](http::Request& req, const http::PeerInfo&) -> asio::awaitable<http::Reply> {
    if (req.method() == bhttp::verb::get &&
        (req.target() == "/health" || req.target() == "/_health")) {
      boost::json::object body;
      body["status"] = "ok";
      body["version"] = FERRY_VERSION;
      body["uptime_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::steady_clock::now() - started)
                                   .count();
      body["storage"] = storage_description;
      body["services"] = services;
      co_return http::make_response(req, bhttp::status::ok, "application/json",
                                    boost::json::serialize(body));
    }
    // The certificate SNS messages are signed with, as their SigningCertURL names it.
    if (req.method() == bhttp::verb::get && req.target() == sns_options.signing_cert_path) {
      co_return http::make_response(req, bhttp::status::ok, "application/x-pem-file",
                                    sns_engine.signing_certificate_pem());
    }
    // SNS's SMS and mobile push outbox and delivery counters (sns/api/admin.h).
    if (req.target().starts_with("/_ferry/sns/")) {
      auto answer = co_await sns::handle_admin(sns_engine, std::string_view(req.method_string()),
                                               std::string_view(req.target()));
      if (answer) {
        co_return http::make_response(req, static_cast<bhttp::status>(answer->status),
                                      "application/json", std::move(answer->body));
      }
    }
    co_return co_await router.route(req);
  };

  std::atomic<bool> stopped{false};
  server.on_drained([&] {
    if (stopped.exchange(true)) return;
    for (auto* context : contexts) context->stop();
  });
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: finishing requests in flight", signal);
    server.stop();
    sqs_service.stop_long_polls();
    sns_service.stop_deliveries();
    kinesis_service.stop_subscriptions();
  });

  auto ready_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  spdlog::info("ferry {} listening on {}:{} ({} threads, {}, durability {}, ready in {} ms)",
               FERRY_VERSION, config.host, server.port(), threads, storage_description,
               config.durability, ready_ms);

  std::vector<std::thread> pool;
  for (auto& worker : workers) {
    pool.emplace_back([&worker] {
      auto busy = asio::make_work_guard(*worker);  // idle until stopped, not until out of work
      worker->run();
    });
    pthread_setname_np(pool.back().native_handle(), "ferry-io");  // for top -H and perf
  }
  io.run();
  for (auto& t : pool) t.join();
  disk_work.join();

  engine.save_receive_state();
  store->close();  // finishes pending commits
  spdlog::info("ferry stopped");
  return 0;
}
