#pragma once
// The RSA key and self-signed certificate SNS signs its messages with (SignatureVersion 1:
// SHA1withRSA, 2: SHA256withRSA), kept in the store so signatures stay verifiable across
// restarts. Immutable after construction; sign() is safe on any thread.
#include <memory>
#include <string>
#include <string_view>

#include "storage/store.h"

namespace ferry::sns {

class Signer {
 public:
  // Loads the key pair from the store, or creates and stores (kSync) a new one.
  static std::unique_ptr<Signer> load_or_create(storage::Store& store);
  ~Signer();
  Signer(const Signer&) = delete;
  Signer& operator=(const Signer&) = delete;

  // Base64 of the RSA signature of `data` (version "2": SHA-256, otherwise SHA-1).
  std::string sign(std::string_view data, std::string_view version) const;
  // The X.509 certificate (PEM) holding the public key, as served at SigningCertURL.
  const std::string& certificate_pem() const { return cert_pem_; }

 private:
  Signer() = default;
  void* key_ = nullptr;  // EVP_PKEY*
  std::string cert_pem_;
};

}  // namespace ferry::sns
