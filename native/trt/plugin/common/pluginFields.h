// Reading and writing PluginFields: the attributes of an ONNX custom-op node reach a plugin as a
// PluginFieldCollection (the ONNX parser maps INT → kINT32 or kINT64, FLOAT → kFLOAT32, STRING →
// kCHAR), and a built engine stores the fields getFieldsToSerialize returns. Bad values throw
// std::invalid_argument naming the plugin and field; creators turn that into a logged error.
#pragma once
#include <NvInferRuntime.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hrseg::trt::plugin {

class FieldReader {
 public:
  FieldReader(const char* plugin, const nvinfer1::PluginFieldCollection* fc);

  bool has(const char* name) const { return find(name) != nullptr; }
  // A missing field yields the fallback; a present one of the wrong type or length throws.
  int64_t integer(const char* name, int64_t fallback) const;
  double real(const char* name, double fallback) const;
  std::string text(const char* name, const std::string& fallback) const;

 private:
  const nvinfer1::PluginField* find(const char* name) const;
  [[noreturn]] void fail(const char* name, const std::string& why) const;
  std::string plugin_;
  const nvinfer1::PluginFieldCollection* fc_;
};

// Owns the storage a PluginFieldCollection points into, for getFieldsToSerialize and
// getFieldNames; rebuilt whenever the values change.
class FieldWriter {
 public:
  void clear();
  void add_int32(const char* name, int32_t value);
  void add_float32(const char* name, float value);
  void add_text(const char* name, const std::string& value);
  // Field names and types only (values null), for IPluginCreatorV3One::getFieldNames.
  void add_name(const char* name, nvinfer1::PluginFieldType type, int32_t length);
  const nvinfer1::PluginFieldCollection* collection();

 private:
  std::vector<int32_t> ints_;
  std::vector<float> floats_;
  std::vector<std::string> texts_;
  struct Pending {
    const char* name;
    nvinfer1::PluginFieldType type;
    int32_t length;
    int kind;  // 0 int, 1 float, 2 text, 3 name only
    size_t index;
  };
  std::vector<Pending> pending_;
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection collection_{};
};

// TensorRT's element types that the head's plugins accept for features.
bool is_feature_type(nvinfer1::DataType t);

}  // namespace hrseg::trt::plugin
