// A small strict JSON reader for file headers (safetensors, model manifests' native parts).
// Input is untrusted: depth and size are bounded and every error names its byte offset.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hrseg::json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object } kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Value> array;
  std::map<std::string, Value> object;

  bool is_object() const { return kind == Kind::Object; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Number; }
  const Value* find(const std::string& key) const;  // null when absent or not an object
};

// Throws std::runtime_error("...at byte N") on malformed input.
Value parse(std::string_view text);

}  // namespace hrseg::json
