// The image catalog: every field of every entry checked before use (a bad one is a named
// kMalformed error, never an exception), the sources' precedence, and which names can
// only mean a catalog entry.
#include "broker/registry/catalog.h"

#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"

namespace banger::broker {
namespace {

using nlohmann::json;
using testing::ScratchDir;

const std::string kSha = std::string(64, 'c');

json Entry(const std::string& name) {
  return {{"name", name},           {"distro", "debian"},
          {"arch", "amd64"},        {"kernel_ref", "vmlinux-6.1"},
          {"url", "https://example.com/" + name + ".tar.zst"},
          {"sha256", kSha},         {"size", 123456},
          {"description", "a test image"}};
}

std::string CatalogText(std::vector<json> entries) {
  return json{{"version", 1}, {"entries", std::move(entries)}}.dump();
}

// Parses a catalog of one entry with `key` set to `value` (or removed, for null).
Result<Catalog> ParseWith(const std::string& key, const json& value, bool remove = false) {
  json entry = Entry("debian-12");
  if (remove) {
    entry.erase(key);
  } else {
    entry[key] = value;
  }
  return ParseCatalog(CatalogText({entry}), "test.json");
}

void ExpectMalformed(const Result<Catalog>& parsed, const std::string& says) {
  ASSERT_FALSE(parsed) << "accepted: " << says;
  EXPECT_EQ(parsed.error().code, ErrorCode::kMalformed) << parsed.error().message;
  EXPECT_EQ(parsed.error().message.rfind("catalog test.json: ", 0), 0u) << parsed.error().message;
  EXPECT_NE(parsed.error().message.find(says), std::string::npos) << parsed.error().message;
}

TEST(Catalog, AValidCatalogGivesEveryField) {
  json minimal = {{"name", "alpine"}, {"url", "http://mirror.local/alpine.tar.zst"}, {"sha256", kSha}, {"size", 1}};
  auto catalog = ParseCatalog(CatalogText({Entry("debian-12"), minimal}), "test.json");
  ASSERT_TRUE(catalog) << catalog.error().message;
  EXPECT_EQ(catalog->source, "test.json");
  ASSERT_EQ(catalog->entries.size(), 2u);
  const CatalogEntry* debian = catalog->Find("debian-12");
  ASSERT_NE(debian, nullptr);
  EXPECT_EQ(debian->distro, "debian");
  EXPECT_EQ(debian->arch, "amd64");
  EXPECT_EQ(debian->kernel_ref, "vmlinux-6.1");
  EXPECT_EQ(debian->url, "https://example.com/debian-12.tar.zst");
  EXPECT_EQ(debian->sha256, kSha);
  EXPECT_EQ(debian->size, 123456u);
  EXPECT_EQ(debian->description, "a test image");
  const CatalogEntry* alpine = catalog->Find("alpine");
  ASSERT_NE(alpine, nullptr);
  EXPECT_EQ(alpine->kernel_ref, "") << "optional fields default to empty";
  EXPECT_EQ(catalog->Find("ubuntu"), nullptr);
}

TEST(Catalog, AnEmptyCatalogIsValid) {
  auto catalog = ParseCatalog(CatalogText({}), "test.json");
  ASSERT_TRUE(catalog) << catalog.error().message;
  EXPECT_TRUE(catalog->entries.empty());
}

TEST(Catalog, TheDocumentMustBeAVersionOneCatalog) {
  for (const std::string& text : {std::string("not json"), std::string("[]"), std::string("{\"entries\": []}"),
                                  std::string("{\"version\": 2, \"entries\": []}"),
                                  std::string("{\"version\": \"1\", \"entries\": []}"),
                                  std::string("{\"version\": 1, \"entries\": {}}"), std::string("")}) {
    SCOPED_TRACE(text);
    ExpectMalformed(ParseCatalog(text, "test.json"), "");
  }
  ExpectMalformed(ParseCatalog(CatalogText({json(42)}), "test.json"), "entries[0]: not a JSON object");
}

TEST(Catalog, DeepNestingIsRefusedNotRecursedInto) {
  std::string deep = "{\"version\": 1, \"entries\": [{\"name\": \"x\", \"extra\": ";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}]}";
  ExpectMalformed(ParseCatalog(deep, "test.json"), "");
}

TEST(Catalog, NamesMustBeImageNames) {
  ExpectMalformed(ParseWith("name", "../etc"), "entry name '../etc' is not a valid image name");
  ExpectMalformed(ParseWith("name", ""), "is not a valid image name");
  ExpectMalformed(ParseWith("name", "has space"), "is not a valid image name");
}

