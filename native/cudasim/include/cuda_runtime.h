// cudasim: what nvcc makes visible in a .cu file (the runtime API and the device-side language).
#pragma once
#include <cuda_runtime_api.h>

#include "cudasim/device.h"
#include "cudasim/launch.h"
