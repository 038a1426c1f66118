#include "lib/pass/pass_manager.h"

#include "lib/support/strings.h"
#include "absl/strings/str_join.h"

namespace quantc {

void PassManager::AddAll(std::vector<std::unique_ptr<Pass>> passes) {
  for (auto& p : passes) Add(std::move(p));
}

absl::Status PassManager::Run(Model& model) {
  stats_.clear();
  notes_.clear();
  if (absl::Status s = VerifyModel(model); !s.ok()) {
    return absl::Status(s.code(), StrCat("input model: ", s.message()));
  }
  for (auto& pass : passes_) {
    std::string text = PrintPass(*pass);
    PassStatistics stats;
    PassContext ctx{&stats, &notes_, importance_, calibration_, show_progress_};
    absl::Status s = pass->Run(model, ctx);
    if (!s.ok()) return absl::Status(s.code(), StrCat("in pass '", pass->Name(), "': ", s.message()));
    // The verifier runs after every pass: a broken invariant is the pass's bug, caught here.
    if (absl::Status v = VerifyModel(model); !v.ok()) {
      return absl::InternalError(StrCat("after pass '", pass->Name(), "': ", v.message()));
    }
    model.pipeline.push_back(text);
    stats_.emplace_back(std::move(text), std::move(stats));
  }
  return absl::OkStatus();
}

std::string PassManager::Text() const {
  std::vector<std::string> parts;
  for (const auto& p : passes_) parts.push_back(PrintPass(*p));
  return absl::StrJoin(parts, ",");
}

}  // namespace quantc
