// The catalog fast path of `banger image pull NAME`: the sandboxed fetcher downloads the
// entry's bundle into the verified cache (its sha256 and size are the entry's), the
// sandboxed unpacker extracts rootfs.ext4 into the staging file, and the broker
// publishes it the way an OCI pull does.
#pragma once

#include "broker/pull/pull.h"
#include "broker/registry/catalog.h"

namespace banger::broker {

Result<PullResult> PullFromCatalog(const CatalogEntry& entry, const Catalog& catalog, const PullOptions& options);

}  // namespace banger::broker
