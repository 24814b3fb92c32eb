// Builds every JS error the addon throws (cold paths only; hot calls return -errno and TS throws).
#pragma once
#include <v8.h>

#include <string>

#include "status.h"

namespace pmem {

v8::Local<v8::Value> MakeError(v8::Isolate* isolate, const Failure& failure);
// Schedules the error as the pending exception; the caller returns right after.
void ThrowFailure(v8::Isolate* isolate, const Failure& failure);
// An argument the TS layer should have refused (it validates everything first); kept so a direct
// call into the addon gets a coded TypeError, never a crash.
void ThrowInvalidArg(v8::Isolate* isolate, const std::string& message);

}  // namespace pmem
