#include "errors.h"

#include <string.h>
#include <uv.h>

namespace pmem {

const char* ErrnoName(int err) { return uv_err_name(-err); }

const char* KernelErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : uv_err_name(-err);
}

Napi::Error MakeError(Napi::Env env, const Failure& f) {
  const char* pmem_code = PmemCodeName(f.code);
  std::string message;
  if (pmem_code == nullptr) {
    // Node's system error shape: "ENOENT: no such file or directory, open '/x'"
    message = std::string(ErrnoName(f.sys_errno)) + ": " + uv_strerror(-f.sys_errno) + ", " + f.syscall;
    if (!f.path.empty()) message += " '" + f.path + "'";
    if (!f.message.empty()) message += " (" + f.message + ")";
  } else {
    message = f.message;
    if (f.sys_errno != 0)
      message += " [" + std::string(ErrnoName(f.sys_errno)) + " from " + f.syscall + "]";
  }

  Napi::Error error;
  if (f.code == PmemCode::kOutOfRange) {
    error = Napi::RangeError::New(env, message);
  } else if (f.code == PmemCode::kInvalidArg) {
    error = Napi::TypeError::New(env, message);
  } else {
    error = Napi::Error::New(env, message);
  }
  Napi::Object obj = error.Value();
  obj.Set("code", pmem_code != nullptr ? pmem_code : ErrnoName(f.sys_errno));
  if (f.sys_errno != 0) {
    obj.Set("errno", Napi::Number::New(env, -f.sys_errno));
    obj.Set("syscall", f.syscall);
  }
  if (!f.path.empty()) obj.Set("path", f.path);
  return error;
}

void ThrowFailure(Napi::Env env, const Failure& failure) { throw MakeError(env, failure); }

}  // namespace pmem
