// Every pass file in passes/ is listed in the registry (IREE's enforce_glob, for passes).
#include <filesystem>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "passes/registry.h"

namespace quantc {
namespace {

TEST(Registry, ListsEveryPassFile) {
  std::set<std::string> registered;
  for (const PassInfo& p : passes::Registry()) {
    std::string file(p.name);
    std::replace(file.begin(), file.end(), '-', '_');
    registered.insert(file);
    auto pass = p.create();
    EXPECT_EQ(pass->Name(), p.name);
  }
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(QUANTC_SOURCE_DIR) / "passes")) {
    std::string stem = entry.path().stem().string();
    if (entry.path().extension() != ".cc" || stem == "registry") continue;
    EXPECT_TRUE(registered.contains(stem)) << "passes/" << stem << ".cc is not listed in passes/registry.cc";
  }
}

}  // namespace
}  // namespace quantc
