#include <errno.h>
#include <string.h>
#include <uv.h>

#include "errors.h"
#include "js_object.h"

namespace pmem {

const char* ErrnoName(int err) { return uv_err_name(-err); }

namespace {
// libuv words errno 95 for sockets ("operation not supported on socket"); on Linux it is also
// EOPNOTSUPP, which is what file systems and mappings mean by it. lib/errors.ts says the same.
const char* ErrnoText(int err) { return err == EOPNOTSUPP ? "operation not supported" : uv_strerror(-err); }
}  // namespace

const char* KernelErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : uv_err_name(-err);
}

v8::Local<v8::String> JsString(v8::Isolate* isolate, const std::string& s) {
  v8::MaybeLocal<v8::String> str =
      v8::String::NewFromUtf8(isolate, s.data(), v8::NewStringType::kNormal, static_cast<int>(s.size()));
  return str.IsEmpty() ? v8::String::Empty(isolate) : str.ToLocalChecked();
}

namespace {

v8::Local<v8::Value> CxlRegionToJs(v8::Isolate* isolate, const CxlRegionInfo& cxl) {
  if (!cxl.found) return v8::Null(isolate);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Array> memdevs = v8::Array::New(isolate, static_cast<int>(cxl.memdevs.size()));
  for (size_t i = 0; i < cxl.memdevs.size(); i++) {
    const CxlMemdev& m = cxl.memdevs[i];
    JsObject o(isolate);
    o.StrOrNull("name", m.name)
        .StrOrNull("serial", m.serial)
        .StrOrNull("firmwareVersion", m.firmware_version)
        .Str("decoder", m.endpoint_decoder)
        .Num("position", m.position)
        .Num("pmemSize", static_cast<double>(m.pmem_size));
    (void)memdevs->Set(context, static_cast<uint32_t>(i), o.value()).FromMaybe(false);
  }
  JsObject r(isolate);
  r.Str("region", cxl.name)
      .StrOrNull("uuid", cxl.uuid)
      .Str("rootDecoder", cxl.root_decoder)
      .Bool("committed", cxl.committed)
      .Num("interleaveWays", static_cast<double>(cxl.interleave_ways))
      .Num("interleaveGranularity", static_cast<double>(cxl.interleave_granularity))
      .Num("size", static_cast<double>(cxl.size))
      .Set("memdevs", memdevs);
  return r.value();
}

}  // namespace

v8::Local<v8::Value> CxlGapsToJs(v8::Isolate* isolate) {
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  std::vector<std::string> gaps = CxlSetupGaps();
  v8::Local<v8::Array> out = v8::Array::New(isolate, static_cast<int>(gaps.size()));
  for (size_t i = 0; i < gaps.size(); i++) (void)out->Set(context, static_cast<uint32_t>(i), JsString(isolate, gaps[i])).FromMaybe(false);
  return out;
}

v8::Local<v8::Value> RegionToJs(v8::Isolate* isolate, const SourceFacts& facts) {
  const RegionInfo& region = facts.region;
  if (!region.found) return v8::Null(isolate);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Array> dimms = v8::Array::New(isolate, static_cast<int>(facts.dimms.size()));
  for (size_t i = 0; i < facts.dimms.size(); i++) {
    JsObject dimm(isolate);
    dimm.Str("name", facts.dimms[i].name);
    if (facts.dimms[i].dirty_shutdown >= 0) dimm.Num("dirtyShutdown", static_cast<double>(facts.dimms[i].dirty_shutdown));
    else dimm.Null("dirtyShutdown");
    (void)dimms->Set(context, static_cast<uint32_t>(i), dimm.value()).FromMaybe(false);
  }
  JsObject r(isolate);
  r.Set("cxl", CxlRegionToJs(isolate, region.cxl));
  r.Str("name", region.name)
      .StrOrNull("persistenceDomain", region.persistence_domain)
      .StrOrNull("provider", region.provider)
      .Bool("asyncFlush", region.async_flush)
      .StrOrNull("deepFlushPath", region.has_deep_flush ? region.dir + "/deep_flush" : std::string())
      .Set("numaNode", facts.numa_node >= 0 ? v8::Number::New(isolate, facts.numa_node).As<v8::Value>() : v8::Null(isolate).As<v8::Value>())
      .Set("dimms", dimms);
  return r.value();
}

