#include "lib/pass/pipeline.h"

#include <optional>

#include "lib/support/strings.h"
#include "lib/support/status_macros.h"

namespace quantc {
namespace {

// Splits on commas at nesting depth 0 ("a,b(x=1,y=[1,2])" -> "a", "b(x=1,y=[1,2])").
absl::StatusOr<std::vector<std::string_view>> SplitTopLevel(std::string_view text, std::string_view what) {
  std::vector<std::string_view> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') {
      if (--depth < 0) return absl::InvalidArgumentError(StrCat("unbalanced '", std::string(1, c), "' in ", what));
    }
    if (c == ',' && depth == 0) {
      parts.push_back(StripWhitespace(text.substr(start, i - start)));
      start = i + 1;
    }
  }
  if (depth != 0) return absl::InvalidArgumentError(StrCat("unbalanced brackets in ", what));
  parts.push_back(StripWhitespace(text.substr(start)));
  return parts;
}

// Sets options from "key=value" pairs; each key must be bound by the pass exactly once.
class ParsingBinder final : public OptionBinder {
 public:
  ParsingBinder(std::string_view pass, std::vector<std::pair<std::string, std::string>> values)
      : pass_(pass), values_(std::move(values)), used_(values_.size(), false) {}

  void Int(std::string_view key, int64_t* v, std::string_view) override {
    if (auto s = Take(key)) {
      if (auto x = ParseNumber<int64_t>(*s)) *v = *x;
      else Fail(key, *s, "an integer");
    }
  }
  void Double(std::string_view key, double* v, std::string_view) override {
    if (auto s = Take(key)) {
      if (auto x = ParseNumber<double>(*s)) *v = *x;
      else Fail(key, *s, "a number");
    }
  }
  void Bool(std::string_view key, bool* v, std::string_view) override {
    if (auto s = Take(key)) {
      if (auto x = ParseBool(*s)) *v = *x;
      else Fail(key, *s, "true or false");
    }
  }
  void String(std::string_view key, std::string* v, std::string_view) override {
    if (auto s = Take(key)) *v = *s;
  }
  void IntList(std::string_view key, std::vector<int64_t>* v, std::string_view) override {
    auto s = Take(key);
    if (!s) return;
    std::string_view body = *s;
    if (body.size() < 2 || body.front() != '[' || body.back() != ']') return Fail(key, *s, "a list like [1,2]");
    body = body.substr(1, body.size() - 2);
    v->clear();
    if (StripWhitespace(body).empty()) return;
    for (std::string_view item : SplitOn(body, ',')) {
      auto x = ParseNumber<int64_t>(StripWhitespace(item));
      if (!x) return Fail(key, *s, "a list of integers");
      v->push_back(*x);
    }
  }

  absl::Status Finish() {
    if (!status_.ok()) return status_;
    for (size_t i = 0; i < values_.size(); ++i) {
      if (!used_[i]) {
        return absl::InvalidArgumentError(
            StrCat("pass '", pass_, "' has no option '", values_[i].first, "' (see `quantc passes`)"));
      }
    }
    return absl::OkStatus();
  }

 private:
  std::optional<std::string> Take(std::string_view key) {
    for (size_t i = 0; i < values_.size(); ++i) {
      if (values_[i].first == key) {
        used_[i] = true;
        return values_[i].second;
      }
    }
    return std::nullopt;
  }
  void Fail(std::string_view key, std::string_view value, std::string_view expected) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(
          StrCat("pass '", pass_, "': option ", key, "='", value, "' is not ", expected));
    }
  }
  std::string pass_;
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<bool> used_;
  absl::Status status_;
};

}  // namespace

absl::StatusOr<std::vector<std::unique_ptr<Pass>>> ParsePipeline(std::string_view text,
                                                                  std::span<const PassInfo> registry,
                                                                  const PassOptionDefaults& defaults) {
  std::vector<std::unique_ptr<Pass>> passes;
  if (StripWhitespace(text).empty()) return passes;
  std::string where = StrCat("pipeline '", text, "'");
  QC_ASSIGN_OR_RETURN(auto items, SplitTopLevel(text, where));
  for (std::string_view item : items) {
    if (item.empty()) return absl::InvalidArgumentError(StrCat("empty pass name in ", where));
    std::string_view name = item, args;
    if (size_t open = item.find('('); open != std::string_view::npos) {
      if (item.back() != ')') return absl::InvalidArgumentError(StrCat("expected ')' at the end of '", item, "'"));
      name = StripWhitespace(item.substr(0, open));
      args = item.substr(open + 1, item.size() - open - 2);
    }
    const PassInfo* info = nullptr;
    for (const PassInfo& p : registry) {
      if (p.name == name) info = &p;
    }
    if (info == nullptr) {
      return absl::InvalidArgumentError(StrCat("unknown pass '", name, "' in ", where, " (see `quantc passes`)"));
    }
    std::vector<std::pair<std::string, std::string>> values;
    if (!StripWhitespace(args).empty()) {
      QC_ASSIGN_OR_RETURN(auto kvs, SplitTopLevel(args, StrCat("options of '", name, "'")));
      for (std::string_view kv : kvs) {
        size_t eq = kv.find('=');
        if (eq == std::string_view::npos) {
          return absl::InvalidArgumentError(StrCat("pass '", name, "': option '", kv, "' is not key=value"));
        }
        values.emplace_back(std::string(StripWhitespace(kv.substr(0, eq))),
                            std::string(StripWhitespace(kv.substr(eq + 1))));
      }
    }
    std::unique_ptr<Pass> pass = info->create();
    if (auto d = defaults.find(name); d != defaults.end()) {
      ParsingBinder binder(name, d->second);
      pass->BindOptions(binder);
      QC_RETURN_IF_ERROR(binder.Finish());
    }
    ParsingBinder binder(name, std::move(values));
    pass->BindOptions(binder);
    QC_RETURN_IF_ERROR(binder.Finish());
    passes.push_back(std::move(pass));
  }
  return passes;
}

}  // namespace quantc
