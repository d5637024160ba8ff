#pragma once
// A minimal streaming XML writer for AWS Query-protocol responses.
#include <string>
#include <string_view>
#include <vector>

namespace ferry::base {

// Appends `text` to `out`, escaping XML special characters. Characters XML 1.0 cannot carry
// (as AWS does for message bodies) are written as character references.
void xml_escape(std::string& out, std::string_view text);

class XmlWriter {
 public:
  XmlWriter() { out_ = "<?xml version=\"1.0\"?>"; }
  // Opens <name xmlns="ns"> (ns may be empty).
  void open(std::string_view name, std::string_view ns = {});
  void close();
  // <name>escaped text</name>
  void leaf(std::string_view name, std::string_view text);
  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::vector<std::string> stack_;
};

}  // namespace ferry::base
