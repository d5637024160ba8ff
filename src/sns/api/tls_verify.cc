#include "sns/api/tls_verify.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>

namespace ferry::sns {

namespace asio = boost::asio;

std::string configure_peer_verification(asio::ssl::context& ctx, const std::string& ca_file,
                                        std::string_view ca_option) {
  boost::system::error_code ec;
  ctx.set_verify_mode(asio::ssl::verify_peer, ec);
  if (!ec) ctx.set_default_verify_paths(ec);
  if (ec) return "cannot load the system's trusted certificates: " + ec.message();
  if (ca_file.empty()) return {};
  ctx.load_verify_file(ca_file, ec);
  if (ec) return "cannot load " + std::string(ca_option) + " " + ca_file + ": " + ec.message();
  return {};
}

std::string expect_peer(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (!ec) {
    // By its bytes rather than its text: an IPv6 address may carry a zone ("%eth0"), which
    // OpenSSL's parser refuses and a certificate never holds.
    auto set_ip = [ssl](const auto& bytes) {
      return X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl), bytes.data(), bytes.size());
    };
    int set =
        address.is_v4() ? set_ip(address.to_v4().to_bytes()) : set_ip(address.to_v6().to_bytes());
    if (set != 1) return "cannot check the certificate of " + host + " against its address";
    return {};
  }
  if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1 || SSL_set1_host(ssl, host.c_str()) != 1) {
    return "cannot check the certificate of " + host + " against its name";
  }
  return {};
}

std::string refused_certificate(const SSL* ssl, const std::string& host) {
  long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  // OpenSSL's words for these ("hostname mismatch") do not say which name was expected.
  if (result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    return "the certificate does not name " + host;
  }
  return X509_verify_cert_error_string(result);
}

}  // namespace ferry::sns
