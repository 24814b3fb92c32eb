#include "region_wrap.h"

namespace pmem {

Napi::Value RegionToJs(Napi::Env env, const RegionInfo& region) {
  if (!region.found) return env.Null();
  auto str_or_null = [&](const std::string& v) -> Napi::Value { return v.empty() ? env.Null() : Napi::String::New(env, v); };
  Napi::Object r = Napi::Object::New(env);
  r.Set("name", region.name);
  r.Set("persistenceDomain", str_or_null(region.persistence_domain));
  r.Set("provider", str_or_null(region.provider));
  r.Set("asyncFlush", region.async_flush);
  r.Set("deepFlushPath", region.has_deep_flush ? Napi::String::New(env, region.dir + "/deep_flush") : env.Null());
  return r;
}

}  // namespace pmem
