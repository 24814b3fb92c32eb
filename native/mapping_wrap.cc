#include "mapping_wrap.h"

#include "big_buffer_v8.h"
#include "errors.h"
#include "flush_worker.h"
#include "macros.h"

namespace pmem {
namespace {
// Only Create() can construct a handle: it passes this token as the first argument.
int construct_token;
}  // namespace

Napi::Function MappingHandle::Define(Napi::Env env) {
  return DefineClass(env, "MappingHandle",
                     {
                         InstanceMethod<&MappingHandle::JS_buffer>("buffer"),
                         InstanceMethod<&MappingHandle::JS_info>("info"),
                         InstanceMethod<&MappingHandle::JS_flush>("flush"),
                         InstanceMethod<&MappingHandle::JS_drain>("drain"),
                         InstanceMethod<&MappingHandle::JS_persist>("persist"),
                         InstanceMethod<&MappingHandle::JS_persistAsync>("persistAsync"),
                         InstanceMethod<&MappingHandle::JS_persistExtents>("persistExtents"),
                         InstanceMethod<&MappingHandle::JS_coalesceExtents>("coalesceExtents"),
                         InstanceMethod<&MappingHandle::JS_copyPersist>("copyPersist"),
                         InstanceMethod<&MappingHandle::JS_fillPersist>("fillPersist"),
                         InstanceMethod<&MappingHandle::JS_close>("close"),
                         InstanceMethod<&MappingHandle::JS_pins>("pins"),
                     });
}

Napi::Object MappingHandle::Create(Napi::Env env, AddonData* data, std::shared_ptr<MappingCore> core) {
  Napi::Object obj = data->mapping_constructor.New({Napi::External<int>::New(env, &construct_token)});
  MappingHandle* handle = Unwrap(obj);
  core->set_registry(data);
  data->Remember(core.get());
  // The one ArrayBuffer of this mapping: V8 must never see two backing stores at one address.
  Napi::ArrayBuffer buffer = core->length() <= kNodeExternalBufferLimit
                                 ? Napi::ArrayBuffer::New(env, core->addr(), core->length())
                                 : BigExternalArrayBuffer(env, core->addr(), core->length());
  handle->buffer_ = Napi::Reference<Napi::ArrayBuffer>::New(buffer, 1);
  handle->core_ = std::move(core);
  return obj;
}

MappingHandle::MappingHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MappingHandle>(info) {
  if (info.Length() < 1 || !info[0].IsExternal() || info[0].As<Napi::External<int>>().Data() != &construct_token)
    throw Napi::TypeError::New(info.Env(), "Illegal constructor: mappings are made by open()");
}

MappingHandle::~MappingHandle() {
  // Collected without close(): unmap now, or when in-flight work drops its pin.
  if (core_) core_->RequestClose();
}

void MappingHandle::Detach() {
  if (detached_ || buffer_.IsEmpty()) return;
  Napi::ArrayBuffer buffer = buffer_.Value();
  if (!buffer.IsDetached()) buffer.Detach();
  detached_ = true;
  buffer_.Reset();
}

Napi::Value MappingHandle::JS_buffer(const Napi::CallbackInfo& info) {
  if (!core_ || detached_) {
    Failure f;
    PmemFail(&f, PmemCode::kClosed, "", "the mapping is closed");
    throw MakeError(info.Env(), f);
  }
  return buffer_.Value();
}

Napi::Value MappingHandle::JS_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const MappingCore& c = *core_;
  const Source& s = c.source();
  o.Set("path", s.path);
  o.Set("kind", c.KindName());
  o.Set("length", Napi::Number::New(env, static_cast<double>(c.length())));
  o.Set("offset", Napi::Number::New(env, static_cast<double>(c.offset())));
  o.Set("sourceSize", Napi::Number::New(env, static_cast<double>(s.size)));
  o.Set("granularity", GranularityName(c.granularity()));
  o.Set("detectedGranularity", GranularityName(c.detected()));
  o.Set("granularityReason", c.reason());
  o.Set("forced", c.forced());
  o.Set("readOnly", c.read_only());
  o.Set("mapSync", c.map_sync());
  o.Set("alignment", Napi::Number::New(env, static_cast<double>(s.alignment)));
  o.Set("flushUnit", Napi::Number::New(env, static_cast<double>(c.flush_unit())));
  if (s.region.found) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("name", s.region.name);
    r.Set("persistenceDomain", s.region.persistence_domain.empty() ? env.Null() : Napi::String::New(env, s.region.persistence_domain));
    r.Set("provider", s.region.provider.empty() ? env.Null() : Napi::String::New(env, s.region.provider));
    r.Set("asyncFlush", s.region.async_flush);
    r.Set("deepFlushPath", s.region.has_deep_flush ? Napi::String::New(env, s.region.dir + "/deep_flush") : env.Null());
    o.Set("region", r);
  } else {
    o.Set("region", env.Null());
  }
  return o;
}

