// The hot methods of a mapping (flush, drain, persist, persistExtents, coalesceExtents, copyPersist,
// fillPersist) as plain V8 function callbacks. N-API's callback wrapper and napi_get_cb_info cost
// about 40 ns a call here, a fifth of a 4 KiB persistent copy; a V8 callback reads its arguments
// directly. Same contract as the N-API versions: numbers in, a status number out (>= 0 ok, -errno),
// no JS object created, nothing thrown. See v8_direct.h for why talking to V8 directly is sound.
#include <errno.h>
#include <math.h>
#include <string.h>
#include <v8.h>

#include "macros.h"
#include "mapping_fast_v8.h"
#include "mapping_slot.h"
#include "v8_direct.h"

namespace pmem {
namespace {

using Info = v8::FunctionCallbackInfo<v8::Value>;

inline MappingSlot* SlotOf(const Info& info) {
  return static_cast<SlotRef*>(info.Data().As<v8::External>()->Value())->get();
}

inline bool Index(v8::Local<v8::Value> v, uint64_t* out) {
  if (!v->IsNumber()) return false;
  double d = v.As<v8::Number>()->Value();
  if (!(d >= 0 && d <= kMaxSafeInteger) || d != floor(d)) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

inline void Return(const Info& info, double status) { info.GetReturnValue().Set(status); }

// The bytes of a typed array argument of exactly this kind; false otherwise. A detached array
// gives length 0. Buffer() moves an on-heap array's bytes off-heap once; Data() is then stable.
template <typename T>
bool ViewOf(v8::Local<v8::Value> v, bool is_kind, T** data, size_t* length) {
  if (!is_kind) return false;
  v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
  *length = view->ByteLength() / sizeof(T);
  char* base = *length == 0 ? nullptr : static_cast<char*>(view->Buffer()->Data());
  *data = base == nullptr ? nullptr : reinterpret_cast<T*>(base + view->ByteOffset());
  return true;
}

void Flush(const Info& info) {
  MappingSlot* s = SlotOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  uint64_t off, len;
  if (!Index(info[0], &off) || !Index(info[1], &len)) return Return(info, -EINVAL);
  if (!s->core->InRange(off, len)) return Return(info, -ERANGE);
  Return(info, s->core->Flush(off, len));
}

void Drain(const Info& info) {
  MappingSlot* s = SlotOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  Return(info, s->core->Drain());
}

void Persist(const Info& info) {
  MappingSlot* s = SlotOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  uint64_t off, len;
  if (!Index(info[0], &off) || !Index(info[1], &len)) return Return(info, -EINVAL);
  if (!s->core->InRange(off, len)) return Return(info, -ERANGE);
  Return(info, s->core->Persist(off, len));
}

// (Float64Array pairs, count): false when they are not that or do not fit.
bool ExtentArgs(const Info& info, double** pairs, size_t* count) {
  size_t length;
  uint64_t n;
  if (!ViewOf(info[0], info[0]->IsFloat64Array(), pairs, &length) || !Index(info[1], &n) || n > length / 2)
    return false;
  *count = static_cast<size_t>(n);
  return true;
}

// persistExtents and coalesceExtents: the same arguments, a different core operation.
template <int64_t (*Op)(MappingCore*, double*, size_t)>
void Extents(const Info& info) {
  MappingSlot* s = SlotOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  double* pairs;
  size_t count;
  if (!ExtentArgs(info, &pairs, &count)) return Return(info, -EINVAL);
  Return(info, static_cast<double>(Op(s->core.get(), pairs, count)));
}

int64_t PersistOp(MappingCore* m, double* pairs, size_t count) { return m->PersistExtents(pairs, count); }
int64_t CoalesceOp(MappingCore* m, double* pairs, size_t count) { return m->Coalesce(pairs, count); }

void CopyPersist(const Info& info) {
  MappingSlot* s = SlotOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  uint64_t off;
  char* data;
  size_t len;
  if (!Index(info[0], &off) || !ViewOf(info[1], info[1]->IsUint8Array(), &data, &len)) return Return(info, -EINVAL);
  if (!s->core->InRange(off, len)) return Return(info, -ERANGE);
  int rc = s->core->CopyPersist(off, data, len);
  Return(info, rc == 0 ? static_cast<double>(len) : rc);  // bytes copied
}

void FillPersist(const Info& info) {
  MappingSlot* s = SlotOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  uint64_t off, len, byte;
  if (!Index(info[0], &off) || !Index(info[1], &len) || !Index(info[2], &byte) || byte > 255)
    return Return(info, -EINVAL);
  if (!s->core->InRange(off, len)) return Return(info, -ERANGE);
  Return(info, s->core->FillPersist(off, len, static_cast<int>(byte)));
}

struct FastSpec {
  const char* name;
  v8::FunctionCallback callback;
};

const FastSpec kFast[] = {
    {"flush", Flush},
    {"drain", Drain},
    {"persist", Persist},
    {"persistExtents", Extents<PersistOp>},
    {"coalesceExtents", Extents<CoalesceOp>},
    {"copyPersist", CopyPersist},
    {"fillPersist", FillPersist},
};

}  // namespace

bool CreateFastMethod(const char* name, SlotRef* ref, napi_value* out) {
  for (const FastSpec& f : kFast) {
    if (strcmp(f.name, name) != 0) continue;
    v8::Isolate* isolate = v8::Isolate::GetCurrent();
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    v8::Local<v8::FunctionTemplate> tpl =
        v8::FunctionTemplate::New(isolate, f.callback, v8::External::New(isolate, ref), v8::Local<v8::Signature>(),
                                  0, v8::ConstructorBehavior::kThrow, v8::SideEffectType::kHasSideEffect);
    v8::Local<v8::Function> fn;
    if (!tpl->GetFunction(context).ToLocal(&fn)) return false;
    fn->SetName(v8::String::NewFromUtf8(isolate, name).ToLocalChecked());
    *out = ToNapiValue(fn);
    return true;
  }
  return false;
}

}  // namespace pmem
