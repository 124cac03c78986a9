// Key pairs the trust tests sign with, made by OpenSSL in the test: the kinds cosign
// makes, and a few it does not (to be refused).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/base64.h"

namespace banger::broker::testing {

class TestKey {
 public:
  // "ecdsa-p256", "ecdsa-p384", "ecdsa-p224", "rsa-2048", "rsa-1024", "ed25519", "ed448".
  explicit TestKey(const std::string& kind) : kind_(kind) {
    EVP_PKEY* key = nullptr;
    if (kind.rfind("ecdsa-p", 0) == 0) {
      const std::string curve = "P-" + kind.substr(7);
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve.c_str());
      digest_ = kind == "ecdsa-p384" ? EVP_sha384() : kind == "ecdsa-p521" ? EVP_sha512() : EVP_sha256();
    } else if (kind.rfind("rsa-", 0) == 0) {
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(std::stoul(kind.substr(4))));
      digest_ = EVP_sha256();
    } else if (kind == "ed25519") {
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    } else if (kind == "ed448") {
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448");
    }
    if (key == nullptr) throw std::runtime_error("cannot make a " + kind + " key");
    key_.reset(key);
  }

  // The public key as cosign.pub holds it.
  std::string PublicPem() const {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), key_.get());
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(length));
  }
  std::string PublicPemBase64() const { return EncodeBase64(PublicPem()); }

  // The signature's bytes over `payload`, made as cosign makes them.
  std::string Sign(std::string_view payload) const { return SignWith(payload, digest_); }
  // ... or with another digest.
  std::string SignWith(std::string_view payload, const EVP_MD* digest) const {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (EVP_DigestSignInit(context.get(), nullptr, digest, nullptr, key_.get()) != 1) throw std::runtime_error("sign init");
    size_t length = 0;
    const auto* bytes = reinterpret_cast<const unsigned char*>(payload.data());
    if (EVP_DigestSign(context.get(), nullptr, &length, bytes, payload.size()) != 1) throw std::runtime_error("sign size");
    std::string signature(length, '\0');
    if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, bytes, payload.size()) != 1) {
      throw std::runtime_error("sign");
    }
    signature.resize(length);
    return signature;
  }
  // An Ed25519ph signature (RFC 8032, empty context), as cosign signs images with an
  // Ed25519 key; made with libsodium from this key's seed.
  std::string SignEd25519ph(std::string_view payload) const {
    unsigned char seed[32], pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
    size_t length = sizeof seed;
    if (sodium_init() < 0 || EVP_PKEY_get_raw_private_key(key_.get(), seed, &length) != 1) throw std::runtime_error("seed");
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_state state;
    crypto_sign_init(&state);
    crypto_sign_update(&state, reinterpret_cast<const unsigned char*>(payload.data()), payload.size());
    crypto_sign_final_create(&state, sig, nullptr, sk);
    return std::string(reinterpret_cast<char*>(sig), sizeof sig);
  }
  const std::string& kind() const { return kind_; }

 private:
  struct Free {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  };
  std::string kind_;
  std::unique_ptr<EVP_PKEY, Free> key_;
  const EVP_MD* digest_ = nullptr;
};

// A simple-signing payload as cosign writes it (compact JSON, "optional": null).
inline std::string SimpleSigningPayload(const std::string& reference, const std::string& digest) {
  return R"({"critical":{"identity":{"docker-reference":")" + reference + R"("},"image":{"docker-manifest-digest":")" +
         digest + R"("},"type":"cosign container image signature"},"optional":null})";
}

}  // namespace banger::broker::testing