Napi::Value MappingHandle::JS_flush(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_MAPPED_OR_STATUS(env, core_);
  uint64_t off, len;
  REQUIRE_INDEX_OR_STATUS(env, info[0], off);
  REQUIRE_INDEX_OR_STATUS(env, info[1], len);
  if (!core_->InRange(off, len)) RETURN_STATUS(env, -ERANGE);
  RETURN_STATUS(env, core_->Flush(off, len));
}

Napi::Value MappingHandle::JS_drain(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_MAPPED_OR_STATUS(env, core_);
  RETURN_STATUS(env, core_->Drain());
}

Napi::Value MappingHandle::JS_persist(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_MAPPED_OR_STATUS(env, core_);
  uint64_t off, len;
  REQUIRE_INDEX_OR_STATUS(env, info[0], off);
  REQUIRE_INDEX_OR_STATUS(env, info[1], len);
  if (!core_->InRange(off, len)) RETURN_STATUS(env, -ERANGE);
  RETURN_STATUS(env, core_->Persist(off, len));
}

Napi::Value MappingHandle::JS_persistAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[2].IsFunction()) throw Napi::TypeError::New(env, "persistAsync needs a callback");
  Napi::Function callback = info[2].As<Napi::Function>();
  uint64_t off, len;
  int rc = 0;
  if (!core_ || !core_->mapped() || core_->closing()) {
    rc = -EBADF;
  } else if (!ReadIndex(env, info[0], &off) || !ReadIndex(env, info[1], &len)) {
    rc = -EINVAL;
  } else if (!core_->InRange(off, len)) {
    rc = -ERANGE;
  }
  if (rc != 0) {
    callback.Call({Napi::Number::New(env, rc)});
    return env.Undefined();
  }
  auto* worker = new FlushWorker(callback, core_, off, len);  // AsyncWorker deletes itself
  worker->Queue();
  return env.Undefined();
}

// (Float64Array pairs, count) -> the typed array's data, or nullptr when they do not fit.
static double* ExtentArgs(const Napi::CallbackInfo& info, size_t* count) {
  napi_env env = info.Env();
  bool is_typed = false;
  if (napi_is_typedarray(env, info[0], &is_typed) != napi_ok || !is_typed) return nullptr;
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, info[0], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array)
    return nullptr;
  uint64_t n;
  if (!ReadIndex(env, info[1], &n) || n > length / 2) return nullptr;
  *count = static_cast<size_t>(n);
  return static_cast<double*>(data);
}

Napi::Value MappingHandle::JS_persistExtents(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_MAPPED_OR_STATUS(env, core_);
  size_t count = 0;
  double* pairs = ExtentArgs(info, &count);
  if (pairs == nullptr) RETURN_STATUS(env, -EINVAL);
  RETURN_STATUS(env, static_cast<double>(core_->PersistExtents(pairs, count)));
}

Napi::Value MappingHandle::JS_coalesceExtents(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_MAPPED_OR_STATUS(env, core_);
  size_t count = 0;
  double* pairs = ExtentArgs(info, &count);
  if (pairs == nullptr) RETURN_STATUS(env, -EINVAL);
  RETURN_STATUS(env, static_cast<double>(core_->Coalesce(pairs, count)));
}

Napi::Value MappingHandle::JS_copyPersist(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_MAPPED_OR_STATUS(env, core_);
  uint64_t off, src_off, len;
  REQUIRE_INDEX_OR_STATUS(env, info[0], off);
  REQUIRE_INDEX_OR_STATUS(env, info[2], src_off);
  REQUIRE_INDEX_OR_STATUS(env, info[3], len);
  bool is_typed = false;
  if (napi_is_typedarray(env, info[1], &is_typed) != napi_ok || !is_typed) RETURN_STATUS(env, -EINVAL);
  napi_typedarray_type type;
  size_t src_len;
  void* data;
  if (napi_get_typedarray_info(env, info[1], &type, &src_len, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array)
    RETURN_STATUS(env, -EINVAL);
  if (src_off > src_len || len > src_len - src_off || !core_->InRange(off, len)) RETURN_STATUS(env, -ERANGE);
  RETURN_STATUS(env, core_->CopyPersist(off, static_cast<const char*>(data) + src_off, len));
}

Napi::Value MappingHandle::JS_fillPersist(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_MAPPED_OR_STATUS(env, core_);
  uint64_t off, len, byte;
  REQUIRE_INDEX_OR_STATUS(env, info[0], off);
  REQUIRE_INDEX_OR_STATUS(env, info[1], len);
  REQUIRE_INDEX_OR_STATUS(env, info[2], byte);
  if (byte > 255) RETURN_STATUS(env, -EINVAL);
  if (!core_->InRange(off, len)) RETURN_STATUS(env, -ERANGE);
  RETURN_STATUS(env, core_->FillPersist(off, len, static_cast<int>(byte)));
}

Napi::Value MappingHandle::JS_close(const Napi::CallbackInfo& info) {
  // Order as the kernel tears down DAX: refuse new use, invalidate views, unmap once pins drop.
  Detach();
  if (core_) core_->RequestClose();
  return info.Env().Undefined();
}

Napi::Value MappingHandle::JS_pins(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), core_ ? core_->pins() : 0);
}

}  // namespace pmem
