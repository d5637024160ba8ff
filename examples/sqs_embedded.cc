// Ferry's SQS engine used as a library: create a queue, send, receive and delete in-process,
// with no server and no network. Build: cmake --build <dir> --target sqs_embedded
#include <cstdio>

#include "base/clock.h"
#include "sqs/engine/engine.h"
#include "storage/memory_store.h"

int main() {
  using namespace ferry;
  storage::MemoryStore store;  // swap for the RocksDB store to make it durable
  sqs::Engine engine(store, base::SystemClock::instance());
  engine.recover();

  const sqs::QueueId queue{"000000000000", "orders"};
  // Mutations report durability through a callback; the memory store calls it inline.
  auto on_durable = [](bool ok) {
    if (!ok) std::fprintf(stderr, "write failed\n");
  };
  if (auto r = engine.create_queue(queue, {{"VisibilityTimeout", "10"}}, {}, on_durable); !r) {
    std::fprintf(stderr, "create_queue: %s\n", r.error().message.c_str());
    return 1;
  }

  for (int i = 1; i <= 3; ++i) {
    sqs::SendRequest req;
    req.body = "order #" + std::to_string(i);
    req.message_attributes["priority"] = {"Number", std::to_string(i), ""};
    auto sent = engine.send_message(queue, std::move(req), on_durable);
    if (!sent) {
      std::fprintf(stderr, "send_message: %s\n", sent.error().message.c_str());
      return 1;
    }
    std::printf("sent     %s  md5=%s\n", sent->message_id.c_str(), sent->md5_of_body.c_str());
  }

  sqs::ReceiveRequest req;
  req.max_messages = 10;
  req.attribute_names = {"All"};
  req.message_attribute_names = {"All"};
  auto received = engine.receive_messages(queue, req);
  if (!received) {
    std::fprintf(stderr, "receive_messages: %s\n", received.error().message.c_str());
    return 1;
  }
  for (const sqs::ReceivedMessage& m : *received) {
    std::printf("received %s  \"%s\" priority=%s receives=%s\n", m.message_id.c_str(),
                m.body.c_str(), m.message_attributes.at("priority").string_value.c_str(),
                m.attributes.at("ApproximateReceiveCount").c_str());
    if (auto r = engine.delete_message(queue, m.receipt_handle); !r) {
      std::fprintf(stderr, "delete_message: %s\n", r.error().message.c_str());
      return 1;
    }
  }
  auto attrs = engine.get_queue_attributes(queue, {"ApproximateNumberOfMessages"});
  std::printf("left in queue: %s\n", attrs->at("ApproximateNumberOfMessages").c_str());
  return 0;
}
