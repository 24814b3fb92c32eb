// The per-tier flush routine, chosen once per mapping.
#pragma once
#include "mapping.h"

namespace pmem {
PersistFn ChooseFlush(Granularity g);
}
