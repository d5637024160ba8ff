#include "server/config.h"

#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

namespace ferry::server {

namespace {

std::string toml_scalar(const toml::node& node) {
  if (auto s = node.value<std::string>()) return *s;
  if (auto i = node.value<int64_t>()) return std::to_string(*i);
  if (auto b = node.value<bool>()) return *b ? "true" : "false";
  if (auto d = node.value<double>()) return std::to_string(*d);
  return {};
}

std::map<std::string, std::string> toml_string_map(const toml::node_view<const toml::node>& view) {
  std::map<std::string, std::string> out;
  if (const toml::table* t = view.as_table()) {
    for (const auto& [k, v] : *t) out[std::string(k.str())] = toml_scalar(v);
  }
  return out;
}

}  // namespace

int load_config(int argc, char** argv, Config* config) {
  CLI::App app{
      "Ferry: a self-hosted server for the AWS messaging APIs (SQS today), durable by default.\n"
      "Every option can also be set as a FERRY_* environment variable or in the TOML file given\n"
      "by --config (keys as the long option without dashes, '-' as '_'); a flag beats the\n"
      "environment, which beats the file.",
      "ferry"};
  app.set_version_flag("--version", std::string(FERRY_VERSION));
  app.get_formatter()->column_width(34);

  app.add_option("--config", config->config_file,
                 "TOML file with options and [[sqs.queues]] to create at start-up")
      ->envname("FERRY_CONFIG");
  app.add_option("--host", config->host, "Address to listen on")
      ->envname("FERRY_HOST")
      ->capture_default_str();
  app.add_option("--port", config->port, "Port for every service and /health (0: any free port)")
      ->envname("FERRY_PORT")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--data-dir", config->data_dir, "Directory of the embedded RocksDB store")
      ->envname("FERRY_DATA_DIR")
      ->capture_default_str();
  app.add_option("--region", config->region, "Region used in ARNs when a request names none")
      ->envname("FERRY_REGION")
      ->capture_default_str();
  app.add_option("--account-id", config->account_id,
                 "Default account id; a 12-digit access key id selects that account instead")
      ->envname("FERRY_ACCOUNT_ID")
      ->capture_default_str();
  app.add_option("--log-level", config->log_level,
                 "trace, debug (one line per request), info, warn, error or off")
      ->envname("FERRY_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--durability", config->durability,
                 "strict: a 2xx write is synced to disk (group commit); relaxed: synced in the "
                 "background within ~100 ms")
      ->envname("FERRY_DURABILITY")
      ->check(CLI::IsMember({"strict", "relaxed"}))
      ->capture_default_str();
  app.add_option("--threads", config->threads, "I/O threads (0: one per core)")
      ->envname("FERRY_THREADS")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();

  app.add_option("--message-cache-mib", config->message_cache_mib,
                 "SQS message bodies held in memory, across all queues (MiB); receives read the "
                 "others from disk")
      ->envname("FERRY_MESSAGE_CACHE_MIB")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();

  app.add_option("--public-url", config->public_url,
                 "Base URL other machines reach this server at, for the URLs in SNS messages "
                 "(default http://localhost:<port>)")
      ->envname("FERRY_PUBLIC_URL");
  app.add_option("--smtp-relay", config->smtp_relay,
                 "SMTP relay (host:port) for SNS email and email-json subscriptions")
      ->envname("FERRY_SMTP_RELAY")
      ->check(
          [](const std::string& v) -> std::string {
            size_t colon = v.rfind(':');
            bool ok = colon != std::string::npos && colon > 0 && colon + 1 < v.size() &&
                      v.size() - colon - 1 <= 5 &&
                      v.find_first_not_of("0123456789", colon + 1) == std::string::npos;
            return ok ? std::string() : "expected host:port, not '" + v + "'";
          },
          "host:port");
  app.add_option("--smtp-from", config->smtp_from, "Sender address of SNS email deliveries")
      ->envname("FERRY_SMTP_FROM")
      ->capture_default_str();
  app.add_option("--smtp-tls", config->smtp_tls,
                 "Encryption to the SMTP relay: auto (STARTTLS when a relay not on loopback "
                 "offers it), starttls (required), tls (implicit, as on port 465) or none; the "
                 "relay's certificate is verified")
      ->envname("FERRY_SMTP_TLS")
      ->check(CLI::IsMember({"auto", "starttls", "tls", "none"}))
      ->capture_default_str();
  app.add_option("--smtp-ca-file", config->smtp_ca_file,
                 "PEM file of certificate authorities trusted for the SMTP relay, besides the "
                 "system's trust store")
      ->envname("FERRY_SMTP_CA_FILE");
  app.add_option("--smtp-user", config->smtp_user,
                 "User for SMTP AUTH (PLAIN or LOGIN); sent only over TLS or to a loopback relay")
      ->envname("FERRY_SMTP_USER");
  app.add_option("--smtp-password", config->smtp_password,
                 "Password for SMTP AUTH (prefer the environment variable: a flag shows in ps)")
      ->envname("FERRY_SMTP_PASSWORD");
  app.add_option("--sns-gateway-url", config->sns_gateway_url,
                 "URL that SNS SMS and mobile push messages are POSTed to (JSON), besides the "
                 "outbox at /_ferry/sns/outbox")
      ->envname("FERRY_SNS_GATEWAY_URL");
  app.add_option("--sns-https-ca-file", config->sns_https_ca_file,
                 "PEM file of certificate authorities trusted for SNS https endpoints, besides "
                 "the system's trust store (endpoint certificates are verified, as on AWS)")
      ->envname("FERRY_SNS_HTTPS_CA_FILE");

  app.add_option("--kinesis-create-delay-ms", config->kinesis_create_delay_ms,
                 "How long a new Kinesis stream stays CREATING")
      ->envname("FERRY_KINESIS_CREATE_DELAY_MS")
      ->check(CLI::Range(0, 3'600'000))
      ->capture_default_str();
  app.add_option("--kinesis-update-delay-ms", config->kinesis_update_delay_ms,
                 "How long a resharded Kinesis stream stays UPDATING")
      ->envname("FERRY_KINESIS_UPDATE_DELAY_MS")
      ->check(CLI::Range(0, 3'600'000))
      ->capture_default_str();
  app.add_option("--kinesis-throughput-limits", config->kinesis_throughput_limits,
                 "Enforce AWS's per-shard Kinesis limits (1 MiB or 1,000 records/s in, 2 MiB and "
                 "5 reads/s out): 'all', or comma-separated stream names")
      ->envname("FERRY_KINESIS_THROUGHPUT_LIMITS")
      ->delimiter(',');

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (config->config_file.empty()) return -1;
  toml::table file;
  try {
    file = toml::parse_file(config->config_file);
  } catch (const toml::parse_error& e) {
    std::cerr << "ferry: cannot read config file " << config->config_file << ": " << e.description()
              << " (line " << e.source().begin.line << ")\n";
    return 2;
  }
  // A file value applies only where neither a flag nor the environment set the option.
  auto from_file = [&](const char* option, const char* key, auto* target) {
    if (app.get_option(option)->count() > 0) return;
    using T = std::remove_pointer_t<decltype(target)>;
    if (auto v = file[key].value<T>()) *target = *v;
  };
  from_file("--host", "host", &config->host);
  from_file("--port", "port", &config->port);
  from_file("--data-dir", "data_dir", &config->data_dir);
  from_file("--region", "region", &config->region);
  from_file("--account-id", "account_id", &config->account_id);
  from_file("--log-level", "log_level", &config->log_level);
  from_file("--durability", "durability", &config->durability);
  from_file("--threads", "threads", &config->threads);
  from_file("--message-cache-mib", "message_cache_mib", &config->message_cache_mib);
  from_file("--public-url", "public_url", &config->public_url);
  // [sns] smtp_relay, smtp_from, smtp_tls, smtp_ca_file, smtp_user, smtp_password,
  // gateway_url, https_ca_file
  auto from_sns = [&](const char* option, const char* key, std::string* target) {
    if (app.get_option(option)->count() > 0) return;
    if (auto v = file["sns"][key].value<std::string>()) *target = *v;
  };
  from_sns("--smtp-relay", "smtp_relay", &config->smtp_relay);
  from_sns("--smtp-from", "smtp_from", &config->smtp_from);
  from_sns("--smtp-tls", "smtp_tls", &config->smtp_tls);
  from_sns("--smtp-ca-file", "smtp_ca_file", &config->smtp_ca_file);
  from_sns("--smtp-user", "smtp_user", &config->smtp_user);
  from_sns("--smtp-password", "smtp_password", &config->smtp_password);
  from_sns("--sns-gateway-url", "gateway_url", &config->sns_gateway_url);
  from_sns("--sns-https-ca-file", "https_ca_file", &config->sns_https_ca_file);
  // [kinesis] create_delay_ms, update_delay_ms, throughput_limits
  auto from_kinesis = [&](const char* option, const char* key, auto* target) {
    if (app.get_option(option)->count() > 0) return;
    using T = std::remove_pointer_t<decltype(target)>;
    if (auto v = file["kinesis"][key].value<T>()) *target = *v;
  };
  from_kinesis("--kinesis-create-delay-ms", "create_delay_ms", &config->kinesis_create_delay_ms);
  from_kinesis("--kinesis-update-delay-ms", "update_delay_ms", &config->kinesis_update_delay_ms);
  // throughput_limits: "all" or a list of stream names.
  if (app.get_option("--kinesis-throughput-limits")->count() == 0) {
    const auto limits = file["kinesis"]["throughput_limits"];
    if (auto all = limits.value<std::string>()) config->kinesis_throughput_limits = {*all};
    if (const toml::array* names = limits.as_array()) {
      for (const auto& n : *names) {
        if (auto v = n.value<std::string>()) config->kinesis_throughput_limits.push_back(*v);
      }
    }
  }

  if (const toml::array* queues = file["sqs"]["queues"].as_array()) {
    for (const auto& node : *queues) {
      const toml::table* q = node.as_table();
      if (q == nullptr) continue;
      QueueDeclaration decl;
      decl.name = (*q)["name"].value_or(std::string());
      decl.account = (*q)["account"].value_or(std::string());
      decl.attributes = toml_string_map((*q)["attributes"]);
      decl.tags = toml_string_map((*q)["tags"]);
      if (decl.name.empty()) {
        std::cerr << "ferry: every [[sqs.queues]] entry in " << config->config_file
                  << " needs a name\n";
        return 2;
      }
      config->queues.push_back(std::move(decl));
    }
  }
  return -1;
}

}  // namespace ferry::server
