// Styles 2 and 3: V8 FunctionCallbacks.
//  plain:  FunctionTemplate with data = External(State*), a plain function on exports.
//  method: prototype method of a FunctionTemplate `Handle` with a v8::Signature; `obj` is an
//          instance whose internal field 0 holds the State* (aligned pointer).
#include <node.h>
#include "common.h"

#if V8_MAJOR_VERSION >= 14
constexpr v8::EmbedderDataTypeTag kStateTag = 8;
constexpr v8::ExternalPointerTypeTag kExtTag = 8;
#define GET_FIELD(o) (o)->GetAlignedPointerFromInternalField(0, kStateTag)
#define SET_FIELD(o, p) (o)->SetAlignedPointerInInternalField(0, (p), kStateTag)
#define NEW_EXTERNAL(iso, p) v8::External::New((iso), (p), kExtTag)
#define EXT_VALUE(e) (e)->Value(kExtTag)
#else
#define GET_FIELD(o) (o)->GetAlignedPointerFromInternalField(0)
#define SET_FIELD(o, p) (o)->SetAlignedPointerInInternalField(0, (p))
#define NEW_EXTERNAL(iso, p) v8::External::New((iso), (p))
#define EXT_VALUE(e) (e)->Value()
#endif

using Info = v8::FunctionCallbackInfo<v8::Value>;

static State g_plain{1u << 20, 0};
static State g_method{1u << 20, 0};

static inline bool Num(v8::Local<v8::Value> v, double* d) {
  if (!v->IsNumber()) return false;
  *d = v.As<v8::Number>()->Value();
  return true;
}

static inline void Body(const Info& info, State* s) {
  double a, b;
  double r = (Num(info[0], &a) && Num(info[1], &b)) ? Op(s, a, b) : -EINVAL;
  info.GetReturnValue().Set(r);
}

static void Plain(const Info& info) {
  State* s = static_cast<State*>(EXT_VALUE(info.Data().As<v8::External>()));
  Body(info, s);
}

static void Method(const Info& info) {
  // The signature guarantees `this` is a Handle instance.
  State* s = static_cast<State*>(GET_FIELD(info.This()));
  Body(info, s);
}

static void Calls(const Info& info) {
  info.GetReturnValue().Set(static_cast<double>(g_plain.calls + g_method.calls));
}

NODE_MODULE_INIT() {
  // Context::GetIsolate() is gone on V8 14.6; Isolate::GetCurrent() exists on all three lines.
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::FunctionTemplate> plain =
      v8::FunctionTemplate::New(isolate, Plain, NEW_EXTERNAL(isolate, &g_plain));
  exports->Set(context, v8::String::NewFromUtf8Literal(isolate, "plain"),
               plain->GetFunction(context).ToLocalChecked()).Check();

  v8::Local<v8::FunctionTemplate> handle = v8::FunctionTemplate::New(isolate);
  handle->SetClassName(v8::String::NewFromUtf8Literal(isolate, "Handle"));
  handle->InstanceTemplate()->SetInternalFieldCount(1);
  v8::Local<v8::Signature> sig = v8::Signature::New(isolate, handle);
  handle->PrototypeTemplate()->Set(
      v8::String::NewFromUtf8Literal(isolate, "method"),
      v8::FunctionTemplate::New(isolate, Method, v8::Local<v8::Value>(), sig));
  v8::Local<v8::Function> ctor = handle->GetFunction(context).ToLocalChecked();
  v8::Local<v8::Object> obj = ctor->NewInstance(context).ToLocalChecked();
  SET_FIELD(obj, &g_method);
  exports->Set(context, v8::String::NewFromUtf8Literal(isolate, "obj"), obj).Check();

  exports->Set(context, v8::String::NewFromUtf8Literal(isolate, "calls"),
               v8::FunctionTemplate::New(isolate, Calls)->GetFunction(context).ToLocalChecked())
      .Check();
}