TEST(Catalog, Sha256MustBe64LowercaseHexDigits) {
  ExpectMalformed(ParseWith("sha256", std::string(63, 'c')), "has a sha256 that is not 64 lowercase hex digits");
  ExpectMalformed(ParseWith("sha256", std::string(65, 'c')), "not 64 lowercase hex digits");
  ExpectMalformed(ParseWith("sha256", std::string(64, 'C')), "not 64 lowercase hex digits");
  ExpectMalformed(ParseWith("sha256", "sha256:" + std::string(57, 'c')), "not 64 lowercase hex digits");
  ExpectMalformed(ParseWith("sha256", std::string(63, 'c') + "g"), "not 64 lowercase hex digits");
}

TEST(Catalog, SizeZeroIsRefused) { ExpectMalformed(ParseWith("size", 0), "entry 'debian-12' has size 0"); }

TEST(Catalog, OnlyHttpAndHttpsUrls) {
  for (const char* url : {"ftp://example.com/x", "file:///etc/shadow", "/srv/x.tar.zst", "HTTPS://example.com/x",
                          "httpx://example.com"}) {
    SCOPED_TRACE(url);
    ExpectMalformed(ParseWith("url", url), "has a URL that is not http(s)");
  }
}

TEST(Catalog, AKernelRefMustBeAnImageNameWhenGiven) {
  ExpectMalformed(ParseWith("kernel_ref", "../../boot/vmlinuz"), "entry 'debian-12' has an invalid kernel_ref");
  ASSERT_TRUE(ParseWith("kernel_ref", "")) << "an empty kernel_ref means none";
}

TEST(Catalog, ANameTwiceIsRefused) {
  ExpectMalformed(ParseCatalog(CatalogText({Entry("dup"), Entry("other"), Entry("dup")}), "test.json"),
                  "entry 'dup' appears twice");
}

// The typed decoder (ipc/fields.h) refuses what it does not know, as it does for a helper.
TEST(Catalog, AnUnknownKeyIsRefused) {
  ExpectMalformed(ParseWith("sha512", "x"), "entries[0]: unknown key 'sha512'");
}

TEST(Catalog, AMissingRequiredFieldIsANamedError) {
  for (const char* key : {"name", "url", "sha256", "size"}) {
    SCOPED_TRACE(key);
    ExpectMalformed(ParseWith(key, nullptr, /*remove=*/true), std::string("entries[0]: '") + key + "' is missing");
  }
}

TEST(Catalog, AFieldOfTheWrongTypeIsANamedErrorNotAnException) {
  const std::vector<std::pair<std::string, json>> cases = {
      {"name", 12},         {"name", json::array()}, {"url", json::object()}, {"sha256", nullptr},
      {"size", "123"},      {"size", json::array()}, {"distro", 5},           {"arch", true},
      {"kernel_ref", json::array()}, {"description", json::object()}, {"distro", nullptr}};
  for (const auto& [key, value] : cases) {
    SCOPED_TRACE(key + " = " + value.dump());
    Result<Catalog> parsed = Error{ErrorCode::kIo, "not run"};
    ASSERT_NO_THROW(parsed = ParseWith(key, value));
    ExpectMalformed(parsed, "entries[0]: '" + key + (key == "size" ? "' is not a whole number" : "' is not a string"));
  }
}

// get<uint64_t> would turn -1 into 18446744073709551615 and 1.5 into 1: a size must
// already be a whole number.
TEST(Catalog, ASizeThatIsNotAWholeNumberIsRefused) {
  for (const json& size : {json(-1), json(1.5), json(1e30)}) {
    SCOPED_TRACE(size.dump());
    ExpectMalformed(ParseWith("size", size), "entries[0]: 'size' is not a whole number");
  }
}

class LoadCatalogTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& file, const std::string& name) {
    const std::string path = dir_.path() + "/" + file;
    std::ofstream(path) << CatalogText({Entry(name)});
    return path;
  }
  // Fails the test if called; Load* tests that read files never reach it.
  UrlReader NoUrls() {
    return [this](const std::string& url, uint64_t) -> Result<std::string> {
      ADD_FAILURE() << "read the URL " << url << " for a path source";
      return Error{ErrorCode::kIo, "no"};
    };
  }
  ScratchDir dir_{"banger-catalog"};
};

