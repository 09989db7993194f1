// A stand-in for TensorRT's IExprBuilder, so that getOutputShapes can be tested without
// libnvinfer: IDimensionExpr and IExprBuilder are thin wrappers over apiv::VDimensionExpr and
// apiv::VExprBuilder, which a test can implement. Symbolic dimensions carry a name; operations on
// two constants are folded, anything else becomes a named symbolic expression.
#pragma once
#include <NvInferRuntime.h>

#include <deque>
#include <limits>
#include <string>

namespace trt_test {

struct Expr final : nvinfer1::IDimensionExpr, nvinfer1::apiv::VDimensionExpr {
  bool constant;
  int64_t value;
  std::string name;
  Expr(bool c, int64_t v, std::string n) : constant(c), value(v), name(std::move(n)) { mImpl = this; }
  bool isConstant() const override { return constant; }
  int64_t getConstantValue() const override { return constant ? value : std::numeric_limits<int64_t>::min(); }
  bool isSizeTensor() const override { return false; }
};

class Builder final : public nvinfer1::IExprBuilder, public nvinfer1::apiv::VExprBuilder {
 public:
  Builder() { mImpl = this; }
  const Expr* constant_expr(int64_t v) { return &exprs_.emplace_back(true, v, std::to_string(v)); }
  const Expr* symbol(const std::string& name) { return &exprs_.emplace_back(false, 0, name); }
  const nvinfer1::IDimensionExpr* constant(int64_t v) override { return constant_expr(v); }
  const nvinfer1::IDimensionExpr* operation(nvinfer1::DimensionOperation op, const nvinfer1::IDimensionExpr& a,
                                            const nvinfer1::IDimensionExpr& b) override {
    const auto& x = static_cast<const Expr&>(a);
    const auto& y = static_cast<const Expr&>(b);
    if (x.constant && y.constant) {
      using O = nvinfer1::DimensionOperation;
      switch (op) {
        case O::kSUM:
          return constant_expr(x.value + y.value);
        case O::kPROD:
          return constant_expr(x.value * y.value);
        case O::kSUB:
          return constant_expr(x.value - y.value);
        case O::kFLOOR_DIV:
          return constant_expr(x.value / y.value);
        case O::kCEIL_DIV:
          return constant_expr((x.value + y.value - 1) / y.value);
        default:
          break;
      }
    }
    return symbol("(" + x.name + " op" + std::to_string(static_cast<int>(op)) + " " + y.name + ")");
  }
  const nvinfer1::IDimensionExpr* declareSizeTensor(int32_t, const nvinfer1::IDimensionExpr&,
                                                    const nvinfer1::IDimensionExpr&) override {
    return nullptr;
  }

 private:
  std::deque<Expr> exprs_;  // stable addresses
};

inline std::string text(const nvinfer1::IDimensionExpr* e) { return static_cast<const Expr*>(e)->name; }

}  // namespace trt_test
