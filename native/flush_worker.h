// persistAsync: the flush (msync at page tier) runs on the libuv pool while a pin keeps the
// mapping alive; the JS callback gets the status on the JS thread.
#pragma once
#include <napi.h>

#include <memory>

#include "mapping.h"

namespace pmem {

class FlushWorker : public Napi::AsyncWorker {
 public:
  FlushWorker(Napi::Function callback, std::shared_ptr<MappingCore> core, uint64_t offset, uint64_t length);

  void Execute() override;  // pool thread: touches no JS
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  void Deliver(int status);

  std::shared_ptr<MappingCore> core_;
  uint64_t offset_;
  uint64_t length_;
  int status_ = 0;
};

}  // namespace pmem
