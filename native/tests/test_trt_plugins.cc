// The plugins' logic without libnvinfer: fields, validation, serialisation round trips, output
// shapes, the format table, clone/attachToContext, and libhrseg_trt_plugins.so's entry points.
#include <dlfcn.h>

#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>

#include "check.h"
#include "common/pluginConstants.h"
#include "common/pluginLogger.h"
#include "common/pluginRegistry.h"
#include "maskPoolingPlugin/maskPoolingPlugin.h"
#include "regionAttentionPlugin/regionAttentionPlugin.h"
#include "trt_test_exprs.h"

using namespace nvinfer1;
using namespace hrseg::trt::plugin;

namespace {

struct Fields {
  std::deque<int32_t> ints;
  std::deque<int64_t> longs;
  std::deque<float> floats;
  std::deque<std::string> texts;
  std::vector<PluginField> list;
  PluginFieldCollection fc{};
  Fields& i32(const char* n, int32_t v) {
    list.emplace_back(n, &ints.emplace_back(v), PluginFieldType::kINT32, 1);
    return *this;
  }
  Fields& i64(const char* n, int64_t v) {
    list.emplace_back(n, &longs.emplace_back(v), PluginFieldType::kINT64, 1);
    return *this;
  }
  Fields& f32(const char* n, float v) {
    list.emplace_back(n, &floats.emplace_back(v), PluginFieldType::kFLOAT32, 1);
    return *this;
  }
  Fields& str(const char* n, const std::string& v, bool count_nul) {
    const std::string& s = texts.emplace_back(v);
    list.emplace_back(n, s.c_str(), PluginFieldType::kCHAR, static_cast<int32_t>(s.size() + (count_nul ? 1 : 0)));
    return *this;
  }
  const PluginFieldCollection* get() {
    fc.nbFields = static_cast<int32_t>(list.size());
    fc.fields = list.data();
    return &fc;
  }
};

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

DynamicPluginTensorDesc desc(DataType t, std::initializer_list<int64_t> dims) {
  DynamicPluginTensorDesc d{};
  d.desc.type = t;
  d.desc.format = TensorFormat::kLINEAR;
  d.desc.dims.nbDims = static_cast<int32_t>(dims.size());
  int i = 0;
  for (int64_t v : dims) d.desc.dims.d[i] = d.min.d[i] = d.opt.d[i] = d.max.d[i] = v, ++i;
  d.min.nbDims = d.opt.nbDims = d.max.nbDims = d.desc.dims.nbDims;
  return d;
}

const DataType kAllTypes[] = {DataType::kFLOAT, DataType::kHALF,  DataType::kINT8, DataType::kINT32,
                              DataType::kBOOL,  DataType::kUINT8, DataType::kBF16, DataType::kINT64};

}  // namespace

TEST("RegionAttention reads its fields, with defaults, and accepts int64 integers") {
  auto d = parse_region_attention(nullptr);
  CHECK_EQ(d.magnification, 2);
  CHECK(std::fabs(d.gamma - 0.8f) < 1e-7f);
  Fields f;
  f.i64("magnification", 3).f32("gamma", 0.25f).i32("plugin_version", 1);  // unknown fields are ignored
  auto p = parse_region_attention(f.get());
  CHECK_EQ(p.magnification, 3);
  CHECK_EQ(p.gamma, 0.25f);
}

TEST("RegionAttention rejects bad fields with a message naming the field") {
  for (int32_t bad : {0, 9, -1}) {
    Fields f;
    f.i32("magnification", bad);
    const std::string e = error_of([&] { parse_region_attention(f.get()); });
    CHECK(contains(e, "RegionAttention") && contains(e, "'magnification'") && contains(e, std::to_string(bad).c_str()));
  }
  for (float bad : {-0.1f, 1.5f, std::nanf("")}) {
    Fields f;
    f.f32("gamma", bad);
    CHECK(contains(error_of([&] { parse_region_attention(f.get()); }), "'gamma' must be in [0, 1]"));
  }
  Fields wrong_type;
  wrong_type.f32("magnification", 2.0f);
  CHECK(contains(error_of([&] { parse_region_attention(wrong_type.get()); }), "must be an integer"));
}

