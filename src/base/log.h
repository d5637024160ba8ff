#pragma once
// Logging goes through spdlog's default logger; server/ configures level and format.
#include <spdlog/spdlog.h>
