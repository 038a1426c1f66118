// Helpers shared by the fuzz targets: the readers take paths, so each input is written to a file
// in a per-process scratch folder (on /dev/shm when there is one: no disk I/O per execution), and
// inputs made of several files are split at a separator line.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace quantc::fuzz {

// One folder per fuzzer process, removed at exit (libFuzzer's -jobs/-fork run several processes).
class ScratchDir {
 public:
  static const std::filesystem::path& Get() {
    static ScratchDir dir;
    return dir.path_;
  }

 private:
  ScratchDir() {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec)
                                     ? std::filesystem::path("/dev/shm")
                                     : std::filesystem::temp_directory_path();
    std::string tmpl = (base / "quantc-fuzz-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();  // no scratch space: nothing can be fuzzed
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::filesystem::path path_;
};

// A folder inside the scratch folder, for readers that take a checkpoint folder.
inline std::filesystem::path MakeSubfolder(std::string_view name) {
  std::filesystem::path folder = ScratchDir::Get() / name;
  std::filesystem::create_directory(folder);
  return folder;
}

// Replaces `path` with exactly `bytes`.
inline void WriteFile(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) std::abort();
}

inline void RemoveFile(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

// The separator between the parts of a multi-file input ("a\n--8<--\nb" -> {"a", "b"}). A line no
// real file starts or ends with, easy to write by hand in a seed.
inline constexpr std::string_view kPartSeparator = "\n--8<--\n";

// Splits `input` into at most `max_parts` parts; the last part keeps any further separators.
inline std::vector<std::string_view> SplitParts(std::string_view input, size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    size_t at = input.find(kPartSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(input.substr(0, at));
    input.remove_prefix(at + kPartSeparator.size());
  }
  parts.push_back(input);
  return parts;
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace quantc::fuzz
