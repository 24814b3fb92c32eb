#include "flush_worker.h"

#include <errno.h>

#include "js_object.h"

namespace pmem {

FlushWorker::FlushWorker(AddonData* data, v8::Local<v8::Function> callback, std::shared_ptr<MappingCore> core,
                         uint64_t offset, uint64_t length)
    : data_(data), callback_(data->isolate, callback), core_(std::move(core)), offset_(offset), length_(length) {
  req_.data = this;
  v8::Isolate* isolate = data->isolate;
  async_context_ = node::EmitAsyncInit(isolate, v8::Object::New(isolate), JsString(isolate, "node-pmem:persistAsync"));
}

void FlushWorker::Start(AddonData* data, v8::Local<v8::Function> callback, std::shared_ptr<MappingCore> core,
                        uint64_t offset, uint64_t length) {
  auto* w = new FlushWorker(data, callback, std::move(core), offset, length);
  w->core_->Pin();
  int rc = uv_queue_work(node::GetCurrentEventLoop(data->isolate), &w->req_, Execute, Complete);
  data->flushes.insert(w);
  if (rc != 0) {
    w->status_ = rc;  // libuv errors are -errno
    Complete(&w->req_, 0);
  }
}

void FlushWorker::Execute(uv_work_t* req) {
  auto* w = static_cast<FlushWorker*>(req->data);
  // The mutex orders this flush against a release of the mapping (close, teardown).
  std::lock_guard<std::mutex> lock(w->core_->work_mutex());
  w->status_ = w->core_->mapped() ? w->core_->Persist(w->offset_, w->length_) : -EBADF;
}

void FlushWorker::Complete(uv_work_t* req, int uv_status) {
  auto* w = static_cast<FlushWorker*>(req->data);
  AddonData* data = w->data_;
  v8::Isolate* isolate = data->isolate;
  w->core_->Unpin();  // may release a mapping closed meanwhile
  int status = uv_status == UV_ECANCELED ? -ECANCELED : w->status_;
  {
    v8::HandleScope scope(isolate);
    if (!data->tearing_down) {
      v8::Local<v8::Function> callback = w->callback_.Get(isolate);
      v8::Local<v8::Value> argv[] = {v8::Number::New(isolate, status)};
      // Empty when the callback threw (reported by Node) or the worker is terminating.
      (void)node::MakeCallback(isolate, callback, callback, 1, argv, w->async_context_);
    }
    node::EmitAsyncDestroy(isolate, w->async_context_);
  }
  w->callback_.Reset();
  data->flushes.erase(w);
  delete w;
  data->FlushEnded();
}

}  // namespace pmem
