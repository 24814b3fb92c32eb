// Module entry: per-env instance data, open() (which builds mapping handles), the module
// functions, and the cleanup hook that releases what a worker or the process left open.
// Registered with NODE_MODULE_VERSION (not as N-API): Node refuses a build for another ABI with
// ERR_DLOPEN_FAILED before any of this code runs (see mapping_wrap.h for why the boundary is V8).
#include <node.h>
#include <node_version.h>
#include <v8.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <unistd.h>

#include "addon_data.h"
#include "cpu.h"
#include "dax.h"
#include "device_info.h"
#include "errors.h"
#include "flush_lines.h"
#include "flush_worker.h"
#include "js_args.h"
#include "js_object.h"
#include "kv_index_wrap.h"
#include "linux_compat.h"
#include "mapping_wrap.h"
#include "persist.h"
#include "quarantine.h"
#include "source.h"
#include "v8_compat.h"

#define PMEM_STR2(x) #x
#define PMEM_STR(x) PMEM_STR2(x)

// Read from the file (not loaded) by lib/binding.ts when Node refuses this build, to name the
// Node version it was built for.
extern "C" __attribute__((used, visibility("default"))) const char node_pmem_build_info[] =
    "NODE_PMEM_BUILD abi=" PMEM_STR(NODE_MODULE_VERSION) " node=" NODE_VERSION_STRING " arch=" PMEM_STR(NODE_PMEM_ARCH) ";";

namespace pmem {

size_t AddonData::LiveCount() const {
  size_t n = 0;
  for (MappingState* s : mappings) n += s->core->mapped() ? 1 : 0;
  return n;
}

void AddonData::BeginTeardown(void (*done)(void*), void* done_arg) {
  tearing_down = true;
  teardown_done = done;
  teardown_done_arg = done_arg;
  for (MappingState* s : mappings) {
    s->Teardown();  // waits for an off-thread flush in progress on it
    delete s;
  }
  mappings.clear();
  FlushEnded();
}

void AddonData::FlushEnded() {
  if (!tearing_down || !flushes.empty()) return;
  void (*done)(void*) = teardown_done;
  void* arg = teardown_done_arg;
  teardown_done = nullptr;
  handle_template.Reset();
  detach_key.Reset();
  delete this;
  if (done != nullptr) done(arg);
}

namespace {

using Info = v8::FunctionCallbackInfo<v8::Value>;

AddonData* DataOf(const Info& info) { return static_cast<AddonData*>(ExternalValue(info.Data(), PointerTag::kAddonData)); }

bool StringArg(const Info& info, int i, const char* name, std::string* out) {
  if (!info[i]->IsString()) {
    ThrowInvalidArg(info.GetIsolate(), std::string("The \"") + name + "\" argument must be of type string");
    return false;
  }
  v8::String::Utf8Value s(info.GetIsolate(), info[i]);
  out->assign(*s, s.length());
  return true;
}

// open()'s options arrive validated and complete from lib/open.ts; these readers only make sure a
// direct call with something else throws instead of misbehaving.
class OptionReader {
 public:
  OptionReader(v8::Isolate* isolate, v8::Local<v8::Object> o) : isolate_(isolate), o_(o) {}
  bool ok() const { return ok_; }

  bool Bool(const char* key) {
    v8::Local<v8::Value> v = Get(key);
    return !v.IsEmpty() && v->IsTrue();
  }
  double Number(const char* key, double min, double max) {
    v8::Local<v8::Value> v = Get(key);
    if (v.IsEmpty()) return 0;
    double d = v->IsNumber() ? v.As<v8::Number>()->Value() : NAN;
    if (!(d >= min && d <= max) || d != floor(d)) Fail(std::string("option ") + key + " must be an integer in range");
    return d;
  }
  std::string String(const char* key) {
    v8::Local<v8::Value> v = Get(key);
    if (v.IsEmpty()) return std::string();
    if (!v->IsString()) {
      Fail(std::string("option ") + key + " must be a string");
      return std::string();
    }
    v8::String::Utf8Value s(isolate_, v);
    return std::string(*s, s.length());
  }
  void Fail(const std::string& message) {
    if (ok_) ThrowInvalidArg(isolate_, message);
    ok_ = false;
  }

