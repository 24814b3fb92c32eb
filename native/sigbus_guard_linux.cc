#include "sigbus_guard.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

namespace pmem {

__thread unsigned sigbus_depth PMEM_GUARD_TLS_MODEL = 0;

namespace {

struct sigaction previous_action;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  // SA_NODEFER: leaving by the throw, not by sigreturn, leaves no blocked SIGBUS behind.
  if (sigbus_depth != 0) throw SigbusFault();
  // Not a guarded access: hand the signal to whoever had it before. With the default action,
  // restoring it and returning re-executes the faulting access, which then kills the process as usual.
  if (previous_action.sa_flags & SA_SIGINFO) {
    previous_action.sa_sigaction(sig, info, context);
  } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
    previous_action.sa_handler(sig);
  } else {
    sigaction(SIGBUS, &previous_action, nullptr);
  }
}

int Install() {
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_sigaction = OnSigbus;
  action.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  return sigaction(SIGBUS, &action, &previous_action) == 0 ? 0 : -errno;
}

}  // namespace

int InstallSigbusHandler() {
  static const int outcome = Install();  // thread-safe, once
  return outcome;
}

}  // namespace pmem
