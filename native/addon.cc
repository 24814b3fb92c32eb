// Module entry: per-env instance data, open() (which builds mapping handles), module functions, and the
// cleanup hook that unmaps what a worker or the process left open.
#include <napi.h>

#include "addon_data.h"
#include "cpu.h"
#include "dax.h"
#include "device_info.h"
#include "errors.h"
#include "mapping_wrap.h"
#include "region_wrap.h"
#include "macros.h"
#include "source.h"

namespace pmem {
namespace {

std::string RequireString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string("The \"") + name + "\" argument must be of type string");
  return info[i].As<Napi::String>().Utf8Value();
}

bool BoolOption(const Napi::Object& o, const char* key) { return o.Get(key).ToBoolean().Value(); }

double NumberOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

std::string StringOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = RequireString(info, 0, "path");
  if (!info[1].IsObject()) throw Napi::TypeError::New(env, "open() needs an options object");
  Napi::Object o = info[1].As<Napi::Object>();

  SourceOptions so;
  so.create = BoolOption(o, "create");
  so.exclusive = BoolOption(o, "exclusive");
  so.size = static_cast<int64_t>(NumberOption(o, "size"));
  so.read_only = BoolOption(o, "readOnly");
  so.mode = static_cast<unsigned>(NumberOption(o, "mode"));
  std::string lock = StringOption(o, "lock");
  so.lock = lock == "exclusive" ? LockMode::kExclusive : lock == "shared" ? LockMode::kShared : LockMode::kNone;
  if (lock != "exclusive" && lock != "shared" && lock != "none")
    throw Napi::TypeError::New(env, "option lock must be 'exclusive', 'shared' or 'none'");

  MapOptions mo;
  double offset = NumberOption(o, "offset");
  double length = NumberOption(o, "length");
  if (!(offset >= 0 && offset <= kMaxSafeInteger) || !(length >= -1 && length <= kMaxSafeInteger))
    throw Napi::RangeError::New(env, "offset/length out of range");
  mo.offset = static_cast<uint64_t>(offset);
  mo.length = static_cast<int64_t>(length);
  mo.sparse = BoolOption(o, "sparse");
  std::string gran = StringOption(o, "granularity");
  if (gran == "byte") mo.force = true, mo.forced = Granularity::kByte;
  else if (gran == "cacheline") mo.force = true, mo.forced = Granularity::kCacheline;
  else if (gran == "page") mo.force = true, mo.forced = Granularity::kPage;
  else if (gran != "auto") throw Napi::TypeError::New(env, "option granularity must be 'auto', 'byte', 'cacheline' or 'page'");

  Failure f;
  Source src;
  if (!OpenSource(path, so, &src, &f)) ThrowFailure(env, f);
  std::shared_ptr<MappingCore> core;
  if (!MapSource(&src, mo, &core, &f)) ThrowFailure(env, f);
  return CreateMappingHandle(env, env.GetInstanceData<AddonData>(), std::move(core));
}

Napi::Value DaxToJs(Napi::Env env, const std::string& path, const DaxState& d) {
  Napi::Object o = Napi::Object::New(env);
  auto tri = [&](int v) -> Napi::Value { return v < 0 ? env.Null() : Napi::Boolean::New(env, v == 1); };
  o.Set("path", path);
  o.Set("mechanism", d.mechanism);
  o.Set("effective", tri(d.effective));
  o.Set("inodeFlag", tri(d.inode_flag));
  o.Set("reason", d.reason);
  return o;
}

Napi::Value GetDaxJs(const Napi::CallbackInfo& info) {
  std::string path = RequireString(info, 0, "path");
  DaxState d;
  Failure f;
  if (!GetDax(path, &d, &f)) ThrowFailure(info.Env(), f);
  return DaxToJs(info.Env(), path, d);
}

Napi::Value SetDaxJs(const Napi::CallbackInfo& info) {
  std::string path = RequireString(info, 0, "path");
  if (!info[1].IsBoolean()) throw Napi::TypeError::New(info.Env(), "The \"enabled\" argument must be of type boolean");
  DaxState d;
  Failure f;
  if (!SetDax(path, info[1].As<Napi::Boolean>().Value(), &d, &f)) ThrowFailure(info.Env(), f);
  return DaxToJs(info.Env(), path, d);
}

