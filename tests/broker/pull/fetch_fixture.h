// Shared by the broker's fetch tests: a fresh verified cache per test, and fetches
// with chosen credentials (anonymous by default, never the machine's docker config).
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "broker/pull/fetch.h"
#include "broker/store/blob_cache.h"
#include "tests/support/registry_fixture.h"

namespace banger::broker {

class FetchTest : public ::testing::Test {
 protected:
  void SetUp() override { cache_ = NewCache(cache_dir_); }

  // A cache in `dir`, for tests that need a second, empty one.
  static std::unique_ptr<BlobCache> NewCache(const testing::ScratchDir& dir) {
    auto cache = BlobCache::Open(dir.path());
    EXPECT_TRUE(cache) << cache.error().message;
    return cache ? std::make_unique<BlobCache>(std::move(*cache)) : nullptr;
  }

  // Options for `ref` with fixed credentials.
  static FetchOptions OptionsFor(const std::string& ref, RegistryCredentials creds = {}) {
    FetchOptions options;
    options.reference = ref;
    options.credentials = [creds](const std::string&) -> Result<RegistryCredentials> { return creds; };
    options.helpers.banger_dir = BANGER_BIN_DIR;
    return options;
  }

  Result<FetchedImage> Fetch(const std::string& ref, RegistryCredentials creds = {}) {
    return FetchImage(*cache_, OptionsFor(ref, std::move(creds)));
  }

  testing::ScratchDir cache_dir_{"banger-cache"};
  std::unique_ptr<BlobCache> cache_;
};

}  // namespace banger::broker
