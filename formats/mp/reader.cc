#include "formats/mp/reader.h"

#include "formats/mp/writer.h"
#include "formats/safetensors/reader.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::formats::mp {

absl::StatusOr<Model> ReadMpRank(const std::filesystem::path& folder, int64_t rank, int64_t ranks,
                                 nlohmann::ordered_json config) {
  if (ranks < 1 || rank < 0 || rank >= ranks) {
    return absl::InvalidArgumentError(StrCat("rank ", rank, " of ", ranks, " does not exist"));
  }
  const std::filesystem::path path = folder / RankFileName(rank, ranks);
  QC_ASSIGN_OR_RETURN(safetensors::SafetensorsFile file, safetensors::ReadSafetensorsFile(path));
  Model model;
  model.source_path = path;
  model.config = std::move(config);
  model.layout = "mp";
  model.mp_ranks = ranks;
  model.mp_rank = rank;
  for (TensorEntry& e : file.tensors) QC_RETURN_IF_ERROR(model.tensors.Add(std::move(e)));
  return model;
}

}  // namespace quantc::formats::mp
