#include "pluginRegistry.h"

#include "../maskPoolingPlugin/maskPoolingPlugin.h"
#include "../regionAttentionPlugin/regionAttentionPlugin.h"

namespace hrseg::trt::plugin {

nvinfer1::IPluginCreatorInterface* const* plugin_creators(int32_t& count) noexcept {
  static RegionAttentionCreator region_attention;
  static MaskPoolingCreator mask_pooling;
  static nvinfer1::IPluginCreatorInterface* const creators[] = {&region_attention, &mask_pooling};
  count = 2;
  return creators;
}

}  // namespace hrseg::trt::plugin