TEST("MaskPooling reads pool_size and mask_resize, with or without a counted NUL") {
  auto d = parse_mask_pooling(nullptr);
  CHECK_EQ(d.pool_size, 256);
  CHECK(d.mask_resize == hrseg::MaskResize::BilinearAntialias);
  for (bool nul : {false, true}) {
    Fields f;
    f.i32("pool_size", 64).str("mask_resize", "area", nul);
    auto p = parse_mask_pooling(f.get());
    CHECK_EQ(p.pool_size, 64);
    CHECK(p.mask_resize == hrseg::MaskResize::Area);
  }
}

TEST("MaskPooling rejects a bad pool_size or resize mode") {
  for (int32_t bad : {0, -3, 5000}) {
    Fields f;
    f.i32("pool_size", bad);
    CHECK(contains(error_of([&] { parse_mask_pooling(f.get()); }), "'pool_size' must be in [1, 4096]"));
  }
  Fields f;
  f.str("mask_resize", "nearest", true);
  const std::string e = error_of([&] { parse_mask_pooling(f.get()); });
  CHECK(contains(e, "MaskPooling") && contains(e, "\"nearest\""));
  Fields g;
  g.i32("mask_resize", 1);
  CHECK(contains(error_of([&] { parse_mask_pooling(g.get()); }), "must be a string"));
}

TEST("creators return nullptr and log the reason for bad fields") {
  RegionAttentionCreator rc;
  Fields f;
  f.i32("magnification", 12);
  clear_last_error();
  CHECK(rc.createPlugin("ra", f.get(), TensorRTPhase::kBUILD) == nullptr);
  CHECK(contains(last_error(), "'magnification'"));
  MaskPoolingCreator mc;
  Fields g;
  g.str("mask_resize", "bicubic", false);
  clear_last_error();
  CHECK(mc.createPlugin("mp", g.get(), TensorRTPhase::kRUNTIME) == nullptr);
  CHECK(contains(last_error(), "bicubic"));
}

