#include "flush_worker.h"

#include <errno.h>

namespace pmem {

FlushWorker::FlushWorker(Napi::Function callback, std::shared_ptr<MappingCore> core, uint64_t offset,
                         uint64_t length)
    : Napi::AsyncWorker(callback, "node-pmem:persistAsync"), core_(std::move(core)), offset_(offset), length_(length) {
  core_->Pin();
}

void FlushWorker::Execute() {
  // The mutex orders this flush against a teardown-time Unmap (worker or process exit).
  std::lock_guard<std::mutex> lock(core_->work_mutex());
  status_ = core_->mapped() ? core_->Persist(offset_, length_) : -EBADF;
}

void FlushWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  core_->Unpin();  // may unmap a mapping closed meanwhile
  Callback().Call({Napi::Number::New(env, status_)});
}

void FlushWorker::OnError(const Napi::Error& e) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  core_->Unpin();
  Callback().Call({Napi::Number::New(env, -EIO)});
}

}  // namespace pmem
