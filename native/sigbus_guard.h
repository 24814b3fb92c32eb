// SIGBUS as a status instead of the end of the process. A load, store or cache-line flush of a
// mapped page that no longer exists (the file was truncated under the mapping, a hole on a full
// file system) or that the hardware reports poisoned (a machine check) raises SIGBUS, whose default
// action kills the process. node-pmem's own native calls make their accesses to the mapping
// inside Guarded(): the process-wide handler throws SigbusFault out of the faulting access, the
// unwinder carries it through the signal frame to Guarded()'s catch, and Guarded() returns kSigbus.
// A SIGBUS anywhere else (a store through a JS view) goes to whatever handled SIGBUS before
// node-pmem; by default that kills the process, as if node-pmem had no handler.
//
// Every hot call runs under it, so the guard is a zero-cost exception region: entering it is one
// increment of a thread-local counter (the initial-exec TLS model: one instruction relative to the
// thread pointer, no __tls_get_addr call), nothing is saved per call, and the catch costs nothing
// until a fault. A setjmp-style guard instead had to spill every callee-saved register per call.
//
// The rule that makes it sound: the frame that holds the try (Guarded() inlined into its caller)
// makes no access to the mapping itself, only calls. An access that faults sits in a callee marked
// PMEM_GUARDED_BODY (never inlined, no destructors, so it has unwind tables but no cleanups to
// run and no exception table of its own) or in libc's memmove/memset; the unwinder walks those by
// their unwind tables, whose rows are exact at every instruction (asynchronous unwind tables, the
// default on x86-64 and aarch64 Linux), through the signal frame the kernel pushed (glibc gives
// its signal trampoline unwind info), to the call in Guarded()'s try. An access inlined into the
// frame with the try would be an address its exception table does not cover: std::terminate.
// So would a body that gains an exception table of its own (a static initialiser's cleanup
// inlined into it), and a try the compiler drops: built with -fvisibility=hidden, the addon died
// in std::terminate in 15-faults (GCC may then prove a directly called body cannot throw).
#pragma once
#include <limits.h>
#include <stdint.h>

#include <atomic>

namespace pmem {

// What Guarded() returns when its body took a SIGBUS. No -errno is that low, and no count.
constexpr int kSigbus = INT_MIN;

// What the handler throws; only Guarded() catches it.
struct SigbusFault {};

#if defined(__GLIBC__)
// glibc keeps static TLS room for dlopen()ed objects in the initial-exec model; musl refuses such
// objects, so elsewhere the default (dynamic) model is used.
#define PMEM_GUARD_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define PMEM_GUARD_TLS_MODEL
#endif

// A function whose accesses to the mapping run under a guard entered by its caller: see the rule above.
#define PMEM_GUARDED_BODY [[gnu::noinline]]

// How many guards this thread is inside; the handler throws only when it is not 0. __thread, not
// thread_local: it cannot have a dynamic initialiser, so other files access it without a TLS wrapper
// call (C++17, which Node 22's headers are built with, has no constinit to say so).
extern __thread unsigned sigbus_depth PMEM_GUARD_TLS_MODEL;

// Installs the process-wide handler, once; 0, or the -errno of sigaction (every later call
// returns the first outcome). Called before the first mapping exists.
int InstallSigbusHandler();

// body() with a SIGBUS in it turned into kSigbus. body() only calls PMEM_GUARDED_BODY functions,
// libc's memmove/memset or function pointers to PMEM_GUARDED_BODY functions. Guards nest.
template <typename Body>
inline auto Guarded(const Body& body) -> decltype(body()) {
  decltype(body()) rc;
  sigbus_depth++;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // the count is up before any access
  try {
    rc = body();
  } catch (const SigbusFault&) {
    rc = kSigbus;
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  sigbus_depth--;
  return rc;
}

}  // namespace pmem