void SourceFactsToJs(v8::Isolate* isolate, const SourceFacts& d, JsObject* o) {
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  auto num_or_null = [&](uint64_t v) -> v8::Local<v8::Value> {
    return v ? v8::Number::New(isolate, static_cast<double>(v)).As<v8::Value>() : v8::Null(isolate).As<v8::Value>();
  };
  v8::Local<v8::Array> bad = v8::Array::New(isolate, static_cast<int>(d.badblocks.size()));
  for (size_t i = 0; i < d.badblocks.size(); i++) {
    JsObject range(isolate);
    range.Num("offset", static_cast<double>(d.badblocks[i].offset)).Num("length", static_cast<double>(d.badblocks[i].length));
    (void)bad->Set(context, static_cast<uint32_t>(i), range.value()).FromMaybe(false);
  }
  o->Num("size", static_cast<double>(d.size))
      .Bool("statxDax", d.statx_dax)
      .StrOrNull("blockDevice", d.block_device)
      .Num("devMajor", d.dev_major)
      .Num("devMinor", d.dev_minor)
      .Set("align", d.kind == SourceKind::kDevDax ? num_or_null(d.alignment) : v8::Null(isolate).As<v8::Value>())
      .StrOrNull("namespaceName", d.namespace_name)
      .StrOrNull("namespaceMode", d.namespace_mode)
      .Set("namespaceSize", num_or_null(d.namespace_size))
      .Set("region", RegionToJs(isolate, d))
      .Set("badblocks", bad)
      .StrOrNull("badblocksSource", d.badblocks_source);
}

v8::Local<v8::Value> ExtentsToJs(v8::Isolate* isolate, const std::vector<FileExtent>& extents) {
  size_t n = extents.size() * 3;
  v8::Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(isolate, n * sizeof(double));
  double* out = static_cast<double*>(ab->Data());
  for (size_t i = 0; i < extents.size(); i++) {
    out[3 * i] = static_cast<double>(extents[i].logical);
    out[3 * i + 1] = static_cast<double>(extents[i].physical);
    out[3 * i + 2] = static_cast<double>(extents[i].length);
  }
  return v8::Float64Array::New(ab, 0, n);
}

v8::Local<v8::Value> MakeError(v8::Isolate* isolate, const Failure& f) {
  const char* pmem_code = PmemCodeName(f.code);
  std::string message;
  if (pmem_code == nullptr) {
    // Node's system error shape: "ENOENT: no such file or directory, open '/x'"
    message = std::string(ErrnoName(f.sys_errno)) + ": " + ErrnoText(f.sys_errno) + ", " + f.syscall;
    if (!f.path.empty()) message += " '" + f.path + "'";
    if (!f.message.empty()) message += " (" + f.message + ")";
  } else {
    message = f.message;
    if (f.sys_errno != 0) message += " [" + std::string(ErrnoName(f.sys_errno)) + " from " + f.syscall + "]";
  }
  v8::Local<v8::String> text = JsString(isolate, message);
  v8::Local<v8::Value> error = f.code == PmemCode::kOutOfRange  ? v8::Exception::RangeError(text)
                               : f.code == PmemCode::kInvalidArg || f.code == PmemCode::kInvalidArgType ? v8::Exception::TypeError(text)
                                                                  : v8::Exception::Error(text);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Object> obj = error.As<v8::Object>();
  auto set = [&](const char* key, v8::Local<v8::Value> value) {
    (void)obj->Set(context, JsString(isolate, key), value).FromMaybe(false);
  };
  set("code", JsString(isolate, pmem_code != nullptr ? pmem_code : ErrnoName(f.sys_errno)));
  if (f.sys_errno != 0) {
    set("errno", v8::Number::New(isolate, -f.sys_errno));
    set("syscall", JsString(isolate, f.syscall));
  }
  if (!f.path.empty()) set("path", JsString(isolate, f.path));
  return error;
}

void ThrowFailure(v8::Isolate* isolate, const Failure& failure) { isolate->ThrowException(MakeError(isolate, failure)); }

void ThrowInvalidArg(v8::Isolate* isolate, const std::string& message) {
  Failure f;
  PmemFail(&f, PmemCode::kInvalidArgType, "", message);
  ThrowFailure(isolate, f);
}

}  // namespace pmem
