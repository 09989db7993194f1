// A stand-in libnvinfer.so.11 that says it is TensorRT 10.3: the loader must refuse it by its
// version before calling anything else (TensorRT 10's C++ ABI differs from 11's).
extern "C" __attribute__((visibility("default"))) int getInferLibVersion() { return 100300; }
