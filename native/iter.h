// BPF iterators over a map's elements: a program of type iter/bpf_map_elem runs
// once per element while userspace reads what it writes. The kernel stops at
// every read, so a pass over a huge map yields the CPU between reads, where a
// bpf_for_each_map_elem call holds it until the last element.
#pragma once

#include <napi.h>

namespace ekp {
void RegisterIterFunctions(Napi::Env env, Napi::Object exports);
}
