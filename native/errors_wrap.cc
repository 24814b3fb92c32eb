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

v8::Local<v8::Value> RegionToJs(v8::Isolate* isolate, const RegionInfo& region) {
  if (!region.found) return v8::Null(isolate);
  JsObject r(isolate);
  r.Str("name", region.name)
      .StrOrNull("persistenceDomain", region.persistence_domain)
      .StrOrNull("provider", region.provider)
      .Bool("asyncFlush", region.async_flush)
      .StrOrNull("deepFlushPath", region.has_deep_flush ? region.dir + "/deep_flush" : std::string());
  return r.value();
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
