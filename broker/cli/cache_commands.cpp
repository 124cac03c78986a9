#include "broker/cli/commands.h"

#include "base/text.h"
#include "broker/cli/exit_codes.h"
#include "broker/cli/flags.h"
#include "broker/cli/output.h"
#include "broker/store/cache_layout.h"
#include "broker/store/prune.h"

namespace banger::broker {
namespace {

constexpr const char* kPruneUsage =
    "usage: banger image cache prune [--dry-run]\n"
    "\n"
    "Removes the cached registry blobs in $BANGER_CACHE_DIR/oci (root: /var/cache/banger;\n"
    "else ~/.cache/banger) and the unpacked images beside them (oci/unpacked: what the\n"
    "unpacker made of an image, so that pulling it again skips unpacking). Pulled images\n"
    "do not need either; a later pull of the same image downloads and unpacks it again.\n"
    "Blobs a running pull uses are kept, so a prune never breaks a pull.\n"
    "\n"
    "  --dry-run   only say what would be freed\n";


int Prune(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  auto cache = CacheLayout::At(context.CacheRoot());
  if (!cache) return ReportError(err, cache.error(), "");
  const bool dry_run = flags.Has("--dry-run");
  auto report = PruneCache(*cache, dry_run);
  if (!report) return ReportError(err, report.error(), cache->oci_dir());
  context.Note({{"dry_run", dry_run}, {"freed_bytes", report->bytes}, {"blobs", report->blobs}});
  out << (dry_run ? "would free " : "freed ") << HumanBytes(report->bytes) << " across " << report->blobs
      << " blob(s) in " << cache->oci_dir();
  if (report->unpacked > 0) out << ", " << report->unpacked << " unpacked image(s) included";
  if (report->kept_in_use > 0) out << " (" << report->kept_in_use << " in use by running pulls kept)";
  out << "\n";
  return kExitOk;
}

}  // namespace

const Command& ImageCachePruneCommand() {
  static const Command command{{"image cache prune", kPruneUsage, {.booleans = {"--dry-run"}}}, true, Prune, /*audited=*/true};
  return command;
}

}  // namespace banger::broker
