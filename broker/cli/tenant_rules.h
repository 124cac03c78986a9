// What a tenant may ask of bangerd beyond who they are (docs/multi-tenant.md, "Policy"):
// no flag that makes root open a path or widens the host's policy, and a pull within the
// tenant's registries and quotas (host/tenant_limits.h). Each refusal is one line for
// the client and one audit record (cli.cpp).
#pragma once

#include "base/result.h"
#include "broker/cli/context.h"
#include "broker/cli/flags.h"

namespace banger::broker {

// `command` ("image pull") with `flags`, asked by a tenant in `context`.
Result<void> CheckTenantRequest(const CliContext& context, const std::string& command, const ParsedFlags& flags);

}  // namespace banger::broker
