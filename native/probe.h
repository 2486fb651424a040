// Kernel feature probes (libbpf loads a tiny program or creates a tiny map and
// reports whether the kernel accepted it), plus the kernel's enum values so that
// TypeScript never hard-codes a UAPI number.
#pragma once

#include <napi.h>

namespace ekp {
void RegisterProbeFunctions(Napi::Env env, Napi::Object exports);
}
