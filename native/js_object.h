// Building plain JS objects for the cold calls (open's handle info, deviceProbe, cpuInfo, ...).
// Property stores on a fresh object fail only when the isolate is terminating (a worker being
// terminated); the failure is ignored and the terminating exception propagates.
#pragma once
#include <v8.h>

#include <string>

#include <vector>

#include "source.h"
#include "sysfs.h"

namespace pmem {

// The largest integer a JS number holds exactly (2^53 - 1): the bound of every offset and length.
constexpr double kMaxSafeInteger = 9007199254740991.0;

v8::Local<v8::String> JsString(v8::Isolate* isolate, const std::string& s);

// An entry of a table of native functions (the module's, and the MappingHandle's methods).
struct NativeFunction {
  const char* name;
  v8::FunctionCallback callback;
};

class JsObject {
 public:
  explicit JsObject(v8::Isolate* isolate)
      : isolate_(isolate), context_(isolate->GetCurrentContext()), object_(v8::Object::New(isolate)) {}

  JsObject& Set(const char* key, v8::Local<v8::Value> value) {
    (void)object_->Set(context_, JsString(isolate_, key), value).FromMaybe(false);
    return *this;
  }
  JsObject& Str(const char* key, const std::string& v) { return Set(key, JsString(isolate_, v)); }
  // The string, or null when it is empty (sysfs attributes that are absent).
  JsObject& StrOrNull(const char* key, const std::string& v) {
    return v.empty() ? Set(key, v8::Null(isolate_)) : Str(key, v);
  }
  JsObject& Num(const char* key, double v) { return Set(key, v8::Number::New(isolate_, v)); }
  JsObject& Bool(const char* key, bool v) { return Set(key, v8::Boolean::New(isolate_, v)); }
  JsObject& Null(const char* key) { return Set(key, v8::Null(isolate_)); }
  v8::Local<v8::Object> value() const { return object_; }

 private:
  v8::Isolate* isolate_;
  v8::Local<v8::Context> context_;
  v8::Local<v8::Object> object_;
};

// { name, persistenceDomain, provider, asyncFlush, deepFlushPath, numaNode, dimms }, or null when
// no region was found.
v8::Local<v8::Value> RegionToJs(v8::Isolate* isolate, const SourceFacts& facts);
// The probe's facts shared by deviceProbe() and a mapping's info(): size, alignment, block device,
// device numbers, namespace, region, bad blocks.
void SourceFactsToJs(v8::Isolate* isolate, const SourceFacts& facts, JsObject* o);
// CxlSetupGaps() as an array of strings.
v8::Local<v8::Value> CxlGapsToJs(v8::Isolate* isolate);
// FIEMAP extents as a Float64Array of (logical, physical, length) triples.
v8::Local<v8::Value> ExtentsToJs(v8::Isolate* isolate, const std::vector<FileExtent>& extents);

}  // namespace pmem
