// SIGBUS as a status instead of the end of the process. A load, store or cache-line flush of a
// mapped page that no longer exists (the file was truncated under the mapping, a hole on a full
// file system) or that the hardware reports poisoned (a machine check) raises SIGBUS, whose default
// action kills the process. node-pmem's own native calls make their accesses to the mapping
// inside Guarded(): the process-wide handler jumps back out of the faulting access and Guarded()
// returns kSigbus. A SIGBUS anywhere else (a store through a JS view) goes to whatever handled
// SIGBUS before node-pmem; by default that kills the process, as if node-pmem had no handler.
//
// Every hot call runs under it, so arming it is kept to a few stores: __builtin_setjmp saves the
// frame and stack pointers and the resume address only (sigsetjmp saves and mangles every
// callee-saved register, and with savemask 1 adds a sigprocmask system call); the handler is
// SA_NODEFER, so SIGBUS is never blocked in it and jumping out leaves no signal mask to restore;
// and the innermost frame is a thread-local in the initial-exec model, one access relative to the
// thread pointer with no __tls_get_addr call, which the handler also reads without allocating.
#pragma once
#include <limits.h>
#include <stdint.h>

namespace pmem {

// What Guarded() returns when its body took a SIGBUS. No -errno is that low, and no count.
constexpr int kSigbus = INT_MIN;

struct SigbusFrame {
  void* jump[5];  // __builtin_setjmp's buffer
  SigbusFrame* outer;
};

#if defined(__GLIBC__)
// glibc keeps static TLS room for dlopen()ed objects in the initial-exec model; musl refuses such
// objects, so elsewhere the default (dynamic) model is used.
#define PMEM_GUARD_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define PMEM_GUARD_TLS_MODEL
#endif

// This thread's innermost guarded access, null outside one. Only Guarded() sets it. __thread, not
// thread_local: it cannot have a dynamic initialiser, so other files access it without a TLS wrapper
// call (C++17, which Node 22's headers are built with, has no constinit to say so).
extern __thread SigbusFrame* sigbus_frame PMEM_GUARD_TLS_MODEL;

// Installs the process-wide handler, once; 0, or the -errno of sigaction (every later call
// returns the first outcome). Called before the first mapping exists.
int InstallSigbusHandler();

// body() with a SIGBUS in it turned into kSigbus. The jump out skips the rest of body, so body must
// hold no lock and own nothing with a destructor at any access that can fault. Guards nest.
template <typename Body>
[[gnu::noinline]] auto Guarded(const Body& body) -> decltype(body()) {
  SigbusFrame frame;
  frame.outer = sigbus_frame;
  if (__builtin_setjmp(frame.jump) != 0) {
    sigbus_frame = frame.outer;
    return kSigbus;
  }
  sigbus_frame = &frame;
  asm volatile("" ::: "memory");  // keep body's accesses between the two stores
  auto rc = body();
  asm volatile("" ::: "memory");
  sigbus_frame = frame.outer;
  return rc;
}

}  // namespace pmem
