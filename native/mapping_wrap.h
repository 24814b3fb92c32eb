// The JS face of a MappingCore: instances of one function template, `MappingHandle`, whose methods
// live on its prototype (one function per method per environment, not per mapping), with a
// signature so a call on any other receiver throws "Illegal invocation" instead of reaching memory.
// The instance's internal field points at its MappingState.
//
// Why plain V8 and not N-API: the hot calls (persist, copyPersist, persistExtents...) do little
// work, so the call itself is a large share of their cost and N-API's callback wrapper adds to it
// (README.md, "Native boundary", has the numbers per line); and only V8 can give the mapped
// ArrayBuffer a detach key. The price is a build per Node ABI, which
// Node enforces at load (NODE_MODULE_VERSION), and lib/binding.ts turns into ERR_PMEM_ABI_MISMATCH.
#pragma once
#include <v8.h>

#include <memory>

#include "addon_data.h"
#include "mapping.h"

namespace pmem {

// One mapping's JS-side state. Owned jointly by the handle object and the mapped ArrayBuffer,
// each through a weak reference: it (and so the mapping) lives while either is reachable, so a
// view keeps its memory mapped after the Mapping itself is dropped. When both are collected the
// mapping is released natively, inside GC (no JS runs); lib/leak-guard.ts warns later.
struct MappingState {
  AddonData* data = nullptr;
  std::shared_ptr<MappingCore> core;
  v8::Global<v8::Object> handle;       // weak
  v8::Global<v8::ArrayBuffer> buffer;  // weak; detached by close()
  int owners = 2;                      // handle and buffer, until each is collected

  bool usable() const { return core->mapped() && !core->closing(); }
  // close(): detach the buffer with the addon's key (every view reads as length 0), then release
  // the mapping now or when in-flight work drops its pin.
  void Close(v8::Isolate* isolate);
  // Environment teardown: release and drop both weak references (no weak callback may run later).
  void Teardown();
};

// Registers the MappingHandle template for this environment.
void InitMappingTemplate(v8::Isolate* isolate, AddonData* data);

// Builds the handle for a freshly mapped core; empty (with an exception pending) on failure.
v8::MaybeLocal<v8::Object> CreateMappingHandle(v8::Isolate* isolate, AddonData* data, std::shared_ptr<MappingCore> core);

}  // namespace pmem
