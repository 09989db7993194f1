// A stand-in libnvinfer.so.<major> that claims another version (HRSEG_FAKE_VERSION: the other
// major, or one older than the layer's floor): the loader must refuse it by its version before
// calling anything else (TensorRT 10's C++ ABI differs from 11's).
extern "C" __attribute__((visibility("default"))) int getInferLibVersion() { return HRSEG_FAKE_VERSION; }
