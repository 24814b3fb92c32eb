#include "safe_read.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mutex>

namespace pmem {
namespace {

thread_local sigjmp_buf* guard_jump = nullptr;
struct sigaction previous_action;
std::once_flag install_once;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  if (guard_jump != nullptr) siglongjmp(*guard_jump, 1);
  // Not a guarded copy: hand the signal to whoever had it before. With the default action,
  // restoring it and returning re-executes the faulting load, which then kills the process as usual.
  if (previous_action.sa_flags & SA_SIGINFO) {
    previous_action.sa_sigaction(sig, info, context);
  } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
    previous_action.sa_handler(sig);
  } else {
    sigaction(SIGBUS, &previous_action, nullptr);
  }
}

void InstallHandler() {
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_sigaction = OnSigbus;
  action.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  sigaction(SIGBUS, &action, &previous_action);
}

}  // namespace

int PreadFully(int fd, char* dst, size_t len, unsigned long long offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, dst + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EIO;  // the file ends before the mapping does (truncated underneath)
    done += static_cast<size_t>(n);
  }
  return 0;
}

int GuardedCopy(char* dst, const char* src, size_t len) {
  std::call_once(install_once, InstallHandler);
  sigjmp_buf jump;
  if (sigsetjmp(jump, 1) != 0) {
    guard_jump = nullptr;
    return -EIO;
  }
  guard_jump = &jump;
  asm volatile("" ::: "memory");  // keep the copy between the guard's two stores
  memcpy(dst, src, len);
  asm volatile("" ::: "memory");
  guard_jump = nullptr;
  return 0;
}

bool ForceGuardedCopy() {
  static const bool forced = [] {
    const char* v = getenv("NODE_PMEM_SAFE_READ");
    return v != nullptr && strcmp(v, "copy") == 0;
  }();
  return forced;
}

}  // namespace pmem