Napi::Value DeviceProbeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = RequireString(info, 0, "path");
  DeviceFacts d;
  Failure f;
  if (!ProbeDevice(path, &d, &f)) ThrowFailure(env, f);
  auto num = [&](double v) { return Napi::Number::New(env, v); };
  auto str_or_null = [&](const std::string& v) -> Napi::Value { return v.empty() ? env.Null() : Napi::String::New(env, v); };
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", d.type);
  o.Set("size", num(static_cast<double>(d.size)));
  o.Set("statxDax", d.statx_dax);
  o.Set("blockDevice", str_or_null(d.block_device));
  o.Set("devMajor", num(d.dev_major));
  o.Set("devMinor", num(d.dev_minor));
  o.Set("align", d.align ? num(static_cast<double>(d.align)) : env.Null());
  o.Set("namespaceName", str_or_null(d.namespace_name));
  o.Set("namespaceMode", str_or_null(d.namespace_mode));
  o.Set("namespaceSize", d.namespace_size ? num(static_cast<double>(d.namespace_size)) : env.Null());
  Napi::Value region = RegionToJs(env, d.region);
  if (region.IsObject()) {
    Napi::Object r = region.As<Napi::Object>();
    r.Set("numaNode", d.numa_node >= 0 ? num(d.numa_node) : env.Null());
    Napi::Array dimms = Napi::Array::New(env, d.dimms.size());
    for (size_t i = 0; i < d.dimms.size(); i++) {
      Napi::Object dimm = Napi::Object::New(env);
      dimm.Set("name", d.dimms[i].name);
      dimm.Set("dirtyShutdown", d.dimms[i].dirty_shutdown >= 0 ? num(static_cast<double>(d.dimms[i].dirty_shutdown)) : env.Null());
      dimms.Set(static_cast<uint32_t>(i), dimm);
    }
    r.Set("dimms", dimms);
  }
  o.Set("region", region);
  Napi::Array bad = Napi::Array::New(env, d.badblocks.size());
  for (size_t i = 0; i < d.badblocks.size(); i++) {
    Napi::Object range = Napi::Object::New(env);
    range.Set("offset", num(static_cast<double>(d.badblocks[i].offset)));
    range.Set("length", num(static_cast<double>(d.badblocks[i].length)));
    bad.Set(static_cast<uint32_t>(i), range);
  }
  o.Set("badblocks", bad);
  o.Set("badblocksSource", str_or_null(d.badblocks_source));
  o.Set("granularity", d.tier_known ? Napi::String::New(env, GranularityName(d.tier.granularity)) : env.Null());
  o.Set("mapSync", d.tier.map_sync);
  o.Set("openRefused", d.open_refused);
  o.Set("reason", d.tier.reason);
  return o;
}

Napi::Value FileExtentsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = RequireString(info, 0, "path");
  std::vector<FileExtent> extents;
  Failure f;
  if (!FileExtents(path, &extents, &f)) ThrowFailure(env, f);
  // (logical, physical, length) triples.
  Napi::Float64Array out = Napi::Float64Array::New(env, extents.size() * 3);
  for (size_t i = 0; i < extents.size(); i++) {
    out[3 * i] = static_cast<double>(extents[i].logical);
    out[3 * i + 1] = static_cast<double>(extents[i].physical);
    out[3 * i + 2] = static_cast<double>(extents[i].length);
  }
  return out;
}

Napi::Value CpuInfoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures& c = Cpu();
  const FlushOps& ops = Ops();
  Napi::Object o = Napi::Object::New(env);
  o.Set("arch", ArchName());
  o.Set("flush", ops.flush_name);
  o.Set("nonTemporal", ops.nt_name);
  o.Set("clwb", c.clwb);
  o.Set("clflushopt", c.clflushopt);
  o.Set("clflush", c.clflush);
  o.Set("sse2", c.sse2);
  o.Set("avx2", c.avx2);
  o.Set("avx512f", c.avx512f);
  o.Set("cacheLineSize", Napi::Number::New(env, kCacheLine));
  o.Set("nonTemporalThreshold", Napi::Number::New(env, kNonTemporalThreshold));
  return o;
}

Napi::Value LiveMappings(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(info.Env().GetInstanceData<AddonData>()->LiveCount()));
}

void Cleanup(void* arg) { static_cast<AddonData*>(arg)->UnmapAll(); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted by N-API at env teardown
  napi_add_env_cleanup_hook(env, Cleanup, data);
  exports.Set("open", Napi::Function::New<Open>(env, "open"));
  exports.Set("getDax", Napi::Function::New<GetDaxJs>(env, "getDax"));
  exports.Set("setDax", Napi::Function::New<SetDaxJs>(env, "setDax"));
  exports.Set("deviceProbe", Napi::Function::New<DeviceProbeJs>(env, "deviceProbe"));
  exports.Set("fileExtents", Napi::Function::New<FileExtentsJs>(env, "fileExtents"));
  exports.Set("cpuInfo", Napi::Function::New<CpuInfoJs>(env, "cpuInfo"));
  exports.Set("liveMappings", Napi::Function::New<LiveMappings>(env, "liveMappings"));
  return exports;
}

}  // namespace
}  // namespace pmem

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return pmem::Init(env, exports); }

NODE_API_MODULE(pmem, InitModule)
