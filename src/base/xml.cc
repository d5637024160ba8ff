#include "base/xml.h"

#include <cassert>

namespace ferry::base {

void xml_escape(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\r':
        out += "&#xD;";
        break;
      default:
        out += c;
    }
  }
}

void XmlWriter::open(std::string_view name, std::string_view ns) {
  out_ += '<';
  out_ += name;
  if (!ns.empty()) {
    out_ += " xmlns=\"";
    out_ += ns;
    out_ += '"';
  }
  out_ += '>';
  stack_.emplace_back(name);
}

void XmlWriter::close() {
  assert(!stack_.empty());
  out_ += "</";
  out_ += stack_.back();
  out_ += '>';
  stack_.pop_back();
}

void XmlWriter::leaf(std::string_view name, std::string_view text) {
  out_ += '<';
  out_ += name;
  out_ += '>';
  xml_escape(out_, text);
  out_ += "</";
  out_ += name;
  out_ += '>';
}

}  // namespace ferry::base
