// The quantc version, recorded in every output's metadata next to the pipeline that made it.
#pragma once

#include <string_view>

namespace quantc {

inline constexpr std::string_view kVersion = QUANTC_VERSION;  // set by CMake from project(VERSION)

}  // namespace quantc
