// libFuzzer target for the decoders of what a signature carries, each fed bytes a
// registry chose: the simple-signing payload, a sigstore bundle's envelope, and the
// in-toto statement (also the one inside any envelope that parses). Each either parses
// or refuses with a named error; none may crash, hang or read out of bounds.
#include <cstdlib>
#include <string_view>

#include "base/digest.h"
#include "broker/trust/dsse.h"
#include "broker/trust/simple_signing.h"

namespace {

template <typename T>
void Check(const banger::Result<T>& parsed) {
  if (!parsed && parsed.error().message.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::broker;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto simple = ParseSimpleSigning(input);
  Check(simple);
  if (simple && (!banger::IsValidDigest(simple->manifest_digest) || simple->docker_reference.empty())) std::abort();
  Check(ParseCosignStatement(input));
  auto envelope = ParseBundleEnvelope(input);
  Check(envelope);
  if (envelope) {
    if (envelope->signatures.size() != 1) std::abort();  // the bundle spec's exactly one
    auto subjects = ParseCosignStatement(envelope->payload);
    Check(subjects);
    if (subjects) {
      for (const StatementSubject& subject : *subjects) {
        if (!banger::IsValidDigest(subject.digest)) std::abort();
      }
    }
  }
  (void)PreAuthEncoding(input.substr(0, size / 2), input.substr(size / 2));
  return 0;
}
