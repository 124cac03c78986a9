#include "ipc/fetch_protocol.h"

namespace banger::ipc {

Result<ResolvedPlan> DecodeResolvedPlan(std::string_view body, uint64_t max_layers) {
  BANGER_ASSIGN_OR_RETURN(ResolvedPlan plan, Decode<ResolvedPlan>(body));
  if (plan.layers.size() > max_layers) {
    return Error{ErrorCode::kMalformed, "malformed resolved plan: 'layers' has more than " + std::to_string(max_layers) +
                                            " items"};
  }
  return plan;
}

}  // namespace banger::ipc
