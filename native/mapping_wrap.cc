#include "mapping_wrap.h"

#include <errno.h>

#include "errors.h"
#include "flush_worker.h"
#include "js_args.h"
#include "js_object.h"
#include "v8_compat.h"

namespace pmem {
namespace {

using Info = v8::FunctionCallbackInfo<v8::Value>;

// The signature guarantees `this` is a MappingHandle instance, whose field is always set.
// Internal fields of a handle: its state, and the mapped ArrayBuffer (held strongly, so the
// buffer lives at least as long as the handle; views may keep it alive longer).
constexpr int kStateField = 0;
constexpr int kBufferField = 1;

inline MappingState* StateOf(const Info& info) {
  return static_cast<MappingState*>(InternalPointer(info.This(), kStateField, PointerTag::kMappingHandle));
}

// Hot methods: numbers in, a status number out (>= 0 ok, -errno), nothing allocated, nothing thrown.

void Drain(const Info& info) {
  MappingState* s = StateOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  Return(info, s->core->Drain());
}

// flush and persist: (offset, length), a different core operation.
template <int (MappingCore::*Op)(uint64_t, uint64_t)>
void Range(const Info& info) {
  MappingState* s = StateOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  uint64_t off, len;
  if (!Index(info[0], &off) || !Index(info[1], &len)) return Return(info, -EINVAL);
  if (!s->core->InRange(off, len)) return Return(info, -ERANGE);
  Return(info, (s->core.get()->*Op)(off, len));
}

// persistExtents and coalesceExtents: (Float64Array pairs, count), a different core operation.
template <int64_t (*Op)(MappingCore*, double*, size_t)>
void Extents(const Info& info) {
  MappingState* s = StateOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  double* pairs;
  size_t length;
  uint64_t n;
  if (!ViewOf(info[0], info[0]->IsFloat64Array(), &pairs, &length) || !Index(info[1], &n) || n > length / 2)
    return Return(info, -EINVAL);
  Return(info, Op(s->core.get(), pairs, static_cast<size_t>(n)));
}

// persistRanges: (Float64Array ranges, count, Float64Array scratch); scratch has room for count pairs.
void PersistRanges(const Info& info) {
  MappingState* s = StateOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  double *ranges, *scratch;
  size_t length, room;
  uint64_t n;
  if (!ViewOf(info[0], info[0]->IsFloat64Array(), &ranges, &length) || !Index(info[1], &n) || n > length / 2 ||
      !ViewOf(info[2], info[2]->IsFloat64Array(), &scratch, &room) || n > room / 2)
    return Return(info, -EINVAL);
  Return(info, s->core->PersistRanges(ranges, static_cast<size_t>(n), scratch));
}

int64_t PersistOp(MappingCore* m, double* pairs, size_t count) { return m->PersistExtents(pairs, count); }
int64_t CoalesceOp(MappingCore* m, double* pairs, size_t count) { return m->Coalesce(pairs, count); }

// copy and copyPersist: (offset, Uint8Array source) -> bytes copied, a different core operation.
template <int (MappingCore::*Op)(uint64_t, const char*, uint64_t)>
void CopyIn(const Info& info) {
  MappingState* s = StateOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  uint64_t off;
  uint8_t storage[kOnHeapMax];
  const char* data;
  size_t len;
  if (!Index(info[0], &off) || !SourceBytes(info[1], storage, &data, &len)) return Return(info, -EINVAL);
  if (!s->core->InRange(off, len)) return Return(info, -ERANGE);
  int rc = (s->core.get()->*Op)(off, data, len);
  Return(info, rc == 0 ? static_cast<int64_t>(len) : rc);  // bytes copied
}

// fill and fillPersist: (offset, length, byte), a different core operation.
template <int (MappingCore::*Op)(uint64_t, uint64_t, int)>
void Fill(const Info& info) {
  MappingState* s = StateOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  uint64_t off, len, byte;
  if (!Index(info[0], &off) || !Index(info[1], &len) || !Index(info[2], &byte) || byte > 255)
    return Return(info, -EINVAL);
  if (!s->core->InRange(off, len)) return Return(info, -ERANGE);
  Return(info, (s->core.get()->*Op)(off, len, static_cast<int>(byte)));
}

// read and readSafe: (offset, length, Uint8Array destination) -> 0, a different core operation.
template <int (MappingCore::*Op)(uint64_t, uint64_t, char*)>
void CopyOut(const Info& info) {
  MappingState* s = StateOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  uint64_t off, len;
  char* dst;
  size_t dst_len;
  if (!Index(info[0], &off) || !Index(info[1], &len) || !ViewOf(info[2], info[2]->IsUint8Array(), &dst, &dst_len) ||
      dst_len < len)
    return Return(info, -EINVAL);
  if (!s->core->InRange(off, len)) return Return(info, -ERANGE);
  Return(info, (s->core.get()->*Op)(off, len, dst));
}

void Pins(const Info& info) { Return(info, StateOf(info)->core->pins()); }

// Cold methods.

// The size of the file or device now (for ERR_PMEM_TRUNCATED's message), or -errno.
void CurrentSizeOf(const Info& info) {
  MappingState* s = StateOf(info);
  if (!s->usable()) return Return(info, -EBADF);
  uint64_t size = 0;
  int rc = CurrentSize(s->core->source(), &size);
  Return(info, rc == 0 ? static_cast<int64_t>(size) : rc);
}

void Close(const Info& info) { StateOf(info)->Close(info.GetIsolate()); }

void Buffer(const Info& info) {
  MappingState* s = StateOf(info);
  v8::Isolate* isolate = info.GetIsolate();
  if (!s->usable()) {
    Failure f;
    PmemFail(&f, PmemCode::kClosed, s->core->source().path, "the mapping is closed");
    return ThrowFailure(isolate, f);
  }
  info.GetReturnValue().Set(info.This()->GetInternalField(kBufferField).As<v8::Value>());
}

// (offset, length, callback(status)): the callback always runs later, on the JS thread.
void PersistAsync(const Info& info) {
  MappingState* s = StateOf(info);
  v8::Isolate* isolate = info.GetIsolate();
  if (!info[2]->IsFunction()) return ThrowInvalidArg(isolate, "persistAsync needs a callback");
  v8::Local<v8::Function> callback = info[2].As<v8::Function>();
  uint64_t off = 0, len = 0;
  int rc = 0;
  if (!s->usable()) {
    rc = -EBADF;
  } else if (!Index(info[0], &off) || !Index(info[1], &len)) {
    rc = -EINVAL;
  } else if (!s->core->InRange(off, len)) {
    rc = -ERANGE;
  }
  if (rc != 0) {
    v8::Local<v8::Value> argv[] = {v8::Number::New(isolate, rc)};
    // A throw from the callback stays pending and propagates to the caller.
    if (callback->Call(isolate->GetCurrentContext(), v8::Undefined(isolate), 1, argv).IsEmpty()) return;
    return;
  }
  FlushWorker::Start(s->data, callback, s->core, off, len);
}

void MappingInfo(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  const MappingCore& core = *StateOf(info)->core;
  const Source& src = core.source();
  // Where a file's bytes are, read now: blocks allocated when it was mapped count too.
  std::vector<FileExtent> extents;
  Failure f;
  if (src.kind == SourceKind::kFile && !src.badblocks.empty() && !FileExtents(src.fd, src.path, &extents, &f))
    return ThrowFailure(isolate, f);
  JsObject o(isolate);
  SourceFactsToJs(isolate, src, &o);
  o.Str("path", src.path)
      .Str("kind", core.KindName())
      .Set("extents", ExtentsToJs(isolate, extents))
      .Num("length", static_cast<double>(core.length()))
      .Num("offset", static_cast<double>(core.offset()))
      .Num("sourceSize", static_cast<double>(src.size))
      .Str("granularity", GranularityName(core.granularity()))
      .Str("detectedGranularity", GranularityName(core.detected()))
      .Str("granularityReason", core.reason())
      .Bool("forced", core.forced())
      .Bool("readOnly", core.read_only())
      .Bool("mapSync", core.map_sync())
      .Num("alignment", static_cast<double>(src.alignment))
      .Num("flushUnit", static_cast<double>(core.flush_unit()));
  info.GetReturnValue().Set(o.value());
}

const NativeFunction kMethods[] = {
    {"flush", Range<&MappingCore::Flush>},
    {"drain", Drain},
    {"persist", Range<&MappingCore::Persist>},
    {"persistExtents", Extents<PersistOp>},
    {"persistRanges", PersistRanges},
    {"coalesceExtents", Extents<CoalesceOp>},
    {"copy", CopyIn<&MappingCore::Copy>},
    {"copyPersist", CopyIn<&MappingCore::CopyPersist>},
    {"fill", Fill<&MappingCore::Fill>},
    {"fillPersist", Fill<&MappingCore::FillPersist>},
    {"read", CopyOut<&MappingCore::Read>},
    {"readSafe", CopyOut<&MappingCore::ReadSafe>},
    {"currentSize", CurrentSizeOf},
    {"pins", Pins},
    {"close", Close},
    {"buffer", Buffer},
    {"persistAsync", PersistAsync},
    {"info", MappingInfo},
};

// Only CreateMappingHandle may construct a handle: one made from JS would have no state.
void Construct(const Info& info) {
  auto* data = static_cast<AddonData*>(ExternalValue(info.Data(), PointerTag::kAddonData));
  if (!data->constructing || !info.IsConstructCall()) {
    Failure f;
    PmemFail(&f, PmemCode::kInvalidArgType, "", "Illegal constructor: mapping handles are made by open()");
    ThrowFailure(info.GetIsolate(), f);
  }
}

void Release(MappingState* s) {
  if (--s->owners > 0) return;
  s->data->mappings.erase(s);
  s->core->RequestClose();  // the core itself goes when in-flight work lets go of it
  delete s;
}

void HandleCollected(const v8::WeakCallbackInfo<MappingState>& info) {
  MappingState* s = info.GetParameter();
  s->handle.Reset();
  Release(s);
}

void BufferCollected(const v8::WeakCallbackInfo<MappingState>& info) {
  MappingState* s = info.GetParameter();
  s->buffer.Reset();
  Release(s);
}

}  // namespace

void MappingState::Close(v8::Isolate* isolate) {
  if (!buffer.IsEmpty()) {
    v8::HandleScope scope(isolate);
    v8::Local<v8::ArrayBuffer> ab = buffer.Get(isolate);
    // Fails only when the isolate is terminating; the release below happens regardless.
    if (!ab->WasDetached()) (void)DetachWithKey(ab, data->detach_key.Get(isolate));
  }
  core->RequestClose();
}

void MappingState::Teardown() {
  core->Unmap();
  handle.Reset();
  buffer.Reset();
}

void InitMappingTemplate(v8::Isolate* isolate, AddonData* data) {
  v8::Local<v8::FunctionTemplate> tpl =
      v8::FunctionTemplate::New(isolate, Construct, NewExternal(isolate, data, PointerTag::kAddonData));
  tpl->SetClassName(JsString(isolate, "MappingHandle"));
  tpl->InstanceTemplate()->SetInternalFieldCount(2);
  v8::Local<v8::Signature> signature = v8::Signature::New(isolate, tpl);
  v8::Local<v8::ObjectTemplate> proto = tpl->PrototypeTemplate();
  for (const NativeFunction& m : kMethods) {
    v8::Local<v8::FunctionTemplate> fn =
        v8::FunctionTemplate::New(isolate, m.callback, v8::Local<v8::Value>(), signature, 0,
                                  v8::ConstructorBehavior::kThrow, v8::SideEffectType::kHasSideEffect);
    proto->Set(JsString(isolate, m.name), fn, static_cast<v8::PropertyAttribute>(v8::ReadOnly | v8::DontDelete));
  }
  data->handle_template.Reset(isolate, tpl);
}

v8::MaybeLocal<v8::Object> CreateMappingHandle(v8::Isolate* isolate, AddonData* data, std::shared_ptr<MappingCore> core) {
  v8::EscapableHandleScope scope(isolate);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Function> constructor;
  v8::Local<v8::Object> handle;
  data->constructing = true;
  bool made = data->handle_template.Get(isolate)->GetFunction(context).ToLocal(&constructor) &&
              constructor->NewInstance(context).ToLocal(&handle);
  data->constructing = false;
  if (!made) {
    core->Unmap();
    return v8::MaybeLocal<v8::Object>();
  }
  // The mapping owns the memory; V8 must never free it. With EmptyDeleter the backing store is
  // not counted as external memory: a 64 GiB mapping would otherwise count as 64 GiB of
  // allocations and force a full GC at every open().
  std::unique_ptr<v8::BackingStore> store =
      v8::ArrayBuffer::NewBackingStore(core->addr(), core->length(), v8::BackingStore::EmptyDeleter, nullptr);
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  SetDetachKey(buffer, data->detach_key.Get(isolate));

  auto* s = new MappingState();
  s->data = data;
  s->core = std::move(core);
  s->handle.Reset(isolate, handle);
  s->handle.SetWeak(s, HandleCollected, v8::WeakCallbackType::kParameter);
  s->buffer.Reset(isolate, buffer);
  s->buffer.SetWeak(s, BufferCollected, v8::WeakCallbackType::kParameter);
  data->mappings.insert(s);
  SetInternalPointer(handle, kStateField, s, PointerTag::kMappingHandle);
  handle->SetInternalField(kBufferField, buffer);
  return scope.Escape(handle);
}

}  // namespace pmem
