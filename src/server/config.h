#pragma once
// Ferry's configuration: command-line flags, FERRY_* environment variables and an optional TOML
// file, in that order of precedence.
#include <map>
#include <string>
#include <vector>

namespace ferry::server {

struct QueueDeclaration {
  std::string account;  // empty: the default account
  std::string name;
  std::map<std::string, std::string> attributes;
  std::map<std::string, std::string> tags;
};

struct Config {
  std::string host = "0.0.0.0";
  int port = 4566;
  std::string data_dir = "./data";
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  std::string log_level = "info";
  std::string durability = "strict";  // strict | relaxed
  int threads = 0;                    // 0: one per core
  // SQS message bodies held in memory across all queues; receives read the rest from disk.
  int message_cache_mib = 64;
  std::string config_file;
  std::vector<QueueDeclaration> queues;
  // How other machines reach this server (SNS's SigningCertURL, SubscribeURL, UnsubscribeURL);
  // empty: http://localhost:<port>.
  std::string public_url;
  // SNS deliveries that leave the machine.
  std::string smtp_relay;                                // host:port; empty: email fails, retried
  std::string smtp_from = "no-reply@sns.amazonaws.com";  // AWS's sender address
  std::string smtp_tls = "auto";  // auto (STARTTLS when offered) | starttls | tls | none
  std::string smtp_ca_file;       // CAs trusted for the relay, besides the system's
  std::string smtp_user;          // AUTH PLAIN/LOGIN, over TLS or to a loopback relay only
  std::string smtp_password;
  std::string sns_gateway_url;  // where SMS and mobile push messages are POSTed, if set
  // PEM file of certificate authorities trusted for SNS https endpoints, besides the system's.
  std::string sns_https_ca_file;
  // Kinesis: how long a new stream stays CREATING and a resharded one UPDATING, and which
  // streams enforce AWS's per-shard throughput limits (stream names, or "all").
  int kinesis_create_delay_ms = 0;
  int kinesis_update_delay_ms = 0;
  std::vector<std::string> kinesis_throughput_limits;
};

// Parses argv, the environment and the config file. Returns an exit code to stop with (0 after
// --help or --version), or -1 to continue with *config filled in.
int load_config(int argc, char** argv, Config* config);

}  // namespace ferry::server
