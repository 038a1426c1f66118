#include "lib/tokenizer/pre_tokenizer.h"

#include <utility>

#include "lib/support/status_macros.h"
#include "lib/tokenizer/byte_level.h"

namespace quantc::tokenizer {
namespace {

// A run of the text and whether the pattern matched it; the runs cover the text in order.
struct Run {
  size_t begin;
  size_t end;
  bool is_match;
};

absl::Status FindRuns(const Regex& regex, std::string_view text, bool invert, std::vector<Run>& runs) {
  std::vector<Match> matches;
  QC_RETURN_IF_ERROR(regex.FindAll(text, matches));
  size_t previous = 0;
  for (const Match& m : matches) {
    if (previous != m.begin) runs.push_back({previous, m.begin, invert});
    runs.push_back({m.begin, m.end, !invert});
    previous = m.end;
  }
  if (previous != text.size()) runs.push_back({previous, text.size(), invert});
  return absl::OkStatus();
}

// Groups the runs into pieces as NormalizedString::split does for each behaviour.
std::vector<Run> ApplyBehavior(const std::vector<Run>& runs, SplitBehavior behavior) {
  std::vector<Run> pieces;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      return runs;
    case SplitBehavior::kRemoved:
      for (const Run& r : runs) {
        if (!r.is_match) pieces.push_back(r);
      }
      return pieces;
    case SplitBehavior::kContiguous:
      for (const Run& r : runs) {
        if (r.is_match == previous_match && !pieces.empty()) pieces.back().end = r.end;
        else pieces.push_back(r);
        previous_match = r.is_match;
      }
      return pieces;
    case SplitBehavior::kMergedWithPrevious:
      for (const Run& r : runs) {
        if (r.is_match && !previous_match && !pieces.empty()) pieces.back().end = r.end;
        else pieces.push_back(r);
        previous_match = r.is_match;
      }
      return pieces;
    case SplitBehavior::kMergedWithNext:
      for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
        if (it->is_match && !previous_match && !pieces.empty()) pieces.back().begin = it->begin;
        else pieces.push_back(*it);
        previous_match = it->is_match;
      }
      return {pieces.rbegin(), pieces.rend()};
  }
  return runs;
}

absl::Status ApplySplit(const Regex& regex, SplitBehavior behavior, bool invert, std::string_view word,
                        std::vector<std::string>& out) {
  std::vector<Run> runs;
  QC_RETURN_IF_ERROR(FindRuns(regex, word, invert, runs));
  for (const Run& piece : ApplyBehavior(runs, behavior)) {
    if (piece.end > piece.begin) out.emplace_back(word.substr(piece.begin, piece.end - piece.begin));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PreTokenizer> PreTokenizer::Create(std::vector<Step> steps) {
  PreTokenizer pre;
  for (const Step& step : steps) {
    const auto* byte_level = std::get_if<ByteLevelStep>(&step);
    if (byte_level != nullptr && byte_level->use_regex && pre.gpt2_ == nullptr) {
      QC_ASSIGN_OR_RETURN(pre.gpt2_, Regex::Compile(kGpt2Pattern));
    }
  }
  pre.steps_ = std::move(steps);
  return pre;
}

absl::Status PreTokenizer::Run(std::string_view text, std::vector<std::string>& words) const {
  std::vector<std::string> current;
  if (!text.empty()) current.emplace_back(text);
  std::vector<std::string> next;
  for (const Step& step : steps_) {
    next.clear();
    if (const auto* split = std::get_if<SplitStep>(&step)) {
      for (const std::string& word : current) {
        QC_RETURN_IF_ERROR(ApplySplit(*split->pattern, split->behavior, split->invert, word, next));
      }
    } else {
      const auto& byte_level = std::get<ByteLevelStep>(step);
      std::vector<std::string> pieces;
      std::string prefixed;
      auto append_mapped = [&next](std::string_view piece) {
        std::string mapped;
        mapped.reserve(piece.size() * 2);
        AppendByteLevel(piece, mapped);
        next.push_back(std::move(mapped));
      };
      for (const std::string& word : current) {
        std::string_view source = word;
        if (byte_level.add_prefix_space && !word.starts_with(' ')) {
          prefixed = " " + word;
          source = prefixed;
        }
        if (!byte_level.use_regex) {
          append_mapped(source);
          continue;
        }
        pieces.clear();
        QC_RETURN_IF_ERROR(ApplySplit(*gpt2_, SplitBehavior::kIsolated, false, source, pieces));
        for (const std::string& piece : pieces) append_mapped(piece);
      }
    }
    current.swap(next);
  }
  for (std::string& word : current) words.push_back(std::move(word));
  return absl::OkStatus();
}

}  // namespace quantc::tokenizer
