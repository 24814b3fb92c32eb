// The only list of node-pmem's own error codes, and the failure record the core returns.
// The core never throws and never builds JS values: it fills a Failure, and errors_wrap.cc
// turns that into a JS error with Node's conventions.
#pragma once
#include <string>

namespace pmem {

enum class PmemCode {
  kNone = 0,       // a plain system error: the code is the errno name
  kUnsupported,    // path kind we cannot map (directory, fifo, socket, non-dax char device)
  kUnaligned,      // window not aligned to the source's alignment
  kEmpty,          // nothing to map (zero-length file or window)
  kAsyncFlush,     // device-dax on a region whose flush is asynchronous (virtio-pmem)
  kTierUnavailable,// a forced granularity the source cannot honour (page on device-dax: no msync)
  kLocked,         // flock conflict
  kOutOfRange,     // window beyond the source
  kInvalidArg,     // inconsistent options
  kInvalidArgType, // an argument of the wrong type (the TS layer refuses these first)
  kClosed,         // use after close
};

inline const char* PmemCodeName(PmemCode code) {
  switch (code) {
    case PmemCode::kNone: return nullptr;
    case PmemCode::kUnsupported: return "ERR_PMEM_UNSUPPORTED";
    case PmemCode::kUnaligned: return "ERR_PMEM_UNALIGNED";
    case PmemCode::kEmpty: return "ERR_PMEM_EMPTY";
    case PmemCode::kAsyncFlush: return "ERR_PMEM_ASYNC_FLUSH";
    case PmemCode::kTierUnavailable: return "ERR_PMEM_TIER_UNAVAILABLE";
    case PmemCode::kLocked: return "ERR_PMEM_LOCKED";
    case PmemCode::kOutOfRange: return "ERR_OUT_OF_RANGE";
    case PmemCode::kInvalidArg: return "ERR_INVALID_ARG_VALUE";
    case PmemCode::kInvalidArgType: return "ERR_INVALID_ARG_TYPE";
    case PmemCode::kClosed: return "ERR_PMEM_CLOSED";
  }
  return nullptr;
}

// The statuses of hot calls that are not -errno (Linux errno values are below 4096). This one: the
// file or device is now shorter than the mapped window, it was truncated under the mapping.
// lib/errors.ts (STATUS_TRUNCATED) turns it into ERR_PMEM_TRUNCATED.
constexpr int kStatusTruncated = -4096;
// node-pmem/kv's index (kv_index.h) found a damaged node; which and why are in its output array.
constexpr int kStatusIndexCorrupt = -4097;
// A SIGBUS in memory given to a native call as a view (kv_index.h's region): the caller knows which
// mapping it belongs to, and asks it what happened (lib/kv/btree.ts).
constexpr int kStatusFault = -4098;

// Name of an errno value, e.g. "ENOTTY" (libuv's table; defined in errors_wrap.cc).
const char* ErrnoName(int err);
// The kernel's own name (EOPNOTSUPP where libuv says ENOTSUP), for explanations.
const char* KernelErrnoName(int err);

struct Failure {
  PmemCode code = PmemCode::kNone;
  int sys_errno = 0;      // errno of the failed syscall, 0 when none failed
  std::string syscall;    // e.g. "open", "mmap"
  std::string path;
  std::string message;    // explanation added to the message

  bool failed() const { return code != PmemCode::kNone || sys_errno != 0; }
};

// Record a failed syscall (errno already set by the caller's syscall).
inline bool SysFail(Failure* f, int err, const char* syscall, const std::string& path,
                    std::string message = std::string()) {
  f->code = PmemCode::kNone;
  f->sys_errno = err;
  f->syscall = syscall;
  f->path = path;
  f->message = std::move(message);
  return false;
}

inline bool PmemFail(Failure* f, PmemCode code, const std::string& path, std::string message,
                     int err = 0, const char* syscall = "") {
  f->code = code;
  f->sys_errno = err;
  f->syscall = syscall;
  f->path = path;
  f->message = std::move(message);
  return false;
}

}  // namespace pmem
