#pragma once
// How SNS's outgoing TLS connections check their peer: the https deliverer (delivery.cc) and the
// SMTP client (smtp_client.cc) share these, so that an endpoint and a relay are trusted on the
// same terms. As AWS does for https endpoints, the certificate must chain to the system's trust
// store or to an authority in an optional PEM file, and name the host that was dialled (a DNS
// name, or an IP address entry when the host is an address).
//
// Stateless functions; callers own the context and the SSL handle, and keep them on one thread
// or strand while these run.
#include <openssl/types.h>

#include <string>
#include <string_view>

namespace boost::asio::ssl {
class context;
}

namespace ferry::sns {

// Makes `ctx` (a client context) require a peer certificate that chains to the system's trusted
// authorities or, if `ca_file` is not empty, to one in that PEM file. `ca_option` names the
// setting `ca_file` came from, for the error. "" on success, else why not.
std::string configure_peer_verification(boost::asio::ssl::context& ctx, const std::string& ca_file,
                                        std::string_view ca_option);

// Prepares `ssl`, before its handshake, for a peer dialled as `host`: a host name is sent as
// SNI and must be named by the certificate; an address (never SNI, RFC 6066 section 3) must be
// one of its IP address entries. "" on success, else why the check cannot be set up.
std::string expect_peer(SSL* ssl, const std::string& host);

// After a failed handshake of `ssl` (prepared by expect_peer() for `host`): why the peer's
// certificate was refused, in OpenSSL's words but for a name mismatch; "" if the failure was
// not the certificate's.
std::string refused_certificate(const SSL* ssl, const std::string& host);

}  // namespace ferry::sns
