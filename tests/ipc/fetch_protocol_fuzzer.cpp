// libFuzzer target for every decoder of ipc/fetch_protocol.h (the signature documents'
// requests too), ipc/net_protocol.h and ipc/image_documents.h; the first byte picks one.
// Message bodies round-trip (protocol_fuzz.h); registry documents are refused with an
// error or give a plan that round-trips and names the manifest's own digest.
#include <cstdlib>
#include <string_view>

#include "base/sha256.h"
#include "ipc/fetch_protocol.h"
#include "ipc/net_protocol.h"
#include "tests/ipc/protocol_fuzz.h"

namespace {

using namespace banger::ipc;

void CheckRefusal(const banger::Error& error) {
  if (error.message.empty()) std::abort();
}

// One document, as the fetcher and the broker read a manifest or an index.
void CheckDocument(std::string_view body) {
  auto doc = ParseDocument(body, "", DocumentLimits{}, "fuzz");
  if (!doc) return CheckRefusal(doc.error());
  if (doc->kind == DocumentKind::kIndex) {
    if (auto chosen = SelectPlatform(*doc, banger::Platform{"linux", "amd64", ""}, "fuzz"); !chosen) {
      CheckRefusal(chosen.error());
    }
  }
}

// An index then a manifest, split where the first two bytes say.
void CheckChain(std::string_view body) {
  if (body.size() < 2) return;
  const size_t split = (static_cast<unsigned char>(body[0]) << 8 | static_cast<unsigned char>(body[1])) % body.size();
  body.remove_prefix(2);
  const std::string_view index = body.substr(0, std::min(split, body.size()));
  const std::string_view manifest = body.substr(index.size());
  auto plan = DerivePlan({index}, manifest, "", banger::Platform{"linux", "amd64", ""}, DocumentLimits{}, "fuzz");
  if (!plan) return CheckRefusal(plan.error());
  if (plan->manifest_digest != banger::Sha256DigestOf(manifest) || plan->indexes.size() != 1) std::abort();
  auto again = DecodeResolvedPlan(Encode(*plan), kMaxPlanLayers);
  if (!again || !(*again == *plan)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 13) {
    case 0: fuzz::Check<ResolveRequest>(body); break;
    case 1: fuzz::Check<ResolvedPlan>(body); break;
    case 2: fuzz::Check<BlobRequest>(body); break;
    case 3: fuzz::Check<UrlRequest>(body); break;
    case 4: fuzz::Check<BlobDone>(body); break;
    case 5: CheckDocument(body); break;
    case 6: CheckChain(body); break;
    case 7: fuzz::Check<NetResolve>(body); break;
    case 8: fuzz::Check<NetAddresses>(body); break;
    case 9: fuzz::Check<NetConnect>(body); break;
    case 10: fuzz::Check<NetPermit>(body); break;
    case 11: fuzz::Check<DocumentRequest>(body); break;
    case 12: fuzz::Check<DocumentFetched>(body); break;
  }
  return 0;
}
