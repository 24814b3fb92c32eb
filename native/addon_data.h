// Per-environment state (one per main thread or worker), never statics, so worker_threads work:
// the handle template, the detach key of mapped ArrayBuffers, the live mappings and the persistAsync
// work in flight. Deleted by the environment's cleanup hook once that work has finished.
#pragma once
#include <node.h>
#include <v8.h>

#include <unordered_set>

namespace pmem {

struct MappingState;
class FlushWorker;

struct AddonData {
  v8::Isolate* isolate = nullptr;
  v8::Global<v8::FunctionTemplate> handle_template;
  // Set on every mapped ArrayBuffer (SetDetachKey): only node-pmem can detach it, so transfer(),
  // structuredClone and postMessage cannot move the mapped memory somewhere close() cannot reach.
  v8::Global<v8::Object> detach_key;
  std::unordered_set<MappingState*> mappings;  // deleted with their handle and buffer, or at teardown
  std::unordered_set<FlushWorker*> flushes;    // persistAsync work queued or running
  bool tearing_down = false;
  bool constructing = false;  // inside CreateMappingHandle
  void (*teardown_done)(void*) = nullptr;     // Node's async cleanup completion, while flushes drain
  void* teardown_done_arg = nullptr;
  node::AsyncCleanupHookHandle cleanup_hook;  // keeps the hook registered (dropping it does not remove it)

  size_t LiveCount() const;
  // Environment teardown: unmap everything, then (when no flush is in flight) free this.
  void BeginTeardown(void (*done)(void*), void* done_arg);
  // A flush finished while tearing down: the last one completes the teardown.
  void FlushEnded();
};

}  // namespace pmem
