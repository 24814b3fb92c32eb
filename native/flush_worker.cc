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

// Raw calls, status ignored: when a worker is terminated the env cannot run JS any more, and
// nothing here may throw (a C++ exception escaping OnOK would abort the process).
void FlushWorker::Deliver(int status) {
  napi_env env = Env();
  core_->Unpin();  // may unmap a mapping closed meanwhile
  napi_value argv[1];
  napi_value undefined;
  if (napi_create_double(env, status, &argv[0]) != napi_ok || napi_get_undefined(env, &undefined) != napi_ok) return;
  napi_call_function(env, undefined, Callback().Value(), 1, argv, nullptr);
}

void FlushWorker::OnOK() { Deliver(status_); }

void FlushWorker::OnError(const Napi::Error&) { Deliver(-EIO); }

}  // namespace pmem