TEST_F(LoadCatalogTest, TheFlagWinsOverTheEnvironmentAndTheConfig) {
  auto catalog = LoadCatalog({Write("flag.json", "from-flag"), Write("env.json", "from-env"),
                              Write("config.json", "from-config")},
                             NoUrls());
  ASSERT_TRUE(catalog) << catalog.error().message;
  EXPECT_EQ(catalog->source, dir_.path() + "/flag.json");
  EXPECT_NE(catalog->Find("from-flag"), nullptr);
}

TEST_F(LoadCatalogTest, TheEnvironmentWinsOverTheConfig) {
  auto catalog = LoadCatalog({"", Write("env.json", "from-env"), Write("config.json", "from-config")}, NoUrls());
  ASSERT_TRUE(catalog) << catalog.error().message;
  EXPECT_EQ(catalog->source, dir_.path() + "/env.json");
  EXPECT_NE(catalog->Find("from-env"), nullptr);
}

TEST_F(LoadCatalogTest, TheConfigIsUsedWhenNothingElseIsSet) {
  auto catalog = LoadCatalog({"", "", Write("config.json", "from-config")}, NoUrls());
  ASSERT_TRUE(catalog) << catalog.error().message;
  EXPECT_NE(catalog->Find("from-config"), nullptr);
}

TEST_F(LoadCatalogTest, WithNoSourceTheSystemOrBuiltInCatalogIsUsed) {
  auto catalog = LoadCatalog({}, NoUrls());
  ASSERT_TRUE(catalog) << catalog.error().message;
  struct stat st {};
  const bool system = ::stat("/etc/banger/catalog.json", &st) == 0;
  EXPECT_EQ(catalog->source, system ? "/etc/banger/catalog.json" : "(built in)");
}

TEST_F(LoadCatalogTest, AnUnreadablePathIsAnErrorNotAFallBack) {
  auto catalog = LoadCatalog({dir_.path() + "/missing.json", "", Write("config.json", "from-config")}, NoUrls());
  ASSERT_FALSE(catalog) << "fell back to another source: " << catalog->source;
  EXPECT_NE(catalog.error().message.find(dir_.path() + "/missing.json"), std::string::npos)
      << catalog.error().message;
}

TEST_F(LoadCatalogTest, AMalformedFileNamesItsPath) {
  const std::string path = dir_.path() + "/bad.json";
  std::ofstream(path) << CatalogText({Entry("UPPER and spaces")});
  auto catalog = LoadCatalog({path}, NoUrls());
  ASSERT_FALSE(catalog);
  EXPECT_EQ(catalog.error().message.rfind("catalog " + path + ": ", 0), 0u) << catalog.error().message;
}

TEST_F(LoadCatalogTest, AnHttpSourceGoesThroughTheUrlReader) {
  std::vector<std::pair<std::string, uint64_t>> calls;
  const UrlReader reader = [&calls](const std::string& url, uint64_t max_bytes) -> Result<std::string> {
    calls.emplace_back(url, max_bytes);
    return CatalogText({Entry("from-url")});
  };
  for (const std::string url : {"https://catalog.example.com/c.json", "http://10.0.0.1:8080/c.json"}) {
    calls.clear();
    auto catalog = LoadCatalog({"", url, Write("config.json", "from-config")}, reader);
    ASSERT_TRUE(catalog) << catalog.error().message;
    EXPECT_EQ(catalog->source, url);
    EXPECT_NE(catalog->Find("from-url"), nullptr);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].first, url);
    EXPECT_EQ(calls[0].second, uint64_t{1} << 20) << "the catalog's byte bound";
  }
}

TEST_F(LoadCatalogTest, TheUrlReadersErrorIsTheLoadsError) {
  const UrlReader failing = [](const std::string&, uint64_t) -> Result<std::string> {
    return Error{ErrorCode::kIo, "connection refused"};
  };
  auto catalog = LoadCatalog({"https://down.example.com/c.json"}, failing);
  ASSERT_FALSE(catalog);
  EXPECT_EQ(catalog.error().message, "connection refused");
}

TEST(Catalog, LooksLikeCatalogNameOnlyForBareNames) {
  for (const char* name : {"debian", "debian-12", "alpine_3", "X"}) EXPECT_TRUE(LooksLikeCatalogName(name)) << name;
  for (const char* name : {"", "alpine:3.19", "library/alpine", "docker.io/alpine", "debian.12",
                           "alpine@sha256:abc", "localhost:5000/x"}) {
    EXPECT_FALSE(LooksLikeCatalogName(name)) << name;
  }
}

}  // namespace
}  // namespace banger::broker
