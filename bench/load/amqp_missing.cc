// Stands in for amqp_driver.cc when librabbitmq-dev is not installed.
#include <iostream>

#include "bench.h"

namespace ferry::bench {

int run_amqp(const Options&, Result*) {
  std::cerr << "ferry-bench: built without rabbitmq-c (apt-get install librabbitmq-dev)\n";
  return 2;
}

}  // namespace ferry::bench
