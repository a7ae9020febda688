#pragma once
// Reading the JSON records mer leaves beside its outputs (a clip's record, a prepared folder's
// manifest) where a missing or damaged file means "not done yet" rather than an error: the
// caller redoes the work or refuses with its own message.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

namespace mer {

// The file's JSON content, or nullopt when it is missing, unreadable or does not parse.
std::optional<nlohmann::json> read_json_if_valid(const std::filesystem::path& path);

}  // namespace mer
