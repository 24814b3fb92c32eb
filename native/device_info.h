// What a path is and how healthy it is, for deviceInfo(): the source probe (source.h) of the
// opened path, plus the tier open() would get, its DAX state, and where a file's bytes are.
#pragma once
#include <stdint.h>

#include <string>
#include <vector>

#include "dax.h"
#include "mapping.h"
#include "source.h"
#include "status.h"

namespace pmem {

const char* SourceKindName(SourceKind kind);  // "file" | "directory" | "block" | "devdax"

struct DeviceFacts : SourceFacts {
  // A regular file on a device with bad ranges: where its bytes are there (FIEMAP).
  std::vector<FileExtent> extents;
  bool tier_known = false;
  bool open_refused = false;  // a writable open() would be refused (device-dax with asynchronous flush)
  TierDecision tier;
  bool dax_known = false;     // false: dax_failure says why (e.g. ENOTTY from a raw block device)
  DaxState dax;
  Failure dax_failure;
};

bool ProbeDevice(const std::string& path, DeviceFacts* out, Failure* f);

}  // namespace pmem
