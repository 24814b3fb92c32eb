#include "mapping_wrap.h"

#include "v8_direct.h"
#include "errors.h"
#include "flush_worker.h"
#include "macros.h"
#include "mapping_fast_v8.h"
#include "mapping_slot.h"
#include "region_wrap.h"

namespace pmem {
namespace {


// Arguments and the mapping of a bound call: one napi_get_cb_info, nothing allocated.
template <size_t N>
struct Call {
  napi_value argv[N];
  MappingSlot* slot;
  Call(napi_env env, napi_callback_info info) {
    size_t argc = N;
    void* data = nullptr;
    napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
    slot = static_cast<SlotRef*>(data)->get();
  }
};

napi_value Status(napi_env env, double rc) {
  napi_value v;
  napi_create_double(env, rc, &v);
  return v;
}

napi_value JsPersistAsync(napi_env env, napi_callback_info info) {
  Call<3> c(env, info);
  Napi::Env e(env);
  Napi::Value cb(env, c.argv[2]);
  if (!cb.IsFunction()) throw Napi::TypeError::New(e, "persistAsync needs a callback");
  Napi::Function callback = cb.As<Napi::Function>();
  uint64_t off = 0, len = 0;
  int rc = 0;
  if (!c.slot->usable()) {
    rc = -EBADF;
  } else if (!ReadIndex(env, c.argv[0], &off) || !ReadIndex(env, c.argv[1], &len)) {
    rc = -EINVAL;
  } else if (!c.slot->core->InRange(off, len)) {
    rc = -ERANGE;
  }
  if (rc != 0) {
    callback.Call({Napi::Number::New(e, rc)});
    return e.Undefined();
  }
  (new FlushWorker(callback, c.slot->core, off, len))->Queue();  // AsyncWorker deletes itself
  return e.Undefined();
}

napi_value JsReadSafe(napi_env env, napi_callback_info info) {
  Call<3> c(env, info);
  if (!c.slot->usable()) return Status(env, -EBADF);
  uint64_t off, len;
  if (!ReadIndex(env, c.argv[0], &off) || !ReadIndex(env, c.argv[1], &len)) return Status(env, -EINVAL);
  bool is_typed = false;
  if (napi_is_typedarray(env, c.argv[2], &is_typed) != napi_ok || !is_typed) return Status(env, -EINVAL);
  napi_typedarray_type type;
  size_t dst_len;
  void* data;
  if (napi_get_typedarray_info(env, c.argv[2], &type, &dst_len, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array || dst_len < len)
    return Status(env, -EINVAL);
  if (!c.slot->core->InRange(off, len)) return Status(env, -ERANGE);
  return Status(env, c.slot->core->ReadSafe(off, len, static_cast<char*>(data)));
}

napi_value JsBuffer(napi_env env, napi_callback_info info) {
  Call<0> c(env, info);
  if (c.slot->buffer == nullptr) {
    Failure f;
    PmemFail(&f, PmemCode::kClosed, c.slot->core->source().path, "the mapping is closed");
    ThrowFailure(env, f);
  }
  napi_value value;
  napi_get_reference_value(env, c.slot->buffer, &value);
  return value;
}

napi_value JsInfo(napi_env env, napi_callback_info info) {
  Call<0> c(env, info);
  Napi::Env e(env);
  Napi::Object o = Napi::Object::New(e);
  const MappingCore& core = *c.slot->core;
  const Source& s = core.source();
  auto num = [&](uint64_t v) { return Napi::Number::New(e, static_cast<double>(v)); };
  o.Set("path", s.path);
  o.Set("kind", core.KindName());
  o.Set("length", num(core.length()));
  o.Set("offset", num(core.offset()));
  o.Set("sourceSize", num(s.size));
  o.Set("granularity", GranularityName(core.granularity()));
  o.Set("detectedGranularity", GranularityName(core.detected()));
  o.Set("granularityReason", core.reason());
  o.Set("forced", core.forced());
  o.Set("readOnly", core.read_only());
  o.Set("mapSync", core.map_sync());
  o.Set("alignment", num(s.alignment));
  o.Set("flushUnit", num(core.flush_unit()));
  o.Set("region", RegionToJs(e, s.region));
  return o;
}

napi_value JsClose(napi_env env, napi_callback_info info) {
  // The kernel's DAX teardown order: refuse new use, invalidate views, unmap once pins drop.
  Call<0> c(env, info);
  c.slot->Detach();
  c.slot->core->RequestClose();
  return nullptr;
}

napi_value JsPins(napi_env env, napi_callback_info info) {
  Call<0> c(env, info);
  return Status(env, c.slot->core->pins());
}

void FinalizeSlotRef(napi_env, void* data, void*) { delete static_cast<SlotRef*>(data); }

// Wraps C++ exceptions from the cold callbacks (Napi::Error) into JS exceptions.
template <napi_callback Fn>
napi_value Guarded(napi_env env, napi_callback_info info) {
  try {
    return Fn(env, info);
  } catch (const Napi::Error& error) {
    error.ThrowAsJavaScriptException();
    return nullptr;
  }
}

struct MethodSpec {
  const char* name;
  napi_callback fn;
};

// Hot methods, built as plain V8 callbacks (mapping_fast_v8.cc).
const char* const kFastMethods[] = {"flush", "drain", "persist", "persistExtents", "coalesceExtents", "copyPersist", "fillPersist"};

// The others, through N-API.
const MethodSpec kMethods[] = {
    {"readSafe", JsReadSafe},
    {"pins", JsPins},
    {"close", JsClose},
    {"persistAsync", Guarded<JsPersistAsync>},
    {"buffer", Guarded<JsBuffer>},
    {"info", Guarded<JsInfo>},
};

}  // namespace

Napi::Object CreateMappingHandle(Napi::Env env, AddonData* data, std::shared_ptr<MappingCore> core) {
  auto slot = std::make_shared<MappingSlot>();
  slot->env = env;
  // Always V8's own external ArrayBuffer: Node's napi_create_external_arraybuffer reports the
  // mapping as external memory (GC pressure) and refuses more than 4 GiB.
  Napi::ArrayBuffer buffer = MappedArrayBuffer(env, core->addr(), core->length());
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, buffer, 1, &slot->buffer), Napi::Object());
  core->set_registry(data);
  data->Remember(core.get());
  slot->core = std::move(core);

  Napi::Object handle = Napi::Object::New(env);
  auto bind = [&](const char* name, napi_callback cold) {
    auto* ref = new SlotRef(slot);
    napi_value fn;
    napi_status st = cold == nullptr ? (CreateFastMethod(name, ref, &fn) ? napi_ok : napi_generic_failure)
                                     : napi_create_function(env, name, NAPI_AUTO_LENGTH, cold, ref, &fn);
    if (st == napi_ok) st = napi_add_finalizer(env, fn, ref, FinalizeSlotRef, nullptr, nullptr);
    if (st != napi_ok) {
      delete ref;
      NAPI_THROW_IF_FAILED(env, st, );
    }
    handle.Set(name, Napi::Value(env, fn));
  };
  for (const char* name : kFastMethods) bind(name, nullptr);
  for (const MethodSpec& m : kMethods) bind(m.name, m.fn);
  handle.Freeze();
  return handle;
}

}  // namespace pmem
