#pragma once
// The SNS engine: topics, subscriptions and fan-out with SNS's semantics, persisted through
// storage::Store, delivering to SQS subscriptions through the SQS engine's public API.
// No HTTP or wire types here; api/ decodes requests into these structs and encodes the results.
//
// Ownership and threads: owned by server/ (or the embedding program), next to the SQS engine it
// delivers to, which must outlive it. Every public method is thread-safe and never waits on
// disk: a topic directory guarded by a shared_mutex, and per topic a publish mutex that keeps
// the messages of one topic in publish order in every queue.
// Durability: a mutating method that takes `done` issues its store write(s) and, on success,
// calls `done(ok)` exactly once, after they are on stable storage (possibly on the store's
// commit or sync thread, possibly before the method returns). On failure it returns the error and
// never calls `done`. For publish(), `done` runs once every delivery to a local SQS queue is
// synced.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "sns/engine/errors.h"
#include "sqs/engine/engine.h"
#include "storage/store.h"

namespace ferry::sns {

using AttributeMap = std::map<std::string, std::string>;
using TagMap = std::map<std::string, std::string>;

// A message attribute as SNS takes it. binary_value holds decoded bytes.
struct MessageAttribute {
  std::string data_type;  // String, String.Array, Number, Binary (optionally with ".label")
  std::string string_value;
  std::string binary_value;
};
using MessageAttributes = std::map<std::string, MessageAttribute>;

struct PublishRequest {
  std::string topic_arn;  // TopicArn or TargetArn
  std::string message;
  std::string subject;
  std::string message_structure;  // "" or "json"
  MessageAttributes message_attributes;
  std::string message_group_id;
  std::string deduplication_id;
  // Publish with PhoneNumber (topic_arn empty): one SMS to this E.164 number.
  std::string phone_number;
};

struct PublishResult {
  std::string message_id;
  std::string sequence_number;  // FIFO topics only
};

struct SubscriptionInfo {
  std::string subscription_arn;  // "PendingConfirmation" while pending
  std::string owner;
  std::string protocol;
  std::string endpoint;
  std::string topic_arn;
};

template <class T>
struct Page {
  std::vector<T> items;
  std::string next_token;  // empty: last page
};

// A delivery waiting to be made by api/: a SubscriptionConfirmation or a Notification.
//   http, https:        POST `body` to the URL `endpoint`
//   email, email-json:  mail `body` with `subject` to the address `endpoint` (SMTP relay)
//   sms, application:   POST `body` (JSON: Protocol, Destination, Message, ...) to the SMS and
//                       mobile push gateway URL `endpoint` (EngineOptions::gateway_url)
struct Delivery {
  uint64_t id = 0;
  std::string protocol;          // as above
  std::string subscription_arn;  // empty for a Publish to a phone number or platform endpoint
  std::string topic_arn;
  std::string endpoint;      // the URL to POST to, or the mail address
  std::string message_type;  // "Notification" or "SubscriptionConfirmation"
  std::string message_id;
  std::string body;
  bool raw = false;  // RawMessageDelivery: the body is the message itself
  int attempts = 0;  // attempts made so far
  int64_t due_ms = 0;
  std::string subject;      // email, email-json: the mail's Subject
  std::string sender_name;  // email, email-json: the From display name (topic's DisplayName)
};

// An SMS or mobile push message Ferry would have handed to a phone or push network: kept in a
// bounded outbox (newest EngineOptions::outbox_limit) that the admin endpoint lists.
struct OutboxEntry {
  uint64_t seq = 0;
  int64_t timestamp_ms = 0;
  std::string protocol;     // "sms" or "application"
  std::string destination;  // E.164 phone number or platform endpoint ARN
  std::string message;
  std::string subject;
  std::string message_id;
  std::string topic_arn;         // empty for a direct publish
  std::string subscription_arn;  // empty for a direct publish
  std::string attributes_json;   // MessageAttributes as {"name":{"Type":..,"Value":..}}
};

// A mobile push platform application or endpoint, with its attributes as GetXAttributes
// answers them (credentials are write-only).
struct PlatformResource {
  std::string arn;
  AttributeMap attributes;
};

struct DeliveryStats {
  uint64_t delivered = 0;
  uint64_t retried = 0;
  uint64_t dead_lettered = 0;  // moved to the subscription's RedrivePolicy queue
  uint64_t dropped = 0;        // retries exhausted and no dead-letter queue
  uint64_t undeliverable = 0;  // matched a lambda or firehose subscription (not delivered)
  uint64_t outboxed = 0;       // SMS and mobile push messages written to the outbox
};

struct EngineOptions {
  std::string region = "us-east-1";
  // Base of the URLs the envelope carries (SigningCertURL, UnsubscribeURL), e.g.
  // "http://localhost:4566".
  std::string base_url = "http://localhost:4566";
  int page_size = 100;  // ListTopics and ListSubscriptions* pages
  // Retry delays of http/https deliveries vary by up to this fraction either way (jitter), so
  // that endpoints coming back are not hit by every retry at once. 0 in tests.
  double retry_jitter = 0.1;
  // Path (under base_url) where the signing certificate is served.
  std::string signing_cert_path = "/SimpleNotificationService-ferry.pem";
  // SMS and mobile push messages kept in the outbox (the oldest go first).
  size_t outbox_limit = 10000;
  // Where SMS and mobile push messages are also POSTed (JSON), if set.
  std::string gateway_url;
  int platform_application_page_size = 15;  // ListPlatformApplications
  int endpoint_page_size = 100;             // ListEndpointsByPlatformApplication
};

class Engine {
 public:
  Engine(storage::Store& store, const base::Clock& clock, sqs::Engine& sqs,
         EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Rebuilds every topic, subscription and filter policy from the store. Call once, first.
  void recover();

  // Topics --------------------------------------------------------------------------------
  // Returns the topic's ARN. Idempotent: an existing topic with the same attributes (and tags,
  // if any are given) succeeds.
  Result<std::string> create_topic(const std::string& account, const std::string& name,
                                   const AttributeMap& attributes, const TagMap& tags,
                                   storage::WriteCallback done);
  // Deletes the topic and its subscriptions; a topic that does not exist is not an error.
  Result<base::Ok> delete_topic(const std::string& topic_arn, storage::WriteCallback done);
  // The account's topic ARNs in ARN order, a page at a time.
  Result<Page<std::string>> list_topics(const std::string& account,
                                        const std::string& next_token) const;
  Result<AttributeMap> get_topic_attributes(const std::string& topic_arn) const;
  Result<base::Ok> set_topic_attributes(const std::string& topic_arn, const std::string& name,
                                        const std::string& value, storage::WriteCallback done);

  // Permissions: statements of the topic's Policy (the default one first, if none was set), as
  // AddPermission writes them ({"Sid":label,"Effect":"Allow","Principal":{"AWS":...},
  // "Action":"SNS:<name>"...,"Resource":arn}). Not enforced (comes with authentication).
  Result<base::Ok> add_permission(const std::string& topic_arn, const std::string& label,
                                  const std::vector<std::string>& account_ids,
                                  const std::vector<std::string>& actions,
                                  storage::WriteCallback done);
  // Removing a label that is not there succeeds.
  Result<base::Ok> remove_permission(const std::string& topic_arn, const std::string& label,
                                     storage::WriteCallback done);

  // Tags (topics are the only taggable resource here) -------------------------------------
  Result<base::Ok> tag_resource(const std::string& arn, const TagMap& tags,
                                storage::WriteCallback done);
  Result<base::Ok> untag_resource(const std::string& arn, const std::vector<std::string>& keys,
                                  storage::WriteCallback done);
  Result<TagMap> list_tags(const std::string& arn) const;

  // Subscriptions -------------------------------------------------------------------------
  // Returns the subscription ARN, or "pending confirmation" for a subscription that waits for
  // confirmation unless return_arn. sqs (and lambda, firehose, sms, application) subscriptions
  // are confirmed at once; http, https, email and email-json wait for confirmation.
  Result<std::string> subscribe(const std::string& account, const std::string& topic_arn,
                                const std::string& protocol, const std::string& endpoint,
                                const AttributeMap& attributes, bool return_arn,
                                storage::WriteCallback done);
  // Confirms a pending subscription with the token its SubscriptionConfirmation carried.
  // Returns the subscription ARN.
  Result<std::string> confirm_subscription(const std::string& topic_arn, const std::string& token,
                                           storage::WriteCallback done);
  Result<base::Ok> unsubscribe(const std::string& subscription_arn, storage::WriteCallback done);
  Result<Page<SubscriptionInfo>> list_subscriptions(const std::string& account,
                                                    const std::string& next_token) const;
  Result<Page<SubscriptionInfo>> list_subscriptions_by_topic(const std::string& topic_arn,
                                                             const std::string& next_token) const;
  Result<AttributeMap> get_subscription_attributes(const std::string& subscription_arn) const;
  Result<base::Ok> set_subscription_attributes(const std::string& subscription_arn,
                                               const std::string& name, const std::string& value,
                                               storage::WriteCallback done);

  // SMS settings -------------------------------------------------------------------------
  // Account-level SMS attributes (DefaultSMSType, DefaultSenderID, MonthlySpendLimit,
  // DeliveryStatusIAMRole, DeliveryStatusSuccessSamplingRate, UsageReportS3Bucket), stored.
  // No phone network is reachable, so no number is ever opted out.
  Result<base::Ok> set_sms_attributes(const std::string& account, const AttributeMap& attributes,
                                      storage::WriteCallback done);
  // names empty: all that are set.
  AttributeMap get_sms_attributes(const std::string& account,
                                  const std::vector<std::string>& names) const;
  // Validates an E.164 number (kInvalidParameter); whether it is opted out (never).
  Result<bool> phone_number_opted_out(const std::string& phone_number) const;

  // Mobile push -----------------------------------------------------------------------------
  // Platforms ADM, APNS, APNS_SANDBOX, APNS_VOIP, APNS_VOIP_SANDBOX, BAIDU, GCM, MPNS, WNS.
  // ARN arn:aws:sns:<region>:<account>:app/<platform>/<name>.
  Result<std::string> create_platform_application(const std::string& account,
                                                  const std::string& name,
                                                  const std::string& platform,
                                                  const AttributeMap& attributes,
                                                  storage::WriteCallback done);
  Result<AttributeMap> get_platform_application_attributes(const std::string& arn) const;
  Result<base::Ok> set_platform_application_attributes(const std::string& arn,
                                                       const AttributeMap& attributes,
                                                       storage::WriteCallback done);
  Result<Page<PlatformResource>> list_platform_applications(const std::string& account,
                                                            const std::string& next_token) const;
  // Deletes the application and its endpoints; a missing one is not an error.
  Result<base::Ok> delete_platform_application(const std::string& arn, storage::WriteCallback done);
  // Idempotent on the device token: the same token with the same attributes returns the
  // existing endpoint's ARN. ARN ...:endpoint/<platform>/<application name>/<uuid>.
  Result<std::string> create_platform_endpoint(const std::string& application_arn,
                                               const std::string& token,
                                               const std::string& custom_user_data,
                                               const AttributeMap& attributes,
                                               storage::WriteCallback done);
  Result<AttributeMap> get_endpoint_attributes(const std::string& arn) const;
  Result<base::Ok> set_endpoint_attributes(const std::string& arn, const AttributeMap& attributes,
                                           storage::WriteCallback done);
  Result<Page<PlatformResource>> list_endpoints_by_platform_application(
      const std::string& application_arn, const std::string& next_token) const;
  // A missing endpoint is not an error.
  Result<base::Ok> delete_endpoint(const std::string& arn, storage::WriteCallback done);

  // Outbox (SMS and mobile push) ------------------------------------------------------------
  // Oldest first; empty filters match everything.
  std::vector<OutboxEntry> outbox(const std::string& phone_number,
                                  const std::string& endpoint_arn) const;
  void clear_outbox(storage::WriteCallback done);

  // Publishing ----------------------------------------------------------------------------
  // Validates the message, applies FIFO deduplication, and delivers to every confirmed
  // subscription whose filter policy matches: sqs at once; http/s, email and email-json as
  // pending deliveries; sms and application into the outbox (and as gateway deliveries);
  // lambda and firehose are counted as undeliverable. topic_arn may be a platform endpoint ARN
  // (TargetArn), or empty with phone_number set. `done` runs once everything is durable.
  Result<PublishResult> publish(PublishRequest request, storage::WriteCallback done);

  // Deliveries (http/s, email, gateway), made by api/ -------------------------------------
  // Pending deliveries are persisted with the publish (or subscribe) that created them and
  // survive restarts. take_due_deliveries() hands out those due now (engine clock), each to one
  // caller until it reports delivery_succeeded() or delivery_failed(); a failure schedules the
  // next attempt from the DeliveryPolicy (subscription's, else topic's, else AWS's default for
  // http/s; email, sms and application use AWS's fixed policy for customer-managed endpoints),
  // and after the last one moves the message to the RedrivePolicy queue or drops it.
  std::vector<Delivery> take_due_deliveries(size_t max);
  // When the earliest delivery that is not in flight is due (ms since epoch), if any.
  std::optional<int64_t> next_delivery_ms() const;
  void delivery_succeeded(uint64_t id);
  // `permanent`: the endpoint refused the message for good (AWS retries an http/s delivery only
  // after a 5xx or 429 answer, a timeout or a connection error): no retries, straight to the
  // RedrivePolicy queue or dropped.
  void delivery_failed(uint64_t id, const std::string& reason, bool permanent = false);
  // Called (from any thread, possibly under engine locks: it must only post) when a delivery
  // is queued, or when sweep() becomes due earlier than it last said.
  void set_delivery_listener(std::function<void()> wake);
  DeliveryStats delivery_stats() const;

  // Housekeeping, called by api/'s delivery driver ------------------------------------------
  // Deletes FIFO topics' deduplication records whose 5-minute window is over, from memory and
  // (lazily) from the store: a publish evicts its own topic's expired records, this evicts those
  // of topics that get no further publish. Cheap until it is due. Returns when it is next due
  // (ms since epoch, engine clock; at most once a minute), or nullopt while no record exists;
  // a publish that makes it due earlier than it last said calls the delivery listener.
  std::optional<int64_t> sweep();

  // The PEM certificate verifying Signature (served at base_url + signing_cert_path).
  const std::string& signing_certificate_pem() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::sns
