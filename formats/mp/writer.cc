#include "formats/mp/writer.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "formats/safetensors/header.h"
#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::formats::mp {
namespace {

namespace fs = std::filesystem;
using safetensors::HeaderTensor;

// The shape rank r holds of `e` (empty when it holds nothing).
std::optional<Shape> RankShape(const TensorEntry& e, int64_t rank, int64_t ranks) {
  switch (e.placement.kind) {
    case Placement::Kind::kReplicated: return e.info.shape;
    case Placement::Kind::kOneRank: return e.placement.rank == rank ? std::optional<Shape>(e.info.shape) : std::nullopt;
    case Placement::Kind::kSplit: {
      Shape s = e.info.shape;
      s[e.placement.dim] /= ranks;
      return s;
    }
  }
  return std::nullopt;
}

// Routes a tensor's row-major bytes to the rank files: for a split along dim d the bytes are runs
// of `run` bytes (dim-d slice r of one outer index) cycling through ranks 0..N-1.
class Router {
 public:
  Router(const TensorEntry& e, int64_t ranks, std::vector<std::unique_ptr<OutputFile>>& files)
      : e_(e), ranks_(ranks), files_(files) {
    if (e.placement.kind == Placement::Kind::kSplit) {
      uint64_t inner = Traits(e.info.dtype).block_bytes;
      for (size_t i = e.placement.dim + 1; i < e.info.shape.size(); ++i) inner *= e.info.shape[i];
      run_ = inner * static_cast<uint64_t>(e.info.shape[e.placement.dim] / ranks);
    }
  }

  absl::Status Write(std::span<const uint8_t> chunk) {
    switch (e_.placement.kind) {
      case Placement::Kind::kReplicated:
        for (auto& f : files_) QC_RETURN_IF_ERROR(f->Write(chunk));
        return absl::OkStatus();
      case Placement::Kind::kOneRank: return files_[e_.placement.rank]->Write(chunk);
      case Placement::Kind::kSplit:
        while (!chunk.empty()) {
          const uint64_t take = std::min<uint64_t>(chunk.size(), run_ - in_run_);
          QC_RETURN_IF_ERROR(files_[rank_]->Write(chunk.first(take)));
          chunk = chunk.subspan(take);
          if ((in_run_ += take) == run_) in_run_ = 0, rank_ = (rank_ + 1) % ranks_;
        }
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

 private:
  const TensorEntry& e_;
  int64_t ranks_;
  std::vector<std::unique_ptr<OutputFile>>& files_;
  uint64_t run_ = 0, in_run_ = 0;
  int64_t rank_ = 0;
};

absl::Status WriteAll(const Model& model, const fs::path& folder, std::vector<fs::path>& created, Progress* progress) {
  const int64_t ranks = model.mp_ranks;
  // safetensors.save_file's order (dtype descending, then name), which every rank file follows; the
  // input is streamed in that order so each rank's tensors arrive in its file's order.
  std::vector<const TensorEntry*> ordered;
  for (const TensorEntry& e : model.tensors.entries()) ordered.push_back(&e);
  std::sort(ordered.begin(), ordered.end(), [](const TensorEntry* a, const TensorEntry* b) {
    if (a->info.dtype != b->info.dtype) return a->info.dtype > b->info.dtype;
    return a->name < b->name;
  });
  std::vector<std::unique_ptr<OutputFile>> files;
  for (int64_t r = 0; r < ranks; ++r) {
    std::vector<HeaderTensor> layout;
    uint64_t offset = 0;
    for (const TensorEntry* e : ordered) {
      std::optional<Shape> shape = RankShape(*e, r, ranks);
      if (!shape) continue;
      TensorInfo info{e->info.dtype, *shape};
      QC_ASSIGN_OR_RETURN(uint64_t size, CheckedByteSize(info));
      layout.push_back(HeaderTensor{.name = e->name, .info = info, .begin = offset, .end = offset + size});
      offset += size;
    }
    const fs::path path = folder / RankFileName(r, ranks);
    QC_ASSIGN_OR_RETURN(std::unique_ptr<OutputFile> f, OutputFile::Create(path));
    created.push_back(path);
    const std::string header = safetensors::SerializeHeader({}, layout);
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));
    QC_RETURN_IF_ERROR(f->Write(std::span<const uint8_t>(len, 8)));
    QC_RETURN_IF_ERROR(f->Write(std::string_view(header)));
    files.push_back(std::move(f));
  }
  for (const TensorEntry* e : ordered) {
    QC_ASSIGN_OR_RETURN(const uint64_t expected, CheckedByteSize(e->info));
    Router router(*e, ranks, files);
    QC_RETURN_IF_ERROR(StreamExactly(*e, expected, folder.string(), safetensors::QuoteName(e->name),
                                     [&](std::span<const uint8_t> chunk) -> absl::Status {
                                       if (progress != nullptr) progress->Advance(chunk.size());
                                       return router.Write(chunk);
                                     }));
    if (progress != nullptr) progress->Advance(0, 1);
  }
  for (auto& f : files) QC_RETURN_IF_ERROR(f->Close());
  for (const fs::path& aux : model.aux_files) {
    if (aux.filename().string().find("token") == std::string::npos) continue;
    // CopyFile, not fs::copy_file: it syncs the copy (the output is renamed into place next) and
    // names the real error (fs::copy_file reports a short copy on a full disk as EIO).
    QC_RETURN_IF_ERROR(CopyFile(aux, folder / aux.filename()));
    created.push_back(folder / aux.filename());
  }
  return absl::OkStatus();
}

}  // namespace

std::string RankFileName(int64_t rank, int64_t ranks) { return StrCat("model", rank, "-mp", ranks, ".safetensors"); }

absl::Status WriteMpShards(const Model& model, const fs::path& folder, Progress* progress) {
  if (model.layout != "mp" || model.mp_ranks < 1) {
    return absl::FailedPreconditionError("mp output needs the shard pass (shard(n=N))");
  }
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return absl::InternalError(StrCat(folder.string(), ": cannot create: ", ec.message()));
  std::vector<fs::path> created;
  absl::Status s = WriteAll(model, folder, created, progress);
  if (!s.ok()) {
    for (const fs::path& p : created) fs::remove(p, ec);
  }
  return s;
}

}  // namespace quantc::formats::mp
