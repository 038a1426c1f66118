#include "lib/pass/pass.h"

#include "lib/support/strings.h"
#include "absl/strings/str_join.h"
#include "fmt/format.h"

namespace quantc {
namespace {

// Writes every option back as "key=value", in declaration order.
class PrintingBinder final : public OptionBinder {
 public:
  void Int(std::string_view key, int64_t* v, std::string_view) override { Put(key, StrCat(*v)); }
  void Double(std::string_view key, double* v, std::string_view) override { Put(key, fmt::format("{}", *v)); }
  void Bool(std::string_view key, bool* v, std::string_view) override { Put(key, *v ? "true" : "false"); }
  void String(std::string_view key, std::string* v, std::string_view) override { Put(key, *v); }
  void IntList(std::string_view key, std::vector<int64_t>* v, std::string_view) override {
    Put(key, StrCat("[", absl::StrJoin(*v, ","), "]"));
  }
  std::vector<std::string> items;
  std::vector<std::string> helps;

 private:
  void Put(std::string_view key, std::string value) { items.push_back(StrCat(key, "=", value)); }
};

class DescribingBinder final : public OptionBinder {
 public:
  void Int(std::string_view k, int64_t* v, std::string_view h) override { Put(k, "int", StrCat(*v), h); }
  void Double(std::string_view k, double* v, std::string_view h) override {
    Put(k, "float", fmt::format("{}", *v), h);
  }
  void Bool(std::string_view k, bool* v, std::string_view h) override { Put(k, "bool", *v ? "true" : "false", h); }
  void String(std::string_view k, std::string* v, std::string_view h) override { Put(k, "string", *v, h); }
  void IntList(std::string_view k, std::vector<int64_t>* v, std::string_view h) override {
    Put(k, "int-list", StrCat("[", absl::StrJoin(*v, ","), "]"), h);
  }
  std::vector<std::string> lines;

 private:
  void Put(std::string_view key, std::string_view type, std::string_view def, std::string_view help) {
    lines.push_back(fmt::format("{}={}  {} (default {})", key, type, help, def));
  }
};

}  // namespace

std::string PrintPass(Pass& pass) {
  PrintingBinder printer;
  pass.BindOptions(printer);
  if (printer.items.empty()) return std::string(pass.Name());
  return StrCat(pass.Name(), "(", absl::StrJoin(printer.items, ","), ")");
}

std::vector<std::string> DescribeOptions(Pass& pass) {
  DescribingBinder describer;
  pass.BindOptions(describer);
  return describer.lines;
}

}  // namespace quantc
