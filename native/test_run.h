// BPF_PROG_TEST_RUN: run a loaded program on a packet (and optional context) in
// the kernel without a device. The packet tests and the per-packet benchmark
// both stand on this; long repeats run off the JavaScript thread.
#pragma once

#include <napi.h>

namespace ekp {
void RegisterTestRunFunctions(Napi::Env env, Napi::Object exports);
}
