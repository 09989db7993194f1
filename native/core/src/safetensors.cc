#include "hrseg/safetensors.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "hrseg/error.h"
#include "hrseg/json.h"

namespace hrseg {

namespace {

size_t stored_size(const std::string& dtype) {
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2") return 1;
  return 0;
}

}  // namespace

std::shared_ptr<SafeTensors> SafeTensors::open(const std::string& path) {
  auto t = std::shared_ptr<SafeTensors>(new SafeTensors());
  t->file_ = MappedFile::open(path);
  t->label_ = path;
  t->base_ = t->file_->data();
  t->size_ = t->file_->size();
  t->parse();
  return t;
}

std::shared_ptr<SafeTensors> SafeTensors::borrow(const void* data, size_t size, std::string label) {
  auto t = std::shared_ptr<SafeTensors>(new SafeTensors());
  t->label_ = std::move(label);
  t->base_ = static_cast<const uint8_t*>(data);
  t->size_ = size;
  t->parse();
  return t;
}

void SafeTensors::parse() {
  auto bad = [&](const std::string& what) { fail(ErrorCode::ModelFile, label_ + ": " + what); };
  if (size_ < 8)
    bad("truncated: " + std::to_string(size_) + " bytes, a safetensors file starts with an 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | base_[i];
  if (n > kMaxHeaderBytes)
    bad("header length " + std::to_string(n) + " exceeds the " + std::to_string(kMaxHeaderBytes) + "-byte limit");
  if (n > size_ - 8)
    bad("truncated: header claims bytes 8.." + std::to_string(8 + n) + " but the file has " + std::to_string(size_));
  json::Value header;
  try {
    header = json::parse(std::string_view(reinterpret_cast<const char*>(base_ + 8), n));
  } catch (const std::exception& e) {
    bad(std::string("header: ") + e.what());
  }
  if (!header.is_object()) bad("header is not a JSON object");
  data_ = base_ + 8 + n;
  data_size_ = size_ - 8 - n;
  for (const auto& [name, v] : header.object) {
    if (name == "__metadata__") continue;
    const json::Value* dt = v.find("dtype");
    const json::Value* shape = v.find("shape");
    const json::Value* offs = v.find("data_offsets");
    if (!dt || !dt->is_string() || !shape || !shape->is_array() || !offs || !offs->is_array() ||
        offs->array.size() != 2)
      bad("tensor '" + name + "': header entry needs dtype, shape and data_offsets [begin, end]");
    Entry e;
    e.dtype = dt->string;
    const size_t elem = stored_size(e.dtype);
    if (!elem) bad("tensor '" + name + "': unknown dtype " + e.dtype);
    double count = 1;
    for (const auto& d : shape->array) {
      if (!d.is_number() || d.number < 0 || d.number != std::floor(d.number)) bad("tensor '" + name + "': bad shape");
      e.shape.push_back(static_cast<int64_t>(d.number));
      count *= d.number;
    }
    for (const auto& o : offs->array)
      if (!o.is_number() || o.number < 0 || o.number != std::floor(o.number))
        bad("tensor '" + name + "': bad data_offsets");
    const double b = offs->array[0].number, en = offs->array[1].number;
    std::ostringstream range;
    range << "tensor '" << name << "': data_offsets [" << static_cast<uint64_t>(b) << ", " << static_cast<uint64_t>(en)
          << ")";
    if (b > en) bad(range.str() + " end before begin");
    if (en > static_cast<double>(data_size_))
      bad(range.str() + " run past the data section (" + std::to_string(data_size_) +
          " bytes): the file is truncated or the header lies");
    if (en - b != count * static_cast<double>(elem))
      bad(range.str() + " hold " + std::to_string(static_cast<uint64_t>(en - b)) + " bytes, but " + e.dtype +
          dims_to_string(e.shape) + " needs " + std::to_string(static_cast<uint64_t>(count * elem)));
    e.begin = static_cast<size_t>(b);
    e.end = static_cast<size_t>(en);
    entries_.emplace(name, std::move(e));
  }
}

const Dims& SafeTensors::shape(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) fail(ErrorCode::ModelFile, label_ + ": tensor '" + name + "' is missing");
  return it->second.shape;
}

const float* SafeTensors::materialise(const std::string& name, const Entry& e) const {
  const uint8_t* p = data_ + e.begin;
  if (e.dtype == "F32" && reinterpret_cast<uintptr_t>(p) % alignof(float) == 0)
    return reinterpret_cast<const float*>(p);
  auto found = converted_.find(name);
  if (found != converted_.end()) return found->second.data();
  const size_t n = (e.end - e.begin) / stored_size(e.dtype);
  std::vector<float> out(n);
  if (e.dtype == "F32") {
    std::memcpy(out.data(), p, n * 4);
  } else if (e.dtype == "F16" || e.dtype == "BF16") {
    const bool half = e.dtype == "F16";
    for (size_t i = 0; i < n; ++i) {
      uint16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      out[i] = half ? f16_bits_to_float(v) : bf16_bits_to_float(v);
    }
  } else {
    fail(ErrorCode::ModelFile, label_ + ": tensor '" + name + "' is " + e.dtype + "; weights must be F32, F16 or BF16");
  }
  return converted_.emplace(name, std::move(out)).first->second.data();
}

const SafeTensors::Entry* SafeTensors::find_checked(const std::string& name, const Dims& shape) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return nullptr;
  const Entry& e = it->second;
  bool ok = e.shape.size() == shape.size();
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || shape[i] == e.shape[i];
  if (!ok)
    fail(ErrorCode::ModelFile, label_ + ": tensor '" + name + "' has shape " + dims_to_string(e.shape) + ", expected " +
                                   dims_to_string(shape) + " (-1 = any)");
  return &e;
}

const float* SafeTensors::f32_optional(const std::string& name, const Dims& shape) const {
  const Entry* e = find_checked(name, shape);
  return e ? materialise(name, *e) : nullptr;
}

const uint8_t* SafeTensors::stored(const std::string& name, const Dims& shape, DType* dtype) const {
  const Entry* e = find_checked(name, shape);
  if (!e)
    fail(ErrorCode::ModelFile,
         label_ + ": tensor '" + name + "' is missing (expected shape " + dims_to_string(shape) + ")");
  if (e->dtype == "F32")
    *dtype = DType::F32;
  else if (e->dtype == "F16")
    *dtype = DType::F16;
  else if (e->dtype == "BF16")
    *dtype = DType::BF16;
  else
    fail(ErrorCode::ModelFile,
         label_ + ": tensor '" + name + "' is " + e->dtype + "; weights must be F32, F16 or BF16");
  return data_ + e->begin;
}

const float* SafeTensors::f32(const std::string& name, const Dims& shape) const {
  const float* p = f32_optional(name, shape);
  if (!p)
    fail(ErrorCode::ModelFile,
         label_ + ": tensor '" + name + "' is missing (expected shape " + dims_to_string(shape) + ")");
  return p;
}

}  // namespace hrseg
