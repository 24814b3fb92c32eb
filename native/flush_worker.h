// persistAsync: the flush (msync at page tier) runs on the libuv pool while a pin keeps the
// mapping mapped; the JS callback gets the status on the JS thread. The environment's teardown
// waits for work in flight (addon_data.h), and then no JS is called.
#pragma once
#include <node.h>
#include <uv.h>
#include <v8.h>

#include <memory>

#include "addon_data.h"
#include "mapping.h"

namespace pmem {

class FlushWorker {
 public:
  // Queues the work; on failure to queue, calls back at once with -errno.
  static void Start(AddonData* data, v8::Local<v8::Function> callback, std::shared_ptr<MappingCore> core,
                    uint64_t offset, uint64_t length);

 private:
  FlushWorker(AddonData* data, v8::Local<v8::Function> callback, std::shared_ptr<MappingCore> core,
              uint64_t offset, uint64_t length);
  static void Execute(uv_work_t* req);            // pool thread: touches no JS
  static void Complete(uv_work_t* req, int status);  // JS thread

  uv_work_t req_;
  AddonData* data_;
  v8::Global<v8::Function> callback_;
  node::async_context async_context_;
  std::shared_ptr<MappingCore> core_;
  uint64_t offset_;
  uint64_t length_;
  int status_ = 0;
};

}  // namespace pmem
