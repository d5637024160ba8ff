#pragma once
// Writing JSON text directly, for answers too big or too frequent to build as a Boost.JSON DOM
// first (GetRecords pages, ReceiveMessage).
#include <string>
#include <string_view>

namespace ferry::base {

// Appends `s` as a JSON string literal: quoted, with '"', '\\' and control characters escaped
// (as Boost.JSON's serializer escapes them). Bytes of 0x80 and above are copied as they are:
// the caller passes UTF-8.
void append_json_string(std::string& out, std::string_view s);

}  // namespace ferry::base
