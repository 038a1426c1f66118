#include <string_view>
#include <unordered_set>

#include "lib/support/strings.h"
#include "lib/ir/model.h"

namespace quantc {

absl::Status VerifyModel(const Model& model) {
  if (!model.config.is_object()) return absl::InternalError("model config is not a JSON object");
  std::unordered_set<std::string_view> seen;
  for (const TensorEntry& e : model.tensors.entries()) {
    if (e.name.empty()) return absl::InternalError("tensor with an empty name");
    if (!seen.insert(e.name).second) return absl::InternalError(StrCat("duplicate tensor '", e.name, "'"));
    if (e.source == nullptr) return absl::InternalError(StrCat("tensor '", e.name, "' has no data source"));
    if (auto size = CheckedByteSize(e.info); !size.ok()) {
      return absl::InternalError(StrCat("tensor '", e.name, "': ", size.status().message()));
    }
    if (model.tensors.Find(e.name) != &e) {
      return absl::InternalError(StrCat("tensor '", e.name, "' is not indexed (RebuildIndex missing)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace quantc