TEST("serialize → create round trips every field (both plugins, several values)") {
  RegionAttentionCreator rc;
  for (auto [N, gamma] : {std::pair{1, 0.0f}, std::pair{2, 0.8f}, std::pair{8, 1.0f}}) {
    Fields f;
    f.i32("magnification", N).f32("gamma", gamma);
    std::unique_ptr<IPluginV3> a(rc.createPlugin("ra", f.get(), TensorRTPhase::kBUILD));
    CHECK(a != nullptr);
    auto* runtime = static_cast<IPluginV3OneRuntime*>(a->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    std::unique_ptr<IPluginV3> b(rc.createPlugin("ra", runtime->getFieldsToSerialize(), TensorRTPhase::kRUNTIME));
    auto& pb = static_cast<RegionAttentionPlugin&>(*b).params();
    CHECK_EQ(pb.magnification, N);
    CHECK_EQ(pb.gamma, gamma);
  }
  MaskPoolingCreator mc;
  for (auto [P, mode] : {std::pair{256, "bilinear-antialias"}, std::pair{7, "area"}}) {
    Fields f;
    f.i32("pool_size", P).str("mask_resize", mode, true);
    std::unique_ptr<IPluginV3> a(mc.createPlugin("mp", f.get(), TensorRTPhase::kBUILD));
    auto* runtime = static_cast<IPluginV3OneRuntime*>(a->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    std::unique_ptr<IPluginV3> b(mc.createPlugin("mp", runtime->getFieldsToSerialize(), TensorRTPhase::kRUNTIME));
    auto& pb = static_cast<MaskPoolingPlugin&>(*b).params();
    CHECK_EQ(pb.pool_size, P);
    CHECK_EQ(std::string(mask_resize_name(pb.mask_resize)), std::string(mode));
  }
}

TEST("getFieldNames lists every serialized field with its type") {
  RegionAttentionCreator rc;
  MaskPoolingCreator mc;
  for (IPluginCreatorV3One* c : std::initializer_list<IPluginCreatorV3One*>{&rc, &mc}) {
    const PluginFieldCollection* names = c->getFieldNames();
    std::unique_ptr<IPluginV3> p(c->createPlugin("x", nullptr, TensorRTPhase::kBUILD));
    auto* runtime = static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    const PluginFieldCollection* values = runtime->getFieldsToSerialize();
    CHECK_EQ(names->nbFields, values->nbFields);
    for (int i = 0; i < names->nbFields && i < values->nbFields; ++i) {
      CHECK_EQ(std::string(names->fields[i].name), std::string(values->fields[i].name));
      CHECK(names->fields[i].type == values->fields[i].type);
    }
    CHECK_EQ(std::string(c->getPluginNamespace()), std::string("hrseg"));
    CHECK_EQ(std::string(c->getPluginVersion()), std::string("1"));
  }
}

TEST("output shapes through an expression builder: symbolic K and G carried through") {
  trt_test::Builder b;
  RegionAttentionPlugin ra({2, 0.8f});
  DimsExprs in[3], out[2];
  in[0].nbDims = 2, in[0].d[0] = b.symbol("G"), in[0].d[1] = b.constant(256);
  in[1].nbDims = 2, in[1].d[0] = b.symbol("L"), in[1].d[1] = b.constant(512);
  in[2] = in[0];
  CHECK_EQ(ra.getOutputShapes(in, 3, nullptr, 0, out, 2, b), 0);
  for (auto& o : out) {
    CHECK_EQ(o.nbDims, 2);
    CHECK_EQ(trt_test::text(o.d[0]), std::string("G"));
    CHECK_EQ(o.d[1]->getConstantValue(), 256);
  }
  MaskPoolingPlugin mp({256, hrseg::MaskResize::Area});
  DimsExprs min[2], mout[1];
  min[0].nbDims = 3, min[0].d[0] = b.symbol("K"), min[0].d[1] = b.symbol("H"), min[0].d[2] = b.symbol("W");
  min[1].nbDims = 2, min[1].d[0] = b.constant(1369), min[1].d[1] = b.constant(256);
  CHECK_EQ(mp.getOutputShapes(min, 2, nullptr, 0, mout, 1, b), 0);
  CHECK_EQ(mout[0].nbDims, 2);
  CHECK_EQ(trt_test::text(mout[0].d[0]), std::string("K"));
  CHECK_EQ(mout[0].d[1]->getConstantValue(), 256);
  // Wrong ranks are refused.
  min[0].nbDims = 2;
  CHECK(mp.getOutputShapes(min, 2, nullptr, 0, mout, 1, b) != 0);
}

TEST("format table: RegionAttention takes one float type throughout, linear only") {
  RegionAttentionPlugin ra({2, 0.8f});
  std::set<int> accepted;
  for (DataType t : kAllTypes) {
    DynamicPluginTensorDesc io[5];
    for (auto& d : io) d = desc(t, {16, 8});
    if (ra.supportsFormatCombination(0, io, 3, 2)) accepted.insert(static_cast<int>(t));
  }
  CHECK(accepted == (std::set<int>{static_cast<int>(DataType::kFLOAT), static_cast<int>(DataType::kHALF),
                                   static_cast<int>(DataType::kBF16)}));
  DynamicPluginTensorDesc mixed[5];
  for (auto& d : mixed) d = desc(DataType::kHALF, {16, 8});
  mixed[3].desc.type = DataType::kFLOAT;
  CHECK(!ra.supportsFormatCombination(3, mixed, 3, 2));
  CHECK(ra.supportsFormatCombination(4, mixed, 3, 2));
  mixed[4].desc.format = TensorFormat::kHWC;
  CHECK(!ra.supportsFormatCombination(4, mixed, 3, 2));
}

TEST(
    "format table: MaskPooling takes float masks only (TensorRT gives plugins no uint8 or bool), float features, "
    "output like features") {
  MaskPoolingPlugin mp({8, hrseg::MaskResize::BilinearAntialias});
  std::set<int> masks, features;
  for (DataType t : kAllTypes) {
    DynamicPluginTensorDesc io[3] = {desc(t, {2, 4, 4}), desc(t, {16, 8}), desc(t, {2, 8})};
    if (mp.supportsFormatCombination(0, io, 2, 1)) masks.insert(static_cast<int>(t));
    if (mp.supportsFormatCombination(1, io, 2, 1)) features.insert(static_cast<int>(t));
  }
  const std::set<int> floats{static_cast<int>(DataType::kFLOAT), static_cast<int>(DataType::kHALF),
                             static_cast<int>(DataType::kBF16)};
  CHECK(masks == floats);
  CHECK(features == floats);
  DynamicPluginTensorDesc io[3] = {desc(DataType::kHALF, {2, 4, 4}), desc(DataType::kBF16, {16, 8}),
                                   desc(DataType::kFLOAT, {2, 8})};
  CHECK(!mp.supportsFormatCombination(2, io, 2, 1));
  io[2].desc.type = DataType::kBF16;
  CHECK(mp.supportsFormatCombination(2, io, 2, 1));
  DataType out;
  const DataType types[2] = {DataType::kHALF, DataType::kBF16};
  CHECK_EQ(mp.getOutputDataTypes(&out, 1, types, 2), 0);
  CHECK(out == DataType::kBF16);
  const DataType types2[2] = {DataType::kBF16, DataType::kHALF};
  CHECK_EQ(mp.getOutputDataTypes(&out, 1, types2, 2), 0);
  CHECK(out == DataType::kHALF);
}

TEST("clone and attachToContext give independent plugins with the same fields and all capabilities") {
  RegionAttentionPlugin ra({4, 0.5f});
  std::unique_ptr<IPluginV3> c(ra.clone());
  std::unique_ptr<IPluginV3> a(ra.attachToContext(nullptr));
  for (IPluginV3* p : {c.get(), a.get()}) {
    CHECK(p != nullptr && p != static_cast<IPluginV3*>(&ra));
    CHECK_EQ(static_cast<RegionAttentionPlugin*>(p)->params().magnification, 4);
    CHECK_EQ(static_cast<RegionAttentionPlugin*>(p)->params().gamma, 0.5f);
    for (auto t : {PluginCapabilityType::kCORE, PluginCapabilityType::kBUILD, PluginCapabilityType::kRUNTIME})
      CHECK(p->getCapabilityInterface(t) != nullptr);
    auto* core = static_cast<IPluginV3OneCore*>(p->getCapabilityInterface(PluginCapabilityType::kCORE));
    CHECK_EQ(std::string(core->getPluginName()), std::string("RegionAttention"));
  }
  MaskPoolingPlugin mp({32, hrseg::MaskResize::Area});
  std::unique_ptr<IPluginV3> m(mp.attachToContext(nullptr));
  CHECK_EQ(static_cast<MaskPoolingPlugin*>(m.get())->params().pool_size, 32);
  CHECK(static_cast<MaskPoolingPlugin*>(m.get())->params().mask_resize == hrseg::MaskResize::Area);
}

TEST(
    "a configured MaskPooling's clone is configured too: onShapeChange's tables travel with clone and "
    "attachToContext") {
  MaskPoolingPlugin mp({32, hrseg::MaskResize::BilinearAntialias});
  CHECK(!mp.configured_for(5, 7));
  PluginTensorDesc in[2] = {desc(DataType::kHALF, {2, 5, 7}).desc, desc(DataType::kFLOAT, {16, 8}).desc};
  PluginTensorDesc out[1] = {desc(DataType::kFLOAT, {2, 8}).desc};
  // Host work only (no CUDA call): it runs here, on a machine without a GPU.
  CHECK_EQ(mp.onShapeChange(in, 2, out, 1), 0);
  CHECK(mp.configured_for(5, 7));
  std::unique_ptr<IPluginV3> c(mp.clone());
  std::unique_ptr<IPluginV3> a(mp.attachToContext(nullptr));
  CHECK(static_cast<MaskPoolingPlugin*>(c.get())->configured_for(5, 7));
  CHECK(static_cast<MaskPoolingPlugin*>(a.get())->configured_for(5, 7));
  CHECK(!static_cast<MaskPoolingPlugin*>(a.get())->configured_for(7, 5));
}

TEST("shape checks name what does not fit") {
  RegionAttentionParams p{2, 0.8f};
  CHECK_EQ(check_region_attention_shapes(p, 1369, 256, 4 * 1369, 512, 1369, 256), std::string(""));
  CHECK(contains(check_region_attention_shapes(p, 1369, 256, 4 * 1369, 256, 1369, 256), "2·d = 512"));
  CHECK(contains(check_region_attention_shapes(p, 1368, 256, 4 * 1368, 512, 1368, 256), "square grid"));
  CHECK(contains(check_region_attention_shapes(p, 1369, 256, 9 * 1369, 512, 1369, 256), "N²·G = 5476"));
  CHECK(contains(check_region_attention_shapes(p, 1369, 256, 4 * 1369, 512, 1369, 128), "xg must have q's shape"));
  CHECK_EQ(check_mask_pooling_shapes(0, 10, 12, 1369, 256), std::string(""));
  CHECK(contains(check_mask_pooling_shapes(3, 0, 12, 1369, 256), "H, W ≥ 1"));
  CHECK(contains(check_mask_pooling_shapes(3, 10, 12, 1370, 256), "square grid"));
}

TEST("MaskPooling's workspace covers every buffer its enqueue carves") {
  MaskPoolingParams p{256, hrseg::MaskResize::BilinearAntialias};
  const int64_t K = 50, H = 768, W = 1024, G = 1369, d = 256, ng = 37, P = 256;
  const size_t base = mask_pooling_workspace(p, K, H, W, G, d, true);
  CHECK(base >= K * H * W + sizeof(float) * (K * P * P + K * (2 * P * ng + ng * ng)) + resize_tables_bound(H, W, P));
  CHECK(mask_pooling_workspace(p, K, H, W, G, d, false) >= base + sizeof(float) * (G * d + K * d));
  CHECK_EQ(mask_pooling_workspace(p, 0, H, W, G, d, true), resize_tables_bound(H, W, P));
}

TEST("the resize tables' workspace bound holds for every mode and shape, extreme ratios included") {
  std::mt19937 rng(20261207);
  std::uniform_int_distribution<int64_t> side(1, 2048), pool(1, 512);
  std::vector<std::array<int64_t, 3>> shapes = {{1, 2048, 256}, {2048, 1, 256}, {2048, 2048, 1},
                                                {3, 5, 4096},   {1, 1, 1},      {2048, 2047, 256}};
  for (int i = 0; i < 200; ++i) shapes.push_back({side(rng), side(rng), pool(rng)});
  for (auto mode : {hrseg::MaskResize::BilinearAntialias, hrseg::MaskResize::Area})
    for (const auto& [H, W, P] : shapes) {
      const hrseg::MaskResizer r(mode, H, W, P);
      if (resize_tables_bytes(r) > resize_tables_bound(H, W, P)) {
        CHECK(false);
        std::fprintf(stderr, "  bound exceeded at H %lld W %lld P %lld\n", static_cast<long long>(H),
                     static_cast<long long>(W), static_cast<long long>(P));
        return;
      }
    }
}

// libhrseg_trt_plugins.so as trtexec --dynamicPlugins and Triton load it.
namespace {
struct TestLogger final : ILogger {
  std::string last;
  void log(Severity, const char* msg) noexcept override { last = msg; }
};
struct TestFinder final : ILoggerFinder {
  TestLogger logger;
  ILogger* findLogger() override { return &logger; }
};
}  // namespace

TEST("libhrseg_trt_plugins.so exports getCreators and setLoggerFinder, and logs through the finder") {
  void* lib = dlopen(HRSEG_TRT_PLUGINS_LIB, RTLD_NOW | RTLD_LOCAL);
  CHECK(lib != nullptr);
  if (!lib) return;
  using GetCreators = IPluginCreatorInterface* const* (*)(int32_t&);
  using SetFinder = void (*)(ILoggerFinder*);
  auto get = reinterpret_cast<GetCreators>(dlsym(lib, "getCreators"));
  auto set = reinterpret_cast<SetFinder>(dlsym(lib, "setLoggerFinder"));
  CHECK(get != nullptr && set != nullptr);
  if (!get || !set) return;
  static TestFinder finder;
  set(&finder);
  int32_t n = 0;
  IPluginCreatorInterface* const* creators = get(n);
  CHECK_EQ(n, 2);
  std::set<std::string> names;
  for (int32_t i = 0; i < n; ++i) {
    CHECK_EQ(std::string(creators[i]->getInterfaceInfo().kind), std::string("PLUGIN CREATOR_V3ONE"));
    auto* c = static_cast<IPluginCreatorV3One*>(creators[i]);
    names.insert(c->getPluginName());
    CHECK_EQ(std::string(c->getPluginNamespace()), std::string("hrseg"));
  }
  CHECK(names == (std::set<std::string>{"RegionAttention", "MaskPooling"}));
  Fields f;
  f.i32("pool_size", 0);
  for (int32_t i = 0; i < n; ++i) {
    auto* c = static_cast<IPluginCreatorV3One*>(creators[i]);
    if (std::string(c->getPluginName()) == "MaskPooling")
      CHECK(c->createPlugin("mp", f.get(), TensorRTPhase::kBUILD) == nullptr);
  }
  CHECK(contains(finder.logger.last, "'pool_size'"));
}

TEST_MAIN()