 private:
  v8::Local<v8::Value> Get(const char* key) {
    if (!ok_) return v8::Local<v8::Value>();
    v8::Local<v8::Value> v;
    if (!o_->Get(isolate_->GetCurrentContext(), JsString(isolate_, key)).ToLocal(&v)) {
      ok_ = false;  // a getter threw: its exception is pending
      return v8::Local<v8::Value>();
    }
    return v;
  }

  v8::Isolate* isolate_;
  v8::Local<v8::Object> o_;
  bool ok_ = true;
};

void Open(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  std::string path;
  if (!StringArg(info, 0, "path", &path)) return;
  if (!info[1]->IsObject()) return ThrowInvalidArg(isolate, "open() needs an options object");
  OptionReader o(isolate, info[1].As<v8::Object>());

  SourceOptions so;
  so.create = o.Bool("create");
  so.exclusive = o.Bool("exclusive");
  so.size = static_cast<int64_t>(o.Number("size", -1, kMaxSafeInteger));
  so.read_only = o.Bool("readOnly");
  so.mode = static_cast<unsigned>(o.Number("mode", 0, 07777));
  std::string lock = o.String("lock");
  so.lock = lock == "exclusive" ? LockMode::kExclusive : lock == "shared" ? LockMode::kShared : LockMode::kNone;
  if (o.ok() && lock != "exclusive" && lock != "shared" && lock != "none")
    o.Fail("option lock must be 'exclusive', 'shared' or 'none'");

  MapOptions mo;
  mo.offset = static_cast<uint64_t>(o.Number("offset", 0, kMaxSafeInteger));
  mo.length = static_cast<int64_t>(o.Number("length", -1, kMaxSafeInteger));
  mo.sparse = o.Bool("sparse");
  std::string gran = o.String("granularity");
  if (gran == "byte") mo.force = true, mo.forced = Granularity::kByte;
  else if (gran == "cacheline") mo.force = true, mo.forced = Granularity::kCacheline;
  else if (gran == "page") mo.force = true, mo.forced = Granularity::kPage;
  else if (o.ok() && gran != "auto") o.Fail("option granularity must be 'auto', 'byte', 'cacheline' or 'page'");
  if (!o.ok()) return;

  Failure f;
  Source src;
  if (!OpenSource(path, so, &src, &f)) return ThrowFailure(isolate, f);
  std::shared_ptr<MappingCore> core;
  if (!MapSource(&src, mo, &core, &f)) return ThrowFailure(isolate, f);
  v8::Local<v8::Object> handle;
  if (CreateMappingHandle(isolate, DataOf(info), std::move(core)).ToLocal(&handle)) info.GetReturnValue().Set(handle);
}

v8::Local<v8::Value> Tri(v8::Isolate* isolate, int v) {
  return v < 0 ? v8::Null(isolate).As<v8::Value>() : v8::Boolean::New(isolate, v == 1).As<v8::Value>();
}

v8::Local<v8::Value> DaxToJs(v8::Isolate* isolate, const std::string& path, const DaxState& d) {
  JsObject o(isolate);
  o.Str("path", path)
      .Str("mechanism", d.mechanism)
      .Set("effective", Tri(isolate, d.effective))
      .Set("inodeFlag", Tri(isolate, d.inode_flag))
      .Str("reason", d.reason);
  return o.value();
}

void GetDaxJs(const Info& info) {
  std::string path;
  if (!StringArg(info, 0, "path", &path)) return;
  DaxState d;
  Failure f;
  if (!GetDax(path, &d, &f)) return ThrowFailure(info.GetIsolate(), f);
  info.GetReturnValue().Set(DaxToJs(info.GetIsolate(), path, d));
}

void SetDaxJs(const Info& info) {
  std::string path;
  if (!StringArg(info, 0, "path", &path)) return;
  if (!info[1]->IsBoolean()) return ThrowInvalidArg(info.GetIsolate(), "The \"enabled\" argument must be of type boolean");
  DaxState d;
  Failure f;
  if (!SetDax(path, info[1]->IsTrue(), &d, &f)) return ThrowFailure(info.GetIsolate(), f);
  info.GetReturnValue().Set(DaxToJs(info.GetIsolate(), path, d));
}

void DeviceProbeJs(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  std::string path;
  if (!StringArg(info, 0, "path", &path)) return;
  DeviceFacts d;
  Failure f;
  if (!ProbeDevice(path, &d, &f)) return ThrowFailure(isolate, f);
  JsObject o(isolate);
  SourceFactsToJs(isolate, d, &o);
  o.Str("type", SourceKindName(d.kind))
      .Set("extents", ExtentsToJs(isolate, d.extents))
      .Set("granularity", d.tier_known ? JsString(isolate, GranularityName(d.tier.granularity)).As<v8::Value>()
                                       : v8::Null(isolate).As<v8::Value>())
      .Bool("mapSync", d.tier.map_sync)
      .Bool("openRefused", d.open_refused)
      .Str("reason", d.tier.reason)
      .Set("dax", d.dax_known ? DaxToJs(isolate, path, d.dax) : v8::Null(isolate).As<v8::Value>())
      .Set("daxError", d.dax_known ? v8::Null(isolate).As<v8::Value>() : MakeError(isolate, d.dax_failure))
      .Set("cxlGaps", CxlGapsToJs(isolate));
  info.GetReturnValue().Set(o.value());
}

void FileExtentsJs(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  std::string path;
  if (!StringArg(info, 0, "path", &path)) return;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  Failure f;
  if (fd.get() < 0) return ThrowFailure(isolate, (SysFail(&f, errno, "open", path), f));
  std::vector<FileExtent> extents;
  if (!FileExtents(fd.get(), path, &extents, &f)) return ThrowFailure(isolate, f);
  info.GetReturnValue().Set(ExtentsToJs(isolate, extents));
}

void CpuInfoJs(const Info& info) {
  const CpuFeatures& c = Cpu();
  const FlushOps& ops = Ops();
  JsObject o(info.GetIsolate());
  o.Str("arch", ArchName()).Str("flush", ops.flush_name).Str("nonTemporal", ops.nt_name);
  for (size_t i = 0; i < c.count; i++) o.Bool(c.list[i].name, c.list[i].present);
  o.Str("crc32c", ops.crc32c_name)
      .Num("cacheLineSize", static_cast<double>(ops.line_size))
      .Num("nonTemporalThreshold", kNonTemporalThreshold)
      .Str("fence", ops.fence_name)
      .Bool("flushReachesPersistence", ops.flush_persistent)
      .Bool("flushFaultsOnMissingPage", FlushFaultsOnMissingPage())
      .Str("flushNote", ops.flush_note);
  info.GetReturnValue().Set(o.value());
}

// flushPlan(offset, length, line) -> the offsets of the lines a flush of [offset, offset + length)
// cleans at a line size of `line` (a power of two from 16 to 4096), from the walk the aarch64 flush
// uses (flush_lines.h): how the tests check it covers every line at every line size.
void FlushPlanJs(const Info& info) {
  uint64_t off, len, line;
  if (!Index(info[0], &off) || !Index(info[1], &len) || !Index(info[2], &line) || line < 16 || line > 4096 || (line & (line - 1)) != 0 ||
      len > (1u << 20) || off > (1ull << 40)) {
    return ThrowInvalidArg(info.GetIsolate(), "flushPlan(offset, length, line): integers, length <= 1 MiB, line a power of two in [16, 4096]");
  }
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Array> out = v8::Array::New(isolate);
  uint32_t n = 0;
  ForEachLine(static_cast<uintptr_t>(off), static_cast<size_t>(len), static_cast<size_t>(line), [&](uintptr_t p) {
    (void)out->Set(context, n++, v8::Number::New(isolate, static_cast<double>(p))).FromMaybe(false);
  });
  info.GetReturnValue().Set(out);
}

// crc32c(bytes: Uint8Array, start, end, seed) -> the CRC-32C of bytes[start, end) continuing from
// seed, or a status: the kv store's checksum, over its records in a mapping (so under the guard).
void Crc32cJs(const Info& info) {
  uint8_t* bytes;
  size_t length;
  uint64_t start, end, seed;
  int rc = BytesArg(info[0], &bytes, &length);
  if (rc != 0) return Return(info, rc);
  if (!Index(info[1], &start) || !Index(info[2], &end) || !Index(info[3], &seed) || start > end || end > length ||
      seed > UINT32_MAX)
    return Return(info, -EINVAL);
  Return(info, GuardedOnView([&]() -> int64_t { return Ops().crc32c(static_cast<uint32_t>(seed), bytes + start, end - start); }));
}

void LiveMappings(const Info& info) { Return(info, static_cast<int64_t>(DataOf(info)->LiveCount())); }

void QuarantineJs(const Info& info) {
  QuarantineStats q = GetQuarantineStats();
  JsObject o(info.GetIsolate());
  o.Num("ranges", static_cast<double>(q.ranges))
      .Num("bytes", static_cast<double>(q.bytes))
      .Num("released", static_cast<double>(q.released))
      .Num("kept", static_cast<double>(q.kept))
      .Num("maxRanges", static_cast<double>(q.max_ranges))
      .Num("maxBytes", static_cast<double>(q.max_bytes));
  info.GetReturnValue().Set(o.value());
}

void BuildInfoJs(const Info& info) {
  JsObject o(info.GetIsolate());
  o.Num("abi", NODE_MODULE_VERSION).Str("node", NODE_VERSION_STRING).Num("v8", V8_MAJOR_VERSION).Bool("detachKeys", kDetachKeys);
  info.GetReturnValue().Set(o.value());
}

// Node's async cleanup hook: release every mapping now, and report completion once the
// persistAsync work in flight has come back (Node keeps the loop running until then).
void Cleanup(void* arg, void (*done)(void*), void* done_arg) {
  static_cast<AddonData*>(arg)->BeginTeardown(done, done_arg);
}

void Init(v8::Local<v8::Object> exports, v8::Local<v8::Value>, v8::Local<v8::Context> context, void*) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  auto* data = new AddonData();
  data->isolate = isolate;
  data->detach_key.Reset(isolate, v8::Object::New(isolate));
  InitMappingTemplate(isolate, data);
  data->cleanup_hook = node::AddEnvironmentCleanupHook(isolate, Cleanup, data);

  v8::Local<v8::External> external = NewExternal(isolate, data, PointerTag::kAddonData);
  const NativeFunction functions[] = {
      {"open", Open},
      {"getDax", GetDaxJs},
      {"setDax", SetDaxJs},
      {"deviceProbe", DeviceProbeJs},
      {"fileExtents", FileExtentsJs},
      {"cpuInfo", CpuInfoJs},
      {"flushPlan", FlushPlanJs},
      {"liveMappings", LiveMappings},
      {"quarantine", QuarantineJs},
      {"buildInfo", BuildInfoJs},
      {"crc32c", Crc32cJs},
      {"kvIndexSearch", KvIndexSearchJs},
  };
  for (const NativeFunction& f : functions) {
    v8::Local<v8::Function> fn;
    v8::Local<v8::String> name = JsString(isolate, f.name);
    if (!v8::FunctionTemplate::New(isolate, f.callback, external)->GetFunction(context).ToLocal(&fn)) return;
    fn->SetName(name);
    (void)exports->Set(context, name, fn).FromMaybe(false);
  }
}

}  // namespace
}  // namespace pmem

NODE_MODULE_CONTEXT_AWARE(NODE_GYP_MODULE_NAME, pmem::Init)
