#include "sns/engine/signer.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base/crypto.h"

namespace ferry::sns {

namespace {

constexpr char kKeyKey[] = "sns/meta/signing-key";
constexpr char kCertKey[] = "sns/meta/signing-cert";

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

EVP_PKEY* parse_key(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return key;
}

// A self-signed certificate for the key, valid for ten years.
std::string make_certificate(EVP_PKEY* key) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("sns.ferry.local"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  std::string pem = bio_string(bio);
  BIO_free(bio);
  X509_free(cert);
  return pem;
}

}  // namespace

std::unique_ptr<Signer> Signer::load_or_create(storage::Store& store) {
  std::unique_ptr<Signer> s(new Signer());
  auto key_pem = store.get(kKeyKey);
  auto cert_pem = store.get(kCertKey);
  EVP_PKEY* key = key_pem && cert_pem ? parse_key(*key_pem) : nullptr;
  if (key != nullptr) {
    s->cert_pem_ = *cert_pem;
  } else {
    key = EVP_RSA_gen(2048);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::string pem = bio_string(bio);
    BIO_free(bio);
    s->cert_pem_ = make_certificate(key);
    storage::WriteBatch batch;
    batch.put(kKeyKey, pem);
    batch.put(kCertKey, s->cert_pem_);
    store.write(std::move(batch), storage::Durability::kSync, [](bool) {});
  }
  s->key_ = key;
  return s;
}

Signer::~Signer() { EVP_PKEY_free(static_cast<EVP_PKEY*>(key_)); }

std::string Signer::sign(std::string_view data, std::string_view version) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const EVP_MD* md = version == "2" ? EVP_sha256() : EVP_sha1();
  std::string sig;
  size_t len = 0;
  if (EVP_DigestSignInit(ctx, nullptr, md, nullptr, static_cast<EVP_PKEY*>(key_)) == 1 &&
      EVP_DigestSignUpdate(ctx, data.data(), data.size()) == 1 &&
      EVP_DigestSignFinal(ctx, nullptr, &len) == 1) {
    sig.resize(len);
    if (EVP_DigestSignFinal(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len) == 1) {
      sig.resize(len);
    } else {
      sig.clear();
    }
  }
  EVP_MD_CTX_free(ctx);
  return base::base64_encode(sig);
}

}  // namespace ferry::sns
