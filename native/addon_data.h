// Per-environment state (one per main thread or worker): never statics, so worker_threads work.
#pragma once
#include <napi.h>

#include <unordered_set>

#include "mapping.h"

namespace pmem {

class AddonData : public MappingRegistry {
 public:
  void Remember(MappingCore* core) { live_.insert(core); }
  void Forget(MappingCore* core) override { live_.erase(core); }
  size_t LiveCount() const { return live_.size(); }

  // Environment teardown (worker exit, process exit): unmap whatever JS left open. Waits for an
  // off-thread flush in progress on each mapping (Unmap takes its work mutex).
  void UnmapAll() {
    std::unordered_set<MappingCore*> live;
    live.swap(live_);
    for (MappingCore* core : live) {
      core->set_registry(nullptr);
      core->Unmap();
    }
  }

 private:
  std::unordered_set<MappingCore*> live_;
};

}  // namespace pmem
