#include "pluginFields.h"

#include <cstring>
#include <stdexcept>

namespace hrseg::trt::plugin {

using nvinfer1::PluginField;
using nvinfer1::PluginFieldType;

FieldReader::FieldReader(const char* plugin, const nvinfer1::PluginFieldCollection* fc) : plugin_(plugin), fc_(fc) {
  if (fc && fc->nbFields > 0 && !fc->fields)
    throw std::invalid_argument(plugin_ + ": field collection has no fields array");
}

const PluginField* FieldReader::find(const char* name) const {
  if (!fc_) return nullptr;
  for (int32_t i = 0; i < fc_->nbFields; ++i)
    if (fc_->fields[i].name && std::strcmp(fc_->fields[i].name, name) == 0) return &fc_->fields[i];
  return nullptr;
}

void FieldReader::fail(const char* name, const std::string& why) const {
  throw std::invalid_argument(plugin_ + ": field '" + name + "' " + why);
}

int64_t FieldReader::integer(const char* name, int64_t fallback) const {
  const PluginField* f = find(name);
  if (!f) return fallback;
  if (f->length != 1 || !f->data) fail(name, "must hold one value, got " + std::to_string(f->length));
  switch (f->type) {
    case PluginFieldType::kINT32:
      return *static_cast<const int32_t*>(f->data);
    case PluginFieldType::kINT64:
      return *static_cast<const int64_t*>(f->data);
    case PluginFieldType::kINT16:
      return *static_cast<const int16_t*>(f->data);
    case PluginFieldType::kINT8:
      return *static_cast<const int8_t*>(f->data);
    default:
      fail(name, "must be an integer");
  }
}

double FieldReader::real(const char* name, double fallback) const {
  const PluginField* f = find(name);
  if (!f) return fallback;
  if (f->length != 1 || !f->data) fail(name, "must hold one value, got " + std::to_string(f->length));
  switch (f->type) {
    case PluginFieldType::kFLOAT32:
      return *static_cast<const float*>(f->data);
    case PluginFieldType::kFLOAT64:
      return *static_cast<const double*>(f->data);
    default:
      fail(name, "must be a floating-point number");
  }
}

std::string FieldReader::text(const char* name, const std::string& fallback) const {
  const PluginField* f = find(name);
  if (!f) return fallback;
  if (f->type != PluginFieldType::kCHAR) fail(name, "must be a string");
  if (f->length < 0 || (f->length > 0 && !f->data)) fail(name, "has no data");
  const char* s = static_cast<const char*>(f->data);
  // The ONNX parser counts the terminating NUL in some versions and not in others.
  size_t n = static_cast<size_t>(f->length);
  while (n > 0 && s[n - 1] == '\0') --n;
  return std::string(s, n);
}

void FieldWriter::clear() {
  ints_.clear(), floats_.clear(), texts_.clear(), pending_.clear(), fields_.clear();
  collection_ = {};
}

void FieldWriter::add_int32(const char* name, int32_t value) {
  pending_.push_back({name, PluginFieldType::kINT32, 1, 0, ints_.size()});
  ints_.push_back(value);
}

void FieldWriter::add_float32(const char* name, float value) {
  pending_.push_back({name, PluginFieldType::kFLOAT32, 1, 1, floats_.size()});
  floats_.push_back(value);
}

void FieldWriter::add_text(const char* name, const std::string& value) {
  pending_.push_back({name, PluginFieldType::kCHAR, static_cast<int32_t>(value.size() + 1), 2, texts_.size()});
  texts_.push_back(value);
}

void FieldWriter::add_name(const char* name, PluginFieldType type, int32_t length) {
  pending_.push_back({name, type, length, 3, 0});
}

const nvinfer1::PluginFieldCollection* FieldWriter::collection() {
  // Pointers are taken only now, after every vector has stopped growing.
  fields_.clear();
  for (const Pending& p : pending_) {
    const void* data = nullptr;
    if (p.kind == 0) data = &ints_[p.index];
    if (p.kind == 1) data = &floats_[p.index];
    if (p.kind == 2) data = texts_[p.index].c_str();
    fields_.emplace_back(p.name, data, p.type, p.length);
  }
  collection_.nbFields = static_cast<int32_t>(fields_.size());
  collection_.fields = fields_.data();
  return &collection_;
}

bool is_feature_type(nvinfer1::DataType t) {
  return t == nvinfer1::DataType::kFLOAT || t == nvinfer1::DataType::kHALF || t == nvinfer1::DataType::kBF16;
}

}  // namespace hrseg::trt::plugin
