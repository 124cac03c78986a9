#include "broker/trust/public_key.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include <sodium.h>

#include <vector>

#include "base/digest.h"
#include "base/sha256.h"

namespace banger::broker {
namespace {

constexpr size_t kMaxPemBytes = 64 * 1024;
constexpr int kMinRsaBits = 2048;

// The kind of key and the digest its signatures are made with (null for Ed25519, which
// hashes inside the algorithm); an empty kind for a key cosign does not make.
struct KeyKind {
  std::string name;
  const EVP_MD* digest = nullptr;
};

KeyKind KindOf(EVP_PKEY* key) {
  switch (EVP_PKEY_base_id(key)) {
    case EVP_PKEY_ED25519:
      return {"ed25519", nullptr};
    case EVP_PKEY_RSA: {
      const int bits = EVP_PKEY_bits(key);
      if (bits < kMinRsaBits) return {};
      return {"rsa-" + std::to_string(bits), EVP_sha256()};
    }
    case EVP_PKEY_EC: {
      char curve[64] = {};
      size_t length = 0;
      if (EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof curve, &length) != 1) return {};
      const std::string name(curve, length);
      if (name == "prime256v1" || name == "P-256") return {"ecdsa-p256", EVP_sha256()};
      if (name == "secp384r1" || name == "P-384") return {"ecdsa-p384", EVP_sha384()};
      if (name == "secp521r1" || name == "P-521") return {"ecdsa-p521", EVP_sha512()};
      return {};
    }
    default:
      return {};
  }
}

}  // namespace

struct PublicKey::Handle {
  EVP_PKEY* key = nullptr;
  // The digests a signature may have been made with: the curve's own, and for P-384 and
  // P-521 also SHA-256, which containers/image and older cosign use with every key.
  std::vector<const EVP_MD*> digests;
  // Ed25519: the raw key, for Ed25519ph (RFC 8032's pre-hashed variant, empty context),
  // which cosign signs tag-scheme payloads with and OpenSSL 3.0 cannot verify.
  std::vector<unsigned char> ed25519;
  ~Handle() { EVP_PKEY_free(key); }
};

namespace {

bool VerifiesEd25519ph(const std::vector<unsigned char>& key, std::string_view payload, std::string_view signature) {
  if (key.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES || sodium_init() < 0) return false;
  crypto_sign_state state;
  crypto_sign_init(&state);
  crypto_sign_update(&state, reinterpret_cast<const unsigned char*>(payload.data()), payload.size());
  return crypto_sign_final_verify(&state, reinterpret_cast<const unsigned char*>(signature.data()), key.data()) == 0;
}

}  // namespace

PublicKey::PublicKey(std::unique_ptr<Handle> handle, std::string kind, std::string fingerprint, std::string source)
    : handle_(std::move(handle)), kind_(std::move(kind)), fingerprint_(std::move(fingerprint)), source_(std::move(source)) {}
PublicKey::PublicKey(PublicKey&&) noexcept = default;
PublicKey& PublicKey::operator=(PublicKey&&) noexcept = default;
PublicKey::~PublicKey() = default;

Result<PublicKey> PublicKey::FromPem(std::string_view pem, const std::string& source) {
  auto refused = [&](const std::string& why) { return Error{ErrorCode::kInvalidArgument, "public key " + source + ": " + why}; };
  if (pem.size() > kMaxPemBytes) return refused("larger than 64 KiB");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!bio) return refused("out of memory");
  auto handle = std::make_unique<Handle>();
  handle->key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (handle->key == nullptr) return refused("not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  const KeyKind kind = KindOf(handle->key);
  if (kind.name.empty()) {
    return refused("not a key cosign signs with (ECDSA P-256, P-384 or P-521, RSA of at least 2048 bits, Ed25519)");
  }
  handle->digests = {kind.digest};
  if (kind.name == "ed25519") {
    size_t length = crypto_sign_PUBLICKEYBYTES;
    handle->ed25519.resize(length);
    if (EVP_PKEY_get_raw_public_key(handle->key, handle->ed25519.data(), &length) != 1 || length != crypto_sign_PUBLICKEYBYTES) {
      return refused("its Ed25519 key cannot be read");
    }
  }
  if (kind.name == "ecdsa-p384" || kind.name == "ecdsa-p521") handle->digests.push_back(EVP_sha256());
  // One key per file, and nothing after it.
  char rest[64];
  for (int got; (got = BIO_read(bio.get(), rest, sizeof rest)) > 0;) {
    for (int i = 0; i < got; ++i) {
      if (rest[i] != '\n' && rest[i] != '\r' && rest[i] != ' ' && rest[i] != '\t') return refused("more follows the key");
    }
  }
  unsigned char* der = nullptr;
  const int der_length = i2d_PUBKEY(handle->key, &der);
  if (der_length <= 0) return refused("cannot be encoded");
  const std::string digest = Sha256DigestOf(std::string_view(reinterpret_cast<char*>(der), der_length));
  const std::string fingerprint = "SHA256:" + digest.substr(kSha256Prefix.size());
  OPENSSL_free(der);
  return PublicKey(std::move(handle), kind.name, fingerprint, source);
}

bool PublicKey::Verifies(std::string_view payload, std::string_view signature, Ed25519Forms ed25519) const {
  for (const EVP_MD* digest : handle_->digests) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!context) return false;
    if (EVP_DigestVerifyInit(context.get(), nullptr, digest, nullptr, handle_->key) != 1) continue;
    // One call: Ed25519 verifies only in one shot, and the others accept it too.
    if (EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         reinterpret_cast<const unsigned char*>(payload.data()), payload.size()) == 1) {
      return true;
    }
  }
  return ed25519 == Ed25519Forms::kPureOrPrehashed && !handle_->ed25519.empty() &&
         VerifiesEd25519ph(handle_->ed25519, payload, signature);
}

}  // namespace banger::broker
