// The typed protocols of ipc/: every body round-trips, and whatever a compromised helper
// sends instead (another JSON type, a missing, extra or oversized field) is one named
// kMalformed error, never an exception.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ipc/fetch_protocol.h"
#include "ipc/net_protocol.h"
#include "ipc/image_protocol.h"
#include "ipc/unpack_protocol.h"

namespace banger::ipc {
namespace {

using nlohmann::json;

const std::string kDigest = "sha256:" + std::string(64, 'a');

template <class T>
void ExpectMalformed(const Result<T>& decoded, const std::string& fragment) {
  ASSERT_FALSE(decoded) << "accepted what it should refuse";
  EXPECT_EQ(decoded.error().code, ErrorCode::kMalformed);
  EXPECT_NE(decoded.error().message.find(fragment), std::string::npos) << decoded.error().message;
}

UnpackSummary SampleSummary() {
  UnpackSummary s{10, 9, 3, 4096, 5000, 12, 70000, 4096};
  s.warnings = {"layer sha256:...: '/etc/x': a warning"};
  s.guest = GuestReport{"systemd", {"/usr/local/bin/banger-vsock-agent"}, {}};
  return s;
}

TEST(UnpackProtocol, EveryBodyRoundTrips) {
  UnpackRequest request;
  request.layers = {{kDigest, "application/vnd.oci.image.layer.v1.tar+gzip"}};
  request.limits.max_entries = 5;
  request.limits.zstd_window_log_max = 27;
  request.inject_guest_assets = true;
  EXPECT_EQ(*Decode<UnpackRequest>(Encode(request)), request);
  EXPECT_EQ(*Decode<LayerHandOff>(Encode(LayerHandOff{3, 1234})), (LayerHandOff{3, 1234}));
  EXPECT_EQ(*Decode<LayerHandOff>(Encode(LayerHandOff{3, std::nullopt})), (LayerHandOff{3, std::nullopt}));
  EXPECT_EQ(*Decode<UnpackProgress>(Encode(UnpackProgress{1, 99, 7})), (UnpackProgress{1, 99, 7}));
  EXPECT_EQ(*Decode<UnpackSummary>(Encode(SampleSummary())), SampleSummary());
  UnpackSummary no_guest = SampleSummary();
  no_guest.guest.reset();
  EXPECT_EQ(*Decode<UnpackSummary>(Encode(no_guest)), no_guest);
  EXPECT_EQ(*Decode<ExtractRequest>(Encode(ExtractRequest{1 << 30})), (ExtractRequest{1 << 30}));
  BundleExtracted extracted{{"debian-12", "debian", "amd64", "vmlinux-6.1"}, 1 << 30};
  EXPECT_EQ(*Decode<BundleExtracted>(Encode(extracted)), extracted);
}

TEST(UnpackProtocol, WhatACompromisedUnpackerMightSendIsANamedError) {
  ExpectMalformed(Decode<UnpackSummary>("[]"), "unpack-done: not a JSON object");
  ExpectMalformed(Decode<UnpackSummary>("\"done\""), "not a JSON object");
  ExpectMalformed(Decode<UnpackSummary>("{not json"), "malformed unpack-done");
  json summary = json::parse(Encode(SampleSummary()));
  json wrong = summary;
  wrong["entries"] = "many";
  ExpectMalformed(Decode<UnpackSummary>(wrong.dump()), "'entries' is not a whole number");
  wrong = summary;
  wrong["entries"] = -1;
  ExpectMalformed(Decode<UnpackSummary>(wrong.dump()), "'entries' is not a whole number");
  wrong = summary;
  wrong["entries"] = 1.5;
  ExpectMalformed(Decode<UnpackSummary>(wrong.dump()), "'entries' is not a whole number");
  wrong = summary;
  wrong.erase("spool_bytes");
  ExpectMalformed(Decode<UnpackSummary>(wrong.dump()), "'spool_bytes' is missing");
  wrong = summary;
  wrong["owned"] = true;
  ExpectMalformed(Decode<UnpackSummary>(wrong.dump()), "unknown key 'owned'");
  wrong = summary;
  wrong["warnings"] = json::array({1});
  ExpectMalformed(Decode<UnpackSummary>(wrong.dump()), "'warnings' holds something other than strings");
  wrong = summary;
  wrong["warnings"] = std::vector<std::string>(kMaxUnpackWarnings + 1, "w");
  ExpectMalformed(Decode<UnpackSummary>(wrong.dump()), "'warnings' has more than 100 items");
  wrong = summary;
  wrong["warnings"] = {std::string(kMaxWarningBytes + 1, 'w')};
  ExpectMalformed(Decode<UnpackSummary>(wrong.dump()), "longer than 4096 bytes");
  wrong = summary;
  wrong["guest"]["init"] = "sysvinit; rm -rf /";
  ExpectMalformed(Decode<UnpackSummary>(wrong.dump()), "guest: 'init' is not one of systemd");
  wrong = summary;
  wrong["guest"]["root"] = "yes";
  ExpectMalformed(Decode<UnpackSummary>(wrong.dump()), "guest: unknown key 'root'");
  ExpectMalformed(Decode<UnpackProgress>(R"({"layer": 2000, "bytes": 1})"), "'layer' is over its bound of 1023");
  ExpectMalformed(Decode<BundleExtracted>(R"({"manifest": [], "rootfs_bytes": 1})"), "'manifest' is not an object");
  ExpectMalformed(Decode<BundleExtracted>(R"({"manifest": {"name": "x", "distro": "", "arch": "", "kernel_ref": "",
      "evil": 1}, "rootfs_bytes": 1})"), "manifest: unknown key 'evil'");
}

TEST(UnpackProtocol, RequestsAreCheckedByTheUnpackerToo) {
  ExpectMalformed(Decode<UnpackRequest>(R"({"layers": [{"digest": "sha256:x", "media_type": ""}], "limits": {},
      "inject_guest_assets": false})"), "layers[0]: 'digest' is not a sha256 digest");
  ExpectMalformed(Decode<UnpackRequest>(R"({"layers": [], "limits": {"max_ratio": 5}, "inject_guest_assets": false})"),
                  "limits: unknown key 'max_ratio'");
  ExpectMalformed(Decode<LayerHandOff>(R"({"index": 0, "grows_to": "big"})"), "'grows_to' is not a whole number");
}

TEST(UnpackLimits, NamesFindTheirBounds) {
  UnpackLimits limits;
  ASSERT_EQ(UnpackLimits::Names().size(), 9u);
  for (const std::string& name : UnpackLimits::Names()) ASSERT_NE(limits.Find(name), nullptr) << name;
  *limits.Find("max_depth") = 7;
  EXPECT_EQ(limits.max_depth, 7u);
  EXPECT_EQ(limits.Find("max_ratio"), nullptr);
}

TEST(ImageProtocol, RoundTripsAndRefusesWhatItShould) {
  ImageRequest request;
  request.size_bytes = 1 << 30;
  request.uuid[0] = 0xab;
  request.hash_seed[15] = 0x01;
  request.timestamp = 1704067200;
  request.layer_digests = {kDigest};
  EXPECT_EQ(*Decode<ImageRequest>(Encode(request)), request);
  const ImageSummary done{1 << 30, 1 << 20, 100, 99, 4000};
  EXPECT_EQ(*Decode<ImageSummary>(Encode(done)), done);

  json body = json::parse(Encode(request));
  body["uuid"] = "ABCDEF";
  ExpectMalformed(Decode<ImageRequest>(body.dump()), "'uuid' is not 32 lowercase hex digits");
  body = json::parse(Encode(request));
  body["timestamp"] = 1ull << 33;
  ExpectMalformed(Decode<ImageRequest>(body.dump()), "'timestamp' is over its bound");
  body = json::parse(Encode(request));
  body["layers"] = {"../../etc"};
  ExpectMalformed(Decode<ImageRequest>(body.dump()), "'layers' holds something other than sha256 digests");
  ExpectMalformed(Decode<ImageSummary>(R"({"filesystem_bytes": "1 GiB"})"), "'filesystem_bytes' is not a whole number");
  ExpectMalformed(Decode<ImageSummary>("[]"), "image-done: not a JSON object");
}

TEST(FetchProtocol, RoundTripsAndRefusesWhatItShould) {
  ResolveRequest resolve;
  resolve.reference = "registry.example/app:1";
  resolve.username = "u";
  resolve.password = "p";
  EXPECT_EQ(*Decode<ResolveRequest>(Encode(resolve)), resolve);
  ResolvedPlan plan{{{kDigest, 300}}, kDigest, "application/vnd.oci.image.manifest.v1+json", "linux/amd64",
                    {kDigest, 100, "application/vnd.oci.image.config.v1+json"},
                    {{kDigest, 200, "application/vnd.oci.image.layer.v1.tar+gzip"}}};
  EXPECT_EQ(*DecodeResolvedPlan(Encode(plan), 128), plan);
  EXPECT_EQ(*Decode<BlobRequest>(Encode(BlobRequest{7, plan.config})), (BlobRequest{7, plan.config}));
  EXPECT_EQ(*Decode<UrlRequest>(Encode(UrlRequest{1, "https://x/y", 5})), (UrlRequest{1, "https://x/y", 5}));
  EXPECT_EQ(*Decode<BlobDone>(Encode(BlobDone{7, 50})), (BlobDone{7, 50}));
  EXPECT_EQ(*Decode<DocumentRequest>(Encode(DocumentRequest{"sha256-ab.sig", false})), (DocumentRequest{"sha256-ab.sig", false}));
  EXPECT_EQ(*Decode<DocumentFetched>(Encode(DocumentFetched{true, "application/json", 9})),
            (DocumentFetched{true, "application/json", 9}));
  ExpectMalformed(Decode<DocumentRequest>(R"({"selector": ")" + std::string(200, 'a') + R"(", "referrers": false})"),
                  "selector");
  ExpectMalformed(Decode<DocumentFetched>(R"({"found": true, "media_type": "x"})"), "'size' is missing");

  plan.layers.resize(3, plan.layers[0]);
  ExpectMalformed(DecodeResolvedPlan(Encode(plan), 2), "'layers' has more than 2 items");
  json body = json::parse(Encode(plan));
  body["layers"][1]["size"] = "large";
  ExpectMalformed(DecodeResolvedPlan(body.dump(), 128), "layers[1]: 'size' is not a whole number");
  body = json::parse(Encode(plan));
  body["config"]["digest"] = "sha512:00";
  ExpectMalformed(DecodeResolvedPlan(body.dump(), 128), "config: 'digest' is not a sha256 digest");
  ExpectMalformed(Decode<BlobDone>(R"({"id": 1})"), "'bytes' is missing");
  ExpectMalformed(Decode<BlobDone>(R"({"id": 1, "bytes": 2, "digest": "x"})"), "unknown key 'digest'");
}

TEST(NetProtocol, RoundTripsAndRefusesWhatItShould) {
  EXPECT_EQ(*Decode<NetResolve>(Encode(NetResolve{"registry.example"})), NetResolve{"registry.example"});
  const NetAddresses addresses{{"10.0.0.1", "2001:db8::1"}};
  EXPECT_EQ(*Decode<NetAddresses>(Encode(addresses)), addresses);
  const NetConnect connect{"registry.example", "10.0.0.1", 443};
  EXPECT_EQ(*Decode<NetConnect>(Encode(connect)), connect);
  EXPECT_EQ(*Decode<NetPermit>(Encode(NetPermit{"127.0.0.1", 80})), (NetPermit{"127.0.0.1", 80}));
  ExpectMalformed(Decode<NetConnect>(R"({"host": "a", "address": "10.0.0.1", "port": 65536})"), "'port'");
  ExpectMalformed(Decode<NetResolve>("{\"host\": \"" + std::string(254, 'a') + "\"}"), "'host'");
  ExpectMalformed(Decode<NetAddresses>(Encode(NetAddresses{std::vector<std::string>(17, "10.0.0.1")})),
                  "'addresses' has more than 16 items");
}

TEST(Fields, AnUnknownKeyIsShownPrintably) {
  ExpectMalformed(Decode<BlobDone>("{\"id\": 1, \"bytes\": 2, \"\\u001b[31mred\": 0}"), "unknown key '\\x1b[31mred'");
}

}  // namespace
}  // namespace banger::ipc
